"""What reviews cost: engine time shared by tokens, prices, and where the figures show."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from panel.cli import main
from panel.config.registry import Price, load_registry
from panel.config.workspace import Workspace
from panel.errors import InputError
from panel.inputs.cards import load_cards
from panel.pipeline.cost import Usage, apportion, work_tokens
from panel.pipeline.run import review_cards

from conftest import EXAMPLES
from factories import copy_project, rec


def test_apportion_splits_by_weight_and_adds_up() -> None:
    assert apportion([1, 3], 8.0) == [2.0, 6.0]
    assert apportion([0, 0], 3.0) == [1.5, 1.5]
    assert apportion([], 3.0) == []
    assert work_tokens(100, 30, 50) == 120 and work_tokens(10, 40, 5) == 5


def test_usage_and_prices_per_review() -> None:
    a, b = rec("m", "t", "p1", "ship", 70), rec("m", "t", "p2", "skip", 30)
    a = a.model_copy(update={"engine_seconds": 3.0})
    b = b.model_copy(update={"engine_seconds": 1.0})
    usage = Usage.of([a, b])
    assert (usage.reviews, usage.engine_seconds, usage.seconds_per_review) == (2, 4.0, 2.0)
    hourly = Price(per_hour=3.6)  # $0.001 an engine-second
    assert usage.dollars_per_review(hourly) == pytest.approx(0.002)
    figures = usage.record(hourly)
    assert figures["dollars_per_1000_verdicts"] == pytest.approx(8.0)
    assert figures["reviews_per_second"] == 0.5
    tokens = Price(per_million_input=1.0, per_million_output=4.0, per_million_cached=0.5)
    # rec(): 10 output tokens and no prompt tokens a review
    assert usage.dollars_per_review(tokens) == pytest.approx(40 / 1e6)
    assert Usage.of([a, rec("m", "t", "p3", "ship", 80)]).engine_seconds is None
    assert Usage.of([]).dollars_per_review(hourly) is None


@pytest.mark.parametrize(("cost", "reason"), [
    ("{per_hour: 2, per_million_input: 1, per_million_output: 2}",
     "Value error, give per_hour, or per_million_input and per_million_output"),
    ("{}", "Value error, give per_hour, or per_million_input and per_million_output"),
    ("{per_million_input: 1}", "Value error, per-token prices need both per_million_input "
     "and per_million_output"),
])
def test_a_price_is_hourly_or_per_token(tmp_path: Path, cost: str, reason: str) -> None:
    path = tmp_path / "models.yaml"
    path.write_text(f"default: x\nmodels:\n  x:\n    backend: mock\n    cost: {cost}\n")
    with pytest.raises(InputError) as err:
        load_registry(path)
    assert str(err.value) == f"{path}: field 'models.x.cost' {reason}"


def test_an_unknown_price_key_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "models.yaml"
    path.write_text("default: x\nmodels:\n  x:\n    backend: mock\n    cost: {per_hr: 2}\n")
    with pytest.raises(InputError) as err:
        load_registry(path)
    assert err.value.field == "models.x.cost.per_hr"


@pytest.fixture
def priced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project whose mock entry costs $36 an hour ($0.01 an engine-second)."""
    root = copy_project(tmp_path / "project")
    models = root / "models.yaml"
    entry = "    backend: mock\n    sampling: {temperature: 0.7, max_tokens: 2560, seed: 0}\n"
    text = models.read_text()
    assert entry in text  # the fixture fails loudly when models.yaml's mock entry moves
    models.write_text(text.replace(entry, "    backend: mock\n    cost: {per_hour: 36}\n"
                                          + entry.removeprefix("    backend: mock\n"), 1))
    monkeypatch.setenv("PANEL_HOME", str(root))
    return root


def test_a_live_run_shares_its_engine_time_and_the_summary_prices_it(priced: Path) -> None:
    ws = Workspace(root=priced)
    assert ws.registry.get("mock").cost == Price(per_hour=36)
    run = review_cards(ws, [c.card for c in load_cards([EXAMPLES / "voicedesk.yaml"])], "mock")
    shares = [r.engine_seconds for r in run.records]
    assert len(shares) == 4 and all(s is not None and s >= 0 for s in shares)
    cost = json.loads(run.manifest.read_text())["cost"]  # type: ignore[union-attr]
    assert cost["reviews"] == 4 and cost["engine_seconds"] == pytest.approx(sum(shares),
                                                                            abs=1e-3)
    assert cost["dollars_per_review"] == pytest.approx(0.01 * cost["engine_seconds"] / 4)
    res = CliRunner().invoke(main, ["batch", str(EXAMPLES / "voicedesk.yaml"), "-m", "mock",
                                    "-o", "second"])
    lines = res.stdout.splitlines()
    assert "cost of the 4 review(s) made now:" in lines
    assert [ln.split()[0] for ln in lines if ln.startswith("  $ per")] == ["$"] * 3
    assert any(ln.startswith("  $ per 1,000 verdicts") for ln in lines)
    res = CliRunner().invoke(main, ["models"])
    mock = res.stdout.splitlines().index(next(ln for ln in res.stdout.splitlines()
                                              if ln.startswith("  mock ")))
    cost_line = res.stdout.splitlines()[mock + 1]
    assert cost_line.startswith("    cost: $36/hour; ") and "engine-s/review over 4 stored" \
        in cost_line and "/1,000 verdicts" in cost_line


def test_judgments_carry_their_share_of_engine_time(ws: Workspace) -> None:
    from panel.pipeline.pairwise import judge_pairs

    a, b = (c.card for c in load_cards([EXAMPLES / "patchpilot.yaml",
                                        EXAMPLES / "diffsage.yaml"]))
    [h2h] = judge_pairs(ws, [(a, b)], "mock")
    stored = [ws.store.get_pair(k) for row in h2h.rows for k in
              (row.ab and row.ab.key, row.ba and row.ba.key) if k]
    assert len(stored) == 8
    assert all(r is not None and r.engine_seconds is not None for r in stored)
    assert stored[0].attempts[0].prompt_tokens > 0  # type: ignore[union-attr]


def test_an_engine_start_is_no_reviews_cost(ws: Workspace) -> None:
    """A backend that starts lazily is started before the clock runs (CountingBackend)."""
    import time

    from panel.backends.mock import MockBackend

    class SlowStart(MockBackend):
        started = False

        def start(self) -> None:
            time.sleep(0.5)
            self.started = True

    backend = SlowStart(ws.settings("mock").spec)
    run = review_cards(ws, [c.card for c in load_cards([EXAMPLES / "voicedesk.yaml"])],
                       "mock", backend=backend)
    assert backend.started and run.seconds >= 0.5
    assert 0 <= sum(r.engine_seconds or 0.0 for r in run.records) < 0.25
