"""panel.yaml: the rubric and generation settings, validated strictly like every data file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from panel.config.registry import ModelSpec
from panel.contract.output import ReviewLengths, Rubric
from panel.errors import validation_error
from panel.inputs.datafile import load_yaml, read_text
from panel.inputs.prompts import PromptSet


class Generation(BaseModel):
    """How hard to try before a review is recorded as failed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_attempts: int = Field(3, ge=1, le=10, description="First try plus retries.")


class Config(BaseModel):
    """The whole of panel.yaml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rubric: Rubric = Field(default_factory=Rubric, description="Verdict thresholds.")
    review: ReviewLengths = Field(default_factory=ReviewLengths,
                                  description="Sentences and words a review may have.")
    generation: Generation = Field(default_factory=Generation, description="Retry policy.")


def load_config(path: Path) -> Config:
    """Read panel.yaml; a missing file means the defaults."""
    if not path.is_file():
        return Config()
    try:
        return Config.model_validate(load_yaml(read_text(path), str(path)) or {})
    except ValidationError as exc:
        raise validation_error(exc, str(path)) from None


@dataclass(frozen=True)
class ReviewSettings:
    """Everything besides the card and persona that shapes a review."""

    spec: ModelSpec
    prompts: PromptSet
    rubric: Rubric
    max_attempts: int = 3
    lengths: ReviewLengths = ReviewLengths()

    def contract_data(self) -> dict[str, object]:
        """The review lengths for a store key: nothing for the defaults, so the keys of
        every review made before lengths were settable stay the same."""
        if self.lengths == ReviewLengths():
            return {}
        return {"lengths": self.lengths.model_dump(mode="json")}
