"""Errors a user can act on: each names where the problem is and why."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import ValidationError


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


_REASONS = {"missing": "is required but missing", "extra_forbidden": "is not a known field"}


def validation_error(exc: ValidationError, file: str, line: int | None = None,
                     reasons: Mapping[str, str] | None = None) -> InputError:
    """The first problem of a pydantic ValidationError as an InputError (file, line, field,
    reason), so every data file reports its errors the same way."""
    err = exc.errors()[0]
    field = ".".join(str(p) for p in err["loc"]) or None
    reason = {**_REASONS, **(reasons or {})}.get(err["type"], err["msg"])
    return InputError(file, reason, field=field, line=line)
