"""Leases during a run: the heartbeat keeps a long run's leases alive, so no other run
takes over keys that are still being made (reviews and head-to-head judgments alike)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

from panel.backends.mock import Mocks
from panel.config.workspace import Workspace
from panel.inputs.cards import load_cards
from panel.pipeline import run
from panel.pipeline.pairwise import judge_pairs
from panel.pipeline.run import plan, review_cards
from panel.store.sqlite import Store

from conftest import EXAMPLES

TTL_S = 0.6  # a lease lapses after this unless renewed; the run lasts ~3 times as long


def short_leases(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every claim and heartbeat of the run under test on TTL_S instead of 10 minutes."""
    claim = Store.claim

    def short_claim(self: Store, keys: Iterable[str], owner: str, ttl_s: float = TTL_S,
                    skip_done: bool = True) -> set[str]:
        return claim(self, keys, owner, TTL_S, skip_done)

    class ShortBeat(run._Heartbeat):
        def __init__(self, store: Store, owner: str, ttl_s: float = TTL_S) -> None:
            super().__init__(store, owner, TTL_S)

    monkeypatch.setattr(Store, "claim", short_claim)
    monkeypatch.setattr(run, "_Heartbeat", ShortBeat)
    monkeypatch.setattr("panel.pipeline.pairwise._Heartbeat", ShortBeat)
    monkeypatch.setenv("PANEL_MOCK_DELAY_S", "0.5")


def intruder(out: Path, keys: list[str], stop: threading.Event) -> tuple[threading.Thread,
                                                                          list[set[str]]]:
    """Another run, polling the store while ours works: what it manages to claim once ours
    holds every key. (Polling from the start raced ours to its first claim: under CI's load
    the run under test was still planning after 0.1 s, and the intruder took all four keys.)"""
    taken: list[set[str]] = []

    def poll() -> None:
        with Store(out) as store:
            while store.held_by_others(keys, "intruder") != set(keys) and not stop.wait(0.01):
                pass
            while not stop.wait(0.1):
                taken.append(store.claim(keys, "intruder", skip_done=True))
    thread = threading.Thread(target=poll)
    thread.start()
    return thread, taken


def during(out: Path, keys: list[str], work: Callable[[], Any]) -> list[set[str]]:
    stop = threading.Event()
    thread, taken = intruder(out, keys, stop)
    try:
        work()
    finally:
        stop.set()
        thread.join()
    return taken


def test_the_heartbeat_keeps_a_long_reviews_run_leased(ws: Workspace,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       mock: Mocks) -> None:
    """4 reviews at 0.5 s each (2 s) under 0.6 s leases: the intruder, polling every 0.1 s,
    never claims one; the run's own leases are gone when it ends."""
    short_leases(monkeypatch)
    card = load_cards([EXAMPLES / "voicedesk.yaml"])[0].card
    keys = [j.key for j in plan(ws, [card], "mock")]
    started = time.monotonic()
    taken = during(ws.output, keys, lambda: review_cards(ws, [card], "mock"))
    assert time.monotonic() - started > 3 * TTL_S and len(taken) > 10
    assert set().union(*taken) == set() and mock.calls == 4
    assert ws.store.claim(keys, "after", skip_done=False) == set(keys)  # released


def test_the_heartbeat_keeps_a_long_head_to_head_leased(ws: Workspace,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        mock: Mocks) -> None:
    short_leases(monkeypatch)
    a, b = (c.card for c in load_cards([EXAMPLES / "patchpilot.yaml",
                                        EXAMPLES / "diffsage.yaml"]))
    from panel.pipeline.pairwise import make_pair_job

    settings, people = ws.settings("mock"), ws.personas(["builder", "skeptic"])
    keys = [make_pair_job(x, y, p, settings).key for p in people for x, y in ((a, b), (b, a))]
    taken = during(ws.output, keys,
                   lambda: judge_pairs(ws, [(a, b)], "mock", ["builder", "skeptic"]))
    assert set().union(*taken) == set() and mock.calls == 4
