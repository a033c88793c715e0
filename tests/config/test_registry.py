"""models.yaml: strict validation, the default model, and no run-time downloads."""

from __future__ import annotations

import random
import string
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from panel.backends.vllm.weights import resolve
from panel.config.registry import load_registry
from panel.config.workspace import Workspace
from panel.contract.bound import max_tokens_bound
from panel.contract.grammar import (
    OPENER_MAX_BYTES,
    WIDEST_QUOTES,
    generation_grammar,
    review_max_tokens,
)
from panel.contract.output import Rubric
from panel.errors import InputError, ModelNotAvailable, PanelError
from panel.inputs.cards import ToolCard
from panel.inputs.datafile import load_data

from conftest import EXAMPLES, ROOT
from vocab import load


def test_shipped_registry_has_the_required_backbones() -> None:
    reg = load_registry(ROOT / "models.yaml")
    assert reg.default == "smollm2-135m"
    hub = {s.source.hf for s in reg.models.values() if s.source and s.source.hf}
    assert {"Qwen/Qwen2.5-7B-Instruct", "meta-llama/Llama-3.1-8B-Instruct",
            "mistralai/Mistral-Small-24B-Instruct-2501", "google/gemma-3-27b-it",
            "Qwen/Qwen2.5-72B-Instruct"} <= hub
    assert reg.get("qwen2.5-72b").engine["tensor_parallel_size"] == 4
    assert reg.get().name == "smollm2-135m"


def test_env_var_picks_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PANEL_MODEL", "qwen2.5-7b")
    assert load_registry(ROOT / "models.yaml").get().name == "qwen2.5-7b"


def test_unknown_engine_key_names_file_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "models.yaml"
    bad.write_text("default: x\nmodels:\n  x:\n    source: {path: .}\n    tensor_paralel: 2\n")
    with pytest.raises(InputError) as err:
        load_registry(bad)
    assert err.value.field == "models.x.tensor_paralel"


def test_unknown_model_lists_the_known_ones() -> None:
    with pytest.raises(PanelError, match="unknown model 'nope'.*smollm2-135m"):
        load_registry(ROOT / "models.yaml").get("nope")


def test_missing_hub_model_offline_says_how_to_fetch(monkeypatch: pytest.MonkeyPatch,
                                                     tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    spec = load_registry(ROOT / "models.yaml").get("qwen2.5-7b")
    with pytest.raises(ModelNotAvailable) as err:
        resolve(spec)
    msg = str(err.value)
    assert "HF_HUB_OFFLINE is set" in msg and "panel models fetch qwen2.5-7b" in msg


def test_a_hub_model_in_the_cache_resolves_offline(monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path) -> None:
    snap = tmp_path / "models--Qwen--Qwen2.5-7B-Instruct"
    commit = "0" * 40
    (snap / "snapshots" / commit).mkdir(parents=True)
    (snap / "snapshots" / commit / "config.json").write_text("{}")
    (snap / "refs").mkdir()
    (snap / "refs" / "main").write_text(commit)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    spec = load_registry(ROOT / "models.yaml").get("qwen2.5-7b")
    assert resolve(spec) == snap / "snapshots" / commit


@pytest.mark.parametrize(("typo", "near"), [("enforce_eagre", "enforce_eager"),
                                            ("tensor_paralel_size", "tensor_parallel_size")])
def test_a_misspelt_engine_key_names_file_model_and_key(tmp_path: Path, typo: str,
                                                        near: str) -> None:
    text = (ROOT / "models.yaml").read_text().replace("enforce_eager: true",
                                                       f"{typo}: true", 1)
    path = tmp_path / "models.yaml"
    path.write_text(text)
    with pytest.raises(InputError) as err:
        load_registry(path)
    assert str(err.value) == (f"{path}: field 'models.smollm2-135m.engine.{typo}' is not a "
                              f"vLLM engine argument (EngineArgs); did you mean '{near}'?")
    assert (err.value.file, err.value.field) == (str(path), f"models.smollm2-135m.engine.{typo}")


def test_every_shipped_engine_key_is_a_vllm_engine_argument() -> None:
    from panel.config.engine_keys import KNOWN_KEYS

    reg = load_registry(ROOT / "models.yaml")
    used = {key for spec in reg.models.values() for key in spec.engine}
    assert used and used <= KNOWN_KEYS


def _entry(tmp_path: Path, entry: str) -> Path:
    path = tmp_path / "models.yaml"
    path.write_text(f"default: x\nmodels:\n  x:\n{entry}")
    return path


@pytest.mark.parametrize(("entry", "reason"), [
    ("    backend: mock\n    source: {path: .}\n",
     "backend mock has no weights or engine: drop source"),
    ("    backend: mock\n    engine: {enforce_eager: true}\n",
     "backend mock has no weights or engine: drop engine"),
    ("    backend: vllm\n    dtype: auto\n",
     "backend vllm needs source (one of embedded, hf, path)"),
    ("    backend: openai\n",
     "backend openai needs source (one of embedded, hf, path) or base_url"),
    ("    backend: vllm\n    source: {embedded: smollm2}\n    base_url: http://h/v1\n",
     "base_url: only for backend openai"),
    ("    backend: mock\n    timeout_s: 3\n", "timeout_s: only for backend openai"),
])
def test_each_backend_takes_only_the_fields_it_uses(tmp_path: Path, entry: str,
                                                    reason: str) -> None:
    path = _entry(tmp_path, entry)
    with pytest.raises(InputError) as err:
        load_registry(path)
    assert str(err.value) == f"{path}: field 'models.x' Value error, {reason}"


def test_a_mock_needs_no_source_and_keeps_its_store_key(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from panel.hashing import json_sha

    on_cpu(monkeypatch, {"avx2", "avx512f", "avx512_bf16"})  # auto: bfloat16, as written before
    reg = load_registry(ROOT / "models.yaml")
    mock, alt = reg.get("mock"), reg.get("mock-alt")
    assert mock.source is None and alt.source is None
    # the identities (and so the keys) of mock reviews stored before mocks lost `path: .`
    assert mock.identity() == {"name": "mock", "source": {"path": "."}, "dtype": "auto",
                               "max_model_len": 4096}
    assert (json_sha(mock.identity()), json_sha(alt.identity())) == (
        "4e0cc0eef9d7560f", "53f3ae7574702637")
    assert json_sha(reg.get("smollm2-135m").identity()) == "0f702ed0925d47bb"  # max_model_len 8192
    with pytest.raises(PanelError, match="model 'mock' \\(backend mock\\) has no weights"):
        _ = mock.weights_source
    assert "- " in next(line for line in _models_lines() if line.startswith("  mock "))


def on_cpu(monkeypatch: pytest.MonkeyPatch, flags: set[str], build: str = "cpu") -> None:
    """Make this machine a CPU with ``flags`` under the given vLLM build."""
    from panel.config import dtype

    monkeypatch.setattr(dtype, "cpu_flags", lambda: frozenset(flags))
    monkeypatch.setattr(dtype, "engine_build", lambda: build)


def test_auto_resolves_into_the_store_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """A float32 review and a bfloat16 one are different computations: different keys. An
    auto that resolves to bfloat16 is the computation an explicit bfloat16 was: same key."""
    from panel.hashing import json_sha

    spec = load_registry(ROOT / "models.yaml").get("smollm2-135m")
    assert spec.dtype == "auto"
    on_cpu(monkeypatch, {"avx2"})
    avx2 = spec.identity()
    assert (avx2["dtype"], spec.resolved_dtype) == ("float32", "float32")
    on_cpu(monkeypatch, {"avx2", "amx_bf16"})
    assert spec.identity()["dtype"] == "bfloat16"
    assert spec.identity() == spec.with_dtype("bfloat16").identity() != avx2
    on_cpu(monkeypatch, {"avx2"}, build="gpu")
    assert json_sha(spec.identity()) == json_sha(spec.with_dtype("bfloat16").identity())
    on_cpu(monkeypatch, {"avx2", "amx_bf16"})
    assert spec.with_dtype("float32").identity() == avx2
    mock = load_registry(ROOT / "models.yaml").get("mock")  # no engine: nothing to resolve
    assert (mock.dtype_choice(), mock.identity()["dtype"]) == (None, "auto")


def test_the_embedded_entries_ask_for_auto_and_the_gpu_ones_for_bfloat16() -> None:
    reg = load_registry(ROOT / "models.yaml")
    embedded = {n for n, s in reg.models.items() if s.source and s.source.embedded}
    assert embedded == {"smollm2-135m", "smollm2-135m-server", "gemma3-270m"}
    assert {reg.get(n).dtype for n in embedded} == {"auto"}
    assert {s.dtype for s in reg.models.values() if s.source and s.source.hf} == {"bfloat16"}


def test_a_registry_dtype_outside_the_four_names_file_and_field(tmp_path: Path) -> None:
    path = _entry(tmp_path, "    source: {embedded: smollm2}\n    dtype: float64\n")
    with pytest.raises(InputError) as err:
        load_registry(path)
    assert str(err.value) == (f"{path}: field 'models.x.dtype' Input should be 'auto', "
                              "'float32', 'bfloat16' or 'float16'")


def test_dtype_override_is_checked_and_only_for_an_engine(ws: Workspace) -> None:
    forced = Workspace(ws.output, ws.root, dtype="float32").settings("smollm2-135m").spec
    assert (forced.dtype, forced.resolved_dtype) == ("float32", "float32")
    assert ws.settings("smollm2-135m").spec.dtype == "auto"
    with pytest.raises(InputError, match=r"^--dtype: 'fp32' is not a dtype \(use one of auto, "
                       r"float32, bfloat16, float16\)$"):
        Workspace(ws.output, ws.root, dtype="fp32")
    with pytest.raises(InputError, match=r"^--dtype: model 'mock' \(backend mock\) starts no "
                       r"engine here, so its dtype cannot be chosen$"):
        Workspace(ws.output, ws.root, dtype="float32").settings("mock")


def _models_lines() -> list[str]:
    from panel.cli.tables import models_table

    return models_table(load_registry(ROOT / "models.yaml")).splitlines()


def test_max_tokens_below_the_review_bound_names_model_field_bound_and_fix(
        tmp_path: Path) -> None:
    bound = review_max_tokens()
    path = _entry(tmp_path, "    backend: mock\n    sampling: {max_tokens: 400}\n")
    with pytest.raises(InputError) as err:
        load_registry(path)
    assert str(err.value) == (
        f"{path}: field 'models.x.sampling.max_tokens' is 400, below {bound}, the most tokens "
        f"a review can take under the review grammar; set it to {bound} or more (or leave it "
        "out)")
    left_out = load_registry(_entry(tmp_path, "    backend: mock\n"))
    assert left_out.get("x").sampling.max_tokens == bound


# Every card field at its length limit, filled four ways: prose, fence tags (which the
# prompt renders longer), random printable ASCII and spaced digits (about one token each).
_PROSE = " ".join(" ".join(ToolCard.model_validate(load_data(p)).description.split())
                  for p in sorted(EXAMPLES.glob("*.yaml")))
FILLERS: dict[str, Callable[[int], str]] = {
    "prose": lambda n: (_PROSE * (n // len(_PROSE) + 1))[:n].strip(),
    "fence tags": lambda n: ("<tool_card>" * n)[:n],
    "random ASCII": lambda n: "".join(random.Random(n).choice(string.printable[:94])
                                      for _ in range(n)),
    "spaced digits": lambda n: ("7 " * n)[:n].strip(),
}


def _longest_prompt(ws: Workspace, tokenizer: Any) -> int:
    """The most prompt tokens of any persona's prompt for a card whose every field is at
    its length limit, over the fillers."""
    limits = {k: v["maxLength"] for k, v in ToolCard.model_json_schema()["properties"].items()
              if "maxLength" in v}
    most = 0
    for fill in FILLERS.values():
        card = ToolCard(entry="freemium", **{k: fill(n) for k, n in limits.items()})
        for persona in ws.personas():
            messages = ws.prompts.render(persona, card, ws.config.rubric)
            ids = tokenizer.apply_chat_template(messages, tokenize=True,
                                                add_generation_prompt=True)
            most = max(most, len(ids["input_ids"] if hasattr(ids, "keys") else ids))
    return most


REGISTRY = load_registry(ROOT / "models.yaml")
NAMES = REGISTRY.names


@pytest.mark.parametrize("name", NAMES)
def test_every_entry_covers_the_tokenizer_free_bound(ws: Workspace, name: str) -> None:
    """The review grammar's longest reply counted without a tokenizer (a byte a token, the
    bound for the mock) fits ``max_tokens`` for every entry: a cheap check that needs no
    weights, and for a hub entry whose tokenizer is not here, the only one."""
    spec = ws.registry.get(name)
    grammar = generation_grammar(Rubric(), "N" * OPENER_MAX_BYTES, quotes=WIDEST_QUOTES)
    assert '"{\\"evidence\\":[" quote' in grammar  # the evidence is in the bound
    assert max_tokens_bound(grammar, None) <= spec.sampling.max_tokens


@pytest.mark.parametrize("name", [n for n in NAMES if REGISTRY.get(n).backend != "mock"])
def test_every_entry_covers_the_longest_reply_and_the_longest_prompt(ws: Workspace,
                                                                     name: str) -> None:
    """The review grammar's longest reply in the model's own tokens fits ``max_tokens``,
    and the longest card's prompt plus ``max_tokens`` fits ``max_model_len``, so no reply
    can end on length. Cards of other scripts tokenize longer (a 4,000-character CJK
    description is over 13k SmolLM2 tokens) and are not covered by the context length.

    A hub entry whose tokenizer is not in the local cache is skipped, visibly: no package
    ships the tokenizer files of these hub models, and the test run is offline. (Before,
    it fell back to the tokenizer-free bound and showed as a pass.)"""
    spec = ws.registry.get(name)
    loaded = load(spec)
    if loaded is None:
        pytest.skip(f"tokenizer of {spec.weights_source.hf}@{spec.revision} not in the "
                    f"local cache (`panel models fetch {name}` fetches it)")
    grammar = generation_grammar(Rubric(), "N" * OPENER_MAX_BYTES, quotes=WIDEST_QUOTES)
    assert max_tokens_bound(grammar, loaded[1]) <= spec.sampling.max_tokens
    assert _longest_prompt(ws, loaded[0]) + spec.sampling.max_tokens <= spec.max_model_len
