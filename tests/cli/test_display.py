"""The progress view, fed by a fake pipeline: one line per phase in a log, bars on a terminal."""

from __future__ import annotations

import io
import re

from rich.console import Console

from panel.backends.phases import PhaseEvent, listening, phase
from panel.cli.display import ProgressView, count_line, rate


class Clock:
    """Time that moves only when the fake pipeline says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def first_run(view: ProgressView, clock: Clock, stored: int = 0, total: int = 8) -> None:
    """What a first `panel review` does: count, convert, start the engine, review."""
    progress = view.counter("reviews")
    with listening(view.phase):
        progress(stored, total)  # the pipeline reports what the store already holds
        with phase("convert", "converting smollm2 for vLLM (first use only)"):
            clock.now += 21
        with phase("engine", "starting vLLM (smollm2-135m, float32)"):
            clock.now += 14
        for done in range(stored + 1, total + 1):
            clock.now += 5
            progress(done, total)


def test_without_a_terminal_each_phase_is_one_plain_line() -> None:
    lines: list[str] = []
    clock = Clock()
    with ProgressView(live=False, echo=lines.append, clock=clock) as view:
        first_run(view, clock)
    assert lines == ["converting smollm2 for vLLM (first use only): 21 s",
                     "starting vLLM (smollm2-135m, float32): 14 s",
                     "reviews: 8/8 in 40 s (0.2/s)"]


def test_a_run_that_stops_short_still_says_where_it_got() -> None:
    lines: list[str] = []
    clock = Clock()
    with ProgressView(live=False, echo=lines.append, clock=clock) as view:
        progress = view.counter("reviews")
        progress(2, 8)
        clock.now += 30
        progress(5, 8)
        try:
            with listening(view.phase), phase("engine", "starting vLLM (x)"):
                clock.now += 3
                raise RuntimeError("no memory")
        except RuntimeError:
            pass
    assert lines == ["starting vLLM (x): failed after 3 s",
                     "reviews: 5/8 in 0 s (-/s; 2 already stored)"]


def test_count_lines() -> None:
    assert count_line("reviews", 8, 8, 8, 0.1) == "reviews: 8/8 (8 already stored)"
    assert count_line("reviews", 2, 8, 8, 150) == "reviews: 8/8 in 2 min 30 s (2.4/min; 2 " \
                                                  "already stored)"
    assert [rate(r) for r in (312.5, 2.5, 0.18, 0.012)] == ["312/s", "2.5/s", "0.18/s",
                                                            "0.72/min"]
    assert count_line("reviews", 0, 0, 0, 1) == "reviews: 0/0"


def test_on_a_terminal_one_bar_per_phase_in_the_order_they_ran() -> None:
    out = io.StringIO()
    clock = Clock()
    console = Console(file=out, force_terminal=True, width=120, color_system=None)
    with ProgressView(live=True, console=console, clock=clock) as view:
        first_run(view, clock, stored=2)
        assert view.bars is not None
        tasks = view.bars.tasks
        assert [t.description for t in tasks] == [
            "converting smollm2 for vLLM (first use only)",
            "starting vLLM (smollm2-135m, float32)", "reviews"]
        assert all(t.finished for t in tasks)
        reviews = tasks[-1]
        assert (reviews.completed, reviews.total, reviews.elapsed) == (8, 8, 30)
    final = out.getvalue().rsplit("\x1b[2K", 1)[-1].splitlines()  # the last frame
    assert [line[:10] for line in final[:3]] == ["✓ converti", "✓ starting", "✓ reviews "]
    assert re.fullmatch(r"✓ reviews +━+ 8/8  0\.2/s 0:00:30", final[2]), final


def test_on_a_narrow_terminal_each_bar_stays_one_line() -> None:
    out = io.StringIO()
    clock = Clock()
    console = Console(file=out, force_terminal=True, width=60, color_system=None)
    with ProgressView(live=True, console=console, clock=clock) as view:
        first_run(view, clock)
    final = out.getvalue().rsplit("\x1b[2K", 1)[-1].splitlines()[:3]
    assert [line[:4] for line in final] == ["✓ co", "✓ st", "✓ re"]
    assert all(len(line) <= 60 for line in final), final
    assert final[1].startswith("✓ starting vL… ")  # the label gives way, not the figures
    assert final[2].endswith("8/8  0.2/s 0:00:40")


def test_on_a_terminal_the_rate_and_time_left_of_reviews_show_while_they_run() -> None:
    out = io.StringIO()
    clock = Clock()
    console = Console(file=out, force_terminal=True, width=120, color_system=None)
    with ProgressView(live=True, console=console, clock=clock) as view:
        progress = view.counter("reviews")
        for done in range(5):
            progress(done, 8)
            clock.now += 10
        assert view.bars is not None
        view.bars.refresh()
    assert re.search(r"reviews .* 4/8  4\.8/min  ETA 0:50", out.getvalue())  # 4 in 50 s


def test_a_failed_phase_is_marked_on_its_bar() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120, color_system=None)
    with ProgressView(live=True, console=console) as view:
        view.phase(PhaseEvent("engine", "starting [x]", "start"))
        view.phase(PhaseEvent("engine", "starting [x]", "failed"))
    assert "✗ starting [x] (failed)" in out.getvalue()
