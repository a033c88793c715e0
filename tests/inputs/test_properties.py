"""Property tests (hypothesis) over card loading and slugs; example counts are explicit."""

from __future__ import annotations

import json
import tempfile
import unicodedata
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from panel.errors import InputError
from panel.inputs.cards import (
    SLUG_MAX,
    SLUG_MAX_BYTES,
    WINDOWS_DEVICES,
    InputTally,
    normalize,
    slugify,
)
from panel.pipeline.batch import Shard, load_batch

LOADING_EXAMPLES = 200
SLUG_EXAMPLES = 1000

BIDI = "".join(map(chr, [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]))
one_line = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp"),
                                 blacklist_characters=BIDI), min_size=1,
                   max_size=30).map(str.strip).filter(bool)
valid_card = st.fixed_dictionaries({
    "name": one_line, "tagline": one_line, "category": one_line, "description": one_line,
    "pricing": one_line, "entry": st.sampled_from(["free", "paid", "freemium"])})
wrong_type = valid_card.flatmap(lambda c: st.sampled_from([
    {**c, "name": 5}, {**c, "entry": "cheap"}, {k: v for k, v in c.items() if k != "pricing"},
    {**c, "extra": "x"}, [c], "a string", None]))
invalid_json = st.sampled_from(["{", "{'name': 1}", "nope", '{"a": 1,}', '{"a": NaN}',
                                '{"a": 1, "a": 2}', "[1, 2"])
blank = st.sampled_from(["", "   ", "\t"])
line = st.one_of(valid_card.map(lambda c: ("valid", c)), wrong_type.map(lambda c: ("bad", c)),
                 invalid_json.map(lambda t: ("text", t)), blank.map(lambda t: ("blank", t)))


def _render(kind: str, item: Any) -> str:
    return item if kind in ("text", "blank") else json.dumps(item, ensure_ascii=False)


@settings(max_examples=LOADING_EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(line, max_size=25))
def test_every_jsonl_line_is_loaded_or_reported_once_with_its_line(
        lines: list[tuple[str, Any]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "feed.jsonl"
        path.write_text("".join(_render(k, x) + "\n" for k, x in lines), encoding="utf-8")
        tally = InputTally()
        cards, errors = load_batch([path], Shard(), tally=tally)
    slugs: set[str] = set()
    expect_loaded, expect_reported = {}, set()
    for no, (kind, item) in enumerate(lines, start=1):
        if kind == "valid":
            slug = slugify(item["name"])
            if slug in slugs:
                expect_reported.add(no)  # same tool again, or another tool on its slug
            else:
                slugs.add(slug)
                expect_loaded[no] = item
        elif kind != "blank":
            expect_reported.add(no)
    loaded = {int(c.source.rsplit(":", 1)[1]): c.card for c in cards}
    reported = [int(e.file.rsplit(":", 1)[1]) if e.line is None else e.line for e in errors]
    assert all(isinstance(e, InputError) for e in errors)
    # every non-blank line exactly once, under its own number
    assert sorted(loaded) == sorted(expect_loaded)
    assert sorted(reported) == sorted(expect_reported)
    assert len(reported) == len(set(reported))
    for no, card in loaded.items():
        assert card.model_dump(mode="json", exclude_none=True) == expect_loaded[no]
    assert tally.adds_up
    assert tally.entries == sum(k != "blank" for k, _ in lines)
    assert tally.lines == len(lines) and tally.blank == sum(k == "blank" for k, _ in lines)


def _safe(slug: str) -> bool:
    return (bool(slug) and not slug.startswith(("-", ".")) and not slug.endswith("-")
            and "--" not in slug and all(ch == "-" or unicodedata.category(ch)[0] in "LM"
                                         or unicodedata.category(ch) == "Nd" for ch in slug))


@settings(max_examples=SLUG_EXAMPLES, deadline=None)
@given(st.text(max_size=200))
def test_slugs_are_safe_bounded_and_stable(text: str) -> None:
    slug = slugify(text)
    assert _safe(slug), slug
    assert not any(c in slug for c in "/\\.\0 \t\n")
    assert len(slug) <= SLUG_MAX and len(slug.encode()) <= SLUG_MAX_BYTES
    assert slug not in WINDOWS_DEVICES
    assert slugify(slug) == slug


@settings(max_examples=SLUG_EXAMPLES, deadline=None)
@given(st.text(max_size=60), st.sampled_from([str.upper, str.lower, str.title,
                                               lambda s: f"  {s} ", lambda s: s.replace(" ", "  "),
                                               lambda s: unicodedata.normalize("NFD", s)]))
def test_equal_identities_give_equal_slugs(text: str, variant: Any) -> None:
    other = variant(text)
    if normalize(other) == normalize(text):
        assert slugify(other) == slugify(text)


@settings(max_examples=SLUG_EXAMPLES, deadline=None)
@given(st.text(st.characters(max_codepoint=127), max_size=80))
def test_ascii_names_keep_their_old_slug(text: str) -> None:
    import re

    old = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "tool"  # the old slugify
    if old not in WINDOWS_DEVICES:
        assert slugify(text) == old
