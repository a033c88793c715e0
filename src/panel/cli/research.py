"""What the research commands do (study, agreement, jury, evaluate), as functions that print.

Kept apart from commands.py so the CLI stays a parser and the statistics modules stay pure.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import click

from panel.config.workspace import Workspace
from panel.pipeline.run import Progress


def _progress_for(show: bool) -> Callable[[str], Progress] | None:
    """A progress counter per model on stderr, so a long study shows which engine runs."""
    if not show:
        return None

    def factory(model: str) -> Progress:
        def report(done: int, total: int) -> None:
            click.echo(f"\r{model}: {done}/{total}", err=True, nl=done >= total)
        return report
    return factory


def study(output: Path, models: Sequence[str] | None, cards: Sequence[str],
          study_file: Path | None, name: str | None, personas: list[str] | None,
          samples: int, progress: bool = True) -> None:
    """`panel study`: run the study, then print its agreement report."""
    from panel.research.study import load_study, manifest_path, run_study, study_from_options

    if study_file:
        spec = load_study(study_file)
    elif models and cards:
        spec = study_from_options(models, cards, name, personas, samples)
    else:
        raise click.UsageError("give --models A,B and CARDS, or --file STUDY.yaml")
    ws = Workspace(output)
    doc = run_study(ws, spec, progress=_progress_for(progress))
    for model, run in doc["runs"].items():
        click.echo(f"{model}: reviewed {run['reviewed']}, reused {run['reused']}, "
                   f"failed {run['failed']} ({run['wall_s']:g} s)")
    click.echo(f"wrote {manifest_path(ws, spec.name)}")
    agreement(output, spec.name)


def agreement(output: Path, study_name: str, figure_format: str = "png") -> None:
    """`panel agreement STUDY`: the table on stdout; JSON, CSV and the figure on disk."""
    from panel.cli.tables import format_table
    from panel.research.agreement import agreement_report
    from panel.research.report import write_report
    from panel.research.study import load_manifest, study_folder, study_records, wall_seconds

    ws = Workspace(output)
    manifest = load_manifest(ws, study_name)
    report = agreement_report(manifest["name"], study_records(ws, manifest),
                              manifest["personas"], wall_seconds(manifest))
    click.echo(format_table(report))
    for path in write_report(report, study_folder(ws, manifest["name"]), figure_format):
        click.echo(f"wrote {path}")


def jury(output: Path, study_name: str) -> None:
    """`panel jury STUDY`: every persona judged by every backbone of the study, combined."""
    from panel.cli.tables import jury_table
    from panel.research.study import load_manifest, study_records
    from panel.verdict.jury import jury as combine

    ws = Workspace(output)
    manifest = load_manifest(ws, study_name)
    juries = combine(study_records(ws, manifest), ws.config.rubric, manifest["personas"])
    click.echo(f"Jury of {', '.join(manifest['runs'])} (majority verdict, mean score; "
               "ties by mean score)")
    click.echo(jury_table(juries, manifest["personas"]))


def evaluate(output: Path, reference: Path, model: str | None, study_name: str | None) -> None:
    """`panel evaluate REFERENCE.jsonl`: metrics on stdout; JSON and CSV on disk."""
    from panel.cli.tables import format_eval
    from panel.research.evaluate import evaluate as run

    report, paths = run(Workspace(output), reference, model, study_name)
    click.echo(format_eval(report))
    for path in paths:
        click.echo(f"wrote {path}")
