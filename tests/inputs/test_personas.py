"""Personas are data: four ship, a fifth is one file, a subset is an option."""

from __future__ import annotations

from pathlib import Path

import pytest

from panel.config.workspace import Workspace
from panel.errors import InputError
from panel.inputs.cards import load_cards
from panel.pipeline.run import review_cards

from conftest import EXAMPLES, ROOT
from factories import copy_project

CREATOR = """name: Creator
role: A video creator who judges tools by whether they save a production day.
lens:
  - Does it remove a step from making and publishing content?
ship_when: It saves real production time.
skip_when: It adds a step.
voice: Upbeat and practical.
"""


def test_the_four_lenses_load_in_panel_order(ws: Workspace) -> None:
    people = ws.personas()
    assert [p.key for p in people] == ["builder", "skeptic", "futurist", "founder"]
    assert all(p.lens and p.ship_when and p.skip_when and p.voice for p in people)


def test_a_fifth_persona_file_gives_a_five_persona_panel(tmp_path: Path) -> None:
    root = copy_project(tmp_path / "project")
    (root / "personas" / "creator.yaml").write_text(CREATOR)
    ws = Workspace(output=tmp_path / "out", root=root)
    summary = review_cards(ws, [load_cards([EXAMPLES / "slidesmith.yaml"])[0].card], "mock")
    assert [r.persona for r in summary.records] == [
        "builder", "skeptic", "futurist", "founder", "creator"]
    assert summary.panels(ws)[0].ship + summary.panels(ws)[0].skip == 5


def test_unknown_persona_in_subset(ws: Workspace) -> None:
    with pytest.raises(InputError, match="no persona named nobody"):
        ws.personas(["builder", "nobody"])


def test_a_persona_with_a_missing_field(tmp_path: Path) -> None:
    (tmp_path / "x.yaml").write_text("name: X\nrole: r\n")
    ws = Workspace(output=tmp_path, root=ROOT)
    from panel.inputs.personas import load_persona

    with pytest.raises(InputError) as err:
        load_persona(tmp_path / "x.yaml")
    assert err.value.field == "lens" and err.value.file == str(tmp_path / "x.yaml")
    assert ws.root == ROOT
