"""The static site: ``OUTPUT/site/`` with index pages, a page per tool, a page per comparison.

Built from the store alone (no model calls). A build renders only the pages whose inputs
changed since the last one (``fingerprints``) and writes only files whose bytes changed
(``manifest``), so an unchanged rebuild of 100,000 tools writes nothing; files an earlier
build made for tools or pairs now gone are removed, files it did not make never are. The
index is split into pages of ``index.PAGE_SIZE`` tools. Which comparisons exist is a small
registry, ``OUTPUT/pairs.json``: ``panel compare A B`` adds its pair, ``panel site --pairs
category`` adds every pair of tools that share a category. Each comparison also gets a
Markdown draft and its chart as SVG beside the HTML, rendered from the same data.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

from panel.config.project import child
from panel.config.workspace import Workspace
from panel.errors import PanelError
from panel.inputs.cards import ToolCard
from panel.publish.fingerprints import SiteInputs, digest, site_inputs
from panel.publish.index import IndexRow, page_name, paginate, site_index
from panel.publish.manifest import (
    Manifest,
    load_manifest,
    present,
    remove_stale,
    save_manifest,
    write_if_changed,
)
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
from panel.verdict.community import load_votes
from panel.verdict.views import (
    ComparisonPage,
    ToolPage,
    assemble_tool_page,
    comparison_page,
    load_card,
    model_name,
)

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


def category_pairs(cards: Sequence[ToolCard]) -> list[tuple[str, str]]:
    """Every pair of tools within each category, by name order within the pair."""
    by_cat: dict[str, list[ToolCard]] = {}
    for c in sorted(cards, key=lambda c: c.name.lower()):
        by_cat.setdefault(c.category, []).append(c)
    return [(x.slug, y.slug) for group in by_cat.values() for x, y in combinations(group, 2)]


def reviewed_tools(ws: Workspace, model: str | None = None) -> list[ToolPage]:
    """A page for every tool that has a stored card and reviews by this model."""
    name, order = model_name(ws, model), ws.persona_order()
    pages = []
    for slug in ws.store.tools():
        latest = ws.store.latest(slug, name)
        if latest and ws.store.card_json(slug):
            pages.append(assemble_tool_page(ws, load_card(ws, slug), name, latest, order,
                                            load_votes(ws.output / "votes", slug)))
    return pages


@dataclass
class SiteSummary:
    """What a build made and changed, for the command's closing lines."""

    folder: Path
    tools: int = 0
    comparisons: int = 0
    added_pairs: int = 0
    skipped: list[str] = field(default_factory=list)
    written: list[str] = field(default_factory=list)
    """Files whose bytes changed (relative to ``folder``); none on an unchanged rebuild."""
    removed: list[str] = field(default_factory=list)
    """Files an earlier build made for tools, pairs or index pages that are gone."""


def build_site(ws: Workspace, model: str | None = None, pairs: str | None = None) -> SiteSummary:
    """Bring OUTPUT/site/ up to date with the store; ``pairs='category'`` first registers
    every same-category pair. Only pages whose inputs changed are rendered (see
    ``fingerprints``), and only files whose bytes changed are written (see ``manifest``)."""
    if pairs is not None and pairs not in PAIR_MODES:
        raise PanelError(f"unknown --pairs '{pairs}' (have: {', '.join(PAIR_MODES)})")
    build = SiteBuild.start(ws, model_name(ws, model))
    if pairs == "category":
        build.summary.added_pairs = len(add_pairs(ws, category_pairs(build.cards())))
    links = build.comparisons(load_pairs(ws))
    build.index(build.tool_pages(links), links)
    return build.finish()


@dataclass
class SiteBuild:
    """One `panel site` run: the inputs' fingerprints, the last manifest and the new one."""

    ws: Workspace
    model: str
    order: list[str]
    inputs: SiteInputs
    old: Manifest
    present: set[str]
    summary: SiteSummary
    new: Manifest = field(default_factory=Manifest)

    @classmethod
    def start(cls, ws: Workspace, model: str) -> SiteBuild:
        order = ws.persona_order()
        folder = ws.output / "site"
        return cls(ws, model, order, site_inputs(ws, model, order), load_manifest(ws.output),
                   present(folder), SiteSummary(folder=folder))

    def current(self, name: str, fingerprint: str) -> bool:
        """Whether file ``name`` was made from these very inputs and is still there."""
        self.new.files[name] = [fingerprint]
        return self.old.fingerprint(name) == fingerprint and name in self.present

    def write(self, path: Path, text: str) -> None:
        if write_if_changed(path, text):
            self.summary.written.append(path.relative_to(self.summary.folder).as_posix())

    def cards(self) -> list[ToolCard]:
        """The card of every reviewed tool (for ``--pairs category``)."""
        return [load_card(self.ws, slug) for slug in sorted(self.inputs.tools)]

    def comparisons(self, pairs: list[tuple[str, str]]) -> list[PairLink]:
        """Bring each registered comparison up to date; the links the index shows."""
        links = []
        for a, b in pairs:
            if a not in self.inputs.tools or b not in self.inputs.tools:
                self.summary.skipped.append(f"{a} vs {b}: no reviews by '{self.model}'")
                continue
            stem, fingerprint = f"compare/{a}-vs-{b}", self.inputs.for_comparison(a, b)
            fresh = [self.current(f"{stem}.{s}", fingerprint) for s in ("html", "md", "svg")]
            kept = self.old.extra(f"{stem}.html")
            link = PairLink(a, b, *kept) if all(fresh) and is_link(kept) else None
            if link is None:
                page = comparison_page(self.ws, a, b, self.model)
                for path, text in comparison_files(self.ws, page, self.summary.folder):
                    self.write(path, text)
                link = PairLink(a, b, page.title, page.a.card.category)
            self.new.files[f"{stem}.html"].append([link.title, link.category])
            links.append(link)
        self.summary.comparisons = len(links)
        return links

    def tool_pages(self, links: list[PairLink]) -> list[IndexRow]:
        """Bring every tool's page up to date; each tool's index row."""
        mine: dict[str, list[PairLink]] = {}
        for link in links:
            for slug in (link.a, link.b):
                mine.setdefault(slug, []).append(link)
        rows = []
        for slug in sorted(self.inputs.tools):
            name = f"tools/{slug}.html"
            fingerprint = self.inputs.for_tool(slug, [(p.a, p.b) for p in mine.get(slug, [])])
            row = IndexRow.load(self.old.extra(name)) if self.current(name, fingerprint) \
                else None
            if row is None:
                row = self.render_tool(slug, mine.get(slug, []))
            self.new.files[name].append(row.dump())
            rows.append(row)
        self.summary.tools = len(rows)
        return rows

    def render_tool(self, slug: str, links: list[PairLink]) -> IndexRow:
        card = load_card(self.ws, slug)
        votes = load_votes(self.ws.output / "votes", slug) if slug in self.inputs.voted else None
        page = assemble_tool_page(self.ws, card, self.model, self.ws.store.latest(slug, self.model),
                                  self.order, votes)
        self.write(child(self.summary.folder / "tools", slug, ".html", field="tool"),
                   tool_html(page, SiteLinks("../"), links))
        return IndexRow.of(page)

    def index(self, rows: list[IndexRow], links: list[PairLink]) -> None:
        """The index pages, each rendered only when its rows or the site index changed."""
        pages = paginate(rows)
        site = site_index(pages)
        for number, chunk in enumerate(pages, 1):
            name = page_name(number)
            shown = [(p.a, p.b, p.title, p.category) for p in links] if number == 1 else []
            fingerprint = digest(self.inputs.common, [r.dump() for r in chunk], site, shown)
            if not self.current(name, fingerprint):
                self.write(self.summary.folder / name,
                           index_html(chunk, number, site, links, self.model))

    def finish(self) -> SiteSummary:
        """Remove what earlier builds made and this one did not; record this build."""
        self.summary.removed = remove_stale(self.summary.folder, self.old, self.new)
        if self.summary.written:
            os.sync()  # pages are written without an fsync each (write_if_changed)
        save_manifest(self.ws.output, self.new, self.old)
        return self.summary


def is_link(kept: Any) -> bool:
    """Whether the manifest's note of a comparison is its [title, category]."""
    return isinstance(kept, list) and len(kept) == 2 and all(isinstance(k, str) for k in kept)


def comparison_files(ws: Workspace, page: ComparisonPage, folder: Path) -> list[tuple[Path, str]]:
    """The comparison as HTML, as a Markdown draft, and its chart as SVG."""
    threshold = ws.config.rubric.ship_threshold
    paths = [child(folder / "compare", page.stem, s, field="compare")
             for s in (".html", ".md", ".svg")]
    return [(paths[0], comparison_html(page, SiteLinks("../"), threshold)),
            (paths[1], comparison_markdown(page.comp, page.a.card, page.b.card,
                                           votes=(page.a.votes, page.b.votes),
                                           chart=paths[2].name, h2h=page.h2h,
                                           tallies={**page.a.tallies, **page.b.tallies})),
            (paths[2], chart_svg(page, threshold))]
