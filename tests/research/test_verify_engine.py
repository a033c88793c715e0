"""`panel verify` on the real CPU engine: a run of 8 reviews re-run in a fresh engine comes
out identical, 8 of 8; with the other dtype forced the report names the dtype."""

from __future__ import annotations

import pytest

from panel.config.workspace import Workspace
from panel.pipeline.run import review_cards
from panel.research.verify import verify

from conftest import EMBEDDED
from reproduce_batch import batch_cards


@pytest.mark.engine
def test_a_fresh_engine_reproduces_a_run_and_a_forced_dtype_is_named(ws: Workspace) -> None:
    summary = review_cards(ws, batch_cards(), EMBEDDED)  # its own engine, closed after
    assert len(summary.records) == 8
    report = verify(ws, sample=8)
    assert [c.identical for c in report.checks] == [True] * 8, report.checks
    assert report.ok and {c.status for c in report.checks} == {"ok->ok"}
    assert all(c.differs == [] and c.score_delta == 0 for c in report.checks)
    cond = report.conditions[EMBEDDED]
    assert cond["now"] == cond["recorded"] | {"weights": cond["now"]["weights"]}
    recorded = cond["recorded"]["dtype"]
    other = "float32" if recorded == "bfloat16" else "bfloat16"
    forced = verify(ws, keys=[r.key for r in summary.records[:2]], dtype=other)
    assert forced.conditions[EMBEDDED]["now"]["dtype"] == other
    assert [c.differs for c in forced.checks] == [["dtype"], ["dtype"]]
