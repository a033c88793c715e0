"""panel.pipeline.jobs"""

from __future__ import annotations

from dataclasses import dataclass

from panel.config.settings import ReviewSettings
from panel.contract.output import SCHEMA_VERSION
from panel.hashing import json_sha
from panel.inputs.cards import ToolCard
from panel.inputs.personas import Persona
from panel.inputs.prompts import Messages, messages_hash


@dataclass(frozen=True)
class Job:
    """One review to produce: a persona reading a card, with its store key."""

    card: ToolCard
    persona: Persona
    messages: Messages
    key: str
    sample: int
    provenance: dict[str, object]


def make_job(card: ToolCard, persona: Persona, settings: ReviewSettings, sample: int = 0) -> Job:
    """Render the prompt and compute the content key of one review."""
    messages = settings.prompts.render(persona, card, settings.rubric, settings.lengths)
    provenance: dict[str, object] = {
        "card": card.key_data(),
        "persona_sha": persona.sha,
        "templates": settings.prompts.hashes,
        "model": settings.spec.identity(),
        "sampling": settings.spec.sampling.model_dump(),
        "rubric": settings.rubric.model_dump(),
        **settings.contract_data(),
        "schema_version": SCHEMA_VERSION,
        "max_attempts": settings.max_attempts,
        "sample": sample,
    }
    key = json_sha(provenance)
    provenance = {**provenance, "prompt_sha": messages_hash(messages)}
    choice = settings.spec.dtype_choice()
    if choice is not None:  # the machine facts behind the key's dtype, not in the key
        provenance["dtype"] = choice.record()
    return Job(card, persona, messages, key, sample, provenance)


def request_seed(key: str, attempt: int) -> int:
    """A per-request seed from the review's key and attempt: stable across batches."""
    return int(json_sha([key, attempt]), 16) % (2**31 - 1)
