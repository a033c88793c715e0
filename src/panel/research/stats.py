"""Agreement statistics over verdicts and scores (scipy, sklearn, statsmodels)."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

from pydantic import BaseModel, Field

ALL = "all"
"""The persona label of a statistic taken over every persona."""


Item = tuple[str, str, int]
"""What two backbones are compared on: (tool, persona, sample)."""


def _finite(value: float) -> float | None:
    """None for NaN or infinity (an undefined statistic), else the value rounded."""
    return None if value is None or not math.isfinite(value) else round(float(value), 4)


def verdict_agreement(a: Sequence[str], b: Sequence[str]) -> float | None:
    """Percentage of items on which both gave the same verdict."""
    if not a:
        return None
    return round(100 * sum(x == y for x, y in zip(a, b, strict=True)) / len(a), 2)


def cohen_kappa(a: Sequence[str], b: Sequence[str]) -> float | None:
    """Cohen's kappa of two raters' verdicts; None when chance agreement is total.

    With one class on both sides (every verdict "ship") kappa is 0/0: undefined, and
    reported as such rather than as sklearn's NaN.
    """
    from sklearn.metrics import cohen_kappa_score  # heavy import

    if len(a) < 2 or len(set(a) | set(b)) < 2:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return _finite(cohen_kappa_score(a, b))


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman's rank correlation; None when either side is constant or n < 2."""
    from scipy.stats import spearmanr

    if len(x) < 2 or len(set(x)) < 2 or len(set(y)) < 2:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _finite(spearmanr(x, y).statistic)


def fleiss_kappa(ratings: Sequence[Sequence[str]]) -> float | None:
    """Fleiss' kappa over items each rated by the same number of raters (>= 2)."""
    import numpy as np
    from statsmodels.stats.inter_rater import aggregate_raters
    from statsmodels.stats.inter_rater import fleiss_kappa as _fleiss

    if len(ratings) < 2 or min(len(r) for r in ratings) < 2:
        return None
    if len({len(r) for r in ratings}) != 1:
        raise ValueError("Fleiss' kappa needs the same number of ratings for every item")
    if len({v for r in ratings for v in r}) < 2:
        return None  # one class everywhere: chance agreement is 1 and kappa is 0/0
    codes = {v: i for i, v in enumerate(sorted({v for r in ratings for v in r}))}
    table, _ = aggregate_raters(np.array([[codes[v] for v in r] for r in ratings]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return _finite(_fleiss(table, method="fleiss"))


class Distribution(BaseModel):
    """A five-number summary with mean and standard deviation."""

    n: int
    mean: float | None = None
    std: float | None = None
    min: float | None = None
    q1: float | None = None
    median: float | None = None
    q3: float | None = None
    max: float | None = None


def distribution(values: Sequence[float]) -> Distribution:
    """Summary statistics; only n when there is nothing to summarise."""
    import numpy as np

    if not values:
        return Distribution(n=0)
    arr = np.asarray(values, dtype=float)
    q1, med, q3 = np.percentile(arr, [25, 50, 75])
    return Distribution(n=len(arr), mean=_finite(arr.mean()), std=_finite(arr.std()),
                        min=_finite(arr.min()), q1=_finite(q1), median=_finite(med),
                        q3=_finite(q3), max=_finite(arr.max()))


def fmt(value: float | None, spec: str = ".2f") -> str:
    """A number for a table, or "n/a" when the statistic is undefined."""
    return "n/a" if value is None else format(value, spec)


CONFIDENCE = 0.95
"""The confidence level of every interval the audit reports."""


class Estimate(BaseModel):
    """A statistic with its count and its 95% interval: a share (%) or a mean (points).

    ``None`` marks what is undefined: no estimate without observations, no interval from a
    single one. ``excluded`` counts what was left out (a failed review on either side), so
    a reader sees how much of the planned data the estimate stands on.
    """

    n: int = Field(description="Observations the estimate is taken over.")
    k: int | None = Field(None, description="Successes, for a share; None for a mean.")
    excluded: int = Field(0, description="Observations left out (a failed review).")
    estimate: float | None = Field(None, description="The share in % or the mean.")
    ci_low: float | None = Field(None, description="Lower end of the 95% interval.")
    ci_high: float | None = Field(None, description="Upper end of the 95% interval.")


def share_interval(k: int, n: int, excluded: int = 0,
                   confidence: float = CONFIDENCE) -> Estimate:
    """k of n as a percentage with Wilson's score interval (scipy's ``binomtest``).

    Why Wilson, not the exact Clopper-Pearson interval: with the audit's small counts (15
    pairs per persona) the exact interval is conservative, wider than its level promises;
    Wilson's keeps close to the nominal coverage and, unlike the normal (Wald) interval,
    stays inside 0-100% and is not empty at k = 0 or k = n (Brown, Cai & DasGupta 2001).
    """
    from scipy.stats import binomtest

    if n == 0:
        return Estimate(n=0, k=0, excluded=excluded)
    ci = binomtest(k, n).proportion_ci(confidence_level=confidence, method="wilson")
    return Estimate(n=n, k=k, excluded=excluded, estimate=_finite(100 * k / n),
                    ci_low=_finite(100 * ci.low), ci_high=_finite(100 * ci.high))


def mean_interval(values: Sequence[float], excluded: int = 0,
                  confidence: float = CONFIDENCE) -> Estimate:
    """The mean with Student's t interval (scipy's ``t.interval`` around the standard error).

    Why t, not a bootstrap: a persona x backbone cell holds a handful of shifts (6 cards x
    k samples); a percentile bootstrap of six values is too narrow and its resampling makes
    the numbers depend on a seed, while the t interval is deterministic and honest about
    small n. With one value there is no interval; with identical values it has width 0.
    """
    import numpy as np
    from scipy.stats import sem, t

    if not values:
        return Estimate(n=0, excluded=excluded)
    arr = np.asarray(values, dtype=float)
    mean = float(arr.mean())
    if len(arr) == 1:
        return Estimate(n=1, excluded=excluded, estimate=_finite(mean))
    if np.all(arr == arr[0]):
        low = high = mean
    else:
        low, high = t.interval(confidence, len(arr) - 1, loc=mean, scale=sem(arr))
    return Estimate(n=len(arr), excluded=excluded, estimate=_finite(mean),
                    ci_low=_finite(low), ci_high=_finite(high))
