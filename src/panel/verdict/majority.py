"""The panel verdict as pure functions over reviews: each persona's vote, the majority and
its tie rule (the A-vs-B comparison built on it is ``verdict/head_to_head``).

Failed reviews are counted and shown but cast no vote: a panel of 4 with one failure is a
panel of 3 voters, and says so. Tie rule (documented in the README): when ship and skip
votes are equal, the panel ships if the mean score of the voting reviews is at or above
the rubric's ship threshold.
"""

from __future__ import annotations

from collections.abc import Sequence
from statistics import mean
from typing import Literal

from pydantic import BaseModel, Field

from panel.contract.output import Rubric
from panel.contract.records import ReviewRecord


class PanelVerdict(BaseModel):
    """One tool's panel: counts, share, verdict and mean score."""

    tool: str = Field(description="Tool slug.")
    tool_name: str = Field(description="Tool display name.")
    ship: int = Field(description="Ship votes.")
    skip: int = Field(description="Skip votes.")
    failed: int = Field(description="Reviews that failed validation (no vote).")
    ship_pct: float | None = Field(description="Ship votes / voters x 100, None if no voters.")
    verdict: Literal["ship", "skip"] | None = Field(description="Majority, ties by mean score.")
    mean_score: float | None = Field(description="Mean score of voting reviews.")
    tie_broken: bool = Field(False, description="True when the mean score decided a tie.")

    @property
    def label(self) -> str:
        """"Ship · 3 ship / 1 skip", as the published pages print it."""
        if self.verdict is None:
            return f"No verdict · {self.failed} failed"
        head = f"{self.verdict.title()} · {self.ship} ship / {self.skip} skip"
        return head + (f" · {self.failed} failed" if self.failed else "")


class Tally(BaseModel):
    """The outcome of a vote: counts, mean score, verdict, and whether a tie was broken."""

    ship: int
    skip: int
    mean_score: float | None
    verdict: Literal["ship", "skip"] | None
    tie_broken: bool


def majority(votes: Sequence[tuple[str, float]], rubric: Rubric) -> Tally:
    """Majority of (verdict, score) votes; a tie ships if the mean score >= ship threshold.

    Shared by the panel (personas vote) and the jury (backbones vote per persona), so the
    tie rule is stated once.
    """
    ship = sum(v == "ship" for v, _ in votes)
    skip = len(votes) - ship
    mean_score = round(mean(s for _, s in votes), 2) if votes else None
    verdict: Literal["ship", "skip"] | None = None
    if votes:
        if ship != skip:
            verdict = "ship" if ship > skip else "skip"
        else:
            verdict = "ship" if (mean_score or 0) >= rubric.ship_threshold else "skip"
    return Tally(ship=ship, skip=skip, mean_score=mean_score, verdict=verdict,
                tie_broken=bool(votes) and ship == skip)


def panel_verdict(reviews: Sequence[ReviewRecord], rubric: Rubric) -> PanelVerdict:
    """Aggregate one tool's reviews (any number of personas) into its panel verdict."""
    if not reviews:
        raise ValueError("a panel needs at least one review")
    votes = [(r.verdict, float(r.score)) for r in reviews
             if r.ok and r.verdict and r.score is not None]
    vote = majority(votes, rubric)
    return PanelVerdict(
        tool=reviews[0].tool, tool_name=reviews[0].tool_name, ship=vote.ship, skip=vote.skip,
        failed=len(reviews) - len(votes),
        ship_pct=round(100 * vote.ship / len(votes), 1) if votes else None,
        verdict=vote.verdict, mean_score=vote.mean_score, tie_broken=vote.tie_broken,
    )


