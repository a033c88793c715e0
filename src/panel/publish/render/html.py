"""HTML pages: jinja2 with autoescape on, one base layout with inline CSS, no external assets.

Card text and model text are untrusted (a launch feed writes one, a model the other), so
nothing they contain is ever marked safe: every value goes through autoescaping. Each page
also carries a Content-Security-Policy that allows no script but our own inline one (by its
hash) and loads nothing from the network, so a page is safe even if escaping were missed.
A card's ``url`` becomes an ``href`` only when ``http_url`` accepts it (http or https);
anything else is shown as text.
Links are produced by a ``Links`` object, so the static site (relative ``.html`` files) and
the web app (routes) render the same templates.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from panel.contract.records import ReviewRecord
from panel.publish.index import IndexRow
from panel.publish.render.chart import score_chart
from panel.publish.render.urls import http_url
from panel.verdict.evidence import claims, description_segments, evidence, unused_sentences
from panel.verdict.samples import SampleTally
from panel.verdict.views import ComparisonPage, ToolPage, expected_label, review_state

TEMPLATES = Path(__file__).parent / "templates"
INDEX_SCRIPT = TEMPLATES / "index.js"


class Links(Protocol):
    """Where a page links to: static files or web-app routes."""

    def index(self) -> str: ...
    def tool(self, slug: str) -> str: ...
    def compare(self, a: str, b: str) -> str: ...


@dataclass(frozen=True)
class SiteLinks:
    """Relative links between the static site's files; ``root`` climbs to the site root."""

    root: str = ""

    def index(self) -> str:
        return f"{self.root}index.html"

    def tool(self, slug: str) -> str:
        return f"{self.root}tools/{quote(slug, safe='')}.html"  # slugs may be non-ASCII

    def compare(self, a: str, b: str) -> str:
        return f"{self.root}compare/{quote(f'{a}-vs-{b}', safe='')}.html"


@dataclass(frozen=True)
class PairLink:
    """A comparison to link to: its two slugs, title and category (for filtering)."""

    a: str
    b: str
    title: str
    category: str


@cache
def environment() -> Environment:
    """Autoescape on for every template (HTML and SVG); unknown names are errors."""
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.globals["review_state"] = review_state
    env.globals["expected_label"] = expected_label
    env.globals["description_segments"] = description_segments
    env.globals["unused_sentences"] = unused_sentences
    env.globals["evidence"] = evidence
    env.globals["claims"] = claims
    env.globals["tally_of"] = tally_of
    env.filters["http_url"] = http_url
    return env


def tally_of(page: ToolPage, record: ReviewRecord | None) -> SampleTally | None:
    """The samples behind a persona's shown review, when it has several."""
    return page.tallies.get(record.key) if record is not None else None


def csp(script: str | None = None) -> str:
    """No network, no plugins, and at most one inline script: ours, pinned by its hash."""
    scripts = f"'sha256-{script_hash(script)}'" if script else "'none'"
    return (f"default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
            f"script-src {scripts}; base-uri 'none'; form-action 'self'")


def script_hash(script: str) -> str:
    return base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()


def render(template: str, **context: Any) -> str:
    """Render one template; the web app uses this for its own pages."""
    context.setdefault("csp", csp())
    context.setdefault("editor", False)
    return environment().get_template(template).render(**context)


def tool_html(page: ToolPage, links: Links, comparisons: Sequence[PairLink] = (),
              editor: bool = False) -> str:
    """A tool's page: its card, badge, votes and every persona's review."""
    return render("tool.html.j2", page=page, links=links, comparisons=list(comparisons),
                  model=page.model, editor=editor)


def comparison_html(page: ComparisonPage, links: Links, ship_threshold: int | None = None,
                    editor: bool = False) -> str:
    """The A-vs-B page: both cards, the score chart, decision table and scorecard."""
    return render("comparison.html.j2", page=page, links=links, model=page.a.model,
                  chart=score_chart(page.comp, ship_threshold), editor=editor)


def chart_svg(page: ComparisonPage, ship_threshold: int | None = None) -> str:
    """The score chart alone, as an SVG file (for Markdown drafts)."""
    svg = environment().get_template("chart.svg.j2").render(
        chart=score_chart(page.comp, ship_threshold))
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + svg


def index_html(rows: Sequence[IndexRow], number: int, site: dict[str, Any],
               comparisons: Sequence[PairLink], model: str) -> str:
    """Index page ``number`` (from 1): its tools in the default order, links to every
    page, the comparisons on the first page, and the sort/filter script with the site
    index it reads (``site_index``) as inline JSON, so it works opened from disk too."""
    script = INDEX_SCRIPT.read_text(encoding="utf-8")
    return render("index.html.j2", tools=list(rows), number=number, pages=site["pages"],
                  total=sum(n for on in site["categories"].values() for _, n in on),
                  comparisons=list(comparisons), categories=list(site["categories"]),
                  site_json=json_script(site), links=SiteLinks(), model=model,
                  script=Markup(script), csp=csp(script))


JSON_ESCAPES = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026",
                              "\u2028": "\\u2028", "\u2029": "\\u2029"})


def json_script(data: Any) -> Markup:
    """``data`` as JSON safe inside ``<script type="application/json">``: no ``<``, ``>``
    or ``&`` survives (so no ``</script>`` or ``<!--`` can end or bend the block), each
    written as its JSON ``\\u`` escape, which ``JSON.parse`` reads back unchanged."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return Markup(text.translate(JSON_ESCAPES))
