"""`panel export`: a study on two backbones as a Hugging Face dataset folder, read back by
``datasets`` (offline, from the folder) and pandas, with exact row counts and one known
review checked field by field against the store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from panel.cli import main
from panel.config.workspace import Workspace
from panel.contract.records import Edit
from panel.errors import InputError, PanelError
from panel.research.export import export_dataset
from panel.research.study import Study, run_study
from panel.store import export as source

from conftest import EXAMPLES
from factories import pair_rec

CARDS = [str(EXAMPLES / n) for n in ("tracelens.yaml", "diffsage.yaml", "slidesmith.yaml")]
SPLIT = "2026_12_05T10_00_00"


@pytest.fixture
def hf_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``datasets`` reads only the folder: no hub, its cache in tmp_path."""
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))


@pytest.fixture
def filled(ws: Workspace) -> Workspace:
    """A study of 3 cards x 4 personas x 2 samples on mock and mock-alt (48 reviews), one
    other review outside it, an edit, two head-to-head judgments and an audit report."""
    run_study(ws, Study(name="two", models=["mock", "mock-alt"], cards=CARDS, samples=2))
    run_study(ws, Study(name="extra", models=["mock"], cards=CARDS[:1], personas=["builder"],
                        samples=3))  # samples 0, 1 reused: one new review
    edit = Edit(score=91, verdict="ship", editor="ed", at="2026-12-01T00:00:00+00:00")
    ws.store.set_edit("tracelens", "builder", "mock", edit)
    ws.store.put_pair(pair_rec("tracelens", "diffsage", "builder", "first", model="mock"))
    ws.store.put_pair(pair_rec("diffsage", "tracelens", "builder", None, model="mock"))
    folder = ws.output / "audits" / "a1"
    folder.mkdir(parents=True)
    row = {"model": "mock", "persona": "all", "bias": "verbosity", "unit": "points", "n": 4,
           "excluded": 0, "estimate": 7.5, "ci_low": 1.1469, "ci_high": 13.8531, "clusters": 2,
           "method": "clustered SE by cards (CR1), t(C-1)", "naive_ci_low": 2.7,
           "naive_ci_high": 12.3}
    (folder / "bias.json").write_text(json.dumps({
        "name": "a1", "created_at": "2026-12-02T00:00:00+00:00",
        "rows": [row, {**row, "model": "mock-alt"}]}))
    return ws


def _clock(stamp: str = SPLIT):  # type: ignore[no-untyped-def]
    from datetime import datetime

    return lambda: datetime.strptime(stamp + "+0000", "%Y_%m_%dT%H_%M_%S%z")


def test_the_export_loads_in_datasets_and_pandas_with_exact_counts(
        filled: Workspace, tmp_path: Path, hf_offline: None) -> None:
    import pandas as pd
    from datasets import load_dataset

    dest = tmp_path / "ds"
    summary = export_dataset(filled, dest, now=_clock(), batch=7)
    assert summary.split == SPLIT
    # studies: "two" lists 2 models x 3 cards x 4 personas x 2 samples = 48 keys, "extra" 3
    # (2 of them also in "two"): 51 rows; reviews: the 48 and extra's third sample.
    assert summary.rows == {"reviews": 49, "head_to_head": 2, "edits": 1, "audits": 2,
                            "studies": 51}
    counts = {}
    for config in summary.rows:
        ds = load_dataset(str(dest), config)
        assert set(ds) == {SPLIT, "latest"}
        counts[config] = ds["latest"].num_rows
        assert ds[SPLIT].num_rows == counts[config]
    assert counts == summary.rows
    frame = pd.read_parquet(dest / "reviews" / f"{SPLIT}.parquet")
    assert len(frame) == 49 and str(frame["score"].dtype) == "int32"
    assert str(frame["created_at"].dtype).startswith("datetime64")
    key = filled.store.all("mock-alt")[5].key
    stored = filled.store.get(key)
    assert stored is not None and stored.output is not None
    row = frame[frame["key"] == key].iloc[0]
    assert (row["tool"], row["persona"], row["model"], row["sample"], row["status"]) == (
        stored.tool, stored.persona, "mock-alt", stored.sample, "ok")
    assert (row["score"], row["verdict"], row["review"], row["reasoning"]) == (
        stored.output.score, stored.output.verdict, stored.output.review,
        stored.output.reasoning)
    assert json.loads(row["provenance"]) == stored.provenance
    assert row["seed"] == stored.attempts[-1].seed
    assert list(row["evidence"]) == stored.output.evidence and stored.output.evidence
    assert list(row["unsupported"]) == stored.unsupported
    loaded = load_dataset(str(dest), "reviews", split="latest").filter(lambda r: r["key"] == key)
    assert loaded[0]["review"] == stored.output.review
    assert loaded[0]["evidence"] == stored.output.evidence  # a list, not text


def test_filters_by_study_model_and_since(filled: Workspace, tmp_path: Path) -> None:
    two = export_dataset(filled, tmp_path / "a", study="two", now=_clock())
    assert two.rows == {"reviews": 48, "head_to_head": 0, "edits": 1, "audits": 0,
                        "studies": 48}
    extra = export_dataset(filled, tmp_path / "b", study="extra", model="mock", now=_clock())
    assert extra.rows == {"reviews": 3, "head_to_head": 0, "edits": 1, "audits": 0,
                          "studies": 3}
    alt = export_dataset(filled, tmp_path / "c", model="mock-alt", now=_clock())
    assert alt.rows == {"reviews": 24, "head_to_head": 0, "edits": 0, "audits": 1,
                        "studies": 24}
    later = export_dataset(filled, tmp_path / "d", since="2999-01-01", now=_clock())
    assert later.rows == dict.fromkeys(later.rows, 0)
    assert not (tmp_path / "d" / "reviews").exists()  # no rows: no file, no config


def test_a_second_export_adds_a_split_and_moves_latest(filled: Workspace, tmp_path: Path,
                                                        hf_offline: None) -> None:
    from datasets import load_dataset

    dest = tmp_path / "ds"
    export_dataset(filled, dest, model="mock-alt", now=_clock())
    export_dataset(filled, dest, now=_clock("2026_12_06T10_00_00"))
    ds = load_dataset(str(dest), "reviews")
    assert {s: ds[s].num_rows for s in ds} == {SPLIT: 24, "2026_12_06T10_00_00": 49,
                                               "latest": 49}
    readme = (dest / "README.md").read_text()
    assert readme.count("split: latest\n    path: reviews/2026_12_06T10_00_00.parquet") == 1
    assert "| 2026_12_05T10_00_00 | parquet | mock-alt | all | - | 24 | 0 | 0 | 1 | 24 |" in readme
    assert sorted(p.name for p in (dest / "manifests").iterdir()) == [
        SPLIT, "2026_12_06T10_00_00"]
    with pytest.raises(PanelError, match="already has a split"):
        export_dataset(filled, dest, now=_clock("2026_12_06T10_00_00"))
    with pytest.raises(InputError, match="holds parquet exports"):
        export_dataset(filled, dest, fmt="csv", now=_clock("2026_12_07T10_00_00"))


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_text_formats_load_with_the_same_counts(filled: Workspace, tmp_path: Path,
                                                hf_offline: None, fmt: str) -> None:
    from datasets import load_dataset

    dest = tmp_path / fmt
    summary = export_dataset(filled, dest, fmt=fmt, now=_clock())  # type: ignore[arg-type]
    for config, rows in summary.rows.items():
        assert load_dataset(str(dest), config, split="latest").num_rows == rows, config
    review = load_dataset(str(dest), "reviews", split="latest")[0]
    evidence = review["evidence"] if fmt == "jsonl" else json.loads(review["evidence"])
    assert isinstance(evidence, list) and evidence and all(isinstance(q, str) for q in evidence)
    first = load_dataset(str(dest), "edits", split="latest")[0]
    assert (first["tool"], first["score"], first["verdict"], first["approved"]) == (
        "tracelens", 91, "ship", False)


def test_a_folder_that_is_not_an_export_is_refused(filled: Workspace, tmp_path: Path) -> None:
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="is not a panel export"):
        export_dataset(filled, tmp_path / "busy")
    assert sorted(p.name for p in (tmp_path / "busy").iterdir()) == ["notes.txt"]
    with pytest.raises(InputError, match="not an ISO date"):
        export_dataset(filled, tmp_path / "new", since="last week")


def test_reviews_stream_in_bounded_batches(filled: Workspace) -> None:
    db = source.connect(filled.output)
    try:
        sizes = [len(b) for b in source.reviews(db, source.Filters(), batch=10)]
    finally:
        db.close()
    assert sizes == [10, 10, 10, 10, 9]


def test_the_cli_prints_what_it_wrote(filled: Workspace, tmp_path: Path) -> None:
    res = CliRunner().invoke(main, ["export", str(tmp_path / "ds"), "--model", "mock",
                                    "-o", str(filled.output)])
    assert res.exit_code == 0, res.output
    assert res.stdout.startswith("exported split ")
    assert res.stdout.endswith(f"(parquet) to {tmp_path / 'ds'}: reviews 25, head_to_head 2, "
                               "edits 1, audits 1, studies 27\n")
