"""Tool cards: the input of the panel, loaded from YAML, JSON, JSONL or a folder of them.

A card is untrusted text written by whoever launched the tool. It is validated strictly
(unknown fields, a key given twice, control characters, a line break in a one-line field
are errors, not silently ignored) so that a typo such as ``pricng`` is caught before any
model time is spent, and every error names the file, line and field. Each JSONL line and
each file is parsed on its own: a bad one is reported and the rest still load.

Tool identity. A tool is its optional ``id`` field if given, else its ``name``, normalised
(Unicode NFKC, case-folded, whitespace collapsed): ``Patch  Pilot`` and ``patch pilot`` are
one tool, ``PatchPilot`` and ``PatchPilot!`` are two. Its *slug* (store key, file and page
name) keeps the letters, marks and digits of every script (``Кодер`` -> ``кодер``,
``编码器`` -> ``编码器``); every other run of characters becomes one ``-``; it is at most
80 characters (a longer one ends in a hash of the identity), never empty (a name of
symbols only is spelled out from their Unicode names, ``🚀`` -> ``rocket``; one with none
is ``tool``), never a
Windows device name (``con`` -> ``con-tool``). ASCII names keep the slug they always had
(``Patch Pilot`` -> ``patch-pilot``). Collision rule: two different identities with the same
slug never share storage or a page. The second card is refused with an error naming both
files (within one batch, and across runs through the store's ``cards`` table); give one of
them a distinct ``id``. The same identity twice in one input is a duplicate and skipped.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError

from panel.errors import InputError, validation_error
from panel.hashing import sha
from panel.inputs.datafile import load_data, load_json, read_lines

NAME_MAX = 120  # a tool name's length limit; the review grammar copies the name in
CARD_SUFFIXES = {".yaml", ".yml", ".json", ".jsonl"}
SLUG_MAX = 80  # characters; and at most SLUG_MAX_BYTES of UTF-8, so `<slug>.<model>.yaml`
SLUG_MAX_BYTES = 160  # stays under the 255-byte file-name limit
WINDOWS_DEVICES = frozenset({"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)),
                             *(f"lpt{i}" for i in range(10))})
ONE_LINE_FIELDS = ("name", "tagline", "category", "pricing", "url", "id")
# Bidirectional overrides and isolates make one name display as another; line and paragraph
# separators break a line like a newline does.
_NOT_IN_ONE_LINE = {"\u2028", "\u2029", *map(chr, range(0x202A, 0x202F)),
                    *map(chr, range(0x2066, 0x206A))}


class Entry(StrEnum):
    """How a user gets in: the entry price tier shown on the pages."""

    free = "free"
    paid = "paid"
    freemium = "freemium"


_SUSPECT = re.compile("[\x00-\x1f\x7f-\x9f\u2028-\u202e\u2066-\u2069]")
"""Every character ``_text_problem`` may object to (category Cc is exactly U+0000-U+001F
and U+007F-U+009F): text without one is fine, found in one regex scan."""


def _text_problem(value: str, one_line: bool) -> str | None:
    """Why ``value`` is not acceptable text for a field, or None."""
    if not _SUSPECT.search(value):
        return None
    for i, ch in enumerate(value, start=1):
        code = f"U+{ord(ch):04X}"
        if ch in "\n\r\t" or ch in _NOT_IN_ONE_LINE:
            if one_line:
                kind = "tab" if ch == "\t" else "line break" if ch in "\n\r\u2028\u2029" \
                    else "bidirectional control"
                return f"must be one line: holds a {kind} ({code}) at character {i}"
            if ch == "\r" and value[i:i + 1] != "\n":
                return f"holds a carriage return ({code}) at character {i} not before a newline"
        elif unicodedata.category(ch) == "Cc":
            return f"holds a control character ({code}) at character {i}"
    return None


class ToolCard(BaseModel):
    """One newly launched tool, as an editor or a launch feed describes it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)

    name: str = Field(min_length=1, max_length=NAME_MAX, description="The tool's name.")
    tagline: str = Field(min_length=1, max_length=300, description="The 'best for' line.")
    category: str = Field(min_length=1, max_length=80, description="e.g. Developer Tools.")
    description: str = Field(min_length=1, max_length=4000, description="What the tool does.")
    pricing: str = Field(min_length=1, max_length=300, description="Pricing in words.")
    entry: Entry = Field(description="Entry tier: free, paid or freemium.")
    url: str | None = Field(default=None, max_length=500, description="Home page, if any.")
    launched: date | None = Field(default=None, description="Launch date, if known.")
    id: str | None = Field(default=None, min_length=1, max_length=NAME_MAX,
                           description="Identity, if the name is not enough (e.g. two tools "
                                       "whose names differ only in punctuation).")

    @field_validator(*ONE_LINE_FIELDS)
    @classmethod
    def _one_line(cls, value: str | None) -> str | None:
        problem = value and _text_problem(value, one_line=True)
        if problem:
            raise PydanticCustomError("text", problem)
        return value

    @field_validator("description")
    @classmethod
    def _text(cls, value: str) -> str:
        problem = _text_problem(value, one_line=False)
        if problem:
            raise PydanticCustomError("text", problem)
        return value

    @cached_property
    def identity(self) -> str:
        """What makes two cards the same tool: the normalised ``id``, else the name."""
        return normalize(self.id or self.name)

    @cached_property
    def slug(self) -> str:
        """A file- and URL-safe identifier, a function of the identity."""
        return slugify(self.id or self.name)

    def key_data(self) -> dict[str, Any]:
        """The card as it enters a review's store key. ``id`` is left out when unset, so a
        card without one hashes exactly as it did before ``id`` existed."""
        return self.model_dump(mode="json", exclude={"id"} if self.id is None else None)


def normalize(text: str) -> str:
    """NFKC, case-folded (then NFKC again, as case folding can un-normalise), whitespace
    runs collapsed to one space, trimmed: the identity of a name."""
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
    return " ".join(folded.split())


def _kept(ch: str) -> bool:
    """Letters, marks and decimal digits of every script stay in a slug."""
    cat = unicodedata.category(ch)
    return cat[0] in "LM" or cat == "Nd"


def _bounded(slug: str, chars: int, size: int) -> str:
    while len(slug) > chars or len(slug.encode()) > size:
        slug = slug[:-1]
    return slug.rstrip("-")


def _spelled(norm: str) -> str:
    """A name of symbols only, spelled out from their Unicode names (``🚀`` -> ``rocket``,
    ``❤️`` -> ``heavy-black-heart``, a flag's letters -> ``us``), so an emoji-only name
    gets a slug that says something instead of ``tool``. Modifiers (skin tones) and
    joiners add nothing and are left out; so are ASCII symbols (``$``, ``|``), as ASCII names
    keep the slug they always had."""
    words: list[str] = []
    flag = False  # a flag's two letters (regional indicators) make one word: ``us``
    for ch in norm:
        if not ch.isascii() and unicodedata.category(ch) in ("So", "Sm", "Sc"):
            name = unicodedata.name(ch, "").lower()
            letter = name.removeprefix("regional indicator symbol letter ")
            if flag and letter != name and len(words[-1]) == 1:
                words[-1] += letter
            else:
                words.append(letter)
            flag = letter != name
    return "-".join("".join(c if c.isascii() and c.isalnum() else " " for c in w)
                    for w in words).replace(" ", "-")


def slugify(text: str, spell_symbols: bool = True) -> str:
    """The slug of a name or id (see the module docstring); never empty, stable under
    re-slugging, equal for equal identities. A name with no letter or digit is spelled
    out from its symbols' names; ``spell_symbols=False`` is the rule before that, which
    only the store's migration asks for."""
    norm = normalize(text)
    slug = "-".join("".join(ch if _kept(ch) else " " for ch in norm).split())
    if spell_symbols and not any(unicodedata.category(ch)[0] in "LN" for ch in slug):
        slug = "-".join(_spelled(norm).replace("-", " ").split()) or slug
    if len(slug) > SLUG_MAX or len(slug.encode()) > SLUG_MAX_BYTES:
        slug = f"{_bounded(slug, SLUG_MAX - 9, SLUG_MAX_BYTES - 9)}-{sha(norm)[:8]}".lstrip("-")
    slug = slug or "tool"
    return f"{slug}-tool" if slug in WINDOWS_DEVICES else slug


@dataclass(frozen=True)
class LoadedCard:
    """A valid card and where it came from (for error messages and manifests)."""

    card: ToolCard
    source: str


@dataclass
class InputTally:
    """What the input held, so a summary can add up: every path and JSONL line counted once.

    ``entries`` is one per non-blank JSONL line, one per YAML/JSON file, and one per path
    that could not be read at all; each entry becomes exactly one card or one error.
    """

    files: int = 0
    lines: int = 0
    blank: int = 0
    entries: int = 0
    # what became of the entries, filled in by the batch loader (batch.load_batch)
    cards: int = 0
    bad: int = 0
    duplicate: int = 0
    refused: int = 0

    @property
    def adds_up(self) -> bool:
        """Every entry is exactly one card, bad entry, duplicate or refused card."""
        return self.entries == self.cards + self.bad + self.duplicate + self.refused

    def describe(self) -> str:
        """One line: where the entries came from and what became of them."""
        return (f"input: {_n(self.files, 'file')}, {_n(self.lines, 'JSONL line')} "
                f"({self.blank} blank) = {_n(self.entries, 'entry', 'entries')}: "
                f"{self.cards} loaded, {self.bad} bad, {self.duplicate} duplicate, "
                f"{self.refused} refused (slug taken)")


def _n(count: int, one: str, many: str | None = None) -> str:
    return f"{count} {one if count == 1 else many or one + 's'}"


def card_from_data(data: Any, source: str, line: int | None = None) -> ToolCard:
    """Validate one card's raw data, raising InputError naming the first bad field."""
    if not isinstance(data, dict):
        raise InputError(source, "a card must be a mapping of fields", line=line)
    try:
        return ToolCard.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, source, line,
                               {"extra_forbidden": "is not a known card field"}) from None


def _parse_file(path: Path, tally: InputTally) -> Iterator[tuple[Any, int | None]]:
    """Yield (raw card or its InputError, line): JSONL one per non-blank line, others one
    per file. A file that cannot be read raises InputError before yielding anything."""
    if path.suffix != ".jsonl":
        yield load_data(path), None
        return
    for no, text in read_lines(path):
        tally.lines += 1
        if isinstance(text, InputError):
            yield text, no
        elif not text.strip():
            tally.blank += 1
        else:
            try:
                yield load_json(text, str(path), no), no
            except InputError as exc:
                yield exc, no


def _expand(paths: Iterable[str | Path]) -> Iterator[Path | InputError]:
    """Card files, folders expanded (sorted, so runs are deterministic), or the error for
    a path that names nothing usable."""
    for p in map(Path, paths):
        if p.is_dir() and p.suffix in CARD_SUFFIXES:
            yield InputError(str(p), "is a folder, not a card file")
        elif p.is_dir():
            try:
                found = sorted(f for f in p.iterdir() if f.suffix in CARD_SUFFIXES)
            except OSError as exc:
                yield InputError(str(p), f"cannot list folder: {exc.strerror or exc}")
                continue
            if not found:
                yield InputError(str(p), "folder holds no card files (.yaml, .yml, .json, "
                                 ".jsonl)")
            yield from found
        elif p.exists() or p.is_symlink():
            yield p
        else:
            yield InputError(str(p), "no such file or folder")


def iter_cards(paths: Iterable[str | Path],
               tally: InputTally | None = None) -> Iterator[LoadedCard | InputError]:
    """Yield every card, or the error for a bad line or file, so a batch can skip and
    report it and go on with the next line. ``tally`` counts what was read."""
    tally = tally if tally is not None else InputTally()
    for path in _expand(paths):
        tally.files += 1
        if isinstance(path, InputError):
            tally.entries += 1
            yield path
            continue
        try:
            for data, line in _parse_file(path, tally):
                tally.entries += 1
                yield data if isinstance(data, InputError) else _card(data, path, line)
        except InputError as exc:
            tally.entries += 1
            yield exc


def _card(data: Any, path: Path, line: int | None) -> LoadedCard | InputError:
    try:
        return LoadedCard(card_from_data(data, str(path), line),
                          f"{path}:{line}" if line else str(path))
    except InputError as exc:
        return exc


def estimate_entries(paths: Iterable[str | Path]) -> int:
    """About how many entries the input holds (lines of each JSONL file, one per other card
    file), from a byte scan that parses nothing: a progress bar's total. Only regular
    files are read (a FIFO would be consumed); anything unreadable counts nothing."""
    total = 0
    for path in _expand(paths):
        if isinstance(path, InputError):
            continue
        try:
            if not path.is_file():
                continue
            if path.suffix != ".jsonl":
                total += 1
                continue
            with path.open("rb") as fh:
                total += sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))
        except OSError:
            continue
    return total


def load_cards(paths: Iterable[str | Path]) -> list[LoadedCard]:
    """Load all cards or raise the first error: for interactive commands."""
    cards = []
    for item in iter_cards(paths):
        if isinstance(item, InputError):
            raise item
        cards.append(item)
    return cards


def slug_taken(source: str, slug: str, owner_source: str | None, owner_json: str) -> InputError:
    """The error for a card refused because another tool already holds its slug."""
    try:
        owner = f"'{ToolCard.model_validate_json(owner_json).name}'"
    except ValidationError:
        owner = "another tool"
    return InputError(source, f"slug '{slug}' is already taken by {owner} from "
                      f"{owner_source or 'an earlier run'}; refused (two tools never share a "
                      "slug): give one of them a distinct 'id'", field="name")
