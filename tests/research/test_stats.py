"""Intervals of the bias audit: known shares and means against scipy and the formulas."""

from __future__ import annotations

import math

import pytest
from scipy import stats

from panel.research.stats import Estimate, mean_interval, share_interval


def _wilson(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson's score interval from its formula, for a check independent of scipy."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


@pytest.mark.parametrize(("k", "n"), [(3, 10), (0, 15), (15, 15), (7, 15), (1, 2)])
def test_a_share_has_wilsons_interval_as_scipy_computes_it(k: int, n: int) -> None:
    est = share_interval(k, n, excluded=2)
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    lo, hi = _wilson(k, n)
    assert (est.n, est.k, est.excluded) == (n, k, 2)
    assert est.estimate == pytest.approx(100 * k / n, abs=1e-4)
    assert est.ci_low == pytest.approx(100 * ci.low, abs=1e-4) == pytest.approx(100 * lo, abs=1e-4)
    assert est.ci_high == pytest.approx(100 * ci.high, abs=1e-4)
    assert est.ci_high == pytest.approx(100 * hi, abs=1e-4)


def test_three_of_ten_by_hand() -> None:
    # Wilson, z = 1.96: centre (0.3 + 0.19208) / 1.38415 = 0.35554, half-width 0.24776.
    est = share_interval(3, 10)
    assert (est.estimate, est.ci_low, est.ci_high) == (30.0, 10.7791, 60.3222)


def test_no_observations_is_undefined_not_zero() -> None:
    assert share_interval(0, 0, excluded=4) == Estimate(n=0, k=0, excluded=4)
    assert mean_interval([], excluded=3) == Estimate(n=0, excluded=3)


def test_a_mean_has_students_t_interval_as_scipy_computes_it() -> None:
    values = [-10.0, 4.0, 0.0, 12.0, -3.0, 5.0]
    est = mean_interval(values, excluded=1)
    lo, hi = stats.t.interval(0.95, 5, loc=sum(values) / 6, scale=stats.sem(values))
    assert (est.n, est.k, est.excluded) == (6, None, 1)
    assert est.estimate == pytest.approx(8 / 6, abs=1e-4)
    assert (est.ci_low, est.ci_high) == (pytest.approx(lo, abs=1e-4), pytest.approx(hi, abs=1e-4))
    # by hand: sd sqrt(283.33 / 5) = 7.5277, sem 3.0732, t(0.975, 5) = 2.5706:
    # 1.3333 -/+ 7.8999
    assert (est.ci_low, est.ci_high) == (-6.5665, 9.2332)


def test_one_value_has_no_interval_and_equal_values_a_point() -> None:
    assert mean_interval([7.0]) == Estimate(n=1, estimate=7.0)
    assert mean_interval([3.0, 3.0, 3.0]) == Estimate(n=3, estimate=3.0, ci_low=3.0, ci_high=3.0)
