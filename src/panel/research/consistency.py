"""Self-consistency: how much one backbone moves between samples of the same card and persona."""

from __future__ import annotations

from collections.abc import Sequence
from statistics import mean, pstdev

from pydantic import BaseModel, Field

from panel.contract.records import ReviewRecord
from panel.research.stats import ALL


class Consistency(BaseModel):
    """How one backbone's reviews of the same card x persona vary across samples."""

    model: str
    persona: str = Field(description="Persona key, or 'all'.")
    groups: int = Field(description="Card x persona groups with at least two completed samples.")
    samples: float | None = Field(description="Mean completed samples per group.")
    score_std: float | None = Field(description="Mean within-group score std (population).")
    score_range: float | None = Field(description="Mean within-group max - min score.")
    flip_rate_pct: float | None = Field(description="Groups whose verdicts are not unanimous, %.")


def self_consistency(model: str, records: Sequence[ReviewRecord],
                     personas: Sequence[str]) -> list[Consistency]:
    """Per persona and overall; empty when every group has a single sample."""
    groups: dict[tuple[str, str], list[ReviewRecord]] = {}
    for r in records:
        if r.ok and r.score is not None:
            groups.setdefault((r.tool, r.persona), []).append(r)
    multi = {k: v for k, v in groups.items() if len(v) >= 2}
    if not multi:
        return []
    return [_consistency(model, p, [v for k, v in multi.items() if p in (ALL, k[1])])
            for p in [*personas, ALL]]


def _consistency(model: str, persona: str, groups: list[list[ReviewRecord]]) -> Consistency:
    if not groups:
        return Consistency(model=model, persona=persona, groups=0, samples=None,
                           score_std=None, score_range=None, flip_rate_pct=None)
    scores = [[int(r.score or 0) for r in g] for g in groups]
    flips = sum(len({r.verdict for r in g}) > 1 for g in groups)
    return Consistency(
        model=model, persona=persona, groups=len(groups),
        samples=round(mean(len(g) for g in groups), 2),
        score_std=round(mean(pstdev(s) for s in scores), 3),
        score_range=round(mean(max(s) - min(s) for s in scores), 3),
        flip_rate_pct=round(100 * flips / len(groups), 2),
    )
