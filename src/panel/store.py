"""The result store: SQLite, one row per review, keyed by the hash of its inputs.

Why SQLite (stdlib) rather than append-only JSONL: each review is committed in its own
transaction under WAL journaling, so a SIGKILL at any moment loses at most the requests in
flight and never leaves a half-written row; readers (the site, the web app) see a
consistent store while a batch writes; and "latest review of tool X by persona Y" and the
editor's overrides are indexed queries, not scans of an ever-growing file.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from panel.cards import ToolCard, slug_taken
from panel.migrate import migrate_cards, needs_migration
from panel.records import Edit, ReviewRecord

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
CREATE INDEX IF NOT EXISTS reviews_tool ON reviews (tool, model, persona);
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
"""


class Store:
    """Reviews, the cards they review, and editor edits, in ``DIR/panel.sqlite3``."""

    FILENAME = "panel.sqlite3"

    def __init__(self, folder: Path):
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / self.FILENAME
        self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None,
                                   check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self._migrate_cards()

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One atomic transaction: all of it lands, or none of it."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def put(self, record: ReviewRecord) -> bool:
        """Store a review, replacing any earlier one with the same key (a --force re-run),
        unless an editor's edit pins that key: an edited or approved review is never
        overwritten. Returns whether the row was written."""
        if record.key in self.pinned_keys():
            return False
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO reviews VALUES (?,?,?,?,?,?,?,?)",
                       (record.key, record.tool, record.persona, record.model, record.sample,
                        record.status, record.created_at,
                        record.model_dump_json(exclude={"edit"})))
        return True

    def put_card(self, tool: str, card_json: str, source: str | None = None) -> None:
        """Remember the card a tool's reviews were made from (pages need it); refused
        (InputError) when the slug belongs to another tool (see ``register_card``)."""
        card = ToolCard.model_validate_json(card_json)
        self.register_card(tool, card.identity, card_json, source)

    def _migrate_cards(self) -> None:
        """Stores from before tool identities gain ``identity``/``source`` (see migrate)."""
        if needs_migration(self._db):
            with self._tx() as db:
                migrate_cards(db)

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
        with self._tx() as db:
            row = db.execute("SELECT identity, source, card FROM cards WHERE tool=?",
                             (tool,)).fetchone()
            if row is not None and row[0] is not None and row[0] != identity:
                mine = source or f"card '{ToolCard.model_validate_json(card_json).name}'"
                raise slug_taken(mine, tool, row[1], row[2])
            db.execute("INSERT INTO cards (tool, card, identity, source) VALUES (?,?,?,?) "
                       "ON CONFLICT(tool) DO UPDATE SET card=excluded.card, "
                       "identity=excluded.identity, source=coalesce(cards.source, "
                       "excluded.source)", (tool, card_json, identity, source))

    def card_json(self, tool: str) -> str | None:
        row = self._db.execute("SELECT card FROM cards WHERE tool=?", (tool,)).fetchone()
        return row[0] if row else None

    def get(self, key: str) -> ReviewRecord | None:
        """The review with this content key, with any editor edit applied."""
        row = self._db.execute("SELECT record FROM reviews WHERE key=?", (key,)).fetchone()
        return self._with_edit(ReviewRecord.model_validate_json(row[0])) if row else None

    def keys(self, keys: Iterable[str]) -> set[str]:
        """Which of ``keys`` are stored, in one query per 500 keys."""
        keys = list(keys)
        found: set[str] = set()
        for i in range(0, len(keys), 500):
            chunk = keys[i:i + 500]
            marks = ",".join("?" * len(chunk))
            found.update(r[0] for r in self._db.execute(
                f"SELECT key FROM reviews WHERE key IN ({marks})", chunk))
        return found

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

    def merge(self, other: Path) -> int:
        """Copy another store's rows in (one transaction); return the reviews added.

        Same key means same inputs, so an existing row is kept unless it failed and the
        other store has it ok; this store's editor edits win over the other's.
        """
        before = self.count()
        self._db.execute("ATTACH DATABASE ? AS other", (str(other),))
        try:
            with self._tx() as db:
                db.execute("INSERT INTO reviews SELECT * FROM other.reviews WHERE true "
                           "ON CONFLICT(key) DO UPDATE SET status=excluded.status, "
                           "created_at=excluded.created_at, record=excluded.record "
                           "WHERE reviews.status != 'ok' AND excluded.status = 'ok'")
                db.execute("INSERT OR REPLACE INTO cards SELECT * FROM other.cards")
                db.execute("INSERT OR IGNORE INTO edits SELECT * FROM other.edits")
        finally:
            self._db.execute("DETACH DATABASE other")
        return self.count() - before

    def _with_edit(self, record: ReviewRecord) -> ReviewRecord:
        edit = self.get_edit(record.tool, record.persona, record.model)
        return record.model_copy(update={"edit": edit}) if edit else record
