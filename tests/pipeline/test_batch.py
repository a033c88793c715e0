"""`panel batch` on the mock backend: bad cards, resume, shards and merge, and SIGKILL."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from panel.backends.mock import Mocks
from panel.cli import main
from panel.cli.tables import format_summary
from panel.config.workspace import Workspace
from panel.contract.records import Edit
from panel.errors import InputError
from panel.pipeline.batch import Shard, load_batch, merge, run_batch
from panel.pipeline.run import plan
from panel.store.sqlite import Store

from conftest import EXAMPLES
from factories import another_run_stores, copy_project
from kill import kill_part_way

PERSONAS = 4


def write_cards(path: Path, n: int, bad_line: int | None = None) -> Path:
    """``n`` valid cards as JSONL (varied names from the examples); line ``bad_line`` lacks
    its pricing."""
    base = [yaml.safe_load(f.read_text()) for f in sorted(EXAMPLES.glob("*.yaml"))]
    lines = []
    for i in range(n):
        card = {**base[i % len(base)], "name": f"{base[i % len(base)]['name']} {i}"}
        card["launched"] = str(card["launched"]) if card.get("launched") else None
        card = {k: v for k, v in card.items() if v is not None}
        if i + 1 == bad_line:
            del card["pricing"]
        lines.append(json.dumps(card))
    path.write_text("\n".join(lines) + "\n")
    return path


def table(out: str) -> dict[str, str]:
    """The summary table's rows as {label: value} (the indented lines after the title)."""
    lines = out.splitlines()[1:]
    end = next((i for i, line in enumerate(lines) if not line.startswith("  ")), len(lines))
    rows = [line.rsplit(None, 1) for line in lines[:end]]
    return {label.strip(): value for label, value in rows}


def run(*args: str) -> tuple[int, str]:
    res = CliRunner().invoke(main, list(args))
    return res.exit_code, res.stdout


def test_one_malformed_card_among_ten_is_reported_and_the_rest_reviewed(tmp_path: Path) -> None:
    cards = write_cards(tmp_path / "cards.jsonl", 10, bad_line=4)
    code, out = run("batch", str(cards), "-m", "mock", "-o", "out")
    assert code == 1  # something failed
    assert f"  {cards}:4: field 'pricing' is required but missing" in out.splitlines()
    rows = table(out)
    del rows["seconds"]
    assert rows == {"cards reviewed": "9", "cards skipped (bad input)": "1", "reviews": "36",
                    "reviewed now": "36", "reused from store": "0", "failed": "0",
                    "model requests": "36"}
    with Store(Path("out")) as store:
        assert store.count() == 9 * PERSONAS
        assert len(store.tools()) == 9


def test_a_bad_file_in_a_folder_is_skipped_and_named(tmp_path: Path) -> None:
    folder = tmp_path / "cards"
    shutil.copytree(EXAMPLES, folder)
    (folder / "zz-broken.yaml").write_text("name: Broken\ntagline: t\ncategory: c\n"
                                           "description: d\npricing: p\nentry: gratis\n")
    summary = run_batch([folder], Path("out"), "mock")
    assert summary.cards == 6 and len(list(summary.records())) == 6 * PERSONAS
    [err] = summary.card_errors
    assert (err.file, err.field) == (str(folder / "zz-broken.yaml"), "entry")
    assert not summary.ok


def test_duplicate_tool_names_are_skipped_not_reviewed_twice(tmp_path: Path) -> None:
    cards = write_cards(tmp_path / "cards.jsonl", 3)
    cards.write_text(cards.read_text() + cards.read_text().splitlines()[0] + "\n")
    summary = run_batch([cards], Path("out"), "mock")
    [err] = summary.card_errors
    assert (err.file, err.field) == (f"{cards}:4", "name") and "duplicate" in err.reason
    assert len(list(summary.records())) == 3 * PERSONAS


def test_unchanged_rerun_makes_no_model_calls_and_exits_zero(tmp_path: Path, mock: Mocks) -> None:
    cards = write_cards(tmp_path / "cards.jsonl", 5)
    first = run_batch([cards], Path("out"), "mock")
    assert (first.requests, first.counts.reviewed, first.ok) == (20, 20, True)
    mock.reset()
    code, out = run("batch", str(cards), "-m", "mock", "-o", "out")
    assert code == 0
    rows = table(out)
    assert (rows["model requests"], rows["reused from store"]) == ("0", "20")
    assert mock.calls == 0


def test_changing_one_persona_reruns_only_that_personas_reviews(tmp_path: Path) -> None:
    root = copy_project(tmp_path / "project")
    cards = write_cards(tmp_path / "cards.jsonl", 5)
    first = run_batch([cards], Path("out"), "mock", root=root)
    skeptic = root / "personas" / "skeptic.yaml"
    skeptic.write_text(skeptic.read_text() + "\n# edited: re-run the skeptic only\n")
    again = run_batch([cards], Path("out"), "mock", root=root)
    assert (again.requests, again.counts.reviewed, again.counts.reused) == (5, 5, 15)
    changed = {r.key for r in list(again.records())} - {r.key for r in list(first.records())}
    assert {r.persona for r in list(again.records()) if r.key in changed} == {"skeptic"}


def test_shards_split_the_input_exactly_and_merge_into_one_store(tmp_path: Path) -> None:
    cards = write_cards(tmp_path / "cards.jsonl", 12)
    out = tmp_path / "out"
    seen: list[str] = []
    for i in range(3):
        s = run_batch([cards], out, "mock", shard=Shard(i, 3))
        assert s.output == out / "shards" / f"{i}-of-3"
        seen += [r.tool for r in list(s.records())]
    assert len(seen) == 12 * PERSONAS and len(set(seen)) == 12  # disjoint, complete
    code, text = run("merge", "-o", str(out))
    assert (code, text) == (0, f"merged 3 store(s) into {out}: 48 review(s) added\n")
    with Store(out) as store:
        assert store.count() == 48
    assert len(list((out / "panels").glob("*.json"))) == 12
    assert merge([], out) == (3, 0)  # merging again adds nothing
    again = run_batch([cards], out, "mock")  # the merged store serves the whole input
    assert again.requests == 0


def test_shard_option_is_validated() -> None:
    assert Shard.parse("2/4") == Shard(2, 4) and Shard.parse(None) == Shard(0, 1)
    for bad in ("4/4", "x/2", "1"):
        with pytest.raises(InputError, match="--shard"):
            Shard.parse(bad)
    code, out = run("batch", "nowhere.jsonl", "-m", "mock", "--shard", "1/1")
    assert code == 2


def test_sigkill_mid_batch_then_resume_loses_and_repeats_nothing(tmp_path: Path) -> None:
    cards = write_cards(tmp_path / "cards.jsonl", 12)
    total = 12 * PERSONAS
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "panel.cli", "batch", str(cards), "-m", "mock", "-o", str(out)]
    env = {**os.environ, "PANEL_MOCK_DELAY_S": "0.1"}
    stored = kill_part_way(cmd, out / "panel.sqlite3", 10, total, env, timeout_s=60)
    with Store(out) as store:  # readable, and every stored review whole
        assert all(r.ok for r in store.all())

    res = subprocess.run(cmd, env={**os.environ}, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    rows = table(res.stdout)
    assert (rows["reused from store"], rows["reviewed now"]) == (str(stored), str(total - stored))
    assert rows["model requests"] == str(total - stored)
    with Store(out) as store:
        records = store.all()
    pairs = [(r.tool, r.persona) for r in records]
    assert len(records) == total and len(set(pairs)) == total and all(r.ok for r in records)


def test_a_resume_retries_failed_reviews_but_never_an_edit_pinned_one(
        tmp_path: Path, mock: Mocks) -> None:
    cards = write_cards(tmp_path / "cards.jsonl", 2)
    first = run_batch([cards], Path("out"), "mock")
    failed = list(first.records())[0].model_copy(update={"status": "failed", "output": None,
                                                     "failure": "engine error: 503"})
    with Store(Path("out")) as store:  # as a run with a failing server stored it
        store.put(failed)
    mock.reset()
    again = run_batch([cards], Path("out"), "mock")
    assert (again.requests, again.counts.reviewed, again.counts.reused) == (1, 1, 7)
    assert again.ok and Store(Path("out")).get(failed.key).ok  # type: ignore[union-attr]

    with Store(Path("out")) as store:  # a failed review an editor pinned stays as it is
        store.put(failed)
        store.set_edit(failed.tool, failed.persona, failed.model, Edit(key=failed.key))
    mock.reset()
    pinned = run_batch([cards], Path("out"), "mock")
    assert (pinned.requests, pinned.counts.reused) == (0, 8)


def test_two_concurrent_batches_on_one_store_pay_for_each_review_once(tmp_path: Path) -> None:
    cards = write_cards(tmp_path / "cards.jsonl", 6)
    total = 6 * PERSONAS
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "panel.cli", "batch", str(cards), "-m", "mock", "-o", str(out)]
    env = {**os.environ, "PANEL_MOCK_DELAY_S": "0.05"}
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    rows = [table(stdout) for stdout, _ in results]
    assert sum(int(r["model requests"]) for r in rows) == total  # no request paid twice
    assert sum(int(r["reviewed now"]) for r in rows) == total
    for r in rows:  # each run accounts for every review: its own, stored, or the other's
        assert int(r["reviewed now"]) + int(r["reused from store"]) + int(
            r.get("done by another run", 0)) == total
    assert all(r["reviews"] == str(total) for r in rows)
    with Store(out) as store:
        records = store.all()
        assert len(records) == total and all(r.ok for r in records)
        assert store.claim([r.key for r in records], "after", skip_done=False) == {
            r.key for r in records}  # every lease released


def test_a_run_waits_for_a_key_another_live_run_holds_and_uses_its_review(
        tmp_path: Path) -> None:
    cards = write_cards(tmp_path / "cards.jsonl", 1)
    ws = Workspace(tmp_path / "out")
    jobs = plan(ws, [c.card for c in load_batch([cards], Shard())[0]], "mock")
    thread = another_run_stores(ws, jobs[0], after_s=0.5)
    summary = run_batch([cards], tmp_path / "out", "mock")
    thread.join()
    assert (summary.requests, summary.counts.reviewed, summary.counts.by_other) == (3, 3, 1)
    assert "done by another run" in format_summary(summary)
    assert len(list(summary.records())) == 4 and summary.ok


def test_a_key_whose_lease_lapses_without_a_result_is_run_here(tmp_path: Path) -> None:
    cards = write_cards(tmp_path / "cards.jsonl", 1)
    ws = Workspace(tmp_path / "out")
    jobs = plan(ws, [c.card for c in load_batch([cards], Shard())[0]], "mock")
    ws.store.claim([jobs[0].key], "stalled run", ttl_s=0.5)  # alive, but never renews
    summary = run_batch([cards], tmp_path / "out", "mock")
    assert (summary.requests, summary.counts.reviewed, summary.counts.by_other) == (4, 4, 0)
    assert len(list(summary.records())) == 4 and summary.ok
