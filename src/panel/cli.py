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
                        help="Comma-separated persona subset (default: every file in personas/).")(fn)


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
    from panel import commands  # noqa: PLC0415

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
    from panel import commands  # noqa: PLC0415

    commands.compare(a, b, model, split(personas), output, progress_printer("reviews"))


@main.group(invoke_without_command=True)
@click.pass_context
@user_errors
def models(ctx: click.Context) -> None:
    """List the backbone registry (models.yaml)."""
    if ctx.invoked_subcommand is None:
        from panel import commands  # noqa: PLC0415

        commands.list_models()


@models.command(name="list")
@user_errors
def models_list() -> None:
    """List the backbone registry (models.yaml)."""
    from panel import commands  # noqa: PLC0415

    commands.list_models()


@models.command(name="fetch")
@click.argument("name")
@user_errors
def models_fetch(name: str) -> None:
    """Download a hub model's weights into the Hugging Face cache (needs network)."""
    from panel import commands  # noqa: PLC0415

    commands.fetch_model(name)


if __name__ == "__main__":
    main()
