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


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to a unique temporary file beside ``path``, fsync it, then
    rename it into place; on any error the temporary file is removed and ``path`` is left
    as it was."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; keep what write_text gave
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_csv(rows: Sequence[Mapping[str, object]], path: Path) -> Path:
    """Rows of one kind as CSV (empty cells for undefined statistics)."""
    fh = io.StringIO(newline="")
    if rows:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    atomic_write(path, fh.getvalue())
    return path
