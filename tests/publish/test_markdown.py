"""Markdown and HTML stay inert under hostile card and model text (issue 10, item 4).

The Markdown drafts are checked the way a reader's renderer sees them: through a CommonMark
parser (markdown-it-py, "commonmark" preset, raw HTML enabled, GFM tables on), never by
looking for substrings in the Markdown source.
"""

from __future__ import annotations

import re
from html import unescape
from html.parser import HTMLParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from panel.contract.output import Rubric
from panel.contract.records import Edit, ReviewRecord
from panel.inputs.cards import Entry, ToolCard
from panel.publish.render.html import SiteLinks, tool_html
from panel.publish.render.markdown import comparison_markdown, md_escape
from panel.publish.render.urls import http_url
from panel.verdict.head_to_head import compare
from panel.verdict.majority import panel_verdict
from panel.verdict.views import ToolPage

from factories import rec

MD = MarkdownIt("commonmark", {"html": True}).enable("table")
# markdown-it drops javascript:/data: links itself; other renderers do not, so every link
# that forms must show here: we accept any URL and assert no link forms but ours.
MD.validateLink = lambda url: True  # type: ignore[method-assign]
MD_PROPERTY_EXAMPLES = 500

HOSTILE = [
    "<script>alert(1)</script>",
    "\\<img src=x onerror=alert(1)>",
    "![](http://x/y.png)",
    "[x](javascript:alert(1))",
    "| a | b |",
    "&lt; &amp; &#60; &copy",
    "`code` ``x`` ```",
    "# heading",
    "* list",
    "1. one\n2) two\n+ three",
    "<https://evil.example> <a@b.example>",
    "*em* _em_ **b** ~~s~~ $x$",
    "line1\n\n    indented code\n---\n===\n> quote",
    "trailing \\",
    "<!-- c --> <a href='javascript:x'>y</a> <?php ?>",
    "[ref]: https://evil.example\n[ref]",
    "a\\|b \\\\| c",
    "{#id .class} :emoji: @user",
]
PAGE_TAGS = {"h1", "h2", "h3", "p", "strong", "em", "table", "thead", "tbody", "tr", "th", "td",
             "a", "img"}


def visible(text: str) -> str:
    """What a reader must see: the text, white space collapsed, controls as U+FFFD."""
    flat = " ".join(text.split())
    return "".join("\ufffd" if ord(c) < 32 or 127 <= ord(c) < 160 else c for c in flat)


class Page(HTMLParser):
    """Every tag (with its attributes) and the text of every block element."""

    BLOCKS = {"h1", "h2", "h3", "p", "th", "td"}

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.blocks: list[tuple[str, str]] = []
        self._open: list[tuple[str, list[str]]] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag in self.BLOCKS:
            self._open.append((tag, []))

    def handle_endtag(self, tag: str) -> None:
        if tag in self.BLOCKS and self._open and self._open[-1][0] == tag:
            name, parts = self._open.pop()
            self.blocks.append((name, "".join(parts)))

    def handle_data(self, data: str) -> None:
        if self._open:
            self._open[-1][1].append(data)

    def texts(self, tag: str) -> list[str]:
        return [text for name, text in self.blocks if name == tag]


def hostile_markdown(text: str, url_a: str | None, url_b: str | None) -> str:
    """The comparison draft of a card whose every field (and its reviews) hold ``text``."""
    card = ToolCard.model_construct(name=text, tagline=text, category=text, description=text,
                                    pricing=text, entry=Entry.free, url=url_a, launched=None)
    other = ToolCard(name="Other", tagline="t", category="c", description="d", pricing="p",
                     entry=Entry.paid, url=url_b)
    ok = rec("m", "bad", "builder", "ship", 80)
    ok = ok.model_copy(update={"tool_name": text, "persona_name": text,
                               "output": ok.output.model_copy(update={"review": text})
                               if ok.output else None})
    failed = rec("m", "bad", "skeptic", None, None).model_copy(
        update={"tool_name": text, "persona_name": "Skeptic", "failure": text})
    mine: list[ReviewRecord] = [ok, failed]
    theirs = [rec("m", "other", "builder", "skip", 30)]
    comp = compare(mine, theirs, Rubric(), ["builder", "skeptic"])
    return comparison_markdown(comp, card, other, chart="bad-vs-other.svg")


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_card_and_review_text_render_as_text_under_commonmark(text: str) -> None:
    page = Page(MD.render(hostile_markdown(text, url_a=text, url_b="https://ok.example/a_(b)|c")))
    names = {tag for tag, _ in page.tags}
    assert names <= PAGE_TAGS, names - PAGE_TAGS
    assert [a["src"] for t, a in page.tags if t == "img"] == ["bad-vs-other.svg"]
    hrefs = [a.get("href") for t, a in page.tags if t == "a"]
    assert hrefs == ["https://ok.example/a_%28b%29%7Cc"]
    shown = visible(text)
    assert page.texts("h1") == [f"{shown} vs Other"]
    assert page.texts("th")[1] == shown
    cells = page.texts("td")
    for row in ("Pricing", "Best for", "Category", "Home page"):
        assert cells[cells.index(row) + 1] == shown, row
    assert shown in page.texts("h3")
    assert shown in page.texts("p")  # the review
    assert f"Review failed: {shown}" in page.texts("p")


def test_the_old_bypasses_are_closed() -> None:
    """The three cases of the issue, each live under CommonMark with the old ``_cell``."""
    for text in ("\\<img src=x onerror=alert(1)>", "![](https://remote/x.png)",
                 "[x](javascript:alert(1))"):
        html = MD.render(md_escape(text))
        assert "<img" not in html and "href" not in html, html


def test_a_card_url_is_a_link_only_when_it_is_http(
) -> None:
    for url in ("javascript:alert(1)", "JAVASCRIPT:alert(1)", "data:text/html,<b>x</b>",
                "vbscript:x", "//evil.example", "https:evil", "http://", "https://a b.example",
                "https://x.example/\nrest", "http://[::1", "file:///etc/passwd", " javascript:x"):
        assert http_url(url) is None, url
        html = MD.render(hostile_markdown("Tool", url_a=url, url_b=None))
        assert "href" not in html and "<img src=\"javascript" not in html, url
    for url in ("https://example.com/x", "HTTP://EXAMPLE.COM", "https://[::1]:8080/a?b=c#d"):
        assert http_url(url) == url


def _tool_page_html(url: str | None) -> str:
    card = ToolCard(name="T", tagline="t", category="c", description="d", pricing="p",
                    entry=Entry.free, url=url)
    reviews = [rec("m", "t", "builder", "ship", 80)]
    page = ToolPage(card=card, model="m", panel=panel_verdict(reviews, Rubric()),
                    reviews=reviews, votes=None)
    return tool_html(page, SiteLinks())


def test_the_html_page_links_a_card_url_only_when_it_is_http() -> None:
    for url in ("javascript:alert(1)", "data:text/html,x", "jAvAsCrIpT:x", "//evil.example"):
        html = _tool_page_html(url)
        hrefs = re.findall(r'href="([^"]*)"', html)
        assert set(hrefs) == {"index.html"}, (url, hrefs)  # the page's own links only
        assert f'<p class="home">{url.replace("<", "&lt;")}</p>' in html
    html = _tool_page_html('https://ok.example/?q="><script>')
    assert ('href="https://ok.example/?q=&#34;&gt;&lt;script&gt;" '
            'rel="nofollow noopener noreferrer"') in html
    assert '<p class="home">' not in _tool_page_html(None)


def test_the_expected_score_shows_beside_the_models_score_not_an_editors() -> None:
    """Markdown (as CommonMark renders it) and HTML: the expectation where a review has
    one; nothing where it has none or an editor changed the score."""
    mine = [rec("m", "t", "builder", "ship", 80).model_copy(update={"expected_score": 71.26}),
            rec("m", "t", "skeptic", "skip", 40),
            rec("m", "t", "founder", "ship", 70).model_copy(
                update={"expected_score": 66.0, "edit": Edit(score=90)})]
    theirs = [rec("m", "o", "builder", "skip", 30)]
    card = ToolCard(name="T", tagline="t", category="c", description="d", pricing="p",
                    entry=Entry.free)
    other = card.model_copy(update={"name": "O"})
    comp = compare(mine, theirs, Rubric(), ["builder", "skeptic", "founder"])
    lines = [t for t in Page(MD.render(comparison_markdown(comp, card, other))).texts("p")
             if t.startswith("T: ")]
    assert lines == ["T: 80/100 · ship · expected 71.3 (draft)", "T: 40/100 · skip (draft)",
                     "T: 90/100 · ship (edited)"]
    page = ToolPage(card=card, model="m", panel=panel_verdict(mine, Rubric()), reviews=mine,
                    votes=None)
    html = tool_html(page, SiteLinks())
    assert re.findall(r'<span class="expected muted"[^>]*>([^<]*)</span>', html) == \
        ["expected 71.3"]


# --- properties: md_escape in a paragraph, a table cell and a heading -----------------------

_PUNCT = st.text(alphabet=st.sampled_from(list("\\`*_{}[]()#+-.!|<>~&=$:;/\"'?@%^,0123 \n\tax;")),
                 max_size=40)
_HOSTILE_MIX = st.lists(st.sampled_from(HOSTILE + ["\x00", "\r", "\u2028", "&#x3C;", "\\\\"]),
                        max_size=5).map("".join)
TEXTS = st.one_of(st.text(), _PUNCT, _HOSTILE_MIX)


@settings(max_examples=MD_PROPERTY_EXAMPLES, deadline=None)
@given(text=TEXTS)
def test_md_escape_is_one_plain_paragraph(text: str) -> None:
    html = MD.render(md_escape(text))
    if not visible(text):
        assert html == ""
        return
    inner = re.fullmatch(r"<p>(.*)</p>\n", html, re.S)
    assert inner is not None, html
    assert "<" not in inner.group(1), html
    assert unescape(inner.group(1)) == visible(text)


@settings(max_examples=MD_PROPERTY_EXAMPLES, deadline=None)
@given(text=TEXTS)
def test_md_escape_stays_one_table_cell(text: str) -> None:
    page = Page(MD.render(f"| head | two |\n|---|---|\n| {md_escape(text)} | end |\n"))
    assert page.texts("td") == [visible(text), "end"]
    assert {t for t, _ in page.tags} == {"table", "thead", "tbody", "tr", "th", "td"}


@settings(max_examples=MD_PROPERTY_EXAMPLES, deadline=None)
@given(text=TEXTS)
def test_md_escape_stays_one_heading(text: str) -> None:
    page = Page(MD.render(f"### {md_escape(text)}\n"))
    assert page.texts("h3") == [visible(text)]
    assert {t for t, _ in page.tags} == {"h3"}


def hostile_head_to_head(text: str) -> str:
    """A draft whose head-to-head carries ``text`` in both names, a persona's name, a reason
    and a failure."""
    from panel.verdict.head_to_head import HeadToHead, OrderPick, PersonaHeadToHead

    card = ToolCard.model_construct(name=text, tagline="t", category="c", description="d",
                                    pricing="p", entry=Entry.free, url=None, launched=None)
    other = ToolCard(name="Other", tagline="t", category="c", description="d", pricing="p",
                     entry=Entry.paid)
    comp = compare([rec("m", "bad", "builder", "ship", 80)], [rec("m", "o", "builder", "skip", 30)],
                   Rubric(), ["builder"])
    row = PersonaHeadToHead(
        persona="builder", persona_name=text,
        ab=OrderPick(order="ab", key="k1", choice="first", margin=9, reason=text),
        ba=OrderPick(order="ba", key="k2", failure=text))
    h2h = HeadToHead(a="bad", b="o", a_name=text, b_name="Other", model="m", rows=[row])
    return comparison_markdown(comp, card, other, h2h=h2h)


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_head_to_head_renders_as_text_under_commonmark(text: str) -> None:
    page = Page(MD.render(hostile_head_to_head(text)))
    names = {tag for tag, _ in page.tags}
    assert names <= PAGE_TAGS | {"ul", "li"}, names - PAGE_TAGS
    assert not [t for t, a in page.tags if t in ("a", "img")]
    html = MD.render(hostile_head_to_head(text))
    shown = visible(text)
    items = re.findall(r"<li>(.*?)(?:<ul>|</li>)", html, re.S)
    assert [unescape(re.sub(r"</?strong>", "", i)).strip() for i in items] == [
        f"{shown}: no result (Other shown first: failed)",
        f"{shown} first: first, margin 9: {shown}",
        f"Other first: failed: {shown}"]
