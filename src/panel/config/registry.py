"""The backbone registry: models.yaml loaded once into strict pydantic models.

Researchers swap backbones by name, so every entry is validated up front: unknown keys are
errors, and so is a key under ``engine:`` that vLLM's EngineArgs lacks (a misspelt
``tensor_paralel_size`` must not be silently dropped), and so is a ``max_tokens`` below
the longest reply the review grammar allows (it would fail on length). Where the weights
are is ``panel.backends.vllm.weights``' business; the dtype ``auto`` stands for is
``config/dtype``'s, and the keys vLLM accepts ``config/engine_keys``'s: both read facts
(the CPU's flags, vLLM's source) without importing vLLM, and both are part of what an
entry means, so they sit in this layer and no backend is asked.
"""

from __future__ import annotations

import difflib
import os
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from panel.config.dtype import DtypeChoice, check_dtype, choose
from panel.config.engine_keys import engine_keys
from panel.contract.grammar import review_max_tokens
from panel.errors import InputError, PanelError, validation_error
from panel.hashing import sha
from panel.inputs.datafile import load_data


class Source(BaseModel):
    """Where the weights are: exactly one of an embedded package, a hub id, or a folder."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    embedded: str | None = Field(None, description="Embedded model name, e.g. smollm2.")
    hf: str | None = Field(None, description="Hugging Face repo id, e.g. Qwen/Qwen2.5-7B-Instruct.")
    revision: str | None = Field(None, description="Hub revision (branch, tag or commit).")
    path: str | None = Field(None, description="A local folder of safetensors weights.")
    chat_template: str | None = Field(None, description="A prompts/ file with a chat template, "
                                      "for models whose weights ship none.")

    @model_validator(mode="after")
    def _one(self) -> Source:
        """Exactly one place, so there is no guessing which one wins."""
        if sum(x is not None for x in (self.embedded, self.hf, self.path)) != 1:
            raise ValueError("give exactly one of embedded, hf, path")
        return self


class Sampling(BaseModel):
    """Sampling settings; part of every review's store key."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    temperature: float = Field(0.7, ge=0, le=2, description="Softmax temperature.")
    top_p: float = Field(1.0, gt=0, le=1, description="Nucleus sampling mass.")
    top_k: int = Field(0, ge=0, description="Sample from the k likeliest tokens (0: all). "
                       "On CPU, vLLM sorts the whole vocabulary per step for top_p < 1, "
                       "but not for top_k alone.")
    max_tokens: int = Field(default_factory=review_max_tokens, ge=16, le=8192,
                            description="Output token cap per review: at least the review "
                            "grammar's bound (the default), so no reply runs out of tokens.")
    repetition_penalty: float = Field(1.0, ge=1, le=2, description="Penalty on repeated tokens.")
    seed: int = Field(0, ge=0, description="Base seed; each request derives its own from it.")


class Price(BaseModel):
    """What a backbone costs to run, so a summary can say what a verdict costs: a
    self-hosted engine by the hour it runs, a hosted one by the million tokens (its batch
    price, where the runner halves it). Never part of a store key: a price changes what a
    review costs, not what it says."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    per_hour: float | None = Field(None, gt=0, description="Dollars per hour of engine "
                                   "time (a GPU's rent), charged on engine-seconds.")
    per_million_input: float | None = Field(None, ge=0, description="Dollars per million "
                                            "prompt tokens not served from the cache.")
    per_million_cached: float | None = Field(None, ge=0, description="Dollars per million "
                                             "cached prompt tokens (default: the input price).")
    per_million_output: float | None = Field(None, ge=0, description="Dollars per million "
                                             "generated tokens.")

    @model_validator(mode="after")
    def _one_basis(self) -> Price:
        """By the hour or by the token, never both (the sum would charge twice)."""
        tokens = {k for k in self.model_fields_set if k.startswith("per_million")}
        if (self.per_hour is None) == (not tokens):
            raise ValueError("give per_hour, or per_million_input and per_million_output")
        if tokens and (self.per_million_input is None or self.per_million_output is None):
            raise ValueError("per-token prices need both per_million_input and "
                             "per_million_output")
        return self

    def dollars(self, engine_seconds: float | None, prompt_tokens: int, cached_tokens: int,
                output_tokens: int) -> float | None:
        """The price of this much work; None for an hourly price without engine time."""
        if self.per_hour is not None:
            return None if engine_seconds is None else self.per_hour * engine_seconds / 3600
        cached_price = (self.per_million_input if self.per_million_cached is None
                        else self.per_million_cached)
        return ((prompt_tokens - cached_tokens) * (self.per_million_input or 0.0)
                + cached_tokens * (cached_price or 0.0)
                + output_tokens * (self.per_million_output or 0.0)) / 1e6


class ModelSpec(BaseModel):
    """One backbone: how to load it and how to sample from it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="Registry key, used with --model.")
    description: str = Field("", description="One line for `panel models`.")
    backend: Literal["vllm", "openai", "mock"] = Field(
        "vllm", description="vllm: the in-process engine; openai: a vLLM server over its "
        "OpenAI-compatible API (other servers are refused); mock: a scripted fake.")
    source: Source | None = Field(None, description="Where the weights come from (backend "
                                  "vllm; openai unless base_url is given; never mock).")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto", description="Weight dtype for vLLM; auto: float32 on a CPU without native "
        "bf16, else bfloat16 (panel.config.dtype).")
    max_model_len: int = Field(4096, ge=256, description="Context length for the engine.")
    engine: dict[str, Any] = Field(default_factory=dict, description="Extra vLLM engine args.")
    sampling: Sampling = Field(default_factory=Sampling, description="Sampling settings.")
    cost: Price | None = Field(None, description="What running it costs (per hour, or per "
                               "million tokens); summaries then show $ per verdict.")
    base_url: str | None = Field(None, description="For backend openai: the server's /v1 URL.")
    max_concurrency: int = Field(16, ge=1, description="For backend openai: requests in flight.")
    timeout_s: float = Field(120, gt=0, description="For backend openai: the most seconds one "
                             "HTTP attempt may take in all, however slowly the server sends; a "
                             "request makes at most 5 attempts with backoff (0.25-4 s) between, "
                             "so it ends within 5 x timeout_s + 8 s.")

    @model_validator(mode="after")
    def _fits_backend(self) -> ModelSpec:
        """Each backend takes the fields it uses, so no entry carries a fake or an ignored
        value: a mock has no weights and no engine, only `openai` talks HTTP."""
        given = self.model_fields_set
        if self.backend == "vllm" or (self.backend == "openai" and not self.base_url):
            if self.source is None:
                raise ValueError(f"backend {self.backend} needs source (one of embedded, hf, "
                                 "path)" + ("" if self.backend == "vllm" else " or base_url"))
        elif self.backend == "mock":
            extra = sorted(given & {"source", "dtype", "max_model_len", "engine"})
            if extra:
                raise ValueError(f"backend mock has no weights or engine: drop {', '.join(extra)}")
        if self.backend != "openai":
            http = sorted(given & {"base_url", "max_concurrency", "timeout_s"})
            if http:
                raise ValueError(f"{', '.join(http)}: only for backend openai")
        return self

    @property
    def weights_source(self) -> Source:
        """Where the weights are; a backend that loads weights asks for it."""
        if self.source is None:
            raise PanelError(f"model '{self.name}' (backend {self.backend}) has no weights")
        return self.source

    @property
    def revision(self) -> str | None:
        """The hub revision, if the weights come from the hub."""
        return self.source.revision if self.source else None

    @property
    def starts_engine(self) -> bool:
        """Whether panel starts this entry's engine on this machine: in process (vllm), or
        as the server `panel serve` runs (openai without a base_url)."""
        return self.backend == "vllm" or (self.backend == "openai" and not self.base_url)

    @property
    def served_name(self) -> str:
        """The model id a server reports: the hub id, else the registry name."""
        return (self.source.hf if self.source else None) or self.name

    def dtype_choice(self) -> DtypeChoice | None:
        """The dtype an engine started from this entry runs in, resolved on this machine;
        None for an entry that starts no engine (a mock, a server at a given base_url)."""
        if not self.starts_engine:
            return None
        return choose(self.dtype)

    @property
    def resolved_dtype(self) -> str:
        """``dtype`` with ``auto`` resolved (kept as written where no engine starts)."""
        choice = self.dtype_choice()
        return choice.dtype if choice else self.dtype

    def with_dtype(self, dtype: str) -> ModelSpec:
        """This entry with another dtype (``--dtype``), checked like the registry's own."""
        check_dtype(dtype)
        if self.backend != "vllm":
            raise InputError("--dtype", f"model '{self.name}' (backend {self.backend}) starts "
                             "no engine here, so its dtype cannot be chosen")
        return self.model_copy(update={"dtype": dtype})

    def identity(self) -> dict[str, Any]:
        """What about the model shapes its output: part of every store key.

        The dtype is the *resolved* one: a float32 and a bfloat16 review are different
        computations (different numbers, different samples), while ``auto`` resolved to
        bfloat16 is the same computation as an explicit bfloat16 and keeps its key.
        """
        source = self.source.model_dump(exclude_none=True) if self.source else NO_SOURCE
        ident = {"name": self.name, "source": source, "dtype": self.resolved_dtype,
                 "max_model_len": self.max_model_len}
        if self.source and self.source.chat_template:  # the file's text shapes every prompt
            ident["chat_template_sha"] = sha(self.chat_template() or "")
        return ident

    def chat_template(self) -> str | None:
        """The chat template file's text, for models whose weights ship none."""
        if not self.source or not self.source.chat_template:
            return None
        from panel.config.project import project_root

        return (project_root() / "prompts" / self.source.chat_template).read_text()


NO_SOURCE = {"path": "."}
"""The identity's source for an entry without weights (a mock). Before issue 11 every entry
had to name a source and mocks said ``path: .``; keeping that value in the identity keeps
the store keys of reviews made before (a key is a hash of the identity) unchanged."""


class Registry(BaseModel):
    """All backbones in models.yaml, and which one is the default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    default: str = Field(description="The model used when --model and $PANEL_MODEL are unset.")
    models: dict[str, ModelSpec] = Field(description="Backbones by name.")

    @cached_property
    def names(self) -> list[str]:
        """Names in file order."""
        return list(self.models)

    def get(self, name: str | None = None) -> ModelSpec:
        """The named model, else $PANEL_MODEL, else the default."""
        key = name or os.environ.get("PANEL_MODEL") or self.default
        if key not in self.models:
            raise PanelError(f"unknown model '{key}' (have: {', '.join(self.models)}); "
                             "see `panel models`")
        return self.models[key]


def load_registry(path: Path) -> Registry:
    """Parse and validate models.yaml, naming the file and field of any error."""
    try:
        data = load_data(path) or {}
        models = {k: {**v, "name": k} for k, v in (data.get("models") or {}).items()}
        registry = Registry.model_validate({**data, "models": models})
    except ValidationError as exc:
        raise validation_error(exc, str(path)) from None
    except (AttributeError, TypeError):
        raise InputError(str(path), "expected a mapping with 'default' and 'models'") from None
    _check_engine_keys(registry, path)
    _check_max_tokens(registry, path)
    return registry


def _check_max_tokens(registry: Registry, path: Path) -> None:
    """An entry whose ``max_tokens`` is below the review grammar's bound is an error: a
    reply could run out of tokens before the JSON closes, a failure no retry fixes. The
    bound is in bytes, which is tokens for any tokenizer whose tokens are one byte or more
    (``contract/bound``), so no tokenizer is loaded here."""
    bound = review_max_tokens()
    for name, spec in registry.models.items():
        if spec.sampling.max_tokens < bound:
            raise InputError(str(path), f"is {spec.sampling.max_tokens}, below {bound}, the "
                             "most tokens a review can take under the review grammar; set it "
                             f"to {bound} or more (or leave it out)",
                             field=f"models.{name}.sampling.max_tokens")


def _check_engine_keys(registry: Registry, path: Path) -> None:
    """A key under ``engine:`` that vLLM's EngineArgs lacks is an error naming the file,
    the model and the key: vLLM would refuse it only when the engine starts, maybe hours
    into a batch, and a misspelt ``enforce_eagre`` must not be dropped silently."""
    known = engine_keys()
    for name, spec in registry.models.items():
        for key in spec.engine:
            if key not in known:
                near = difflib.get_close_matches(key, known, n=1)
                hint = f"; did you mean '{near[0]}'?" if near else ""
                raise InputError(str(path), f"is not a vLLM engine argument (EngineArgs){hint}",
                                 field=f"models.{name}.engine.{key}")
