"""Hand-built review records for tests of the pure statistics (no backend, no store)."""

from __future__ import annotations

from panel.contract.output import ReviewOutput
from panel.contract.pairwise import Choice, PairOutput, PairRecord
from panel.contract.records import Attempt, ReviewRecord

REVIEW = "Tool does one thing well here. It is reviewed for the test."


def rec(model: str, tool: str, persona: str, verdict: str | None, score: int | None,
        sample: int = 0, tokens: int = 10, seconds: float = 1.0) -> ReviewRecord:
    """A stored review; verdict None makes it a failed one."""
    out = None if verdict is None else ReviewOutput(
        reasoning="Notes before the score.", score=score or 0, verdict=verdict, review=REVIEW)
    return ReviewRecord(key=f"{model}-{tool}-{persona}-{sample}", tool=tool, tool_name=tool.title(),
                        persona=persona, persona_name=persona.title(), model=model, sample=sample,
                        status="ok" if out else "failed", output=out,
                        failure=None if out else "invalid reply",
                        attempts=[Attempt(seed=1, output_tokens=tokens, seconds=seconds)])


def pair_rec(first: str, second: str, persona: str, choice: Choice | None, model: str = "m",
             margin: int = 60, reason: str = "Clear pick here.", created_at: str | None = None,
             ) -> PairRecord:
    """A stored head-to-head judgment (``first`` shown first); choice None: a failed one."""
    out = None if choice is None else PairOutput(reason=reason, choice=choice, margin=margin)
    extra = {"created_at": created_at} if created_at else {}
    return PairRecord(key=f"{model}-{first}-{second}-{persona}", first=first,
                      first_name=first.title(), second=second, second_name=second.title(),
                      persona=persona, persona_name=persona.title(), model=model,
                      status="ok" if out else "failed", output=out,
                      failure=None if out else "invalid reply",
                      attempts=[Attempt(seed=1, output_tokens=20, seconds=0.5)], **extra)
