"""Grammar compile time: what one card's structured-output grammar costs before generation.

Every card has its own grammar (its review must open with the tool's name), and vLLM
compiles it with xgrammar before the card's first token: thousands of cards pay it
thousands of times. This measures it directly, with the compiler settings vLLM 0.32 uses
(8 threads, compact separators, cache off), for:

  ebnf       panel's generation grammar (shared rules; words bounded to WORD_CHARS);
  json       the JSON-schema twin that servers get (``$defs``; word length left open);
  json-words the JSON schema with bounded words, as the EBNF has them (nested counted
             repetitions in a regex, which xgrammar unrolls).

Reports seconds per card and the ratios to ``ebnf``, all from one run.
Run: ``python bench/grammar.py [--cards N] [--model NAME]``.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import time
from collections.abc import Callable
from typing import Any

from panel.backends.vllm.weights import resolve
from panel.config.workspace import Workspace
from panel.contract.grammar import generation_grammar, generation_schema
from panel.contract.output import WORD_CHARS, Rubric


def bounded(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with open-ended words (``]+`` / ``]*``) bounded to WORD_CHARS."""
    text = json.dumps(schema)
    text = re.sub(r"\]\+", f"]{{1,{WORD_CHARS}}}", text)
    return json.loads(re.sub(r"\]\*", f"]{{0,{WORD_CHARS - 1}}}", text))


def timed(compile_one: Callable[[str], Any], name: str) -> float:
    """Wall seconds of one compile."""
    t0 = time.perf_counter()
    compile_one(name)
    return time.perf_counter() - t0


def main() -> None:
    import xgrammar as xgr
    from transformers import AutoTokenizer

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cards", type=int, default=5)
    ap.add_argument("--model", default="smollm2-135m")
    args = ap.parse_args()
    spec = Workspace().settings(args.model).spec
    tokenizer = AutoTokenizer.from_pretrained(str(resolve(spec)))
    info = xgr.TokenizerInfo.from_huggingface(tokenizer, vocab_size=len(tokenizer))
    compiler = xgr.GrammarCompiler(info, max_threads=8, cache_enabled=False)
    rubric = Rubric()

    def schema(s: dict[str, Any]) -> Any:
        return compiler.compile_json_schema(json.dumps(s), any_whitespace=False,
                                            separators=(",", ":"))

    variants: dict[str, Callable[[str], Any]] = {
        "ebnf": lambda n: compiler.compile_grammar(generation_grammar(rubric, n)),
        "json": lambda n: schema(generation_schema(rubric, n)),
        "json-words": lambda n: schema(bounded(generation_schema(rubric, n))),
    }
    names = [f"Tool{i} Studio" for i in range(args.cards)]
    per: dict[str, float] = {}
    for label, make in variants.items():
        per[label] = statistics.mean(timed(make, n) for n in names)
        print(f"{label:10} {per[label]:6.3f} s per card grammar "
              f"(x{per[label] / per['ebnf']:.1f} of ebnf; n={len(names)})", flush=True)


if __name__ == "__main__":
    main()
