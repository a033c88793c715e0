"""Retry and failure bookkeeping (mock backend: orchestration only) and store reuse."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import replace

import pytest

from panel.backends.base import Backend, GenRequest, GenResult, OnResult, Settle
from panel.backends.mock import MockBackend, Mocks, _valid
from panel.config.workspace import Workspace
from panel.contract.bound import max_tokens_bound
from panel.contract.evidence import quote_texts
from panel.contract.grammar import generation_grammar, review_max_tokens
from panel.errors import PanelError
from panel.inputs.cards import load_cards
from panel.pipeline.jobs import make_job, request_seed
from panel.pipeline.retry import ReviewContract, request_id, run_jobs
from panel.pipeline.run import plan, review_cards

from conftest import EXAMPLES

VALID = json.dumps({"reasoning": "Fine notes here.", "score": 70, "verdict": "ship",
                    "review": "VoiceDesk answers calls. It hands hard ones to people."})


def card():
    return load_cards([EXAMPLES / "voicedesk.yaml"])[0].card


def test_each_failure_kind_is_retried_with_a_new_seed_and_recorded(
        ws: Workspace, mock: Mocks) -> None:
    mock.enqueue('{"reasoning": "Cut off', "length")
    mock.enqueue(json.dumps({"reasoning": "Bad verdict here.", "score": 10,
                             "verdict": "ship", "review": "A b c d e. F g h i j."}))
    mock.enqueue(VALID)
    rec = review_cards(ws, [card()], "mock", ["builder"]).records[0]
    assert rec.ok and rec.output and rec.output.score == 70
    assert [a.error is None for a in rec.attempts] == [False, False, True]
    assert "max_tokens" in (rec.attempts[0].error or "")
    assert "contradicts score 10" in (rec.attempts[1].error or "")
    seeds = [a.seed for a in rec.attempts]
    assert seeds == [request_seed(rec.key, i) for i in range(3)] and len(set(seeds)) == 3


def test_a_review_that_never_validates_is_stored_as_failed(ws: Workspace, mock: Mocks) -> None:
    for _ in range(3):
        mock.enqueue("not json")
    summary = review_cards(ws, [card()], "mock", ["skeptic"])
    rec = summary.records[0]
    assert (rec.status, len(rec.attempts), rec.output) == ("failed", 3, None)
    assert rec.failure and rec.failure.startswith("invalid reply: Invalid JSON")
    assert ws.store.get(rec.key) == rec  # kept, not dropped
    assert summary.failed == [rec]


def test_rerun_reuses_the_store_and_force_reruns(ws: Workspace, mock: Mocks) -> None:
    first = review_cards(ws, [card()], "mock")
    assert (first.reviewed, first.reused, mock.calls) == (4, 0, 4)
    again = review_cards(ws, [card()], "mock")
    assert (again.reviewed, again.reused, mock.calls) == (0, 4, 4)
    forced = review_cards(ws, [card()], "mock", force=True)
    assert (forced.reviewed, mock.calls) == (4, 8)
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


def test_a_max_tokens_below_the_grammars_bound_is_refused_before_any_request(
        ws: Workspace) -> None:
    """The registry refuses such an entry; a spec built in code meets this last guard."""
    settings = ws.settings("mock")
    sampling = settings.spec.sampling.model_copy(update={"max_tokens": 400})
    low = replace(settings, spec=settings.spec.model_copy(update={"sampling": sampling}))
    job = make_job(card(), ws.personas(["builder"])[0], low)
    quotes = quote_texts(job.card.description)
    bound = max_tokens_bound(generation_grammar(settings.rubric, job.card.name, quotes=quotes))
    with pytest.raises(PanelError, match=f"'mock': max_tokens 400 is below {bound}, the "
                                         "longest reply the review grammar allows for 'Voice"):
        ReviewContract(low).request(job, 0)
    assert ReviewContract(settings).request(job, 0).max_tokens >= review_max_tokens()


class Engine(Backend):
    """A fake continuous-batching engine: every request added joins the running batch, the
    oldest finishes first, and ``history`` says when each was added and finished.
    ``reject`` lists request ids answered with an invalid reply."""

    def __init__(self, ws: Workspace, reject: set[str]):
        super().__init__(ws.settings("mock").spec)
        self.reject, self.history = reject, []

    def generate(self, requests: Sequence[GenRequest],
                 on_result: OnResult | None = None) -> list[GenResult]:
        raise AssertionError("run_jobs streams: it never waits for a whole batch")

    def stream(self, requests: Sequence[GenRequest], settle: Settle) -> None:
        running = list(requests)
        self.history += [("add", r.id) for r in running]
        while running:
            req = running.pop(0)
            self.history.append(("done", req.id))
            text = "not json" if req.id in self.reject else _valid(req)
            nxt = settle(GenResult(id=req.id, text=text, finish_reason="stop"))
            if nxt is not None:
                self.history.append(("add", nxt.id))
                running.append(nxt)


def test_a_failed_reply_is_retried_at_once_while_the_batch_still_runs(ws: Workspace) -> None:
    jobs = plan(ws, [card()], "mock")
    first, last = jobs[0].key, jobs[-1].key
    engine = Engine(ws, reject={request_id(first, 0), request_id(first, 1)})
    stored: list[str] = []
    records = run_jobs(jobs, engine, ws.settings("mock"), on_record=lambda r: stored.append(r.key))
    retry, retry2 = engine.history.index(("add", request_id(first, 1))), \
        engine.history.index(("add", request_id(first, 2)))
    # The retry joined the batch before the other first attempts finished, not after.
    assert retry < engine.history.index(("done", request_id(last, 0)))
    assert retry2 > engine.history.index(("done", request_id(first, 1)))
    assert [r.key for r in records] == [j.key for j in jobs]  # in job order, one each
    assert stored[-1] == first and all(r.ok for r in records)
    rec = records[0]
    assert [a.seed for a in rec.attempts] == [request_seed(first, i) for i in range(3)]
    assert [a.error is None for a in rec.attempts] == [False, False, True]
    assert [len(r.attempts) for r in records[1:]] == [1, 1, 1]


def test_a_reply_with_log_probabilities_stores_its_expected_score(
        ws: Workspace, mock: Mocks) -> None:
    """The mock replays the tokens of VALID with two alternatives at each score digit:
    E = .8*70 + .2*60 at the first digit, then ".9*0 + .1*5" at the second for both."""
    from panel.contract.expected import TokenLogprobs

    head, tail = VALID.split('"score": ')
    tokens = [TokenLogprobs(head + '"score": ', {head + '"score": ': 0.0}),
              TokenLogprobs("7", {"7": math.log(.8), "6": math.log(.2)}),
              TokenLogprobs("0", {"0": math.log(.9), "5": math.log(.1)}),
              TokenLogprobs(tail, {tail: 0.0})]
    mock.enqueue(VALID, logprobs=tokens)
    mock.enqueue(VALID)  # no log-probabilities: no expected score
    first, second = review_cards(ws, [card()], "mock", ["builder", "skeptic"]).records
    assert first.expected_score == pytest.approx(.8 * 70.5 + .2 * 60.5)
    # 70 and 75 ship; 60 and 65 are in the overlap with a forced verdict (1/2)
    assert first.p_ship == pytest.approx(.8 + .2 * .5)
    assert (second.expected_score, second.p_ship) == (None, None)
    assert ws.store.get(first.key) == first  # kept by the store as it was made


class EngineErrors(MockBackend):
    """The mock, except that the attempts in ``failing`` get an engine error and no text,
    as VLLMBackend reports a request the engine dropped ("engine returned no output")."""

    failing: tuple[int, ...] = (0,)

    def generate(self, requests: Sequence[GenRequest],
                 on_result: OnResult | None = None) -> list[GenResult]:
        results = []
        for req in requests:
            if int(req.id.rsplit("#", 1)[1]) in self.failing:
                self.served(req)
                res = GenResult(id=req.id, error="engine returned no output")
                if on_result:
                    on_result(res)
            else:
                [res] = super().generate([req], on_result)
            results.append(res)
        return results


def test_an_engine_error_is_an_attempt_retried_with_the_next_seed_end_to_end(
        ws: Workspace) -> None:
    """Four personas: each first attempt an engine error, each second valid; stored ok
    with both attempts and their two distinct seeds. Then every attempt erring: a failed
    review stored with the engine's reason, and no output."""
    settings = ws.settings("mock")
    backend = EngineErrors(settings.spec)
    summary = review_cards(ws, [card()], "mock", backend=backend)
    assert backend.calls == 8 and len(summary.records) == 4
    for rec in summary.records:
        assert rec.ok and [a.error for a in rec.attempts] == [
            "engine error: engine returned no output", None]
        assert [a.seed for a in rec.attempts] == [request_seed(rec.key, 0),
                                                  request_seed(rec.key, 1)]
        assert rec.attempts[0].seed != rec.attempts[1].seed
    erring = EngineErrors(settings.spec)
    erring.failing = (0, 1, 2)
    [failed] = review_cards(ws, [card()], "mock", ["builder"], force=True,
                            backend=erring).records
    assert (failed.status, failed.output, failed.failure) == (
        "failed", None, "engine error: engine returned no output")
    assert [a.seed for a in failed.attempts] == [request_seed(failed.key, i) for i in range(3)]
    assert ws.store.get(failed.key) == failed


def test_a_review_records_its_evidence_and_its_unsupported_claims(
        ws: Workspace, mock: Mocks) -> None:
    """The mock quotes the card; a planted price and name the card lacks are recorded."""
    mock.enqueue(json.dumps({"reasoning": "Fine notes here.", "score": 70,
                             "verdict": "ship", "review": "VoiceDesk answers calls "
                             "for $4 a month. It syncs with Zendesk Plus."}))
    rec = review_cards(ws, [card()], "mock", ["builder"]).records[0]
    assert rec.ok and rec.output is not None
    assert rec.output.evidence == [quote_texts(card().description)[0]]
    assert rec.output.evidence[0] in card().description
    assert rec.unsupported == ["$4", "Zendesk Plus"]
