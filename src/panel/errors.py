"""Errors a user can act on: each names where the problem is and why."""

from __future__ import annotations


class PanelError(Exception):
    """Base class for errors shown to the user without a traceback."""


class InputError(PanelError):
    """Bad user input: a file, an optional line, an optional field, and the reason."""

    def __init__(self, file: str, reason: str, field: str | None = None, line: int | None = None):
        self.file = file
        self.field = field
        self.line = line
        self.reason = reason
        where = file if line is None else f"{file}:{line}"
        what = f"field '{field}' " if field else ""
        super().__init__(f"{where}: {what}{reason}")


class ModelNotAvailable(PanelError):
    """A registry model whose weights are not on this machine."""
