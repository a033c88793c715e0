"""Reference evaluation: how close a backbone's panel comes to reference verdicts.

A reference file (JSONL, one line per tool x persona: tool slug, persona key, verdict,
score, optional note) holds verdicts a researcher trusts, e.g. a published panel or an
editor's. Each completed review of that tool and persona is scored against its line; with
several samples each sample counts as one prediction. Reviews that failed, and reference
lines with no stored review, are counted as missing and never scored as wrong: coverage is
reported beside accuracy, so a backbone cannot look accurate by failing.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from panel.config.workspace import Workspace
from panel.contract.records import ReviewRecord
from panel.errors import InputError, validation_error
from panel.research.cluster import cluster_mean, cluster_share
from panel.research.stats import ALL, spearman
from panel.store.files import atomic_write, write_csv


class Reference(BaseModel):
    """One reference judgement: what the persona should conclude about the tool."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tool: str = Field(min_length=1, description="Tool slug, as in the store (e.g. diffsage).")
    persona: str = Field(min_length=1, description="Persona key (e.g. builder).")
    verdict: Literal["ship", "skip"] = Field(description="Reference verdict.")
    score: int = Field(ge=0, le=100, description="Reference score.")
    note: str | None = Field(None, description="Why, in one line.")


def load_reference(path: Path) -> list[Reference]:
    """Read a reference JSONL; every error names the file, line and field."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InputError(str(path), f"cannot read: {exc}") from None
    out: list[Reference] = []
    seen: dict[tuple[str, str], int] = {}
    for no, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            ref = Reference.model_validate(json.loads(raw))
        except json.JSONDecodeError as exc:
            raise InputError(str(path), f"invalid JSON: {exc.msg}", line=no) from None
        except ValidationError as exc:
            raise validation_error(exc, str(path), line=no) from None
        key = (ref.tool, ref.persona)
        if key in seen:
            raise InputError(str(path), f"{ref.tool}/{ref.persona} already given on line "
                             f"{seen[key]}", line=no)
        seen[key] = no
        out.append(ref)
    if not out:
        raise InputError(str(path), "no reference lines")
    return out


class EvalStats(BaseModel):
    """Agreement with the reference, for one persona or all."""

    persona: str = Field(description="Persona key, or 'all'.")
    reference: int = Field(description="Reference lines in scope.")
    n: int = Field(description="Completed reviews scored against a reference line.")
    missing: int = Field(description="Reference lines with no completed review.")
    clusters: int = Field(0, description="Tools the scored reviews are of: the unit the "
                          "intervals resample (a tool's personas and samples together).")
    method: str = Field("", description="How the intervals were computed.")
    verdict_accuracy_pct: float | None = Field(description="Same verdict as the reference, %.")
    verdict_accuracy_low: float | None = Field(None, description="95% interval, clustered.")
    verdict_accuracy_high: float | None = None
    balanced_accuracy: float | None = Field(description="Mean recall of ship and skip.")
    score_mae: float | None = Field(description="Mean absolute score error, points.")
    score_mae_low: float | None = Field(None, description="95% interval, clustered.")
    score_mae_high: float | None = None
    spearman_rho: float | None = Field(description="Rank correlation with reference scores.")


class EvalReport(BaseModel):
    """A backbone's evaluation against one reference file."""

    model: str
    reference: str
    overall: EvalStats
    personas: list[EvalStats]


def balanced_accuracy(truth: Sequence[str], pred: Sequence[str]) -> float | None:
    """scikit-learn's balanced accuracy (mean per-class recall); None with no items.

    With one class in the reference it is that class's recall (sklearn warns; we do not).
    """
    from sklearn.metrics import balanced_accuracy_score

    if not truth:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return round(float(balanced_accuracy_score(truth, pred)), 4)


def eval_stats(reference: Sequence[Reference], records: Sequence[ReviewRecord],
               persona: str = ALL) -> EvalStats:
    """Score the completed records against the reference lines in scope."""
    refs = {(r.tool, r.persona): r for r in reference if persona in (ALL, r.persona)}
    pairs = [(refs[(r.tool, r.persona)], r) for r in records
             if (r.tool, r.persona) in refs and r.ok and r.score is not None]
    covered = {(ref.tool, ref.persona) for ref, _ in pairs}
    truth = [ref.verdict for ref, _ in pairs]
    pred = [str(r.verdict) for _, r in pairs]
    true_s = [ref.score for ref, _ in pairs]
    pred_s = [int(r.score or 0) for _, r in pairs]
    tools = [r.tool for _, r in pairs]
    acc = cluster_share([t == p for t, p in zip(truth, pred, strict=True)], tools)
    mae = cluster_mean([abs(t - p) for t, p in zip(true_s, pred_s, strict=True)], tools)
    return EvalStats(persona=persona, reference=len(refs), n=len(pairs),
                     missing=len(refs) - len(covered), clusters=acc.clusters,
                     method=f"accuracy: {acc.method}; MAE: {mae.method}",
                     verdict_accuracy_pct=acc.estimate, verdict_accuracy_low=acc.ci_low,
                     verdict_accuracy_high=acc.ci_high,
                     balanced_accuracy=balanced_accuracy(truth, pred),
                     score_mae=mae.estimate, score_mae_low=mae.ci_low, score_mae_high=mae.ci_high,
                     spearman_rho=spearman(true_s, pred_s))


def evaluate_records(reference: Sequence[Reference], records: Sequence[ReviewRecord],
                     model: str, source: str = "") -> EvalReport:
    """Overall and per-persona statistics (personas in reference-file order)."""
    personas = list(dict.fromkeys(r.persona for r in reference))
    return EvalReport(model=model, reference=source, overall=eval_stats(reference, records),
                      personas=[eval_stats(reference, records, p) for p in personas])


def stored_records(ws: Workspace, reference: Sequence[Reference], model: str,
                   study: str | None = None) -> list[ReviewRecord]:
    """The reviews to evaluate: a study's (all its samples) or the newest stored per persona."""
    if study:
        from panel.research.study import load_manifest, study_records

        by_model = study_records(ws, load_manifest(ws, study))
        if model not in by_model:
            raise InputError(study, f"model '{model}' is not in this study "
                             f"(have: {', '.join(by_model)})", field="models")
        return by_model[model]
    return [r for tool in dict.fromkeys(ref.tool for ref in reference)
            for r in ws.store.latest(tool, model)]


def evaluate(ws: Workspace, reference_path: Path, model: str | None = None,
             study: str | None = None) -> tuple[EvalReport, list[Path]]:
    """Evaluate a backbone's stored panel against a reference file; write JSON and CSV."""
    reference = load_reference(reference_path)
    name = ws.registry.get(model).name
    report = evaluate_records(reference, stored_records(ws, reference, name, study), name,
                              str(reference_path))
    from panel.config.project import child

    folder = ws.output / "evaluate"
    stem = f"{reference_path.stem}.{name}"
    json_path = child(folder, stem, ".json", field="model")
    atomic_write(json_path, json.dumps(report.model_dump(mode="json"), indent=2))
    csv_path = write_csv([s.model_dump() for s in [*report.personas, report.overall]],
                         child(folder, stem, ".csv", field="model"))
    return report, [json_path, csv_path]


