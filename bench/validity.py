"""How often the embedded model's reviews validate, first try and after retries.

Runs every card x persona (x samples) on the real engine into a throwaway store and prints
first-try validity, final validity, failure reasons, score spread and how often the review
names the tool. Usage: python bench/validity.py [CARDS...] [--samples K] [--model NAME]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

from panel.config.workspace import Workspace
from panel.inputs.cards import load_cards
from panel.pipeline.run import review_cards


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("cards", nargs="*", default=["examples/tools"])
    ap.add_argument("--samples", type=int, default=2)
    ap.add_argument("--model", default="smollm2-135m")
    args = ap.parse_args()
    cards = [c.card for c in load_cards(args.cards)]
    out = Path(tempfile.mkdtemp(prefix="panel-validity-"))
    ws = Workspace(output=out)
    t0 = time.perf_counter()
    summary = review_cards(ws, cards, args.model, samples=range(args.samples))
    wall = time.perf_counter() - t0
    recs = summary.records
    first_ok = sum(1 for r in recs if r.attempts and r.attempts[0].error is None)
    ok = [r for r in recs if r.ok]
    reasons = Counter((a.error or "").split(":")[0] for r in recs for a in r.attempts if a.error)
    scores = [r.output.score for r in ok if r.output]
    report = {
        "model": args.model, "reviews": len(recs), "first_try_valid": first_ok,
        "final_valid": len(ok), "attempts": sum(len(r.attempts) for r in recs),
        "failure_reasons": dict(reasons),
        "named_tool": sum(1 for r in ok if r.output and r.tool_name in r.output.review),
        "ship": sum(1 for r in ok if r.verdict == "ship"),
        "score_mean": round(statistics.mean(scores), 1) if scores else None,
        "score_stdev": round(statistics.pstdev(scores), 1) if scores else None,
        "output_tokens": sum(r.output_tokens for r in recs), "wall_s": round(wall, 1),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
