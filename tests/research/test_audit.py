"""The bias audit: its statistics on hand-built data, its runs on the mock and on the engine."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from scipy import stats

from panel.backends import lazy as lazy_module
from panel.backends.base import Backend
from panel.backends.mock import Mocks
from panel.cli import main
from panel.config.registry import ModelSpec
from panel.config.workspace import Workspace
from panel.errors import InputError
from panel.inputs.cards import ToolCard, load_cards
from panel.research import audit as audit_module
from panel.research.audit import (
    Audit,
    ShiftItem,
    audit_workspace,
    pair_items,
    position_rows,
    run_audit,
    shift_items,
    shift_rows,
)
from panel.research.perturb import INJECTION, variants
from panel.verdict.head_to_head import HeadToHead, OrderPick, PersonaHeadToHead

from conftest import EMBEDDED, EXAMPLES
from factories import rec

TWO = [str(EXAMPLES / "tracelens.yaml"), str(EXAMPLES / "diffsage.yaml")]


def _pick(order: str, choice: str | None) -> OrderPick | None:
    if choice is None:
        return None
    return OrderPick(order=order, key=f"k-{order}", choice=choice)  # type: ignore[arg-type]


def _head(a: str, b: str, picks: dict[str, tuple[str | None, str | None]],
          model: str = "m") -> HeadToHead:
    """A pair judged by each persona: (choice with A first, choice with B first)."""
    rows = [PersonaHeadToHead(persona=p, persona_name=p.title(), ab=_pick("ab", ab),
                              ba=_pick("ba", ba)) for p, (ab, ba) in picks.items()]
    return HeadToHead(a=a, b=b, a_name=a.upper(), b_name=b.upper(), model=model, rows=rows)


def _wilson(k: int, n: int) -> tuple[float, float]:
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    return pytest.approx(100 * ci.low, abs=1e-4), pytest.approx(100 * ci.high, abs=1e-4)


def test_position_and_consistency_shares_with_wilson_intervals() -> None:
    heads = [
        _head("a", "b", {"builder": ("first", "first"), "skeptic": ("second", "first")}),
        _head("a", "c", {"builder": ("first", "second"), "skeptic": ("first", "second")}),
        _head("b", "c", {"builder": ("second", "second"), "skeptic": ("both-ship", "both-ship")}),
        _head("a", "d", {"builder": ("neither-ship", "neither-ship"), "skeptic": ("first", None)}),
        _head("b", "d", {"builder": ("first", None)}),  # skeptic missing: failed
    ]
    items = pair_items("m", heads, ["builder", "skeptic"])
    assert [(i.a, i.b, i.persona, i.result) for i in items if i.persona == "builder"] == [
        ("a", "b", "builder", "inconsistent"), ("a", "c", "builder", "a"),
        ("b", "c", "builder", "inconsistent"), ("a", "d", "builder", "neither"),
        ("b", "d", "builder", "failed")]
    rows = {(r.persona, r.bias): r for r in position_rows("m", items, ["builder", "skeptic"])}
    # builder: 4 judged (1 failed); first-first and second-second follow the position;
    # 2 of 4 name the same tool in both orders.
    # skeptic: 3 judged (2 failed), none follows the position, all 3 consistent.
    expected = {("builder", "position"): (2, 4, 1), ("builder", "consistency"): (2, 4, 1),
                ("skeptic", "position"): (0, 3, 2), ("skeptic", "consistency"): (3, 3, 2),
                ("all", "position"): (2, 7, 3), ("all", "consistency"): (5, 7, 3)}
    assert set(rows) == set(expected)
    for key, (k, n, failed) in expected.items():
        row = rows[key]
        assert (row.k, row.n, row.excluded, row.unit) == (k, n, failed, "%"), key
        assert row.estimate == pytest.approx(100 * k / n, abs=1e-4)
        assert (row.naive_ci_low, row.naive_ci_high) == _wilson(k, n), key
        # The reported interval resamples pairs: the personas' picks of one pair together.
        assert row.clusters == (4 if key[0] != "skeptic" else 3), key
        assert row.method == "Wilson on n/deff, clustered by pairs (CR1), t(C-1)", key
    # builder follows the position on a-b (first, first) and b-c (second, second), 2 of 4
    # pairs, one observation each. By hand: CR1 variance 4/3 x 1/16 over the binomial 1/16
    # gives deff 4/3, n_eff 3; Wilson at p 0.5 with z = t(0.975, 3) = 3.1824: centre 0.5,
    # half 3.1824 / 4.3761 x sqrt(0.25 / 3 + 10.1277 / 36) = 0.4392: wider than naive.
    assert (rows[("builder", "position")].ci_low, rows[("builder", "position")].ci_high) == (
        6.083, 93.917)
    assert rows[("builder", "position")].naive_ci_low == pytest.approx(15.0039, abs=1e-4)


def _shift(bias: str, persona: str, original: int | None, perturbed: int | None,
           verdicts: tuple[str, str] = ("skip", "skip"), sample: int = 0) -> ShiftItem:
    return ShiftItem(model="m", bias=bias, tool="t", variant=f"audit-{bias}-t", persona=persona,
                     sample=sample, original=original, perturbed=perturbed,
                     original_verdict=verdicts[0] if original is not None else None,
                     perturbed_verdict=verdicts[1] if perturbed is not None else None)


def test_score_shifts_with_t_intervals_and_the_injections_flips_to_ship() -> None:
    items = [
        _shift("verbosity", "builder", 40, 50), _shift("verbosity", "builder", 60, 62),
        _shift("verbosity", "builder", 30, 24), _shift("verbosity", "builder", None, 70),
        _shift("injection", "builder", 30, 90, ("skip", "ship")),
        _shift("injection", "builder", 20, 25, ("skip", "skip")),
        _shift("injection", "builder", 80, 100, ("ship", "ship")),  # not a skip: no flip
        _shift("injection", "builder", 40, None),
    ]
    rows = {(r.persona, r.bias): r for r in shift_rows("m", items, ["builder"],
                                                       ["verbosity", "injection"])}
    assert list(rows) == [("builder", "verbosity"), ("builder", "injection"),
                          ("builder", "injection-flip"), ("all", "verbosity"),
                          ("all", "injection"), ("all", "injection-flip")]
    verb = rows[("builder", "verbosity")]
    lo, hi = stats.t.interval(0.95, 2, loc=2.0, scale=stats.sem([10, 2, -6]))
    assert (verb.n, verb.excluded, verb.estimate, verb.unit) == (3, 1, 2.0, "points")
    assert (verb.naive_ci_low, verb.naive_ci_high) == (pytest.approx(lo, abs=1e-4),
                                                       pytest.approx(hi, abs=1e-4))
    # Every shift is of one card: no between-card variation to resample, no interval.
    assert (verb.clusters, verb.ci_low, verb.ci_high) == (1, None, None)
    inj = rows[("builder", "injection")]
    assert (inj.n, inj.excluded, inj.estimate) == (3, 1, pytest.approx(85 / 3, abs=1e-4))
    flip = rows[("builder", "injection-flip")]
    assert (flip.k, flip.n, flip.excluded, flip.estimate) == (1, 2, 1, 50.0)
    assert (flip.naive_ci_low, flip.naive_ci_high) == _wilson(1, 2)
    assert (flip.clusters, flip.ci_low) == (1, None)
    assert rows[("all", "verbosity")] == verb.model_copy(update={"persona": "all"})


def test_each_perturbed_review_is_paired_with_the_same_persona_and_sample() -> None:
    card = load_cards([TWO[0]])[0].card
    made = variants([card], ["name", "injection"])
    records = [rec("m", "tracelens", "builder", "skip", 40, sample=0),
               rec("m", "tracelens", "builder", "ship", 70, sample=1),
               rec("m", "audit-name-tracelens", "builder", "skip", 35, sample=0),
               rec("m", "audit-name-tracelens", "builder", "ship", 80, sample=1),
               rec("m", "audit-injection-tracelens", "builder", None, None, sample=0),
               rec("other", "audit-injection-tracelens", "builder", "ship", 99, sample=1)]
    items = shift_items("m", records, made, ["builder"], samples=2)
    assert [(i.bias, i.sample, i.original, i.perturbed, i.shift) for i in items] == [
        ("name", 0, 40, 35, -5), ("name", 1, 70, 80, 10),
        ("injection", 0, 40, None, None), ("injection", 1, 70, None, None)]
    assert items[0].variant == "audit-name-tracelens" and items[0].tool == "tracelens"


class _Judge:
    """A stand-in for pipeline.pairwise.judge_pairs: builder always picks the first card
    shown (pure position), skeptic always picks tool A (consistent)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[tuple[str, str]], Any]] = []

    def __call__(self, ws: Workspace, pairs: Sequence[tuple[ToolCard, ToolCard]], *,
                 model: str | None = None, personas: list[str] | None = None,
                 backend: Backend | None = None, progress: Any = None) -> list[HeadToHead]:
        self.calls.append((str(model), [(a.slug, b.slug) for a, b in pairs], backend))
        return [_head(a.slug, b.slug, {"builder": ("first", "first"),
                                       "skeptic": ("first", "second")}, str(model))
                for a, b in pairs]


def test_one_engine_per_model_started_once_closed_before_the_next(
        ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[str] = []
    real = lazy_module.create_backend

    def tracked(spec: ModelSpec) -> Backend:
        events.append(f"open {spec.name}")
        engine = real(spec)
        close = engine.close
        engine.close = lambda: (events.append(f"close {spec.name}"), close())[1]  # type: ignore
        return engine

    monkeypatch.setattr(lazy_module, "create_backend", tracked)
    judge = _Judge()
    audit = Audit(name="a", models=["mock", "mock-alt"], cards=TWO, personas=["builder"])
    report = run_audit(ws, audit, judge=judge)
    assert events == ["open mock", "close mock", "open mock-alt", "close mock-alt"]
    assert [(m, pairs) for m, pairs, _ in judge.calls] == [
        ("mock", [("tracelens", "diffsage")]), ("mock-alt", [("tracelens", "diffsage")])]
    assert {m: (r["reviewed"], r["pairs"], r["engine_started"]) for m, r in report.runs.items()} \
        == {"mock": (8, 1, True), "mock-alt": (8, 1, True)}
    # The audit has its own store; the site's store holds none of it.
    assert ws.store.count() == 0
    assert audit_workspace(ws, "a").store.count() == 16
    # A re-run reuses every review: no engine starts.
    events.clear()
    again = run_audit(ws, audit, judge=_Judge())
    assert events == [] and {r["reused"] for r in again.runs.values()} == {8}
    assert again.rows == report.rows


def test_cards_that_would_share_a_slug_are_refused_before_any_engine(
        ws: Workspace, tmp_path: Path) -> None:
    clash = tmp_path / "clash.yaml"
    clash.write_text("name: Audit Name TraceLens\ntagline: t\ncategory: c\ndescription: d\n"
                     "pricing: p\nentry: free\n")
    audit = Audit(name="a", models=["mock"], cards=[TWO[0], str(clash)], biases=["name"])
    with pytest.raises(InputError, match="slug 'audit-name-tracelens' is also"):
        run_audit(ws, audit)
    one = Audit(name="a", models=["mock"], cards=TWO[:1], biases=["position"])
    with pytest.raises(InputError, match="position bias needs at least two cards"):
        run_audit(ws, one, judge=_Judge())


def test_an_audit_name_that_leaves_its_folder_is_refused(ws: Workspace) -> None:
    res = CliRunner().invoke(main, ["audit", *TWO, "--models", "mock", "--name", "../x",
                                    "-o", str(ws.output)])
    assert res.exit_code == 2
    assert res.stderr == ("error: audit options: field 'name' Value error, use letters, "
                          "digits, '.', '_' or '-' (at most 80)\n")
    with pytest.raises(InputError, match="cannot be used as a file name"):
        audit_workspace(ws, "..")


# Scripted mock replies, in plan order (card x persona): originals, then each card's
# verbosity, name and injection perturbations. (builder, skeptic) scores; None: 3 invalid
# replies, so the review fails after every attempt.
SCRIPT = {
    "tracelens": (40, 70), "diffsage": (60, 20),
    "audit-verbosity-tracelens": (50, 74), "audit-name-tracelens": (40, 60),
    "audit-injection-tracelens": (100, 100),
    "audit-verbosity-diffsage": (66, 30), "audit-name-diffsage": (None, 20),
    "audit-injection-diffsage": (90, 15),
}


def _enqueue(mock: Mocks) -> None:
    retries = 0
    for scores in SCRIPT.values():
        for score in scores:
            if score is None:
                mock.enqueue("not json")
                retries += 1
                continue
            verdict = "ship" if score >= 60 else "skip"
            mock.enqueue(json.dumps({
                "reasoning": "Scripted notes for the audit test.", "score": score,
                "verdict": verdict, "review": "Scripted review one. Scripted review two."}))
    for _ in range(2 * retries):
        mock.enqueue("not json")


# By hand, shifts (perturbed - original), builder then skeptic:
#   verbosity  tracelens +10 +4, diffsage +6 +10; name: 0 -10, (failed) 0;
#   injection: +60 +30, +30 -5. Two values: mean -/+ t(.975, 1) * sem = 12.706 * |a - b| / 2
#   (builder verbosity: 8 -/+ 25.41). All four verbosity: 7.5, sd 3, sem 1.5, t(.975, 3) =
#   3.182: -/+ 4.77. Flips to ship, of the original skips: builder tracelens 40 -> 100 (flip),
#   skeptic diffsage 20 -> 15 (none). The stand-in judge: builder follows the position,
#   skeptic is consistent.
# Clustered by card: all verbosity has tracelens (+10, +4) and diffsage (+6, +10); residuals
#   about 7.5 summed per card -1 and +1, CR1 variance 2 x 2 / 16 = 0.25, SE 0.5, t(.975, 1)
#   = 12.706: 7.5 -/+ 6.35. One observation per card (builder verbosity): the t interval.
TABLE = """\
Bias audit mock: 2 cards, 2 personas, 1 sample; mock
95% CI clustered by card (by pair for position, consistency): shifts CR1 SE and t(C-1),\
 shares Wilson on n/deff; naive CI: every observation independent
backbone             persona    bias            unit      n  cl excl estimate  95% CI    \
       naive CI
mock                 builder    position        %         1   1    0    100.0  n/a       \
       [20.7, 100.0]
mock                 builder    consistency     %         1   1    0      0.0  n/a       \
       [0.0, 79.3]
mock                 builder    verbosity       points    2   2    0     +8.0  [-17.4,\
 +33.4]   [-17.4, +33.4]
mock                 builder    name            points    1   1    1     +0.0  n/a       \
       n/a
mock                 builder    injection       points    2   2    0    +45.0  [-145.6,\
 +235.6] [-145.6, +235.6]
mock                 builder    injection-flip  %         1   1    0    100.0  n/a       \
       [20.7, 100.0]
mock                 skeptic    position        %         1   1    0      0.0  n/a       \
       [0.0, 79.3]
mock                 skeptic    consistency     %         1   1    0    100.0  n/a       \
       [20.7, 100.0]
mock                 skeptic    verbosity       points    2   2    0     +7.0  [-31.1,\
 +45.1]   [-31.1, +45.1]
mock                 skeptic    name            points    2   2    0     -5.0  [-68.5,\
 +58.5]   [-68.5, +58.5]
mock                 skeptic    injection       points    2   2    0    +12.5  [-209.9,\
 +234.9] [-209.9, +234.9]
mock                 skeptic    injection-flip  %         1   1    0      0.0  n/a       \
       [0.0, 79.3]
mock                 all        position        %         2   1    0     50.0  n/a       \
       [9.5, 90.5]
mock                 all        consistency     %         2   1    0     50.0  n/a       \
       [9.5, 90.5]
mock                 all        verbosity       points    4   2    0     +7.5  [+1.1,\
 +13.9]    [+2.7, +12.3]
mock                 all        name            points    3   2    1     -3.3  [-31.6,\
 +24.9]   [-17.7, +11.0]
mock                 all        injection       points    4   2    0    +28.8  [-177.7,\
 +235.2] [-13.5, +71.0]
mock                 all        injection-flip  %         2   2    0     50.0  [0.2,\
 99.8]      [9.5, 90.5]

grounding            persona       n  cl excl grounded%  95% CI (by card)
mock                 builder       2   2    0     100.0  [1.2, 100.0]
mock                 skeptic       2   2    0     100.0  [1.2, 100.0]
mock                 all           4   2    0     100.0  [2.4, 100.0]"""


def test_the_cli_audit_on_the_mock_prints_the_table_and_writes_json_csv_svg(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mock: Mocks) -> None:
    monkeypatch.setattr(audit_module, "judge_pairs", _Judge())
    out = tmp_path / "o"
    args = ["audit", *TWO, "--models", "mock", "-p", "builder,skeptic", "-o", str(out)]
    _enqueue(mock)
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    folder = out / "audits" / "mock"
    assert res.stdout == TABLE + "".join(f"\nwrote {folder / f}" for f in (
        "bias.json", "bias.csv", "bias.svg")) + "\n"
    doc = json.loads((folder / "bias.json").read_text())
    assert doc["cards"] == ["tracelens", "diffsage"] and doc["personas"] == ["builder", "skeptic"]
    assert doc["perturbations"]["injection"]["appended_to_description"] == INJECTION
    assert doc["runs"]["mock"] | {"wall_s": 0} == {
        "reviewed": 16, "reused": 0, "failed": 1, "unavailable": 0, "wall_s": 0, "pairs": 1,
        "engine_started": True}
    assert len(doc["rows"]) == 18 and len(doc["shifts"]) == 12 and len(doc["pairs"]) == 2
    with (folder / "bias.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["model", "persona", "bias", "unit", "n", "k", "excluded",
                             "estimate", "ci_low", "ci_high", "clusters", "method",
                             "naive_ci_low", "naive_ci_high"]
    assert [list(r.values()) for r in rows[14:16]] == [
        ["mock", "all", "verbosity", "points", "4", "", "0", "7.5", "1.1469", "13.8531", "2",
         "clustered SE by cards (CR1), t(C-1)", "2.7263", "12.2737"],
        ["mock", "all", "name", "points", "3", "", "1", "-3.3333", "-31.5693", "24.9027", "2",
         "clustered SE by cards (CR1), t(C-1)", "-17.6755", "11.0088"]]
    svg = (folder / "bias.svg").read_text()
    assert svg.startswith("<?xml") and "injection-flip (share, %)" in svg
    # A re-run reuses the store (only the failed review is asked again, and fails again) and
    # draws the same files, the SVG byte for byte.
    for _ in range(3):
        mock.enqueue("not json")
    again = CliRunner().invoke(main, args)
    assert again.stdout == res.stdout
    assert (folder / "bias.svg").read_text() == svg


def test_the_audit_on_the_engine_reviews_each_perturbation(ws: Workspace,
                                                            engine: Backend) -> None:
    """2 cards, 1 persona, verbosity + name + injection: 8 reviews on the embedded model."""
    audit = Audit(name="e", models=[EMBEDDED], cards=TWO, personas=["builder"],
                  biases=["verbosity", "name", "injection"])
    report = run_audit(ws, audit, backends={EMBEDDED: engine})
    assert [(r.persona, r.bias) for r in report.rows] == [
        (p, b) for p in ("builder", "all")
        for b in ("verbosity", "name", "injection", "injection-flip")]
    store = audit_workspace(ws, "e").store
    records = store.all()
    assert len(records) == 8 and [r.failure for r in records if not r.ok] == []
    # Every review valid: each shift stands on both cards, none excluded; the flip share on
    # the cards the model skipped unperturbed.
    skipped = sum(r.verdict == "skip" for r in records if not r.tool.startswith("audit-"))
    assert [(r.unit, r.n, r.excluded) for r in report.rows] == [
        ("points", 2, 0), ("points", 2, 0), ("points", 2, 0), ("%", skipped, 0)] * 2
    renamed = [r for r in records if r.tool.startswith("audit-name-") and r.output]
    assert len(renamed) == 2
    for r in renamed:  # the review grammar copies the name: the placeholder's, not the tool's
        assert r.tool_name == "Tool X" and r.output.review.startswith("Tool X")
        assert "TraceLens" not in r.output.review and "DiffSage" not in r.output.review
    card = ToolCard.model_validate_json(store.card_json("audit-injection-tracelens") or "")
    assert card.description.endswith(INJECTION)
    assert ws.store.count() == 0


THREE = [*TWO, str(EXAMPLES / "slidesmith.yaml")]
POSITION = """\
Bias audit pos: 3 cards, 1 persona, 1 sample; mock
95% CI clustered by card (by pair for position, consistency): shifts CR1 SE and t(C-1), \
shares Wilson on n/deff; naive CI: every observation independent
backbone             persona    bias            unit      n  cl excl estimate  95% CI    \
       naive CI
mock                 builder    position        %         2   2    1     50.0  [0.2,\
 99.8]      [9.5, 90.5]
mock                 builder    consistency     %         2   2    1     50.0  [0.2,\
 99.8]      [9.5, 90.5]
mock                 all        position        %         2   2    1     50.0  [0.2,\
 99.8]      [9.5, 90.5]
mock                 all        consistency     %         2   2    1     50.0  [0.2,\
 99.8]      [9.5, 90.5]"""
# By hand (1 of 2 pairs): CR1 variance 2 x 0.5 / 4 = 0.25 over the binomial 0.125, deff 2,
# n_eff 1; Wilson at p 0.5, z = t(0.975, 1) = 12.706: half 12.706 / 162.44 x sqrt(0.25 +
# 40.36) = 0.4985, so [0.15, 99.85]: two pairs say little, and the interval says so.


def test_position_bias_end_to_end_through_pairwise_judging_on_the_mock(
        tmp_path: Path, mock: Mocks) -> None:
    """3 cards: 3 pairs x 2 orders, judged by pipeline.pairwise on scripted mock picks."""

    # In the judge's order, pair by pair, A first then B first: (tracelens, diffsage) first
    # in both orders (follows the position); (tracelens, slidesmith) first then second
    # (tracelens both times: consistent); (diffsage, slidesmith) fails every attempt.
    for choice in ["first", "first", "first", "second", "bad", "bad", "bad", "bad",
                   "bad", "bad"]:
        mock.enqueue("not json" if choice == "bad" else json.dumps(
            {"reason": "Scripted pick for the test.", "choice": choice, "margin": 50}))
    out = tmp_path / "o"
    args = ["audit", *THREE, "--models", "mock", "--biases", "position", "-p", "builder",
            "--name", "pos", "-o", str(out)]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    assert res.stdout.split("\nwrote ")[0] == POSITION
    doc = json.loads((out / "audits" / "pos" / "bias.json").read_text())
    assert [(p["a"], p["b"], p["ab"], p["ba"], p["result"]) for p in doc["pairs"]] == [
        ("tracelens", "diffsage", "first", "first", "inconsistent"),
        ("tracelens", "slidesmith", "first", "second", "a"),
        ("diffsage", "slidesmith", None, None, "failed")]
    assert Workspace(output=out).store.count() == 0  # nothing reaches the site's store
    calls = mock.calls
    for _ in range(6):  # a re-run asks only the failed judgments again
        mock.enqueue("not json")
    assert CliRunner().invoke(main, args).stdout == res.stdout
    assert mock.calls == calls + 6


def test_k_samples_pair_each_perturbed_review_with_its_own_samples_original(
        tmp_path: Path) -> None:
    """`audit -k 2`: 2 cards x 1 persona x (original + verbosity) x 2 samples = 8 reviews;
    each shift pairs a sample with the same sample of the original, read from the store,
    and the estimate is their mean."""
    out = tmp_path / "o"
    res = CliRunner().invoke(main, ["audit", *TWO, "--models", "mock", "-p", "builder",
                                    "--biases", "verbosity", "-k", "2", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert res.stdout.splitlines()[0] == "Bias audit mock: 2 cards, 1 persona, 2 samples; mock"
    doc = json.loads((out / "audits" / "mock" / "bias.json").read_text())
    assert doc["runs"]["mock"]["reviewed"] == 8 and doc["audit"]["samples"] == 2
    scores = {(r.tool, r.sample): r.score for r in audit_workspace(
        Workspace(output=out), "mock").store.all()}
    assert len(scores) == 8
    assert [(s["tool"], s["sample"], s["original"], s["perturbed"]) for s in doc["shifts"]] == [
        (t, k, scores[(t, k)], scores[(f"audit-verbosity-{t}", k)])
        for t in ("tracelens", "diffsage") for k in (0, 1)]
    row = doc["rows"][0]
    shifts = [s["perturbed"] - s["original"] for s in doc["shifts"]]
    assert (row["n"], row["excluded"], row["estimate"]) == (4, 0, sum(shifts) / 4)


def test_a_bias_listed_twice_is_refused_before_any_review(tmp_path: Path) -> None:
    res = CliRunner().invoke(main, ["audit", *TWO, "--models", "mock", "--biases",
                                    "verbosity,name,verbosity", "-o", str(tmp_path / "o")])
    assert (res.exit_code, res.stdout) == (2, "")
    assert res.stderr == ("error: audit options: field 'biases' Value error, listed twice: "
                          "verbosity\n")
    assert not (tmp_path / "o").exists()
