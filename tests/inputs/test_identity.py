"""Tool identity: normalised names or ids, slugs of every script, no shared slugs, and
stores from before the change migrated in place."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from panel.cli.tables import format_summary
from panel.config.workspace import Workspace
from panel.errors import InputError
from panel.hashing import json_sha
from panel.inputs.cards import ToolCard, load_cards, normalize, slugify
from panel.pipeline.batch import Shard, run_batch
from panel.pipeline.run import plan
from panel.store.sqlite import Store

from conftest import EXAMPLES, ROOT

PERSONAS = 4
BASE = {"tagline": "Reviews pull requests", "category": "Developer Tools",
        "description": "Comments on diffs.", "pricing": "Free", "entry": "free"}


def tool(name: str, **more: str) -> ToolCard:
    return ToolCard(name=name, **BASE, **more)  # type: ignore[arg-type]


def write(path: Path, *names: str) -> Path:
    path.write_text("".join(json.dumps({"name": n, **BASE}) + "\n" for n in names))
    return path


def test_identity_is_nfkc_casefolded_with_whitespace_collapsed() -> None:
    assert tool("Patch  Pilot").identity == tool("patch pilot").identity == "patch pilot"
    assert tool("ＰａｔｃｈＰｉｌｏｔ").identity == "patchpilot"  # full-width, NFKC
    assert tool("Straße").identity == tool("STRASSE").identity
    assert tool("PatchPilot").identity != tool("PatchPilot!").identity
    assert tool("Other name", id="PatchPilot").identity == "patchpilot"


@pytest.mark.parametrize(("name", "slug"), [
    ("PatchPilot", "patchpilot"), ("Patch Pilot", "patch-pilot"), ("DiffSage", "diffsage"),
    ("  A/B -- test.v2 ", "a-b-test-v2"), ("!!!", "tool"), ("Кодер", "кодер"),
    ("编码器", "编码器"), ("Café Çode", "café-çode"), ("CON", "con-tool"), ("com1", "com1-tool"),
])
def test_slugs_keep_every_script_and_old_ascii_slugs(name: str, slug: str) -> None:
    assert slugify(name) == slug


@pytest.mark.parametrize(("name", "slug"), [
    ("🚀", "rocket"), ("🚀✨", "rocket-sparkles"), ("❤️", "heavy-black-heart"),
    ("👨‍💻", "man-personal-computer"), ("👍🏽", "thumbs-up-sign"), ("🇺🇸🇫🇷", "us-fr"),
    ("€", "euro-sign"), ("🚀 Launch", "launch"), ("!!!", "tool"),
])
def test_a_name_of_symbols_only_is_spelled_out(name: str, slug: str) -> None:
    """Emoji-only names get a slug from their Unicode names, not the shared ``tool``;
    a name with a letter keeps the letters only, punctuation alone is still ``tool``."""
    assert slugify(name) == slug == slugify(slug)


def test_slug_comes_from_the_id_when_given() -> None:
    assert tool("PatchPilot!", id="patchpilot-pro").slug == "patchpilot-pro"


def test_long_slugs_are_bounded_and_distinct() -> None:
    a, b = slugify("x" * 100 + "a"), slugify("x" * 100 + "b")
    assert a != b and len(a) <= 80 and len(b) <= 80
    wide = slugify("𝒜" * 120 + "漢" * 100)
    assert len(wide) <= 80 and len(wide.encode()) <= 160


def test_a_card_without_id_keeps_its_store_key() -> None:
    """Card keys computed on the code before ``id`` existed (commit b5767cf); review keys
    re-pinned when the contract (schema 5: evidence, max_tokens 2560) changed every review key."""
    card = load_cards([EXAMPLES / "patchpilot.yaml"])[0].card
    assert json_sha(card.key_data()) == "fec87f1d000b1587"
    ws = Workspace(Path("out"), ROOT)
    keys = {(j.card.slug, j.persona.key): j.key for j in plan(ws, [card], "mock")}
    assert keys[("patchpilot", "builder")] == "eabe71de1158a8d8"
    unicode_card = tool("Кодер Café").model_copy(update={
        "tagline": "t", "category": "c", "description": "d", "pricing": "p"})
    assert json_sha(unicode_card.key_data()) == "b361ba1bbcc55c65"
    assert plan(ws, [unicode_card], "mock")[0].key == "aac5c36970b91ee1"
    assert "id" in tool("X", id="x").key_data()


def test_same_slug_different_tool_in_one_batch_is_refused_naming_both(tmp_path: Path) -> None:
    a = write(tmp_path / "a.jsonl", "PatchPilot")
    b = write(tmp_path / "b.jsonl", "PatchPilot!", "patchpilot")
    summary = run_batch([a, b], Path("out"), "mock")
    assert summary.cards == 1 and len(list(summary.records())) == PERSONAS
    refused, dup = summary.card_errors
    assert refused.file == f"{b}:1" and f"already taken by 'PatchPilot' from {a}:1" in str(
        refused)
    assert "distinct 'id'" in str(refused)
    assert dup.file == f"{b}:2" and "duplicate tool" in str(dup)
    assert summary.tally is not None
    assert (summary.tally.refused, summary.tally.duplicate) == (1, 1)
    assert "1 loaded, 0 bad, 1 duplicate, 1 refused (slug taken)" in format_summary(summary)
    assert not summary.ok
    with Store(Path("out")) as store:
        assert json.loads(store.card_json("patchpilot") or "")["name"] == "PatchPilot"


def test_same_slug_different_tool_across_runs_is_refused_naming_the_first(
        tmp_path: Path) -> None:
    first = run_batch([write(tmp_path / "a.jsonl", "PatchPilot")], Path("out"), "mock")
    assert first.ok
    with Store(Path("out")) as store:
        before = {r.key: r for r in store.all()}
    second = run_batch([write(tmp_path / "b.jsonl", "PatchPilot!")], Path("out"), "mock")
    [err] = second.card_errors
    assert f"already taken by 'PatchPilot' from {tmp_path / 'a.jsonl'}:1" in str(err)
    assert second.requests == 0 and not second.ok
    with Store(Path("out")) as store:
        assert {r.key: r for r in store.all()} == before
        assert json.loads(store.card_json("patchpilot") or "")["name"] == "PatchPilot"
    # a distinct id is the way out
    third = tmp_path / "c.jsonl"
    third.write_text(json.dumps({"name": "PatchPilot!", "id": "patchpilot-bang", **BASE}))
    assert run_batch([third], Path("out"), "mock").ok


def test_the_store_refuses_a_taken_slug_for_interactive_runs_too(tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        store.put_card("patchpilot", tool("PatchPilot").model_dump_json(), "a.yaml")
        store.put_card("patchpilot", tool("patch pilot").model_dump_json().replace(
            "patch pilot", "PATCHPILOT"))  # same identity: fine
        with pytest.raises(InputError, match="already taken by 'PATCHPILOT' from a.yaml"):
            store.put_card("patchpilot", tool("PatchPilot!").model_dump_json())


def test_non_latin_tools_get_their_own_slugs_and_are_both_stored(tmp_path: Path) -> None:
    cards = write(tmp_path / "c.jsonl", "Кодер", "编码器")
    summary = run_batch([cards], Path("out"), "mock")
    assert summary.ok and summary.cards == 2
    with Store(Path("out")) as store:
        assert sorted(store.tools()) == sorted(["кодер", "编码器"])
        for slug, name in (("кодер", "Кодер"), ("编码器", "编码器")):
            assert json.loads(store.card_json(slug) or "")["name"] == name
            assert {r.tool_name for r in store.latest(slug)} == {name}


def test_shards_check_the_main_store_too(tmp_path: Path) -> None:
    run_batch([write(tmp_path / "a.jsonl", "PatchPilot")], Path("out"), "mock")
    cards, errors = [], []
    for i in range(2):
        shard = Shard(i, 2)
        s = run_batch([write(tmp_path / "b.jsonl", "PatchPilot!")], Path("out"), "mock",
                      shard=shard)
        cards.append(s.cards)
        errors += s.card_errors
    assert sum(cards) == 0 and len(errors) == 2  # each shard reports the whole input's refusal


# The store schema before issue 10, copied from src/panel/store/sqlite.py at commit b5767cf.
OLD_SCHEMA = """
CREATE TABLE IF NOT EXISTS reviews (
    key        TEXT PRIMARY KEY,
    tool       TEXT NOT NULL,
    persona    TEXT NOT NULL,
    model      TEXT NOT NULL,
    sample     INTEGER NOT NULL,
    status     TEXT NOT NULL,
    created_at TEXT NOT NULL,
    record     TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS reviews_tool ON reviews (tool, model, persona);
CREATE TABLE IF NOT EXISTS cards (
    tool   TEXT PRIMARY KEY,
    card   TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS edits (
    tool    TEXT NOT NULL,
    persona TEXT NOT NULL,
    model   TEXT NOT NULL,
    edit    TEXT NOT NULL,
    PRIMARY KEY (tool, persona, model)
);
"""


def old_store(folder: Path, old_slug: dict[str, str]) -> dict[str, str]:
    """Write a store as the old code did (its SQL, its slugs); return {key: tool name}."""
    src = Path("src-store")
    run_batch([write(Path("cards.jsonl"), *old_slug)], src, "mock")
    folder.mkdir()
    db = sqlite3.connect(folder / Store.FILENAME)
    db.executescript(OLD_SCHEMA)
    names: dict[str, str] = {}
    with Store(src) as new:
        for rec in new.all():
            slug = old_slug[rec.tool_name]
            raw = rec.model_copy(update={"tool": slug}).model_dump_json(exclude={"edit"})
            db.execute("INSERT INTO reviews VALUES (?,?,?,?,?,?,?,?)",
                       (rec.key, slug, rec.persona, rec.model, rec.sample, rec.status,
                        rec.created_at, raw))
            old_json = json.dumps({k: v for k, v in json.loads(
                new.card_json(rec.tool) or "").items() if k != "id"})
            db.execute("INSERT OR REPLACE INTO cards VALUES (?,?)", (slug, old_json))
            names[rec.key] = rec.tool_name
    db.commit()
    db.close()
    return names


def test_an_old_store_is_migrated_and_keeps_every_review_key(tmp_path: Path) -> None:
    # Old slugs: ASCII kept, 'Café' lost its accent, every non-Latin name became 'tool'.
    old = {"PatchPilot": "patchpilot", "Café": "caf", "Кодер": "tool", "编码器": "tool"}
    names = old_store(Path("old"), old)
    assert len(names) == 4 * PERSONAS
    with Store(Path("old")) as store:
        assert {r.key: r.tool_name for r in store.all()} == names
        assert sorted(store.tools()) == sorted(["patchpilot", "café", "кодер", "编码器"])
        for name in old:
            slug = slugify(name)
            assert {r.tool_name for r in store.latest(slug)} == {name}
            assert json.loads(store.card_json(slug) or "")["name"] == name
            assert store.card_owner(slug)[0] == normalize(name)  # type: ignore[index]
        with pytest.raises(InputError, match="already taken"):
            store.put_card("кодер", tool("КОДЕР!").model_dump_json().replace(
                "КОДЕР!", "Кодер!"))
    with Store(Path("old")) as again:  # idempotent
        assert {r.key: r.tool_name for r in again.all()} == names
    rerun = run_batch([write(Path("again.jsonl"), *old)], Path("old"), "mock")
    assert rerun.ok and rerun.requests == 0  # every review found under its old key


def test_migration_keeps_the_old_slug_when_the_new_one_is_taken(tmp_path: Path) -> None:
    names = old_store(Path("old"), {"Café": "caf", "Caf": "cafe-x"})
    db = sqlite3.connect(Path("old") / Store.FILENAME)
    # another tool already holds 'café' in this old store
    db.execute("INSERT INTO cards VALUES ('café', ?)",
               (json.dumps({"name": "Café!", **BASE}),))
    db.commit()
    db.close()
    with Store(Path("old")) as store:
        assert {r.key: r.tool_name for r in store.all()} == names
        assert {r.tool_name for r in store.latest("caf")} == {"Café"}  # kept its old slug
        assert not store.latest("café")


def test_a_store_from_before_spelled_symbols_moves_them_once(tmp_path: Path) -> None:
    """A store of today's schema written under the old rule (``user_version`` 0): the
    emoji-only name moves from ``tool`` to ``rocket``, every key kept; a card whose ``id``
    is 'tool' stays where its id puts it; a re-run finds every review."""
    names = old_store(Path("legacy"), {"🚀": "tool", "Кодер": "кодер"})
    with Store(Path("legacy")) as store:  # the first opening adds identities only
        assert sorted(store.tools()) == ["rocket", "кодер"]
    db = sqlite3.connect(Path("legacy") / Store.FILENAME)
    db.execute("UPDATE reviews SET tool='tool', record=json_set(record, '$.tool', 'tool') "
               "WHERE tool='rocket'")
    db.execute("UPDATE cards SET tool='tool' WHERE tool='rocket'")
    db.execute("PRAGMA user_version = 0")
    db.commit()
    db.close()
    with Store(Path("legacy")) as store:
        assert {r.key: r.tool_name for r in store.all()} == names
        assert sorted(store.tools()) == ["rocket", "кодер"]
        assert {r.tool_name for r in store.latest("rocket")} == {"🚀"}
        assert store.card_owner("rocket")[0] == "🚀"  # type: ignore[index]
    rerun = run_batch([write(Path("again.jsonl"), "🚀", "Кодер")], Path("legacy"), "mock")
    assert rerun.ok and rerun.requests == 0


def test_an_id_slug_equal_to_the_old_one_stays(tmp_path: Path) -> None:
    """``id: tool`` on an emoji-only name: its slug is its id's, under either rule."""
    path = Path("c.jsonl")
    path.write_text(json.dumps({"name": "🚀", "id": "tool", **BASE}) + "\n")
    run_batch([path], Path("ids"), "mock")
    db = sqlite3.connect(Path("ids") / Store.FILENAME)
    db.execute("PRAGMA user_version = 0")
    db.commit()
    db.close()
    with Store(Path("ids")) as store:
        assert store.tools() == ["tool"] and len(store.latest("tool")) == PERSONAS


def test_pages_and_app_routes_work_with_a_non_ascii_slug(tmp_path: Path) -> None:
    from panel.publish.webapp import bind, create_app

    run_batch([write(Path("c.jsonl"), "Кодер")], Path("outputs"), "mock")
    ws = Workspace(Path("outputs"), ROOT)
    app = create_app(ws, "mock")
    bind(app, "127.0.0.1", 5000)  # the app serves only the address it is bound to
    client = app.test_client()
    base = "http://127.0.0.1:5000"
    index = client.get("/", base_url=base).get_data(as_text=True)
    assert "/tools/%D0%BA%D0%BE%D0%B4%D0%B5%D1%80" in index
    page = client.get("/tools/%D0%BA%D0%BE%D0%B4%D0%B5%D1%80", base_url=base)
    assert page.status_code == 200 and "Кодер" in page.get_data(as_text=True)


def test_panel_review_of_a_card_on_a_taken_slug_names_both_files(tmp_path: Path) -> None:
    """Interactive runs name the new card's file too, not only the stored one's."""
    from click.testing import CliRunner

    from panel.cli import main

    (tmp_path / "a.yaml").write_text((EXAMPLES / "patchpilot.yaml").read_text())
    text = (EXAMPLES / "patchpilot.yaml").read_text()
    bang = text.replace("name: PatchPilot", "name: PatchPilot!")
    (tmp_path / "b.yaml").write_text(bang)
    out = str(tmp_path / "out")
    first = CliRunner().invoke(main, ["review", str(tmp_path / "a.yaml"), "-m", "mock", "-o", out])
    assert first.exit_code == 0, first.output
    res = CliRunner().invoke(main, ["review", str(tmp_path / "b.yaml"), "-m", "mock", "-o", out])
    assert res.exit_code == 2
    assert f"{tmp_path / 'b.yaml'}: field 'name' slug 'patchpilot' is already taken by " \
           f"'PatchPilot' from {tmp_path / 'a.yaml'}" in res.output
