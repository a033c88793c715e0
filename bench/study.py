"""The backbone study on real engines: cards x personas x local backbones, then the report.

Runs every card (default: the six example cards) through each backbone in turn on the
in-process vLLM engine (one engine at a time), then prints the agreement table, writes
agreement.json, the CSVs and the figure under OUTPUT/studies/NAME/, and evaluates each
backbone against the shipped reference verdicts. Reviews already in OUTPUT's store are
reused, so a second run only redraws the report.

Usage: python bench/study.py [CARDS...] [--models smollm2-135m,gemma3-270m] [--samples K]
                             [--output outputs/bench-study] [--name NAME]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from panel.cli.tables import format_eval, format_table, jury_table
from panel.config.workspace import Workspace
from panel.research.agreement import agreement_report
from panel.research.evaluate import evaluate
from panel.research.report import write_report
from panel.research.study import (
    load_manifest,
    run_study,
    study_from_options,
    study_records,
    wall_seconds,
)
from panel.verdict.jury import jury


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("cards", nargs="*", default=["examples/tools"])
    ap.add_argument("--models", default="smollm2-135m,gemma3-270m")
    ap.add_argument("--samples", type=int, default=1)
    ap.add_argument("--output", type=Path, default=Path("outputs/bench-study"))
    ap.add_argument("--name", default=None)
    ap.add_argument("--reference", type=Path, default=Path("examples/reference.jsonl"))
    args = ap.parse_args()
    ws = Workspace(output=args.output)
    study = study_from_options(args.models.split(","), args.cards, args.name,
                               samples=args.samples)
    t0 = time.perf_counter()
    run_study(ws, study)
    wall = round(time.perf_counter() - t0, 1)
    manifest = load_manifest(ws, study.name)
    by_model = study_records(ws, manifest)
    report = agreement_report(study.name, by_model, manifest["personas"], wall_seconds(manifest))
    print(format_table(report))
    for path in write_report(report, ws.output / "studies" / study.name):
        print(f"wrote {path}")
    print()
    print(jury_table(jury(by_model, ws.config.rubric, manifest["personas"]),
                     manifest["personas"]))
    for model in study.models:
        print()
        print(format_eval(evaluate(ws, args.reference, model, study.name)[0]))
    print(json.dumps({"study": study.name, "wall_s": wall,
                      "runs": {m: {k: v for k, v in r.items() if k != "keys" and k != "reproduce"}
                               for m, r in manifest["runs"].items()}}, indent=2))


if __name__ == "__main__":
    main()
