"""Head-to-head judging: content keys, reuse across runs, failures kept (mock backend:
orchestration only), and on the real engine both orders judged and their disagreement."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from panel.backends.base import Backend
from panel.backends.mock import MockBackend, Mocks
from panel.config.workspace import Workspace
from panel.contract.pairwise import CHOICES
from panel.inputs.cards import ToolCard, load_cards
from panel.pipeline.jobs import make_job, request_seed
from panel.pipeline.pairwise import PairContract, judge, judge_pairs, make_pair_job
from panel.pipeline.retry import run_jobs
from panel.store.sqlite import Store

from conftest import EMBEDDED, EXAMPLES
from factories import copy_project


def cards(*names: str) -> list[ToolCard]:
    return [c.card for c in load_cards([EXAMPLES / f"{n}.yaml" for n in names])]


def pick(choice: str, reason: str = "Clear pick for me.") -> str:
    return json.dumps({"reason": reason, "choice": choice, "margin": 70})


def by_hand(ab: str, ba: str) -> str:
    """A persona's result read off its two stored choices (A first, then B first) without
    the code under test: the same tool in both orders, or ``inconsistent``."""
    first = {"first": "a", "second": "b", "neither-ship": "neither", "both-ship": "both"}
    second = {**first, "first": "b", "second": "a"}
    return first[ab] if first[ab] == second[ba] else "inconsistent"


# -- keys ---------------------------------------------------------------------------------

def test_the_key_covers_the_order_the_cards_and_the_contract(ws: Workspace) -> None:
    a, b = cards("patchpilot", "diffsage")
    settings, [builder, skeptic] = ws.settings("mock"), ws.personas(["builder", "skeptic"])
    key = make_pair_job(a, b, builder, settings).key
    assert make_pair_job(a, b, builder, settings).key == key          # same inputs, same key
    assert make_pair_job(b, a, builder, settings).key != key          # the order
    assert make_pair_job(a, b, skeptic, settings).key != key          # the persona
    edited = a.model_copy(update={"description": a.description + " Now with tests."})
    assert make_pair_job(edited, b, builder, settings).key != key     # a card edit
    assert make_pair_job(a, edited, builder, settings).key != make_pair_job(
        a, b, builder, settings).key
    assert make_pair_job(a, b, builder, settings, ("first",)).key != key  # the contract
    assert make_pair_job(a, b, builder, settings, sample=1).key != key
    assert make_pair_job(a, b, builder, ws.settings("smollm2-135m")).key != key  # the model
    assert make_job(a, builder, settings).key != key                # not a review's key


def test_a_template_edit_changes_every_key(tmp_path: Path) -> None:
    root = copy_project(tmp_path / "project")
    a, b = cards("patchpilot", "diffsage")
    ws = Workspace(tmp_path / "out", root)
    p = ws.personas(["builder"])[0]
    before = make_pair_job(a, b, p, ws.settings("mock")).key
    (root / "prompts" / "head_to_head.j2").write_text(
        (root / "prompts" / "head_to_head.j2").read_text() + "\n{# edited #}\n")
    assert make_pair_job(a, b, p, Workspace(tmp_path / "out", root).settings("mock")).key \
        != before


# -- runs (mock) --------------------------------------------------------------------------

def test_both_orders_are_judged_stored_and_reused_across_runs(ws: Workspace, mock: Mocks) -> None:
    a, b = cards("patchpilot", "diffsage")
    seen: list[tuple[int, int]] = []
    [h2h] = judge_pairs(ws, [(a, b)], "mock", progress=lambda d, t: seen.append((d, t)))
    assert mock.calls == 8 and ws.store.pair_count() == 8   # 4 personas x 2 orders
    assert seen[0] == (0, 8) and seen[-1] == (8, 8)
    assert [r.persona for r in h2h.rows] == ["builder", "skeptic", "futurist", "founder"]
    for row in h2h.rows:
        assert row.ab and row.ba and (row.ab.order, row.ba.order) == ("ab", "ba")
        ab, ba = ws.store.get_pair(row.ab.key), ws.store.get_pair(row.ba.key)
        assert ab and ba and (ab.first, ab.second, ba.first, ba.second) == (
            "patchpilot", "diffsage", "diffsage", "patchpilot")
        assert ab.output and ba.output
        assert row.result == by_hand(ab.output.choice, ba.output.choice)
    [again] = judge_pairs(ws, [(a, b)], "mock")
    assert mock.calls == 8 and again == h2h                 # 0 requests
    [reverse] = judge_pairs(ws, [(b, a)], "mock")                  # B first is A first swapped
    assert mock.calls == 8
    assert [(r.ab and r.ab.key, r.ba and r.ba.key) for r in reverse.rows] == [
        (r.ba and r.ba.key, r.ab and r.ab.key) for r in h2h.rows]


def test_scripted_picks_give_each_outcome(ws: Workspace, mock: Mocks) -> None:
    a, b = cards("patchpilot", "diffsage")
    # jobs run persona by persona, A first then B first
    for reply in (pick("first"), pick("second"), pick("first"), pick("first"),
                  pick("neither-ship"), pick("neither-ship"), pick("both-ship"), pick("second")):
        mock.enqueue(reply)
    [h2h] = judge_pairs(ws, [(a, b)], "mock")
    assert [(r.persona, r.result) for r in h2h.rows] == [
        ("builder", "a"), ("skeptic", "inconsistent"), ("futurist", "neither"),
        ("founder", "inconsistent")]
    assert [h2h.line(r) for r in h2h.rows] == [
        "PatchPilot in both orders",
        "inconsistent (PatchPilot when shown first, DiffSage when shown first)",
        "neither would ship in both orders",
        "inconsistent (both with PatchPilot shown first, PatchPilot when shown second)"]


def test_a_judgment_that_never_validates_is_kept_failed_and_retried_next_run(
        ws: Workspace, mock: Mocks) -> None:
    a, b = cards("patchpilot", "diffsage")
    # each round asks A first, then B first: A first fails three times, B first once
    mock.enqueue('{"reason": "Cut', "length")
    for reply in (pick("third"), "not json", pick("second"),
                  pick("first", reason="One. Two. Three.")):
        mock.enqueue(reply)
    [h2h] = judge_pairs(ws, [(a, b)], "mock", ["builder"])
    row = h2h.rows[0]
    assert row.ab and row.ab.choice is None and row.result == "failed"
    assert row.ba and row.ba.choice == "second"
    stored = ws.store.get_pair(row.ab.key)
    assert stored and stored.status == "failed" and len(stored.attempts) == 3
    assert [x.seed for x in stored.attempts] == [request_seed(stored.key, i) for i in range(3)]
    assert [x.error for x in stored.attempts] == [
        "hit max_tokens (2 tokens) before the JSON closed",
        "invalid reply: Invalid JSON: expected ident at line 1 column 2",
        "invalid reply: Value error, reason has 3 sentences; needs 1 to 2"]
    assert stored.failure == row.ab.failure == stored.attempts[-1].error
    ba = ws.store.get_pair(row.ba.key)
    assert ba and ba.ok and (ba.attempts[0].error or "").startswith("invalid choice")
    assert mock.calls == 5
    [again] = judge_pairs(ws, [(a, b)], "mock", ["builder"])          # only the failed one
    assert mock.calls == 6 and again.rows[0].ab and again.rows[0].ab.choice


# -- the real engine ----------------------------------------------------------------------

def test_real_engine_judges_both_orders_and_disagreeing_orders_are_inconsistent(
        ws: Workspace, engine: Backend) -> None:
    """Free picks: two stored judgments per persona, one per order, each ended by the
    grammar on the first attempt, each result the one its two stored choices give. Then the
    same pair under a contract that pins ``first`` in both orders (through the same engine,
    grammar path and store): the orders disagree on the tool by construction, so every
    persona must come out ``inconsistent``."""
    a, b = cards("patchpilot", "diffsage")
    [free] = judge_pairs(ws, [(a, b)], EMBEDDED, ["builder", "skeptic"], backend=engine)
    [pinned] = judge(ws, [(a, b)], EMBEDDED, ["builder", "skeptic"], backend=engine,
                     choices=("first",))
    for h2h in (free, pinned):
        for row in h2h.rows:
            assert row.ab and row.ba, row
            ab, ba = ws.store.get_pair(row.ab.key), ws.store.get_pair(row.ba.key)
            assert ab and ba and ab.ok and ba.ok, (ab, ba)
            assert (ab.first, ba.first) == (a.slug, b.slug)
            for judged in (ab, ba):  # the grammar ends each reply: first time, on its own
                assert [a.finish_reason for a in judged.attempts] == ["stop"], judged.attempts
            assert ab.output and ab.output.choice in CHOICES and row.ab.reason
            assert ba.output and row.result == by_hand(ab.output.choice, ba.output.choice)
    assert ws.store.pair_count() == 8                                # 2 contracts x 2 x 2
    assert [r.result for r in pinned.rows] == ["inconsistent", "inconsistent"]
    assert [(r.ab.tool, r.ba.tool) for r in pinned.rows if r.ab and r.ba] == [("a", "b")] * 2
    assert pinned.line(pinned.rows[0]) == (
        "inconsistent (PatchPilot when shown first, DiffSage when shown first)")



# -- leases (mock) ------------------------------------------------------------------------

def test_a_judgment_another_live_run_holds_is_waited_for_not_paid_twice(
        ws: Workspace, mock: Mocks) -> None:
    """Another run holds A-first/builder's lease and stores it half a second later: this
    run judges the other seven, waits, and reads that one from the store."""
    a, b = cards("patchpilot", "diffsage")
    settings = ws.settings("mock")
    job = make_pair_job(a, b, ws.personas(["builder"])[0], settings)
    ws.store.claim([job.key], "other run")
    theirs = MockBackend(settings.spec)

    def other_run() -> None:
        time.sleep(0.5)
        with Store(ws.output) as store:
            [done] = run_jobs([job], theirs, settings,
                              contract=PairContract(settings))
            store.put_pair(done.model_copy(update={"provenance": {
                **done.provenance, "by": "the other run"}}))
            store.release("other run")

    thread = threading.Thread(target=other_run)
    thread.start()
    [h2h] = judge_pairs(ws, [(a, b)], "mock")
    thread.join()
    assert (mock.calls, theirs.calls) == (7, 1)  # 7 here, 1 by the other run
    held = ws.store.get_pair(job.key)
    assert held and held.provenance["by"] == "the other run" and h2h.rows[0].ab
    assert h2h.rows[0].ab.key == job.key and h2h.rows[0].ab.choice == held.output.choice  # type: ignore[union-attr]
    keys = [k for r in h2h.rows for k in (r.ab and r.ab.key, r.ba and r.ba.key) if k]
    assert ws.store.claim(keys, "after", skip_done=False) == set(keys)  # all released


def test_a_judgment_whose_lease_lapses_without_a_result_is_judged_here(
        ws: Workspace, mock: Mocks) -> None:
    a, b = cards("patchpilot", "diffsage")
    job = make_pair_job(a, b, ws.personas(["builder"])[0], ws.settings("mock"))
    ws.store.claim([job.key], "stalled run", ttl_s=0.5)  # alive, but never renews
    [h2h] = judge_pairs(ws, [(a, b)], "mock", ["builder"])
    assert mock.calls == 2 and h2h.rows[0].ab and h2h.rows[0].ab.choice
    assert ws.store.get_pair(job.key) is not None


def test_a_narrowed_contract_refuses_a_pick_outside_it(ws: Workspace) -> None:
    """``choices`` narrows what is valid, not only what the grammar offers: a reply that
    picks outside them (a server that ignored the grammar) is rejected, with the reason."""
    from panel.backends.base import GenResult

    settings = ws.settings("mock")
    contract = PairContract(settings, ("first",))
    a, b = cards("patchpilot", "diffsage")
    job = make_pair_job(a, b, ws.personas(["builder"])[0], settings, ("first",))
    out, why = contract.check(job, GenResult(id="k", text=pick("second"),
                                             finish_reason="stop"))
    assert (out, why) == (None, "invalid choice: 'second' is not among ['first']")
    out, why = contract.check(job, GenResult(id="k", text=pick("first"), finish_reason="stop"))
    assert out is not None and (out.choice, why) == ("first", None)
    assert PairContract(settings).check(job, GenResult(
        id="k", text=pick("second"), finish_reason="stop"))[0] is not None
