"""Naive vs card-clustered intervals on the same real reviews (k samples per card x persona).

Runs a study on one backbone (default: the embedded model, the six example cards, the
four personas, k = 3 samples) and prints, for the same statistics, the naive interval that
treats every review as independent (Student's t for the mean score, Wilson for the ship
share) beside the interval clustered on cards (CR1 standard error, t on C - 1 degrees of
freedom) that the audit and study reports carry, and the width ratio clustered / naive.

Why this bench: the k samples and the four personas of one card share that card, so the
n reviews are not n independent observations; the ratio is how much the naive interval
overstates the precision on real model output (the ratio holds both the card correlation
and the fewer degrees of freedom, t(C - 1) for t(n - 1) or z, that come with it). Reviews
already in OUTPUT's store are reused, so a second run only recomputes the table.

Usage: python bench/clustered.py [CARDS...] [--model smollm2-135m] [--samples 3]
                                 [--output outputs/bench-clustered] [--name NAME]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from panel.config.workspace import Workspace
from panel.contract.records import ReviewRecord
from panel.research.cluster import Interval, cluster_mean, cluster_share
from panel.research.stats import Estimate, mean_interval, share_interval
from panel.research.study import load_manifest, run_study, study_from_options, study_records


def _width(low: float | None, high: float | None) -> float | None:
    return None if low is None or high is None else high - low


def _row(name: str, naive: Estimate, clustered: Interval) -> str:
    """One statistic: estimate, both intervals and clustered width / naive width."""
    wn, wc = _width(naive.ci_low, naive.ci_high), _width(clustered.ci_low, clustered.ci_high)
    ratio = f"{wc / wn:.2f}" if wn and wc is not None else "-"

    def ci(low: float | None, high: float | None) -> str:
        return "-" if low is None or high is None else f"[{low:6.2f}, {high:6.2f}]"

    est = "-" if naive.estimate is None else f"{naive.estimate:6.2f}"
    return (f"{name:<22} {est:>7} {naive.n:>4} {clustered.clusters:>3}  "
            f"{ci(naive.ci_low, naive.ci_high):<18} "
            f"{ci(clustered.ci_low, clustered.ci_high):<18} {ratio:>6}")


def table(records: list[ReviewRecord]) -> list[str]:
    """The rows for the mean score and the ship share, overall and per persona."""
    ok = [r for r in records if r.status == "ok" and r.output is not None]
    groups = {"all personas": ok} | {
        p: [r for r in ok if r.persona == p] for p in sorted({r.persona for r in ok})}
    lines = [f"{'statistic':<22} {'est':>7} {'n':>4} {'C':>3}  {'naive 95%':<18} "
             f"{'clustered 95%':<18} {'ratio':>6}"]
    for label, rows in groups.items():
        scores = [float(r.output.score) for r in rows if r.output is not None]
        ships = [r.output.verdict == "ship" for r in rows if r.output is not None]
        cards = [r.tool for r in rows]
        lines.append(_row(f"score | {label}", mean_interval(scores), cluster_mean(scores, cards)))
        lines.append(_row(f"ship % | {label}", share_interval(sum(ships), len(ships)),
                          cluster_share(ships, cards)))
    return lines


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("cards", nargs="*", default=["examples/tools"])
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--samples", type=int, default=3)
    ap.add_argument("--output", type=Path, default=Path("outputs/bench-clustered"))
    ap.add_argument("--name", default=None)
    args = ap.parse_args()
    ws = Workspace(output=args.output)
    study = study_from_options([args.model], args.cards, args.name, samples=args.samples)
    t0 = time.perf_counter()
    run_study(ws, study)
    wall = round(time.perf_counter() - t0, 1)
    records = study_records(ws, load_manifest(ws, study.name))[args.model]
    print(f"{args.model}, k = {args.samples}: naive (every review independent) vs "
          "clustered on cards (CR1, t on C-1 df)")
    print("\n".join(table(records)))
    failed = sum(r.status != "ok" for r in records)
    print(json.dumps({"study": study.name, "model": args.model, "samples": args.samples,
                      "reviews": len(records), "failed": failed, "wall_s": wall}))


if __name__ == "__main__":
    main()
