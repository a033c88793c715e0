"""`panel drift OLD NEW`: what changed between two stores (or two studies) of the same reviews.

A new vLLM, torch or dtype, or another machine, can move verdicts without changing a
review's inputs. Reviews are paired by tool, persona, backbone and sample (a store's newest
completed review of each; for two single-backbone studies, the backbone is not part of the
pair, so a swap can be compared). Verdict flips are tested with McNemar's exact test on the
discordant pairs (statsmodels): ship->skip against skip->ship, the question being whether
the verdicts moved one way. Score shifts, new - old, get a paired cluster-bootstrap
interval over cards (``research.cluster``): a card's personas and samples move together.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from pydantic import BaseModel, Field

from panel.config.workspace import Workspace
from panel.contract.records import ReviewRecord
from panel.research.cluster import Interval, cluster_bootstrap
from panel.research.stats import ALL
from panel.store import export as source

Slot = tuple[str, str, str, int]
"""(tool, persona, model, sample); model is "" when two single-backbone studies are paired."""
Outcome = tuple[str, int]
"""(the model's verdict, its score)."""


class DriftRow(BaseModel):
    """Drift of one persona (or all): verdict flips and the score shift."""

    persona: str
    n: int = Field(description="Paired reviews: completed on both sides.")
    only_old: int = Field(description="Completed in OLD only.")
    only_new: int = Field(description="Completed in NEW only.")
    ship_to_skip: int
    skip_to_ship: int
    flips_pct: float | None = Field(description="Flipped verdicts, % of pairs.")
    mcnemar_p: float | None = Field(description="McNemar's exact test on the flips; None "
                                    "without any.")
    score_shift: Interval = Field(description="Mean new - old score, paired, clustered.")


class DriftReport(BaseModel):
    old: str
    new: str
    rows: list[DriftRow]


def mcnemar_p(ship_to_skip: int, skip_to_ship: int) -> float | None:
    """McNemar's exact (binomial) p-value of the discordant counts; None when there are none."""
    from statsmodels.stats.contingency_tables import mcnemar

    if ship_to_skip + skip_to_ship == 0:
        return None
    table = [[0, ship_to_skip], [skip_to_ship, 0]]  # only the discordant cells matter
    return round(float(mcnemar(table, exact=True).pvalue), 6)


def outcomes(records: Iterable[ReviewRecord], drop_model: bool = False) -> dict[Slot, Outcome]:
    """Each slot's newest completed review (the model's own verdict and score)."""
    out: dict[Slot, Outcome] = {}
    for r in records:
        if r.ok and r.output is not None:
            out[(r.tool, r.persona, "" if drop_model else r.model, r.sample)] = (
                r.output.verdict, r.output.score)
    return out


def drift_row(old: Mapping[Slot, Outcome], new: Mapping[Slot, Outcome],
              persona: str = ALL) -> DriftRow:
    """One persona's (or all) flips and shift over the slots both sides completed."""
    import numpy as np

    def mine(side: Mapping[Slot, Outcome]) -> set[Slot]:
        return {s for s in side if persona in (ALL, s[1])}

    a, b = mine(old), mine(new)
    both = sorted(a & b)
    down = sum(old[s][0] == "ship" and new[s][0] == "skip" for s in both)
    up = sum(old[s][0] == "skip" and new[s][0] == "ship" for s in both)
    shifts = np.array([new[s][1] - old[s][1] for s in both], dtype=float)
    shift = cluster_bootstrap(lambda i: float(shifts[i].mean()), [s[0] for s in both],
                              bounds=(-100.0, 100.0))
    return DriftRow(persona=persona, n=len(both), only_old=len(a - b), only_new=len(b - a),
                    ship_to_skip=down, skip_to_ship=up,
                    flips_pct=round(100 * (down + up) / len(both), 2) if both else None,
                    mcnemar_p=mcnemar_p(down, up), score_shift=shift)


def drift_report(old: Mapping[Slot, Outcome], new: Mapping[Slot, Outcome],
                 names: tuple[str, str]) -> DriftReport:
    """Per persona (in first-seen order) and over all."""
    personas = list(dict.fromkeys(s[1] for s in [*old, *new]))
    return DriftReport(old=names[0], new=names[1],
                       rows=[drift_row(old, new, p) for p in [*personas, ALL]])


def _store_outcomes(folder: Path, model: str | None) -> dict[Slot, Outcome]:
    """A store's outcomes, streamed: one (verdict, score) per slot is all that is kept."""
    db = source.connect(folder)
    try:
        out: dict[Slot, Outcome] = {}
        for batch in source.reviews(db, source.Filters(model=model)):
            out.update(outcomes(batch))
        return out
    finally:
        db.close()


def drift(ws: Workspace, old: str, new: str, model: str | None = None) -> DriftReport:
    """`panel drift`: OLD and NEW are store folders (each an --output) or study names."""
    from panel.store.sqlite import Store

    if (Path(old) / Store.FILENAME).is_file() and (Path(new) / Store.FILENAME).is_file():
        return drift_report(_store_outcomes(Path(old), model),
                            _store_outcomes(Path(new), model), (old, new))
    from panel.research.study import load_manifest, study_records

    sides = [study_records(ws, load_manifest(ws, name)) for name in (old, new)]
    single = all(len(s) == 1 for s in sides)
    found = [outcomes((r for m, recs in s.items() if model in (None, m) for r in recs),
                      drop_model=single) for s in sides]
    return drift_report(found[0], found[1], (old, new))
