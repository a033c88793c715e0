"""Kish's effective number of judges from the backbones' score-error correlation."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from panel.cli import main
from panel.research.evaluate import Reference
from panel.research.jury_size import jury_size, kish
from panel.research.stats import ALL

from conftest import EXAMPLES
from factories import rec

REF = [Reference(tool=f"t{i}", persona="builder", verdict="ship", score=50) for i in range(4)]


def _model(name: str, scores: list[int]) -> list:  # type: ignore[type-arg]
    return [rec(name, f"t{i}", "builder", "ship", s) for i, s in enumerate(scores)]


def test_kish_by_hand() -> None:
    assert kish(4, 0.0) == 4.0
    assert kish(4, 1.0) == 1.0
    assert kish(4, 0.5) == pytest.approx(1.6)  # 4 / (1 + 3 x 0.5)
    assert kish(3, -0.4) == 3.0  # anti-correlated errors are floored at 0


def test_identical_errors_are_one_judge_and_independent_ones_n() -> None:
    same = {"a": _model("a", [60, 40, 70, 30]), "b": _model("b", [60, 40, 70, 30])}
    one = jury_size(same, REF)
    assert (one.judges, one.items, one.mean_error_correlation, one.effective_judges) == (
        2, 4, 1.0, 1.0)
    # errors a: +10 -10 +20 -20, b: +10 +10 -10 -10: Pearson 0 (orthogonal): 2 judges.
    apart = {"a": _model("a", [60, 40, 70, 30]), "b": _model("b", [60, 60, 40, 40])}
    assert jury_size(apart, REF, ALL).effective_judges == 2.0


def test_constant_errors_leave_it_undefined() -> None:
    flat = {"a": _model("a", [50, 50, 50, 50]), "b": _model("b", [60, 40, 70, 30])}
    size = jury_size(flat, REF)
    assert (size.mean_error_correlation, size.effective_judges) == (None, None)


def test_the_jury_cli_prints_effective_judges(tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = str(tmp_path / "o")
    runner = CliRunner()
    assert runner.invoke(main, ["study", str(EXAMPLES), "--models", "mock,mock-alt",
                                "-o", out]).exit_code == 0
    res = runner.invoke(main, ["jury", "mock-vs-mock-alt", "--reference",
                               str(EXAMPLES.parent / "reference.jsonl"), "-o", out])
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    head = lines.index("Effective judges (Kish: n / (1 + (n - 1) x mean error correlation))")
    assert [ln.split()[:3] for ln in lines[head + 2:]] == [
        ["builder", "2", "6"], ["skeptic", "2", "6"], ["futurist", "2", "6"],
        ["founder", "2", "6"], ["all", "2", "24"]]
