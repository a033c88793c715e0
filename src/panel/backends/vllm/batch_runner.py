"""`panel models run-batch`: vLLM's own batch runner on a registry entry's weights.

A request file from ``panel batch --export`` runs through ``vllm.entrypoints.openai.
run_batch`` (what ``vllm run-batch`` runs) with the same weights, engine settings and
served name as ``panel serve`` (``server.vllm_module_args``), so the user passes no flags,
and on a GPU box the same command runs there. The runner writes its results only at the
end; they go to a temporary file renamed into place, so a killed run leaves no half file
that an import would read as truncated.

Its engine time is the span of its own progress bar (the first "Running batch" line, printed
when every request has been handed to the engine, to the last, printed when the last one is
done): the model's start-up is no review's cost. It is recorded beside the results
(``RESULTS.engine.json``), where an import apportions it over the lines by tokens.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from panel.backends.vllm.server import server_env, stop, vllm_module_args
from panel.errors import InputError, PanelError
from panel.store.files import atomic_write

if TYPE_CHECKING:
    from panel.config.registry import ModelSpec

MODULE = "vllm.entrypoints.openai.run_batch"
PROGRESS = "Running batch"
ENGINE_TIME = ".engine.json"
"""Suffix of the file beside a results file that records the runner's engine seconds."""


@dataclass(frozen=True)
class BatchRun:
    """A finished run: where its results and log are, and how long it took."""

    results: Path
    log: Path
    lines: int
    seconds: float
    engine_seconds: float
    """The runner's progress span; the whole run (start-up too) if it printed none."""


def command(spec: ModelSpec, requests: Path, results: Path) -> list[str]:
    """The batch runner's command line for a registry entry."""
    return [*vllm_module_args(MODULE, spec), "-i", str(requests), "-o", str(results)]


def run_batch_file(spec: ModelSpec, requests: Path, results: Path,
                   log: Path | None = None) -> BatchRun:
    """Run ``requests`` through vLLM's batch runner into ``results`` (never overwritten),
    with the runner's output in ``log`` (default ``RESULTS.log``)."""
    if spec.source is None:
        raise PanelError(f"model '{spec.name}' (backend {spec.backend}) has no weights to "
                         "run a batch on")
    if results.exists():
        raise InputError(str(results), "exists already; give a new results file (nothing "
                         "is overwritten)")
    log = log or results.with_name(results.name + ".log")
    tmp = results.with_name(f".{results.name}.{os.getpid()}.partial")
    started = time.perf_counter()
    try:
        span = _run(command(spec, requests, tmp), log)
        os.replace(tmp, results)
    finally:
        tmp.unlink(missing_ok=True)
    seconds = time.perf_counter() - started
    engine = span if span is not None else seconds
    lines = sum(1 for line in results.read_text(encoding="utf-8").splitlines() if line.strip())
    atomic_write(results.with_name(results.name + ENGINE_TIME), json.dumps({
        "engine_seconds": round(engine, 3), "wall_seconds": round(seconds, 3),
        "lines": lines, "model": spec.name,
        "measured": "progress span" if span is not None else "whole run, start-up included",
    }, indent=2))
    return BatchRun(results, log, lines, round(seconds, 2), round(engine, 2))


def _run(cmd: list[str], log: Path) -> float | None:
    """Run the batch runner, its output to ``log``; the span of its progress lines, if
    any. A failure is a PanelError with the log's tail."""
    log.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env=server_env(), start_new_session=True)
    first = last = None
    try:
        with log.open("wb") as out, proc.stdout or open(os.devnull, "rb") as stream:
            for line in stream:
                out.write(line)
                if PROGRESS.encode() in line:
                    last = time.perf_counter()
                    first = first or last
        code = proc.wait()
    finally:
        stop(proc)  # an interrupted run takes its engine processes with it
    if code != 0:
        tail = log.read_text(encoding="utf-8", errors="replace")[-2000:]
        raise PanelError(f"vLLM's batch runner exited with code {code} (log {log}):\n{tail}")
    return None if first is None or last is None else last - first

