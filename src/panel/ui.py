"""The editors' local web app (Flask): tools, a tool's panel, regenerate, edit, approve.

It is a thin door onto the same library the CLI uses (pages, editor, site), so a review
edited here is protected from re-runs exactly as one edited from a draft file. It binds to
127.0.0.1 by default. The server is threaded, so an idle connection a browser opens ahead
of time never blocks it, but the app's work runs one request at a time under a lock: the
store and the engine are used by one request at a time, and a regenerate on a real model
is worth waiting for. Every
page is rendered by the autoescaping templates and sent with a Content-Security-Policy
that allows no script at all.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, cast
from urllib.parse import quote, urlencode

from flask import Flask, Response, abort, g, redirect, request
from werkzeug.serving import BaseWSGIServer, make_server

from panel import editor
from panel.backends import Backend, create_backend
from panel.errors import PanelError
from panel.pages import comparison_page, model_name, tool_page
from panel.render.html import comparison_html, csp, render
from panel.site import add_pair, load_pairs, reviewed_tools
from panel.workspace import Workspace

DEFAULT_HOST = "127.0.0.1"


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
    owned: bool = field(default=False)

    def engine(self) -> Backend:
        if self.backend is None:
            self.backend = create_backend(self.ws.settings(self.model).spec)
            self.owned = True
        return self.backend

    def close(self) -> None:
        if self.owned and self.backend is not None:
            self.backend.close()
            self.backend = None


def create_app(ws: Workspace, model: str | None = None, backend: Backend | None = None) -> Flask:
    """The app over one workspace and model; pass ``backend`` to reuse a running engine."""
    app = Flask(__name__)
    state = AppState(ws, model_name(ws, model), backend)
    app.extensions["panel"] = state
    links = AppLinks()

    def page(template: str, **ctx: object) -> str:
        return render(template, links=links, model=state.model, editor=True,
                      msg=request.args.get("msg"), error=request.args.get("error") == "1", **ctx)

    def back(slug: str, msg: str, error: bool = False) -> Response:
        query = urlencode({"msg": msg, **({"error": "1"} if error else {})})
        return cast(Response, redirect(f"{links.tool(slug)}?{query}#reviews", code=303))

    def action(fn: Callable[[str], str]) -> Callable[[str], Response]:
        """Run an editor action; show its message, or the error, on the tool's page."""
        def run(slug: str) -> Response:
            try:
                return back(slug, fn(slug))
            except PanelError as exc:
                return back(slug, str(exc), error=True)
        run.__name__ = fn.__name__
        return run

    lock = threading.Lock()

    @app.before_request
    def one_at_a_time() -> None:
        lock.acquire()
        g.holds_lock = True

    @app.teardown_request
    def done(_exc: BaseException | None) -> None:
        if g.pop("holds_lock", False):
            lock.release()

    @app.after_request
    def headers(resp: Response) -> Response:
        resp.headers["Content-Security-Policy"] = csp()
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["Referrer-Policy"] = "no-referrer"
        return resp

    @app.get("/")
    def index() -> str:
        tools = reviewed_tools(ws, state.model)
        known = {t.slug: t for t in tools}
        pairs = [(a, b, f"{known[a].card.name} vs {known[b].card.name}")
                 for a, b in load_pairs(ws) if a in known and b in known]
        return page("ui_index.html.j2", tools=tools, pairs=pairs)

    @app.get("/tools/<slug>")
    def tool(slug: str) -> str:
        try:
            tp = tool_page(ws, slug, state.model)
        except PanelError:
            abort(404)
        tools = {t.slug: t for t in reviewed_tools(ws, state.model)}
        others = [t for s, t in tools.items() if s != slug]
        pairs = [(a, b, f"{tools[a].card.name} vs {tools[b].card.name}")
                 for a, b in load_pairs(ws) if slug in (a, b) and a in tools and b in tools]
        return page("ui_tool.html.j2", page=tp, others=others, pairs=pairs)

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
            abort(400)
        add_pair(ws, a, b)
        return cast(Response, redirect(links.compare(a, b), code=303))

    @app.post("/tools/<slug>/regenerate")
    @action
    def regenerate(slug: str) -> str:
        persona = request.form.get("persona", "")
        done = editor.regenerate(ws, slug, [persona], state.model, backend=state.engine())
        return "; ".join(d.message for d in done)

    @app.post("/tools/<slug>/edit")
    @action
    def edit(slug: str) -> str:
        form = request.form
        verdict = form.get("verdict") or None
        if verdict not in (None, "ship", "skip"):
            raise PanelError(f"verdict must be ship or skip, not {verdict!r}")
        score = form.get("score", "").strip()
        if score and not score.isdigit():
            raise PanelError(f"score must be a whole number from 0 to 100, not {score!r}")
        rec = editor.edit_review(
            ws, slug, form.get("persona", ""), state.model, score=int(score) if score else None,
            verdict=cast(Literal["ship", "skip"] | None, verdict),
            text=form.get("review") or None, approve=form.get("approved") == "on")
        return f"{rec.persona_name}: saved ({editor.review_state(rec)})"

    @app.post("/tools/<slug>/approve")
    @action
    def approve(slug: str) -> str:
        recs = editor.approve(ws, slug, [request.form.get("persona", "")], state.model)
        return f"{recs[0].persona_name}: approved"

    @app.post("/tools/<slug>/reset")
    @action
    def reset(slug: str) -> str:
        persona = request.form.get("persona", "")
        editor.reset(ws, slug, persona, state.model)
        return f"{persona}: back to draft"

    return app


def make_ui_server(app: Flask, host: str = DEFAULT_HOST, port: int = 0) -> BaseWSGIServer:
    """A threaded WSGI server for the app (port 0 picks a free port); the app's own lock
    keeps its work to one request at a time."""
    return make_server(host, port, app, threaded=True)
