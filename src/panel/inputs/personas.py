"""Personas as data: one YAML file each under personas/; a new file is a new reviewer."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from panel.errors import InputError, validation_error
from panel.hashing import file_sha
from panel.inputs.datafile import load_data


class Persona(BaseModel):
    """A reviewer's lens and voice. The file stem (``builder``) is its key."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str = Field(description="File stem, used on the command line and in the store.")
    name: str = Field(min_length=1, max_length=60, description="Display name, e.g. Builder.")
    role: str = Field(min_length=1, max_length=400, description="One line: who this reviewer is.")
    lens: list[str] = Field(min_length=1, max_length=8, description="Questions the review answers.")
    ship_when: str = Field(min_length=1, max_length=400, description="What earns a ship.")
    skip_when: str = Field(min_length=1, max_length=400, description="What earns a skip.")
    voice: str = Field(min_length=1, max_length=400, description="How the reviewer writes.")
    sha: str = Field(description="Hash of the persona file, part of every review's store key.")


def load_persona(path: Path) -> Persona:
    """Load one persona file, with file and field in any error."""
    data = load_data(path)
    if not isinstance(data, dict):
        raise InputError(str(path), "a persona must be a mapping of fields")
    try:
        return Persona.model_validate({**data, "key": path.stem, "sha": file_sha(path)})
    except ValidationError as exc:
        raise validation_error(exc, str(path)) from None


def load_personas(folder: Path, only: list[str] | None = None) -> list[Persona]:
    """All personas in ``folder`` (sorted by a fixed panel order, then name), or a subset."""
    files = {p.stem: p for p in folder.glob("*.yaml")}
    keys = only if only else sorted(files, key=_panel_order)
    unknown = [k for k in keys if k not in files]
    if unknown:
        raise InputError(str(folder), f"no persona named {', '.join(unknown)} "
                         f"(have: {', '.join(sorted(files))})", field="personas")
    return [load_persona(files[k]) for k in keys]


_ORDER = ["builder", "skeptic", "futurist", "founder"]


def _panel_order(key: str) -> tuple[int, str]:
    """The published order for the four core personas; extra personas follow by name."""
    return (_ORDER.index(key) if key in _ORDER else len(_ORDER), key)
