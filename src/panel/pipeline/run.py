"""The pipeline, end to end: cards -> jobs -> (store hit | backend) -> store -> panels.

One function per user-facing job. The CLI, the web app and the benchmarks call these, so
the rules (reuse stored reviews unless forced; store every review the moment it exists;
write a manifest beside the results) hold whichever door a user comes in by.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from panel.backends import Backend, create_backend
from panel.config.settings import ReviewSettings, SamplesChoice
from panel.config.workspace import Workspace
from panel.contract.records import ReviewRecord, now
from panel.errors import InputError
from panel.inputs.cards import LoadedCard, ToolCard, load_cards
from panel.pipeline.jobs import Job, make_job
from panel.pipeline.retry import Unavailable, run_jobs
from panel.store.files import atomic_write
from panel.store.sqlite import LEASE_S, Store, StoreError
from panel.verdict.majority import PanelVerdict, panel_verdict
from panel.verdict.samples import representatives

Progress = Callable[[int, int], None]
"""Called with (done, total) reviews as work completes."""


@dataclass
class RunSummary:
    """What a run did: counts for the closing table, and every record it covers."""

    records: list[ReviewRecord]
    reviewed: int = 0
    reused: int = 0
    by_other: int = 0
    """Reviews another run on the same store was producing: waited for, not paid twice."""
    card_errors: list[InputError] = field(default_factory=list)
    unavailable: list[str] = field(default_factory=list)
    """'tool / persona: reason' of each review the server could not make (none stored)."""
    seconds: float = 0.0
    manifest: Path | None = None

    @property
    def failed(self) -> list[ReviewRecord]:
        return [r for r in self.records if not r.ok]

    def panels(self, ws: Workspace) -> list[PanelVerdict]:
        """One panel verdict per tool, in input order."""
        by_tool: dict[str, list[ReviewRecord]] = {}
        for r in self.records:
            by_tool.setdefault(r.tool, []).append(r)
        rubric, policy = ws.config.rubric, ws.config.samples  # several samples: one vote
        return [panel_verdict(representatives(rs, rubric, policy), rubric)
                for rs in by_tool.values()]


def plan(ws: Workspace, cards: Sequence[ToolCard], model: str | None = None,
         personas: list[str] | None = None, samples: Sequence[int] = (0,)) -> list[Job]:
    """Every persona x card (x sample) job, in a stable order."""
    settings = ws.settings(model)
    people = ws.personas(personas)
    return [make_job(c, p, settings, s) for c in cards for p in people for s in samples]


def review_cards(ws: Workspace, cards: Sequence[ToolCard], model: str | None = None,
                 personas: list[str] | None = None, force: bool = False,
                 samples: Sequence[int] = (0,), backend: Backend | None = None,
                 progress: Progress | None = None) -> RunSummary:
    """Review cards, reusing stored ok reviews; start an engine only if there is work.

    A stored failed review is retried (and replaced); an edit-pinned key never is. Keys
    another live run on the same store has claimed are not sent again: this run does its
    own share first, then waits for theirs (see ``Claims``).
    """
    started = time.perf_counter()
    settings = ws.settings(model)
    jobs = plan(ws, cards, model, personas, samples)
    stored = set() if force else ws.store.done_keys(j.key for j in jobs)
    todo = [j for j in jobs if j.key not in stored]
    for card in cards:
        ws.store.put_card(card.slug, card.model_dump_json())
    claims = Claims(ws.store, force, len(jobs) - len(todo), len(jobs), progress)
    claims.report()
    work = LocalWork(settings, backend)
    try:
        if todo:
            claims.run(todo, work)
    finally:
        work.close()
    records = [r for r in (ws.store.get(j.key) for j in jobs) if r is not None]
    summary = RunSummary(records, reviewed=claims.ran - len(claims.unavailable),
                         reused=len(jobs) - len(todo), unavailable=claims.unavailable,
                         by_other=claims.by_other,
                         seconds=round(time.perf_counter() - started, 2))
    write_panels(ws, summary)
    summary.manifest = write_manifest(ws, summary, model)
    return summary


def review_files(ws: Workspace, *, cards: Sequence[str], model: str | None = None,
                 personas: list[str] | None = None, force: bool = False,
                 progress: Progress | None = None, samples: SamplesChoice = None,
                 ) -> RunSummary:
    """`panel review`: load every card (all must be valid: nothing is written for a bad
    one, the first error is raised), then review them, ``samples`` per persona."""
    from panel.pipeline.adaptive import review_sampled

    loaded = load_cards(cards)
    register_cards(ws, loaded)
    return review_sampled(ws, [c.card for c in loaded], model, personas, force, samples,
                          progress=progress)


def register_cards(ws: Workspace, loaded: Sequence[LoadedCard]) -> None:
    """Record each card with the file it came from, before any work: a card on a slug
    another tool holds is refused with an error naming both files."""
    for item in loaded:
        ws.store.put_card(item.card.slug, item.card.model_dump_json(), item.source)


POLL_S = 0.2
"""How often a run waiting for another run's claimed keys looks at the store."""


Work = Callable[[list[Job], Callable[[ReviewRecord], None], Unavailable], None]
"""Makes the claimed jobs: calls the first callback with each record as it exists, the
second with each job the server could not serve (``LocalWork``; Ray: ``RayWork``)."""


class LocalWork:
    """Jobs on this machine's backend, started on the first claimed job (a run whose keys
    are all stored or claimed by others never pays the engine start)."""

    def __init__(self, settings: ReviewSettings, backend: Backend | None = None):
        self.settings, self.backend, self.owned = settings, backend, backend is None

    def __call__(self, jobs: list[Job], on_record: Callable[[ReviewRecord], None],
                 on_unavailable: Unavailable) -> None:
        if self.backend is None:
            self.backend = create_backend(self.settings.spec)
        run_jobs(jobs, self.backend, self.settings, on_record=on_record,
                 on_unavailable=on_unavailable)

    def close(self) -> None:
        """Close the backend if this started it."""
        if self.owned and self.backend is not None:
            self.backend.close()
            self.backend = None


class Claims:
    """Run jobs under leases, so that two runs on one store never pay for one key twice.

    Each round claims what it can of the pending keys (one IMMEDIATE transaction), runs
    those, then settles keys another run finished meanwhile: a key is done by another run
    once no live lease holds it and its stored row changed (or, unless forced, it is now
    ok). A key whose holder died or let its lease lapse without a result is claimed and
    run in a later round. Leases are released as each review is stored, and all at the end.
    Where the jobs run (this machine, Ray actors) is the ``Work`` given to ``run``.
    """

    def __init__(self, store: Store, force: bool, done: int, total: int,
                 progress: Progress | None):
        self.store, self.force = store, force
        self.done, self.total, self.progress = done, total, progress
        self.owner = uuid.uuid4().hex
        self.ran = self.by_other = 0
        self.unavailable: list[str] = []

    def report(self) -> None:
        if self.progress:
            self.progress(self.done, self.total)

    def run(self, todo: Sequence[Job], work: Work) -> None:
        """Produce every job of ``todo``: here, or by waiting for the run that claimed it."""
        before = self.store.review_states(j.key for j in todo)
        pending = {j.key: j for j in todo}
        beat = _Heartbeat(self.store, self.owner)
        try:
            while pending:
                mine = self.store.claim(pending, self.owner, skip_done=not self.force)
                jobs = [pending.pop(k) for k in list(pending) if k in mine]
                if jobs:
                    work(jobs, self._stored, self._unavailable)
                    self.ran += len(jobs)
                self._settle(pending, before)
                if pending and not jobs:
                    time.sleep(POLL_S)
        finally:
            beat.stop()
            self.store.release(self.owner)

    def _stored(self, record: ReviewRecord) -> None:
        self.store.put(record, self.owner)
        self.done += 1
        self.report()

    def _unavailable(self, job: Job, why: str) -> None:
        """The server, not the model, failed this job: nothing stored; a re-run makes it."""
        self.unavailable.append(f"{job.card.slug} / {job.persona.key}: {why}")

    def _settle(self, pending: dict[str, Job], before: dict[str, str]) -> None:
        """Drop from ``pending`` the keys another run has produced since we looked."""
        held = self.store.held_by_others(pending, self.owner)
        done = set() if self.force else self.store.done_keys(pending)
        now = self.store.review_states(pending)
        for key in [k for k in pending if k not in held]:
            if key in done or now.get(key) != before.get(key):
                del pending[key]
                self.by_other += 1
                self.done += 1
                self.report()


class _Heartbeat:
    """Renews a run's leases every third of their lifetime while the run is alive."""

    def __init__(self, store: Store, owner: str, ttl_s: float = LEASE_S):
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, args=(store, owner, ttl_s),
                                        name="panel-lease-heartbeat", daemon=True)
        self._thread.start()

    def _beat(self, store: Store, owner: str, ttl_s: float) -> None:
        while not self._stop.wait(ttl_s / 3):
            with contextlib.suppress(StoreError):  # busy now: the next beat is well in time
                store.renew(owner, ttl_s)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def write_panels(ws: Workspace, summary: RunSummary) -> list[Path]:
    """One JSON file per tool and model: the tool's whole current panel, as its pages show it.

    A run of one persona (``--personas``, ``panel regenerate``) rewrites the file with every
    persona's latest review (an editor's pinned one first), not just the persona it ran.
    """
    from panel.config.project import child
    from panel.verdict.views import tool_page

    folder = ws.output / "panels"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for tool, model in dict.fromkeys((r.tool, r.model) for r in summary.records):
        page = tool_page(ws, tool, model)
        doc = {"tool": page.card.model_dump(mode="json"), "model": model,
               "panel": page.panel.model_dump(),
               "reviews": [r.model_dump(mode="json") for r in page.reviews]}
        path = child(folder, f"{tool}.{model}", ".json", field="panel")
        atomic_write(path, json.dumps(doc, indent=2, ensure_ascii=False))
        paths.append(path)
    return paths


def write_manifest(ws: Workspace, summary: RunSummary, model: str | None) -> Path:
    """A self-describing record of the run: config, hashes, model spec, counts."""
    from panel.config.project import child
    spec = ws.settings(model).spec
    choice = spec.dtype_choice()
    doc = {
        "created_at": now(), "model": spec.model_dump(mode="json"),
        "dtype": choice.record() if choice else None,
        "config": ws.config.model_dump(), "templates": ws.prompts.hashes,
        "personas": {p.key: p.sha for p in ws.personas()},
        "counts": {"reviews": len(summary.records), "reviewed": summary.reviewed,
                   "reused": summary.reused, "by_other_run": summary.by_other,
                   "failed": len(summary.failed),
                   "card_errors": len(summary.card_errors),
                   "unavailable": len(summary.unavailable)},
        "keys": [r.key for r in summary.records], "seconds": summary.seconds,
    }
    folder = ws.output / "runs"
    folder.mkdir(parents=True, exist_ok=True)
    path = child(folder, f"{time.strftime('%Y%m%dT%H%M%S')}-{spec.name}", ".json", field="model")
    atomic_write(path, json.dumps(doc, indent=2))
    return path


