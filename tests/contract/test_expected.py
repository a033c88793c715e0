"""The expected score and P(ship) against values computed by hand from given log-probabilities,
and properties that hold for any log-probabilities."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from panel.contract.expected import (
    TokenLogprobs,
    expected,
    score_distribution,
    tree_distribution,
)
from panel.contract.output import Rubric

RUBRIC = Rubric(ship_threshold=55, skip_threshold=65)
END = ',"'


def ln(p: float) -> float:
    return math.log(p)


def fixed(text: str) -> TokenLogprobs:
    """A token the grammar forced: it alone had probability."""
    return TokenLogprobs(text, {text: 0.0})


def review(score: list[TokenLogprobs], verdict: TokenLogprobs | None = None,
           head: str = '{"reasoning":"Fine tool here.","score":') -> list[TokenLogprobs]:
    """A generated review around the given score positions (the last one ends the number)."""
    pieces = [fixed(head[:12]), fixed(head[12:])]
    sampled_verdict = verdict or fixed("ship")
    return [*pieces, *score, fixed("ver"), fixed("dict"), fixed('":"'), sampled_verdict,
            fixed('","'), fixed("review")]


def test_single_token_scores_are_exact() -> None:
    """Llama-3-style number tokens: one position decides; 0.5*85 + 0.3*70 + 0.2*100."""
    toks = review([TokenLogprobs("85", {"85": ln(.5), "70": ln(.3), "100": ln(.2)}), fixed(END)])
    got = expected(toks, RUBRIC)
    assert got is not None
    assert got.score == pytest.approx(83.5)
    assert got.p_ship == pytest.approx(1.0)  # every score above skip_threshold
    assert score_distribution(toks, RUBRIC) == pytest.approx({85: .5, 70: .3, 100: .2})


def test_two_digit_split_uses_the_sampled_second_digit_for_every_first() -> None:
    """"8" "5": the second-digit distribution seen after "8" stands in after "7" and "9"."""
    toks = review([TokenLogprobs("8", {"8": ln(.6), "7": ln(.3), "9": ln(.1)}),
                   TokenLogprobs("5", {"5": ln(.5), "0": ln(.3), END: ln(.2)}),
                   fixed(END)])
    dist = score_distribution(toks, RUBRIC)
    assert dist == pytest.approx({85: .30, 80: .18, 8: .12, 75: .15, 70: .09, 7: .06,
                                  95: .05, 90: .03, 9: .02})
    got = expected(toks, RUBRIC)
    assert got is not None
    assert got.score == pytest.approx(66.46)
    assert got.p_ship == pytest.approx(.80)  # 85, 80, 75, 70, 95, 90 ship; 7, 8, 9 skip


def test_hundred_three_digits_and_a_branch_the_grammar_ends() -> None:
    """"1" "0" "0": after "9" the third-digit stand-in ("0") would make 900, which the
    grammar forbids, so that branch ends at 90 with the surviving mass."""
    toks = review([TokenLogprobs("1", {"1": ln(.7), "9": ln(.3)}),
                   TokenLogprobs("0", {"0": ln(.8), END: ln(.2)}),
                   TokenLogprobs("0", {"0": ln(.9), END: ln(.1)}),
                   fixed(END)])
    assert score_distribution(toks, RUBRIC) == pytest.approx(
        {100: .504, 10: .056, 1: .14, 90: .24, 9: .06})
    got = expected(toks, RUBRIC)
    assert got is not None
    assert got.score == pytest.approx(73.24)
    assert got.p_ship == pytest.approx(.744)


def test_overlap_scores_take_the_observed_verdict_probability() -> None:
    """Sampled 60 (in 55..65): P(ship | s) = 0.75 from the verdict token for 55, 60, 65."""
    toks = review([TokenLogprobs("6", {"6": ln(.5), "5": ln(.5)}),
                   TokenLogprobs("0", {"0": ln(.6), "5": ln(.4)}),
                   fixed(END)],
                  verdict=TokenLogprobs("ship", {"ship": ln(.75), "skip": ln(.25)}))
    got = expected(toks, RUBRIC)
    assert got is not None
    assert got.score == pytest.approx(57.0)  # .3*60 + .2*65 + .3*50 + .2*55
    assert got.p_ship == pytest.approx(.75 * (.3 + .2 + .2))


def test_overlap_scores_are_even_odds_when_the_verdict_was_forced() -> None:
    """Sampled 70 forces ship: nothing is known of P(ship | 60), which counts as 1/2."""
    toks = review([TokenLogprobs("7", {"7": ln(.5), "6": ln(.5)}),
                   TokenLogprobs("0", {"0": 0.0}), fixed(END)],
                  verdict=TokenLogprobs("ship", {"ship": 0.0, "skip": -math.inf}))
    got = expected(toks, RUBRIC)
    assert got is not None
    assert got.score == pytest.approx(65.0)
    assert got.p_ship == pytest.approx(.5 + .5 * .5)


def test_a_leading_zero_branch_ends_at_zero() -> None:
    """"05" is no JSON number: the "0" branch can only end, as 0."""
    toks = review([TokenLogprobs("5", {"5": ln(.5), "0": ln(.5)}),
                   TokenLogprobs("5", {"5": 0.0}), fixed(END)])
    assert score_distribution(toks, RUBRIC) == pytest.approx({55: .5, 0: .5})


def test_masked_and_hostile_values_count_as_zero() -> None:
    toks = review([TokenLogprobs("4", {"4": ln(.5), "3": -math.inf, "2": math.nan,
                                       "x": 0.0}),
                   TokenLogprobs(END, {END: 0.0, "1": -math.inf})])
    assert score_distribution(toks, RUBRIC) == {4: 1.0}


def test_a_tree_asked_prefix_by_prefix_and_where_the_stand_in_falls_short() -> None:
    """After "9" the model writes 90; after "1" it writes 100 (0.9) or 10. Asked of each
    prefix, the tree says so; the stand-in reads "1" with the digits seen after "9" (only
    "0", then the number's end) and takes it for 10 alone."""
    tops = {"": {"9": ln(.5), "1": ln(.5)}, "9": {"0": 0.0}, "1": {"0": 0.0},
            "10": {"0": ln(.9), END: ln(.1)}, "90": {END: 0.0}, "100": {END: 0.0}}
    exact = tree_distribution(lambda _, digits: tops.get(digits), RUBRIC)
    assert exact == pytest.approx({90: .5, 100: .45, 10: .05})
    toks = review([TokenLogprobs("9", tops[""]), TokenLogprobs("0", tops["9"]), fixed(END)])
    assert score_distribution(toks, RUBRIC) == pytest.approx({90: .5, 10: .5})


@pytest.mark.parametrize("toks", [
    [],
    [fixed('{"reasoning":"No score here."}')],
    # the score starts inside a token (":8): no position holds its first digit alone
    [fixed('{"reasoning":"Fine tool here.","score'), fixed('":8'), fixed("5"), fixed(END)],
])
def test_no_estimate_without_a_score_position(toks: list[TokenLogprobs]) -> None:
    assert expected(toks, RUBRIC) is None


# Alternatives at a score position: digits, short digit runs, the number's end, junk.
ALT = st.sampled_from([*"0123456789", "10", "85", "100", "07", "999", END, ",", "x", ""])
LOGPROB = st.one_of(st.floats(-30, 0), st.just(-math.inf), st.just(math.nan),
                    st.floats(0, 3))


@st.composite
def score_positions(draw: st.DrawFn) -> list[TokenLogprobs]:
    """One to four positions; each sampled token among its alternatives."""
    out = []
    for _ in range(draw(st.integers(1, 4))):
        top = draw(st.dictionaries(ALT, LOGPROB, min_size=1, max_size=8))
        out.append(TokenLogprobs(draw(st.sampled_from(sorted(top))), top))
    return out


@settings(max_examples=300, deadline=None)
@given(score_positions(), st.sampled_from(["ship", "skip"]), st.floats(-20, 0),
       st.integers(0, 100), st.integers(0, 100))
def test_expectation_stays_within_the_scores_it_weighs(
        positions: list[TokenLogprobs], verdict: str, verdict_lp: float,
        ship_at: int, skip_at: int) -> None:
    rubric = Rubric(ship_threshold=min(ship_at, skip_at + 1), skip_threshold=skip_at)
    other = "skip" if verdict == "ship" else "ship"
    toks = review(positions, verdict=TokenLogprobs(verdict, {verdict: verdict_lp, other: -1.0}))
    dist = score_distribution(toks, rubric)
    got = expected(toks, rubric)
    assert (got is None) == (not dist)
    if got is None:
        return
    assert sum(dist.values()) == pytest.approx(1.0)
    assert all(0 <= s <= 100 and p > 0 for s, p in dist.items())
    assert min(dist) <= got.score <= max(dist)
    assert 0.0 <= got.p_ship <= 1.0
