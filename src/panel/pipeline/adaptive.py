"""Samples per persona: a fixed count, or ``auto``, which samples again only while unsure.

Most personas are sure of most cards: one or two samples decide them, while a verdict
near the rubric's thresholds is close to a coin flip and needs many more for its majority
to hold. ``auto`` runs in rounds: round ``i`` draws sample ``i`` of every persona x card
still uncertain (``verdict/samples.tally``: P(ship) inside the band, or tied), until none
is or the cap is reached; a persona uncertain at the cap *needs an editor*. Every sample
is an ordinary review with its own store key (the sample index is in it), so a re-run
reuses them, and a fixed count later reuses the samples ``auto`` drew.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from panel.backends import Backend
from panel.config.settings import Samples, SamplesChoice, parse_samples
from panel.config.workspace import Workspace
from panel.contract.records import ReviewRecord
from panel.inputs.cards import ToolCard
from panel.inputs.personas import Persona
from panel.pipeline.jobs import Job, make_job
from panel.pipeline.run import (
    Claims,
    LocalWork,
    Progress,
    RunSummary,
    review_cards,
    write_manifest,
    write_panels,
)
from panel.verdict.samples import SampleTally, tally

Pair = tuple[ToolCard, Persona]



def review_sampled(ws: Workspace, cards: Sequence[ToolCard], model: str | None = None,
                   personas: list[str] | None = None, force: bool = False,
                   samples: SamplesChoice = None, backend: Backend | None = None,
                   progress: Progress | None = None) -> RunSummary:
    """Review cards with ``samples`` per persona (panel.yaml's when None; a string is
    ``--samples``, over panel.yaml's cap and band): a fixed count in one batch, ``auto``
    in rounds."""
    policy = (parse_samples(samples, ws.config.samples) if isinstance(samples, str)
              else samples or ws.config.samples)
    if not policy.auto:
        return review_cards(ws, cards, model, personas, force,
                            samples=range(policy.fixed()), backend=backend, progress=progress)
    return _Rounds(ws, model, force, policy, progress).run(cards, personas, backend)


@dataclass
class _Rounds:
    """``auto``: sample index by sample index, only the pairs still uncertain."""

    ws: Workspace
    model: str | None
    force: bool
    policy: Samples
    progress: Progress | None
    records: list[ReviewRecord] = field(default_factory=list)
    reviewed: int = 0
    reused: int = 0
    by_other: int = 0
    unavailable: list[str] = field(default_factory=list)

    def run(self, cards: Sequence[ToolCard], personas: list[str] | None,
            backend: Backend | None) -> RunSummary:
        started = time.perf_counter()
        settings = self.ws.settings(self.model)
        for card in cards:
            self.ws.store.put_card(card.slug, card.model_dump_json())
        pending: list[Pair] = [(c, p) for c in cards for p in self.ws.personas(personas)]
        drawn: dict[tuple[str, str], list[ReviewRecord]] = {}
        work = LocalWork(settings, backend)
        try:
            for index in range(self.policy.cap):
                if not pending:
                    break
                for rec in self._round([make_job(c, p, settings, index) for c, p in pending],
                                       work):
                    drawn.setdefault((rec.tool, rec.persona), []).append(rec)
                pending = [(c, p) for c, p in pending
                           if self.tally(drawn.get((c.slug, p.key), [])).uncertain]
        finally:
            work.close()
        summary = RunSummary(self.records, self.reviewed, self.reused, self.by_other,
                             unavailable=self.unavailable,
                             seconds=round(time.perf_counter() - started, 2))
        write_panels(self.ws, summary)
        summary.manifest = write_manifest(self.ws, summary, self.model)
        return summary

    def tally(self, records: list[ReviewRecord]) -> SampleTally:
        return tally(records, self.ws.config.rubric, self.policy)

    def _round(self, jobs: list[Job], work: LocalWork) -> list[ReviewRecord]:
        """One sample of each job's pair: stored ones reused, the rest made under claims."""
        stored = set() if self.force else self.ws.store.done_keys(j.key for j in jobs)
        todo = [j for j in jobs if j.key not in stored]
        claims = Claims(self.ws.store, self.force, len(jobs) - len(todo), len(jobs),
                        self.progress)
        claims.report()
        if todo:
            claims.run(todo, work)
        self.reviewed += claims.ran - len(claims.unavailable)
        self.reused += len(jobs) - len(todo)
        self.by_other += claims.by_other
        self.unavailable += claims.unavailable
        made = [r for r in (self.ws.store.get(j.key) for j in jobs) if r is not None]
        self.records += made
        return made
