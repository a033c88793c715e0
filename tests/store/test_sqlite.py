"""The store's integrity: atomic files, validated all-or-nothing merges, leases, errors."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from panel.contract.records import Edit
from panel.errors import PanelError
from panel.store.files import atomic_write
from panel.store.sqlite import Store

from factories import pair_rec, rec
from kill import kill_when

# -- unique temporary files ---------------------------------------------------------------

WRITER = """
import json, sys
from pathlib import Path
from panel.store.files import atomic_write
me, path, size, rounds = int(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
for i in range(rounds):
    atomic_write(path, json.dumps({"writer": me, "round": i, "body": chr(97 + me) * size}))
"""


def test_concurrent_writers_never_tear_a_file_nor_leave_temporaries(tmp_path: Path) -> None:
    """Four processes rewrite one file 60 times each while it is read: every read is one
    writer's whole content. (Before: one shared ``path.tmp``; writers crashed on a vanished
    temporary and readers saw torn JSON.)"""
    path, size, writers = tmp_path / "page.json", 200_000, 4
    atomic_write(path, json.dumps({"writer": -1, "round": 0, "body": ""}))
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(i), str(path), str(size), "60"],
                              stderr=subprocess.PIPE) for i in range(writers)]
    reads = 0
    while any(p.poll() is None for p in procs):
        doc = json.loads(path.read_text(encoding="utf-8"))  # never a torn mixture
        assert doc["body"] in ("", chr(97 + doc["writer"]) * size)
        reads += 1
    for p in procs:
        _, err = p.communicate()
        assert p.returncode == 0, err.decode()
    assert reads > 0
    assert json.loads(path.read_text())["round"] == 59
    assert sorted(p.name for p in tmp_path.iterdir()) == ["page.json"]  # no *.tmp left


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch
                                                              ) -> None:
    path = tmp_path / "votes.yaml"
    atomic_write(path, "old\n")

    def broken(*_: object) -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError, match="disk gone"):
        atomic_write(path, "new\n")
    assert path.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["votes.yaml"]


# -- merge: validated, one transaction ----------------------------------------------------

CARD = {"tagline": "t", "category": "c", "description": "d", "pricing": "p", "entry": "free"}


def make_store(folder: Path, n: int, tool: str = "t", model: str = "m") -> Store:
    store = Store(folder)
    for i in range(n):
        store.put(rec(model, f"{tool}{i}", "skeptic", "ship", 80))
        store.put_card(f"{tool}{i}", json.dumps({**CARD, "name": f"{tool}{i}"}))
    return store


def dump(folder: Path) -> list[list[tuple[object, ...]]]:
    """Every row of every table, in a fixed order: "unchanged" means equal dumps."""
    with sqlite3.connect(folder / Store.FILENAME) as db:
        return [db.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall()
                for t in ("reviews", "cards", "edits")]


def tamper(folder: Path, sql: str, *args: object) -> None:
    with sqlite3.connect(folder / Store.FILENAME) as db:
        db.execute(sql, args)


def bad_score(record: str) -> str:
    doc = json.loads(record)
    doc["output"]["score"] = 500
    return json.dumps(doc)


@pytest.mark.parametrize(("table", "damage", "reason"), [
    ("reviews", "score", "output.score"),
    ("reviews", "column", "column tool='impostor' does not match"),
    ("reviews", "status", "column status='failed' does not match"),
    ("reviews", "json", "invalid record"),
    ("edits", "edit", "invalid edit: score"),
    ("cards", "card", "invalid card"),
])
def test_a_shard_with_one_bad_row_is_refused_and_the_main_store_unchanged(
        tmp_path: Path, table: str, damage: str, reason: str) -> None:
    main = make_store(tmp_path / "main", 3, tool="main")
    shard = make_store(tmp_path / "shard", 5, tool="shard")
    shard.set_edit("shard0", "skeptic", "m", Edit(score=70, key="m-shard0-skeptic-0"))
    shard.close()
    key = "m-shard3-skeptic-0"
    row = {"reviews": key, "edits": "shard0/skeptic/m", "cards": "shard3"}[table]
    with sqlite3.connect(tmp_path / "shard" / Store.FILENAME) as db:
        record = db.execute("SELECT record FROM reviews WHERE key=?", (key,)).fetchone()[0]
    {"score": lambda: tamper(tmp_path / "shard", "UPDATE reviews SET record=? WHERE key=?",
                             bad_score(record), key),
     "column": lambda: tamper(tmp_path / "shard", "UPDATE reviews SET tool='impostor' "
                              "WHERE key=?", key),
     "status": lambda: tamper(tmp_path / "shard", "UPDATE reviews SET status='failed' "
                              "WHERE key=?", key),
     "json": lambda: tamper(tmp_path / "shard", "UPDATE reviews SET record='{\"key\": 1' "
                            "WHERE key=?", key),
     "edit": lambda: tamper(tmp_path / "shard", "UPDATE edits SET edit=?",
                            json.dumps({"score": 500})),
     "card": lambda: tamper(tmp_path / "shard", "UPDATE cards SET card='[1, 2]' WHERE tool=?",
                            "shard3"),
     }[damage]()
    before = dump(tmp_path / "main")
    with pytest.raises(PanelError) as info:
        main.merge(tmp_path / "shard" / Store.FILENAME)
    msg = str(info.value)
    assert str(tmp_path / "shard" / Store.FILENAME) in msg
    assert f"table {table}" in msg and repr(row) in msg and reason in msg, msg
    assert dump(tmp_path / "main") == before  # not one row of the shard landed
    assert main.count() == 3


def test_merge_of_garbage_or_foreign_files_is_a_clear_error(tmp_path: Path) -> None:
    main = make_store(tmp_path / "main", 2)
    before = dump(tmp_path / "main")
    garbage = tmp_path / "garbage.sqlite3"
    garbage.write_bytes(b"this is not a database at all\n" * 200)
    with pytest.raises(PanelError, match=f"shard {garbage}: file is not a database"):
        main.merge(garbage)
    foreign = tmp_path / "foreign.sqlite3"
    with sqlite3.connect(foreign) as db:
        db.execute("CREATE TABLE notes (x)")
    with pytest.raises(PanelError, match=f"shard {foreign}: not a panel store"):
        main.merge(foreign)
    with pytest.raises(PanelError, match="no such file"):
        main.merge(tmp_path / "nowhere.sqlite3")
    assert dump(tmp_path / "main") == before


def test_merge_keeps_ok_rows_replaces_failed_ones_and_keeps_this_stores_edits(
        tmp_path: Path) -> None:
    main = Store(tmp_path / "main")
    main.put(rec("m", "a", "skeptic", None, None))         # failed here, ok in the shard
    main.put(rec("m", "b", "skeptic", "ship", 90))         # ok here, failed in the shard
    main.set_edit("b", "skeptic", "m", Edit(review="Ours. It stays here."))
    shard = Store(tmp_path / "shard")
    shard.put(rec("m", "a", "skeptic", "ship", 70))
    shard.put(rec("m", "b", "skeptic", None, None))
    shard.set_edit("b", "skeptic", "m", Edit(review="Theirs. It is dropped."))
    shard.close()
    assert main.merge(tmp_path / "shard" / Store.FILENAME) == 0
    assert {r.tool: r.status for r in main.all()} == {"a": "ok", "b": "ok"}
    edit = main.get_edit("b", "skeptic", "m")
    assert edit is not None and edit.review == "Ours. It stays here."


# A merge that holds still mid-transaction: once the shard's rows have spilled 2 MB into the
# main store's WAL (uncommitted), it marks a file and sleeps inside the statement, so the kill
# lands inside the transaction however loaded the machine is (polling the WAL from outside
# could see it grow, then kill after the commit).
MERGER = """
import sys, time
from pathlib import Path
from panel.store.sqlite import Store
main, shard, marker = (Path(a) for a in sys.argv[1:4])
def hold() -> int:  # inside the merge's transaction, 20,000 rows written and not committed
    if store._db.raw.in_transaction and store._db.raw.total_changes > 20_000:
        marker.touch()
        time.sleep(600)
    return 0
store = Store(main)
store._db.raw.set_progress_handler(hold, 10_000)
store.merge(shard)
"""


def big_shard(folder: Path, n: int) -> Path:
    """A shard of ``n`` valid reviews, written in one go (``put`` would take a commit each)."""
    Store(folder).close()
    template = rec("m", "big", "skeptic", "ship", 80)
    rows = []
    for i in range(n):
        r = template.model_copy(update={"key": f"big-{i:06d}", "sample": i})
        rows.append((r.key, r.tool, r.persona, r.model, r.sample, r.status, r.created_at,
                     r.model_dump_json(exclude={"edit"})))
    with sqlite3.connect(folder / Store.FILENAME) as db:
        db.executemany("INSERT INTO reviews VALUES (?,?,?,?,?,?,?,?)", rows)
    return folder / Store.FILENAME


def test_sigkill_during_a_merge_leaves_all_or_none_and_merging_again_completes(
        tmp_path: Path) -> None:
    n = 30_000
    shard = big_shard(tmp_path / "shard", n)
    make_store(tmp_path / "main", 3).close()
    db, marker = tmp_path / "main" / Store.FILENAME, tmp_path / "holding"
    code = kill_when([sys.executable, "-c", MERGER, str(tmp_path / "main"), str(shard),
                      str(marker)], marker.exists, os.environ, timeout_s=120)
    assert code == -signal.SIGKILL, "the merge must be killed while it holds mid-transaction"
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        count = conn.execute("SELECT COUNT(*) FROM reviews").fetchone()[0]
    assert count == 3, "killed mid-transaction: nothing of the shard may be visible"
    with Store(tmp_path / "main") as main:
        main.merge(shard)
        assert main.count() == 3 + n


# -- leases ---------------------------------------------------------------------------------

def lease(store: Store, key: str, owner: str, pid: int, expires_in: float,
          host: str | None = None) -> None:
    with sqlite3.connect(store.path) as db:
        db.execute("INSERT OR REPLACE INTO leases VALUES (?,?,?,?,?)",
                   (key, owner, host or socket.gethostname(), pid, time.time() + expires_in))


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_claim_skips_live_leases_and_takes_expired_dead_or_free_ones(tmp_path: Path) -> None:
    store = Store(tmp_path)
    lease(store, "live", "other", os.getpid(), 600)
    lease(store, "expired", "other", os.getpid(), -1)
    lease(store, "dead", "other", dead_pid(), 600)
    lease(store, "remote", "other", dead_pid(), 600, host="another-host")  # can't check pid
    keys = ["live", "expired", "dead", "remote", "free"]
    assert store.claim(keys, "me") == {"expired", "dead", "free"}
    assert store.claim(keys, "you") == set()  # mine now, and I am alive
    assert store.held_by_others(keys, "me") == {"live", "remote"}
    store.put(rec("m", "t", "skeptic", "ship", 80).model_copy(update={"key": "free"}), "me")
    assert store.claim(["free"], "you") == set()  # stored ok: nothing to claim
    store.release("me")
    assert store.claim(["dead"], "you") == {"dead"}


def test_a_store_without_leases_table_gets_one(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / Store.FILENAME) as db:  # a store from before leases
        db.execute("CREATE TABLE reviews (key TEXT PRIMARY KEY, tool TEXT NOT NULL, persona "
                   "TEXT NOT NULL, model TEXT NOT NULL, sample INTEGER NOT NULL, status TEXT "
                   "NOT NULL, created_at TEXT NOT NULL, record TEXT NOT NULL)")
    with Store(tmp_path) as store:
        assert store.claim(["k"], "me") == {"k"}


# -- SQLite errors name the store -----------------------------------------------------------

def test_a_garbage_store_is_one_line_naming_the_file_not_a_traceback(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / Store.FILENAME).write_bytes(b"garbage, not SQLite\n" * 100)
    cards = Path(__file__).parent.parent / "examples" / "tools"
    res = subprocess.run([sys.executable, "-m", "panel.cli", "batch", str(cards), "-m", "mock",
                          "-o", str(out)], capture_output=True, text=True, timeout=60)
    assert res.returncode == 2
    [line] = res.stderr.strip().splitlines()
    assert line.startswith(f"error: store {out / Store.FILENAME}: file is not a database")
    assert "move it aside" in line and "Traceback" not in res.stderr


def test_a_locked_store_says_who_to_wait_for(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    Store(tmp_path).close()
    monkeypatch.setattr(Store, "TIMEOUT_S", 0.1)
    store = Store(tmp_path)
    holder = sqlite3.connect(store.path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(PanelError, match=f"store {store.path}: database is locked; "
                                             "another process holds the store"):
            store.put(rec("m", "t", "skeptic", "ship", 80))
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_the_heartbeat_thread_survives_a_busy_store(tmp_path: Path) -> None:
    """Renewal uses its own connection, so it works while the run's connection is idle or
    busy, from another thread."""
    store = Store(tmp_path)
    store.claim(["k"], "me", ttl_s=1)
    t = threading.Thread(target=store.renew, args=("me", 600))
    t.start()
    t.join()
    with sqlite3.connect(store.path) as db:
        expires = db.execute("SELECT expires_at FROM leases").fetchone()[0]
    assert expires > time.time() + 500


def test_a_shard_card_on_a_slug_another_tool_holds_here_is_refused(tmp_path: Path) -> None:
    """`PatchPilot` here, `PatchPilot!` (same slug, another tool) in a shard: the shard is
    refused whole, and this store keeps its card and reviews."""
    main = make_store(tmp_path / "main", 1, tool="main")
    main.put_card("patchpilot", json.dumps({**CARD, "name": "PatchPilot"}))
    shard = make_store(tmp_path / "shard", 2, tool="shard")
    shard.put_card("patchpilot", json.dumps({**CARD, "name": "PatchPilot!"}))
    shard.close()
    before = dump(tmp_path / "main")
    with pytest.raises(PanelError, match="slug 'patchpilot' is 'patchpilot' in this store"):
        main.merge(tmp_path / "shard" / Store.FILENAME)
    assert dump(tmp_path / "main") == before


# -- head-to-head judgments ---------------------------------------------------------------

def test_pair_judgments_are_stored_validated_and_read_newest_ok_first(tmp_path: Path) -> None:
    store = Store(tmp_path)
    ok = pair_rec("a", "b", "skeptic", "first", created_at="2025-01-01T00:00:00+00:00")
    failed = pair_rec("a", "b", "skeptic", None, created_at="2025-01-02T00:00:00+00:00")
    failed = failed.model_copy(update={"key": "later-failed"})
    other = pair_rec("b", "a", "skeptic", "both-ship")
    for r in (ok, failed, other, pair_rec("a", "c", "skeptic", "first"),
              pair_rec("a", "b", "skeptic", "first", model="other")):
        store.put_pair(r)
    assert store.get_pair(ok.key) == ok and store.get_pair("nope") is None
    assert store.pair_done_keys([ok.key, failed.key, "nope"]) == {ok.key}
    assert sorted(r.key for r in store.pair_judgments("b", "a", "m")) == sorted(
        [ok.key, other.key])  # either side first; the older ok one over the newer failure
    tamper(tmp_path, "UPDATE pair_judgments SET record=? WHERE key=?", '{"key": 1}', ok.key)
    with pytest.raises(ValueError, match="validation error"):
        store.get_pair(ok.key)


def test_a_store_from_before_head_to_head_gets_the_table_and_keeps_its_rows(
        tmp_path: Path) -> None:
    make_store(tmp_path, 2).close()
    with sqlite3.connect(tmp_path / Store.FILENAME) as db:
        db.execute("DROP TABLE pair_judgments")
    store = Store(tmp_path)
    assert (store.count(), store.pair_count()) == (2, 0)
    store.put_pair(pair_rec("t0", "t1", "skeptic", "first"))
    assert store.pair_count() == 1


def test_merge_brings_pair_judgments_and_refuses_a_bad_one(tmp_path: Path) -> None:
    main = make_store(tmp_path / "main", 1, tool="main")
    main.put_pair(pair_rec("x", "y", "skeptic", None))            # failed here, ok there
    shard = make_store(tmp_path / "shard", 1, tool="shard")
    shard.put_pair(pair_rec("x", "y", "skeptic", "second"))
    shard.put_pair(pair_rec("y", "x", "skeptic", "first"))
    shard.close()
    main.merge(tmp_path / "shard" / Store.FILENAME)
    assert {r.key: r.status for r in main.pair_judgments("x", "y", "m")} == {
        "m-x-y-skeptic": "ok", "m-y-x-skeptic": "ok"}
    old = make_store(tmp_path / "old", 1, tool="old")             # a shard from before
    old.close()
    with sqlite3.connect(tmp_path / "old" / Store.FILENAME) as db:
        db.execute("DROP TABLE pair_judgments")
    main.merge(tmp_path / "old" / Store.FILENAME)
    assert main.count() == 3 and main.pair_count() == 2
    bad = Store(tmp_path / "bad")
    bad.put_pair(pair_rec("p", "q", "skeptic", "first"))
    bad.close()
    tamper(tmp_path / "bad", "UPDATE pair_judgments SET first='impostor'")
    before = main.pair_count()
    with pytest.raises(PanelError, match="table pair_judgments, row 'm-p-q-skeptic': column "
                                         "first='impostor' does not match"):
        main.merge(tmp_path / "bad" / Store.FILENAME)
    assert main.pair_count() == before


def test_a_review_stored_before_expected_scores_loads_without_them(tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        new = rec("m", "tool", "builder", "ship", 80).model_copy(
            update={"expected_score": 71.25, "p_ship": 0.875})
        store.put(new)
        assert store.get(new.key) == new
    with sqlite3.connect(tmp_path / Store.FILENAME) as db:
        old = json.loads(db.execute("SELECT record FROM reviews").fetchone()[0])
        del old["expected_score"], old["p_ship"]  # as an issue-12 store wrote it
        db.execute("UPDATE reviews SET record=?", (json.dumps(old),))
    with Store(tmp_path) as store:
        got = store.get(new.key)
        assert got is not None and (got.expected_score, got.p_ship) == (None, None)
        assert got.output == new.output


def test_opening_a_new_store_waits_for_another_process_creating_it(tmp_path: Path) -> None:
    """Another connection holds a write on the fresh file (as a second run opening the same
    new store does): switching to WAL used to fail at once with "locked"; it waits now."""
    other = sqlite3.connect(tmp_path / Store.FILENAME, isolation_level=None,
                            check_same_thread=False)
    other.execute("CREATE TABLE t (x)")
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO t VALUES (1)")
    threading.Timer(0.5, lambda: other.execute("COMMIT")).start()
    started = time.monotonic()
    with Store(tmp_path) as store:
        assert store.count() == 0
    assert time.monotonic() - started >= 0.45  # it waited for the other's commit
    other.close()
    assert sqlite3.connect(tmp_path / Store.FILENAME).execute(
        "PRAGMA journal_mode").fetchone()[0] == "wal"
