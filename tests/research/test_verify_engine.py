"""`panel verify` on the real CPU engine, and with it reproducibility across processes: a
run of 8 reviews made in one fresh process is re-run by verify in another, identical 8 of
8, token for token; with the other dtype forced the report names the dtype.

Each step runs in a process of its own, so its engine is in-process and gets the whole
batch before its first step. In the test session a second engine runs in vLLM's separate
core process, which starts scheduling as the first requests arrive: the batch's make-up,
and so on CPU its numbers, then follows the machine's load (seen: the other test lane
beside it changed 2 of 8 texts), which is no property of verify.

Two processes, not one: anything a process draws once (hash seeds, a global RNG, the
order of a set) that leaked into a reply would still repeat inside one process. This is
the suite's cross-process reproducibility test (tests/pipeline/test_reproducibility.py has
the provenance half); it replaced a second, separate pair of fresh-engine runs of the same
batch (34 s of the engine lane).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import EMBEDDED, ROOT

VERIFY = """
import json, sys
from pathlib import Path
from panel.config.workspace import Workspace
from panel.research.verify import verify
ws = Workspace(Path(sys.argv[1]))
report = verify(ws, sample=8)
cond = report.conditions[sys.argv[2]]
other = "float32" if cond["recorded"]["dtype"] == "bfloat16" else "bfloat16"
keys = [c.key for c in report.checks[:2]]
forced = verify(ws, keys=keys, dtype=other)
print(json.dumps({"ok": report.ok, "checks": [c.model_dump() for c in report.checks],
                  "cond": cond, "other": other,
                  "forced_now": forced.conditions[sys.argv[2]]["now"],
                  "forced": [c.differs for c in forced.checks]}, default=str))
"""


def child(args: list[str], engine_project: Path) -> object:
    """The last stdout line of ``python ARGS`` in a fresh process on the engine project,
    as JSON."""
    env = {**os.environ, "PANEL_HOME": str(engine_project)}
    env.pop("LD_PRELOAD", None)  # a fresh process, as a user's would be
    res = subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True,
                         timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


@pytest.mark.engine
@pytest.mark.engine_apart
def test_a_run_reproduces_in_a_fresh_process_and_a_forced_dtype_is_named(
        tmp_path: Path, engine_project: Path) -> None:
    out = str(tmp_path / "out")
    run = child([str(ROOT / "tests" / "reproduce_batch.py"), out], engine_project)
    assert isinstance(run, list) and len(run) == 8
    assert [r["status"] for r in run] == ["ok"] * 8
    assert {reason for r in run for _, reason, _ in r["attempts"]} == {"stop"}

    got = child(["-c", VERIFY, out, EMBEDDED], engine_project)
    assert isinstance(got, dict)
    checks = got["checks"]
    assert sorted(c["key"] for c in checks) == sorted(r["key"] for r in run)
    assert [c["identical"] for c in checks] == [True] * 8, checks  # every attempt's text
    assert got["ok"] and {c["status"] for c in checks} == {"ok->ok"}
    assert all(c["differs"] == [] and c["score_delta"] == 0 for c in checks)
    cond = got["cond"]
    assert cond["now"] == cond["recorded"] | {"weights": cond["now"]["weights"]}
    assert got["forced_now"]["dtype"] == got["other"]
    assert got["forced"] == [["dtype"], ["dtype"]]
