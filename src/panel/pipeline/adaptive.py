"""Samples per persona under ``auto``: sample again only while a persona is unsure.

Most personas are sure of most cards: one or two samples decide them, while a verdict
near the rubric's thresholds is close to a coin flip and needs many more for its majority
to hold. ``auto`` runs in rounds: round ``i`` draws sample ``i`` of every persona x card
still uncertain (``verdict/samples.tally``: P(ship) inside the band, or tied), until none
is or the cap is reached; a persona uncertain at the cap *needs an editor*. Every sample
is an ordinary review with its own store key (the sample index is in it), so a re-run
reuses them, and a fixed count later reuses the samples ``auto`` drew.

The rounds run inside one window of cards (``pipeline.run.Session``), so what they hold is
bounded by the window, and the loop here knows only two callables: how to draw a round
(the session's leased, store-first review of some keys) and how to read records back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from panel.config.settings import Samples
from panel.contract.output import Rubric
from panel.contract.records import ReviewRecord
from panel.inputs.cards import ToolCard
from panel.inputs.personas import Persona
from panel.verdict.samples import tally

Pending = list[tuple[ToolCard, list[Persona]]]
"""Each card with the personas that still draw a sample of it."""
Draw = Callable[[Pending, int], list[str]]
"""Review sample ``index`` of each pending card x persona; return their keys."""


def sample_until_sure(cards: Sequence[ToolCard], people: Sequence[Persona], policy: Samples,
                      rubric: Rubric, draw: Draw,
                      fetch: Callable[[list[str]], Iterable[ReviewRecord]],
                      ) -> tuple[list[str], int]:
    """Every key drawn for ``cards``, and how many personas still need an editor at the
    cap. A review the server could not make counts as no sample (the persona stays
    uncertain and draws the next index)."""
    pending: Pending = [(c, list(people)) for c in cards]
    drawn: dict[tuple[str, str], list[ReviewRecord]] = {}
    keys: list[str] = []
    for index in range(policy.cap):
        if not pending:
            break
        made = draw(pending, index)
        keys += made
        for rec in fetch(made):
            drawn.setdefault((rec.tool, rec.persona), []).append(rec)
        pending = [(c, unsure) for c, persons in pending
                   if (unsure := [p for p in persons if tally(
                       drawn.get((c.slug, p.key), []), rubric, policy).uncertain])]
    editor = sum(tally(rs, rubric, policy).needs_editor for rs in drawn.values())
    return keys, editor
