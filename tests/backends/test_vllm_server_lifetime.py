"""A `vllm serve` started by panel never outlives the process that started it, however that
process ends (an interrupted test session, a killed `panel serve`). The server is a
stand-in (a sleeping Python) so this runs in a second, without vLLM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT

STARTER = """
import os, sys, time, types
from panel.backends.vllm import server
server.command = lambda spec, host, port: [sys.executable, "-c", "import time; time.sleep(120)"]
server.wait_healthy = lambda *args, **kwargs: None
server.server_env = lambda: dict(os.environ)
with server.running_server(types.SimpleNamespace(name="stand-in"), port=1) as srv:
    print(srv.proc.pid, flush=True)
    time.sleep(120)
"""


def alive(pid: int) -> bool:
    """Running, not a zombie waiting for its new parent to reap it."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_the_server_goes_when_the_process_that_started_it_is_killed(
        tmp_path: Path, sig: signal.Signals) -> None:
    env = {**os.environ, "PANEL_SERVERS_DIR": str(tmp_path),
           "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    starter = subprocess.Popen([sys.executable, "-c", STARTER], env=env, stdout=subprocess.PIPE,
                               text=True)
    assert starter.stdout is not None
    pid = int(starter.stdout.readline())
    try:
        assert alive(pid) and os.getpgid(pid) == pid  # a process group of its own
        starter.send_signal(sig)  # no finally runs in the starter: the kernel must act
        starter.wait(10)
        deadline = time.monotonic() + 10
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(pid), "the server outlived the process that started it"
    finally:
        if alive(pid):
            os.killpg(pid, signal.SIGKILL)
