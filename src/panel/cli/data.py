"""`panel export`: the store as a dataset to publish."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import click

from panel.cli.options import model_option, output_option, user_errors
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


COMMANDS = [export]
