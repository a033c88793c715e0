"""`panel verify` on the real CPU engine: a run of 8 reviews re-run in a fresh engine comes
out identical, 8 of 8; with the other dtype forced the report names the dtype.

Both runs happen in a process of their own, so each engine is in-process and gets the whole
batch before its first step. In the test session a second engine runs in vLLM's separate
core process, which starts scheduling as the first requests arrive: the batch's make-up,
and so on CPU its numbers, then follows the machine's load (seen: the other test lane
beside it changed 2 of 8 texts), which is no property of verify.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import EMBEDDED

CHILD = """
import json, sys
from pathlib import Path
sys.path.insert(0, sys.argv[2])
from panel.config.workspace import Workspace
from panel.pipeline.run import review_cards
from panel.research.verify import verify
from reproduce_batch import batch_cards
ws = Workspace(Path(sys.argv[1]))
summary = review_cards(ws, batch_cards(), sys.argv[3])  # its own engine, closed after
report = verify(ws, sample=8)
cond = report.conditions[sys.argv[3]]
other = "float32" if cond["recorded"]["dtype"] == "bfloat16" else "bfloat16"
forced = verify(ws, keys=[r.key for r in summary.records[:2]], dtype=other)
print(json.dumps({"n": len(summary.records), "ok": report.ok,
                  "checks": [c.model_dump() for c in report.checks], "cond": cond,
                  "other": other, "forced_now": forced.conditions[sys.argv[3]]["now"],
                  "forced": [c.differs for c in forced.checks]}, default=str))
"""


@pytest.mark.engine
def test_a_fresh_engine_reproduces_a_run_and_a_forced_dtype_is_named(
        tmp_path: Path, engine_project: Path) -> None:
    env = {**os.environ, "PANEL_HOME": str(engine_project)}
    env.pop("LD_PRELOAD", None)  # a fresh process, as a user's would be
    res = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path / "out"),
                          str(Path(__file__).resolve().parents[1]), EMBEDDED],
                         env=env, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    got = json.loads(res.stdout.strip().splitlines()[-1])
    assert got["n"] == 8
    checks = got["checks"]
    assert [c["identical"] for c in checks] == [True] * 8, checks
    assert got["ok"] and {c["status"] for c in checks} == {"ok->ok"}
    assert all(c["differs"] == [] and c["score_delta"] == 0 for c in checks)
    cond = got["cond"]
    assert cond["now"] == cond["recorded"] | {"weights": cond["now"]["weights"]}
    assert got["forced_now"]["dtype"] == got["other"]
    assert got["forced"] == [["dtype"], ["dtype"]]
