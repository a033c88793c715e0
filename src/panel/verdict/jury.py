"""Juries: several judgements of one persona (backbones, samples) combined into one.

A jury draws each persona from several backbones (and/or several samples) and combines
them as a panel of judges does: the persona's verdict is the majority of its judges, its
score their mean, and a tie is settled by the same rule as the panel (mean score against
the ship threshold), by reusing ``verdict/majority``'s ``majority`` and ``panel_verdict``
rather than a second copy of them. The tool's jury verdict is then the majority of its
persona verdicts, ties again by score. The opposite question, how much one backbone moves
between samples, is ``research/consistency``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

from pydantic import BaseModel, Field

from panel.contract.output import Rubric
from panel.contract.records import ReviewRecord
from panel.verdict.majority import majority, panel_verdict


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


# --- self-consistency -----------------------------------------------------------------------


