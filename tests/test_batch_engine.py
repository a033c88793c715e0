"""`panel batch` on the real engine: SIGKILL mid-batch, then resume on the same store.

The mock-backend test in test_batch.py pins the orchestration; this one proves it with
vLLM's streaming results, where reviews land in the store one by one as the engine
finishes them and a kill lands while the engine holds the rest in flight.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from panel.backends.base import Backend
from panel.batch import run_batch
from panel.store import Store

from conftest import EMBEDDED, EXAMPLES

pytestmark = pytest.mark.engine
PERSONAS = 4


def stored(db: Path) -> int:
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM reviews").fetchone()[0])
    except sqlite3.Error:
        return 0


def test_sigkill_of_a_real_engine_batch_then_resume(tmp_path: Path, engine: Backend) -> None:
    cards = sorted(EXAMPLES.glob("*.yaml"))
    total = len(cards) * PERSONAS
    out = tmp_path / "out"
    db = out / "panel.sqlite3"
    cmd = [sys.executable, "-m", "panel.cli", "batch", *map(str, cards), "-m", EMBEDDED,
           "-o", str(out)]
    proc = subprocess.Popen(cmd, env=os.environ.copy(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 600
    while stored(db) < 3 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = stored(db)
    assert proc.returncode == -signal.SIGKILL
    assert 3 <= before < total, "the kill must land part-way through the batch"
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    resumed = run_batch(cards, out, EMBEDDED, backend=engine)
    assert (resumed.run.reused, resumed.run.reviewed) == (before, total - before)
    assert resumed.requests >= total - before  # retries may add requests, never fewer
    with Store(out) as store:
        records = store.all()
    pairs = [(r.tool, r.persona) for r in records]
    assert len(records) == total and len(set(pairs)) == total
