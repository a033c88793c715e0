"""Where running model servers are recorded, so a `backend: openai` entry without base_url finds
the one `panel serve` started.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from panel.errors import PanelError

if TYPE_CHECKING:
    from panel.config.registry import ModelSpec


def servers_dir() -> Path:
    """Where running servers are recorded: $PANEL_SERVERS_DIR, else ./outputs/servers."""
    return Path(os.environ.get("PANEL_SERVERS_DIR") or "outputs/servers")


def record_path(name: str) -> Path:
    """``servers/NAME.json``; a model name that would leave the folder is an InputError."""
    from panel.config.project import child

    return child(servers_dir(), name, ".json", field="model", source="models.yaml")


def resolve_url(spec: ModelSpec) -> str:
    """The /v1 URL for an openai entry: its base_url, else the server `panel serve` recorded."""
    if spec.base_url:
        return spec.base_url
    path = record_path(spec.name)
    try:
        return str(json.loads(path.read_text(encoding="utf-8"))["url"])
    except FileNotFoundError:
        raise PanelError(f"model '{spec.name}' has no base_url and no running server is "
                         f"recorded in {path}; start it with `panel serve --model {spec.name}`"
                         ) from None
    except (ValueError, KeyError):
        raise PanelError(f"{path}: not a server record (field 'url' missing); delete it and "
                         f"run `panel serve --model {spec.name}`") from None
