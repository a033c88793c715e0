"""Leases: a run claims the keys it is about to generate, so a second run on the same
store waits for them instead of paying for the same requests again.

A lease lapses when it expires or when its holder is a dead process on this host, so a
killed run never blocks the next one for longer than its lease.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import time
from collections.abc import Iterable

from panel.store.connection import Connection, StoreError
from panel.store.reviews import ReviewsMixin

LEASE_S = 600.0
"""How long a claim on a review key holds without renewal (a live run renews it)."""


class LeasesMixin(ReviewsMixin):
    """The ``leases`` table. It builds on reviews: a key stored ok is not claimed."""

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

    def _held_by_others(self, db: Connection, keys: Iterable[str], owner: str,
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
