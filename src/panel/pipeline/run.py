"""The pipeline, end to end: cards -> jobs -> (store hit | backend) -> store -> panels.

One function per user-facing job. The CLI, the web app and the benchmarks call these, so
the rules (reuse stored reviews unless forced; store every review the moment it exists;
write a manifest beside the results) hold whichever door a user comes in by.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol

from pydantic_core import to_json

from panel.backends import Backend
from panel.backends.lazy import LazyBackend
from panel.config.settings import ReviewSettings, Samples, SamplesChoice, samples_policy
from panel.config.workspace import Workspace
from panel.contract.records import ReviewRecord, now
from panel.errors import InputError
from panel.hashing import json_sha
from panel.inputs.cards import LoadedCard, ToolCard, load_cards
from panel.pipeline.adaptive import Pending, sample_until_sure
from panel.pipeline.cost import Usage, share_engine_time
from panel.pipeline.jobs import Job, Planner, batched
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
    usage: Usage = field(default_factory=Usage)
    """Tokens and engine time of the reviews this run made: what its cost figures cover."""
    needs_editor: int = 0
    """Personas still uncertain at the samples cap (``--samples auto``): an editor decides."""

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
    planner, people = Planner(ws.settings(model)), ws.personas(personas)
    return [j for c in cards for j in planner.jobs(c, people, tuple(samples))]


@dataclass
class RunCounts:
    """What a run did, in counts: all a batch of any size keeps of its reviews."""

    reviews: int = 0
    """Reviews the run covers (persona x card x sample jobs)."""
    reviewed: int = 0
    reused: int = 0
    by_other: int = 0
    failed: int = 0
    unavailable: int = 0
    needs_editor: int = 0
    """Personas still uncertain at the samples cap (``--samples auto``): an editor decides."""


class Session:
    """One run's review machinery, fed its cards a window at a time.

    Per window: plan the window's jobs (keys only), ask the store which are done in one
    set-based query, run the rest under leases (``Claims``) on the run's one ``Work``,
    record each failed or unavailable review with ``on_failed`` / ``on_unavailable``, and
    rewrite the panel files whose content changed. Nothing it keeps grows with the run but
    its counts, so a batch of any size runs in the memory of one window.
    """

    def __init__(self, ws: Workspace, model: str | None, personas: list[str] | None,
                 force: bool = False, samples: Sequence[int] | Samples = (0,),
                 work: Work | None = None, progress: Progress | None = None,
                 expected: int = 0):
        self.ws, self.force = ws, force
        self.auto = samples if isinstance(samples, Samples) and samples.auto else None
        self.samples = (tuple(range(samples.fixed())) if isinstance(samples, Samples)
                        else tuple(samples))
        self.settings = ws.settings(model)
        self.planner, self.people = Planner(self.settings), ws.personas(personas)
        self.work: Work = work or LocalWork(self.settings)
        first = 1 if self.auto else len(self.samples)  # auto: at least one sample each
        self.claims = Claims(ws.store, force, 0, expected * len(self.people) * first,
                             progress)
        self.counts = RunCounts()
        self.on_failed: Callable[[ReviewRecord], None] = lambda rec: None
        self.on_unavailable: Callable[[str], None] = lambda line: None

    def review(self, cards: Sequence[ToolCard]) -> list[str]:
        """Review one window of cards (under ``auto``, in rounds until each persona is sure
        or at the cap); return its keys (each review is in the store)."""
        if self.auto:
            keys, editor = sample_until_sure(
                cards, self.people, self.auto, self.ws.config.rubric,
                lambda pending, index: self._draw(pending, (index,)), self.ws.store.get_many)
            self.counts.needs_editor += editor
        else:
            keys = self._draw([(c, self.people) for c in cards], self.samples)
        write_tool_panels(self.ws, {(c.slug, self.settings.spec.name): None for c in cards})
        return keys

    def _draw(self, pending: Pending, samples: tuple[int, ...]) -> list[str]:
        """The keys of each card x its personas x ``samples``; a job (and its prompt) is
        made only for a key that is not stored, and run under leases."""
        keyed = [(c, *k) for c, people in pending
                 for k in self.planner.keys(c, people, samples)]
        keys = [k[-1] for k in keyed]
        stored = set() if self.force else self.ws.store.done_keys(keys)
        todo = [self.planner.job(*k) for k in keyed if k[-1] not in stored]
        self.counts.reviews += len(keys)
        self.counts.reused += len(keys) - len(todo)
        self.claims.grow(len(keys), len(keys) - len(todo))
        if todo:
            self._run(todo)
        return keys

    def _run(self, todo: list[Job]) -> None:
        ran, others = self.claims.ran, self.claims.by_other
        self.claims.run(todo, self.work)
        lost, self.claims.unavailable = self.claims.unavailable, []
        for line in lost:
            self.on_unavailable(line)
        self.counts.unavailable += len(lost)
        self.counts.reviewed += self.claims.ran - ran - len(lost)
        self.counts.by_other += self.claims.by_other - others
        for key, status in self.ws.store.statuses(j.key for j in todo).items():
            if status != "ok":
                self.counts.failed += 1
                self.on_failed(_fetch(self.ws, key))

    @property
    def usage(self) -> Usage:
        """Tokens and engine time of the reviews this run made (not those it reused)."""
        return self.work.usage

    def close(self) -> None:
        """The end of the run: the progress bar's last figure; the backend, if started here."""
        self.claims.finish()
        self.work.close()


def _fetch(ws: Workspace, key: str) -> ReviewRecord:
    rec = ws.store.get(key)
    if rec is None:  # a row seen a moment ago is never deleted
        raise StoreError(ws.store.path, sqlite3.DatabaseError(f"review {key} vanished"))
    return rec


def review_cards(ws: Workspace, cards: Sequence[ToolCard], model: str | None = None,
                 personas: list[str] | None = None, force: bool = False,
                 samples: Sequence[int] | Samples = (0,), backend: Backend | None = None,
                 progress: Progress | None = None) -> RunSummary:
    """Review cards, reusing stored ok reviews; start an engine only if there is work.
    ``samples``: the sample indices, or a policy (a fixed count, or ``auto``).

    A stored failed review is retried (and replaced); an edit-pinned key never is. Keys
    another live run on the same store has claimed are not sent again: this run does its
    own share first, then waits for theirs (see ``Claims``). The interactive commands'
    path: the summary holds every record (``pipeline.batch`` streams instead).
    """
    started = time.perf_counter()
    session = Session(ws, model, personas, force, samples,
                      LocalWork(ws.settings(model), backend, ws.store), progress, len(cards))
    ws.store.register_cards([(c.slug, c.identity, c.model_dump_json(), None) for c in cards],
                            strict=True)
    unavailable: list[str] = []
    session.on_unavailable = unavailable.append
    try:
        keys = session.review(cards)
    finally:
        session.close()
    records = list(ws.store.get_many(keys))
    c = session.counts
    summary = RunSummary(records, reviewed=c.reviewed, reused=c.reused,
                         unavailable=unavailable, by_other=c.by_other, usage=session.usage,
                         seconds=round(time.perf_counter() - started, 2),
                         needs_editor=c.needs_editor)
    summary.manifest = write_manifest(ws, summary, model)
    return summary


def review_files(ws: Workspace, *, cards: Sequence[str], model: str | None = None,
                 personas: list[str] | None = None, force: bool = False,
                 progress: Progress | None = None, samples: SamplesChoice = None,
                 ) -> RunSummary:
    """`panel review`: load every card (all must be valid: nothing is written for a bad
    one, the first error is raised), then review them, ``samples`` per persona."""
    loaded = load_cards(cards)
    register_cards(ws, loaded)
    return review_cards(ws, [c.card for c in loaded], model, personas, force,
                        samples_policy(samples, ws.config.samples), progress=progress)


def register_cards(ws: Workspace, loaded: Sequence[LoadedCard]) -> None:
    """Record each card with the file it came from, before any work: a card on a slug
    another tool holds is refused with an error naming both files."""
    ws.store.register_cards([(i.card.slug, i.card.identity, i.card.model_dump_json(),
                              i.source) for i in loaded], strict=True)


POLL_S = 0.2
"""How often a run waiting for another run's claimed keys looks at the store."""


class Work(Protocol):
    """Makes the claimed jobs: calls ``on_record`` with each record as it exists and
    ``on_unavailable`` with each job the server could not serve (``LocalWork``; Ray:
    ``RayWork``); ``close`` ends whatever it started."""

    usage: Usage
    """Tokens and engine time of the reviews made so far."""

    def __call__(self, jobs: list[Job], on_record: Callable[[ReviewRecord], None],
                 on_unavailable: Unavailable) -> None: ...

    def close(self) -> None: ...


class LocalWork:
    """Jobs on this machine's backend, started on the first claimed job (a run whose keys
    are all stored or claimed by others never pays the engine start)."""

    def __init__(self, settings: ReviewSettings, backend: Backend | None = None,
                 store: Store | None = None):
        self.settings, self.backend = settings, LazyBackend(settings.spec, backend)
        self.store = store
        self.usage = Usage()
        """Tokens and engine time of every review made here so far."""

    def __call__(self, jobs: list[Job], on_record: Callable[[ReviewRecord], None],
                 on_unavailable: Unavailable) -> None:
        made: list[ReviewRecord] = []

        def keep(record: ReviewRecord) -> None:
            made.append(record)
            on_record(record)

        self.backend.start()  # a lazy engine starts here: its start is no review's cost
        started = time.perf_counter()
        run_jobs(jobs, self.backend, self.settings, on_record=keep,
                 on_unavailable=on_unavailable)
        if self.store is not None:  # each review's share of the batch's engine time
            made = share_engine_time(made, time.perf_counter() - started, self.store.put_many)
        self.usage += Usage.of(made)

    def close(self) -> None:
        """Close the backend if this started it."""
        self.backend.close()


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
        self.planned = 0
        self.finished = False
        """Every window is in (``finish``): until then the total stays above ``done``."""
        self.owner = uuid.uuid4().hex
        self.ran = self.by_other = 0
        self.unavailable: list[str] = []

    def report(self) -> None:
        if self.progress:  # an estimate of the total stays above what is done until the end
            self.progress(self.done, max(self.total, self.done + (not self.finished)))

    def grow(self, jobs: int, done: int) -> None:
        """A new window: ``jobs`` more, ``done`` of them stored already. The total is the
        estimate given at the start until the windows outgrow it."""
        self.planned += jobs
        self.total = max(self.total, self.planned)
        self.done += done
        self.report()

    def finish(self) -> None:
        """Every window is in: the total is what was planned."""
        self.total, self.finished = self.planned, True
        self.report()

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


PANEL_FORMAT = 1
"""Bumped when the panel files' layout changes, so every file is written again."""
PANEL_WINDOW = 500
"""Tools whose panel files are checked (one set-based query) and written together."""


def write_panels(ws: Workspace, summary: RunSummary) -> list[Path]:
    """The panel files of every tool and model among a run's records (``write_tool_panels``)."""
    return write_tool_panels(ws, dict.fromkeys((r.tool, r.model) for r in summary.records))


def write_tool_panels(ws: Workspace, tools: Iterable[tuple[str, str]]) -> list[Path]:
    """One JSON file per tool and model: the tool's whole current panel, as its pages show it.

    A run of one persona (``--personas``, ``panel regenerate``) rewrites the file with every
    persona's latest review (an editor's pinned one first), not just the persona it ran.
    A file is rewritten only when what it shows may have changed: the store keeps a hash of
    each file's inputs (the card, every review row's key, status and time, the edits, the
    panel's personas and rubric), so an unchanged re-run reads one query per window of tools
    and writes nothing. The files are derived from the store, so they are written without
    an fsync each; one found missing or empty is written again. A tool with no review by
    the model has no file. Returns the paths written.
    """
    from panel.config.project import child

    folder = ws.output / "panels"
    salt = json_sha([PANEL_FORMAT, ws.persona_order(), ws.config.rubric.model_dump()])
    written: list[Path] = []
    for window in batched(tools, PANEL_WINDOW):
        states = ws.store.panel_states(window)
        names = {tm: f"{tm[0]}.{tm[1]}.json" for tm in states}
        known = ws.store.written(f"panels/{n}" for n in names.values())
        stale = {tm: json_sha([salt, state]) for tm, state in states.items()}
        todo = [tm for tm in states if known.get(f"panels/{names[tm]}") != stale[tm]
                or not _nonempty(folder / names[tm])]
        for tool, model in todo:  # the name is checked (child) before anything is written
            path = child(folder, f"{tool}.{model}", ".json", field="panel")
            _write_panel(ws, tool, model, path)
            written.append(path)
        ws.store.set_written([(f"panels/{names[tm]}", stale[tm]) for tm in todo])
    return written


def _nonempty(path: Path) -> bool:
    """Whether ``path`` is a file with content (a panel file written without fsync can be
    left empty by a power cut; the next run then writes it again)."""
    try:
        return path.stat().st_size > 0
    except OSError:
        return False


def _write_panel(ws: Workspace, tool: str, model: str, path: Path) -> None:
    """The tool's panel as its pages show it (``views.tool_page`` without the votes, which
    a panel file does not hold)."""
    from panel.verdict.views import load_card, persona_sorted

    reviews = persona_sorted(ws, ws.store.latest(tool, model))
    doc = {"tool": load_card(ws, tool).model_dump(mode="json"), "model": model,
           "panel": panel_verdict(reviews, ws.config.rubric).model_dump(),
           "reviews": [r.model_dump(mode="json") for r in reviews]}
    # pydantic-core's encoder: json.dumps with indent runs in pure Python, 1.5 ms a file
    atomic_write(path, to_json(doc, indent=2).decode(), only_if_changed=True, durable=False)


def write_manifest(ws: Workspace, summary: RunSummary, model: str | None) -> Path:
    """A self-describing record of the run: config, hashes, model spec, counts, keys."""
    counts = {"reviews": len(summary.records), "reviewed": summary.reviewed,
              "reused": summary.reused, "by_other_run": summary.by_other,
              "failed": len(summary.failed), "card_errors": len(summary.card_errors),
              "unavailable": len(summary.unavailable)}
    return write_run_file(ws, model, {"counts": counts, "keys": [r.key for r in summary.records],
                                      "seconds": summary.seconds,
                                      "cost": summary.usage.record(ws.settings(model).spec.cost)})


def run_stem(ws: Workspace, model: str | None) -> str:
    """The name the files of a run starting now share under OUTPUT/runs/: the time to the
    microsecond and the process, so two runs never share one (they sort by time)."""
    stamp = datetime.now().strftime("%Y%m%dT%H%M%S.%f")
    return f"{stamp}-{os.getpid()}-{ws.settings(model).spec.name}"


def write_run_file(ws: Workspace, model: str | None, extra: dict[str, object],
                   stem: str | None = None) -> Path:
    """OUTPUT/runs/STEM.json: config, hashes and model spec of the run, and ``extra``."""
    from panel.config.project import child
    spec = ws.settings(model).spec
    choice = spec.dtype_choice()
    doc = {
        "created_at": now(), "model": spec.model_dump(mode="json"),
        "dtype": choice.record() if choice else None,
        "config": ws.config.model_dump(), "templates": ws.prompts.hashes,
        "personas": {p.key: p.sha for p in ws.personas()}, **extra,
    }
    folder = ws.output / "runs"
    folder.mkdir(parents=True, exist_ok=True)
    path = child(folder, stem or run_stem(ws, model), ".json", field="model")
    atomic_write(path, json.dumps(doc, indent=2))
    return path


def run_usage(summary: RunSummary) -> Usage:
    """Tokens and engine time of the reviews this run made (not those it reused)."""
    return summary.usage
