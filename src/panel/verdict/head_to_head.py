"""Tool A vs Tool B: both panels, the per-persona scorecard, and the head-to-head."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

from pydantic import BaseModel, Field, computed_field

from panel.contract.output import Rubric
from panel.contract.pairwise import Choice, PairRecord
from panel.contract.records import ReviewRecord
from panel.verdict.majority import PanelVerdict, panel_verdict


class ScoreRow(BaseModel):
    """One persona's line in the scorecard: both tools side by side."""

    persona: str
    persona_name: str
    a: ReviewRecord | None
    b: ReviewRecord | None


class Comparison(BaseModel):
    """Tool A vs Tool B: both panels and the per-persona scorecard."""

    a: PanelVerdict
    b: PanelVerdict
    rows: list[ScoreRow]

    @property
    def title(self) -> str:
        return f"{self.a.tool_name} vs {self.b.tool_name}"


def compare(a: Sequence[ReviewRecord], b: Sequence[ReviewRecord], rubric: Rubric,
            persona_order: Sequence[str]) -> Comparison:
    """Pair two tools' reviews persona by persona, in the panel's persona order."""
    by_a = {r.persona: r for r in a}
    by_b = {r.persona: r for r in b}
    order = [p for p in persona_order if p in by_a or p in by_b]
    rows = [ScoreRow(persona=p, persona_name=(by_a.get(p) or by_b[p]).persona_name,
                     a=by_a.get(p), b=by_b.get(p)) for p in order]
    return Comparison(a=panel_verdict(a, rubric), b=panel_verdict(b, rubric), rows=rows)


# Head-to-head: one prompt with both cards, judged in both orders (issue 13). A persona's
# result is its pick when the two orders agree and "inconsistent" when they do not: a pick
# that follows the position rather than the tool is no pick (MT-Bench's swap test).
Order = Literal["ab", "ba"]
Outcome = Literal["a", "b", "neither", "both", "inconsistent", "failed"]
_BY_CHOICE: dict[str, Outcome] = {"neither-ship": "neither", "both-ship": "both"}


class OrderPick(BaseModel):
    """One persona's judgment of a pair shown in one order (``ab``: A first)."""

    order: Order = Field(description="ab: tool A shown first; ba: tool B shown first.")
    key: str = Field(description="Store key of this judgment (both cards, order, persona...).")
    choice: Choice | None = Field(None, description="The pick as the model wrote it; None "
                                  "when every attempt failed.")
    margin: int | None = Field(None, ge=0, le=100, description="How clear the pick is, 0-100.")
    reason: str | None = Field(None, description="The model's one-line reason.")
    failure: str | None = Field(None, description="Why the last attempt failed, if it did.")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def tool(self) -> Outcome | None:
        """The pick in terms of the tools: first/second mapped through the order."""
        if self.choice is None:
            return None
        if self.choice in _BY_CHOICE:
            return _BY_CHOICE[self.choice]
        first = self.choice == "first"
        return "a" if first == (self.order == "ab") else "b"


def outcome(ab: OrderPick | None, ba: OrderPick | None) -> Outcome:
    """Both orders agree: that pick; they disagree: inconsistent; one missing: failed."""
    picks = [p.tool if p else None for p in (ab, ba)]
    if None in picks:
        return "failed"
    return picks[0] if picks[0] == picks[1] else "inconsistent"  # type: ignore[return-value]


class PersonaHeadToHead(BaseModel):
    """One persona's head-to-head: its pick in each order and the result."""

    persona: str = Field(description="Persona key.")
    persona_name: str = Field(description="Persona display name.")
    ab: OrderPick | None = Field(None, description="A shown first.")
    ba: OrderPick | None = Field(None, description="B shown first.")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def result(self) -> Outcome:
        return outcome(self.ab, self.ba)


class HeadToHead(BaseModel):
    """Every persona's head-to-head between tools A and B, on one model."""

    a: str = Field(description="Tool A's slug.")
    b: str = Field(description="Tool B's slug.")
    a_name: str = Field(description="Tool A's name.")
    b_name: str = Field(description="Tool B's name.")
    model: str = Field(description="Registry model name.")
    rows: list[PersonaHeadToHead] = Field(default_factory=list, description="Per persona.")
    unavailable: list[str] = Field(default_factory=list, description="'persona / order: "
                                   "reason' of each judgment the server could not make (none "
                                   "stored; a re-run makes it).")

    def tool_name(self, tool: Outcome | None) -> str:
        """A tool's display name for 'a' or 'b'; the word itself for anything else."""
        return {"a": self.a_name, "b": self.b_name}.get(tool or "", tool or "")

    def line(self, row: PersonaHeadToHead) -> str:
        """What a reader sees for one persona: 'PatchPilot in both orders', 'inconsistent
        (PatchPilot when shown first, DiffSage when shown first)', ..."""
        result = row.result
        if result in ("a", "b"):
            return f"{self.tool_name(result)} in both orders"
        if result in ("neither", "both"):
            return f"{result} would ship in both orders"
        if result == "inconsistent":
            return f"inconsistent ({self.pick_phrase(row.ab)}, {self.pick_phrase(row.ba)})"
        picks: list[tuple[Order, OrderPick | None]] = [("ab", row.ab), ("ba", row.ba)]
        missing = [f"{self.shown_first(o)} shown first: {'not judged' if p is None else 'failed'}"
                   for o, p in picks if p is None or p.choice is None]
        return f"no result ({'; '.join(missing)})"

    def shown_first(self, order: Order) -> str:
        return self.a_name if order == "ab" else self.b_name

    def pick_phrase(self, pick: OrderPick | None) -> str:
        """One order's pick in words: 'DiffSage when shown first', 'neither with PatchPilot
        shown first'."""
        if pick is None or pick.choice is None:
            return "no pick"
        if pick.choice in ("first", "second"):
            return f"{self.tool_name(pick.tool)} when shown {pick.choice}"
        return f"{pick.tool} with {self.shown_first(pick.order)} shown first"


def order_pick(record: PairRecord, order: Order) -> OrderPick:
    """A stored judgment as one order's pick (``order``: which tool the record shows first)."""
    out = record.output
    return OrderPick(order=order, key=record.key, choice=out.choice if out else None,
                     margin=out.margin if out else None, reason=out.reason if out else None,
                     failure=record.failure)


def stored_head_to_head(a: str, b: str, a_name: str, b_name: str, model: str,
                        records: Iterable[PairRecord], persona_order: Sequence[str],
                        ) -> HeadToHead:
    """Tools ``a`` vs ``b`` from stored judgments (either tool shown first), one row per
    persona with any judgment, in the panel's order (personas no longer on file last)."""
    picks: dict[tuple[str, Order], OrderPick] = {}
    names: dict[str, str] = {}
    for rec in records:
        if {rec.first, rec.second} == {a, b} and a != b:
            order: Order = "ab" if rec.first == a else "ba"
            picks[(rec.persona, order)] = order_pick(rec, order)
            names[rec.persona] = rec.persona_name
    rank = {p: i for i, p in enumerate(persona_order)}
    people = sorted(names, key=lambda p: (rank.get(p, len(rank)), p))
    rows = [PersonaHeadToHead(persona=p, persona_name=names[p], ab=picks.get((p, "ab")),
                              ba=picks.get((p, "ba"))) for p in people]
    return HeadToHead(a=a, b=b, a_name=a_name, b_name=b_name, model=model, rows=rows)
