"""Hand-built review records for tests of the pure statistics (no backend, no store), and a
copy of the project's data files for tests that change one."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path
from typing import Any

from panel.contract.output import ReviewOutput
from panel.contract.pairwise import Choice, PairOutput, PairRecord
from panel.contract.records import Attempt, ReviewRecord

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


def edit(path: Path, old: str, new: str) -> None:
    """Replace the first ``old`` in the file (which must hold it) with ``new``."""
    text = path.read_text()
    assert text.count(old) >= 1, old
    path.write_text(text.replace(old, new, 1))


def another_run_stores(ws: Any, job: Any, after_s: float) -> threading.Thread:
    """Another live run (this very process) claims ``job``'s key in ``ws``'s store now and,
    from a thread, stores the job's review (made by the registry's mock backend) ``after_s``
    after the run under test has stored its first review. Waiting for that, not for a fixed
    time, keeps the order the test is about on a loaded machine: a run that has not planned
    yet would find the review done and never wait for it (seen in CI at a fixed 0.5 s).
    Returns the started thread: join it."""
    from panel.backends import create_backend
    from panel.pipeline.retry import run_jobs
    from panel.store.sqlite import Store

    ws.store.claim([job.key], "other run")
    settings = ws.settings("mock")

    def finish_it() -> None:
        with Store(ws.output) as store:
            deadline = time.monotonic() + 120
            while store.count() == 0 and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(after_s)
            [done] = run_jobs([job], create_backend(settings.spec), settings)
            store.put(done, "other run")

    thread = threading.Thread(target=finish_it)
    thread.start()
    return thread


def rec(model: str, tool: str, persona: str, verdict: str | None, score: int | None,
        sample: int = 0, tokens: int = 10, seconds: float = 1.0) -> ReviewRecord:
    """A stored review; verdict None makes it a failed one."""
    out = None if verdict is None else ReviewOutput(
        reasoning="Notes before the score.", score=score or 0, verdict=verdict, review=REVIEW)
    return ReviewRecord(key=f"{model}-{tool}-{persona}-{sample}", tool=tool, tool_name=tool.title(),
                        persona=persona, persona_name=persona.title(), model=model, sample=sample,
                        status="ok" if out else "failed", output=out,
                        failure=None if out else "invalid reply",
                        attempts=[Attempt(seed=1, output_tokens=tokens, seconds=seconds)])


def pair_rec(first: str, second: str, persona: str, choice: Choice | None, model: str = "m",
             margin: int = 60, reason: str = "Clear pick here.", created_at: str | None = None,
             ) -> PairRecord:
    """A stored head-to-head judgment (``first`` shown first); choice None: a failed one."""
    out = None if choice is None else PairOutput(reason=reason, choice=choice, margin=margin)
    extra = {"created_at": created_at} if created_at else {}
    return PairRecord(key=f"{model}-{first}-{second}-{persona}", first=first,
                      first_name=first.title(), second=second, second_name=second.title(),
                      persona=persona, persona_name=persona.title(), model=model,
                      status="ok" if out else "failed", output=out,
                      failure=None if out else "invalid reply",
                      attempts=[Attempt(seed=1, output_tokens=20, seconds=0.5)], **extra)


def stub_ui_server(monkeypatch: Any) -> dict[str, Any]:
    """Make `panel ui` build a stub server that stops at once (as Ctrl-C would), so no
    socket is opened; returns what the CLI asked ``make_ui_server`` for (app, host, ...)."""
    import panel.publish.webapp

    made: dict[str, Any] = {}

    class Stub:
        server_port = 5000

        def serve_forever(self) -> None:
            raise KeyboardInterrupt

        def server_close(self) -> None:
            pass

    def stub(app: Any, host: str, port: int, **kw: Any) -> Stub:
        made.update(app=app, host=host, **kw)
        return Stub()

    monkeypatch.setattr(panel.publish.webapp, "make_ui_server", stub)
    return made
