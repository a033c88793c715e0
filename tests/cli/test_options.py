"""Shared options: --dtype on the review commands, and -v against the libraries' noise."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import panel
from panel import backends
from panel.backends.base import Backend
from panel.backends.mock import MockBackend
from panel.cli import main
from panel.config.registry import ModelSpec
from panel.config.workspace import Workspace

from conftest import EMBEDDED, EXAMPLES

CARD = str(EXAMPLES / "tracelens.yaml")
CARDS = {"review": [CARD], "compare": [CARD, str(EXAMPLES / "diffsage.yaml")],
         "batch": [CARD]}


def run(*args: str) -> tuple[int, str, str]:
    res = CliRunner().invoke(main, list(args))
    return res.exit_code, res.stdout, res.stderr


@pytest.mark.parametrize("command", sorted(CARDS))
def test_a_bad_dtype_is_one_line_before_any_work(tmp_path: Path, command: str) -> None:
    code, out, err = run(command, *CARDS[command], "-m", "mock", "--dtype", "fp32",
                         "-o", str(tmp_path / "o"))
    assert (code, out) == (2, "")
    assert err == ("error: --dtype: 'fp32' is not a dtype (use one of auto, float32, "
                   "bfloat16, float16)\n")
    assert not (tmp_path / "o").exists()


def test_dtype_is_refused_for_a_model_without_an_engine(tmp_path: Path) -> None:
    code, _, err = run("review", CARD, "-m", "mock", "--dtype", "float32",
                       "-o", str(tmp_path / "o"))
    assert code == 2
    assert err == ("error: --dtype: model 'mock' (backend mock) starts no engine here, so its "
                   "dtype cannot be chosen\n")


@pytest.mark.parametrize("command", sorted(CARDS))
def test_dtype_reaches_the_engine_and_the_records(tmp_path: Path, command: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[ModelSpec] = []

    def engine(spec: ModelSpec) -> Backend:  # the embedded entry, served by the mock
        started.append(spec)
        return MockBackend(spec)

    monkeypatch.setitem(backends._FACTORIES, "vllm", engine)
    code, _, err = run(command, *CARDS[command], "-m", EMBEDDED, "--dtype", "bfloat16",
                       "-p", "builder", "-o", str(tmp_path / "o"))
    assert code == 0, err
    assert [s.dtype for s in started] == ["bfloat16"]
    records = Workspace(tmp_path / "o").store.latest("tracelens", EMBEDDED)
    assert [r.provenance["dtype"]["requested"] for r in records] == ["bfloat16"]
    assert records[0].provenance["model"]["dtype"] == "bfloat16"


NOISY = """
import logging, sys, warnings
from panel.backends import backend
from panel.backends.mock import MockBackend
from panel.backends.phases import phase

@backend("mock")
def noisy(spec):
    warnings.warn("`torch.distributed.reduce_op` is deprecated", FutureWarning)
    logging.getLogger("vllm.triton_utils").warning("Triton is installed, but doesn't include "
                                                   "CPU backend. Disabling Triton.")
    with phase("engine", "starting vLLM (mock)"):
        pass
    return MockBackend(spec)

from panel.cli import main
main(sys.argv[1:], prog_name="panel")
"""


def panel_in_a_pipe(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`panel ARGS 2>&1 | cat`, where the mock backend warns and logs like vLLM does."""
    src = str(Path(panel.__file__).parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    for name in ("PYTHONWARNINGS", "TQDM_DISABLE", "TORCH_CPP_LOG_LEVEL"):
        env.pop(name, None)  # as a user's shell has them
    return subprocess.run([sys.executable, "-c", NOISY, *args], cwd=tmp_path, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=120, check=False)


def test_a_piped_run_shows_no_bar_and_no_library_noise(tmp_path: Path) -> None:
    done = panel_in_a_pipe(tmp_path, "review", CARD, "-m", "mock", "-o", "o")
    assert done.returncode == 0, done.stdout
    assert not re.search(r"[\r\x1b]", done.stdout)
    assert not re.search(r"(?i)warning|triton|deprecated", done.stdout), done.stdout
    lines = done.stdout.splitlines()
    assert lines[0] == "starting vLLM (mock): 0 s"
    assert re.fullmatch(r"reviews: 4/4 in 0 s \([\d.]+/s\)", lines[1]), lines
    assert lines[-1].startswith("reviewed 4, reused from store 0, failed 0")


def test_verbose_shows_what_the_libraries_say(tmp_path: Path) -> None:
    done = panel_in_a_pipe(tmp_path, "-v", "review", CARD, "-m", "mock", "-o", "o")
    assert done.returncode == 0, done.stdout
    assert "FutureWarning: `torch.distributed.reduce_op` is deprecated" in done.stdout
    assert "Triton is installed, but doesn't include CPU backend" in done.stdout
