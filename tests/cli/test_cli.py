"""The CLI through click's runner, on the mock model: exact outputs and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from panel.cli import main

from conftest import EXAMPLES


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
    import shutil
    import subprocess
    import sys

    from conftest import ROOT

    home = tmp_path / "project"
    for name in ("personas", "prompts"):
        shutil.copytree(ROOT / name, home / name)
    shutil.copy(ROOT / "panel.yaml", home / "panel.yaml")
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
