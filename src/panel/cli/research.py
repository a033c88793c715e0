"""`panel study`, `panel agreement`, `panel jury`, `panel evaluate`: backbones compared;
`panel audit`: their biases; `panel calibrate`: their verdicts against the editors'."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from panel.cli.options import (
    echo_paths,
    model_option,
    output_option,
    personas_option,
    split,
    user_errors,
)
from panel.cli.tables import (
    audit_table,
    calibration_table,
    ceiling_line,
    format_eval,
    format_table,
    held_out_table,
    jury_size_table,
    jury_table,
)
from panel.config.workspace import Workspace
from panel.pipeline.run import Progress


def _progress_per_model(model: str) -> Progress:
    """A progress counter per model on stderr, so a long study shows which engine runs."""
    def report(done: int, total: int) -> None:
        click.echo(f"\r{model}: {done}/{total}", err=True, nl=done >= total)
    return report


@click.command()
@click.argument("cards", nargs=-1)
@click.option("--models", default=None, metavar="A,B",
              help="Backbones to compare (registry names), run one engine at a time.")
@click.option("--file", "study_file", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="A study YAML (name, models, cards, personas, samples).")
@click.option("--name", default=None, help="Study name (default: the models joined by -vs-).")
@click.option("--samples", "-k", default=1, show_default=True, type=click.IntRange(1, 50),
              help="Samples per persona x card, each with its own seed (self-consistency).")
@personas_option
@output_option
@user_errors
def study(cards: tuple[str, ...], models: str | None, study_file: Path | None,
          name: str | None, samples: int, personas: str | None, output: Path) -> None:
    """Run the same cards through several backbones; store them side by side and report."""
    from panel.research.study import manifest_path, study_files

    ws = Workspace(output)
    progress: Callable[[str], Progress] = _progress_per_model
    spec, doc = study_files(ws, study_file=study_file, models=split(models), cards=cards,
                            name=name, personas=split(personas), samples=samples,
                            progress=progress)
    for model, run in doc["runs"].items():
        click.echo(f"{model}: reviewed {run['reviewed']}, reused {run['reused']}, "
                   f"failed {run['failed']} ({run['wall_s']:g} s)")
    click.echo(f"wrote {manifest_path(ws, spec.name)}")
    _agreement(ws, spec.name, "png")


@click.command()
@click.argument("study_name", metavar="STUDY")
@click.option("--format", "figure_format", type=click.Choice(["png", "svg"]), default="png",
              show_default=True, help="Figure format.")
@output_option
@user_errors
def agreement(study_name: str, figure_format: str, output: Path) -> None:
    """Agreement between a study's backbones: table, CSV/JSON and a figure."""
    _agreement(Workspace(output), study_name, figure_format)


def _agreement(ws: Workspace, study_name: str, figure_format: str) -> None:
    """The table on stdout; JSON, CSV and the figure on disk (`study` ends with it too)."""
    from panel.research.study import study_agreement

    report, paths = study_agreement(ws, study=study_name, figure_format=figure_format)
    click.echo(format_table(report))
    echo_paths(paths)


@click.command()
@click.argument("study_name", metavar="STUDY")
@click.option("--reference", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="A reference JSONL: adds each persona's backbone error correlation and "
                   "effective number of judges (Kish).")
@output_option
@user_errors
def jury(study_name: str, reference: Path | None, output: Path) -> None:
    """Combine a study's backbones per persona (majority verdict, mean score)."""
    from panel.research.jury_size import study_jury

    backbones, juries, personas, sizes = study_jury(Workspace(output), study=study_name,
                                                    reference=reference)
    click.echo(f"Jury of {', '.join(backbones)} (majority verdict, mean score; "
               "ties by mean score)")
    click.echo(jury_table(juries, personas))
    if sizes:
        click.echo(jury_size_table(sizes))


@click.command()
@click.argument("reference", type=click.Path(dir_okay=False, path_type=Path))
@model_option
@click.option("--study", "study_name", default=None,
              help="Evaluate this study's reviews (all samples) rather than the newest stored.")
@output_option
@user_errors
def evaluate(reference: Path, model: str | None, study_name: str | None, output: Path) -> None:
    """Compare a backbone's stored verdicts and scores with a reference JSONL."""
    from panel.research.evaluate import evaluate as run_evaluation

    report, paths = run_evaluation(Workspace(output), reference_path=reference, model=model,
                                   study=study_name)
    click.echo(format_eval(report))
    echo_paths(paths)


@click.command()
@click.argument("cards", nargs=-1, required=True)
@click.option("--models", required=True, metavar="A,B",
              help="Backbones to audit (registry names), run one engine at a time.")
@click.option("--name", default=None,
              help="Audit name: files under OUTPUT/audits/NAME/ (default: the models joined "
                   "by _).")
@click.option("--samples", "-k", default=1, show_default=True, type=click.IntRange(1, 50),
              help="Samples per persona x card and perturbation, each with its own seed.")
@click.option("--biases", default=None, metavar="A,B",
              help="Which to measure: position, verbosity, name, injection (default: all).")
@personas_option
@output_option
@user_errors
def audit(cards: tuple[str, ...], models: str, name: str | None, samples: int,
          biases: str | None, personas: str | None, output: Path) -> None:
    """Bias audit: position, verbosity, name and injection per persona x backbone."""
    from panel.research.audit import audit_files

    report, paths = audit_files(Workspace(output), models=split(models) or [], cards=cards,
                                name=name, personas=split(personas), samples=samples,
                                biases=split(biases), progress=_progress_per_model)
    click.echo(audit_table(report))
    echo_paths(paths)


@click.command()
@model_option
@click.option("--apply", "apply_", is_flag=True,
              help="Write the suggested ship threshold to panel.yaml (one backbone's).")
@click.option("--second-editor", "second", default=None, metavar="OUTPUT",
              type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="A copy of the store another editor labelled: their agreement with "
                   "this store's editor is shown as the ceiling.")
@output_option
@user_errors
def calibrate(model: str | None, apply_: bool, second: Path | None, output: Path) -> None:
    """Verdict agreement and Cohen's kappa with the editors' edited or approved reviews,
    and the ship threshold that matches them best; changes nothing unless --apply."""
    from panel.research.calibrate import (
        apply_suggestion,
        calibrate_store,
        ceiling,
        editor_labels,
        held_out,
    )
    from panel.research.stats import ALL, fmt

    ws = Workspace(output)
    rows = calibrate_store(ws, model)
    click.echo(f"Calibration against the editors: {sum(r.labels for r in rows if r.persona == ALL)}"
               f" labels, current ship threshold {ws.config.rubric.ship_threshold}")
    click.echo(calibration_table(rows))
    for r in rows:
        if r.persona == ALL:
            click.echo(f"{r.model}: suggested ship threshold {fmt(r.threshold, 'd')} (agreement "
                       f"{fmt(r.threshold_agreement_pct, '.1f')}%; "
                       f"{fmt(r.current_agreement_pct, '.1f')}% at {r.current_threshold})")
    labels = editor_labels(ws, model)
    click.echo(held_out_table(held_out(labels, ws.persona_order(),
                                       ws.config.rubric.ship_threshold)))
    click.echo(ceiling_line(None if second is None else
                            ceiling(labels, editor_labels(Workspace(second), model))))
    if not apply_:
        click.echo("panel.yaml unchanged (--apply writes the suggestion)")
        return
    old, new, contradicted = apply_suggestion(ws, rows, model)
    if new == old:
        click.echo(f"panel.yaml unchanged: {old} already matches the editors best")
        return
    click.echo(f"wrote rubric.ship_threshold {new} to {ws.root / 'panel.yaml'} (was {old}); "
               "the rubric is part of every review's store key, so the next run reviews "
               "every card again")
    if contradicted:
        click.echo(f"note: {contradicted} edited review(s) ship below {new} and now contradict "
                   "the rubric", err=True)


COMMANDS = [study, agreement, jury, evaluate, audit, calibrate]
