"""Shared fixtures: a workspace writing to tmp_path, the mock backend, and one real engine.

The real vLLM engine on the embedded model is started once per test session (about 30 s on
CPU) and shared by every test that asks for ``engine``; tests that prove model-facing
behaviour use it, orchestration tests use the mock backend.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# Flask is loaded before the session engine starts, as in any run that imported the editor
# app first: the engine must start all the same (backends/_vllm_compat._proxies_resolvable).
import flask  # noqa: F401
import pytest

from panel.backends.base import Backend
from panel.backends.mock import MockBackend
from panel.config.project import project_root
from panel.config.workspace import Workspace

# The whole run is offline, subprocesses included: a hub model missing from the cache is an
# error that says how to fetch it, never a download in the middle of a test.
os.environ["HF_HUB_OFFLINE"] = "1"

ROOT = project_root()
EXAMPLES = ROOT / "examples" / "tools"
EMBEDDED = "smollm2-135m"


def need(module: str) -> Any:
    """Import a test's optional dependency (xgrammar, playwright): a skip on a developer's
    machine that lacks it, an error on CI ($CI set), where a skip would pass silently."""
    if os.environ.get("CI"):
        return importlib.import_module(module)
    return pytest.importorskip(module)


@pytest.fixture(autouse=True)
def _outputs_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test writes into the checkout's outputs/: relative 'outputs' lands in tmp_path."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PANEL_HOME", str(ROOT))
    monkeypatch.delenv("PANEL_MODEL", raising=False)
    MockBackend.reset()


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    """A workspace over the real data files, writing to tmp_path/outputs."""
    return Workspace(output=tmp_path / "outputs", root=ROOT)


@pytest.fixture(scope="session")
def engine() -> Iterator[Backend]:
    """The real in-process vLLM engine on the embedded model, shared by the session."""
    os.environ.setdefault("PANEL_HOME", str(ROOT))
    from panel.backends import create_backend

    backend = create_backend(Workspace(root=ROOT).registry.get(EMBEDDED))
    yield backend
    backend.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that uses the real engine carries the ``engine`` marker, so
    ``-m "not engine"`` (``scripts/test --quick``) never starts vLLM."""
    for item in items:
        if "engine" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.engine)
