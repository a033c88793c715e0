"""What each CLI command does, as plain functions that print: the CLI stays a parser."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import click

from panel.cards import load_cards
from panel.runner import Progress, RunSummary, compare_cards, review_cards
from panel.workspace import Workspace


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
    from panel.site import add_pair  # noqa: PLC0415

    if add_pair(ws, card_a.slug, card_b.slug):
        click.echo(f"added {card_a.slug} vs {card_b.slug} to the site (`panel site` builds it)")


def _score(record: object) -> str:
    from panel.render.markdown import scoreline  # noqa: PLC0415

    return scoreline(record).split(" (")[0]  # type: ignore[arg-type]


def summary_table(ws: Workspace, summary: RunSummary) -> str:
    """A readable table: one row per tool, then the counts and any failures."""
    lines = [f"{'tool':<28} {'verdict':<26} {'ship %':>6} {'mean':>6}"]
    for p in summary.panels(ws):
        pct = "–" if p.ship_pct is None else f"{p.ship_pct:g}"
        mean = "–" if p.mean_score is None else f"{p.mean_score:g}"
        lines.append(f"{p.tool_name[:28]:<28} {p.label:<26} {pct:>6} {mean:>6}")
    lines.append(f"reviewed {summary.reviewed}, reused from store {summary.reused}, "
                 f"failed {len(summary.failed)} ({summary.seconds:g} s)")
    for r in summary.failed:
        lines.append(f"  failed: {r.tool} / {r.persona}: {r.failure}")
    for u in summary.unavailable:
        lines.append(f"  not reviewed (server unavailable): {u}")
    return "\n".join(lines)


def list_models() -> None:
    """`panel models`: name, backend, source, and which is the default."""
    reg = Workspace().registry
    for name, spec in reg.models.items():
        src = spec.source.hf or spec.source.path or f"embedded:{spec.source.embedded}"
        mark = "*" if name == reg.default else " "
        click.echo(f"{mark} {name:<20} {spec.backend:<7} {src:<44} {spec.description}")


def fetch_model(name: str) -> None:
    """`panel models fetch NAME`: the one place panel downloads weights, on request."""
    from huggingface_hub import snapshot_download  # noqa: PLC0415

    spec = Workspace().registry.get(name)
    if not spec.source.hf:
        raise click.ClickException(f"model '{name}' is not a hub model; nothing to fetch")
    path = snapshot_download(spec.source.hf, revision=spec.source.revision)
    click.echo(f"fetched {spec.source.hf} to {path}")
