"""The jury's effective number of judges: how many independent backbones it is worth,
and ``study_jury`` (`panel jury STUDY`), a study's juries with it.

Four backbones that make the same mistakes are one judge asked four times. Per persona,
each backbone's error on an item (tool, persona, sample) is its score minus the reference
score; the mean pairwise Pearson correlation of those errors across backbones, rho-bar,
gives Kish's effective number n / (1 + (n - 1) rho-bar) (Kish 1965, the design effect of
equally correlated units). Signed score errors rather than verdict mistakes: a 0/1 mistake
is constant on small samples (no correlation defined), a score error rarely is. A negative
rho-bar is floored at 0 (n effective, no more): anti-correlated errors are not extra judges.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import combinations
from pathlib import Path

from pydantic import BaseModel, Field

from panel.config.workspace import Workspace
from panel.contract.records import ReviewRecord
from panel.research.evaluate import Reference, load_reference
from panel.research.stats import ALL
from panel.research.study import load_manifest, study_records
from panel.verdict.jury import ToolJury, jury


class JurySize(BaseModel):
    """One persona's (or all) error correlation and effective number of judges."""

    persona: str
    judges: int = Field(description="Backbones in the jury.")
    items: int = Field(description="Items every backbone completed with a reference.")
    mean_error_correlation: float | None = Field(description="rho-bar: mean pairwise Pearson "
                                                 "correlation of the score errors.")
    effective_judges: float | None = Field(description="Kish: n / (1 + (n - 1) rho-bar).")


def kish(n: int, rho: float) -> float:
    """Kish's effective number of n judges whose errors correlate rho on average."""
    return n / (1 + (n - 1) * max(rho, 0.0))


def _errors(records: Sequence[ReviewRecord], refs: Mapping[tuple[str, str], Reference],
            persona: str) -> dict[tuple[str, str, int], float]:
    return {(r.tool, r.persona, r.sample): float(r.output.score - refs[(r.tool, r.persona)].score)
            for r in records if r.ok and r.output is not None
            and (r.tool, r.persona) in refs and persona in (ALL, r.persona)}


def jury_size(by_model: Mapping[str, Sequence[ReviewRecord]], reference: Sequence[Reference],
              persona: str = ALL) -> JurySize:
    """rho-bar and the effective number for one persona (or all)."""
    import numpy as np

    refs = {(r.tool, r.persona): r for r in reference}
    errors = [_errors(recs, refs, persona) for recs in by_model.values()]
    items = sorted(set.intersection(*(set(e) for e in errors))) if errors else []
    rhos = []
    for a, b in combinations(errors, 2):
        x, y = np.array([a[i] for i in items]), np.array([b[i] for i in items])
        if len(items) >= 3 and x.std() > 0 and y.std() > 0:
            rhos.append(float(np.corrcoef(x, y)[0, 1]))
    n = len(errors)
    rho = round(float(np.mean(rhos)), 4) if rhos and len(rhos) == n * (n - 1) // 2 else None
    return JurySize(persona=persona, judges=n, items=len(items), mean_error_correlation=rho,
                    effective_judges=round(kish(n, rho), 2) if rho is not None else None)


def jury_sizes(by_model: Mapping[str, Sequence[ReviewRecord]], reference: Sequence[Reference],
               personas: Sequence[str]) -> list[JurySize]:
    """Per persona (panel order), then over all."""
    return [jury_size(by_model, reference, p) for p in [*personas, ALL]]


def study_jury(ws: Workspace, *, study: str, reference: Path | None = None
               ) -> tuple[list[str], list[ToolJury], list[str], list[JurySize]]:
    """`panel jury STUDY`: (the backbones, one jury per tool, the personas in order, and
    with a reference file each persona's effective number of judges)."""
    manifest = load_manifest(ws, study)
    by_model = study_records(ws, manifest)
    juries = jury(by_model, ws.config.rubric, manifest["personas"])
    sizes = []
    if reference is not None:
        sizes = jury_sizes(by_model, load_reference(reference), manifest["personas"])
    return list(manifest["runs"]), juries, list(manifest["personas"]), sizes
