"""float32 against bfloat16: raw vLLM decoding speed of the embedded model on this CPU.

``dtype: auto`` picks float32 on a CPU without native bf16 and bfloat16 on one with it
(``panel.config.dtype``); this measures what that choice is worth here. For each
dtype, one engine in its own process (one after the other, never two at once) runs
``compat.chat`` (vLLM's ``LLM.chat``, panel's sampling and grammar) on the same requests,
same seeds, at batch 16 and batch 64, each from an empty prefix cache after a warm-up that
compiles every grammar. Reported: output tokens/s per dtype and batch, their ratio, and the
CPU (``lscpu``, the flags that decide, what ``auto`` resolves to), with the load average,
since other processes share the machine.

Run: ``python bench/dtype.py`` (writes outputs/bench/dtype.json).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from throughput import make_cards, snapshot

from panel.config.dtype import choose, cpu_flags, isa_flags
from panel.config.workspace import Workspace
from panel.inputs.cards import load_cards
from panel.pipeline.retry import _request, check
from panel.pipeline.run import plan

DTYPES = ("float32", "bfloat16")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--batches", type=int, nargs="+", default=[16, 64])
    ap.add_argument("--max-tokens", type=int, default=0,
                    help="cap each request's output (0: the registry's max_tokens); a "
                         "shorter run on a busy machine, same dtypes, same requests")
    ap.add_argument("--out", type=Path, default=Path("outputs/bench"))
    ap.add_argument("--child", choices=DTYPES, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(measure(args.model, args.child, args.batches, args.out,
                                 args.max_tokens)))
        return
    args.out.mkdir(parents=True, exist_ok=True)
    runs = {d: run_child(d, args) for d in DTYPES}
    report = {"model": args.model, "max_tokens": args.max_tokens or "registry",
              "cpu": cpu_facts(),
              "auto_resolves_to": choose("auto").record(), "runs": runs,
              "ratio_float32_over_bfloat16": {
                  str(b): round(runs["float32"]["batches"][str(b)]["output_tokens_per_s"]
                                / runs["bfloat16"]["batches"][str(b)]["output_tokens_per_s"], 2)
                  for b in args.batches},
              "note": "one run; the machine is shared with other processes (see load_average)"}
    path = args.out / "dtype.json"
    path.write_text(json.dumps(report, indent=2))
    for b in args.batches:
        f32, bf16 = (runs[d]["batches"][str(b)]["output_tokens_per_s"] for d in DTYPES)
        print(f"batch {b}: float32 {f32} tokens/s, bfloat16 {bf16} tokens/s, "
              f"ratio {report['ratio_float32_over_bfloat16'][str(b)]}")
    print(f"auto here: {report['auto_resolves_to']['dtype']} "
          f"({report['auto_resolves_to']['reason']}); wrote {path}")


def run_child(dtype: str, args: argparse.Namespace) -> dict[str, Any]:
    """One dtype in a fresh process: its own engine, gone when it exits."""
    cmd = [sys.executable, __file__, "--child", dtype, "--model", args.model,
           "--out", str(args.out), "--max-tokens", str(args.max_tokens),
           "--batches", *map(str, args.batches)]
    print(f"{dtype}: starting", flush=True)
    done = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"{dtype}: {json.dumps(result['batches'])}", flush=True)
    return result


def measure(model: str, dtype: str, batches: list[int], out: Path,
            max_tokens: int = 0) -> dict[str, Any]:
    """In the child: start the engine in ``dtype`` and time each batch."""
    from panel.backends import create_backend
    from panel.backends.vllm import compat

    n = max(batches)
    root = snapshot(out / f"dtype-project-{dtype}")
    cards_path = make_cards((n + 3) // 4, out / "dtype-cards.jsonl")
    plain = Workspace(out / f"dtype-store-{dtype}", root)  # requests: the same in both runs
    settings = plain.settings(model)
    cards = [c.card for c in load_cards([cards_path])]
    requests = [_request(j, settings, 0) for j in plan(plain, cards, model)][:n]
    if max_tokens:
        requests = [replace(r, max_tokens=max_tokens) for r in requests]
    spec = Workspace(plain.output, root, dtype).settings(model).spec
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    engine = create_backend(spec)
    llm = engine.llm  # type: ignore[attr-defined]
    start_s = time.perf_counter() - t0
    compat.chat(llm, [replace(r, max_tokens=2) for r in requests])  # compile every grammar
    figures = {str(b): batch(compat, llm, requests[:b], settings) for b in batches}
    engine.close()
    return {"dtype": dtype, "engine_start_s": round(start_s, 1), "batches": figures,
            "load_average": {"before": load_before, "after": os.getloadavg()},
            "versions": compat.versions()}


def batch(compat: Any, llm: Any, requests: list[Any], settings: Any) -> dict[str, Any]:
    """One raw ``LLM.chat`` over ``requests`` from a cold prefix cache."""
    from panel.backends.base import GenResult

    compat.reset_prefix_cache(llm)
    t0 = time.perf_counter()
    outs = compat.chat(llm, requests)
    seconds = time.perf_counter() - t0
    tokens = sum(len(o.outputs[0].token_ids) for o in outs)
    valid = sum(check(GenResult(id=o.request_id, text=o.outputs[0].text,
                                finish_reason=o.outputs[0].finish_reason,
                                output_tokens=len(o.outputs[0].token_ids)),
                      settings.rubric)[0] is not None for o in outs)
    return {"requests": len(requests), "seconds": round(seconds, 2), "output_tokens": tokens,
            "output_tokens_per_s": round(tokens / seconds, 1), "valid": valid}


def cpu_facts() -> dict[str, Any]:
    """The CPU as ``lscpu`` describes it, and the flags that decide the dtype."""
    try:
        text = subprocess.run(["lscpu"], stdout=subprocess.PIPE, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        text = ""
    info = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    keep = ("Architecture", "Model name", "CPU(s)", "Thread(s) per core", "Hypervisor vendor")
    facts: dict[str, Any] = {k: info[k].strip() for k in keep if k in info}
    facts["isa_flags"] = list(isa_flags(cpu_flags()))
    facts["cpu_count"] = os.cpu_count()
    return facts


if __name__ == "__main__":
    main()
