"""Headless Chromium against the static site and the editors' web app, served on localhost.

The browser is Debian's /usr/bin/chromium (scripts/ensure-chromium.sh installs it), driven
by playwright's Python client; no browser is downloaded. Every test fails on any dialog
(an injected ``alert`` would raise one) and on any request that leaves 127.0.0.1.
Screenshots go to outputs/screenshots/ under the test's folder, and also to
$PANEL_SCREENSHOTS when that is set.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from panel.backends.mock import Mocks
from panel.config.workspace import Workspace
from panel.contract.evidence import quote_texts
from panel.inputs.cards import ToolCard, load_cards
from panel.pipeline.run import review_cards
from panel.publish import editor
from panel.publish import index as site_index
from panel.publish.site import add_pair, build_site
from panel.verdict.community import Votes, save_votes
from panel.verdict.views import tool_page

from conftest import EXAMPLES, need

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
HOSTILE = f"{SCRIPT} {IMG}"

if not CHROMIUM.exists() or shutil.which("chromium") is None:
    if os.environ.get("CI"):
        raise RuntimeError("no /usr/bin/chromium: run scripts/ensure-chromium.sh")
    pytest.skip("no /usr/bin/chromium (scripts/ensure-chromium.sh installs it)",
                allow_module_level=True)
sync_api = need("playwright.sync_api")


@pytest.fixture(scope="module")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One headless Chromium for the module, with a fresh profile (user data dir)."""
    with sync_api.sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=str(CHROMIUM),
            headless=True, args=FLAGS, viewport={"width": 1200, "height": 900})
        yield context
        context.close()


@dataclass
class Tab:
    """A page that records dialogs and any request that leaves localhost."""

    page: Any
    dialogs: list[str] = field(default_factory=list)
    external: list[str] = field(default_factory=list)

    def shot(self, name: str) -> Path:
        """Screenshot the whole page into outputs/screenshots/ (and $PANEL_SCREENSHOTS)."""
        path = Path("outputs/screenshots") / name
        path.parent.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(path), full_page=True)
        extra = os.environ.get("PANEL_SCREENSHOTS")
        if extra:
            Path(extra).mkdir(parents=True, exist_ok=True)
            shutil.copy(path, Path(extra) / name)
        return path

    def clean(self) -> None:
        assert self.dialogs == [], f"a script ran: {self.dialogs}"
        assert self.external == [], f"requests left localhost: {self.external}"


@pytest.fixture
def tab(chromium: Any) -> Iterator[Tab]:
    page = chromium.new_page()
    tab = Tab(page)

    def on_dialog(dialog: Any) -> None:
        tab.dialogs.append(dialog.message)
        dialog.dismiss()

    def guard(route: Any) -> None:
        url = route.request.url
        if url.startswith(("http://127.0.0.1", "data:", "about:")):
            route.continue_()
        else:
            tab.external.append(url)
            route.abort()

    page.on("dialog", on_dialog)
    page.route("**/*", guard)
    yield tab
    page.close()
    tab.clean()


def serve(server: Any) -> str:
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_port}"


@pytest.fixture
def site_url(ws: Workspace) -> Iterator[str]:
    """The static site of a mock-reviewed store, on a localhost http.server thread."""
    handler = partial(_QuietHandler, directory=str(ws.output / "site"))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    yield serve(server)
    server.shutdown()
    server.server_close()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # stdlib name
        pass


@pytest.fixture
def app_url(ws: Workspace) -> Iterator[str]:
    """The editors' Flask app on the mock model, on a werkzeug server thread."""
    from panel.publish.webapp import create_app, make_ui_server

    app = create_app(ws, "mock")
    server = make_ui_server(app, "127.0.0.1", 0)
    yield serve(server)
    server.shutdown()
    server.server_close()
    app.extensions["panel"].close()


def hostile_card() -> ToolCard:
    card = load_cards([EXAMPLES / "diffsage.yaml"])[0].card
    return card.model_copy(update={"name": HOSTILE, "description": HOSTILE})


def seed(ws: Workspace) -> ToolCard:
    """The six example tools and the hostile card reviewed on the mock; votes for one."""
    bad = hostile_card()
    cards = [c.card for c in load_cards([EXAMPLES])] + [bad]
    review_cards(ws, cards, "mock")
    save_votes(ws.output / "votes", "patchpilot", Votes(up=12, down=3))
    add_pair(ws, "patchpilot", "diffsage")
    add_pair(ws, bad.slug, "patchpilot")
    build_site(ws, "mock", pairs="category")
    return bad


def rows(page: Any, table: str) -> list[list[str]]:
    """The visible cells of a table's body, row by row (blank lines folded), once the page
    has loaded: a click that navigates returns when the new page commits, and reading its
    rows at once may find none (seen in CI)."""
    page.wait_for_load_state()
    return [[re.sub(r"\n+", "\n", c).strip() for c in r] for r in page.eval_on_selector_all(
        f"{table} tbody tr", "rs => rs.filter(r => r.offsetParent !== null)"
        ".map(r => Array.from(r.children).map(c => c.innerText))")]


def assert_no_injected_markup(page: Any, own_scripts: int = 0) -> None:
    assert page.locator("script").count() == own_scripts
    assert page.locator("img").count() == 0
    assert page.evaluate("document.querySelectorAll('[onerror]').length") == 0


SCORE = re.compile(r"^\d{1,3}/100 · (ship|skip) (draft|edited|approved)\n")


def test_site_decision_table_scorecard_chart_and_index(ws: Workspace, site_url: str,
                                                       tab: Tab) -> None:
    seed(ws)
    page = tab.page
    page.goto(f"{site_url}/compare/patchpilot-vs-diffsage.html")
    a, b = tool_page(ws, "patchpilot", "mock"), tool_page(ws, "diffsage", "mock")
    decision = rows(page, "#decision")
    assert [r[0] for r in decision] == ["Panel verdict", "Panel ship", "Community", "Pricing",
                                        "Best for", "Category"]
    assert decision[0][1:] == [a.panel.label, b.panel.label]
    assert decision[2][1:] == ["80% up · 12 up / 3 down", "No community votes yet"]
    assert decision[3][1:] == [a.card.pricing, b.card.pricing]
    scorecard = rows(page, "#scorecard")
    assert [r[0] for r in scorecard] == ["Builder", "Skeptic", "Futurist", "Founder"]
    for row, ra, rb in zip(scorecard, a.reviews, b.reviews, strict=True):
        assert row[1].startswith(f"{ra.score}/100 · {ra.verdict} draft\n{ra.text}")
        assert row[2].startswith(f"{rb.score}/100 · {rb.verdict} draft\n{rb.text}")
    assert page.locator("svg.chart rect[height='16']").count() == 8
    assert page.locator(".tool .badge").all_inner_texts() == [a.badge, b.badge]
    tab.shot("site-compare.png")

    page.goto(f"{site_url}/index.html")
    assert len(rows(page, "#tools")) == 7  # six examples and the hostile card
    page.select_option("#sort", "ship-asc")
    shares = [float(r[3].rstrip("%")) for r in rows(page, "#tools") if r[3] != "–"]
    assert shares == sorted(shares)
    page.select_option("#category", "Developer Tools")
    assert {r[1] for r in rows(page, "#tools")} == {"Developer Tools"}
    assert len(rows(page, "#tools")) == 3
    tab.shot("site-index.png")
    page.click("text=PatchPilot vs DiffSage")
    page.wait_for_url("**/compare/patchpilot-vs-diffsage.html")  # and its load event
    page.goto(f"{site_url}/tools/patchpilot.html")
    assert len(rows(page, "#scorecard")) == 4
    tab.shot("site-tool.png")


def test_site_filter_spans_a_paginated_index(ws: Workspace, site_url: str, tab: Tab,
                                            chromium: Any,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(site_index, "PAGE_SIZE", 3)
    seed(ws)  # seven tools: index.html, index-2.html, index-3.html
    site = ws.output / "site"
    counts = {p.name: p.read_text().count('<tr data-category="Developer Tools"')
              for p in sorted(site.glob("index*.html"))}
    assert sorted(counts) == ["index-2.html", "index-3.html", "index.html"]
    assert sum(counts.values()) == 3
    page = tab.page
    page.goto(f"{site_url}/index.html")
    assert len(rows(page, "#tools")) == 3
    page.select_option("#category", "Developer Tools")
    assert [r[1] for r in rows(page, "#tools")] == ["Developer Tools"] * counts["index.html"]
    others = [(n, 1 if n == "index.html" else int(n[6:-5]), c) for n, c in counts.items()
              if c and n != "index.html"]
    others.sort(key=lambda o: o[1])
    assert page.inner_text("#elsewhere") == "Developer Tools also on page " + ", ".join(
        f"{number} ({c} tool{'s' if c > 1 else ''})" for _, number, c in others)
    tab.shot("site-index-paginated.png")
    name, number, count = others[0]
    page.click("#elsewhere a >> nth=0")
    page.wait_for_url(f"**/{name}#category=Developer+Tools")
    assert page.input_value("#category") == "Developer Tools"
    assert [r[1] for r in rows(page, "#tools")] == ["Developer Tools"] * count
    assert_no_injected_markup(page, 2)
    opened = chromium.new_page()  # from disk: the site index is inline, nothing is fetched
    try:
        opened.goto(f"{(site / name).as_uri()}#category=Developer+Tools&sort=name-asc")
        assert opened.input_value("#sort") == "name-asc"
        assert [r[1] for r in rows(opened, "#tools")] == ["Developer Tools"] * count
    finally:
        opened.close()


def test_site_shows_hostile_card_as_text_and_runs_no_script(ws: Workspace, site_url: str,
                                                            tab: Tab) -> None:
    bad = seed(ws)
    page = tab.page
    for path, own in [(f"compare/{bad.slug}-vs-patchpilot.html", 0),
                      (f"tools/{bad.slug}.html", 0), ("index.html", 2)]:
        page.goto(f"{site_url}/{path}")
        body = page.inner_text("body")
        assert SCRIPT in body and IMG in body, path
        assert_no_injected_markup(page, own)
    page.goto(f"{site_url}/compare/{bad.slug}-vs-patchpilot.html")
    assert page.locator("h1").inner_text() == f"{HOSTILE} vs PatchPilot"
    assert page.locator("svg.chart text", has_text=SCRIPT).count() == 1
    tab.shot("site-hostile-compare.png")
    tab.clean()


def test_app_regenerate_edit_approve_survives_rerun(ws: Workspace, app_url: str,
                                                     tab: Tab) -> None:
    seed(ws)
    page = tab.page
    page.goto(app_url)
    assert len(rows(page, "#tools")) == 7  # six examples and the hostile card
    tab.shot("app-index.png")
    page.click("#tools >> text=PatchPilot")
    builder = page.locator("section[data-persona=builder]")
    skeptic = page.locator("section[data-persona=skeptic]")
    builder_text = builder.locator(".review").inner_text()
    assert skeptic.get_attribute("data-sample") == "0"

    skeptic.locator("button", has_text="Regenerate Skeptic").click()
    assert "skeptic: new sample 1" in page.locator("#msg").inner_text()
    assert skeptic.get_attribute("data-sample") == "1"
    assert builder.get_attribute("data-sample") == "0"
    assert builder.locator(".review").inner_text() == builder_text
    tab.shot("app-regenerated.png")

    text = "PatchPilot earns its keep on busy repositories. An editor wrote this verdict."
    builder.locator("summary").click()
    builder.locator("input[name=score]").fill("58")
    builder.locator("select[name=verdict]").select_option("ship")
    builder.locator("textarea").fill(text)
    builder.locator("input[name=approved]").check()
    builder.locator("button", has_text="Save").click()
    assert page.locator("#msg").inner_text() == "Builder: saved (approved)"
    assert builder.get_attribute("data-state") == "approved"
    assert builder.locator(".verdict").inner_text().startswith("58/100 · ship approved")
    tab.shot("app-approved.png")

    card = load_cards([EXAMPLES / "patchpilot.yaml"])[0].card
    review_cards(ws, [card], "mock", force=True)             # a forced re-run of every persona
    editor.regenerate(ws, "patchpilot", ["builder"], "mock")  # and a regenerate of this one
    page.reload()
    assert builder.get_attribute("data-state") == "approved"
    assert builder.locator(".verdict").inner_text().startswith("58/100 · ship approved")
    assert builder.locator(".review").inner_text() == text
    assert builder.locator("button", has_text="Regenerate").count() == 0

    page.select_option("select[name=b]", "diffsage")
    page.click("text=Open comparison")
    # the URL changes when the navigation commits, before the page is read: wait for its
    # load event (reading the table at once found no rows in CI)
    page.wait_for_url("**/compare/patchpilot/diffsage")
    expected = tool_page(ws, "patchpilot", "mock").panel.label
    assert rows(page, "#decision")[0][1] == expected
    first = rows(page, "#scorecard")[0]
    assert first[1] == f"58/100 · ship approved\n{text}"
    tab.shot("app-compare.png")


def test_app_shows_hostile_card_and_edit_as_text(ws: Workspace, app_url: str, tab: Tab) -> None:
    bad = seed(ws)
    page = tab.page
    page.goto(app_url)
    assert page.locator("#tools a", has_text=SCRIPT).count() == 1
    assert_no_injected_markup(page)
    page.goto(f"{app_url}/tools/{bad.slug}")
    body = page.inner_text("body")
    assert SCRIPT in body and IMG in body
    skeptic = page.locator("section[data-persona=skeptic]")
    skeptic.locator("summary").click()
    skeptic.locator("textarea").fill(f"The editor pasted {HOSTILE} here. It stays text.")
    skeptic.locator("button", has_text="Save").click()
    assert skeptic.locator(".review").inner_text() == (
        f"The editor pasted {HOSTILE} here. It stays text.")
    assert_no_injected_markup(page)
    tab.shot("app-hostile-tool.png")
    page.goto(f"{app_url}/compare/{bad.slug}/patchpilot")
    assert SCRIPT in page.locator("h1").inner_text()
    assert_no_injected_markup(page)
    tab.clean()



PLANTED = ("PatchPilot is free for teams at $5 per seat. It also reviews GitLab merge "
           "requests.")
QUOTE_BG = "rgb(254, 249, 195)"  # mark.quote's background (base.html.j2)


def assert_quotes_and_claims(page: Any, quoted: set[str]) -> None:
    """PatchPilot's card marks exactly the quoted sentences, highlighted; the builder's
    planted claims are flagged beside its review."""
    marks = page.locator(".tool[data-tool=patchpilot] .desc mark.quote")
    assert set(marks.all_inner_texts()) == quoted
    assert marks.first.evaluate("m => getComputedStyle(m).backgroundColor") == QUOTE_BG
    builder = page.locator("#scorecard tr[data-persona=builder] td").first
    assert builder.locator(".claim").all_inner_texts() == ["$5", "GitLab"]
    assert builder.locator(".evidence q").first.inner_text() in quoted


def test_quotes_are_highlighted_and_a_planted_claim_flagged_on_site_and_app(
        ws: Workspace, site_url: str, app_url: str, tab: Tab, mock: Mocks) -> None:
    cards = [c.card for c in load_cards([EXAMPLES / "patchpilot.yaml",
                                         EXAMPLES / "diffsage.yaml"])]
    mock.enqueue(json.dumps({"reasoning": "Planted notes here.", "score": 70,
                             "verdict": "ship", "review": PLANTED}))
    review_cards(ws, cards, "mock")
    add_pair(ws, "patchpilot", "diffsage")
    build_site(ws, "mock")
    reviews = tool_page(ws, "patchpilot", "mock").reviews
    quoted = {q for r in reviews for q in (r.output.evidence if r.output else [])}
    assert reviews[0].unsupported == ["$5", "GitLab"] and quoted
    page = tab.page
    page.goto(f"{site_url}/compare/patchpilot-vs-diffsage.html")
    assert_quotes_and_claims(page, quoted)
    tab.shot("site-evidence.png")
    page.goto(f"{app_url}/compare/patchpilot/diffsage")
    assert_quotes_and_claims(page, quoted)
    page.goto(f"{app_url}/tools/patchpilot")
    builder = page.locator("section[data-persona=builder]")
    assert builder.locator(".claim").all_inner_texts() == ["$5", "GitLab"]
    assert set(page.locator(".desc mark.quote").all_inner_texts()) == quoted
    unused = [s for s in quote_texts(cards[0].description) if s not in quoted]
    assert page.locator("#unquoted li").all_inner_texts() == unused
    tab.shot("app-evidence.png")


ATTACK = """<!doctype html><meta charset="utf-8"><title>You won a prize</title>
<form id="f" method="post" action="{action}">{fields}</form>
<script>document.getElementById("f").submit()</script>
"""
FRAME = """<!doctype html><meta charset="utf-8"><title>Framed</title>
<iframe src="{src}" width="800" height="400"></iframe>
"""


@pytest.fixture
def attacker(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """Another origin: a plain http.server on a second 127.0.0.1 port, serving a folder."""
    folder = tmp_path / "attacker"
    folder.mkdir()
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(folder)))
    yield serve(server), folder
    server.shutdown()
    server.server_close()


def test_a_page_on_another_origin_cannot_change_or_frame_the_app(
        ws: Workspace, app_url: str, attacker: tuple[str, Path], tab: Tab) -> None:
    """The attacker knows the review's key and version (the worst case) but cannot read the
    app's CSRF token; its auto-submitting form must change nothing, and the app will not
    render inside its frame."""
    review_cards(ws, [load_cards([EXAMPLES / "patchpilot.yaml"])[0].card], "mock")
    before = editor.current(ws, "patchpilot", "builder", "mock")
    evil_url, folder = attacker
    page = tab.page
    (folder / "frame.html").write_text(FRAME.format(src=f"{app_url}/tools/patchpilot"),
                                       encoding="utf-8")
    page.goto(f"{evil_url}/frame.html")
    [_, framed] = page.frames
    assert "The panel" not in framed.content()  # frame-ancestors 'none': an error page

    values = {"persona": "builder", "key": before.key, "version": editor.edit_version(before),
              "score": "1", "verdict": "skip", "approved": "on",
              "review": "Pwned by a page on another origin."}
    fields = "".join(f'<input type="hidden" name="{k}" value="{v}">' for k, v in values.items())
    (folder / "prize.html").write_text(ATTACK.format(
        action=f"{app_url}/tools/patchpilot/edit", fields=fields), encoding="utf-8")
    page.goto(f"{evil_url}/prize.html")
    page.wait_for_load_state()
    page.wait_for_url(re.compile(re.escape(app_url) + "/"), timeout=10_000)
    page.wait_for_load_state()
    after = editor.current(ws, "patchpilot", "builder", "mock")
    assert after.key == before.key and after.edit is None, after.edit
    assert (after.score, after.text) == (before.score, before.text)
    assert page.url == f"{app_url}/tools/patchpilot/edit"
    assert page.inner_text("body").startswith("refused: ")
    tab.shot("app-cross-origin-refused.png")


def test_site_and_app_show_the_head_to_head_line_per_persona(ws: Workspace, site_url: str,
                                                             app_url: str, tab: Tab,
                                                             mock: Mocks) -> None:
    """Judged pairs show a line per persona beside the scorecard, hostile names as text."""
    from panel.pipeline.pairwise import judge_pairs

    bad = seed(ws)
    pp, ds = (c.card for c in load_cards([EXAMPLES / "patchpilot.yaml",
                                          EXAMPLES / "diffsage.yaml"]))
    for choice in ("first", "second", "first", "first", "neither-ship", "neither-ship",
                   "second", "first"):  # persona by persona, PatchPilot first then DiffSage
        mock.enqueue(f'{{"reason": "Fewer steps on day one.", "choice": "{choice}", '
                     '"margin": 70}')
    _, hostile = judge_pairs(ws, [(pp, ds), (bad, pp)], "mock")
    build_site(ws, "mock")
    expected = [["Builder", "PatchPilot in both orders"],
                ["Skeptic", "inconsistent (PatchPilot when shown first, DiffSage when shown "
                            "first)"],
                ["Futurist", "neither would ship in both orders"],
                ["Founder", "DiffSage in both orders"]]
    page = tab.page
    for url in (f"{site_url}/compare/patchpilot-vs-diffsage.html",
                f"{app_url}/compare/patchpilot/diffsage"):
        page.goto(url)
        table = rows(page, "#head-to-head")
        assert [r[:2] for r in table] == expected, url
        assert table[0][2:] == ["PatchPilot margin 70\nFewer steps on day one.",
                                "PatchPilot margin 70\nFewer steps on day one."]
        assert len(rows(page, "#scorecard")) == 4  # the absolute scorecard stays beside it
    tab.shot("site-head-to-head.png")
    page.goto(f"{site_url}/compare/{bad.slug}-vs-patchpilot.html")
    assert [r[:2] for r in rows(page, "#head-to-head")] == [
        [r.persona_name, hostile.line(r)] for r in hostile.rows]
    assert any(SCRIPT in r[1] for r in rows(page, "#head-to-head"))
    assert_no_injected_markup(page)
    page.goto(f"{site_url}/compare/{bad.slug}-vs-diffsage.html")  # a pair never judged
    assert page.locator("#head-to-head").count() == 0 and len(rows(page, "#scorecard")) == 4
