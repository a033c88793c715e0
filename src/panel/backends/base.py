"""The backend interface: one batch in, one result per request out.

A batch, not a single prompt, is the unit because vLLM's continuous batching is where the
throughput comes from (lm-evaluation-harness's ``generate_until(list[Instance])`` has the
same shape). Backends never raise for one bad request: a request that fails comes back with
``error`` set, so the caller can retry or record it and nothing is dropped. A retry need
not wait for its batch to end: ``stream`` takes a follow-up request for each result and
runs it beside the rest.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from panel.contract.expected import TokenLogprobs

if TYPE_CHECKING:
    from panel.config.registry import ModelSpec

OnResult = Callable[["GenResult"], None]
"""Called with each result as soon as it is ready, so callers can store it at once."""

Settle = Callable[["GenResult"], "GenRequest | None"]
"""Called with each result as soon as it is ready; returns the follow-up request to run
(a retry), or None. See ``Backend.stream``."""


@dataclass(frozen=True)
class GenRequest:
    """One chat completion to run under a grammar.

    ``json_schema`` is the shape as a JSON schema (what an OpenAI-style server takes);
    ``grammar``, when set, is the same shape as EBNF with tighter bounds, which backends
    that accept one (in-process vLLM) decode under instead.
    """

    id: str
    messages: list[dict[str, str]]
    json_schema: dict[str, Any]
    seed: int
    max_tokens: int
    temperature: float = 0.7
    top_p: float = 1.0
    top_k: int = 0
    repetition_penalty: float = 1.0
    grammar: str | None = None
    logprobs: int = 0
    """Top alternatives to report per generated token (0: none), for the expected score."""


@dataclass
class GenResult:
    """What the engine returned for one request."""

    id: str
    text: str = ""
    finish_reason: str | None = None
    prompt_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    seconds: float = 0.0
    error: str | None = None
    transient: bool = False
    """The server, not the model, failed (down, timing out, 5xx, garbage) after the backend's
    retries: not a review attempt, so the caller neither stores nor counts it (a re-run
    makes it)."""
    logprobs: list[TokenLogprobs] | None = None
    """Each generated token with its top alternatives, when the request asked for them and
    the backend can say; None otherwise."""
    extra: dict[str, Any] = field(default_factory=dict)


class Backend(ABC):
    """A model behind one method (and two optional hooks)."""

    def __init__(self, spec: ModelSpec):
        self.spec = spec

    @abstractmethod
    def generate(self, requests: Sequence[GenRequest],
                 on_result: OnResult | None = None) -> list[GenResult]:
        """Run every request; return results in the same order.

        ``on_result`` is called once per request as it finishes (in completion order).
        """

    def stream(self, requests: Sequence[GenRequest], settle: Settle) -> None:
        """Run every request and every follow-up ``settle`` asks for, until none is left.

        ``settle`` is called once per request, in completion order, on the calling thread;
        the request it returns, if any, is run too. A backend that can add work while it
        runs (an engine stepping a batch, a pool of connections) overrides this so a retry
        starts at once instead of after the slowest request of its batch. This default
        runs rounds of ``generate``: each round's follow-ups make the next round.
        """
        follow: list[GenRequest] = []
        seen: set[str] = set()

        def settled(res: GenResult) -> None:
            if res.id not in seen:
                seen.add(res.id)
                nxt = settle(res)
                if nxt is not None:
                    follow.append(nxt)

        pending = list(requests)
        while pending:
            seen.clear()
            for res in self.generate(pending, settled):
                settled(res)  # a backend that does not call on_result still settles each
            pending, follow = follow, []

    def versions(self) -> dict[str, str]:
        """Library versions that shape the output, recorded for reproducibility."""
        return {}

    def _generate_by_stream(self, requests: Sequence[GenRequest],
                            on_result: OnResult | None) -> list[GenResult]:
        """``generate`` for a backend whose own path is ``stream`` (an engine, a pool):
        every request once, no follow-ups, results in request order."""
        results: dict[str, GenResult] = {}

        def keep(res: GenResult) -> None:
            results[res.id] = res
            if on_result:
                on_result(res)

        self.stream(requests, keep)
        return [results[r.id] for r in requests]

    def start(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Start the engine now, if this backend starts it on its first request: a caller
        timing the engine's work (its cost) starts the clock after this."""

    def reset_cache(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Empty any prompt cache, so the next batch runs as it would on a fresh engine.

        Reproducing a batch exactly needs the same cache state as well as the same seeds;
        backends without a cache have nothing to do.
        """

    def close(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Release the engine or connections."""

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
