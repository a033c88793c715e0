"""`--samples auto` and `--samples K` on the mock: rounds, reuse, the editor's queue."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from click.testing import CliRunner

from panel.backends.mock import Mocks
from panel.cli import main
from panel.cli.tables import format_summary
from panel.config.settings import Samples
from panel.config.workspace import Workspace
from panel.inputs.cards import load_cards
from panel.pipeline.batch import run_batch
from panel.pipeline.run import review_cards
from panel.verdict.views import tool_page

from conftest import EXAMPLES
from factories import copy_project

AUTO5 = Samples(per_persona="auto", cap=5)


def capped(tmp_path: Path) -> Path:
    """A project whose panel.yaml caps samples at 5 (what pages and batch count against)."""
    root = copy_project(tmp_path / "project")
    panel = root / "panel.yaml"
    panel.write_text(panel.read_text() + yaml.safe_dump({"samples": {"cap": 5}}))
    return root


def say(mock: Mocks, verdict: str, score: int) -> None:
    mock.enqueue(json.dumps({"reasoning": "Scripted notes here.", "score": score,
                             "verdict": verdict,
                             "review": "Tool is scripted. It says what we need."}))


def card():
    return load_cards([EXAMPLES / "voicedesk.yaml"])[0].card


def script_rounds(mock: Mocks) -> None:
    """builder: ship, ship (decided at 2); skeptic: ship, skip, ship, skip, ship (3 of 5,
    inside the band at the cap: needs an editor)."""
    for builder, skeptic in [("ship", "ship"), ("ship", "skip")]:
        say(mock, builder, 80)
        say(mock, skeptic, 80 if skeptic == "ship" else 30)
    for verdict in ("ship", "skip", "ship"):
        say(mock, verdict, 80 if verdict == "ship" else 30)


def test_auto_samples_only_the_uncertain_persona_up_to_the_cap(tmp_path: Path, mock: Mocks) -> None:
    script_rounds(mock)
    ws = Workspace(tmp_path / "out", capped(tmp_path))
    assert ws.config.samples == Samples(cap=5)
    run = review_cards(ws, [card()], "mock", ["builder", "skeptic"], samples=AUTO5)
    drawn = sorted((r.persona, r.sample, r.verdict) for r in run.records)
    assert [(p, s) for p, s, _ in drawn] == [("builder", 0), ("builder", 1)] + [
        ("skeptic", i) for i in range(5)]
    assert mock.calls == 7 and run.reviewed == 7 and not mock.script
    assert run.needs_editor == 1
    page = tool_page(ws, card().slug, "mock")
    assert {r.persona: page.tallies[r.key].label for r in page.reviews} == {
        "builder": "ship · 2 of 2 samples", "skeptic": "ship · 3 of 5 samples"}
    skeptic = next(r for r in page.reviews if r.persona == "skeptic")
    assert page.tallies[skeptic.key].needs_editor and skeptic.sample == 4
    again = review_cards(ws, [card()], "mock", ["builder", "skeptic"], samples=Samples(
        per_persona=5, cap=5))
    assert again.reused == 7 and again.reviewed == 3  # builder's samples 2 to 4


def test_batch_counts_the_personas_that_need_an_editor(tmp_path: Path, mock: Mocks) -> None:
    script_rounds(mock)
    summary = run_batch([EXAMPLES / "voicedesk.yaml"], tmp_path / "out", "mock",
                        ["builder", "skeptic"], samples=AUTO5, root=capped(tmp_path))
    assert summary.counts.needs_editor == 1
    assert re.search(r"^ {4}needs an editor +1$", format_summary(summary), re.M)


def test_review_takes_samples_k_on_the_command_line(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["review", str(EXAMPLES / "voicedesk.yaml"), "-m",
                                       "mock", "-p", "builder", "--samples", "3", "-o",
                                       str(out)])
    assert result.exit_code == 0, result.output
    assert sorted(r.sample for r in Workspace(out).store.all()) == [0, 1, 2]
    bad = CliRunner().invoke(main, ["review", str(EXAMPLES / "voicedesk.yaml"), "-m", "mock",
                                    "--samples", "lots", "-o", str(out)])
    assert bad.exit_code != 0 and "--samples: 'lots' is neither auto nor a count" in bad.output


def test_batch_refuses_samples_on_ray_rather_than_ignore_them(tmp_path: Path) -> None:
    res = CliRunner().invoke(main, ["batch", str(EXAMPLES / "voicedesk.yaml"), "-m", "mock",
                                    "--samples", "auto", "--ray", "local", "-o",
                                    str(tmp_path / "out")])
    assert res.exit_code != 0 and "--samples: not yet with --ray" in res.output
