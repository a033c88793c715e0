"""Calibration from editors: hand-built edited reviews with hand-computed kappa and threshold."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from panel.cli import main
from panel.cli.tables import ceiling_line
from panel.config.project import project_root
from panel.config.workspace import Workspace
from panel.contract.records import Edit, ReviewRecord
from panel.errors import InputError
from panel.research.calibrate import (
    best_threshold,
    calibrate_store,
    ceiling,
    contradicting,
    editor_labels,
    set_ship_threshold,
)

from conftest import ROOT
from factories import copy_project, rec

# (model, tool, persona, model verdict, model score, edit): the edit's verdict/score, or
# "approved" (the editor keeps the model's verdict), or "text" (only the text edited).
LABELS = [
    ("mock", "t1", "builder", "skip", 40, "approved"),
    ("mock", "t2", "builder", "ship", 70, "approved"),
    ("mock", "t3", "builder", "ship", 60, ("skip", None)),
    ("mock", "t4", "builder", "skip", 50, ("ship", 58)),
    ("mock", "t5", "builder", "ship", 80, "text"),
    ("mock", "t6", "skeptic", "skip", 30, "approved"),
    ("mock", "t1", "skeptic", "ship", 90, "approved"),
    ("mock", "t2", "skeptic", "skip", 20, ("ship", 60)),
    ("mock-alt", "t1", "builder", "ship", 75, "approved"),
]


def _fill(ws: Workspace) -> None:
    """The labelled reviews, plus reviews that are no label: unedited, or another sample
    of an edited tool and persona (the edit labels the review it was made on)."""
    for model, tool, persona, verdict, score, edit in LABELS:
        record = rec(model, tool, persona, verdict, score)
        ws.store.put(record)
        if edit == "approved":
            change = Edit(approved=True, key=record.key)
        elif edit == "text":
            change = Edit(review="Edited text. It says more.", key=record.key)
        else:
            change = Edit(verdict=edit[0], score=edit[1], key=record.key)
        ws.store.set_edit(tool, persona, model, change)
    ws.store.put(rec("mock", "t1", "builder", "ship", 99, sample=1))  # newer, not shown
    ws.store.put(rec("mock", "t9", "builder", "ship", 99))  # never edited


def test_only_edited_or_approved_reviews_are_labels(ws: Workspace) -> None:
    _fill(ws)
    labels = editor_labels(ws)
    assert sorted((r.model, r.tool, r.persona, r.sample) for r in labels) == sorted(
        (m, t, p, 0) for m, t, p, *_ in LABELS)
    assert [r.tool for r in editor_labels(ws, "mock-alt")] == ["t1"]


def test_agreement_kappa_and_threshold_by_hand(ws: Workspace) -> None:
    _fill(ws)
    rows = {(r.model, r.persona): r for r in calibrate_store(ws)}
    assert list(rows) == [("mock", "builder"), ("mock", "skeptic"), ("mock", "all"),
                          ("mock-alt", "builder"), ("mock-alt", "all")]
    # builder: model skip ship ship skip ship, editors skip ship skip ship ship: 3/5 agree;
    # chance (3/5)(3/5) + (2/5)(2/5) = 0.52; kappa (0.6 - 0.52) / 0.48 = 1/6.
    # Thresholds: 41-50 and 61-70 both agree on 4 of 5; 50 is closer to 55 than 61.
    b = rows[("mock", "builder")]
    assert (b.labels, b.agreement_pct, b.kappa) == (5, 60.0, 0.1667)
    assert (b.threshold, b.threshold_agreement_pct, b.current_agreement_pct) == (50, 80.0, 60.0)
    # skeptic: model skip ship skip, editors skip ship ship: 2/3; chance 4/9; kappa 0.4.
    # 31-90 agree on 2 of 3, as many as 0-20: 55 itself wins the tie.
    s = rows[("mock", "skeptic")]
    assert (s.labels, s.agreement_pct, s.kappa, s.threshold) == (3, 66.67, 0.4, 55)
    # all 8: 5 agree; model ship 4/8, editors 5/8: chance 0.5, kappa (0.625 - 0.5) / 0.5.
    a = rows[("mock", "all")]
    assert (a.labels, a.agreement_pct, a.kappa, a.threshold, a.threshold_agreement_pct) == (
        8, 62.5, 0.25, 50, 75.0)
    # One label: kappa is undefined, not 0.
    one = rows[("mock-alt", "builder")]
    assert (one.labels, one.agreement_pct, one.kappa, one.threshold) == (1, 100.0, None, 55)


def test_kappa_matches_sklearn_and_is_undefined_for_one_class() -> None:
    from sklearn.metrics import cohen_kappa_score

    from panel.research.stats import cohen_kappa

    model = ["skip", "ship", "ship", "skip", "ship"]
    editors = ["skip", "ship", "skip", "ship", "ship"]
    assert cohen_kappa(model, editors) == pytest.approx(cohen_kappa_score(model, editors),
                                                       abs=1e-4) == pytest.approx(1 / 6, abs=1e-4)
    assert cohen_kappa(["ship"] * 4, ["ship"] * 4) is None


def test_threshold_ties_go_to_the_current_then_to_the_lower() -> None:
    assert best_threshold([], [], 55) == (None, None)
    # 30 skip, 70 ship: every t in 31..70 agrees on both; the current 55 is among them.
    assert best_threshold([30, 70], ["skip", "ship"], 55) == (55, 100.0)
    assert best_threshold([30, 70], ["skip", "ship"], 90) == (70, 100.0)
    # 41-50 and 60-70 agree on 3 of 4; 55 is 5 from both 50 and 60: the lower one.
    assert best_threshold([40, 50, 59, 70], ["skip", "ship", "skip", "ship"], 55) == (50, 75.0)
    assert best_threshold([40, 50, 59, 70], ["skip", "ship", "skip", "ship"], 56) == (60, 75.0)


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    """A copy of the project data whose panel.yaml a test may change (never the checkout's)."""
    root = copy_project(tmp_path / "project")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PANEL_HOME", str(root))
        project_root.cache_clear()
        try:
            yield root
        finally:
            project_root.cache_clear()


HEAD = """\
Calibration against the editors: 9 labels, current ship threshold 55
backbone             persona    labels agree%  kappa  at 55% best t agree%
mock                 builder         5   60.0   0.17    60.0     50   80.0
mock                 skeptic         3   66.7   0.40    66.7     55   66.7
mock                 all             8   62.5   0.25    62.5     50   75.0
mock-alt             builder         1  100.0    n/a   100.0     55  100.0
mock-alt             all             1  100.0    n/a   100.0     55  100.0
mock: suggested ship threshold 50 (agreement 75.0%; 62.5% at 55)
mock-alt: suggested ship threshold 55 (agreement 100.0%; 100.0% at 55)
Held out: threshold fitted on half the cards (stratified, seed 0), judged on the other \
half; 95% CI clustered by card
backbone             persona     fit test  cl    t agree% [CI]          kappa [CI]           \
model agree%
mock                 builder       3    2   2   50 100.0 [1.2, 100.0]   1.00 [1.00, 1.00]    \
       100.0
mock                 skeptic       1    2   2   20 50.0 [0.2, 99.8]     0.00 [0.00, 0.00]    \
       100.0
mock                 all           4    4   3   20 50.0 [4.7, 95.3]     0.00 [0.00, 0.00]    \
       100.0
mock-alt             builder       0    1   1  n/a 100.0                n/a                  \
       100.0
mock-alt             all           0    1   1  n/a 100.0                n/a                  \
       100.0
Ceiling, editor vs editor: no second editor's labels (--second-editor OUTPUT)
"""
# Held out by hand: strata by the editors' majority, skip {t3, t6} and ship {t1, t2, t4, t5},
# each shuffled by Random(0) and its first half fitted: t3, then t2 and t4. mock builder fits
# on t2 (70, ship), t3 (60, skip), t4 (50, ship): 2 of 3 at t <= 50 or t > 60, ties to 50,
# the closest to 55; tested on t1 (40, skip) and t5 (80, ship): both right, kappa 1. mock
# skeptic fits on t2 (20, ship): t = 20; tested on t1 (90, ship) right, t6 (30, skip) wrong.


def test_the_cli_reports_and_changes_nothing_unless_asked(home: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    _fill(Workspace(output=out, root=home))
    before = (home / "panel.yaml").read_text()
    res = CliRunner().invoke(main, ["calibrate", "-o", str(out)])
    assert (res.exit_code, res.stdout) == (
        0, HEAD + "panel.yaml unchanged (--apply writes the suggestion)\n")
    assert (home / "panel.yaml").read_text() == before
    # --apply needs one backbone: the threshold is shared by all of them.
    res = CliRunner().invoke(main, ["calibrate", "--apply", "-o", str(out)])
    assert res.exit_code == 2 and (home / "panel.yaml").read_text() == before
    assert res.stderr == ("error: labels from 2 backbones (mock, mock-alt): panel.yaml has one "
                          "ship threshold for all of them; pick the one to fit with --model\n")


def test_apply_rewrites_only_the_threshold(home: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    _fill(Workspace(output=out, root=home))
    before = (home / "panel.yaml").read_text()
    res = CliRunner().invoke(main, ["calibrate", "--apply", "-m", "mock", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert res.stdout.splitlines()[-1] == (
        f"wrote rubric.ship_threshold 50 to {home / 'panel.yaml'} (was 55); the rubric is part "
        "of every review's store key, so the next run reviews every card again")
    assert (home / "panel.yaml").read_text() == before.replace("ship_threshold: 55",
                                                               "ship_threshold: 50")
    assert Workspace(output=out, root=home).config.rubric.ship_threshold == 50
    # Applied again: 50 is now the current threshold and still the best.
    res = CliRunner().invoke(main, ["calibrate", "--apply", "-m", "mock", "-o", str(out)])
    assert res.stdout.splitlines()[-1] == ("panel.yaml unchanged: 50 already matches the "
                                           "editors best")


def test_an_empty_store_is_one_line_and_exit_2(tmp_path: Path) -> None:
    out = tmp_path / "empty"
    res = CliRunner().invoke(main, ["calibrate", "-o", str(out)])
    assert (res.exit_code, res.stdout) == (2, "")
    assert res.stderr == (f"error: no edited or approved reviews in {out / 'panel.sqlite3'}: "
                          "nothing to calibrate against; edit or approve reviews first "
                          "(panel edit, panel approve, panel ui)\n")
    res = CliRunner().invoke(main, ["calibrate", "-m", "nope", "-o", str(out)])
    assert res.exit_code == 2 and "nope" in res.stderr


def test_a_threshold_the_rubric_cannot_take_is_refused_and_nothing_written(
        tmp_path: Path) -> None:
    path = tmp_path / "panel.yaml"
    shutil.copy(ROOT / "panel.yaml", path)
    before = path.read_text()
    with pytest.raises(InputError, match="would not be valid: Value error, skip_threshold must "
                                         "be >= ship_threshold - 1"):
        set_ship_threshold(path, 80)  # skip_threshold 65 < 80 - 1
    assert path.read_text() == before
    path.write_text(before + "other:\n  ship_threshold: 3\n")
    with pytest.raises(InputError, match="found 2 'ship_threshold:' lines"):
        set_ship_threshold(path, 60)
    path.write_text("# no rubric here\ngeneration:\n  max_attempts: 3\n")
    with pytest.raises(InputError, match="found 0 'ship_threshold:' lines"):
        set_ship_threshold(path, 60)
    with pytest.raises(InputError, match="does not exist"):
        set_ship_threshold(tmp_path / "missing.yaml", 60)
    path.write_text(before)
    assert set_ship_threshold(path, 60) == 55
    assert path.read_text() == before.replace("ship_threshold: 55", "ship_threshold: 60")


def test_the_split_keeps_cards_whole_and_both_verdicts_on_each_side(ws: Workspace) -> None:
    from panel.research.calibrate import split_by_card

    _fill(ws)
    labels = editor_labels(ws)
    fit, test = split_by_card(labels)
    assert not {r.tool for r in fit} & {r.tool for r in test}
    assert len(fit) + len(test) == len(labels) == 9
    assert {r.tool for r in fit} == {"t2", "t3", "t4"}  # skip t3; ship t2, t4 (seed 0)
    assert split_by_card(labels) == (fit, test)
    assert {str(r.verdict) for r in fit} == {str(r.verdict) for r in test} == {"ship", "skip"}


def test_the_labels_a_new_threshold_contradicts_are_the_editors_ships_below_it(
        ws: Workspace) -> None:
    """By hand from LABELS (effective verdict and score, the editor's when edited): mock's
    ships are t2/builder 70, t4/builder 58, t5/builder 80, t1/skeptic 90, t2/skeptic 60."""
    _fill(ws)
    labels = editor_labels(ws, "mock")
    assert {(r.tool, r.persona) for r in contradicting(labels, 65)} == {
        ("t4", "builder"), ("t2", "skeptic")}
    assert {(r.tool, r.persona) for r in contradicting(labels, 59)} == {("t4", "builder")}
    assert contradicting(labels, 58) == []


def _double(verdicts: list[tuple[str, str]], editors: tuple[str | None, str | None] = (None, "b"),
            ) -> tuple[list[ReviewRecord], list[ReviewRecord]]:
    """Two editors' labels on the same reviews: 3 personas per card, cards t0, t1, ..."""
    personas = ["builder", "skeptic", "founder"]
    first, second = [], []
    for i, (a, b) in enumerate(verdicts):
        base = rec("mock", f"t{i // 3}", personas[i % 3], "ship", 60)
        for side, verdict, editor in ((first, a, editors[0]), (second, b, editors[1])):
            side.append(base.model_copy(update={"edit": Edit(
                verdict=verdict, editor=editor, key=base.key, at="2026-12-01T00:00:00+00:00")}))
    return first, second


# 4 cards x 3 personas; editor A ships 8 of 12, editor B too, disagreeing on t0/founder
# (A skip, B ship) and t1/builder (A ship, B skip): agreement 10/12, chance agreement
# (8/12)^2 + (4/12)^2 = 80/144, kappa (120/144 - 80/144) / (64/144) = 0.625.
TWELVE = [("ship", "ship"), ("ship", "ship"), ("skip", "ship"),
          ("ship", "skip"), ("ship", "ship"), ("skip", "skip"),
          ("ship", "ship"), ("ship", "ship"), ("skip", "skip"),
          ("ship", "ship"), ("ship", "ship"), ("skip", "skip")]


def test_the_ceiling_is_editor_against_editor_clustered_by_card() -> None:
    c = ceiling(*_double(TWELVE))
    assert c.reviews == 12 and c.agreement is not None and c.kappa is not None
    assert (c.agreement.n, c.agreement.clusters) == (12, 4)
    assert c.agreement.estimate == pytest.approx(100 * 10 / 12)
    assert c.kappa.estimate == pytest.approx(0.625)
    # Hits per card 2, 2, 3, 3 of 3: CR1 variance 4/3 x 4 x 0.5^2 / 144 is below the
    # binomial (5/6)(1/6)/12, so deff is 1: Wilson on n = 12 with t(3) = 3.182, by hand
    # centre 0.6808 -/+ 0.2947.
    assert (c.agreement.ci_low, c.agreement.ci_high) == pytest.approx((38.61, 97.55), abs=0.01)
    line = ceiling_line(c)
    assert line.startswith("Ceiling, editor vs editor: 12 reviews, 4 cards, agree% 83.3 [")


def test_too_few_or_copied_labels_give_no_ceiling() -> None:
    first, second = _double(TWELVE[:9])
    c = ceiling(first, second)
    assert (c.reviews, c.agreement, c.kappa) == (9, None, None)
    assert ceiling_line(c) == ("Ceiling, editor vs editor: 9 review(s) labelled by both "
                               "editors, too few to show (needs 10 on 2 or more cards)")
    first, _ = _double(TWELVE)
    assert ceiling(first, first).reviews == 0  # a copied store repeats the same edits
    assert ceiling(*_double(TWELVE, editors=("a", "a"))).reviews == 0  # one editor twice
    assert ceiling(*_double(TWELVE, editors=("a", None))).reviews == 12


def test_the_cli_shows_a_second_editors_store_as_the_ceiling(home: Path, tmp_path: Path) -> None:
    """Editor b labelled two of the 9 reviews in a store of their own, and one review
    the first store has no label on: two double labels."""
    out, other = tmp_path / "out", tmp_path / "other"
    _fill(Workspace(output=out, root=home))
    second = Workspace(output=other, root=home)
    for tool, persona in (("t3", "builder"), ("t6", "skeptic"), ("t9", "builder")):
        second.store.put(rec("mock", tool, persona, "skip", 40))
        second.store.set_edit(tool, persona, "mock", Edit(
            verdict="ship", editor="b", key=f"mock-{tool}-{persona}-0",
            at="2026-12-01T00:00:00+00:00"))
    res = CliRunner().invoke(main, ["calibrate", "--second-editor", str(other), "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert res.stdout.splitlines()[-2] == (
        "Ceiling, editor vs editor: 2 review(s) labelled by both editors, too few to show "
        "(needs 10 on 2 or more cards)")
