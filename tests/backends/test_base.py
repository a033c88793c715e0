"""The default ``Backend.stream`` (what a backend without its own gets), on the mock."""

from __future__ import annotations

from dataclasses import replace

from panel.backends.base import GenRequest, GenResult
from panel.backends.mock import MockBackend
from panel.config.workspace import Workspace
from panel.inputs.cards import load_cards
from panel.pipeline.retry import ReviewContract
from panel.pipeline.run import plan

from conftest import EXAMPLES


def test_follow_ups_run_in_rounds_and_each_result_is_settled_once(ws: Workspace) -> None:
    settings = ws.settings("mock")
    cards = [c.card for c in load_cards([EXAMPLES / "voicedesk.yaml"])]
    requests = [ReviewContract(settings).request(j, 0) for j in plan(ws, cards, "mock")]
    settled: list[str] = []

    def settle(res: GenResult) -> GenRequest | None:
        settled.append(res.id)  # the mock both calls on_result and returns each result
        if res.id == requests[0].id:
            return replace(requests[0], id="again", seed=1)
        if res.id == "again":
            return replace(requests[0], id="third", seed=2)
        return None

    backend = MockBackend(settings.spec)
    backend.stream(requests, settle)
    assert settled == [r.id for r in requests] + ["again", "third"]
    assert [r.id for r in backend.history] == settled  # 4, then 1, then 1: three rounds
