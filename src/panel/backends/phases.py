"""Start-up phases (converting a model on first use, starting the engine), told to a listener.

These are the long silent waits of a first run (a minute and more on a laptop CPU) and they
happen deep inside ``create_backend``, which every door (the CLI, the web app, a Ray actor,
the benchmarks) calls with a spec alone. Library code never prints, so the phases are
events: the CLI installs a listener for the duration of a command (``listening``) and draws
a bar per phase; without a listener, ``phase`` costs nothing. A context variable rather than
a parameter, so that a display concern does not widen every backend's signature.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class PhaseEvent:
    """A phase began, ended, or failed."""

    key: str
    """What kind of phase: ``convert`` (a model's weights, once) or ``engine``."""
    label: str
    """What a person reads, e.g. 'starting vLLM (smollm2-135m, float32)'."""
    state: Literal["start", "done", "failed"]


Listener = Callable[[PhaseEvent], None]

_listener: ContextVar[Listener | None] = ContextVar("panel_phase_listener", default=None)


@contextmanager
def listening(listener: Listener) -> Iterator[None]:
    """Send the phases of this block (in this thread) to ``listener``."""
    token = _listener.set(listener)
    try:
        yield
    finally:
        _listener.reset(token)


@contextmanager
def phase(key: str, label: str) -> Iterator[None]:
    """Mark the block as one phase: the listener hears its start, then its end or failure."""
    listener = _listener.get()
    if listener is None:
        yield
        return
    listener(PhaseEvent(key, label, "start"))
    try:
        yield
    except BaseException:
        listener(PhaseEvent(key, label, "failed"))
        raise
    listener(PhaseEvent(key, label, "done"))
