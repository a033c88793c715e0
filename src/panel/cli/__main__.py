"""`python -m panel.cli`: the `panel` command."""

from panel.cli import main

main()
