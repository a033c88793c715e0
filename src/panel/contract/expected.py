"""The expected score and P(ship) of one review, from the log-probabilities of its tokens.

A sampled score is one draw from the model's distribution over scores; two samples of the
same review can land 30 points apart. G-Eval (Liu et al., 2023) weights each score by its
probability instead: E[score] = sum over s of P(score = s) * s. Given the reasoning the
model wrote, that is the conditional mean of the sampled score, so it keeps the sample's
mean and drops the noise of the last draw.

Scores are several tokens when a tokenizer splits digits (SmolLM2 and Gemma 3 write "85"
as "8" "5" and "100" as "1" "0" "0"), and the engine reports the top-N alternatives only
along the path it sampled. The distribution over scores is a tree of digit tokens:

- along the sampled path each node's distribution is the observed one (exact, up to the
  top-N cut);
- a branch off that path was never computed; its next token is taken from the distribution
  observed at the same depth of the sampled path (after "8", the model's view of the
  second digit stands in for what it would write after "7"), or the deepest one observed
  when the branch runs deeper than the sampled score did;
- at every node only the continuations the grammar allows survive (the scores 0 to 100 the
  rubric admits, no leading zeros), renormalised; a node left with no mass ends its number
  where that is a valid score and is dropped otherwise.

A tokenizer whose number tokens hold whole scores (Llama 3: "85", "100") decides the score
at one position, so its expected score is exact. Whatever the path, the result is a
weighted mean of allowed scores, so it lies between the lowest and highest of them.

P(ship) = sum over s of P(score = s) * P(ship | s): a score above ``skip_threshold`` can
only ship and one below ``ship_threshold`` only skip (the grammar forces the verdict);
for a score in the overlap both are allowed, and P(ship | s) is the probability observed
at the verdict position when the sampled score was itself in the overlap (the same
same-position stand-in as for digits), or 1/2 when it was not (the verdict was forced, so
the engine's distribution there says nothing about the overlap).

Log-probabilities are read as the distribution the token was drawn from: the in-process
engine reports them after the grammar's mask, temperature, top-k and penalties
(``logprobs_mode="processed_logprobs"``, see ``backends/vllm/compat``). Whatever the
source, only grammar-allowed continuations are kept and renormalised, so unmasked
log-probabilities (another server) give the same kind of estimate.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from panel.contract.output import Rubric

TOP_LOGPROBS = 5
"""Alternatives requested per generated token (plus the sampled one). Ten digits and the
number's end compete at a score position, but a small model puts nearly all the mass on
two or three of them; 5 cost no measurable engine time over 0 on the CPU
(bench/expected.py), where 20 cost more (see its report)."""

SCORE_KEY = '"score":'
VERDICT_KEY = '"verdict":"'
DIGITS = "0123456789"
UNOBSERVED_P_SHIP = 0.5
"""P(ship | s) for an overlap score when the verdict position was forced (no evidence)."""


class TokenLogprobs(NamedTuple):
    """One generated token: its text, and the top alternatives' log-probabilities by text
    (the sampled token among them; token ids that decode alike are summed)."""

    text: str
    top: Mapping[str, float]


@dataclass(frozen=True)
class Expected:
    """A review's expected score and probability of a ship verdict."""

    score: float
    p_ship: float


def expected(tokens: Sequence[TokenLogprobs], rubric: Rubric) -> Expected | None:
    """E[score] and P(ship) of one generated review; None when the score cannot be found
    at a token boundary, or no allowed score has probability (a server that ignored the
    request for log-probabilities, a reply that is no review)."""
    dist = score_distribution(tokens, rubric)
    if not dist:
        return None
    lo, hi = min(dist), max(dist)
    mean = min(max(sum(s * p for s, p in dist.items()), lo), hi)  # no float drift past them
    sampled = _sampled_score(tokens)
    in_overlap = sampled is not None and rubric.ship_threshold <= sampled <= rubric.skip_threshold
    observed = _verdict_p_ship(tokens) if in_overlap else None
    overlap_p = UNOBSERVED_P_SHIP if observed is None else observed
    p_ship = sum(p * _p_ship_given(s, rubric, overlap_p) for s, p in dist.items())
    return Expected(score=mean, p_ship=min(max(p_ship, 0.0), 1.0))


def score_distribution(tokens: Sequence[TokenLogprobs], rubric: Rubric) -> dict[int, float]:
    """P(score = s) for every allowed score s reached with probability > 0 (sums to 1),
    or an empty dict when the score position is not found or carries no allowed mass."""
    start = score_position(tokens)
    if start is None:
        return {}
    depths = [tok.top for tok in tokens[start:start + _score_span(tokens, start)]]
    return tree_distribution(lambda depth, _: depths[min(depth, len(depths) - 1)], rubric)


Lookup = Callable[[int, str], Mapping[str, float] | None]
"""Log-probabilities of the token after the score's first ``depth`` tokens, ``digits``."""


def tree_distribution(lookup: Lookup, rubric: Rubric) -> dict[int, float]:
    """P(score = s) from any source of next-token log-probabilities. ``score_distribution``
    answers every prefix with the sampled path's position at the same depth; an engine
    asked for each prefix's own next token makes it exact (bench/expected.py compares)."""
    allowed = {str(s) for s in _allowed_scores(rubric)}
    tree = _Tree(lookup, allowed, {p[:i] for p in allowed for i in range(1, len(p) + 1)})
    return {int(text): p for text, p in tree.node(0, "").items() if p > 0}


def _allowed_scores(rubric: Rubric) -> set[int]:
    """The scores some branch of the grammar admits."""
    return set(range(rubric.ship_threshold, 101)) | set(range(0, rubric.skip_threshold + 1))


def _p_ship_given(score: int, rubric: Rubric, overlap_p: float) -> float:
    if score > rubric.skip_threshold:
        return 1.0
    if score < rubric.ship_threshold:
        return 0.0
    return overlap_p


def _offsets(tokens: Sequence[TokenLogprobs]) -> list[int]:
    """The character offset at which each token starts in the generated text."""
    out, at = [], 0
    for tok in tokens:
        out.append(at)
        at += len(tok.text)
    return out


def _token_at(offsets: list[int], tokens: Sequence[TokenLogprobs], char: int) -> int | None:
    """The index of the token that covers character ``char``."""
    for i, (at, tok) in enumerate(zip(offsets, tokens, strict=True)):
        if at <= char < at + len(tok.text):
            return i
    return None


def score_position(tokens: Sequence[TokenLogprobs]) -> int | None:
    """The index of the token where the score's first digit starts, if that is a token
    start (whitespace JSON allows after the colon is skipped)."""
    text = "".join(tok.text for tok in tokens)
    key = text.find(SCORE_KEY)
    if key < 0:
        return None
    first = key + len(SCORE_KEY)
    while first < len(text) and text[first] in " \t\n\r":
        first += 1
    if first >= len(text) or text[first] not in DIGITS:
        return None
    offsets = _offsets(tokens)
    at = _token_at(offsets, tokens, first)
    return at if at is not None and offsets[at] == first else None


def _score_span(tokens: Sequence[TokenLogprobs], start: int) -> int:
    """How many positions the sampled score's digits and its end span: each position up to
    and including the first token that holds something other than digits."""
    for i, tok in enumerate(tokens[start:]):
        if not tok.text or tok.text.strip(DIGITS):
            return i + 1
    return len(tokens) - start


def _sampled_score(tokens: Sequence[TokenLogprobs]) -> int | None:
    """The score the engine sampled, read from the text at the score position."""
    start = score_position(tokens)
    if start is None:
        return None
    rest = "".join(tok.text for tok in tokens[start:])
    digits, _ = _split(rest)
    return int(digits) if digits else None


def _verdict_p_ship(tokens: Sequence[TokenLogprobs]) -> float | None:
    """P(ship) at the token that decides between "ship" and "skip" (its second letter),
    over the alternatives that agree with the sampled text before that letter; None when
    the verdict is not found or neither word has probability there."""
    text = "".join(tok.text for tok in tokens)
    key = text.find(VERDICT_KEY, max(text.find(SCORE_KEY), 0))
    if key < 0:
        return None
    offsets = _offsets(tokens)
    decisive = key + len(VERDICT_KEY) + 1  # "s|hip" against "s|kip"
    at = _token_at(offsets, tokens, decisive)
    if at is None:
        return None
    cut = decisive - offsets[at]
    before = tokens[at].text[:cut]
    mass = {"h": 0.0, "k": 0.0}
    for alt, p in probabilities(tokens[at].top).items():
        if len(alt) > cut and alt[:cut] == before and alt[cut] in mass:
            mass[alt[cut]] += p
    total = mass["h"] + mass["k"]
    return mass["h"] / total if total > 0 else None


def _split(text: str) -> tuple[str, bool]:
    """A token's leading digits, and whether the number ends inside the token."""
    digits = text[:len(text) - len(text.lstrip(DIGITS))]
    return digits, len(digits) < len(text)


def probabilities(top: Mapping[str, float]) -> dict[str, float]:
    """Probabilities from log-probabilities, with non-finite values (a masked token's
    -inf, a hostile NaN) as zero and positive ones capped at probability 1."""
    return {t: math.exp(min(lp, 0.0)) for t, lp in top.items() if math.isfinite(lp)}


@dataclass
class _Tree:
    """The tree of score tokens: ``node`` gives each completed score's probability."""

    lookup: Lookup
    allowed: set[str]
    prefixes: set[str]
    seen: dict[tuple[int, str], dict[str, float]] = field(default_factory=dict)

    def node(self, depth: int, prefix: str) -> dict[str, float]:
        """P(final score | the digits so far are ``prefix``), at this token depth."""
        if (depth, prefix) not in self.seen:
            self.seen[depth, prefix] = self._node(depth, prefix)
        return self.seen[depth, prefix]

    def _node(self, depth: int, prefix: str) -> dict[str, float]:
        seen = self.lookup(depth, prefix)
        top = probabilities(seen) if seen is not None else {}
        out: dict[str, float] = {}
        mass = 0.0
        for text, p in top.items():
            reached = self._reach(depth, prefix, text)
            if reached is None or p <= 0:
                continue
            mass += p
            for score, q in reached.items():
                out[score] = out.get(score, 0.0) + p * q
        if mass <= 0:
            return {prefix: 1.0} if prefix in self.allowed else {}
        return {score: q / mass for score, q in out.items()}

    def _reach(self, depth: int, prefix: str, text: str) -> dict[str, float] | None:
        """Where one alternative token leads: the scores it completes, with their
        conditional probabilities; None if the grammar does not allow it here."""
        digits, ends = _split(text)
        number = prefix + digits
        if not digits and (depth == 0 or not ends):
            return None  # a score starts with a digit; an empty token decides nothing
        if ends:
            return {number: 1.0} if number in self.allowed else None
        if number not in self.prefixes:
            return None
        below = self.node(depth + 1, number)
        return below or None
