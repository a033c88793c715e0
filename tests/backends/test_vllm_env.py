"""The environment an engine starts under on CPU (backends/vllm/compat._start), without vLLM:
a stand-in ``vllm`` module records what the engine would have read."""

from __future__ import annotations

import os
import sys
import types
from typing import Any

import pytest

from panel.backends.vllm import compat

KEYS = ("VLLM_ENABLE_V1_MULTIPROCESSING", "VLLM_CPU_NUM_OF_RESERVED_CPU")


def start_seeing(monkeypatch: pytest.MonkeyPatch, second: bool) -> dict[str, str | None]:
    """Start an engine (the first in this process, or a second) and return the two
    variables as its constructor saw them."""
    seen: dict[str, str | None] = {}

    def llm(**_: Any) -> object:
        seen.update({k: os.environ.get(k) for k in KEYS})
        seen["engine core apart"] = FakeEngine.from_engine_args(engine_args=None)
        return object()

    fake_vllm(monkeypatch, llm)
    monkeypatch.setattr(compat, "on_cpu", lambda: True)
    monkeypatch.setattr(compat, "_in_process", {1} if second else set())
    compat._start({})
    assert FakeEngine.from_engine_args(engine_args=None) == "no", "patched for the start only"
    return seen


class FakeEngine:
    """vLLM's LLMEngine as far as ``LLM`` uses it: the process layout it was asked for."""

    @classmethod
    def from_engine_args(cls, engine_args: Any, enable_multiprocessing: bool = False) -> str:
        return "yes" if enable_multiprocessing else "no"


def fake_vllm(monkeypatch: pytest.MonkeyPatch, llm: Any) -> None:
    """A stand-in ``vllm`` package whose ``LLM`` is ``llm``."""
    monkeypatch.setitem(sys.modules, "vllm", types.SimpleNamespace(
        LLM=llm, envs=types.SimpleNamespace(disable_envs_cache=lambda: None)))
    monkeypatch.setitem(sys.modules, "vllm.v1.engine.llm_engine",
                        types.SimpleNamespace(LLMEngine=FakeEngine))


@pytest.mark.parametrize("second", [False, True])
def test_no_core_is_held_back_and_the_users_values_win(monkeypatch: pytest.MonkeyPatch,
                                                       second: bool) -> None:
    for key in KEYS:
        monkeypatch.delenv(key, raising=False)
    apart = "yes" if second else "no"
    assert start_seeing(monkeypatch, second) == {KEYS[0]: "0", KEYS[1]: "0",
                                                 "engine core apart": apart}
    assert not [k for k in KEYS if k in os.environ], "set for the start only"
    monkeypatch.setenv(KEYS[1], "1")
    assert start_seeing(monkeypatch, second)[KEYS[1]] == "1"
    assert os.environ[KEYS[1]] == "1"


@pytest.mark.parametrize("user", ["0", "1"])
def test_a_second_engine_gets_one_process_of_its_own_whatever_the_user_set(
        monkeypatch: pytest.MonkeyPatch, user: str) -> None:
    """The first engine holds this process's vLLM state: a second one in it would break it.
    Its engine core runs apart, with its model in that same process ("0": on CPU, "1" would
    spawn the model a further process)."""
    monkeypatch.setenv(KEYS[0], user)
    seen = start_seeing(monkeypatch, second=True)
    assert (seen[KEYS[0]], seen["engine core apart"]) == ("0", "yes")
    assert os.environ[KEYS[0]] == user


@pytest.mark.parametrize(("user", "second"), [(None, False), ("/opt/mine.so", False),
                                              (None, True)])
def test_vllms_ld_preload_is_there_for_the_start_and_gone_after(
        monkeypatch: pytest.MonkeyPatch, user: str | None, second: bool) -> None:
    """The stand-in writes LD_PRELOAD as vLLM's CPU platform does: an engine process
    spawned during the start sees it; the user's own value (or none) is back afterwards,
    here and in any child started later."""
    if user is None:
        monkeypatch.delenv("LD_PRELOAD", raising=False)
    else:
        monkeypatch.setenv("LD_PRELOAD", user)
    during: list[str] = []

    def llm(**_: Any) -> object:
        os.environ["LD_PRELOAD"] = ":".join(filter(None, [user, "/torch.libs/libgomp.so"]))
        during.append(child_sees())
        return object()

    fake_vllm(monkeypatch, llm)
    monkeypatch.setattr(compat, "on_cpu", lambda: True)
    monkeypatch.setattr(compat, "_in_process", {1} if second else set())
    compat._start({})
    assert during == [":".join(filter(None, [user, "/torch.libs/libgomp.so"]))]
    assert os.environ.get("LD_PRELOAD") == user and child_sees() == (user or "")


def child_sees() -> str:
    """LD_PRELOAD as a child process started now gets it."""
    import subprocess

    return subprocess.run([sys.executable, "-c", "import os; print(os.environ.get("
                           "'LD_PRELOAD', ''))"], capture_output=True, text=True,
                          check=True, env=None).stdout.strip()
