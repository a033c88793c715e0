"""The review contract: what a persona must return, and the grammars that enforce it.

Three views of one definition. ``ReviewOutput`` validates any model's reply, including a
server's that ignored the grammar. ``generation_grammar`` is what the in-process engine
decodes under: an EBNF grammar whose ship and skip branches carry the rubric's score
ranges, so a small model cannot emit a verdict that contradicts its score, and whose
strings are bounded in sentences, words and characters, so it cannot loop until
``max_tokens``. ``generation_schema`` is the same shape as a JSON schema, for OpenAI-style
``response_format`` requests to a server. ``reasoning`` comes first so the model writes its
thinking before it commits to a score.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator

from panel.cards import NAME_MAX

SCHEMA_VERSION = 3
# Lengths are bounded in words, and words in characters, so that no string can loop until
# max_tokens: the small model's runaway outputs are all one word growing without end
# ("boarding,boarding,...", "3,3,3,...", hyphen chains). Validation's character limits
# follow from the same numbers, so whatever the grammar allows, validation accepts.
WORD_CHARS = 16
REASONING_WORDS = (4, 32)
SENTENCE_WORDS = (4, 24)
SENTENCES_MIN, SENTENCES_MAX = 2, 6
REASONING_MAX = (WORD_CHARS + 1) * REASONING_WORDS[1]
REVIEW_MIN = 20
REVIEW_MAX = (SENTENCE_WORDS[1] * (WORD_CHARS + 1) + 1) * SENTENCES_MAX + NAME_MAX
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
    the tool's name. The regex twin of ``generation_grammar``'s review, for JSON schemas:
    a word's own length is left open here, since counted repetitions nested in a regex
    multiply the states xgrammar builds (bounded words: 3.3 s per card against 0.7 s).

    Small models asked for "2 to 6 sentences" write one run-on sentence or twenty; the
    pattern makes the shape a property of the grammar rather than a hope.
    """
    lo, hi = SENTENCE_WORDS
    words = f"( {_SWORD}+){{{lo - 1},{hi - 1}}}[.!?]"
    opener = _literal(tool_name or "") if _nameable(tool_name) else f"[A-Z]{_SWORD}*"
    first = f"{opener}{words}"
    more = f"( [A-Z]{_SWORD}*{words}){{{SENTENCES_MIN - 1},{SENTENCES_MAX - 1}}}"
    return f"^{first}{more}$"


def reasoning_pattern() -> str:
    """4 to 32 words, starting with a capital: short notes, never a run of digits."""
    lo, hi = REASONING_WORDS
    return f"^[A-Z]{_WORD}*( {_WORD}+){{{lo - 1},{hi - 1}}}$"


def generation_schema(rubric: Rubric, tool_name: str | None = None) -> dict[str, Any]:
    """The generation shape as a JSON schema: ReviewOutput split into ship and skip branches.

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


def _nameable(tool_name: str | None) -> bool:
    """Whether the name can be copied into a JSON string verbatim (no escapes needed)."""
    return bool(tool_name) and not any(c in '"\\' or ord(c) < 0x20 for c in tool_name or "")


def _one_of_ints(lo: int, hi: int) -> str:
    """An EBNF alternation of the integers lo..hi as JSON writes them."""
    return " | ".join(f'"{n}"' for n in range(lo, hi + 1))


def generation_grammar(rubric: Rubric, tool_name: str | None = None) -> str:
    """The EBNF grammar the in-process engine decodes under: compact JSON of ReviewOutput.

    Words are bounded to WORD_CHARS characters as well as counted, which a JSON-schema
    pattern can only do at a high compile cost; here each piece is one shared rule, so a
    card's grammar compiles in 0.06 s on 2 cores (bench/grammar.py) and thousands of
    cards, each with its own grammar (the review opens with the tool's name), stay cheap.
    Strings need no escapes: words exclude quotes, backslashes and control characters.
    """
    r_lo, r_hi = REASONING_WORDS
    s_lo, s_hi = SENTENCE_WORDS
    opener = f'"{tool_name}"' if _nameable(tool_name) else "capword"  # nothing to escape
    char = r'[^"\\\x00-\x1f '  # a word's character: no quote, backslash, control or space
    schar = char + ".!?"          # ... nor a sentence end
    rules = {
        "root": ('"{\\"reasoning\\":\\"" reasoning "\\",\\"score\\":" verdict '
                 '",\\"review\\":\\"" review "\\"}"'),
        "verdict": ('shipscore ",\\"verdict\\":\\"ship\\"" | '
                    'skipscore ",\\"verdict\\":\\"skip\\""'),
        "shipscore": _one_of_ints(rubric.ship_threshold, 100),
        "skipscore": _one_of_ints(0, rubric.skip_threshold),
        "reasoning": f'capword (" " word){{{r_lo - 1},{r_hi - 1}}}',
        "word": f"{char}]{{1,{WORD_CHARS}}}",
        "capword": f"[A-Z] {schar}]{{0,{WORD_CHARS - 1}}}",
        "review": f'first (" " sentence){{{SENTENCES_MIN - 1},{SENTENCES_MAX - 1}}}',
        "first": f"{opener} words",
        "sentence": "capword words",
        "words": f'(" " sword){{{s_lo - 1},{s_hi - 1}}} [.!?]',
        "sword": f"{schar}]{{1,{WORD_CHARS}}}",
    }
    return "\n".join(f"{name} ::= {body}" for name, body in rules.items())
