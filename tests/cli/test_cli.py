"""The CLI through click's runner, on the mock model: exact outputs and exit codes."""

from __future__ import annotations

from pathlib import Path

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
    assert (tmp_path / "o" / "panels" / "tracelens.mock.json").is_file()


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
