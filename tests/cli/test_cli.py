"""The CLI through click's runner, on the mock model: exact outputs and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from panel.backends.mock import Mocks
from panel.cli import main

from conftest import EXAMPLES
from factories import copy_project


def run(*args: str) -> tuple[int, str, str]:
    res = CliRunner().invoke(main, list(args))
    return res.exit_code, res.stdout, res.stderr


def test_review_one_persona(tmp_path: Path) -> None:
    code, out, _ = run("review", str(EXAMPLES / "tracelens.yaml"), "--personas", "builder",
                       "--model", "mock", "--output", str(tmp_path / "o"))
    assert code == 0
    assert out.splitlines()[0].split() == ["tool", "verdict", "ship", "%", "mean"]
    assert out.splitlines()[-1].startswith("reviewed 1, reused from store 0, failed 0")
    doc = json.loads((tmp_path / "o" / "panels" / "tracelens.mock.json").read_text())
    assert (doc["tool"]["name"], doc["model"]) == ("TraceLens", "mock")
    assert [r["persona"] for r in doc["reviews"]] == ["builder"]


def test_compare_writes_json_and_markdown(tmp_path: Path) -> None:
    code, out, _ = run("compare", str(EXAMPLES / "patchpilot.yaml"),
                       str(EXAMPLES / "diffsage.yaml"), "-m", "mock", "-o", str(tmp_path))
    assert code == 0, out
    assert out.splitlines()[0] == "PatchPilot vs DiffSage"
    md = (tmp_path / "compare" / "patchpilot-vs-diffsage.md").read_text()
    assert md.startswith("# PatchPilot vs DiffSage")
    assert md.count("### ") == 4 and "| Panel verdict |" in md


def test_bad_card_exits_nonzero_naming_file_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("tagline: t\ncategory: c\ndescription: d\npricing: p\nentry: free\n")
    code, out, err = run("review", str(bad), "-m", "mock", "-o", str(tmp_path / "o"))
    assert code == 2
    assert err == f"error: {bad}: field 'name' is required but missing\n"
    assert not (tmp_path / "o" / "panels").exists()


def test_models_lists_the_registry() -> None:
    code, out, _ = run("models")
    assert code == 0
    assert out.splitlines()[0].startswith("* smollm2-135m")
    assert any("Qwen/Qwen2.5-72B-Instruct" in line for line in out.splitlines())


def test_models_list_is_bare_models() -> None:
    bare, listed = run("models"), run("models", "list")
    assert bare == listed
    assert bare[0] == 0


def test_models_fetch_refuses_a_model_without_a_hub_id() -> None:
    code, out, err = run("models", "fetch", "mock")
    assert code == 2
    assert err == "error: model 'mock' is not a hub model; nothing to fetch\n"


def test_models_fetch_downloads_the_pinned_revision(monkeypatch: pytest.MonkeyPatch,
                                                    tmp_path: Path) -> None:
    import huggingface_hub

    from panel.config.workspace import Workspace

    calls: list[tuple[str, str | None]] = []

    def fake(repo_id: str, revision: str | None = None) -> str:
        calls.append((repo_id, revision))
        return str(tmp_path / "snap")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake)
    name, spec = next((n, s) for n, s in Workspace().registry.models.items()
                      if s.source and s.source.hf)
    code, out, err = run("models", "fetch", name)
    assert (code, err) == (0, "")
    assert calls == [(spec.source.hf, spec.source.revision)]
    assert out == f"fetched {spec.source.hf} to {tmp_path / 'snap'}\n"


@pytest.mark.parametrize("spelling", [["serve"], ["models", "serve"]])
def test_serve_spellings_run_the_same_server(monkeypatch: pytest.MonkeyPatch,
                                             spelling: list[str]) -> None:
    import panel.cli.models as models_cli

    seen: list[dict[str, object]] = []
    monkeypatch.setattr(models_cli, "serve_foreground", lambda **kw: seen.append(kw))
    code, _, _ = run(*spelling, "-m", "smollm2-135m", "--port", "8123")
    assert code == 0
    assert seen == [{"model": "smollm2-135m", "host": "127.0.0.1", "port": 8123}]


def test_old_serve_spelling_is_hidden_from_help() -> None:
    _, top, _ = run("--help")
    _, group, _ = run("models", "--help")
    assert "serve" not in [line.split()[0] for line in top.split("Commands:")[1].splitlines()
                           if line.strip()]
    assert "serve" in group and "fetch" in group and "list" in group


def test_study_without_models_or_file_is_one_line(tmp_path: Path) -> None:
    code, _, err = run("study", "-o", str(tmp_path))
    assert code == 2
    assert err == "error: panel study: give --models A,B and CARDS, or --file STUDY.yaml\n"


def test_models_with_a_misspelt_engine_key_under_panel_home_fails(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from conftest import ROOT

    home = copy_project(tmp_path / "project", models=False)
    text = (ROOT / "models.yaml").read_text()
    assert "enforce_eager: true" in text
    (home / "models.yaml").write_text(text.replace("enforce_eager: true", "enforce_eagre: true"))
    # a fresh process: the project root is found once per process
    res = subprocess.run([sys.executable, "-m", "panel.cli", "models"], capture_output=True,
                         text=True, env={**os.environ, "PANEL_HOME": str(home)}, timeout=120,
                         cwd=tmp_path)
    assert (res.returncode, res.stdout) == (2, "")
    assert res.stderr == (f"error: {home / 'models.yaml'}: field "
                          "'models.smollm2-135m.engine.enforce_eagre' is not a vLLM engine "
                          "argument (EngineArgs); did you mean 'enforce_eager'?\n")


def test_a_missing_extra_is_one_line_and_any_other_missing_module_a_traceback() -> None:
    from panel.cli.options import missing_extra, user_errors

    assert missing_extra(ModuleNotFoundError(name="vllm.engine")) == (
        "this command needs vllm, which is not installed: scripts/setup.sh (CPU) or "
        "pip install -e '.[gpu]'")
    assert missing_extra(ModuleNotFoundError(name="ray")) == (
        "this command needs ray, which is not installed: pip install -e '.[ray]'")

    @user_errors
    def broken() -> None:
        raise ModuleNotFoundError("No module named 'panel.nowhere'", name="panel.nowhere")

    with pytest.raises(ModuleNotFoundError):
        broken()


def test_compare_head_to_head_prints_a_line_per_persona_and_reuses_it(
        tmp_path: Path, mock: Mocks) -> None:
    args = ["compare", str(EXAMPLES / "patchpilot.yaml"), str(EXAMPLES / "diffsage.yaml"),
            "-m", "mock", "-o", str(tmp_path), "--personas", "builder,skeptic"]
    assert run(*args)[0] == 0                      # the reviews, stored
    plain = (tmp_path / "compare" / "patchpilot-vs-diffsage.json").read_text()
    assert "head_to_head" not in json.loads(plain)
    for choice in ("first", "second", "first", "first"):  # builder A/B first, skeptic A/B first
        mock.enqueue(json.dumps({"reason": "Ships today, fewer steps.", "choice": choice,
                                 "margin": 80}))
    calls = mock.calls
    code, out, err = run(*args, "--head-to-head")
    assert code == 0, out
    assert mock.calls == calls + 4          # reviews reused, 2 personas x 2 orders
    lines = out.splitlines()
    at = lines.index("head to head (each tool shown first in turn):")
    assert lines[at + 1:at + 3] == [
        "  Builder: PatchPilot in both orders",
        "  Skeptic: inconsistent (PatchPilot when shown first, DiffSage when shown first)"]
    assert lines[at + 3] == f"wrote {tmp_path / 'compare' / 'patchpilot-vs-diffsage.json'}"
    assert "head-to-head judgments: 4/4" in err
    doc = json.loads((tmp_path / "compare" / "patchpilot-vs-diffsage.json").read_text())
    rows = doc["head_to_head"]["rows"]
    assert [(r["persona"], r["ab"]["choice"], r["ba"]["choice"], r["result"]) for r in rows] == [
        ("builder", "first", "second", "a"), ("skeptic", "first", "first", "inconsistent")]
    assert rows[0]["ab"]["margin"] == 80 and rows[0]["ab"]["reason"] == "Ships today, fewer steps."
    md = (tmp_path / "compare" / "patchpilot-vs-diffsage.md").read_text()
    assert "- **Builder: PatchPilot in both orders**\n" in md
    assert ("- **Skeptic: inconsistent \\(PatchPilot when shown first, DiffSage when shown "
            "first\\)**\n") in md
    code, again, _ = run(*args, "--head-to-head")  # a second run makes 0 requests
    assert (code, mock.calls, again) == (0, calls + 4, out)
    code, shown, _ = run(*args)  # without the flag: the stored lines, no request
    assert (code, mock.calls) == (0, calls + 4)
    assert shown.splitlines()[at:at + 3] == lines[at:at + 3]


def test_compare_head_to_head_exits_1_naming_a_failed_judgment(tmp_path: Path, mock: Mocks) -> None:
    args = ["compare", str(EXAMPLES / "patchpilot.yaml"), str(EXAMPLES / "diffsage.yaml"),
            "-m", "mock", "-o", str(tmp_path), "--personas", "builder"]
    assert run(*args)[0] == 0
    good = json.dumps({"reason": "Ships today, fewer steps.", "choice": "first", "margin": 80})
    for reply in ("not json", good, "not json", "not json"):  # A first fails three times
        mock.enqueue(reply)
    code, out, _ = run(*args, "--head-to-head")
    assert code == 1
    lines = out.splitlines()
    at = lines.index("head to head (each tool shown first in turn):")
    assert lines[at + 1:at + 4] == [
        "  Builder: no result (PatchPilot shown first: failed)",
        "failed judgments:",
        "  builder / PatchPilot first: invalid reply: Invalid JSON: expected ident at line 1 "
        "column 2"]


INVALID = "invalid reply: Invalid JSON: expected ident at line 1 column 2"


@pytest.mark.parametrize("command", ["review", "batch"])
def test_a_review_that_never_validates_exits_1_with_its_failure_line(
        tmp_path: Path, command: str, mock: Mocks) -> None:
    """Three replies that are not JSON for the one review asked: the command exits 1 and
    names the review and the last reason; the failed review is stored, and a re-run with a
    valid reply asks for it alone and exits 0."""
    from panel.store.sqlite import Store

    out = tmp_path / "o"
    args = [command, str(EXAMPLES / "voicedesk.yaml"), "-m", "mock", "-p", "builder",
            "-o", str(out)]
    for _ in range(3):
        mock.enqueue("not json")
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 1, res.output
    lines = res.stdout.splitlines()
    if command == "review":
        assert lines[1].split() == ["VoiceDesk", "No", "verdict", "·", "1", "failed", "–", "–"]
        assert lines[2].startswith("reviewed 1, reused from store 0, failed 1 (")
        assert lines[3:] == [f"  failed: voicedesk / builder: {INVALID}"]
    else:
        assert [ln.split() for ln in lines[3:7]] == [
            ["reviews", "1"], ["reviewed", "now", "1"], ["reused", "from", "store", "0"],
            ["failed", "1"]]
        assert lines[-2:] == ["failed reviews:", f"  voicedesk / builder: {INVALID}"]
    with Store(out) as store:
        [rec] = store.all()
        assert (rec.status, rec.failure, len(rec.attempts)) == ("failed", INVALID, 3)
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 0 and mock.calls == 4, again.output


def test_panel_compare_writes_the_json_the_terminal_shows(tmp_path: Path) -> None:
    """The JSON file `panel compare` names: both cards as given, each side's panel counted
    from its rows, and each row the stored review of that tool and persona."""
    from panel.inputs.cards import load_cards
    from panel.store.sqlite import Store

    out = tmp_path / "o"
    files = [EXAMPLES / "voicedesk.yaml", EXAMPLES / "diffsage.yaml"]
    res = CliRunner().invoke(main, ["compare", *map(str, files), "-m", "mock",
                                    "-p", "builder,skeptic", "-o", str(out)])
    assert res.exit_code == 0, res.output
    path = out / "compare" / "voicedesk-vs-diffsage.json"
    assert f"wrote {path}" in res.stdout.splitlines()
    doc = json.loads(path.read_text())
    assert doc["title"] == "VoiceDesk vs DiffSage" and "head_to_head" not in doc
    assert [doc["cards"]["a"], doc["cards"]["b"]] == [
        c.card.model_dump(mode="json") for c in load_cards(files)]
    assert [r["persona"] for r in doc["rows"]] == ["builder", "skeptic"]
    with Store(out) as store:
        for side, tool in (("a", "voicedesk"), ("b", "diffsage")):
            rows = [r[side] for r in doc["rows"]]
            assert [r["key"] for r in rows] == [x.key for x in sorted(
                store.latest(tool, "mock"), key=lambda x: x.persona != "builder")]
            verdicts = [r["output"]["verdict"] for r in rows]
            assert (doc[side]["tool"], doc[side]["ship"], doc[side]["skip"],
                    doc[side]["mean_score"]) == (
                tool, verdicts.count("ship"), verdicts.count("skip"),
                sum(r["output"]["score"] for r in rows) / 2)
            shown = res.stdout.splitlines()[1 if side == "a" else 2]
            assert shown.startswith(f"  {doc[side]['tool_name']}: ")
