"""Why a row read from another store is not one this store would have written.

A shard comes from another machine, another version, or a hand edit: every row is
validated against the record types before a merge writes anything.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import ValidationError

from panel.contract.pairwise import PairRecord
from panel.contract.records import Edit, ReviewRecord
from panel.inputs.cards import ToolCard
from panel.store.connection import Row
from panel.store.schema import PAIR_COLUMNS, REVIEW_COLUMNS


def review_problem(row: Row) -> str | None:
    """Why a reviews row is not a valid review, or None."""
    return _row_problem(row, ReviewRecord, REVIEW_COLUMNS)


def pair_problem(row: Row) -> str | None:
    """Why a pair_judgments row is not a valid judgment, or None."""
    return _row_problem(row, PairRecord, PAIR_COLUMNS)


def _row_problem(row: Row, kind: type[ReviewRecord] | type[PairRecord],
                 columns: Sequence[str]) -> str | None:
    """Why a row (``columns``, the record's JSON last) is not a valid record of ``kind``
    whose fields match the row's indexed columns and whose status matches its output."""
    if not isinstance(row[-1], str):
        return f"record is {type(row[-1]).__name__}, not JSON text"
    try:
        rec = kind.model_validate_json(row[-1])
    except ValidationError as exc:
        return f"invalid record: {_first(exc)}"
    for name, value in zip(columns[:-1], row[:-1], strict=True):
        if getattr(rec, name) != value:
            return f"column {name}={value!r} does not match the record's {getattr(rec, name)!r}"
    if rec.ok != (rec.output is not None):
        return f"status '{rec.status}' with{'out' if rec.ok else ''} an output"
    return None


def edit_problem(row: Row) -> str | None:
    """Why an edits row is not a valid edit, or None."""
    if not all(isinstance(v, str) for v in row):
        return "every column must be text"
    try:
        Edit.model_validate_json(row[3])
    except ValidationError as exc:
        return f"invalid edit: {_first(exc)}"
    return None


def card_problem(tool: object, card: object) -> str | None:
    """Why a cards row is not a valid card keyed by a text slug, or None."""
    if not isinstance(tool, str) or not isinstance(card, str):
        return "tool and card must be text"
    try:
        ToolCard.model_validate_json(card)
    except ValidationError as exc:
        return f"invalid card: {_first(exc)}"
    return None


def _first(exc: ValidationError) -> str:
    """The first of pydantic's errors, as ``field: message``."""
    err = exc.errors()[0]
    return f"{'.'.join(map(str, err['loc'])) or 'record'}: {err['msg']}"
