"""Claims outside the evidence: the checkable facts of a review that its card does not hold.

A review can say "free for teams" where the card says "$19 per developer". The facts an
editor can check mechanically are numbers (prices, percentages and versions among them)
and proper names; every one of those in a review's text that does not occur in the card
is an *unsupported claim*, kept in the record and flagged on the pages.

The extractor is deliberately plain, so an editor can predict it:

- a number is a run of digits with its ``,``/``.`` groups (``1,200``, ``0.09``, ``2.1.3``),
  with a currency sign or code before it, or ``%``/``percent``/``k``/``x`` after it, kept in
  the claim as written; it is supported when the same digits (group commas dropped) occur
  as a number in the card, whatever the sign or unit around them;
- a proper name is a run of capitalised words (``Google Drive``, ``GitHub``), a word with a
  capital or digit after its first letter (``macOS``, ``S3``), or an acronym (``SSO``), but
  not a generic technical acronym (``API``, ``SQL``: ``GENERIC``); a
  capitalised word that opens a sentence starts a name only if the next word is one too
  and it is not a common opener (``The``, ``It``...); the pronoun ``I`` (``I'm``...) is
  none; it is supported when it occurs in the
  card as a whole phrase, ignoring case (a possessive ``'s`` dropped first).
"""

from __future__ import annotations

import re
from functools import lru_cache

from panel.inputs.cards import ToolCard

_NUMBER = re.compile(
    r"(?:(?<![\w.])(?:[$€£¥]|USD |EUR |GBP )\s?)?(?<![\w.])v?(\d+(?:[.,]\d+)*)"
    r"(?:\s?(?:%|percent\b|[kKmMxX]\b))?")
_WORD = re.compile(r"[^\W\d_][\w'’]*(?:[.\-][^\W_]+)*")
_OPENING = "\"'(["
"""Quote marks and brackets that may stand between a sentence's start and its first word."""
OPENERS = frozenset({
    "a", "an", "and", "as", "at", "but", "by", "for", "from", "how", "i", "if", "in", "is",
    "it", "its", "my", "no", "not", "of", "on", "or", "our", "so", "that", "the", "their",
    "then", "there", "these", "they", "this", "those", "to", "we", "what", "when", "where",
    "which", "while", "who", "why", "with", "yes", "you", "your",
})
"""Common sentence openers: a capitalised one starts no name."""
GENERIC = frozenset({
    "ai", "api", "apis", "cli", "css", "csv", "gpu", "html", "http", "https", "id", "ide",
    "json", "llm", "llms", "ml", "mvp", "oss", "pdf", "pr", "prs", "qa", "roi", "saas", "sdk",
    "sla", "sql", "ssh", "ui", "ux", "url", "vs", "usd", "eur", "gbp",
})
"""Generic technical acronyms: words, not names, whether or not the card uses them."""


def numbers_in(text: str) -> set[str]:
    """The digits of every number in a text, group commas dropped: what a claim must match."""
    return {_digits(m.group(1)) for m in _NUMBER.finditer(text)}


def _digits(number: str) -> str:
    return number.replace(",", "").rstrip(".")


def number_claims(text: str) -> list[tuple[str, str]]:
    """(as written, digits) of each number, price, percentage and version in a text."""
    return [(m.group().strip(), _digits(m.group(1))) for m in _NUMBER.finditer(text)]


def name_claims(text: str) -> list[str]:
    """Each proper name of a text, in order (see the module docstring for the rule)."""
    names: list[str] = []
    run: list[str] = []
    for match in _WORD.finditer(text):
        word, following = match.group(), _next_word(text, match.end())
        opens = opens_sentence(text, match.start())
        if _is_name(word, opens, following):
            run.append(_bare(word))
            if following:  # the very next word, after one space: the name may go on
                continue   # (not in "0A 0A", whose second A starts inside a token)
        if run:
            names.append(" ".join(run))
            run = []
    if run:
        names.append(" ".join(run))
    return [n for n in names if n.casefold() not in GENERIC]


def opens_sentence(text: str, start: int) -> bool:
    """Whether a word at ``start`` opens a sentence: the text's start, a line break, or
    ``.!?:;`` and a space come before it, then only spaces, quote marks and brackets.

    Reads back from the word over those few characters only; a regular expression over
    the whole text before each word made the extractor quadratic in the review's length."""
    i = start
    while i > 0 and text[i - 1] in _OPENING:
        i -= 1
    j = i
    while j > 0 and text[j - 1].isspace():
        j -= 1
    return j == 0 or "\n" in text[j:i] or (j < i and text[j - 1] in ".!?:;")


def _next_word(text: str, end: int) -> str:
    match = _WORD.match(text, end + 1) if text[end:end + 1] == " " else None
    return match.group() if match else ""


def _is_name(word: str, opens: bool, following: str) -> bool:
    """A capitalised word not opening a sentence, an inner capital or digit, an acronym; an
    opener only before another capitalised word and when it is no common opener."""
    if re.split("['’]", word)[0] == "I":  # the pronoun, and I'm, I'll, I've
        return False
    inner = any(c.isupper() or c.isdigit() for c in word[1:])
    if not word[0].isupper():
        return inner and word[0].isalpha() and any(c.isupper() for c in word[1:])
    if inner or not opens:
        return True
    return bool(following) and following[0].isupper() and word.casefold() not in OPENERS


def _bare(word: str) -> str:
    """The word without a possessive ``'s`` or a trailing apostrophe."""
    return re.sub(r"['’]s?$", "", word)


@lru_cache(maxsize=4096)
def _card_text(card: ToolCard) -> tuple[str, frozenset[str]]:
    """The card's words (case-folded, one line) and its numbers."""
    fields = (card.name, card.tagline, card.category, card.description, card.pricing,
              card.url or "")
    text = " ".join(fields)
    return " ".join(text.casefold().split()), frozenset(numbers_in(text))


def unsupported_claims(text: str, card: ToolCard) -> list[str]:
    """Every number and proper name of ``text`` that the card does not hold, in order of
    first appearance, each once."""
    words, numbers = _card_text(card)
    found: dict[str, None] = {}
    for written, digits in number_claims(text):
        if digits not in numbers:
            found[written] = None
    for name in name_claims(text):
        if not re.search(rf"(?<!\w){re.escape(name.casefold())}(?!\w)", words):
            found[name] = None
    return list(found)
