"""Streaming batches: windows, skipped-input accounting across windows, keys computed by
splicing, files written only when their content changed, SIGKILL between windows, and a
merge that pages through its shard."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from panel.cli.tables import format_summary
from panel.config.workspace import Workspace
from panel.hashing import json_sha
from panel.inputs.cards import ToolCard
from panel.pipeline import batch as batch_module
from panel.pipeline.batch import Shard, merge, run_batch
from panel.pipeline.jobs import Planner, make_job, provenance_key
from panel.store import merge as merge_module
from panel.store.sqlite import Store

from kill import kill_part_way

PERSONAS = 4


def card(i: int, **extra: str) -> dict[str, str]:
    return {"name": f"Stream Tool {i}", "tagline": "Does one thing", "category": "Data",
            "description": f"Tool number {i} answers questions about a warehouse.",
            "pricing": "$5 per month", "entry": "paid", **extra}


def feed(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """(inode, mtime) of every file a run writes but its own run files and the store (whose
    WAL SQLite checkpoints into the database file when it likes)."""
    return {str(p): (p.stat().st_ino, p.stat().st_mtime_ns) for p in folder.rglob("*")
            if p.is_file() and p.parent.name != "runs"
            and not p.name.startswith("panel.sqlite3")}


# ---- keys: the spliced key is the hash of the canonical provenance ----

text = st.text(st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters="\u2028\u2029"
                             "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"),
               min_size=1, max_size=40).filter(lambda s: s.strip() == s and s.strip())


@settings(max_examples=60, deadline=None)
@given(name=text, description=text, pricing=text, sample=st.integers(0, 50),
       url=st.one_of(st.none(), text), card_id=st.one_of(st.none(), text))
def test_a_spliced_key_equals_the_hash_of_the_provenance(
        name: str, description: str, pricing: str, sample: int, url: str | None,
        card_id: str | None) -> None:
    ws = Workspace(Path("out"))
    tool = ToolCard(name=name, tagline="t", category="c", description=description,
                    pricing=pricing, entry="free", url=url, id=card_id)
    persona = ws.personas()[sample % PERSONAS]
    job = Planner(ws.settings("mock")).jobs(tool, [persona], (sample,))[0]
    assert job.key == provenance_key(job.provenance)
    assert job.key == json_sha({k: v for k, v in job.provenance.items()
                                if k not in ("prompt_sha", "dtype")})
    assert job.key == make_job(tool, persona, ws.settings("mock"), sample).key


def test_keys_differ_in_every_part_they_splice() -> None:
    ws = Workspace(Path("out"))
    planner = Planner(ws.settings("mock"))
    a, b = (ToolCard.model_validate(card(i)) for i in (1, 2))
    builder, skeptic = ws.personas(["builder", "skeptic"])
    keys = {planner.jobs(a, [builder], (0,))[0].key, planner.jobs(b, [builder], (0,))[0].key,
            planner.jobs(a, [skeptic], (0,))[0].key, planner.jobs(a, [builder], (1,))[0].key}
    assert len(keys) == 4


# ---- windows: every entry accounted for, whatever window it falls in ----

def test_bad_duplicate_and_refused_entries_after_the_first_window_are_reported(
        tmp_path: Path) -> None:
    lines = [json.dumps(card(i)) for i in range(10)]
    lines[7] = "{not json"                                           # line 8: bad, window 3
    lines[8] = json.dumps(card(1))                                   # line 9: duplicate of 2
    lines[9] = json.dumps({**card(2), "name": "stream tool 2!"})     # line 10: slug of line 3
    path = feed(tmp_path / "cards.jsonl", lines)
    summary = run_batch([path], tmp_path / "out", "mock", window=3)
    assert summary.cards == 7 and summary.counts.reviews == 7 * PERSONAS
    assert [str(e).split(" (")[0] for e in summary.card_errors] == [
        f"{path}:8: invalid JSON: Expecting property name enclosed in double quotes",
        f"{path}:9: field 'name' duplicate tool 'Stream Tool 1'",
        f"{path}:10: field 'name' slug 'stream-tool-2' is already taken by 'Stream Tool 2' "
        f"from {path}:3; refused"]
    tally = summary.tally
    assert tally is not None and tally.adds_up
    assert (tally.entries, tally.cards, tally.bad, tally.duplicate, tally.refused) == (
        10, 7, 1, 1, 1)
    assert not summary.ok
    assert format_summary(summary).splitlines()[-4:] == [
        "skipped input (file:line: field, reason):", *(f"  {e}" for e in summary.card_errors)]


def test_the_closing_table_shows_the_first_lines_and_the_file_has_them_all(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batch_module, "SHOWN", 2)
    lines = [json.dumps(card(i)) if i % 2 else f"bad line {i}" for i in range(10)]
    summary = run_batch([feed(tmp_path / "cards.jsonl", lines)], tmp_path / "out", "mock",
                        window=4)
    assert summary.log.counts["skipped"] == 5 and len(summary.card_errors) == 2
    logged = [json.loads(x) for x in summary.log.path.read_text().splitlines()]
    assert [x["kind"] for x in logged] == ["skipped"] * 5
    assert [x["line"].split(":")[1] for x in logged] == ["1", "3", "5", "7", "9"]
    out = format_summary(summary)
    assert f"  ... and 3 more: all 5 are in {summary.log.path}" in out.splitlines()
    assert "cards skipped (bad input)        5" in out


def test_a_clean_run_writes_no_skip_file_and_lists_its_keys(tmp_path: Path) -> None:
    path = feed(tmp_path / "cards.jsonl", [json.dumps(card(i)) for i in range(5)])
    summary = run_batch([path], tmp_path / "out", "mock", window=2)
    assert summary.ok and not summary.log.path.exists()
    assert summary.keys is not None and summary.manifest is not None
    keys = summary.keys.read_text().split()
    assert len(keys) == len(set(keys)) == 5 * PERSONAS
    assert [r.key for r in summary.records()] == keys
    doc = json.loads(summary.manifest.read_text())
    assert doc["counts"]["reviews"] == 20 and doc["keys_file"] == summary.keys.name


# ---- work only for what changed ----

def test_an_unchanged_rerun_rewrites_no_file(tmp_path: Path) -> None:
    path = feed(tmp_path / "cards.jsonl", [json.dumps(card(i)) for i in range(6)])
    out = tmp_path / "out"
    run_batch([path], out, "mock", window=4)
    before = snapshot(out)
    assert len([p for p in before if "/panels/" in p]) == 6
    again = run_batch([path], out, "mock", window=4)
    assert (again.requests, again.counts.reused) == (0, 24)
    assert snapshot(out) == before


def test_a_changed_card_rewrites_only_its_own_panel_file(tmp_path: Path) -> None:
    cards = [card(i) for i in range(6)]
    path = feed(tmp_path / "cards.jsonl", [json.dumps(c) for c in cards])
    out = tmp_path / "out"
    run_batch([path], out, "mock")
    before = snapshot(out)
    cards[4]["pricing"] = "$6 per month"
    again = run_batch([feed(path, [json.dumps(c) for c in cards])], out, "mock")
    assert again.requests == PERSONAS
    after = snapshot(out)
    changed = sorted(Path(p).name for p in after if before.get(p) != after[p])
    assert changed == ["stream-tool-4.mock.json"]


def test_a_deleted_or_emptied_panel_file_is_written_again(tmp_path: Path) -> None:
    path = feed(tmp_path / "cards.jsonl", [json.dumps(card(i)) for i in range(3)])
    out = tmp_path / "out"
    run_batch([path], out, "mock")
    gone, empty = (out / "panels" / f"stream-tool-{i}.mock.json" for i in (0, 1))
    text = gone.read_text()
    gone.unlink()
    empty.write_text("")
    run_batch([path], out, "mock")
    assert gone.read_text() == text and json.loads(empty.read_text())["tool"]["name"] == (
        "Stream Tool 1")


# ---- SIGKILL between and inside windows ----

def test_sigkill_in_a_later_window_loses_and_repeats_nothing(tmp_path: Path) -> None:
    path = feed(tmp_path / "cards.jsonl", [json.dumps(card(i)) for i in range(12)])
    total, out = 12 * PERSONAS, tmp_path / "out"
    cmd = [sys.executable, "-m", "panel.cli", "batch", str(path), "-m", "mock", "-o", str(out),
           "--window", "5"]
    env = {**os.environ, "PANEL_MOCK_DELAY_S": "0.05"}
    stored = kill_part_way(cmd, out / "panel.sqlite3", 5 * PERSONAS + 2, total, env, 60)
    panels = sorted(p.name for p in (out / "panels").iterdir())
    assert panels[:5] == [f"stream-tool-{i}.mock.json" for i in range(5)]  # window 1 complete

    resumed = run_batch([path], out, "mock", window=5)
    assert (resumed.counts.reused, resumed.counts.reviewed, resumed.requests) == (
        stored, total - stored, total - stored)
    with Store(out) as store:
        records = store.all()
    assert len(records) == total and len({(r.tool, r.persona) for r in records}) == total
    assert all(r.ok for r in records)
    assert len(list((out / "panels").iterdir())) == 12


# ---- merge: a page at a time, still all or nothing ----

def test_a_bad_row_on_a_later_page_of_a_shard_leaves_the_store_unchanged(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(merge_module, "MERGE_PAGE", 3)
    path = feed(tmp_path / "cards.jsonl", [json.dumps(card(i)) for i in range(4)])
    out = tmp_path / "out"
    for i in range(2):
        run_batch([path], out, "mock", shard=Shard(i, 2))
    shard = out / "shards" / "1-of-2" / "panel.sqlite3"
    with Store(shard.parent) as s:
        count = s.count()
        last = s._db.execute("SELECT key FROM reviews ORDER BY rowid DESC LIMIT 1").fetchone()[0]
        s._db.execute("UPDATE reviews SET persona='nobody' WHERE key=?", (last,))
    assert count > 3  # the bad row is past the first page
    with pytest.raises(Exception, match="persona='nobody' does not match"):
        merge([shard.parent], out)
    assert not (out / "panel.sqlite3").exists() or Store(out).count() == 0

    with Store(shard.parent) as s:
        s._db.execute("UPDATE reviews SET persona=json_extract(record, '$.persona') "
                      "WHERE key=?", (last,))
    stores, added = merge([], out)
    assert (stores, added) == (2, 4 * PERSONAS)
    assert len(list((out / "panels").iterdir())) == 4
