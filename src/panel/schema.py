"""The review contract: what a persona must return, and the JSON schema that enforces it.

Two schemas come from one definition. ``ReviewOutput`` validates any model's reply,
including a server's that ignored the grammar. ``generation_schema`` is what the engine's
structured-output grammar follows: an ``anyOf`` of a ship branch and a skip branch whose
score ranges honour the rubric, so a small model cannot emit a verdict that contradicts its
score. ``reasoning`` comes first so the model writes its thinking before it commits to a score.
Every string is bounded: unbounded strings let small models loop until ``max_tokens``.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator

SCHEMA_VERSION = 2
# Lengths are bounded in words, not characters: xgrammar 0.2.8 fails to compile a pattern
# with a character repetition above ~128, and words are what a reader counts anyway.
# A word's own length is left open in the grammar: every counted repetition multiplies the
# states xgrammar must build a token mask for, and bounding each word to 14 characters made
# one card's grammar take 11 s to compile against 1.5 s without (bench/grammar.py). Runaway
# words still end at max_tokens or at validation's max_length, and are retried.
WORD_CHARS = 14  # the average word length validation budgets for
REASONING_WORDS = (4, 32)
SENTENCE_WORDS = (4, 24)
SENTENCES_MIN, SENTENCES_MAX = 2, 6
REASONING_MAX = (WORD_CHARS + 1) * REASONING_WORDS[1] + 1
REVIEW_MIN = 20
REVIEW_MAX = (WORD_CHARS + 2) * (SENTENCE_WORDS[1] + 1) * SENTENCES_MAX
_WORD = r'[^"\\\n ]'          # a JSON-safe, escape-free character that is not a space
_SWORD = r'[^"\\\n .!?]'      # ... nor a sentence end
_REGEX_META = set("\\.^$*+?()[]{}|/-")

Verdict = Literal["ship", "skip"]


class Rubric(BaseModel):
    """Score thresholds that make a verdict consistent (see panel.yaml)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ship_threshold: int = Field(55, ge=0, le=100, description="Ship needs score >= this.")
    skip_threshold: int = Field(65, ge=0, le=100, description="Skip needs score <= this.")

    @model_validator(mode="after")
    def _cover_all_scores(self) -> Rubric:
        """Every score must allow some verdict, or the grammar would have a hole."""
        if self.skip_threshold < self.ship_threshold - 1:
            raise ValueError("skip_threshold must be >= ship_threshold - 1")
        return self

    def allows(self, score: int, verdict: str) -> bool:
        """Whether ``verdict`` is consistent with ``score``."""
        if verdict == "ship":
            return score >= self.ship_threshold
        return score <= self.skip_threshold


def count_sentences(text: str) -> int:
    """Sentences as runs ending in . ! or ? (a closing quote or bracket may follow)."""
    return len(re.findall(r"[^.!?]+[.!?]+[\"')\]]*(?=\s|$)", text.strip()))


class ReviewOutput(BaseModel):
    """One persona's structured review of one tool."""

    model_config = ConfigDict(extra="forbid")

    reasoning: str = Field(min_length=10, max_length=REASONING_MAX,
                           description="Brief private notes written before scoring.")
    score: int = Field(ge=0, le=100, description="Overall score, 0 to 100.")
    verdict: Verdict = Field(description="ship or skip, consistent with the score.")
    review: str = Field(min_length=REVIEW_MIN, max_length=REVIEW_MAX,
                        description="The published review: 2 to 6 sentences.")

    @model_validator(mode="after")
    def _check(self, info: ValidationInfo) -> ReviewOutput:
        """Sentence count always; verdict against score when a rubric is in the context."""
        n = count_sentences(self.review)
        if not SENTENCES_MIN <= n <= SENTENCES_MAX:
            raise ValueError(f"review has {n} sentences; needs {SENTENCES_MIN} to {SENTENCES_MAX}")
        rubric = (info.context or {}).get("rubric")
        if rubric is not None and not rubric.allows(self.score, self.verdict):
            raise ValueError(f"verdict '{self.verdict}' contradicts score {self.score} "
                             f"(ship needs >= {rubric.ship_threshold}, "
                             f"skip needs <= {rubric.skip_threshold})")
        return self


def _literal(text: str) -> str:
    """Escape text for a JSON-schema pattern (xgrammar's regex subset)."""
    return "".join("\\" + c if c in _REGEX_META else c for c in text)


def review_pattern(tool_name: str | None = None) -> str:
    """2 to 6 sentences of 4 to 24 words, each capitalised and ended; the first opens with
    the tool's name.

    Small models asked for "2 to 6 sentences" write one run-on sentence or twenty; the
    pattern makes the shape a property of the grammar rather than a hope.
    """
    lo, hi = SENTENCE_WORDS
    words = f"( {_SWORD}+){{{lo - 1},{hi - 1}}}[.!?]"
    usable = bool(tool_name) and not set(tool_name or "") & set('"\\\n')
    opener = _literal(tool_name or "") if usable else f"[A-Z]{_SWORD}*"
    first = f"{opener}{words}"
    more = f"( [A-Z]{_SWORD}*{words}){{{SENTENCES_MIN - 1},{SENTENCES_MAX - 1}}}"
    return f"^{first}{more}$"


def reasoning_pattern() -> str:
    """4 to 32 words, starting with a capital: short notes, never a run of digits."""
    lo, hi = REASONING_WORDS
    return f"^[A-Z]{_WORD}*( {_WORD}+){{{lo - 1},{hi - 1}}}$"


def generation_schema(rubric: Rubric, tool_name: str | None = None) -> dict[str, Any]:
    """The JSON schema handed to the engine: ReviewOutput split into ship and skip branches.

    String lengths are bounded by the patterns themselves (xgrammar rejects a pattern
    combined with minLength/maxLength), so no phrase loop can run on to ``max_tokens``.
    Both branches point at one definition of each string (``$defs``): xgrammar then builds
    one rule for it instead of two, which halves the compile time of every card's grammar.
    """
    reasoning = {"$ref": "#/$defs/reasoning"}
    review = {"$ref": "#/$defs/review"}

    def branch(verdict: str, lo: int, hi: int) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {
                "reasoning": reasoning,
                "score": {"type": "integer", "minimum": lo, "maximum": hi},
                "verdict": {"type": "string", "enum": [verdict]},
                "review": review,
            },
            "required": ["reasoning", "score", "verdict", "review"],
            "additionalProperties": False,
        }

    return {"title": "ReviewOutput", "anyOf": [
        branch("ship", rubric.ship_threshold, 100),
        branch("skip", 0, rubric.skip_threshold),
    ], "$defs": {
        "reasoning": {"type": "string", "pattern": reasoning_pattern()},
        "review": {"type": "string", "pattern": review_pattern(tool_name)},
    }}
