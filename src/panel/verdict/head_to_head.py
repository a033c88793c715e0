"""Tool A vs Tool B: both panels and the per-persona scorecard."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel

from panel.contract.output import Rubric
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
