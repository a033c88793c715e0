"""Scale: panel's own cost and memory as a batch grows, on the ``mock`` backend.

The mock answers instantly, so every second here is panel's (reading and validating cards,
keys, the store, panel files), which on a GPU fleet is what limits a large batch. For each
size, in one run, a fresh output folder:

  * the first ``panel batch`` of N cards x 4 personas, as a child process: seconds (wall;
    CPU, user + system, which a busy shared machine does not inflate; and the run's own
    ``seconds`` from its manifest, which leaves out interpreter start-up and imports), ms a
    review, peak RSS (the child's own rusage, from ``os.wait4``);
  * the store's size on disk;
  * the unchanged re-run: seconds, its share of the first, and files written (every file
    under the output folder whose mtime or inode changed, the run's manifest aside).

Then the growth ratios between consecutive sizes (time and memory per 4x the work).

Run: ``python bench/scale.py`` (5k, 20k, 80k reviews) or ``--full`` (also 1M reviews);
``--sizes 1000,4000`` picks card counts. Writes outputs/bench/scale.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
WORDS = ("agent", "pipeline", "review", "latency", "cache", "token", "prompt", "schema",
         "deploy", "cluster", "editor", "dataset", "metric", "release", "budget", "search",
         "index", "vector", "browser", "plugin", "workflow", "team", "invoice", "support",
         "ticket", "summary", "draft", "model", "local", "privacy", "export", "import")


def card(i: int, rng: random.Random) -> dict[str, Any]:
    """One synthetic card with a ~400-character description; names are unique by index."""
    words = " ".join(rng.choice(WORDS) for _ in range(60))
    return {"name": f"Tool {i:07d}", "tagline": f"Does {rng.choice(WORDS)} for teams",
            "category": rng.choice(["Developer Tools", "Productivity", "Data", "Design"]),
            "description": (words[:400].rsplit(" ", 1)[0] + ".").capitalize(),
            "pricing": f"${rng.randint(0, 99)} per seat per month",
            "entry": rng.choice(["free", "paid", "freemium"])}


def write_cards(n: int, path: Path) -> Path:
    """N cards, one JSON object a line (the launch-feed format)."""
    rng = random.Random(n)
    with path.open("w", encoding="utf-8") as out:
        for i in range(n):
            out.write(json.dumps(card(i, rng)) + "\n")
    return path


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """(inode, mtime_ns) of every file under ``folder``, the runs' manifests aside."""
    out = {}
    for p in folder.rglob("*"):
        if p.is_file() and p.parent.name != "runs":
            st = p.stat()
            out[str(p)] = (st.st_ino, st.st_mtime_ns)
    return out


def run_child(cards: Path, output: Path) -> dict[str, Any]:
    """One ``panel batch`` as a child: wall seconds, the run's seconds, peak RSS (MB)."""
    cmd = [sys.executable, "-c", "from panel.cli import main; main()", "batch", str(cards),
           "-m", "mock", "-o", str(output)]
    before = set((output / "runs").glob("*.json")) if (output / "runs").is_dir() else set()
    start = time.perf_counter()
    code = os.fork()
    if code == 0:  # the child: its own rusage, so each run's peak is its own
        os.execvp(cmd[0], cmd)
    _, status, usage = os.wait4(code, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"panel batch exited {os.waitstatus_to_exitcode(status)}: {cmd}")
    manifest = sorted(set((output / "runs").glob("*.json")) - before)[-1]
    run_s = json.loads(manifest.read_text())["seconds"]
    return {"wall_s": round(wall, 2), "run_s": run_s,
            "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
            "peak_rss_mb": round(usage.ru_maxrss / 1024, 1)}  # Linux: KiB


def measure(n_cards: int, work: Path) -> dict[str, Any]:
    """First run and unchanged re-run of ``n_cards`` cards in a fresh folder."""
    folder = work / f"n{n_cards}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    cards = write_cards(n_cards, folder / "cards.jsonl")
    output = folder / "out"
    first = run_child(cards, output)
    store_mb = round((output / "panel.sqlite3").stat().st_size / 2**20, 1)
    before = snapshot(output)
    again = run_child(cards, output)
    after = snapshot(output)
    rewritten = sorted(p for p, v in after.items() if before.get(p) != v)
    reviews = n_cards * 4
    row = {"cards": n_cards, "reviews": reviews, "first": first,
           "ms_per_review": round(first["wall_s"] * 1000 / reviews, 3),
           "cpu_ms_per_review": round(first["cpu_s"] * 1000 / reviews, 3),
           "run_ms_per_review": round(first["run_s"] * 1000 / reviews, 3),
           "store_mb": store_mb, "rerun": again,
           "rerun_share": round(again["wall_s"] / first["wall_s"], 3),
           "rerun_run_share": round(again["run_s"] / max(first["run_s"], 1e-9), 3),
           "rerun_cpu_share": round(again["cpu_s"] / max(first["cpu_s"], 1e-9), 3),
           "files_rewritten": len(rewritten), "rewritten_sample": rewritten[:5]}
    shutil.rmtree(folder, ignore_errors=True)
    return row


def growth(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Time and peak-memory ratios between consecutive sizes."""
    return [{"from": a["reviews"], "to": b["reviews"],
             "work": round(b["reviews"] / a["reviews"], 2),
             "time": round(b["first"]["wall_s"] / a["first"]["wall_s"], 2),
             "cpu": round(b["first"]["cpu_s"] / a["first"]["cpu_s"], 2),
             "memory": round(b["first"]["peak_rss_mb"] / a["first"]["peak_rss_mb"], 2)}
            for a, b in zip(rows, rows[1:], strict=False)]


def cpu_flags() -> list[str]:
    """The vector flags that decide a CPU's speed class (lscpu's, as in the notes)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    flags = next((ln.split(":", 1)[1].split() for ln in text.splitlines()
                  if ln.startswith("flags")), [])
    return sorted(f for f in flags if f in {"avx2", "avx512f", "avx512_bf16", "amx_bf16"})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", action="store_true", help="also 250,000 cards (1M reviews)")
    ap.add_argument("--sizes", default=None, help="card counts, comma-separated")
    ap.add_argument("--work", type=Path, default=ROOT / "outputs" / "bench" / "scale-work")
    args = ap.parse_args()
    sizes = ([int(s) for s in args.sizes.split(",")] if args.sizes
             else [1250, 5000, 20000] + ([250000] if args.full else []))
    rows = []
    for n in sizes:
        rows.append(measure(n, args.work))
        r = rows[-1]
        f, a = r["first"], r["rerun"]
        print(f"{r['reviews']:>8} reviews: {f['wall_s']:8.2f} s wall, {f['cpu_s']} s CPU "
              f"(run {f['run_s']} s; {r['ms_per_review']} ms/review wall, "
              f"{r['cpu_ms_per_review']} CPU), peak {f['peak_rss_mb']} MB, store "
              f"{r['store_mb']} MB; re-run {a['wall_s']} s wall ({r['rerun_share']:.1%}), "
              f"{a['cpu_s']} s CPU ({r['rerun_cpu_share']:.1%}), run {a['run_s']} s "
              f"({r['rerun_run_share']:.1%}); {r['files_rewritten']} files rewritten",
              flush=True)
    report = {"machine": {"cpus": os.cpu_count(), "flags": cpu_flags(),
                          "python": platform.python_version()},
              "rows": rows, "growth": growth(rows)}
    for g in report["growth"]:
        print(f"{g['from']} -> {g['to']} reviews (x{g['work']}): time x{g['time']} "
              f"(CPU x{g['cpu']}), peak memory x{g['memory']}")
    out = ROOT / "outputs" / "bench" / "scale.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
