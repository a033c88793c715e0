"""`panel batch` against fake vLLM servers on loopback that refuse, hang, trickle, fail and
answer garbage: each run ends within its bound, stores nothing for the server's failures,
reports them, and a re-run against a healthy server reviews exactly those.

The fakes are real sockets (a threaded ``http.server`` on port 0, or a bare listening
socket), so the request deadline is tested on the wire, not through a scripted transport.
Each test's registry entry (a copied project with its own models.yaml) has a small
``timeout_s``; every server stops itself at teardown.
"""

from __future__ import annotations

import json
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner

from panel.backends import openai_server
from panel.backends.base import GenRequest
from panel.backends.mock import _valid
from panel.backends.openai_server import ServerDown
from panel.cli import main
from panel.cli.tables import format_summary
from panel.config.project import project_root
from panel.contract.evidence import quote_texts
from panel.contract.grammar import generation_schema
from panel.contract.output import Rubric
from panel.errors import PanelError
from panel.pipeline.batch import run_batch
from panel.store.sqlite import Store

from conftest import EXAMPLES
from factories import copy_project

NAME = "fake"
JOBS = 4  # one card, four personas
TIMEOUT_S = 0.5
PATIENT_S = 60.0
HEALTH_S = 4.0
TRIES = openai_server.RETRIES + 1
Behaviour = Callable[["Handler", dict], None]


class Fake(ThreadingHTTPServer):
    """A vLLM look-alike whose chat-completions route does what ``post`` says."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.stop = threading.Event()
        self.post: Behaviour = healthy
        self.routes: dict[str, tuple[int, bytes]] = dict(VLLM_ROUTES)
        self.posts = 0
        self.seen: dict[str, int] = {}
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Fake

    def do_GET(self) -> None:  # http.server's name
        path = urlsplit(self.path).path  # a proxied request names the whole URL
        status, body = self.server.routes.get(path, (404, b'{"detail":"Not Found"}'))
        self.reply(status, body)

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with self.server.lock:
            self.server.posts += 1
        self.server.post(self, body)

    def reply(self, status: int, body: bytes, kind: str = "application/json") -> None:
        self.wfile.write(raw(status, body, kind))

    def log_message(self, *args: object) -> None:
        pass


def raw(status: int, body: bytes, kind: str = "application/json") -> bytes:
    return (f"HTTP/1.1 {status} X\r\nContent-Type: {kind}\r\nContent-Length: {len(body)}"
            "\r\n\r\n").encode() + body


VLLM_ROUTES = {
    "/health": (200, b""),
    "/version": (200, b'{"version":"0.32.0"}'),
    "/v1/models": (200, json.dumps({"object": "list", "data": [{"id": NAME}]}).encode()),
}


def completion(body: dict) -> bytes:
    """A chat completion whose content is a schema-valid review (the mock backend's), for a
    request under the review grammar."""
    assert body["structured_outputs"]["grammar"].startswith("root ::=")
    card = body["messages"][-1]["content"]
    description = card.split("Description: ", 1)[1].rsplit("\n</tool_card>", 1)[0]
    req = GenRequest(id="x", messages=body["messages"], seed=body["seed"],
                     json_schema=generation_schema(Rubric(), quotes=quote_texts(description)),
                     max_tokens=body["max_tokens"])
    return json.dumps({"choices": [{"message": {"content": _valid(req)},
                                    "finish_reason": "stop"}],
                       "usage": {"prompt_tokens": 100, "completion_tokens": 40}}).encode()


def healthy(h: Handler, body: dict) -> None:
    h.reply(200, completion(body))


def hang(h: Handler, body: dict) -> None:
    h.server.stop.wait(30)


def trickle(body_only: bool) -> Behaviour:
    """A valid reply one byte per 0.2 s: all of it, or the body after whole headers."""
    def send(h: Handler, body: dict) -> None:
        data = raw(200, completion(body))
        start = data.index(b"\r\n\r\n") + 4 if body_only else 0
        h.wfile.write(data[:start])
        for i in range(start, len(data)):
            if h.server.stop.wait(0.2):
                return
            try:
                h.wfile.write(data[i:i + 1])
                h.wfile.flush()
            except OSError:  # the client gave up, as it should
                return
    return send


def status_503(h: Handler, body: dict) -> None:
    h.reply(503, b'{"error":"overloaded"}')


def fails_twice(h: Handler, body: dict) -> None:
    """503 for the first two tries of each request, then a valid reply."""
    with h.server.lock:
        key = json.dumps(body["messages"])
        h.server.seen[key] = h.server.seen.get(key, 0) + 1
        tries = h.server.seen[key]
    if tries <= 2:
        status_503(h, body)
    else:
        healthy(h, body)


def garbage(status: int, text: bytes, kind: str = "text/html") -> Behaviour:
    def send(h: Handler, body: dict) -> None:
        h.reply(status, text, kind)
    return send


@pytest.fixture
def fake() -> Iterator[Fake]:
    server = Fake()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    yield server
    server.stop.set()
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture(autouse=True)
def _quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(openai_server, "BACKOFF_S", 0.01)
    # The health check's own deadline, far above what a loopback fake needs even on a loaded
    # machine, and far below the test's bound for a server that never answers.
    monkeypatch.setattr(openai_server, "HEALTH_S", HEALTH_S)


@pytest.fixture
def two_tries(monkeypatch: pytest.MonkeyPatch) -> int:
    """One retry instead of RETRIES, for a test that waits out the request deadline on each
    try: what it proves (the deadline cuts every try; nothing stored; the re-run makes
    those) holds for any count, and each try it saves is a deadline less (0.5 s). The
    count itself is proven where it shows: test_503_twice_..., the head-to-head test."""
    monkeypatch.setattr(openai_server, "RETRIES", 1)
    return 2


def project(tmp_path: Path, url: str, timeout_s: float = PATIENT_S) -> Path:
    """A copy of the project whose models.yaml has one entry: ``fake`` at ``url``. Tests of
    the request deadline pass ``TIMEOUT_S``; the rest wait as long as a loaded machine
    needs, so a healthy reply is never asked twice (their counts of posts are exact)."""
    root = tmp_path / "project"
    if not root.exists():
        copy_project(root, models=False)
    entry = {"backend": "openai", "base_url": url, "source": {"path": "."},
             "timeout_s": timeout_s, "max_concurrency": JOBS,
             "sampling": {"temperature": 0.7, "max_tokens": 2560, "seed": 0}}
    (root / "models.yaml").write_text(json.dumps({"default": NAME, "models": {NAME: entry}}))
    return root


def cards(tmp_path: Path) -> Path:
    path = tmp_path / "cards"
    path.mkdir(exist_ok=True)
    shutil.copy(EXAMPLES / "voicedesk.yaml", path / "voicedesk.yaml")
    return path


def stored(out: Path) -> list[str]:
    """Each stored review's status."""
    with Store(out) as store:
        return [r.status for r in store.all()]


def timed(fn: Callable[[], object]) -> tuple[object, float]:
    started = time.monotonic()
    return fn(), time.monotonic() - started


FAULTS = {
    # name: (behaviour, bound in seconds for the whole batch). The bounds leave room for a
    # loaded 2-core machine and a fresh venv's first imports (CI): the failures they catch
    # take 30 s or more (a trickling server held a batch 92 s before the deadline existed).
    "hang": (hang, 15.0),
    "trickle": (trickle(body_only=False), 15.0),  # status line and headers a byte at a time
    "trickle-body": (trickle(body_only=True), 15.0),
    "503": (status_503, 10.0),
    "html": (garbage(200, b"<html><body>Bad gateway</body></html>"), 10.0),
    "truncated-json": (garbage(200, b'{"choices": [{"message": {"cont', "application/json"),
                       10.0),
    "no-choices": (garbage(200, b'{"object": "chat.completion", "choices": []}',
                           "application/json"), 10.0),
    "500-html": (garbage(500, b"<html>500</html>"), 10.0),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_failing_server_stores_nothing_and_a_rerun_reviews_exactly_those(
        fault: str, fake: Fake, tmp_path: Path, two_tries: int) -> None:
    behaviour, bound = FAULTS[fault]
    fake.post = behaviour
    root, out = project(tmp_path, fake.url, TIMEOUT_S), tmp_path / "out"
    summary, seconds = timed(lambda: run_batch([cards(tmp_path)], out, root=root))
    assert seconds < bound, f"{fault}: took {seconds:.1f} s"
    assert not summary.ok and list(summary.records()) == [] and summary.counts.reviewed == 0
    assert summary.counts.unavailable == JOBS
    assert "not reviewed (server unavailable)" in format_summary(summary)
    assert stored(out) == []  # no review, and no failed review either
    # Each request tried twice, or (after the first gave up) not sent at all.
    assert fake.posts <= JOBS * two_tries

    # The re-run waits as long as a loaded machine needs: a healthy reply past the 0.5 s
    # deadline would be asked again (seen beside the engine tests: 5 posts for 4 reviews).
    # The deadline is no part of a review's key: these are the same reviews.
    fake.post, fake.posts = healthy, 0
    again = run_batch([cards(tmp_path)], out, root=project(tmp_path, fake.url))
    assert (again.ok, again.requests, again.counts.reviewed, again.counts.reused) == (
        True, JOBS, JOBS, 0)
    assert fake.posts == JOBS and stored(out) == ["ok"] * JOBS


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "ALL_PROXY", "http_proxy"])
def test_a_proxy_from_the_environment_is_used_and_kept_to_the_deadline(
        variable: str, fake: Fake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        two_tries: int) -> None:
    """The fake is the proxy: the server's name does not resolve, so every request reaches
    it only through the proxy. A healthy proxy passes the reviews on; a trickling one is
    cut off by the deadline, as a trickling server is (before: the proxy was ignored)."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    monkeypatch.setenv(variable, fake.url.removesuffix("/v1"))
    root, out = project(tmp_path, "http://vllm.invalid:8000/v1"), tmp_path / "out"
    summary = run_batch([cards(tmp_path)], out, root=root)
    assert (summary.ok, summary.counts.reviewed, fake.posts) == (True, JOBS, JOBS)
    fake.post, fake.posts = trickle(body_only=False), 0
    root = project(tmp_path, "http://vllm.invalid:8000/v1", TIMEOUT_S)
    summary, seconds = timed(lambda: run_batch([cards(tmp_path)], tmp_path / "o2", root=root))
    assert seconds < FAULTS["trickle"][1], f"took {seconds:.1f} s"
    assert summary.counts.unavailable == JOBS and 0 < fake.posts <= JOBS * two_tries
    # A server on loopback is reached directly, never through the user's proxy.
    fake.post, fake.posts = healthy, 0
    monkeypatch.setenv(variable, f"http://127.0.0.1:{closed_port()}")
    direct = run_batch([cards(tmp_path)], tmp_path / "o3", root=project(tmp_path, fake.url))
    assert (direct.ok, fake.posts) == (True, JOBS)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_503_twice_then_a_reply_is_retried_and_stored_ok(fake: Fake, tmp_path: Path) -> None:
    fake.post = fails_twice
    out = tmp_path / "out"
    summary = run_batch([cards(tmp_path)], out, root=project(tmp_path, fake.url))
    assert summary.ok and summary.log.unavailable == []
    assert fake.posts == 3 * JOBS and stored(out) == ["ok"] * JOBS
    # The retries were transport retries: each review has one attempt, with its seed.
    assert [len(r.attempts) for r in list(summary.records())] == [1] * JOBS


def test_the_cli_exits_1_and_counts_reviews_the_server_could_not_make(
        fake: Fake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake.post = status_503
    monkeypatch.setenv("PANEL_HOME", str(project(tmp_path, fake.url)))
    project_root.cache_clear()  # read PANEL_HOME again, and again after the test
    try:  # -m fake: a stale root fails with "unknown model", never starts an engine
        res = CliRunner().invoke(main, ["batch", str(cards(tmp_path)), "-m", NAME, "-o", "out"])
    finally:
        project_root.cache_clear()
    assert res.exit_code == 1, res.output
    assert [line.split()[-1] for line in res.stdout.splitlines()
            if line.strip().startswith("not reviewed (server unavailable)")] == [str(JOBS)]
    assert "HTTP 503" in res.stdout and stored(Path("out")) == []


def test_a_closed_port_stops_the_batch_at_once_naming_the_url(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}/v1"
    out = tmp_path / "out"
    with pytest.raises(ServerDown, match="start it with `panel serve --model fake`") as err:
        run_batch([cards(tmp_path)], out, root=project(tmp_path, url))
    assert url in str(err.value) and stored(out) == []


def test_a_server_that_accepts_and_never_answers_fails_the_health_check_in_time(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    health_s = 1.0  # the check is waited out here: a shorter deadline, the same proof
    monkeypatch.setattr(openai_server, "HEALTH_S", health_s)
    listener = socket.create_server(("127.0.0.1", 0))  # accepts (backlog), never answers
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/v1"
    out = tmp_path / "out"
    started = time.monotonic()
    try:
        with pytest.raises(ServerDown, match="no vLLM server answering"):
            run_batch([cards(tmp_path)], out, root=project(tmp_path, url))
    finally:
        listener.close()
    assert time.monotonic() - started < health_s + 4.0
    assert stored(out) == []


def test_a_server_that_goes_away_mid_batch_stops_it_and_keeps_what_was_stored(
        fake: Fake, tmp_path: Path) -> None:
    """The health check passes, then every connection is refused: ServerDown, not four
    failed reviews."""
    fake.post = hang
    root, out = project(tmp_path, fake.url, TIMEOUT_S), tmp_path / "out"

    def close_listener() -> None:
        time.sleep(0.2)  # after the health check, while the first requests hang
        fake.shutdown()
        fake.socket.close()
    threading.Thread(target=close_listener, daemon=True).start()
    with pytest.raises(ServerDown):
        run_batch([cards(tmp_path)], out, root=root)
    assert stored(out) == []


NOT_VLLM = {
    "no /version": {"/version": (404, b"Not Found")},
    "/version not JSON": {"/version": (200, b"<html>nginx</html>")},
    "/version without a version": {"/version": (200, b'{"name": "ollama"}')},
    "no /health": {"/health": (404, b"")},
}


@pytest.mark.parametrize("case", list(NOT_VLLM))
def test_a_server_that_is_not_vllm_is_refused_before_any_work(
        case: str, fake: Fake, tmp_path: Path) -> None:
    fake.routes.update(NOT_VLLM[case])
    out = tmp_path / "out"
    with pytest.raises(PanelError, match="is not a vLLM server|no vLLM server answering"):
        run_batch([cards(tmp_path)], out, root=project(tmp_path, fake.url))
    assert fake.posts == 0 and stored(out) == []


def test_a_vllm_server_serving_another_model_is_refused(fake: Fake, tmp_path: Path) -> None:
    fake.routes["/v1/models"] = (200, b'{"data": [{"id": "qwen2.5-7b"}]}')
    with pytest.raises(PanelError, match=r"serves \['qwen2.5-7b'\], not 'fake'"):
        run_batch([cards(tmp_path)], tmp_path / "out", root=project(tmp_path, fake.url))
    assert fake.posts == 0


def test_an_invalid_completion_is_the_models_failure_and_is_stored_as_one(
        fake: Fake, tmp_path: Path) -> None:
    """A real completion that is not a valid review is not the server's fault: it takes
    the normal attempts (each with its seed) and is stored as failed."""
    def not_a_review(h: Handler, body: dict) -> None:
        h.reply(200, json.dumps({"choices": [{"message": {"content": "I like it."},
                                              "finish_reason": "stop"}]}).encode())
    fake.post = not_a_review
    summary = run_batch([cards(tmp_path)], tmp_path / "out", root=project(tmp_path, fake.url))
    assert summary.log.unavailable == [] and len(summary.log.failed) == JOBS
    assert stored(tmp_path / "out") == ["failed"] * JOBS
    seeds = [a.seed for a in list(summary.records())[0].attempts]
    assert len(seeds) == len(set(seeds)) > 1


def is_pair(body: dict) -> bool:
    """A head-to-head judgment's request (its grammar asks for a choice), not a review's."""
    return "\nchoice ::= " in body["structured_outputs"]["grammar"]


def judged(h: Handler, body: dict) -> None:
    """Reviews as ``healthy``; a judgment picks the tool shown first."""
    if not is_pair(body):
        return healthy(h, body)
    content = json.dumps({"reason": "The first one fits better.", "choice": "first",
                          "margin": 60})
    h.reply(200, json.dumps({"choices": [{"message": {"content": content},
                                          "finish_reason": "stop"}],
                             "usage": {"prompt_tokens": 100, "completion_tokens": 20}}).encode())


def test_a_head_to_head_the_server_fails_exits_1_stores_nothing_and_a_rerun_judges_those(
        fake: Fake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Reviews go through; every judgment gets 503s. `panel compare --head-to-head` exits 1
    naming both, stores no judgment, and a re-run against a healthy server asks for
    exactly the two judgments (the reviews are reused)."""
    fake.post = lambda h, body: (status_503 if is_pair(body) else healthy)(h, body)
    monkeypatch.setenv("PANEL_HOME", str(project(tmp_path, fake.url)))
    project_root.cache_clear()
    out = tmp_path / "out"
    args = ["compare", str(EXAMPLES / "voicedesk.yaml"), str(EXAMPLES / "diffsage.yaml"),
            "--head-to-head", "-p", "builder", "-o", str(out)]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 1, res.output
    assert fake.posts == 2 + 2 * TRIES                    # 2 reviews; 2 judgments x 5 tries
    lines = res.stdout.splitlines()
    at = lines.index("head to head (each tool shown first in turn):")
    assert lines[at:at + 5] == [
        "head to head (each tool shown first in turn):",
        "  Builder: no result (VoiceDesk shown first: not judged; DiffSage shown first: "
        "not judged)",
        "not judged, server unavailable (a re-run makes them):",
        f"  builder / ab: gave up after {TRIES} tries: HTTP 503: {{\"error\":\"overloaded\"}}",
        f"  builder / ba: gave up after {TRIES} tries: HTTP 503: {{\"error\":\"overloaded\"}}"]
    with Store(out) as store:
        assert (store.pair_count(), store.count()) == (0, 2)
    fake.post, fake.posts = judged, 0
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 0, again.output
    assert fake.posts == 2                                # only the two judgments
    assert "  Builder: inconsistent (VoiceDesk when shown first, DiffSage when shown " \
           "first)" in again.stdout
    with Store(out) as store:
        assert store.pair_count() == 2
