"""A running vLLM OpenAI-compatible server as a backend (``backend: openai``).

Editors and batch jobs pay the engine start once (``panel serve``) and every later command
talks to it over HTTP. The server batches continuously across concurrent requests, so
requests are sent ``max_concurrency`` at a time from a thread pool; results are handed back
on the calling thread, in completion order, so the caller's store is only ever written
from one thread. Each request has a timeout and is retried with exponential backoff on
connection errors, timeouts, 429 and 5xx. A server that cannot be reached at all stops the
batch with an error naming the URL and how to start it: it never hangs, and it never
stores transport failures as review failures (a re-run resumes instead).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, ClassVar

import httpx

from panel.backends import _vllm_compat as compat
from panel.backends.base import Backend, GenRequest, GenResult, OnResult
from panel.errors import PanelError
from panel.registry import ModelSpec

RETRIES = 4
BACKOFF_S = 0.5
RETRY_STATUS = {408, 429, 500, 502, 503, 504}


class ServerDown(PanelError):
    """The server did not answer at all: a batch stops rather than record failures."""


class OpenAIServerBackend(Backend):
    """Chat completions against ``base_url`` (or the server `panel serve` recorded)."""

    kind: ClassVar[str] = "openai"

    def __init__(self, spec: ModelSpec, base_url: str | None = None,
                 transport: httpx.BaseTransport | None = None):
        super().__init__(spec)
        from panel.serve import resolve_url  # noqa: PLC0415 - serve imports backends

        self.base_url = (base_url or resolve_url(spec)).rstrip("/")
        self.client = httpx.Client(timeout=httpx.Timeout(spec.timeout_s, connect=5.0),
                                   limits=httpx.Limits(max_connections=spec.max_concurrency),
                                   transport=transport)
        self._versions: dict[str, str] | None = None
        self.check_up()

    def _down(self, exc: Exception) -> ServerDown:
        return ServerDown(f"model '{self.spec.name}': no vLLM server answering at "
                          f"{self.base_url} ({type(exc).__name__}: {exc}); start it with "
                          f"`panel serve --model {self.spec.name}`")

    def check_up(self) -> None:
        """Fail fast, before any work is queued, if the server is not there."""
        try:
            self.client.get(self.base_url + "/models", timeout=5.0).raise_for_status()
        except httpx.HTTPError as exc:
            raise self._down(exc) from None

    def generate(self, requests: Sequence[GenRequest],
                 on_result: OnResult | None = None) -> list[GenResult]:
        """Send every request, ``max_concurrency`` in flight; return results in order."""
        results: dict[str, GenResult] = {}
        pool = ThreadPoolExecutor(max_workers=self.spec.max_concurrency,
                                  thread_name_prefix="panel-openai")
        try:
            pending: set[Future[GenResult]] = {pool.submit(self._one, r) for r in requests}
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in finished:
                    res = fut.result()  # ServerDown propagates: the batch stops here
                    results[res.id] = res
                    if on_result:
                        on_result(res)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        return [results[r.id] for r in requests]

    def _one(self, req: GenRequest) -> GenResult:
        """One request with retries; a request-specific failure comes back as ``error``."""
        body = compat.server_body(req, self.spec.name)
        started = time.perf_counter()
        last = ""
        for attempt in range(RETRIES + 1):
            if attempt:
                time.sleep(BACKOFF_S * 2 ** (attempt - 1))
            try:
                resp = self.client.post(self.base_url + "/chat/completions", json=body)
            except httpx.ConnectError as exc:
                if attempt == RETRIES:
                    raise self._down(exc) from None
                last = f"{type(exc).__name__}: {exc}"
                continue
            except httpx.TransportError as exc:  # timeouts, dropped connections
                last = f"{type(exc).__name__} after {self.spec.timeout_s:g} s: {exc}"
                continue
            if resp.status_code in RETRY_STATUS:
                last = f"HTTP {resp.status_code}: {resp.text[:300]}"
                continue
            if resp.status_code != 200:
                return GenResult(id=req.id, error=f"HTTP {resp.status_code}: {resp.text[:300]}",
                                 seconds=time.perf_counter() - started)
            try:
                return _parse(req.id, resp.json(), time.perf_counter() - started)
            except (ValueError, KeyError, IndexError, TypeError, AttributeError):
                return GenResult(id=req.id, error=f"unexpected response: {resp.text[:300]}")
        return GenResult(id=req.id, error=f"gave up after {RETRIES + 1} tries: {last}",
                         seconds=time.perf_counter() - started)

    def versions(self) -> dict[str, str]:
        """The server's vLLM version (asked once), as the in-process backend reports its own."""
        if self._versions is None:
            root = self.base_url.removesuffix("/v1")
            try:
                ver = self.client.get(root + "/version", timeout=5.0).json().get("version", "")
                self._versions = {"vllm-server": str(ver)}
            except (httpx.HTTPError, ValueError):
                self._versions = {}
        return self._versions

    def close(self) -> None:
        self.client.close()


def _parse(req_id: str, data: dict[str, Any], seconds: float) -> GenResult:
    """A chat-completions response as our plain result."""
    choice = data["choices"][0]
    usage = data.get("usage") or {}
    details = usage.get("prompt_tokens_details") or {}
    return GenResult(id=req_id, text=choice["message"].get("content") or "",
                     finish_reason=choice.get("finish_reason"),
                     prompt_tokens=usage.get("prompt_tokens", 0),
                     output_tokens=usage.get("completion_tokens", 0),
                     cached_tokens=details.get("cached_tokens") or 0, seconds=seconds)
