"""`panel serve`: run vLLM's OpenAI-compatible server for a registry entry, and find it later.

Discovery is one small file. While a server started by ``panel serve --model NAME`` is up,
``outputs/servers/NAME.json`` holds its URL and process id (``$PANEL_SERVERS_DIR`` moves
the folder); a ``backend: openai`` entry called NAME with no ``base_url`` reads it. The file
is written only once the server answers /health and removed when it stops, so a command
never finds a server that is still loading; a stale file left by a killed server is caught
by the backend's first request, which says how to start the server again. An entry with
``base_url`` never looks at these files (a server run by someone else, anywhere).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, NamedTuple

import httpx

from panel.errors import PanelError
from panel.files import atomic_write
from panel.records import now
from panel.registry import ModelSpec

START_TIMEOUT_S = 600


class Server(NamedTuple):
    """A server this process started: its /v1 URL and its process."""

    url: str
    proc: subprocess.Popen[bytes]


def servers_dir() -> Path:
    """Where running servers are recorded: $PANEL_SERVERS_DIR, else ./outputs/servers."""
    return Path(os.environ.get("PANEL_SERVERS_DIR") or "outputs/servers")


def record_path(name: str) -> Path:
    """``servers/NAME.json``; a model name that would leave the folder is an InputError."""
    from panel.paths import child  # noqa: PLC0415

    return child(servers_dir(), name, ".json", field="model", source="models.yaml")


def resolve_url(spec: ModelSpec) -> str:
    """The /v1 URL for an openai entry: its base_url, else the server `panel serve` recorded."""
    if spec.base_url:
        return spec.base_url
    path = record_path(spec.name)
    try:
        return str(json.loads(path.read_text(encoding="utf-8"))["url"])
    except FileNotFoundError:
        raise PanelError(f"model '{spec.name}' has no base_url and no running server is "
                         f"recorded in {path}; start it with `panel serve --model {spec.name}`"
                         ) from None
    except (ValueError, KeyError):
        raise PanelError(f"{path}: not a server record (field 'url' missing); delete it and "
                         f"run `panel serve --model {spec.name}`") from None


def command(spec: ModelSpec, host: str, port: int) -> list[str]:
    """The server's command line (engine settings as for the in-process engine)."""
    from panel.backends import _vllm_compat as compat  # noqa: PLC0415

    return compat.server_args(spec, host, port)


def wait_healthy(root: str, proc: subprocess.Popen[bytes], timeout_s: float,
                 log: Path | None = None) -> None:
    """Poll /health until the server answers; fail if it exits or takes too long."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
            raise PanelError(f"vLLM server exited with code {proc.returncode} before it was "
                             f"ready{f' (log {log})' if log else ''}:\n{tail}")
        try:
            if httpx.get(root + "/health", timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1.0)
    raise PanelError(f"vLLM server at {root} not healthy after {timeout_s:g} s")


def stop(proc: subprocess.Popen[bytes], grace_s: float = 20.0) -> None:
    """Stop the server and its engine processes (its own process group), politely first."""
    if proc.poll() is not None:
        return
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


@contextmanager
def running_server(spec: ModelSpec, host: str = "127.0.0.1", port: int = 8000,
                   log: Path | None = None,
                   timeout_s: float = START_TIMEOUT_S) -> Iterator[Server]:
    """Start the server, wait until healthy, record it, yield it; stop it afterwards."""
    root = f"http://{host}:{port}"
    out: IO[bytes] | None = None
    if log:
        log.parent.mkdir(parents=True, exist_ok=True)
        out = log.open("wb")
    proc = subprocess.Popen(command(spec, host, port), stdout=out,
                            stderr=subprocess.STDOUT if out else None, start_new_session=True)
    path = record_path(spec.name)
    try:
        wait_healthy(root, proc, timeout_s, log)
        atomic_write(path, json.dumps({"name": spec.name, "url": root + "/v1",
                                       "pid": proc.pid, "started_at": now()}, indent=2))
        yield Server(root + "/v1", proc)
    finally:
        path.unlink(missing_ok=True)
        stop(proc)
        if out:
            out.close()


def serve_foreground(model: str | None, host: str, port: int) -> None:
    """`panel serve`: run until Ctrl-C or SIGTERM, then stop the server cleanly."""
    import click  # noqa: PLC0415

    from panel.workspace import Workspace  # noqa: PLC0415

    spec = Workspace().registry.get(model)
    signal.signal(signal.SIGTERM, _interrupt)
    click.echo(f"starting vLLM server for '{spec.name}' on {host}:{port} (about a minute "
               "on CPU)...", err=True)
    try:
        with running_server(spec, host, port) as server:
            click.echo(f"serving '{spec.name}' at {server.url}; recorded in "
                       f"{record_path(spec.name)}; Ctrl-C stops it", err=True)
            code = server.proc.wait()
        raise PanelError(f"vLLM server for '{spec.name}' exited with code {code}")
    except KeyboardInterrupt:
        click.echo("stopped", err=True)


def _interrupt(*_: object) -> None:
    """SIGTERM stops `panel serve` the way Ctrl-C does, so the server is stopped too."""
    raise KeyboardInterrupt
