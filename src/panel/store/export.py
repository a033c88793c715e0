"""Read-only, streaming reads of a store for export: bounded batches, never every row at once.

``Store``'s readers return lists (what pages and reports need: one tool, one study); an
export of a million-review store cannot hold them. This module opens its own read-only
connection to the same file (``mode=ro``: it can never write, and it reads beside a running
batch under WAL) and yields rows ``batch`` at a time from a server-side cursor, filtered in
SQL, so memory stays bounded by the batch whatever the store holds.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from panel.contract.pairwise import PairRecord
from panel.contract.records import Edit, ReviewRecord
from panel.errors import PanelError
from panel.store.sqlite import Store, StoreError

T = TypeVar("T", bound=BaseModel)
BATCH = 2000
"""Rows per batch: a few MB of records, enough to amortise a Parquet row group."""


@dataclass(frozen=True)
class Filters:
    """Which rows to read: one model, rows created at or after ``since`` (ISO 8601 UTC, as
    the store writes them), and only these review keys (a study's)."""

    model: str | None = None
    since: str | None = None
    keys: frozenset[str] | None = None


@dataclass(frozen=True)
class EditRow:
    """An editor's edit with the review slot it belongs to."""

    tool: str
    persona: str
    model: str
    edit: Edit


def connect(folder: Path) -> sqlite3.Connection:
    """A read-only connection to ``folder``'s store; PanelError when there is none."""
    path = folder / Store.FILENAME
    if not path.is_file():
        raise PanelError(f"no store at {path}: nothing to export (pass the --output the "
                         "reviews were written to)")
    try:
        return sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    except sqlite3.Error as exc:
        raise StoreError(path, exc, "opening it read-only") from None


def _where(filters: Filters, time_column: str) -> tuple[str, list[str]]:
    """SQL conditions and their arguments for the model and since filters."""
    clauses, args = [], []
    if filters.model:
        clauses.append("model = ?")
        args.append(filters.model)
    if filters.since:
        clauses.append(f"{time_column} >= ?")
        args.append(filters.since)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", args


def _batches(db: sqlite3.Connection, sql: str, args: Sequence[object],
             batch: int) -> Iterator[list[tuple[object, ...]]]:
    """The query's rows, ``batch`` at a time, from one cursor."""
    try:
        cursor = db.execute(sql, args)
        while rows := cursor.fetchmany(batch):
            yield rows
    except sqlite3.Error as exc:
        raise PanelError(f"reading the store for export: {exc}") from None


def _keyed(db: sqlite3.Connection, table: str, keys: Iterable[str], where: str,
           args: Sequence[object], batch: int) -> Iterator[list[tuple[object, ...]]]:
    """Rows among ``keys``, 500 keys per query (SQLite's bound-parameter limit)."""
    ordered = sorted(keys)
    join = " AND " if where else " WHERE "
    for i in range(0, len(ordered), 500):
        chunk = ordered[i:i + 500]
        sql = (f"SELECT record FROM {table}{where}{join}key IN ({','.join('?' * len(chunk))}) "
               "ORDER BY rowid")
        yield from _batches(db, sql, [*args, *chunk], batch)


def _records(db: sqlite3.Connection, table: str, filters: Filters,
             batch: int) -> Iterator[list[tuple[object, ...]]]:
    where, args = _where(filters, "created_at")
    if filters.keys is not None:
        return _keyed(db, table, filters.keys, where, args, batch)
    return _batches(db, f"SELECT record FROM {table}{where} ORDER BY rowid", args, batch)


def reviews(db: sqlite3.Connection, filters: Filters,
            batch: int = BATCH) -> Iterator[list[ReviewRecord]]:
    """Stored reviews as the model wrote them (edits are their own table), in store order."""
    for rows in _records(db, "reviews", filters, batch):
        yield [_parse(ReviewRecord, str(r[0]), "reviews") for r in rows]


def keys(db: sqlite3.Connection, filters: Filters,
         batch: int = BATCH) -> Iterator[list[str]]:
    """Review keys only, in store order: what a random draw over every review streams."""
    where, args = _where(filters, "created_at")
    for rows in _batches(db, f"SELECT key FROM reviews{where} ORDER BY rowid", args, batch):
        yield [str(r[0]) for r in rows]


def pairs(db: sqlite3.Connection, filters: Filters,
          batch: int = BATCH) -> Iterator[list[PairRecord]]:
    """Stored head-to-head judgments, in store order (a study filter keeps none: studies
    hold reviews only)."""
    if filters.keys is not None:
        return
    for rows in _records(db, "pair_judgments", filters, batch):
        yield [_parse(PairRecord, str(r[0]), "pair_judgments") for r in rows]


def edits(db: sqlite3.Connection, filters: Filters,
          slots: frozenset[tuple[str, str, str]] | None = None,
          batch: int = BATCH) -> Iterator[list[EditRow]]:
    """Editors' edits (``since`` on the edit's own time); ``slots`` keeps only those of
    these (tool, persona, model) review slots (a study's)."""
    where, args = _where(Filters(model=filters.model), "")
    for rows in _batches(db, f"SELECT tool, persona, model, edit FROM edits{where} "
                         "ORDER BY tool, persona, model", args, batch):
        out = [EditRow(str(t), str(p), str(m), _parse(Edit, str(e), "edits"))
               for t, p, m, e in rows if slots is None or (t, p, m) in slots]
        out = [e for e in out if not filters.since or e.edit.at >= filters.since]
        if out:
            yield out


def _parse(kind: type[T], raw: str, table: str) -> T:
    """One stored JSON row as its model; a row that does not validate names its table."""
    try:
        return kind.model_validate_json(raw)
    except ValidationError as exc:
        raise PanelError(f"store table {table}: a row does not validate as {kind.__name__} "
                         f"({exc.errors()[0]['msg']}); run `panel` on this store once to "
                         "migrate it, or export another store") from None
