"""In-process vLLM: the fastest path, one engine shared by every request of a run.

Requests go to the engine together and are stepped to completion, so continuous batching
and the prefix cache (persona prompts are shared prefixes) do their work; each finished
request is handed back at once so the caller can store it before the batch ends.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, ClassVar

from panel.backends import _vllm_compat as compat
from panel.backends.base import Backend, GenRequest, GenResult, OnResult
from panel.registry import ModelSpec


class VLLMBackend(Backend):
    """vllm.LLM in this process. On CPU, create it under ``if __name__ == "__main__"``."""

    kind: ClassVar[str] = "vllm"

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


def _result(out: Any, seconds: float) -> GenResult:
    """Convert a vLLM RequestOutput into our plain result."""
    comp = out.outputs[0]
    return GenResult(id=out.request_id, text=comp.text, finish_reason=comp.finish_reason,
                     prompt_tokens=len(out.prompt_token_ids or []),
                     output_tokens=len(comp.token_ids), cached_tokens=out.num_cached_tokens or 0,
                     seconds=seconds)
