"""The site's index, split into pages of at most ``PAGE_SIZE`` tools.

One page holding every tool grows with the store (1.95 MB at 5,000 tools, ~40 MB at
100,000), so the index is ``index.html``, ``index-2.html``, … in the default order (panel
ship share, high to low, then name). What a page shows of a tool is an ``IndexRow``, kept
in the site's manifest, so a rebuild makes the index without reading any unchanged tool's
reviews. Every page also carries the small site index the sort/filter script reads: the
page files and, per category, on which pages and how many of its tools are.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from panel.verdict.views import ToolPage

PAGE_SIZE = 500
"""Tools per index page: about 250 kB of HTML at the synthetic cards' lengths."""


@dataclass(frozen=True)
class IndexRow:
    """What the index shows of one tool."""

    slug: str
    name: str
    tagline: str
    category: str
    verdict: str | None
    badge: str
    label: str
    ship: float | None
    ship_pct: str
    community: str
    entry: str

    @classmethod
    def of(cls, page: ToolPage) -> IndexRow:
        return cls(page.slug, page.card.name, page.card.tagline, page.card.category,
                   page.panel.verdict, page.badge, page.panel.label, page.panel.ship_pct,
                   page.ship_pct, page.community, page.card.entry.value.title())

    @classmethod
    def load(cls, data: Any) -> IndexRow | None:
        """A row from the manifest, or None when it is not one (then the page is rebuilt)."""
        try:
            row = cls(*data)
        except TypeError:
            return None
        texts = (row.slug, row.name, row.tagline, row.category, row.badge, row.label,
                 row.ship_pct, row.community, row.entry)
        ok = (all(isinstance(t, str) for t in texts)
              and (row.verdict is None or isinstance(row.verdict, str))
              and (row.ship is None or isinstance(row.ship, int | float)))
        return row if ok else None

    def dump(self) -> list[Any]:
        """The row as the manifest keeps it (``load`` reads it back); no deep copy."""
        return list(vars(self).values())

    def order(self) -> tuple[float, str]:
        """The index's default order: ship share high to low (none last), then name."""
        return (-(-1 if self.ship is None else self.ship), self.name.lower())


def page_name(number: int) -> str:
    """``index.html`` for the first page, ``index-N.html`` after it."""
    return "index.html" if number == 1 else f"index-{number}.html"


def paginate(rows: Iterable[IndexRow], size: int | None = None) -> list[list[IndexRow]]:
    """Rows in the default order, in pages of ``size`` (default ``PAGE_SIZE``), and one
    empty page when there are no rows."""
    ordered = sorted(rows, key=IndexRow.order)
    size = size or PAGE_SIZE
    return [ordered[i:i + size] for i in range(0, len(ordered), size)] or [[]]


def site_index(pages: Sequence[Sequence[IndexRow]]) -> dict[str, Any]:
    """What the script needs of the whole index: the page files, and per category
    ``[[page number, tools on it], ...]``, so a filter can point to the other pages."""
    categories: dict[str, dict[int, int]] = {}
    for number, rows in enumerate(pages, 1):
        for row in rows:
            on = categories.setdefault(row.category, {})
            on[number] = on.get(number, 0) + 1
    return {"pages": [page_name(n) for n in range(1, len(pages) + 1)],
            "categories": {c: sorted(on.items()) for c, on in sorted(categories.items())}}
