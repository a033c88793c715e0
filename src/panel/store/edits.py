"""Editor edits: a person's word on a review, which outlives every re-run of it.

An edit is keyed by (tool, persona, model), not by review key, so it follows the latest
review; the review key it was made on is "pinned": never replaced or superseded.
"""

from __future__ import annotations

from panel.contract.records import Edit, ReviewRecord
from panel.store.connection import StoreBase


class EditsMixin(StoreBase):
    """The ``edits`` table."""

    def set_edit(self, tool: str, persona: str, model: str, edit: Edit) -> None:
        """Record an editor's edit; it outlives every re-run of that review."""
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO edits VALUES (?,?,?,?)",
                       (tool, persona, model, edit.model_dump_json()))

    def delete_edit(self, tool: str, persona: str, model: str) -> bool:
        """Drop an editor's edit (the review becomes a draft again); True if one existed."""
        with self._tx() as db:
            cur = db.execute("DELETE FROM edits WHERE tool=? AND persona=? AND model=?",
                             (tool, persona, model))
        return cur.rowcount > 0

    def pinned_keys(self) -> set[str]:
        """Review keys an edit was made on: re-runs neither replace nor supersede them."""
        keys = (Edit.model_validate_json(r[0]).key
                for r in self._db.execute("SELECT edit FROM edits"))
        return {k for k in keys if k}

    def get_edit(self, tool: str, persona: str, model: str) -> Edit | None:
        """The edit of a tool's review by one persona and model, or None."""
        row = self._db.execute("SELECT edit FROM edits WHERE tool=? AND persona=? AND model=?",
                               (tool, persona, model)).fetchone()
        return Edit.model_validate_json(row[0]) if row else None

    def _with_edit(self, record: ReviewRecord) -> ReviewRecord:
        """The review as readers see it: with its edit, if one exists."""
        edit = self.get_edit(record.tool, record.persona, record.model)
        return record.model_copy(update={"edit": edit}) if edit else record
