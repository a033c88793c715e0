"""The `panel` command: one module per command group, each command a parser that calls one
library function and prints what it returns (`run`, `models`, `research`, `editor`,
`data`)."""

from __future__ import annotations

import click

from panel.cli import data, editor, models, research, run
from panel.cli.options import quiet_third_party


@click.group()
@click.version_option(package_name="panel")
@click.option("-v", "--verbose", is_flag=True,
              help="Show the warnings, logs and progress bars of vLLM, torch and transformers "
                   "(hidden by default).")
def main(verbose: bool) -> None:
    """A reviewer panel: personas review tool cards on open-weight models served by vLLM."""
    if not verbose:
        quiet_third_party()


for _group in (run, models, research, editor, data):
    for _command in _group.COMMANDS:
        main.add_command(_command)


if __name__ == "__main__":
    main()
