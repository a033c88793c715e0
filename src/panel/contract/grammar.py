"""The grammars a model decodes under, built from the review contract."""

from __future__ import annotations

from typing import Any

from panel.contract.output import (
    REASONING_WORDS,
    SENTENCE_WORDS,
    SENTENCES_MAX,
    SENTENCES_MIN,
    WORD_CHARS,
    Rubric,
)

_REGEX_META = set("\\.^$*+?()[]{}|/-")


_WORD = r'[^"\\\n ]'          # a JSON-safe, escape-free character that is not a space


_SWORD = r'[^"\\\n .!?]'      # ... nor a sentence end


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
