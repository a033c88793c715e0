"""How backbones agree: pure statistics over stored reviews, and the table, files and figure.

Two backbones are compared on the reviews both completed for the same card, persona and
sample index; failed reviews are counted per backbone (failure rate) but never paired, since
a missing verdict is not a "skip". The statistics come from scikit-learn (Cohen's kappa),
SciPy (Spearman) and statsmodels (Fleiss' kappa: neither SciPy nor scikit-learn has it),
not from code of our own. Where a statistic is undefined (constant scores, one verdict class
on both sides, fewer than two pairs) it is ``None`` and printed as "n/a", never a crash and
never a misleading 0.
"""

from __future__ import annotations

import csv
import io
import json
import math
import warnings
from collections.abc import Mapping, Sequence
from itertools import combinations
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from panel.files import atomic_write
from panel.records import ReviewRecord

if TYPE_CHECKING:
    from matplotlib.axes import Axes

ALL = "all"
"""The persona label of a statistic taken over every persona."""

Item = tuple[str, str, int]
"""What two backbones are compared on: (tool, persona, sample)."""


# --- the statistics -------------------------------------------------------------------------

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
    from sklearn.metrics import cohen_kappa_score  # noqa: PLC0415 - heavy import

    if len(a) < 2 or len(set(a) | set(b)) < 2:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return _finite(cohen_kappa_score(a, b))


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman's rank correlation; None when either side is constant or n < 2."""
    from scipy.stats import spearmanr  # noqa: PLC0415

    if len(x) < 2 or len(set(x)) < 2 or len(set(y)) < 2:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _finite(spearmanr(x, y).statistic)


def mean_abs_diff(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Mean absolute score difference, in score points."""
    if not x:
        return None
    return round(sum(abs(p - q) for p, q in zip(x, y, strict=True)) / len(x), 4)


def fleiss_kappa(ratings: Sequence[Sequence[str]]) -> float | None:
    """Fleiss' kappa over items each rated by the same number of raters (>= 2)."""
    import numpy as np  # noqa: PLC0415
    from statsmodels.stats.inter_rater import aggregate_raters  # noqa: PLC0415
    from statsmodels.stats.inter_rater import fleiss_kappa as _fleiss  # noqa: PLC0415

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


# --- reports over records -------------------------------------------------------------------

class PairStats(BaseModel):
    """Agreement of two backbones on the items both reviewed successfully."""

    model_a: str = Field(description="First backbone.")
    model_b: str = Field(description="Second backbone.")
    persona: str = Field(description="Persona key, or 'all'.")
    n: int = Field(description="Paired items (card x persona x sample) both completed.")
    verdict_agreement_pct: float | None = Field(description="Same verdict, % of pairs.")
    cohen_kappa: float | None = Field(description="Cohen's kappa of the verdicts.")
    spearman_rho: float | None = Field(description="Spearman correlation of the scores.")
    score_mae: float | None = Field(description="Mean absolute score difference.")


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


class BackboneStats(BaseModel):
    """One backbone on its own: how it scores, how often it ships and fails, what it costs."""

    model: str = Field(description="Backbone.")
    reviews: int = Field(description="Reviews attempted.")
    failed: int = Field(description="Reviews with no valid output after every attempt.")
    failure_rate_pct: float | None = Field(description="failed / reviews x 100.")
    ship_rate_pct: float | None = Field(description="Ship verdicts / completed reviews x 100.")
    scores: Distribution = Field(description="Score distribution over completed reviews.")
    scores_by_persona: dict[str, list[int]] = Field(description="Raw scores per persona.")
    mean_output_tokens: float | None = Field(description="Output tokens per review, all "
                                                         "attempts counted.")
    mean_latency_s: float | None = Field(description="Engine seconds per review (request "
                                                     "latency inside the batch).")
    wall_s_per_review: float | None = Field(None, description="Run wall time / reviews "
                                                              "generated (engine start included).")


class FleissStats(BaseModel):
    """Fleiss' kappa across every backbone, on items all of them completed."""

    persona: str
    n: int
    kappa: float | None


class AgreementReport(BaseModel):
    """The whole agreement report of a study."""

    study: str
    models: list[str]
    personas: list[str]
    pairs: list[PairStats]
    fleiss: list[FleissStats]
    backbones: list[BackboneStats]
    consistency: list[dict[str, object]] = Field(
        default_factory=list, description="Self-consistency across samples (see jury.py).")


def _by_item(records: Sequence[ReviewRecord]) -> dict[Item, ReviewRecord]:
    return {(r.tool, r.persona, r.sample): r for r in records if r.ok and r.score is not None}


def pair_stats(a: Sequence[ReviewRecord], b: Sequence[ReviewRecord], model_a: str,
               model_b: str, persona: str = ALL) -> PairStats:
    """Agreement of two backbones' reviews, over one persona or all."""
    ia, ib = _by_item(a), _by_item(b)
    items = sorted(k for k in ia.keys() & ib.keys() if persona in (ALL, k[1]))
    va = [str(ia[k].verdict) for k in items]
    vb = [str(ib[k].verdict) for k in items]
    sa = [int(ia[k].score or 0) for k in items]
    sb = [int(ib[k].score or 0) for k in items]
    return PairStats(model_a=model_a, model_b=model_b, persona=persona, n=len(items),
                     verdict_agreement_pct=verdict_agreement(va, vb),
                     cohen_kappa=cohen_kappa(va, vb), spearman_rho=spearman(sa, sb),
                     score_mae=mean_abs_diff(sa, sb))


def fleiss_stats(by_model: Mapping[str, Sequence[ReviewRecord]],
                 persona: str = ALL) -> FleissStats:
    """Fleiss' kappa of the verdicts on the items every backbone completed."""
    indexed = [_by_item(recs) for recs in by_model.values()]
    common = set.intersection(*(set(i) for i in indexed)) if indexed else set()
    items = sorted(k for k in common if persona in (ALL, k[1]))
    ratings = [[str(idx[k].verdict) for idx in indexed] for k in items]
    return FleissStats(persona=persona, n=len(items), kappa=fleiss_kappa(ratings))


def distribution(values: Sequence[float]) -> Distribution:
    """Summary statistics; only n when there is nothing to summarise."""
    import numpy as np  # noqa: PLC0415

    if not values:
        return Distribution(n=0)
    arr = np.asarray(values, dtype=float)
    q1, med, q3 = np.percentile(arr, [25, 50, 75])
    return Distribution(n=len(arr), mean=_finite(arr.mean()), std=_finite(arr.std()),
                        min=_finite(arr.min()), q1=_finite(q1), median=_finite(med),
                        q3=_finite(q3), max=_finite(arr.max()))


def backbone_stats(model: str, records: Sequence[ReviewRecord], personas: Sequence[str],
                   wall_s_per_review: float | None = None) -> BackboneStats:
    """Per-backbone score distribution, ship and failure rates, tokens and time."""
    ok = [r for r in records if r.ok and r.score is not None]
    n = len(records)
    return BackboneStats(
        model=model, reviews=n, failed=n - len(ok),
        failure_rate_pct=round(100 * (n - len(ok)) / n, 2) if n else None,
        ship_rate_pct=round(100 * sum(r.verdict == "ship" for r in ok) / len(ok), 2)
        if ok else None,
        scores=distribution([float(r.score or 0) for r in ok]),
        scores_by_persona={p: [int(r.score or 0) for r in ok if r.persona == p]
                           for p in personas},
        mean_output_tokens=round(sum(r.output_tokens for r in records) / n, 2) if n else None,
        mean_latency_s=round(sum(r.seconds for r in records) / n, 3) if n else None,
        wall_s_per_review=wall_s_per_review,
    )


def agreement_report(study: str, by_model: Mapping[str, Sequence[ReviewRecord]],
                     personas: Sequence[str],
                     wall: Mapping[str, float] | None = None) -> AgreementReport:
    """Every pairwise, all-backbone and per-backbone statistic of a study."""
    from panel.jury import self_consistency  # noqa: PLC0415 - jury imports this module

    models = list(by_model)
    scopes = [*personas, ALL]
    pairs = [pair_stats(by_model[a], by_model[b], a, b, p)
             for a, b in combinations(models, 2) for p in scopes]
    fleiss = [fleiss_stats(by_model, p) for p in scopes] if len(models) >= 2 else []
    backbones = [backbone_stats(m, by_model[m], personas, (wall or {}).get(m)) for m in models]
    consistency = [row.model_dump() for m in models
                   for row in self_consistency(m, by_model[m], personas)]
    return AgreementReport(study=study, models=models, personas=list(personas), pairs=pairs,
                           fleiss=fleiss, backbones=backbones, consistency=consistency)


# --- output: table, CSV, JSON, figure -------------------------------------------------------

def fmt(value: float | None, spec: str = ".2f") -> str:
    """A number for a table, or "n/a" when the statistic is undefined."""
    return "n/a" if value is None else format(value, spec)


def format_table(report: AgreementReport) -> str:
    """The report as plain-text tables: pairs, Fleiss, backbones, self-consistency."""
    lines = [f"Study {report.study}: {', '.join(report.models)}", "",
             f"{'pair':<34} {'persona':<10} {'n':>4} {'agree%':>7} {'kappa':>6} "
             f"{'rho':>6} {'MAE':>6}"]
    for p in report.pairs:
        lines.append(f"{(p.model_a + ' vs ' + p.model_b)[:34]:<34} {p.persona:<10} {p.n:>4} "
                     f"{fmt(p.verdict_agreement_pct, '.1f'):>7} {fmt(p.cohen_kappa):>6} "
                     f"{fmt(p.spearman_rho):>6} {fmt(p.score_mae, '.1f'):>6}")
    if report.fleiss:
        lines += ["", "Fleiss' kappa across all backbones: " + ", ".join(
            f"{f.persona} {fmt(f.kappa)} (n={f.n})" for f in report.fleiss)]
    lines += ["", f"{'backbone':<20} {'reviews':>7} {'fail%':>6} {'ship%':>6} {'mean':>6} "
              f"{'std':>5} {'min':>4} {'med':>5} {'max':>4} {'tokens':>7} {'lat s':>6} "
              f"{'wall s':>6}"]
    for b in report.backbones:
        s = b.scores
        lines.append(f"{b.model[:20]:<20} {b.reviews:>7} {fmt(b.failure_rate_pct, '.1f'):>6} "
                     f"{fmt(b.ship_rate_pct, '.1f'):>6} {fmt(s.mean, '.1f'):>6} "
                     f"{fmt(s.std, '.1f'):>5} {fmt(s.min, '.0f'):>4} {fmt(s.median, '.1f'):>5} "
                     f"{fmt(s.max, '.0f'):>4} {fmt(b.mean_output_tokens, '.1f'):>7} "
                     f"{fmt(b.mean_latency_s, '.2f'):>6} {fmt(b.wall_s_per_review, '.2f'):>6}")
    if report.consistency:
        from panel.jury import consistency_table  # noqa: PLC0415

        lines += ["", consistency_table(report.consistency)]
    return "\n".join(lines)


def write_csv(rows: Sequence[Mapping[str, object]], path: Path) -> Path:
    """Rows of one kind as CSV (empty cells for undefined statistics)."""
    fh = io.StringIO(newline="")
    if rows:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    atomic_write(path, fh.getvalue())
    return path


def write_report(report: AgreementReport, folder: Path, figure_format: str = "png") -> list[Path]:
    """agreement.json, pairs.csv, backbones.csv and the figure, in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    json_path = folder / "agreement.json"
    atomic_write(json_path, json.dumps(report.model_dump(mode="json"), indent=2))
    pairs = write_csv([p.model_dump() for p in report.pairs], folder / "pairs.csv")
    flat = [{**b.model_dump(exclude={"scores", "scores_by_persona"}),
             **{f"score_{k}": v for k, v in b.scores.model_dump().items()}}
            for b in report.backbones]
    backbones = write_csv(flat, folder / "backbones.csv")
    paths = [json_path, pairs, backbones]
    if report.fleiss:
        paths.append(write_csv([f.model_dump() for f in report.fleiss], folder / "fleiss.csv"))
    if report.consistency:
        paths.append(write_csv(report.consistency, folder / "consistency.csv"))
    paths.append(draw_figure(report, folder / f"agreement.{figure_format}"))
    return paths


def draw_figure(report: AgreementReport, path: Path) -> Path:
    """Left: Spearman heatmap, pairs x personas; right: per-persona score distributions."""
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.8),
                                      gridspec_kw={"width_ratios": [1, 1.3]})
    _heatmap(left, report)
    _distributions(right, report)
    fig.suptitle(f"Study {report.study}: {', '.join(report.models)}")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _heatmap(ax: Axes, report: AgreementReport) -> None:
    import numpy as np  # noqa: PLC0415

    scopes = [*report.personas, ALL]
    names = sorted({(p.model_a, p.model_b) for p in report.pairs},
                   key=lambda ab: [report.models.index(m) for m in ab])
    grid = np.full((max(len(names), 1), len(scopes)), np.nan)
    cell = {(p.model_a, p.model_b, p.persona): p for p in report.pairs}
    for i, (a, b) in enumerate(names):
        for j, s in enumerate(scopes):
            rho = cell[(a, b, s)].spearman_rho
            grid[i, j] = np.nan if rho is None else rho
    cmap = _cmap()
    img = ax.imshow(grid, cmap=cmap, vmin=-1, vmax=1, aspect="auto")
    for i, (a, b) in enumerate(names):
        for j, s in enumerate(scopes):
            p = cell[(a, b, s)]
            ax.text(j, i, f"ρ {fmt(p.spearman_rho)}\nagree {fmt(p.verdict_agreement_pct, '.0f')}%"
                    f"\nκ {fmt(p.cohen_kappa)}\nMAE {fmt(p.score_mae, '.1f')}",
                    ha="center", va="center", fontsize=8)
    ax.set_xticks(range(len(scopes)), scopes)
    ax.set_yticks(range(len(names)), [f"{a}\nvs {b}" for a, b in names], fontsize=8)
    ax.set_title("Score agreement (Spearman ρ; grey = n/a)")
    ax.figure.colorbar(img, ax=ax, fraction=0.04)


def _cmap() -> Any:
    import matplotlib  # noqa: PLC0415

    return matplotlib.colormaps["RdBu"].with_extremes(bad="#dddddd")


def _distributions(ax: Axes, report: AgreementReport) -> None:
    import numpy as np  # noqa: PLC0415

    k = len(report.backbones)
    width = 0.8 / max(k, 1)
    rng = np.random.default_rng(0)  # fixed jitter: the same report draws the same figure
    colours = [f"C{i}" for i in range(k)]
    for i, b in enumerate(report.backbones):
        pos = [j + (i - (k - 1) / 2) * width for j in range(len(report.personas))]
        data: list[list[float]] = [[float(s) for s in b.scores_by_persona.get(p, [])] or [np.nan]
                                   for p in report.personas]
        ax.boxplot(data, positions=pos, widths=width * 0.8, showfliers=False,
                   patch_artist=True, boxprops={"facecolor": colours[i], "alpha": 0.35},
                   medianprops={"color": colours[i]})
        for x, vals in zip(pos, data, strict=True):
            jitter = rng.uniform(-width * 0.25, width * 0.25, len(vals))
            ax.scatter(np.full(len(vals), x) + jitter, vals, s=10, color=colours[i])
        ax.plot([], [], color=colours[i], lw=6, alpha=0.5, label=b.model)
    ax.set_xticks(range(len(report.personas)), report.personas)
    ax.set_ylim(-2, 102)
    ax.set_ylabel("score")
    ax.set_title("Scores per persona and backbone")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))  # off the data
