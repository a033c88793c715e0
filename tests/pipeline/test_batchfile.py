"""Batch files on the mock backend: export, import, rounds, problems by line, idempotence.

A scripted runner (``run_mock``) answers each request line as the mock backend answers the
same request live, in the result format vLLM's batch runner writes; the real runner on the
embedded model is test_batchfile_engine.py's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from panel.backends.mock import MockBackend
from panel.backends.vllm.batch_runner import ENGINE_TIME
from panel.cli import main
from panel.config.settings import ReviewSettings
from panel.config.workspace import Workspace
from panel.errors import InputError, PanelError
from panel.inputs.cards import load_cards
from panel.pipeline import batchfile
from panel.pipeline.batchfile import export_requests, import_results
from panel.pipeline.jobs import Job, request_seed
from panel.pipeline.retry import ReviewContract
from panel.pipeline.run import plan

from conftest import EXAMPLES

CARDS = sorted(EXAMPLES.glob("*.yaml"))


def jobs_of(ws: Workspace, model: str = "mock") -> list[Job]:
    return plan(ws, [c.card for c in load_cards(CARDS)], model)


def result_line(cid: str, model: str, text: str, finish: str = "stop",
                tokens: int = 50) -> dict[str, Any]:
    """A result line as vLLM's run_batch writes it."""
    body = {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "finish_reason": finish, "logprobs": None}],
            "usage": {"prompt_tokens": 100, "completion_tokens": tokens,
                      "total_tokens": 100 + tokens,
                      "prompt_tokens_details": {"cached_tokens": 20}},
            "system_fingerprint": "fp-test"}
    return {"id": f"vllm-{cid}", "custom_id": cid,
            "response": {"status_code": 200, "request_id": "r", "body": body}, "error": None}


def run_mock(requests: Path, results: Path, rs: ReviewSettings,
             jobs: list[Job]) -> list[dict[str, Any]]:
    """Answer every request line as the mock backend answers the same request live."""
    by_key = {j.key: j for j in jobs}
    out = []
    for raw in requests.read_text().splitlines():
        req = json.loads(raw)
        key, _, n = req["custom_id"].rpartition("#")
        live = ReviewContract(rs).request(by_key[key], int(n))
        assert live.seed == req["body"]["seed"]
        [res] = MockBackend(rs.spec).generate([live])
        out.append(result_line(req["custom_id"], req["body"]["model"], res.text))
    write_lines(results, out)
    return out


def write_lines(path: Path, lines: list[Any]) -> Path:
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n"
                            for x in lines))
    return path


@pytest.fixture
def exported(ws: Workspace, tmp_path: Path) -> tuple[list[Job], ReviewSettings, Path]:
    jobs, rs = jobs_of(ws), ws.settings("mock")
    done = export_requests(jobs, ws.store, rs, tmp_path / "round0")
    assert (done.planned, done.requests, len(done.files)) == (24, 24, 1)
    return jobs, rs, done.files[0].path


def test_export_writes_one_request_per_pending_review(ws: Workspace, tmp_path: Path) -> None:
    jobs, rs = jobs_of(ws), ws.settings("mock")
    done = export_requests(jobs, ws.store, rs, tmp_path / "out")
    lines = [json.loads(x) for x in done.files[0].path.read_text().splitlines()]
    assert [x["custom_id"] for x in lines] == [f"{j.key}#0" for j in jobs]
    first, body = lines[0], lines[0]["body"]
    assert (first["method"], first["url"]) == ("POST", "/v1/chat/completions")
    assert body["seed"] == request_seed(jobs[0].key, 0)
    assert body["messages"] == jobs[0].messages
    assert (body["model"], body["max_tokens"], body["temperature"], body["top_k"]) == \
        ("mock", rs.spec.sampling.max_tokens, 0.7, -1)
    assert (body["logprobs"], body["top_logprobs"]) == (True, 5)
    assert body["structured_outputs"]["grammar"].startswith("root ::= ")
    assert "response_format" not in body
    manifest = json.loads(done.manifest.read_text())  # type: ignore[union-attr]
    assert manifest["plan"] == {"reviews": 24, "pending": 24,
                                "keys_sha": manifest["plan"]["keys_sha"]}
    assert manifest["files"][0]["requests"] == 24


def test_openai_flavor_carries_the_schema_and_no_vllm_fields(ws: Workspace,
                                                             tmp_path: Path) -> None:
    jobs, rs = jobs_of(ws), ws.settings("mock")
    done = export_requests(jobs, ws.store, rs, tmp_path / "out", "openai")
    body = json.loads(done.files[0].path.read_text().splitlines()[0])["body"]
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["schema"]["title"] == "ReviewOutput"
    assert not {"structured_outputs", "top_k", "repetition_penalty"} & set(body)


def test_files_split_at_the_line_and_byte_limits(ws: Workspace, tmp_path: Path) -> None:
    jobs, rs = jobs_of(ws), ws.settings("mock")
    by_lines = export_requests(jobs, ws.store, rs, tmp_path / "a", max_lines=10)
    assert [f.requests for f in by_lines.files] == [10, 10, 4]
    size = by_lines.files[0].size // 10  # about one line
    by_bytes = export_requests(jobs, ws.store, rs, tmp_path / "b", max_bytes=size * 3)
    assert all(f.size <= size * 3 for f in by_bytes.files)
    assert sum(f.requests for f in by_bytes.files) == 24 and len(by_bytes.files) >= 8
    with pytest.raises(PanelError, match="over the 100-byte file limit"):
        export_requests(jobs, ws.store, rs, tmp_path / "c", max_bytes=100)


def test_an_earlier_export_is_never_overwritten(ws: Workspace, tmp_path: Path) -> None:
    jobs, rs = jobs_of(ws), ws.settings("mock")
    export_requests(jobs, ws.store, rs, tmp_path / "out")
    with pytest.raises(InputError, match="holds an earlier export"):
        export_requests(jobs, ws.store, rs, tmp_path / "out")


def test_import_stores_every_valid_line_and_a_second_import_changes_nothing(
        ws: Workspace, tmp_path: Path, exported: tuple[list[Job], ReviewSettings, Path]) -> None:
    jobs, rs, requests = exported
    results = tmp_path / "results.jsonl"
    run_mock(requests, results, rs, jobs)
    report = import_results(jobs, ws.store, rs, [results])
    assert (len(report.stored), report.lines, report.already, report.ok) == (24, 24, 0, True)
    assert report.next_round is None and not report.problems
    rec = ws.store.get(jobs[0].key)
    assert rec is not None and rec.ok and rec.attempts[0].finish_reason == "stop"
    assert rec.provenance["versions"] == {"runner": "batch-file", "line_id": f"vllm-{rec.key}#0",
                                          "model": "mock", "system_fingerprint": "fp-test"}
    assert (rec.prompt_tokens, rec.cached_tokens, rec.engine_seconds) == (100, 20, None)
    before = ws.store.review_states(j.key for j in jobs)
    again = import_results(jobs, ws.store, rs, [results])
    assert (len(again.stored), again.already, again.failed) == (0, 24, [])
    assert ws.store.review_states(j.key for j in jobs) == before
    assert export_requests(jobs, ws.store, rs, tmp_path / "later").requests == 0


def test_three_bad_lines_are_reported_and_exactly_those_asked_again(
        ws: Workspace, tmp_path: Path, exported: tuple[list[Job], ReviewSettings, Path]) -> None:
    jobs, rs, requests = exported
    lines: list[Any] = run_mock(requests, tmp_path / "clean.jsonl", rs, jobs)
    bad = {2: jobs[1], 5: jobs[4], 9: jobs[8]}
    lines[1] = json.dumps(lines[1])[:-40]  # malformed: no answer, asked again at attempt 0
    lines[4]["response"]["body"]["choices"][0]["message"]["content"] = '{"score": 7'
    lines[8]["response"] = {"status_code": 500, "request_id": "r", "body": None}
    lines[8]["error"] = {"error": {"message": "engine died", "code": 500}}
    results = write_lines(tmp_path / "results.jsonl", lines)
    report = import_results(jobs, ws.store, rs, [results], tmp_path / "round1")
    assert len(report.stored) == 21 and report.pending == 3
    assert [(p.line, p.reason.split(" (")[0]) for p in report.problems] == \
        [(2, "malformed JSON"), (9, f"{bad[9].key}#0: error line")]
    assert "engine died" in str(report.problems[1])
    assert report.failed == [f"{bad[5].card.slug} / {bad[5].persona.key}: invalid reply: "
                             "Invalid JSON: EOF while parsing an object at line 1 column 11"]
    assert report.next_round is not None
    again = [json.loads(x) for x in report.next_round.files[0].path.read_text().splitlines()]
    assert sorted(x["custom_id"] for x in again) == sorted(
        [f"{bad[2].key}#0", f"{bad[5].key}#1", f"{bad[9].key}#0"])
    assert {x["body"]["seed"] for x in again if x["custom_id"].endswith("#1")} == \
        {request_seed(bad[5].key, 1)}
    second = run_mock(report.next_round.files[0].path, tmp_path / "r1.jsonl", rs, jobs)
    final = import_results(jobs, ws.store, rs, [tmp_path / "r1.jsonl"])
    assert (len(final.stored), final.ok, len(second)) == (3, True, 3)
    retried = ws.store.get(bad[5].key)
    assert retried is not None and [a.error is None for a in retried.attempts] == [False, True]


def test_results_in_reverse_order_import_identically(
        ws: Workspace, tmp_path: Path, exported: tuple[list[Job], ReviewSettings, Path]) -> None:
    jobs, rs, requests = exported
    lines = run_mock(requests, tmp_path / "forward.jsonl", rs, jobs)
    backward = write_lines(tmp_path / "backward.jsonl", lines[::-1])
    other = Workspace(output=tmp_path / "other", root=ws.root)
    import_results(jobs, ws.store, rs, [tmp_path / "forward.jsonl"])
    import_results(jobs, other.store, rs, [backward])

    def outputs(w: Workspace) -> list[Any]:
        return [(r.key, r.output, r.attempts) for r in
                (w.store.get(j.key) for j in jobs) if r is not None]
    assert outputs(ws) == outputs(other) and len(outputs(ws)) == 24


def test_unknown_duplicate_foreign_and_truncated_lines_are_each_reported(
        ws: Workspace, tmp_path: Path, exported: tuple[list[Job], ReviewSettings, Path]) -> None:
    jobs, rs, requests = exported
    lines: list[Any] = run_mock(requests, tmp_path / "clean.jsonl", rs, jobs)[:4]
    lines.append(result_line("0123456789abcdef#0", "mock", "{}"))
    lines.append(lines[0])
    lines.append(result_line(f"{jobs[5].key}#0", "gpt-other", "{}"))
    lines.append("[1, 2]")
    path = tmp_path / "results.jsonl"
    path.write_text("".join(json.dumps(x) if isinstance(x, dict) else x + "\n"
                            for x in lines[:-1]).replace("}{", "}\n{") + "\n"
                    + lines[-1] + "\n" + json.dumps(result_line(f"{jobs[6].key}#0", "mock",
                                                                "{}"))[:30])
    report = import_results(jobs, ws.store, rs, [path])
    assert [(p.file, p.line) for p in report.problems] == [(str(path), n) for n in (5, 6, 7, 8, 9)]
    reasons = [p.reason for p in report.problems]
    assert reasons[0].startswith("unknown custom_id '0123456789abcdef#0'")
    assert reasons[1].startswith(f"duplicate custom_id '{jobs[0].key}#0' (first at {path}:1)")
    assert reasons[2] == f"{jobs[5].key}#0: answered by model 'gpt-other', not 'mock'; not stored"
    assert reasons[3] == "not a JSON object"
    assert reasons[4] == "truncated: the file ends inside this line"
    assert (len(report.stored), report.lines, report.pending) == (4, 9, 20)


def test_a_key_out_of_attempts_is_reported_and_not_asked_again(
        ws: Workspace, tmp_path: Path, exported: tuple[list[Job], ReviewSettings, Path]) -> None:
    jobs, rs, requests = exported
    job = jobs[0]
    for attempt in range(rs.max_attempts):
        path = write_lines(tmp_path / f"r{attempt}.jsonl",
                           [result_line(f"{job.key}#{attempt}", "mock", "{}", "length")])
        report = import_results(jobs, ws.store, rs, [path], tmp_path / f"next{attempt}")
    assert report.exhausted == [f"{job.card.slug} / {job.persona.key}: hit max_tokens "
                                "(50 tokens) before the JSON closed"]
    assert report.pending == 23 and report.next_round is not None
    ids = report.next_round.files[0].path.read_text()
    assert job.key not in ids and ids.count("#0") == 23
    rec = ws.store.get(job.key)
    assert rec is not None and [a.seed for a in rec.attempts] == \
        [request_seed(job.key, n) for n in range(3)]


def test_engine_time_beside_a_results_file_is_shared_by_tokens(
        ws: Workspace, tmp_path: Path, exported: tuple[list[Job], ReviewSettings, Path]) -> None:
    jobs, rs, requests = exported
    results = tmp_path / "results.jsonl"
    lines = run_mock(requests, results, rs, jobs)
    lines[0]["response"]["body"]["usage"]["completion_tokens"] = 130  # 210 work tokens
    write_lines(results, lines)
    (tmp_path / ("results.jsonl" + ENGINE_TIME)).write_text('{"engine_seconds": 12.9}')
    import_results(jobs, ws.store, rs, [results])
    shares = [ws.store.get(j.key).engine_seconds for j in jobs]  # type: ignore[union-attr]
    assert shares[0] == pytest.approx(12.9 * 210 / (210 + 23 * 130), abs=1e-4)
    assert shares[1] == pytest.approx(12.9 * 130 / (210 + 23 * 130), abs=1e-4)
    assert sum(shares) == pytest.approx(12.9, abs=1e-3)  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(st.binary(max_size=40), st.just(b'{"custom_id": 3}'),
                          st.just(b'{"custom_id": "x#1"}'), st.just(b"null")), max_size=8))
def test_any_bytes_are_read_without_an_exception_and_every_line_accounted(
        tmp_path_factory: pytest.TempPathFactory, pieces: list[bytes]) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "r.jsonl"
    path.write_bytes(b"\n".join(pieces))
    lines, problems, count = batchfile.read_results(path, {}, {}, "mock")
    nonblank = [n for n, p in enumerate(path.read_bytes().split(b"\n"), 1) if p.strip()]
    assert lines == [] and count == len(nonblank)
    assert [p.line for p in problems] == nonblank  # nothing planned: every line a problem


def test_cli_round_trip_with_exit_codes(tmp_path: Path, ws: Workspace) -> None:
    runner = CliRunner()
    res = runner.invoke(main, ["batch", str(EXAMPLES), "-m", "mock", "--export", "out"])
    assert res.exit_code == 0, res.output
    assert res.output.splitlines()[0] == \
        "export: 24 request(s) of 24 planned review(s) (0 stored already) in out"
    jobs = jobs_of(Workspace(root=ws.root))
    lines = run_mock(Path("out/requests-001.jsonl"), tmp_path / "all.jsonl",
                     Workspace(root=ws.root).settings("mock"), jobs)
    write_lines(Path("part.jsonl"), lines[:20])
    res = runner.invoke(main, ["batch", str(EXAMPLES), "-m", "mock", "--import", "part.jsonl"])
    assert res.exit_code == 1
    assert "  stored valid                    20" in res.output
    assert "  still pending                    4" in res.output
    assert "next round:\nexport: 4 request(s) of 24 planned review(s) (20 stored already) " \
        "in next-round\n  requests-001.jsonl: 4 request(s), " in res.output
    assert len(Path("next-round/requests-001.jsonl").read_text().splitlines()) == 4
    res = runner.invoke(main, ["batch", str(EXAMPLES), "-m", "mock",
                               "--import", str(tmp_path / "all.jsonl")])
    assert res.exit_code == 0, res.output
    assert "  stored valid                     4" in res.output
    assert "  imported before, unchanged      20" in res.output
    assert json.loads(sorted(Path("outputs/runs").glob("*.json"))[-1].read_text()
                      )["cost"]["reviews"] == 4


def test_a_next_round_folder_holding_an_export_is_refused_before_anything_is_stored(
        ws: Workspace, tmp_path: Path, exported: tuple[list[Job], ReviewSettings, Path]) -> None:
    jobs, rs, requests = exported
    results = tmp_path / "results.jsonl"
    run_mock(requests, results, rs, jobs)
    with pytest.raises(InputError, match="holds an earlier export"):
        import_results(jobs, ws.store, rs, [results], requests.parent)
    assert ws.store.count() == 0
    with pytest.raises(InputError, match="no results file given"):
        import_results(jobs, ws.store, rs, [])


def test_run_batch_refuses_a_model_without_weights_and_an_existing_results_file(
        tmp_path: Path) -> None:
    requests = write_lines(tmp_path / "requests.jsonl", [{"custom_id": "k#0"}])
    taken = write_lines(tmp_path / "results.jsonl", [{}])
    runner = CliRunner()
    res = runner.invoke(main, ["models", "run-batch", str(requests), "-o", "new.jsonl",
                               "-m", "mock"])
    assert res.exit_code == 2  # a user error
    assert "model 'mock' (backend mock) has no weights to run a batch on" in res.output
    res = runner.invoke(main, ["models", "run-batch", str(requests), "-o", str(taken),
                               "-m", "smollm2-135m"])
    assert res.exit_code == 2 and f"{taken}: exists already" in res.output
    assert taken.read_text() == "{}\n"


def test_the_batch_runner_command_is_the_servers_with_the_files() -> None:
    from panel.backends.vllm.batch_runner import command
    from panel.backends.vllm.server import server_args

    spec = Workspace().registry.get("smollm2-135m")
    cmd = command(spec, Path("in.jsonl"), Path("out.jsonl"))
    serve = server_args(spec, "127.0.0.1", 8000)
    assert cmd[:3] == [serve[0], "-m", "vllm.entrypoints.openai.run_batch"]
    assert cmd[3:-4] == serve[3:-5]  # weights, served name, engine flags: the server's own
    assert cmd[-4:] == ["-i", "in.jsonl", "-o", "out.jsonl"]
    assert cmd[cmd.index("--served-model-name") + 1] == "smollm2-135m"
