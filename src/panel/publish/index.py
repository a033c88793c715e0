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
from dataclasses import dataclass, fields
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
        """A row from the manifest, or None when it is not one (then the page is rebuilt).
        Checked in C-level passes: 100,000 rows are read on every rebuild."""
        if not isinstance(data, list) or len(data) != _WIDTH:
            return None
        if not set(map(type, map(data.__getitem__, _KINDS["str"]))) <= {str}:
            return None
        if not all(data[i] is None or type(data[i]) is str for i in _KINDS["str | None"]):
            return None
        if not all(data[i] is None or type(data[i]) in (int, float)
                   for i in _KINDS["float | None"]):
            return None
        return cls(*data)

    def dump(self) -> list[Any]:
        """The row as the manifest keeps it (``load`` reads it back); no deep copy."""
        return list(vars(self).values())

    def order(self) -> tuple[float, str]:
        """The index's default order: ship share high to low (none last), then name."""
        return (-(-1 if self.ship is None else self.ship), self.name.lower())


def _positions() -> dict[str, list[int]]:
    """The positions of IndexRow's fields by declared type: how ``load`` checks a row."""
    kinds: dict[str, list[int]] = {}
    for i, f in enumerate(fields(IndexRow)):
        kinds.setdefault(str(f.type), []).append(i)
    return kinds


_KINDS = _positions()
_WIDTH = len(fields(IndexRow))


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
