"""Regenerate one persona on the real engine: a new seed, the others untouched."""

from __future__ import annotations

from panel.backends.base import Backend
from panel.config.workspace import Workspace
from panel.inputs.cards import load_cards
from panel.pipeline.run import review_cards
from panel.publish import editor

from conftest import EMBEDDED, EXAMPLES


def test_regenerate_one_persona_on_the_real_engine(ws: Workspace, engine: Backend) -> None:
    card = load_cards([EXAMPLES / "tracelens.yaml"])[0].card
    first = {r.persona: r for r in review_cards(ws, [card], EMBEDDED, ["builder", "skeptic"],
                                                 backend=engine).records}
    [done] = editor.regenerate(ws, card.slug, ["skeptic"], EMBEDDED, backend=engine)
    new = done.record
    assert not done.kept and new.sample == 1 and new.key != first["skeptic"].key
    assert new.attempts[0].seed != first["skeptic"].attempts[0].seed
    assert all(r.ok for r in (*first.values(), new))
    assert new.output is not None and new.output.review.startswith(card.name)
    assert {a.finish_reason for r in (*first.values(), new) for a in r.attempts} == {"stop"}
    shown = {r.persona: r.key for r in ws.store.latest(card.slug, EMBEDDED)}
    assert shown == {"builder": first["builder"].key, "skeptic": new.key}
    # approve it, then a re-run keeps it and spends no model time
    editor.approve(ws, card.slug, ["skeptic"], EMBEDDED)
    count = ws.store.count()
    [kept] = editor.regenerate(ws, card.slug, ["skeptic"], EMBEDDED, backend=engine)
    assert kept.kept and ws.store.count() == count
