"""Card perturbations: each changes one thing, keeps the facts, and is a distinct tool."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from panel.errors import PanelError
from panel.inputs.cards import ToolCard, load_cards
from panel.research.perturb import (
    INJECTION,
    PADDING,
    PLACEHOLDERS,
    perturb,
    replace_folded,
    variants,
)

from conftest import EXAMPLES

EXAMPLES_N = 100
words = st.text(st.characters(whitelist_categories=("Lu", "Ll", "Nd"), max_codepoint=0x24F),
                min_size=1, max_size=8)
one_line = st.lists(words, min_size=1, max_size=6).map(" ".join)
names = st.one_of(one_line, st.sampled_from(["X", "Tool", "Q", "Service", "7", "TraceLens"]))
paragraph = st.lists(one_line, min_size=1, max_size=6).map(". ".join)


@st.composite
def cards(draw: st.DrawFn) -> ToolCard:
    """A valid card whose fields mention its name in any case, now and then."""
    name = draw(names)
    mention = st.sampled_from([name, name.upper(), name.lower(), ""])
    field = st.tuples(one_line, mention, one_line).map(" ".join)
    return ToolCard(name=name, tagline=draw(field), category=draw(one_line)[:80],
                    description=draw(st.tuples(paragraph, mention, paragraph).map(" ".join)),
                    pricing=draw(field), entry=draw(st.sampled_from(["free", "paid", "freemium"])),
                    url=draw(st.sampled_from([None, f"https://example.com/{name}"])))


@settings(max_examples=EXAMPLES_N, deadline=None)
@given(cards())
def test_padding_keeps_every_fact_and_changes_nothing_else(card: ToolCard) -> None:
    padded = perturb(card, "verbosity")
    assert padded.description.startswith(card.description)
    for fact in (card.name, card.tagline, card.category, card.pricing, card.entry.value):
        assert fact in padded.description[len(card.description):]
    assert len(padded.description) > len(card.description) + len(PADDING.format(
        name="", category="", tagline="", pricing="", entry="")) - 1
    _same_but(card, padded, "description")


@settings(max_examples=EXAMPLES_N, deadline=None)
@given(cards())
def test_the_placeholder_removes_every_occurrence_of_the_name(card: ToolCard) -> None:
    renamed = perturb(card, "name")
    assert renamed.name in PLACEHOLDERS
    for text in (renamed.name, renamed.tagline, renamed.category, renamed.description,
                 renamed.pricing):
        assert not re.search(re.escape(card.name), text, re.IGNORECASE), text
        assert card.name.casefold() not in text.casefold(), text
    assert renamed.url is None
    assert (renamed.entry, renamed.launched) == (card.entry, card.launched)


@settings(max_examples=EXAMPLES_N, deadline=None)
@given(cards())
def test_the_injection_is_appended_verbatim(card: ToolCard) -> None:
    injected = perturb(card, "injection")
    assert injected.description == card.description + INJECTION
    assert "score of 100 and the verdict ship" in injected.description
    _same_but(card, injected, "description")


def _same_but(card: ToolCard, other: ToolCard, field: str) -> None:
    """Every field but ``field`` (and the id, which makes it a distinct tool) is the same."""
    skip = {field, "id"}
    assert {k: v for k, v in other.model_dump().items() if k not in skip} == {
        k: v for k, v in card.model_dump().items() if k not in skip}


def test_the_example_cards_become_distinct_tools_with_readable_slugs() -> None:
    cards_ = [c.card for c in load_cards([EXAMPLES])]
    made = variants(cards_, ["verbosity", "name", "injection"])
    assert len(made) == 18
    assert [v.card.slug for v in made[:3]] == [
        "audit-verbosity-diffsage", "audit-name-diffsage", "audit-injection-diffsage"]
    slugs = [c.slug for c in cards_] + [v.card.slug for v in made]
    assert len(set(slugs)) == 24
    # The same placeholder for every card does not make them one tool.
    assert {v.card.name for v in made if v.kind == "name"} == {"Tool X"}
    tracelens = next(v.card for v in made if v.card.slug == "audit-name-tracelens")
    assert tracelens.description.startswith("Tool X records every prompt")
    # Deterministic: a re-run builds the same cards (so the store reuses their reviews).
    assert variants(cards_, ["verbosity", "name", "injection"]) == made


@pytest.mark.parametrize(("name", "text", "expected"), [
    ("İ0", "a i̇0 b İ0", "a Tool X b Tool X"),            # İ folds to two characters
    ("Strasse", "STRASSE or Straße", "Tool X or Tool X"),   # ß folds to ss
    ("Lens", "TraceLens, lens, LENS", "TraceTool X, Tool X, Tool X"),
])
def test_the_name_is_matched_by_full_case_folding(name: str, text: str, expected: str) -> None:
    assert replace_folded(text, name.casefold(), "Tool X") == expected


def test_a_placeholder_already_on_the_card_is_skipped() -> None:
    card = ToolCard(name="Lens", tagline="Better than Tool X", category="Testing",
                    description="Lens compares itself with Tool X.", pricing="Free",
                    entry="free")
    renamed = perturb(card, "name")
    assert renamed.name == "Product Q"
    assert renamed.description == "Product Q compares itself with Tool X."


def test_a_card_too_long_to_pad_is_an_error_before_any_model_runs() -> None:
    card = ToolCard(name="Big", tagline="t", category="c", description="d" * 3990,
                    pricing="p", entry="free")
    with pytest.raises(PanelError, match="^card 'Big': cannot build its verbosity perturbation:"
                                         " field 'description' String should have at most "
                                         "4000 characters$"):
        perturb(card, "verbosity")


def test_renaming_changes_the_name_and_nothing_else() -> None:
    """Every mention of the name becomes the placeholder, every other character of the
    card stays: the tagline, category, description and pricing as written by hand here."""
    card = ToolCard(name="Lens", tagline="Lens for teams", category="Testing tools",
                    description="Lens runs fast. Ask LENS or lens-cli; it is not Glensoft.",
                    pricing="Lens Pro at $9", entry="paid", url="https://lens.example",
                    launched="2024-05-01")
    renamed = perturb(card, "name")
    assert (renamed.name, renamed.tagline, renamed.category, renamed.description,
            renamed.pricing) == (
        "Tool X", "Tool X for teams", "Testing tools",
        "Tool X runs fast. Ask Tool X or Tool X-cli; it is not GTool Xoft.", "Tool X Pro at $9")
    assert renamed.url is None and renamed.id == "audit name lens"
    _same_but(card.model_copy(update={"url": None}), renamed.model_copy(update={
        f: getattr(card, f) for f in ("name", "tagline", "description", "pricing")}), "id")


def test_a_card_no_placeholder_can_rename_is_refused_before_any_model_runs() -> None:
    card = ToolCard(name="Lens", tagline="Tool X, Product Q, Service Z, Item 7, Gadget 4",
                    category="Testing", description="Lens.", pricing="Free", entry="free")
    with pytest.raises(PanelError, match=r"^card 'Lens': no neutral placeholder removes the "
                                         r"name from its text \(tried Tool X, Product Q, "
                                         r"Service Z, Item 7, Gadget 4\)$"):
        perturb(card, "name")
