"""The grammars a model decodes under, built from the review contract.

Every character a word may hold is one byte (printable ASCII but the quote, the backslash
and the space), so a reply's bytes, and with them its tokens, are bounded by the counts
alone (``contract/bound``); only the tool name the review opens with may be wider, and its
UTF-8 bytes are capped by ``OPENER_MAX_BYTES``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache
from typing import Any

from panel.contract.bound import max_tokens_bound
from panel.contract.evidence import EVIDENCE_MAX, EVIDENCE_MIN, QUOTE_MAX_BYTES, ebnf_literal
from panel.contract.output import DEFAULT_LENGTHS, WORD_CHARS, ReviewLengths, Rubric
from panel.errors import PanelError
from panel.inputs.cards import NAME_MAX

OPENER_MAX_BYTES = NAME_MAX
"""The most UTF-8 bytes of a tool name the review may open with. Every name of ASCII
characters fits; a longer (non-ASCII) one opens with any capitalised word instead, so the
longest reply, and the ``max_tokens`` it needs, is the same for every card."""

_REGEX_META = set("\\.^$*+?()[]{}|/-")

_CHARS = r"\x21\x23-\x5b\x5d-\x7e"  # printable ASCII but quote (22), backslash (5c), space
_SCHARS = r"\x23-\x2d\x2f-\x3e\x40-\x5b\x5d-\x7e"  # ... nor a sentence end: ! . ?
_SENTENCE_END = re.compile(r"[.!?]+[\"')\]]*(?=\s|$)")  # as output.count_sentences ends one
_WORD = f"[{_CHARS}]"    # in a regex (xgrammar's and Python's) and in EBNF alike
_SWORD = f"[{_SCHARS}]"


def _literal(text: str) -> str:
    """Escape text for a JSON-schema pattern (xgrammar's regex subset)."""
    return "".join("\\" + c if c in _REGEX_META else c for c in text)


def review_pattern(tool_name: str | None = None,
                   lengths: ReviewLengths = DEFAULT_LENGTHS) -> str:
    """``lengths.sentences`` sentences of ``lengths.sentence_words`` words, each capitalised
    and ended; the first opens with the tool's name. The regex twin of
    ``generation_grammar``'s review, for JSON schemas, with the same one-byte characters:
    a word's own length is left open here, since counted repetitions nested in a regex
    multiply the states xgrammar builds (bounded words: 3.3 s per card against 0.7 s), so
    only the EBNF grammar bounds a reply's length (``contract/bound``).

    Small models asked for "2 to 6 sentences" write one run-on sentence or twenty; the
    pattern makes the shape a property of the grammar rather than a hope.
    """
    lo, hi = lengths.sentence_words
    s_lo, s_hi = lengths.sentences
    words = f"( {_SWORD}+){{{lo - 1},{hi - 1}}}[.!?]"
    opener = _literal(tool_name or "") if _nameable(tool_name) else f"[A-Z]{_SWORD}*"
    first = f"{opener}{words}"
    more = f"( [A-Z]{_SWORD}*{words}){{{s_lo - 1},{s_hi - 1}}}"
    return f"^{first}{more}$"


def reasoning_pattern(lengths: ReviewLengths = DEFAULT_LENGTHS) -> str:
    """``lengths.reasoning_words`` words, starting with a capital: short notes, never a run
    of digits."""
    lo, hi = lengths.reasoning_words
    return f"^[A-Z]{_WORD}*( {_WORD}+){{{lo - 1},{hi - 1}}}$"


WIDEST_QUOTES = ("q" * QUOTE_MAX_BYTES,)
"""A card whose quote is as long as a quote may be: the longest reply quotes it thrice."""


def _need_quotes(quotes: Sequence[str]) -> None:
    if not quotes:
        raise PanelError("a review grammar needs at least one quote of the card to offer")


def generation_schema(rubric: Rubric, tool_name: str | None = None,
                      lengths: ReviewLengths = DEFAULT_LENGTHS,
                      quotes: Sequence[str] = ()) -> dict[str, Any]:
    """The generation shape as a JSON schema: ReviewOutput split into ship and skip branches.

    String lengths are bounded by the patterns themselves (xgrammar rejects a pattern
    combined with minLength/maxLength), so no phrase loop can run on to ``max_tokens``.
    Both branches point at one definition of each string (``$defs``): xgrammar then builds
    one rule for it instead of two, which halves the compile time of every card's grammar.
    """
    _need_quotes(quotes)
    evidence = {"type": "array", "items": {"$ref": "#/$defs/quote"},
                "minItems": EVIDENCE_MIN, "maxItems": EVIDENCE_MAX}
    reasoning = {"$ref": "#/$defs/reasoning"}
    review = {"$ref": "#/$defs/review"}

    def branch(verdict: str, lo: int, hi: int) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {
                "evidence": evidence,
                "reasoning": reasoning,
                "score": {"type": "integer", "minimum": lo, "maximum": hi},
                "verdict": {"type": "string", "enum": [verdict]},
                "review": review,
            },
            "required": ["evidence", "reasoning", "score", "verdict", "review"],
            "additionalProperties": False,
        }

    return {"title": "ReviewOutput", "anyOf": [
        branch("ship", rubric.ship_threshold, 100),
        branch("skip", 0, rubric.skip_threshold),
    ], "$defs": {
        "quote": {"type": "string", "enum": list(dict.fromkeys(quotes))},
        "reasoning": {"type": "string", "pattern": reasoning_pattern(lengths)},
        "review": {"type": "string", "pattern": review_pattern(tool_name, lengths)},
    }}


def _nameable(tool_name: str | None) -> bool:
    """Whether the review opens with the name itself: it can be copied into a JSON string
    verbatim (no escapes needed), fits in ``OPENER_MAX_BYTES``, and ends no sentence (in
    "Yahoo! is fast." validation would count two), so whatever the grammar allows,
    validation accepts."""
    name = tool_name or ""
    return (bool(name) and len(name.encode("utf-8")) <= OPENER_MAX_BYTES
            and not any(c in '"\\' or ord(c) < 0x20 for c in name)
            and not _SENTENCE_END.search(name))


def _one_of_ints(lo: int, hi: int) -> str:
    """An EBNF alternation of the integers lo..hi as JSON writes them."""
    return " | ".join(f'"{n}"' for n in range(lo, hi + 1))


def generation_grammar(rubric: Rubric, tool_name: str | None = None,
                       lengths: ReviewLengths = DEFAULT_LENGTHS,
                       quotes: Sequence[str] = ()) -> str:
    """The EBNF grammar the in-process engine decodes under: compact JSON of ReviewOutput.

    Words are bounded to WORD_CHARS one-byte characters as well as counted, which a
    JSON-schema pattern can only do at a high compile cost; here each piece is one shared
    rule, so a card's grammar compiles in 0.06 s on 2 cores (bench/grammar.py) and
    thousands of cards, each with its own grammar (the review opens with the tool's name),
    stay cheap. Every string is bounded, so the grammar has a longest reply
    (``contract/bound.max_bytes``), which ``max_tokens`` must cover. Strings need no
    escapes: words are printable ASCII without quotes, backslashes or spaces. The evidence
    comes first, each quote one of ``quotes`` (the card's own sentences,
    ``contract/evidence.card_quotes``), written as a JSON string and escaped for EBNF.
    """
    _need_quotes(quotes)
    r_lo, r_hi = lengths.reasoning_words
    s_lo, s_hi = lengths.sentence_words
    n_lo, n_hi = lengths.sentences
    opener = f'"{tool_name}"' if _nameable(tool_name) else "capword"  # nothing to escape
    rules = {
        "root": (f'"{{\\"evidence\\":[" quote ("," quote){{{EVIDENCE_MIN - 1},{EVIDENCE_MAX - 1}}} '
                 '"],\\"reasoning\\":\\"" reasoning "\\",\\"score\\":" verdict '
                 '",\\"review\\":\\"" review "\\"}"'),
        "quote": f'"\\"" ({" | ".join(map(ebnf_literal, dict.fromkeys(quotes)))}) "\\""',
        "verdict": ('shipscore ",\\"verdict\\":\\"ship\\"" | '
                    'skipscore ",\\"verdict\\":\\"skip\\""'),
        "shipscore": _one_of_ints(rubric.ship_threshold, 100),
        "skipscore": _one_of_ints(0, rubric.skip_threshold),
        "reasoning": f'capword (" " word){{{r_lo - 1},{r_hi - 1}}}',
        "word": f"{_WORD}{{1,{WORD_CHARS}}}",
        "capword": f"[A-Z] {_SWORD}{{0,{WORD_CHARS - 1}}}",
        "review": f'first (" " sentence){{{n_lo - 1},{n_hi - 1}}}',
        "first": f"{opener} words",
        "sentence": "capword words",
        "words": f'(" " sword){{{s_lo - 1},{s_hi - 1}}} [.!?]',
        "sword": f"{_SWORD}{{1,{WORD_CHARS}}}",
    }
    return "\n".join(f"{name} ::= {body}" for name, body in rules.items())


@cache
def review_max_tokens() -> int:
    """The most tokens any review reply can take, end-of-sequence included, for every card,
    rubric and (tighter) ``ReviewLengths``: the bound of the default lengths' grammar with
    the widest opener (a name of ``OPENER_MAX_BYTES`` one-byte characters; a wider name
    opens with a shorter word). The rubric only picks which scores each branch allows, and
    100 is always a ship score, so the longest score is three digits under any rubric.
    A quote's JSON form is at most ``QUOTE_MAX_BYTES`` for every card, so three quotes of
    that many one-byte characters are the longest evidence."""
    return max_tokens_bound(generation_grammar(Rubric(), "N" * OPENER_MAX_BYTES,
                                               quotes=WIDEST_QUOTES))
