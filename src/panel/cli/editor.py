"""`panel site`, `regenerate`, `edit`, `approve`, `draft`, `apply`, `ui`: stored reviews to
pages, and the editors' hand on them."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import click

from panel.cli.options import model_option, output_option, user_errors
from panel.cli.tables import review_line
from panel.config.workspace import Workspace
from panel.publish import editor


@click.command()
@model_option
@output_option
@click.option("--pairs", type=click.Choice(["category"]), default=None,
              help="Also add every pair of tools within each category.")
@user_errors
def site(model: str | None, output: Path, pairs: str | None) -> None:
    """Build the static site OUTPUT/site/ from stored reviews (no model calls)."""
    from panel.publish.site import build_site

    summary = build_site(Workspace(output), model=model, pairs=pairs)
    if summary.added_pairs:
        click.echo(f"added {summary.added_pairs} same-category comparison(s)")
    for line in summary.skipped:
        click.echo(f"skipped {line}")
    click.echo(f"wrote {summary.folder / 'index.html'}: {summary.tools} tool page(s), "
               f"{summary.comparisons} comparison(s); {len(summary.written)} file(s) changed, "
               f"{len(summary.removed)} removed")


@click.command()
@click.argument("tool")
@click.option("--persona", "-p", "personas", multiple=True, required=True,
              help="Persona to re-run (repeatable).")
@model_option
@output_option
@user_errors
def regenerate(tool: str, personas: tuple[str, ...], model: str | None, output: Path) -> None:
    """Re-run one persona on TOOL (slug or name) with a new seed; keep the others and
    every edited or approved review."""
    for done in editor.regenerate(Workspace(output), tool=tool, personas=list(personas),
                                  model=model):
        click.echo(done.message)


@click.command()
@click.argument("tool")
@click.option("--persona", "-p", required=True, help="Persona whose review to edit.")
@click.option("--score", type=click.IntRange(0, 100), default=None, help="Edited score.")
@click.option("--verdict", type=click.Choice(["ship", "skip"]), default=None)
@click.option("--text", default=None, help="Edited review text.")
@click.option("--approve/--unapprove", default=None, help="Approve for publication, or not.")
@click.option("--reset", is_flag=True, help="Drop the edit: the review is a draft again.")
@model_option
@output_option
@user_errors
def edit(tool: str, persona: str, score: int | None, verdict: Literal["ship", "skip"] | None,
         text: str | None, approve: bool | None, reset: bool, model: str | None,
         output: Path) -> None:
    """Edit one review (score, verdict, text) and/or approve it; re-runs never overwrite it."""
    ws = Workspace(output)
    if reset:  # a different action from an edit: the library keeps them apart too
        existed = editor.reset(ws, tool=tool, persona=persona, model=model)
        click.echo(f"{persona}: back to draft" if existed else f"{persona}: was not edited")
        return
    click.echo(review_line(editor.edit_review(ws, tool=tool, persona=persona, model=model,
                                              score=score, verdict=verdict, text=text,
                                              approve=approve)))


@click.command()
@click.argument("tool")
@click.option("--persona", "-p", "personas", multiple=True,
              help="Persona to approve (repeatable; default: all).")
@model_option
@output_option
@user_errors
def approve(tool: str, personas: tuple[str, ...], model: str | None, output: Path) -> None:
    """Approve TOOL's reviews as they stand."""
    for rec in editor.approve(Workspace(output), tool=tool, personas=list(personas) or None,
                              model=model):
        click.echo(review_line(rec))


@click.command()
@click.argument("tools", nargs=-1, required=True)
@model_option
@output_option
@user_errors
def draft(tools: tuple[str, ...], model: str | None, output: Path) -> None:
    """Write OUTPUT/drafts/<tool>.<model>.yaml to edit and approve offline."""
    ws = Workspace(output)
    for tool in tools:  # each as it is written: a bad name later does not hide the earlier ones
        click.echo(f"wrote {editor.write_draft(ws, tool=tool, model=model)}")


@click.command(name="apply")
@click.argument("path", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@output_option
@user_errors
def apply(path: Path, output: Path) -> None:
    """Record the edits and approvals of a draft file written by `panel draft`."""
    for rec in editor.apply_draft(Workspace(output), path=path):
        click.echo(review_line(rec))


@click.command()
@model_option
@output_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=5000, show_default=True, help="Port (0: any free port).")
@click.option("--allow-remote", is_flag=True,
              help="Allow a --host beyond loopback; every request then needs the access token.")
@click.option("--token", envvar="PANEL_UI_TOKEN", default=None,
              help="Access token (env PANEL_UI_TOKEN; made and printed with --allow-remote).")
@click.option("--cert", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="TLS certificate (PEM) to serve HTTPS; needs --key.")
@click.option("--key", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="The certificate's private key (PEM).")
@user_errors
def ui(model: str | None, output: Path, host: str, port: int, allow_remote: bool,
       token: str | None, cert: Path | None, key: Path | None) -> None:
    """The editors' local web app: review panels, regenerate, edit and approve."""
    from panel.publish.webapp import UiServer

    if (cert is None) != (key is None):
        raise click.UsageError("--cert and --key go together")
    server = UiServer(Workspace(output), model=model, host=host, port=port,
                      allow_remote=allow_remote, token=token,
                      tls=(cert, key) if cert and key else None)
    if server.warning:
        click.secho(server.warning, err=True, fg="red", bold=True)
    click.echo(f"panel editor on {server.url} (Ctrl-C stops it)")
    server.serve()


COMMANDS = [site, regenerate, edit, approve, draft, apply, ui]
