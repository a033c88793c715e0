"""`panel export`: the store as a dataset to publish; `panel verify`: stored reviews re-run;
`panel drift`: what moved between two stores or studies."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import cast

import click

from panel.cli.options import (
    dtype_option,
    echo_paths,
    model_option,
    output_option,
    user_errors,
)
from panel.cli.tables import drift_table, verify_table
from panel.config.workspace import Workspace
from panel.research.export_schema import CONFIGS, FORMATS, Format


@click.command()
@click.argument("dest", type=click.Path(file_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="parquet",
              show_default=True, help="File format of every config.")
@model_option
@click.option("--study", "study_name", default=None, metavar="STUDY",
              help="Only this study's reviews (and their edits and manifest).")
@click.option("--since", default=None, metavar="WHEN",
              help="Only rows created at or after this ISO date or time (UTC if no zone).")
@output_option
@user_errors
def export(dest: Path, fmt: str, model: str | None, study_name: str | None, since: str | None,
           output: Path) -> None:
    """Export the store as a Hugging Face dataset folder: one config per table, a split per
    export plus latest, a README with the configs and a data card, the manifests beside."""
    from panel.research.export import export_dataset

    summary = export_dataset(Workspace(output), dest, fmt=cast(Format, fmt), model=model,
                             study=study_name, since=since)
    click.echo(f"exported split {summary.split} ({summary.format}) to {summary.dest}: "
               + ", ".join(f"{c} {summary.rows[c]}" for c in CONFIGS))


@click.command()
@click.argument("keys", nargs=-1)
@click.option("--tool", default=None, help="Every stored review of this tool (slug).")
@click.option("--study", "study_name", default=None, metavar="STUDY",
              help="The reviews of this study.")
@click.option("--sample", type=click.IntRange(1), default=None, metavar="N",
              help="N of the chosen reviews (or of all), drawn with a fixed seed.")
@model_option
@dtype_option
@output_option
@user_errors
def verify(keys: tuple[str, ...], tool: str | None, study_name: str | None,
           sample: int | None, model: str | None, dtype: str | None, output: Path) -> None:
    """Re-run stored reviews under their recorded inputs in a fresh engine; per review:
    identical text, same verdict, score delta and the recorded conditions that differ
    (vLLM, torch, dtype, CPU flags, weights). Exit 1 on any difference."""
    from panel.research.verify import verify as run_verify
    from panel.research.verify import write_verify

    ws = Workspace(output)
    report = run_verify(ws, keys=keys, tool=tool, study=study_name, sample=sample,
                        model=model, dtype=dtype)
    click.echo(verify_table(report))
    echo_paths([write_verify(report, ws.output / "verify.json")])
    if not report.ok:
        sys.exit(1)


@click.command()
@click.argument("old")
@click.argument("new")
@model_option
@output_option
@user_errors
def drift(old: str, new: str, model: str | None, output: Path) -> None:
    """Verdict flips (McNemar's exact test) and score shifts (paired bootstrap over cards)
    between two stores (their --output folders) or two studies."""
    from panel.research.drift import drift as run_drift

    click.echo(drift_table(run_drift(Workspace(output), old, new, model)))


COMMANDS = [export, verify, drift]
