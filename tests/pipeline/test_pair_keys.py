"""Each input of a head-to-head judgment's store key, changed alone, re-runs exactly the
judgments it shapes and reuses every other one (rubric, review lengths, attempts,
sampling, model revision, persona file, the head-to-head template), as test_store_keys
shows for reviews."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from panel.backends.mock import Mocks
from panel.config.workspace import Workspace
from panel.inputs.cards import ToolCard, load_cards
from panel.pipeline.pairwise import judge_pairs, make_pair_job

from conftest import EXAMPLES
from factories import copy_project, edit

PERSONAS = ("builder", "skeptic", "futurist", "founder")  # 4 personas x 2 orders = 8


def pair() -> list[tuple[ToolCard, ToolCard]]:
    a, b = (c.card for c in load_cards([EXAMPLES / "patchpilot.yaml",
                                        EXAMPLES / "diffsage.yaml"]))
    return [(a, b)]


CHANGES: dict[str, tuple[Callable[[Path], None], set[str] | None]] = {
    # what changes -> (the change, the personas whose two judgments it re-runs; None: all)
    "rubric": (lambda root: edit(root / "panel.yaml", "ship_threshold: 55",
                                 "ship_threshold: 56"), None),
    "lengths": (lambda root: edit(root / "panel.yaml", "generation:",
                                  "review:\n  sentences: [2, 4]\ngeneration:"), None),
    "attempts": (lambda root: edit(root / "panel.yaml", "max_attempts: 3",
                                   "max_attempts: 4"), None),
    "sampling": (lambda root: edit(root / "models.yaml", "0.7, max_tokens: 2560, seed: 0",
                                   "0.7, max_tokens: 2561, seed: 0"), None),
    "persona": (lambda root: edit(root / "personas" / "skeptic.yaml", "\n", "\n# edited\n"),
                {"skeptic"}),
    "template": (lambda root: edit(root / "prompts" / "head_to_head.j2", "\n",
                                   "\n{# edited #}\n"), None),
    "review template": (lambda root: edit(root / "prompts" / "review.j2", "\n",
                                          "\n{# edited #}\n"), set()),
}


@pytest.mark.parametrize("what", sorted(CHANGES))
def test_changing_one_key_input_rejudges_exactly_what_it_shapes(tmp_path: Path,
                                                                what: str, mock: Mocks) -> None:
    root = copy_project(tmp_path / "project")
    [first] = judge_pairs(Workspace(tmp_path / "out", root), pair(), "mock")
    assert mock.calls == 8
    change, affected = CHANGES[what]
    change(root)
    [again] = judge_pairs(Workspace(tmp_path / "out", root), pair(), "mock")
    before = {p.key for r in first.rows for p in (r.ab, r.ba) if p}
    rejudged = {(r.persona, p.order) for r in again.rows for p in (r.ab, r.ba)
                if p and p.key not in before}
    personas = set(PERSONAS) if affected is None else affected
    assert rejudged == {(p, o) for p in personas for o in ("ab", "ba")}
    assert mock.calls == 8 + len(rejudged)


def test_a_model_revision_changes_that_models_judgments_only(tmp_path: Path) -> None:
    root = copy_project(tmp_path / "project")
    [(a, b)] = pair()

    def key(model: str) -> str:
        ws = Workspace(tmp_path / "out", root)
        return make_pair_job(a, b, ws.personas(["builder"])[0], ws.settings(model)).key

    qwen, mock = key("qwen2.5-7b"), key("mock")
    edit(root / "models.yaml", "hf: Qwen/Qwen2.5-7B-Instruct\n      revision: main",
         "hf: Qwen/Qwen2.5-7B-Instruct\n      revision: 0123abc")
    assert key("qwen2.5-7b") != qwen and key("mock") == mock
