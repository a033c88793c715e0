"""Clustered intervals and Krippendorff's alpha against published values and other libraries."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from panel.research.cluster import (
    _alpha_draws,
    _codes,
    _cr1_variance,
    alpha,
    alpha_interval,
    cluster_bootstrap,
    cluster_mean,
    cluster_share,
    kappa_fast,
    spearman_fast,
)
from panel.research.stats import mean_interval

NA = np.nan
# Krippendorff (2011), "Computing Krippendorff's alpha-reliability", section C: 4 observers,
# 12 units, 7 ratings missing. Published: nominal 0.743, ordinal 0.815, interval 0.849.
KRIPPENDORFF_2011 = np.array([
    [1, 2, 3, 3, 2, 1, 4, 1, 2, NA, NA, NA],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NA, 3],
    [NA, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NA],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NA],
])


def test_alpha_reproduces_krippendorffs_published_values_with_missing_ratings() -> None:
    assert alpha(KRIPPENDORFF_2011, "nominal") == pytest.approx(0.743, abs=5e-4)
    assert alpha(KRIPPENDORFF_2011, "ordinal") == pytest.approx(0.815, abs=5e-4)


@pytest.mark.parametrize("level", ["nominal", "ordinal"])
def test_the_resampled_alpha_is_the_packages_alpha_of_the_resampled_units(level: str) -> None:
    rng = np.random.default_rng(3)
    ratings = rng.integers(0, 101, size=(3, 40)).astype(float)
    ratings[rng.random(ratings.shape) < 0.15] = NA  # failed reviews: missing ratings
    cards = [u // 4 for u in range(40)]
    codes, count = _codes(cards)
    draws = rng.integers(0, count, size=(5, count))
    fast = _alpha_draws(ratings, codes, count, level, draws)  # type: ignore[arg-type]
    for value, row in zip(fast, draws, strict=True):
        columns = np.concatenate([np.flatnonzero(codes == c) for c in row])
        assert value == pytest.approx(alpha(ratings[:, columns], level), abs=1e-9)  # type: ignore[arg-type]


def test_alpha_is_undefined_without_disagreement_to_expect() -> None:
    assert alpha(np.array([[1.0, 1.0], [1.0, 1.0]]), "nominal") is None
    assert alpha(np.array([[1.0, NA], [NA, 2.0]]), "nominal") is None  # nothing pairable


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.booleans()), min_size=2, max_size=40))
def test_fast_kappa_is_scikit_learns(pairs: list[tuple[bool, bool]]) -> None:
    from sklearn.metrics import cohen_kappa_score

    a = np.array([x for x, _ in pairs], dtype=np.intp)
    b = np.array([y for _, y in pairs], dtype=np.intp)
    mine = kappa_fast(a, b)
    if len(set(a) | set(b)) < 2:
        assert mine is None
    else:
        with np.errstate(all="ignore"):
            theirs = cohen_kappa_score(a, b)
        assert (mine is None and math.isnan(theirs)) or mine == pytest.approx(theirs)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 100), st.integers(0, 100)), min_size=3, max_size=40))
def test_fast_spearman_is_scipys(pairs: list[tuple[int, int]]) -> None:
    x = np.array([p for p, _ in pairs], dtype=float)
    y = np.array([q for _, q in pairs], dtype=float)
    mine = spearman_fast(x, y)
    if len(set(x)) < 2 or len(set(y)) < 2:
        assert mine is None
    else:
        assert mine == pytest.approx(stats.spearmanr(x, y).statistic)


def test_the_clustered_standard_error_is_statsmodels_cluster_robust_one() -> None:
    import statsmodels.api as sm

    rng = np.random.default_rng(7)
    cards = np.repeat(np.arange(8), 6)
    values = rng.normal(size=8)[cards] + rng.normal(size=48)
    fit = sm.OLS(values, np.ones(48)).fit(cov_type="cluster", cov_kwds={"groups": cards})
    codes, count = _codes(list(cards))
    assert math.sqrt(_cr1_variance(values, codes, count)) == pytest.approx(fit.bse[0], rel=1e-9)
    est = cluster_mean(list(values), list(cards))
    half = stats.t.ppf(0.975, 7) * fit.bse[0]
    assert (est.n, est.clusters) == (48, 8)
    assert est.ci_low == pytest.approx(values.mean() - half, abs=1e-4)
    assert est.ci_high == pytest.approx(values.mean() + half, abs=1e-4)


def test_k_copies_of_each_card_widen_the_clustered_interval_not_the_naive_one() -> None:
    """k = 3 samples that repeat their card's value add no information: the naive t interval
    shrinks by about sqrt(3) as if they did, the clustered one does not move."""
    shifts = [4.0, -2.0, 9.0, 0.0, 6.0, 3.0]
    once = cluster_mean(shifts, range(6))
    thrice = cluster_mean([s for s in shifts for _ in range(3)], [c for c in range(6)
                                                                   for _ in range(3)])
    assert (thrice.ci_low, thrice.ci_high) == (once.ci_low, once.ci_high)
    assert (once.ci_low, once.ci_high) == (mean_interval(shifts).ci_low,
                                           mean_interval(shifts).ci_high)
    naive = mean_interval([s for s in shifts for _ in range(3)])
    assert naive.ci_high is not None and once.ci_high is not None
    ratio = (once.ci_high - once.ci_low) / (naive.ci_high - (naive.ci_low or 0))
    # sqrt(17/5) from the n - 1's, times t(.975, 5) / t(.975, 17) = 2.5706 / 2.1098.
    assert ratio == pytest.approx(math.sqrt(17 / 5) * 2.5706 / 2.1098, abs=1e-3)


def test_a_share_of_all_or_nothing_keeps_wilsons_width_on_t() -> None:
    est = cluster_share([False] * 6, [0, 0, 1, 1, 2, 2])
    # deff 1 (no variance either way), z = t(0.975, 2) = 4.3027: upper 4.3027^2 / (6 + 18.513).
    assert (est.estimate, est.ci_low) == (0.0, 0.0)
    assert est.ci_high == pytest.approx(100 * 18.513 / 24.513, abs=0.01)


def test_one_card_has_no_interval_and_the_bootstrap_is_seeded() -> None:
    one = cluster_bootstrap(lambda i: float(len(i)), ["a", "a", "a"])
    assert (one.estimate, one.ci_low, one.ci_high, one.clusters) == (3.0, None, None, 1)
    rng = np.random.default_rng(1)
    ratings = rng.integers(0, 2, size=(2, 30)).astype(float)
    cards = [u // 3 for u in range(30)]
    first = alpha_interval(ratings, cards, "nominal", resamples=300)
    assert first == alpha_interval(ratings, cards, "nominal", resamples=300)
    assert first.method == ("cluster bootstrap over cards, 300 resamples (seed 0), "
                            "estimate -/+ t(C-1) x SD")
    assert first.ci_low is not None and first.ci_low < (first.estimate or 0) < (first.ci_high or 0)
