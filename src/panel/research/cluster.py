"""Intervals that respect the design: clustered by card, and Krippendorff's alpha.

Why clustered: a study's observations are cards x personas x k samples, but they are not
independent. The k samples of one review differ only by a seed, and a card one persona
finds weak the others often do too; an interval that treats every observation as
independent (Student's t over all shifts, Wilson over all pairs) is too narrow by the
design effect, up to 3x on evals (Miller 2024, "Adding Error Bars to Evals"). Both methods
here keep each card's observations together, so an interval reflects how many *cards* a
figure stands on:

- a mean (a score shift, an MAE) takes the cluster-robust standard error (CR1: the
  residuals summed per card, times C/(C-1)) with Student's t on C - 1 degrees of freedom;
  a share (agreement, a flip rate) takes Wilson's interval on the effective sample size
  n / deff, deff being the clustered variance over the binomial one (never below 1).
  Deterministic, and honest with few cards: with 2 cards t(0.975, 1) = 12.7, where a
  percentile bootstrap over 2 cards would give an interval narrower than the naive one.
- any other statistic (kappa, Spearman's rho, Krippendorff's alpha) takes a cluster
  bootstrap: ``RESAMPLES`` resamples of whole cards from numpy's ``default_rng(SEED)`` (the
  same data give the same interval), the estimate -/+ t(C - 1) x the resamples' standard
  deviation, clipped to the statistic's range (t, not the percentiles, for the same reason
  as above; Cameron, Gelbach & Miller 2008 on few clusters). Resamples where the statistic
  is undefined (kappa with one verdict class) are left out; when more than half are, or
  there is a single card, there is no interval.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Sequence
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field

from panel.research.stats import CONFIDENCE

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

RESAMPLES = 2000
"""Bootstrap resamples: enough for stable 2.5% and 97.5% percentiles (Efron & Tibshirani)."""
SEED = 0
"""The bootstrap's seed: reports are reproducible, not a fresh draw each time."""

Stat = Callable[["NDArray[np.intp]"], "float | None"]
"""A statistic over a subset of the observations, given as an index array (with repeats)."""


class Interval(BaseModel):
    """A statistic, its 95% interval, and what it stands on: n, clusters and the method."""

    estimate: float | None = Field(None, description="On all the observations; None if "
                                   "undefined.")
    ci_low: float | None = Field(None, description="Lower end of the 95% interval.")
    ci_high: float | None = Field(None, description="Upper end of the 95% interval.")
    n: int = Field(0, description="Observations.")
    clusters: int = Field(0, description="Independent units resampled (cards, or pairs).")
    method: str = Field("", description="How the interval was computed.")


def method(unit: str = "cards", resamples: int = RESAMPLES) -> str:
    """The method line of a bootstrapped interval."""
    return (f"cluster bootstrap over {unit}, {resamples} resamples (seed {SEED}), "
            "estimate -/+ t(C-1) x SD")


def se_method(unit: str = "cards", share: bool = False) -> str:
    """The method line of a clustered-standard-error interval."""
    if share:
        return f"Wilson on n/deff, clustered by {unit} (CR1), t(C-1)"
    return f"clustered SE by {unit} (CR1), t(C-1)"


def _critical(clusters: int, confidence: float) -> float:
    """Student's t quantile on C - 1 degrees of freedom."""
    from scipy.stats import t

    return float(t.ppf(1 - (1 - confidence) / 2, clusters - 1))


def _codes(clusters: Sequence[Hashable]) -> tuple[NDArray[np.intp], int]:
    """Each observation's cluster as 0..C-1, in first-seen order; and C."""
    import numpy as np

    index: dict[Hashable, int] = {}
    codes = np.fromiter((index.setdefault(c, len(index)) for c in clusters), dtype=np.intp,
                        count=len(clusters))
    return codes, len(index)


def _draws(count: int, resamples: int, seed: int) -> NDArray[np.intp]:
    """``resamples`` x ``count`` cluster indices, drawn with replacement."""
    import numpy as np

    return np.random.default_rng(seed).integers(0, count, size=(resamples, count))


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else round(float(value), 4)


def _spread(estimate: float, values: Sequence[float], resamples: int, clusters: int,
            confidence: float, bounds: tuple[float, float]) -> tuple[float | None, float | None]:
    """estimate -/+ t(C-1) x the resamples' SD, within ``bounds``; (None, None) when most
    resamples were undefined."""
    import numpy as np

    if len(values) * 2 < resamples:
        return None, None
    half = _critical(clusters, confidence) * float(np.std(values, ddof=1))
    return _finite(max(bounds[0], estimate - half)), _finite(min(bounds[1], estimate + half))


def cluster_bootstrap(stat: Stat, clusters: Sequence[Hashable], *, unit: str = "cards",
                      bounds: tuple[float, float] = (-1.0, 1.0), resamples: int = RESAMPLES,
                      seed: int = SEED, confidence: float = CONFIDENCE) -> Interval:
    """``stat`` on every observation, with its cluster-bootstrap interval over ``clusters``
    (one label per observation: the card, or the pair, it belongs to)."""
    import numpy as np

    codes, count = _codes(clusters)
    n = len(codes)
    estimate = _finite(stat(np.arange(n, dtype=np.intp))) if n else None
    out = Interval(estimate=estimate, n=n, clusters=count, method=method(unit, resamples))
    if estimate is None or count < 2:
        return out
    members = [np.flatnonzero(codes == c) for c in range(count)]
    values = []
    for row in _draws(count, resamples, seed):
        value = stat(np.concatenate([members[c] for c in row]))
        if value is not None and math.isfinite(value):
            values.append(value)
    low, high = _spread(estimate, values, resamples, count, confidence, bounds)
    return out.model_copy(update={"ci_low": low, "ci_high": high})


def _cr1_variance(arr: NDArray[np.floating], codes: NDArray[np.intp], count: int) -> float:
    """The cluster-robust (CR1) variance of the mean: residuals summed per cluster."""
    import numpy as np

    resid = np.bincount(codes, weights=arr - arr.mean(), minlength=count)
    return float(count / (count - 1) * np.sum(resid ** 2) / len(arr) ** 2)


def cluster_mean(values: Sequence[float], clusters: Sequence[Hashable], *,
                 unit: str = "cards", confidence: float = CONFIDENCE) -> Interval:
    """The mean with the clustered-standard-error interval, t on C - 1 degrees of freedom."""
    import numpy as np

    codes, count = _codes(clusters)
    arr = np.asarray(values, dtype=float)
    out = Interval(n=len(arr), clusters=count, method=se_method(unit))
    if not len(arr):
        return out
    mean = float(arr.mean())
    out.estimate = _finite(mean)
    if count < 2:
        return out
    half = _critical(count, confidence) * math.sqrt(_cr1_variance(arr, codes, count))
    return out.model_copy(update={"ci_low": _finite(mean - half),
                                  "ci_high": _finite(mean + half)})


def cluster_share(hits: Sequence[bool], clusters: Sequence[Hashable], *,
                  unit: str = "cards", confidence: float = CONFIDENCE) -> Interval:
    """k of n in % with Wilson's interval on the effective sample size n / deff.

    deff is the clustered (CR1) variance of the share over the binomial p(1-p)/n, never
    below 1 (clustering cannot add information); at k = 0 or n both are 0 and deff is 1.
    The critical value is t(C - 1), not z, for the few cards a study has."""
    import numpy as np

    codes, count = _codes(clusters)
    arr = np.asarray(hits, dtype=float)
    out = Interval(n=len(arr), clusters=count, method=se_method(unit, share=True))
    if not len(arr):
        return out
    p = float(arr.mean())
    out.estimate = _finite(100 * p)
    if count < 2:
        return out
    binomial = p * (1 - p) / len(arr)
    deff = max(1.0, _cr1_variance(arr, codes, count) / binomial) if binomial > 0 else 1.0
    low, high = wilson(p, len(arr) / deff, _critical(count, confidence))
    return out.model_copy(update={"ci_low": _finite(100 * low), "ci_high": _finite(100 * high)})


def wilson(p: float, n: float, z: float) -> tuple[float, float]:
    """Wilson's score interval for a proportion p of n (n need not be whole)."""
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


# --- fast statistics for the resamples -------------------------------------------------------


def kappa_fast(a: NDArray[np.intp], b: NDArray[np.intp]) -> float | None:
    """Cohen's kappa of two coded label arrays (scikit-learn's, without its validation,
    which costs more than the statistic 2000 times over); None when chance agreement is 1."""
    import numpy as np

    if len(a) < 2:
        return None
    labels = np.union1d(a, b)
    observed = float(np.mean(a == b))
    chance = float(sum(np.mean(a == v) * np.mean(b == v) for v in labels))
    return None if chance >= 1.0 else (observed - chance) / (1.0 - chance)


def spearman_fast(x: NDArray[np.floating], y: NDArray[np.floating]) -> float | None:
    """Spearman's rho (average ranks, as SciPy's); None when either side is constant."""
    import numpy as np

    if len(x) < 2 or np.all(x == x[0]) or np.all(y == y[0]):
        return None
    return float(np.corrcoef(_average_ranks(x), _average_ranks(y))[0, 1])


def _average_ranks(x: NDArray[np.floating]) -> NDArray[np.floating]:
    """1-based ranks, ties sharing their mean rank: SciPy's ``rankdata``, the same floats,
    at a third of its cost (its input checks dominated the 2000 resamples: a study's
    agreement report spent 2.7 s of its 3.3 s ranking)."""
    import numpy as np

    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    return (ends - (counts - 1) / 2.0)[inverse]


# --- Krippendorff's alpha ----------------------------------------------------------------------

Level = Literal["nominal", "ordinal"]


def alpha(ratings: NDArray[np.floating], level: Level) -> float | None:
    """Krippendorff's alpha of a raters x units matrix with NaN for a missing rating (the
    ``krippendorff`` package). Unlike Fleiss' kappa it keeps every unit two raters rated, so
    a backbone's failed review costs one rating, not the whole item. None when undefined:
    fewer than two pairable ratings, or a single value throughout (no disagreement to
    expect)."""
    import krippendorff
    import numpy as np

    pairable = np.sum(~np.isnan(ratings), axis=0) >= 2
    values = ratings[:, pairable]
    if values.shape[1] == 0 or len(np.unique(values[~np.isnan(values)])) < 2:
        return None
    return float(krippendorff.alpha(reliability_data=values, level_of_measurement=level))


def alpha_interval(ratings: NDArray[np.floating], clusters: Sequence[Hashable],
                   level: Level, *, resamples: int = RESAMPLES, seed: int = SEED,
                   confidence: float = CONFIDENCE) -> Interval:
    """Alpha (the package's) with its cluster bootstrap over ``clusters`` (one label per
    unit, i.e. per column), through ``_alpha_draws``: the ``krippendorff`` package on every
    resample took 9 ms, 18 s per interval (measured, 15 cards x 12 units, scores)."""
    import numpy as np

    codes, count = _codes(clusters)
    n = int(np.sum(~np.isnan(ratings)))
    out = Interval(estimate=_finite(alpha(ratings, level)), n=n, clusters=count,
                   method=method("cards", resamples))
    if out.estimate is None or count < 2:
        return out
    values = _alpha_draws(ratings, codes, count, level, _draws(count, resamples, seed))
    low, high = _spread(out.estimate, values, resamples, count, confidence, (-1.0, 1.0))
    return out.model_copy(update={"ci_low": low, "ci_high": high})


def cluster_coincidences(ratings: NDArray[np.floating], codes: NDArray[np.intp],
                         count: int) -> tuple[NDArray[np.floating], NDArray[np.floating]]:
    """(the value domain, each cluster's coincidence matrix, clusters x V x V).

    Krippendorff's coincidence matrix is a sum over units, so a resample's is the weighted
    sum of its clusters': o_ck = sum over units u of n_uc (n_uk - [c = k]) / (m_u - 1), with
    n_uc the ratings of value c in unit u and m_u its pairable ratings (units with m_u < 2
    add nothing)."""
    import numpy as np

    domain = np.unique(ratings[~np.isnan(ratings)])
    counts = np.stack([np.sum(ratings == v, axis=0) for v in domain], axis=1).astype(float)
    m = counts.sum(axis=1)
    scaled = np.where(m[:, None] >= 2, counts / np.maximum(m - 1, 1)[:, None], 0.0)
    out = np.zeros((count, len(domain), len(domain)))
    for c in range(count):
        mine = codes == c
        out[c] = scaled[mine].T @ counts[mine] - np.diag(scaled[mine].sum(axis=0))
    return domain, out


def alpha_from_coincidences(o: NDArray[np.floating], level: Level) -> float | None:
    """1 - D_o / D_e from a coincidence matrix (Krippendorff 2011, eq. for any metric)."""
    import numpy as np

    marg = o.sum(axis=1)
    total = marg.sum()
    if total <= 1:
        return None
    if level == "nominal":
        delta = 1.0 - np.eye(len(marg))
    else:  # ordinal: (sum of the marginals from c to k, less half of each end's)^2
        cum = np.cumsum(marg)
        delta = (cum[None, :] - cum[:, None] + (marg[:, None] - marg[None, :]) / 2) ** 2
    expected = float(marg @ delta @ marg)
    if expected <= 0:
        return None
    return 1.0 - (total - 1) * float(np.sum(o * delta)) / expected


def _alpha_draws(ratings: NDArray[np.floating], codes: NDArray[np.intp], count: int,
                 level: Level, draws: NDArray[np.intp]) -> list[float]:
    """Alpha on each resample of clusters, from the clusters' coincidence matrices."""
    import numpy as np

    _, per_cluster = cluster_coincidences(ratings, codes, count)
    weights = np.zeros((len(draws), count))
    np.add.at(weights, (np.arange(len(draws))[:, None], draws), 1.0)
    flat = weights @ per_cluster.reshape(count, -1)
    side = per_cluster.shape[1]
    values = [alpha_from_coincidences(row.reshape(side, side), level) for row in flat]
    return [v for v in values if v is not None and math.isfinite(v)]
