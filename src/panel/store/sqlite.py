"""The result store: SQLite, one row per review, keyed by the hash of its inputs.

Why SQLite (stdlib) rather than append-only JSONL: each review is committed in its own
transaction under WAL journaling, so a SIGKILL at any moment loses at most the requests in
flight and never leaves a half-written row; readers (the site, the web app) see a
consistent store while a batch writes; and "latest review of tool X by persona Y" and the
editor's overrides are indexed queries, not scans of an ever-growing file.

``Store`` is a façade: each concept lives in its own module as a mixin over one shared
connection (store/connection.py) — reviews, cards, edits, page fingerprints, leases,
head-to-head judgments, shard merging — and the tables in store/schema.py. Callers import
``Store`` (and the few names below) from here.
"""

from __future__ import annotations

from pathlib import Path

from panel.errors import PanelError
from panel.store.cards import CardOwner, CardRow, CardsMixin, slug_refusal
from panel.store.connection import Connection, StoreError
from panel.store.leases import LEASE_S, LeasesMixin
from panel.store.merge import MergeMixin
from panel.store.pages import PagesMixin
from panel.store.pairs import PairsMixin
from panel.store.schema import prepare

__all__ = ["LEASE_S", "CardOwner", "CardRow", "Store", "StoreError", "slug_refusal"]


class Store(LeasesMixin, MergeMixin, PagesMixin, PairsMixin, CardsMixin):
    """Reviews, the cards they review, editor edits, leases and head-to-head judgments,
    in ``DIR/panel.sqlite3``."""

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
        self._db = Connection(self.path, self.TIMEOUT_S)
        try:
            prepare(self._db)
        except StoreError:
            self._db.close()
            raise

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
