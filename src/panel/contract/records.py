"""What is stored for each review: the validated output, or the failure, and its provenance.

A review is never dropped and never invented: a request that fails every attempt is kept
with ``status="failed"`` and the reason of each attempt, and pages show it as failed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from panel.contract.output import ReviewOutput


class Attempt(BaseModel):
    """One try at a review: what the engine did and why it was rejected, if it was."""

    model_config = ConfigDict(extra="forbid")

    seed: int = Field(description="The request's own seed.")
    finish_reason: str | None = Field(None, description="Engine's reason: stop, length, ...")
    error: str | None = Field(None, description="Why this attempt was rejected; None if valid.")
    prompt_tokens: int = Field(0, description="Prompt length in tokens.")
    output_tokens: int = Field(0, description="Generated tokens.")
    cached_tokens: int = Field(0, description="Prompt tokens served from the prefix cache.")
    seconds: float = Field(0.0, description="Wall time the engine spent on the request.")
    text: str = Field("", description="Raw model text (truncated), kept for diagnosis.")


class Edit(BaseModel):
    """An editor's change to a review; re-runs never overwrite it."""

    model_config = ConfigDict(extra="forbid")

    score: int | None = Field(None, ge=0, le=100, description="Edited score.")
    verdict: Literal["ship", "skip"] | None = Field(None, description="Edited verdict.")
    review: str | None = Field(None, description="Edited review text.")
    approved: bool = Field(False, description="Approved for publication.")
    editor: str | None = Field(None, description="Who edited, if known.")
    key: str | None = Field(None, description="Key of the review this edit was made on: "
                            "that review stays the one shown, whatever re-runs add.")
    at: str = Field(default_factory=lambda: now(), description="When (UTC, ISO 8601).")


class ReviewRecord(BaseModel):
    """One persona's review of one tool by one model, with everything that reproduces it."""

    model_config = ConfigDict(extra="forbid")

    key: str = Field(description="Content hash of every input that shaped this review.")
    tool: str = Field(description="Tool slug.")
    tool_name: str = Field(description="Tool display name.")
    persona: str = Field(description="Persona key (file stem).")
    persona_name: str = Field(description="Persona display name.")
    model: str = Field(description="Registry model name.")
    revision: str | None = Field(None, description="Hub revision of the weights, if any.")
    sample: int = Field(0, description="Sample index: 0 first, higher for re-draws.")
    status: Literal["ok", "failed"] = Field(description="ok: validated output; failed: none.")
    output: ReviewOutput | None = Field(None, description="The validated review, if ok.")
    expected_score: float | None = Field(
        None, ge=0, le=100, description="The score's expectation under the engine's "
        "log-probabilities at the score position (contract/expected), beside the sampled "
        "one; None when the backend gave none, or for reviews stored before it existed.")
    p_ship: float | None = Field(
        None, ge=0, le=1, description="Probability of a ship verdict under the same "
        "log-probabilities, the verdict position's for scores either verdict allows.")
    unsupported: list[str] = Field(
        default_factory=list, description="Numbers, prices, percentages, versions and proper "
        "names of the review's text that its card does not hold (contract/claims): empty "
        "when grounded, when failed, and for reviews stored before schema 5.")
    failure: str | None = Field(None, description="Why the last attempt failed, if failed.")
    attempts: list[Attempt] = Field(default_factory=list, description="Every try, in order.")
    provenance: dict[str, Any] = Field(default_factory=dict,
                                       description="Hashes, sampling, rubric, versions.")
    engine_seconds: float | None = Field(
        None, ge=0, description="This review's share of engine time, all attempts: the "
        "batch's engine wall time apportioned by tokens (pipeline/cost), what a price per "
        "GPU-hour is paid for; None when unknown (a hosted runner, a review stored before).")
    created_at: str = Field(default_factory=lambda: now(), description="UTC, ISO 8601.")
    edit: Edit | None = Field(None, description="The editor's change, if any.")

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def score(self) -> int | None:
        """The effective score: the editor's if edited, else the model's."""
        if self.edit and self.edit.score is not None:
            return self.edit.score
        return self.output.score if self.output else None

    @property
    def verdict(self) -> str | None:
        """The effective verdict: the editor's if edited, else the model's."""
        if self.edit and self.edit.verdict is not None:
            return self.edit.verdict
        return self.output.verdict if self.output else None

    @property
    def text(self) -> str | None:
        """The effective review text."""
        if self.edit and self.edit.review is not None:
            return self.edit.review
        return self.output.review if self.output else None

    @property
    def output_tokens(self) -> int:
        return sum(a.output_tokens for a in self.attempts)

    @property
    def prompt_tokens(self) -> int:
        return sum(a.prompt_tokens for a in self.attempts)

    @property
    def cached_tokens(self) -> int:
        return sum(a.cached_tokens for a in self.attempts)

    @property
    def seconds(self) -> float:
        return sum(a.seconds for a in self.attempts)


def now() -> str:
    """Current UTC time, second precision."""
    return datetime.now(UTC).replace(microsecond=0).isoformat()
