"""The store's tables and indexes, and bringing an existing file up to them.

Every statement is idempotent (``IF NOT EXISTS``), so opening a store of any earlier
version applies what it lacks; the one change that needs data moved (tool identities on
cards, issue 10) lives in store/migrate.py.
"""

from __future__ import annotations

import sqlite3
import time

from panel.store.connection import Connection, StoreError, transaction
from panel.store.migrate import migrate_cards, needs_migration

SCHEMA = """
CREATE TABLE IF NOT EXISTS reviews (
    key        TEXT PRIMARY KEY,
    tool       TEXT NOT NULL,
    persona    TEXT NOT NULL,
    model      TEXT NOT NULL,
    sample     INTEGER NOT NULL,
    status     TEXT NOT NULL,
    created_at TEXT NOT NULL,
    record     TEXT NOT NULL
);
-- reviews_panel below starts with (tool, model, persona): the older index on just those is
-- dropped, one index fewer to maintain on every write.
DROP INDEX IF EXISTS reviews_tool;
-- Covering indexes for the questions a batch asks of every key and tool (which keys are
-- stored ok; what a panel file's rows are): answered from the index, never from the rows
-- that hold each review's JSON (a million-review store is 2 GB of them).
CREATE INDEX IF NOT EXISTS reviews_key_status ON reviews (key, status);
CREATE INDEX IF NOT EXISTS reviews_panel ON reviews (tool, model, persona, key, status,
                                                      created_at);
CREATE TABLE IF NOT EXISTS cards (
    tool   TEXT PRIMARY KEY,
    card   TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS edits (
    tool    TEXT NOT NULL,
    persona TEXT NOT NULL,
    model   TEXT NOT NULL,
    edit    TEXT NOT NULL,
    PRIMARY KEY (tool, persona, model)
);
CREATE TABLE IF NOT EXISTS leases (
    key        TEXT PRIMARY KEY,
    owner      TEXT NOT NULL,
    host       TEXT NOT NULL,
    pid        INTEGER NOT NULL,
    expires_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS pair_judgments (
    key        TEXT PRIMARY KEY,
    first      TEXT NOT NULL,
    second     TEXT NOT NULL,
    persona    TEXT NOT NULL,
    model      TEXT NOT NULL,
    sample     INTEGER NOT NULL,
    status     TEXT NOT NULL,
    created_at TEXT NOT NULL,
    record     TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS pair_judgments_tools ON pair_judgments (first, second, model);
CREATE TABLE IF NOT EXISTS written (
    path TEXT PRIMARY KEY,
    sha  TEXT NOT NULL
);
"""
REVIEW_COLUMNS = ("key", "tool", "persona", "model", "sample", "status", "created_at", "record")
PAIR_COLUMNS = ("key", "first", "second", "persona", "model", "sample", "status", "created_at",
                "record")
CACHE_KIB = 32768
"""SQLite's page cache per connection (32 MiB; its default is 2): a batch's set-based
lookups land all over a large store's indexes."""


def use_wal(db: Connection) -> None:
    """Put the file in WAL mode, once (the mode is kept in the file). Switching needs the
    file to itself, and SQLite answers "locked" at once, without its busy wait, while another
    process opens the same new store: two runs started together on a fresh ``-o`` failed
    so. Retried here for as long as a write would wait (the connection's timeout)."""
    deadline = time.monotonic() + db.timeout_s
    while True:
        try:
            if db.raw.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                db.raw.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.Error as exc:  # not a database, unreadable, ...: one clear line
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise StoreError(db.path, exc) from None
            time.sleep(0.02)


def prepare(db: Connection) -> None:
    """Set the connection up (WAL, so readers never block a writing batch; a larger page
    cache) and bring the file up to ``SCHEMA``, migrating old cards in one transaction."""
    use_wal(db)
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
    db.executescript(SCHEMA)
    try:
        if needs_migration(db.raw):
            with transaction(db):
                migrate_cards(db.raw)  # the same connection, inside the transaction
    except sqlite3.Error as exc:
        raise StoreError(db.path, exc, "migrating its cards table") from None
