"""What pages show of the evidence: the card's description with the quoted sentences
marked, the sentences no persona used, and each review's claims outside the card.

Every renderer (site, Markdown, editor app) reads these, so a quote is highlighted the
same way everywhere. The quotes are the card's own candidates (``contract/evidence``), so
a highlight is a span of the description, found by position, never by searching the text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from panel.contract.claims import unsupported_claims
from panel.contract.evidence import card_quotes
from panel.contract.records import ReviewRecord
from panel.inputs.cards import ToolCard


@dataclass(frozen=True)
class Segment:
    """A piece of the description: plain text between candidates, or one candidate with
    the personas that quoted it (empty: no persona used it)."""

    text: str
    candidate: bool
    quoted_by: tuple[str, ...] = ()

    @property
    def quoted(self) -> bool:
        return bool(self.quoted_by)


def description_segments(card: ToolCard, reviews: Sequence[ReviewRecord]) -> list[Segment]:
    """The whole description, in order, cut at its candidates' spans."""
    users: dict[str, list[str]] = {}
    for r in reviews:
        for quote in evidence(r):
            users.setdefault(quote, []).append(r.persona_name)
    out: list[Segment] = []
    at, text = 0, card.description
    for q in card_quotes(text):
        if q.start > at:
            out.append(Segment(text[at:q.start], candidate=False))
        out.append(Segment(q.text, candidate=True, quoted_by=tuple(users.get(q.text, ()))))
        at = q.end
    if at < len(text):
        out.append(Segment(text[at:], candidate=False))
    return out


def unused_sentences(card: ToolCard, reviews: Sequence[ReviewRecord]) -> list[str]:
    """The candidates no review quoted: what the panel's reasoning never rested on."""
    return [s.text for s in description_segments(card, reviews) if s.candidate and not s.quoted]


def claims(record: ReviewRecord | None, card: ToolCard) -> list[str]:
    """The unsupported claims of the text a page shows: the record's, or those of the
    editor's text when an editor rewrote it."""
    if record is None or not record.ok:
        return []
    if record.edit is not None and record.edit.review is not None:
        return unsupported_claims(record.edit.review, card)
    return list(record.unsupported)


def evidence(record: ReviewRecord | None) -> list[str]:
    """A review's quotes, each once, in its order; none once an editor rewrote its text
    (the quotes were what the model's text rested on, not the editor's)."""
    if record is None or record.output is None:
        return []
    if record.edit is not None and record.edit.review is not None:
        return []
    return list(dict.fromkeys(record.output.evidence))
