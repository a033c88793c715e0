"""The server backend's transport rules, against a scripted HTTP transport (no server):
retries with backoff, request errors kept per request, a down server a clear error."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable
from dataclasses import replace

import httpx
import pytest

from panel.backends import create_backend, openai_server
from panel.backends.base import GenRequest, GenResult
from panel.backends.openai_server import ServerDown, VLLMServerBackend
from panel.backends.vllm.server import server_body
from panel.config.registry import ModelSpec
from panel.config.workspace import Workspace
from panel.errors import PanelError

from conftest import ROOT

REPLY = {"choices": [{"message": {"content": '{"ok": 1}'}, "finish_reason": "stop"}],
         "usage": {"prompt_tokens": 50, "completion_tokens": 7,
                   "prompt_tokens_details": {"cached_tokens": 32}}}


def spec(**kw: object) -> ModelSpec:
    base = Workspace(root=ROOT).registry.get("smollm2-135m-server")
    return base.model_copy(update={"base_url": "http://test/v1", **kw})


def req(i: int) -> GenRequest:
    return GenRequest(id=f"r{i}", messages=[{"role": "user", "content": "hi"}],
                      json_schema={"type": "object"}, seed=i, max_tokens=20, top_k=40,
                      grammar='root ::= "{}"')


Handler = Callable[[httpx.Request], httpx.Response]
VLLM_ROUTES = {"/health": httpx.Response(200),
               "/version": httpx.Response(200, json={"version": "0.32.0"}),
               "/v1/models": httpx.Response(200, json={"object": "list", "data": [
                   {"id": "smollm2-135m-server", "object": "model"}]})}


def vllm(handler: Handler, routes: dict[str, httpx.Response] | None = None) -> Handler:
    """A vLLM server's health, version and model routes, then ``handler`` for the rest."""
    routes = VLLM_ROUTES if routes is None else routes

    def serve(request: httpx.Request) -> httpx.Response:
        if request.url.path in routes:
            return routes[request.url.path]
        return handler(request)
    return serve


def backend(handler: Handler) -> VLLMServerBackend:
    return VLLMServerBackend(spec(), transport=httpx.MockTransport(vllm(handler)))


@pytest.fixture(autouse=True)
def _fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(openai_server, "BACKOFF_S", 0.001)


def test_requests_carry_seed_schema_and_sampling_and_results_keep_order() -> None:
    bodies: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return httpx.Response(200, json=REPLY)

    got: list[str] = []
    results = backend(handler).generate([req(i) for i in range(5)], lambda r: got.append(r.id))
    assert [r.id for r in results] == [f"r{i}" for i in range(5)] and sorted(got) == \
        [r.id for r in results]
    assert (results[0].text, results[0].output_tokens, results[0].cached_tokens) == \
        ('{"ok": 1}', 7, 32)
    body = next(b for b in bodies if b["seed"] == 3)
    assert body["model"] == "smollm2-135m-server" and body["repetition_penalty"] == 1.0
    assert body["top_k"] == 40
    # One constraint only: the engine's bounded EBNF, never the JSON schema as well.
    assert body["structured_outputs"] == {"grammar": 'root ::= "{}"'}
    assert "response_format" not in body


def test_a_request_without_a_grammar_sends_its_json_schema() -> None:
    body = server_body(replace(req(0), grammar=None), "m")
    assert body["response_format"]["json_schema"]["schema"] == {"type": "object"}
    assert "structured_outputs" not in body


def test_a_follow_up_is_sent_while_the_first_requests_still_run() -> None:
    """``stream``: a retry goes to the pool at once. r1 and r2 answer only once the
    follow-up has reached the server, which a round-by-round backend would send after them."""
    follow_up_sent = threading.Event()
    waited: dict[int, bool] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seed = json.loads(request.content)["seed"]
        if seed == 9:
            follow_up_sent.set()
        elif seed in (1, 2):
            waited[seed] = follow_up_sent.wait(10)
        return httpx.Response(200, json=REPLY)

    settled: list[str] = []

    def settle(res: GenResult) -> GenRequest | None:
        settled.append(res.id)
        return replace(req(9), id="r0#1") if res.id == "r0" else None

    be = VLLMServerBackend(spec(max_concurrency=4), transport=httpx.MockTransport(vllm(handler)))
    be.stream([req(0), req(1), req(2)], settle)
    assert waited == {1: True, 2: True}
    assert settled[0] == "r0" and sorted(settled[1:]) == ["r0#1", "r1", "r2"]


def test_log_probabilities_are_asked_for_and_read_when_the_server_gives_them() -> None:
    """vLLM's chat-completions ``logprobs.content``; a malformed one costs only the
    expected score, never the reply."""
    content = [{"token": '{"score":', "logprob": 0.0, "top_logprobs": []},
               {"token": "7", "logprob": -0.2,
                "top_logprobs": [{"token": "7", "logprob": -0.2},
                                 {"token": "6", "logprob": -1.7}, {"token": 5}]}]
    replies = iter([{**REPLY, "choices": [{**REPLY["choices"][0],
                                           "logprobs": {"content": content}}]},
                    {**REPLY, "choices": [{**REPLY["choices"][0], "logprobs": {"content": 7}}]},
                    REPLY])
    bodies: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return httpx.Response(200, json=next(replies))

    asked = GenRequest(**{**req(0).__dict__, "logprobs": 5})
    one = backend(handler)
    given, malformed, absent = (one.generate([r])[0] for r in (asked, req(1), req(2)))
    assert (bodies[0]["logprobs"], bodies[0]["top_logprobs"]) == (True, 5)
    assert "logprobs" not in bodies[1] and "top_logprobs" not in bodies[1]
    assert given.logprobs == [('{"score":', {'{"score":': 0.0}), ("7", {"7": -0.2, "6": -1.7})]
    assert (malformed.error, malformed.logprobs, absent.logprobs) == (None, None, None)
    assert malformed.text == '{"ok": 1}'


def test_5xx_is_retried_then_succeeds_and_4xx_is_a_request_error() -> None:
    calls = {"r0": 0, "r1": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        rid = f"r{json.loads(request.content)['seed']}"
        calls[rid] += 1
        if rid == "r1":
            return httpx.Response(400, text="schema not supported")
        return httpx.Response(503 if calls[rid] < 3 else 200, json=REPLY)

    ok, bad = backend(handler).generate([req(0), req(1)])
    assert (ok.error, calls["r0"]) == (None, 3)
    assert bad.error == "HTTP 400: schema not supported" and calls["r1"] == 1


def test_a_server_that_keeps_failing_gives_up_with_the_reason() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if json.loads(request.content)["seed"] == 1:
            return httpx.Response(200, json={"unexpected": True})
        return httpx.Response(502, text="bad gateway")

    res, odd = backend(handler).generate([req(0), req(1)])
    assert res.error == "gave up after 5 tries: HTTP 502: bad gateway"
    # A 200 that is no chat completion is the server's fault too: retried, never a review.
    assert odd.error == 'gave up after 5 tries: unexpected response: {"unexpected":true}'
    assert res.transient and odd.transient


def test_a_server_that_goes_away_mid_batch_stops_the_batch() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused")  # up when the batch starts, then gone

    with pytest.raises(ServerDown, match="start it with `panel serve --model smollm2-135m-se"):
        backend(handler).generate([req(0), req(1)])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_down_server_is_a_clear_error_not_a_hang() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(PanelError) as err:
        create_backend(spec(base_url=url))
    assert url in str(err.value)
    assert "start it with `panel serve --model smollm2-135m-server`" in str(err.value)


def test_no_base_url_and_no_recorded_server_says_how_to_start_one() -> None:
    with pytest.raises(PanelError, match=r"no running server is recorded in "
                       r"outputs/servers/smollm2-135m-server\.json; start it with"):
        create_backend(spec(base_url=None))


def test_serve_command_line_carries_the_engine_settings() -> None:
    from panel.backends.vllm.server import command

    cmd = command(spec(), "127.0.0.1", 8123)
    assert cmd[1:3] == ["-m", "vllm.entrypoints.openai.api_server"]
    flags = " ".join(cmd)
    assert "--served-model-name smollm2-135m-server" in flags and "--port 8123" in flags
    assert "--enable-prefix-caching" in flags and "--enforce-eager" in flags
    assert "--seed 0" in flags and f"--max-model-len {spec().max_model_len}" in flags
    assert spec().max_model_len == 8192  # models.yaml: the longest prompt + max_tokens fit
    assert "--logprobs-mode processed_logprobs" in flags  # as sampled, for expected scores


def test_serve_with_an_unknown_model_is_a_clear_error() -> None:
    from click.testing import CliRunner

    from panel.cli import main

    res = CliRunner().invoke(main, ["serve", "--model", "nope"])
    assert res.exit_code == 2 and res.stderr.startswith("error: unknown model 'nope'")


def test_backoff_doubles_is_capped_and_jittered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(openai_server, "BACKOFF_S", 0.5)
    waits = {n: [openai_server.backoff(n) for _ in range(200)] for n in range(1, 10)}
    for n, got in waits.items():
        cap = min(openai_server.BACKOFF_MAX_S, 0.5 * 2 ** (n - 1))
        assert all(cap / 2 <= w <= cap for w in got) and len(set(got)) > 1
    assert max(waits[9]) <= openai_server.BACKOFF_MAX_S


def test_a_server_not_serving_the_model_or_without_version_is_refused() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=REPLY)

    other = {**VLLM_ROUTES, "/v1/models": httpx.Response(200, json={"data": [{"id": "x"}]})}
    with pytest.raises(PanelError, match=r"serves \['x'\], not 'smollm2-135m-server'"):
        VLLMServerBackend(spec(), transport=httpx.MockTransport(vllm(handler, other)))
    # Old servers' shape (only /v1/models) is not enough: /version must say it is vLLM.
    bare = {"/health": httpx.Response(200), "/v1/models": VLLM_ROUTES["/v1/models"]}
    with pytest.raises(PanelError, match="http://test/v1 is not a vLLM server"):
        VLLMServerBackend(spec(), transport=httpx.MockTransport(vllm(handler, bare)))


@pytest.mark.parametrize("key", ["VLLM_CPU_NUM_OF_RESERVED_CPU",
                                 "VLLM_ENABLE_V1_MULTIPROCESSING"])
def test_panel_serve_on_cpu_holds_no_core_back_and_spawns_no_model_process_unless_told(
        monkeypatch: pytest.MonkeyPatch, key: str) -> None:
    """vLLM's multiprocess CPU engine reserves a core for its front end by default (on 2
    cores the model would compute on one), and spawns its model a process of its own
    besides the engine core's. A value the user set wins; off CPU, no change."""
    from panel.backends.vllm import server as serve

    monkeypatch.delenv(key, raising=False)
    monkeypatch.setattr(serve, "on_cpu", lambda: True)
    assert serve.server_env()[key] == "0"
    monkeypatch.setenv(key, "1")
    assert serve.server_env()[key] == "1"
    monkeypatch.delenv(key)
    monkeypatch.setattr(serve, "on_cpu", lambda: False)
    assert key not in serve.server_env()
