"""In-process vLLM: the fastest path, one engine shared by every request of a run.

Requests go to the engine together and are stepped to completion, so continuous batching
and the prefix cache (persona prompts are shared prefixes) do their work; each finished
request is handed back at once so the caller can store it before the batch ends, and a
retry the caller asks for joins the running batch at once (``stream``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from panel.backends.base import Backend, GenRequest, GenResult, OnResult, Settle
from panel.backends.vllm import compat
from panel.backends.vllm.compat import _result

if TYPE_CHECKING:
    from panel.config.registry import ModelSpec


class VLLMBackend(Backend):
    """vllm.LLM in this process. On CPU, create it under ``if __name__ == "__main__"``."""

    def __init__(self, spec: ModelSpec):
        super().__init__(spec)
        self.llm: Any = compat.make_llm(spec)

    def generate(self, requests: Sequence[GenRequest],
                 on_result: OnResult | None = None) -> list[GenResult]:
        """Add every request to the engine, step until all finish, return them in order."""
        return self._generate_by_stream(requests, on_result)

    def stream(self, requests: Sequence[GenRequest], settle: Settle) -> None:
        """Step the engine until every request and follow-up has finished; a follow-up is
        added to the engine as soon as ``settle`` returns it, so it is scheduled beside the
        requests still running. If ``settle`` raises, the requests left are aborted, so
        the engine is clean for the next call."""
        started: dict[str, float] = {}
        try:
            self._add(requests, started)
            while started:
                for out in compat.step_until_done(self.llm):
                    begun = started.pop(out.request_id, None)
                    if begun is not None:  # none: not this call's request
                        res = _result(out, time.perf_counter() - begun)
                        self._add(_one(settle(res)), started)
                for rid in list(started):  # the engine dropped it: an error, not a loss
                    del started[rid]
                    self._add(_one(settle(GenResult(id=rid, error="engine returned no "
                                                    "output"))), started)
        finally:
            if started:
                compat.abort(self.llm, list(started))

    def _add(self, requests: Sequence[GenRequest], started: dict[str, float]) -> None:
        now = time.perf_counter()
        started.update((r.id, now) for r in requests)
        compat.add_chat_requests(self.llm, requests)

    def versions(self) -> dict[str, str]:
        return compat.versions()

    def reset_cache(self) -> None:
        compat.reset_prefix_cache(self.llm)

    def close(self) -> None:
        compat.shutdown(self.llm)
        self.llm = None




def _one(req: GenRequest | None) -> list[GenRequest]:
    return [] if req is None else [req]
