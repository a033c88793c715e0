"""The bias audit: does a verdict move with things that should not matter?

For each backbone, in turn (one engine at a time, closed before the next starts), the audit
reviews every card as it is and as each perturbation of ``research.perturb`` changed it,
and judges every pair of cards head to head in both orders. Per persona x backbone it
reports, each with its count, what was left out and a 95% interval from a cluster bootstrap
over cards (``research.cluster``; over pairs for position and consistency), with the naive
interval (``research.stats``: every observation independent) beside it for comparison:

- ``position``: the share of pairs whose pick follows the position (``first`` in both
  orders, or ``second`` in both: the pick changes tool when the order does);
- ``consistency``: the share of pairs whose two orders name the same outcome;
- ``verbosity``, ``name``, ``injection``: the mean score shift, perturbed - original, over
  (card, persona, sample), each sample of a perturbed card paired with the same sample of
  the original;
- ``injection-flip``: of the reviews whose original verdict was skip, the share whose
  injected card got ship.

A failed review (or judgment) on either side leaves that observation out, counted in
``excluded``; it is never a 0. The audit has its own workspace, ``OUTPUT/audits/NAME/``
(store, panels, run manifests, report): perturbed cards never reach the site's store, and
a re-run reuses every stored review and judgment.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from itertools import combinations
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

from pydantic import BaseModel, Field, ValidationError, field_validator

from panel.backends import Backend
from panel.backends.lazy import LazyBackend
from panel.config.project import child
from panel.config.registry import ModelSpec
from panel.config.workspace import Workspace
from panel.contract.records import ReviewRecord, now
from panel.errors import InputError, validation_error
from panel.inputs.cards import LoadedCard, ToolCard, load_cards
from panel.pipeline.pairwise import judge_pairs
from panel.pipeline.run import Progress, register_cards, review_cards
from panel.research.cluster import Interval, cluster_mean, cluster_share
from panel.research.grounding import Grounding, grounding
from panel.research.perturb import (
    INJECTION,
    PADDING,
    PERTURBATIONS,
    PLACEHOLDERS,
    Perturbation,
    Variant,
    variants,
)
from panel.research.stats import ALL, Estimate, mean_interval, share_interval
from panel.research.study import RunPlan, distinct
from panel.store.files import atomic_write, write_csv
from panel.verdict.head_to_head import Choice, HeadToHead, Outcome

if TYPE_CHECKING:
    from matplotlib.axes import Axes

Bias = Literal["position", "verbosity", "name", "injection"]
BIASES: tuple[Bias, ...] = ("position", *PERTURBATIONS)
Statistic = Literal["position", "consistency", "verbosity", "name", "injection", "injection-flip"]
Judge = Callable[..., list[HeadToHead]]
"""``pipeline.pairwise.judge_pairs``'s shape: (ws, pairs, model=, personas=, backend=,
progress=) -> one HeadToHead per pair."""


class Audit(RunPlan):
    """What an audit runs: which backbones, cards, personas, samples and biases."""

    name: str = Field(description="Audit name; its files are under OUTPUT/audits/NAME/.")
    samples: int = Field(1, ge=1, le=50, description="Samples per card x persona (each "
                                                     "perturbation too); pairs are judged once.")
    biases: list[Bias] = Field(default_factory=lambda: list(BIASES), min_length=1,
                               description="Which biases to measure.")

    @field_validator("biases")
    @classmethod
    def _distinct_biases(cls, value: list[str]) -> list[str]:
        """A bias listed twice would count its observations twice."""
        return distinct(value, "listed twice")

    @property
    def perturbations(self) -> list[Perturbation]:
        return [b for b in self.biases if b != "position"]


def audit_from_options(models: Sequence[str], cards: Sequence[str], name: str | None = None,
                       personas: list[str] | None = None, samples: int = 1,
                       biases: Sequence[str] | None = None) -> Audit:
    """An audit from CLI options; the default name is the models joined by ``_``."""
    data: dict[str, Any] = {"name": name or "_".join(models), "models": list(models),
                            "cards": list(cards), "personas": personas, "samples": samples}
    if biases:
        data["biases"] = list(biases)
    try:
        return Audit.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, "audit options") from None


def audit_folder(ws: Workspace, name: str) -> Path:
    """``OUTPUT/audits/NAME/``; a name that would leave ``audits/`` is an InputError."""
    return child(ws.output / "audits", name, field="name", source="audit")


def audit_workspace(ws: Workspace, name: str) -> Workspace:
    """The audit's own workspace: the project's data files, results under its folder."""
    return Workspace(output=audit_folder(ws, name), root=ws.root)


class AuditRow(BaseModel):
    """One statistic of one persona (or ``all``) on one backbone: the table and CSV row."""

    model: str = Field(description="Registry model name.")
    persona: str = Field(description="Persona key, or 'all'.")
    bias: Statistic = Field(description="Which statistic (see the module docstring).")
    unit: Literal["%", "points"] = Field(description="% for a share, points for a shift.")
    n: int = Field(description="Observations the estimate is taken over.")
    k: int | None = Field(None, description="Successes, for a share.")
    excluded: int = Field(0, description="Observations left out: a failed review or judgment.")
    estimate: float | None = Field(None, description="The share (%) or mean shift (points).")
    ci_low: float | None = Field(None, description="Lower end of the 95% interval, from a "
                                 "cluster bootstrap over cards (pairs, for position).")
    ci_high: float | None = Field(None, description="Upper end of that interval.")
    clusters: int = Field(0, description="Cards (or pairs) the observations come from.")
    method: str = Field("", description="How ci_low and ci_high were computed.")
    naive_ci_low: float | None = Field(None, description="Lower end of the naive interval "
                                       "(Wilson or Student's t, every observation "
                                       "independent), for comparison.")
    naive_ci_high: float | None = Field(None, description="Upper end of the naive interval.")


class ShiftItem(BaseModel):
    """One (card, persona, sample) under one perturbation: both scores and the shift."""

    model: str
    bias: Perturbation
    tool: str = Field(description="The original card's slug.")
    variant: str = Field(description="The perturbed card's slug (in the audit's store).")
    persona: str
    sample: int
    original: int | None = Field(None, description="Original score; None if it failed.")
    perturbed: int | None = Field(None, description="Perturbed score; None if it failed.")
    original_verdict: str | None = None
    perturbed_verdict: str | None = None

    @property
    def shift(self) -> int | None:
        """perturbed - original, or None when either review failed."""
        if self.original is None or self.perturbed is None:
            return None
        return self.perturbed - self.original


class PairItem(BaseModel):
    """One persona's head-to-head of one pair: the pick in each order and the result."""

    model: str
    a: str = Field(description="Tool A's slug (shown first in order ab).")
    b: str = Field(description="Tool B's slug.")
    persona: str
    ab: Choice | None = Field(None, description="The pick with A first; None if it failed.")
    ba: Choice | None = Field(None, description="The pick with B first; None if it failed.")
    result: Outcome = Field(description="a, b, neither, both, inconsistent or failed.")


class AuditReport(BaseModel):
    """Everything bias.json holds: the audit, how it was perturbed, the rows and the data."""

    name: str
    created_at: str = Field(default_factory=now)
    audit: Audit
    cards: list[str] = Field(description="Original card slugs, in input order.")
    personas: list[str] = Field(description="Persona keys, in panel order.")
    perturbations: dict[str, Any] = Field(description="What each perturbation adds or swaps.")
    runs: dict[str, dict[str, Any]] = Field(description="Per model: reviewed, reused, ...")
    rows: list[AuditRow]
    shifts: list[ShiftItem]
    pairs: list[PairItem]
    grounding: list[Grounding] = Field(
        default_factory=list, description="Reviews of the original cards with no unsupported "
        "claim, per persona x backbone (research/grounding).")


# --- the statistics ---------------------------------------------------------------------------


def _row(model: str, persona: str, bias: Statistic, naive: Estimate,
         clustered: Interval) -> AuditRow:
    """The row: n, k and the naive interval from ``naive``, the reported interval from
    ``clustered`` (the same observations, resampled by cluster)."""
    unit: Literal["%", "points"] = "%" if naive.k is not None else "points"
    return AuditRow(model=model, persona=persona, bias=bias, unit=unit, n=naive.n, k=naive.k,
                    excluded=naive.excluded, estimate=naive.estimate,
                    ci_low=clustered.ci_low, ci_high=clustered.ci_high,
                    clusters=clustered.clusters, method=clustered.method,
                    naive_ci_low=naive.ci_low, naive_ci_high=naive.ci_high)


def _share(model: str, persona: str, bias: Statistic, hits: Sequence[bool],
           clusters: Sequence[str], excluded: int, unit: str = "cards") -> AuditRow:
    naive = share_interval(sum(hits), len(hits), excluded)
    return _row(model, persona, bias, naive, cluster_share(hits, clusters, unit=unit))


def position_rows(model: str, pairs: Sequence[PairItem],
                  personas: Sequence[str]) -> list[AuditRow]:
    """Position-following and consistency shares per persona and over all personas; the
    personas' picks of one pair are resampled together (a pair is the unit)."""
    rows = []
    for persona in [*personas, ALL]:
        mine = [p for p in pairs if p.model == model and persona in (ALL, p.persona)]
        valid = [p for p in mine if p.result != "failed"]
        failed = len(mine) - len(valid)
        units = [f"{p.a}|{p.b}" for p in valid]
        follows = [p.ab == p.ba and p.ab in ("first", "second") for p in valid]
        agree = [p.result != "inconsistent" for p in valid]
        rows += [_share(model, persona, "position", follows, units, failed, "pairs"),
                 _share(model, persona, "consistency", agree, units, failed, "pairs")]
    return rows


def shift_rows(model: str, items: Sequence[ShiftItem], personas: Sequence[str],
               kinds: Sequence[Perturbation]) -> list[AuditRow]:
    """Mean shift per perturbation (and the injection's flips to ship) per persona and all,
    each card's personas and samples resampled together."""
    rows = []
    for persona in [*personas, ALL]:
        for kind in kinds:
            mine = [i for i in items if i.model == model and i.bias == kind
                    and persona in (ALL, i.persona) and i.shift is not None]
            failed = sum(i.model == model and i.bias == kind and persona in (ALL, i.persona)
                         for i in items) - len(mine)
            shifts = [float(i.shift or 0) for i in mine]
            rows.append(_row(model, persona, kind, mean_interval(shifts, failed),
                             cluster_mean(shifts, [i.tool for i in mine])))
            if kind == "injection":
                skips = [i for i in mine if i.original_verdict == "skip"]
                rows.append(_share(model, persona, "injection-flip",
                                   [i.perturbed_verdict == "ship" for i in skips],
                                   [i.tool for i in skips], failed))
    return rows


def shift_items(model: str, records: Sequence[ReviewRecord], made: Sequence[Variant],
                personas: Sequence[str], samples: int) -> list[ShiftItem]:
    """Each perturbed review beside the original review of the same persona and sample."""
    by = {(r.tool, r.persona, r.sample): r for r in records if r.model == model}
    items = []
    for v in made:
        for persona in personas:
            for s in range(samples):
                a, b = by.get((v.original.slug, persona, s)), by.get((v.card.slug, persona, s))
                items.append(ShiftItem(
                    model=model, bias=v.kind, tool=v.original.slug, variant=v.card.slug,
                    persona=persona, sample=s, original=_score(a), perturbed=_score(b),
                    original_verdict=_verdict(a), perturbed_verdict=_verdict(b)))
    return items


def _score(rec: ReviewRecord | None) -> int | None:
    """The model's own score (an audit store has no edits, but never read one as the model's)."""
    return rec.output.score if rec is not None and rec.ok and rec.output else None


def _verdict(rec: ReviewRecord | None) -> str | None:
    return rec.output.verdict if rec is not None and rec.ok and rec.output else None


def pair_items(model: str, heads: Sequence[HeadToHead],
               personas: Sequence[str]) -> list[PairItem]:
    """Each persona's picks of each pair; a persona the judge left out counts as failed."""
    items = []
    for h in heads:
        rows = {r.persona: r for r in h.rows}
        for persona in personas:
            r = rows.get(persona)
            items.append(PairItem(
                model=model, a=h.a, b=h.b, persona=persona,
                ab=r.ab.choice if r and r.ab else None, ba=r.ba.choice if r and r.ba else None,
                result=r.result if r else "failed"))
    return items


# --- running it -------------------------------------------------------------------------------


def _check_cards(loaded: Sequence[LoadedCard], made: Sequence[Variant], audit: Audit) -> None:
    """Distinct tools, and no perturbed card on a slug an input card holds."""
    seen: dict[str, str] = {}
    for slug, source in [*((c.card.slug, c.source) for c in loaded),
                         *((v.card.slug, f"the {v.kind} perturbation of '{v.original.name}'")
                           for v in made)]:
        if slug in seen:
            raise InputError(source, f"slug '{slug}' is also {seen[slug]}'s: an audit needs "
                             "distinct tools (give one of them a distinct 'id')", field="name")
        seen[slug] = source
    if "position" in audit.biases and len(loaded) < 2:
        raise InputError("panel audit", "position bias needs at least two cards")


def _register(aws: Workspace, loaded: Sequence[LoadedCard], made: Sequence[Variant]) -> None:
    """Every card in the audit's store before any work (a slug clash is refused there)."""
    register_cards(aws, loaded)
    sources = {c.card.slug: c.source for c in loaded}
    for v in made:
        aws.store.put_card(v.card.slug, v.card.model_dump_json(),
                           f"{sources[v.original.slug]} ({v.kind} perturbation)")


def _run_model(aws: Workspace, audit: Audit, spec: ModelSpec, cards: Sequence[ToolCard],
               made: Sequence[Variant], engine: LazyBackend, judge: Judge,
               progress: Callable[[str], Progress] | None) -> tuple[
                   list[ReviewRecord], list[HeadToHead], dict[str, Any]]:
    """One model's reviews and judgments, on one engine; (records, heads, run counts)."""
    records: list[ReviewRecord] = []
    heads: list[HeadToHead] = []
    run: dict[str, Any] = {}
    if made:
        summary = review_cards(aws, [*cards, *(v.card for v in made)], spec.name,
                               audit.personas, samples=range(audit.samples), backend=engine,
                               progress=progress(f"{spec.name} reviews") if progress else None)
        records = summary.records
        run = {"reviewed": summary.reviewed, "reused": summary.reused,
               "failed": len(summary.failed), "unavailable": len(summary.unavailable),
               "wall_s": summary.seconds}
    if "position" in audit.biases:
        heads = judge(aws, list(combinations(cards, 2)), model=spec.name,
                      personas=audit.personas, backend=engine,
                      progress=progress(f"{spec.name} pairs") if progress else None)
        run["pairs"] = len(heads)
    run["engine_started"] = engine.started
    return records, heads, run


def run_audit(ws: Workspace, audit: Audit, *, backends: Mapping[str, Backend] | None = None,
              judge: Judge | None = None,
              progress: Callable[[str], Progress] | None = None) -> AuditReport:
    """Run every model of the audit in turn, one engine at a time; return the report.

    Every card and perturbation is checked before any engine starts. ``backends`` lends
    open engines by model name (tests); ``judge`` replaces ``judge_pairs`` (tests).
    """
    specs = {m: ws.registry.get(m) for m in audit.models}  # a typo fails before any engine
    judge = judge or judge_pairs  # looked up now, so a test may stand in for it
    loaded = load_cards(audit.cards)
    cards = [c.card for c in loaded]
    made = variants(cards, audit.perturbations)
    _check_cards(loaded, made, audit)
    aws = audit_workspace(ws, audit.name)
    personas = [p.key for p in aws.personas(audit.personas)]
    _register(aws, loaded, made)
    runs: dict[str, dict[str, Any]] = {}
    shifts: list[ShiftItem] = []
    pairs: list[PairItem] = []
    rows: list[AuditRow] = []
    grounded: list[Grounding] = []
    originals = {c.slug: c for c in cards}
    for model, spec in specs.items():
        engine = LazyBackend(spec, (backends or {}).get(model))
        try:
            records, heads, runs[model] = _run_model(aws, audit, spec, cards, made, engine,
                                                     judge, progress)
        finally:
            engine.close()  # before the next model's engine starts
        shifts += shift_items(model, records, made, personas, audit.samples)
        pairs += pair_items(model, heads, personas)
        if "position" in audit.biases:
            rows += position_rows(model, pairs, personas)
        rows += shift_rows(model, shifts, personas, audit.perturbations)
        grounded += grounding({model: [r for r in records if r.tool in originals]}, personas,
                              originals)
    return AuditReport(name=audit.name, audit=audit, cards=[c.slug for c in cards],
                       personas=personas, perturbations=perturbation_notes(), runs=runs,
                       rows=_ordered(rows, personas), shifts=shifts, pairs=pairs,
                       grounding=grounded)


def _ordered(rows: Sequence[AuditRow], personas: Sequence[str]) -> list[AuditRow]:
    """Model by model (as run), then persona in panel order (all last), then statistic."""
    models = list(dict.fromkeys(r.model for r in rows))
    stats = list(get_args(Statistic))
    scope = [*personas, ALL]
    return sorted(rows, key=lambda r: (models.index(r.model), scope.index(r.persona),
                                       stats.index(r.bias)))


def perturbation_notes() -> dict[str, Any]:
    """What bias.json says about each perturbation, so a reader can judge it."""
    return {
        "verbosity": {"appended_to_description": PADDING,
                      "note": "the card's own name, category, tagline, pricing and entry "
                              "tier restated; no new claim"},
        "name": {"placeholders": list(PLACEHOLDERS),
                 "note": "the first placeholder not already on the card replaces the name "
                         "everywhere (case-insensitive); the URL is dropped"},
        "injection": {"appended_to_description": INJECTION},
        "position": {"note": "every pair of cards judged in both orders; a pick that follows "
                             "the position is first (or second) in both orders"},
    }


# --- the files --------------------------------------------------------------------------------


def write_audit(report: AuditReport, folder: Path) -> list[Path]:
    """bias.json (everything), bias.csv (the rows) and bias.svg (the figure) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    json_path = folder / "bias.json"
    atomic_write(json_path, json.dumps(report.model_dump(mode="json"), indent=2,
                                       ensure_ascii=False))
    csv_path = write_csv([r.model_dump() for r in report.rows], folder / "bias.csv")
    return [json_path, csv_path, draw_audit(report, folder / "bias.svg")]


def draw_audit(report: AuditReport, path: Path) -> Path:
    """One panel per statistic: each persona x backbone's estimate with its 95% interval.

    Matplotlib rather than ``publish/render/chart.py``: that chart lays out the comparison
    page's two score bars per persona on a 0-100 axis, while this figure needs negative
    shifts, interval whiskers and one panel per statistic, which matplotlib draws directly
    (the agreement figure already uses it). The SVG is reproducible: no date, fixed ids.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stats = list(dict.fromkeys(r.bias for r in report.rows))
    with matplotlib.rc_context({"svg.hashsalt": "panel-audit", "text.parse_math": False}):
        fig, axes = plt.subplots(1, max(len(stats), 1), squeeze=False,
                                 figsize=(3.2 * max(len(stats), 1) + 1.2,
                                          1.2 + 0.32 * (len(report.personas) + 1)
                                          * len(report.audit.models)))
        for ax, stat in zip(axes[0], stats, strict=False):
            _panel(ax, report, stat)
        handles, names = axes[0][0].get_legend_handles_labels()
        fig.legend(handles, names, loc="upper right", fontsize=8)
        fig.suptitle(f"Bias audit {report.name}: estimate and 95% interval")
        fig.tight_layout(rect=(0, 0, 0.92, 1))
        fig.savefig(path, format="svg", metadata={"Date": None})
        plt.close(fig)
    return path


def _positions(report: AuditReport) -> dict[tuple[str, str], float]:
    """A y position per (model, persona): personas top to bottom, models side by side."""
    models, scope = report.audit.models, [*report.personas, ALL]
    step = 0.8 / len(models)
    return {(m, p): -(j + (i - (len(models) - 1) / 2) * step)
            for j, p in enumerate(scope) for i, m in enumerate(models)}


def _yticks(report: AuditReport) -> tuple[list[float], list[str]]:
    scope = [*report.personas, ALL]
    return [-j for j in range(len(scope))], scope


def _panel(ax: Axes, report: AuditReport, stat: str) -> None:
    ys = _positions(report)
    rows = [r for r in report.rows if r.bias == stat]
    for i, model in enumerate(report.audit.models):
        mine = [r for r in rows if r.model == model and r.estimate is not None]
        x = [r.estimate or 0.0 for r in mine]
        lo = [(r.estimate or 0.0) - (r.ci_low if r.ci_low is not None else r.estimate or 0.0)
              for r in mine]
        hi = [(r.ci_high if r.ci_high is not None else r.estimate or 0.0) - (r.estimate or 0.0)
              for r in mine]
        ax.errorbar(x, [ys[(model, r.persona)] for r in mine], xerr=[lo, hi], fmt="o",
                    color=f"C{i}", capsize=3, markersize=4, label=model)
    unit = rows[0].unit if rows else "%"
    if unit == "%":
        ax.set_xlim(-2, 102)
    else:  # symmetric around 0, so the sign of a shift reads at a glance
        reach = max([5.0, *(abs(v) for r in rows for v in (r.ci_low, r.ci_high, r.estimate)
                            if v is not None)])
        ax.set_xlim(-reach * 1.05, reach * 1.05)
        ax.axvline(0, color="#888888", lw=0.8, ls="--")
    ax.set_title(f"{stat} ({'share, %' if unit == '%' else 'shift, points'})", fontsize=9)
    ax.set_yticks(*_yticks(report))
    ax.tick_params(labelsize=8)


def audit_files(ws: Workspace, *, models: Sequence[str], cards: Sequence[str],
                name: str | None = None, personas: list[str] | None = None, samples: int = 1,
                biases: Sequence[str] | None = None,
                progress: Callable[[str], Progress] | None = None
                ) -> tuple[AuditReport, list[Path]]:
    """`panel audit`: the audit from options, run, and written to OUTPUT/audits/NAME/."""
    audit = audit_from_options(models, cards, name, personas, samples, biases)
    report = run_audit(ws, audit, progress=progress)
    return report, write_audit(report, audit_folder(ws, audit.name))
