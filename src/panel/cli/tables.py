"""Plain-text tables the commands print; the library returns data."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Literal

from panel.pipeline.cost import REVIEWS_PER_VERDICT
from panel.research.cluster import method, se_method
from panel.research.consistency import Consistency
from panel.research.grounding import grounding_table
from panel.research.stats import fmt
from panel.verdict.views import review_state

if TYPE_CHECKING:  # the tables only name these types: `panel batch` need not import them
    from panel.config.registry import Price, Registry
    from panel.config.workspace import Workspace
    from panel.contract.records import ReviewRecord
    from panel.pipeline.batch import BatchSummary
    from panel.pipeline.batchfile import Export, ImportReport
    from panel.pipeline.cost import Usage
    from panel.pipeline.run import RunSummary
    from panel.research.agreement import AgreementReport
    from panel.research.audit import AuditReport
    from panel.research.calibrate import Calibration, Ceiling, HeldOut
    from panel.research.drift import DriftReport
    from panel.research.evaluate import EvalReport
    from panel.research.jury_size import JurySize
    from panel.research.verify import VerifyReport
    from panel.verdict.head_to_head import Comparison, HeadToHead
    from panel.verdict.jury import ToolJury


def display_width(text: str) -> int:
    """The columns a terminal gives ``text``: str.format pads by characters, so a CJK or
    emoji name (two columns a character) pushed every later column of its row right."""
    return sum(_char_width(ch) for ch in text)


def _char_width(ch: str) -> int:
    """East Asian wide and full-width characters (CJK, most emoji) take two columns;
    combining marks, joiners and variation selectors none (unicodedata: no wcwidth here)."""
    if unicodedata.category(ch) in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def fit(text: str, width: int, align: Literal["<", ">"] = "<") -> str:
    """``text`` cut to at most ``width`` columns (never half a wide character) and padded
    to exactly ``width``: ``f"{text[:n]:<n}"`` by display width."""
    kept, used = [], 0
    for ch in text:
        w = _char_width(ch)
        if used + w > width:
            break
        kept.append(ch)
        used += w
    pad = " " * (width - used)
    return "".join(kept) + pad if align == "<" else pad + "".join(kept)


def format_summary(s: BatchSummary, price: Price | None = None) -> str:
    """The closing table: counts, cost, then the failed reviews and skipped cards (the
    first ``SHOWN`` of each; the run's .skipped.jsonl file has them all)."""
    c, log = s.counts, s.log
    part = f" (shard {s.shard.index}/{s.shard.count})" if s.shard.count > 1 else ""
    rows = [("cards reviewed", s.cards), ("cards skipped (bad input)", log.counts["skipped"]),
            ("reviews", c.reviews), ("  reviewed now", c.reviewed),
            ("  reused from store", c.reused), ("  failed", c.failed),
            ("model requests", s.requests)]
    if c.by_other:  # another batch on the same store claimed these; none was paid twice
        rows.insert(5, ("  done by another run", c.by_other))
    if c.unavailable:  # not reviews: the server failed them; a re-run makes them
        rows.insert(-1, ("  not reviewed (server unavailable)", c.unavailable))
    if c.needs_editor:  # uncertain at the samples cap: listed first in `panel editor`
        rows.insert(-1, ("  needs an editor", c.needs_editor))
    lines = [f"batch{part}: {s.output}"]
    lines += [f"  {name:<26} {value:>7}" for name, value in rows]
    lines.append(f"  {'seconds':<26} {s.seconds:>7g}")
    lines += cost_lines(s.usage, price)
    if s.tally is not None:
        lines.append(s.tally.describe())
        if not s.tally.adds_up:
            lines.append("  (input counts do not add up: please report this as a bug)")
    sections = [("failed reviews:", "failed", [f"{r.tool} / {r.persona}: {r.failure}"
                                               for r in log.failed]),
                ("not reviewed, server unavailable (a re-run resumes them):", "unavailable",
                 log.unavailable),
                ("skipped input (file:line: field, reason):", "skipped",
                 [str(e) for e in log.card_errors])]
    for title, kind, shown in sections:
        if shown:
            lines += [title, *(f"  {line}" for line in shown)]
            if log.counts[kind] > len(shown):
                lines.append(f"  ... and {log.counts[kind] - len(shown)} more: all "
                             f"{log.counts[kind]} are in {log.path}")
    return "\n".join(lines)


def cost_lines(usage: Usage, price: Price | None) -> list[str]:
    """Tokens and engine time of the reviews made, and with a price what they cost."""
    if not usage.reviews:
        return []
    lines = [f"cost of the {usage.reviews} review(s) made now:",
             f"  {'tokens prompt/cached/out':<26} {usage.prompt_tokens}/"
             f"{usage.cached_tokens}/{usage.output_tokens}"]
    if usage.seconds_per_review is not None:
        lines.append(f"  {'engine-seconds per review':<26} {usage.seconds_per_review:>7.3f}"
                     f"  ({usage.engine_seconds:g} s in all, "
                     f"{usage.reviews_per_second or 0:.2f} reviews/s)")
    per_review = usage.dollars_per_review(price)
    if per_review is not None:
        lines.append(f"  {'$ per review':<26} {per_review:>10.6f}")
        lines.append(f"  {'$ per verdict':<26} {per_review * REVIEWS_PER_VERDICT:>10.6f}")
        lines.append(f"  {'$ per 1,000 verdicts':<26} "
                     f"{per_review * REVIEWS_PER_VERDICT * 1000:>10.4f}")
    return lines


def export_lines(done: Export) -> list[str]:
    """`panel batch --export`: what was written, and what was stored already."""
    lines = [f"export: {done.requests} request(s) of {done.planned} planned review(s) "
             f"({done.stored} stored already) in {done.folder}"]
    lines += [f"  {f.path.name}: {f.requests} request(s), {f.size} bytes" for f in done.files]
    if done.manifest:
        lines.append(f"  manifest: {done.manifest}")
    return lines


def import_lines(report: ImportReport, usage: Usage, price: Price | None) -> list[str]:
    """`panel batch --import`: counts, cost, every problem by file and line, next round."""
    rows = [("result lines", report.lines), ("stored valid", len(report.stored)),
            ("failed attempts recorded", len(report.failed)),
            ("imported before, unchanged", report.already),
            ("problems", len(report.problems)), ("still pending", report.pending),
            ("out of attempts", len(report.exhausted))]
    lines = [f"import: {len(report.files)} file(s)"]
    lines += [f"  {name:<26} {value:>7}" for name, value in rows]
    lines += cost_lines(usage, price)
    for title, items in (("problems (file:line: reason):", report.problems),
                         ("failed attempts:", report.failed),
                         ("out of attempts (not asked again):", report.exhausted)):
        if items:
            lines += [title, *(f"  {item}" for item in items)]
    if report.next_round is not None:
        lines += ["next round:", *export_lines(report.next_round)]
    return lines


def format_table(report: AgreementReport) -> str:
    """The report as plain-text tables: pairs, reliability, backbones, self-consistency; each
    statistic with its card-clustered 95% interval."""
    lines = [f"Study {report.study}: {', '.join(report.models)}",
             f"95% intervals clustered by card: agree% {se_method(share=True)}; MAE "
             f"{se_method()}; kappa, rho, alpha {method()}", "",
             f"{'pair':<30} {'persona':<9} {'n':>4} {'cl':>3} {'agree% [CI]':<19} "
             f"{'kappa [CI]':<19} {'rho [CI]':<19} MAE [CI]"]
    for p in report.pairs:
        agree = _with_ci(p.verdict_agreement_pct, p.verdict_agreement_low,
                         p.verdict_agreement_high, ".1f")
        lines.append(f"{(p.model_a + ' vs ' + p.model_b)[:30]:<30} {p.persona[:9]:<9} "
                     f"{p.n:>4} {p.clusters:>3} {agree:<19} "
                     f"{_with_ci(p.cohen_kappa, p.cohen_kappa_low, p.cohen_kappa_high):<19} "
                     f"{_with_ci(p.spearman_rho, p.spearman_rho_low, p.spearman_rho_high):<19} "
                     f"{_with_ci(p.score_mae, p.score_mae_low, p.score_mae_high, '.1f')}")
    if report.fleiss:
        lines += ["", f"{'all backbones':<13} {'Fleiss n':>8} {'kappa':>6} {'units':>5} "
                      f"{'cl':>3} {'alpha verdict [CI]':<20} alpha score [CI]"]
        lines += [f"{f.persona[:13]:<13} {f.n:>8} {fmt(f.kappa):>6} {f.units:>5} "
                  f"{f.clusters:>3} "
                  f"{_with_ci(f.alpha_verdict, f.alpha_verdict_low, f.alpha_verdict_high):<20} "
                  f"{_with_ci(f.alpha_score, f.alpha_score_low, f.alpha_score_high)}"
                  for f in report.fleiss]
    lines += ["", f"{'backbone':<20} {'reviews':>7} {'fail%':>6} {'ship%':>6} {'mean':>6} "
              f"{'std':>5} {'min':>4} {'med':>5} {'max':>4} {'tokens':>7} {'lat s':>6} "
              f"{'wall s':>6} {'eng s':>6} {'agree%':>6} {'$/1k verdicts':>13}"]
    for b in report.backbones:
        s = b.scores
        lines.append(f"{b.model[:20]:<20} {b.reviews:>7} {fmt(b.failure_rate_pct, '.1f'):>6} "
                     f"{fmt(b.ship_rate_pct, '.1f'):>6} {fmt(s.mean, '.1f'):>6} "
                     f"{fmt(s.std, '.1f'):>5} {fmt(s.min, '.0f'):>4} {fmt(s.median, '.1f'):>5} "
                     f"{fmt(s.max, '.0f'):>4} {fmt(b.mean_output_tokens, '.1f'):>7} "
                     f"{fmt(b.mean_latency_s, '.2f'):>6} {fmt(b.wall_s_per_review, '.2f'):>6} "
                     f"{fmt(b.engine_s_per_review, '.3f'):>6} {fmt(b.agreement_pct, '.1f'):>6} "
                     f"{fmt(b.dollars_per_1000_verdicts, '.4f'):>13}")
    if report.consistency:
        lines += ["", consistency_table(report.consistency)]
    if report.grounding:
        lines += ["", grounding_table(report.grounding)]
    return "\n".join(lines)


def consistency_table(rows: Sequence[Mapping[str, object]]) -> str:
    """Self-consistency rows (as dicts, from the report's JSON) as a plain-text table."""
    lines = [f"{'self-consistency':<20} {'persona':<10} {'groups':>6} {'k':>5} "
             f"{'std':>6} {'range':>6} {'flip%':>6}"]
    for row in rows:
        c = Consistency.model_validate(row)
        lines.append(f"{c.model[:20]:<20} {c.persona:<10} {c.groups:>6} {fmt(c.samples, '.1f'):>5} "
                     f"{fmt(c.score_std, '.1f'):>6} {fmt(c.score_range, '.1f'):>6} "
                     f"{fmt(c.flip_rate_pct, '.1f'):>6}")
    return "\n".join(lines)


def jury_table(juries: Sequence[ToolJury], personas: Sequence[str]) -> str:
    """One row per tool: the jury verdict and each persona's combined score and verdict."""
    head = f"{'tool':<24} {'jury':<22} {'mean':>6}  " + "  ".join(f"{p:<16}" for p in personas)
    lines = [head]
    for t in juries:
        cells = {j.persona: f"{fmt(j.mean_score, '.1f')} {j.verdict or '-'}"
                            f" ({j.ship}/{j.ship + j.skip})" for j in t.personas}
        lines.append(f"{fit(t.tool_name, 24)} {t.label:<22} {fmt(t.mean_score, '.1f'):>6}  "
                     + "  ".join(f"{cells.get(p, '-'):<16}" for p in personas))
    return "\n".join(lines)


def jury_size_table(sizes: Sequence[JurySize]) -> str:
    """Per persona: the backbones' score-error correlation and Kish's effective judges."""
    lines = ["Effective judges (Kish: n / (1 + (n - 1) x mean error correlation))",
             f"{'persona':<10} {'judges':>6} {'items':>5} {'rho':>6} {'effective':>9}"]
    lines += [f"{s.persona[:10]:<10} {s.judges:>6} {s.items:>5} "
              f"{fmt(s.mean_error_correlation):>6} {fmt(s.effective_judges):>9}" for s in sizes]
    return "\n".join(lines)


def format_eval(report: EvalReport) -> str:
    """The evaluation as a plain-text table; accuracy and MAE with their clustered 95% CI."""
    lines = [f"{report.model} against {report.reference}",
             f"95% intervals clustered by tool: {report.overall.method}",
             f"{'persona':<10} {'ref':>4} {'n':>4} {'miss':>4} {'cl':>3} {'acc% [CI]':<19} "
             f"{'bal.acc':>7} {'MAE [CI]':<19} {'rho':>6}"]
    for s in [*report.personas, report.overall]:
        acc = _with_ci(s.verdict_accuracy_pct, s.verdict_accuracy_low, s.verdict_accuracy_high,
                       ".1f")
        mae = _with_ci(s.score_mae, s.score_mae_low, s.score_mae_high, ".1f")
        lines.append(f"{s.persona:<10} {s.reference:>4} {s.n:>4} {s.missing:>4} "
                     f"{s.clusters:>3} {acc:<19} {fmt(s.balanced_accuracy):>7} {mae:<19} "
                     f"{fmt(s.spearman_rho):>6}")
    return "\n".join(lines)


def audit_table(report: AuditReport) -> str:
    """The bias audit: one line per backbone x persona x statistic, with n, the clusters, the
    clustered interval and the naive one beside it."""
    a = report.audit
    lines = [f"Bias audit {report.name}: {_count(len(report.cards), 'card')}, "
             f"{_count(len(report.personas), 'persona')}, {_count(a.samples, 'sample')}; "
             f"{', '.join(a.models)}",
             "95% CI clustered by card (by pair for position, consistency): shifts CR1 SE "
             "and t(C-1), shares Wilson on n/deff; naive CI: every observation independent",
             f"{'backbone':<20} {'persona':<10} {'bias':<15} {'unit':<6} {'n':>4} {'cl':>3} "
             f"{'excl':>4} {'estimate':>8}  {'95% CI':<16} naive CI"]
    for r in report.rows:
        spec = ".1f" if r.unit == "%" else "+.1f"
        lines.append(f"{r.model[:20]:<20} {r.persona[:10]:<10} {r.bias:<15} {r.unit:<6} "
                     f"{r.n:>4} {r.clusters:>3} {r.excluded:>4} {fmt(r.estimate, spec):>8}  "
                     f"{_ci(r.ci_low, r.ci_high, spec):<16} "
                     f"{_ci(r.naive_ci_low, r.naive_ci_high, spec)}")
    if report.grounding:
        lines += ["", grounding_table(report.grounding)]
    return "\n".join(lines)


def _with_ci(value: float | None, low: float | None, high: float | None,
             spec: str = ".2f") -> str:
    """A statistic and its interval: 0.33 [0.05, 0.61], or the value alone without one."""
    return fmt(value, spec) if low is None else f"{fmt(value, spec)} {_ci(low, high, spec)}"


def _ci(low: float | None, high: float | None, spec: str = ".2f") -> str:
    """An interval as [low, high], or n/a when there is none."""
    return "n/a" if low is None else f"[{fmt(low, spec)}, {fmt(high, spec)}]"


def verify_table(report: VerifyReport) -> str:
    """`panel verify`: one line per review, the conditions per backbone, then the tally."""
    lines = [f"{'review':<14} {'tool':<16} {'persona':<10} {'model':<16} {'s':>2} "
             f"{'identical':<9} {'verdict':<7} {'dscore':>6} {'status':<10} differs"]
    for c in report.checks:
        verdict = "-" if c.same_verdict is None else ("same" if c.same_verdict else "FLIP")
        lines.append(f"{c.key[:12]:<14} {c.tool[:16]:<16} {c.persona[:10]:<10} "
                     f"{c.model[:16]:<16} {c.sample:>2} {'yes' if c.identical else 'NO':<9} "
                     f"{verdict:<7} {fmt(c.score_delta, '+d'):>6} {c.status:<10} "
                     f"{', '.join(c.differs) or '-'}")
    for model, cond in report.conditions.items():
        now = cond.get("now") or {}
        lines.append(f"{model}: " + "; ".join(
            f"{k} {_short(v)}" + (f" (recorded {_short(cond['recorded'].get(k))})"
                                  if cond["recorded"].get(k) not in (None, v) else "")
            for k, v in now.items()))
    lines.append(f"{report.identical} of {len(report.checks)} identical")
    return "\n".join(lines)


def drift_table(report: DriftReport) -> str:
    """`panel drift`: per persona, the pairs, flips with McNemar's p, and the score shift."""
    method = report.rows[-1].score_shift.method if report.rows else ""
    lines = [f"Drift {report.old} -> {report.new} (shift CI: {method})",
             f"{'persona':<10} {'n':>5} {'old':>4} {'new':>4} {'ship>skip':>9} "
             f"{'skip>ship':>9} {'flip%':>6} {'McNemar p':>9}  shift [95% CI]"]
    for r in report.rows:
        s = r.score_shift
        lines.append(f"{r.persona[:10]:<10} {r.n:>5} {r.only_old:>4} {r.only_new:>4} "
                     f"{r.ship_to_skip:>9} {r.skip_to_ship:>9} {fmt(r.flips_pct, '.1f'):>6} "
                     f"{fmt(r.mcnemar_p, '.4f'):>9}  "
                     f"{_with_ci(s.estimate, s.ci_low, s.ci_high, '+.2f')}")
    return "\n".join(lines)


def _short(value: object) -> str:
    """A condition for one line: CPU flags counted, not listed."""
    if isinstance(value, list):
        return f"{len(value)} flags ({', '.join(value[:3])}{', ...' if len(value) > 3 else ''})"
    return "n/a" if value is None else str(value)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def calibration_table(rows: Sequence[Calibration]) -> str:
    """`panel calibrate`: per backbone x persona, agreement with the editors and the best
    ship threshold beside the current one."""
    current = rows[0].current_threshold if rows else 0
    lines = [f"{'backbone':<20} {'persona':<10} {'labels':>6} {'agree%':>6} {'kappa':>6} "
             f"{'at ' + str(current) + '%':>7} {'best t':>6} {'agree%':>6}"]
    for r in rows:
        lines.append(f"{r.model[:20]:<20} {r.persona[:10]:<10} {r.labels:>6} "
                     f"{fmt(r.agreement_pct, '.1f'):>6} {fmt(r.kappa):>6} "
                     f"{fmt(r.current_agreement_pct, '.1f'):>7} {fmt(r.threshold, 'd'):>6} "
                     f"{fmt(r.threshold_agreement_pct, '.1f'):>6}")
    return "\n".join(lines)


def held_out_table(rows: Sequence[HeldOut]) -> str:
    """`panel calibrate`'s held-out check: fitted on half the cards, judged on the rest."""
    lines = ["Held out: threshold fitted on half the cards (stratified, seed 0), judged on the "
             "other half; 95% CI clustered by card",
             f"{'backbone':<20} {'persona':<10} {'fit':>4} {'test':>4} {'cl':>3} "
             f"{'t':>4} {'agree% [CI]':<20} {'kappa [CI]':<20} {'model agree%':>12}"]
    for r in rows:
        lines.append(f"{r.model[:20]:<20} {r.persona[:10]:<10} {r.fit_labels:>4} "
                     f"{r.test.n:>4} {r.test.clusters:>3} {fmt(r.threshold, 'd'):>4} "
                     f"{_with_ci(r.test.estimate, r.test.ci_low, r.test.ci_high, '.1f'):<20} "
                     f"{_with_ci(r.kappa.estimate, r.kappa.ci_low, r.kappa.ci_high):<20} "
                     f"{fmt(r.model_agreement.estimate, '.1f'):>12}")
    return "\n".join(lines)


def ceiling_line(c: Ceiling | None) -> str:
    """The editor-vs-editor ceiling under the held-out rows, or why there is none."""
    from panel.research.calibrate import MIN_CEILING

    head = "Ceiling, editor vs editor:"
    if c is None:
        return f"{head} no second editor's labels (--second-editor OUTPUT)"
    if c.agreement is None or c.kappa is None:
        return (f"{head} {c.reviews} review(s) labelled by both editors, too few to show "
                f"(needs {MIN_CEILING} on 2 or more cards)")
    return (f"{head} {c.reviews} reviews, {c.agreement.clusters} cards, agree% "
            f"{_with_ci(c.agreement.estimate, c.agreement.ci_low, c.agreement.ci_high, '.1f')}"
            f", kappa {_with_ci(c.kappa.estimate, c.kappa.ci_low, c.kappa.ci_high)}")


def summary_table(ws: Workspace, summary: RunSummary) -> str:
    """A readable table: one row per tool, then the counts and any failures."""
    lines = [f"{'tool':<28} {'verdict':<26} {'ship %':>6} {'mean':>6}"]
    for p in summary.panels(ws):
        pct = "–" if p.ship_pct is None else f"{p.ship_pct:g}"
        mean = "–" if p.mean_score is None else f"{p.mean_score:g}"
        lines.append(f"{fit(p.tool_name, 28)} {p.label:<26} {pct:>6} {mean:>6}")
    lines.append(f"reviewed {summary.reviewed}, reused from store {summary.reused}, "
                 f"failed {len(summary.failed)} ({summary.seconds:g} s)")
    for r in summary.failed:
        lines.append(f"  failed: {r.tool} / {r.persona}: {r.failure}")
    for u in summary.unavailable:
        lines.append(f"  not reviewed (server unavailable): {u}")
    return "\n".join(lines)


def models_table(reg: Registry, usage: Mapping[str, Usage] | None = None) -> str:
    """`panel models`: name, backend, source, and which is the default (*); under an
    entry with a price or measured reviews, what a review and a verdict cost."""
    lines = []
    for name, spec in reg.models.items():
        s = spec.source
        src = "-" if s is None else s.hf or s.path or f"embedded:{s.embedded}"
        mark = "*" if name == reg.default else " "
        lines.append(f"{mark} {name:<20} {spec.backend:<7} {src:<44} {spec.description}")
        cost = model_cost(spec.cost, (usage or {}).get(name))
        if cost:
            lines.append(f"    cost: {cost}")
    return "\n".join(lines)


def model_cost(price: Price | None, usage: Usage | None) -> str:
    """A backbone's price and, from the reviews stored, its engine-seconds and $ per
    review, per verdict and per 1,000 verdicts; empty when there is neither."""
    parts = []
    if price is not None:
        parts.append(f"${price.per_hour:g}/hour" if price.per_hour is not None else
                     f"${price.per_million_input:g}/M input, "
                     f"${price.per_million_output:g}/M output tokens")
    if usage is not None and usage.seconds_per_review is not None:
        parts.append(f"{usage.seconds_per_review:.3f} engine-s/review over {usage.reviews} "
                     "stored")
    per_review = usage.dollars_per_review(price) if usage is not None else None
    if per_review is not None:
        verdict = per_review * REVIEWS_PER_VERDICT
        parts.append(f"${per_review:.6f}/review, ${verdict:.6f}/verdict, "
                     f"${verdict * 1000:.4f}/1,000 verdicts")
    return "; ".join(parts)


def review_line(rec: ReviewRecord) -> str:
    """One review after an edit or approval: score, verdict, and its state."""
    return f"{rec.persona}: {rec.score}/100 · {rec.verdict} ({review_state(rec)})"


def comparison_lines(comp: Comparison) -> list[str]:
    """`panel compare`: the title, each side's label, then a row per persona under a head
    that names the two columns (tool A, tool B), aligned by display width."""
    from panel.publish.render.markdown import scoreline

    lines = [comp.title]
    for side in (comp.a, comp.b):
        pct = "–" if side.ship_pct is None else f"{side.ship_pct:g}%"
        lines.append(f"  {side.tool_name}: {side.label} ({pct} panel ship)")
    cells = [[scoreline(r).split(" (")[0] for r in (row.a, row.b)] for row in comp.rows]
    names = [row.persona_name for row in comp.rows]
    first = max([10, *map(display_width, names)])
    # "· expected 71.3" widens a column; so does a long tool name over it (up to 40)
    width = max([14, min(display_width(comp.a.tool_name), 40),
                 *(display_width(a) for a, _ in cells)])
    lines.append(f"  {fit('persona', first)} {fit(comp.a.tool_name, width)} "
                 f"{comp.b.tool_name}".rstrip())
    for name, (a, b) in zip(names, cells, strict=True):
        lines.append(f"  {fit(name, first)} {fit(a, width)} {b}")
    return lines


def head_to_head_lines(h2h: HeadToHead) -> list[str]:
    """`panel compare --head-to-head`: a line per persona, then every judgment that failed
    or that the server could not make."""
    lines = ["head to head (each tool shown first in turn):"]
    lines += [f"  {row.persona_name}: {h2h.line(row)}" for row in h2h.rows]
    failed = [(row.persona, p) for row in h2h.rows for p in (row.ab, row.ba)
              if p is not None and p.choice is None]
    if failed:
        lines.append("failed judgments:")
        lines += [f"  {persona} / {h2h.shown_first(p.order)} first: {p.failure}"
                  for persona, p in failed]
    if h2h.unavailable:
        lines.append("not judged, server unavailable (a re-run makes them):")
        lines += [f"  {u}" for u in h2h.unavailable]
    return lines
