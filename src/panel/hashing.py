"""Stable hashes of what shaped a result, so the store can key reviews by content."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any


def sha(text: str | bytes) -> str:
    """Short hex SHA-256: 16 hex digits are plenty to key a review store."""
    data = text.encode() if isinstance(text, str) else text
    return hashlib.sha256(data).hexdigest()[:16]


def file_sha(path: Path) -> str:
    """Hash of a file's bytes."""
    return sha(path.read_bytes())


def json_sha(obj: Any) -> str:
    """Hash of canonical JSON: key order and spacing do not change it."""
    return sha(json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str))
