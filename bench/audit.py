"""The bias audit on real engines: the six example cards x personas x the local backbones.

Runs `panel audit`'s library on the in-process vLLM engine, one backbone at a time (each
engine closed before the next starts): every card as it is and padded (verbosity), renamed
(name) and with an injected instruction (injection), and the 15 pairs of the six cards
judged head to head in both orders (position). Prints the table, writes bias.json, bias.csv
and bias.svg under OUTPUT/audits/NAME/ and, last, one JSON line of counts and wall time.

Resumable: every review and judgment lands in the audit's store the moment it exists, so
an interrupted run picks up where it stopped, and a finished one only redraws the report.
It takes a while on a CPU (96 reviews and 120 judgments per backbone with 4
personas); ``--biases verbosity,name,injection`` leaves out the head-to-head judgments.

Usage: python bench/audit.py [CARDS...] [--models smollm2-135m,gemma3-270m] [--samples K]
                             [--biases position,verbosity,name,injection] [--personas A,B]
                             [--output outputs/bench-audit] [--name NAME]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from panel.cli.tables import audit_table
from panel.config.workspace import Workspace
from panel.pipeline.run import Progress
from panel.research.audit import audit_folder, audit_from_options, run_audit, write_audit


def _progress(label: str) -> Progress:
    def show(done: int, total: int) -> None:
        print(f"\r{label}: {done}/{total}", end="\n" if done >= total else "", file=sys.stderr,
              flush=True)
    return show


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("cards", nargs="*", default=["examples/tools"])
    ap.add_argument("--models", default="smollm2-135m,gemma3-270m")
    ap.add_argument("--samples", type=int, default=1)
    ap.add_argument("--biases", default=None)
    ap.add_argument("--personas", default=None)
    ap.add_argument("--output", type=Path, default=Path("outputs/bench-audit"))
    ap.add_argument("--name", default="examples")
    args = ap.parse_args()
    ws = Workspace(output=args.output)
    audit = audit_from_options(args.models.split(","), args.cards, args.name,
                               args.personas.split(",") if args.personas else None,
                               args.samples, args.biases.split(",") if args.biases else None)
    t0 = time.perf_counter()
    report = run_audit(ws, audit, progress=_progress)
    wall = round(time.perf_counter() - t0, 1)
    print(audit_table(report))
    for path in write_audit(report, audit_folder(ws, audit.name)):
        print(f"wrote {path}")
    print(json.dumps({"audit": audit.name, "wall_s": wall, "runs": report.runs}))


if __name__ == "__main__":
    main()
