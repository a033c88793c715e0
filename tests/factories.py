"""Hand-built review records for tests of the pure statistics (no backend, no store), and a
copy of the project's data files for tests that change one."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path
from typing import Any

REVIEW = "Tool does one thing well here. It is reviewed for the test."


def copy_project(root: Path, models: bool = True) -> Path:
    """``root`` holding a copy of the project's personas, prompts and panel.yaml, and its
    models.yaml unless ``models`` is False (the test writes its own): a project a test may
    change without touching the checkout."""
    source = Path(__file__).resolve().parents[1]  # the checkout, whatever PANEL_HOME says
    for name in ("personas", "prompts"):
        shutil.copytree(source / name, root / name)
    for name in ("panel.yaml", "models.yaml") if models else ("panel.yaml",):
        shutil.copy(source / name, root / name)
    return root


def another_run_stores(ws: Any, job: Any, after_s: float) -> threading.Thread:
    """Another live run (this very process) claims ``job``'s key in ``ws``'s store now and,
    from a thread, stores the job's review (made by the mock backend) ``after_s`` later.
    Returns the started thread: join it."""
    from panel.backends.mock import MockBackend
    from panel.pipeline.retry import run_jobs
    from panel.store.sqlite import Store

    ws.store.claim([job.key], "other run")
    settings = ws.settings("mock")

    def finish_it() -> None:
        time.sleep(after_s)
        with Store(ws.output) as store:
            [done] = run_jobs([job], MockBackend(settings.spec), settings)
            store.put(done, "other run")

    thread = threading.Thread(target=finish_it)
    thread.start()
    return thread
