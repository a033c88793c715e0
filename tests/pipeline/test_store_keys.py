"""Each input of a review's store key, changed alone, re-runs exactly the reviews it shapes
and reuses every other one (card, persona, templates, model revision, sampling, rubric,
schema version, attempts, review lengths)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from panel.config.workspace import Workspace
from panel.inputs.cards import load_cards
from panel.pipeline import jobs
from panel.pipeline.batch import run_batch
from panel.pipeline.run import plan

from conftest import EXAMPLES
from factories import copy_project, edit

CARDS = ("tracelens", "patchpilot", "diffsage")  # 3 cards x 4 personas = 12 reviews


def project(tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the project data to change, and a JSONL file of three cards."""
    root = copy_project(tmp_path / "project")
    cards = tmp_path / "cards.jsonl"
    docs = [yaml.safe_load((EXAMPLES / f"{c}.yaml").read_text()) for c in CARDS]
    cards.write_text("".join(json.dumps(d, default=str) + "\n" for d in docs))
    return root, cards


def _card(root: Path, cards: Path) -> None:
    lines = cards.read_text().splitlines()
    doc = json.loads(lines[0])
    doc["description"] += " Now with a changelog."
    cards.write_text("\n".join([json.dumps(doc), *lines[1:]]) + "\n")


CHANGES: dict[str, tuple[Callable[[Path, Path], None], set[tuple[str, str]] | None]] = {
    # what changes -> (the change, the (tool, persona) reviews it re-runs; None: all 12)
    "card": (_card, {("tracelens", p) for p in ("builder", "skeptic", "futurist", "founder")}),
    "persona": (lambda root, _: edit(root / "personas" / "skeptic.yaml", "\n", "\n# edited\n"),
                {(c, "skeptic") for c in CARDS}),
    "templates": (lambda root, _: edit(root / "prompts" / "review.j2", "\n", "\n{# edited #}\n"),
                  None),
    "sampling": (lambda root, _: edit(root / "models.yaml", "0.7, max_tokens: 2560, seed: 0",
                                      "0.7, max_tokens: 2561, seed: 0"), None),
    "rubric": (lambda root, _: edit(root / "panel.yaml", "ship_threshold: 55",
                                    "ship_threshold: 56"), None),
    "attempts": (lambda root, _: edit(root / "panel.yaml", "max_attempts: 3",
                                      "max_attempts: 4"), None),
    "lengths": (lambda root, _: edit(root / "panel.yaml", "generation:",
                                     "review:\n  sentences: [2, 4]\ngeneration:"), None),
}


@pytest.mark.parametrize("what", sorted(CHANGES))
def test_changing_one_key_input_reruns_exactly_what_it_shapes(tmp_path: Path,
                                                               what: str) -> None:
    root, cards = project(tmp_path)
    first = run_batch([cards], tmp_path / "out", "mock", root=root)
    assert (first.counts.reviewed, first.counts.reused) == (12, 0)
    change, affected = CHANGES[what]
    change(root, cards)
    again = run_batch([cards], tmp_path / "out", "mock", root=root)
    before = {r.key for r in list(first.records())}
    rerun = {(r.tool, r.persona) for r in list(again.records()) if r.key not in before}
    expected = affected if affected is not None else {(r.tool, r.persona)
                                                      for r in list(first.records())}
    assert rerun == expected
    assert (again.counts.reviewed, again.counts.reused, again.requests) == (
        len(expected), 12 - len(expected), len(expected))


def test_the_schema_version_is_part_of_every_key(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    root, cards = project(tmp_path)
    ws = Workspace(tmp_path / "out", root)
    loaded = [c.card for c in load_cards([cards])]
    keys = {j.key for j in plan(ws, loaded, "mock")}
    monkeypatch.setattr(jobs, "SCHEMA_VERSION", jobs.SCHEMA_VERSION + 1)
    assert not keys & {j.key for j in plan(ws, loaded, "mock")}


def test_a_model_revision_changes_that_models_keys_only(tmp_path: Path) -> None:
    root, cards = project(tmp_path)
    loaded = [c.card for c in load_cards([cards])]

    def keys(model: str) -> set[str]:
        return {j.key for j in plan(Workspace(tmp_path / "out", root), loaded, model)}

    qwen, mock = keys("qwen2.5-7b"), keys("mock")
    edit(root / "models.yaml", "hf: Qwen/Qwen2.5-7B-Instruct\n      revision: main",
         "hf: Qwen/Qwen2.5-7B-Instruct\n      revision: 0123abc")
    assert len(qwen) == 12 and not qwen & keys("qwen2.5-7b")
    assert keys("mock") == mock


def test_the_resolved_dtype_is_part_of_an_engine_models_keys(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from panel.config import dtype

    root, cards = project(tmp_path)
    loaded = [c.card for c in load_cards([cards])]

    def keys(flags: set[str], model: str = "smollm2-135m", force: str | None = None) -> set[str]:
        monkeypatch.setattr(dtype, "cpu_flags", lambda: frozenset(flags))
        monkeypatch.setattr(dtype, "engine_build", lambda: "cpu")
        return {j.key for j in plan(Workspace(tmp_path / "out", root, force), loaded, model)}

    avx2, amx = keys({"avx2"}), keys({"avx2", "amx_bf16"})
    assert len(avx2) == 12 and not avx2 & amx  # float32 and bfloat16: different reviews
    assert keys({"avx2"}, force="bfloat16") == amx
    assert keys({"avx2", "amx_bf16"}, force="float32") == avx2
    assert keys({"avx2"}, "mock") == keys({"amx_bf16"}, "mock")  # no engine, no dtype


def test_the_default_lengths_spelt_out_keep_every_key(tmp_path: Path) -> None:
    """Keys made before review lengths were settable stay valid: the defaults written out
    in panel.yaml change no key, so a store made then is reused, not reviewed again."""
    root, cards = project(tmp_path)
    ws = Workspace(tmp_path / "out", root)
    loaded = [c.card for c in load_cards([cards])]
    keys = [j.key for j in plan(ws, loaded, "mock")]
    edit(root / "panel.yaml", "generation:", "review:\n  sentences: [2, 5]\n"
         "  sentence_words: [4, 20]\n  reasoning_words: [4, 24]\ngeneration:")
    assert [j.key for j in plan(Workspace(tmp_path / "out", root), loaded, "mock")] == keys
