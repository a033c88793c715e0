"""`panel drift`: flips with McNemar's exact test and the paired score shift, by hand."""

from __future__ import annotations

from click.testing import CliRunner

from panel.cli import main
from panel.config.workspace import Workspace
from panel.research.drift import drift, drift_report, mcnemar_p
from panel.research.study import Study, run_study

from conftest import EXAMPLES


def test_mcnemars_exact_p_by_hand() -> None:
    # 1 vs 6 discordant: two-sided binomial, 2 x P(X <= 1 | 7, 1/2) = 2 x 8 / 128.
    assert mcnemar_p(1, 6) == 0.125
    assert mcnemar_p(3, 3) == 1.0
    assert mcnemar_p(0, 0) is None


def test_flips_shift_and_unpaired_slots() -> None:
    old = {("t1", "builder", "m", 0): ("ship", 70), ("t1", "skeptic", "m", 0): ("skip", 40),
           ("t2", "builder", "m", 0): ("ship", 80), ("t3", "builder", "m", 0): ("skip", 20)}
    new = {("t1", "builder", "m", 0): ("skip", 50), ("t1", "skeptic", "m", 0): ("skip", 40),
           ("t2", "builder", "m", 0): ("ship", 90), ("t9", "builder", "m", 0): ("ship", 99)}
    rows = {r.persona: r for r in drift_report(old, new, ("a", "b")).rows}
    every = rows["all"]
    assert (every.n, every.only_old, every.only_new) == (3, 1, 1)
    assert (every.ship_to_skip, every.skip_to_ship, every.flips_pct) == (1, 0, 33.33)
    assert every.mcnemar_p == 1.0  # one flip says nothing
    # Shifts -20 (t1), 0 (t1), +10 (t2): mean -3.3333 over 2 cards.
    assert (every.score_shift.estimate, every.score_shift.clusters) == (-3.3333, 2)
    assert rows["skeptic"].n == 1 and rows["skeptic"].score_shift.ci_low is None


def test_two_single_backbone_studies_pair_across_the_swap(ws: Workspace) -> None:
    cards = [str(EXAMPLES / "tracelens.yaml"), str(EXAMPLES / "diffsage.yaml")]
    run_study(ws, Study(name="a", models=["mock"], cards=cards))
    run_study(ws, Study(name="b", models=["mock-alt"], cards=cards))
    every = drift(ws, "a", "b").rows[-1]
    assert (every.persona, every.n, every.only_old, every.only_new) == ("all", 8, 0, 0)
    assert every.score_shift.clusters == 2
    res = CliRunner().invoke(main, ["drift", "a", "a", "-o", str(ws.output)])
    assert res.exit_code == 0, res.output
    assert res.stdout.splitlines()[-1].split() == [
        "all", "8", "0", "0", "0", "0", "0.0", "n/a", "+0.00", "[+0.00,", "+0.00]"]


def test_two_stores_are_read_as_folders(ws: Workspace) -> None:
    run_study(ws, Study(name="a", models=["mock"], cards=[str(EXAMPLES / "tracelens.yaml")]))
    other = Workspace(output=ws.output.parent / "other", root=ws.root)
    run_study(other, Study(name="a", models=["mock", "mock-alt"],
                           cards=[str(EXAMPLES / "tracelens.yaml")]))
    every = drift(ws, str(ws.output), str(other.output)).rows[-1]
    assert (every.n, every.only_old, every.only_new, every.flips_pct) == (4, 0, 4, 0.0)
