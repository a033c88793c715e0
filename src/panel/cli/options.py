"""What every command group shares: common options, the one-line error, quiet libraries."""

from __future__ import annotations

import logging
import os
import sys
import warnings
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


def dtype_option(fn: F) -> F:
    return click.option("--dtype", default=None, metavar="DTYPE",
                        help="Engine dtype: auto, float32, bfloat16 or float16 (default: the "
                             "model's in models.yaml; auto is float32 on a CPU without "
                             "native bf16, else bfloat16).")(fn)


def samples_option(fn: F) -> F:
    return click.option("--samples", default=None, metavar="auto|K",
                        help="Samples per persona: K, or auto (again only while the verdict "
                             "is uncertain, up to panel.yaml's cap). Default: panel.yaml's "
                             "samples (1).")(fn)


def output_option(fn: F) -> F:
    return click.option("--output", "-o", type=click.Path(file_okay=False, path_type=Path),
                        default=Path("outputs"), show_default=True,
                        help="Folder for the store and written results.")(fn)


def personas_option(fn: F) -> F:
    return click.option("--personas", "-p", default=None, metavar="A,B",
                        help="Comma-separated persona subset (default: all in personas/).")(fn)


_ENGINE = "scripts/setup.sh (CPU) or pip install -e '.[gpu]'"
EXTRAS = {
    "scipy": "pip install -e '.[research]'", "sklearn": "pip install -e '.[research]'",
    "statsmodels": "pip install -e '.[research]'", "matplotlib": "pip install -e '.[research]'",
    "ray": "pip install -e '.[ray]'", "vllm": _ENGINE, "torch": _ENGINE,
    "transformers": _ENGINE, "gguf": _ENGINE,
}
"""Optional dependencies by top-level module, and how to install the extra that has it."""


def missing_extra(exc: ModuleNotFoundError) -> str | None:
    """The one line for a missing optional dependency; None for any other missing module
    (a bug, which keeps its traceback)."""
    top = (exc.name or "").split(".")[0]
    if top not in EXTRAS:
        return None
    return f"this command needs {top}, which is not installed: {EXTRAS[top]}"


def user_errors(fn: F) -> F:
    """Show PanelError, or a missing optional dependency, as one clear line and exit 2,
    without a traceback."""
    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except PanelError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
        except ModuleNotFoundError as exc:
            line = missing_extra(exc)
            if line is None:
                raise
            click.echo(f"error: {line}", err=True)
            sys.exit(2)
    return wrapper


def split(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


QUIET_ENV = {
    "VLLM_LOGGING_LEVEL": "ERROR",
    "TRANSFORMERS_VERBOSITY": "error",
    "TQDM_DISABLE": "1",  # vLLM's checkpoint-shard bars, transformers' GGUF conversion bars
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TORCH_CPP_LOG_LEVEL": "ERROR",  # C++ warnings, e.g. vLLM's "NUMA binding: ..." note
    "PYTHONWARNINGS": "ignore",  # in the processes vLLM starts (engine core, server)
}
"""Read by the libraries when they load, here and in the processes they start; a variable
the user has set is left as it is."""

QUIET_LOGGERS = ("vllm", "torch", "transformers", "huggingface_hub", "xgrammar", "ray",
                 "filelock", "urllib3", "httpx")


def quiet_third_party() -> None:
    """Hide other libraries' warnings, logs and progress bars; ``panel -v`` skips this.

    They are meant for those libraries' developers (a deprecation inside vLLM, a NUMA note
    from its C++ code, a bar per checkpoint shard) and buried a first run's output. Called
    before any of them is imported. Warnings raised in panel's own modules still show.
    """
    for name, value in QUIET_ENV.items():
        os.environ.setdefault(name, value)
    warnings.filterwarnings("ignore")
    warnings.filterwarnings("default", module=r"panel(\.|$)")
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)


def echo_paths(paths: list[Path]) -> None:
    for path in paths:
        click.echo(f"wrote {path}")
