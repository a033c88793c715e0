"""What a page shows, gathered from the store once: the data behind every renderer.

The static site, the Markdown drafts and the editor's web app all render these objects, so
a tool's panel reads the same everywhere: the newest review per persona (or the one an
editor edited or approved, which re-runs never supersede), the panel verdict recomputed from
the effective scores, the card, and the community votes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from panel.config.workspace import Workspace
from panel.contract.records import ReviewRecord
from panel.errors import PanelError
from panel.inputs.cards import ToolCard, slugify
from panel.verdict.community import Votes, load_votes, votes_label
from panel.verdict.head_to_head import Comparison, HeadToHead, compare, stored_head_to_head
from panel.verdict.majority import PanelVerdict, panel_verdict
from panel.verdict.samples import SampleTally, shown_reviews

ReviewState = Literal["draft", "edited", "approved"]


def review_state(record: ReviewRecord) -> ReviewState:
    """Whether an editor has touched a review: approved wins over edited over draft."""
    if record.edit and record.edit.approved:
        return "approved"
    return "edited" if record.edit else "draft"


def expected_label(record: ReviewRecord | None) -> str | None:
    """"expected 68.4" beside the model's own score when its log-probabilities gave one.

    None where there is none (a backend without log-probabilities, an older review) and
    once an editor changed the score: the expectation describes the model's score, not the
    editor's.
    """
    if record is None or not record.ok or record.expected_score is None:
        return None
    if record.edit and record.edit.score is not None:
        return None
    return f"expected {record.expected_score:.1f}"


def model_name(ws: Workspace, model: str | None) -> str:
    """The registry name reviews are stored under ($PANEL_MODEL / default when None)."""
    return ws.registry.get(model).name


def load_card(ws: Workspace, tool: str) -> ToolCard:
    """The card a tool was reviewed from; ``tool`` is its slug or its name."""
    slug = tool if ws.store.card_json(tool) else slugify(tool)
    raw = ws.store.card_json(slug)
    if raw is None:
        raise PanelError(f"no tool '{tool}' in {ws.store.path}; review its card first")
    return ToolCard.model_validate_json(raw)


def persona_sorted(ws: Workspace, records: list[ReviewRecord]) -> list[ReviewRecord]:
    """Reviews in the panel's persona order; personas no longer on file go last."""
    return in_persona_order(records, ws.persona_order())


def in_persona_order(records: list[ReviewRecord], order: Sequence[str]) -> list[ReviewRecord]:
    """``persona_sorted`` for an order read once: a site of many tools reads it once."""
    return sorted(records, key=lambda r: (order.index(r.persona) if r.persona in order
                                          else len(order), r.persona))


@dataclass(frozen=True)
class ToolPage:
    """One tool: its card, its panel and the reviews behind it, and its votes."""

    card: ToolCard
    model: str
    reviews: list[ReviewRecord]
    panel: PanelVerdict
    votes: Votes | None
    tallies: Mapping[str, SampleTally] = field(default_factory=dict)
    """Review key -> its persona's samples counted, for personas with several samples."""

    @property
    def slug(self) -> str:
        return self.card.slug

    @property
    def community(self) -> str:
        return votes_label(self.votes)

    @property
    def ship_pct(self) -> str:
        """"75%", or a dash when no review voted."""
        return "–" if self.panel.ship_pct is None else f"{self.panel.ship_pct:g}%"

    @property
    def badge(self) -> str:
        """Ship, Skip, or No verdict: the word on the tool's badge."""
        return self.panel.verdict.title() if self.panel.verdict else "No verdict"


def tool_page(ws: Workspace, tool: str, model: str | None = None) -> ToolPage:
    """Gather one tool's page from the store (raises if the model never reviewed it)."""
    card = load_card(ws, tool)
    name = model_name(ws, model)
    return assemble_tool_page(ws, card, name, ws.store.latest(card.slug, name),
                              ws.persona_order(), load_votes(ws.output / "votes", card.slug))


def assemble_tool_page(ws: Workspace, card: ToolCard, model: str, latest: list[ReviewRecord],
                       order: Sequence[str], votes: Votes | None) -> ToolPage:
    """``tool_page`` from what a caller of many tools reads once (the persona order, which
    tools have votes) and what it already holds; raises if ``latest`` is empty. A persona
    with several samples shows their majority's review and its tally."""
    shown = shown_reviews(latest, lambda: ws.store.reviews(card.slug, model),
                          ws.config.rubric, ws.config.samples)
    reviews = in_persona_order([r for r, _ in shown], order)
    if not reviews:
        raise PanelError(f"'{card.name}' has no reviews by model '{model}'")
    return ToolPage(card=card, model=model, reviews=reviews,
                    panel=panel_verdict(reviews, ws.config.rubric), votes=votes,
                    tallies={r.key: t for r, t in shown if t is not None})


@dataclass(frozen=True)
class ComparisonPage:
    """Tool A vs Tool B: both tool pages and the persona-by-persona comparison."""

    a: ToolPage
    b: ToolPage
    comp: Comparison
    h2h: HeadToHead | None = None
    """The stored head-to-head of the pair (either tool shown first), if it was judged."""

    @property
    def title(self) -> str:
        return self.comp.title

    @property
    def stem(self) -> str:
        """File stem of the comparison's pages: ``a-vs-b``."""
        return f"{self.a.slug}-vs-{self.b.slug}"


def comparison_page(ws: Workspace, a: str, b: str, model: str | None = None) -> ComparisonPage:
    """Gather an A-vs-B page from the store, with its head-to-head when one was judged."""
    page_a, page_b = tool_page(ws, a, model), tool_page(ws, b, model)
    comp = compare(page_a.reviews, page_b.reviews, ws.config.rubric, ws.persona_order())
    return ComparisonPage(a=page_a, b=page_b, comp=comp, h2h=head_to_head_of(ws, page_a, page_b))


def head_to_head_of(ws: Workspace, a: ToolPage, b: ToolPage) -> HeadToHead | None:
    """The newest stored judgments of A vs B by the pages' model; None if never judged."""
    return judged_pair(ws, a.card, b.card, a.model)


def judged_pair(ws: Workspace, a: ToolCard, b: ToolCard, model: str) -> HeadToHead | None:
    """A vs B from the store's newest judgments by ``model``; None if never judged."""
    records = ws.store.pair_judgments(a.slug, b.slug, model)
    if not records:
        return None
    return stored_head_to_head(a.slug, b.slug, a.name, b.name, model, records,
                               ws.persona_order())
