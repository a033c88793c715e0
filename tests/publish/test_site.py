"""The static site, Markdown drafts, chart and votes, built from a mock-reviewed store."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from panel.backends.mock import Mocks
from panel.cli import main
from panel.config.workspace import Workspace
from panel.errors import InputError
from panel.inputs.cards import load_cards
from panel.pipeline.run import review_cards
from panel.publish.site import add_pair, build_site, load_pairs
from panel.verdict.community import Votes, load_votes, save_votes

from conftest import EXAMPLES

HOSTILE = '<script>alert(1)</script> "><img src=x onerror=alert(1)>'


def seed(ws: Workspace) -> None:
    cards = [c.card for c in load_cards([EXAMPLES])]
    review_cards(ws, cards, "mock")


def test_site_has_index_tool_pages_and_category_pairs(ws: Workspace) -> None:
    seed(ws)
    save_votes(ws.output / "votes", "patchpilot", Votes(up=8, down=2))
    summary = build_site(ws, "mock", pairs="category")
    site = ws.output / "site"
    assert (summary.tools, summary.comparisons, summary.added_pairs) == (6, 1, 1)
    assert load_pairs(ws) == [("diffsage", "patchpilot")]
    assert len(list((site / "tools").glob("*.html"))) == 6
    html = (site / "compare" / "diffsage-vs-patchpilot.html").read_text()
    assert "80% up · 8 up / 2 down" in html and "No community votes yet" in html
    assert html.count('class="state draft"') == 8 and "<svg" in html
    md = (site / "compare" / "diffsage-vs-patchpilot.md").read_text()
    assert "| Community | No community votes yet | 80% up · 8 up / 2 down |" in md
    assert "![Persona scores: DiffSage vs PatchPilot](diffsage-vs-patchpilot.svg)" in md
    svg = (site / "compare" / "diffsage-vs-patchpilot.svg").read_text()
    assert svg.count('height="16"') == 8


def test_compare_command_registers_the_pair(tmp_path: Path) -> None:
    res = CliRunner().invoke(main, ["compare", str(EXAMPLES / "tracelens.yaml"),
                                    str(EXAMPLES / "vectorloom.yaml"), "-m", "mock",
                                    "-o", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert res.stdout.splitlines()[-1] == (
        "added tracelens vs vectorloom to the site (`panel site` builds it)")
    res = CliRunner().invoke(main, ["site", "-m", "mock", "-o", str(tmp_path)])
    assert res.stdout == (f"wrote {tmp_path / 'site' / 'index.html'}: 2 tool page(s), "
                          "1 comparison(s); 6 file(s) changed, 0 removed\n")
    res = CliRunner().invoke(main, ["site", "-m", "mock", "-o", str(tmp_path)])
    assert res.stdout.endswith("1 comparison(s); 0 file(s) changed, 0 removed\n")
    assert (tmp_path / "site" / "compare" / "tracelens-vs-vectorloom.html").is_file()


def test_hostile_card_text_is_escaped_in_every_page(ws: Workspace) -> None:
    seed(ws)
    bad = load_cards([EXAMPLES / "diffsage.yaml"])[0].card.model_copy(
        update={"name": HOSTILE, "description": HOSTILE, "tagline": HOSTILE})
    review_cards(ws, [bad], "mock")
    add_pair(ws, bad.slug, "patchpilot")
    build_site(ws, "mock")
    for page in (ws.output / "site").rglob("*.html"):
        text = page.read_text()
        assert "<script>alert" not in text and "<img src=x" not in text, page
        own = ['<script type="application/json" id="site-index">', "<script>"]
        assert re.findall(r"<script[^>]*>", text) == (own if page.name == "index.html" else [])
    comp = (ws.output / "site" / "compare" / f"{bad.slug}-vs-patchpilot.html").read_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &#34;&gt;&lt;img src=x" in comp
    md = (ws.output / "site" / "compare" / f"{bad.slug}-vs-patchpilot.md").read_text()
    assert "<script>" not in md and "\\<script\\>alert\\(1\\)" in md


def test_votes_file_is_validated(ws: Workspace) -> None:
    folder = ws.output / "votes"
    folder.mkdir(parents=True)
    (folder / "a.json").write_text(json.dumps({"up": 3, "down": 1}))
    assert load_votes(folder, "a") == Votes(up=3, down=1)
    assert load_votes(folder, "missing") is None
    (folder / "b.yaml").write_text("up: -1\n")
    with pytest.raises(InputError, match="b.yaml: field 'up'"):
        load_votes(folder, "b")


def test_a_failed_review_shows_every_attempts_reason(ws: Workspace, mock: Mocks) -> None:
    from html import escape


    card = load_cards([EXAMPLES / "tracelens.yaml"])[0].card
    mock.reset()
    mock.enqueue(HOSTILE)  # not JSON, and hostile
    mock.enqueue(json.dumps({"reasoning": "r", "score": 101, "verdict": "ship",
                             "review": "x"}))
    mock.enqueue('{"reasoning": "cut off', finish_reason="length")
    try:
        [rec] = review_cards(ws, [card], "mock", ["builder"]).records
    finally:
        mock.reset()
    reasons = [a.error or "" for a in rec.attempts]
    assert not rec.ok and len(reasons) == 3 and all(reasons) and len(set(reasons)) == 3
    assert rec.failure == reasons[-1]
    build_site(ws, "mock")
    html = (ws.output / "site" / "tools" / "tracelens.html").read_text()
    items = re.findall(r'<ol class="attempts">(.*?)</ol>', html, re.S)
    assert items == ["".join(f"<li>attempt {i}: {escape(r)}</li>"
                             for i, r in enumerate(reasons, 1))]
    assert "<script>alert" not in html
