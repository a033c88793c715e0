"""The site's manifest: which files the last build made, from which inputs.

``OUTPUT/site.manifest.json`` (beside the site, so publishing ``site/`` does not publish
it) maps every file `panel site` wrote, relative to ``site/``, to the fingerprint of its
inputs and what the index needs of it (a tool's row, a comparison's link). A rebuild renders
only pages whose fingerprint changed or whose file is gone, writes a file only when its bytes
differ, and removes the files the manifest lists that the new build no longer makes (a tool
without reviews any more, a dropped pair, a shorter index). Files it never made are never
touched. A manifest that is missing or does not parse is treated as empty: every page is
rebuilt, and nothing is removed.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from panel.config.project import child
from panel.errors import InputError
from panel.store.files import atomic_write

FORMAT = 1
INDEX_PAGE = re.compile(r"index(-[1-9][0-9]*)?\.html")
FOLDERS = ("tools", "compare")
"""The only subfolders of the site a manifest may name; anything else is ignored."""


@dataclass
class Manifest:
    """File (relative to the site folder) -> [fingerprint, what the index keeps of it]."""

    files: dict[str, list[Any]] = field(default_factory=dict)

    def fingerprint(self, name: str) -> str | None:
        entry = self.files.get(name)
        return entry[0] if entry else None

    def extra(self, name: str) -> Any:
        entry = self.files.get(name)
        return entry[1] if entry and len(entry) > 1 else None


def manifest_path(output: Path) -> Path:
    return output / "site.manifest.json"


def load_manifest(output: Path) -> Manifest:
    """The last build's manifest; empty when there is none or it is not ours."""
    try:
        data = json.loads(manifest_path(output).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return Manifest()
    files = data.get("files") if isinstance(data, dict) and data.get("format") == FORMAT \
        else None
    if not isinstance(files, dict):
        return Manifest()
    return Manifest({k: v for k, v in files.items()
                     if isinstance(k, str) and isinstance(v, list) and v
                     and isinstance(v[0], str)})


def save_manifest(output: Path, manifest: Manifest, old: Manifest) -> None:
    """Write the manifest when it differs from the one loaded."""
    if manifest.files != old.files or not manifest_path(output).is_file():
        atomic_write(manifest_path(output), json.dumps(
            {"format": FORMAT, "files": manifest.files}, ensure_ascii=False,
            separators=(",", ":"), sort_keys=True))


def write_if_changed(path: Path, text: str) -> bool:
    """Write ``text`` unless the file already holds exactly it; True if written.

    ``atomic_write`` (a unique temporary file renamed into place, so a reader never sees
    half a page) without an fsync per page, which cost 9 ms a page here (46 s of 77 for
    5,000 tools): the build syncs once before it saves the manifest, so a page the manifest
    vouches for is on disk, and a page lost in a crash is rebuilt.
    """
    return atomic_write(path, text, only_if_changed=True, durable=False)


def site_file(site: Path, name: str) -> Path | None:
    """``site/name`` when ``name`` is a page the site may have made: ``index[-N].html`` at
    the top, or one plain file in ``tools/`` or ``compare/``; None for anything else."""
    parts = name.split("/")
    try:
        if len(parts) == 1:
            return child(site, parts[0]) if INDEX_PAGE.fullmatch(parts[0]) else None
        if len(parts) == 2 and parts[0] in FOLDERS:
            return child(site / parts[0], parts[1])
    except InputError:
        return None
    return None


def remove_stale(site: Path, old: Manifest, new: Manifest) -> list[str]:
    """Remove the files the last build made that this build did not; their names."""
    removed = []
    for name in sorted(set(old.files) - set(new.files)):
        path = site_file(site, name)
        if path is not None and path.is_file():
            path.unlink()
            removed.append(name)
    return removed


def present(site: Path) -> set[str]:
    """Every file in the site's folders, as manifest names: one listing per folder."""
    out: set[str] = set()
    for sub in ("", *FOLDERS):
        try:
            with os.scandir(site / sub if sub else site) as entries:
                names = [e.name for e in entries if e.is_file()]  # no stat per file
        except OSError:
            continue
        out.update(f"{sub}/{n}" if sub else n for n in names)
    return out
