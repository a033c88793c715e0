"""A vLLM general plugin: compile output grammars synchronously, for reproducible batches.

vLLM compiles a request's grammar in a thread pool and schedules the request once it is
ready, so which requests share a step depends on compile timing (and on xgrammar's cache:
a second run finds every grammar compiled). On CPU the sampled tokens depend on the batch
a request shares, so the same seeds gave different reviews across runs of one batch.
Compiling at admission makes scheduling a function of the inputs alone.

vLLM loads general plugins in every process it starts (engine core, workers), which is
the only way to reach the engine core's scheduler from here. Set PANEL_SYNC_GRAMMAR=0 to
keep vLLM's asynchronous compilation. Registered in pyproject.toml under
``vllm.general_plugins``; written against vLLM 0.32.
"""

from __future__ import annotations

import os
from typing import Any


def register() -> None:
    """Patch StructuredOutputManager once per process (plugins may load several times)."""
    if os.environ.get("PANEL_SYNC_GRAMMAR", "1") == "0":
        return
    from vllm.v1.structured_output import StructuredOutputManager

    if getattr(StructuredOutputManager, "_panel_sync", False):
        return
    original = StructuredOutputManager.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self._use_async_grammar_compilation = False

    StructuredOutputManager.__init__ = __init__  # type: ignore[method-assign]
    StructuredOutputManager._panel_sync = True  # type: ignore[attr-defined]
