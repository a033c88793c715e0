"""Panel aggregation: counts, ship %, majority, the documented tie rule, failures."""

from __future__ import annotations

from panel.contract.output import ReviewOutput, Rubric
from panel.contract.records import Edit, ReviewRecord
from panel.verdict.head_to_head import compare
from panel.verdict.majority import panel_verdict

RUBRIC = Rubric(ship_threshold=55, skip_threshold=65)


def rec(persona: str, score: int | None, verdict: str | None,
        tool: str = "t") -> ReviewRecord:
    out = None if score is None else ReviewOutput(
        reasoning="notes notes", score=score, verdict=verdict,
        review="Alpha beta gamma. Delta epsilon zeta.")
    return ReviewRecord(key=f"{tool}{persona}", tool=tool, tool_name=tool.upper(),
                        persona=persona, persona_name=persona.title(), model="m",
                        status="ok" if out else "failed", output=out,
                        failure=None if out else "hit max_tokens")


def test_three_of_four_ship() -> None:
    p = panel_verdict([rec("a", 80, "ship"), rec("b", 70, "ship"), rec("c", 60, "ship"),
                       rec("d", 30, "skip")], RUBRIC)
    assert (p.ship, p.skip, p.failed, p.ship_pct, p.verdict) == (3, 1, 0, 75.0, "ship")
    assert p.mean_score == 60.0
    assert p.label == "Ship · 3 ship / 1 skip"


def test_tie_is_decided_by_mean_score_against_ship_threshold() -> None:
    high = panel_verdict([rec("a", 90, "ship"), rec("b", 80, "ship"), rec("c", 40, "skip"),
                          rec("d", 20, "skip")], RUBRIC)
    assert (high.verdict, high.mean_score, high.tie_broken) == ("ship", 57.5, True)
    low = panel_verdict([rec("a", 60, "ship"), rec("b", 56, "ship"), rec("c", 40, "skip"),
                         rec("d", 20, "skip")], RUBRIC)
    assert (low.verdict, low.mean_score) == ("skip", 44.0)


def test_failed_reviews_are_counted_but_do_not_vote() -> None:
    p = panel_verdict([rec("a", 80, "ship"), rec("b", None, None), rec("c", 30, "skip"),
                       rec("d", 20, "skip")], RUBRIC)
    assert (p.ship, p.skip, p.failed, p.verdict) == (1, 2, 1, "skip")
    assert p.ship_pct == 33.3
    assert p.label == "Skip · 1 ship / 2 skip · 1 failed"


def test_all_failed_gives_no_verdict() -> None:
    p = panel_verdict([rec("a", None, None)], RUBRIC)
    assert (p.verdict, p.ship_pct, p.mean_score) == (None, None, None)


def test_an_edited_score_recomputes_the_verdict() -> None:
    r = rec("a", 80, "ship").model_copy(update={"edit": Edit(score=20, verdict="skip")})
    p = panel_verdict([r, rec("b", 30, "skip")], RUBRIC)
    assert (p.ship, p.skip, p.mean_score) == (0, 2, 25.0)


def test_compare_pairs_personas_in_panel_order() -> None:
    a = [rec("skeptic", 70, "ship", "a"), rec("builder", 80, "ship", "a")]
    b = [rec("builder", 40, "skip", "b")]
    comp = compare(a, b, RUBRIC, ["builder", "skeptic"])
    assert [r.persona for r in comp.rows] == ["builder", "skeptic"]
    assert comp.rows[1].b is None
    assert comp.title == "A vs B"
