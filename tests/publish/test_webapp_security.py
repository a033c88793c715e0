"""The editors' web app under hostile requests: cross-site forms, foreign Host names,
framing, remote binds, lost updates, slow and oversized bodies, bad form values.

Most cases use Flask's test client on an app bound to 127.0.0.1:5000 (no socket); the
slow-client case runs the real threaded server on 127.0.0.1, port 0. Each refused request
must leave the stored review exactly as it was.
"""

from __future__ import annotations

import html
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from panel.config.workspace import Workspace
from panel.contract.records import ReviewRecord
from panel.errors import InputError, PanelError
from panel.inputs.cards import load_cards
from panel.pipeline.run import review_cards
from panel.publish import editor
from panel.publish.webapp import MAX_BODY, bind, create_app, make_ui_server

from conftest import EXAMPLES
from factories import stub_ui_server

BASE = "http://127.0.0.1:5000"
TOKEN = "s3cret-token-for-the-tests-0123456789"


@pytest.fixture
def reviewed(ws: Workspace) -> Workspace:
    """PatchPilot reviewed by all four personas on the mock model."""
    review_cards(ws, [load_cards([EXAMPLES / "patchpilot.yaml"])[0].card], "mock")
    return ws


@pytest.fixture
def app(reviewed: Workspace) -> Iterator[Flask]:
    app = create_app(reviewed, "mock")
    bind(app, "127.0.0.1", 5000)
    yield app
    app.extensions["panel"].close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def builder(ws: Workspace) -> ReviewRecord:
    return editor.current(ws, "patchpilot", "builder", "mock")


def form(client: FlaskClient, action: str, persona: str = "builder") -> dict[str, str]:
    """The hidden fields of one persona's form on the tool page, as a browser would send."""
    page = client.get("/tools/patchpilot", base_url=BASE).get_data(as_text=True)
    section = page[page.index(f'data-persona="{persona}"'):]
    start = section.index(f'action="/tools/patchpilot/{action}"')
    markup = section[start:section.index("</form>", start)]
    fields = re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', markup)
    return {name: html.unescape(value) for name, value in fields}


def edit(client: FlaskClient, fields: dict[str, str], **headers: str) -> Any:
    return client.post("/tools/patchpilot/edit", base_url=BASE, data=fields, headers=headers)


def attack(client: FlaskClient) -> dict[str, str]:
    """An edit that would score 1, rewrite and approve the builder's review."""
    return {**form(client, "edit"), "score": "1", "verdict": "skip", "approved": "on",
            "review": "Pwned by another site."}


def assert_untouched(ws: Workspace, before: ReviewRecord) -> None:
    after = builder(ws)
    assert after.key == before.key and after.edit is None
    assert (after.score, after.text) == (before.score, before.text)


# CSRF, Origin and Fetch Metadata ---------------------------------------------------------

def test_cross_origin_post_is_refused_and_changes_nothing(reviewed: Workspace,
                                                          client: FlaskClient) -> None:
    before = builder(reviewed)
    resp = edit(client, attack(client), Origin="https://evil.example")
    assert resp.status_code == 403
    assert "another origin" in resp.get_data(as_text=True)
    assert_untouched(reviewed, before)
    fields = form(client, "approve")
    resp = client.post("/tools/patchpilot/approve", base_url=BASE, data=fields,
                       headers={"Origin": "null"})
    assert resp.status_code == 403
    assert_untouched(reviewed, before)


@pytest.mark.parametrize("csrf", [None, "", "forged.0123", "a.b.c"])
def test_post_without_a_valid_csrf_token_is_refused(reviewed: Workspace, client: FlaskClient,
                                                    csrf: str | None) -> None:
    before = builder(reviewed)
    fields = attack(client)
    if csrf is None:
        del fields["csrf"]
    else:
        fields["csrf"] = csrf
    resp = edit(client, fields, Origin=BASE)
    assert resp.status_code == 403
    assert resp.get_data(as_text=True).strip() == (
        "refused: missing or invalid CSRF token (reload the page)")
    assert_untouched(reviewed, before)


def test_a_token_from_another_app_is_refused(reviewed: Workspace, client: FlaskClient) -> None:
    """Each app signs with its own random secret: a token it did not make is refused."""
    other = create_app(reviewed, "mock")
    bind(other, "127.0.0.1", 5000)
    before = builder(reviewed)
    assert edit(other.test_client(), attack(client)).status_code == 403
    assert_untouched(reviewed, before)


@pytest.mark.parametrize("site", ["cross-site", "same-site"])
def test_cross_site_fetch_metadata_is_refused(reviewed: Workspace, client: FlaskClient,
                                              site: str) -> None:
    before = builder(reviewed)
    resp = edit(client, attack(client), **{"Sec-Fetch-Site": site})
    assert resp.status_code == 403 and site in resp.get_data(as_text=True)
    assert_untouched(reviewed, before)


def test_same_origin_form_with_its_token_is_saved(reviewed: Workspace,
                                                  client: FlaskClient) -> None:
    resp = edit(client, attack(client), Origin=BASE, **{"Sec-Fetch-Site": "same-origin"})
    assert resp.status_code == 303
    assert builder(reviewed).edit is not None and builder(reviewed).edit.approved  # type: ignore[union-attr]


# Host (DNS rebinding) and framing ----------------------------------------------------------

@pytest.mark.parametrize("base", ["http://evil.example:5000", "http://evil.example",
                                  "http://127.0.0.1:5001", "http://localhost.evil.example:5000"])
def test_a_foreign_host_is_refused(reviewed: Workspace, client: FlaskClient, base: str) -> None:
    assert client.get("/", base_url=base).status_code == 421
    before = builder(reviewed)
    fields = attack(client)
    resp = client.post("/tools/patchpilot/edit", base_url=base, data=fields)
    assert resp.status_code == 421 and "Host" in resp.get_data(as_text=True)
    assert_untouched(reviewed, before)


@pytest.mark.parametrize("base", [BASE, "http://localhost:5000", "http://[::1]:5000"])
def test_the_loopback_names_of_the_bound_port_are_served(client: FlaskClient,
                                                         base: str) -> None:
    assert client.get("/", base_url=base).status_code == 200


def test_an_app_that_does_not_know_its_address_serves_nothing(reviewed: Workspace) -> None:
    app = create_app(reviewed, "mock")
    assert app.test_client().get("/", base_url=BASE).status_code == 421


def test_every_response_forbids_framing(client: FlaskClient) -> None:
    for resp in (client.get("/", base_url=BASE), client.get("/tools/patchpilot", base_url=BASE),
                 client.get("/compare/patchpilot/nope", base_url=BASE),
                 client.get("/", base_url="http://evil.example"),
                 client.post("/tools/patchpilot/edit", base_url=BASE, data={})):
        assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
        assert resp.headers["X-Frame-Options"] == "DENY"


# Binding beyond loopback -------------------------------------------------------------------

@pytest.fixture
def remote(reviewed: Workspace) -> Iterator[FlaskClient]:
    """An app with an access token, as if bound to 0.0.0.0:5000 (no socket is opened)."""
    app = create_app(reviewed, "mock", token=TOKEN)
    bind(app, "0.0.0.0", 5000)
    yield app.test_client()
    app.extensions["panel"].close()


def test_remote_app_without_its_token_refuses_every_request(remote: FlaskClient) -> None:
    lan = "http://192.168.1.7:5000"
    for resp in (remote.get("/", base_url=lan), remote.get("/tools/patchpilot", base_url=lan),
                 remote.get("/?token=wrong-token-wrong-token", base_url=lan),
                 remote.get("/", base_url=lan, headers={"Authorization": "Bearer nope"}),
                 remote.post("/tools/patchpilot/approve", base_url=lan, data={})):
        assert resp.status_code == 401, resp
        assert "access token" in resp.get_data(as_text=True)


def test_remote_app_takes_its_token_once_then_a_strict_cookie(remote: FlaskClient) -> None:
    lan = "http://192.168.1.7:5000"
    resp = remote.get(f"/tools/patchpilot?token={TOKEN}", base_url=lan)
    assert resp.status_code == 303 and resp.headers["Location"] == "/tools/patchpilot"
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert remote.get("/", base_url=lan).status_code == 200        # the cookie now
    fresh = remote.application.test_client()
    assert fresh.get("/", base_url=lan).status_code == 401
    assert fresh.get("/", base_url=lan,
                     headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    # a DNS name rebound to this machine is still refused, token or not
    assert remote.get("/", base_url="http://rebind.evil.example:5000").status_code == 421


def test_library_refuses_a_remote_bind_without_the_flag_or_a_token(reviewed: Workspace) -> None:
    with pytest.raises(PanelError, match="--allow-remote"):
        make_ui_server(create_app(reviewed, "mock", token=TOKEN), "0.0.0.0", 0)
    with pytest.raises(PanelError, match="access token"):
        make_ui_server(create_app(reviewed, "mock"), "0.0.0.0", 0, allow_remote=True)
    with pytest.raises(PanelError, match="at least"):
        create_app(reviewed, "mock", token="short")


def test_cli_refuses_a_non_loopback_host_without_allow_remote(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "panel.cli", "ui", "--host", "0.0.0.0", "--port", "0",
           "-m", "mock", "--output", str(tmp_path / "outputs")]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("panel ui --host 0.0.0.0 started serving without --allow-remote")
    assert res.returncode == 2
    assert "--allow-remote" in res.stderr and res.stdout == ""


# Lost updates ------------------------------------------------------------------------------

def test_two_saves_from_the_same_page_the_second_is_refused(reviewed: Workspace,
                                                            client: FlaskClient) -> None:
    seen = form(client, "edit")           # both editors open the page now
    first = "The first editor's careful rewrite of this review."
    resp = edit(client, {**seen, "score": "70", "verdict": "ship", "review": first})
    assert resp.status_code == 303
    resp = edit(client, {**seen, "score": "20", "verdict": "skip", "review": "Second."})
    assert resp.status_code == 409
    assert "changed by another editor meanwhile" in html.unescape(resp.get_data(as_text=True))
    assert (builder(reviewed).text, builder(reviewed).score) == (first, 70)
    # approving or resetting from the stale page is refused the same way
    for action in ("approve", "reset"):
        stale = {k: seen[k] for k in ("csrf", "persona", "key", "version")}
        resp = client.post(f"/tools/patchpilot/{action}", base_url=BASE, data=stale)
        assert resp.status_code == 409
    assert builder(reviewed).text == first and builder(reviewed).edit is not None


def test_a_save_made_on_a_review_regenerated_meanwhile_is_refused(reviewed: Workspace,
                                                                 client: FlaskClient) -> None:
    seen = form(client, "edit")
    editor.regenerate(reviewed, "patchpilot", ["builder"], "mock")
    before = builder(reviewed)
    resp = edit(client, {**seen, "score": "12", "verdict": "skip", "review": "Stale."})
    assert resp.status_code == 409
    assert "regenerated meanwhile" in resp.get_data(as_text=True)
    assert_untouched(reviewed, before)


def test_library_edit_with_expected_refuses_a_changed_review(reviewed: Workspace) -> None:
    seen = editor.Seen.of(builder(reviewed))
    editor.edit_review(reviewed, "patchpilot", "builder", "mock", text="First text here.",
                       expected=seen)
    with pytest.raises(editor.ChangedMeanwhile):
        editor.edit_review(reviewed, "patchpilot", "builder", "mock", text="Second text.",
                           expected=seen)
    with pytest.raises(editor.ChangedMeanwhile):
        editor.approve(reviewed, "patchpilot", ["builder"], "mock", expected=seen)
    with pytest.raises(editor.ChangedMeanwhile):
        editor.reset(reviewed, "patchpilot", "builder", "mock", expected=seen)
    assert builder(reviewed).text == "First text here."


# Bodies ------------------------------------------------------------------------------------

def test_an_oversize_body_is_refused_with_413(reviewed: Workspace, client: FlaskClient) -> None:
    before = builder(reviewed)
    fields = {**attack(client), "review": "x" * (MAX_BODY + 1)}
    resp = edit(client, fields)
    assert resp.status_code == 413 and "over" in resp.get_data(as_text=True)
    assert_untouched(reviewed, before)


def test_a_slow_half_body_does_not_block_other_clients(reviewed: Workspace) -> None:
    app = create_app(reviewed, "mock")
    server = make_ui_server(app, "127.0.0.1", 0, timeout=2.0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_port
    try:
        slow = socket.create_connection(("127.0.0.1", port), timeout=10)
        body = b"persona=builder&review=" + b"x" * 500
        slow.sendall(b"POST /tools/patchpilot/edit HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                     b"Content-Type: application/x-www-form-urlencoded\r\n"
                     b"Content-Length: %d\r\n\r\n" % (port, 2 * len(body)) + body)
        time.sleep(0.3)                    # the app now waits for the rest of that body
        start = time.monotonic()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as resp:
            assert resp.status == 200
        assert time.monotonic() - start < 2.0
        start = time.monotonic()
        answer = slow.recv(4096)           # the stalled client is dropped after the timeout
        assert time.monotonic() - start < 6.0
        assert answer == b"" or answer.startswith(b"HTTP/1.1 408")
        slow.close()
    finally:
        server.shutdown()
        server.server_close()
        app.extensions["panel"].close()
    assert builder(reviewed).edit is None


# Bad form values ---------------------------------------------------------------------------

BAD = [
    ({"score": "500"}, "score must be a whole number from 0 to 100, not '500'"),
    ({"score": "abc"}, "score must be a whole number from 0 to 100"),
    ({"score": "-1"}, "score must be a whole number"),
    ({"score": "\u0665"}, "score must be a whole number"),
    ({"score": "9" * 5000}, "score must be a whole number"),
    ({"verdict": "maybe"}, "verdict must be ship or skip, not 'maybe'"),
    ({"persona": ""}, "missing field 'persona'"),
    ({"persona": "hacker"}, "unknown persona 'hacker'"),
    ({"review": "x" * (editor.TEXT_MAX + 1)}, f"at most {editor.TEXT_MAX} characters"),
    ({"approved": "yes"}, "approved must be on or absent"),
    ({"key": ""}, "missing field 'key' or 'version'"),
]


@pytest.mark.parametrize(("change", "message"), BAD, ids=[m[:24] for _, m in BAD])
def test_a_bad_form_value_is_a_400_with_its_message(reviewed: Workspace, client: FlaskClient,
                                                    change: dict[str, str],
                                                    message: str) -> None:
    before = builder(reviewed)
    fields = {**form(client, "edit"), "score": "50", "verdict": "skip", **change}
    resp = edit(client, fields)
    assert resp.status_code == 400
    assert message in html.unescape(resp.get_data(as_text=True))
    assert_untouched(reviewed, before)


def test_bad_persona_on_regenerate_and_approve_is_a_400(reviewed: Workspace,
                                                        client: FlaskClient) -> None:
    fields = form(client, "approve")
    for action in ("regenerate", "approve", "reset"):
        resp = client.post(f"/tools/patchpilot/{action}", base_url=BASE,
                           data={**fields, "persona": "nobody"})
        assert resp.status_code == 400, action
        assert "unknown persona 'nobody'" in html.unescape(resp.get_data(as_text=True))


def test_library_refuses_an_out_of_range_score(reviewed: Workspace) -> None:
    with pytest.raises(InputError, match="score must be 0 to 100, not 500"):
        editor.edit_review(reviewed, "patchpilot", "builder", "mock", score=500)


def test_cli_allow_remote_makes_and_prints_a_token(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """No socket is opened: the server is a stub that stops at once (as Ctrl-C would)."""
    from click.testing import CliRunner

    from panel.cli import main

    made = stub_ui_server(monkeypatch)
    out = str(tmp_path / "outputs")
    res = CliRunner().invoke(main, ["ui", "--host", "0.0.0.0", "--allow-remote", "-m", "mock",
                                    "--output", out])
    assert res.exit_code == 0, res.output
    token = made["app"].extensions["panel_guard"].token
    assert made["allow_remote"] and token and len(token) >= 16
    assert f"http://0.0.0.0:5000/?token={token}" in res.output
    monkeypatch.setenv("PANEL_UI_TOKEN", TOKEN)
    res = CliRunner().invoke(main, ["ui", "--host", "0.0.0.0", "--allow-remote", "-m", "mock",
                                    "--output", out])
    assert made["app"].extensions["panel_guard"].token == TOKEN and TOKEN in res.output
