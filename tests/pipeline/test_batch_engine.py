"""`panel batch` on the real engine: SIGKILL mid-batch, then resume on the same store.

The mock-backend test in test_batch.py pins the orchestration; this one proves it with
vLLM's streaming results, where reviews land in the store one by one as the engine
finishes them and a kill lands while the engine holds the rest in flight.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from panel.backends.base import Backend
from panel.pipeline.batch import run_batch
from panel.store.sqlite import Store

from conftest import EMBEDDED, EXAMPLES
from kill import kill_part_way

pytestmark = [pytest.mark.engine, pytest.mark.engine_apart]
PERSONAS = 4


def test_sigkill_of_a_real_engine_batch_then_resume(tmp_path: Path, engine: Backend) -> None:
    cards = sorted(EXAMPLES.glob("*.yaml"))[:3]  # 12 reviews: the kill lands among them
    total = len(cards) * PERSONAS
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "panel.cli", "batch", *map(str, cards), "-m", EMBEDDED,
           "-o", str(out)]
    before = kill_part_way(cmd, out / "panel.sqlite3", 3, total, os.environ, timeout_s=600)

    resumed = run_batch(cards, out, EMBEDDED, backend=engine)
    assert (resumed.counts.reused, resumed.counts.reviewed) == (before, total - before)
    assert resumed.requests == total - before  # every first attempt is valid: no retry
    with Store(out) as store:
        records = store.all()
    pairs = [(r.tool, r.persona) for r in records]
    assert len(records) == total and len(set(pairs)) == total
    assert all(r.ok for r in records), [r.failure for r in records if not r.ok]
    assert {a.finish_reason for r in records for a in r.attempts} == {"stop"}
