"""Backends by name: a dict and a decorator, with factories that import vLLM lazily.

``import panel`` and ``panel --help`` must not load torch, so each factory imports its
module only when a backend of that kind is created.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from panel.backends.base import Backend, GenRequest, GenResult
from panel.errors import PanelError

if TYPE_CHECKING:
    from panel.config.registry import ModelSpec

Factory = Callable[["ModelSpec"], Backend]
_FACTORIES: dict[str, Factory] = {}


def backend(kind: str) -> Callable[[Factory], Factory]:
    """Register a factory for ``backend: kind`` in models.yaml."""
    def register(factory: Factory) -> Factory:
        _FACTORIES[kind] = factory
        return factory
    return register


def create_backend(spec: ModelSpec) -> Backend:
    """Build the backend a registry entry asks for."""
    if spec.backend not in _FACTORIES:
        raise PanelError(f"model '{spec.name}': no backend '{spec.backend}' "
                         f"(have: {', '.join(sorted(_FACTORIES))})")
    return _FACTORIES[spec.backend](spec)


@backend("vllm")
def _vllm(spec: ModelSpec) -> Backend:
    from panel.backends.vllm.engine import VLLMBackend

    return VLLMBackend(spec)


@backend("openai")
def _openai(spec: ModelSpec) -> Backend:
    from panel.backends.openai_server import VLLMServerBackend

    return VLLMServerBackend(spec)


@backend("mock")
def _mock(spec: ModelSpec) -> Backend:
    from panel.backends.mock import MockBackend

    return MockBackend(spec)


__all__ = ["Backend", "GenRequest", "GenResult", "backend", "create_backend"]
