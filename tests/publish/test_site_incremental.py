"""`panel site` rebuilds only what changed, splits its index, and removes only its own files."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from panel.config.workspace import Workspace
from panel.contract.records import Edit
from panel.inputs.cards import load_cards
from panel.pipeline.run import review_cards
from panel.publish import index as site_index_module
from panel.publish.index import IndexRow
from panel.publish.manifest import manifest_path
from panel.publish.render.html import json_script
from panel.publish.site import add_pair, build_site
from panel.verdict.views import tool_page

from conftest import EXAMPLES, ROOT

HOSTILE = '</script><!--<script>alert(1)</script> & "x"'


def seed(ws: Workspace) -> None:
    """The six example tools on the mock, and one comparison."""
    review_cards(ws, [c.card for c in load_cards([EXAMPLES])], "mock")
    add_pair(ws, "diffsage", "patchpilot")


def snapshot(site: Path) -> dict[str, tuple[int, int]]:
    """(inode, mtime_ns) of every file, the manifest beside the site included."""
    files = [p for p in site.rglob("*") if p.is_file()] + [manifest_path(site.parent)]
    return {p.as_posix(): (p.stat().st_ino, p.stat().st_mtime_ns) for p in files}


def flip(ws: Workspace, slug: str, persona: str) -> None:
    """An editor turns one review's verdict around (so the panel's ship share moves)."""
    [rec] = [r for r in tool_page(ws, slug, "mock").reviews if r.persona == persona]
    edit = Edit(score=10, verdict="skip") if rec.verdict == "ship" else Edit(score=95,
                                                                             verdict="ship")
    ws.store.set_edit(slug, persona, "mock", edit)


def test_an_unchanged_rebuild_writes_no_file(ws: Workspace) -> None:
    seed(ws)
    first = build_site(ws, "mock")
    assert len(first.written) == 6 + 3 + 1 and first.removed == []
    before = snapshot(ws.output / "site")
    again = build_site(Workspace(ws.output, ws.root), "mock")
    assert (again.written, again.removed, again.tools, again.comparisons) == ([], [], 6, 1)
    assert snapshot(ws.output / "site") == before


def test_a_changed_review_rewrites_its_pages_and_nothing_else(ws: Workspace) -> None:
    seed(ws)
    build_site(ws, "mock")
    before = snapshot(ws.output / "site")
    flip(ws, "patchpilot", "builder")
    summary = build_site(Workspace(ws.output, ws.root), "mock")
    mine = ["compare/diffsage-vs-patchpilot.html", "compare/diffsage-vs-patchpilot.md",
            "compare/diffsage-vs-patchpilot.svg", "index.html", "tools/patchpilot.html"]
    assert sorted(summary.written) == mine
    after = snapshot(ws.output / "site")
    site = (ws.output / "site").as_posix()
    assert sorted(p for p in after if after[p] != before.get(p)) == sorted(
        [f"{site}/{m}" for m in mine] + [manifest_path(ws.output).as_posix()])


def test_a_deleted_page_is_made_again(ws: Workspace) -> None:
    seed(ws)
    build_site(ws, "mock")
    (ws.output / "site" / "tools" / "voicedesk.html").unlink()
    assert build_site(Workspace(ws.output, ws.root), "mock").written == ["tools/voicedesk.html"]


def index_slugs(site: Path) -> dict[str, list[str]]:
    """Per index page, the tools its table links to, in order."""
    return {p.name: re.findall(r'<td><a href="tools/([^"]+)\.html">', p.read_text())
            for p in sorted(site.glob("index*.html"))}


def test_the_index_split_holds_every_tool_once(ws: Workspace,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    seed(ws)
    monkeypatch.setattr(site_index_module, "PAGE_SIZE", 4)
    build_site(ws, "mock")
    pages = index_slugs(ws.output / "site")
    assert sorted(pages) == ["index-2.html", "index.html"]
    assert [len(v) for v in pages.values()] == [2, 4]  # index-2.html sorts first
    slugs = [s for v in pages.values() for s in v]
    assert sorted(slugs) == sorted(p.stem for p in (ws.output / "site" / "tools").iterdir())
    assert len(slugs) == len(set(slugs)) == 6
    first = (ws.output / "site" / "index.html").read_text()
    assert '<nav class="controls" id="pager">Page <b>1</b> <a href="index-2.html">2</a>' in first
    assert 'id="comparisons"' in first
    assert 'id="comparisons"' not in (ws.output / "site" / "index-2.html").read_text()


def test_pages_of_gone_tools_are_removed_and_foreign_files_kept(
        ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    seed(ws)
    monkeypatch.setattr(site_index_module, "PAGE_SIZE", 5)
    build_site(ws, "mock")
    site = ws.output / "site"
    foreign = [site / "notes.html", site / "tools" / "custom.html", site / "index-9.html"]
    for path in foreign:
        path.write_text("mine")
    with sqlite3.connect(ws.store.path) as db:
        db.execute("DELETE FROM reviews WHERE tool IN ('voicedesk', 'patchpilot')")
    summary = build_site(Workspace(ws.output, ws.root), "mock")
    assert summary.removed == ["compare/diffsage-vs-patchpilot.html",
                               "compare/diffsage-vs-patchpilot.md",
                               "compare/diffsage-vs-patchpilot.svg", "index-2.html",
                               "tools/patchpilot.html", "tools/voicedesk.html"]
    assert summary.skipped == ["diffsage vs patchpilot: no reviews by 'mock'"]
    assert all(p.read_text() == "mine" for p in foreign)
    assert sorted(index_slugs(site)) == ["index-9.html", "index.html"]


def test_a_hostile_manifest_removes_nothing_outside_the_site(ws: Workspace) -> None:
    seed(ws)
    outside = ws.output / "keep.txt"
    outside.write_text("keep")
    (ws.output / "site" / "tools").mkdir(parents=True)
    inside = ws.output / "site" / "tools" / ".hidden"
    inside.write_text("keep")
    (ws.output / "site" / "indexes.html").write_text("keep")
    manifest_path(ws.output).write_text(json.dumps({"format": 1, "files": {
        "../keep.txt": ["x"], "tools/../../keep.txt": ["x"], "tools/.hidden": ["x"],
        "/etc/hostname": ["x"], "tools": ["x"], "indexes.html": ["x"]}}))
    summary = build_site(ws, "mock")
    assert summary.removed == [] and outside.read_text() == inside.read_text() == "keep"
    assert (ws.output / "site" / "indexes.html").read_text() == "keep"


def test_a_manifest_that_does_not_parse_rebuilds_everything(ws: Workspace) -> None:
    seed(ws)
    build_site(ws, "mock")
    manifest_path(ws.output).write_text("{not json")
    summary = build_site(Workspace(ws.output, ws.root), "mock")
    assert summary.written == [] and summary.removed == []  # rendered, same bytes
    assert json.loads(manifest_path(ws.output).read_text())["format"] == 1


def test_the_json_site_index_is_escaped(ws: Workspace) -> None:
    card = load_cards([EXAMPLES / "diffsage.yaml"])[0].card.model_copy(
        update={"category": HOSTILE})
    review_cards(ws, [card], "mock")
    build_site(ws, "mock")
    html = (ws.output / "site" / "index.html").read_text()
    [block] = re.findall(r'<script type="application/json" id="site-index">(.*?)</script>',
                         html, re.S)
    assert "<" not in block and ">" not in block and "&" not in block
    assert json.loads(block)["categories"] == {HOSTILE: [[1, 1]]}
    assert html.count("</script>") == 2  # the JSON block's and the script's own


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(),
                    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
                    max_leaves=20))
def test_json_script_round_trips_and_never_opens_markup(data: object) -> None:
    text = str(json_script(data))
    assert not set(text) & {"<", ">", "&", "\u2028", "\u2029"}
    assert json.loads(text) == data


def test_the_site_index_never_carries_a_file_the_build_did_not_make(ws: Workspace) -> None:
    seed(ws)
    build_site(ws, "mock")
    made = json.loads(manifest_path(ws.output).read_text())["files"]
    on_disk = {p.relative_to(ws.output / "site").as_posix()
               for p in (ws.output / "site").rglob("*") if p.is_file()}
    assert set(made) == on_disk


def test_a_relative_output_folder_with_uri_characters(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    ws = Workspace(Path("out #1?%"), ROOT)
    seed(ws)
    assert len(build_site(ws, "mock").written) == 10
    assert build_site(Workspace(Path("out #1?%"), ROOT), "mock").written == []


def test_a_manifest_row_of_the_wrong_shape_is_rebuilt(ws: Workspace) -> None:
    seed(ws)
    build_site(ws, "mock")
    data = json.loads(manifest_path(ws.output).read_text())
    good = data["files"]["tools/tracelens.html"][1]
    assert IndexRow.load(good) == IndexRow.of(tool_page(ws, "tracelens", "mock"))
    for bad in (good[:-1], [*good[:4], 1, *good[5:]], [*good[:7], "75", *good[8:]],
                [*good[:2], None, *good[3:]], "row", None):
        assert IndexRow.load(bad) is None, bad
    data["files"]["tools/tracelens.html"][1] = good[:-1]
    manifest_path(ws.output).write_text(json.dumps(data))
    (ws.output / "site" / "tools" / "tracelens.html").write_text("stale")
    summary = build_site(Workspace(ws.output, ws.root), "mock")
    assert summary.written == ["tools/tracelens.html"]  # rendered again, index unchanged
