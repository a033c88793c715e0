"""Grounding rate: the share of reviews with no unsupported claim, per persona x backbone.

A review is grounded when every number and proper name of its text occurs in its card
(``contract/claims``). The rate is taken over the valid reviews (a failed one has no text;
it is counted as excluded) with Wilson's 95% interval on the card clusters' effective
sample size (``research.cluster.cluster_share``), as every share of the reports is. Reviews
stored before claims were recorded count as grounded only if their text is re-checked, so
the rate is computed from the text, not the stored list.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pydantic import BaseModel, Field

from panel.contract.claims import unsupported_claims
from panel.contract.records import ReviewRecord
from panel.inputs.cards import ToolCard
from panel.research.cluster import Interval, cluster_share
from panel.research.stats import ALL, fmt


class Grounding(BaseModel):
    """One backbone's grounding rate over one persona (or all)."""

    model: str
    persona: str
    rate: Interval = Field(description="Grounded reviews of the valid ones, in %, with "
                           "the 95% interval clustered by card.")
    excluded: int = Field(0, description="Failed reviews (no text to check).")


def is_grounded(record: ReviewRecord, cards: Mapping[str, ToolCard]) -> bool:
    """No unsupported claim in the review's text (re-checked against its card when the
    card is known, else the recorded list)."""
    card = cards.get(record.tool)
    text = record.text or ""
    return not (unsupported_claims(text, card) if card is not None else record.unsupported)


def grounding(by_model: Mapping[str, Sequence[ReviewRecord]], personas: Sequence[str],
              cards: Mapping[str, ToolCard]) -> list[Grounding]:
    """Per backbone, per persona and over all: grounded valid reviews with the interval;
    nothing for a backbone without reviews (an audit of position alone)."""
    rows = []
    for model, records in by_model.items():
        if not records:
            continue
        for persona in [*personas, ALL]:
            mine = [r for r in records if persona in (ALL, r.persona)]
            ok = [r for r in mine if r.ok]
            rate = cluster_share([is_grounded(r, cards) for r in ok], [r.tool for r in ok])
            rows.append(Grounding(model=model, persona=persona, rate=rate,
                                  excluded=len(mine) - len(ok)))
    return rows


def grounding_table(rows: Sequence[Grounding]) -> str:
    """Plain-text table: backbone, persona, n, clusters, excluded, grounded %, 95% interval
    (clustered by card)."""
    lines = [f"{'grounding':<20} {'persona':<10} {'n':>4} {'cl':>3} {'excl':>4} "
             f"{'grounded%':>9}  95% CI (by card)"]
    for g in rows:
        r = g.rate
        ci = "n/a" if r.ci_low is None else f"[{fmt(r.ci_low, '.1f')}, {fmt(r.ci_high, '.1f')}]"
        lines.append(f"{g.model[:20]:<20} {g.persona[:10]:<10} {r.n:>4} {r.clusters:>3} "
                     f"{g.excluded:>4} "
                     f"{fmt(r.estimate, '.1f'):>9}  {ci}")
    return "\n".join(lines)
