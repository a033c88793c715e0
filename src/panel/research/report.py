"""An agreement report on disk: agreement.json, the CSVs and the figure."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from panel.research.agreement import AgreementReport
from panel.research.stats import ALL, fmt
from panel.store.files import atomic_write, write_csv

if TYPE_CHECKING:
    from matplotlib.axes import Axes


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
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
    import numpy as np

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
    import matplotlib

    return matplotlib.colormaps["RdBu"].with_extremes(bad="#dddddd")


def _distributions(ax: Axes, report: AgreementReport) -> None:
    import numpy as np

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
