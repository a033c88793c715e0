"""Bring a store written before tool identities (``cards`` without ``identity``/``source``)
up to date, in one transaction, once.

Old stores slugged names as lower-case ASCII, so ``Café`` was stored as ``caf`` and every
non-Latin name (``Кодер``, ``编码器``) as ``tool`` -- all such tools in one slot, the card
row holding whichever was written last. The migration adds the two columns, records each
card's identity, and moves every review to the slug the new rule gives its own tool name
(``tool_name`` is in each record, so reviews that shared ``tool`` are told apart), with its
editor edits and its card (rebuilt from the review's provenance when the slot's card row
belonged to another tool). A move that would land on a slug held by a different identity
is not made: that tool keeps its old slug. ASCII names map to the same slug as before, so
most stores only gain the columns.

A later rule spells out names of symbols only (``🚀`` -> ``rocket``, was ``tool``); stores
written before it (``PRAGMA user_version`` below ``SLUG_RULE``) move those reviews the same
way, once.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from pydantic import ValidationError

from panel.contract.records import Edit, ReviewRecord
from panel.inputs.cards import ToolCard, normalize, slugify

# The slug rule a store was written under, in SQLite's ``user_version``: 0 before symbols
# were spelled out (every emoji-only name was ``tool``), 1 since.
SLUG_RULE = 1


def needs_migration(db: sqlite3.Connection) -> bool:
    cols = {row[1] for row in db.execute("PRAGMA table_info(cards)")}
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    return not {"identity", "source"} <= cols or version < SLUG_RULE


def migrate_cards(db: sqlite3.Connection) -> None:
    """Run inside the caller's transaction; does nothing on an up-to-date store."""
    if not needs_migration(db):
        return
    cols = {row[1] for row in db.execute("PRAGMA table_info(cards)")}
    if not {"identity", "source"} <= cols:
        _add_identities(db, cols)
    else:
        _spell_symbol_slugs(db)
    db.execute(f"PRAGMA user_version = {SLUG_RULE}")


def _add_identities(db: sqlite3.Connection, cols: set[str]) -> None:
    """A store from before identities: every review moves to its name's slug of today."""
    for col in ("identity", "source"):
        if col not in cols:
            db.execute(f"ALTER TABLE cards ADD COLUMN {col} TEXT")
    for tool, raw in db.execute("SELECT tool, card FROM cards").fetchall():
        card = _card(raw)
        if card is not None:
            db.execute("UPDATE cards SET identity=? WHERE tool=?", (card.identity, tool))
    for tool, name in _review_groups(db):
        new = slugify(name)
        if new != tool and not _taken(db, new, normalize(name)):
            _move(db, tool, name, new)


def _spell_symbol_slugs(db: sqlite3.Connection) -> None:
    """A store from before symbols were spelled out: the reviews of a name of symbols only
    (``🚀``, stored as ``tool``) move to its spelled slug (``rocket``). Only a group whose
    slug is what the old rule gave its name moves; a card with an ``id`` has its slug
    from the id and stays."""
    for tool, name in _review_groups(db, without_id=True):
        new = slugify(name)
        if tool == slugify(name, spell_symbols=False) != new and \
                not _taken(db, new, normalize(name)):
            _move(db, tool, name, new)


def _card(raw: str) -> ToolCard | None:
    try:
        return ToolCard.model_validate_json(raw)
    except ValidationError:
        return None


def _review_groups(db: sqlite3.Connection,
                   without_id: bool = False) -> list[tuple[str, str]]:
    """(stored slug, tool name) pairs of the reviews, in a stable order (``without_id``:
    only reviews of cards that have no ``id``)."""
    where = " WHERE json_extract(record, '$.provenance.card.id') IS NULL" if without_id else ""
    rows = db.execute("SELECT DISTINCT tool, json_extract(record, '$.tool_name') FROM reviews"
                      f"{where} ORDER BY tool, 2").fetchall()
    return [(tool, name) for tool, name in rows if isinstance(name, str) and name]


def _taken(db: sqlite3.Connection, slug: str, identity: str) -> bool:
    """Whether ``slug`` already belongs to another identity (card row or reviews)."""
    row = db.execute("SELECT identity FROM cards WHERE tool=?", (slug,)).fetchone()
    if row is not None and row[0] != identity:
        return True
    names = db.execute("SELECT DISTINCT json_extract(record, '$.tool_name') FROM reviews "
                       "WHERE tool=?", (slug,)).fetchall()
    return any(not isinstance(n, str) or normalize(n) != identity for (n,) in names)


def _move(db: sqlite3.Connection, old: str, name: str, new: str) -> None:
    """Move the reviews of tool ``name`` from slug ``old`` to ``new``, with edits and card."""
    identity = normalize(name)
    moved: list[dict[str, Any]] = []
    rows = db.execute("SELECT key, record FROM reviews WHERE tool=?", (old,)).fetchall()
    for key, raw in rows:
        rec = ReviewRecord.model_validate_json(raw)
        if normalize(rec.tool_name) != identity:
            continue
        db.execute("UPDATE reviews SET tool=?, record=? WHERE key=?",
                   (new, rec.model_copy(update={"tool": new}).model_dump_json(exclude={"edit"}),
                    key))
        moved.append({"key": key, "card": rec.provenance.get("card")})
    keys = {m["key"] for m in moved}
    for persona, model, raw in db.execute("SELECT persona, model, edit FROM edits WHERE tool=?",
                                          (old,)).fetchall():
        if Edit.model_validate_json(raw).key in keys:
            db.execute("UPDATE OR IGNORE edits SET tool=? WHERE tool=? AND persona=? AND model=?",
                       (new, old, persona, model))
    _move_card(db, old, new, identity, [m["card"] for m in moved])


def _move_card(db: sqlite3.Connection, old: str, new: str, identity: str,
               from_reviews: list[Any]) -> None:
    """The card row follows its tool; when the old row was another tool's, rebuild this
    tool's card from what its reviews recorded."""
    row = db.execute("SELECT identity FROM cards WHERE tool=?", (old,)).fetchone()
    if row is not None and row[0] == identity:
        db.execute("UPDATE OR IGNORE cards SET tool=? WHERE tool=?", (new, old))
        return
    if db.execute("SELECT 1 FROM cards WHERE tool=?", (new,)).fetchone():
        return
    for data in from_reviews:
        try:
            card = ToolCard.model_validate(data)
        except ValidationError:
            continue
        db.execute("INSERT INTO cards (tool, card, identity) VALUES (?,?,?)",
                   (new, card.model_dump_json(), identity))
        return

