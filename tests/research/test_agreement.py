"""Agreement statistics against values computed by hand on a small fixed input."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from panel.cli.tables import format_table
from panel.contract.output import Rubric
from panel.contract.records import ReviewRecord
from panel.research.agreement import agreement_report, backbone_stats, pair_stats
from panel.research.consistency import self_consistency
from panel.research.report import write_report
from panel.research.stats import ALL, cohen_kappa, fleiss_kappa, spearman
from panel.verdict.jury import jury

from factories import rec

# Six items (tools t1..t6, persona builder) rated by three backbones:
#   item   A           B           C
#   t1     ship 80     ship 70     ship
#   t2     ship 70     skip 50     ship
#   t3     skip 40     skip 30     skip
#   t4     skip 30     skip 45     ship
#   t5     ship 60     ship 90     ship
#   t6     skip 20     ship 60     skip
A = [("ship", 80), ("ship", 70), ("skip", 40), ("skip", 30), ("ship", 60), ("skip", 20)]
B = [("ship", 70), ("skip", 50), ("skip", 30), ("skip", 45), ("ship", 90), ("ship", 60)]
C = [("ship", 70), ("ship", 70), ("skip", 30), ("ship", 60), ("ship", 70), ("skip", 30)]


def records(model: str, rows: list[tuple[str, int]],
            persona: str = "builder") -> list[ReviewRecord]:
    return [rec(model, f"t{i + 1}", persona, v, s) for i, (v, s) in enumerate(rows)]


def test_pairwise_statistics_match_hand_computation() -> None:
    p = pair_stats(records("a", A), records("b", B), "a", "b")
    assert p.n == 6
    # Same verdict on t1, t3, t4, t5: 4 of 6.
    assert p.verdict_agreement_pct == pytest.approx(66.67, abs=0.01)
    # p_o = 4/6; A and B each say ship 3 of 6, so p_e = .5*.5 + .5*.5 = .5;
    # kappa = (2/3 - 1/2) / (1 - 1/2) = 1/3.
    assert p.cohen_kappa == pytest.approx(1 / 3, abs=1e-4)
    # Ranks A = [6,5,3,2,4,1], B = [5,3,1,2,6,4]; d^2 = 1+4+4+0+4+9 = 22;
    # rho = 1 - 6*22 / (6*(36-1)) = 1 - 132/210 = 0.371429.
    assert p.spearman_rho == pytest.approx(0.371429, abs=1e-4)
    # |diffs| = 10, 20, 10, 15, 30, 40 -> 125 / 6.
    assert p.score_mae == pytest.approx(20.8333, abs=1e-4)


def test_fleiss_kappa_matches_hand_computation() -> None:
    # Ship counts per item (3 raters): 3, 2, 0, 1, 3, 1. P_i = (sum n_ij^2 - 3) / 6:
    # 1, 1/3, 1, 1/3, 1, 1/3 -> P_bar = 4/6. p_ship = 10/18, p_skip = 8/18,
    # P_e = (100 + 64) / 324. kappa = (216/324 - 164/324) / (1 - 164/324) = 52/160 = 0.325.
    ratings = [[a[0], b[0], c[0]] for a, b, c in zip(A, B, C, strict=True)]
    assert fleiss_kappa(ratings) == pytest.approx(0.325, abs=1e-4)
    report = agreement_report("s", {"a": records("a", A), "b": records("b", B),
                                    "c": records("c", C)}, ["builder"])
    overall = next(f for f in report.fleiss if f.persona == ALL)
    assert overall.n == 6 and overall.kappa == pytest.approx(0.325, abs=1e-4)


def test_degenerate_inputs_are_none_not_errors() -> None:
    assert spearman([50, 50, 50], [10, 20, 30]) is None      # constant scores
    assert spearman([1], [2]) is None                        # a single pair
    assert cohen_kappa(["ship"] * 4, ["ship"] * 4) is None   # one class on both sides
    assert fleiss_kappa([["skip", "skip"]] * 3) is None
    empty = pair_stats([], records("b", B), "a", "b")
    assert (empty.n, empty.verdict_agreement_pct, empty.cohen_kappa, empty.spearman_rho,
            empty.score_mae) == (0, None, None, None, None)
    same = [("ship", 70)] * 3
    p = pair_stats(records("a", same), records("b", same), "a", "b")
    assert p.verdict_agreement_pct == 100.0 and p.cohen_kappa is None
    assert p.spearman_rho is None and p.score_mae == 0.0
    assert "n/a" in format_table(agreement_report("s", {"a": records("a", same),
                                                        "b": records("b", same)}, ["builder"]))


def test_pairs_carry_card_clustered_intervals_n_and_the_method() -> None:
    p = pair_stats(records("a", A), records("b", B), "a", "b")
    # Six items of six cards: every card one cluster.
    assert (p.n, p.clusters) == (6, 6)
    assert p.method == "Wilson on n/deff, clustered by cards (CR1), t(C-1)"
    # MAE: one value per card, so CR1 is the t interval: 20.8333 -/+ 2.5706 x sd / sqrt(6),
    # sd of 10, 20, 10, 15, 30, 40 = sqrt(720.83 / 5) = 12.007: -/+ 12.601.
    assert (p.score_mae_low, p.score_mae_high) == (pytest.approx(8.2328, abs=1e-3),
                                                   pytest.approx(33.4338, abs=1e-3))
    for name in ("verdict_agreement", "cohen_kappa", "spearman_rho"):
        low, high = getattr(p, f"{name}_low"), getattr(p, f"{name}_high")
        point = getattr(p, name if name != "verdict_agreement" else "verdict_agreement_pct")
        assert low is not None and low < point < high, name
    assert p.cohen_kappa_low is not None and p.cohen_kappa_low >= -1.0


def test_alpha_keeps_the_items_a_failed_review_drops_from_fleiss() -> None:
    """t7: a and b reviewed it, c failed. Fleiss' kappa leaves the item out; alpha keeps the
    two ratings it has (a missing rating, not a missing item)."""
    from panel.research.agreement import fleiss_stats
    from panel.research.cluster import alpha

    by_model = {"a": records("a", A) + [rec("a", "t7", "builder", "ship", 75)],
                "b": records("b", B) + [rec("b", "t7", "builder", "skip", 35)],
                "c": records("c", C) + [rec("c", "t7", "builder", None, None)]}
    f = fleiss_stats(by_model)
    assert (f.n, f.kappa, f.units, f.ratings, f.clusters) == (6, pytest.approx(0.325), 7, 20, 7)
    verdicts = np.array([[1.0 if v == "ship" else 0.0 for v, _ in rows] + [extra]
                         for rows, extra in ((A, 1.0), (B, 0.0), (C, np.nan))])
    scores = np.array([[float(s) for _, s in rows] + [extra]
                       for rows, extra in ((A, 75.0), (B, 35.0), (C, np.nan))])
    assert f.alpha_verdict == pytest.approx(alpha(verdicts, "nominal"), abs=1e-4)
    assert f.alpha_score == pytest.approx(alpha(scores, "ordinal"), abs=1e-4)
    assert f.alpha_verdict_low is not None and f.alpha_verdict_high is not None
    assert f.alpha_verdict_low < (f.alpha_verdict or 0) < f.alpha_verdict_high


def test_failed_reviews_are_not_paired_and_count_as_failures() -> None:
    a = records("a", A) + [rec("a", "t7", "builder", None, None, tokens=30, seconds=4.0)]
    b = records("b", B) + [rec("b", "t7", "builder", "ship", 90)]
    assert pair_stats(a, b, "a", "b").n == 6
    stats = backbone_stats("a", a, ["builder"])
    # 7 reviews, 1 failed; ship 3 of the 6 completed; tokens (6*10 + 30)/7; seconds (6+4)/7.
    assert (stats.reviews, stats.failed) == (7, 1)
    assert stats.failure_rate_pct == pytest.approx(14.29)
    assert stats.ship_rate_pct == 50.0
    assert stats.mean_output_tokens == pytest.approx(12.86)
    assert stats.mean_latency_s == pytest.approx(1.429)
    # Scores 20,30,40,60,70,80: mean 50, median 50, population std sqrt(2800/6) = 21.602.
    assert (stats.scores.mean, stats.scores.median, stats.scores.min, stats.scores.max) == (
        50.0, 50.0, 20.0, 80.0)
    assert stats.scores.std == pytest.approx(21.6025, abs=1e-3)


def test_per_persona_rows_and_files(tmp_path: Path) -> None:
    a = records("a", A) + records("a", B, persona="skeptic")
    b = records("b", B) + records("b", B, persona="skeptic")
    report = agreement_report("s", {"a": a, "b": b}, ["builder", "skeptic"])
    rows = {p.persona: p for p in report.pairs}
    assert set(rows) == {"builder", "skeptic", ALL}
    assert rows["skeptic"].cohen_kappa == 1.0 and rows["skeptic"].score_mae == 0.0
    assert rows[ALL].n == 12
    paths = write_report(report, tmp_path / "r")
    names = sorted(p.name for p in paths)
    assert names == ["agreement.json", "agreement.png", "backbones.csv", "fleiss.csv",
                     "pairs.csv"]
    assert (tmp_path / "r" / "agreement.png").read_bytes()[:4] == b"\x89PNG"
    doc = json.loads((tmp_path / "r" / "agreement.json").read_text())
    assert doc["pairs"][0]["cohen_kappa"] == pytest.approx(1 / 3, abs=1e-4)
    with (tmp_path / "r" / "pairs.csv").open() as fh:
        assert [r["persona"] for r in csv.DictReader(fh)] == ["builder", "skeptic", "all"]
    svg = write_report(report, tmp_path / "s", figure_format="svg")[-1]
    assert svg.read_text().lstrip().startswith("<?xml")


def test_self_consistency_spread_and_flip_rate() -> None:
    # t1: scores 60, 70, 50 with verdicts ship, ship, skip: std sqrt(200/3) = 8.165,
    # range 20, flipped. t2: 40, 40, both skip: std 0, range 0, not flipped.
    recs = [rec("a", "t1", "builder", "ship", 60, 0), rec("a", "t1", "builder", "ship", 70, 1),
            rec("a", "t1", "builder", "skip", 50, 2), rec("a", "t2", "builder", "skip", 40, 0),
            rec("a", "t2", "builder", "skip", 40, 1)]
    rows = {c.persona: c for c in self_consistency("a", recs, ["builder"])}
    overall = rows[ALL]
    assert overall.groups == 2 and overall.samples == 2.5
    assert overall.score_std == pytest.approx(8.165 / 2, abs=1e-3)
    assert overall.score_range == 10.0 and overall.flip_rate_pct == 50.0
    assert self_consistency("a", records("a", A), ["builder"]) == []  # one sample each


def test_jury_majority_mean_and_tie_rule() -> None:
    rubric = Rubric(ship_threshold=55, skip_threshold=65)
    by_model = {
        "a": [rec("a", "t1", "builder", "ship", 70), rec("a", "t1", "skeptic", "ship", 60)],
        "b": [rec("b", "t1", "builder", "ship", 60), rec("b", "t1", "skeptic", "skip", 40)],
        "c": [rec("c", "t1", "builder", "skip", 40), rec("c", "t1", "skeptic", None, None)],
    }
    (tool,) = jury(by_model, rubric, ["builder", "skeptic"])
    builder, skeptic = tool.personas
    # builder: 2 ship / 1 skip -> ship, mean (70+60+40)/3 = 56.67.
    assert (builder.verdict, builder.mean_score, builder.ship, builder.skip) == (
        "ship", 56.67, 2, 1)
    # skeptic: 1 ship / 1 skip / 1 failed -> tie; mean 50 < 55 -> skip.
    assert (skeptic.verdict, skeptic.mean_score, skeptic.tie_broken, skeptic.failed) == (
        "skip", 50.0, True, 1)
    # Tool: 1 ship / 1 skip persona verdicts -> tie; mean (56.67+50)/2 = 53.34 < 55 -> skip.
    assert (tool.verdict, tool.tie_broken, tool.mean_score) == ("skip", True, 53.34)
