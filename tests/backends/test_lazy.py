"""The lazy engine: built at its first use, closed only by whoever built it."""

from __future__ import annotations

from collections.abc import Sequence

from panel.backends import Backend, GenRequest, GenResult
from panel.backends.base import OnResult
from panel.backends.lazy import EngineHandle, LazyBackend
from panel.backends.mock import MockBackend, Mocks
from panel.config.workspace import Workspace


class Probe(Backend):
    """Records how often it was closed, and answers with its own versions."""

    def __init__(self, backend: Backend) -> None:
        super().__init__(backend.spec)
        self.inner, self.closed, self.started = backend, 0, 0

    def generate(self, requests: Sequence[GenRequest],
                 on_result: OnResult | None = None) -> list[GenResult]:
        return self.inner.generate(requests, on_result)

    def start(self) -> None:
        self.started += 1

    def versions(self) -> dict[str, str]:
        return {"probe": "1"}

    def close(self) -> None:
        self.closed += 1


def test_a_handle_builds_once_on_first_get_and_closes_only_what_it_built(ws: Workspace) -> None:
    built: list[Probe] = []

    def make() -> Backend:
        built.append(Probe(MockBackend(ws.settings("mock").spec)))
        return built[-1]

    handle = EngineHandle(make)
    assert not handle.started and handle.peek() is None and built == []
    first = handle.get()
    assert handle.get() is first and len(built) == 1 and handle.started
    handle.close()
    assert built[0].closed == 1 and not handle.started
    handle.close()  # nothing left to close: still once
    assert built[0].closed == 1
    assert handle.get() is not first and len(built) == 2  # a later use builds afresh


def test_a_lent_backend_is_used_and_never_closed(ws: Workspace) -> None:
    lent = Probe(MockBackend(ws.settings("mock").spec))

    def never() -> Backend:
        raise AssertionError("a handle with a lent backend built another")

    handle = EngineHandle(never, lent)
    assert handle.started and handle.get() is lent
    handle.close()
    handle.close()
    assert lent.closed == 0 and handle.get() is lent


def test_a_lazy_backend_starts_nothing_until_asked_and_passes_everything_through(
        ws: Workspace) -> None:
    lent = Probe(MockBackend(ws.settings("mock").spec))
    lazy = LazyBackend(ws.settings("mock").spec)
    assert not lazy.started and lazy.versions() == {}
    lazy.reset_cache()  # on nothing: still nothing started
    assert not lazy.started
    borrowed = LazyBackend(lent.spec, lent)
    borrowed.start()
    assert lent.started == 1 and borrowed.versions() == {"probe": "1"}
    borrowed.close()
    assert lent.closed == 0


def test_a_lazy_backend_builds_the_registry_backend_at_its_first_request(
        ws: Workspace, mock: Mocks) -> None:
    lazy = LazyBackend(ws.settings("mock").spec)
    req = GenRequest(id="r1", messages=[{"role": "user", "content": "Name: Probe\n"}],
                     json_schema={"title": "PairOutput", "properties": {
                         "choice": {"enum": ["A", "B"]}}}, seed=3, max_tokens=8)
    [res] = lazy.generate([req])
    assert lazy.started and [lazy.engine.peek()] == mock.made  # the registry's, built now
    assert res.id == "r1" and '"choice": "B"' in res.text and list(mock.made[0].history) == [req]
    lazy.close()
    assert not lazy.started
