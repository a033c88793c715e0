"""The editors' local web app (Flask): tools, a tool's panel, regenerate, edit, approve.

It is a thin door onto the same library the CLI uses (pages, editor, site), so a review
edited here is protected from re-runs exactly as one edited from a draft file. It binds to
127.0.0.1 by default. The server is threaded, so an idle connection a browser opens ahead
of time never blocks it, but the app's work runs one request at a time under a lock: the
store and the engine are used by one request at a time, and a regenerate on a real model
is worth waiting for. Every page is rendered by the autoescaping templates and sent with a
Content-Security-Policy that allows no script at all and no framing.

Any web page the editor visits can make the browser send requests here, so every request
passes a guard before it touches anything (see ``Guard``): its ``Host`` must be the bound
address (DNS rebinding), an access token is required when one is set (always beyond
loopback), and a POST must come from the app's own origin and carry a CSRF token rendered
into the form. The body is read, size-limited, before the lock is taken, and the server's
sockets time out, so a slow client delays only itself. Each save names the review it was
made on (``editor.Seen``) and is refused when that review changed meanwhile.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import socket
import ssl
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast
from urllib.parse import quote, urlencode

from flask import Flask, Response, abort, g, redirect, request
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import ClientDisconnected
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from panel.backends import Backend, create_backend
from panel.backends.lazy import EngineHandle
from panel.config.workspace import Workspace
from panel.errors import InputError, PanelError
from panel.publish import editor
from panel.publish.render.html import comparison_html, csp, render
from panel.publish.site import add_pair, load_pairs, reviewed_tools
from panel.verdict.samples import SampleTally
from panel.verdict.views import ToolPage, comparison_page, model_name, tool_page

DEFAULT_HOST = "127.0.0.1"
MAX_BODY = 64 * 1024          # bytes: a review is at most editor.TEXT_MAX characters
READ_TIMEOUT = 10.0           # seconds a client may stall on its socket before it is dropped
TOKEN_MIN = 16                # characters of an access token given by hand
TOKEN_COOKIE = "panel_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")


def is_loopback(host: str) -> bool:
    """True for a name or address that only this machine can reach."""
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def new_token() -> str:
    """A fresh access token for a non-loopback bind (the CLI prints it in the URL)."""
    return secrets.token_urlsafe(24)


def split_host(host: str) -> tuple[str, str]:
    """A ``Host`` value as (name, port); an IPv6 name keeps its brackets."""
    if host.startswith("["):
        name, _, rest = host.partition("]")
        return f"{name}]", rest.removeprefix(":")
    name, _, port = host.partition(":")
    return name, port


class BadForm(PanelError):
    """A form value the app refuses (HTTP 400)."""


@dataclass
class Guard:
    """The checks every request passes before it reaches the app's work.

    ``secret`` signs CSRF tokens (per app, random, never sent); ``token`` is the access
    token, required on every request when set; ``hosts`` are the ``Host`` values of the
    bound address (None until ``bind``: every request is refused until the app knows
    where it listens). A wildcard bind (0.0.0.0, ::) accepts an IP literal or this
    machine's name on the bound port; a DNS name that points here by rebinding does not.
    """

    token: str | None = None
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    hosts: frozenset[str] | None = None
    port: int = 0
    wildcard: bool = False

    def bind(self, host: str, port: int) -> None:
        self.port, self.wildcard = port, host in ("", "0.0.0.0", "::")
        name = f"[{host}]" if ":" in host else host
        names = {*LOOPBACK_NAMES, name.lower()} if is_loopback(host) else {name.lower()}
        self.hosts = frozenset({f"{n}:{port}" for n in names}
                               | (names if port == 80 else set()))

    def host_ok(self, host: str) -> bool:
        if self.hosts is None:
            return False
        host = host.lower()
        if not self.wildcard:
            return host in self.hosts
        name, port = split_host(host)
        if port != str(self.port) and not (self.port == 80 and not port):
            return False
        try:
            ipaddress.ip_address(name.strip("[]"))
            return True
        except ValueError:
            return name in ("localhost", socket.gethostname().lower())

    def csrf(self) -> str:
        """A fresh CSRF token: a random nonce and its HMAC under the app's secret."""
        nonce = secrets.token_urlsafe(12)
        return f"{nonce}.{self._mac(nonce)}"

    def csrf_ok(self, value: str) -> bool:
        nonce, _, mac = value.partition(".")
        return bool(nonce) and hmac.compare_digest(mac, self._mac(nonce))

    def _mac(self, nonce: str) -> str:
        return hmac.new(self.secret, nonce.encode(), hashlib.sha256).hexdigest()

    def token_ok(self, value: str | None) -> bool:
        return (self.token is None or value is not None
                and hmac.compare_digest(value.encode(), self.token.encode()))


def refuse(status: int, message: str) -> Response:
    """A one-line plain-text refusal; nothing was changed."""
    resp = Response(f"{message}\n", status=status, mimetype="text/plain")
    if status == 401:
        resp.headers["WWW-Authenticate"] = 'Bearer realm="panel"'
    return resp


def check_request(guard: Guard) -> Response | None:
    """Every check but the lock, in order: host, access token, origin, body, CSRF."""
    if not guard.host_ok(request.host):
        return refuse(421, f"refused: Host {request.host[:80]!r} is not this app's address")
    denied = check_access(guard)
    if denied is not None or request.method in SAFE_METHODS:
        return denied
    own = f"{request.scheme}://{request.host}"
    origin = request.headers.get("Origin")
    if origin is not None and origin != own:
        return refuse(403, f"refused: a request from another origin ({origin[:80]!r})")
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None and site not in ("same-origin", "none"):
        return refuse(403, f"refused: a {site[:20]!r} request (only same-origin may change)")
    try:
        form = request.form  # the whole body, size-limited, before the lock is taken
    except (ClientDisconnected, OSError):
        return refuse(408, "refused: the request body did not arrive in time")
    if not guard.csrf_ok(form.get("csrf", "")):
        return refuse(403, "refused: missing or invalid CSRF token (reload the page)")
    return None


def check_access(guard: Guard) -> Response | None:
    """The access token: a Bearer header, the cookie, or ``?token=`` once (then a cookie)."""
    if guard.token is None:
        return None
    auth = request.headers.get("Authorization", "")
    if auth.startswith("Bearer ") and guard.token_ok(auth[7:].strip()):
        return None
    if guard.token_ok(request.cookies.get(TOKEN_COOKIE)):
        return None
    given = request.args.get("token")
    if given is not None and request.method == "GET" and guard.token_ok(given):
        rest = urlencode([(k, v) for k, v in request.args.items(multi=True) if k != "token"])
        resp = cast(Response, redirect(request.path + (f"?{rest}" if rest else ""), code=303))
        resp.set_cookie(TOKEN_COOKIE, given, httponly=True, samesite="Strict", path="/")
        return resp
    return refuse(401, "refused: this editor needs its access token (open the URL that "
                       "`panel ui` printed, with ?token=...)")


def editor_queue(tools: Sequence[ToolPage]) -> list[tuple[ToolPage, str, SampleTally]]:
    """(tool, persona name, tally) of each persona whose samples stayed uncertain at the
    cap: the reviews the editor sees first, the most split first."""
    queue = [(t, r.persona_name, t.tallies[r.key]) for t in tools for r in t.reviews
             if r.key in t.tallies and t.tallies[r.key].needs_editor]
    return sorted(queue, key=lambda q: (-q[2].split, q[0].card.name.casefold(), q[1]))


@dataclass(frozen=True)
class AppLinks:
    """Links between the app's routes (the templates are shared with the static site)."""

    def index(self) -> str:
        return "/"

    def tool(self, slug: str) -> str:
        return f"/tools/{quote(slug, safe='')}"  # slugs may be non-ASCII

    def compare(self, a: str, b: str) -> str:
        return f"/compare/{quote(a, safe='')}/{quote(b, safe='')}"


@dataclass
class AppState:
    """The workspace, the model name, and the engine (started on the first regenerate)."""

    ws: Workspace
    model: str
    backend: Backend | None = None
    """An engine lent by the caller (tests), never closed here."""
    _engine: EngineHandle = field(init=False)

    def __post_init__(self) -> None:
        # the model's settings are read when the engine starts, not when the app does
        self._engine = EngineHandle(lambda: create_backend(self.ws.settings(self.model).spec),
                                    self.backend)

    def engine(self) -> Backend:
        """The engine, started at the first regenerate."""
        return self._engine.get()

    def close(self) -> None:
        """Close the engine if this app started it."""
        self._engine.close()


def form_persona(ws: Workspace, form: MultiDict[str, str]) -> str:
    persona = form.get("persona", "")
    if not persona:
        raise BadForm("missing field 'persona'")
    known = ws.persona_order()
    if persona not in known:
        raise BadForm(f"unknown persona {persona[:40]!r} (known: {', '.join(known)})")
    return persona


def form_seen(form: MultiDict[str, str]) -> editor.Seen:
    """The review the form was made on (hidden fields ``key`` and ``version``)."""
    key, version = form.get("key", ""), form.get("version", "")
    if not key or not version or len(key) > 200 or len(version) > 200:
        raise BadForm("missing field 'key' or 'version' (the review the form was made on); "
                      "reload the page")
    return editor.Seen(key, version)


def form_edit(form: MultiDict[str, str]) -> dict[str, object]:
    """Score, verdict, text and approval from the edit form, each checked: 400 if bad."""
    score = form.get("score", "").strip()
    if score and not (len(score) <= 3 and score.isascii() and score.isdigit()
                      and int(score) <= 100):
        raise BadForm(f"score must be a whole number from 0 to 100, not {score[:20]!r}")
    verdict = form.get("verdict") or None
    if verdict not in (None, "ship", "skip"):
        raise BadForm(f"verdict must be ship or skip, not {verdict[:20]!r}")
    text = form.get("review") or None
    if text is not None and len(text) > editor.TEXT_MAX:
        raise BadForm(f"review must be at most {editor.TEXT_MAX} characters, not {len(text)}")
    approved = form.get("approved")
    if approved not in (None, "on"):
        raise BadForm(f"approved must be on or absent, not {approved[:20]!r}")
    return {"score": int(score) if score else None,
            "verdict": cast(Literal["ship", "skip"] | None, verdict),
            "text": text, "approve": approved == "on"}


def install_guard(app: Flask, guard: Guard) -> None:
    """Guard every request, then run the app's work one request at a time."""
    lock = threading.Lock()

    @app.before_request
    def guarded_one_at_a_time() -> Response | None:
        refused = check_request(guard)
        if refused is not None:
            return refused
        lock.acquire()
        g.holds_lock = True
        return None

    @app.teardown_request
    def done(_exc: BaseException | None) -> None:
        if g.pop("holds_lock", False):
            lock.release()

    @app.errorhandler(413)
    def too_large(_exc: Exception) -> Response:
        return refuse(413, f"refused: the request body is over {MAX_BODY} bytes")

    @app.after_request
    def headers(resp: Response) -> Response:
        resp.headers["Content-Security-Policy"] = f"{csp()}; frame-ancestors 'none'"
        resp.headers["X-Frame-Options"] = "DENY"
        resp.headers["X-Content-Type-Options"] = "nosniff"
        # same-origin, not no-referrer: under no-referrer a browser sends "Origin: null"
        # with the app's own forms, and the Origin check would refuse them
        resp.headers["Referrer-Policy"] = "same-origin"
        resp.headers["Cache-Control"] = "no-store"
        return resp


def create_app(ws: Workspace, model: str | None = None, backend: Backend | None = None,
               token: str | None = None) -> Flask:
    """The app over one workspace and model; pass ``backend`` to reuse a running engine.

    With ``token``, every request needs it. The app refuses every request until it knows
    its address: ``make_ui_server`` tells it, or call ``bind`` (e.g. with a test client).
    """
    if token is not None and len(token) < TOKEN_MIN:
        raise PanelError(f"the access token must be at least {TOKEN_MIN} characters")
    app = Flask(__name__)
    app.config.update(MAX_CONTENT_LENGTH=MAX_BODY, MAX_FORM_MEMORY_SIZE=MAX_BODY)
    state = AppState(ws, model_name(ws, model), backend)
    guard = Guard(token=token)
    app.extensions["panel"] = state
    app.extensions["panel_guard"] = guard
    install_guard(app, guard)
    add_routes(app, state, guard)
    return app


def bind(app: Flask, host: str, port: int) -> None:
    """Tell the app the address it is served on: only that ``Host`` is answered."""
    cast(Guard, app.extensions["panel_guard"]).bind(host, port)


def add_routes(app: Flask, state: AppState, guard: Guard) -> None:
    """The pages and the editor's actions."""
    views = _Views(state, guard)
    add_pages(app, views)
    add_actions(app, state, views.action)


class _Views:
    """What the routes share: the page renderer (message, CSRF token, links) and the
    wrapper that turns an editor action into a redirect or a refusal."""

    def __init__(self, state: AppState, guard: Guard) -> None:
        self.state, self.guard, self.links = state, guard, AppLinks()

    def page(self, template: str, msg: str | None = None, error: bool = False,
             **ctx: object) -> str:
        if msg is None:
            msg, error = request.args.get("msg"), request.args.get("error") == "1"
        return render(template, links=self.links, model=self.state.model, editor=True,
                      msg=msg, error=error, csrf=self.guard.csrf(), seen=editor.Seen.of, **ctx)

    def tool_html(self, slug: str, msg: str | None = None, error: bool = False) -> str:
        ws, model = self.state.ws, self.state.model
        tp = tool_page(ws, slug, model)
        tools = {t.slug: t for t in reviewed_tools(ws, model)}
        others = [t for s, t in tools.items() if s != slug]
        pairs = [(a, b, f"{tools[a].card.name} vs {tools[b].card.name}")
                 for a, b in load_pairs(ws) if slug in (a, b) and a in tools and b in tools]
        return self.page("ui_tool.html.j2", msg, error, page=tp, others=others, pairs=pairs)

    def action(self, fn: Callable[[str], str]) -> Callable[[str], Response]:
        """Run an editor action: on success back to the tool's page with its message (303);
        refused, the tool's page with the reason: 409 if the review changed meanwhile,
        400 for a bad value. Nothing is saved when refused."""
        def run(slug: str) -> Response:
            try:
                msg = fn(slug)
            except PanelError as exc:
                status = 409 if isinstance(exc, editor.ChangedMeanwhile) else 400
                try:
                    return Response(self.tool_html(slug, str(exc), error=True), status=status)
                except PanelError:
                    return refuse(404, f"no tool {slug[:80]!r}")
            query = urlencode({"msg": msg})
            return cast(Response, redirect(f"{self.links.tool(slug)}?{query}#reviews", code=303))
        run.__name__ = fn.__name__
        return run


def add_pages(app: Flask, views: _Views) -> None:
    """The pages an editor reads, and adding a comparison."""
    state, links = views.state, views.links
    ws = state.ws

    @app.get("/")
    def index() -> str:
        tools = reviewed_tools(ws, state.model)
        known = {t.slug: t for t in tools}
        pairs = [(a, b, f"{known[a].card.name} vs {known[b].card.name}")
                 for a, b in load_pairs(ws) if a in known and b in known]
        return views.page("ui_index.html.j2", tools=tools, pairs=pairs,
                          queue=editor_queue(tools))

    @app.get("/tools/<slug>")
    def tool(slug: str) -> str:
        try:
            return views.tool_html(slug)
        except PanelError:
            abort(404)

    @app.get("/compare/<a>/<b>")
    def compare(a: str, b: str) -> str:
        try:
            cp = comparison_page(ws, a, b, state.model)
        except PanelError:
            abort(404)
        return comparison_html(cp, links, ws.config.rubric.ship_threshold, editor=True)

    @app.post("/compare")
    def add_compare() -> Response:
        a, b = request.form.get("a", ""), request.form.get("b", "")
        try:
            comparison_page(ws, a, b, state.model)
        except PanelError:
            return refuse(400, "refused: pick two reviewed tools to compare")
        add_pair(ws, a, b)
        return cast(Response, redirect(links.compare(a, b), code=303))


def add_actions(app: Flask, state: AppState,
                action: Callable[[Callable[[str], str]], Callable[[str], Response]]) -> None:
    """The POST routes that change reviews; each checks its form before any work."""
    ws = state.ws

    @app.post("/tools/<slug>/regenerate")
    @action
    def regenerate(slug: str) -> str:
        persona = form_persona(ws, request.form)
        done = editor.regenerate(ws, slug, [persona], state.model, backend=state.engine())
        return "; ".join(d.message for d in done)

    @app.post("/tools/<slug>/edit")
    @action
    def edit(slug: str) -> str:
        persona, seen = form_persona(ws, request.form), form_seen(request.form)
        values = form_edit(request.form)
        rec = editor.edit_review(ws, slug, persona, state.model, expected=seen,
                                 **values)  # type: ignore[arg-type]
        return f"{rec.persona_name}: saved ({editor.review_state(rec)})"

    @app.post("/tools/<slug>/approve")
    @action
    def approve(slug: str) -> str:
        persona, seen = form_persona(ws, request.form), form_seen(request.form)
        recs = editor.approve(ws, slug, [persona], state.model, expected=seen)
        return f"{recs[0].persona_name}: approved"

    @app.post("/tools/<slug>/reset")
    @action
    def reset(slug: str) -> str:
        persona, seen = form_persona(ws, request.form), form_seen(request.form)
        editor.reset(ws, slug, persona, state.model, expected=seen)
        return f"{persona}: back to draft"


class TimedHandler(WSGIRequestHandler):
    """werkzeug's handler with a socket timeout: a stalled client is dropped, and an idle
    keep-alive connection closing on it is not logged as an error."""

    timeout = READ_TIMEOUT

    def log_error(self, format: str, *args: object) -> None:  # stdlib name
        if not format.startswith("Request timed out"):
            super().log_error(format, *args)


class _LazyHandshake(ssl.SSLContext):
    """A server context whose connections shake hands on their first read, in the
    request's own thread under its socket timeout, not in ``accept``: there, one client
    that connects and never shakes hands would hold up the whole server."""

    def wrap_socket(self, sock: Any, *args: Any, **kwargs: Any) -> ssl.SSLSocket:
        kwargs["do_handshake_on_connect"] = False
        return super().wrap_socket(sock, *args, **kwargs)


def tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    """HTTPS for the editor (``panel ui --cert --key``): TLS 1.2 or newer, the certificate
    chain and its private key from PEM files."""
    ctx = _LazyHandshake(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise InputError(str(cert), f"cannot serve HTTPS with this certificate and the key "
                         f"{key}: {getattr(exc, 'strerror', None) or exc}",
                         field="--cert") from None
    return ctx


def plain_remote_warning(host: str) -> str:
    """What `panel ui` says, loudly, when it serves beyond loopback without TLS."""
    return (f"WARNING: the editor on {host} is served over plain HTTP: the access token and "
            "every review and edit cross the network unencrypted, readable and replayable "
            "by anyone on the path. Serve it with --cert and --key (HTTPS), or behind a "
            "TLS-terminating proxy.")


def make_ui_server(app: Flask, host: str = DEFAULT_HOST, port: int = 0, *,
                   allow_remote: bool = False, timeout: float = READ_TIMEOUT,
                   tls: ssl.SSLContext | None = None) -> BaseWSGIServer:
    """A threaded WSGI server for the app (port 0 picks a free port), bound and told its
    address, over HTTPS with ``tls`` (``tls_context``). Beyond loopback it needs
    ``allow_remote`` and an app made with a token. A client that stalls on its socket for
    ``timeout`` seconds is dropped; the app's own lock keeps its work to one request at a
    time."""
    guard = cast(Guard, app.extensions["panel_guard"])
    if not is_loopback(host):
        if not allow_remote:
            raise PanelError(f"--host {host} would expose the editor beyond this machine; "
                             "pass --allow-remote (an access token is then required)")
        if guard.token is None:
            raise PanelError(f"--host {host} needs an access token (--token or "
                             "PANEL_UI_TOKEN; `panel ui --allow-remote` makes one)")
    handler = type("TimedHandler", (TimedHandler,), {"timeout": timeout})
    server = make_server(host, port, app, threaded=True, request_handler=handler,
                         ssl_context=tls)
    guard.bind(host, server.server_port)
    return server


class UiServer:
    """`panel ui`: the app and its bound server; ``url`` is what the editor opens (with the
    token, if one is needed), ``serve()`` runs until Ctrl-C and then closes both."""

    def __init__(self, ws: Workspace, *, model: str | None, host: str, port: int,
                 allow_remote: bool = False, token: str | None = None,
                 tls: tuple[Path, Path] | None = None) -> None:
        remote = allow_remote and not is_loopback(host)
        if remote and token is None:
            token = new_token()
        context = tls_context(*tls) if tls else None
        self.app = create_app(ws, model, token=token)
        self.server = make_ui_server(self.app, host, port, allow_remote=allow_remote,
                                     tls=context)
        shown = f"[{host}]" if ":" in host else host
        query = f"?token={token}" if token else ""
        scheme = "https" if context else "http"
        self.url = f"{scheme}://{shown}:{self.server.server_port}/{query}"
        self.warning = plain_remote_warning(host) if remote and context is None else None

    def serve(self) -> None:
        try:
            self.server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            self.server.server_close()
            self.app.extensions["panel"].close()
