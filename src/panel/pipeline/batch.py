"""Unattended batch reviewing: tolerant loading, shards, resume, a closing summary, merge.

``panel batch`` is ``runner.review_cards`` plus what a nightly job needs: a bad card is
reported (file, line, field) and skipped rather than stopping the run; ``--shard i/n``
lets n machines split one input; the store makes every run a resume (reviews already
stored under the same content key are reused, so an unchanged batch makes no model
calls); and the exit code says whether anything failed.

Shards are chosen by a hash of the card's slug, not its position: adding or removing a
card never moves other cards to another shard, and all persona reviews of one card stay on
one machine. Each shard writes its own store (``OUTPUT/shards/I-of-N/``), because SQLite
must not be written by several machines over a network file system; ``panel merge`` folds
them into ``OUTPUT/`` in one transaction per shard.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from panel.backends import Backend, GenRequest, GenResult, create_backend
from panel.backends.base import OnResult, Settle
from panel.config.registry import ModelSpec
from panel.config.settings import SamplesChoice
from panel.config.workspace import Workspace
from panel.contract.records import ReviewRecord
from panel.errors import InputError, PanelError
from panel.hashing import sha
from panel.inputs.cards import InputTally, LoadedCard, iter_cards, slug_taken
from panel.pipeline.adaptive import review_sampled
from panel.pipeline.run import Progress, RunSummary, write_panels
from panel.store.sqlite import Store
from panel.verdict.samples import editor_queue


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


class CountingBackend(Backend):
    """Starts the real backend on the first request and counts requests sent to it.

    The count is the run's "model calls" (a re-run of an unchanged batch must show 0), and
    starting lazily means a fully stored batch never pays the engine start.
    """

    kind = "counting"

    def __init__(self, spec: ModelSpec, inner: Backend | None = None):
        super().__init__(spec)
        self.inner = inner
        self.owned = inner is None
        self.requests = 0

    def generate(self, requests: Sequence[GenRequest],
                 on_result: OnResult | None = None) -> list[GenResult]:
        self.requests += len(requests)
        return self._started().generate(requests, on_result)

    def stream(self, requests: Sequence[GenRequest], settle: Settle) -> None:
        """The inner backend's own stream (retries join its running batch), counted."""
        def counted(res: GenResult) -> GenRequest | None:
            nxt = settle(res)
            self.requests += nxt is not None
            return nxt

        self.requests += len(requests)
        self._started().stream(requests, counted)

    def _started(self) -> Backend:
        if self.inner is None:
            self.inner = create_backend(self.spec)
        return self.inner

    def versions(self) -> dict[str, str]:
        return self.inner.versions() if self.inner else {}

    def close(self) -> None:
        if self.inner is not None and self.owned:
            self.inner.close()
            self.inner = None


@dataclass
class BatchSummary:
    """A batch's outcome: the run, the input it read, what it skipped, the requests sent."""

    run: RunSummary
    cards: int
    card_errors: list[InputError] = field(default_factory=list)
    requests: int = 0
    shard: Shard = field(default_factory=Shard)
    output: Path = Path("outputs")
    tally: InputTally | None = None
    needs_editor: int = 0
    """Personas still uncertain at the samples cap (``--samples auto``): an editor decides."""

    @property
    def ok(self) -> bool:
        """Nothing skipped, refused or failed (blank lines are not skips)."""
        counted = self.tally is None or self.tally.adds_up
        return (counted and not self.card_errors and not self.run.failed
                and not self.run.unavailable)


def load_batch(inputs: Sequence[str | Path], shard: Shard, store: Store | None = None,
               tally: InputTally | None = None,
               known: Sequence[Store] = ()) -> tuple[list[LoadedCard], list[InputError]]:
    """Valid cards of this shard, and an error for each bad, duplicate or refused entry.

    The same identity twice is a duplicate (the first is kept). A different identity on a
    slug already used, earlier in this input or by ``store`` / ``known`` stores from earlier
    runs, is refused, naming both sources. This shard's cards are registered in ``store``.
    """
    tally = tally if tally is not None else InputTally()
    cards: list[LoadedCard] = []
    errors: list[InputError] = []
    first: dict[str, LoadedCard] = {}
    for item in iter_cards(inputs, tally):
        if isinstance(item, InputError):
            tally.bad += 1
            errors.append(item)
            continue
        card = item.card
        held = first.get(card.slug)
        if held is not None and held.card.identity == card.identity:
            tally.duplicate += 1
            errors.append(InputError(item.source, f"duplicate tool '{card.name}' (same tool "
                                     f"as {held.source}); skipped", field="name"))
            continue
        refusal = (slug_taken(item.source, card.slug, held.source, held.card.model_dump_json())
                   if held is not None else _taken_in(item, [*([store] if store else []),
                                                             *known]))
        if refusal is not None:
            tally.refused += 1
            errors.append(refusal)
            continue
        tally.cards += 1
        first[card.slug] = item
        if shard.holds(card.slug):
            cards.append(item)
            if store is not None:
                store.register_card(card.slug, card.identity, card.model_dump_json(),
                                    item.source)
    return cards, errors


def _taken_in(item: LoadedCard, stores: Sequence[Store]) -> InputError | None:
    """The refusal if a store from an earlier run holds the card's slug for another tool."""
    for store in stores:
        owner = store.card_owner(item.card.slug)
        if owner is not None and owner[0] is not None and owner[0] != item.card.identity:
            return slug_taken(item.source, item.card.slug, owner[1], owner[2])
    return None


def run_batch(inputs: Sequence[str | Path], output: Path = Path("outputs"),
              model: str | None = None, personas: list[str] | None = None,
              force: bool = False, shard: Shard | None = None,
              backend: Backend | None = None, progress: Progress | None = None,
              root: Path | None = None, dtype: str | None = None,
              samples: SamplesChoice = None) -> BatchSummary:
    """Review every valid card of the input (this shard's part), resuming from the store;
    ``dtype`` overrides the model's (``--dtype``), ``samples`` panel.yaml's samples."""
    shard = shard or Shard()
    ws = (Workspace(shard.output(output), dtype=dtype) if root is None
          else Workspace(shard.output(output), root, dtype))
    started = time.perf_counter()
    tally, known = InputTally(), _main_store(output, shard)
    try:
        cards, errors = load_batch(inputs, shard, ws.store, tally, known)
    finally:
        for store in known:
            store.close()
    counter = CountingBackend(ws.settings(model).spec, backend)
    try:
        run = review_sampled(ws, [c.card for c in cards], model, personas, force, samples,
                             backend=counter, progress=progress)
    finally:
        counter.close()
    run.card_errors = errors
    run.seconds = round(time.perf_counter() - started, 2)
    queue = editor_queue(run.records, ws.config.rubric, ws.config.samples)
    return BatchSummary(run, len(cards), errors, counter.requests, shard, ws.output, tally,
                        needs_editor=len(queue))


def _main_store(output: Path, shard: Shard) -> list[Store]:
    """A shard writes its own store; the main one (if any) still owns its slugs."""
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
    """Panel files for every tool in the merged store, newest review per persona."""
    by_model: dict[str, list[ReviewRecord]] = {}
    for tool in ws.store.tools():
        for rec in ws.store.latest(tool):
            by_model.setdefault(rec.model, []).append(rec)
    for records in by_model.values():
        write_panels(ws, RunSummary(records))


