"""A scripted backend for orchestration tests (store, resume, retries, CLI), never for
proving model behaviour: that is what the engine tests on the embedded model are for.

By default it answers every request with a valid reply derived from the request's seed (a
review, or a head-to-head pick when the request's schema is ``PairOutput``), so results
are deterministic, with no log-probabilities. ``MockBackend.script`` queues exact replies
(text, finish_reason and, if given, the tokens' log-probabilities) to test failure paths
and what is kept of a reply, like simonw/llm's ``MockModel.enqueue``; a scripted review
that has no ``evidence`` gets the card's first quote, so a script states only what it tests.
``PANEL_MOCK_DELAY_S`` makes each request take that long, so a test can kill a batch
part-way through; ``PANEL_MOCK_UNAVAILABLE`` makes every request a transient failure (a
server that serves nothing), also inside Ray actors, which inherit the environment.
"""

from __future__ import annotations

import json
import os
import time
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

from panel.backends.base import Backend, GenRequest, GenResult, OnResult
from panel.contract.expected import TokenLogprobs

if TYPE_CHECKING:
    from panel.config.registry import ModelSpec


class MockBackend(Backend):
    """Deterministic fake: counts calls so tests can assert "zero model calls"."""

    script: ClassVar[deque[tuple[str, str, list[TokenLogprobs] | None]]] = deque()
    calls: ClassVar[int] = 0

    def __init__(self, spec: ModelSpec):
        super().__init__(spec)

    @classmethod
    def enqueue(cls, text: str, finish_reason: str = "stop",
                logprobs: list[TokenLogprobs] | None = None) -> None:
        """The next request gets exactly this reply."""
        cls.script.append((text, finish_reason, logprobs))

    @classmethod
    def reset(cls) -> None:
        cls.script.clear()
        cls.calls = 0

    def generate(self, requests: Sequence[GenRequest],
                 on_result: OnResult | None = None) -> list[GenResult]:
        results = []
        delay = float(os.environ.get("PANEL_MOCK_DELAY_S") or 0)
        for req in requests:
            MockBackend.calls += 1
            if delay:  # sleep(0) still yields the CPU: ~0.6 ms a request on a busy machine
                time.sleep(delay)
            if os.environ.get("PANEL_MOCK_UNAVAILABLE"):  # a server that serves nothing
                res = GenResult(id=req.id, text="", finish_reason="error", transient=True,
                                error="mock server unavailable (PANEL_MOCK_UNAVAILABLE)")
                if on_result:
                    on_result(res)
                results.append(res)
                continue
            text, reason, logprobs = (self.script.popleft() if self.script
                                      else (_reply(req), "stop", None))
            text = _with_evidence(text, req)
            res = GenResult(id=req.id, text=text, finish_reason=reason, prompt_tokens=100,
                            output_tokens=len(text.split()), seconds=0.001, logprobs=logprobs)
            if on_result:
                on_result(res)
            results.append(res)
        return results


def _with_evidence(text: str, req: GenRequest) -> str:
    """A scripted review object without evidence, quoting the card's first sentence."""
    quote = req.json_schema.get("$defs", {}).get("quote")
    try:
        doc = json.loads(text)
    except ValueError:
        return text
    if not quote or not isinstance(doc, dict) or "evidence" in doc or "reasoning" not in doc:
        return text
    return json.dumps({"evidence": quote["enum"][:1], **doc}, ensure_ascii=False)


def _reply(req: GenRequest) -> str:
    return _pick(req) if req.json_schema.get("title") == "PairOutput" else _valid(req)


def _pick(req: GenRequest) -> str:
    """A schema-valid head-to-head pick whose choice and margin follow from the seed."""
    allowed = req.json_schema["properties"]["choice"]["enum"]
    return json.dumps({"reason": "Mock pick scripted for tests.",
                       "choice": allowed[req.seed % len(allowed)], "margin": req.seed % 101})


def _valid(req: GenRequest) -> str:
    """A schema-valid review whose score, verdict and quotes follow from the seed."""
    score = req.seed % 101
    branch = req.json_schema["anyOf"][0 if score >= 60 else 1]["properties"]
    verdict = branch["verdict"]["enum"][0]
    lo, hi = branch["score"]["minimum"], branch["score"]["maximum"]
    score = min(max(score, lo), hi)
    name = req.messages[-1]["content"].split("Name: ", 1)[-1].split("\n", 1)[0]
    quotes = req.json_schema["$defs"]["quote"]["enum"]
    evidence = [quotes[(req.seed + i) % len(quotes)] for i in range(1 + req.seed % 2)]
    return json.dumps({
        "evidence": list(dict.fromkeys(evidence)),
        "reasoning": "Mock notes written before the score.",
        "score": score, "verdict": verdict,
        "review": f"{name} is reviewed by the mock backend. This text is scripted for tests.",
    })
