"""Where the editable data lives: personas/, prompts/, models.yaml, panel.yaml.

The data files sit at the project root, not inside the package, because users edit them.
The root is ``$PANEL_HOME`` when set, else the nearest folder upward from the current one
holding ``models.yaml``, else the checkout this package was installed from (editable).
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

from panel.errors import PanelError


@cache
def project_root() -> Path:
    """The folder holding models.yaml, personas/ and prompts/."""
    env = os.environ.get("PANEL_HOME")
    if env:
        return Path(env).resolve()
    for folder in [Path.cwd(), *Path.cwd().parents]:
        if (folder / "models.yaml").is_file() and (folder / "personas").is_dir():
            return folder
    checkout = Path(__file__).resolve().parents[2]
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
