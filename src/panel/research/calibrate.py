"""Calibration from editors: how well each backbone's verdicts match the people who edit them.

Every review an editor edited or approved is a label: the editor's verdict (the edited one,
or the model's own where they left it, approving it as it stands) is what the review should
have said. The label belongs to the review the edit was made on, the one its page shows;
other samples of that tool and persona are not labelled by it. Per persona x backbone the
report gives the number of labels, the model's verdict agreement and Cohen's kappa with the
editors, and the ship threshold that would have matched them best: a scan of 0-100 where a
score at or above the threshold means ship, maximising agreement; ties go to the threshold
closest to the current ``rubric.ship_threshold``, then to the lower one.

The in-sample threshold reads its own labels twice (fitted and judged on them), so
``held_out`` also splits the labels by card (stratified by the editors' verdict, seeded),
fits on one half and reports agreement and kappa on the other with intervals clustered by
card. The ceiling is editor against editor: the store keeps one edit per review, so a
second editor labels a copy of the store (their own --output folder) and ``ceiling`` pairs
the two stores' labels by review key, with the same card-clustered intervals; a label the
copy merely inherited (the same edit) is no second opinion and is left out.

Nothing changes unless asked: ``set_ship_threshold`` rewrites the one line of panel.yaml
that holds the threshold, keeps every comment, and refuses unless the rewritten file
validates and differs from the old one in that value alone.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError

from panel.config.settings import Config
from panel.config.workspace import Workspace
from panel.contract.records import ReviewRecord
from panel.errors import InputError, PanelError
from panel.inputs.datafile import load_yaml, read_text
from panel.research.cluster import Interval, cluster_bootstrap, cluster_share, kappa_fast
from panel.research.stats import ALL, cohen_kappa, verdict_agreement
from panel.store.files import atomic_write


class Calibration(BaseModel):
    """One persona (or ``all``) on one backbone against its editors."""

    model: str = Field(description="Registry model name.")
    persona: str = Field(description="Persona key, or 'all'.")
    labels: int = Field(description="Edited or approved reviews with the model's verdict.")
    agreement_pct: float | None = Field(description="Model verdict = editor verdict, %.")
    kappa: float | None = Field(description="Cohen's kappa, model vs editors; None when "
                                "undefined (fewer than 2 labels, one verdict class on both).")
    current_threshold: int = Field(description="rubric.ship_threshold in panel.yaml.")
    current_agreement_pct: float | None = Field(description="Agreement of 'score >= current "
                                                "threshold means ship' with the editors, %.")
    threshold: int | None = Field(description="The ship threshold matching the editors best.")
    threshold_agreement_pct: float | None = Field(description="Its agreement, %.")


def editor_labels(ws: Workspace, model: str | None = None) -> list[ReviewRecord]:
    """Every edited or approved review the pages show (the one its edit was made on).

    ``Store.latest`` keeps an edit-pinned review as the one shown, so each edit labels
    exactly one review. A failed review cannot be edited; one that somehow carries an edit
    has no model verdict to compare and is left out.
    """
    labels = []
    for tool in ws.store.tools():
        for rec in ws.store.latest(tool, model):
            edit = rec.edit
            if edit is None or rec.output is None or not rec.ok:
                continue
            if edit.approved or any(v is not None for v in (edit.score, edit.verdict,
                                                            edit.review)):
                labels.append(rec)
    return labels


def best_threshold(scores: Sequence[int], labels: Sequence[str],
                   current: int) -> tuple[int | None, float | None]:
    """The ship threshold in 0-100 whose 'score >= t means ship' agrees most with labels;
    ties go to the one closest to ``current``, then to the lower. (None, None) if no labels."""
    if not scores:
        return None, None
    agree = {t: sum((s >= t) == (v == "ship") for s, v in zip(scores, labels, strict=True))
             for t in range(101)}
    top = max(agree.values())
    best = min((t for t, a in agree.items() if a == top), key=lambda t: (abs(t - current), t))
    return best, round(100 * top / len(scores), 2)


def _threshold_agreement(scores: Sequence[int], labels: Sequence[str], t: int) -> float | None:
    return verdict_agreement(["ship" if s >= t else "skip" for s in scores], labels)


def calibration(model: str, persona: str, records: Sequence[ReviewRecord],
                current: int) -> Calibration:
    """One row: the model's verdicts and scores against the editors' verdicts."""
    model_verdicts = [r.output.verdict for r in records if r.output]
    scores = [r.output.score for r in records if r.output]
    editors = [str(r.verdict) for r in records]
    threshold, best = best_threshold(scores, editors, current)
    return Calibration(model=model, persona=persona, labels=len(records),
                       agreement_pct=verdict_agreement(model_verdicts, editors),
                       kappa=cohen_kappa(model_verdicts, editors), current_threshold=current,
                       current_agreement_pct=_threshold_agreement(scores, editors, current),
                       threshold=threshold, threshold_agreement_pct=best)


def calibrate(labels: Sequence[ReviewRecord], personas: Sequence[str],
              current: int) -> list[Calibration]:
    """Per backbone (sorted), per persona (panel order, then any other) and over all."""
    rows = []
    for model in sorted({r.model for r in labels}):
        mine = [r for r in labels if r.model == model]
        extra = sorted({r.persona for r in mine} - set(personas))
        for persona in [*personas, *extra, ALL]:
            part = [r for r in mine if persona in (ALL, r.persona)]
            if part:
                rows.append(calibration(model, persona, part, current))
    return rows


class HeldOut(BaseModel):
    """One persona (or ``all``) on one backbone: the threshold fitted on the fit cards,
    judged on the held-out cards, with intervals clustered by card."""

    model: str
    persona: str
    fit_labels: int = Field(description="Labels the threshold was fitted on.")
    threshold: int | None = Field(description="Fitted on the fit cards; None without labels.")
    test: Interval = Field(description="Agreement %, on the held-out cards, of 'score >= "
                           "threshold means ship' with the editors.")
    kappa: Interval = Field(description="Cohen's kappa of the same, held out.")
    model_agreement: Interval = Field(description="The model's own verdicts against the "
                                      "editors on the held-out cards, %.")


SPLIT_SEED = 0
"""The seed of the fit/test split: the same labels give the same split."""


def split_by_card(labels: Sequence[ReviewRecord], fraction: float = 0.5,
                  seed: int = SPLIT_SEED) -> tuple[list[ReviewRecord], list[ReviewRecord]]:
    """(fit, test): whole cards on one side, so a card's personas never inform its own test.

    Stratified: cards are grouped by their editors' majority verdict (ship or skip) and each
    group is shuffled (seeded) and split, so both sides see both kinds of card."""
    import math
    import random

    verdicts: dict[str, list[str]] = {}
    for r in labels:
        verdicts.setdefault(r.tool, []).append(str(r.verdict))
    strata: dict[bool, list[str]] = {}
    for tool in sorted(verdicts):
        ships = verdicts[tool].count("ship")
        strata.setdefault(2 * ships >= len(verdicts[tool]), []).append(tool)
    rng = random.Random(seed)
    fit_tools: set[str] = set()
    for key in sorted(strata):
        tools = strata[key]
        rng.shuffle(tools)
        fit_tools.update(tools[:math.ceil(len(tools) * fraction)])
    return ([r for r in labels if r.tool in fit_tools],
            [r for r in labels if r.tool not in fit_tools])


def held_out_row(model: str, persona: str, fit: Sequence[ReviewRecord],
                 test: Sequence[ReviewRecord], current: int) -> HeldOut:
    """Fit on ``fit``, report on ``test``."""
    import numpy as np

    threshold, _ = best_threshold([r.output.score for r in fit if r.output],
                                  [str(r.verdict) for r in fit if r.output], current)
    t = current if threshold is None else threshold
    mine = [r for r in test if r.output]
    editors = np.array([r.verdict == "ship" for r in mine], dtype=np.intp)
    predicted = np.array([r.output.score >= t for r in mine if r.output], dtype=np.intp)
    own = [r.output.verdict == r.verdict for r in mine if r.output]
    cards = [r.tool for r in mine]
    return HeldOut(model=model, persona=persona, fit_labels=len(fit), threshold=threshold,
                   test=cluster_share(list(predicted == editors), cards),
                   kappa=cluster_bootstrap(lambda i: kappa_fast(predicted[i], editors[i]),
                                           cards),
                   model_agreement=cluster_share(own, cards))


def held_out(labels: Sequence[ReviewRecord], personas: Sequence[str], current: int,
             seed: int = SPLIT_SEED) -> list[HeldOut]:
    """Per backbone and persona (then all): fitted on half the cards, tested on the rest."""
    fit, test = split_by_card(labels, seed=seed)
    rows = []
    for model in sorted({r.model for r in labels}):
        for persona in [*personas, *sorted({r.persona for r in labels} - set(personas)), ALL]:
            mine = [_scope(side, model, persona) for side in (fit, test)]
            if mine[0] or mine[1]:
                rows.append(held_out_row(model, persona, mine[0], mine[1], current))
    return rows


MIN_CEILING = 10
"""Double-labelled reviews (on at least two cards) below which the ceiling is not shown:
with fewer, its interval spans most of 0-100% and would read as a number it is not."""


class Ceiling(BaseModel):
    """Editor against editor on the reviews both labelled: the agreement a backbone can
    at best be expected to reach, with intervals clustered by card like the model rows."""

    reviews: int = Field(description="Reviews labelled by both editors.")
    agreement: Interval | None = Field(description="Verdict agreement %, None below "
                                       "MIN_CEILING reviews or two cards.")
    kappa: Interval | None = Field(description="Cohen's kappa of the two, None likewise.")


def _second_opinion(a: ReviewRecord, b: ReviewRecord) -> bool:
    """b labels a's review anew: not the same edit copied along with the store, and not
    the same named editor twice."""
    if a.edit is None or b.edit is None or a.edit == b.edit:
        return False
    return a.edit.editor is None or a.edit.editor != b.edit.editor


def ceiling(first: Sequence[ReviewRecord], second: Sequence[ReviewRecord]) -> Ceiling:
    """Two editors' labels (each from their own store) paired by review key."""
    import numpy as np

    by_key = {r.key: r for r in second}
    pairs = [(a, by_key[a.key]) for a in first
             if a.key in by_key and _second_opinion(a, by_key[a.key])]
    cards = [a.tool for a, _ in pairs]
    if len(pairs) < MIN_CEILING or len(set(cards)) < 2:
        return Ceiling(reviews=len(pairs), agreement=None, kappa=None)
    one = np.array([a.verdict == "ship" for a, _ in pairs], dtype=np.intp)
    two = np.array([b.verdict == "ship" for _, b in pairs], dtype=np.intp)
    return Ceiling(reviews=len(pairs), agreement=cluster_share(list(one == two), cards),
                   kappa=cluster_bootstrap(lambda i: kappa_fast(one[i], two[i]), cards))


def _scope(labels: Sequence[ReviewRecord], model: str, persona: str) -> list[ReviewRecord]:
    return [r for r in labels if r.model == model and persona in (ALL, r.persona)]


def calibrate_store(ws: Workspace, model: str | None = None) -> list[Calibration]:
    """`panel calibrate`: the report, or PanelError when there is no label to learn from."""
    if model is not None:
        ws.registry.get(model)  # a typo is an error, not "no labels"
    labels = editor_labels(ws, model)
    if not labels:
        which = f" by model '{model}'" if model else ""
        raise PanelError(f"no edited or approved reviews{which} in {ws.store.path}: nothing "
                         "to calibrate against; edit or approve reviews first (panel edit, "
                         "panel approve, panel ui)")
    return calibrate(labels, ws.persona_order(), ws.config.rubric.ship_threshold)


def suggestion(rows: Sequence[Calibration], model: str | None) -> Calibration:
    """The ``all`` row whose threshold ``--apply`` would write: one backbone's, since the
    threshold in panel.yaml is shared by every backbone. PanelError when that is ambiguous."""
    overall = [r for r in rows if r.persona == ALL and (model is None or r.model == model)]
    if len(overall) != 1:
        raise PanelError(f"labels from {len(overall)} backbones "
                         f"({', '.join(r.model for r in overall)}): panel.yaml has one ship "
                         "threshold for all of them; pick the one to fit with --model")
    return overall[0]


def contradicting(labels: Sequence[ReviewRecord], threshold: int) -> list[ReviewRecord]:
    """Labelled reviews whose effective score and verdict a ship threshold of ``threshold``
    would contradict (an editor's ship below it): what an --apply would leave inconsistent."""
    return [r for r in labels if r.verdict == "ship" and (r.score or 0) < threshold]


def apply_suggestion(ws: Workspace, rows: Sequence[Calibration],
                     model: str | None) -> tuple[int, int, int]:
    """Write the suggested threshold to panel.yaml: (old, new, labelled reviews the new
    threshold contradicts). Nothing is written when it equals the current one."""
    pick = suggestion(rows, model)
    if pick.threshold is None or pick.threshold == pick.current_threshold:
        return pick.current_threshold, pick.current_threshold, 0
    old = set_ship_threshold(ws.root / "panel.yaml", pick.threshold)
    return old, pick.threshold, len(contradicting(editor_labels(ws, pick.model), pick.threshold))


_LINE = re.compile(r"^(?P<head>\s+ship_threshold:\s*)(?P<value>\d+)(?P<tail>\s*(#.*)?)$",
                   re.MULTILINE)


def set_ship_threshold(path: Path, value: int) -> int:
    """Write ``value`` as ``rubric.ship_threshold`` in panel.yaml; return the old value.

    Only the number on the one indented ``ship_threshold:`` line changes; comments and
    layout stay. Refused (InputError, nothing written) when the file is missing, has no
    such line or more than one, or when the rewritten file does not validate (the rubric
    needs skip_threshold >= ship_threshold - 1) or differs in anything but that value.
    """
    if not path.is_file():
        raise InputError(str(path), "does not exist: add 'rubric: {ship_threshold: N}' by hand",
                         field="rubric.ship_threshold")
    text = read_text(path)
    lines = list(_LINE.finditer(text))
    if len(lines) != 1:
        raise InputError(str(path), f"found {len(lines)} 'ship_threshold:' lines, need "
                         "exactly one to change: edit it by hand", field="rubric.ship_threshold")
    match = lines[0]
    new = f"{text[:match.start('value')]}{value}{text[match.end('value'):]}"
    old_config, new_config = _config(text, path), _config(new, path)
    expected = old_config.model_copy(update={"rubric": old_config.rubric.model_copy(
        update={"ship_threshold": value})})
    if new_config != expected:
        raise InputError(str(path), "the 'ship_threshold:' line is not the rubric's: edit it "
                         "by hand", field="rubric.ship_threshold")
    atomic_write(path, new)
    return old_config.rubric.ship_threshold


def _config(text: str, path: Path) -> Config:
    try:
        return Config.model_validate(load_yaml(text, str(path)) or {})
    except ValidationError as exc:
        err = exc.errors()[0]
        raise InputError(str(path), f"a ship threshold there would not be valid: {err['msg']}",
                         field="rubric.ship_threshold") from None
