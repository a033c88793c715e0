"""Community votes: an optional file per tool with up / down counts, merged into the pages.

Votes come from outside the panel (a site's readers), so they live in plain files an editor
or a sync job can write: ``OUTPUT/votes/<slug>.yaml`` (or ``.json``) holding ``up`` and
``down``. A missing file means no votes yet; a malformed one is an error naming the file,
never a silent zero, because a wrong vote count on a published page is worse than none.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from panel.config.project import child
from panel.errors import InputError, validation_error
from panel.inputs.datafile import load_data
from panel.store.files import atomic_write

VOTE_SUFFIXES = (".yaml", ".yml", ".json")
NO_VOTES = "No community votes yet"


class Votes(BaseModel):
    """A tool's community vote counts."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    up: int = Field(0, ge=0, description="Readers who would ship it.")
    down: int = Field(0, ge=0, description="Readers who would skip it.")

    @property
    def total(self) -> int:
        return self.up + self.down

    @property
    def up_pct(self) -> float | None:
        """Share of up votes, None when nobody has voted."""
        return round(100 * self.up / self.total, 1) if self.total else None

    @property
    def label(self) -> str:
        """"80% up · 8 up / 2 down", or the published wording when there are none."""
        if not self.total:
            return NO_VOTES
        return f"{self.up_pct:g}% up · {self.up} up / {self.down} down"


def votes_label(votes: Votes | None) -> str:
    """The community cell of a page, for a tool with or without a votes file."""
    return votes.label if votes else NO_VOTES


def votes_path(folder: Path, slug: str) -> Path | None:
    """The tool's votes file, if there is one."""
    for suffix in VOTE_SUFFIXES:
        path = child(folder, slug, suffix, field="tool")
        if path.is_file():
            return path
    return None


def load_votes(folder: Path, slug: str) -> Votes | None:
    """The tool's votes, or None when it has no votes file."""
    path = votes_path(folder, slug)
    if path is None:
        return None
    data = load_data(path)
    if not isinstance(data, dict):
        raise InputError(str(path), "votes must be a mapping with 'up' and 'down'")
    try:
        return Votes.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, str(path)) from None


def save_votes(folder: Path, slug: str, votes: Votes) -> Path:
    """Write a tool's votes file (YAML), e.g. from a sync job or a test."""
    path = child(folder, slug, ".yaml", field="tool")
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write(path, yaml.safe_dump(votes.model_dump()))
    return path
