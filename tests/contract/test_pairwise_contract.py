"""The head-to-head contract: grammar, schema twin and validation share their bounds, and the
longest reply the grammar allows fits in every backbone's max_tokens."""

from __future__ import annotations

import json
import re

import pytest
from pydantic import ValidationError

from panel.config.workspace import Workspace
from panel.contract.pairwise import (
    CHOICES,
    REASON_SENTENCE_WORDS,
    REASON_SENTENCES,
    REASON_WORD_CHARS,
    PairOutput,
    contract_sha,
    max_reply_bytes,
    pair_grammar,
    pair_schema,
    reason_pattern,
)

from conftest import need

GOOD = {"reason": "Cheaper first run, fewer surprises.", "choice": "first", "margin": 70}


def accepts(grammar: str, reply: dict[str, object]) -> bool:
    """Whether xgrammar's parser accepts the reply, written as compact JSON."""
    testing = need("xgrammar.testing")
    xgr = need("xgrammar")
    text = json.dumps(reply, separators=(",", ":"), ensure_ascii=False)
    return bool(testing._is_grammar_accept_string(xgr.Grammar.from_ebnf(grammar), text))


def longest() -> dict[str, object]:
    """The longest reply the grammar allows."""
    word = "w" * REASON_WORD_CHARS
    sentence = " ".join(["W" + word[1:]] + [word] * (REASON_SENTENCE_WORDS[1] - 1)) + "."
    return {"reason": " ".join([sentence] * REASON_SENTENCES[1]), "choice": "neither-ship",
            "margin": 100}


@pytest.mark.parametrize(("change", "ok"), [
    ({}, True),
    ({"choice": "both-ship", "margin": 0}, True),
    ({"choice": "neither-ship", "margin": 9}, True),
    ({"reason": "Two sentences here. The second one too!"}, True),
    ({"choice": "third"}, False),
    ({"margin": 101}, False),
    ({"margin": -1}, False),
    ({"margin": 7.5}, False),
    ({"reason": "One. Two words. Three words here."}, False),     # a one-word sentence
    ({"reason": "A b c. D e f. G h i."}, False),                   # three sentences
    ({"reason": "lowercase start is refused."}, False),
    ({"reason": "No sentence end here"}, False),
    ({"reason": "A " + "w" * 15 + " word."}, False),              # a 15-character word
    ({"reason": "Says \"hi\" to you."}, False),                    # no quote, no escape
    ({"reason": "Caf\u00e9 is not ASCII."}, False),
    ({"reason": " ".join(["Word"] * 11) + "."}, False),            # eleven words
])
def test_pair_grammar_enforces_the_contract(change: dict[str, object], ok: bool) -> None:
    assert accepts(pair_grammar(), {**GOOD, **change}) is ok


def test_narrowed_choices_allow_only_those_picks() -> None:
    pinned = pair_grammar(("first",))
    assert accepts(pinned, GOOD)
    assert not accepts(pinned, {**GOOD, "choice": "second"})
    assert pair_schema(("first",))["properties"]["choice"]["enum"] == ["first"]
    assert contract_sha(("first",)) != contract_sha()
    with pytest.raises(ValueError, match="choices must be among"):
        pair_grammar(("frist",))  # type: ignore[arg-type]


def test_the_longest_reply_passes_validation_and_the_schema_pattern() -> None:
    reply = longest()
    assert accepts(pair_grammar(), reply)
    assert PairOutput.model_validate_json(json.dumps(reply)).reason == reply["reason"]
    assert re.fullmatch(reason_pattern(), str(reply["reason"]))
    assert len(json.dumps(reply, separators=(",", ":")).encode()) <= max_reply_bytes()
    longer = {**reply, "reason": str(reply["reason"]) + " Another sentence is here."}
    assert not accepts(pair_grammar(), longer)


def test_the_longest_reply_fits_in_every_backbones_max_tokens(ws: Workspace) -> None:
    """Every token is at least one byte, so a reply of N bytes is at most N tokens: the
    grammar closes the JSON before any backbone's max_tokens."""
    budgets = {m.name: m.sampling.max_tokens for m in ws.registry.models.values()}
    assert budgets and all(max_reply_bytes() + 1 <= n for n in budgets.values()), budgets


def test_schema_twin_matches_the_grammar_on_examples() -> None:
    pattern = re.compile(reason_pattern())
    for reason, ok in [(GOOD["reason"], True), ("A b c. D e f!", True), ("A b.", False),
                       ("A b c", False), ("a b c.", False), ("A b\\c d.", False)]:
        assert bool(pattern.fullmatch(str(reason))) is ok, reason
        assert accepts(pair_grammar(), {**GOOD, "reason": reason}) is ok, reason
    schema = pair_schema()
    assert schema["required"] == ["reason", "choice", "margin"]
    assert schema["properties"]["choice"]["enum"] == list(CHOICES)
    xgr = need("xgrammar")
    xgr.Grammar.from_json_schema(json.dumps(schema))  # compiles under the server's backend


@pytest.mark.parametrize("reply", [
    {**GOOD, "extra": 1},
    {**GOOD, "reason": ""},
    {**GOOD, "reason": "No end"},
    {**GOOD, "reason": "One. Two. Three."},
    {**GOOD, "choice": "First"},
])
def test_validation_rejects_what_a_server_might_send(reply: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        PairOutput.model_validate_json(json.dumps(reply))
