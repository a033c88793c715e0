"""Unsupported claims: the numbers and names of a review that its card does not hold."""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from panel.contract.claims import name_claims, number_claims, opens_sentence, unsupported_claims
from panel.inputs.cards import ToolCard, load_cards

from conftest import EXAMPLES


def patchpilot() -> ToolCard:
    return load_cards([EXAMPLES / "patchpilot.yaml"])[0].card


@pytest.mark.parametrize(("text", "unsupported"), [
    # the card: GitHub app, $19 per developer per month, free for public repositories
    ("PatchPilot installs as a GitHub app. It costs $19 per developer.", []),
    ("PatchPilot is free for teams at $5 per seat.", ["$5"]),
    ("PatchPilot saves 40% of review time, 3x faster than v2.1.", ["40%", "3x", "v2.1"]),
    ("PatchPilot costs USD 1,200 a year.", ["USD 1,200"]),
    ("PatchPilot works with GitLab and Google Drive on macOS.",
     ["GitLab", "Google Drive", "macOS"]),
    ("PatchPilot's comments on GitHub's pull requests help. Teams can run it.", []),
    ("The API is a JSON one. It is SQL aware. I like it.", []),        # generic, openers
    ("Slack Connect is next. Acme Corp loved it.", ["Slack Connect", "Acme Corp"]),
    ("PatchPilot is great. Great work.", []),                         # a capitalised opener
    ("Honestly, I think I'm sold and I'll pay.", []),                  # the pronoun
    ("It has 19 rules and 19 more.", []),                             # the card's 19
])
def test_unsupported_claims_of_a_review(text: str, unsupported: list[str]) -> None:
    assert unsupported_claims(text, patchpilot()) == unsupported


def test_numbers_keep_their_sign_and_unit_and_match_by_digits() -> None:
    assert number_claims("€1,200.50 or 12 percent, 2.1.3 and 7k") == [
        ("€1,200.50", "1200.50"), ("12 percent", "12"), ("2.1.3", "2.1.3"), ("7k", "7")]
    card = patchpilot().model_copy(update={"pricing": "1200.50 euros a year"})
    assert unsupported_claims("It costs €1,200.50 a year.", card) == []


def test_names_ignore_case_and_whole_words_only() -> None:
    assert name_claims("We use Google Drive, then S3 and SSO.") == ["Google Drive", "S3", "SSO"]
    card = patchpilot()
    assert unsupported_claims("Pilot helps.", card.model_copy(update={"name": "PatchPilot"})) \
        == []  # an opener alone is not a name
    assert unsupported_claims("It helps the Pilot team.", card) == ["Pilot"]


def test_a_name_runs_only_over_adjacent_words() -> None:
    """Words a number or a token stands between are two names, not one the text lacks."""
    assert name_claims("We met Google 2024 Drive people.") == ["Google", "Drive"]
    assert name_claims("0A 0A") == ["A", "A"]


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400))
@example("0A 0A")  # found by this test in a local run: the extractor said "A A"
def test_any_text_yields_claims_that_occur_in_it(text: str) -> None:
    """The extractor never invents: every claim is a piece of the text (a name's words
    joined by the single space the text has between them)."""
    for claim in unsupported_claims(text, patchpilot()):
        assert claim in text or claim.replace(" ", "") in text.replace(" ", "")


SENTENCE_START = re.compile(r"(?:^|[.!?:;]\s+|\n)\s*[\"'(\[]*$")
"""The rule as one regular expression over the text before the word (what the extractor
ran before it read back over a few characters instead)."""


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from(list(" \t\n\u00a0\u2003.!?:;,\"'([)]aZ1")),
               max_size=12))
@example("Yes. (")
@example("x \n \"")
def test_a_word_opens_a_sentence_as_the_rule_says(before: str) -> None:
    assert opens_sentence(before + "Word", len(before)) == bool(SENTENCE_START.search(before))
