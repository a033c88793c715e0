"""The server backend against a real vLLM OpenAI-compatible server on the embedded model.

One server is started for the module (about a minute on CPU) on a free localhost port,
found the way users find it (the record `panel serve` writes), and stopped in teardown.
The same card goes through it and through the session's in-process engine: both must give
a schema-valid four-persona panel from the same prompts.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from panel.backends import create_backend
from panel.backends.base import Backend
from panel.backends.servers import resolve_url
from panel.backends.vllm import server as serve
from panel.config.workspace import Workspace
from panel.contract.output import ReviewOutput, count_sentences
from panel.errors import PanelError
from panel.inputs.cards import load_cards
from panel.pipeline.run import review_cards

from conftest import EMBEDDED, ENGINE_LENGTHS, EXAMPLES

SERVED = "smollm2-135m-server"
pytestmark = pytest.mark.engine


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory,
           engine_project: Path) -> Iterator[serve.Server]:
    """A real vLLM server for the `smollm2-135m-server` entry, recorded for discovery."""
    folder = tmp_path_factory.mktemp("servers")
    spec = Workspace(root=engine_project).registry.get(SERVED)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PANEL_SERVERS_DIR", str(folder))
        with serve.running_server(spec, port=free_port(), log=folder / "server.log",
                                  timeout_s=420) as srv:
            yield srv
    assert not (folder / f"{SERVED}.json").exists(), "the record goes when the server does"


def test_serve_records_a_healthy_server(server: serve.Server, ws: Workspace) -> None:
    assert resolve_url(ws.registry.get(SERVED)) == server.url
    models = httpx.get(server.url + "/models", timeout=10).json()
    assert [m["id"] for m in models["data"]] == [SERVED]


def test_server_and_in_process_engine_give_the_same_schema_valid_panel(
        server: serve.Server, engine: Backend, ws: Workspace) -> None:
    """Both paths decode under the same bounded grammar, so both keep to the engine tests'
    shorter review lengths (conftest.ENGINE_LENGTHS) and stop on their own."""
    lo, hi = ws.config.review.sentences
    assert [lo, hi] == ENGINE_LENGTHS["sentences"]
    card = load_cards([EXAMPLES / "voicedesk.yaml"])[0].card
    remote = review_cards(ws, [card], SERVED)
    local = review_cards(ws, [card], EMBEDDED, backend=engine)
    for run in (remote, local):
        assert len(run.records) == 4 and run.reviewed == 4
        for rec in run.records:
            assert rec.ok, f"{rec.model}/{rec.persona}: {rec.failure}"
            assert [a.finish_reason for a in rec.attempts] == ["stop"], rec.attempts
            assert lo <= count_sentences(rec.output.review) <= hi  # type: ignore[union-attr]
            ReviewOutput.model_validate(rec.output.model_dump(),  # type: ignore[union-attr]
                                        context={"rubric": ws.config.rubric})
    by = {run.records[0].model: run for run in (remote, local)}
    assert set(by) == {SERVED, EMBEDDED}
    assert [(r.tool, r.persona) for r in remote.records] == \
        [(r.tool, r.persona) for r in local.records]
    # panel serve configured the server as the in-process engine: no JSON padding, where
    # small models loop (before, 176 of 200 replies had newlines between JSON tokens).
    assert not [a.text for r in remote.records for a in r.attempts if "\n" in a.text]
    # The same prompts reached both engines: identical prompt token counts per persona.
    assert [r.attempts[0].prompt_tokens for r in remote.records] == \
        [r.attempts[0].prompt_tokens for r in local.records]
    for run in (remote, local):  # each panel counts its own four votes, none failed
        [verdict] = run.panels(ws)
        votes = [r.verdict for r in run.records]
        assert (verdict.tool, verdict.ship, verdict.skip, verdict.failed) == (
            card.slug, votes.count("ship"), votes.count("skip"), 0)
        assert verdict.mean_score == round(sum(r.score or 0 for r in run.records) / 4, 2)
    panels = {p.name for p in (ws.output / "panels").glob("*.json")}
    assert panels == {f"voicedesk.{EMBEDDED}.json", f"voicedesk.{SERVED}.json"}


def test_a_stale_record_of_a_dead_server_names_the_fix(tmp_path: Path, ws: Workspace,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PANEL_SERVERS_DIR", str(tmp_path))
    (tmp_path / f"{SERVED}.json").write_text(f'{{"url": "http://127.0.0.1:{free_port()}/v1"}}')
    with pytest.raises(PanelError, match=f"start it with `panel serve --model {SERVED}`"):
        create_backend(ws.registry.get(SERVED))
