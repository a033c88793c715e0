"""Retry and failure bookkeeping (mock backend: orchestration only) and store reuse."""

from __future__ import annotations

import json
import math

import pytest

from panel.backends.mock import MockBackend
from panel.config.workspace import Workspace
from panel.inputs.cards import load_cards
from panel.pipeline.jobs import request_seed
from panel.pipeline.run import review_cards

from conftest import EXAMPLES

VALID = json.dumps({"reasoning": "Fine notes here.", "score": 70, "verdict": "ship",
                    "review": "VoiceDesk answers calls. It hands hard ones to people."})


def card():
    return load_cards([EXAMPLES / "voicedesk.yaml"])[0].card


def test_each_failure_kind_is_retried_with_a_new_seed_and_recorded(ws: Workspace) -> None:
    MockBackend.enqueue('{"reasoning": "Cut off', "length")
    MockBackend.enqueue(json.dumps({"reasoning": "Bad verdict here.", "score": 10,
                                    "verdict": "ship", "review": "A b c d e. F g h i j."}))
    MockBackend.enqueue(VALID)
    rec = review_cards(ws, [card()], "mock", ["builder"]).records[0]
    assert rec.ok and rec.output and rec.output.score == 70
    assert [a.error is None for a in rec.attempts] == [False, False, True]
    assert "max_tokens" in (rec.attempts[0].error or "")
    assert "contradicts score 10" in (rec.attempts[1].error or "")
    seeds = [a.seed for a in rec.attempts]
    assert seeds == [request_seed(rec.key, i) for i in range(3)] and len(set(seeds)) == 3


def test_a_review_that_never_validates_is_stored_as_failed(ws: Workspace) -> None:
    for _ in range(3):
        MockBackend.enqueue("not json")
    summary = review_cards(ws, [card()], "mock", ["skeptic"])
    rec = summary.records[0]
    assert (rec.status, len(rec.attempts), rec.output) == ("failed", 3, None)
    assert rec.failure and rec.failure.startswith("invalid reply: Invalid JSON")
    assert ws.store.get(rec.key) == rec  # kept, not dropped
    assert summary.failed == [rec]


def test_rerun_reuses_the_store_and_force_reruns(ws: Workspace) -> None:
    first = review_cards(ws, [card()], "mock")
    assert (first.reviewed, first.reused, MockBackend.calls) == (4, 0, 4)
    again = review_cards(ws, [card()], "mock")
    assert (again.reviewed, again.reused, MockBackend.calls) == (0, 4, 4)
    forced = review_cards(ws, [card()], "mock", force=True)
    assert (forced.reviewed, MockBackend.calls) == (4, 8)
    assert ws.store.count() == 4


def test_outputs_are_self_describing(ws: Workspace) -> None:
    summary = review_cards(ws, [card()], "mock")
    panel = json.loads((ws.output / "panels" / "voicedesk.mock.json").read_text())
    assert panel["panel"]["ship"] + panel["panel"]["skip"] == 4
    rev = panel["reviews"][0]
    assert {"key", "model", "persona", "attempts", "provenance"} <= set(rev)
    prov = rev["provenance"]
    assert {"persona_sha", "templates", "prompt_sha", "sampling", "model"} <= set(prov)
    assert prov["sampling"]["seed"] == 0
    manifest = json.loads(summary.manifest.read_text())  # type: ignore[union-attr]
    assert manifest["counts"]["reviews"] == 4 and manifest["model"]["name"] == "mock"


def test_a_one_persona_rerun_keeps_the_whole_panel_file(ws: Workspace) -> None:
    review_cards(ws, [card()], "mock")
    review_cards(ws, [card()], "mock", ["skeptic"], samples=(1,))
    panel = json.loads((ws.output / "panels" / "voicedesk.mock.json").read_text())
    assert [r["persona"] for r in panel["reviews"]] == ["builder", "skeptic", "futurist",
                                                        "founder"]
    assert [r["sample"] for r in panel["reviews"]] == [0, 1, 0, 0]


def test_a_reply_with_log_probabilities_stores_its_expected_score(ws: Workspace) -> None:
    """The mock replays the tokens of VALID with two alternatives at each score digit:
    E = .8*70 + .2*60 at the first digit, then ".9*0 + .1*5" at the second for both."""
    from panel.contract.expected import TokenLogprobs

    head, tail = VALID.split('"score": ')
    tokens = [TokenLogprobs(head + '"score": ', {head + '"score": ': 0.0}),
              TokenLogprobs("7", {"7": math.log(.8), "6": math.log(.2)}),
              TokenLogprobs("0", {"0": math.log(.9), "5": math.log(.1)}),
              TokenLogprobs(tail, {tail: 0.0})]
    MockBackend.enqueue(VALID, logprobs=tokens)
    MockBackend.enqueue(VALID)  # no log-probabilities: no expected score
    first, second = review_cards(ws, [card()], "mock", ["builder", "skeptic"]).records
    assert first.expected_score == pytest.approx(.8 * 70.5 + .2 * 60.5)
    # 70 and 75 ship; 60 and 65 are in the overlap with a forced verdict (1/2)
    assert first.p_ship == pytest.approx(.8 + .2 * .5)
    assert (second.expected_score, second.p_ship) == (None, None)
    assert ws.store.get(first.key) == first  # kept by the store as it was made
