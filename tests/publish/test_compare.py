"""`panel compare --head-to-head` as a library call: one engine for reviews and judgments,
none when everything is stored, and the files carry the head-to-head (also on a later run
without the flag, from the store)."""

from __future__ import annotations

import json

import pytest

from panel.backends import create_backend
from panel.backends import lazy as lazy_module
from panel.backends.base import Backend
from panel.config.registry import ModelSpec
from panel.config.workspace import Workspace
from panel.inputs.cards import load_cards
from panel.publish.compare import compare_cards

from conftest import EXAMPLES


def test_reviews_and_judgments_share_one_engine_and_a_rerun_starts_none(
        ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[Backend] = []

    def counting(spec: ModelSpec) -> Backend:
        started.append(create_backend(spec))
        return started[-1]

    monkeypatch.setattr(lazy_module, "create_backend", counting)
    a, b = (c.card for c in load_cards([EXAMPLES / "patchpilot.yaml",
                                        EXAMPLES / "diffsage.yaml"]))
    comp, paths, h2h = compare_cards(ws, a, b, "mock", ["builder"], head_to_head=True)
    assert len(started) == 1 and h2h is not None and len(h2h.rows) == 1
    doc = json.loads(paths[0].read_text())
    assert doc["head_to_head"] == h2h.model_dump(mode="json")
    # The file's row is the two stored judgments, each order's pick as the store holds it.
    [row] = doc["head_to_head"]["rows"]
    ab, ba = ws.store.get_pair(row["ab"]["key"]), ws.store.get_pair(row["ba"]["key"])
    assert ab and ba and ab.output and ba.output and (ab.first, ba.first) == (a.slug, b.slug)
    assert (row["persona"], row["ab"]["choice"], row["ba"]["choice"]) == (
        "builder", ab.output.choice, ba.output.choice)
    compare_cards(ws, a, b, "mock", ["builder"], head_to_head=True)
    assert len(started) == 1                                  # all stored: no engine at all
    # The flag off: what was judged stays in the files (a plain re-run used to drop it) ...
    _, _, kept = compare_cards(ws, a, b, "mock", ["builder"])
    assert kept is not None and kept.model_dump() == h2h.model_dump()
    assert json.loads(paths[0].read_text())["head_to_head"] == doc["head_to_head"]
    assert "## Head to head" in paths[1].read_text()
    # ... and a pair never judged has no head-to-head section.
    c = load_cards([EXAMPLES / "voicedesk.yaml"])[0].card
    _, other, none = compare_cards(ws, a, c, "mock", ["builder"])
    assert none is None and "head_to_head" not in json.loads(other[0].read_text())
    assert "## Head to head" not in other[1].read_text()
