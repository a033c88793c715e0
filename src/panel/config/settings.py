"""panel.yaml: the rubric and generation settings, validated strictly like every data file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from panel.config.registry import ModelSpec
from panel.contract.output import ReviewLengths, Rubric
from panel.contract.prompts import PromptSet
from panel.errors import InputError, validation_error
from panel.inputs.datafile import load_yaml, read_text


class Generation(BaseModel):
    """How hard to try before a review is recorded as failed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_attempts: int = Field(3, ge=1, le=10, description="First try plus retries.")


class Samples(BaseModel):
    """How many samples each persona draws of a card: panel.yaml's ``samples:``.

    ``auto`` draws again only while the persona's verdict is uncertain: while its
    estimated P(ship) lies strictly inside ``band`` (the share of ship verdicts, from the
    second sample on; with ``trust_p_ship``, one sample's P(ship) from the
    log-probabilities may stop it at one), or its verdicts are tied, up to ``cap``; a
    persona still uncertain at the cap *needs an editor*. A number draws that many
    samples, uncertain or not.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    per_persona: int | Literal["auto"] = Field(
        1, description="Samples per persona and card: a count (1 to cap), or auto.")
    cap: int = Field(11, ge=1, le=50, description="The most samples auto draws.")
    band: tuple[float, float] = Field(
        (0.3, 0.7), description="P(ship) strictly inside this band is uncertain.")
    trust_p_ship: bool = Field(
        False, description="Let one sample's P(ship) from the log-probabilities decide "
        "(off: on SmolLM2 it stopped at one sample where later votes disagreed, 10 of 40 "
        "verdicts against k=5's majority; bench/evidence.py).")

    @model_validator(mode="after")
    def _check(self) -> Samples:
        lo, hi = self.band
        if not 0 <= lo <= 0.5 <= hi <= 1:
            raise ValueError(f"band [{lo}, {hi}] must hold 0.5 within [0, 1]")
        if isinstance(self.per_persona, int) and not 1 <= self.per_persona <= self.cap:
            raise ValueError(f"per_persona {self.per_persona} must be 1 to cap ({self.cap})")
        return self

    @property
    def auto(self) -> bool:
        return self.per_persona == "auto"

    def fixed(self) -> int:
        """The count of a fixed setting; the cap under auto (the most it may draw)."""
        return self.cap if self.per_persona == "auto" else self.per_persona


SamplesChoice = Samples | str | None
"""A policy, ``--samples``'s text (auto or a count), or None for panel.yaml's."""


def parse_samples(value: str, base: Samples | None = None) -> Samples:
    """``--samples auto`` or ``--samples K`` over panel.yaml's setting (its cap and band)."""
    base = base or Samples()
    if value != "auto" and not value.isdigit():
        raise InputError("--samples", f"'{value}' is neither auto nor a count")
    choice = "auto" if value == "auto" else int(value)
    try:
        return Samples.model_validate({**base.model_dump(), "per_persona": choice})
    except ValidationError as exc:
        raise validation_error(exc, "--samples") from None


def samples_policy(choice: SamplesChoice, base: Samples) -> Samples:
    """The policy a run uses: ``choice`` (a policy, or ``--samples``'s text over ``base``),
    else ``base`` (panel.yaml's)."""
    if isinstance(choice, str):
        return parse_samples(choice, base)
    return choice or base


class Config(BaseModel):
    """The whole of panel.yaml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rubric: Rubric = Field(default_factory=Rubric, description="Verdict thresholds.")
    review: ReviewLengths = Field(default_factory=ReviewLengths,
                                  description="Sentences and words a review may have.")
    generation: Generation = Field(default_factory=Generation, description="Retry policy.")
    samples: Samples = Field(default_factory=Samples,
                             description="Samples per persona: a count or auto.")


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
