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
# app first: the engine must start all the same (backends/vllm/compat._proxies_resolvable).
import flask  # noqa: F401
import pytest
import yaml
from hypothesis import settings

from panel import backends
from panel.backends.base import Backend
from panel.backends.mock import Mocks
from panel.config.project import project_root
from panel.config.workspace import Workspace

# Property tests check behaviour, not speed: the suite's other lane runs at nice 19 beside
# the engine tests, where one example can take seconds; hypothesis's 200 ms deadline then
# fails a correct test (seen: a CSV example of 290 ms on a loaded machine).
settings.register_profile("panel", deadline=None)
settings.load_profile("panel")

# The whole run is offline, subprocesses included: a hub model missing from the cache is an
# error that says how to fetch it, never a download in the middle of a test.
os.environ["HF_HUB_OFFLINE"] = "1"

ROOT = project_root()
EXAMPLES = ROOT / "examples" / "tools"
EMBEDDED = "smollm2-135m"
GEMMA = "gemma3-270m"
"""The second embedded backbone (the ``gemma`` fixture's)."""


def need(module: str) -> Any:
    """Import a test's optional dependency (xgrammar, playwright): a skip on a developer's
    machine that lacks it, an error on CI ($CI set), where a skip would pass silently."""
    if os.environ.get("CI"):
        return importlib.import_module(module)
    return pytest.importorskip(module)


# The real-engine tests run on a copy of the project with shorter replies and a smaller KV
# cache (``engine_project``). On 2 CPU cores decoding is most of their time, and every engine
# start allocates and zeroes its whole KV cache: 2 GiB cost 3 s and 5.5 s of kernel time per
# start, against 0.5 GiB (measured). What they prove holds for any lengths and cache size;
# the default lengths are proven on the real engine by test_vllm_engine's four-persona test
# and, token by token on the real vocabulary, by contract/test_bound.py.
ENGINE_LENGTHS = {"sentences": [2, 3], "sentence_words": [4, 12], "reasoning_words": [4, 12]}
ENGINE_KV_CACHE = "536870912"  # bytes: 0.5 GiB, ~23k tokens of SmolLM2 in bfloat16, ~11k in float32


@pytest.fixture(scope="session")
def engine_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project (PANEL_HOME) of every real-engine test: see ENGINE_LENGTHS."""
    from factories import copy_project

    root = copy_project(tmp_path_factory.mktemp("engine-project"))
    panel = root / "panel.yaml"
    panel.write_text(panel.read_text() + yaml.safe_dump({"review": ENGINE_LENGTHS},
                                                        default_flow_style=None))
    models = root / "models.yaml"
    text = models.read_text()
    assert text.count("kv_cache_memory_bytes: 2147483648") >= 3, "models.yaml changed"
    models.write_text(text.replace("kv_cache_memory_bytes: 2147483648",
                                   f"kv_cache_memory_bytes: {ENGINE_KV_CACHE}"))
    return root


@pytest.fixture
def home(request: pytest.FixtureRequest) -> Path:
    """The project a test runs on: the checkout's data, or a real-engine test's project."""
    if request.node.get_closest_marker("engine"):
        return Path(request.getfixturevalue("engine_project"))
    return ROOT


@pytest.fixture(autouse=True)
def _outputs_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                    home: Path) -> Iterator[None]:
    """No test writes into the checkout's outputs/: relative 'outputs' lands in tmp_path.
    PANEL_HOME is the test's project, here (``project_root`` reads it again) and in the
    subprocesses it starts."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PANEL_HOME", str(home))
    monkeypatch.delenv("PANEL_MODEL", raising=False)
    project_root.cache_clear()
    yield
    project_root.cache_clear()


@pytest.fixture(autouse=True)
def mock(monkeypatch: pytest.MonkeyPatch) -> Mocks:
    """Every mock backend this test's runs build through the registry, and the replies
    queued for them (``mock.enqueue`` before the run, ``mock.calls``/``mock.made`` after)."""
    mocks = Mocks()
    monkeypatch.setitem(backends._FACTORIES, "mock", mocks)
    return mocks


@pytest.fixture
def ws(tmp_path: Path, home: Path) -> Workspace:
    """A workspace over the test's project data, writing to tmp_path/outputs."""
    return Workspace(output=tmp_path / "outputs", root=home)


@pytest.fixture(scope="session")
def engine(engine_project: Path) -> Iterator[Backend]:
    """The real in-process vLLM engine on the embedded model, shared by the session."""
    yield from _session_engine(engine_project, EMBEDDED)


@pytest.fixture(scope="session")
def gemma(engine_project: Path) -> Iterator[Backend]:
    """The second local backbone (Gemma 3 270M) on a real engine, shared by its two tests:
    it started twice before (~30 s a start). Beside ``engine`` it runs in vLLM's own core
    process, which waits idle (blocked on its queue) between them."""
    yield from _session_engine(engine_project, GEMMA)


def _session_engine(engine_project: Path, model: str) -> Iterator[Backend]:
    """``model``'s backend on the engine project, started now, closed when the session ends."""
    from panel.backends import create_backend

    backend = create_backend(Workspace(root=engine_project).registry.get(model))
    yield backend
    backend.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that uses the real engine carries the ``engine`` marker, so
    ``-m "not engine"`` (``scripts/test --quick``) never starts vLLM."""
    for item in items:
        if {"engine", "gemma"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.engine)
