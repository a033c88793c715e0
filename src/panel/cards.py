"""Tool cards: the input of the panel, loaded from YAML, JSON, JSONL or a folder of them.

A card is untrusted text written by whoever launched the tool. It is validated strictly
(unknown fields are errors, not silently ignored) so that a typo such as ``pricng`` is
caught before any model time is spent, and every error names the file, line and field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from panel.errors import InputError

NAME_MAX = 120  # a tool name's length limit; the review grammar copies the name in
CARD_SUFFIXES = {".yaml", ".yml", ".json", ".jsonl"}


class Entry(StrEnum):
    """How a user gets in: the entry price tier shown on the pages."""

    free = "free"
    paid = "paid"
    freemium = "freemium"


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

    @property
    def slug(self) -> str:
        """A file-name-safe identifier, stable for a given name."""
        return slugify(self.name)


def slugify(text: str) -> str:
    """Lower-case ASCII words joined by dashes; never empty."""
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug or "tool"


@dataclass(frozen=True)
class LoadedCard:
    """A valid card and where it came from (for error messages and manifests)."""

    card: ToolCard
    source: str


def card_from_data(data: Any, source: str, line: int | None = None) -> ToolCard:
    """Validate one card's raw data, raising InputError naming the first bad field."""
    if not isinstance(data, dict):
        raise InputError(source, "a card must be a mapping of fields", line=line)
    try:
        return ToolCard.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or None
        reason = {"missing": "is required but missing",
                  "extra_forbidden": "is not a known card field"}.get(err["type"], err["msg"])
        raise InputError(source, reason, field=field, line=line) from None


def _parse_file(path: Path) -> Iterator[tuple[Any, int | None]]:
    """Yield (raw card, line) pairs; JSONL gives one per line, others one per file."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".jsonl":
        for no, raw in enumerate(text.splitlines(), start=1):
            if raw.strip():
                try:
                    yield json.loads(raw), no
                except json.JSONDecodeError as exc:
                    raise InputError(str(path), f"invalid JSON: {exc.msg}", line=no) from None
        return
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise InputError(str(path), f"cannot parse: {exc}") from None
    yield data, None


def card_files(paths: Iterable[str | Path]) -> list[Path]:
    """Expand folders into their card files, sorted, so runs are deterministic."""
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files.extend(sorted(f for f in p.iterdir() if f.suffix in CARD_SUFFIXES))
        elif p.exists():
            files.append(p)
        else:
            raise InputError(str(p), "no such file or folder")
    return files


def iter_cards(paths: Iterable[str | Path]) -> Iterator[LoadedCard | InputError]:
    """Yield every card, or the error for a bad one, so a batch can skip and report it."""
    for path in card_files(paths):
        try:
            for data, line in _parse_file(path):
                source = f"{path}:{line}" if line else str(path)
                try:
                    yield LoadedCard(card_from_data(data, str(path), line), source)
                except InputError as exc:
                    yield exc
        except InputError as exc:
            yield exc


def load_cards(paths: Iterable[str | Path]) -> list[LoadedCard]:
    """Load all cards or raise the first error: for interactive commands."""
    cards = []
    for item in iter_cards(paths):
        if isinstance(item, InputError):
            raise item
        cards.append(item)
    return cards
