"""The editor's commands end to end through the CLI (mock model): regenerate, edit, approve,
reset, draft and apply, with their exact output and exit codes."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from panel.cli import main
from panel.contract.records import ReviewRecord
from panel.store.sqlite import Store

from conftest import EXAMPLES, ROOT


def run(*args: str) -> tuple[int, str, str]:
    res = CliRunner().invoke(main, list(args))
    return res.exit_code, res.stdout, res.stderr


def test_regenerate_edit_approve_reset(tmp_path: Path) -> None:
    out = ["-m", "mock", "-o", str(tmp_path)]
    assert run("review", str(EXAMPLES / "tracelens.yaml"), *out)[0] == 0
    code, stdout, stderr = run("regenerate", "tracelens", "-p", "skeptic", *out)
    [new] = [r for r in stored(tmp_path) if r.persona == "skeptic" and r.sample == 1]
    assert (code, stdout, stderr) == (
        0, f"skeptic: new sample 1: {new.score}/100 · {new.verdict}\n", "")
    assert run("edit", "tracelens", "-p", "builder", "--score", "90", "--verdict", "ship",
               *out) == (0, "builder: 90/100 · ship (edited)\n", "")
    assert run("approve", "tracelens", "-p", "builder", *out) == (
        0, "builder: 90/100 · ship (approved)\n", "")
    assert run("edit", "tracelens", "-p", "builder", "--reset", *out) == (
        0, "builder: back to draft\n", "")
    assert run("edit", "tracelens", "-p", "builder", "--reset", *out) == (
        0, "builder: was not edited\n", "")


def test_draft_then_apply(tmp_path: Path) -> None:
    out = ["-o", str(tmp_path)]
    assert run("review", str(EXAMPLES / "tracelens.yaml"), "-m", "mock", *out)[0] == 0
    draft = tmp_path / "drafts" / "tracelens.mock.yaml"
    assert run("draft", "tracelens", "-m", "mock", *out) == (0, f"wrote {draft}\n", "")
    text = draft.read_text()
    assert text.count("approved: false") == 4
    draft.write_text(text.replace("approved: false", "approved: true", 1))
    code, stdout, stderr = run("apply", str(draft), *out)
    by = {r.persona: r for r in stored(tmp_path)}
    expected = "".join(f"{p}: {by[p].output.score}/100 · {by[p].output.verdict} "  # type: ignore[union-attr]
                       f"({'approved' if p == 'builder' else 'draft'})\n"
                       for p in ("builder", "skeptic", "futurist", "founder"))
    assert (code, stdout, stderr) == (0, expected, "")
    assert run("apply", str(draft), *out) == (0, stdout, "")  # applying again changes nothing


def test_editor_commands_refuse_unknown_tools_and_personas(tmp_path: Path) -> None:
    out = ["-m", "mock", "-o", str(tmp_path)]
    assert run("review", str(EXAMPLES / "tracelens.yaml"), *out)[0] == 0
    assert run("edit", "nope", "-p", "builder", "--score", "3", *out) == (
        2, "", f"error: no tool 'nope' in {tmp_path / 'panel.sqlite3'}; review its card first\n")
    assert run("regenerate", "tracelens", "-p", "nobody", *out) == (
        2, "", f"error: {ROOT / 'personas'}: field 'personas' no persona named nobody "
               "(have: builder, founder, futurist, skeptic)\n")


def stored(folder: Path) -> list[ReviewRecord]:
    """tracelens's reviews as the store holds them: the mock's scores come from each
    review's key, so the expected lines are read back rather than written down."""
    with Store(folder) as store:
        return store.reviews("tracelens", "mock")
