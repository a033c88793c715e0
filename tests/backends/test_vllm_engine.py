"""The real engine on the embedded model: two cards, four personas, every review valid.

The grammar bounds the reply below ``max_tokens`` and validation accepts whatever the
grammar allows (tests/contract/test_bound.py), so every first attempt is valid: no retry,
no length failure. A rejected reply (forced by a test contract) is retried inside the
running engine batch."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from panel.backends.base import Backend, GenRequest, GenResult
from panel.backends.vllm import compat
from panel.config.workspace import Workspace
from panel.contract.records import Attempt
from panel.inputs.cards import load_cards
from panel.pipeline.jobs import Job, request_seed
from panel.pipeline.retry import ReviewContract, request_id, run_jobs
from panel.pipeline.run import plan, review_cards

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
        assert rec.ok and rec.output is not None, rec.failure
        assert [a.finish_reason for a in rec.attempts] == ["stop"], rec.attempts
        assert 0 <= rec.output.score <= 100
        assert rubric.allows(rec.output.score, rec.output.verdict)
        assert rec.output.review.startswith(rec.tool_name)
        assert 0 < rec.attempts[0].output_tokens <= engine.spec.sampling.max_tokens
        text = rec.attempts[0].text  # compact JSON, as the grammar allows nothing else
        assert text == json.dumps(json.loads(text), separators=(",", ":"), ensure_ascii=False)


class RejectFirst:
    """The review contract, except that the first reply to arrive is rejected."""

    def __init__(self, inner: ReviewContract, first_ids: set[str]):
        self.inner, self.first_ids, self.rejected = inner, first_ids, ""

    def request(self, job: Job, attempt: int) -> GenRequest:
        return self.inner.request(job, attempt)

    def check(self, result: GenResult) -> tuple[Any, str | None]:
        if not self.rejected and result.id in self.first_ids:
            self.rejected = result.id
            return None, "rejected by the test"
        return self.inner.check(result)

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
    assert rec.attempts[0].error == "rejected by the test" and len(rec.attempts) >= 2
    assert [a.seed for a in rec.attempts] == [request_seed(key, i)
                                             for i in range(len(rec.attempts))]
