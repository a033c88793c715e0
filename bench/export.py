"""`panel export` on a large synthetic store: rows, seconds and peak memory.

Fills a store with N copies of one mock review (distinct keys, tools and samples) by bulk
insert, then exports it to Parquet and reports the wall time and the process's peak RSS
before and after: the export streams in batches, so its memory should not grow with N.

Usage: python bench/export.py [N] [--output outputs/bench-export]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sqlite3
import time
from pathlib import Path

from panel.config.workspace import Workspace
from panel.contract.output import ReviewOutput
from panel.contract.records import Attempt, ReviewRecord
from panel.research.export import export_dataset
from panel.store.sqlite import Store


def fill(folder: Path, n: int) -> None:
    """N reviews, inserted 10,000 per transaction (Store.put is one per review)."""
    Store(folder).close()  # the schema
    out = ReviewOutput(reasoning="Notes before the score, of a realistic length for a "
                       "review.", score=64, verdict="ship",
                       review="A first sentence of the review. A second sentence of it.")
    base = ReviewRecord(key="k", tool="t", tool_name="T", persona="builder",
                        persona_name="Builder", model="mock", status="ok", output=out,
                        attempts=[Attempt(seed=1, output_tokens=90, seconds=0.4)],
                        provenance={"prompt_sha": "0" * 64, "versions": {"torch": "x"}})
    db = sqlite3.connect(folder / Store.FILENAME)
    for start in range(0, n, 10_000):
        rows = []
        for i in range(start, min(n, start + 10_000)):
            rec = base.model_copy(update={"key": f"{i:064d}", "tool": f"tool-{i // 40}",
                                          "sample": i % 10})
            rows.append((rec.key, rec.tool, rec.persona, rec.model, rec.sample, rec.status,
                         rec.created_at, rec.model_dump_json(exclude={"edit"})))
        db.executemany("INSERT INTO reviews VALUES (?,?,?,?,?,?,?,?)", rows)
        db.commit()
    db.close()


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", nargs="?", type=int, default=200_000)
    parser.add_argument("--output", type=Path, default=Path("outputs/bench-export"))
    args = parser.parse_args()
    shutil.rmtree(args.output, ignore_errors=True)
    store = args.output / "store"
    start = time.monotonic()
    fill(store, args.n)
    print(f"filled {args.n} reviews in {time.monotonic() - start:.1f} s; "
          f"peak RSS {peak_mib():.0f} MiB")
    import pyarrow  # noqa: F401 - loaded before the baseline, so it measures the export

    before = peak_mib()
    start = time.monotonic()
    summary = export_dataset(Workspace(output=store), args.output / "dataset")
    size = sum(p.stat().st_size for p in (args.output / "dataset").rglob("*.parquet"))
    print(f"exported {summary.rows['reviews']} reviews in {time.monotonic() - start:.1f} s "
          f"({size / 2**20:.1f} MiB Parquet); peak RSS {before:.0f} -> {peak_mib():.0f} MiB")


if __name__ == "__main__":
    main()
