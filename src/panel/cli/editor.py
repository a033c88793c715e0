"""What the site and editor commands print: the CLI parses, these call one library function
each and report, like commands.py does for review and compare."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import click

from panel.config.workspace import Workspace
from panel.contract.records import ReviewRecord
from panel.publish import editor
from panel.publish.site import build_site
from panel.verdict.views import review_state


def site(output: Path, model: str | None, pairs: str | None) -> None:
    """`panel site`: rebuild OUTPUT/site/ from the store."""
    summary = build_site(Workspace(output), model, pairs)
    if summary.added_pairs:
        click.echo(f"added {summary.added_pairs} same-category comparison(s)")
    for line in summary.skipped:
        click.echo(f"skipped {line}")
    click.echo(f"wrote {summary.folder / 'index.html'}: {summary.tools} tool page(s), "
               f"{summary.comparisons} comparison(s)")


def regenerate(output: Path, tool: str, personas: list[str], model: str | None) -> None:
    """`panel regenerate TOOL --persona P`: new samples, edited reviews kept."""
    for done in editor.regenerate(Workspace(output), tool, personas, model):
        click.echo(done.message)


def _line(rec: ReviewRecord) -> str:
    return f"{rec.persona}: {rec.score}/100 · {rec.verdict} ({review_state(rec)})"


def edit(output: Path, tool: str, persona: str, model: str | None, score: int | None,
         verdict: Literal["ship", "skip"] | None, text: str | None, approve: bool | None,
         reset: bool) -> None:
    """`panel edit`: change, approve or reset one review."""
    ws = Workspace(output)
    if reset:
        existed = editor.reset(ws, tool, persona, model)
        click.echo(f"{persona}: back to draft" if existed else f"{persona}: was not edited")
        return
    click.echo(_line(editor.edit_review(ws, tool, persona, model, score=score,
                                        verdict=verdict, text=text, approve=approve)))


def approve(output: Path, tool: str, personas: list[str] | None, model: str | None) -> None:
    """`panel approve TOOL [-p P]`."""
    for rec in editor.approve(Workspace(output), tool, personas, model):
        click.echo(_line(rec))


def draft(output: Path, tools: tuple[str, ...], model: str | None) -> None:
    """`panel draft TOOL...`: write editable draft files."""
    ws = Workspace(output)
    for tool in tools:
        click.echo(f"wrote {editor.write_draft(ws, tool, model)}")


def apply(output: Path, path: Path) -> None:
    """`panel apply FILE`: record a draft file's edits and approvals."""
    for rec in editor.apply_draft(Workspace(output), path):
        click.echo(_line(rec))


def ui(output: Path, model: str | None, host: str, port: int, allow_remote: bool = False,
       token: str | None = None) -> None:
    """`panel ui`: serve the editors' app until Ctrl-C; beyond loopback, with a token."""
    from panel.publish.webapp import create_app, is_loopback, make_ui_server, new_token

    if allow_remote and not is_loopback(host) and token is None:
        token = new_token()
    app = create_app(Workspace(output), model, token=token)
    server = make_ui_server(app, host, port, allow_remote=allow_remote)
    shown = f"[{host}]" if ":" in host else host
    query = f"?token={token}" if token else ""
    click.echo(f"panel editor on http://{shown}:{server.server_port}/{query} (Ctrl-C stops it)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        app.extensions["panel"].close()
