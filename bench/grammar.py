"""Grammar compile time: what one card's structured-output grammar costs before generation.

Every card has its own grammar (its review must open with the tool's name), and vLLM
compiles it with xgrammar before the card's first token. On a 2-core CPU that compile used
to cost more than generating the card's four reviews, so this measures it directly, with
the compiler settings vLLM 0.32 uses (8 threads, compact separators, cache off), for:

  current   panel's generation schema (shared ``$defs``, word length left open);
  inlined   the same with each ``$ref`` copied into both branches (no shared rule);
  bounded   inlined, and every word bounded to WORD_CHARS characters (the old grammar).

Reports seconds per card and the ratios to ``current``, all from one run.
Run: ``python bench/grammar.py [--cards N] [--model NAME]``.
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import statistics
import time
from typing import Any

from panel.schema import WORD_CHARS, Rubric, generation_schema
from panel.workspace import Workspace


def inlined(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with every ``#/$defs/x`` reference replaced by a copy of ``x``."""
    out = copy.deepcopy(schema)
    defs = out.pop("$defs")
    for branch in out["anyOf"]:
        props = branch["properties"]
        for name, prop in props.items():
            if "$ref" in prop:
                props[name] = copy.deepcopy(defs[prop["$ref"].rsplit("/", 1)[1]])
    return out


def bounded(schema: dict[str, Any]) -> dict[str, Any]:
    """``inlined``, with open-ended words (``]+`` / ``]*``) bounded to WORD_CHARS."""
    text = json.dumps(inlined(schema))
    text = re.sub(r"\]\+", f"]{{1,{WORD_CHARS}}}", text)
    return json.loads(re.sub(r"\]\*", f"]{{0,{WORD_CHARS}}}", text))


def compile_seconds(compiler: Any, schema: dict[str, Any]) -> float:
    """Wall seconds for xgrammar to compile one JSON schema as vLLM asks it to."""
    t0 = time.perf_counter()
    compiler.compile_json_schema(json.dumps(schema), any_whitespace=False,
                                 separators=(",", ":"))
    return time.perf_counter() - t0


def main() -> None:
    import xgrammar as xgr  # noqa: PLC0415
    from transformers import AutoTokenizer  # noqa: PLC0415

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cards", type=int, default=5)
    ap.add_argument("--model", default="smollm2-135m")
    args = ap.parse_args()
    spec = Workspace().settings(args.model).spec
    info = xgr.TokenizerInfo.from_huggingface(AutoTokenizer.from_pretrained(str(spec.weights())))
    compiler = xgr.GrammarCompiler(info, max_threads=8, cache_enabled=False)
    names = [f"Tool{i} Studio" for i in range(args.cards)]
    variants = {"current": lambda s: s, "inlined": inlined, "bounded": bounded}
    per: dict[str, float] = {}
    for label, make in variants.items():
        secs = [compile_seconds(compiler, make(generation_schema(Rubric(), n))) for n in names]
        per[label] = statistics.mean(secs)
        print(f"{label:8} {per[label]:6.2f} s per card grammar "
              f"(x{per[label] / per['current']:.1f} of current; n={len(secs)})", flush=True)


if __name__ == "__main__":
    main()
