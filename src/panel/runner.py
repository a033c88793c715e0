"""The pipeline, end to end: cards -> jobs -> (store hit | backend) -> store -> panels.

One function per user-facing job. The CLI, the web app and the benchmarks call these, so
the rules (reuse stored reviews unless forced; store every review the moment it exists;
write a manifest beside the results) hold whichever door a user comes in by.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from panel.backends import Backend, create_backend
from panel.cards import ToolCard
from panel.errors import InputError
from panel.files import atomic_write
from panel.panel import Comparison, PanelVerdict, compare, panel_verdict
from panel.records import ReviewRecord, now
from panel.review import Job, make_job, run_jobs
from panel.workspace import Workspace

Progress = Callable[[int, int], None]
"""Called with (done, total) reviews as work completes."""


@dataclass
class RunSummary:
    """What a run did: counts for the closing table, and every record it covers."""

    records: list[ReviewRecord]
    reviewed: int = 0
    reused: int = 0
    card_errors: list[InputError] = field(default_factory=list)
    unavailable: list[str] = field(default_factory=list)
    """'tool / persona: reason' of each review the server could not make (none stored)."""
    seconds: float = 0.0
    manifest: Path | None = None

    @property
    def failed(self) -> list[ReviewRecord]:
        return [r for r in self.records if not r.ok]

    def panels(self, ws: Workspace) -> list[PanelVerdict]:
        """One panel verdict per tool, in input order."""
        by_tool: dict[str, list[ReviewRecord]] = {}
        for r in self.records:
            by_tool.setdefault(r.tool, []).append(r)
        return [panel_verdict(rs, ws.config.rubric) for rs in by_tool.values()]


def plan(ws: Workspace, cards: Sequence[ToolCard], model: str | None = None,
         personas: list[str] | None = None, samples: Sequence[int] = (0,)) -> list[Job]:
    """Every persona x card (x sample) job, in a stable order."""
    settings = ws.settings(model)
    people = ws.personas(personas)
    return [make_job(c, p, settings, s) for c in cards for p in people for s in samples]


def review_cards(ws: Workspace, cards: Sequence[ToolCard], model: str | None = None,
                 personas: list[str] | None = None, force: bool = False,
                 samples: Sequence[int] = (0,), backend: Backend | None = None,
                 progress: Progress | None = None) -> RunSummary:
    """Review cards, reusing stored reviews; start an engine only if there is work."""
    started = time.perf_counter()
    settings = ws.settings(model)
    jobs = plan(ws, cards, model, personas, samples)
    stored = set() if force else ws.store.keys(j.key for j in jobs)
    todo = [j for j in jobs if j.key not in stored]
    for card in cards:
        ws.store.put_card(card.slug, card.model_dump_json())
    done = len(jobs) - len(todo)
    unavailable: list[str] = []
    if progress:
        progress(done, len(jobs))
    if todo:
        def on_record(record: ReviewRecord) -> None:
            nonlocal done
            ws.store.put(record)
            done += 1
            if progress:
                progress(done, len(jobs))

        engine = backend or create_backend(settings.spec)
        try:
            run_jobs(todo, engine, settings, on_record=on_record, on_unavailable=lambda j, why:
                     unavailable.append(f"{j.card.slug} / {j.persona.key}: {why}"))
        finally:
            if backend is None:
                engine.close()
    records = [r for r in (ws.store.get(j.key) for j in jobs) if r is not None]
    summary = RunSummary(records, reviewed=len(todo) - len(unavailable),
                         reused=len(jobs) - len(todo), unavailable=unavailable,
                         seconds=round(time.perf_counter() - started, 2))
    write_panels(ws, summary)
    summary.manifest = write_manifest(ws, summary, model)
    return summary


def write_panels(ws: Workspace, summary: RunSummary) -> list[Path]:
    """One JSON file per tool and model: the tool's whole current panel, as its pages show it.

    A run of one persona (``--personas``, ``panel regenerate``) rewrites the file with every
    persona's latest review (an editor's pinned one first), not just the persona it ran.
    """
    from panel.pages import tool_page  # noqa: PLC0415 - pages imports the renderers' data
    from panel.paths import child  # noqa: PLC0415

    folder = ws.output / "panels"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for tool, model in dict.fromkeys((r.tool, r.model) for r in summary.records):
        page = tool_page(ws, tool, model)
        doc = {"tool": page.card.model_dump(mode="json"), "model": model,
               "panel": page.panel.model_dump(),
               "reviews": [r.model_dump(mode="json") for r in page.reviews]}
        path = child(folder, f"{tool}.{model}", ".json", field="panel")
        atomic_write(path, json.dumps(doc, indent=2, ensure_ascii=False))
        paths.append(path)
    return paths


def write_manifest(ws: Workspace, summary: RunSummary, model: str | None) -> Path:
    """A self-describing record of the run: config, hashes, model spec, counts."""
    from panel.paths import child  # noqa: PLC0415
    spec = ws.settings(model).spec
    doc = {
        "created_at": now(), "model": spec.model_dump(mode="json"),
        "config": ws.config.model_dump(), "templates": ws.prompts.hashes,
        "personas": {p.key: p.sha for p in ws.personas()},
        "counts": {"reviews": len(summary.records), "reviewed": summary.reviewed,
                   "reused": summary.reused, "failed": len(summary.failed),
                   "card_errors": len(summary.card_errors),
                   "unavailable": len(summary.unavailable)},
        "keys": [r.key for r in summary.records], "seconds": summary.seconds,
    }
    folder = ws.output / "runs"
    folder.mkdir(parents=True, exist_ok=True)
    path = child(folder, f"{time.strftime('%Y%m%dT%H%M%S')}-{spec.name}", ".json", field="model")
    atomic_write(path, json.dumps(doc, indent=2))
    return path


def compare_cards(ws: Workspace, a: ToolCard, b: ToolCard, model: str | None = None,
                  personas: list[str] | None = None, backend: Backend | None = None,
                  progress: Progress | None = None) -> tuple[Comparison, list[Path]]:
    """Review both tools (reusing stored reviews) and write the comparison JSON + Markdown."""
    from panel.paths import child  # noqa: PLC0415
    from panel.render.markdown import comparison_markdown  # noqa: PLC0415
    from panel.votes import load_votes  # noqa: PLC0415

    summary = review_cards(ws, [a, b], model, personas, backend=backend, progress=progress)
    # What the pages show: per persona the editor's pinned review, else the newest sample.
    asked = {r.persona for r in summary.records}
    name = ws.settings(model).spec.name
    recs_a = [r for r in ws.store.latest(a.slug, name) if r.persona in asked]
    recs_b = [r for r in ws.store.latest(b.slug, name) if r.persona in asked]
    comp = compare(recs_a, recs_b, ws.config.rubric, ws.persona_order())
    votes = (load_votes(ws.output / "votes", a.slug), load_votes(ws.output / "votes", b.slug))
    folder = ws.output / "compare"
    folder.mkdir(parents=True, exist_ok=True)
    json_path, md_path = (child(folder, f"{a.slug}-vs-{b.slug}", s, field="compare")
                          for s in (".json", ".md"))
    doc = {"title": comp.title, "cards": {"a": a.model_dump(mode="json"),
                                          "b": b.model_dump(mode="json")},
           **comp.model_dump(mode="json")}
    atomic_write(json_path, json.dumps(doc, indent=2, ensure_ascii=False))
    atomic_write(md_path, comparison_markdown(comp, a, b, votes=votes))
    return comp, [json_path, md_path]


