"""The suite's own rules: offline for the whole run; optional test dependencies fail on CI."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import need


def test_the_whole_run_is_offline_subprocesses_included() -> None:
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    code = "import huggingface_hub.constants as c; print(c.HF_HUB_OFFLINE)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    assert out.stdout.strip() == "True"


def test_a_missing_test_dependency_skips_locally(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception):
        need("panel_no_such_module")


def test_a_missing_test_dependency_fails_on_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(ModuleNotFoundError):
        need("panel_no_such_module")
    assert need("json").dumps([1]) == "[1]"
