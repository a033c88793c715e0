"""`panel ui` over HTTPS (``--cert``/``--key``), and a loud warning when it serves beyond
this machine without them: the access token would cross the network in clear."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from panel.cli import main
from panel.config.workspace import Workspace
from panel.errors import InputError
from panel.publish.webapp import UiServer, plain_remote_warning, tls_context

from conftest import need
from factories import stub_ui_server


@pytest.fixture
def pem(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key (werkzeug makes them)."""
    need("cryptography")
    from werkzeug.serving import make_ssl_devcert

    cert, key = make_ssl_devcert(str(tmp_path / "dev"), host="127.0.0.1")
    return Path(cert), Path(key)


def trusting(cert: Path) -> ssl.SSLContext:
    """A client that trusts only this certificate (werkzeug's names no IP address, so the
    name is not checked; the chain is)."""
    ctx = ssl.create_default_context(cafile=str(cert))
    ctx.check_hostname = False
    return ctx


@pytest.fixture
def https(ws: Workspace, pem: tuple[Path, Path]) -> Iterator[UiServer]:
    server = UiServer(ws, model="mock", host="127.0.0.1", port=0, tls=pem)
    thread = threading.Thread(target=server.server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()
    thread.join(5)


def test_the_editor_serves_https_with_a_certificate(https: UiServer,
                                                    pem: tuple[Path, Path]) -> None:
    assert https.url.startswith("https://127.0.0.1:") and https.warning is None
    page = httpx.get(https.url, verify=trusting(pem[0]),
                     timeout=10)
    assert page.status_code == 200 and "<html" in page.text.lower()
    with pytest.raises(httpx.HTTPError):  # plain HTTP on the same port gets no page
        httpx.get(https.url.replace("https://", "http://"), timeout=5)


def test_a_client_that_never_shakes_hands_holds_up_no_one(https: UiServer,
                                                          pem: tuple[Path, Path]) -> None:
    """The handshake happens in the request's thread, not in the server's accept loop."""
    port = https.server.server_port
    with socket.create_connection(("127.0.0.1", port)):  # connects, sends nothing
        time.sleep(0.2)
        started = time.monotonic()
        page = httpx.get(https.url, timeout=10,
                         verify=trusting(pem[0]))
        assert page.status_code == 200 and time.monotonic() - started < 5


def test_a_certificate_that_does_not_load_names_the_file(tmp_path: Path,
                                                         pem: tuple[Path, Path]) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate\n")
    with pytest.raises(InputError, match=f"^{bad}: field '--cert' cannot serve HTTPS"):
        tls_context(bad, pem[1])


def run_ui(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *extra: str) -> tuple[Any, dict]:
    """`panel ui --host 0.0.0.0 --allow-remote ...` on a stub server that stops at once
    (no socket is opened beyond loopback)."""
    made = stub_ui_server(monkeypatch)
    res = CliRunner().invoke(main, ["ui", "--host", "0.0.0.0", "--allow-remote", "-m", "mock",
                                    "--output", str(tmp_path / "out"), *extra])
    return res, made


def test_remote_without_a_certificate_warns_loudly_on_stderr(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    res, made = run_ui(monkeypatch, tmp_path)
    assert res.exit_code == 0, res.output
    assert res.stderr.strip() == plain_remote_warning("0.0.0.0")
    assert res.stderr.startswith("WARNING: the editor on 0.0.0.0 is served over plain HTTP")
    assert made["tls"] is None and "http://0.0.0.0:5000/?token=" in res.stdout


def test_remote_with_a_certificate_serves_https_and_does_not_warn(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pem: tuple[Path, Path]) -> None:
    res, made = run_ui(monkeypatch, tmp_path, "--cert", str(pem[0]), "--key", str(pem[1]))
    assert res.exit_code == 0, res.output
    assert res.stderr == "" and "https://0.0.0.0:5000/?token=" in res.stdout
    assert isinstance(made["tls"], ssl.SSLContext)
    res, _ = run_ui(monkeypatch, tmp_path, "--cert", str(pem[0]))
    assert res.exit_code == 2 and "--cert and --key go together" in res.stderr
