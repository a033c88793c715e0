"""The editor's workflow on the mock backend: regenerate one persona, edit, approve, drafts."""

from __future__ import annotations

import pytest
import yaml

from panel.config.workspace import Workspace
from panel.contract.records import ReviewRecord
from panel.errors import InputError, PanelError
from panel.inputs.cards import load_cards
from panel.pipeline.run import review_cards
from panel.publish import editor
from panel.verdict.views import tool_page

from conftest import EXAMPLES


@pytest.fixture
def reviewed(ws: Workspace) -> Workspace:
    """PatchPilot reviewed by all four personas on the mock model."""
    review_cards(ws, [load_cards([EXAMPLES / "patchpilot.yaml"])[0].card], "mock")
    return ws


def shown(ws: Workspace) -> dict[str, ReviewRecord]:
    return {r.persona: r for r in tool_page(ws, "patchpilot", "mock").reviews}


def test_regenerate_draws_a_new_sample_and_keeps_the_other_personas(reviewed: Workspace) -> None:
    before = shown(reviewed)
    [done] = editor.regenerate(reviewed, "patchpilot", ["skeptic"], "mock")
    after = shown(reviewed)
    assert not done.kept and done.record.sample == 1
    assert after["skeptic"].key == done.record.key != before["skeptic"].key
    assert after["skeptic"].attempts[0].seed != before["skeptic"].attempts[0].seed
    assert {p: r.key for p, r in after.items() if p != "skeptic"} == {
        p: r.key for p, r in before.items() if p != "skeptic"}
    [again] = editor.regenerate(reviewed, "PatchPilot", ["skeptic"], "mock")  # by name
    assert again.record.sample == 2


def test_an_edited_score_recomputes_the_panel_verdict(reviewed: Workspace) -> None:
    page = tool_page(reviewed, "patchpilot", "mock")
    ships = [r.persona for r in page.reviews if r.verdict == "ship"]
    for persona in ships:
        editor.edit_review(reviewed, "patchpilot", persona, "mock", score=10, verdict="skip")
    page = tool_page(reviewed, "patchpilot", "mock")
    assert (page.panel.ship, page.panel.skip, page.panel.verdict) == (0, 4, "skip")
    assert {r.persona: r.score for r in page.reviews if r.persona in ships} == {
        p: 10 for p in ships}


def test_an_edit_that_contradicts_the_rubric_is_refused(reviewed: Workspace) -> None:
    with pytest.raises(InputError, match="verdict 'ship' contradicts score 10"):
        editor.edit_review(reviewed, "patchpilot", "builder", "mock", score=10, verdict="ship")


def test_approved_review_survives_force_rerun_and_regenerate(reviewed: Workspace) -> None:
    text = "PatchPilot was checked by an editor. This text is the editor's own."
    editor.edit_review(reviewed, "patchpilot", "builder", "mock", score=57, verdict="ship",
                       text=text, approve=True)
    pinned = shown(reviewed)["builder"]
    card = load_cards([EXAMPLES / "patchpilot.yaml"])[0].card
    review_cards(reviewed, [card], "mock", force=True)
    review_cards(reviewed, [card], "mock", samples=(5,))
    [kept] = editor.regenerate(reviewed, "patchpilot", ["builder"], "mock")
    now = shown(reviewed)["builder"]
    assert kept.kept and now.key == pinned.key
    assert (now.score, now.verdict, now.text, now.edit.approved) == (57, "ship", text, True)
    assert reviewed.store.get(pinned.key).output == pinned.output  # the row was not replaced
    editor.reset(reviewed, "patchpilot", "builder", "mock")
    assert shown(reviewed)["builder"].sample == 5  # unpinned: the newest sample shows again


def test_approve_only_marks_approved_and_an_unchanged_edit_is_a_draft(reviewed: Workspace) -> None:
    [rec] = editor.approve(reviewed, "patchpilot", ["futurist"], "mock")
    assert editor.review_state(rec) == "approved" and rec.edit.score is None
    rec = editor.edit_review(reviewed, "patchpilot", "futurist", "mock", approve=False,
                             score=rec.output.score)
    assert editor.review_state(rec) == "draft" and rec.edit is None


def test_draft_file_round_trip(reviewed: Workspace) -> None:
    path = editor.write_draft(reviewed, "patchpilot", "mock")
    assert path == reviewed.output / "drafts" / "patchpilot.mock.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["reviews"]["founder"].update(score=12, verdict="skip", approved=True,
                                     review="PatchPilot has no buyer yet. The editor says skip.")
    path.write_text(yaml.safe_dump(doc))
    editor.apply_draft(reviewed, path)
    founder = shown(reviewed)["founder"]
    assert (founder.score, founder.verdict) == (12, "skip")
    assert editor.review_state(founder) == "approved"
    assert founder.text == "PatchPilot has no buyer yet. The editor says skip."


def test_a_stale_draft_is_refused(reviewed: Workspace) -> None:
    path = editor.write_draft(reviewed, "patchpilot", "mock")
    editor.regenerate(reviewed, "patchpilot", ["skeptic"], "mock")
    with pytest.raises(InputError, match="regenerated after this draft"):
        editor.apply_draft(reviewed, path)


def test_unknown_tool_and_persona_are_clear_errors(reviewed: Workspace) -> None:
    with pytest.raises(PanelError, match="no tool 'nope'"):
        editor.regenerate(reviewed, "nope", ["skeptic"], "mock")
    with pytest.raises(InputError, match="no persona named critic"):
        editor.regenerate(reviewed, "patchpilot", ["critic"], "mock")
