"""What a command shows while it works: one bar per phase, or one line per phase in a log.

A first run converts the embedded model, starts vLLM, then reviews; each is a wait of
seconds to minutes, so each gets one bar (rich) with what is known of it: count, rate and
time left for the reviews, elapsed time for the two start-up phases, which have no count.
Where stderr is not a terminal (a log, a pipe, CI) there is no bar and no control
character: one short line per phase, when it ends. (The libraries' own bars and warnings
are hidden by ``options.quiet_third_party``.)

Commands import this module when they run, not at ``panel --help``: rich takes as long to
load as click.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import click
from rich.console import Console, RenderableType
from rich.markup import escape
from rich.progress import (
    BarColumn,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.progress import Progress as Bars
from rich.table import Column
from rich.text import Text

from panel.backends.phases import PhaseEvent, listening

Counter = Callable[[int, int], None]
"""A counted phase's callback, (done, total): the pipeline's ``Progress``."""


def stderr_is_terminal() -> bool:
    """Whether bars may be drawn: stderr is a terminal that understands cursor moves."""
    return sys.stderr.isatty() and os.environ.get("TERM", "") != "dumb"


@dataclass
class _Count:
    """A counted phase (the reviews): where it started and where it stands."""

    label: str
    first: int
    done: int
    total: int
    since: float
    task: TaskID | None = None
    reported: bool = False


class ProgressView:
    """Renders phase events and counters: rich bars on a terminal, else a line per phase.

    Use it as a context manager around the work; ``phase`` is a ``phases.Listener`` and
    ``counter(label)`` a pipeline ``Progress``.
    """

    def __init__(self, live: bool | None = None, console: Console | None = None,
                 echo: Callable[[str], None] | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.live = stderr_is_terminal() if live is None else live
        self.echo = echo or (lambda line: click.echo(line, err=True))
        self.clock = clock
        self.bars: Bars | None = _bars(console, clock) if self.live else None
        self.ready_at = clock()
        self.phases: dict[str, tuple[float, TaskID | None]] = {}
        self.counts: dict[str, _Count] = {}

    def __enter__(self) -> ProgressView:
        if self.bars is not None:
            self.bars.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for count in self.counts.values():
            self._report(count)
        if self.bars is not None:
            self.bars.stop()

    def phase(self, event: PhaseEvent) -> None:
        """A start-up phase began or ended."""
        now = self.clock()
        if event.state == "start":
            self._hide_idle_counts()
            task = self.bars.add_task(escape(event.label), total=None) if self.bars else None
            self.phases[event.key] = (now, task)
            return
        started, task = self.phases.pop(event.key, (now, None))
        failed = event.state == "failed"
        if self.bars is not None and task is not None:
            text = escape(event.label) + (" [red](failed)[/]" if failed else "")
            self.bars.update(task, description=text, total=1, completed=1, failed=failed)
            self.bars.stop_task(task)
        else:
            took = _seconds(now - started)
            self.echo(f"{event.label}: failed after {took}" if failed else
                      f"{event.label}: {took}")
        self.ready_at = now
        self._show_counts()

    def counter(self, label: str) -> Counter:
        """A callback for a counted phase, e.g. the pipeline's reviews."""
        def update(done: int, total: int) -> None:
            count = self.counts.get(label)
            if count is None:
                count = self.counts[label] = _Count(label, done, done, total, self.clock())
            count.done, count.total = done, total
            if self.bars is None:
                if done >= total:
                    self._report(count)
            elif count.task is not None:
                self.bars.update(count.task, completed=done, total=total)
                if done >= total:  # the rate stops at the last review, not at exit
                    self.bars.update(count.task, done_at=self.clock())
            elif not self.phases:
                self._show(self.bars, count)
        return update

    def _show(self, bars: Bars, count: _Count) -> None:
        count.since = max(count.since, self.ready_at)
        count.task = bars.add_task(escape(count.label), total=count.total,
                                   completed=count.done, counted=True, first=count.done,
                                   since=count.since)

    def _hide_idle_counts(self) -> None:
        """A counter that has not moved yet is drawn again below the phase that delays it
        (its rate and time left then start from when it can move)."""
        for count in self.counts.values():
            if self.bars is not None and count.task is not None and count.done == count.first:
                self.bars.remove_task(count.task)
                count.task = None

    def _show_counts(self) -> None:
        if self.bars is not None and not self.phases:
            for count in self.counts.values():
                if count.task is None:
                    self._show(self.bars, count)

    def _report(self, count: _Count) -> None:
        """The one line of a counted phase, without bars: once, when it ends."""
        if self.bars is not None or count.reported:
            return
        count.reported = True
        self.echo(count_line(count.label, count.first, count.done, count.total,
                             self.clock() - max(count.since, self.ready_at)))


def count_line(label: str, first: int, done: int, total: int, seconds: float) -> str:
    """E.g. 'reviews: 8/8 in 45 s (0.18/s)', 'reviews: 8/8 (8 already stored)'."""
    ran, notes = done - first, []
    line = f"{label}: {done}/{total}"
    if ran > 0:
        line += f" in {_seconds(seconds)}"
        notes.append(rate(ran / seconds) if seconds > 0 else "-/s")
    if first:
        notes.append(f"{first} already stored")
    return line + (f" ({'; '.join(notes)})" if notes else "")


def rate(per_s: float) -> str:
    """'2.5/s', '0.18/s', or per minute below one every ten seconds ('0.7/min')."""
    if per_s >= 10:
        return f"{per_s:.0f}/s"
    return f"{per_s:.2g}/s" if per_s >= 0.1 else f"{per_s * 60:.2g}/min"


def _seconds(s: float) -> str:
    return f"{s:.0f} s" if s < 120 else f"{s // 60:.0f} min {s % 60:.0f} s"


@contextmanager
def show_progress(label: str = "reviews", live: bool | None = None) -> Iterator[Counter]:
    """Show a command's phases while the block runs; yields the counter for ``label``."""
    with ProgressView(live) as view, listening(view.phase):
        yield view.counter(label)


@contextmanager
def show_phases(live: bool | None = None) -> Iterator[ProgressView]:
    """Show a command's phases while the block runs; yields the view, whose
    ``counter(label)`` gives each counted phase (reviews, judgments) its own bar."""
    with ProgressView(live) as view, listening(view.phase):
        yield view


def _bars(console: Console | None, clock: Callable[[], float]) -> Bars:
    """rich's Progress with the columns we show: spinner, label, bar, figures, elapsed; one
    line per bar on any width (a long label is cut with an ellipsis, never the figures)."""
    console = console or Console(stderr=True)
    bar = 20 if console.width >= 110 else 10
    label = max(12, console.width - bar - FIXED_WIDTH)
    return Bars(Spinner(finished_text="[green]✓[/]"),
                TextColumn("{task.description}", table_column=Column(
                    max_width=label, no_wrap=True, overflow="ellipsis")),
                BarColumn(bar_width=bar), Figures(table_column=Column(no_wrap=True)),
                TimeElapsedColumn(table_column=Column(no_wrap=True)), console=console,
                get_time=clock, refresh_per_second=4)  # a wait of minutes; spares the CPU


FIXED_WIDTH = 39
"""Columns besides label and bar: spinner 1, figures up to 24 ('12/40  0.18/s  ETA 0:01:23'),
elapsed 7, five gaps, one spare."""


class Spinner(SpinnerColumn):
    """rich's spinner, a tick when done, a red cross for a phase that failed."""

    def render(self, task: Task) -> RenderableType:
        if task.fields.get("failed"):
            return Text("✗", style="red")
        return super().render(task)


class Figures(ProgressColumn):
    """Count, rate and time left of a counted task; nothing for one without a count.

    The rate is over the whole phase (what it did since it could start), not rich's recent
    window: reviews finish in bursts minutes apart, where a window often holds one sample.
    """

    def render(self, task: Task) -> Text:
        if task.total is None or not task.fields.get("counted"):
            return Text("")
        parts = [f"{task.completed:.0f}/{task.total:.0f}"]
        ran = task.completed - task.fields["first"]
        took = task.fields.get("done_at", task.get_time()) - task.fields["since"]
        if ran > 0 and took > 0:
            parts.append(rate(ran / took))
            if not task.finished:
                parts.append(f"ETA {_clock((task.total - task.completed) * took / ran)}")
        return Text("  ".join(parts))


def _clock(seconds: float) -> str:
    m, s = divmod(int(seconds + 0.5), 60)
    return f"{m // 60}:{m % 60:02d}:{s:02d}" if m >= 60 else f"{m}:{s:02d}"
