"""The real engine on the embedded model: two cards, four personas, every review valid.

The grammar bounds the reply below ``max_tokens`` and validation accepts whatever the
grammar allows (tests/contract/test_bound.py), so every first attempt is valid: no retry,
no length failure."""

from __future__ import annotations

import json

from panel.backends.base import Backend
from panel.config.workspace import Workspace
from panel.inputs.cards import load_cards
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
        assert rec.ok and rec.output is not None, rec.failure
        assert [a.finish_reason for a in rec.attempts] == ["stop"], rec.attempts
        assert 0 <= rec.output.score <= 100
        assert rubric.allows(rec.output.score, rec.output.verdict)
        assert rec.output.review.startswith(rec.tool_name)
        assert 0 < rec.attempts[0].output_tokens <= engine.spec.sampling.max_tokens
        text = rec.attempts[0].text  # compact JSON, as the grammar allows nothing else
        assert text == json.dumps(json.loads(text), separators=(",", ":"), ensure_ascii=False)
