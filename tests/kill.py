"""Kill a running `panel batch` part-way with SIGKILL, for the resume tests.

Each child dies with the test process (``_dies_with``, as `panel serve`'s server does): a test
session killed mid-test left the real-engine batch running on until it finished."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from panel.backends.vllm.server import _dies_with


def stored_reviews(db: Path) -> int:
    """Rows in the store, or 0 while it does not exist yet."""
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM reviews").fetchone()[0])
    except sqlite3.Error:
        return 0


def kill_part_way(cmd: Sequence[str], db: Path, at_least: int, total: int,
                  env: Mapping[str, str], timeout_s: float) -> int:
    """Start ``cmd``, SIGKILL it once ``at_least`` reviews are stored, and return how many
    were. Checks that the kill landed part-way and left the store intact."""
    proc = subprocess.Popen(list(cmd), env=dict(env), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, preexec_fn=_dies_with(os.getpid()))
    deadline = time.monotonic() + timeout_s
    while stored_reviews(db) < at_least and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    stored = stored_reviews(db)
    assert proc.returncode == -signal.SIGKILL
    assert at_least <= stored < total, "the kill must land part-way through the batch"
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    return stored


def kill_when(cmd: Sequence[str], ready: Callable[[], bool], env: Mapping[str, str],
              timeout_s: float) -> int | None:
    """Start ``cmd`` and SIGKILL it the moment ``ready()`` holds; return its exit code
    (``-SIGKILL`` when the kill landed, the code it exited with if it finished first)."""
    proc = subprocess.Popen(list(cmd), env=dict(env), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, preexec_fn=_dies_with(os.getpid()))
    deadline = time.monotonic() + timeout_s
    while proc.poll() is None and not ready() and time.monotonic() < deadline:
        time.sleep(0.002)
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    _, err = proc.communicate()
    assert proc.returncode in (0, -signal.SIGKILL), err.decode(errors="replace")
    return proc.returncode
