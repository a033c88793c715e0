"""What each CLI command does, as plain functions that print: the CLI stays a parser."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import click

from panel.cli.tables import format_summary, summary_table
from panel.config.workspace import Workspace
from panel.inputs.cards import load_cards
from panel.pipeline.batch import Shard, run_batch
from panel.pipeline.run import Progress, review_cards
from panel.publish.compare import compare_cards


def review(cards: Sequence[str], model: str | None, personas: list[str] | None, output: Path,
           force: bool, progress: Progress | None) -> None:
    """`panel review`: every card must be valid; nothing is written for a bad one."""
    ws = Workspace(output)
    loaded = load_cards(cards)
    summary = review_cards(ws, [c.card for c in loaded], model, personas, force,
                           progress=progress)
    click.echo(summary_table(ws, summary))
    if summary.failed or summary.unavailable:
        raise SystemExit(1)


def compare(a: str, b: str, model: str | None, personas: list[str] | None, output: Path,
            progress: Progress | None) -> None:
    """`panel compare A B`."""
    ws = Workspace(output)
    card_a, card_b = (c.card for c in load_cards([a, b]))
    comp, paths = compare_cards(ws, card_a, card_b, model, personas, progress=progress)
    click.echo(f"{comp.title}")
    for side in (comp.a, comp.b):
        pct = "–" if side.ship_pct is None else f"{side.ship_pct:g}%"
        click.echo(f"  {side.tool_name}: {side.label} ({pct} panel ship)")
    for row in comp.rows:
        cells = [_score(r) for r in (row.a, row.b)]
        click.echo(f"  {row.persona_name:<10} {cells[0]:<14} {cells[1]}")
    for path in paths:
        click.echo(f"wrote {path}")
    from panel.publish.site import add_pair

    if add_pair(ws, card_a.slug, card_b.slug):
        click.echo(f"added {card_a.slug} vs {card_b.slug} to the site (`panel site` builds it)")


def _score(record: object) -> str:
    from panel.publish.render.markdown import scoreline

    return scoreline(record).split(" (")[0]  # type: ignore[arg-type]


def batch_command(inputs: Sequence[str], model: str | None, personas: list[str] | None,
            output: Path, force: bool, shard: str | None, ray_address: str | None,
            actors: int, progress: Progress | None) -> None:
    """`panel batch`: print the closing summary; exit 1 if any card or review failed."""
    import click  # noqa: PLC0415

    part = Shard.parse(shard)
    if ray_address:
        from panel.pipeline.ray_cluster import run_batch_ray

        summary = run_batch_ray(inputs, output, model, personas, force, part, ray_address,
                                actors, progress)
    else:
        summary = run_batch(inputs, output, model, personas, force, part, progress=progress)
    click.echo(format_summary(summary))
    if not summary.ok:
        raise SystemExit(1)
