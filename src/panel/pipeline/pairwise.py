"""Head-to-head judging: each persona picks between two tools, shown in both orders.

A pick that follows the position rather than the tool is no pick, so every pair is asked
twice, A first and B first (MT-Bench's swap test), and a persona's result is its pick only
when both orders agree (``verdict.head_to_head.outcome``). Each judgment is one job of the
shared validate-and-retry loop (``retry.run_jobs`` with ``PairContract``), keyed by the
content of everything that shapes it, stored in the same SQLite store and reused across
runs: a second ``panel compare --head-to-head`` makes no request.

The key holds both cards in the order shown, so the order is part of it, and ``compare B A``
reuses ``compare A B``'s judgments (its "B first" is their "A first"). Judgments are
leased as reviews are (the store's ``claim``/``release``, renewed by the same heartbeat):
two runs judging the same pair at once pay for each judgment once, the second waiting for
what the first holds and reading it from the store.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from panel.backends import Backend
from panel.backends.base import GenRequest, GenResult
from panel.backends.lazy import LazyBackend
from panel.config.settings import ReviewSettings
from panel.config.workspace import Workspace
from panel.contract.pairwise import (
    CHOICES,
    Choice,
    PairOutput,
    PairRecord,
    contract_sha,
    pair_grammar,
    pair_schema,
)
from panel.contract.prompts import Messages, messages_hash
from panel.contract.records import Attempt
from panel.hashing import json_sha
from panel.inputs.cards import ToolCard
from panel.inputs.personas import Persona
from panel.pipeline.cost import share_engine_time
from panel.pipeline.jobs import request_seed
from panel.pipeline.retry import run_jobs, validate_reply
from panel.pipeline.run import POLL_S, Progress, _Heartbeat
from panel.verdict.head_to_head import (
    HeadToHead,
    Order,
    OrderPick,
    PersonaHeadToHead,
    order_pick,
)


@dataclass(frozen=True)
class PairJob:
    """One judgment to produce: a persona choosing between two cards in one order."""

    first: ToolCard
    second: ToolCard
    persona: Persona
    messages: Messages
    key: str
    sample: int
    provenance: dict[str, object]


def make_pair_job(first: ToolCard, second: ToolCard, persona: Persona,
                  settings: ReviewSettings, choices: Sequence[Choice] = CHOICES,
                  sample: int = 0) -> PairJob:
    """Render the prompt and compute the content key of one judgment."""
    messages = settings.prompts.render_pair(persona, first, second, settings.rubric,
                                            settings.lengths)
    provenance: dict[str, object] = {
        "kind": "head-to-head",
        "cards": [first.key_data(), second.key_data()],  # in the order shown
        "persona_sha": persona.sha,
        "templates": settings.prompts.pair_hashes,
        "model": settings.spec.identity(),
        "sampling": settings.spec.sampling.model_dump(),
        "rubric": settings.rubric.model_dump(),  # the system prompt states it
        **settings.contract_data(),  # and the lengths
        "contract": contract_sha(choices),
        "choices": list(choices),
        "max_attempts": settings.max_attempts,
        "sample": sample,
    }
    key = json_sha(provenance)
    provenance = {**provenance, "prompt_sha": messages_hash(messages)}
    return PairJob(first, second, persona, messages, key, sample, provenance)


@dataclass(frozen=True)
class PairContract:
    """A persona's pick between two cards: the pair grammar, PairOutput, PairRecord."""

    settings: ReviewSettings
    choices: tuple[Choice, ...] = CHOICES

    def request(self, job: PairJob, attempt: int) -> GenRequest:
        s = self.settings.spec.sampling
        return GenRequest(id=job.key, messages=job.messages,
                          json_schema=pair_schema(self.choices),
                          grammar=pair_grammar(self.choices),
                          seed=request_seed(job.key, attempt), max_tokens=s.max_tokens,
                          temperature=s.temperature, top_p=s.top_p, top_k=s.top_k,
                          repetition_penalty=s.repetition_penalty)

    def check(self, job: PairJob, result: GenResult) -> tuple[PairOutput | None, str | None]:
        output, reason = validate_reply(result, PairOutput)
        if output is not None and output.choice not in self.choices:
            return None, f"invalid choice: '{output.choice}' is not among {list(self.choices)}"
        return output, reason

    def record(self, job: PairJob, output: PairOutput | None, reason: str | None,
               attempts: list[Attempt], backend: Backend) -> PairRecord:
        spec = self.settings.spec
        return PairRecord(
            key=job.key, first=job.first.slug, first_name=job.first.name,
            second=job.second.slug, second_name=job.second.name, persona=job.persona.key,
            persona_name=job.persona.name, model=spec.name, revision=spec.revision,
            sample=job.sample, status="ok" if output else "failed", output=output,
            failure=None if output else reason, attempts=list(attempts),
            provenance={**job.provenance, "versions": backend.versions()})


def judge_pairs(ws: Workspace, pairs: Sequence[tuple[ToolCard, ToolCard]],
                model: str | None = None, personas: list[str] | None = None,
                backend: Backend | None = None,
                progress: Progress | None = None) -> list[HeadToHead]:
    """Every persona's head-to-head for each pair (A, B), in both orders; one HeadToHead
    per pair, in input order. Stored ok judgments are reused; failed ones are retried.
    The cards are not registered in the store here (the caller does, as a review does)."""
    return judge(ws, pairs, model, personas, backend, progress)


def judge(ws: Workspace, pairs: Sequence[tuple[ToolCard, ToolCard]], model: str | None = None,
          personas: list[str] | None = None, backend: Backend | None = None,
          progress: Progress | None = None,
          choices: Sequence[Choice] = CHOICES) -> list[HeadToHead]:
    """``judge_pairs`` under a narrowed contract: ``choices`` limits the picks the grammar
    allows (a test pins "first" to make the orders disagree on the real engine)."""
    settings = ws.settings(model)
    people = ws.personas(personas)
    plan = _Plan(pairs, people, settings, tuple(choices))
    run = _Run(ws, settings, plan, backend, progress)
    run.go(PairContract(settings, tuple(choices)))
    return [plan.head_to_head(i, settings.spec.name, run.records, run.unavailable)
            for i in range(len(pairs))]


@dataclass
class _Plan:
    """Every job of the pairs (once each: a pair and its reverse share them), and which
    job is which pair's persona in which order."""

    pairs: Sequence[tuple[ToolCard, ToolCard]]
    people: list[Persona]
    settings: ReviewSettings
    choices: tuple[Choice, ...]
    jobs: dict[str, PairJob] = field(default_factory=dict)
    slots: dict[tuple[int, str, Order], str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for i, (a, b) in enumerate(self.pairs):
            shown: list[tuple[Order, ToolCard, ToolCard]] = [("ab", a, b), ("ba", b, a)]
            for p in self.people:
                for order, first, second in shown:
                    job = make_pair_job(first, second, p, self.settings, self.choices)
                    self.jobs.setdefault(job.key, job)
                    self.slots[(i, p.key, order)] = job.key

    def head_to_head(self, i: int, model: str, records: dict[str, PairRecord],
                     unavailable: dict[str, str]) -> HeadToHead:
        """Pair ``i``'s result: one row per persona, each order's stored judgment."""
        a, b = self.pairs[i]

        def pick(persona: str, order: Order) -> OrderPick | None:
            rec = records.get(self.slots[(i, persona, order)])
            return order_pick(rec, order) if rec else None

        rows = [PersonaHeadToHead(persona=p.key, persona_name=p.name, ab=pick(p.key, "ab"),
                                  ba=pick(p.key, "ba")) for p in self.people]
        missing = [f"{p} / {o}: {unavailable[k]}" for (j, p, o), k in self.slots.items()
                   if j == i and k in unavailable]
        return HeadToHead(a=a.slug, b=b.slug, a_name=a.name, b_name=b.name, model=model,
                          rows=rows, unavailable=missing)


@dataclass
class _Run:
    """Make the jobs not stored ok yet, storing each judgment the moment it exists."""

    ws: Workspace
    settings: ReviewSettings
    plan: _Plan
    backend: Backend | None
    progress: Progress | None
    records: dict[str, PairRecord] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)
    done: int = 0

    def go(self, contract: PairContract) -> None:
        jobs = self.plan.jobs
        stored = self.ws.store.pair_done_keys(jobs)
        todo = {k: j for k, j in jobs.items() if k not in stored}
        self.done = len(jobs) - len(todo)
        self._report()
        if todo:
            self._leased(todo, contract)
        for key in jobs:
            rec = self.ws.store.get_pair(key)
            if rec is not None:
                self.records[key] = rec

    def _put_all(self, records: list[PairRecord]) -> None:
        for rec in records:
            self.ws.store.put_pair(rec)

    def _judge(self, jobs: list[PairJob], engine: Backend, contract: PairContract) -> None:
        """Judge claimed jobs, each stored at once, and then again with its share of the
        engine time they took together."""
        made: list[PairRecord] = []

        def keep(record: PairRecord) -> None:
            made.append(record)
            self._stored(record)

        started = time.perf_counter()
        run_jobs(jobs, engine, self.settings, on_record=keep,
                 on_unavailable=self._unavailable, contract=contract)
        share_engine_time(made, time.perf_counter() - started, self._put_all)

    def _leased(self, pending: dict[str, PairJob], contract: PairContract) -> None:
        """Run what this run can claim, round by round, and wait for what another live run
        holds (as ``run.Claims`` does for reviews). The engine starts on the first claim."""
        store, owner = self.ws.store, uuid.uuid4().hex
        before = {k: store.get_pair(k) for k in pending}
        engine = LazyBackend(self.settings.spec, self.backend)
        beat = _Heartbeat(store, owner)
        try:
            while pending:
                mine = store.claim(pending, owner, skip_done=False)
                ours = [pending.pop(k) for k in list(pending) if k in mine]
                # claimed, so no one holds it: one stored ok meanwhile is done, not run again
                jobs = [j for j in ours if j.key not in store.pair_done_keys(mine)]
                self._count(len(ours) - len(jobs))
                if jobs:
                    self._judge(jobs, engine, contract)
                self._settle(pending, before, owner)
                if pending and not ours:
                    time.sleep(POLL_S)
        finally:
            beat.stop()
            store.release(owner)
            engine.close()

    def _settle(self, pending: dict[str, PairJob], before: dict[str, PairRecord | None],
                owner: str) -> None:
        """Drop from ``pending`` the judgments another run has stored since we looked."""
        store = self.ws.store
        held = store.held_by_others(pending, owner)
        done = store.pair_done_keys(pending)
        for key in [k for k in pending if k not in held]:
            if key in done or store.get_pair(key) != before[key]:
                del pending[key]
                self._count(1)

    def _count(self, n: int) -> None:
        if n:
            self.done += n
            self._report()

    def _stored(self, record: PairRecord) -> None:
        self.ws.store.put_pair(record)
        self.done += 1
        self._report()

    def _unavailable(self, job: PairJob, why: str) -> None:
        """The server, not the model, failed this job: nothing stored; a re-run makes it."""
        self.unavailable[job.key] = why

    def _report(self) -> None:
        if self.progress:
            self.progress(self.done, len(self.plan.jobs))
