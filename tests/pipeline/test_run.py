"""pipeline/run: what a run records beside its reviews (provenance, the run manifest)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from panel.backends.mock import MockBackend
from panel.config import dtype
from panel.config.workspace import Workspace
from panel.inputs.cards import load_cards
from panel.pipeline.run import review_cards

from conftest import EMBEDDED, EXAMPLES


@pytest.mark.parametrize(("flags", "forced", "want"), [
    ({"avx2", "avx512f"}, None, {"requested": "auto", "dtype": "float32", "build": "cpu",
                                 "cpu_flags": ["avx2", "avx512f"],
                                 "reason": "CPU without native bf16 (bfloat16 would be "
                                           "emulated)"}),
    ({"avx2", "avx512_bf16"}, None, {"requested": "auto", "dtype": "bfloat16", "build": "cpu",
                                     "cpu_flags": ["avx2", "avx512_bf16"],
                                     "reason": "CPU has native bf16 (avx512_bf16)"}),
    ({"avx2"}, "bfloat16", {"requested": "bfloat16", "dtype": "bfloat16", "build": "cpu",
                            "cpu_flags": ["avx2"], "reason": "as given"}),
])
def test_each_review_and_the_manifest_record_the_dtype_and_the_cpu(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flags: set[str], forced: str | None,
        want: dict[str, object]) -> None:
    monkeypatch.setattr(dtype, "cpu_flags", lambda: frozenset(flags | {"sse2", "aes"}))
    monkeypatch.setattr(dtype, "engine_build", lambda: "cpu")
    ws = Workspace(tmp_path / "out", dtype=forced)
    spec = ws.settings(EMBEDDED).spec  # an engine's entry, served here by the mock
    card = load_cards([EXAMPLES / "tracelens.yaml"])[0].card
    summary = review_cards(ws, [card], EMBEDDED, ["builder"], backend=MockBackend(spec))
    [rec] = summary.records
    assert rec.provenance["dtype"] == want
    assert rec.provenance["model"]["dtype"] == want["dtype"]  # in the key, resolved
    assert summary.manifest is not None
    manifest = json.loads(summary.manifest.read_text())
    assert manifest["dtype"] == want
    assert manifest["model"]["dtype"] == (forced or "auto")  # the entry as configured


def test_a_mock_run_records_no_dtype(ws: Workspace) -> None:
    card = load_cards([EXAMPLES / "tracelens.yaml"])[0].card
    summary = review_cards(ws, [card], "mock", ["builder"])
    assert "dtype" not in summary.records[0].provenance
    assert summary.manifest is not None
    assert json.loads(summary.manifest.read_text())["dtype"] is None
