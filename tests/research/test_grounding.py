"""Grounding rate per persona x backbone, with Wilson's interval, in the research reports."""

from __future__ import annotations

import pytest

from panel.inputs.cards import load_cards
from panel.research.agreement import agreement_report
from panel.research.grounding import grounding, grounding_table

from conftest import EXAMPLES
from factories import rec


def test_grounding_rate_counts_valid_reviews_without_claims() -> None:
    claimed = rec("m", "patchpilot", "builder", "ship", 70).model_copy(
        update={"unsupported": ["$5"]})
    records = [claimed, rec("m", "patchpilot", "skeptic", "skip", 30, sample=0),
               rec("m", "patchpilot", "skeptic", "skip", 30, sample=1),
               rec("m", "patchpilot", "skeptic", None, None, sample=2)]
    rows = {g.persona: g.rate for g in grounding({"m": records}, ["builder", "skeptic"], {})}
    assert (rows["builder"].k, rows["builder"].n, rows["builder"].estimate) == (0, 1, 0.0)
    assert (rows["skeptic"].k, rows["skeptic"].n, rows["skeptic"].excluded) == (2, 2, 1)
    assert (rows["all"].k, rows["all"].n) == (2, 3)
    assert rows["all"].ci_low == pytest.approx(20.77, abs=0.01)
    assert "grounded%" in grounding_table(grounding({"m": records}, ["builder"], {}))


def test_the_card_rechecks_the_text_and_the_agreement_report_carries_it() -> None:
    """With the card known, the text is checked again (an edited review, an older one)."""
    card = load_cards([EXAMPLES / "patchpilot.yaml"])[0].card
    old = rec("m", "patchpilot", "builder", "ship", 70)
    edited = old.model_copy(update={"edit": old.edit, "output": old.output.model_copy(
        update={"review": "PatchPilot costs $7 a seat. It works on GitLab."})})
    report = agreement_report("s", {"m": [edited]}, ["builder"], cards={"patchpilot": card})
    assert [(g.persona, g.rate.k, g.rate.n) for g in report.grounding] == [
        ("builder", 0, 1), ("all", 0, 1)]
