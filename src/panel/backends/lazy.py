"""An engine started on its first use and closed only by whoever started it.

Starting an engine is the slowest step on a CPU (a minute and more), so every caller that
may have nothing to run (a re-run whose reviews are all stored, a compare whose judgments
are stored, a web app nobody asks to regenerate) starts it lazily; and an engine lent by a
caller (tests share one; a batch lends its own to the steps inside it) must outlive the
borrower. ``EngineHandle`` is that rule once; ``LazyBackend`` is a backend built on it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from panel.backends import create_backend
from panel.backends.base import Backend, GenRequest, GenResult, OnResult, Settle

if TYPE_CHECKING:
    from panel.config.registry import ModelSpec


class EngineHandle:
    """A backend built by ``make`` on the first ``get``, unless one was ``lent``; ``close``
    closes only a backend this handle built (and forgets it, so a later ``get`` builds
    a fresh one)."""

    def __init__(self, make: Callable[[], Backend], lent: Backend | None = None):
        self._make = make
        self._backend = lent
        self._owned = lent is None

    @property
    def started(self) -> bool:
        """Whether a backend exists (lent, or built by a ``get``)."""
        return self._backend is not None

    def get(self) -> Backend:
        """The backend, built now if this is its first use."""
        if self._backend is None:
            self._backend = self._make()
        return self._backend

    def peek(self) -> Backend | None:
        """The backend if it exists, without building one."""
        return self._backend

    def close(self) -> None:
        """Close the backend if this handle built it; a lent one is left open."""
        if self._owned and self._backend is not None:
            self._backend.close()
            self._backend = None


class LazyBackend(Backend):
    """A transparent backend over ``spec``'s real one, built at its first request (or
    ``start``); a ``lent`` backend is used instead and never closed."""

    def __init__(self, spec: ModelSpec, lent: Backend | None = None):
        super().__init__(spec)
        self.engine = EngineHandle(lambda: create_backend(spec), lent)

    @property
    def started(self) -> bool:
        """Whether the real backend exists (a fully stored run never builds it)."""
        return self.engine.started

    def generate(self, requests: Sequence[GenRequest],
                 on_result: OnResult | None = None) -> list[GenResult]:
        return self.engine.get().generate(requests, on_result)

    def stream(self, requests: Sequence[GenRequest], settle: Settle) -> None:
        """The real backend's own stream (retries join its running batch)."""
        self.engine.get().stream(requests, settle)

    def start(self) -> None:
        """Build the real backend now (a caller timing its work starts after this)."""
        self.engine.get().start()

    def versions(self) -> dict[str, str]:
        inner = self.engine.peek()
        return inner.versions() if inner is not None else {}

    def reset_cache(self) -> None:
        inner = self.engine.peek()
        if inner is not None:
            inner.reset_cache()

    def close(self) -> None:
        self.engine.close()
