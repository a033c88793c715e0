"""Run one fixed 8-request batch (2 cards x 4 personas) on a fresh in-process engine and print
every attempt.

The run that tests/research/test_verify_engine.py has `panel verify` re-run in another
process: a fresh engine each time is what "the same engine and batch" means on CPU (see
tests/pipeline/test_reproducibility.py's docstring). Eight requests of
different lengths share every engine step, which is what could make a batch's results
depend on more than each request's own seed; a bigger batch adds time, not proof.

``reproduce_batch.py OUT [CPUS]``: with CPUS (e.g. ``1`` or ``2,3``) the process and the
engine's threads stay on those CPUs, so two runs can share a machine without slowing each
other. The thread count is part of what a run's numbers depend on: compare runs on equally
many CPUs.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from panel.config.workspace import Workspace  # panel's modules load neither torch nor vLLM
from panel.inputs.cards import ToolCard, load_cards
from panel.pipeline.run import review_cards

ROOT = Path(__file__).resolve().parents[1]
CARDS = ("diffsage.yaml", "voicedesk.yaml")


def batch_cards() -> list[ToolCard]:
    return [c.card for c in load_cards([ROOT / "examples" / "tools" / n for n in CARDS])]


def pin(cpus: str) -> None:
    """Run this process and its engine's OpenMP threads on ``cpus`` only, one thread each.

    The process re-executes itself inside the narrowed affinity: a process started by one
    that ran an engine inherits vLLM's LD_PRELOAD of libgomp, whose thread pool is sized
    when the process starts, and narrowing the affinity only after that left two spinning
    threads on one CPU (measured: six times slower)."""
    wanted = {int(c) for c in cpus.split(",")}
    os.environ["VLLM_CPU_OMP_THREADS_BIND"] = cpus
    if os.sched_getaffinity(0) != wanted:
        os.sched_setaffinity(0, wanted)
        os.execv(sys.executable, [sys.executable, *sys.argv])


if __name__ == "__main__":
    if len(sys.argv) > 2:
        pin(sys.argv[2])
    ws = Workspace(output=Path(sys.argv[1]))  # the project: PANEL_HOME, the test's
    summary = review_cards(ws, batch_cards(), "smollm2-135m")
    print(json.dumps([{"key": r.key, "status": r.status, "score": r.score,
                       "attempts": [[a.seed, a.finish_reason, a.text] for a in r.attempts]}
                      for r in summary.records]))
