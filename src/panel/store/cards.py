"""The cards reviews were made from, and which tool holds each slug.

A slug names one tool identity for the life of a store: pages and keys are by slug, so a
second card that slugs the same is refused here, in the transaction that would write it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from panel.errors import InputError
from panel.inputs.cards import ToolCard, slug_taken
from panel.store.connection import Connection, StoreBase

CardOwner = tuple[str | None, str | None, str]
"""(identity, source file, card JSON) of the tool holding a slug."""
CardRow = tuple[str, str, str, str | None]
"""(slug, identity, card JSON, source file) of a card to register."""


class CardsMixin(StoreBase):
    """The ``cards`` table: one card per slug, with its identity and source file."""

    def put_card(self, tool: str, card_json: str, source: str | None = None) -> None:
        """Remember the card a tool's reviews were made from (pages need it); refused
        (InputError) when the slug belongs to another tool (see ``register_card``)."""
        card = ToolCard.model_validate_json(card_json)
        self.register_card(tool, card.identity, card_json, source)

    def card_owner(self, tool: str) -> CardOwner | None:
        """(identity, source file, card JSON) of the tool holding this slug, if any."""
        row = self._db.execute("SELECT identity, source, card FROM cards WHERE tool=?",
                               (tool,)).fetchone()
        return (row[0], row[1], row[2]) if row else None

    def register_card(self, tool: str, identity: str, card_json: str,
                      source: str | None = None) -> None:
        """Record that slug ``tool`` is ``identity``'s, read from ``source``. A slug held by
        another identity is never shared: InputError naming the stored card's source, and
        nothing is written (check and write are one transaction)."""
        self.register_cards([(tool, identity, card_json, source)], strict=True)

    def card_owners(self, tools: Iterable[str],
                    db: Connection | None = None) -> dict[str, CardOwner]:
        """``card_owner`` of every stored slug among ``tools``, by sets of 500."""
        return {t: (i, src, c) for t, i, src, c in
                self._select_keys(tools, "tool, identity, source, card", "cards", "tool", db)}

    def register_cards(self, cards: Sequence[CardRow],
                       strict: bool = False) -> list[tuple[CardRow, CardOwner]]:
        """``register_card`` for many cards in one transaction: a card whose slug another
        identity holds is not written, and comes back with that holder for the caller to
        report (``strict``: the first such card raises its InputError and nothing is
        written); an unchanged row is not rewritten (a resumed batch writes no card)."""
        refused: list[tuple[CardRow, CardOwner]] = []
        with self._tx() as db:
            owners = self.card_owners((c[0] for c in cards), db)
            fresh = []
            for row in cards:
                held = owners.get(row[0])
                if held is not None and held[0] is not None and held[0] != row[1]:
                    if strict:
                        raise slug_refusal(row, held)
                    refused.append((row, held))
                elif (held is None or held[0] != row[1] or held[2] != row[2]
                      or (held[1] is None and row[3] is not None)):
                    fresh.append(row)
                    owners[row[0]] = (row[1], row[3], row[2])
            db.executemany("INSERT INTO cards (tool, identity, card, source) VALUES (?,?,?,?) "
                           "ON CONFLICT(tool) DO UPDATE SET card=excluded.card, "
                           "identity=excluded.identity, source=coalesce(cards.source, "
                           "excluded.source)", fresh)
        return refused

    def card_json(self, tool: str) -> str | None:
        """The stored card of a tool, as JSON, or None."""
        row = self._db.execute("SELECT card FROM cards WHERE tool=?", (tool,)).fetchone()
        return row[0] if row else None


def slug_refusal(row: CardRow, held: CardOwner) -> InputError:
    """The error for registering ``row`` on a slug ``held`` by another tool."""
    mine = row[3] or f"card '{ToolCard.model_validate_json(row[2]).name}'"
    return slug_taken(mine, row[0], held[1], held[2])
