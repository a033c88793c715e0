"""The review contract: sentence counts, verdict/score consistency, the generation grammar."""

from __future__ import annotations

import json
import re

import pytest
from pydantic import ValidationError

from panel.schema import ReviewOutput, Rubric, count_sentences, generation_schema, review_pattern

RUBRIC = Rubric(ship_threshold=55, skip_threshold=65)


def reply(score: int, verdict: str, review: str = "Tool is fine. It works well.") -> str:
    return json.dumps({"reasoning": "Short notes here.", "score": score, "verdict": verdict,
                       "review": review})


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
    ship, skip = generation_schema(RUBRIC)["anyOf"]
    assert ship["properties"]["verdict"]["enum"] == ["ship"]
    ship_score, skip_score = ship["properties"]["score"], skip["properties"]["score"]
    assert (ship_score["minimum"], ship_score["maximum"]) == (55, 100)
    assert (skip_score["minimum"], skip_score["maximum"]) == (0, 65)
    assert list(ship["properties"]) == ["reasoning", "score", "verdict", "review"]


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
