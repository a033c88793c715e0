"""Batch files: the pending reviews as OpenAI Batch JSONL requests, and their results back.

Whoever already runs inference somewhere (``vllm run-batch`` on a GPU box, a provider's
Batch API) can run the reviews there: ``export_requests`` writes one request line per
pending review, ``import_results`` reads what the runner wrote and treats each line
exactly as a live reply (``ReviewContract.check``: engine error, ``finish_reason``,
pydantic, rubric), and the next round's file asks again for the failed and missing keys.

Everything is keyed by content. A request's ``custom_id`` is its review's store key and
attempt number (``retry.request_id``), and its seed is the one the live path would use for
that attempt (``jobs.request_seed``), so an answer can only land under the key it was asked
for: import recomputes the plan from the same cards, and a ``custom_id`` outside it is
refused, never stored under another key. An attempt whose seed a stored record already
holds was imported before, so importing a file twice changes nothing, and results may come
in any order, whole or partial. A failed attempt is stored with the review (status failed,
every attempt kept) and the next round asks for the key's next attempt, until
``max_attempts``; a line the runner could not serve (429, 5xx, a body that is no chat
completion) is no attempt, as in the live path: it is reported and asked for again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from panel.backends.base import Backend, GenRequest, GenResult, OnResult
from panel.backends.openai_server import RETRY_STATUS, parse_completion
from panel.backends.vllm.batch_runner import ENGINE_TIME
from panel.backends.vllm.server import server_body
from panel.config.registry import ModelSpec
from panel.config.settings import ReviewSettings
from panel.config.workspace import Workspace
from panel.contract.records import ReviewRecord, now
from panel.errors import InputError, PanelError
from panel.hashing import json_sha
from panel.inputs.cards import InputTally
from panel.pipeline.batch import Shard, load_batch
from panel.pipeline.cost import Usage, apportion, work_tokens
from panel.pipeline.jobs import Job, request_seed
from panel.pipeline.retry import ReviewContract, make_attempt, request_id
from panel.pipeline.run import RunSummary, plan, write_manifest, write_panels
from panel.store.files import atomic_write
from panel.store.sqlite import Store

Flavor = Literal["vllm", "openai"]
FLAVORS: tuple[Flavor, ...] = ("vllm", "openai")
URL = "/v1/chat/completions"
MAX_LINES = 50_000
MAX_BYTES = 200_000_000
"""OpenAI's Batch API takes at most 50,000 requests and 200 MB a file."""
VLLM_ONLY = ("top_k", "repetition_penalty")
"""Sampling fields only vLLM takes; a hosted runner refuses a body that has them."""
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class Pending:
    """A review still to make, and the attempt to ask for (its seed follows from it)."""

    job: Job
    attempt: int
    prior: ReviewRecord | None = None
    """The stored failed review whose attempts came before, if any."""


def pending_jobs(jobs: Iterable[Job], store: Store) -> list[Pending]:
    """Every job not stored ok (or pinned by an edit), at its next attempt: the first
    attempt whose seed no stored attempt of the key has used."""
    unique = {j.key: j for j in jobs}
    done = store.done_keys(unique)
    out = []
    for key, job in unique.items():
        if key not in done:
            prior = store.get(key)
            out.append(Pending(job, next_attempt(key, prior), prior))
    return out


def next_attempt(key: str, prior: ReviewRecord | None) -> int:
    """The first attempt number whose seed ``prior`` has not tried."""
    seeds = {a.seed for a in prior.attempts} if prior else set()
    n = 0
    while request_seed(key, n) in seeds:
        n += 1
    return n


def served_model(spec: ModelSpec, flavor: Flavor) -> str:
    """The model name a request carries: the registry name, which `panel serve` and `panel
    models run-batch` serve under; for a hosted runner, the hub id it knows the model by."""
    return spec.name if flavor == "vllm" else spec.served_name


def request_line(pending: Pending, settings: ReviewSettings, flavor: Flavor) -> dict[str, Any]:
    """One OpenAI Batch request line, its body the live server path's (``server_body``).

    ``vllm`` keeps the review grammar as vLLM's ``structured_outputs`` (bounded like a live
    review); ``openai`` sends the JSON-schema twin as ``response_format`` and drops the
    sampling fields only vLLM takes."""
    req: GenRequest = ReviewContract(settings).request(pending.job, pending.attempt)
    if flavor == "openai":
        req = replace(req, grammar=None)
    body = server_body(req, served_model(settings.spec, flavor))
    if flavor == "openai":
        for name in VLLM_ONLY:
            body.pop(name, None)
    return {"custom_id": request_id(pending.job.key, pending.attempt), "method": "POST",
            "url": URL, "body": body}


@dataclass(frozen=True)
class RequestFile:
    """One written request file."""

    path: Path
    requests: int
    size: int
    sha256: str


@dataclass
class Export:
    """What an export wrote: its files and manifest, and how much of the plan is pending."""

    folder: Path
    files: list[RequestFile]
    manifest: Path | None
    planned: int
    requests: int

    @property
    def stored(self) -> int:
        return self.planned - self.requests


def split_lines(lines: Iterable[str], max_lines: int = MAX_LINES,
                max_bytes: int = MAX_BYTES) -> Iterator[list[str]]:
    """Group newline-terminated lines into files of at most ``max_lines`` lines and
    ``max_bytes`` bytes; a single line over ``max_bytes`` is an error (no runner takes it)."""
    chunk: list[str] = []
    size = 0
    for line in lines:
        n = len(line.encode("utf-8"))
        if n > max_bytes:
            raise PanelError(f"one request is {n} bytes, over the {max_bytes}-byte file limit")
        if chunk and (len(chunk) >= max_lines or size + n > max_bytes):
            yield chunk
            chunk, size = [], 0
        chunk.append(line)
        size += n
    if chunk:
        yield chunk


def export_requests(jobs: Sequence[Job], store: Store, settings: ReviewSettings,
                    folder: Path, flavor: Flavor = "vllm", max_lines: int = MAX_LINES,
                    max_bytes: int = MAX_BYTES,
                    only: Sequence[Pending] | None = None) -> Export:
    """Write the pending reviews of ``jobs`` (or ``only`` these) as request files in
    ``folder``, with a manifest; a folder that holds an export already is refused."""
    if flavor not in FLAVORS:
        raise InputError("--flavor", f"'{flavor}' is not one of {', '.join(FLAVORS)}")
    _fresh(folder)
    todo = pending_jobs(jobs, store) if only is None else list(only)
    lines = (json.dumps(request_line(p, settings, flavor), ensure_ascii=False) + "\n"
             for p in todo)
    files = []
    for n, chunk in enumerate(split_lines(lines, max_lines, max_bytes), 1):
        text = "".join(chunk)
        path = folder / f"requests-{n:03d}.jsonl"
        atomic_write(path, text)
        data = text.encode("utf-8")
        files.append(RequestFile(path, len(chunk), len(data), hashlib.sha256(data).hexdigest()))
    done = Export(folder, files, None, len({j.key for j in jobs}), len(todo))
    if files:
        done.manifest = _write_manifest(done, jobs, settings, flavor)
    return done


def _fresh(folder: Path) -> None:
    """Refuse a folder holding an earlier export: its files are never overwritten."""
    if (folder / MANIFEST).exists() or any(folder.glob("requests-*.jsonl")):
        raise InputError(str(folder), "holds an earlier export (manifest.json or "
                         "requests-*.jsonl); give a new folder, nothing is overwritten")


def _write_manifest(done: Export, jobs: Sequence[Job], settings: ReviewSettings,
                    flavor: Flavor) -> Path:
    """The manifest beside the files: what they ask, of which plan, under which model."""
    spec = settings.spec
    doc = {
        "format": "panel-batch-requests/1", "created_at": now(), "flavor": flavor,
        "model": spec.name, "served_model": served_model(spec, flavor),
        "identity": spec.identity(), "max_attempts": settings.max_attempts,
        "plan": {"reviews": done.planned, "pending": done.requests,
                 "keys_sha": json_sha(sorted({j.key for j in jobs}))},
        "files": [{"name": f.path.name, "requests": f.requests, "bytes": f.size,
                   "sha256": f.sha256} for f in done.files],
        "import": "panel batch CARDS --import RESULTS.jsonl... (the same cards, model, "
                  "personas and project)",
    }
    path = done.folder / MANIFEST
    atomic_write(path, json.dumps(doc, indent=2))
    return path


@dataclass(frozen=True)
class ResultLine:
    """One result line that answers a pending review: the reply as a live one would be."""

    job: Job
    attempt: int
    result: GenResult
    runner: dict[str, str]
    """What answered: the runner's line id, the response's model and fingerprint."""


@dataclass
class ImportReport:
    """What an import did, line by line, and what the next round asks."""

    files: list[Path]
    lines: int = 0
    stored: list[str] = field(default_factory=list)
    """Keys stored valid by this import."""
    failed: list[str] = field(default_factory=list)
    """'tool / persona: reason' of each failed attempt recorded."""
    written: list[str] = field(default_factory=list)
    """Keys of every review this import stored, valid or failed: what its cost covers."""
    already: int = 0
    """Lines whose answer a stored review already holds (an earlier import of the file)."""
    problems: list[InputError] = field(default_factory=list)
    pending: int = 0
    exhausted: list[str] = field(default_factory=list)
    """'tool / persona: reason' of keys failed ``max_attempts`` times: not asked again."""
    next_round: Export | None = None

    @property
    def ok(self) -> bool:
        """Every line was usable and every review is stored valid."""
        return not self.problems and not self.pending and not self.exhausted


def import_results(jobs: Sequence[Job], store: Store, settings: ReviewSettings,
                   files: Sequence[Path], next_folder: Path | None = None,
                   flavor: Flavor = "vllm") -> ImportReport:
    """Store every valid result of ``files`` for the plan ``jobs``, record each failed
    attempt, and write the next round (failed and missing keys, next seeds) to
    ``next_folder`` (default: ``next-round`` beside the first file)."""
    if not files:
        raise InputError("--import", "no results file given")
    if next_folder is not None:
        _fresh(next_folder)  # refused before anything is stored, not after
    plan = {j.key: j for j in jobs}
    report = ImportReport(list(files))
    seen: dict[str, str] = {}
    parsed = []
    for path in files:
        lines, problems, count = read_results(path, plan, seen,
                                              served_model(settings.spec, flavor))
        report.problems += problems
        report.lines += count
        parsed.append((path, lines))
    contract = ReviewContract(settings)
    for path, lines in parsed:
        shares = engine_shares(path, [rl.result for rl in lines])
        for rl, share in zip(lines, shares, strict=True):
            _settle(rl, share, store, contract, report)
    _next_round(jobs, store, settings, report, flavor,
                next_folder or free_folder(files[0].parent / "next-round"))
    return report


def _next_round(jobs: Sequence[Job], store: Store, settings: ReviewSettings,
                report: ImportReport, flavor: Flavor, folder: Path) -> None:
    """Ask again for what is not stored valid, unless a key is out of attempts."""
    todo = []
    for p in pending_jobs(jobs, store):
        tried = len(p.prior.attempts) if p.prior else 0
        if p.prior is not None and tried >= settings.max_attempts:
            report.exhausted.append(f"{_who(p.job)}: {p.prior.failure}")
        else:
            todo.append(p)
    report.pending = len(todo)
    if todo:
        report.next_round = export_requests(jobs, store, settings, folder, flavor, only=todo)


def free_folder(base: Path) -> Path:
    """``base``, or ``base-2``, ``base-3``...: the first that holds no export."""
    n, folder = 1, base
    while (folder / MANIFEST).exists() or any(folder.glob("requests-*.jsonl")):
        n += 1
        folder = base.with_name(f"{base.name}-{n}")
    return folder


def _settle(rl: ResultLine, share: float | None, store: Store, contract: ReviewContract,
            report: ImportReport) -> None:
    """Check one answer as a live reply and store it with every earlier attempt."""
    key, seed = rl.job.key, request_seed(rl.job.key, rl.attempt)
    prior = store.get(key)
    if key in store.done_keys([key]) or (prior and seed in {a.seed for a in prior.attempts}):
        report.already += 1
        return
    output, reason = contract.check(rl.job, rl.result)
    attempts = [*(prior.attempts if prior else []), make_attempt(rl.result, seed, reason)]
    record = contract.record(rl.job, output, reason, attempts, Runner(contract.settings.spec,
                                                                      rl.runner))
    if share is not None:
        before = prior.engine_seconds if prior else 0.0
        record = record.model_copy(update={"engine_seconds": round((before or 0.0) + share, 4)})
    store.put(record)
    report.written.append(key)
    if record.ok:
        report.stored.append(key)
    else:
        report.failed.append(f"{_who(rl.job)}: {reason}")


def _who(job: Job) -> str:
    return f"{job.card.slug} / {job.persona.key}"


class Runner(Backend):
    """The batch runner that answered a line, as the backend a record names: its answers
    arrive in files, so it is only asked what made them (``versions``), never to generate."""

    def __init__(self, spec: ModelSpec, facts: dict[str, str]):
        super().__init__(spec)
        self.facts = facts

    def generate(self, requests: Sequence[GenRequest],
                 on_result: OnResult | None = None) -> list[GenResult]:
        raise PanelError("a batch runner's results are imported from files, not generated")

    def versions(self) -> dict[str, str]:
        return dict(self.facts)


def engine_shares(path: Path, results: Sequence[GenResult]) -> list[float | None]:
    """Each line's share of the engine time recorded beside ``path`` (by tokens; `panel
    models run-batch` records it), or None for every line when there is none (a hosted
    runner's results)."""
    meta = path.with_name(path.name + ENGINE_TIME)
    try:
        seconds = float(json.loads(meta.read_text(encoding="utf-8"))["engine_seconds"])
    except (OSError, ValueError, KeyError, TypeError):
        return [None] * len(results)
    weights = [work_tokens(r.prompt_tokens, r.cached_tokens, r.output_tokens) for r in results]
    return list(apportion(weights, seconds))


def read_results(path: Path, plan: dict[str, Job], seen: dict[str, str],
                 model: str) -> tuple[list[ResultLine], list[InputError], int]:
    """The usable lines of one results file, and a problem (file, line) for every other:
    malformed or truncated JSON, an unknown or duplicate ``custom_id``, an error line, a
    body that is no chat completion, an answer from another model (a hosted runner may
    name a dated snapshot of the one asked: ``NAME-2024-07-18``). ``seen`` maps each
    ``custom_id`` read so far (in any file) to where. The third value counts the file's
    non-blank lines."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        return [], [InputError(str(path), f"cannot read: {exc.strerror or exc}")], 0
    raw_lines = data.split(b"\n")
    lines: list[ResultLine] = []
    problems: list[InputError] = []
    count = 0
    for n, raw in enumerate(raw_lines, 1):
        if not raw.strip():
            continue
        count += 1
        truncated = n == len(raw_lines)  # the last piece has no newline after it
        try:
            obj = json.loads(raw)
        except ValueError as exc:
            why = ("truncated: the file ends inside this line" if truncated
                   else f"malformed JSON ({str(exc).split(':')[0]})")
            problems.append(InputError(str(path), why, line=n))
            continue
        line, problem = parse_line(obj, plan, seen, model, f"{path}:{n}")
        if problem:
            problems.append(InputError(str(path), problem, line=n))
        if line:
            lines.append(line)
    return lines, problems, count


def parse_line(obj: Any, plan: dict[str, Job], seen: dict[str, str], model: str,
               where: str) -> tuple[ResultLine | None, str | None]:
    """One parsed result line: the answer it carries (if it is an attempt), and the
    problem to report (if any). An error line the runner could not serve is no attempt."""
    if not isinstance(obj, dict):
        return None, "not a JSON object"
    cid = obj.get("custom_id")
    if not isinstance(cid, str):
        return None, "field 'custom_id' missing or not a string"
    target = _target(cid, plan)
    if target is None:
        return None, (f"unknown custom_id {cid[:80]!r}: no pending review of these cards, "
                      "personas, model and settings has it")
    if cid in seen:
        return None, f"duplicate custom_id {cid!r} (first at {seen[cid]}); ignored"
    seen[cid] = where
    job, attempt = target
    response = obj.get("response")
    response = response if isinstance(response, dict) else {}
    status, body = response.get("status_code"), response.get("body")
    facts = {"runner": "batch-file", "line_id": str(obj.get("id"))[:200]}
    if obj.get("error") is not None or status != 200 or not isinstance(body, dict):
        why = _error_text(obj.get("error"), status)
        if isinstance(status, int) and status not in RETRY_STATUS and status != 200:
            res = GenResult(id=cid, error=why)  # the request's fault: an attempt, as live
            return ResultLine(job, attempt, res, facts), f"{cid}: {why}; a failed attempt"
        return None, f"{cid}: {why}; the runner's failure, not an attempt: asked again"
    answered = body.get("model")
    if not isinstance(answered, str) or not (answered == model
                                             or answered.startswith(model + "-")):
        return None, (f"{cid}: answered by model {str(answered)[:80]!r}, not {model!r}; "
                      "not stored")
    try:
        result = parse_completion(cid, body)
    except ValueError as exc:
        return None, f"{cid}: response body: {exc}; asked again"
    facts.update(model=answered, system_fingerprint=str(body.get("system_fingerprint"))[:200])
    return ResultLine(job, attempt, result, facts), None


def _target(cid: str, plan: dict[str, Job]) -> tuple[Job, int] | None:
    """The job and attempt a ``custom_id`` names, if it is ``KEY#N`` with KEY planned."""
    key, sep, number = cid.rpartition("#")
    if not sep or key not in plan or not (number.isascii() and number.isdigit()) \
            or len(number) > 3:
        return None
    return plan[key], int(number)


def _error_text(error: Any, status: Any) -> str:
    """An error line's reason in one line: the status and the runner's message."""
    if isinstance(error, dict) and isinstance(error.get("error"), dict):
        error = error["error"]  # vLLM's ErrorResponse: {"error": {"message": ...}}
    message = error.get("message") if isinstance(error, dict) else error
    text = " ".join(str(message).split())[:300] if message is not None else "no body"
    return f"error line (status {status}): {text}"


@dataclass
class Planned:
    """A batch's plan: the workspace, the settings, every job of the input's valid cards,
    and what the input skipped (each bad card with its file and line)."""

    ws: Workspace
    settings: ReviewSettings
    jobs: list[Job]
    card_errors: list[InputError]
    tally: InputTally


def plan_batch(inputs: Sequence[str | Path], output: Path = Path("outputs"),
               model: str | None = None, personas: list[str] | None = None,
               dtype: str | None = None) -> Planned:
    """Load the cards as `panel batch` does (bad ones reported and skipped) and plan
    every persona's review of each: an export and its import compute the same plan."""
    ws = Workspace(output, dtype=dtype)
    tally = InputTally()
    cards, errors = load_batch(inputs, Shard(), ws.store, tally)
    for item in cards:
        ws.store.put_card(item.card.slug, item.card.model_dump_json())
    jobs = plan(ws, [c.card for c in cards], model, personas)
    return Planned(ws, ws.settings(model), jobs, errors, tally)


def record_import(planned: Planned, report: ImportReport) -> RunSummary:
    """Panels and a run manifest for the plan after an import, as a live run writes them;
    the manifest's cost covers the reviews this import stored."""
    ws = planned.ws
    records = [r for r in (ws.store.get(j.key) for j in planned.jobs) if r is not None]
    summary = RunSummary(records, reviewed=len(report.stored),
                         card_errors=planned.card_errors,
                         usage=Usage.of([r for r in records if r.key in set(report.written)]))
    write_panels(ws, summary)
    summary.manifest = write_manifest(ws, summary, planned.settings.spec.name)
    return summary
