"""Expected scores: what they cost the engine, and what they buy over the sampled score.

Two parts, on one in-process engine on the embedded model:

  spread  the example cards x 4 personas x K samples through the pipeline (validation,
          retries, store), then, per (card, persona): the standard deviation of the
          sampled score against that of the expected score, and how often two samples'
          verdicts disagree, sampled verdict against P(ship) >= 0.5.
  cost    the same small batch (--cost-cards cards x 4 personas, first attempts) with N top
          log-probabilities per generated token, N in 0, 5, 20, each from an empty prefix
          cache after one warm-up that compiles the grammars; with --cost-rounds above 1
          the rounds are interleaved (0, 5, 20, 0, 5, 20) so a change in the shared
          machine's load falls on every N alike. Wall time and this process's CPU time (the
          engine runs in it on CPU) are both reported, with whether each N sampled the same
          texts as N = 0 and the estimator's own time per review. The engine's
          logprobs_mode is processed_logprobs throughout (compat), so N = 0 measures the
          request without log-probabilities on the same engine.
  exact   for the same batch, the expected score with its stand-in for branches off the
          sampled path against the digit tree expanded through the engine (``exact``).

Run: ``python bench/expected.py [--samples 5]`` (writes outputs/bench/expected.json; the
reviews are kept in --store, so a second run only redoes the cost part and the report).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from dtype import cpu_facts

from panel.backends import create_backend
from panel.backends.base import Backend, GenRequest, GenResult
from panel.backends.vllm import compat
from panel.config.project import project_root
from panel.config.workspace import Workspace
from panel.contract.expected import (
    TOP_LOGPROBS,
    expected,
    probabilities,
    score_distribution,
    score_position,
    tree_distribution,
)
from panel.contract.output import Rubric
from panel.contract.records import ReviewRecord
from panel.inputs.cards import load_cards
from panel.pipeline.retry import _request
from panel.pipeline.run import plan, review_cards

ROOT = project_root()
COST_NS = (0, 5, 20)


def cpu() -> dict[str, Any]:
    """The CPU this ran on (bench/dtype's ``lscpu`` facts and the flags that decide the
    dtype) and the load average now: a shared machine's load moves the timings."""
    return {**cpu_facts(), "load_average": os.getloadavg()}


def cost(engine: Backend, requests: list[GenRequest], rounds: int,
         rubric: Rubric) -> dict[str, Any]:
    """Wall and CPU seconds of the batch for each N, interleaved over ``rounds``, and the
    estimator's own time per review."""
    llm = engine.llm  # type: ignore[attr-defined]
    engine.generate([replace(r, max_tokens=2) for r in requests])  # compile every grammar
    times: dict[int, list[tuple[float, float, int]]] = defaultdict(list)
    texts: dict[int, list[str]] = {}
    estimator_ms: dict[int, float] = {}
    for _, n in itertools.product(range(rounds), COST_NS):
        compat.reset_prefix_cache(llm)
        wall, proc = time.perf_counter(), time.process_time()
        results = engine.generate([replace(r, logprobs=n) for r in requests])
        wall, proc = time.perf_counter() - wall, time.process_time() - proc
        times[n].append((wall, proc, sum(r.output_tokens for r in results)))
        texts.setdefault(n, [r.text for r in results])
        started = time.perf_counter()
        for r in results:
            expected(r.logprobs or [], rubric)
        estimator_ms[n] = 1000 * (time.perf_counter() - started) / len(results)
        print(f"  N={n:<2} {wall:6.1f} s wall {proc:6.1f} s cpu", flush=True)
    base = statistics.median(w for w, _, _ in times[0])
    return {"requests": len(requests), "rounds": rounds, "by_n": {
        str(n): {"wall_s": [round(w, 2) for w, _, _ in rows],
                 "cpu_s": [round(c, 2) for _, c, _ in rows],
                 "output_tokens": [t for _, _, t in rows],
                 "median_wall_over_n0": round(statistics.median(w for w, _, _ in rows) / base, 3),
                 "same_texts_as_n0": texts[n] == texts[0],
                 "estimator_ms_per_review": round(estimator_ms[n], 3)}
        for n, rows in times.items()}}


def exact(engine: Backend, requests: list[GenRequest], rubric: Rubric,
          floor: float = 1e-3) -> dict[str, Any]:
    """The stand-in for branches off the sampled path, against the tree expanded exactly:
    each of the requests is generated once with top-20 log-probabilities, then every digit
    prefix reached with probability >= ``floor`` is forced after the reply's text up to
    the score and the engine asked for its next token. Both trees keep only the grammar's
    scores; the expected scores are compared (P(ship) is not: it would need the verdict
    position after every overlap score)."""
    replies = engine.generate([replace(r, logprobs=20) for r in requests])
    rows = [row for req, res in zip(requests, replies, strict=True)
            if (row := expand(engine.llm, req, res, rubric, floor))]  # type: ignore[attr-defined]
    gaps = [r["approx"] - r["exact"] for r in rows]
    return {"reviews": len(rows), "floor": floor, "rows": rows,
            "mean_abs_error": round(statistics.fmean(map(abs, gaps)), 2) if gaps else None,
            "mean_error": round(statistics.fmean(gaps), 2) if gaps else None,
            "max_abs_error": round(max(map(abs, gaps)), 2) if gaps else None}


def expand(llm: Any, req: GenRequest, res: GenResult, rubric: Rubric,
           floor: float) -> dict[str, Any] | None:
    """One reply's expected score both ways: stand-in and the tree asked of the engine."""
    at = score_position(res.logprobs or [])
    if res.logprobs is None or at is None:
        return None
    tok = llm.get_tokenizer()
    extendable = {t[:i] for t in map(str, range(101)) for i in range(1, len(t))}
    head = compat.prompt_ids(llm, req.messages) + tok.encode(
        "".join(t.text for t in res.logprobs[:at]), add_special_tokens=False)
    tops: dict[str, dict[str, float]] = {}
    frontier = {"": 1.0}
    while frontier:
        keys = list(frontier)
        asked = [head + tok.encode(k, add_special_tokens=False) for k in keys]
        tops.update(zip(keys, compat.next_token_logprobs(llm, asked, req, 20), strict=True))
        frontier = {k + t: frontier[k] * p for k in keys
                    for t, p in probabilities(tops[k]).items()
                    if t.isdigit() and k + t in extendable and frontier[k] * p >= floor}
    approx = score_distribution(res.logprobs, rubric)
    full = tree_distribution(lambda _, digits: tops.get(digits), rubric)
    if not approx or not full:
        return None
    return {"approx": mean(approx), "exact": mean(full), "queries": len(tops),
            "first_digit_gap": first_gap(res.logprobs[at].top, tops[""])}


def mean(dist: dict[int, float]) -> float:
    return round(sum(s * p for s, p in dist.items()), 2)


def first_gap(observed: dict[str, float], forced: dict[str, float]) -> float:
    """Largest probability difference at the first digit between the sampled pass and the
    forced one (the same position, re-tokenised): near 0 unless re-encoding shifted it."""
    a, b = probabilities(observed), probabilities(forced)
    digits = {t for t in {*a, *b} if t.isdigit()}
    sa, sb = sum(a.get(t, 0) for t in digits) or 1, sum(b.get(t, 0) for t in digits) or 1
    return round(max((abs(a.get(t, 0) / sa - b.get(t, 0) / sb) for t in digits), default=0), 4)


def spread(records: list[ReviewRecord]) -> dict[str, Any]:
    """Sampled against expected, per (card, persona) over its samples."""
    groups: dict[tuple[str, str], list[ReviewRecord]] = defaultdict(list)
    for r in records:
        if r.ok and r.output and r.expected_score is not None and r.p_ship is not None:
            groups[r.tool, r.persona].append(r)
    groups = {k: v for k, v in groups.items() if len(v) >= 2}
    sampled = {k: [float(r.output.score) for r in v if r.output] for k, v in groups.items()}
    expect = {k: [float(r.expected_score or 0) for r in v] for k, v in groups.items()}
    v_sampled = {k: [r.output.verdict == "ship" for r in v if r.output] for k, v in groups.items()}
    v_expect = {k: [(r.p_ship or 0) >= 0.5 for r in v] for k, v in groups.items()}
    gaps = [abs(s - e) for k in groups for s, e in zip(sampled[k], expect[k], strict=True)]
    return {"groups": len(groups), "reviews": sum(map(len, groups.values())),
            "sampled": summary(sampled, v_sampled), "expected": summary(expect, v_expect),
            "mean_abs_sampled_minus_expected": round(statistics.fmean(gaps), 2) if gaps else None}


def summary(scores: dict[Any, list[float]], verdicts: dict[Any, list[bool]]) -> dict[str, Any]:
    """Within-group spread (mean of each group's sample standard deviation), between-group
    spread (standard deviation of the group means: the signal the panel reads) and their
    ratio (a scale-free reliability: expected scores are pulled toward the middle, so a
    smaller spread alone says little), and the verdict flip rate (share of sample pairs in
    a group that disagree, averaged) with the share of groups whose samples do not all
    agree."""
    within = statistics.fmean(statistics.stdev(v) for v in scores.values())
    between = statistics.stdev(statistics.fmean(v) for v in scores.values())
    return {"within_sd": round(within, 2), "between_sd": round(between, 2),
            "between_over_within": round(between / within, 3),
            "flip_rate": round(statistics.fmean(map(flips, verdicts.values())), 3),
            "split_groups": round(statistics.fmean(len(set(v)) > 1
                                                   for v in verdicts.values()), 3)}


def flips(verdicts: list[bool]) -> float:
    """The share of pairs of samples whose verdicts differ."""
    pairs = list(itertools.combinations(verdicts, 2))
    return sum(a != b for a, b in pairs) / len(pairs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("cards", nargs="*", default=["examples/tools"])
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--samples", type=int, default=5)
    ap.add_argument("--cost-cards", type=int, default=2)
    ap.add_argument("--cost-rounds", type=int, default=1)
    ap.add_argument("--skip-cost", action="store_true", help="spread and exact check only")
    ap.add_argument("--store", type=Path, default=Path("outputs/bench/expected-store"))
    ap.add_argument("--out", type=Path, default=Path("outputs/bench"))
    args = ap.parse_args()

    ws = Workspace(args.store, ROOT)
    out = args.out / "expected.json"
    previous = json.loads(out.read_text()) if out.exists() else {}
    report: dict[str, Any] = {"model": args.model, "top_logprobs": TOP_LOGPROBS,
                              "cpu_at_start": cpu(), "versions": compat.versions()}
    if args.skip_cost and "cost" in previous:  # keep the last run's measurement
        report["cost"] = {**previous["cost"], "from_run_at": previous.get("cpu_at_start")}
    t0 = time.perf_counter()
    engine = create_backend(ws.settings(args.model).spec)
    report["engine_start_s"] = round(time.perf_counter() - t0, 1)
    try:
        run_parts(engine, ws, args, report, lambda: save(report, out))
    finally:
        engine.close()
    report["cpu_at_end"] = cpu()
    save(report, out)
    print(table(report))
    print(f"wrote {out}")


def run_parts(engine: Backend, ws: Workspace, args: argparse.Namespace, report: dict[str, Any],
              checkpoint: Callable[[], None]) -> None:
    """Spread, cost, exact, in that order, the report saved after each (a long run on a
    shared machine can be killed)."""
    settings = ws.settings(args.model)
    cards = [c.card for c in load_cards([ROOT / c if not Path(c).is_absolute() else Path(c)
                                         for c in args.cards])]
    t0 = time.perf_counter()
    print(f"spread: {len(cards)} cards x 4 personas x {args.samples} samples", flush=True)
    summ = review_cards(ws, cards, args.model, samples=range(args.samples), backend=engine)
    report["spread_run"] = {"reviewed": summ.reviewed, "reused": summ.reused,
                            "failed": len(summ.failed),
                            "seconds": round(time.perf_counter() - t0, 1)}
    report["spread"] = spread(summ.records)
    report["rows"] = [{"tool": r.tool, "persona": r.persona, "sample": r.sample,
                       "score": r.output.score, "verdict": r.output.verdict,
                       "expected_score": r.expected_score, "p_ship": r.p_ship}
                      for r in summ.records if r.ok and r.output]
    checkpoint()
    jobs = plan(ws, cards[:args.cost_cards], args.model)
    requests = [_request(j, settings, 0) for j in jobs]
    if not args.skip_cost:
        print(f"cost: {len(jobs)} requests, N in {COST_NS}", flush=True)
        report["cost"] = cost(engine, requests, args.cost_rounds, settings.rubric)
        checkpoint()
    print("exact: the digit tree expanded through the engine", flush=True)
    report["exact"] = exact(engine, requests, settings.rubric)


def save(report: dict[str, Any], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))


def table(report: dict[str, Any]) -> str:
    """The two parts as text."""
    lines = [f"{'N':>3} {'wall/N=0':>9} {'wall s':>16} {'cpu s':>16} same texts"]
    for n, row in report.get("cost", {}).get("by_n", {}).items():
        lines.append(f"{n:>3} {row['median_wall_over_n0']:>9} {str(row['wall_s']):>16} "
                     f"{str(row['cpu_s']):>16} {row['same_texts_as_n0']}")
    if x := report.get("exact"):
        lines.append(f"stand-in vs exact tree, {x['reviews']} reviews: mean |error| "
                     f"{x['mean_abs_error']}, mean error {x['mean_error']}, "
                     f"max {x['max_abs_error']}")
    s = report["spread"]
    lines.append(f"{s['groups']} (card, persona) groups, {s['reviews']} reviews")
    lines.append(f"{'':<9} {'within sd':>9} {'between sd':>10} {'ratio':>6} {'flip rate':>9} "
                 f"{'split':>6}")
    for name in ("sampled", "expected"):
        row = s[name]
        lines.append(f"{name:<9} {row['within_sd']:>9} {row['between_sd']:>10} "
                     f"{row['between_over_within']:>6} {row['flip_rate']:>9} "
                     f"{row['split_groups']:>6}")
    lines.append(f"mean |sampled - expected| = {s['mean_abs_sampled_minus_expected']}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
