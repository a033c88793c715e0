"""The real engine on the embedded model: two cards, four personas, every review valid.

The grammar bounds the reply below ``max_tokens`` and validation accepts whatever the
grammar allows (tests/contract/test_bound.py), so every first attempt is valid: no retry,
no length failure. A rejected reply (forced by a test contract) is retried inside the
running engine batch."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from panel.backends.base import Backend, GenRequest, GenResult
from panel.backends.vllm import compat
from panel.config.settings import Config
from panel.config.workspace import Workspace
from panel.contract.expected import SCORE_KEY, score_distribution, score_position
from panel.contract.output import Rubric, count_sentences
from panel.contract.records import Attempt, ReviewRecord
from panel.inputs.cards import load_cards
from panel.pipeline.jobs import Job, make_job, request_seed
from panel.pipeline.retry import ReviewContract, request_id, run_jobs
from panel.pipeline.run import plan, review_cards

from conftest import EMBEDDED, EXAMPLES, ROOT

# Read at collection, before the session's engine starts.
LD_PRELOAD_BEFORE = os.environ.get("LD_PRELOAD")


def test_four_personas_two_cards_on_the_real_engine(tmp_path: Path, engine: Backend) -> None:
    """On the checkout's project: the default review lengths, which every other real-engine
    test shortens (conftest.ENGINE_LENGTHS), hold on the real engine too."""
    ws = Workspace(output=tmp_path / "checkout", root=ROOT)
    assert ws.config.review == Config().review
    files = [EXAMPLES / "patchpilot.yaml", EXAMPLES / "vectorloom.yaml"]
    cards = [c.card for c in load_cards(files)]
    summary = review_cards(ws, cards, EMBEDDED, backend=engine)
    lo, hi = ws.config.review.sentences
    assert len(summary.records) == 8
    assert {(r.tool, r.persona) for r in summary.records} == {
        (c.slug, p) for c in cards for p in ("builder", "skeptic", "futurist", "founder")}
    rubric = ws.config.rubric
    by_slug = {c.slug: c for c in cards}
    for rec in summary.records:
        assert rec.ok and rec.output is not None, rec.failure
        quotes = rec.output.evidence  # written first, one of the card's own sentences each
        assert 1 <= len(quotes) <= 3 and rec.attempts[0].text.startswith('{"evidence":[')
        assert all(q in by_slug[rec.tool].description for q in quotes), quotes
        assert [a.finish_reason for a in rec.attempts] == ["stop"], rec.attempts
        assert 0 <= rec.output.score <= 100
        assert rubric.allows(rec.output.score, rec.output.verdict)
        assert rec.output.review.startswith(rec.tool_name)
        assert lo <= count_sentences(rec.output.review) <= hi
        assert 0 < rec.attempts[0].output_tokens <= engine.spec.sampling.max_tokens
        text = rec.attempts[0].text  # compact JSON, as the grammar allows nothing else
        assert text == json.dumps(json.loads(text), separators=(",", ":"), ensure_ascii=False)


def test_the_started_engine_leaves_no_ld_preload_to_later_children(engine: Backend) -> None:
    """vLLM's CPU platform adds libgomp (and tcmalloc) to LD_PRELOAD as the engine starts;
    once it has, the variable is what it was, so no later child process loads them."""
    assert engine.spec.name == EMBEDDED
    assert os.environ.get("LD_PRELOAD") == LD_PRELOAD_BEFORE


class RejectFirst:
    """The review contract, except that the first reply to arrive is rejected."""

    def __init__(self, inner: ReviewContract, first_ids: set[str]):
        self.inner, self.first_ids, self.rejected = inner, first_ids, ""

    def request(self, job: Job, attempt: int) -> GenRequest:
        return self.inner.request(job, attempt)

    def check(self, job: Job, result: GenResult) -> tuple[Any, str | None]:
        if not self.rejected and result.id in self.first_ids:
            self.rejected = result.id
            return None, "rejected by the test"
        return self.inner.check(job, result)

    def record(self, job: Job, output: Any, reason: str | None, attempts: list[Attempt],
               backend: Backend) -> Any:
        return self.inner.record(job, output, reason, attempts, backend)


def test_a_rejected_reply_is_retried_inside_the_running_engine_batch(
        ws: Workspace, engine: Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = ws.settings(EMBEDDED)
    jobs = plan(ws, [load_cards([EXAMPLES / "patchpilot.yaml"])[0].card], EMBEDDED)
    events: list[tuple[str, str, int | None]] = []
    loops: list[int] = []
    add, step = compat.add_chat_requests, compat.step_until_done

    def spy_add(llm: Any, requests: list[GenRequest]) -> None:
        events.extend(("add", r.id, r.seed) for r in requests)
        add(llm, requests)

    def spy_step(llm: Any) -> Iterator[Any]:
        loops.append(1)
        for out in step(llm):
            events.append(("done", out.request_id, None))
            yield out

    monkeypatch.setattr(compat, "add_chat_requests", spy_add)
    monkeypatch.setattr(compat, "step_until_done", spy_step)
    contract = RejectFirst(ReviewContract(settings), {request_id(j.key, 0) for j in jobs})
    records = run_jobs(jobs, engine, settings, contract=contract)

    assert [r.key for r in records] == [j.key for j in jobs]
    key = contract.rejected.split("#")[0]
    retry = events.index(("add", request_id(key, 1), request_seed(key, 1)))
    last_first = max(i for i, e in enumerate(events) if e[0] == "done" and e[1].endswith("#0"))
    assert retry < last_first, "the retry waited for the whole first batch"
    assert loops == [1]  # every request, retries included, in one engine stepping loop
    for kind, rid, seed in events:
        job_key, attempt = rid.split("#")
        assert kind == "done" or seed == request_seed(job_key, int(attempt))
    (rec,) = [r for r in records if r.key == key]
    # One rejection, then the grammar-bound retry is valid: exactly two attempts.
    assert [a.error for a in rec.attempts] == ["rejected by the test", None]
    assert [a.seed for a in rec.attempts] == [request_seed(key, 0), request_seed(key, 1)]
    assert [len(r.attempts) for r in records if r.key != key] == [1] * (len(records) - 1)


def test_flat_logprobs_become_tokens_with_their_alternatives() -> None:
    """vLLM's FlatLogprobs layout: the sampled token first at each position, perhaps again
    among the top ones (counted once); ids that decode alike are summed."""
    from types import SimpleNamespace

    from panel.backends.vllm.compat import _logprobs

    flat = SimpleNamespace(start_indices=[0, 3], end_indices=[3, 6],
                           token_ids=[7, 7, 8, 5, 6, 9],
                           logprobs=[-0.5, -0.5, -1.0, -0.1, math.log(.05), math.log(.05)],
                           decoded_tokens=["8", "8", "7", "5", "�", "�"])
    assert _logprobs(flat) == [("8", {"8": -0.5, "7": -1.0}),
                               ("5", {"5": -0.1, "�": pytest.approx(math.log(.1))})]
    assert _logprobs(None) is None


def test_expected_scores_on_the_real_engine(ws: Workspace, engine: Backend) -> None:
    """Two reviews: the engine's log-probabilities line up with the text, are masked by the
    grammar at the score (only digits have probability), and give an expected score and a
    P(ship) that agree with the score the engine sampled."""
    settings = ws.settings(EMBEDDED)
    card = load_cards([EXAMPLES / "patchpilot.yaml"])[0].card
    jobs = [make_job(card, p, settings) for p in ws.personas(["builder", "skeptic"])]
    contract = ReviewContract(settings)
    results = engine.generate([contract.request(job, 0) for job in jobs])
    for job, res in zip(jobs, results, strict=True):
        scored, reason = contract.check(job, res)  # the first attempt: no retry to hide behind
        assert scored is not None and res.finish_reason == "stop", (reason, res.text)
        check_tokens(res)
        check_expected(contract.record(job, scored, None, [], engine), scored.output.score,
                       score_distribution(res.logprobs or [], settings.rubric), settings.rubric)


def check_tokens(res: GenResult) -> None:
    """One log-probability entry per generated token, the score's first digit found at its
    own position, and only digits (the grammar's mask) with probability there."""
    assert res.logprobs is not None and len(res.logprobs) == res.output_tokens
    at = score_position(res.logprobs)
    assert at is not None, [t.text for t in res.logprobs]
    after = res.text[res.text.index(SCORE_KEY) + len(SCORE_KEY):]
    assert after.startswith(res.logprobs[at].text)
    alts = [a for a, lp in res.logprobs[at].top.items() if math.isfinite(lp)]
    assert len(alts) >= 2 and all(a.isdigit() for a in alts), res.logprobs[at].top


def check_expected(rec: ReviewRecord, sampled: int, dist: dict[int, float],
                   rubric: Rubric) -> None:
    """The record's expectations against the score distribution they came from."""
    assert dist.get(sampled, 0) > 0 and sum(dist.values()) == pytest.approx(1)
    assert rec.expected_score is not None and rec.p_ship is not None
    assert 0 <= min(dist) <= rec.expected_score <= max(dist) <= 100
    ship_only = sum(p for s, p in dist.items() if s > rubric.skip_threshold)
    may_ship = sum(p for s, p in dist.items() if s >= rubric.ship_threshold)
    assert ship_only - 1e-3 <= rec.p_ship <= may_ship + 1e-3
    if sampled > rubric.skip_threshold:
        assert rec.p_ship > 0
    if sampled < rubric.ship_threshold:
        assert rec.p_ship < 1
