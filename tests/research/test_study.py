"""Studies on the mock backend registered twice (mock, mock-alt) as two "backbones"."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from panel.backends.mock import Mocks
from panel.cli import main
from panel.config.workspace import Workspace
from panel.errors import InputError, PanelError
from panel.research.study import Study, load_manifest, load_study, run_study, study_records

from conftest import EXAMPLES

PERSONAS = ["builder", "skeptic", "futurist", "founder"]


def test_study_stores_both_backbones_side_by_side(ws: Workspace) -> None:
    doc = run_study(ws, Study(name="s", models=["mock", "mock-alt"], cards=[str(EXAMPLES)]))
    assert list(doc["runs"]) == ["mock", "mock-alt"]
    assert doc["personas"] == PERSONAS and len(doc["cards"]) == 6
    for model, run in doc["runs"].items():
        assert (len(run["keys"]), run["reviewed"], run["failed"]) == (24, 24, 0)
        rep = run["reproduce"]
        assert rep["spec"]["name"] == model and rep["base_seed"] == (0 if model == "mock" else 1)
        assert set(rep["templates"]) == {"system.j2", "review.j2"}
        assert set(rep["personas"]) == set(PERSONAS)
    by_model = study_records(ws, load_manifest(ws, "s"))
    assert {r.model for r in by_model["mock-alt"]} == {"mock-alt"}
    assert ws.store.count() == 48
    # Every attempt records its own seed; the review key differs per backbone, so do seeds.
    seeds = {m: {r.attempts[0].seed for r in rs} for m, rs in by_model.items()}
    assert not seeds["mock"] & seeds["mock-alt"]


def test_rerun_reuses_the_store(ws: Workspace, mock: Mocks) -> None:
    study = Study(name="s", models=["mock", "mock-alt"], cards=[str(EXAMPLES / "tracelens.yaml")])
    run_study(ws, study)
    calls = mock.calls
    doc = run_study(ws, study)
    assert mock.calls == calls
    assert [r["reused"] for r in doc["runs"].values()] == [4, 4]


def test_samples_get_distinct_seeds(ws: Workspace) -> None:
    study = Study(name="k", models=["mock"], cards=[str(EXAMPLES / "tracelens.yaml")],
                  personas=["builder"], samples=3)
    run_study(ws, study)
    (recs,) = study_records(ws, load_manifest(ws, "k")).values()
    assert sorted(r.sample for r in recs) == [0, 1, 2]
    assert len({r.attempts[0].seed for r in recs}) == 3


def test_study_cli_prints_the_table_and_writes_csv_json_figure(tmp_path: Path) -> None:
    out = tmp_path / "o"
    res = CliRunner().invoke(main, ["study", str(EXAMPLES), "--models", "mock,mock-alt",
                                    "-o", str(out)])
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert lines[0] == "mock: reviewed 24, reused 0, failed 0 (" + lines[0].split("(")[1]
    assert lines[2] == f"wrote {out / 'studies' / 'mock-vs-mock-alt.json'}"
    assert lines[3] == "Study mock-vs-mock-alt: mock, mock-alt"
    assert lines[4] == ("95% intervals clustered by card: agree% Wilson on n/deff, clustered "
                        "by cards (CR1), t(C-1); MAE clustered SE by cards (CR1), t(C-1); "
                        "kappa, rho, alpha cluster bootstrap over cards, 2000 resamples (seed "
                        "0), estimate -/+ t(C-1) x SD")
    assert lines[6].split() == ["pair", "persona", "n", "cl", "agree%", "[CI]", "kappa", "[CI]",
                                "rho", "[CI]", "MAE", "[CI]"]
    assert [ln.split()[3] for ln in lines[7:12]] == [*PERSONAS, "all"]
    assert lines[11].split()[4:6] == ["24", "6"]  # 24 pairs from 6 cards
    folder = out / "studies" / "mock-vs-mock-alt"
    assert sorted(p.name for p in folder.iterdir()) == [
        "agreement.json", "agreement.png", "backbones.csv", "fleiss.csv", "pairs.csv"]
    doc = json.loads((folder / "agreement.json").read_text())
    assert doc["models"] == ["mock", "mock-alt"] and len(doc["pairs"]) == 5
    with (folder / "backbones.csv").open() as fh:
        assert [r["model"] for r in csv.DictReader(fh)] == ["mock", "mock-alt"]
    # The report can be redrawn later from the store, and the jury read from it.
    res = CliRunner().invoke(main, ["agreement", "mock-vs-mock-alt", "-o", str(out),
                                    "--format", "svg"])
    assert res.exit_code == 0, res.output
    assert (folder / "agreement.svg").is_file()
    res = CliRunner().invoke(main, ["jury", "mock-vs-mock-alt", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert res.stdout.splitlines()[0].startswith("Jury of mock, mock-alt")
    assert len(res.stdout.splitlines()) == 2 + 6


def test_samples_option_reports_self_consistency(tmp_path: Path) -> None:
    res = CliRunner().invoke(main, ["study", str(EXAMPLES / "tracelens.yaml"), "--models",
                                    "mock", "--samples", "3", "--name", "k3",
                                    "-o", str(tmp_path)])
    assert res.exit_code == 0, res.output
    table = res.stdout.split("self-consistency", 1)[1].splitlines()
    assert table[0].split() == ["persona", "groups", "k", "std", "range", "flip%"]
    assert [ln.split()[1] for ln in table[1:6]] == [*PERSONAS, "all"]
    assert table[5].split()[2:4] == ["4", "3.0"]
    with (tmp_path / "studies" / "k3" / "consistency.csv").open() as fh:
        assert [r["persona"] for r in csv.DictReader(fh)] == [*PERSONAS, "all"]


def test_study_file(tmp_path: Path, ws: Workspace) -> None:
    path = tmp_path / "cmp.yaml"
    path.write_text(f"models: [mock, mock-alt]\ncards: [{EXAMPLES / 'diffsage.yaml'}]\n"
                    "personas: [skeptic]\nsamples: 2\n")
    study = load_study(path)
    assert (study.name, study.personas, study.samples) == ("cmp", ["skeptic"], 2)
    doc = run_study(ws, study)
    assert [len(r["keys"]) for r in doc["runs"].values()] == [2, 2]


@pytest.mark.parametrize(("text", "reason"), [
    ("models: [mock, mock]\ncards: [x]\n", "field 'models' Value error, model listed twice: mock"),
    ("models: []\ncards: [x]\n", "field 'models'"),
    ("models: [mock]\ncards: [x]\nsample: 2\n", "field 'sample'"),
    ("- mock\n", "a study must be a mapping"),
])
def test_bad_study_file_names_file_and_field(tmp_path: Path, text: str, reason: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(InputError) as exc:
        load_study(path)
    assert str(exc.value).startswith(f"{path}: ") and reason in str(exc.value)


def test_unknown_model_fails_before_any_review(ws: Workspace) -> None:
    with pytest.raises(PanelError, match="unknown model 'nope'"):
        run_study(ws, Study(name="s", models=["mock", "nope"], cards=[str(EXAMPLES)]))
    assert ws.store.count() == 0


def test_agreement_on_a_missing_study_says_what_exists(tmp_path: Path) -> None:
    res = CliRunner().invoke(main, ["agreement", "nope", "-o", str(tmp_path)])
    assert res.exit_code == 2
    assert "no study 'nope'" in res.stderr and "run `panel study` first" in res.stderr


def test_agreement_without_the_research_extra_is_one_line(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "o"
    cards = [str(EXAMPLES / "tracelens.yaml"), str(EXAMPLES / "voicedesk.yaml")]
    res = CliRunner().invoke(main, ["study", *cards, "--models", "mock,mock-alt", "-o",
                                    str(out)])
    assert res.exit_code == 0, res.output
    # Two cards: an interval over one card needs no SciPy (nothing to bootstrap), over two
    # it needs its t quantiles.
    for name in ("scipy", "scipy.stats", "sklearn", "sklearn.metrics"):
        monkeypatch.setitem(sys.modules, name, None)  # as if the extra were not installed
    res = CliRunner().invoke(main, ["agreement", "mock-vs-mock-alt", "-o", str(out)])
    assert res.exit_code == 2
    assert res.stdout == ""
    assert res.stderr in (
        "error: this command needs scipy, which is not installed: pip install -e '.[research]'\n",
        "error: this command needs sklearn, which is not installed: pip install -e '.[research]'\n")
