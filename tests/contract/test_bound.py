"""The longest reply a grammar allows, computed from its text: the evaluator on small
grammars, and on the review grammar against xgrammar, validation and a real tokenizer."""

from __future__ import annotations

import json
import random
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from panel.config.workspace import Workspace
from panel.contract.bound import (
    longest,
    max_bytes,
    max_tokens_bound,
    min_token_bytes,
    sample,
)
from panel.contract.evidence import EVIDENCE_MAX, QUOTE_MAX_BYTES, quote_texts
from panel.contract.grammar import (
    OPENER_MAX_BYTES,
    WIDEST_QUOTES,
    generation_grammar,
    reasoning_pattern,
    review_max_tokens,
    review_pattern,
)
from panel.contract.output import DEFAULT_LENGTHS, ReviewLengths, ReviewOutput, Rubric
from panel.errors import PanelError
from panel.inputs.cards import NAME_MAX

from conftest import EMBEDDED, need
from vocab import load

SAMPLE_EXAMPLES = 100
PATTERN_EXAMPLES = 100
RUBRIC = Rubric()


@pytest.mark.parametrize(("grammar", "expected"), [
    ('root ::= "ab"', "ab"),
    ('root ::= "a\\"b\\\\\\n"', 'a"b\\\n'),                   # escapes decode to one char each
    ('root ::= "xy" | "é" | "z"', "xy"),                       # é is 2 bytes too: first wins
    ('root ::= "x" | "\\u00e9\\u00e9"', "éé"),                 # 4 bytes beat 1
    ('root ::= [a-c]{2,3} "."', "aaa."),
    ('root ::= [\\x21\\x23-\\x5b]{1,2}', "AA"),                 # a letter where one fits
    ('root ::= [^a]', "\U00010000"),                           # any code point: 4 bytes
    ('root ::= [^\\x80-\\U0010ffff]', "a"),                    # only ASCII is left
    ('root ::= a b?\na ::= "x"{3}\nb ::= ("yy" | [\\u0800-\\u0801])', "xxx\u0800"),
    ('root ::= ("a" | "bc"){0,2} "-"', "bcbc-"),
])
def test_longest_and_max_bytes_of_small_grammars(grammar: str, expected: str) -> None:
    assert longest(grammar) == expected
    assert max_bytes(grammar) == len(expected.encode())
    assert max_tokens_bound(grammar) == len(expected.encode()) + 1


@pytest.mark.parametrize(("grammar", "message"), [
    ('root ::= "a" root | "b"', r"recursive \(root -> root\)"),
    ('root ::= a\na ::= "x" b\nb ::= a', r"recursive \(a -> b -> a\)"),
    ('root ::= "a"*', "unbounded"),
    ('root ::= [a-z]+', "unbounded"),
    ('root ::= "a"{2,}', "no upper bound"),
    ('root ::= word', "undefined rule 'word'"),
    ('word ::= "a"', "no 'root' rule"),
    ('root ::= "a"\nroot ::= "b"', "defined twice"),
    ('root ::= "a', "unterminated"),
    ("root = 'a'", "expected 'name ::= body'"),
])
def test_grammars_without_a_longest_output_are_refused(grammar: str, message: str) -> None:
    with pytest.raises(PanelError, match=message):
        max_bytes(grammar)


class Vocab:
    """A tokenizer as xgrammar describes it: decoded bytes per id, stop and special ids."""

    def __init__(self, decoded: list[bytes], stop: list[int], special: list[int]):
        self.decoded_vocab, self.stop_token_ids, self.special_token_ids = decoded, stop, special


def test_a_token_that_decodes_to_nothing_must_be_a_stop_or_special_one() -> None:
    assert min_token_bytes(Vocab([b"ab", b"", b"", b"c"], stop=[1], special=[2])) == 1
    assert min_token_bytes(Vocab([b"ab", b"cd", b""], stop=[2], special=[])) == 2
    assert max_tokens_bound('root ::= "abcde"', Vocab([b"ab", b"cd"], [], [])) == 3
    with pytest.raises(PanelError, match="token 1 decodes to no bytes"):
        min_token_bytes(Vocab([b"ab", b"", b"c"], stop=[], special=[]))


names = st.one_of(
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1,
            max_size=NAME_MAX),
    st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=NAME_MAX),
).map(str.strip).filter(bool)
rubrics = st.integers(0, 100).flatmap(lambda ship: st.builds(
    Rubric, ship_threshold=st.just(ship), skip_threshold=st.integers(max(ship - 1, 0), 100)))


def _span(lo: int, hi: int) -> st.SearchStrategy[tuple[int, int]]:
    return st.integers(lo, hi).flatmap(lambda a: st.tuples(st.just(a), st.integers(a, hi)))


descriptions = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1,
                       max_size=4000).filter(str.strip)
lengths = st.builds(ReviewLengths, sentences=_span(*DEFAULT_LENGTHS.sentences),
                    sentence_words=_span(*DEFAULT_LENGTHS.sentence_words),
                    reasoning_words=_span(*DEFAULT_LENGTHS.reasoning_words))


@settings(max_examples=SAMPLE_EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(names, descriptions, rubrics, st.one_of(st.just(DEFAULT_LENGTHS), lengths),
       st.randoms(use_true_random=False))
def test_every_reply_the_grammar_allows_is_within_the_bound_and_valid(
        name: str, description: str, rubric: Rubric, shape: ReviewLengths,
        rng: random.Random) -> None:
    """Random replies of the review grammar for any card text, under the default lengths
    or a project's tighter ones: never longer than ``max_bytes``, accepted by xgrammar's
    own parser (so the evaluator reads the grammar as the engine does), valid ReviewOutput
    under the rubric, those lengths and the card's quotes, every quote verbatim in the
    card, and the card's bound never above the registry's."""
    testing = need("xgrammar.testing")
    xgr = need("xgrammar")
    quotes = quote_texts(description)
    grammar = generation_grammar(rubric, name, shape, quotes)
    reply = sample(grammar, rng)
    assert len(reply.encode()) <= max_bytes(grammar)
    assert max_tokens_bound(grammar) <= review_max_tokens()
    assert testing._is_grammar_accept_string(xgr.Grammar.from_ebnf(grammar), reply)
    out = ReviewOutput.model_validate_json(
        reply, context={"rubric": rubric, "lengths": shape, "quotes": quotes})
    assert 1 <= len(out.evidence) <= EVIDENCE_MAX
    assert all(quote in description for quote in out.evidence)


def test_a_name_wider_than_the_opener_budget_opens_with_any_capitalised_word() -> None:
    wide = "Кодер " * 12  # 71 characters, 131 bytes
    assert len(wide.strip()) <= NAME_MAX < len(wide.strip().encode())
    assert '"Кодер' not in generation_grammar(RUBRIC, wide.strip(), quotes=WIDEST_QUOTES)
    assert '"Кодер' in generation_grammar(RUBRIC, "Кодер " * 5, quotes=WIDEST_QUOTES)
    assert "first ::= capword words" in generation_grammar(RUBRIC, "Yahoo!",
                                                           quotes=WIDEST_QUOTES)
    widest = generation_grammar(RUBRIC, "N" * OPENER_MAX_BYTES, quotes=WIDEST_QUOTES)
    assert max_tokens_bound(widest) == review_max_tokens()
    assert max_bytes(generation_grammar(RUBRIC, wide.strip(), quotes=WIDEST_QUOTES)) \
        < max_bytes(widest)


def test_the_evidence_adds_three_of_the_widest_quotes_to_the_bound() -> None:
    """The bound covers the evidence: three quotes of ``QUOTE_MAX_BYTES`` each, their
    quotes and commas, and the key; a card's own quotes are never longer."""
    name = "N" * OPENER_MAX_BYTES
    short = generation_grammar(RUBRIC, name, quotes=("q",))
    extra = EVIDENCE_MAX * (QUOTE_MAX_BYTES - 1)
    assert max_bytes(generation_grammar(RUBRIC, name, quotes=WIDEST_QUOTES)) \
        == max_bytes(short) + extra
    assert longest(short).startswith('{"evidence":["q","q","q"],"reasoning":"')


def test_the_longest_reply_is_valid_and_accepted_token_by_token(ws: Workspace) -> None:
    """The witness: valid ReviewOutput, and xgrammar's matcher compiled for the real
    SmolLM2 vocabulary accepts it one single-byte token at a time, then the stop token: the
    bound of bytes + 1 tokens is reached, not only respected."""
    xgr = need("xgrammar")
    loaded = load(ws.registry.get(EMBEDDED))
    assert loaded is not None
    _, info = loaded
    grammar = generation_grammar(RUBRIC, "N" * OPENER_MAX_BYTES, quotes=WIDEST_QUOTES)
    reply = longest(grammar)
    out = ReviewOutput.model_validate_json(reply, context={"rubric": RUBRIC,
                                                           "quotes": WIDEST_QUOTES})
    assert out.review.startswith("N" * OPENER_MAX_BYTES)
    assert out.evidence == list(WIDEST_QUOTES) * EVIDENCE_MAX
    byte_token = {b: i for i, b in enumerate(info.decoded_vocab) if len(b) == 1}
    matcher = xgr.GrammarMatcher(xgr.GrammarCompiler(info).compile_grammar(grammar))
    for byte in reply.encode():
        assert matcher.accept_token(byte_token[bytes([byte])])
    assert not matcher.is_terminated()
    assert matcher.accept_token(info.stop_token_ids[0]) and matcher.is_terminated()
    assert len(reply.encode()) + 1 == max_tokens_bound(grammar, info) == review_max_tokens()


@settings(max_examples=PATTERN_EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(st.data())
def test_the_json_schema_twin_allows_one_byte_characters_only(data: st.DataObject) -> None:
    """The server's patterns: every character but the tool name's is printable ASCII other
    than the quote and the backslash, as in the EBNF grammar."""
    name = "Tool.io (beta) Кодер"
    review = data.draw(st.from_regex(review_pattern(name), fullmatch=True))
    reasoning = data.draw(st.from_regex(reasoning_pattern(), fullmatch=True))
    for text in (review.removeprefix(name), reasoning):
        assert re.fullmatch(r'[ !#-\[\]-~]*', text), text
    assert json.loads(json.dumps(review)) == review
