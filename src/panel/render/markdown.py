"""Markdown for drafts: the comparison as an editor reads it before publishing."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from panel.cards import ToolCard
from panel.panel import Comparison
from panel.records import ReviewRecord
from panel.votes import Votes, votes_label

TEMPLATES = Path(__file__).parent / "templates"


def _env() -> Environment:
    """Markdown is not HTML: no autoescape, but model text is flattened to one line."""
    env = Environment(loader=FileSystemLoader(TEMPLATES), undefined=StrictUndefined,
                      autoescape=False, trim_blocks=True, lstrip_blocks=True)
    env.filters["cell"] = _cell
    env.globals["scoreline"] = scoreline
    return env


def _cell(text: object) -> str:
    """Make text safe inside a Markdown table cell: one line, pipes escaped, and angle
    brackets backslash-escaped so a Markdown-to-HTML step shows card text, never runs it."""
    flat = " ".join(str(text).split())
    return flat.replace("|", "\\|").replace("<", "\\<").replace(">", "\\>")


def scoreline(record: ReviewRecord | None) -> str:
    """"84/100 · ship", or why there is no score."""
    if record is None:
        return "not reviewed"
    if not record.ok:
        return "failed"
    state = "approved" if record.edit and record.edit.approved else (
        "edited" if record.edit else "draft")
    return f"{record.score}/100 · {record.verdict} ({state})"


def comparison_markdown(comp: Comparison, a: ToolCard, b: ToolCard,
                        votes: tuple[Votes | None, Votes | None] = (None, None),
                        chart: str | None = None) -> str:
    """The A-vs-B draft: decision table, the chart (if its SVG file is given), then the
    reviewer scorecard with each review marked draft, edited or approved."""
    return _env().get_template("comparison.md.j2").render(
        comp=comp, a=a, b=b, community=[votes_label(v) for v in votes], chart=chart)
