"""The head-to-head contract: which of two tools a persona would ship with, and why.

A persona reads both cards in one prompt and answers with ``PairOutput``. As for reviews,
three views of one definition: the pydantic model validates any reply (a server's that
ignored the grammar included); ``pair_grammar`` is the EBNF the in-process engine decodes
under; ``pair_schema`` is its JSON-schema twin for OpenAI-style servers. ``reason`` comes
first, so the model writes why before it commits to a pick (as ``reasoning`` does in a
review). Its words are printable ASCII and counted, sentences counted and words bounded in
characters, so the whole reply is at most ``max_reply_bytes()`` bytes: it always closes
within ``max_tokens`` (every backbone has at least 400; see the test).

``PairRecord`` is what the store keeps for one judgment: the two cards in the order they
were shown (``first``, ``second``), so one stored judgment serves ``compare A B`` and
``compare B A`` alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from panel.contract.output import count_sentences
from panel.contract.records import Attempt, now
from panel.hashing import json_sha

PAIR_SCHEMA_VERSION = 1
Choice = Literal["first", "second", "neither-ship", "both-ship"]
CHOICES: tuple[Choice, ...] = ("first", "second", "neither-ship", "both-ship")
REASON_SENTENCES = (1, 2)
REASON_SENTENCE_WORDS = (3, 10)
REASON_WORD_CHARS = 14
REASON_MAX = REASON_SENTENCES[1] * (REASON_SENTENCE_WORDS[1] * (REASON_WORD_CHARS + 1) + 1)
# A word's character: printable ASCII but a space, quote, backslash or sentence end
# (0x21-0x7e less ! " . ? \), so a string needs no JSON escape and sentences count exactly.
_WORD_CLASS = r"[#-\-/->@-\[\]-~]"


class PairOutput(BaseModel):
    """One persona's pick between two tools shown side by side."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=REASON_MAX,
                        description="Why, in one or two short sentences, written first.")
    choice: Choice = Field(description="first / second: the tool it would ship with; "
                           "neither-ship / both-ship: no pick between them.")
    margin: int = Field(ge=0, le=100, description="How clear-cut the choice is, 0 to 100.")

    @model_validator(mode="after")
    def _sentences(self) -> PairOutput:
        """The grammar's sentence count holds for a server's reply too."""
        n = count_sentences(self.reason)
        lo, hi = REASON_SENTENCES
        if not lo <= n <= hi:
            raise ValueError(f"reason has {n} sentences; needs {lo} to {hi}")
        return self


def pair_grammar(choices: Sequence[Choice] = CHOICES) -> str:
    """The EBNF the in-process engine decodes under: compact JSON of ``PairOutput``.

    ``choices`` narrows the allowed picks (a test pins ``first`` to force orders that
    disagree); it is part of every judgment's store key.
    """
    s_lo, s_hi = REASON_SENTENCES
    w_lo, w_hi = REASON_SENTENCE_WORDS
    rules = {
        "root": ('"{\\"reason\\":\\"" reason "\\",\\"choice\\":\\"" choice '
                 '"\\",\\"margin\\":" margin "}"'),
        "reason": f'sentence (" " sentence){{{s_lo - 1},{s_hi - 1}}}',
        "sentence": f'[A-Z] {_WORD_CLASS}{{0,{REASON_WORD_CHARS - 1}}} '
                    f'(" " {_WORD_CLASS}{{1,{REASON_WORD_CHARS}}}){{{w_lo - 1},{w_hi - 1}}} '
                    "[.!?]",
        "choice": " | ".join(f'"{c}"' for c in _checked(choices)),
        "margin": '"100" | [1-9] [0-9] | [0-9]',
    }
    return "\n".join(f"{name} ::= {body}" for name, body in rules.items())


def reason_pattern() -> str:
    """The regex twin of the grammar's ``reason`` (xgrammar's regex subset)."""
    s_lo, s_hi = REASON_SENTENCES
    w_lo, w_hi = REASON_SENTENCE_WORDS
    sentence = (f"[A-Z]{_WORD_CLASS}{{0,{REASON_WORD_CHARS - 1}}}"
                f"( {_WORD_CLASS}{{1,{REASON_WORD_CHARS}}}){{{w_lo - 1},{w_hi - 1}}}[.!?]")
    return f"^{sentence}( {sentence}){{{s_lo - 1},{s_hi - 1}}}$"


def pair_schema(choices: Sequence[Choice] = CHOICES) -> dict[str, Any]:
    """``PairOutput`` as a JSON schema, for OpenAI-style ``response_format`` requests."""
    return {
        "title": "PairOutput", "type": "object",
        "properties": {
            "reason": {"type": "string", "pattern": reason_pattern()},
            "choice": {"type": "string", "enum": list(_checked(choices))},
            "margin": {"type": "integer", "minimum": 0, "maximum": 100},
        },
        "required": ["reason", "choice", "margin"], "additionalProperties": False,
    }


def contract_sha(choices: Sequence[Choice] = CHOICES) -> str:
    """Hash of everything that shapes a judgment's reply: in every store key, so a change
    to the grammar, the schema or the model's rules never reuses an old judgment."""
    return json_sha([PAIR_SCHEMA_VERSION, pair_grammar(choices), pair_schema(choices)])


def max_reply_bytes() -> int:
    """The longest reply the grammar allows, in bytes (each token is at least one byte)."""
    frame = len('{"reason":"","choice":"","margin":100}')
    return frame + REASON_MAX + max(len(c) for c in CHOICES)


def _checked(choices: Sequence[Choice]) -> tuple[Choice, ...]:
    """Choices must be a non-empty subset of CHOICES (a typo would make an empty rule)."""
    bad = [c for c in choices if c not in CHOICES]
    if not choices or bad:
        raise ValueError(f"choices must be among {CHOICES}; got {list(choices)}")
    return tuple(dict.fromkeys(choices))


class PairRecord(BaseModel):
    """One persona's judgment of two tools shown in one order, with what reproduces it.

    Never dropped and never invented: a judgment that fails every attempt is kept with
    ``status="failed"`` and the reason of each attempt, like a failed review.
    """

    model_config = ConfigDict(extra="forbid")

    key: str = Field(description="Content hash of both cards in shown order, persona, "
                     "templates, model, sampling, contract, attempts and sample.")
    first: str = Field(description="Slug of the tool shown first.")
    first_name: str = Field(description="Name of the tool shown first.")
    second: str = Field(description="Slug of the tool shown second.")
    second_name: str = Field(description="Name of the tool shown second.")
    persona: str = Field(description="Persona key (file stem).")
    persona_name: str = Field(description="Persona display name.")
    model: str = Field(description="Registry model name.")
    revision: str | None = Field(None, description="Hub revision of the weights, if any.")
    sample: int = Field(0, description="Sample index: 0 first.")
    status: Literal["ok", "failed"] = Field(description="ok: validated output; failed: none.")
    output: PairOutput | None = Field(None, description="The validated pick, if ok.")
    failure: str | None = Field(None, description="Why the last attempt failed, if failed.")
    attempts: list[Attempt] = Field(default_factory=list, description="Every try, in order.")
    provenance: dict[str, Any] = Field(default_factory=dict,
                                       description="Hashes, sampling, contract, versions.")
    engine_seconds: float | None = Field(
        None, ge=0, description="This judgment's share of engine time, all attempts "
        "(pipeline/cost); None when unknown.")
    created_at: str = Field(default_factory=lambda: now(), description="UTC, ISO 8601.")

    @property
    def ok(self) -> bool:
        return self.status == "ok"
