"""Head-to-head results: every pair of picks in both orders maps to one outcome, and the
line a reader sees says it in the tools' names."""

from __future__ import annotations

import itertools

import pytest

from panel.contract.pairwise import CHOICES, Choice
from panel.verdict.head_to_head import (
    HeadToHead,
    Order,
    OrderPick,
    PersonaHeadToHead,
    outcome,
    stored_head_to_head,
)

from factories import pair_rec

# The pick, in terms of the tools, of each choice in each order (ab: A shown first).
TOOL = {("ab", "first"): "a", ("ab", "second"): "b", ("ba", "first"): "b",
        ("ba", "second"): "a", ("ab", "neither-ship"): "neither",
        ("ba", "neither-ship"): "neither", ("ab", "both-ship"): "both",
        ("ba", "both-ship"): "both"}


def pick(order: Order, choice: Choice | None) -> OrderPick:
    return OrderPick(order=order, key=f"k-{order}", choice=choice,
                     margin=None if choice is None else 50,
                     reason=None if choice is None else "Because.",
                     failure="invalid reply" if choice is None else None)


@pytest.mark.parametrize(("ab", "ba"), list(itertools.product(CHOICES, CHOICES)))
def test_all_sixteen_choice_combinations(ab: Choice, ba: Choice) -> None:
    expected = {("first", "second"): "a", ("second", "first"): "b",
                ("neither-ship", "neither-ship"): "neither",
                ("both-ship", "both-ship"): "both"}.get((ab, ba), "inconsistent")
    assert outcome(pick("ab", ab), pick("ba", ba)) == expected
    assert pick("ab", ab).tool == TOOL[("ab", ab)]
    assert pick("ba", ba).tool == TOOL[("ba", ba)]


@pytest.mark.parametrize(("ab", "ba"), [
    (None, "first"), ("first", None), (None, None)])
def test_a_failed_or_missing_order_is_failed(ab: Choice | None, ba: Choice | None) -> None:
    assert outcome(pick("ab", ab), pick("ba", ba)) == "failed"
    assert outcome(None, pick("ba", ba)) == "failed"
    assert outcome(pick("ab", ab), None) == "failed"


H2H = HeadToHead(a="patchpilot", b="diffsage", a_name="PatchPilot", b_name="DiffSage",
                 model="m")


@pytest.mark.parametrize(("ab", "ba", "line"), [
    ("first", "second", "PatchPilot in both orders"),
    ("second", "first", "DiffSage in both orders"),
    ("neither-ship", "neither-ship", "neither would ship in both orders"),
    ("both-ship", "both-ship", "both would ship in both orders"),
    ("first", "first",
     "inconsistent (PatchPilot when shown first, DiffSage when shown first)"),
    ("second", "second",
     "inconsistent (DiffSage when shown second, PatchPilot when shown second)"),
    ("first", "neither-ship",
     "inconsistent (PatchPilot when shown first, neither with DiffSage shown first)"),
    (None, "first", "no result (PatchPilot shown first: failed)"),
])
def test_the_line_a_reader_sees(ab: Choice | None, ba: Choice, line: str) -> None:
    row = PersonaHeadToHead(persona="builder", persona_name="Builder", ab=pick("ab", ab),
                            ba=pick("ba", ba))
    assert H2H.line(row) == line


def test_a_missing_order_reads_not_judged() -> None:
    row = PersonaHeadToHead(persona="builder", persona_name="Builder", ab=pick("ab", "first"))
    assert H2H.line(row) == "no result (DiffSage shown first: not judged)"


def test_the_json_carries_each_orders_pick_and_the_result() -> None:
    row = PersonaHeadToHead(persona="builder", persona_name="Builder",
                            ab=pick("ab", "first"), ba=pick("ba", "first"))
    doc = H2H.model_copy(update={"rows": [row]}).model_dump(mode="json")
    assert doc["rows"][0]["result"] == "inconsistent"
    assert {k: doc["rows"][0]["ab"][k] for k in ("choice", "margin", "reason", "tool")} == {
        "choice": "first", "margin": 50, "reason": "Because.", "tool": "a"}
    assert doc["rows"][0]["ba"]["tool"] == "b"
    assert HeadToHead.model_validate(doc).rows[0].result == "inconsistent"


def test_stored_judgments_from_either_side_map_to_this_pairs_orders() -> None:
    """A judgment stored as 'diffsage first' is this pair's 'ba'; personas follow the panel's
    order; judgments of other pairs are ignored."""
    records = [pair_rec("diffsage", "patchpilot", "skeptic", "second"),
               pair_rec("patchpilot", "diffsage", "skeptic", "first"),
               pair_rec("patchpilot", "diffsage", "builder", "first"),
               pair_rec("patchpilot", "tracelens", "builder", "first")]
    h2h = stored_head_to_head("patchpilot", "diffsage", "PatchPilot", "DiffSage", "m",
                              records, ["builder", "skeptic"])
    assert [(r.persona, r.result) for r in h2h.rows] == [("builder", "failed"),
                                                         ("skeptic", "a")]
    skeptic = h2h.rows[1]
    assert (skeptic.ab and skeptic.ab.key, skeptic.ba and skeptic.ba.key) == (
        "m-patchpilot-diffsage-skeptic", "m-diffsage-patchpilot-skeptic")
    assert h2h.line(h2h.rows[0]) == "no result (DiffSage shown first: not judged)"
