"""A scripted backend for orchestration tests (store, resume, retries, CLI), never for
proving model behaviour: that is what the engine tests on the embedded model are for.

By default it answers every request with a valid reply derived from the request's seed (a
review, or a head-to-head pick when the request's schema is ``PairOutput``), so results
are deterministic, with no log-probabilities. Each instance has a ``script`` of exact
replies (text, finish_reason and, if given, the tokens' log-probabilities) to test failure
paths and what is kept of a reply, and a ``history`` of the requests it served, like
simonw/llm's ``MockModel`` (its queue and history). A backend a run builds through the
registry is out of a test's reach, so ``Mocks`` (tests/conftest.py installs one per test
as the ``mock`` factory) hands every instance it makes one queue the test fills first, and
keeps the instances for the test to read. A scripted review that has no ``evidence`` gets
the card's first quote, so a script states only what it tests.
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
from typing import TYPE_CHECKING

from panel.backends.base import Backend, GenRequest, GenResult, OnResult
from panel.contract.expected import TokenLogprobs

if TYPE_CHECKING:
    from panel.config.registry import ModelSpec


Reply = tuple[str, str, list[TokenLogprobs] | None]
"""A scripted reply: text, finish_reason, the tokens' log-probabilities (or None)."""


HISTORY = 1000
"""Requests a mock keeps for a test to read. Bounded: a mock batch of 80,000 reviews held
every request (prompts, grammars) and bench/scale.py measured the mock's memory (493 MB,
x2.3 for x4 the work) instead of panel's (128 MB, flat)."""


class MockBackend(Backend):
    """Deterministic fake with its own script and history, so a test can assert exactly
    what one backend was asked ("zero model calls" on a re-run)."""

    def __init__(self, spec: ModelSpec, script: deque[Reply] | None = None):
        super().__init__(spec)
        self.script: deque[Reply] = deque() if script is None else script
        """Replies for the next requests, oldest first; a request with none left gets a
        valid reply derived from its seed. Shared when given (see ``Mocks``)."""
        self.history: deque[GenRequest] = deque(maxlen=HISTORY)
        """The latest ``HISTORY`` requests this instance served, in order."""
        self.calls = 0
        """Requests served so far, all of them."""

    def served(self, req: GenRequest) -> None:
        """Count ``req`` and keep it in the history (a subclass that answers some requests
        itself calls this too)."""
        self.history.append(req)
        self.calls += 1

    def enqueue(self, text: str, finish_reason: str = "stop",
                logprobs: list[TokenLogprobs] | None = None) -> None:
        """The next request gets exactly this reply."""
        self.script.append((text, finish_reason, logprobs))

    def generate(self, requests: Sequence[GenRequest],
                 on_result: OnResult | None = None) -> list[GenResult]:
        results = []
        delay = float(os.environ.get("PANEL_MOCK_DELAY_S") or 0)
        for req in requests:
            self.served(req)
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


class Mocks:
    """The mock backends a test's runs build, and the replies queued for them.

    Installed as the registry's ``mock`` factory (tests/conftest.py does it for every
    test), it gives each instance it makes the one ``script`` the test filled before the
    run started, and keeps the instances in ``made``, in order, for the test to read.
    """

    def __init__(self) -> None:
        self.script: deque[Reply] = deque()
        self.made: list[MockBackend] = []

    def __call__(self, spec: ModelSpec) -> MockBackend:
        """The registry's factory: a new instance on the shared script, remembered."""
        self.made.append(MockBackend(spec, self.script))
        return self.made[-1]

    def enqueue(self, text: str, finish_reason: str = "stop",
                logprobs: list[TokenLogprobs] | None = None) -> None:
        """The next request any of them serves gets exactly this reply."""
        self.script.append((text, finish_reason, logprobs))

    @property
    def calls(self) -> int:
        """Requests served by every instance made so far."""
        return sum(m.calls for m in self.made)

    def reset(self) -> None:
        """Forget the instances and the replies left (a test's second phase)."""
        self.script.clear()
        self.made.clear()


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
