"""The static site: ``OUTPUT/site/`` with an index, a page per tool, a page per comparison.

Built from the store alone (no model calls), so it can be rebuilt after every edit in a
second. Which comparisons exist is a small registry, ``OUTPUT/pairs.json``: ``panel
compare A B`` adds its pair, ``panel site --pairs category`` adds every pair of tools that
share a category. Each comparison also gets a Markdown draft and its chart as SVG beside
the HTML, rendered from the same data.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path

from panel.config.project import child
from panel.config.workspace import Workspace
from panel.errors import PanelError
from panel.publish.render.html import (
    PairLink,
    SiteLinks,
    chart_svg,
    comparison_html,
    index_html,
    tool_html,
)
from panel.publish.render.markdown import comparison_markdown
from panel.store.files import atomic_write
from panel.verdict.views import ComparisonPage, ToolPage, comparison_page, model_name, tool_page

PAIRS_FILE = "pairs.json"
PAIR_MODES = ("category",)


def pairs_path(ws: Workspace) -> Path:
    return ws.output / PAIRS_FILE


def load_pairs(ws: Workspace) -> list[tuple[str, str]]:
    """The registered comparisons, in the order they were added."""
    path = pairs_path(ws)
    if not path.is_file():
        return []
    try:
        return [(a, b) for a, b in json.loads(path.read_text(encoding="utf-8"))]
    except (ValueError, TypeError) as exc:
        raise PanelError(f"{path}: not a list of [a, b] slug pairs ({exc})") from None


def add_pairs(ws: Workspace, pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Register comparisons; A-vs-B and B-vs-A are one pair. Returns the new ones."""
    known = load_pairs(ws)
    seen = {frozenset(p) for p in known}
    new = [p for p in pairs if p[0] != p[1] and frozenset(p) not in seen
           and not seen.add(frozenset(p))]  # type: ignore[func-returns-value]
    if new:
        atomic_write(pairs_path(ws), json.dumps([list(p) for p in known + new], indent=1))
    return new


def add_pair(ws: Workspace, a: str, b: str) -> bool:
    """Register one comparison (what `panel compare A B` does); True if it was new."""
    return bool(add_pairs(ws, [(a, b)]))


def category_pairs(tools: list[ToolPage]) -> list[tuple[str, str]]:
    """Every pair of tools within each category, by name order within the pair."""
    by_cat: dict[str, list[ToolPage]] = {}
    for t in sorted(tools, key=lambda t: t.card.name.lower()):
        by_cat.setdefault(t.card.category, []).append(t)
    return [(x.slug, y.slug) for group in by_cat.values() for x, y in combinations(group, 2)]


def reviewed_tools(ws: Workspace, model: str | None = None) -> list[ToolPage]:
    """A page for every tool that has a stored card and reviews by this model."""
    name = model_name(ws, model)
    pages = []
    for slug in ws.store.tools():
        if ws.store.card_json(slug) and ws.store.latest(slug, name):
            pages.append(tool_page(ws, slug, name))
    return pages


@dataclass
class SiteSummary:
    """What a build wrote, for the command's closing lines."""

    folder: Path
    tools: int = 0
    comparisons: int = 0
    added_pairs: int = 0
    skipped: list[str] = field(default_factory=list)


def build_site(ws: Workspace, model: str | None = None, pairs: str | None = None) -> SiteSummary:
    """Write OUTPUT/site/ from the store; ``pairs='category'`` first registers every
    same-category pair."""
    if pairs is not None and pairs not in PAIR_MODES:
        raise PanelError(f"unknown --pairs '{pairs}' (have: {', '.join(PAIR_MODES)})")
    name = model_name(ws, model)
    tools = reviewed_tools(ws, name)
    summary = SiteSummary(folder=ws.output / "site", tools=len(tools))
    if pairs == "category":
        summary.added_pairs = len(add_pairs(ws, category_pairs(tools)))
    by_slug = {t.slug: t for t in tools}
    links: list[PairLink] = []
    for a, b in load_pairs(ws):
        if a not in by_slug or b not in by_slug:
            summary.skipped.append(f"{a} vs {b}: no reviews by '{name}'")
            continue
        page = comparison_page(ws, a, b, name)
        write_comparison(ws, page, summary.folder)
        links.append(PairLink(a, b, page.title, by_slug[a].card.category))
    summary.comparisons = len(links)
    for t in tools:
        mine = [p for p in links if t.slug in (p.a, p.b)]
        atomic_write(child(summary.folder / "tools", t.slug, ".html", field="tool"),
                     tool_html(t, SiteLinks("../"), mine))
    atomic_write(summary.folder / "index.html", index_html(tools, links, name))
    return summary


def write_comparison(ws: Workspace, page: ComparisonPage, folder: Path) -> list[Path]:
    """The comparison as HTML, as a Markdown draft, and its chart as SVG."""
    threshold = ws.config.rubric.ship_threshold
    paths = [child(folder / "compare", page.stem, s, field="compare")
             for s in (".html", ".md", ".svg")]
    atomic_write(paths[0], comparison_html(page, SiteLinks("../"), threshold))
    atomic_write(paths[1], comparison_markdown(page.comp, page.a.card, page.b.card,
                                         votes=(page.a.votes, page.b.votes),
                                         chart=paths[2].name, h2h=page.h2h,
                                         tallies={**page.a.tallies, **page.b.tallies}))
    atomic_write(paths[2], chart_svg(page, threshold))
    return paths


