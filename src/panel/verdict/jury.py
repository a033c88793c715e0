"""Juries and self-consistency: several judgements of one persona, combined or compared.

A jury draws each persona from several backbones (and/or several samples) and combines
them as a panel of judges does: the persona's verdict is the majority of its judges, its
score their mean, and a tie is settled by the same rule as the panel (mean score against
the ship threshold), by reusing ``panel.panel_verdict`` rather than a second copy of it.
The tool's jury verdict is then the majority of its persona verdicts, ties again by score.

Self-consistency asks the opposite question: how much does one backbone move between
samples drawn with distinct seeds? Per card x persona we take the population standard
deviation and the range of the scores, and call the group "flipped" when its samples do
not all give the same verdict; the flip rate is the share of flipped groups.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from statistics import mean, pstdev
from typing import Literal

from pydantic import BaseModel, Field

from panel.agreement import ALL, fmt
from panel.panel import majority, panel_verdict
from panel.records import ReviewRecord
from panel.schema import Rubric


class PersonaJury(BaseModel):
    """One persona's combined judgement of one tool across judges (backbones x samples)."""

    tool: str
    persona: str
    judges: dict[str, str | None] = Field(description="'model#sample' -> verdict (None: "
                                                      "failed, no vote).")
    ship: int
    skip: int
    failed: int
    verdict: Literal["ship", "skip"] | None
    mean_score: float | None
    tie_broken: bool


class ToolJury(BaseModel):
    """A tool's jury verdict: the majority of its persona juries."""

    tool: str
    tool_name: str
    personas: list[PersonaJury]
    ship: int
    skip: int
    verdict: Literal["ship", "skip"] | None
    mean_score: float | None
    tie_broken: bool

    @property
    def label(self) -> str:
        if self.verdict is None:
            return "No verdict"
        return f"{self.verdict.title()} · {self.ship} ship / {self.skip} skip"


def persona_jury(records: Sequence[ReviewRecord], rubric: Rubric) -> PersonaJury:
    """Combine one persona's reviews of one tool (from any backbones and samples)."""
    p = panel_verdict(records, rubric)
    return PersonaJury(tool=records[0].tool, persona=records[0].persona,
                       judges={f"{r.model}#{r.sample}": r.verdict if r.ok else None
                               for r in records},
                       ship=p.ship, skip=p.skip, failed=p.failed, verdict=p.verdict,
                       mean_score=p.mean_score, tie_broken=p.tie_broken)


def jury(by_model: Mapping[str, Sequence[ReviewRecord]], rubric: Rubric,
         personas: Sequence[str]) -> list[ToolJury]:
    """Each tool's jury: every persona judged by every backbone, then a panel of personas."""
    groups: dict[str, dict[str, list[ReviewRecord]]] = {}
    names: dict[str, str] = {}
    for records in by_model.values():
        for r in records:
            groups.setdefault(r.tool, {}).setdefault(r.persona, []).append(r)
            names[r.tool] = r.tool_name
    return [_tool_jury(tool, names[tool],
                       [persona_jury(by_persona[p], rubric) for p in personas if p in by_persona],
                       rubric)
            for tool, by_persona in groups.items()]


def _tool_jury(tool: str, name: str, juries: list[PersonaJury], rubric: Rubric) -> ToolJury:
    vote = majority([(j.verdict, j.mean_score) for j in juries
                     if j.verdict and j.mean_score is not None], rubric)
    return ToolJury(tool=tool, tool_name=name, personas=juries, ship=vote.ship, skip=vote.skip,
                    verdict=vote.verdict, mean_score=vote.mean_score, tie_broken=vote.tie_broken)


def jury_table(juries: Sequence[ToolJury], personas: Sequence[str]) -> str:
    """One row per tool: the jury verdict and each persona's combined score and verdict."""
    head = f"{'tool':<24} {'jury':<22} {'mean':>6}  " + "  ".join(f"{p:<16}" for p in personas)
    lines = [head]
    for t in juries:
        cells = {j.persona: f"{fmt(j.mean_score, '.1f')} {j.verdict or '-'}"
                            f" ({j.ship}/{j.ship + j.skip})" for j in t.personas}
        lines.append(f"{t.tool_name[:24]:<24} {t.label:<22} {fmt(t.mean_score, '.1f'):>6}  "
                     + "  ".join(f"{cells.get(p, '-'):<16}" for p in personas))
    return "\n".join(lines)


# --- self-consistency -----------------------------------------------------------------------

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


def consistency_table(rows: Sequence[Mapping[str, object]]) -> str:
    """Self-consistency rows (as dicts, from the report's JSON) as a plain-text table."""
    lines = [f"{'self-consistency':<20} {'persona':<10} {'groups':>6} {'k':>5} "
             f"{'std':>6} {'range':>6} {'flip%':>6}"]
    for row in rows:
        c = Consistency.model_validate(row)
        lines.append(f"{c.model[:20]:<20} {c.persona:<10} {c.groups:>6} {fmt(c.samples, '.1f'):>5} "
                     f"{fmt(c.score_std, '.1f'):>6} {fmt(c.score_range, '.1f'):>6} "
                     f"{fmt(c.flip_rate_pct, '.1f'):>6}")
    return "\n".join(lines)
