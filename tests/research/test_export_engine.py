"""`panel export` of a real study on both local backbones, read back by ``datasets`` and pandas.

test_export.py proves the export's shape on mock reviews; this proves it on what the two
embedded backbones really produce (SmolLM2 and Gemma 3 on the session's two engines):
2 cards x 2 personas x 2 backbones, the smallest study in which every config, key and
model column has more than one value. Exact row counts per config, and one real review
equal to the store's row field by field.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from panel.backends.base import Backend
from panel.cli import main
from panel.config.workspace import Workspace
from panel.research.study import Study, load_manifest, run_study

from conftest import EMBEDDED, EXAMPLES, GEMMA

CARDS = [str(EXAMPLES / n) for n in ("vectorloom.yaml", "diffsage.yaml")]
PERSONAS = ["builder", "skeptic"]


@pytest.fixture
def hf_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``datasets`` reads only the folder: no hub, its cache in tmp_path."""
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))


def test_a_two_backbone_study_exports_and_loads_with_exact_counts(
        ws: Workspace, engine: Backend, gemma: Backend, tmp_path: Path,
        hf_offline: None) -> None:
    import pandas as pd
    from datasets import load_dataset

    run_study(ws, Study(name="local", models=[EMBEDDED, GEMMA], cards=CARDS,
                        personas=PERSONAS), backends={EMBEDDED: engine, GEMMA: gemma})
    keys = {m: r["keys"] for m, r in load_manifest(ws, "local")["runs"].items()}
    assert {m: len(k) for m, k in keys.items()} == {EMBEDDED: 4, GEMMA: 4}
    dest = tmp_path / "ds"
    res = CliRunner().invoke(main, ["export", str(dest), "--study", "local",
                                    "-o", str(ws.output)])
    assert res.exit_code == 0, res.output
    assert res.stdout.endswith(f"(parquet) to {dest}: reviews 8, head_to_head 0, edits 0, "
                               "audits 0, studies 8\n")
    expected = {"reviews": 8, "studies": 8}  # configs without rows have no files
    assert {c: load_dataset(str(dest), c, split="latest").num_rows for c in expected} == expected
    [split] = [p.stem for p in (dest / "reviews").glob("*.parquet")]
    frame = pd.read_parquet(dest / "reviews" / f"{split}.parquet")
    assert sorted(frame["model"]) == [GEMMA] * 4 + [EMBEDDED] * 4
    assert sorted(frame["key"]) == sorted(keys[EMBEDDED] + keys[GEMMA])
    studies = pd.read_parquet(dest / "studies" / f"{split}.parquet")
    assert len(studies) == 8 and set(studies["study"]) == {"local"}
    key = keys[GEMMA][1]
    stored = ws.store.get(key)
    assert stored is not None and stored.output is not None, stored
    row = frame[frame["key"] == key].iloc[0]
    assert (row["tool"], row["persona"], row["model"], row["score"], row["verdict"],
            row["review"], row["reasoning"]) == (
        stored.tool, stored.persona, GEMMA, stored.output.score, stored.output.verdict,
        stored.output.review, stored.output.reasoning)
    loaded = load_dataset(str(dest), "reviews", split="latest").filter(lambda r: r["key"] == key)
    assert (loaded[0]["score"], loaded[0]["review"]) == (stored.output.score,
                                                         stored.output.review)
