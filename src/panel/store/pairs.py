"""Head-to-head judgments (issue 13): one row per persona, pair of cards and shown order,
keyed like reviews by the hash of every input; read back through ``PairRecord``."""

from __future__ import annotations

from collections.abc import Iterable

from panel.contract.pairwise import PairRecord
from panel.store.connection import Row, StoreBase, marks
from panel.store.schema import PAIR_COLUMNS


class PairsMixin(StoreBase):
    """The ``pair_judgments`` table."""

    def put_pair(self, record: PairRecord) -> None:
        """Store a judgment, replacing an earlier one with the same key (a retried failure)."""
        with self._tx() as db:
            db.execute(f"INSERT OR REPLACE INTO pair_judgments VALUES ({marks(PAIR_COLUMNS)})",
                       pair_row(record))

    def get_pair(self, key: str) -> PairRecord | None:
        """The judgment with this content key, or None."""
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
        """How many judgments are stored (every order, sample and status)."""
        return int(self._db.execute("SELECT COUNT(*) FROM pair_judgments").fetchone()[0])


def pair_row(record: PairRecord) -> Row:
    """A judgment as a ``pair_judgments`` row (``PAIR_COLUMNS``)."""
    return (record.key, record.first, record.second, record.persona, record.model,
            record.sample, record.status, record.created_at, record.model_dump_json())
