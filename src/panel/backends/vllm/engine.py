"""In-process vLLM: the fastest path, one engine shared by every request of a run.

Requests go to the engine together and are stepped to completion, so continuous batching
and the prefix cache (persona prompts are shared prefixes) do their work; each finished
request is handed back at once so the caller can store it before the batch ends.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from panel.backends.base import Backend, GenRequest, GenResult, OnResult
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
        started = {r.id: time.perf_counter() for r in requests}
        compat.add_chat_requests(self.llm, requests)
        results: dict[str, GenResult] = {}
        for out in compat.step_until_done(self.llm):
            res = _result(out, time.perf_counter() - started[out.request_id])
            results[res.id] = res
            if on_result:
                on_result(res)
        return [results.get(r.id) or GenResult(id=r.id, error="engine returned no output")
                for r in requests]

    def versions(self) -> dict[str, str]:
        return compat.versions()

    def reset_cache(self) -> None:
        compat.reset_prefix_cache(self.llm)

    def close(self) -> None:
        compat.shutdown(self.llm)
        self.llm = None


