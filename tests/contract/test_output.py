"""The review contract: sentence counts, verdict/score consistency, the generation grammar."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from panel.config.settings import load_config
from panel.config.workspace import Workspace
from panel.contract.bound import max_tokens_bound
from panel.contract.evidence import quote_texts
from panel.contract.grammar import (
    generation_grammar,
    generation_schema,
    review_max_tokens,
    review_pattern,
)
from panel.contract.output import WORD_CHARS, ReviewLengths, ReviewOutput, Rubric, count_sentences
from panel.errors import InputError
from panel.inputs.cards import NAME_MAX, load_cards
from panel.pipeline.run import plan

from conftest import EXAMPLES, need
from factories import copy_project

RUBRIC = Rubric(ship_threshold=55, skip_threshold=65)
QUOTES = ("Tool.io (beta) ships diffs.", 'It says "hi" \\ in caf\u00e9s.\nTwice.')


def reply(score: int, verdict: str, review: str = "Tool is fine. It works well.") -> str:
    return json.dumps({"evidence": [QUOTES[0]], "reasoning": "Short notes here.",
                       "score": score, "verdict": verdict, "review": review})


def test_evidence_must_be_the_cards_own_quotes_when_they_are_known() -> None:
    """A new reply (the card's quotes in the context) needs one to three of them; a record
    read back (no quotes) keeps what it has, an older one no evidence at all."""
    ctx = {"quotes": QUOTES[1:]}
    with pytest.raises(ValidationError, match="evidence quote 1 is not a sentence of the card"):
        ReviewOutput.model_validate_json(reply(70, "ship"), context=ctx)
    old = json.loads(reply(70, "ship"))
    del old["evidence"]
    assert ReviewOutput.model_validate(old).evidence == []
    with pytest.raises(ValidationError, match="needs 1 to 3 quotes"):
        ReviewOutput.model_validate(old, context=ctx)
    with pytest.raises(ValidationError, match="over 160 bytes"):
        ReviewOutput.model_validate({**old, "evidence": ["é" * 81]})


@pytest.mark.parametrize(("score", "verdict", "ok"), [
    (55, "ship", True), (54, "ship", False), (65, "skip", True), (66, "skip", False),
    (60, "ship", True), (60, "skip", True), (0, "skip", True), (100, "ship", True)])
def test_verdict_must_agree_with_score(score: int, verdict: str, ok: bool) -> None:
    ctx = {"rubric": RUBRIC}
    if ok:
        assert ReviewOutput.model_validate_json(reply(score, verdict), context=ctx).score == score
    else:
        with pytest.raises(ValidationError, match="contradicts score"):
            ReviewOutput.model_validate_json(reply(score, verdict), context=ctx)


@pytest.mark.parametrize(("text", "n"), [
    ("One. Two.", 2), ("It costs $0.09 a minute. Fine!", 2), ("No ending", 0),
    ("A? B! C.", 3)])
def test_count_sentences(text: str, n: int) -> None:
    assert count_sentences(text) == n


def test_one_sentence_review_is_rejected() -> None:
    with pytest.raises(ValidationError, match="1 sentences"):
        ReviewOutput.model_validate_json(reply(70, "ship", "Only one sentence here."))


def test_out_of_range_score_and_extra_keys_are_rejected() -> None:
    with pytest.raises(ValidationError):
        ReviewOutput.model_validate_json(reply(101, "ship"))
    with pytest.raises(ValidationError):
        ReviewOutput.model_validate({**json.loads(reply(70, "ship")), "extra": 1})


def test_generation_schema_branches_follow_the_rubric() -> None:
    ship, skip = generation_schema(RUBRIC, quotes=QUOTES)["anyOf"]
    assert ship["properties"]["verdict"]["enum"] == ["ship"]
    ship_score, skip_score = ship["properties"]["score"], skip["properties"]["score"]
    assert (ship_score["minimum"], ship_score["maximum"]) == (55, 100)
    assert (skip_score["minimum"], skip_score["maximum"]) == (0, 65)
    assert list(ship["properties"]) == ["evidence", "reasoning", "score", "verdict", "review"]
    assert generation_schema(RUBRIC, quotes=QUOTES)["$defs"]["quote"]["enum"] == list(QUOTES)


def test_review_pattern_opens_with_the_escaped_tool_name() -> None:
    pattern = re.compile(review_pattern("Tool.io (beta)"))
    assert pattern.match("Tool.io (beta) is a neat thing. It works on my machine.")
    assert not pattern.match("Toolxio (beta) is a neat thing. It works on my machine.")
    assert not pattern.match("Tool.io (beta) is a neat thing.")  # one sentence
    seven = " ".join(["Tool.io (beta) is fine."] + ["More words here now."] * 6)
    assert not pattern.match(seven)


def test_rubric_without_a_verdict_for_some_score_is_rejected() -> None:
    with pytest.raises(ValidationError):
        Rubric(ship_threshold=70, skip_threshold=50)


def accepts(grammar: str, reply: dict[str, object], separators: tuple[str, str] = (",", ":"),
            ) -> bool:
    """Whether xgrammar's parser accepts the reply, written as JSON with ``separators``."""
    testing = need("xgrammar.testing")
    xgr = need("xgrammar")
    text = json.dumps(reply, separators=separators, ensure_ascii=False)
    return bool(testing._is_grammar_accept_string(xgr.Grammar.from_ebnf(grammar), text))


GOOD = {"evidence": list(QUOTES), "reasoning": "Real primitive, cheap first run.",
        "score": 70, "verdict": "ship",
        "review": "Tool.io (beta) does one job well. The first run took me five minutes."}


@pytest.mark.parametrize(("change", "ok"), [
    ({}, True),
    ({"score": 60, "verdict": "skip"}, True),                 # 55..65 may carry either verdict
    ({"score": 80, "verdict": "skip"}, False),                # contradicts the rubric
    ({"score": 50, "verdict": "ship"}, False),
    ({"score": 101}, False),
    ({"review": "Toolio (beta) does one job well. The first run took me minutes."}, False),
    ({"review": "Tool.io (beta) does one job well."}, False),  # one sentence
    ({"review": " ".join(["Tool.io (beta) does one job well."] + ["It runs fast today."] * 6)},
     False),                                                  # seven sentences
    ({"reasoning": "Cheap " + "boarding," * 3 + "boarding first run."}, False),  # a 36-char word
    ({"reasoning": "Too short."}, False),
    ({"reasoning": 'Has a "quote" inside it.'}, False),
    ({"reasoning": "Cheap first run, très good."}, False),  # every word character is 1 byte
    ({"evidence": []}, False),                                # at least one quote
    ({"evidence": [QUOTES[0]] * 4}, False),                   # at most three
    ({"evidence": [QUOTES[1], QUOTES[0], QUOTES[1]]}, True),  # in any order, repeats too
    ({"evidence": ["Tool.io (beta) ships diffs"]}, False),    # only the card's own sentences
    ({"evidence": ["It says \"hi\""]}, False),
    ({"review": "Tool.io (beta) does one job well. The first run took me 5\u00a0minutes."},
     False),
])
def test_generation_grammar_enforces_the_contract(change: dict[str, object], ok: bool) -> None:
    assert accepts(generation_grammar(RUBRIC, "Tool.io (beta)", quotes=QUOTES),
                   {**GOOD, **change}) is ok


def test_generation_grammar_allows_no_whitespace_between_json_tokens() -> None:
    assert not accepts(generation_grammar(RUBRIC, "Tool.io (beta)", quotes=QUOTES), GOOD,
                       (", ", ": "))


def test_a_name_that_needs_escaping_falls_back_to_any_capitalised_opener() -> None:
    grammar = generation_grammar(RUBRIC, 'Say "hi"', quotes=QUOTES)
    assert accepts(grammar, {**GOOD, "review": "Greeter does one job well. It says hello twice."})


def longest_reply(name: str, lengths: ReviewLengths) -> dict[str, object]:
    """The longest reply the grammar allows under ``lengths``: every count at its most."""
    word = "w" * WORD_CHARS
    reasoning = " ".join(["W" + word[1:]] + [word] * (lengths.reasoning_words[1] - 1))
    words = lengths.sentence_words[1] - 1
    sentence = " ".join(["S" + word[1:]] + [word] * words) + "."
    review = " ".join([name + " " + " ".join([word] * words) + "."]
                      + [sentence] * (lengths.sentences[1] - 1))
    return {"evidence": [QUOTES[0]] * 3, "reasoning": reasoning, "score": 100,
            "verdict": "ship", "review": review}


TIGHT = ReviewLengths(sentences=(2, 3), sentence_words=(4, 12), reasoning_words=(4, 12))


@pytest.mark.parametrize("lengths", [ReviewLengths(), TIGHT], ids=["default", "tight"])
def test_the_longest_strings_the_grammar_allows_pass_validation(lengths: ReviewLengths,
                                                               ) -> None:
    """Grammar and validation share their bounds: a reply the engine can produce is never
    rejected for its length, under the default lengths and under a project's tighter ones."""
    name = "N" * NAME_MAX
    reply = longest_reply(name, lengths)
    assert accepts(generation_grammar(RUBRIC, name, lengths, QUOTES), reply)
    out = ReviewOutput.model_validate_json(json.dumps(reply),
                                           context={"rubric": RUBRIC, "lengths": lengths})
    assert out.review == reply["review"]
    ReviewOutput.model_validate_json(json.dumps(reply))  # the defaults accept it too


@pytest.mark.parametrize("longer", ["sentences", "sentence_words", "reasoning_words"])
def test_tighter_lengths_refuse_one_more_sentence_or_word(longer: str) -> None:
    """One count past a tighter contract: the grammar cannot produce it, and validation
    under the project's lengths refuses it (a server may ignore the grammar), while the
    default contract, which reads records back, still accepts it."""
    wider = TIGHT.model_copy(update={longer: (getattr(TIGHT, longer)[0],
                                              getattr(TIGHT, longer)[1] + 1)})
    reply = longest_reply("Tool.io (beta)", wider)
    assert not accepts(generation_grammar(RUBRIC, "Tool.io (beta)", TIGHT, QUOTES), reply)
    assert accepts(generation_grammar(RUBRIC, "Tool.io (beta)", wider, QUOTES), reply)
    if longer != "sentence_words":  # more words fit the characters another sentence frees
        with pytest.raises(ValidationError, match="sentences|characters"):
            ReviewOutput.model_validate_json(json.dumps(reply), context={"lengths": TIGHT})
    ReviewOutput.model_validate_json(json.dumps(reply))
    schema = generation_schema(RUBRIC, "Tool.io (beta)", TIGHT, QUOTES)["$defs"]
    field = "reasoning" if longer == "reasoning_words" else "review"
    assert not re.fullmatch(schema[field]["pattern"].strip("^$"), str(reply[field]))


@pytest.mark.parametrize(("review", "message"), [
    ({"sentences": [1, 3]}, r"sentences \[1, 3\] must be two counts within \[2, 5\]"),
    ({"sentence_words": [4, 21]}, r"within \[4, 20\]"),
    ({"reasoning_words": [9, 8]}, "the fewer first"),
    ({"sentence": [2, 3]}, "review.sentence"),
])
def test_panel_yaml_lengths_may_only_tighten_the_contract(tmp_path: Path,
                                                         review: dict[str, object],
                                                         message: str) -> None:
    """Wider than the defaults would outrun the ``max_tokens`` every registry entry was
    checked against, and records read back without settings are checked against them."""
    path = tmp_path / "panel.yaml"
    path.write_text(yaml.safe_dump({"review": review}))
    with pytest.raises(InputError, match=message) as err:
        load_config(path)
    assert str(path) in str(err.value)


def test_panel_yaml_lengths_reach_grammar_prompt_and_bound(tmp_path: Path) -> None:
    root = copy_project(tmp_path / "project")
    panel = root / "panel.yaml"
    panel.write_text(panel.read_text() + "review:\n  sentences: [2, 3]\n"
                     "  sentence_words: [4, 12]\n  reasoning_words: [4, 12]\n")
    ws = Workspace(tmp_path / "out", root)
    settings = ws.settings("mock")
    assert settings.lengths == TIGHT
    job = plan(ws, [load_cards([EXAMPLES / "vectorloom.yaml"])[0].card], "mock")[0]
    assert "2 to 3 sentences" in job.messages[0]["content"]
    grammar = generation_grammar(settings.rubric, job.card.name, settings.lengths,
                                 quote_texts(job.card.description))
    assert max_tokens_bound(grammar) < review_max_tokens() // 2
