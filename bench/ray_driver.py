"""The Ray driver's ceiling: how many reviews a second the driver can plan, claim and
store while mock actors make them, and whether its memory stays flat as the batch grows.

In a Ray batch the actors do the model's work (and validate each reply); the driver plans
keys, claims them, receives each record and stores it, and writes the panel files. With
the ``mock`` backend the actors answer at once, so the driver is the bottleneck, which is
what this measures: for each size, in a fresh process (so peak RSS is that size's own),
``panel batch --ray local -m mock``'s wall seconds, the driver's CPU seconds (its own,
not the actors'), reviews a second, the driver's CPU per review and the ceiling that
implies (reviews a second one driver core can store), and the driver's peak RSS.

Run: ``python bench/ray_driver.py`` (2,000 and 8,000 cards: 8,000 and 32,000 reviews);
``--sizes 500,2000``; needs the ray extra. Writes outputs/bench/ray_driver.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale import ROOT, cpu_flags, write_cards  # noqa: E402  (bench/ is no package)

CHILD = """
import json, resource, sys, time
from pathlib import Path
from panel.pipeline.batch import Shard
from panel.pipeline.ray_cluster import run_batch_ray
cards, out, batch_size = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
start = time.perf_counter()
s = run_batch_ray([cards], out, "mock", None, False, Shard(), "local", actors=1,
                  batch_size=batch_size)
wall = time.perf_counter() - start
me = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"wall_s": wall, "driver_cpu_s": me.ru_utime + me.ru_stime,
                  "driver_peak_mb": me.ru_maxrss / 1024, "reviews": s.counts.reviews,
                  "reviewed": s.counts.reviewed, "ok": s.ok}))
"""


def measure(n_cards: int, work: Path, batch_size: int) -> dict[str, Any]:
    folder = work / f"n{n_cards}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    cards = write_cards(n_cards, folder / "cards.jsonl")
    res = subprocess.run([sys.executable, "-c", CHILD, str(cards), str(folder / "out"),
                          str(batch_size)], capture_output=True, text=True, check=True)
    row = json.loads(res.stdout.strip().splitlines()[-1])
    shutil.rmtree(folder, ignore_errors=True)
    reviews = row["reviews"]
    return {"cards": n_cards, **{k: round(v, 3) if isinstance(v, float) else v
                                 for k, v in row.items()},
            "reviews_per_s": round(reviews / row["wall_s"], 1),
            "driver_cpu_ms_per_review": round(row["driver_cpu_s"] * 1000 / reviews, 3),
            "driver_ceiling_per_s": round(reviews / row["driver_cpu_s"], 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="2000,8000", help="card counts, comma-separated")
    ap.add_argument("--batch-size", type=int, default=256, help="jobs per actor call")
    ap.add_argument("--work", type=Path, default=ROOT / "outputs" / "bench" / "ray-work")
    args = ap.parse_args()
    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        started = time.perf_counter()
        rows.append(measure(n, args.work, args.batch_size))
        r = rows[-1]
        print(f"{r['reviews']:>7} reviews: {r['wall_s']} s wall ({r['reviews_per_s']}/s), "
              f"driver {r['driver_cpu_s']} s CPU = {r['driver_cpu_ms_per_review']} ms a "
              f"review (ceiling {r['driver_ceiling_per_s']}/s per driver core), peak "
              f"{r['driver_peak_mb']} MB; ok={r['ok']} "
              f"({time.perf_counter() - started:.0f} s with Ray's start)", flush=True)
    marginal = [{"from": a["reviews"], "to": b["reviews"],
                 "driver_cpu_ms_per_review": round((b["driver_cpu_s"] - a["driver_cpu_s"])
                                                   * 1000 / (b["reviews"] - a["reviews"]), 3),
                 "peak_mb_growth": round(b["driver_peak_mb"] / a["driver_peak_mb"], 2)}
                for a, b in zip(rows, rows[1:], strict=False)]
    for m in marginal:  # the fixed cost (imports, Ray's start) drops out of the difference
        ceiling = 1000 / max(m["driver_cpu_ms_per_review"], 1e-9)
        print(f"{m['from']} -> {m['to']} reviews: the driver's CPU per added review "
              f"{m['driver_cpu_ms_per_review']} ms (ceiling {ceiling:.0f} reviews/s per "
              f"driver core), peak memory x{m['peak_mb_growth']}")
    report = {"machine": {"flags": cpu_flags()}, "rows": rows, "marginal": marginal}
    out = ROOT / "outputs" / "bench" / "ray_driver.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
