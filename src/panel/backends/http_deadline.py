"""A total deadline for HTTP requests, enforced on every socket read and write.

httpx's ``timeout`` bounds each read on its own, so a server that sends one byte a second
(in the body, or in the status line and headers, before httpx hands back control) never
times out. Here a deadline is set for the calling thread (``deadline(seconds)``) and the
connection pool's network streams clamp every connect, read and write to the time left,
failing with httpx's own timeout errors once it is spent. Sync httpx does all its I/O in
the thread that sends the request, so a thread-local deadline is the request's deadline
even on a pooled connection another thread opened. A proxy from the environment goes
through the same bound streams (``client``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import httpcore
import httpx

_local = threading.local()


@contextmanager
def deadline(seconds: float) -> Iterator[float]:
    """Every request this thread sends inside the block ends within ``seconds`` of now."""
    previous = getattr(_local, "end", None)
    end = time.monotonic() + seconds
    _local.end = end if previous is None else min(end, previous)
    try:
        yield _local.end
    finally:
        _local.end = previous


def left() -> float | None:
    """Seconds left before this thread's deadline (None: no deadline set)."""
    end = getattr(_local, "end", None)
    return None if end is None else end - time.monotonic()


def _clamp(timeout: float | None, error: type[Exception]) -> float | None:
    """The smaller of httpx's own timeout and the time left; raise once nothing is left."""
    rest = left()
    if rest is None:
        return timeout
    if rest <= 0:
        raise error("the request's total deadline has passed")
    return rest if timeout is None else min(timeout, rest)


class _Stream(httpcore.NetworkStream):
    """A network stream whose every operation ends by the deadline."""

    def __init__(self, inner: httpcore.NetworkStream):
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _clamp(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _clamp(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        return _Stream(self._inner.start_tls(ssl_context, server_hostname,
                                             _clamp(timeout, httpcore.ConnectTimeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    """httpcore's network backend, with deadline-bound streams."""

    def __init__(self, inner: httpcore.NetworkBackend):
        self._inner = inner

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        return _Stream(self._inner.connect_tcp(host, port,
                                               _clamp(timeout, httpcore.ConnectTimeout),
                                               local_address, socket_options))

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[Any] | None = None
                            ) -> httpcore.NetworkStream:
        return _Stream(self._inner.connect_unix_socket(
            path, _clamp(timeout, httpcore.ConnectTimeout), socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


LOOPBACK = ("all://localhost", "all://127.0.0.1", "all://[::1]")


def client(timeout: httpx.Timeout, limits: httpx.Limits) -> httpx.Client:
    """An httpx client with deadline-bound sockets on every route it can take: the direct
    one and each proxy the environment names (``HTTP_PROXY``, ``HTTPS_PROXY``,
    ``ALL_PROXY``, ``NO_PROXY``, read by httpx itself). A client given a ``transport``
    ignores those variables altogether, so a proxy the user set was never used; building
    the client plainly and binding each of its transports keeps both the proxy and the
    deadline. Loopback is always direct: the server `panel serve` started on this machine
    is never behind the user's proxy, whatever ``NO_PROXY`` says."""
    built = httpx.Client(timeout=timeout, limits=limits, mounts=dict.fromkeys(LOOPBACK))
    mounts = getattr(built, "_mounts", None)
    if not isinstance(mounts, dict):
        raise RuntimeError(f"httpx {httpx.__version__}: no proxy mounts to bind; the "
                           "request deadline (panel.backends.http_deadline) needs updating")
    for tr in [getattr(built, "_transport", None), *mounts.values()]:
        if tr is not None:  # None: a NO_PROXY route, served by the direct transport
            _bind(tr)
    return built


def _bind(tr: object) -> None:
    """Swap the network backend of httpx's transport (direct or proxy) for deadline-bound
    streams. httpx has no public hook for it; if a new httpx moves it, fail here rather
    than lose the deadline silently."""
    pool = getattr(tr, "_pool", None)
    inner = getattr(pool, "_network_backend", None)
    if not isinstance(inner, httpcore.NetworkBackend):
        raise RuntimeError(f"httpx {httpx.__version__}: no network backend to wrap; the "
                           "request deadline (panel.backends.http_deadline) needs updating")
    if not isinstance(inner, _Backend):
        pool._network_backend = _Backend(inner)  # type: ignore[union-attr]
