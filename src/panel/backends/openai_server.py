"""A running vLLM server, over its OpenAI-compatible API, as a backend (``backend: openai``).

``openai`` names the protocol, not any server that speaks it: before any work the backend
checks that a vLLM server answers (``/version`` in vLLM's shape), and each request carries
vLLM's own extras (the EBNF grammar as ``structured_outputs``, ``seed``, ``top_k``,
``repetition_penalty``) that other OpenAI-style servers ignore or refuse.

Editors and batch jobs pay the engine start once (``panel serve``) and every later command
talks to it over HTTP. The server batches continuously across concurrent requests, so
requests are sent ``max_concurrency`` at a time from a thread pool; results are handed back
on the calling thread, in completion order, so the caller's store is only ever written
from one thread.

Every HTTP attempt has a total deadline (``timeout_s``), enforced on each socket read and
write, so a server that trickles its reply cannot stretch it (``http_deadline``). Timeouts,
dropped connections, 408/429/5xx and garbage 200 replies are the server's faults, not the
model's: they are retried with jittered exponential backoff, and after the last try the
result comes back ``transient``, which the caller never stores as a review (a re-run makes
it). A reply that is a real completion but not a valid review is the model's failure and is
returned as such. A server that refuses connections stops the batch with an error naming
the URL and how to start it; after one request has given up, requests not yet sent are not
sent at all (transient too), so a broken server is not hammered for a whole batch.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Any

import httpx

from panel.backends import http_deadline
from panel.backends.base import Backend, GenRequest, GenResult, OnResult, Settle
from panel.backends.vllm.server import server_body
from panel.contract.expected import TokenLogprobs
from panel.errors import PanelError

if TYPE_CHECKING:
    from panel.config.registry import ModelSpec

RETRIES = 4
BACKOFF_S = 0.5
BACKOFF_MAX_S = 8.0
HEALTH_S = 10.0
"""The health check's total deadline. Not tied to ``timeout_s``, which bounds one generation:
a small ``timeout_s`` must not make a loaded machine's first answer look like a dead server."""
MAX_REPLY_BYTES = 8 << 20
RETRY_STATUS = {408, 429, 500, 502, 503, 504}


class ServerDown(PanelError):
    """The server did not answer at all: a batch stops rather than record failures."""


class _Garbage(Exception):
    """A 200 reply that is not a chat completion: the server's fault, retried."""


class VLLMServerBackend(Backend):
    """Chat completions against a vLLM server at ``base_url`` (or the one `panel serve`
    recorded)."""

    def __init__(self, spec: ModelSpec, base_url: str | None = None,
                 transport: httpx.BaseTransport | None = None):
        super().__init__(spec)
        from panel.backends.servers import resolve_url

        self.base_url = (base_url or resolve_url(spec)).rstrip("/")
        limits = httpx.Limits(max_connections=spec.max_concurrency)
        timeout = httpx.Timeout(spec.timeout_s, connect=5.0)
        self.client = (http_deadline.client(timeout, limits) if transport is None
                       else httpx.Client(timeout=timeout, transport=transport))
        self._versions: dict[str, str] | None = None
        self._gave_up = threading.Event()
        self.check_up()

    def _down(self, exc: Exception | str) -> ServerDown:
        why = exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}"
        return ServerDown(f"model '{self.spec.name}': no vLLM server answering at "
                          f"{self.base_url} ({why}); start it with "
                          f"`panel serve --model {self.spec.name}`")

    def _not_vllm(self, why: str) -> PanelError:
        return PanelError(f"model '{self.spec.name}': {self.base_url} is not a vLLM server "
                          f"({why}); point base_url at a server `panel serve` started")

    def check_up(self) -> None:
        """Fail fast, before any work is queued, unless a vLLM server serving this model
        answers: ``/health`` 200, ``/version`` with vLLM's ``{"version": ...}``, and
        ``/v1/models`` listing the name requests are sent under. The whole check has one
        deadline, so a server that accepts and never answers cannot hang it."""
        root = self.base_url.removesuffix("/v1")
        try:
            with http_deadline.deadline(HEALTH_S):
                status, text = self._fetch("GET", root + "/health")
                if status != 200:
                    raise self._down(f"/health answered HTTP {status}")
                status, text = self._fetch("GET", root + "/version")
                version = _field(text, "version") if status == 200 else None
                if not isinstance(version, str):
                    raise self._not_vllm(f"/version answered HTTP {status}: {text[:120]!r}")
                status, text = self._fetch("GET", self.base_url + "/models")
        except httpx.HTTPError as exc:
            raise self._down(exc) from None
        data = _field(text, "data") if status == 200 else None
        if not isinstance(data, list):
            raise self._not_vllm(f"/v1/models answered HTTP {status}: {text[:120]!r}")
        served = [m.get("id") for m in data if isinstance(m, dict)]
        if self.spec.name not in served:
            raise PanelError(f"model '{self.spec.name}': the vLLM server at {self.base_url} "
                             f"serves {served}, not '{self.spec.name}'; start it with "
                             f"`panel serve --model {self.spec.name}`")
        self._versions = {"vllm-server": version}

    def _fetch(self, method: str, url: str, body: Any = None) -> tuple[int, str]:
        """One HTTP exchange under the thread's deadline: status and text.

        The reply is streamed and the deadline checked between chunks as well as on every
        socket read (a transport passed in, e.g. a test's, has no socket to bound).
        """
        rest = http_deadline.left()
        rest = self.spec.timeout_s if rest is None else max(rest, 0.001)
        timeout = httpx.Timeout(rest, connect=min(5.0, rest))
        with self.client.stream(method, url, json=body, timeout=timeout) as resp:
            chunks, size = [], 0
            for chunk in resp.iter_bytes():
                size += len(chunk)
                if size > MAX_REPLY_BYTES:
                    raise httpx.ReadError(f"reply over {MAX_REPLY_BYTES} bytes",
                                          request=resp.request)
                if (http_deadline.left() or 0.0) < 0:
                    raise httpx.ReadTimeout("the request's total deadline has passed",
                                            request=resp.request)
                chunks.append(chunk)
            return resp.status_code, b"".join(chunks).decode("utf-8", errors="replace")

    def generate(self, requests: Sequence[GenRequest],
                 on_result: OnResult | None = None) -> list[GenResult]:
        """Send every request, ``max_concurrency`` in flight; return results in order."""
        return self._generate_by_stream(requests, on_result)

    def stream(self, requests: Sequence[GenRequest], settle: Settle) -> None:
        """Send every request, ``max_concurrency`` in flight; a follow-up ``settle``
        returns goes to the pool at once. ``settle`` runs on the calling thread."""
        self._gave_up.clear()  # one call's give-up does not stop a long-lived backend's next
        pool = ThreadPoolExecutor(max_workers=self.spec.max_concurrency,
                                  thread_name_prefix="panel-openai")
        try:
            pending: set[Future[GenResult]] = {pool.submit(self._one, r) for r in requests}
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in finished:
                    nxt = settle(fut.result())  # ServerDown propagates: the batch stops here
                    if nxt is not None:
                        pending.add(pool.submit(self._one, nxt))
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _one(self, req: GenRequest) -> GenResult:
        """One request with retries; the server's faults come back ``transient``."""
        started = time.perf_counter()
        if self._gave_up.is_set():
            return GenResult(id=req.id, transient=True, error="not sent: the server failed "
                             f"an earlier request {RETRIES + 1} times")
        body = server_body(req, self.spec.name)
        last = ""
        for attempt in range(RETRIES + 1):
            if attempt:
                time.sleep(backoff(attempt))
            try:
                with http_deadline.deadline(self.spec.timeout_s):
                    status, text = self._fetch("POST", self.base_url + "/chat/completions",
                                               body)
            except httpx.ConnectError as exc:
                if attempt == RETRIES:
                    raise self._down(exc) from None
                last = f"{type(exc).__name__}: {exc}"
                continue
            except httpx.TransportError as exc:  # timeouts, deadline, dropped connections
                last = f"{type(exc).__name__} (deadline {self.spec.timeout_s:g} s): {exc}"
                continue
            if status in RETRY_STATUS:
                last = f"HTTP {status}: {text[:300]}"
                continue
            if status != 200:
                return GenResult(id=req.id, error=f"HTTP {status}: {text[:300]}",
                                 seconds=time.perf_counter() - started)
            try:
                return _parse(req.id, text, time.perf_counter() - started)
            except _Garbage:
                last = f"unexpected response: {text[:300]}"
        self._gave_up.set()
        return GenResult(id=req.id, error=f"gave up after {RETRIES + 1} tries: {last}",
                         seconds=time.perf_counter() - started, transient=True)

    def versions(self) -> dict[str, str]:
        """The server's vLLM version (read by the health check)."""
        return dict(self._versions or {})

    def close(self) -> None:
        self.client.close()


def backoff(attempt: int) -> float:
    """Seconds to wait before try ``attempt`` (1-based): doubling from ``BACKOFF_S``, capped
    at ``BACKOFF_MAX_S``, jittered over its upper half so concurrent retries spread out."""
    cap = min(BACKOFF_MAX_S, BACKOFF_S * 2 ** (attempt - 1))
    return cap / 2 + random.uniform(0, cap / 2)  # timing, not secrets


def _field(text: str, name: str) -> Any:
    """``name`` of a JSON object reply, or None if the reply is no JSON object."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data.get(name) if isinstance(data, dict) else None


def _parse(req_id: str, text: str, seconds: float) -> GenResult:
    """A chat-completions response as our plain result; ``_Garbage`` if it is none."""
    try:
        return parse_completion(req_id, json.loads(text), seconds)
    except ValueError:
        raise _Garbage from None


def parse_completion(req_id: str, data: Any, seconds: float = 0.0) -> GenResult:
    """A chat-completions response body (parsed JSON) as our plain result; ValueError if it
    is none. The body of a batch runner's result line is the same object."""
    try:
        choice = data["choices"][0]
        content = choice["message"].get("content") or ""
        usage = data.get("usage") or {}
        details = usage.get("prompt_tokens_details") or {}
        result = GenResult(id=req_id, text=content, finish_reason=choice.get("finish_reason"),
                           prompt_tokens=int(usage.get("prompt_tokens") or 0),
                           output_tokens=int(usage.get("completion_tokens") or 0),
                           cached_tokens=int(details.get("cached_tokens") or 0),
                           seconds=seconds, logprobs=_logprobs(choice.get("logprobs")))
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        raise ValueError("not a chat completion") from None
    if not isinstance(content, str) or not isinstance(result.finish_reason, str | None):
        raise ValueError("not a chat completion: content or finish_reason of the wrong type")
    return result


def _logprobs(data: Any) -> list[TokenLogprobs] | None:
    """The chat-completions ``logprobs.content`` list as (token, {alternative: logprob})
    per token; None when absent or malformed (the review stands, without its expected
    score: a server's log-probabilities are extra, not the reply)."""
    content = data.get("content") if isinstance(data, dict) else None
    if not isinstance(content, list):
        return None
    out = []
    for item in content:
        if not isinstance(item, dict) or not isinstance(item.get("token"), str):
            return None
        alts = item.get("top_logprobs")
        pairs = [item, *alts] if isinstance(alts, list) else [item]
        top = {alt["token"]: float(alt["logprob"]) for alt in pairs
               if isinstance(alt, dict) and isinstance(alt.get("token"), str)
               and type(alt.get("logprob")) in (int, float)}
        out.append(TokenLogprobs(item["token"], top))
    return out
