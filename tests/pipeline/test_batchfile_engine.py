"""The batch-file round trip on vLLM's own batch runner and the embedded model.

One card's four reviews are exported, run by `panel models run-batch` (vLLM's run_batch in
a process of its own, on the engine tests' short lengths and small KV cache), and imported:
every review valid and stopped on its own, as a live one. Then three corrupted result lines
make a second round that asks for exactly those three.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from panel.cli import main
from panel.config.workspace import Workspace
from panel.inputs.cards import load_cards
from panel.pipeline.batchfile import export_requests, import_results
from panel.pipeline.run import plan

from conftest import EMBEDDED, EXAMPLES

pytestmark = [pytest.mark.engine, pytest.mark.engine_apart]


def test_vllm_run_batch_round_trip_and_a_second_round(ws: Workspace, tmp_path: Path) -> None:
    card = load_cards([EXAMPLES / "voicedesk.yaml"])[0].card
    jobs, rs = plan(ws, [card], EMBEDDED), ws.settings(EMBEDDED)
    done = export_requests(jobs, ws.store, rs, tmp_path / "round0")
    requests, results = done.files[0].path, tmp_path / "results.jsonl"
    res = CliRunner().invoke(main, ["models", "run-batch", str(requests), "-o", str(results),
                                    "-m", EMBEDDED])
    assert res.exit_code == 0, res.output
    assert res.stdout.startswith(f"4 result(s) in {results}: ")
    meta = json.loads((tmp_path / "results.jsonl.engine.json").read_text())
    assert meta["measured"] == "progress span" and 0 < meta["engine_seconds"] < \
        meta["wall_seconds"]

    report = import_results(jobs, ws.store, rs, [results])
    assert (len(report.stored), report.problems, report.ok) == (4, [], True)
    records = [ws.store.get(j.key) for j in jobs]
    for rec in records:
        assert rec is not None and rec.ok, rec and rec.failure
        assert [a.finish_reason for a in rec.attempts] == ["stop"]
        assert rec.provenance["versions"]["model"] == EMBEDDED
        assert rec.prompt_tokens > 0 and rec.output_tokens > 0
        assert rec.expected_score is not None  # the runner returned log-probabilities
    shares = [r.engine_seconds or 0.0 for r in records if r is not None]
    assert sum(shares) == pytest.approx(meta["engine_seconds"], abs=0.01)

    lines = results.read_text().splitlines()
    key = [json.loads(x)["custom_id"].split("#")[0] for x in lines[:3]]
    first = json.loads(lines[0])
    first["response"]["body"]["choices"][0]["message"]["content"] = '{"score": 7'
    lines[0] = json.dumps(first)
    lines[1] = lines[1][:-25]
    second = json.loads(lines[2])
    second["response"] = {"status_code": 503, "request_id": "r", "body": None}
    second["error"] = "engine overloaded"
    lines[2] = json.dumps(second)
    corrupt = tmp_path / "corrupt.jsonl"
    corrupt.write_text("\n".join(lines) + "\n")
    fresh = Workspace(output=tmp_path / "fresh", root=ws.root)
    again = import_results(jobs, fresh.store, rs, [corrupt], tmp_path / "round1")
    assert [p.line for p in again.problems] == [2, 3] and len(again.failed) == 1
    assert (len(again.stored), again.pending) == (1, 3)
    ids = [json.loads(x)["custom_id"] for x in
           again.next_round.files[0].path.read_text().splitlines()]  # type: ignore[union-attr]
    assert sorted(ids) == sorted([f"{key[0]}#1", f"{key[1]}#0", f"{key[2]}#0"])
