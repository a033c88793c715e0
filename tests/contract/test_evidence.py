"""The quotes a card offers its reviews: sentences, clauses, escaping for JSON and EBNF."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from panel.contract.bound import parse
from panel.contract.evidence import (
    QUOTE_MAX_BYTES,
    QUOTES_MAX,
    card_quotes,
    ebnf_literal,
    json_bytes,
    json_form,
    quote_texts,
)
from panel.contract.grammar import generation_grammar
from panel.contract.output import Rubric
from panel.inputs.cards import load_cards

from conftest import EXAMPLES, need

hostile = st.text(st.one_of(
    st.characters(blacklist_categories=("Cs",)),
    st.sampled_from(list('"\\\n\t\r .!?,;:—(\u2028\u0085\x00\x1f\x7f')),
), min_size=1, max_size=4000)


def test_sentences_are_the_quotes_in_order_without_repeats() -> None:
    text = "Fast diffs. It costs $0.09 a minute! Really?\n\nA new paragraph\nwithout end"
    assert quote_texts(text) == ("Fast diffs.", "It costs $0.09 a minute!", "Really?",
                                 "A new paragraph\nwithout end")
    assert quote_texts("Same. Same. Other.") == ("Same.", "Other.")
    assert quote_texts("...") == ("...",)  # nothing quotable: the text itself


def test_a_long_sentence_is_offered_as_its_clauses_and_runs_of_words() -> None:
    clause = "it reads every diff with the files around it"
    sentence = f"{clause.capitalize()}, {clause}; {clause}: {clause} (and {clause})."
    quotes = card_quotes(sentence)
    assert len(quotes) > 1
    assert all(json_bytes(q.text) <= QUOTE_MAX_BYTES for q in quotes)
    assert quotes[0].text.startswith(clause.capitalize() + ",")
    words = card_quotes("word " * 200)
    assert all(q.text.startswith("word") and q.text.endswith("word") for q in words)
    assert card_quotes("x" * 500)[0].text == "x" * QUOTE_MAX_BYTES


def test_the_example_cards_quote_whole_sentences() -> None:
    card = load_cards([EXAMPLES / "patchpilot.yaml"])[0].card
    assert quote_texts(card.description)[0] == (
        "PatchPilot installs as a GitHub app and reads each pull request's diff with the "
        "surrounding files.")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile)
def test_every_quote_is_the_cards_text_and_round_trips_through_json_and_ebnf(
        text: str) -> None:
    """Any card text: at most ``QUOTES_MAX`` quotes, each exactly the card's text at its
    span, within the byte bound as JSON, and the EBNF literal reads back (by the bound's
    parser, as xgrammar reads it) as the JSON the model writes, which decodes to the quote."""
    quotes = card_quotes(text)
    assert 1 <= len(quotes) <= QUOTES_MAX or not text.strip()
    for q in quotes:
        assert text[q.start:q.end] == q.text and q.text
        assert json_bytes(q.text) <= QUOTE_MAX_BYTES
        literal = parse(f"root ::= {ebnf_literal(q.text)}")["root"]
        assert literal.text == json_form(q.text)  # type: ignore[union-attr]
        assert json.loads(f'"{literal.text}"') == q.text  # type: ignore[union-attr]
        assert ebnf_literal(q.text).isascii() and "\n" not in ebnf_literal(q.text)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile.filter(str.strip))
def test_xgrammar_compiles_the_grammar_of_any_card_and_accepts_each_quote(text: str) -> None:
    testing = need("xgrammar.testing")
    xgr = need("xgrammar")
    quotes = quote_texts(text)
    grammar = generation_grammar(Rubric(), "Tool", quotes=quotes)
    compiled = xgr.Grammar.from_ebnf(grammar.replace("root ::=", "review_root ::=", 1)
                                     + '\nroot ::= "[" quote "]"')
    for quote in quotes[:5]:
        reply = json.dumps([quote], ensure_ascii=False, separators=(",", ":"))
        assert testing._is_grammar_accept_string(compiled, reply)


@settings(max_examples=300, deadline=None)
@given(st.one_of(hostile, st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7e))))
def test_plain_ascii_shortcuts_agree_with_the_json_form(text: str) -> None:
    """The shortcuts for plain ASCII count what the JSON form's UTF-8 bytes count, and give
    an EBNF literal that reads back (by the bound's parser) as that JSON form."""
    assert json_bytes(text) == len(json_form(text).encode("utf-8"))
    literal = parse(f"root ::= {ebnf_literal(text)}")["root"]
    assert literal.text == json_form(text) and ebnf_literal(text).isascii()  # type: ignore[union-attr]
