"""Evidence and adaptive samples on the real engine: the acceptance run of issue 24.

The 6 example cards and the 4 long ones x 4 personas on the embedded model, default review
lengths, through the pipeline (grammar, validation, retries, store):

  auto    ``--samples auto`` (panel.yaml's cap and band): how many samples each persona
          drew, how many personas need an editor;
  fixed   ``--samples K`` (default 5), reusing the samples auto drew;
  checks  every review valid, every evidence quote verbatim in its card's description
          (asserted), no attempt ended on length; the grounding rate (reviews with no
          unsupported claim) per persona with Wilson's 95% interval;
  flips   how often the auto verdict differs from the fixed-K majority, against how often
          fixed k (1 .. K-1, the first k samples) differs from it: the compute auto saves
          at the flip rate of the fixed k it matches.

Run: ``python bench/evidence.py [--fixed 5] [--store DIR]`` (writes DIR/evidence.json; the
reviews stay in DIR, so a second run redoes only the report).
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from dtype import cpu_facts

from panel.backends import create_backend
from panel.config.project import project_root
from panel.config.settings import Samples, parse_samples
from panel.config.workspace import Workspace
from panel.contract.claims import unsupported_claims
from panel.contract.records import ReviewRecord
from panel.inputs.cards import ToolCard, load_cards
from panel.pipeline.run import review_cards
from panel.research.grounding import is_grounded
from panel.verdict.majority import majority
from panel.verdict.samples import tally, wilson

ROOT = project_root()
MODEL = "smollm2-135m"
SHORT: list[tuple[str, str]] = []
"""Personas whose stored samples ran out before auto, replayed, would have stopped."""


def check(records: list[ReviewRecord], cards: dict[str, ToolCard]) -> dict[str, Any]:
    """Validity, verbatim quotes (asserted), length failures, grounding per persona."""
    lengths = sum(a.finish_reason == "length" for r in records for a in r.attempts)
    for r in records:
        for quote in r.output.evidence if r.output else []:
            assert quote in cards[r.tool].description, (r.key, quote)
    grounded: dict[str, list[bool]] = defaultdict(list)
    for r in records:
        if r.ok:  # re-checked with today's extractor, whatever the record holds
            grounded[r.persona].append(is_grounded(r, cards))
    rates = {p: {"grounded": sum(g), "n": len(g), "rate": round(sum(g) / len(g), 3),
                 "ci95": [round(x, 3) for x in wilson(sum(g), len(g))]}
             for p, g in sorted(grounded.items())}
    claims: dict[str, int] = defaultdict(int)
    for r in records:
        for c in unsupported_claims(r.text or "", cards[r.tool]) if r.ok else []:
            claims[c] += 1
    return {"reviews": len(records), "valid": sum(r.ok for r in records),
            "attempts": sum(len(r.attempts) for r in records), "length_failures": lengths,
            "quotes": sum(len(r.output.evidence) for r in records if r.output),
            "grounding": rates,
            "top_unsupported": sorted(claims.items(), key=lambda kv: -kv[1])[:15]}


def verdict_of(records: list[ReviewRecord], ws: Workspace) -> str | None:
    votes = [(r.verdict, float(r.score)) for r in records
             if r.ok and r.verdict and r.score is not None]
    return majority(votes, ws.config.rubric).verdict


def flips(ws: Workspace, auto: dict[tuple[str, str], list[ReviewRecord]],
          fixed: dict[tuple[str, str], list[ReviewRecord]], k_max: int) -> dict[str, Any]:
    """Disagreement with the fixed-K majority: auto's verdict, and each fixed k < K."""
    ref = {g: verdict_of(rs, ws) for g, rs in fixed.items()}
    out: dict[str, Any] = {"auto": sum(verdict_of(auto[g], ws) != ref[g] for g in ref)}
    for k in range(1, k_max):
        out[f"k={k}"] = sum(verdict_of(fixed[g][:k], ws) != ref[g] for g in ref)
    return {"groups": len(ref), "disagree_with_fixed_majority": out}


def grouped(records: list[ReviewRecord]) -> dict[tuple[str, str], list[ReviewRecord]]:
    out: dict[tuple[str, str], list[ReviewRecord]] = defaultdict(list)
    for r in sorted(records, key=lambda r: r.sample):
        out[(r.tool, r.persona)].append(r)
    return out


def replay(samples: list[ReviewRecord], ws: Workspace, policy: Samples) -> list[ReviewRecord]:
    """The samples auto draws: the shortest prefix that is no longer uncertain, or the cap;
    a persona whose stored samples run out first is reported (``short``), not hidden."""
    for n in range(1, min(len(samples), policy.cap) + 1):
        if not tally(samples[:n], ws.config.rubric, policy).uncertain:
            return samples[:n]
    if len(samples) < policy.cap:
        SHORT.append((samples[0].tool, samples[0].persona))
    return samples[:policy.cap]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixed", type=int, default=5)
    parser.add_argument("--store", type=Path, default=ROOT / "outputs" / "bench" / "evidence")
    parser.add_argument("--no-run", action="store_true",
                        help="Report from the store only: auto replayed on each persona's "
                             "stored samples in order (what auto drew), fixed K their first K.")
    args = parser.parse_args()
    ws = Workspace(args.store, ROOT)
    paths = sorted((ROOT / "examples" / "tools").glob("*.yaml")) + sorted(
        (ROOT / "examples" / "long").glob("*.yaml"))
    cards = [c.card for c in load_cards(paths)]
    policy = parse_samples("auto", ws.config.samples)
    t0 = t1 = t2 = time.perf_counter()
    if not args.no_run:
        backend = create_backend(ws.registry.get(MODEL))
        try:
            review_cards(ws, cards, MODEL, samples=policy, backend=backend)
            t1 = time.perf_counter()
            fixed = parse_samples(str(args.fixed), ws.config.samples)
            review_cards(ws, cards, MODEL, samples=fixed, backend=backend)
            t2 = time.perf_counter()
        finally:
            backend.close()
    by_slug = {c.slug: c for c in cards}
    stored = grouped([r for r in ws.store.all(MODEL) if r.tool in by_slug])
    auto_groups = {g: replay(rs, ws, policy) for g, rs in stored.items()}
    fixed_groups = {g: rs[:args.fixed] for g, rs in stored.items() if len(rs) >= args.fixed}
    auto_records = [r for rs in auto_groups.values() for r in rs]
    fixed_records = [r for rs in fixed_groups.values() for r in rs]
    per_persona: dict[str, list[int]] = defaultdict(list)
    editor = 0
    for (_, persona), rs in auto_groups.items():
        per_persona[persona].append(len(rs))
        editor += tally(rs, ws.config.rubric, policy).needs_editor
    report = {
        "model": MODEL, "cards": len(cards), "machine": cpu_facts(),
        "groups": len(stored),
        "replay_short": [list(g) for g in SHORT],
        "auto": {"seconds": round(t1 - t0, 1), "samples": len(auto_records),
                 "needs_editor": editor,
                 "mean_samples_per_persona": {p: round(sum(n) / len(n), 2)
                                              for p, n in sorted(per_persona.items())},
                 "mean_samples": round(len(auto_records) / max(len(auto_groups), 1), 2),
                 "checks": check(auto_records, by_slug)},
        f"fixed_{args.fixed}": {"seconds": round(t2 - t1, 1), "groups": len(fixed_groups),
                                "samples": len(fixed_records),
                                "checks": check(fixed_records, by_slug)},
        "flips": flips(ws, {g: auto_groups[g] for g in fixed_groups}, fixed_groups,
                       args.fixed),
    }
    out = args.store / "evidence.json"
    out.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
