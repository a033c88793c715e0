"""Merging a shard: another store's rows copied in, all of them or none.

Shards are how a batch runs on many machines (one store each); merging them must never
leave the main store half-updated or let a bad row in, whatever the shard's size.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from panel.errors import PanelError
from panel.inputs.cards import ToolCard
from panel.store.checks import card_problem, edit_problem, pair_problem, review_problem
from panel.store.connection import Connection, Row, StoreError, marks
from panel.store.reviews import ReviewsMixin
from panel.store.schema import PAIR_COLUMNS, REVIEW_COLUMNS

MERGE_PAGE = 1000
"""Rows of a shard validated and copied at a time: a merge's memory, whatever its size."""


class MergeMixin(ReviewsMixin):
    """``merge``; it counts reviews to say how many a shard added."""

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
                    _merge_rows(db, other)
                except StoreError as exc:
                    raise PanelError(f"shard {other}: {exc.cause}; not a readable panel store, "
                                     "nothing merged (the main store is unchanged)") from None
        finally:
            self._db.execute("DETACH DATABASE other")
        return self.count() - before


def _merge_rows(db: Connection, other: Path) -> None:
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
            _merge_card(db, other, tool, ToolCard.model_validate_json(raw))
    for rows in _pages(db, "SELECT tool, persona, model, edit FROM other.edits"):
        for row in rows:
            _refuse(other, "edits", "/".join(map(str, row[:3])), edit_problem(row))
        db.executemany("INSERT OR IGNORE INTO edits VALUES (?,?,?,?)", rows)


def _merge_card(db: Connection, other: Path, tool: str, card: ToolCard) -> None:
    """Take a shard's card unless its slug belongs to another tool here (then the
    whole shard is refused: the transaction rolls back)."""
    row = db.execute("SELECT identity FROM cards WHERE tool=?", (tool,)).fetchone()
    if row is not None and row[0] is not None and row[0] != card.identity:
        _refuse(other, "cards", tool, f"slug '{tool}' is '{row[0]}' in this store but "
                f"'{card.identity}' in the shard")
    db.execute("INSERT INTO cards (tool, card, identity, source) VALUES (?,?,?,NULL) "
               "ON CONFLICT(tool) DO UPDATE SET card=excluded.card, "
               "identity=excluded.identity", (tool, card.model_dump_json(), card.identity))


def _pages(db: Connection, sql: str) -> Iterator[list[Row]]:
    """The rows of ``sql``, ``MERGE_PAGE`` at a time, from a cursor of their own: the
    caller may write other tables between pages."""
    cursor = db.execute(sql)
    while rows := cursor.fetchmany(MERGE_PAGE):
        yield rows


def _merge_sql(table: str, columns: Sequence[str]) -> str:
    """Insert a shard's row; on the same key keep this store's row unless it failed and
    the shard's is ok (same key means same inputs)."""
    return (f"INSERT INTO {table} VALUES ({marks(columns)}) ON CONFLICT(key) DO UPDATE SET "
            "status=excluded.status, created_at=excluded.created_at, record=excluded.record "
            f"WHERE {table}.status != 'ok' AND excluded.status = 'ok'")


def _refuse(path: Path, table: str, key: object, problem: str | None) -> None:
    """Raise the one error that names the shard, table, row and reason of a bad row."""
    if problem:
        raise PanelError(f"shard {path}: table {table}, row {key!r}: {problem}; nothing "
                         "merged (the main store is unchanged)")
