"""A persona's verdict over several samples: the majority, its interval, and whether it is
still uncertain (so ``--samples auto`` draws again) or needs an editor.

One sample decides a persona's verdict by default, and near the rubric's thresholds that
is close to a coin flip. Samples of one persona and card are the records that share every
input but the sample index (their *family*); the persona's verdict is their majority
(``majority``'s tie rule), shown as "ship · 4 of 5 samples" with Wilson's 95% interval of
the ship share. The policy (panel.yaml ``samples``) says when the verdict is uncertain.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from panel.config.settings import Samples
from panel.contract.output import Rubric
from panel.contract.records import ReviewRecord
from panel.hashing import json_sha
from panel.verdict.majority import majority

NOT_IN_FAMILY = ("sample", "versions", "dtype")
"""Provenance that differs between samples of one persona and card (or between machines)."""
Z95 = 1.959964


def family(record: ReviewRecord) -> str:
    """What the samples of one persona, card and setting share: their provenance but the
    sample index (and the library versions and machine facts, which a re-run may change)."""
    kept = {k: v for k, v in record.provenance.items() if k not in NOT_IN_FAMILY}
    return json_sha([record.tool, record.persona, record.model, kept])


def wilson(k: int, n: int) -> tuple[float, float]:
    """Wilson's 95% score interval of a share k/n ((0, 1) when n is 0)."""
    if n == 0:
        return 0.0, 1.0
    p, z2 = k / n, Z95 * Z95
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = Z95 * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class SampleTally:
    """One persona's samples of one card, counted."""

    verdict: str | None
    ships: int
    voters: int
    samples: int
    p_ship: float | None
    uncertain: bool
    needs_editor: bool

    @property
    def interval(self) -> tuple[float, float]:
        return wilson(self.ships, self.voters)

    @property
    def split(self) -> float:
        """How split the samples are: the minority's share (0 unanimous, 0.5 even)."""
        return min(self.ships, self.voters - self.ships) / self.voters if self.voters else 0.5

    @property
    def label(self) -> str:
        """"ship · 4 of 5 samples", as the pages print it."""
        agree = self.ships if self.verdict == "ship" else self.voters - self.ships
        return f"{self.verdict or 'no verdict'} · {agree} of {self.samples} samples"


def estimate(records: Sequence[ReviewRecord], trust_p_ship: bool = False) -> float | None:
    """P(ship) of a persona: of several samples, the share of ship verdicts, the margin of
    the majority that decides; of a single one, its P(ship) from the log-probabilities
    when ``trust_p_ship`` (else None: one verdict is no estimate). The mean of the
    samples' P(ship) is not used: SmolLM2 puts P(ship) near 0.7 on most confident ships,
    so it kept unanimous personas in the band to the cap (16 of 40 on the examples)."""
    ok = [r for r in records if r.ok and r.verdict]
    if len(ok) == 1:
        return ok[0].p_ship if trust_p_ship and ok[0].edit is None else None
    return sum(r.verdict == "ship" for r in ok) / len(ok) if ok else None


def tally(records: Sequence[ReviewRecord], rubric: Rubric, policy: Samples) -> SampleTally:
    """The majority of a persona's samples, and whether it is uncertain under ``policy``:
    no estimate (no valid sample, or one without P(ship)); verdicts tied; or the
    estimate strictly inside the band. Uncertain at the cap: needs an editor."""
    votes = [(r.verdict, float(r.score)) for r in records
             if r.ok and r.verdict and r.score is not None]
    vote = majority(votes, rubric)
    p = estimate(records, policy.trust_p_ship)
    lo, hi = policy.band
    uncertain = p is None or vote.ship == vote.skip or lo < p < hi
    return SampleTally(verdict=vote.verdict, ships=vote.ship, voters=len(votes),
                       samples=len(records), p_ship=p, uncertain=uncertain,
                       needs_editor=uncertain and len(records) >= policy.cap)


def families(records: Iterable[ReviewRecord]) -> dict[str, list[ReviewRecord]]:
    """Records grouped by family, each group in sample order."""
    groups: dict[str, list[ReviewRecord]] = {}
    for r in records:
        groups.setdefault(family(r), []).append(r)
    return {k: sorted(v, key=lambda r: r.sample) for k, v in groups.items()}


def representative(samples: Sequence[ReviewRecord], verdict: str | None) -> ReviewRecord:
    """The review shown for a persona: the newest valid sample that agrees with the
    majority (so the text argues the verdict shown), else the newest sample."""
    agreeing = [r for r in samples if r.ok and r.verdict == verdict]
    return (agreeing or list(samples))[-1]


def persona_verdicts(records: Sequence[ReviewRecord], rubric: Rubric,
                     policy: Samples) -> list[tuple[ReviewRecord, SampleTally | None]]:
    """Each persona's shown review, with its tally when it has more than one sample; a
    single-sample persona is returned as it is (tally None)."""
    out: list[tuple[ReviewRecord, SampleTally | None]] = []
    for samples in families(records).values():
        if len(samples) == 1:
            out.append((samples[0], None))
            continue
        counted = tally(samples, rubric, policy)
        out.append((representative(samples, counted.verdict), counted))
    return out


def representatives(records: Sequence[ReviewRecord], rubric: Rubric,
                    policy: Samples | None = None) -> list[ReviewRecord]:
    """One review per persona family: what a panel verdict counts."""
    return [r for r, _ in persona_verdicts(records, rubric, policy or Samples())]


def shown_reviews(latest: Sequence[ReviewRecord], every: Callable[[], Sequence[ReviewRecord]],
                  rubric: Rubric, policy: Samples,
                  ) -> list[tuple[ReviewRecord, SampleTally | None]]:
    """What the pages show per persona: the newest review (an editor's pinned one stays
    as it is) or, when its family holds several samples, the majority's representative
    with the tally. ``every`` (all of the tool's samples) is read only when a newest
    review is a later sample: a tool reviewed once per persona, the common case, costs
    the site builder no second query."""
    if not any(r.sample > 0 for r in latest):
        return [(r, None) for r in latest]
    grouped = families(every())
    shown: list[tuple[ReviewRecord, SampleTally | None]] = []
    for newest in latest:
        samples = grouped.get(family(newest), [newest])
        if newest.edit is not None or len(samples) < 2:
            shown.append((newest, None))
            continue
        counted = tally(samples, rubric, policy)
        shown.append((representative(samples, counted.verdict), counted))
    return shown


def editor_queue(records: Sequence[ReviewRecord], rubric: Rubric,
                 policy: Samples) -> list[tuple[ReviewRecord, SampleTally]]:
    """Each persona still uncertain at the cap (needs an editor): its shown review and its
    tally, the most split first."""
    queue = [(r, t) for r, t in persona_verdicts(records, rubric, policy)
             if t is not None and t.needs_editor]
    return sorted(queue, key=lambda rt: (-rt[1].split, rt[0].tool, rt[0].persona))
