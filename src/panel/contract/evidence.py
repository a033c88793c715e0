"""Evidence: the sentences of a card a review may quote, enumerated for the grammar.

A review opens with one to three quotes of the card's description, and the per-card
grammar offers only the card's own sentences (or, for a long one, its clauses) as the
strings a quote may be: a quote is verbatim by construction, so an editor can check a
review against the facts it rests on without re-reading the card.

The card's text is data written by whoever launched the tool, so each candidate is
escaped twice: as JSON (what the model writes) and then as an EBNF string literal (what
the grammar holds), with every byte outside printable ASCII written as ``\\u``/``\\U``
escapes, so that a grammar line is never broken by a line separator in the card and
xgrammar's greedy ``\\x`` escape is never used. Candidates are bounded in number
(``QUOTES_MAX``) and in the UTF-8 bytes of their JSON form (``QUOTE_MAX_BYTES``), so the
longest reply, and the ``max_tokens`` that covers it, stays the same for every card.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache

QUOTE_MAX_BYTES = 160
"""The most UTF-8 bytes a quote takes as a JSON string's contents: a sentence of about 25
words. A longer sentence is offered as its clauses, a longer clause as runs of words."""
QUOTES_MAX = 48
"""The most candidates one card offers (a 4,000-character description has about 30
sentences); past it, the rest of a very long description cannot be quoted."""
EVIDENCE_MIN, EVIDENCE_MAX = 1, 3

_SENTENCE = re.compile(r"[.!?]+[\"')\]]*(?=\s|$)|\n[ \t]*\n")  # a sentence end, or a blank line
_CLAUSE = re.compile(r"(?<=[,;:])\s+|\s+(?=[\u2013\u2014(])")  # after , ; : or before a dash
_WORD_GAP = re.compile(r"\s+")


@dataclass(frozen=True)
class Quote:
    """One candidate: ``description[start:end] == text``."""

    text: str
    start: int
    end: int


def json_form(text: str) -> str:
    """The text as a JSON string's contents, as the model writes it (UTF-8, not ``\\u``)."""
    return json.dumps(text, ensure_ascii=False)[1:-1]


def _escape_free(text: str) -> bool:
    """Printable ASCII without a quote mark or backslash: its own JSON form and the inside
    of its own EBNF literal (most text), so neither needs encoding nor a loop."""
    return text.isascii() and text.isprintable() and '"' not in text and "\\" not in text


def json_bytes(text: str) -> int:
    """UTF-8 bytes of ``json_form(text)``: a quote's share of the reply."""
    if _escape_free(text):
        return len(text)
    return len(json_form(text).encode("utf-8"))


def ebnf_literal(text: str) -> str:
    """An EBNF string literal (quotes included) that matches exactly ``json_form(text)``:
    quote and backslash escaped, everything outside printable ASCII as a code point."""
    if _escape_free(text):
        return f'"{text}"'  # what the loop below gives for such text
    out = ['"']
    for ch in json_form(text):
        code = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif 0x20 <= code < 0x7F:
            out.append(ch)
        else:
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


@lru_cache(maxsize=1024)
def card_quotes(description: str) -> tuple[Quote, ...]:
    """The description's sentences, clauses or word runs that fit ``QUOTE_MAX_BYTES``, in
    order, without repeats, at most ``QUOTES_MAX``; never empty for a non-blank text."""
    seen: dict[str, Quote] = {}
    for start, end in _sentences(description):
        for s, e in _fit(description, start, end):
            text = description[s:e]
            if text not in seen and any(c.isalnum() for c in text):
                seen[text] = Quote(text, s, e)
    quotes = list(seen.values())[:QUOTES_MAX]
    if not quotes and description.strip():
        s, e = _trim(description, 0, len(description))
        end = _cut(description, s, e)
        quotes = [Quote(description[s:end], s, end)]
    return tuple(quotes)


def quote_texts(description: str) -> tuple[str, ...]:
    """Just the candidates' texts: what the grammar and the JSON schema enumerate."""
    return tuple(q.text for q in card_quotes(description))


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    """The span without its leading and trailing whitespace."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _sentences(text: str) -> list[tuple[int, int]]:
    """Spans of the sentences: each runs to its end mark (or a blank line), trimmed."""
    spans, start = [], 0
    for match in _SENTENCE.finditer(text):
        end = match.end() if match.group().strip() else match.start()
        spans.append(_trim(text, start, end))
        start = match.end()
    spans.append(_trim(text, start, len(text)))
    return [(s, e) for s, e in spans if s < e]


def _fit(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """The span if it fits, else its clauses packed greedily, each clause too long cut into
    runs of words, and each word too long cut by characters."""
    if json_bytes(text[start:end]) <= QUOTE_MAX_BYTES:
        return [(start, end)]
    for gap in (_CLAUSE, _WORD_GAP):
        parts = _split(text, start, end, gap)
        if len(parts) > 1:
            return [piece for s, e in _pack(text, parts) for piece in _fit(text, s, e)]
    spans, at = [], start
    while at < end:
        cut = _cut(text, at, end)
        spans.append(_trim(text, at, cut))
        at = cut
    return [(s, e) for s, e in spans if s < e]


def _split(text: str, start: int, end: int, gap: re.Pattern[str]) -> list[tuple[int, int]]:
    """The span's pieces between matches of ``gap``."""
    parts, at = [], start
    for match in gap.finditer(text, start, end):
        if match.start() > at:
            parts.append((at, match.start()))
        at = match.end()
    if at < end:
        parts.append((at, end))
    return parts


def _pack(text: str, parts: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Consecutive pieces joined (with what lies between them) while they fit."""
    packed = [parts[0]]
    for s, e in parts[1:]:
        first = packed[-1][0]
        if json_bytes(text[first:e]) <= QUOTE_MAX_BYTES:
            packed[-1] = (first, e)
        else:
            packed.append((s, e))
    return packed


def _cut(text: str, start: int, end: int) -> int:
    """The furthest end after ``start`` whose span fits (at least one character)."""
    size, at = 0, start
    while at < end:
        size += json_bytes(text[at])
        if size > QUOTE_MAX_BYTES:
            break
        at += 1
    return max(at, start + 1)
