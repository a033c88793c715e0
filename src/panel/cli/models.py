"""`panel models list|fetch|serve` (and the old `panel serve`)."""

from __future__ import annotations

import signal

import click

from panel.backends.servers import record_path
from panel.backends.vllm.server import running_server
from panel.config.workspace import Workspace
from panel.errors import PanelError


def serve_foreground(model: str | None, host: str, port: int) -> None:
    """`panel serve`: run until Ctrl-C or SIGTERM, then stop the server cleanly."""
    import click  # noqa: PLC0415

    from panel.config.workspace import Workspace

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
