"""Shared options: --dtype on the review commands."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

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
