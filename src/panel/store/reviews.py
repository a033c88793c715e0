"""Reviews: one row per review, keyed by the hash of everything that shaped it.

Each write is its own transaction (a SIGKILL loses at most the requests in flight), and
the questions a batch asks of every key (which are stored ok) are answered from a
covering index, never from the rows that hold each review's JSON.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from typing import Any

from panel.contract.records import ReviewRecord
from panel.store.edits import EditsMixin

BY_KEY = "reviews INDEXED BY reviews_key_status"
"""Key and status from the covering index (the planner would take the key's own unique
index and read every row)."""
PUT_SQL = ("INSERT OR REPLACE INTO reviews SELECT ?,?,?,?,?,?,?,? WHERE NOT EXISTS "
           "(SELECT 1 FROM edits WHERE tool=? AND persona=? AND model=? AND "
           "json_extract(edit, '$.key')=?)")
"""Store a review unless the edit of its tool, persona and model is pinned to its key."""


class ReviewsMixin(EditsMixin):
    """The ``reviews`` table: writing, and every way of reading it back (with edits)."""

    def put(self, record: ReviewRecord, owner: str | None = None) -> bool:
        """Store a review, replacing any earlier one with the same key (a --force re-run,
        a retry of a failed one), unless an editor's edit pins that key: an edited or
        approved review is never overwritten. ``owner``'s lease on the key is released in
        the same transaction. Returns whether the row was written."""
        with self._tx() as db:
            written = db.execute(PUT_SQL, put_args(record)).rowcount
            if owner:
                db.execute("DELETE FROM leases WHERE key=? AND owner=?", (record.key, owner))
        return written > 0

    def put_many(self, records: Sequence[ReviewRecord]) -> None:
        """``put`` for many reviews in one transaction (a batch's records again, with their
        share of its engine time); an edit-pinned key is still never overwritten."""
        with self._tx() as db:
            db.executemany(PUT_SQL, [put_args(r) for r in records])

    def statuses(self, keys: Iterable[str]) -> dict[str, str]:
        """The status of each stored review among ``keys``."""
        return dict(self._select_keys(keys, "key, status", BY_KEY))

    def get_many(self, keys: Iterable[str]) -> Iterator[ReviewRecord]:
        """The stored reviews among ``keys`` (with edits), in the order of ``keys``, read
        by sets of 500 (only one set's rows in memory at a time)."""
        it = iter(keys)
        while chunk := list(islice(it, 500)):
            rows: dict[str, str] = dict(self._select_keys(chunk, "key, record"))
            yield from (self._with_edit(ReviewRecord.model_validate_json(rows[k]))
                        for k in chunk if k in rows)

    def get(self, key: str) -> ReviewRecord | None:
        """The review with this content key, with any editor edit applied."""
        row = self._db.execute("SELECT record FROM reviews WHERE key=?", (key,)).fetchone()
        return self._with_edit(ReviewRecord.model_validate_json(row[0])) if row else None

    def done_keys(self, keys: Iterable[str]) -> set[str]:
        """Which of ``keys`` need no new request: stored ok, or pinned by an edit (a pinned
        review is never replaced, so re-running it would pay for nothing). A stored failed
        review is not done: a resume retries it."""
        rows = list(self._select_keys(keys, "key, status", BY_KEY))
        pinned = self.pinned_keys() if any(s != "ok" for _, s in rows) else set()
        return {k for k, s in rows if s == "ok" or k in pinned}

    def review_states(self, keys: Iterable[str]) -> dict[str, str]:
        """A fingerprint of each stored review among ``keys``: it changes when the row is
        rewritten, so a waiting run can tell another run's new result from an old row."""
        return {k: hashlib.sha256(r.encode()).hexdigest()
                for k, r in self._select_keys(keys, "key, record")}

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
        """How many reviews are stored (every sample and status)."""
        return int(self._db.execute("SELECT COUNT(*) FROM reviews").fetchone()[0])


def put_args(record: ReviewRecord) -> tuple[Any, ...]:
    """``PUT_SQL``'s arguments: the row, then the (tool, persona, model, key) a pinning
    edit would have."""
    return (record.key, record.tool, record.persona, record.model, record.sample,
            record.status, record.created_at, record.model_dump_json(exclude={"edit"}),
            record.tool, record.persona, record.model, record.key)
