"""What each page of the site is built from, read in a few set-based queries and hashed.

`panel site` skips a page whose fingerprint matches the one its last build recorded, so an
unchanged rebuild neither renders nor writes. A fingerprint covers everything the page
shows: the renderer (templates and the code that fills them), the model, the persona order,
the rubric; the tool's card; per stored review of the tool its key, status, creation time
and row id (a row is only ever replaced whole, by a re-run, a retry or a merge, which
brings a new time or row id; reading each record's size too cost 6x the query); the tool's
editor edits, whole; its votes file's size and modification time; and, for a comparison,
both tools' fingerprints and the pair's stored judgments. Reading these is one pass over
each table through a read-only connection, not one query per tool.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from panel.config.workspace import Workspace
from panel.verdict.community import VOTE_SUFFIXES

RENDERER = (Path(__file__).parent / "render", Path(__file__).parents[1] / "verdict")
"""Templates and the code that turns stored reviews into what a page shows."""


def digest(*parts: object) -> str:
    """A short hash of parts made of lists, tuples, strings, numbers and None (a
    fingerprint, not a store key): their ``repr`` is stable and a third of JSON's cost."""
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:32]


def renderer_hash() -> str:
    """Every template and renderer source file, so a new panel version rebuilds pages."""
    h = hashlib.sha256()
    for folder in RENDERER:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()
                           and p.suffix in (".py", ".j2", ".js")):
            h.update(path.relative_to(folder.parent).as_posix().encode())
            h.update(path.read_bytes())
    return h.hexdigest()[:32]


@dataclass
class SiteInputs:
    """Fingerprints of a site's inputs: per tool (card, reviews, edits, votes), per card,
    and per judged pair; ``common`` is what every page shares."""

    common: str
    tools: dict[str, str] = field(default_factory=dict)
    """Tools with a stored card and reviews by the model: their content fingerprint."""
    cards: dict[str, str] = field(default_factory=dict)
    pairs: dict[frozenset[str], str] = field(default_factory=dict)
    voted: set[str] = field(default_factory=set)
    """Tools with a votes file (only these are read)."""

    def for_tool(self, slug: str, pairs: Sequence[tuple[str, str]]) -> str:
        """A tool page's fingerprint: its content and the comparisons it links to (whose
        titles come from both tools)."""
        return digest(self.tools[slug], [(a, b, self.tools[a], self.tools[b])
                                         for a, b in pairs])

    def for_comparison(self, a: str, b: str) -> str:
        return digest(self.common, self.tools[a], self.tools[b],
                      self.pairs.get(frozenset((a, b)), ""))


def site_inputs(ws: Workspace, model: str, order: Sequence[str]) -> SiteInputs:
    """Fingerprint every tool reviewed by ``model`` in one pass over each store table."""
    common = digest(renderer_hash(), model, list(order),
                    ws.config.rubric.model_dump_json())
    inputs = SiteInputs(common)
    db = sqlite3.connect(f"{ws.store.path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        inputs.cards = {tool: digest(card) for tool, card in
                        db.execute("SELECT tool, card FROM cards")}
        reviews = grouped(db.execute(
            "SELECT tool, key, status, created_at, rowid FROM reviews "
            "WHERE model=? ORDER BY tool, rowid", (model,)))
        edits = grouped(db.execute("SELECT tool, persona, edit FROM edits WHERE model=? "
                                   "ORDER BY tool, persona", (model,)))
        inputs.pairs = {frozenset(k): digest(v) for k, v in grouped_pairs(db.execute(
            "SELECT first, second, key, status, created_at, rowid FROM pair_judgments "
            "WHERE model=? ORDER BY rowid", (model,))).items()}
    finally:
        db.close()
    votes = votes_stats(ws.output / "votes")
    inputs.voted = set(votes)
    for tool, rows in reviews.items():
        if tool in inputs.cards:
            inputs.tools[tool] = digest(common, inputs.cards[tool], rows,
                                        edits.get(tool, []), votes.get(tool))
    return inputs


def grouped(rows: Iterable[tuple[object, ...]]) -> dict[str, list[list[object]]]:
    """Rows keyed by their first column (the tool), the rest kept in query order."""
    out: dict[str, list[list[object]]] = {}
    for tool, *rest in rows:
        out.setdefault(str(tool), []).append(rest)
    return out


def grouped_pairs(rows: Iterable[tuple[object, ...]]) -> dict[tuple[str, str], list[object]]:
    """Judgment rows keyed by their pair, either tool shown first."""
    out: dict[tuple[str, str], list[object]] = {}
    for first, second, *rest in rows:
        a, b = str(first), str(second)
        out.setdefault((a, b) if a <= b else (b, a), []).append([a, b, *rest])
    return out


def votes_stats(folder: Path) -> dict[str, list[object]]:
    """Per tool slug, each of its votes files' name, size and mtime: one directory listing."""
    out: dict[str, list[object]] = {}
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return out
    for entry in sorted(entries, key=lambda e: e.name):
        stem, dot, suffix = entry.name.rpartition(".")
        if dot and f".{suffix}" in VOTE_SUFFIXES and entry.is_file():
            st = entry.stat()
            out.setdefault(stem, []).append([entry.name, st.st_size, st.st_mtime_ns])
    return out
