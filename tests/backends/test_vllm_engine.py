"""The real engine on the embedded model: two cards, four personas, validated structure."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator

import pytest

from panel.backends.base import Backend, GenResult
from panel.config.workspace import Workspace
from panel.contract.expected import SCORE_KEY, score_distribution, score_position
from panel.contract.output import Rubric
from panel.contract.records import ReviewRecord
from panel.inputs.cards import load_cards
from panel.pipeline.jobs import Job, make_job
from panel.pipeline.retry import ReviewContract
from panel.pipeline.run import review_cards

from conftest import EMBEDDED, EXAMPLES


def test_four_personas_two_cards_on_the_real_engine(ws: Workspace, engine: Backend) -> None:
    files = [EXAMPLES / "patchpilot.yaml", EXAMPLES / "vectorloom.yaml"]
    cards = [c.card for c in load_cards(files)]
    summary = review_cards(ws, cards, EMBEDDED, backend=engine)
    assert len(summary.records) == 8
    assert {(r.tool, r.persona) for r in summary.records} == {
        (c.slug, p) for c in cards for p in ("builder", "skeptic", "futurist", "founder")}
    rubric = ws.config.rubric
    for rec in summary.records:
        assert rec.attempts, "every review records its attempts"
        if rec.ok:
            assert rec.output is not None
            assert 0 <= rec.output.score <= 100
            assert rubric.allows(rec.output.score, rec.output.verdict)
            assert rec.output.review.startswith(rec.tool_name)
            assert rec.attempts[-1].output_tokens > 0
            text = rec.attempts[-1].text  # compact JSON, as the grammar allows nothing else
            assert text == json.dumps(json.loads(text), separators=(",", ":"),
                                      ensure_ascii=False)
        else:
            assert rec.failure and len(rec.attempts) == ws.config.generation.max_attempts
    assert sum(r.ok for r in summary.records) >= 6


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
    valid = 0
    for job, res in replies(engine, contract, jobs, settings.max_attempts):
        scored, _ = contract.check(res)
        if scored is None:
            continue
        valid += 1
        check_tokens(res)
        check_expected(contract.record(job, scored, None, [], engine), scored.output.score,
                       score_distribution(res.logprobs or [], settings.rubric), settings.rubric)
    assert valid == len(jobs)


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


def replies(engine: Backend, contract: ReviewContract, jobs: list[Job],
            attempts: int) -> Iterator[tuple[Job, GenResult]]:
    """Each job's replies, attempt by attempt until one is valid, as the pipeline asks."""
    pending = jobs
    for attempt in range(attempts):
        results = engine.generate([contract.request(j, attempt) for j in pending])
        yield from zip(pending, results, strict=True)
        pending = [j for j, r in zip(pending, results, strict=True)
                   if contract.check(r)[0] is None]


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
