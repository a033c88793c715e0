"""What reviews cost: tokens, engine time, and dollars per review and per verdict.

An engine runs many requests at once, so a request's own wall time says little about what
it cost: 32 requests decoding together for 10 s cost 10 engine-seconds, not 320. Each
review's share is therefore the batch's engine wall time apportioned by the tokens the
engine processed for it (prompt tokens not served from the cache, plus generated tokens),
so the shares of a batch add up to its wall time. A price per GPU-hour is charged on those
seconds; a price per million tokens on the tokens.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from panel.config.registry import Price
from panel.contract.pairwise import PairRecord
from panel.contract.records import ReviewRecord
from panel.store.sqlite import Store

REVIEWS_PER_VERDICT = 4
"""A verdict is one panel: the four personas' reviews of one card."""


def work_tokens(prompt: int, cached: int, output: int) -> int:
    """Tokens the engine computed: the uncached prompt (prefill) and the reply (decode)."""
    return max(prompt - cached, 0) + output


def apportion(weights: Sequence[int], seconds: float) -> list[float]:
    """``seconds`` split in proportion to ``weights`` (evenly when all are 0)."""
    total = sum(weights)
    if not weights:
        return []
    if total <= 0:
        return [seconds / len(weights)] * len(weights)
    return [seconds * w / total for w in weights]


M = TypeVar("M", ReviewRecord, PairRecord)


def record_tokens(rec: ReviewRecord | PairRecord) -> int:
    """The engine's work on one review or judgment, every attempt."""
    return sum(work_tokens(a.prompt_tokens, a.cached_tokens, a.output_tokens)
               for a in rec.attempts)


def share_engine_time(records: Sequence[M], seconds: float,
                      put_many: Callable[[list[M]], object]) -> list[M]:
    """Store (``put_many``, one transaction) the records a batch made again, each with its
    share of ``seconds`` of engine wall time (known only once the batch ended); return
    them."""
    shared = [rec.model_copy(update={"engine_seconds": round(share, 4)}) for rec, share in
              zip(records, apportion([record_tokens(r) for r in records], seconds), strict=True)]
    if shared:
        put_many(shared)
    return shared


@dataclass(frozen=True)
class Usage:
    """Totals over some reviews: what the engine did for them and for how long."""

    reviews: int = 0
    prompt_tokens: int = 0
    cached_tokens: int = 0
    output_tokens: int = 0
    engine_seconds: float | None = None
    """None when any review lacks its share (a hosted runner reports none)."""

    @classmethod
    def of(cls, records: Sequence[ReviewRecord]) -> Usage:
        shares = [r.engine_seconds for r in records]
        known = all(s is not None for s in shares) and bool(records)
        return cls(len(records), sum(r.prompt_tokens for r in records),
                   sum(r.cached_tokens for r in records),
                   sum(r.output_tokens for r in records),
                   round(sum(s or 0.0 for s in shares), 3) if known else None)

    def __add__(self, other: Usage) -> Usage:
        """Both together: engine time is known only where it is known for each review."""
        known = [u.engine_seconds for u in (self, other) if u.reviews]
        seconds = (None if not known or any(k is None for k in known)
                   else round(sum(k or 0.0 for k in known), 3))
        return Usage(self.reviews + other.reviews, self.prompt_tokens + other.prompt_tokens,
                     self.cached_tokens + other.cached_tokens,
                     self.output_tokens + other.output_tokens, seconds)

    @property
    def seconds_per_review(self) -> float | None:
        if self.engine_seconds is None or not self.reviews:
            return None
        return self.engine_seconds / self.reviews

    @property
    def reviews_per_second(self) -> float | None:
        if not self.engine_seconds:
            return None
        return self.reviews / self.engine_seconds

    def dollars_per_review(self, price: Price | None) -> float | None:
        """The price of the average review, or None without a price (or the time it needs)."""
        if price is None or not self.reviews:
            return None
        total = price.dollars(self.engine_seconds, self.prompt_tokens, self.cached_tokens,
                              self.output_tokens)
        return None if total is None else total / self.reviews

    def record(self, price: Price | None) -> dict[str, float | int | None]:
        """The totals and per-review figures, for a run manifest."""
        per_review = self.dollars_per_review(price)
        return {"reviews": self.reviews, "prompt_tokens": self.prompt_tokens,
                "cached_tokens": self.cached_tokens, "output_tokens": self.output_tokens,
                "engine_seconds": self.engine_seconds,
                "reviews_per_second": _round(self.reviews_per_second, 4),
                "engine_seconds_per_review": _round(self.seconds_per_review, 4),
                "dollars_per_review": per_review,
                "dollars_per_1000_verdicts": (None if per_review is None
                                              else per_review * REVIEWS_PER_VERDICT * 1000)}


def stored_usage(output: Path, models: Sequence[str]) -> dict[str, Usage]:
    """Each model's usage over the reviews stored in ``output`` that carry engine time
    (nothing, and no store created, where there is none)."""
    if not (output / Store.FILENAME).is_file():
        return {}
    out = {}
    with Store(output) as store:
        for model in models:
            timed = [r for r in store.all(model) if r.engine_seconds is not None]
            if timed:
                out[model] = Usage.of(timed)
    return out


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)
