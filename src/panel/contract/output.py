"""The review contract: what a persona must return (``ReviewOutput``), under which
``Rubric`` and ``ReviewLengths``.

One definition, three views. ``ReviewOutput`` here validates any model's reply, including
a server's that ignored the grammar. ``contract/grammar.generation_grammar`` is what the
engine decodes under: an EBNF grammar whose ship and skip branches carry the rubric's score
ranges, so a small model cannot emit a verdict that contradicts its score, and whose
strings are bounded in sentences, words and one-byte characters, so its longest reply is
a fixed number of bytes and tokens (``contract/bound``) that every registry entry's
``max_tokens`` covers: a reply cannot run out of tokens. Both the in-process engine
and a vLLM server decode under it; ``generation_schema`` is the same shape as a JSON
schema, for a request that has no grammar (OpenAI-style ``response_format``).
``evidence`` comes first, then ``reasoning``, so the model quotes the facts it rests on and
writes its thinking before it commits to a score (writing the proof before the preference
steadies an LLM judge's verdicts); the grammar offers only the card's own sentences as
quotes (``contract/evidence``).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator

from panel.contract.evidence import EVIDENCE_MAX, EVIDENCE_MIN, QUOTE_MAX_BYTES, json_bytes
from panel.inputs.cards import NAME_MAX

SCHEMA_VERSION = 5  # 5: evidence quotes before the reasoning
# Lengths are bounded in words, and words in characters, so that no string can loop until
# max_tokens: the small model's runaway outputs are one word growing without end
# ("boarding,boarding,...", "3,3,3,...", hyphen chains) or one endless comma-separated
# sentence. With three quotes of the card (contract/evidence) they set the longest reply
# (2,528 bytes with a 120-byte tool name, so 2,529 tokens: grammar.review_max_tokens), which
# every registry entry's max_tokens covers.
# Validation's character limits follow from the same numbers, so whatever the grammar
# allows, validation accepts.
WORD_CHARS = 14
REASONING_WORDS = (4, 24)
SENTENCE_WORDS = (4, 20)
SENTENCES_MIN, SENTENCES_MAX = 2, 5

Span = tuple[int, int]


class ReviewLengths(BaseModel):
    """How long a review may be: panel.yaml's ``review:`` (the defaults above, the widest).

    A project may only tighten them. Shorter replies are fewer tokens to decode, which on a
    CPU is most of a review's time (the tests' engine project runs 2 to 3 sentences), while
    the defaults stay the bound that every registry entry's ``max_tokens`` must cover
    (``grammar.review_max_tokens``) and that a record read back without its settings is
    validated against: whatever a tighter contract produced, the default one accepts.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    sentences: Span = Field((SENTENCES_MIN, SENTENCES_MAX),
                            description="Fewest and most sentences of the review.")
    sentence_words: Span = Field(SENTENCE_WORDS, description="Words per sentence.")
    reasoning_words: Span = Field(REASONING_WORDS, description="Words of the reasoning.")

    @model_validator(mode="after")
    def _tighten_only(self) -> ReviewLengths:
        for name in type(self).model_fields:
            lo, hi = getattr(self, name)
            widest = type(self).model_fields[name].default
            if not widest[0] <= lo <= hi <= widest[1]:
                raise ValueError(f"{name} [{lo}, {hi}] must be two counts within "
                                 f"[{widest[0]}, {widest[1]}], the fewer first")
        return self

    @property
    def reasoning_chars(self) -> Span:
        """Shortest and longest reasoning the grammar allows (one-character words at
        least, ``WORD_CHARS`` at most): validation's limits, so it accepts all of them."""
        lo, hi = self.reasoning_words
        return 2 * lo - 1, (WORD_CHARS + 1) * hi

    @property
    def review_chars(self) -> Span:
        """Shortest and longest review the grammar allows (the tool name opens it)."""
        (s_lo, s_hi), (w_lo, w_hi) = self.sentences, self.sentence_words
        return (s_lo * 2 * w_lo + s_lo - 1,
                (w_hi * (WORD_CHARS + 1) + 1) * s_hi + NAME_MAX)


DEFAULT_LENGTHS = ReviewLengths()
# The shortest strings the grammar allows (one-character words) are the minimums too.
REASONING_MIN, REASONING_MAX = DEFAULT_LENGTHS.reasoning_chars
REVIEW_MIN, REVIEW_MAX = DEFAULT_LENGTHS.review_chars

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

    evidence: list[str] = Field(
        default_factory=list, max_length=EVIDENCE_MAX,
        description=f"{EVIDENCE_MIN} to {EVIDENCE_MAX} verbatim quotes of the card's "
                    "description, written first: the facts the review rests on (empty only "
                    "in reviews stored before schema 5).")
    reasoning: str = Field(min_length=REASONING_MIN, max_length=REASONING_MAX,
                           description="Brief private notes written before scoring.")
    score: int = Field(ge=0, le=100, description="Overall score, 0 to 100.")
    verdict: Verdict = Field(description="ship or skip, consistent with the score.")
    review: str = Field(min_length=REVIEW_MIN, max_length=REVIEW_MAX,
                        description=f"The published review: {SENTENCES_MIN} to "
                                    f"{SENTENCES_MAX} sentences.")

    @model_validator(mode="after")
    def _check(self, info: ValidationInfo) -> ReviewOutput:
        """Sentence count always; verdict against score when a rubric is in the context;
        the project's tighter lengths when they are (``lengths``), else the defaults."""
        context = info.context or {}
        lengths: ReviewLengths = context.get("lengths") or DEFAULT_LENGTHS
        lo, hi = lengths.sentences
        n = count_sentences(self.review)
        if not lo <= n <= hi:
            raise ValueError(f"review has {n} sentences; needs {lo} to {hi}")
        for field, (least, most) in (("reasoning", lengths.reasoning_chars),
                                     ("review", lengths.review_chars)):
            size = len(getattr(self, field))
            if not least <= size <= most:
                raise ValueError(f"{field} has {size} characters; needs {least} to {most}")
        _check_evidence(self.evidence, context.get("quotes"))
        rubric = context.get("rubric")
        if rubric is not None and not rubric.allows(self.score, self.verdict):
            raise ValueError(f"verdict '{self.verdict}' contradicts score {self.score} "
                             f"(ship needs >= {rubric.ship_threshold}, "
                             f"skip needs <= {rubric.skip_threshold})")
        return self


def _check_evidence(evidence: list[str], quotes: Collection[str] | None) -> None:
    """Each quote within the grammar's size; when the card's candidates are in the context
    (``quotes``: every new reply), one to three of them and nothing else."""
    for i, quote in enumerate(evidence):
        if not quote or json_bytes(quote) > QUOTE_MAX_BYTES:
            raise ValueError(f"evidence quote {i + 1} is empty or over {QUOTE_MAX_BYTES} bytes")
    if quotes is None:
        return
    if len(evidence) < EVIDENCE_MIN:
        raise ValueError(f"evidence needs {EVIDENCE_MIN} to {EVIDENCE_MAX} quotes of the card")
    for i, quote in enumerate(evidence):
        if quote not in quotes:
            raise ValueError(f"evidence quote {i + 1} is not a sentence of the card: "
                             f"{quote[:60]!r}")
