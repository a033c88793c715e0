"""The editor's workflow: regenerate one persona, edit a review, approve it.

Two promises hold whichever door an editor uses (CLI, draft file, web app):

- Regenerating a persona draws a *new sample* (the next sample index, so a new seed and a
  new store key) and leaves the other personas' reviews as they are.
- An edited or approved review is never overwritten. The edit records the key of the review
  it was made on; the store then neither replaces that row (``--force``) nor lets a newer
  sample supersede it, and regenerate skips that persona until the edit is reset.

Draft files (``OUTPUT/drafts/<slug>.<model>.yaml``) are the offline form of the same edits:
``panel draft`` writes one, the editor changes score / verdict / review and sets
``approved: true``, ``panel apply`` records the changes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from panel.backends import Backend
from panel.backends.lazy import LazyBackend
from panel.config.workspace import Workspace
from panel.contract.records import Edit, ReviewRecord
from panel.errors import InputError, PanelError, validation_error
from panel.inputs.datafile import load_data
from panel.pipeline.run import review_cards
from panel.store.files import atomic_write
from panel.verdict.views import load_card, model_name, review_state

TEXT_MAX = 4000


@dataclass(frozen=True)
class Regenerated:
    """What regenerate did for one persona: a new sample, or kept an edited review."""

    persona: str
    record: ReviewRecord
    kept: bool

    @property
    def message(self) -> str:
        if self.kept:
            return (f"{self.persona}: kept the {review_state(self.record)} review "
                    f"(reset the edit to regenerate)")
        status = (f"{self.record.score}/100 · {self.record.verdict}" if self.record.ok
                  else f"failed: {self.record.failure}")
        return f"{self.persona}: new sample {self.record.sample}: {status}"


def current(ws: Workspace, tool: str, persona: str, model: str | None = None) -> ReviewRecord:
    """The review a page shows for this persona (the edited one, else the newest)."""
    card = load_card(ws, tool)
    for record in ws.store.latest(card.slug, model_name(ws, model)):
        if record.persona == persona:
            return record
    raise PanelError(f"'{card.name}' has no '{persona}' review by model "
                     f"'{model_name(ws, model)}'")


class ChangedMeanwhile(PanelError):
    """The review an editor was looking at is no longer the one shown: nothing was saved."""


@dataclass(frozen=True)
class Seen:
    """What an editor's form was made on: the review's key and a hash of its edit.

    Two editors may look at the same review key; the edit hash tells their saves apart,
    so the later one is refused instead of silently dropping the earlier's text.
    """

    key: str
    version: str

    @classmethod
    def of(cls, record: ReviewRecord) -> Seen:
        return cls(record.key, edit_version(record))


def edit_version(record: ReviewRecord) -> str:
    """A short hash of the review's current edit (its timestamp included); 'draft' if none."""
    if record.edit is None:
        return "draft"
    return hashlib.sha256(record.edit.model_dump_json().encode()).hexdigest()[:16]


def _expect(record: ReviewRecord, expected: Seen | None) -> None:
    """Refuse to act on a review other than the one the editor saw."""
    if expected is None:
        return
    who = f"the {record.persona} review of '{record.tool_name}'"
    if expected.key != record.key:
        raise ChangedMeanwhile(f"{who} was regenerated meanwhile (now sample {record.sample}); "
                               "nothing was saved: reload and edit the new review")
    if expected.version != edit_version(record):
        raise ChangedMeanwhile(f"{who} was changed by another editor meanwhile; nothing was "
                               "saved: reload to see their change")


def next_sample(ws: Workspace, slug: str, persona: str, model: str) -> int:
    """One past the highest sample stored for this tool and persona: a fresh seed."""
    samples = [r.sample for r in ws.store.reviews(slug, model) if r.persona == persona]
    return max(samples, default=-1) + 1


def regenerate(ws: Workspace, tool: str, personas: Sequence[str], model: str | None = None,
               backend: Backend | None = None) -> list[Regenerated]:
    """Re-run the named personas with new seeds; keep every other review, and every
    edited or approved one. Starts an engine only if there is work and none was given."""
    card, name = load_card(ws, tool), model_name(ws, model)
    ws.personas(list(personas))  # unknown persona names fail here, before any work
    done: list[Regenerated] = []
    todo = []
    for persona in personas:
        held = next((r for r in ws.store.latest(card.slug, name) if r.persona == persona), None)
        if held is not None and held.edit is not None:
            done.append(Regenerated(persona, held, kept=True))
        else:
            todo.append(persona)
    if not todo:
        return done
    engine = LazyBackend(ws.settings(model).spec, backend)
    try:
        for persona in todo:
            sample = next_sample(ws, card.slug, persona, name)
            summary = review_cards(ws, [card], name, [persona], samples=(sample,),
                                   backend=engine)
            done.append(Regenerated(persona, summary.records[0], kept=False))
    finally:
        engine.close()
    return done


def _changed(value: object, original: object) -> object:
    """An edited value, or None when the editor left the model's value as it was."""
    if isinstance(value, str) and isinstance(original, str):
        value = " ".join(value.split())
        return None if value == " ".join(original.split()) else value
    return None if value == original else value


def edit_review(ws: Workspace, tool: str, persona: str, model: str | None = None, *,
                score: int | None = None, verdict: Literal["ship", "skip"] | None = None,
                text: str | None = None, approve: bool | None = None,
                editor: str | None = None, expected: Seen | None = None) -> ReviewRecord:
    """Record an editor's change to the review a page shows; None leaves a field as is.

    The edit is checked against the rubric (an edited score of 30 cannot stay a ship), and
    pinned to the review's key so no re-run replaces it. An edit that changes nothing and
    is not approved is dropped: the review is a draft again. With ``expected``, the save
    is refused (ChangedMeanwhile) unless the review shown is still the one the editor saw.
    """
    record = current(ws, tool, persona, model)
    _expect(record, expected)
    if score is not None and not 0 <= score <= 100:
        raise InputError(f"{record.tool}/{persona}", f"score must be 0 to 100, not {score}",
                         field="score")
    if not record.ok or record.output is None:
        raise PanelError(f"the {persona} review of '{record.tool_name}' failed; "
                         "regenerate it before editing")
    old = record.edit or Edit()
    out = record.output
    new_score = old.score if score is None else _changed(score, out.score)
    new_verdict = old.verdict if verdict is None else _changed(verdict, out.verdict)
    new_text = old.review if text is None else _changed(text, out.review)
    edit = Edit(score=new_score, verdict=new_verdict, review=new_text,  # type: ignore[arg-type]
                approved=old.approved if approve is None else approve,
                editor=editor or old.editor, key=record.key)
    _check(ws, record, edit)
    if edit.score is None and edit.verdict is None and edit.review is None and not edit.approved:
        ws.store.delete_edit(record.tool, persona, record.model)
    else:
        ws.store.set_edit(record.tool, persona, record.model, edit)
    return current(ws, tool, persona, model)


def _check(ws: Workspace, record: ReviewRecord, edit: Edit) -> None:
    """The edited review must still obey the rubric and be publishable text."""
    assert record.output is not None
    score = record.output.score if edit.score is None else edit.score
    verdict = record.output.verdict if edit.verdict is None else edit.verdict
    where = f"{record.tool}/{record.persona}"
    rubric = ws.config.rubric
    if not rubric.allows(score, verdict):
        raise InputError(where, f"verdict '{verdict}' contradicts score {score} (ship needs "
                         f">= {rubric.ship_threshold}, skip needs <= {rubric.skip_threshold})",
                         field="verdict")
    if edit.review is not None and not 1 <= len(edit.review) <= TEXT_MAX:
        raise InputError(where, f"review must be 1 to {TEXT_MAX} characters", field="review")


def approve(ws: Workspace, tool: str, personas: Sequence[str] | None = None,
            model: str | None = None, editor: str | None = None,
            expected: Seen | None = None) -> list[ReviewRecord]:
    """Approve reviews as they stand (every persona when none is named); ``expected``
    (one persona only) refuses if the review changed since the editor saw it."""
    name = model_name(ws, model)
    keys = personas or [r.persona for r in ws.store.latest(load_card(ws, tool).slug, name)]
    if expected is not None and len(keys) != 1:
        raise PanelError("an expected review needs exactly one persona")
    return [edit_review(ws, tool, p, model, approve=True, editor=editor, expected=expected)
            for p in keys]


def reset(ws: Workspace, tool: str, persona: str, model: str | None = None,
          expected: Seen | None = None) -> bool:
    """Drop the edit: the review is a draft again and regenerate may replace it.
    With ``expected``, refuse if the review changed since the editor saw it."""
    if expected is not None:
        _expect(current(ws, tool, persona, model), expected)
    return ws.store.delete_edit(load_card(ws, tool).slug, persona, model_name(ws, model))


class DraftReview(BaseModel):
    """One persona's review in a draft file: the fields an editor may change."""

    model_config = ConfigDict(extra="forbid")

    key: str = Field(description="Store key of the review; guards against stale drafts.")
    state: str = Field("draft", description="draft, edited or approved (informative).")
    score: int = Field(ge=0, le=100, description="Score, 0 to 100.")
    verdict: Literal["ship", "skip"] = Field(description="ship or skip.")
    approved: bool = Field(False, description="Set true to approve for publication.")
    review: str = Field(min_length=1, max_length=TEXT_MAX, description="The review text.")


class DraftFile(BaseModel):
    """A tool's reviews as an editable YAML file."""

    model_config = ConfigDict(extra="forbid")

    tool: str = Field(description="Tool slug.")
    model: str = Field(description="Registry model the reviews are from.")
    reviews: dict[str, DraftReview] = Field(description="Persona key -> review.")


DRAFT_HEADER = """\
# Draft reviews of {name} by the panel on model '{model}'.
# Change score, verdict or review, set approved: true, then run:
#   panel apply {path}
# An edited or approved review is never overwritten by a re-run.
"""


def write_draft(ws: Workspace, tool: str, model: str | None = None) -> Path:
    """Write ``OUTPUT/drafts/<slug>.<model>.yaml`` with the reviews a page shows."""
    from panel.config.project import child

    card, name = load_card(ws, tool), model_name(ws, model)
    reviews = {r.persona: DraftReview(key=r.key, state=review_state(r), score=r.score or 0,
                                      verdict=r.verdict or "skip",  # type: ignore[arg-type]
                                      approved=bool(r.edit and r.edit.approved),
                                      review=r.text or "")
               for r in ws.store.latest(card.slug, name) if r.ok}
    doc = DraftFile(tool=card.slug, model=name, reviews=reviews)
    path = child(ws.output / "drafts", f"{card.slug}.{name}", ".yaml", field="draft")
    path.parent.mkdir(parents=True, exist_ok=True)
    body = yaml.safe_dump(doc.model_dump(), sort_keys=False, allow_unicode=True, width=88)
    atomic_write(path, DRAFT_HEADER.format(name=card.name, model=name, path=path) + body)
    return path


def read_draft(path: Path) -> DraftFile:
    """Parse and validate a draft file, naming the file and field in any error."""
    data = load_data(path)
    try:
        return DraftFile.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, str(path)) from None


def apply_draft(ws: Workspace, path: Path, editor: str | None = None) -> list[ReviewRecord]:
    """Record a draft file's changes and approvals; refuse a draft of a superseded review."""
    draft = read_draft(path)
    records = []
    for persona, item in draft.reviews.items():
        shown = current(ws, draft.tool, persona, draft.model)
        if shown.key != item.key:
            raise InputError(str(path), "the review was regenerated after this draft was "
                             "written; run `panel draft` again", field=f"reviews.{persona}")
        records.append(edit_review(ws, draft.tool, persona, draft.model, score=item.score,
                                   verdict=item.verdict, text=item.review,
                                   approve=item.approved, editor=editor))
    return records
