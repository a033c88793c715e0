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
@click.option("--window", type=click.IntRange(min=1), default=None,
              help="Cards read, reviewed and stored together (default 500; 2048 with --ray): "
                   "memory grows with it, and so does what an engine gets to batch at once.")
@click.option("--export", "export_dir", default=None, metavar="DIR",
              type=click.Path(file_okay=False, path_type=Path),
              help="Write the pending reviews as OpenAI Batch JSONL request files in DIR "
                   "(for any batch runner) instead of running them; with --import, DIR "
                   "takes the next round.")
@click.option("--import", "import_files", multiple=True, metavar="FILE",
              type=click.Path(dir_okay=False, path_type=Path),
              help="Import a batch runner's results file (repeatable): validate and store "
                   "each line, and write the next round's requests.")
@click.option("--flavor", type=click.Choice(["vllm", "openai"]), default="vllm",
              show_default=True, help="For --export: vllm carries the review grammar as "
              "structured_outputs; openai its JSON schema as response_format.")
@user_errors
def batch(inputs: tuple[str, ...], model: str | None, dtype: str | None,
          personas: str | None, samples: str | None, output: Path, force: bool,
          shard: str | None, ray_address: str | None, actors: int, window: int | None,
          export_dir: Path | None,
          import_files: tuple[Path, ...], flavor: str) -> None:
    """Review a JSONL file or folders of cards unattended: resumes, skips bad cards, exit 1
    if anything failed."""
    from panel.cli.display import show_progress
    from panel.pipeline.batch import Shard, run_batch

    if export_dir or import_files:  # the reviews run elsewhere: files out, results in
        if shard or ray_address or force or samples is not None:
            raise click.UsageError("--export/--import take no --shard, --ray, --force or "
                                   "--samples")
        batch_files(inputs, model=model, dtype=dtype, personas=split(personas),
                    output=output, export_dir=export_dir, import_files=import_files,
                    flavor=flavor)
        return
    part, people = Shard.parse(shard), split(personas)
    with show_progress("reviews") as progress:
        if ray_address and samples is not None:
            raise InputError("--samples", "not yet with --ray: the Ray actors draw one "
                                          "sample per persona")
        if ray_address:  # the caller picks local or Ray; neither module knows the other's CLI
            from panel.pipeline.ray_cluster import run_batch_ray

            summary = run_batch_ray(inputs, output=output, model=model, personas=people,
                                    force=force, shard=part, address=ray_address,
                                    actors=actors, progress=progress, dtype=dtype,
                                    window=window)
        else:
            summary = run_batch(inputs, output=output, model=model, personas=people,
                                force=force, shard=part, progress=progress, dtype=dtype,
                                window=window, samples=samples)
    price = Workspace(output).registry.get(model).cost
    click.echo(format_summary(summary, price))
    if not summary.ok:
        raise SystemExit(1)


def batch_files(inputs: tuple[str, ...], *, model: str | None, dtype: str | None,
                personas: list[str] | None, output: Path, export_dir: Path | None,
                import_files: tuple[Path, ...], flavor: str) -> None:
    """`panel batch --export` / `--import`: exit 1 if the input had bad cards, or an
    import left a problem line or a review not stored valid."""
    from panel.cli.tables import export_lines, import_lines
    from panel.pipeline import batchfile
    from panel.pipeline.run import run_usage

    planned = batchfile.plan_batch(inputs, output, model, personas, dtype)
    kind: batchfile.Flavor = "openai" if flavor == "openai" else "vllm"
    price = planned.settings.spec.cost
    ok = not planned.card_errors
    if import_files:
        report = batchfile.import_results(planned.jobs, planned.ws.store, planned.settings,
                                          import_files, export_dir, kind)
        summary = batchfile.record_import(planned, report)
        click.echo("\n".join(import_lines(report, run_usage(summary), price)))
        ok = ok and report.ok
    else:
        done = batchfile.export_requests(planned.jobs, planned.ws.store, planned.settings,
                                         export_dir or Path("batch"), kind)
        click.echo("\n".join(export_lines(done)))
    if planned.card_errors:
        click.echo("skipped input (file:line: field, reason):")
        click.echo("\n".join(f"  {e}" for e in planned.card_errors))
    if not ok:
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
