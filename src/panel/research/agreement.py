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

from collections.abc import Mapping, Sequence
from itertools import combinations

from pydantic import BaseModel, Field

from panel.contract.records import ReviewRecord
from panel.inputs.cards import ToolCard
from panel.research.grounding import Grounding, grounding
from panel.research.stats import (
    ALL,
    Distribution,
    Item,
    cohen_kappa,
    distribution,
    fleiss_kappa,
    mean_abs_diff,
    spearman,
    verdict_agreement,
)

# --- the statistics -------------------------------------------------------------------------


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
    grounding: list[Grounding] = Field(
        default_factory=list, description="Reviews with no unsupported claim, per persona "
        "x backbone (research/grounding).")


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
                     wall: Mapping[str, float] | None = None,
                     cards: Mapping[str, ToolCard] | None = None) -> AgreementReport:
    """Every pairwise, all-backbone and per-backbone statistic of a study."""
    from panel.research.consistency import self_consistency

    models = list(by_model)
    scopes = [*personas, ALL]
    pairs = [pair_stats(by_model[a], by_model[b], a, b, p)
             for a, b in combinations(models, 2) for p in scopes]
    fleiss = [fleiss_stats(by_model, p) for p in scopes] if len(models) >= 2 else []
    backbones = [backbone_stats(m, by_model[m], personas, (wall or {}).get(m)) for m in models]
    consistency = [row.model_dump() for m in models
                   for row in self_consistency(m, by_model[m], personas)]
    return AgreementReport(study=study, models=models, personas=list(personas), pairs=pairs,
                           fleiss=fleiss, backbones=backbones, consistency=consistency,
                           grounding=grounding(by_model, personas, cards or {}))


# --- output: table, CSV, JSON, figure -------------------------------------------------------


