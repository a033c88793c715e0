"""Unattended batch reviewing: streaming windows, tolerant loading, shards, resume, merge.

``panel batch`` is the pipeline's ``Session`` fed a window of cards at a time, plus what a
nightly job needs: a bad card is reported (file, line, field) and skipped rather than
stopping the run; ``--shard i/n`` lets n machines split one input; the store makes every
run a resume (reviews already stored under the same content key are reused, so an
unchanged batch makes no model calls); and the exit code says whether anything failed.
Nothing it holds grows with the input: cards are read, checked, planned, reviewed and
stored a window at a time; the input's slugs so far are kept in a temporary SQLite file;
the skipped entries and the reviews' keys go to files under OUTPUT/runs/ as they happen.

Shards are chosen by a hash of the card's slug, not its position: adding or removing a
card never moves other cards to another shard, and all persona reviews of one card stay on
one machine. Each shard writes its own store (``OUTPUT/shards/I-of-N/``), because SQLite
must not be written by several machines over a network file system; ``panel merge`` folds
them into ``OUTPUT/`` in one transaction per shard.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from panel.backends import Backend, GenRequest, GenResult
from panel.backends.base import OnResult, Settle
from panel.backends.lazy import LazyBackend
from panel.config.registry import ModelSpec
from panel.config.settings import Samples, SamplesChoice, samples_policy
from panel.config.workspace import Workspace
from panel.contract.records import ReviewRecord
from panel.errors import InputError, PanelError
from panel.hashing import sha
from panel.inputs.cards import InputTally, LoadedCard, estimate_entries, iter_cards, slug_taken
from panel.pipeline.cost import Usage
from panel.pipeline.jobs import batched
from panel.pipeline.run import (
    LocalWork,
    Progress,
    RunCounts,
    Session,
    Work,
    run_stem,
    write_run_file,
    write_tool_panels,
)
from panel.store.sqlite import CardOwner, Store, slug_refusal


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` (0-based): the cards whose slug hash falls in it."""

    index: int = 0
    count: int = 1

    @classmethod
    def parse(cls, text: str | None) -> Shard:
        """Parse ``i/n`` (0 <= i < n); None means the whole input."""
        if not text:
            return cls()
        try:
            i, n = (int(x) for x in text.split("/"))
        except ValueError:
            raise InputError("--shard", f"'{text}' is not i/n, e.g. 0/4") from None
        if n < 1 or not 0 <= i < n:
            raise InputError("--shard", f"'{text}': need 0 <= i < n (shards are 0-based)")
        return cls(i, n)

    def holds(self, slug: str) -> bool:
        """Whether the card with this slug belongs to this shard."""
        return self.count == 1 or int(sha(slug), 16) % self.count == self.index

    def output(self, base: Path) -> Path:
        """Where this shard's store goes: ``base`` itself, or ``base/shards/I-of-N``."""
        from panel.config.project import child

        if self.count == 1:
            return base
        return child(base / "shards", f"{self.index}-of-{self.count}", field="--shard")


class CountingBackend(LazyBackend):
    """Starts the real backend on the first request and counts requests sent to it.

    The count is the run's "model calls" (a re-run of an unchanged batch must show 0), and
    starting lazily means a fully stored batch never pays the engine start.
    """

    def __init__(self, spec: ModelSpec, inner: Backend | None = None):
        super().__init__(spec, inner)
        self.requests = 0

    def generate(self, requests: Sequence[GenRequest],
                 on_result: OnResult | None = None) -> list[GenResult]:
        self.requests += len(requests)
        return super().generate(requests, on_result)

    def stream(self, requests: Sequence[GenRequest], settle: Settle) -> None:
        """The inner backend's own stream (retries join its running batch), counted."""
        def counted(res: GenResult) -> GenRequest | None:
            nxt = settle(res)
            self.requests += nxt is not None
            return nxt

        self.requests += len(requests)
        super().stream(requests, counted)


WINDOW = 500
"""Cards read, checked, planned, reviewed and stored together: a batch holds one window."""
SHOWN = 100
"""Lines of each kind (skipped entries, failed reviews, unavailable) the closing table
shows; the run's ``.skipped.jsonl`` file has every one."""


class SkipLog:
    """Every skipped entry, failed review and unavailable job of a batch: counted, the first
    ``SHOWN`` of each kind kept for the closing table, and every one written, as it happens,
    to ``OUTPUT/runs/STEM.skipped.jsonl`` (made on the first line: a clean run has none)."""

    def __init__(self, path: Path, shown: int | None = None):
        self.path, self.shown = path, SHOWN if shown is None else shown
        self.card_errors: list[InputError] = []
        self.failed: list[ReviewRecord] = []
        self.unavailable: list[str] = []
        self.counts = {"skipped": 0, "failed": 0, "unavailable": 0}
        self._out: IO[str] | None = None

    def card(self, err: InputError) -> None:
        self._add("skipped", err, self.card_errors, str(err))

    def failure(self, rec: ReviewRecord) -> None:
        self._add("failed", rec, self.failed, f"{rec.tool} / {rec.persona}: {rec.failure}")

    def lost(self, line: str) -> None:
        self._add("unavailable", line, self.unavailable, line)

    def _add(self, kind: str, item: Any, kept: list[Any], line: str) -> None:
        self.counts[kind] += 1
        if len(kept) < self.shown:
            kept.append(item)
        if self._out is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._out = self.path.open("a", encoding="utf-8")
        self._out.write(json.dumps({"kind": kind, "line": line}, ensure_ascii=False) + "\n")
        self._out.flush()

    def close(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None


@dataclass
class BatchSummary:
    """A batch's outcome in counts (it holds no review): the run, the input it read, what
    it skipped (``log``: counts, the first lines, the file with all), the requests sent."""

    counts: RunCounts
    cards: int
    log: SkipLog
    requests: int = 0
    shard: Shard = field(default_factory=Shard)
    output: Path = Path("outputs")
    tally: InputTally | None = None
    seconds: float = 0.0
    manifest: Path | None = None
    keys: Path | None = None
    """OUTPUT/runs/STEM.keys: the key of every review the batch covers, one a line."""
    usage: Usage = field(default_factory=Usage)
    """Tokens and engine time of the reviews the batch made."""

    @property
    def card_errors(self) -> list[InputError]:
        """The first ``SHOWN`` skipped entries (``log.counts['skipped']`` counts them all)."""
        return self.log.card_errors

    @property
    def ok(self) -> bool:
        """Nothing skipped, refused or failed (blank lines are not skips)."""
        counted = self.tally is None or self.tally.adds_up
        c = self.counts
        return counted and not self.log.counts["skipped"] and not c.failed and not c.unavailable

    def records(self, store: Store | None = None) -> Iterator[ReviewRecord]:
        """The batch's reviews, read back from its store a set at a time (for tests and
        reports; the batch itself never holds them)."""
        if self.keys is None or not self.keys.is_file():
            return
        own = store or Store(self.output)
        try:
            with self.keys.open(encoding="utf-8") as fh:
                yield from own.get_many(line.strip() for line in fh if line.strip())
        finally:
            if store is None:
                own.close()


class CardWindows:
    """The input, a window at a time, every entry accounted for in ``tally``.

    A window's cards are checked as a set: the same identity twice in the input is a
    duplicate (the first is kept); a different identity on a slug already used, earlier in
    this input or by ``store`` / ``known`` stores from earlier runs, is refused, naming both
    sources. The input's slugs so far live in a private temporary SQLite database, not in
    memory. This shard's cards are registered in ``store`` once a window, in one
    transaction (a slug another process took meanwhile is refused there).
    """

    def __init__(self, inputs: Sequence[str | Path], shard: Shard, store: Store | None,
                 tally: InputTally, log: SkipLog, known: Sequence[Store] = ()):
        self.inputs, self.shard, self.store, self.tally, self.log = (inputs, shard, store,
                                                                     tally, log)
        self.stores = [*([store] if store else []), *known]
        self.seen = sqlite3.connect("")  # a temporary database on disk, removed on close
        self.seen.execute("CREATE TABLE seen (tool TEXT PRIMARY KEY, identity TEXT NOT NULL, "
                          "source TEXT NOT NULL, card TEXT NOT NULL)")

    def windows(self, size: int = WINDOW) -> Iterator[list[LoadedCard]]:
        """This shard's admitted cards, window by window (a window may come out empty)."""
        try:
            for items in batched(iter_cards(self.inputs, self.tally), size):
                yield self._admit(items)
        finally:
            self.seen.close()

    def _admit(self, items: list[LoadedCard | InputError]) -> list[LoadedCard]:
        slugs = {i.card.slug for i in items if not isinstance(i, InputError)}
        held = self._earlier(slugs)
        owners = [s.card_owners(slugs) for s in self.stores]
        first: dict[str, LoadedCard] = {}
        for item in items:
            if isinstance(item, InputError):
                self._skip(item, "bad")
            elif (problem := self._problem(item, first.get(item.card.slug), held, owners)):
                self._skip(*problem)
            else:
                self.tally.cards += 1
                first[item.card.slug] = item
        self.seen.executemany("INSERT INTO seen VALUES (?,?,?,?)",
                              [(c.card.slug, c.card.identity, c.source, c.card.model_dump_json())
                               for c in first.values()])
        return self._register([c for c in first.values() if self.shard.holds(c.card.slug)])

    def _earlier(self, slugs: set[str]) -> dict[str, tuple[str, str, str]]:
        """(identity, source, card JSON) of the slugs among ``slugs`` earlier windows had."""
        found: dict[str, tuple[str, str, str]] = {}
        for chunk in batched(sorted(slugs), 500):
            rows = self.seen.execute("SELECT tool, identity, source, card FROM seen WHERE tool "
                                     f"IN ({','.join('?' * len(chunk))})", chunk)
            found.update((r[0], (r[1], r[2], r[3])) for r in rows)
        return found

    @staticmethod
    def _problem(item: LoadedCard, same_window: LoadedCard | None,
                 held: dict[str, tuple[str, str, str]],
                 owners: list[dict[str, CardOwner]]) -> tuple[InputError, str] | None:
        """Why ``item`` is skipped and how it counts (a duplicate, or refused: its slug is
        another tool's), or None."""
        card = item.card
        first = ((same_window.card.identity, same_window.source,
                  same_window.card.model_dump_json()) if same_window else held.get(card.slug))
        if first is not None and first[0] == card.identity:
            return InputError(item.source, f"duplicate tool '{card.name}' (same tool as "
                              f"{first[1]}); skipped", field="name"), "duplicate"
        if first is not None:
            return slug_taken(item.source, card.slug, first[1], first[2]), "refused"
        for owned in owners:
            owner = owned.get(card.slug)
            if owner is not None and owner[0] is not None and owner[0] != card.identity:
                return slug_taken(item.source, card.slug, owner[1], owner[2]), "refused"
        return None

    def _skip(self, error: InputError, kind: str) -> None:
        setattr(self.tally, kind, getattr(self.tally, kind) + 1)
        self.log.card(error)

    def _register(self, mine: list[LoadedCard]) -> list[LoadedCard]:
        """Register this shard's cards in one transaction; a slug another process took
        since the window was checked is refused like any other."""
        if self.store is None or not mine:
            return mine
        refused = self.store.register_cards([(c.card.slug, c.card.identity,
                                              c.card.model_dump_json(), c.source) for c in mine])
        lost = {row[0] for row, _ in refused}
        for row, owner in refused:
            self.tally.cards -= 1
            self._skip(slug_refusal(row, owner), "refused")
        return [c for c in mine if c.card.slug not in lost]


def load_batch(inputs: Sequence[str | Path], shard: Shard, store: Store | None = None,
               tally: InputTally | None = None,
               known: Sequence[Store] = ()) -> tuple[list[LoadedCard], list[InputError]]:
    """Every valid card of this shard at once, and every skipped entry's error: for small
    inputs and tests (``run_batch`` streams ``CardWindows`` instead)."""
    log = SkipLog(Path(os.devnull), shown=sys.maxsize)
    windows = CardWindows(inputs, shard, store, tally or InputTally(), log, known)
    cards = [c for window in windows.windows() for c in window]
    return cards, log.card_errors


def run_batch(inputs: Sequence[str | Path], output: Path = Path("outputs"),
              model: str | None = None, personas: list[str] | None = None,
              force: bool = False, shard: Shard | None = None,
              backend: Backend | None = None, progress: Progress | None = None,
              root: Path | None = None, dtype: str | None = None,
              window: int | None = None, samples: SamplesChoice = None) -> BatchSummary:
    """Review every valid card of the input (this shard's part), resuming from the store,
    a window of cards at a time; ``dtype`` overrides the model's (``--dtype``), ``samples``
    panel.yaml's samples per persona."""
    shard = shard or Shard()
    ws = (Workspace(shard.output(output), dtype=dtype) if root is None
          else Workspace(shard.output(output), root, dtype))
    counter = CountingBackend(ws.settings(model).spec, backend)
    try:
        summary = stream_batch(ws, inputs, shard, model, personas, force,
                               LocalWork(ws.settings(model), counter, ws.store), progress,
                               window or WINDOW, known=main_stores(output, shard),
                               samples=samples_policy(samples, ws.config.samples))
    finally:
        ws.store.close()
    summary.requests = counter.requests
    return summary


def stream_batch(ws: Workspace, inputs: Sequence[str | Path], shard: Shard,
                 model: str | None, personas: list[str] | None, force: bool, work: Work,
                 progress: Progress | None, window: int = WINDOW,
                 known: Sequence[Store] = (), samples: Samples | None = None) -> BatchSummary:
    """The batch loop, wherever the reviews are made (``work``: this machine, Ray): read a
    window, review it, store it, write its keys; then the manifest. Closes ``work`` and
    ``known``."""
    started, stem = time.perf_counter(), run_stem(ws, model)
    folder = ws.output / "runs"
    log, tally = SkipLog(folder / f"{stem}.skipped.jsonl"), InputTally()
    session = Session(ws, model, personas, force, samples or Samples(), work=work,
                      progress=progress, expected=estimate_entries(inputs) // shard.count)
    session.on_failed, session.on_unavailable = log.failure, log.lost
    cards, keys = 0, folder / f"{stem}.keys"
    folder.mkdir(parents=True, exist_ok=True)
    try:
        with keys.open("w", encoding="utf-8") as out:
            for loaded in CardWindows(inputs, shard, ws.store, tally, log, known).windows(window):
                out.writelines(f"{key}\n" for key in session.review([c.card for c in loaded]))
                cards += len(loaded)
    finally:
        session.close()
        log.close()
        for store in known:
            store.close()
    summary = BatchSummary(session.counts, cards, log, shard=shard, output=ws.output,
                           tally=tally, seconds=round(time.perf_counter() - started, 2),
                           keys=keys, usage=session.usage)
    summary.manifest = write_batch_manifest(ws, model, summary, stem)
    return summary


def write_batch_manifest(ws: Workspace, model: str | None, summary: BatchSummary,
                         stem: str) -> Path:
    """The run's manifest: counts, the input's accounting, and the files beside it."""
    c, tally = summary.counts, summary.tally
    counts = {"reviews": c.reviews, "reviewed": c.reviewed, "reused": c.reused,
              "by_other_run": c.by_other, "failed": c.failed, "needs_editor": c.needs_editor,
              "card_errors": summary.log.counts["skipped"], "unavailable": c.unavailable}
    return write_run_file(ws, model, {
        "counts": counts, "cards": summary.cards, "seconds": summary.seconds,
        "cost": summary.usage.record(ws.settings(model).spec.cost),
        "input": tally.describe() if tally else None,
        "keys_file": summary.keys.name if summary.keys else None,
        "skipped_file": summary.log.path.name if summary.log.path.is_file() else None,
    }, stem)


def main_stores(output: Path, shard: Shard) -> list[Store]:
    """The stores a shard's cards must not take slugs from: a shard writes its own store,
    and the main one (if any) still owns its slugs."""
    main = output / Store.FILENAME
    return [Store(output)] if shard.count > 1 and main.is_file() else []


def merge(sources: Sequence[Path], output: Path) -> tuple[int, int]:
    """Fold shard stores into ``output``'s store; return (stores merged, reviews added).

    Each source is merged in one transaction, so an interrupted merge leaves every
    review either absent or whole, and merging again is harmless.
    """
    found = _store_folders(sources, output)
    if not found:
        where = ", ".join(map(str, sources or [output / "shards"]))
        raise PanelError(f"no shard stores to merge: no panel.sqlite3 in {where}")
    ws = Workspace(output)
    added = sum(ws.store.merge(folder / ws.store.FILENAME) for folder in found)
    _rewrite_panels(ws)
    return len(found), added


def _store_folders(sources: Sequence[Path], output: Path) -> list[Path]:
    """Folders holding a store: each source itself, or its ``shards/*`` children."""
    out: list[Path] = []
    for src in sources or [output / "shards"]:
        candidates = [src] if (src / "panel.sqlite3").is_file() else sorted(src.glob("*"))
        out += [c for c in candidates
                if (c / "panel.sqlite3").is_file() and c.resolve() != output.resolve()]
    return out


def _rewrite_panels(ws: Workspace) -> None:
    """Panel files for every tool and model in the merged store whose content changed."""
    write_tool_panels(ws, ws.store.tool_models())
