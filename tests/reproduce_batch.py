"""Run one fixed 40-request batch on a fresh in-process engine and print every attempt.

Used by test_reproducibility.py in two separate processes: a fresh engine each time is what
"the same engine and batch" means on CPU (see that test's docstring).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from panel.config.workspace import Workspace
from panel.inputs.cards import ToolCard, load_cards
from panel.pipeline.run import review_cards

ROOT = Path(__file__).resolve().parents[1]
EXTRA = [
    ("InboxZero", "Email triage that drafts replies", "Productivity", "freemium"),
    ("QueryPal", "Plain-English questions over a warehouse", "Data Infrastructure", "paid"),
    ("FormFox", "Forms that fill themselves from a document", "Productivity", "free"),
    ("ShipLog", "Changelogs written from merged pull requests", "Developer Tools", "freemium"),
]


def ten_cards() -> list[ToolCard]:
    cards = [c.card for c in load_cards([ROOT / "examples" / "tools"])]
    for name, tagline, category, entry in EXTRA:
        cards.append(ToolCard(name=name, tagline=tagline, category=category, entry=entry,
                              description=f"{name}: {tagline.lower()}, for small teams.",
                              pricing="Free tier; $8 per user per month"))
    return cards


if __name__ == "__main__":
    ws = Workspace(output=Path(sys.argv[1]), root=ROOT)
    summary = review_cards(ws, ten_cards(), "smollm2-135m")
    print(json.dumps([{"key": r.key, "status": r.status, "score": r.score,
                       "attempts": [[a.seed, a.finish_reason, a.text] for a in r.attempts]}
                      for r in summary.records]))
