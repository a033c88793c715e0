"""The persona score chart: grouped horizontal bars for both tools, drawn as SVG on the server.

Why server-side SVG: the pages load nothing from the network and run none of our code to
draw a picture, and an SVG scales and prints sharply. Geometry is computed here; the markup
comes from ``templates/chart.svg.j2`` under the same autoescaping environment as the pages,
so a tool or persona name is always text, never markup.
"""

from __future__ import annotations

from dataclasses import dataclass

from panel.contract.records import ReviewRecord
from panel.verdict.head_to_head import Comparison

WIDTH = 680
LABEL_W = 120          # persona names, left of the bars
BAR_W = 460            # a score of 100
BAR_H = 16
ROW_H = 2 * BAR_H + 22
TOP = 74               # legend (two lines) and axis labels above the first row
COLORS = ("#2563eb", "#d97706")
NAME_MAX = 38


@dataclass(frozen=True)
class Bar:
    """One tool's score for one persona, or why there is none."""

    x: int
    y: int
    width: int
    color: str
    label: str


@dataclass(frozen=True)
class Row:
    """One persona: its label and two bars."""

    label: str
    y: int
    bars: tuple[Bar, Bar]


@dataclass(frozen=True)
class Chart:
    """Everything the SVG template draws."""

    width: int
    height: int
    left: int
    bar_w: int
    names: tuple[str, str]
    colors: tuple[str, str]
    rows: list[Row]
    ticks: list[tuple[int, int]]
    threshold: tuple[int, int] | None
    title: str
    top: int = TOP


def _short(name: str) -> str:
    return name if len(name) <= NAME_MAX else name[:NAME_MAX - 1] + "…"


def _bar(record: ReviewRecord | None, y: int, color: str) -> Bar:
    if record is None or not record.ok or record.score is None:
        return Bar(LABEL_W, y, 0, color, "not reviewed" if record is None else "failed")
    width = round(BAR_W * record.score / 100)
    return Bar(LABEL_W, y, width, color, f"{record.score} · {record.verdict}")


def score_chart(comp: Comparison, ship_threshold: int | None = None) -> Chart:
    """Lay out the chart: one row per persona, tool A's bar above tool B's."""
    rows = []
    for i, row in enumerate(comp.rows):
        y = TOP + i * ROW_H
        rows.append(Row(row.persona_name, y, (_bar(row.a, y, COLORS[0]),
                                              _bar(row.b, y + BAR_H + 4, COLORS[1]))))
    ticks = [(LABEL_W + BAR_W * t // 100, t) for t in (0, 25, 50, 75, 100)]
    threshold = (None if ship_threshold is None
                 else (LABEL_W + BAR_W * ship_threshold // 100, ship_threshold))
    return Chart(width=WIDTH, height=TOP + len(rows) * ROW_H + 8, left=LABEL_W, bar_w=BAR_W,
                 names=(_short(comp.a.tool_name), _short(comp.b.tool_name)), colors=COLORS,
                 rows=rows, ticks=ticks, threshold=threshold,
                 title=f"Persona scores: {comp.title}")
