"""Throughput: panel's batch path against raw vLLM, and against one request at a time.

In one process, on one in-process engine and the same prompts, schema, sampling and seeds:

  (a) raw vLLM ``LLM.chat`` on every persona x card prompt (the ceiling);
  (b) ``panel batch`` on the same cards (validation, retries, store, panels, manifest);
  (c) panel one request at a time, on every prompt (``--subset K``: the first K only),
      reported per review;

then (d) the unchanged batch again, as a fresh ``panel batch`` process, which must finish
in seconds with zero model calls. Every phase starts from an empty prefix cache, after a
warm-up that compiles every card's grammar, so no phase inherits another's work; the
warm-up's time is reported too, since a real batch pays it (bench/grammar.py).
Ratios are of wall time per review: b/a is panel's overhead, c/b what batching buys.
(a) and (b) also report engine-seconds per review and, at the registry entry's price (or
``--per-hour``), $ per 1,000 verdicts: raw vLLM's engine time is its whole call, panel's
the sum of its reviews' shares (pipeline/cost), so the two figures compare like for like.

Run: ``python bench/throughput.py`` (writes outputs/bench/throughput.json).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from panel.backends import create_backend
from panel.backends.vllm import compat
from panel.config.project import project_root
from panel.config.registry import Price
from panel.config.workspace import Workspace
from panel.inputs.cards import load_cards
from panel.pipeline.batch import run_batch
from panel.pipeline.cost import REVIEWS_PER_VERDICT
from panel.pipeline.retry import _request, check, run_jobs
from panel.pipeline.run import plan

ROOT = project_root()
PREFIXES = ["Quill", "Forge", "Lumen", "Tally", "Harbor", "Sprout", "Relay", "Cinder",
            "Mosaic", "Orbit", "Pylon", "Kestrel", "Drift", "Atlas", "Beacon", "Ember"]
SUFFIXES = ["Desk", "Flow", "Board", "Kit", "Lab", "Scope", "Works", "Mate", "Hub", "Loop"]
KINDS = [
    ("Developer Tools", "reviews pull requests and explains risky diffs in plain words",
     "Free for open source; $12 per seat per month for teams", "freemium"),
    ("Productivity", "turns meeting recordings into action items assigned to owners",
     "$8 per user per month", "paid"),
    ("Design", "builds slide decks from an outline and a brand kit",
     "Free tier with watermark; $15 per month without", "freemium"),
    ("Data", "lets analysts ask questions of a warehouse in plain English",
     "Free for one database", "free"),
    ("Customer Support", "answers support email with drafts grounded in the help center",
     "$0.50 per resolved ticket", "paid"),
]


def make_cards(n: int, path: Path) -> Path:
    """Write ``n`` varied, valid cards as JSONL (our own words) and return the file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for i in range(n):
        category, does, pricing, entry = KINDS[i % len(KINDS)]
        name = f"{PREFIXES[i % len(PREFIXES)]}{SUFFIXES[(i // len(PREFIXES) + i) % len(SUFFIXES)]}"
        lines.append(json.dumps({
            "name": name, "tagline": f"{name} {does}.", "category": category,
            "description": f"{name} {does}. It keeps a history of every run, works in the "
                           f"browser and in a command line client, and exports to CSV.",
            "pricing": pricing, "entry": entry, "url": f"https://{name.lower()}.example"}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def snapshot(folder: Path) -> Path:
    """A private copy of the project data, so edits made while the benchmark runs (others
    share the checkout) cannot change the prompts between phases."""
    shutil.rmtree(folder, ignore_errors=True)
    for sub in ("personas", "prompts"):
        shutil.copytree(ROOT / sub, folder / sub)
    for name in ("models.yaml", "panel.yaml"):
        if (ROOT / name).exists():
            shutil.copy(ROOT / name, folder / name)
    return folder


PRICE: Price | None = None
"""The price the $ figures use: the registry entry's, or --per-hour (set in main)."""


def cost(engine_s: float, reviews: int, prompt: int, cached: int,
         output: int) -> dict[str, Any]:
    """Engine-seconds per review and, with a price, $ per 1,000 verdicts (4 reviews)."""
    total = PRICE.dollars(engine_s, prompt, cached, output) if PRICE else None
    return {"engine_seconds_per_review": round(engine_s / reviews, 4),
            "dollars_per_1000_verdicts": None if total is None
            else round(total / reviews * REVIEWS_PER_VERDICT * 1000, 4)}


def phase(name: str, seconds: float, reviews: int, prompt: int, output: int,
          cached: int, **extra: Any) -> dict[str, Any]:
    """One phase's figures, with rates per review and per token."""
    return {"phase": name, "seconds": round(seconds, 2), "reviews": reviews,
            "seconds_per_review": round(seconds / reviews, 4),
            "reviews_per_s": round(reviews / seconds, 3),
            "output_tokens": output, "output_tokens_per_s": round(output / seconds, 1),
            "prompt_tokens": prompt, "cached_tokens": cached,
            "prefix_cache_hit_rate": round(cached / prompt, 3) if prompt else None, **extra}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cards", type=int, default=40)
    ap.add_argument("--subset", type=int, default=0,
                    help="prompts for (c), one at a time (0: all)")
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--out", type=Path, default=Path("outputs/bench"))
    ap.add_argument("--per-hour", type=float, default=None,
                    help="$ per engine-hour for the cost figures (default: the registry's)")
    args = ap.parse_args()
    global PRICE

    store_dir = args.out / "store"
    shutil.rmtree(store_dir, ignore_errors=True)
    cards_path = make_cards(args.cards, args.out / "cards.jsonl")
    root = snapshot(args.out / "project")
    ws = Workspace(store_dir, root)
    settings = ws.settings(args.model)
    PRICE = Price(per_hour=args.per_hour) if args.per_hour else settings.spec.cost
    cards = [c.card for c in load_cards([cards_path])]
    jobs = plan(ws, cards, args.model)
    requests = [_request(j, settings, 0) for j in jobs]
    n = len(requests)
    print(f"{len(cards)} cards x {len(ws.personas())} personas = {n} reviews "
          f"on {args.model}", flush=True)

    t0 = time.perf_counter()
    engine = create_backend(settings.spec)
    llm = engine.llm  # type: ignore[attr-defined]
    print(f"engine start {time.perf_counter() - t0:.1f} s", flush=True)
    t0 = time.perf_counter()
    one_per_card = list({r.grammar or json.dumps(r.json_schema): r for r in requests}.values())
    compat.chat(llm, [replace(r, max_tokens=2) for r in one_per_card])  # compile all grammars
    warm_s = time.perf_counter() - t0
    print(f"warm-up (compile {len(one_per_card)} grammars) {warm_s:.1f} s", flush=True)

    a_texts, a = phase_a(llm, requests, settings)
    b = phase_b(llm, engine, cards_path, store_dir, args.model, root, a_texts, n)
    k = min(args.subset or n, n)
    c = phase_c(llm, engine, jobs[:k], settings, n)
    engine.close()
    d = phase_d(cards_path, store_dir, args.model, root)
    results = [a, b, c, d]

    per = {r["phase"][0]: float(r.get("seconds_per_review") or 0) for r in results}
    report = {"model": args.model, "cards": len(cards), "reviews": n, "cpu_count": os.cpu_count(),
              "load_average_at_end": os.getloadavg(),
              "grammar_warm_up": {"grammars": len(one_per_card), "seconds": round(warm_s, 2)},
              "versions": compat.versions(), "phases": results,
              "ratio_b_over_a": round(per["b"] / per["a"], 3),
              "ratio_c_over_b": round(per["c"] / per["b"], 2),
              "note": f"c measured on {k} of {n} prompts; ratios are of wall time per review"}
    (args.out / "throughput.json").write_text(json.dumps(report, indent=2))
    print(f"b/a = {report['ratio_b_over_a']}  (target <= 1.10)")
    print(f"c/b = {report['ratio_c_over_b']}  (target >= 3; c on {k} of {n} prompts)")
    print(f"re-run: {d['seconds']} s, {d['model_calls']} model calls (target < 3 s, 0)")
    for r in (a, b):
        print(f"{r['phase']}: {r['engine_seconds_per_review']} engine-s/review, "
              f"${r['dollars_per_1000_verdicts']} per 1,000 verdicts")
    print(f"wrote {args.out / 'throughput.json'}")


def phase_a(llm: Any, requests: list[Any], settings: Any) -> tuple[list[str], dict[str, Any]]:
    """(a) every request in one raw LLM.chat call: the floor panel is measured against."""
    n = len(requests)
    compat.reset_prefix_cache(llm)
    t0 = time.perf_counter()
    outs = compat.chat(llm, requests)
    a_s = time.perf_counter() - t0
    a_texts = [o.outputs[0].text for o in outs]
    a_valid = sum(check(engine_result(o), settings.rubric)[0] is not None for o in outs)
    tokens = (sum(len(o.prompt_token_ids) for o in outs),
              sum(len(o.outputs[0].token_ids) for o in outs),
              sum(o.num_cached_tokens or 0 for o in outs))
    result = phase("a: raw LLM.chat", a_s, n, *tokens, valid=a_valid,
                   **cost(a_s, n, tokens[0], tokens[2], tokens[1]))
    print(result, flush=True)
    return a_texts, result


def phase_b(llm: Any, engine: Any, cards_path: Path, store_dir: Path, model: str, root: Path,
            a_texts: list[str], n: int) -> dict[str, Any]:
    """(b) the same reviews through `panel batch`'s library call, on the same engine."""
    compat.reset_prefix_cache(llm)
    t0 = time.perf_counter()
    summary = run_batch([cards_path], store_dir, model, backend=engine, root=root)
    b_s = time.perf_counter() - t0
    records = list(summary.records())
    same = sum(r.attempts[0].text == t[:len(r.attempts[0].text)]
               for r, t in zip(records, a_texts, strict=True))
    usage = summary.usage
    result = phase("b: panel batch", b_s, n, usage.prompt_tokens, usage.output_tokens,
                   usage.cached_tokens, requests=summary.requests,
                   ok=n - summary.counts.failed, failed=summary.counts.failed,
                   first_attempt_same_text_as_a=same,
                   **cost(usage.engine_seconds or b_s, n, usage.prompt_tokens,
                          usage.cached_tokens, usage.output_tokens))
    print(result, flush=True)
    return result


def phase_c(llm: Any, engine: Any, jobs: list[Any], settings: Any, n: int) -> dict[str, Any]:
    """(c) one review at a time: what batching saves."""
    compat.reset_prefix_cache(llm)
    k = len(jobs)
    t0 = time.perf_counter()
    c_recs = [run_jobs([job], engine, settings)[0] for job in jobs]
    c_s = time.perf_counter() - t0
    c_att = [a for r in c_recs for a in r.attempts]
    result = phase(f"c: one at a time (first {k} of {n})", c_s, k,
                   sum(a.prompt_tokens for a in c_att),
                   sum(a.output_tokens for a in c_att),
                   sum(a.cached_tokens for a in c_att), requests=len(c_att))
    print(result, flush=True)
    return result


def phase_d(cards_path: Path, store_dir: Path, model: str, root: Path) -> dict[str, Any]:
    """(d) `panel batch` again in a new process: everything comes from the store."""
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "panel.cli", "batch", str(cards_path),
                           "-m", model, "-o", str(store_dir)],
                          capture_output=True, text=True, check=False,
                          env={**os.environ, "PANEL_HOME": str(root.resolve())})
    d_s = time.perf_counter() - t0
    calls = re.search(r"model requests\s+(\d+)", proc.stdout)
    rerun = {"phase": "d: unchanged re-run (new process)", "seconds": round(d_s, 2),
             "model_calls": int(calls.group(1)) if calls else None, "exit": proc.returncode}
    print(rerun, flush=True)
    return rerun


def engine_result(out: Any) -> Any:
    """A vLLM RequestOutput as panel's GenResult, to validate (a)'s replies the same way."""
    from panel.backends.vllm.compat import _result

    return _result(out, 0.0)


if __name__ == "__main__":
    main()
