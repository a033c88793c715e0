"""How backbones agree: pure statistics over stored reviews (``research/report`` writes the
files and figure, ``cli/tables`` the text table).

Two backbones are compared on the reviews both completed for the same card, persona and
sample index; failed reviews are counted per backbone (failure rate) but never paired, since
a missing verdict is not a "skip". Fleiss' kappa comes from statsmodels, Krippendorff's
alpha from the ``krippendorff`` package; Cohen's kappa and Spearman's rho from
``research.cluster`` (tested equal to scikit-learn's and SciPy's), fast enough to recompute
on 2000 resamples of cards for their intervals. Where a statistic is undefined (constant
scores, one verdict class on both sides, fewer than two pairs) it is ``None`` and printed as
"n/a", never a crash and never a misleading 0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import combinations

from pydantic import BaseModel, Field

from panel.config.registry import Price
from panel.contract.records import ReviewRecord
from panel.inputs.cards import ToolCard
from panel.pipeline.cost import REVIEWS_PER_VERDICT, Usage
from panel.research.cluster import (
    Interval,
    alpha_interval,
    cluster_bootstrap,
    cluster_mean,
    cluster_share,
    kappa_fast,
    spearman_fast,
)
from panel.research.grounding import Grounding, grounding
from panel.research.stats import ALL, Distribution, Item, distribution, fleiss_kappa

# --- reports over records -------------------------------------------------------------------

class PairStats(BaseModel):
    """Agreement of two backbones on the items both reviewed successfully, each statistic
    with its 95% interval from a cluster bootstrap over cards (``research.cluster``)."""

    model_a: str = Field(description="First backbone.")
    model_b: str = Field(description="Second backbone.")
    persona: str = Field(description="Persona key, or 'all'.")
    n: int = Field(description="Paired items (card x persona x sample) both completed.")
    clusters: int = Field(0, description="Cards the pairs come from: the bootstrap's unit.")
    method: str = Field("", description="How the intervals were computed.")
    verdict_agreement_pct: float | None = Field(description="Same verdict, % of pairs.")
    verdict_agreement_low: float | None = None
    verdict_agreement_high: float | None = None
    cohen_kappa: float | None = Field(description="Cohen's kappa of the verdicts.")
    cohen_kappa_low: float | None = None
    cohen_kappa_high: float | None = None
    spearman_rho: float | None = Field(description="Spearman correlation of the scores.")
    spearman_rho_low: float | None = None
    spearman_rho_high: float | None = None
    score_mae: float | None = Field(description="Mean absolute score difference.")
    score_mae_low: float | None = None
    score_mae_high: float | None = None


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
    engine_s_per_review: float | None = Field(None, description="Engine-seconds per review: "
                                              "each review's share of its batch's engine time "
                                              "(pipeline/cost); None if any review lacks one.")
    dollars_per_1000_verdicts: float | None = Field(
        None, description="$ per 1,000 verdicts (4 reviews each) at the registry entry's "
        "price; None without a price (or, for an hourly one, without engine time).")
    agreement_pct: float | None = Field(None, description="Mean verdict agreement with each "
                                        "other backbone, all personas: beside its cost.")


class FleissStats(BaseModel):
    """Reliability across every backbone: Fleiss' kappa on the items all of them completed,
    and Krippendorff's alpha on every item, a failed review a missing rating (so a failure
    costs one rating, not the item), nominal for verdicts and ordinal for scores."""

    persona: str
    n: int = Field(description="Items every backbone completed (Fleiss' kappa's).")
    kappa: float | None = Field(description="Fleiss' kappa of the verdicts.")
    units: int = Field(0, description="Items at least two backbones completed (alpha's).")
    ratings: int = Field(0, description="Completed reviews alpha stands on.")
    clusters: int = Field(0, description="Cards the units come from: the bootstrap's unit.")
    method: str = Field("", description="How alpha's intervals were computed.")
    alpha_verdict: float | None = Field(None, description="Krippendorff's alpha, nominal, "
                                        "on the verdicts.")
    alpha_verdict_low: float | None = None
    alpha_verdict_high: float | None = None
    alpha_score: float | None = Field(None, description="Krippendorff's alpha, ordinal, on "
                                      "the scores.")
    alpha_score_low: float | None = None
    alpha_score_high: float | None = None


class AgreementReport(BaseModel):
    """The whole agreement report of a study."""

    study: str
    models: list[str]
    personas: list[str]
    pairs: list[PairStats]
    fleiss: list[FleissStats]
    backbones: list[BackboneStats]
    consistency: list[dict[str, object]] = Field(
        default_factory=list, description="Self-consistency across samples "
        "(research/consistency).")
    grounding: list[Grounding] = Field(
        default_factory=list, description="Reviews with no unsupported claim, per persona "
        "x backbone (research/grounding).")


def _by_item(records: Sequence[ReviewRecord]) -> dict[Item, ReviewRecord]:
    return {(r.tool, r.persona, r.sample): r for r in records if r.ok and r.score is not None}


def pair_stats(a: Sequence[ReviewRecord], b: Sequence[ReviewRecord], model_a: str,
               model_b: str, persona: str = ALL) -> PairStats:
    """Agreement of two backbones' reviews, over one persona or all, clustered by card."""
    import numpy as np

    ia, ib = _by_item(a), _by_item(b)
    items = sorted(k for k in ia.keys() & ib.keys() if persona in (ALL, k[1]))
    va = np.array([ia[k].verdict == "ship" for k in items], dtype=np.intp)
    vb = np.array([ib[k].verdict == "ship" for k in items], dtype=np.intp)
    sa = np.array([float(ia[k].score or 0) for k in items])
    sb = np.array([float(ib[k].score or 0) for k in items])
    cards = [k[0] for k in items]
    agree = cluster_share(list(va == vb), cards)
    kappa = cluster_bootstrap(lambda i: kappa_fast(va[i], vb[i]), cards)
    rho = cluster_bootstrap(lambda i: spearman_fast(sa[i], sb[i]), cards)
    mae = cluster_mean(list(np.abs(sa - sb)), cards)
    return PairStats(model_a=model_a, model_b=model_b, persona=persona, n=len(items),
                     clusters=agree.clusters, method=agree.method,
                     **_fields("verdict_agreement", agree, "_pct"),
                     **_fields("cohen_kappa", kappa), **_fields("spearman_rho", rho),
                     **_fields("score_mae", mae))


def _fields(name: str, interval: Interval, suffix: str = "") -> dict[str, float | None]:
    """A statistic's three report fields: NAME(SUFFIX), NAME_low and NAME_high."""
    return {f"{name}{suffix}": interval.estimate, f"{name}_low": interval.ci_low,
            f"{name}_high": interval.ci_high}


def fleiss_stats(by_model: Mapping[str, Sequence[ReviewRecord]],
                 persona: str = ALL) -> FleissStats:
    """Fleiss' kappa on the items every backbone completed; alpha on all of them."""
    indexed = [_by_item(recs) for recs in by_model.values()]
    common = set.intersection(*(set(i) for i in indexed)) if indexed else set()
    items = sorted(k for k in common if persona in (ALL, k[1]))
    ratings = [[str(idx[k].verdict) for idx in indexed] for k in items]
    return FleissStats(persona=persona, n=len(items), kappa=fleiss_kappa(ratings),
                       **_alphas(indexed, persona))


def _alphas(indexed: Sequence[Mapping[Item, ReviewRecord]], persona: str) -> dict[str, object]:
    """Krippendorff's alpha of verdicts and scores over the items two backbones completed."""
    import numpy as np

    units = sorted(k for k in set().union(*indexed) if persona in (ALL, k[1])
                   and sum(k in idx for idx in indexed) >= 2)
    if not units:
        return {}
    verdicts = np.array([[float(idx[k].verdict == "ship") if k in idx else np.nan
                          for k in units] for idx in indexed])
    scores = np.array([[float(idx[k].score or 0) if k in idx else np.nan for k in units]
                       for idx in indexed])
    cards = [k[0] for k in units]
    nominal = alpha_interval(verdicts, cards, "nominal")
    ordinal = alpha_interval(scores, cards, "ordinal")
    return {"units": len(units), "ratings": nominal.n, "clusters": nominal.clusters,
            "method": nominal.method, **_fields("alpha_verdict", nominal),
            **_fields("alpha_score", ordinal)}


def backbone_stats(model: str, records: Sequence[ReviewRecord], personas: Sequence[str],
                   wall_s_per_review: float | None = None,
                   price: Price | None = None) -> BackboneStats:
    """Per-backbone score distribution, ship and failure rates, tokens, time and cost."""
    ok = [r for r in records if r.ok and r.score is not None]
    n = len(records)
    usage = Usage.of(records)
    per_review = usage.dollars_per_review(price)
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
        engine_s_per_review=(None if usage.seconds_per_review is None
                             else round(usage.seconds_per_review, 4)),
        dollars_per_1000_verdicts=(None if per_review is None
                                   else round(per_review * REVIEWS_PER_VERDICT * 1000, 4)),
    )


def mean_agreement(model: str, pairs: Sequence[PairStats]) -> float | None:
    """A backbone's mean verdict agreement with the others, over all personas."""
    pcts = [p.verdict_agreement_pct for p in pairs if p.persona == ALL
            and model in (p.model_a, p.model_b) and p.verdict_agreement_pct is not None]
    return round(sum(pcts) / len(pcts), 2) if pcts else None


def agreement_report(study: str, by_model: Mapping[str, Sequence[ReviewRecord]],
                     personas: Sequence[str],
                     wall: Mapping[str, float] | None = None,
                     prices: Mapping[str, Price | None] | None = None,
                     cards: Mapping[str, ToolCard] | None = None) -> AgreementReport:
    """Every pairwise, all-backbone and per-backbone statistic of a study, with each
    backbone's cost beside its agreement with the others, and each persona x backbone's
    grounding rate against ``cards``."""
    from panel.research.consistency import self_consistency

    models = list(by_model)
    scopes = [*personas, ALL]
    pairs = [pair_stats(by_model[a], by_model[b], a, b, p)
             for a, b in combinations(models, 2) for p in scopes]
    fleiss = [fleiss_stats(by_model, p) for p in scopes] if len(models) >= 2 else []
    backbones = [backbone_stats(m, by_model[m], personas, (wall or {}).get(m),
                                (prices or {}).get(m)).model_copy(
                     update={"agreement_pct": mean_agreement(m, pairs)}) for m in models]
    consistency = [row.model_dump() for m in models
                   for row in self_consistency(m, by_model[m], personas)]
    return AgreementReport(study=study, models=models, personas=list(personas), pairs=pairs,
                           fleiss=fleiss, backbones=backbones, consistency=consistency,
                           grounding=grounding(by_model, personas, cards or {}))


# --- output: table, CSV, JSON, figure -------------------------------------------------------


