"""`panel verify` on the mock: the selection, the comparison and the exit status. The real
engine's 8-of-8 and forced-dtype runs are in test_verify_engine.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from panel.cli import main
from panel.config.workspace import Workspace
from panel.inputs.cards import load_cards
from panel.pipeline.run import review_cards
from panel.research.verify import select, verify

from conftest import EXAMPLES

CARDS = [EXAMPLES / "tracelens.yaml", EXAMPLES / "diffsage.yaml"]


@pytest.fixture
def reviewed(ws: Workspace) -> Workspace:
    """8 mock reviews (2 cards x 4 personas) made by one run."""
    review_cards(ws, [c.card for c in load_cards(CARDS)], "mock")
    return ws


def test_a_deterministic_backend_verifies_identical(reviewed: Workspace) -> None:
    report = verify(reviewed, sample=8)
    assert (report.identical, len(report.checks), report.ok) == (8, 8, True)
    # In the run's order (its manifest), not the draw's: tracelens's four personas first.
    assert [c.tool for c in report.checks] == ["tracelens"] * 4 + ["diffsage"] * 4
    assert {(c.same_verdict, c.score_delta, c.status, tuple(c.differs))
            for c in report.checks} == {(True, 0, "ok->ok", ())}


def test_a_changed_text_fails_and_names_no_condition(reviewed: Workspace) -> None:
    first, rec = reviewed.store.all()[0], reviewed.store.all()[2]
    last = rec.attempts[-1].model_copy(update={"text": rec.attempts[-1].text + " "})
    reviewed.store.put(rec.model_copy(update={"attempts": [*rec.attempts[:-1], last]}))
    report = verify(reviewed, keys=[rec.key, first.key])
    checks = {c.key: c for c in report.checks}
    assert (checks[first.key].identical, checks[rec.key].identical, report.ok) == (
        True, False, False)
    assert checks[rec.key].differs == []  # nothing recorded differs: the text itself does


def test_a_review_made_from_other_inputs_is_reported_not_rerun(reviewed: Workspace) -> None:
    rec = reviewed.store.all()[0]
    old = rec.model_copy(update={"key": "f" * 64, "provenance": {**rec.provenance,
                                                                  "persona_sha": "0" * 64}})
    reviewed.store.put(old)
    (check,) = verify(reviewed, keys=[old.key]).checks
    assert (check.rerun, check.identical, check.status) == (False, False, "ok->not run")
    assert check.differs == ["inputs: persona_sha"]


def test_the_selection(reviewed: Workspace) -> None:
    assert len(select(reviewed, tool="diffsage")) == 4
    assert select(reviewed, sample=3) == select(reviewed, sample=3)  # seeded
    assert len({r.key for r in select(reviewed, sample=3)}) == 3


def test_the_cli_exits_1_on_a_difference(reviewed: Workspace, tmp_path: Path) -> None:
    out = str(reviewed.output)
    res = CliRunner().invoke(main, ["verify", "--tool", "tracelens", "-o", out])
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert lines[-2] == "4 of 4 identical" and lines[-1].startswith("wrote ")
    rec = reviewed.store.all()[0]
    reviewed.store.put(rec.model_copy(update={"attempts": []}))
    res = CliRunner().invoke(main, ["verify", rec.key, "-o", out])
    assert res.exit_code == 1
    assert "0 of 1 identical" in res.stdout


def test_a_batchs_reviews_keep_their_place_from_its_keys_file(tmp_path: Path) -> None:
    from panel.pipeline.batch import run_batch
    from panel.research.verify import run_order

    cards = [EXAMPLES / "diffsage.yaml", EXAMPLES / "patchpilot.yaml"]
    summary = run_batch(cards, tmp_path / "out", "mock")
    assert summary.keys is not None and summary.manifest is not None
    keys = summary.keys.read_text().split()
    wanted = {keys[5], keys[1]}
    order = run_order(Workspace(tmp_path / "out"), wanted)
    assert order == {keys[1]: (summary.manifest.name, 1), keys[5]: (summary.manifest.name, 5)}
