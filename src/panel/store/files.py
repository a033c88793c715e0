"""Writing result files so that a reader (a browser, a batch, a crash) never sees half of one.

Each write goes to its own temporary file (a unique name from ``mkstemp``) beside the
target, is flushed to disk, then renamed over the target in one step. A shared temporary
name (``path.tmp``) would let two processes writing the same file interleave their bytes
and rename a torn mixture into place; with unique names the last rename simply wins.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

_UMASK = os.umask(0)
os.umask(_UMASK)  # read once at import: os.umask is process-wide and not thread-safe


def atomic_write(path: Path, text: str, only_if_changed: bool = False,
                 durable: bool = True) -> bool:
    """Write ``text`` (UTF-8) to a unique temporary file beside ``path``, fsync it, then
    rename it into place; on any error the temporary file is removed and ``path`` is left
    as it was. With ``only_if_changed`` a file that already holds exactly ``text`` is left
    alone (its time stamp too, so readers and syncs see no change). ``durable=False`` skips
    the fsync, for files derived from the store and rewritten from it (a batch's panel
    files: an fsync each cost 8 ms, most of a batch's own time); the rename is still atomic
    for readers. Returns whether it wrote."""
    if only_if_changed and _holds(path, text.encode("utf-8")):
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; keep what write_text gave
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return True


def _holds(path: Path, data: bytes) -> bool:
    """Whether ``path`` is a regular file whose bytes are ``data`` (size checked first)."""
    try:
        if path.stat().st_size != len(data):
            return False
        return path.read_bytes() == data
    except OSError:
        return False


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
"""What makes a spreadsheet read a text cell as a formula (OWASP's CSV injection list)."""


def csv_cell(value: object) -> object:
    """A text cell a spreadsheet would run as a formula gets a leading apostrophe; numbers
    (a negative shift is a number, not a formula) and other text pass unchanged. Cells
    carry names and keys from cards, i.e. text from the web."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def write_csv(rows: Sequence[Mapping[str, object]], path: Path) -> Path:
    """Rows of one kind as CSV (empty cells for undefined statistics), text cells defused
    (``csv_cell``)."""
    fh = io.StringIO(newline="")
    if rows:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows({k: csv_cell(v) for k, v in row.items()} for row in rows)
    atomic_write(path, fh.getvalue())
    return path
