"""What every command group shares: common options, the one-line error, progress."""

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


def echo_paths(paths: list[Path]) -> None:
    for path in paths:
        click.echo(f"wrote {path}")
