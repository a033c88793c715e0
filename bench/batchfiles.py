"""The batch-file round trip at scale, on vLLM's own batch runner and the embedded model.

40 cards (examples/tools and generated ones) x 4 personas:

  1. ``panel batch --export`` (vLLM flavour), ``panel models run-batch``, ``--import``:
     every review must be stored valid, with ``finish_reason`` stop;
  2. the same file imported again: nothing new stored;
  3. three lines corrupted (malformed JSON, an invalid review, a 503 error line), into a
     fresh store: each reported by line, and the next round asks for exactly those three;
  4. the lines in reverse order, into a fresh store: the same reviews;
  5. the same plan on the in-process engine (same seeds): validity, and how many texts are
     the same as the runner's.

Run: ``python bench/batchfiles.py`` (writes outputs/bench/batchfiles/roundtrip.json).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

from throughput import make_cards, snapshot

from panel.backends.vllm.batch_runner import run_batch_file
from panel.config.project import project_root
from panel.config.workspace import Workspace
from panel.pipeline.batchfile import (
    export_requests,
    import_results,
    plan_batch,
    record_import,
)
from panel.pipeline.cost import Usage
from panel.pipeline.run import review_cards

EXAMPLES = project_root() / "examples" / "tools"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cards", type=int, default=40)
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--out", type=Path, default=Path("outputs/bench/batchfiles"))
    args = ap.parse_args()
    out = args.out.resolve()
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    generated = make_cards(args.cards - len(list(EXAMPLES.glob("*.yaml"))),
                           out / "generated.jsonl")
    os.environ["PANEL_HOME"] = str(snapshot(out / "project"))
    project_root.cache_clear()
    inputs = [str(EXAMPLES), str(generated)]
    planned = plan_batch(inputs, out / "store", args.model)
    report: dict[str, Any] = {"model": args.model, "reviews": len(planned.jobs),
                              "cpu_count": os.cpu_count()}
    results, figures = round_trip(planned, out)
    report["round_trip"] = figures
    report["reimport"] = reimport(planned, results)
    report["corrupted"] = corrupted(inputs, args.model, results, out)
    report["reversed"] = reversed_order(inputs, args.model, results, out, planned)
    report["in_process"] = in_process(inputs, args.model, out, planned)
    report["load_average_at_end"] = os.getloadavg()
    (out / "roundtrip.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


def round_trip(planned: Any, out: Path) -> tuple[Path, dict[str, Any]]:
    """Export, run on vLLM's batch runner, import: the figures of step 1."""
    ws, rs = planned.ws, planned.settings
    done = export_requests(planned.jobs, ws.store, rs, out / "round0")
    results = out / "results.jsonl"
    run = run_batch_file(rs.spec, done.files[0].path, results)
    t0 = time.perf_counter()
    imported = import_results(planned.jobs, ws.store, rs, [results], out / "round1")
    import_s = time.perf_counter() - t0
    summary = record_import(planned, imported)
    records = [ws.store.get(j.key) for j in planned.jobs]
    usage = Usage.of([r for r in records if r is not None])
    return results, {
        "requests": done.requests, "results": run.lines, "run_batch_wall_s": run.seconds,
        "engine_seconds": run.engine_seconds, "import_s": round(import_s, 2),
        "stored_valid": len(imported.stored), "problems": [str(p) for p in imported.problems],
        "finish_reasons": sorted({a.finish_reason or "" for r in records if r
                                  for a in r.attempts}),
        "next_round": imported.next_round is not None, "manifest": str(summary.manifest),
        "cost": usage.record(rs.spec.cost),
    }


def reimport(planned: Any, results: Path) -> dict[str, Any]:
    """Step 2: the same file again changes nothing."""
    ws = planned.ws
    before = ws.store.review_states(j.key for j in planned.jobs)
    again = import_results(planned.jobs, ws.store, planned.settings, [results],
                           results.parent / "round1-again")
    return {"stored": len(again.stored), "already": again.already,
            "store_unchanged": ws.store.review_states(j.key for j in planned.jobs) == before}


def corrupted(inputs: list[str], model: str, results: Path, out: Path) -> dict[str, Any]:
    """Step 3: three bad lines, each reported; exactly those three asked again."""
    lines = results.read_text().splitlines()
    picks = [3, 70, 150]
    keys = [json.loads(lines[i])["custom_id"].split("#")[0] for i in picks]
    invalid = json.loads(lines[picks[1]])
    invalid["response"]["body"]["choices"][0]["message"]["content"] = '{"score": 101'
    lines[picks[1]] = json.dumps(invalid)
    error = json.loads(lines[picks[2]])
    error["response"] = {"status_code": 503, "request_id": "r", "body": None}
    error["error"] = "engine overloaded"
    lines[picks[2]] = json.dumps(error)
    lines[picks[0]] = lines[picks[0]][:-30]
    path = out / "corrupted.jsonl"
    path.write_text("\n".join(lines) + "\n")
    planned = plan_batch(inputs, out / "store-corrupted", model)
    report = import_results(planned.jobs, planned.ws.store, planned.settings, [path],
                            out / "round1-corrupted")
    asked = ([json.loads(x)["custom_id"] for x in
              report.next_round.files[0].path.read_text().splitlines()]
             if report.next_round else [])
    expected = sorted([f"{keys[0]}#0", f"{keys[1]}#1", f"{keys[2]}#0"])
    return {"stored_valid": len(report.stored), "problems": [str(p) for p in report.problems],
            "failed": report.failed, "next_round": sorted(asked),
            "next_round_is_exactly_the_three": sorted(asked) == expected}


def reversed_order(inputs: list[str], model: str, results: Path, out: Path,
                   first: Any) -> dict[str, Any]:
    """Step 4: the lines backwards, into a fresh store: the same reviews."""
    path = out / "reversed.jsonl"
    path.write_text("\n".join(results.read_text().splitlines()[::-1]) + "\n")
    planned = plan_batch(inputs, out / "store-reversed", model)
    report = import_results(planned.jobs, planned.ws.store, planned.settings, [path],
                            out / "round1-reversed")

    def reviews(ws: Workspace) -> list[Any]:
        recs = (ws.store.get(j.key) for j in planned.jobs)
        return [(r.key, r.output, [(a.seed, a.text) for a in r.attempts]) for r in recs if r]
    return {"stored_valid": len(report.stored),
            "identical_to_forward": reviews(planned.ws) == reviews(first.ws)}


def in_process(inputs: list[str], model: str, out: Path, batch: Any) -> dict[str, Any]:
    """Step 5: the in-process engine on the same plan: validity, and equal texts."""
    planned = plan_batch(inputs, out / "store-live", model)
    cards = list({j.card.slug: j.card for j in planned.jobs}.values())
    t0 = time.perf_counter()
    run = review_cards(planned.ws, cards, model)
    live_s = time.perf_counter() - t0
    live = {r.key: r for r in run.records}
    same = valid = 0
    for job in batch.jobs:
        imported, here = batch.ws.store.get(job.key), live.get(job.key)
        valid += bool(here and here.ok and len(here.attempts) == 1)
        same += bool(imported and here and imported.attempts[0].text == here.attempts[0].text)
    return {"reviews": len(run.records), "valid_first_attempt": valid,
            "failed": len(run.failed), "seconds": round(live_s, 2),
            "same_text_as_batch_runner": same,
            "cost": Usage.of(run.records).record(planned.settings.spec.cost)}


if __name__ == "__main__":
    main()
