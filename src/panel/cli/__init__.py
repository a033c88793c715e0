"""The `panel` command: thin wrappers that parse options and call one library function."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

import click

from panel.errors import PanelError

F = Callable[..., Any]


def model_option(fn: F) -> F:
    return click.option("--model", "-m", envvar="PANEL_MODEL", default=None,
                        help="Registry model name (see `panel models`; env PANEL_MODEL).")(fn)


def output_option(fn: F) -> F:
    return click.option("--output", "-o", type=click.Path(file_okay=False, path_type=Path),
                        default=Path("outputs"), show_default=True,
                        help="Folder for the store and written results.")(fn)


def personas_option(fn: F) -> F:
    return click.option("--personas", "-p", default=None, metavar="A,B",
                        help="Comma-separated persona subset (default: all in personas/).")(fn)


def user_errors(fn: F) -> F:
    """Show PanelError as one clear line and exit 2, without a traceback."""
    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except PanelError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
    return wrapper


def split(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def progress_printer(label: str) -> Callable[[int, int], None]:
    """A one-line progress counter on stderr (long runs show they are alive)."""
    def show(done: int, total: int) -> None:
        click.echo(f"\r{label}: {done}/{total}", err=True, nl=done >= total)
    return show


@click.group()
@click.version_option(package_name="panel")
def main() -> None:
    """A reviewer panel: personas review tool cards on open-weight models served by vLLM."""


@main.command()
@click.argument("cards", nargs=-1, required=True)
@model_option
@personas_option
@output_option
@click.option("--force", is_flag=True, help="Re-run reviews even if stored.")
@user_errors
def review(cards: tuple[str, ...], model: str | None, personas: str | None, output: Path,
           force: bool) -> None:
    """Review tool cards (YAML/JSON files, JSONL, or folders) with the panel."""
    from panel.cli import run as commands

    commands.review(cards, model, split(personas), output, force, progress_printer("reviews"))


@main.command(name="compare")
@click.argument("a")
@click.argument("b")
@model_option
@personas_option
@output_option
@user_errors
def compare_cmd(a: str, b: str, model: str | None, personas: str | None, output: Path) -> None:
    """Compare two tools (card files), reusing stored reviews; write JSON and Markdown."""
    from panel.cli import run as commands

    commands.compare(a, b, model, split(personas), output, progress_printer("reviews"))


@main.command()
@click.argument("inputs", nargs=-1, required=True)
@model_option
@personas_option
@output_option
@click.option("--force", is_flag=True, help="Re-run reviews even if stored (default: resume).")
@click.option("--shard", default=None, metavar="I/N",
              help="Review only shard I of N (0-based, by card-name hash); store in "
                   "OUTPUT/shards/I-of-N.")
@click.option("--ray", "ray_address", default=None, metavar="ADDRESS",
              help="Run on a Ray cluster (ADDRESS, 'auto', or 'local'); needs the ray extra.")
@click.option("--actors", default=1, show_default=True, help="Ray actors (engines) to run.")
@user_errors
def batch(inputs: tuple[str, ...], model: str | None, personas: str | None, output: Path,
          force: bool, shard: str | None, ray_address: str | None, actors: int) -> None:
    """Review a JSONL file or folders of cards unattended: resumes, skips bad cards, exit 1
    if anything failed."""
    from panel.cli.run import batch_command

    batch_command(inputs, model, split(personas), output, force, shard, ray_address,
                      actors, progress_printer("reviews"))


@main.command()
@click.argument("sources", nargs=-1, type=click.Path(file_okay=False, path_type=Path))
@output_option
@user_errors
def merge(sources: tuple[Path, ...], output: Path) -> None:
    """Merge shard stores (default: OUTPUT/shards/*) into OUTPUT's store."""
    from panel.pipeline import batch as batch_mod

    stores, added = batch_mod.merge(list(sources), output)
    click.echo(f"merged {stores} store(s) into {output}: {added} review(s) added")


@main.command()
@model_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, help="Port to listen on.")
@user_errors
def serve(model: str | None, host: str, port: int) -> None:
    """Run the vLLM OpenAI-compatible server for a registry model, in the foreground; later
    commands with a `backend: openai` entry of that name find it."""
    from panel.cli.models import serve_foreground

    serve_foreground(model, host, port)


@main.group(invoke_without_command=True)
@click.pass_context
@user_errors
def models(ctx: click.Context) -> None:
    """List the backbone registry (models.yaml)."""
    if ctx.invoked_subcommand is None:
        from panel.cli.models import list_models

        list_models()


@models.command(name="list")
@user_errors
def models_list() -> None:
    """List the backbone registry (models.yaml)."""
    from panel.cli.models import list_models

    list_models()


@models.command(name="fetch")
@click.argument("name")
@user_errors
def models_fetch(name: str) -> None:
    """Download a hub model's weights into the Hugging Face cache (needs network)."""
    from panel.cli.models import fetch_model

    fetch_model(name)


@main.command()
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
    from panel.cli import research as research_commands

    research_commands.study(output, split(models), cards, study_file, name, split(personas),
                            samples)


@main.command()
@click.argument("study_name", metavar="STUDY")
@click.option("--format", "figure_format", type=click.Choice(["png", "svg"]), default="png",
              show_default=True, help="Figure format.")
@output_option
@user_errors
def agreement(study_name: str, figure_format: str, output: Path) -> None:
    """Agreement between a study's backbones: table, CSV/JSON and a figure."""
    from panel.cli import research as research_commands

    research_commands.agreement(output, study_name, figure_format)


@main.command()
@click.argument("study_name", metavar="STUDY")
@output_option
@user_errors
def jury(study_name: str, output: Path) -> None:
    """Combine a study's backbones per persona (majority verdict, mean score)."""
    from panel.cli import research as research_commands

    research_commands.jury(output, study_name)


@main.command()
@click.argument("reference", type=click.Path(dir_okay=False, path_type=Path))
@model_option
@click.option("--study", "study_name", default=None,
              help="Evaluate this study's reviews (all samples) rather than the newest stored.")
@output_option
@user_errors
def evaluate(reference: Path, model: str | None, study_name: str | None, output: Path) -> None:
    """Compare a backbone's stored verdicts and scores with a reference JSONL."""
    from panel.cli import research as research_commands

    research_commands.evaluate(output, reference, model, study_name)


@main.command()
@model_option
@output_option
@click.option("--pairs", type=click.Choice(["category"]), default=None,
              help="Also add every pair of tools within each category.")
@user_errors
def site(model: str | None, output: Path, pairs: str | None) -> None:
    """Build the static site OUTPUT/site/ from stored reviews (no model calls)."""
    from panel.cli import editor as editor_commands

    editor_commands.site(output, model, pairs)


@main.command()
@click.argument("tool")
@click.option("--persona", "-p", "personas", multiple=True, required=True,
              help="Persona to re-run (repeatable).")
@model_option
@output_option
@user_errors
def regenerate(tool: str, personas: tuple[str, ...], model: str | None, output: Path) -> None:
    """Re-run one persona on TOOL (slug or name) with a new seed; keep the others and
    every edited or approved review."""
    from panel.cli import editor as editor_commands

    editor_commands.regenerate(output, tool, list(personas), model)


@main.command()
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
def edit(tool: str, persona: str, score: int | None, verdict: str | None, text: str | None,
         approve: bool | None, reset: bool, model: str | None, output: Path) -> None:
    """Edit one review (score, verdict, text) and/or approve it; re-runs never overwrite it."""
    from panel.cli import editor as editor_commands

    editor_commands.edit(output, tool, persona, model, score, verdict,  # type: ignore[arg-type]
                         text, approve, reset)


@main.command()
@click.argument("tool")
@click.option("--persona", "-p", "personas", multiple=True,
              help="Persona to approve (repeatable; default: all).")
@model_option
@output_option
@user_errors
def approve(tool: str, personas: tuple[str, ...], model: str | None, output: Path) -> None:
    """Approve TOOL's reviews as they stand."""
    from panel.cli import editor as editor_commands

    editor_commands.approve(output, tool, list(personas) or None, model)


@main.command()
@click.argument("tools", nargs=-1, required=True)
@model_option
@output_option
@user_errors
def draft(tools: tuple[str, ...], model: str | None, output: Path) -> None:
    """Write OUTPUT/drafts/<tool>.<model>.yaml to edit and approve offline."""
    from panel.cli import editor as editor_commands

    editor_commands.draft(output, tools, model)


@main.command(name="apply")
@click.argument("path", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@output_option
@user_errors
def apply_cmd(path: Path, output: Path) -> None:
    """Record the edits and approvals of a draft file written by `panel draft`."""
    from panel.cli import editor as editor_commands

    editor_commands.apply(output, path)


@main.command()
@model_option
@output_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=5000, show_default=True, help="Port (0: any free port).")
@click.option("--allow-remote", is_flag=True,
              help="Allow a --host beyond loopback; every request then needs the access token.")
@click.option("--token", envvar="PANEL_UI_TOKEN", default=None,
              help="Access token (env PANEL_UI_TOKEN; made and printed with --allow-remote).")
@user_errors
def ui(model: str | None, output: Path, host: str, port: int, allow_remote: bool,
       token: str | None) -> None:
    """The editors' local web app: review panels, regenerate, edit and approve."""
    from panel.cli import editor as editor_commands

    editor_commands.ui(output, model, host, port, allow_remote=allow_remote, token=token)


if __name__ == "__main__":
    main()
