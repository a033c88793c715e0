"""The review contract: what a persona must return, and the grammars that enforce it.

Three views of one definition. ``ReviewOutput`` validates any model's reply, including a
server's that ignored the grammar. ``generation_grammar`` is what the in-process engine
decodes under: an EBNF grammar whose ship and skip branches carry the rubric's score
ranges, so a small model cannot emit a verdict that contradicts its score, and whose
strings are bounded in sentences, words and one-byte characters, so its longest reply is
a fixed number of bytes and tokens (``contract/bound``) that every registry entry's
``max_tokens`` covers: a reply cannot run out of tokens. ``generation_schema`` is the
same shape as a JSON schema, for OpenAI-style ``response_format`` requests to a server.
``reasoning`` comes first so the model writes its thinking before it commits to a score.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator

from panel.inputs.cards import NAME_MAX

SCHEMA_VERSION = 4
# Lengths are bounded in words, and words in characters, so that no string can loop until
# max_tokens: the small model's runaway outputs are one word growing without end
# ("boarding,boarding,...", "3,3,3,...", hyphen chains) or one endless comma-separated
# sentence. The numbers set the longest reply (2,026 bytes with a 120-byte tool name, so
# 2,027 tokens: grammar.review_max_tokens), which every registry entry's max_tokens covers.
# Validation's character limits follow from the same numbers, so whatever the grammar
# allows, validation accepts.
WORD_CHARS = 14
REASONING_WORDS = (4, 24)
SENTENCE_WORDS = (4, 20)
SENTENCES_MIN, SENTENCES_MAX = 2, 5
# The shortest strings the grammar allows (one-character words) are the minimums too.
REASONING_MIN = 2 * REASONING_WORDS[0] - 1
REASONING_MAX = (WORD_CHARS + 1) * REASONING_WORDS[1]
REVIEW_MIN = SENTENCES_MIN * 2 * SENTENCE_WORDS[0] + SENTENCES_MIN - 1
REVIEW_MAX = (SENTENCE_WORDS[1] * (WORD_CHARS + 1) + 1) * SENTENCES_MAX + NAME_MAX

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

    reasoning: str = Field(min_length=REASONING_MIN, max_length=REASONING_MAX,
                           description="Brief private notes written before scoring.")
    score: int = Field(ge=0, le=100, description="Overall score, 0 to 100.")
    verdict: Verdict = Field(description="ship or skip, consistent with the score.")
    review: str = Field(min_length=REVIEW_MIN, max_length=REVIEW_MAX,
                        description=f"The published review: {SENTENCES_MIN} to "
                                    f"{SENTENCES_MAX} sentences.")

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


