"""The result store: SQLite, one row per review, keyed by the hash of its inputs.

Why SQLite (stdlib) rather than append-only JSONL: each review is committed in its own
transaction under WAL journaling, so a SIGKILL at any moment loses at most the requests in
flight and never leaves a half-written row; readers (the site, the web app) see a
consistent store while a batch writes; and "latest review of tool X by persona Y" and the
editor's overrides are indexed queries, not scans of an ever-growing file.
"""

from __future__ import annotations

import hashlib
import os
import socket
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from itertools import islice
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from panel.contract.pairwise import PairRecord
from panel.contract.records import Edit, ReviewRecord
from panel.errors import InputError, PanelError
from panel.inputs.cards import ToolCard, slug_taken
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
_BY_KEY = "reviews INDEXED BY reviews_key_status"
"""Key and status from the covering index (the planner would take the key's own unique
index and read every row)."""
CACHE_KIB = 32768
"""SQLite's page cache per connection (32 MiB; its default is 2): a batch's set-based
lookups land all over a large store's indexes."""
LEASE_S = 600.0
"""How long a claim on a review key holds without renewal (a live run renews it)."""


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


class _Connection:
    """A SQLite connection whose errors become ``StoreError`` naming the store file."""

    def __init__(self, path: Path, timeout_s: float):
        self.path = path
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


class Store:
    """Reviews, the cards they review, and editor edits, in ``DIR/panel.sqlite3``."""

    FILENAME = "panel.sqlite3"
    TIMEOUT_S = 30.0
    """How long a write waits for another process's transaction before "locked"."""

    def __init__(self, folder: Path):
        self.path = folder / self.FILENAME
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise PanelError(f"store {self.path}: cannot create its folder ({exc.strerror}); "
                             "check the path and your permissions, or pass another "
                             "--output") from None
        self._db = _Connection(self.path, self.TIMEOUT_S)
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
            self._db.executescript(SCHEMA)
            self._migrate_cards()
        except StoreError:
            self._db.close()
            raise

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[_Connection]:
        """One atomic transaction: all of it lands, or none of it."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def put(self, record: ReviewRecord, owner: str | None = None) -> bool:
        """Store a review, replacing any earlier one with the same key (a --force re-run,
        a retry of a failed one), unless an editor's edit pins that key: an edited or
        approved review is never overwritten. ``owner``'s lease on the key is released in
        the same transaction. Returns whether the row was written."""
        with self._tx() as db:
            written = db.execute(_PUT_SQL, _put_args(record)).rowcount
            if owner:
                db.execute("DELETE FROM leases WHERE key=? AND owner=?", (record.key, owner))
        return written > 0

    def put_many(self, records: Sequence[ReviewRecord]) -> None:
        """``put`` for many reviews in one transaction (a batch's records again, with their
        share of its engine time); an edit-pinned key is still never overwritten."""
        with self._tx() as db:
            db.executemany(_PUT_SQL, [_put_args(r) for r in records])

    def put_card(self, tool: str, card_json: str, source: str | None = None) -> None:
        """Remember the card a tool's reviews were made from (pages need it); refused
        (InputError) when the slug belongs to another tool (see ``register_card``)."""
        card = ToolCard.model_validate_json(card_json)
        self.register_card(tool, card.identity, card_json, source)

    def _migrate_cards(self) -> None:
        """Stores from before tool identities gain ``identity``/``source`` (see migrate)."""
        try:
            if needs_migration(self._db.raw):
                with self._tx():
                    migrate_cards(self._db.raw)  # the same connection, inside the transaction
        except sqlite3.Error as exc:
            raise StoreError(self.path, exc, "migrating its cards table") from None

    def card_owner(self, tool: str) -> tuple[str | None, str | None, str] | None:
        """(identity, source file, card JSON) of the tool holding this slug, if any."""
        row = self._db.execute("SELECT identity, source, card FROM cards WHERE tool=?",
                               (tool,)).fetchone()
        return (row[0], row[1], row[2]) if row else None

    def register_card(self, tool: str, identity: str, card_json: str,
                      source: str | None = None) -> None:
        """Record that slug ``tool`` is ``identity``'s, read from ``source``. A slug held by
        another identity is never shared: InputError naming the stored card's source, and
        nothing is written (check and write are one transaction)."""
        self.register_cards([(tool, identity, card_json, source)], strict=True)

    def card_owners(self, tools: Iterable[str],
                    db: _Connection | None = None) -> dict[str, CardOwner]:
        """``card_owner`` of every stored slug among ``tools``, by sets of 500."""
        return {t: (i, src, c) for t, i, src, c in
                self._select_keys(tools, "tool, identity, source, card", "cards", "tool", db)}

    def register_cards(self, cards: Sequence[CardRow],
                       strict: bool = False) -> list[tuple[CardRow, CardOwner]]:
        """``register_card`` for many cards in one transaction: a card whose slug another
        identity holds is not written, and comes back with that holder for the caller to
        report (``strict``: the first such card raises its InputError and nothing is
        written); an unchanged row is not rewritten (a resumed batch writes no card)."""
        refused: list[tuple[CardRow, CardOwner]] = []
        with self._tx() as db:
            owners = self.card_owners((c[0] for c in cards), db)
            fresh = []
            for row in cards:
                held = owners.get(row[0])
                if held is not None and held[0] is not None and held[0] != row[1]:
                    if strict:
                        raise slug_refusal(row, held)
                    refused.append((row, held))
                elif (held is None or held[0] != row[1] or held[2] != row[2]
                      or (held[1] is None and row[3] is not None)):
                    fresh.append(row)
                    owners[row[0]] = (row[1], row[3], row[2])
            db.executemany("INSERT INTO cards (tool, identity, card, source) VALUES (?,?,?,?) "
                           "ON CONFLICT(tool) DO UPDATE SET card=excluded.card, "
                           "identity=excluded.identity, source=coalesce(cards.source, "
                           "excluded.source)", fresh)
        return refused

    def statuses(self, keys: Iterable[str]) -> dict[str, str]:
        """The status of each stored review among ``keys``."""
        return dict(self._select_keys(keys, "key, status", _BY_KEY))

    def get_many(self, keys: Iterable[str]) -> Iterator[ReviewRecord]:
        """The stored reviews among ``keys`` (with edits), in the order of ``keys``, read
        by sets of 500 (only one set's rows in memory at a time)."""
        it = iter(keys)
        while chunk := list(islice(it, 500)):
            rows = dict(self._select_keys(chunk, "key, record"))
            yield from (self._with_edit(ReviewRecord.model_validate_json(rows[k]))
                        for k in chunk if k in rows)

    def panel_states(self, tools: Sequence[tuple[str, str]]) -> dict[tuple[str, str], str]:
        """For each (tool, model) with a review by that model: a fingerprint of everything
        its panel file shows (the card, every review row's key, status and time, and the
        tool's edits), from two set-based queries, without reading a review's JSON."""
        wanted = set(tools)
        rows: dict[tuple[str, str], list[Any]] = {}
        for tool, model, *rest in self._select_keys(
                {t for t, _ in wanted}, "tool, model, persona, key, status, created_at",
                by="tool"):
            if (tool, model) in wanted:
                rows.setdefault((tool, model), []).append(rest)
        for tool, model, *rest in self._select_keys({t for t, _ in rows},
                                                    "tool, model, persona, edit", "edits", "tool"):
            if (tool, model) in rows:
                rows[(tool, model)].append(["edit", *rest])
        cards = self.card_owners({t for t, _ in rows})
        return {tm: hashlib.sha256(repr((cards.get(tm[0]), sorted(r))).encode()).hexdigest()
                for tm, r in rows.items()}

    def written(self, paths: Iterable[str]) -> dict[str, str]:
        """The input hash each of ``paths`` (relative to the store's folder) was last
        written from (``set_written``)."""
        return dict(self._select_keys(paths, "path, sha", "written", "path"))

    def set_written(self, rows: Sequence[tuple[str, str]]) -> None:
        """Record (path, input hash) of files just written, in one transaction."""
        if rows:
            with self._tx() as db:
                db.executemany("INSERT OR REPLACE INTO written VALUES (?,?)", rows)

    def card_json(self, tool: str) -> str | None:
        row = self._db.execute("SELECT card FROM cards WHERE tool=?", (tool,)).fetchone()
        return row[0] if row else None

    def get(self, key: str) -> ReviewRecord | None:
        """The review with this content key, with any editor edit applied."""
        row = self._db.execute("SELECT record FROM reviews WHERE key=?", (key,)).fetchone()
        return self._with_edit(ReviewRecord.model_validate_json(row[0])) if row else None

    def done_keys(self, keys: Iterable[str]) -> set[str]:
        """Which of ``keys`` need no new request: stored ok, or pinned by an edit (a pinned
        review is never replaced, so re-running it would pay for nothing). A stored failed
        review is not done: a resume retries it."""
        rows = list(self._select_keys(keys, "key, status", _BY_KEY))
        pinned = self.pinned_keys() if any(s != "ok" for _, s in rows) else set()
        return {k for k, s in rows if s == "ok" or k in pinned}

    def review_states(self, keys: Iterable[str]) -> dict[str, str]:
        """A fingerprint of each stored review among ``keys``: it changes when the row is
        rewritten, so a waiting run can tell another run's new result from an old row."""
        return {k: hashlib.sha256(r.encode()).hexdigest()
                for k, r in self._select_keys(keys, "key, record")}

    def _select_keys(self, keys: Iterable[str], columns: str, table: str = "reviews",
                     by: str = "key", db: _Connection | None = None) -> Iterator[tuple[Any, ...]]:
        """``columns`` of the rows of ``table`` whose ``by`` is among ``keys``, in one query
        per 500 keys (SQLite's limit on bound parameters); on ``db`` inside a transaction."""
        keys, db = list(keys), db or self._db
        for i in range(0, len(keys), 500):
            chunk = keys[i:i + 500]
            yield from db.execute(f"SELECT {columns} FROM {table} WHERE {by} IN "
                                  f"({_marks(chunk)})", chunk).fetchall()

    def latest(self, tool: str, model: str | None = None) -> list[ReviewRecord]:
        """The newest review per persona (and model) of a tool, successes first."""
        sql = "SELECT record FROM reviews WHERE tool=?" + (" AND model=?" if model else "")
        sql += " ORDER BY status='ok', created_at, rowid"
        args = (tool, model) if model else (tool,)
        newest: dict[tuple[str, str], ReviewRecord] = {}
        pinned = self.pinned_keys()
        for (raw,) in self._db.execute(sql, args):
            rec = ReviewRecord.model_validate_json(raw)
            held = newest.get((rec.persona, rec.model))
            if held is None or held.key not in pinned:  # an edited review stays the latest
                newest[(rec.persona, rec.model)] = rec
        return [self._with_edit(r) for r in newest.values()]

    def reviews(self, tool: str, model: str | None = None) -> list[ReviewRecord]:
        """Every stored review of one tool (all samples, with edits), oldest first."""
        sql = "SELECT record FROM reviews WHERE tool=?" + (" AND model=?" if model else "")
        rows = self._db.execute(sql + " ORDER BY created_at, rowid",
                                (tool, model) if model else (tool,))
        return [self._with_edit(ReviewRecord.model_validate_json(r[0])) for r in rows]

    def all(self, model: str | None = None) -> list[ReviewRecord]:
        """Every stored review (with edits), oldest first."""
        sql = "SELECT record FROM reviews" + (" WHERE model=?" if model else "")
        rows = self._db.execute(sql + " ORDER BY created_at, rowid", (model,) if model else ())
        return [self._with_edit(ReviewRecord.model_validate_json(r[0])) for r in rows]

    def tool_models(self, page: int = 500) -> Iterator[tuple[str, str]]:
        """Every (tool, model) with a review, in order, read a page at a time (the index on
        tool and model; no cursor stays open between pages)."""
        after: tuple[str, str] = ("", "")
        while rows := self._db.execute(
                "SELECT DISTINCT tool, model FROM reviews WHERE (tool, model) > (?, ?) "
                "ORDER BY tool, model LIMIT ?", (*after, page)).fetchall():
            yield from rows
            after = rows[-1]

    def tools(self) -> list[str]:
        """Slugs of every tool with at least one review."""
        return [r[0] for r in self._db.execute("SELECT DISTINCT tool FROM reviews ORDER BY tool")]

    def count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM reviews").fetchone()[0])

    def set_edit(self, tool: str, persona: str, model: str, edit: Edit) -> None:
        """Record an editor's edit; it outlives every re-run of that review."""
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO edits VALUES (?,?,?,?)",
                       (tool, persona, model, edit.model_dump_json()))

    def delete_edit(self, tool: str, persona: str, model: str) -> bool:
        """Drop an editor's edit (the review becomes a draft again); True if one existed."""
        with self._tx() as db:
            cur = db.execute("DELETE FROM edits WHERE tool=? AND persona=? AND model=?",
                             (tool, persona, model))
        return cur.rowcount > 0

    def pinned_keys(self) -> set[str]:
        """Review keys an edit was made on: re-runs neither replace nor supersede them."""
        keys = (Edit.model_validate_json(r[0]).key
                for r in self._db.execute("SELECT edit FROM edits"))
        return {k for k in keys if k}

    def get_edit(self, tool: str, persona: str, model: str) -> Edit | None:
        row = self._db.execute("SELECT edit FROM edits WHERE tool=? AND persona=? AND model=?",
                               (tool, persona, model)).fetchone()
        return Edit.model_validate_json(row[0]) if row else None

    # Leases: a run claims the keys it is about to generate, so a second run on the same
    # store waits for them instead of paying for the same requests again.

    def claim(self, keys: Iterable[str], owner: str, ttl_s: float = LEASE_S,
              skip_done: bool = True) -> set[str]:
        """Claim ``keys`` for ``owner`` in one IMMEDIATE transaction; return those claimed.

        A key is claimed when it has no lease, its lease expired, its holder is a dead
        process on this host, or ``owner`` holds it already. With ``skip_done``, keys that
        another run stored ok (or an edit pins) since the caller looked are not claimed.
        """
        keys = list(keys)
        host, pid, now = socket.gethostname(), os.getpid(), time.time()
        with self._tx() as db:
            done = self.done_keys(keys) if skip_done else set()
            held = self._held_by_others(db, keys, owner, now)
            claimed = {k for k in keys if k not in done and k not in held}
            db.executemany("INSERT OR REPLACE INTO leases VALUES (?,?,?,?,?)",
                           ((k, owner, host, pid, now + ttl_s) for k in claimed))
        return claimed

    def held_by_others(self, keys: Iterable[str], owner: str) -> set[str]:
        """Which of ``keys`` another live run holds a lease on right now."""
        return self._held_by_others(self._db, keys, owner, time.time())

    def _held_by_others(self, db: _Connection, keys: Iterable[str], owner: str,
                        now: float) -> set[str]:
        rows = self._select_keys(keys, "key, owner, host, pid, expires_at", "leases", db=db)
        return {r[0] for r in rows if r[1] != owner and not lapsed(r[2], r[3], r[4], now)}

    def renew(self, owner: str, ttl_s: float = LEASE_S) -> None:
        """Push ``owner``'s leases ``ttl_s`` into the future (a heartbeat). Uses its own
        short connection, so a timer thread can call it while the run's connection is busy."""
        try:
            with sqlite3.connect(self.path, timeout=30) as db:
                db.execute("UPDATE leases SET expires_at=? WHERE owner=?",
                           (time.time() + ttl_s, owner))
            db.close()
        except sqlite3.Error as exc:
            raise StoreError(self.path, exc, "renewing leases") from None

    def release(self, owner: str) -> None:
        """Drop every lease ``owner`` still holds (the end of a run, however it ends)."""
        with self._tx() as db:
            db.execute("DELETE FROM leases WHERE owner=?", (owner,))

    def merge(self, other: Path) -> int:
        """Copy another store's rows in (one transaction); return the reviews added.

        Every row of the shard is validated before anything is written, and the shard is
        applied in one transaction: a bad row (or an unreadable shard) raises a PanelError
        naming the shard, table, row and reason, and this store is left unchanged. Same key
        means same inputs, so an existing row is kept unless it failed and the other store
        has it ok; this store's editor edits win over the other's.
        """
        if not other.is_file():
            raise PanelError(f"shard {other}: no such file; nothing merged")
        before = self.count()
        try:
            self._db.execute("ATTACH DATABASE ? AS other", (str(other),))
        except StoreError as exc:
            raise PanelError(f"shard {other}: {exc.cause}; nothing merged") from None
        try:
            with self._tx() as db:
                try:
                    self._merge_rows(db, other)
                except StoreError as exc:
                    raise PanelError(f"shard {other}: {exc.cause}; not a readable panel store, "
                                     "nothing merged (the main store is unchanged)") from None
        finally:
            self._db.execute("DETACH DATABASE other")
        return self.count() - before

    def _merge_rows(self, db: _Connection, other: Path) -> None:
        """Every row of the attached shard, validated and written a page at a time inside
        the caller's transaction: memory is one page, whatever the shard's size, and a bad
        row anywhere raises before the transaction commits."""
        tables = {r[0] for r in db.execute("SELECT name FROM other.sqlite_master "
                                           "WHERE type='table'")}
        missing = {"reviews", "cards", "edits"} - tables
        if missing:
            raise PanelError(f"shard {other}: not a panel store (no {', '.join(sorted(missing))} "
                             "table); nothing merged (the main store is unchanged)")
        for rows in _pages(db, f"SELECT {', '.join(REVIEW_COLUMNS)} FROM other.reviews"):
            for row in rows:
                _refuse(other, "reviews", row[0], review_problem(row))
            db.executemany(_merge_sql("reviews", REVIEW_COLUMNS), rows)
        if "pair_judgments" in tables:  # none in a shard made before head-to-head judging
            for rows in _pages(db, f"SELECT {', '.join(PAIR_COLUMNS)} FROM other.pair_judgments"):
                for row in rows:
                    _refuse(other, "pair_judgments", row[0], pair_problem(row))
                db.executemany(_merge_sql("pair_judgments", PAIR_COLUMNS), rows)
        for rows in _pages(db, "SELECT tool, card FROM other.cards"):
            for tool, raw in rows:
                _refuse(other, "cards", tool, card_problem(tool, raw))
                self._merge_card(db, other, tool, ToolCard.model_validate_json(raw))
        for rows in _pages(db, "SELECT tool, persona, model, edit FROM other.edits"):
            for row in rows:
                _refuse(other, "edits", "/".join(map(str, row[:3])), edit_problem(row))
            db.executemany("INSERT OR IGNORE INTO edits VALUES (?,?,?,?)", rows)

    @staticmethod
    def _merge_card(db: _Connection, other: Path, tool: str, card: ToolCard) -> None:
        """Take a shard's card unless its slug belongs to another tool here (then the
        whole shard is refused: the transaction rolls back)."""
        row = db.execute("SELECT identity FROM cards WHERE tool=?", (tool,)).fetchone()
        if row is not None and row[0] is not None and row[0] != card.identity:
            _refuse(other, "cards", tool, f"slug '{tool}' is '{row[0]}' in this store but "
                    f"'{card.identity}' in the shard")
        db.execute("INSERT INTO cards (tool, card, identity, source) VALUES (?,?,?,NULL) "
                   "ON CONFLICT(tool) DO UPDATE SET card=excluded.card, "
                   "identity=excluded.identity", (tool, card.model_dump_json(), card.identity))

    def _with_edit(self, record: ReviewRecord) -> ReviewRecord:
        edit = self.get_edit(record.tool, record.persona, record.model)
        return record.model_copy(update={"edit": edit}) if edit else record

    # Head-to-head judgments (issue 13): one row per persona, pair of cards and shown order,
    # keyed like reviews by the hash of every input; read back through PairRecord.

    def put_pair(self, record: PairRecord) -> None:
        """Store a judgment, replacing an earlier one with the same key (a retried failure)."""
        with self._tx() as db:
            db.execute(f"INSERT OR REPLACE INTO pair_judgments VALUES ({_marks(PAIR_COLUMNS)})",
                       _pair_row(record))

    def get_pair(self, key: str) -> PairRecord | None:
        row = self._db.execute("SELECT record FROM pair_judgments WHERE key=?",
                               (key,)).fetchone()
        return PairRecord.model_validate_json(row[0]) if row else None

    def pair_done_keys(self, keys: Iterable[str]) -> set[str]:
        """Which of ``keys`` are stored ok (a stored failed judgment is retried)."""
        return {k for k, s in self._select_keys(keys, "key, status", "pair_judgments")
                if s == "ok"}

    def pair_judgments(self, a: str, b: str, model: str) -> list[PairRecord]:
        """The newest judgment per persona and shown order of tools ``a`` and ``b`` (either
        first), an ok one over a newer failed one, oldest first."""
        rows = self._db.execute(
            "SELECT record FROM pair_judgments WHERE model=? AND ((first=? AND second=?) OR "
            "(first=? AND second=?)) ORDER BY status='ok', created_at, rowid",
            (model, a, b, b, a))
        newest: dict[tuple[str, str], PairRecord] = {}
        for (raw,) in rows:
            rec = PairRecord.model_validate_json(raw)
            newest[(rec.persona, rec.first)] = rec
        return list(newest.values())

    def pair_count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM pair_judgments").fetchone()[0])


_PUT_SQL = ("INSERT OR REPLACE INTO reviews SELECT ?,?,?,?,?,?,?,? WHERE NOT EXISTS "
            "(SELECT 1 FROM edits WHERE tool=? AND persona=? AND model=? AND "
            "json_extract(edit, '$.key')=?)")
"""Store a review unless the edit of its tool, persona and model is pinned to its key."""


def _put_args(record: ReviewRecord) -> tuple[Any, ...]:
    return (record.key, record.tool, record.persona, record.model, record.sample,
            record.status, record.created_at, record.model_dump_json(exclude={"edit"}),
            record.tool, record.persona, record.model, record.key)


def slug_refusal(row: CardRow, held: CardOwner) -> InputError:
    """The error for registering ``row`` on a slug ``held`` by another tool."""
    mine = row[3] or f"card '{ToolCard.model_validate_json(row[2]).name}'"
    return slug_taken(mine, row[0], held[1], held[2])


def lapsed(host: str, pid: int, expires_at: float, now: float) -> bool:
    """Whether a lease no longer holds: expired, or its process on this host is gone."""
    if expires_at < now:
        return True
    return host == socket.gethostname() and not pid_alive(pid)


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists (signal 0 checks without sending anything)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    except (OverflowError, ValueError):
        return False
    return True


Row = tuple[Any, ...]
CardOwner = tuple[str | None, str | None, str]
"""(identity, source file, card JSON) of the tool holding a slug."""
CardRow = tuple[str, str, str, str | None]
"""(slug, identity, card JSON, source file) of a card to register."""


MERGE_PAGE = 1000
"""Rows of a shard validated and copied at a time: a merge's memory, whatever its size."""


def _pages(db: _Connection, sql: str) -> Iterator[list[Row]]:
    """The rows of ``sql``, ``MERGE_PAGE`` at a time, from a cursor of their own: the
    caller may write other tables between pages."""
    cursor = db.execute(sql)
    while rows := cursor.fetchmany(MERGE_PAGE):
        yield rows


def _marks(columns: Sequence[str]) -> str:
    return ",".join("?" * len(columns))


def _merge_sql(table: str, columns: Sequence[str]) -> str:
    """Insert a shard's row; on the same key keep this store's row unless it failed and
    the shard's is ok (same key means same inputs)."""
    return (f"INSERT INTO {table} VALUES ({_marks(columns)}) ON CONFLICT(key) DO UPDATE SET "
            "status=excluded.status, created_at=excluded.created_at, record=excluded.record "
            f"WHERE {table}.status != 'ok' AND excluded.status = 'ok'")


def _pair_row(record: PairRecord) -> Row:
    return (record.key, record.first, record.second, record.persona, record.model,
            record.sample, record.status, record.created_at, record.model_dump_json())


def pair_problem(row: Row) -> str | None:
    """Why a pair_judgments row is not a valid judgment, or None."""
    return _row_problem(row, PairRecord, PAIR_COLUMNS)


def _refuse(path: Path, table: str, key: object, problem: str | None) -> None:
    if problem:
        raise PanelError(f"shard {path}: table {table}, row {key!r}: {problem}; nothing "
                         "merged (the main store is unchanged)")


def review_problem(row: Row) -> str | None:
    """Why a reviews row is not a valid review, or None."""
    return _row_problem(row, ReviewRecord, REVIEW_COLUMNS)


def _row_problem(row: Row, kind: type[ReviewRecord] | type[PairRecord],
                 columns: Sequence[str]) -> str | None:
    """Why a row (``columns``, the record's JSON last) is not a valid record of ``kind``
    whose fields match the row's indexed columns and whose status matches its output."""
    if not isinstance(row[-1], str):
        return f"record is {type(row[-1]).__name__}, not JSON text"
    try:
        rec = kind.model_validate_json(row[-1])
    except ValidationError as exc:
        return f"invalid record: {_first(exc)}"
    for name, value in zip(columns[:-1], row[:-1], strict=True):
        if getattr(rec, name) != value:
            return f"column {name}={value!r} does not match the record's {getattr(rec, name)!r}"
    if rec.ok != (rec.output is not None):
        return f"status '{rec.status}' with{'out' if rec.ok else ''} an output"
    return None


def edit_problem(row: Row) -> str | None:
    """Why an edits row is not a valid edit, or None."""
    if not all(isinstance(v, str) for v in row):
        return "every column must be text"
    try:
        Edit.model_validate_json(row[3])
    except ValidationError as exc:
        return f"invalid edit: {_first(exc)}"
    return None


def card_problem(tool: object, card: object) -> str | None:
    """Why a cards row is not a valid card keyed by a text slug, or None."""
    if not isinstance(tool, str) or not isinstance(card, str):
        return "tool and card must be text"
    try:
        ToolCard.model_validate_json(card)
    except ValidationError as exc:
        return f"invalid card: {_first(exc)}"
    return None


def _first(exc: ValidationError) -> str:
    err = exc.errors()[0]
    return f"{'.'.join(map(str, err['loc'])) or 'record'}: {err['msg']}"
