"""panel.yaml: the rubric and generation settings, validated strictly like every data file."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from panel.errors import InputError
from panel.schema import Rubric


class Generation(BaseModel):
    """How hard to try before a review is recorded as failed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_attempts: int = Field(3, ge=1, le=10, description="First try plus retries.")


class Config(BaseModel):
    """The whole of panel.yaml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rubric: Rubric = Field(default_factory=Rubric, description="Verdict thresholds.")
    generation: Generation = Field(default_factory=Generation, description="Retry policy.")


def load_config(path: Path) -> Config:
    """Read panel.yaml; a missing file means the defaults."""
    if not path.is_file():
        return Config()
    try:
        return Config.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    except yaml.YAMLError as exc:
        raise InputError(str(path), f"cannot parse: {exc}") from None
    except ValidationError as exc:
        err = exc.errors()[0]
        raise InputError(str(path), err["msg"], field=".".join(map(str, err["loc"]))) from None
