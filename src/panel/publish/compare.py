"""`panel compare`: review two tools and write the comparison files.

With ``head_to_head``, each persona also picks between the two in one prompt, in both
orders (``pipeline.pairwise``), and the files carry that result beside the scorecard.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from panel.backends import Backend
from panel.backends.lazy import LazyBackend
from panel.config.settings import SamplesChoice, samples_policy
from panel.config.workspace import Workspace
from panel.contract.records import ReviewRecord
from panel.inputs.cards import ToolCard, load_cards
from panel.pipeline.run import Progress, register_cards, review_cards
from panel.store.files import atomic_write
from panel.verdict.head_to_head import Comparison, HeadToHead, compare
from panel.verdict.samples import SampleTally, shown_reviews
from panel.verdict.views import judged_pair


def compare_cards(ws: Workspace, a: ToolCard, b: ToolCard, model: str | None = None,
                  personas: list[str] | None = None, backend: Backend | None = None,
                  progress: Progress | None = None, head_to_head: bool = False,
                  judge_progress: Progress | None = None, samples: SamplesChoice = None,
                  ) -> tuple[Comparison, list[Path], HeadToHead | None]:
    """Review both tools (reusing stored reviews; ``samples`` per persona), judge them head
    to head if asked (reusing stored judgments), and write the comparison JSON + Markdown."""
    shared = None
    # one engine for reviews and judgments, started only if one of them has work to do
    if head_to_head and backend is None:
        backend = shared = LazyBackend(ws.settings(model).spec)
    try:
        return _compare(ws, a, b, model, personas, backend, progress, head_to_head,
                        judge_progress, samples)
    finally:
        if shared is not None:
            shared.close()


def _shown(ws: Workspace, slug: str, model: str) -> list[tuple[ReviewRecord, SampleTally | None]]:
    """Each persona's shown review of a tool (and its tally over several samples)."""
    return shown_reviews(ws.store.latest(slug, model), lambda: ws.store.reviews(slug, model),
                         ws.config.rubric, ws.config.samples)


def _compare(ws: Workspace, a: ToolCard, b: ToolCard, model: str | None,
             personas: list[str] | None, backend: Backend | None, progress: Progress | None,
             head_to_head: bool, judge_progress: Progress | None,
             samples: SamplesChoice = None,
             ) -> tuple[Comparison, list[Path], HeadToHead | None]:
    from panel.config.project import child
    from panel.publish.render.markdown import comparison_markdown
    from panel.verdict.community import load_votes

    summary = review_cards(ws, [a, b], model, personas,
                           samples=samples_policy(samples, ws.config.samples), backend=backend,
                           progress=progress)
    # What the pages show: per persona the editor's pinned review, else the newest sample
    # (of several, the newest that agrees with their majority).
    asked = {r.persona for r in summary.records}
    name = ws.settings(model).spec.name
    shown = [[(r, t) for r, t in _shown(ws, c.slug, name) if r.persona in asked]
             for c in (a, b)]
    recs_a, recs_b = ([r for r, _ in side] for side in shown)
    tallies = {r.key: t for side in shown for r, t in side if t is not None}
    comp = compare(recs_a, recs_b, ws.config.rubric, ws.persona_order())
    h2h = None
    if head_to_head:
        from panel.pipeline.pairwise import judge_pairs

        [h2h] = judge_pairs(ws, [(a, b)], model, personas, backend, judge_progress)
    else:  # judgments an earlier --head-to-head run stored stay in the files, as on the site
        h2h = judged_pair(ws, a, b, name)
    votes = (load_votes(ws.output / "votes", a.slug), load_votes(ws.output / "votes", b.slug))
    folder = ws.output / "compare"
    folder.mkdir(parents=True, exist_ok=True)
    json_path, md_path = (child(folder, f"{a.slug}-vs-{b.slug}", s, field="compare")
                          for s in (".json", ".md"))
    doc: dict[str, Any] = {"title": comp.title, "cards": {"a": a.model_dump(mode="json"),
                                                          "b": b.model_dump(mode="json")},
                           **comp.model_dump(mode="json")}
    if h2h is not None:
        doc["head_to_head"] = h2h.model_dump(mode="json")
    atomic_write(json_path, json.dumps(doc, indent=2, ensure_ascii=False))
    atomic_write(md_path, comparison_markdown(comp, a, b, votes=votes, h2h=h2h,
                                              tallies=tallies))
    return comp, [json_path, md_path], h2h


@dataclass
class Compared:
    """What `panel compare` did: the comparison, the files written, and whether the pair
    was new to the site's list of comparisons."""

    comparison: Comparison
    paths: list[Path]
    pair: tuple[str, str]
    pair_added: bool
    head_to_head: HeadToHead | None = None


def compare_files(ws: Workspace, *, cards: Sequence[str], model: str | None = None,
                  personas: list[str] | None = None, progress: Progress | None = None,
                  head_to_head: bool = False, judge_progress: Progress | None = None,
                  samples: SamplesChoice = None) -> Compared:
    """`panel compare A B`: load both cards, compare them (and judge them head to head if
    asked), add the pair to the site."""
    from panel.publish.site import add_pair

    loaded = load_cards(cards)
    register_cards(ws, loaded)
    card_a, card_b = (c.card for c in loaded)
    comp, paths, h2h = compare_cards(ws, card_a, card_b, model, personas, progress=progress,
                                     head_to_head=head_to_head, judge_progress=judge_progress,
                                     samples=samples)
    added = add_pair(ws, card_a.slug, card_b.slug)
    return Compared(comp, paths, (card_a.slug, card_b.slug), added, h2h)
