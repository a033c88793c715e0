"""Jobs: one persona reading one card (one sample), and its content key.

A review's store key is the hash of everything that shaped it (``provenance``: the card,
the persona file, the templates, the model, sampling, rubric, lengths, schema version,
attempts, sample). A batch computes a key for every persona x card before it knows which
reviews are stored, so keys must be cheap: ``Planner`` serialises the parts that are the
same for a whole run once, and splices each card's and persona's parts into that text,
which gives byte for byte the canonical JSON ``json_sha`` would hash (a property test
holds the two equal). The prompt itself is rendered only for a job that is run.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from itertools import islice
from typing import Any, TypeVar

from panel.config.settings import ReviewSettings
from panel.contract.output import SCHEMA_VERSION
from panel.contract.prompts import Messages, messages_hash
from panel.hashing import json_sha
from panel.inputs.cards import ToolCard
from panel.inputs.personas import Persona

_CARD, _PERSONA, _SAMPLE = "\x00card\x00", "\x00persona\x00", "\x00sample\x00"
"""Placeholders in the run's serialised provenance; no JSON value of a key part can hold
a NUL (cards refuse control characters, the others are hashes and numbers)."""


def _canonical(obj: Any) -> str:
    """The canonical JSON ``json_sha`` hashes."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


@dataclass(frozen=True)
class Job:
    """One review to produce: a persona reading a card, with its store key.

    ``messages`` and ``provenance`` are computed on first use: a batch plans every job,
    but renders prompts only for the ones it runs.
    """

    card: ToolCard
    persona: Persona
    key: str
    sample: int
    settings: ReviewSettings = field(repr=False, compare=False)
    base: dict[str, object] = field(repr=False, compare=False)
    """The key's provenance (what was hashed), shared by the run's jobs but card, persona
    and sample, which are added per job."""

    @cached_property
    def messages(self) -> Messages:
        s = self.settings
        return s.prompts.render(self.persona, self.card, s.rubric, s.lengths)

    @cached_property
    def provenance(self) -> dict[str, object]:
        """What was hashed into the key, plus the prompt's hash and the resolved dtype's
        machine facts (recorded, not keyed)."""
        prov: dict[str, object] = {**self.base, "card": self.card.key_data(),
                                   "persona_sha": self.persona.sha, "sample": self.sample,
                                   "prompt_sha": messages_hash(self.messages)}
        choice = self.settings.spec.dtype_choice()
        if choice is not None:
            prov["dtype"] = choice.record()
        return prov


class Planner:
    """Keys and jobs of one run: the provenance's run-wide part serialised once."""

    def __init__(self, settings: ReviewSettings):
        self.settings = settings
        self.base: dict[str, object] = {
            "templates": settings.prompts.hashes,
            "model": settings.spec.identity(),
            "sampling": settings.spec.sampling.model_dump(),
            "rubric": settings.rubric.model_dump(),
            **settings.contract_data(),
            "schema_version": SCHEMA_VERSION,
            "max_attempts": settings.max_attempts,
        }
        text = _canonical({**self.base, "card": _CARD, "persona_sha": _PERSONA,
                           "sample": _SAMPLE})
        self._pieces = _split(text, [_canonical(m) for m in (_CARD, _PERSONA, _SAMPLE)])
        self._cut = next(i for i, part in enumerate(self._pieces) if part in (1, 2))
        self._tails: dict[tuple[str, int], bytes] = {}

    def key(self, card_text: str, persona: Persona, sample: int) -> str:
        """The store key of ``persona`` reading the card whose ``card_text`` is given."""
        return self._keys(card_text, [(persona, sample)])[0]

    def _keys(self, card_text: str, pairs: list[tuple[Persona, int]]) -> list[str]:
        """The keys of one card's (persona, sample) pairs: the text before the first
        persona-dependent piece is hashed once per card, and each pair's rest, the same for
        every card, is serialised once per run and hashed on a copy."""
        head = hashlib.sha256("".join(p if isinstance(p, str) else card_text
                                      for p in self._pieces[:self._cut]).encode())
        keys = []
        for persona, sample in pairs:
            h = head.copy()
            h.update(self._tail(persona.sha, sample, card_text))
            keys.append(h.hexdigest()[:16])
        return keys

    def _tail(self, persona_sha: str, sample: int, card_text: str) -> bytes:
        """The bytes after the cut for one persona and sample (cached: they hold no card,
        the card's placeholder sorting first)."""
        found = self._tails.get((persona_sha, sample))
        if found is None:
            values = {0: card_text, 1: _canonical(persona_sha), 2: str(sample)}
            found = "".join(p if isinstance(p, str) else values[p]
                            for p in self._pieces[self._cut:]).encode()
            if 0 not in self._pieces[self._cut:]:
                self._tails[(persona_sha, sample)] = found
        return found

    def keys(self, card: ToolCard, personas: list[Persona],
             samples: tuple[int, ...] | list[int] = (0,)) -> list[tuple[Persona, int, str]]:
        """(persona, sample, key) of every persona x sample of one card, in a stable order:
        keys only, for a run that first asks the store which are done."""
        pairs = [(p, s) for p in personas for s in samples]
        return [(p, s, k) for (p, s), k in zip(pairs, self._keys(card_key_text(card), pairs),
                                                 strict=True)]

    def job(self, card: ToolCard, persona: Persona, sample: int, key: str) -> Job:
        """The job behind a key from ``keys``."""
        return Job(card, persona, key, sample, self.settings, self.base)

    def jobs(self, card: ToolCard, personas: list[Persona],
             samples: tuple[int, ...] | list[int] = (0,)) -> list[Job]:
        """Every persona x sample job of one card, in a stable order."""
        return [self.job(card, p, s, k) for p, s, k in self.keys(card, personas, samples)]


def card_key_text(card: ToolCard) -> str:
    """The card's part of a key, serialised once for all its personas and samples."""
    return _canonical(card.key_data())


def _split(text: str, marks: list[str]) -> list[str | int]:
    """``text`` as literal pieces and the indices of ``marks`` where they stood."""
    out: list[str | int] = []
    rest = text
    while True:
        found = [(rest.find(m), i, m) for i, m in enumerate(marks) if m in rest]
        if not found:
            return [*out, rest]
        pos, index, mark = min(found)
        out += [rest[:pos], index]
        rest = rest[pos + len(mark):]


def make_job(card: ToolCard, persona: Persona, settings: ReviewSettings, sample: int = 0) -> Job:
    """One job (a run that plans many uses one ``Planner``)."""
    return Planner(settings).jobs(card, [persona], (sample,))[0]


def provenance_key(provenance: dict[str, object]) -> str:
    """The key a provenance hashes to (what ``Planner.key`` computes by splicing)."""
    keyed = {k: v for k, v in provenance.items()
             if k not in ("prompt_sha", "dtype", "versions")}
    return json_sha(keyed)


T = TypeVar("T")


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """``items`` in lists of ``size`` (the last may be shorter): itertools.batched, which
    Python 3.11 lacks."""
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def request_seed(key: str, attempt: int) -> int:
    """A per-request seed from the review's key and attempt: stable across batches."""
    return int(json_sha([key, attempt]), 16) % (2**31 - 1)
