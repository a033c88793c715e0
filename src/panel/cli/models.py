"""`panel models list|fetch|serve|run-batch`; the old spellings stay: bare `panel models` lists, and
`panel serve` (hidden) is `panel models serve`."""

from __future__ import annotations

import signal
from pathlib import Path

import click

from panel.cli.options import model_option, user_errors
from panel.cli.tables import models_table
from panel.config.workspace import Workspace
from panel.errors import PanelError


@click.group(name="models", invoke_without_command=True)
@click.pass_context
@user_errors
def models(ctx: click.Context) -> None:
    """The backbone registry (models.yaml): list, fetch weights, serve, run a batch file."""
    if ctx.invoked_subcommand is None:  # `panel models` alone, as before: list
        _list()


@models.command(name="list")
@user_errors
def list_models() -> None:
    """List the backbone registry (models.yaml); * marks the default. An entry with a
    price, or with reviews in ./outputs, shows what a review and a verdict cost."""
    _list()


def _list() -> None:
    from panel.pipeline.cost import stored_usage

    ws = Workspace()
    click.echo(models_table(ws.registry, stored_usage(ws.output, ws.registry.names)))


@models.command(name="fetch")
@click.argument("name")
@user_errors
def fetch(name: str) -> None:
    """Download a hub model's weights into the Hugging Face cache (needs network)."""
    from panel.backends.vllm.weights import fetch as fetch_weights

    repo, path = fetch_weights(Workspace().registry.get(name))
    click.echo(f"fetched {repo} to {path}")


@models.command(name="run-batch")
@click.argument("requests", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--output", "-o", "results", required=True, metavar="RESULTS",
              type=click.Path(dir_okay=False, path_type=Path),
              help="The results file to write (never overwritten).")
@model_option
@user_errors
def run_batch(requests: Path, results: Path, model: str | None) -> None:
    """Run a request file from `panel batch --export` through vLLM's own batch runner,
    with the registry entry's weights and engine settings."""
    from panel.backends.vllm.batch_runner import run_batch_file

    spec = Workspace().registry.get(model)
    click.echo(f"running {requests} through vLLM's batch runner on '{spec.name}' (the "
               "engine starts first: about a minute on CPU)...", err=True)
    done = run_batch_file(spec, requests, results)
    click.echo(f"{done.lines} result(s) in {done.results}: {done.engine_seconds:g} "
               f"engine-seconds, {done.seconds:g} s in all (log {done.log})")


_SERVE_HELP = ("Run the vLLM OpenAI-compatible server for a registry model, in the foreground; "
               "later commands with a `backend: openai` entry of that name find it.")


def _serve_command(hidden: bool) -> click.Command:
    @click.command(name="serve", help=_SERVE_HELP, hidden=hidden)
    @model_option
    @click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
    @click.option("--port", default=8000, show_default=True, help="Port to listen on.")
    @user_errors
    def serve(model: str | None, host: str, port: int) -> None:
        serve_foreground(model=model, host=host, port=port)
    return serve


models.add_command(_serve_command(hidden=False))
serve_alias = _serve_command(hidden=True)  # `panel serve`, the spelling before `models serve`


def serve_foreground(*, model: str | None, host: str, port: int) -> None:
    """Run until Ctrl-C or SIGTERM, then stop the server cleanly."""
    from panel.backends.servers import record_path
    from panel.backends.vllm.server import running_server

    spec = Workspace().registry.get(model)
    signal.signal(signal.SIGTERM, _interrupt)
    click.echo(f"starting vLLM server for '{spec.name}' on {host}:{port} (about a minute "
               "on CPU)...", err=True)
    try:
        with running_server(spec, host, port) as server:
            click.echo(f"serving '{spec.name}' at {server.url}; recorded in "
                       f"{record_path(spec.name)}; Ctrl-C stops it", err=True)
            code = server.proc.wait()
        raise PanelError(f"vLLM server for '{spec.name}' exited with code {code}")
    except KeyboardInterrupt:
        click.echo("stopped", err=True)


def _interrupt(*_: object) -> None:
    """SIGTERM stops `panel serve` the way Ctrl-C does, so the server is stopped too."""
    raise KeyboardInterrupt


COMMANDS = [models, serve_alias]
