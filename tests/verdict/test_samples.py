"""A persona's verdict over several samples: majority, interval, uncertainty, the editor."""

from __future__ import annotations

import pytest

from panel.config.settings import Samples, parse_samples
from panel.contract.output import Rubric
from panel.contract.records import ReviewRecord
from panel.errors import InputError
from panel.verdict.samples import editor_queue, representatives, tally, wilson

from factories import rec

RUBRIC = Rubric()
AUTO = Samples(per_persona="auto", cap=5, band=(0.2, 0.8), trust_p_ship=True)


def samples(*votes: tuple[str, int], p_ship: list[float] | None = None,
            persona: str = "builder") -> list[ReviewRecord]:
    out = []
    for i, (verdict, score) in enumerate(votes):
        r = rec("m", "tool", persona, verdict, score, sample=i)
        if p_ship is not None:
            r = r.model_copy(update={"p_ship": p_ship[i]})
        out.append(r)
    return out


@pytest.mark.parametrize(("votes", "p_ship", "uncertain", "label"), [
    ([("ship", 80)], None, True, "ship · 1 of 1 samples"),          # one verdict: no estimate
    ([("ship", 80)], [0.95], False, "ship · 1 of 1 samples"),       # P(ship) decides at once
    ([("ship", 60)], [0.6], True, "ship · 1 of 1 samples"),         # inside the band
    ([("ship", 80), ("ship", 75)], None, False, "ship · 2 of 2 samples"),
    ([("ship", 90), ("ship", 95)], [0.7, 0.7], False, "ship · 2 of 2 samples"),  # votes count
    ([("ship", 80), ("skip", 30)], None, True, "ship · 1 of 2 samples"),  # tie: mean 55 ships
    ([("ship", 80), ("skip", 30), ("ship", 70)], None, True, "ship · 2 of 3 samples"),
    ([("skip", 20), ("skip", 30), ("ship", 70), ("skip", 10), ("skip", 5)], None, False,
     "skip · 4 of 5 samples"),                                      # 1/5 = 0.2: on the band
])
def test_tally_majority_and_uncertainty(votes: list[tuple[str, int]], p_ship: list[float] | None,
                                        uncertain: bool, label: str) -> None:
    counted = tally(samples(*votes, p_ship=p_ship), RUBRIC, AUTO)
    assert counted.uncertain is uncertain
    assert counted.label == label
    assert counted.needs_editor is (uncertain and len(votes) >= AUTO.cap)


def test_one_samples_p_ship_decides_only_when_trusted() -> None:
    one = samples(("ship", 80), p_ship=[0.95])
    assert tally(one, RUBRIC, Samples(per_persona="auto")).uncertain
    assert not tally(one, RUBRIC, Samples(per_persona="auto", trust_p_ship=True)).uncertain
    two_of_three = samples(("ship", 80), ("skip", 30), ("ship", 70))
    assert tally(two_of_three, RUBRIC, Samples(per_persona="auto")).uncertain  # 0.67 < 0.7
    assert not tally(two_of_three, RUBRIC, Samples(per_persona="auto", band=(0.3, 0.6))
                     ).uncertain


def test_uncertain_at_the_cap_needs_an_editor_most_split_first() -> None:
    even = samples(("ship", 80), ("skip", 30), ("ship", 70), ("skip", 20), ("ship", 60),
                   persona="skeptic")
    three = samples(("ship", 80), ("ship", 30 + 50), ("skip", 20), ("ship", 60), ("ship", 70),
                    persona="builder")  # 4 of 5: p = 0.8, on the band: decided
    lean = samples(("ship", 80), ("skip", 30), ("ship", 70), ("skip", 20), ("skip", 10),
                   persona="founder")
    counted = tally(even, RUBRIC, AUTO)
    assert counted.needs_editor and counted.ships == 3 and counted.split == pytest.approx(0.4)
    lo, hi = counted.interval
    assert (round(lo, 3), round(hi, 3)) == (0.231, 0.882)
    queue = editor_queue(three + even + lean, RUBRIC, AUTO)
    assert [(r.persona, t.label) for r, t in queue] == [
        ("founder", "skip · 3 of 5 samples"), ("skeptic", "ship · 3 of 5 samples")]


def test_the_shown_review_agrees_with_the_majority() -> None:
    rs = samples(("ship", 80), ("skip", 30), ("ship", 70), ("skip", 20), ("ship", 60))
    [shown] = representatives(rs, RUBRIC, AUTO)
    assert (shown.sample, shown.verdict) == (4, "ship")
    [shown] = representatives(rs[:4] + [rs[3].model_copy(update={"key": "x", "sample": 5})],
                              RUBRIC, AUTO)
    assert (shown.sample, shown.verdict) == (5, "skip")


def test_wilson_interval() -> None:
    assert wilson(0, 0) == (0.0, 1.0)
    lo, hi = wilson(4, 5)
    assert (round(lo, 3), round(hi, 3)) == (0.376, 0.964)


@pytest.mark.parametrize(("text", "message"), [
    ("many", "'many' is neither auto nor a count"),
    ("0", "per_persona 0 must be 1 to cap"),
    ("12", "per_persona 12 must be 1 to cap"),
])
def test_samples_option_is_auto_or_a_count_up_to_the_cap(text: str, message: str) -> None:
    assert parse_samples("auto").auto and parse_samples("3").fixed() == 3
    with pytest.raises(InputError, match=message):
        parse_samples(text)
