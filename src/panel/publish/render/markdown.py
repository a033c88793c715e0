"""Markdown for drafts: the comparison as an editor reads it before publishing."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from panel.contract.records import ReviewRecord
from panel.inputs.cards import ToolCard
from panel.publish.render.urls import http_url, link_destination
from panel.verdict.community import Votes, votes_label
from panel.verdict.evidence import claims, evidence
from panel.verdict.head_to_head import Comparison, HeadToHead, Order, OrderPick
from panel.verdict.samples import SampleTally
from panel.verdict.views import expected_label

TEMPLATES = Path(__file__).parent / "templates"


def _env() -> Environment:
    """Markdown is not HTML: no autoescape; every untrusted value goes through ``md``."""
    env = Environment(loader=FileSystemLoader(TEMPLATES), undefined=StrictUndefined,
                      autoescape=False, trim_blocks=True, lstrip_blocks=True)
    env.filters["md"] = md_escape
    env.filters["md_url"] = md_url
    env.filters["md_dest"] = link_destination
    env.globals["scoreline"] = scoreline
    env.globals["pickline"] = pickline
    env.globals["evidence"] = evidence
    env.globals["claims"] = claims
    return env


# Every ASCII punctuation character that can open, close or break a CommonMark (or common
# extension: tables, strikethrough, math, attributes) construct. Backslash-escaping any ASCII
# punctuation is always legal in CommonMark, so over-escaping never shows a stray backslash.
MD_SPECIAL = "\\`*_{}[]()#+-.!|<>~&=$"
_SPECIAL = re.compile("([" + re.escape(MD_SPECIAL) + "])")


def md_escape(text: object) -> str:
    """Untrusted text as inert Markdown on one line: shown exactly, never run.

    White space (newlines included) collapses to single spaces, so the text cannot start a
    block (heading, list, code block, table row) or end a table cell's line; control
    characters become U+FFFD (CommonMark does this to NUL itself). Then each special
    character gets a backslash in one pass, so the backslash is escaped before any other
    escape is added and ``\\<img>`` stays text: no link, image, autolink, raw HTML, entity,
    emphasis, code span or cell break can form.
    """
    flat = " ".join(str(text).split())
    flat = "".join("\ufffd" if unicodedata.category(ch) == "Cc" else ch for ch in flat)
    return _SPECIAL.sub(r"\\\1", flat)


def md_url(url: str | None) -> str:
    """A card's URL: an autolink when it is http(s), else its text, escaped; '–' if none."""
    if not url:
        return "–"
    safe = http_url(url)
    return f"<{link_destination(safe)}>" if safe else md_escape(url)


def scoreline(record: ReviewRecord | None, tally: SampleTally | None = None) -> str:
    """"84/100 · ship (draft)", "84/100 · ship · expected 78.2 (draft)" where the model's
    expected score is known, "... · ship · 4 of 5 samples (draft)" for several samples
    (and "needs an editor" when they stayed split), or why there is no score."""
    if record is None:
        return "not reviewed"
    if not record.ok:
        return "failed"
    state = "approved" if record.edit and record.edit.approved else (
        "edited" if record.edit else "draft")
    expected = expected_label(record)
    extra = "".join(f" · {x}" for x in (expected, tally and tally.label,
                                        tally and tally.needs_editor and "needs an editor")
                    if x)
    return f"{record.score}/100 · {record.verdict}{extra} ({state})"


def pickline(h2h: HeadToHead, order: Order, pick: OrderPick | None) -> str:
    """One order's judgment: "PatchPilot first: second, margin 70: <reason>", or why none."""
    shown = f"{h2h.shown_first(order)} first"
    if pick is None:
        return f"{shown}: not judged"
    if pick.choice is None:
        return f"{shown}: failed: {pick.failure}"
    return f"{shown}: {pick.choice}, margin {pick.margin}: {pick.reason}"


def comparison_markdown(comp: Comparison, a: ToolCard, b: ToolCard,
                        votes: tuple[Votes | None, Votes | None] = (None, None),
                        chart: str | None = None, h2h: HeadToHead | None = None,
                        tallies: Mapping[str, SampleTally] | None = None) -> str:
    """The A-vs-B draft: decision table, the chart (if its SVG file is given), the
    head-to-head (if judged), then the reviewer scorecard with each review marked draft,
    edited or approved."""
    return _env().get_template("comparison.md.j2").render(
        comp=comp, a=a, b=b, community=[votes_label(v) for v in votes], chart=chart, h2h=h2h,
        tallies=tallies or {})
