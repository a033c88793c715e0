"""The one SQLite connection every part of the store shares, and its errors in words.

Each concept of the store (reviews, cards, edits, leases, head-to-head, merging) is a
mixin over ``StoreBase``: they share one connection, so a transaction opened by one of
them (a claim that asks which keys are done) sees the others' tables consistently.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from panel.errors import PanelError

Row = tuple[Any, ...]


class StoreError(PanelError):
    """A SQLite error, named by store file and said in words a user can act on."""

    def __init__(self, path: Path, exc: sqlite3.Error, doing: str = ""):
        self.path = path
        self.cause = exc
        what = f" while {doing}" if doing else ""
        super().__init__(f"store {path}: {exc}{what}; {advice(exc)}")


def advice(exc: sqlite3.Error) -> str:
    """What a user can do about a SQLite error."""
    text = str(exc).lower()
    if "locked" in text or "busy" in text:
        return ("another process holds the store (a batch, merge or editor); wait for it to "
                "finish or stop it, then retry")
    if "not a database" in text or "malformed" in text or "corrupt" in text:
        return ("the file is not a readable panel store; move it aside (or restore a backup) "
                "and re-run, or pass another --output")
    if "readonly" in text or "unable to open" in text or "permission" in text:
        return ("check that the folder and file exist and are writable by you, "
                "or pass another --output")
    if "full" in text or "disk i/o" in text:
        return "check the disk (free space, errors), then retry"
    return "check the file, or move it aside and re-run with another --output"


class Connection:
    """A SQLite connection whose errors become ``StoreError`` naming the store file."""

    def __init__(self, path: Path, timeout_s: float):
        self.path, self.timeout_s = path, timeout_s
        try:
            self.raw = sqlite3.connect(path, timeout=timeout_s, isolation_level=None,
                                       check_same_thread=False)
        except sqlite3.Error as exc:
            raise StoreError(path, exc, "opening it") from None

    def execute(self, sql: str, args: Sequence[Any] = ()) -> sqlite3.Cursor:
        try:
            return self.raw.execute(sql, args)
        except sqlite3.Error as exc:
            raise StoreError(self.path, exc) from None

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> sqlite3.Cursor:
        try:
            return self.raw.executemany(sql, rows)
        except sqlite3.Error as exc:
            raise StoreError(self.path, exc) from None

    def executescript(self, sql: str) -> sqlite3.Cursor:
        try:
            return self.raw.executescript(sql)
        except sqlite3.Error as exc:
            raise StoreError(self.path, exc) from None

    def close(self) -> None:
        self.raw.close()


@contextmanager
def transaction(db: Connection) -> Iterator[Connection]:
    """One atomic transaction: all of it lands, or none of it."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def marks(columns: Sequence[object]) -> str:
    """One ``?`` per column or key, for a VALUES or IN list."""
    return ",".join("?" * len(columns))


class StoreBase:
    """What every part of the store needs: its file, the shared connection, transactions
    and set-based lookups. ``Store`` (store/sqlite.py) opens the connection."""

    path: Path
    _db: Connection

    def _tx(self) -> AbstractContextManager[Connection]:
        """One atomic transaction on the store's connection (see ``transaction``)."""
        return transaction(self._db)

    def _select_keys(self, keys: Iterable[str], columns: str, table: str = "reviews",
                     by: str = "key", db: Connection | None = None) -> Iterator[Row]:
        """``columns`` of the rows of ``table`` whose ``by`` is among ``keys``, in one query
        per 500 keys (SQLite's limit on bound parameters); on ``db`` inside a transaction."""
        keys, db = list(keys), db or self._db
        for i in range(0, len(keys), 500):
            chunk = keys[i:i + 500]
            yield from db.execute(f"SELECT {columns} FROM {table} WHERE {by} IN "
                                  f"({marks(chunk)})", chunk).fetchall()
