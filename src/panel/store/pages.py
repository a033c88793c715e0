"""What the pages were written from: fingerprints that let a rebuild skip unchanged files.

A site of a million reviews is rebuilt after every batch; comparing a fingerprint of each
panel's rows (from the covering index) with the one its file was last written from
rewrites only the panels that changed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

from panel.store.cards import CardsMixin


class PagesMixin(CardsMixin):
    """The ``written`` table, and the panel fingerprints compared against it."""

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
