"""`panel review`, `panel compare`, `panel batch`, `panel merge`: cards to stored reviews."""

from __future__ import annotations

from pathlib import Path

import click

from panel.cli.options import (
    dtype_option,
    echo_paths,
    model_option,
    output_option,
    personas_option,
    samples_option,
    split,
    user_errors,
)
from panel.cli.tables import comparison_lines, format_summary, head_to_head_lines, summary_table
from panel.config.workspace import Workspace
from panel.errors import InputError


@click.command()
@click.argument("cards", nargs=-1, required=True)
@model_option
@dtype_option
@personas_option
@samples_option
@output_option
@click.option("--force", is_flag=True, help="Re-run reviews even if stored.")
@user_errors
def review(cards: tuple[str, ...], model: str | None, dtype: str | None, personas: str | None,
           samples: str | None, output: Path, force: bool) -> None:
    """Review tool cards (YAML/JSON files, JSONL, or folders) with the panel."""
    from panel.cli.display import show_progress
    from panel.pipeline.run import review_files

    ws = Workspace(output, dtype=dtype)
    with show_progress("reviews") as progress:
        summary = review_files(ws, cards=cards, model=model, personas=split(personas),
                               force=force, progress=progress,
                               samples=samples)
    click.echo(summary_table(ws, summary))
    if summary.failed or summary.unavailable:
        raise SystemExit(1)


@click.command(name="compare")
@click.argument("a")
@click.argument("b")
@model_option
@dtype_option
@personas_option
@samples_option
@output_option
@click.option("--head-to-head", "head_to_head", is_flag=True,
              help="Also ask each persona which of the two it would ship with, in one prompt, "
                   "with each tool shown first in turn (reuses stored judgments).")
@user_errors
def compare(a: str, b: str, model: str | None, dtype: str | None, personas: str | None,
            samples: str | None, output: Path, head_to_head: bool) -> None:
    """Compare two tools (card files), reusing stored reviews; write JSON and Markdown."""
    from panel.cli.display import show_phases
    from panel.publish.compare import compare_files

    ws = Workspace(output, dtype=dtype)
    with show_phases() as view:
        done = compare_files(ws, cards=[a, b], model=model,
                             personas=split(personas), progress=view.counter("reviews"),
                             head_to_head=head_to_head,
                             judge_progress=view.counter("head-to-head judgments"),
                             samples=samples)
    click.echo("\n".join(comparison_lines(done.comparison)))
    if done.head_to_head is not None:
        click.echo("\n".join(head_to_head_lines(done.head_to_head)))
    echo_paths(done.paths)
    if done.pair_added:
        click.echo(f"added {done.pair[0]} vs {done.pair[1]} to the site (`panel site` builds it)")
    h2h = done.head_to_head  # without the flag, stored judgments are shown, not re-judged
    if head_to_head and h2h is not None and (
            h2h.unavailable or any(r.result == "failed" for r in h2h.rows)):
        raise SystemExit(1)


@click.command()
@click.argument("inputs", nargs=-1, required=True)
@model_option
@dtype_option
@personas_option
@samples_option
@output_option
@click.option("--force", is_flag=True, help="Re-run reviews even if stored (default: resume).")
@click.option("--shard", default=None, metavar="I/N",
              help="Review only shard I of N (0-based, by card-name hash); store in "
                   "OUTPUT/shards/I-of-N.")
@click.option("--ray", "ray_address", default=None, metavar="ADDRESS",
              help="Run on a Ray cluster (ADDRESS, 'auto', or 'local'); needs the ray extra.")
@click.option("--actors", default=1, show_default=True, help="Ray actors (engines) to run.")
@user_errors
def batch(inputs: tuple[str, ...], model: str | None, dtype: str | None,
          personas: str | None, samples: str | None, output: Path, force: bool,
          shard: str | None, ray_address: str | None, actors: int) -> None:
    """Review a JSONL file or folders of cards unattended: resumes, skips bad cards, exit 1
    if anything failed."""
    from panel.cli.display import show_progress
    from panel.pipeline.batch import Shard, run_batch

    part, people = Shard.parse(shard), split(personas)
    with show_progress("reviews") as progress:
        if ray_address and samples is not None:
            raise InputError("--samples", "not yet with --ray: the Ray actors draw one "
                                          "sample per persona")
        if ray_address:  # the caller picks local or Ray; neither module knows the other's CLI
            from panel.pipeline.ray_cluster import run_batch_ray

            summary = run_batch_ray(inputs, output=output, model=model, personas=people,
                                    force=force, shard=part, address=ray_address,
                                    actors=actors, progress=progress, dtype=dtype)
        else:
            summary = run_batch(inputs, output=output, model=model, personas=people,
                                force=force, shard=part, progress=progress, dtype=dtype,
                                samples=samples)
    click.echo(format_summary(summary))
    if not summary.ok:
        raise SystemExit(1)


@click.command()
@click.argument("sources", nargs=-1, type=click.Path(file_okay=False, path_type=Path))
@output_option
@user_errors
def merge(sources: tuple[Path, ...], output: Path) -> None:
    """Merge shard stores (default: OUTPUT/shards/*) into OUTPUT's store."""
    from panel.pipeline.batch import merge as merge_stores

    stores, added = merge_stores(sources=list(sources), output=output)
    click.echo(f"merged {stores} store(s) into {output}: {added} review(s) added")


COMMANDS = [review, compare, batch, merge]
