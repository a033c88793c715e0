"""The Ray Data path on a local Ray (2 CPUs) with the mock backend: the same reviews and
store as a single-machine batch, resumable, and refusing keys it did not plan."""

from __future__ import annotations

from pathlib import Path

from panel.backends.mock import MockBackend
from panel.pipeline.batch import Shard, run_batch
from panel.pipeline.ray_cluster import run_batch_ray
from panel.store.sqlite import Store

from conftest import EXAMPLES


def test_ray_batch_matches_a_local_batch_and_resumes(tmp_path: Path) -> None:
    cards = [EXAMPLES / "diffsage.yaml", EXAMPLES / "voicedesk.yaml", EXAMPLES / "tracelens.yaml"]
    local = run_batch(cards, tmp_path / "local", "mock")
    MockBackend.reset()
    ray = run_batch_ray(cards, tmp_path / "ray", "mock", None, False, Shard(), "local",
                        actors=1, batch_size=4)
    assert ray.ok and (ray.cards, ray.requests, ray.run.reviewed) == (3, 12, 12)
    assert MockBackend.calls == 0  # the reviews were made in the Ray actor, not here
    with Store(tmp_path / "ray") as store:
        assert store.count() == 12
    by_key = {r.key: r.output for r in local.run.records}
    assert {r.key: r.output for r in ray.run.records} == by_key  # same keys, same reviews
    again = run_batch_ray(cards, tmp_path / "ray", "mock", None, False, Shard(), "local")
    assert (again.requests, again.run.reused) == (0, 12)  # resumed without starting Ray
