"""Grounding rate per persona x backbone, with the card-clustered interval, in the reports."""

from __future__ import annotations

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
               rec("m", "patchpilot", "skeptic", None, None, sample=2),
               rec("m", "voicedesk", "skeptic", "ship", 80)]
    rows = {g.persona: g for g in grounding({"m": records}, ["builder", "skeptic"], {})}
    builder, skeptic, every = rows["builder"], rows["skeptic"], rows["all"]
    assert (builder.rate.n, builder.rate.estimate, builder.excluded) == (1, 0.0, 0)
    assert (skeptic.rate.n, skeptic.rate.estimate, skeptic.excluded) == (3, 100.0, 1)
    assert (every.rate.n, every.rate.clusters, every.rate.estimate) == (4, 2, 75.0)
    # 3 of 4 on two cards: the clustered interval is wider than 4 independent reviews' Wilson
    assert every.rate.ci_low is not None and every.rate.ci_low < 30.06
    table = grounding_table(grounding({"m": records}, ["builder"], {}))
    assert "grounded%" in table and "by card" in table


def test_the_card_rechecks_the_text_and_the_agreement_report_carries_it() -> None:
    """With the card known, the text is checked again (an edited review, an older one)."""
    card = load_cards([EXAMPLES / "patchpilot.yaml"])[0].card
    old = rec("m", "patchpilot", "builder", "ship", 70)
    edited = old.model_copy(update={"edit": old.edit, "output": old.output.model_copy(
        update={"review": "PatchPilot costs $7 a seat. It works on GitLab."})})
    report = agreement_report("s", {"m": [edited]}, ["builder"], cards={"patchpilot": card})
    assert [(g.persona, g.rate.estimate, g.rate.n) for g in report.grounding] == [
        ("builder", 0.0, 1), ("all", 0.0, 1)]
