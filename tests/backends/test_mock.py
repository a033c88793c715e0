"""The mock backend: a script and a (bounded) history per instance; ``Mocks`` reaches the ones a
run builds through the registry."""

from __future__ import annotations

import json

from panel.backends import GenRequest, create_backend
from panel.backends.mock import HISTORY, MockBackend, Mocks
from panel.config.workspace import Workspace

PICK = {"title": "PairOutput", "properties": {"choice": {"enum": ["first", "second"]}}}


def request(rid: str, seed: int = 0) -> GenRequest:
    return GenRequest(id=rid, messages=[{"role": "user", "content": "Name: X\n"}],
                      json_schema=PICK, seed=seed, max_tokens=8)


def test_each_instance_has_its_own_script_and_history(ws: Workspace) -> None:
    spec = ws.settings("mock").spec
    one, two = MockBackend(spec), MockBackend(spec)
    one.enqueue("scripted", "length")
    [mine] = one.generate([request("a")])
    [theirs] = two.generate([request("b", seed=1)])
    assert (mine.text, mine.finish_reason) == ("scripted", "length")
    assert json.loads(theirs.text)["choice"] == "second"  # seed 1: no script reached it
    assert [r.id for r in one.history] == ["a"] and [r.id for r in two.history] == ["b"]
    assert (one.calls, two.calls, len(one.script)) == (1, 1, 0)


def test_the_history_keeps_the_latest_requests_and_calls_counts_them_all(
        ws: Workspace) -> None:
    """A mock batch of any size holds a bounded history (bench/scale.py measures panel's
    memory, not the mock's), while ``calls`` still counts every request."""
    mock = MockBackend(ws.settings("mock").spec)
    mock.generate([request(f"r{i}") for i in range(HISTORY + 5)])
    assert mock.calls == HISTORY + 5 and len(mock.history) == HISTORY
    assert (mock.history[0].id, mock.history[-1].id) == ("r5", f"r{HISTORY + 4}")


def test_the_registry_builds_through_the_tests_mocks_in_order(ws: Workspace,
                                                              mock: Mocks) -> None:
    spec = ws.settings("mock").spec
    mock.enqueue("first reply")
    mock.enqueue("second reply")
    a, b = create_backend(spec), create_backend(spec)
    assert mock.made == [a, b] and a is not b
    [ra] = a.generate([request("a")])
    [rb] = b.generate([request("b")])
    assert (ra.text, rb.text) == ("first reply", "second reply")  # one queue, filled first
    assert (mock.calls, a.calls, b.calls) == (2, 1, 1)
    mock.reset()
    assert (mock.made, mock.calls, len(mock.script)) == ([], 0, 0)
