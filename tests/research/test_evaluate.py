"""Reference evaluation on a fixed input, the shipped reference file, and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from panel.cli import main
from panel.errors import InputError
from panel.inputs.cards import load_cards
from panel.research.evaluate import Reference, evaluate_records, load_reference

from conftest import EXAMPLES, ROOT
from factories import rec

SHIPPED = ROOT / "examples" / "reference.jsonl"

REFERENCE = [
    Reference(tool="t1", persona="builder", verdict="ship", score=70),
    Reference(tool="t1", persona="skeptic", verdict="skip", score=30),
    Reference(tool="t2", persona="builder", verdict="skip", score=40),
    Reference(tool="t2", persona="skeptic", verdict="ship", score=60),
]
RECORDS = [
    rec("m", "t1", "builder", "ship", 80),
    rec("m", "t1", "skeptic", "ship", 60),
    rec("m", "t2", "builder", "skip", 20),
    rec("m", "t2", "skeptic", None, None),    # failed: missing, not wrong
    rec("m", "t9", "builder", "ship", 90),    # no reference line: ignored
]


def test_metrics_match_hand_computation() -> None:
    report = evaluate_records(REFERENCE, RECORDS, "m")
    o = report.overall
    # Scored: t1/builder ship-ship, t1/skeptic skip-ship, t2/builder skip-skip; t2/skeptic failed.
    assert (o.reference, o.n, o.missing) == (4, 3, 1)
    assert o.verdict_accuracy_pct == pytest.approx(66.6667)           # 2 of 3
    # Clustered by tool (t1: right, wrong; t2: right): CR1 variance 2 x 2/9 / 9 is below the
    # binomial 2/9 / 3, so deff 1; Wilson at n 3 with z = t(0.975, 1) = 12.706: centre
    # 27.574 / 54.815 = 0.50303, half 0.23180 x sqrt(0.07407 + 4.4845) = 0.49491.
    assert (o.clusters, o.verdict_accuracy_low, o.verdict_accuracy_high) == (
        2, pytest.approx(0.812, abs=0.01), pytest.approx(99.794, abs=0.01))
    # Errors t1: 10, 30 and t2: 20 sum to 0 about the mean 20 within each tool: width 0.
    assert (o.score_mae_low, o.score_mae_high) == (20.0, 20.0)
    assert o.method == ("accuracy: Wilson on n/deff, clustered by cards (CR1), t(C-1); "
                        "MAE: clustered SE by cards (CR1), t(C-1)")
    assert o.balanced_accuracy == pytest.approx(0.75)                 # (1/1 + 1/2) / 2
    assert o.score_mae == pytest.approx(20.0)                         # (10 + 30 + 20) / 3
    # Reference ranks [3,1,2] (70,30,40), predicted [3,2,1] (80,60,20): d^2 = 0+1+1 = 2,
    # rho = 1 - 6*2 / (3*8) = 0.5.
    assert o.spearman_rho == pytest.approx(0.5)
    builder, skeptic = report.personas
    assert (builder.persona, builder.n, builder.verdict_accuracy_pct, builder.balanced_accuracy,
            builder.score_mae, builder.spearman_rho) == ("builder", 2, 100.0, 1.0, 15.0, 1.0)
    # One scored skeptic line: wrong verdict, one reference class, n < 2 for Spearman.
    assert (skeptic.n, skeptic.missing, skeptic.verdict_accuracy_pct, skeptic.balanced_accuracy,
            skeptic.score_mae, skeptic.spearman_rho) == (1, 1, 0.0, 0.0, 30.0, None)


def test_nothing_stored_gives_no_metrics() -> None:
    o = evaluate_records(REFERENCE, [], "m").overall
    assert (o.n, o.missing, o.verdict_accuracy_pct, o.balanced_accuracy, o.score_mae) == (
        0, 4, None, None, None)


def test_shipped_reference_covers_the_example_cards() -> None:
    refs = load_reference(SHIPPED)
    slugs = {c.card.slug for c in load_cards([EXAMPLES])}
    assert {(r.tool, r.persona) for r in refs} == {
        (s, p) for s in slugs for p in ("builder", "skeptic", "futurist", "founder")}
    # Each reference verdict honours the rubric in panel.yaml (ship >= 55, skip <= 65).
    assert all((r.score >= 55) if r.verdict == "ship" else (r.score <= 65) for r in refs)


@pytest.mark.parametrize(("line", "reason"), [
    ('{"tool": "a", "persona": "b", "verdict": "maybe", "score": 5}', "field 'verdict'"),
    ('{"tool": "a", "persona": "b", "verdict": "ship", "score": 5, "x": 1}', "field 'x'"),
    ("{not json", "invalid JSON"),
])
def test_bad_reference_names_file_line_and_field(tmp_path: Path, line: str, reason: str) -> None:
    path = tmp_path / "ref.jsonl"
    path.write_text('{"tool": "a", "persona": "c", "verdict": "ship", "score": 60}\n' + line + "\n")
    with pytest.raises(InputError) as exc:
        load_reference(path)
    assert str(exc.value).startswith(f"{path}:2: ")
    assert reason in str(exc.value)


def test_duplicate_reference_line_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "ref.jsonl"
    line = '{"tool": "a", "persona": "b", "verdict": "ship", "score": 60}\n'
    path.write_text(line * 2)
    with pytest.raises(InputError, match="already given on line 1"):
        load_reference(path)


def test_evaluate_cli_on_the_shipped_reference(tmp_path: Path) -> None:
    out = tmp_path / "o"
    runner = CliRunner()
    res = runner.invoke(main, ["review", str(EXAMPLES), "-m", "mock", "-o", str(out)])
    assert res.exit_code == 0, res.output
    res = runner.invoke(main, ["evaluate", str(SHIPPED), "-m", "mock", "-o", str(out)])
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert lines[0] == f"mock against {SHIPPED}"
    assert lines[1] == ("95% intervals clustered by tool: accuracy: Wilson on n/deff, "
                        "clustered by cards (CR1), t(C-1); MAE: clustered SE by cards (CR1), "
                        "t(C-1)")
    assert lines[2].split() == ["persona", "ref", "n", "miss", "cl", "acc%", "[CI]", "bal.acc",
                                "MAE", "[CI]", "rho"]
    assert [ln.split()[0] for ln in lines[3:8]] == ["builder", "skeptic", "futurist", "founder",
                                                   "all"]
    assert lines[7].split()[:5] == ["all", "24", "24", "0", "6"]  # 6 tools: 6 clusters
    doc = json.loads((out / "evaluate" / "reference.mock.json").read_text())
    assert doc["overall"]["n"] == 24 and doc["model"] == "mock"
    rows = (out / "evaluate" / "reference.mock.csv").read_text().splitlines()
    assert len(rows) == 1 + 5 and rows[-1].split(",")[0] == "all"


def all_row(out: str) -> list[str]:
    """persona, ref, n and miss of the table's 'all' row."""
    [row] = [line.split()[:4] for line in out.splitlines() if line.startswith("all ")]
    return row


def test_evaluate_study_weighs_every_sample_of_that_study_only(tmp_path: Path) -> None:
    """A study of tracelens with 3 samples on mock and mock-alt: `evaluate --study` scores
    all 3 samples of each of the 4 reference lines (n 12), without it the newest review per
    persona (n 4); a model outside the study is one error line."""
    out, runner = tmp_path / "o", CliRunner()
    res = runner.invoke(main, ["study", str(EXAMPLES / "tracelens.yaml"), "--models",
                               "mock,mock-alt", "--samples", "3", "--name", "k3", "-o", str(out)])
    assert res.exit_code == 0, res.output
    ref = tmp_path / "tracelens.jsonl"
    ref.write_text("".join(line + "\n" for line in SHIPPED.read_text().splitlines()
                           if '"tracelens"' in line))
    studied = runner.invoke(main, ["evaluate", str(ref), "-m", "mock-alt", "--study", "k3",
                                   "-o", str(out)])
    assert studied.exit_code == 0, studied.output
    assert all_row(studied.stdout) == ["all", "4", "12", "0"]
    doc = json.loads((out / "evaluate" / "tracelens.mock-alt.json").read_text())
    assert [(p["persona"], p["n"]) for p in doc["personas"]] == [
        ("builder", 3), ("skeptic", 3), ("futurist", 3), ("founder", 3)]
    newest = runner.invoke(main, ["evaluate", str(ref), "-m", "mock-alt", "-o", str(out)])
    assert all_row(newest.stdout) == ["all", "4", "4", "0"]
    other = runner.invoke(main, ["evaluate", str(ref), "-m", "smollm2-135m", "--study", "k3",
                                 "-o", str(out)])
    assert (other.exit_code, other.stdout) == (2, "")
    assert other.stderr == ("error: k3: field 'models' model 'smollm2-135m' is not in this "
                            "study (have: mock, mock-alt)\n")
