"""Run one fixed 8-request batch (2 cards x 4 personas) on a fresh in-process engine and print
every attempt.

Used by test_reproducibility.py in two separate processes: a fresh engine each time is what
"the same engine and batch" means on CPU (see that test's docstring). Eight requests of
different lengths share every engine step, which is what could make a batch's results
depend on more than each request's own seed; a bigger batch adds time, not proof.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from panel.config.workspace import Workspace
from panel.inputs.cards import ToolCard, load_cards
from panel.pipeline.run import review_cards

ROOT = Path(__file__).resolve().parents[1]
CARDS = ("diffsage.yaml", "voicedesk.yaml")


def batch_cards() -> list[ToolCard]:
    return [c.card for c in load_cards([ROOT / "examples" / "tools" / n for n in CARDS])]


if __name__ == "__main__":
    ws = Workspace(output=Path(sys.argv[1]), root=ROOT)
    summary = review_cards(ws, batch_cards(), "smollm2-135m")
    print(json.dumps([{"key": r.key, "status": r.status, "score": r.score,
                       "attempts": [[a.seed, a.finish_reason, a.text] for a in r.attempts]}
                      for r in summary.records]))
