"""Where the editable data lives, and how a name becomes a path inside an output folder.

The data files sit at the project root, not inside the package, because users edit them.
The root is ``$PANEL_HOME`` when set, else the nearest folder upward from the current one
holding ``models.yaml``, else the checkout this package was installed from (editable).

Every file name built from a name someone else chose (a study name, a tool slug, a model
name from models.yaml, a server name) goes through ``child``, the one place that decides
whether such a name may become a path: it must name one plain entry inside its folder.
"""

from __future__ import annotations

import os
import unicodedata
from functools import cache
from pathlib import Path

from panel.errors import InputError, PanelError

NAME_BYTES_MAX = 255  # a file name's length limit on the file systems we write to
# Unicode categories refused in a file name: control, format (e.g. bidi overrides),
# line/paragraph separators and lone surrogates (which cannot be encoded).
_REFUSED_CATEGORIES = {"Cc", "Cf", "Zl", "Zp", "Cs"}


@cache
def project_root() -> Path:
    """The folder holding models.yaml, personas/ and prompts/."""
    env = os.environ.get("PANEL_HOME")
    if env:
        return Path(env).resolve()
    for folder in [Path.cwd(), *Path.cwd().parents]:
        if (folder / "models.yaml").is_file() and (folder / "personas").is_dir():
            return folder
    checkout = Path(__file__).resolve().parents[3]
    if (checkout / "models.yaml").is_file():
        return checkout
    raise PanelError("cannot find the project data (models.yaml); set PANEL_HOME")


def cache_dir() -> Path:
    """Where converted model weights are kept between runs ($PANEL_CACHE overrides)."""
    env = os.environ.get("PANEL_CACHE")
    xdg = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    base = Path(env) if env else xdg / "panel"
    base.mkdir(parents=True, exist_ok=True)
    return base


def child(folder: Path, name: str, suffix: str = "", *, field: str = "name",
          source: str | None = None) -> Path:
    """``folder / (name + suffix)``, or InputError when that would not be one plain entry
    inside ``folder``.

    Refused: an empty name, one holding ``/``, ``\\``, NUL or any control/format
    character, ``.``/``..`` or any name starting with ``.`` (hidden files, traversal), a name
    too long for a file name, and one that resolves outside ``folder`` (an existing symlink
    pointing out included). ``field`` and ``source`` name where the name came from, for the
    error line. The returned path keeps ``folder``'s form (relative stays relative).
    """
    where = source or str(folder)
    reason = _name_problem(name, suffix)
    if reason is None:
        base = folder.resolve()
        target = base / (name + suffix)
        if target.is_symlink():  # the name has no separator: only its own entry can lead out
            target = target.resolve()
        if target == base or not target.is_relative_to(base):
            reason = f"resolves outside {folder}"
    if reason is not None:
        raise InputError(where, f"{name!r} cannot be used as a file name: {reason}", field=field)
    return folder / (name + suffix)


def _name_problem(name: object, suffix: str) -> str | None:
    """Why ``name`` cannot be a single file name inside a folder, or None when it can."""
    if not isinstance(name, str) or not name:
        return "it is empty or not text"
    full = name + suffix
    if "/" in full or "\\" in full:
        return "it contains a path separator"
    if any(unicodedata.category(ch) in _REFUSED_CATEGORIES for ch in full):
        return "it contains a control character"
    if full.startswith(".") or name in (".", ".."):
        return "it starts with '.'"
    if name != name.strip() or full != full.strip():
        return "it starts or ends with white space"
    if len(full.encode("utf-8")) > NAME_BYTES_MAX:
        return f"it is longer than {NAME_BYTES_MAX} bytes"
    return None
