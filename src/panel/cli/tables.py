"""Plain-text tables the commands print; the library returns data."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from panel.config.registry import Registry
from panel.config.workspace import Workspace
from panel.contract.records import ReviewRecord
from panel.pipeline.batch import BatchSummary
from panel.pipeline.run import RunSummary
from panel.research.agreement import AgreementReport
from panel.research.audit import AuditReport
from panel.research.calibrate import Calibration
from panel.research.consistency import Consistency
from panel.research.evaluate import EvalReport
from panel.research.grounding import grounding_table
from panel.research.stats import fmt
from panel.verdict.head_to_head import Comparison, HeadToHead
from panel.verdict.jury import ToolJury
from panel.verdict.views import review_state


def format_summary(s: BatchSummary) -> str:
    """The closing table: counts, then every failed review and every skipped card."""
    run = s.run
    part = f" (shard {s.shard.index}/{s.shard.count})" if s.shard.count > 1 else ""
    rows = [("cards reviewed", s.cards), ("cards skipped (bad input)", len(s.card_errors)),
            ("reviews", len(run.records)), ("  reviewed now", run.reviewed),
            ("  reused from store", run.reused), ("  failed", len(run.failed)),
            ("model requests", s.requests)]
    if run.by_other:  # another batch on the same store claimed these; none was paid twice
        rows.insert(5, ("  done by another run", run.by_other))
    if run.unavailable:  # not reviews: the server failed them; a re-run makes them
        rows.insert(-1, ("  not reviewed (server unavailable)", len(run.unavailable)))
    if s.needs_editor:  # uncertain at the samples cap: listed first in `panel editor`
        rows.insert(-1, ("  needs an editor", s.needs_editor))
    lines = [f"batch{part}: {s.output}"]
    lines += [f"  {name:<26} {value:>7}" for name, value in rows]
    lines.append(f"  {'seconds':<26} {run.seconds:>7g}")
    if s.tally is not None:
        lines.append(s.tally.describe())
        if not s.tally.adds_up:
            lines.append("  (input counts do not add up: please report this as a bug)")
    if run.failed:
        lines.append("failed reviews:")
        lines += [f"  {r.tool} / {r.persona}: {r.failure}" for r in run.failed]
    if run.unavailable:
        lines.append("not reviewed, server unavailable (a re-run resumes them):")
        lines += [f"  {u}" for u in run.unavailable]
    if s.card_errors:
        lines.append("skipped input (file:line: field, reason):")
        lines += [f"  {e}" for e in s.card_errors]
    return "\n".join(lines)


def format_table(report: AgreementReport) -> str:
    """The report as plain-text tables: pairs, Fleiss, backbones, self-consistency."""
    lines = [f"Study {report.study}: {', '.join(report.models)}", "",
             f"{'pair':<34} {'persona':<10} {'n':>4} {'agree%':>7} {'kappa':>6} "
             f"{'rho':>6} {'MAE':>6}"]
    for p in report.pairs:
        lines.append(f"{(p.model_a + ' vs ' + p.model_b)[:34]:<34} {p.persona:<10} {p.n:>4} "
                     f"{fmt(p.verdict_agreement_pct, '.1f'):>7} {fmt(p.cohen_kappa):>6} "
                     f"{fmt(p.spearman_rho):>6} {fmt(p.score_mae, '.1f'):>6}")
    if report.fleiss:
        lines += ["", "Fleiss' kappa across all backbones: " + ", ".join(
            f"{f.persona} {fmt(f.kappa)} (n={f.n})" for f in report.fleiss)]
    lines += ["", f"{'backbone':<20} {'reviews':>7} {'fail%':>6} {'ship%':>6} {'mean':>6} "
              f"{'std':>5} {'min':>4} {'med':>5} {'max':>4} {'tokens':>7} {'lat s':>6} "
              f"{'wall s':>6}"]
    for b in report.backbones:
        s = b.scores
        lines.append(f"{b.model[:20]:<20} {b.reviews:>7} {fmt(b.failure_rate_pct, '.1f'):>6} "
                     f"{fmt(b.ship_rate_pct, '.1f'):>6} {fmt(s.mean, '.1f'):>6} "
                     f"{fmt(s.std, '.1f'):>5} {fmt(s.min, '.0f'):>4} {fmt(s.median, '.1f'):>5} "
                     f"{fmt(s.max, '.0f'):>4} {fmt(b.mean_output_tokens, '.1f'):>7} "
                     f"{fmt(b.mean_latency_s, '.2f'):>6} {fmt(b.wall_s_per_review, '.2f'):>6}")
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
        lines.append(f"{t.tool_name[:24]:<24} {t.label:<22} {fmt(t.mean_score, '.1f'):>6}  "
                     + "  ".join(f"{cells.get(p, '-'):<16}" for p in personas))
    return "\n".join(lines)


def format_eval(report: EvalReport) -> str:
    """The evaluation as a plain-text table."""
    lines = [f"{report.model} against {report.reference}",
             f"{'persona':<10} {'ref':>4} {'n':>4} {'miss':>4} {'acc%':>6} {'bal.acc':>7} "
             f"{'MAE':>6} {'rho':>6}"]
    for s in [*report.personas, report.overall]:
        lines.append(f"{s.persona:<10} {s.reference:>4} {s.n:>4} {s.missing:>4} "
                     f"{fmt(s.verdict_accuracy_pct, '.1f'):>6} {fmt(s.balanced_accuracy):>7} "
                     f"{fmt(s.score_mae, '.1f'):>6} {fmt(s.spearman_rho):>6}")
    return "\n".join(lines)


def audit_table(report: AuditReport) -> str:
    """The bias audit: one line per backbone x persona x statistic, with n and the interval."""
    a = report.audit
    lines = [f"Bias audit {report.name}: {_count(len(report.cards), 'card')}, "
             f"{_count(len(report.personas), 'persona')}, {_count(a.samples, 'sample')}; "
             f"{', '.join(a.models)}",
             f"{'backbone':<20} {'persona':<10} {'bias':<15} {'unit':<6} {'n':>4} {'excl':>4} "
             f"{'estimate':>8}  95% CI"]
    for r in report.rows:
        spec = ".1f" if r.unit == "%" else "+.1f"
        ci = "n/a" if r.ci_low is None else f"[{fmt(r.ci_low, spec)}, {fmt(r.ci_high, spec)}]"
        lines.append(f"{r.model[:20]:<20} {r.persona[:10]:<10} {r.bias:<15} {r.unit:<6} "
                     f"{r.n:>4} {r.excluded:>4} {fmt(r.estimate, spec):>8}  {ci}")
    if report.grounding:
        lines += ["", grounding_table(report.grounding)]
    return "\n".join(lines)


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


def summary_table(ws: Workspace, summary: RunSummary) -> str:
    """A readable table: one row per tool, then the counts and any failures."""
    lines = [f"{'tool':<28} {'verdict':<26} {'ship %':>6} {'mean':>6}"]
    for p in summary.panels(ws):
        pct = "–" if p.ship_pct is None else f"{p.ship_pct:g}"
        mean = "–" if p.mean_score is None else f"{p.mean_score:g}"
        lines.append(f"{p.tool_name[:28]:<28} {p.label:<26} {pct:>6} {mean:>6}")
    lines.append(f"reviewed {summary.reviewed}, reused from store {summary.reused}, "
                 f"failed {len(summary.failed)} ({summary.seconds:g} s)")
    for r in summary.failed:
        lines.append(f"  failed: {r.tool} / {r.persona}: {r.failure}")
    for u in summary.unavailable:
        lines.append(f"  not reviewed (server unavailable): {u}")
    return "\n".join(lines)


def models_table(reg: Registry) -> str:
    """`panel models`: name, backend, source, and which is the default (*)."""
    lines = []
    for name, spec in reg.models.items():
        s = spec.source
        src = "-" if s is None else s.hf or s.path or f"embedded:{s.embedded}"
        mark = "*" if name == reg.default else " "
        lines.append(f"{mark} {name:<20} {spec.backend:<7} {src:<44} {spec.description}")
    return "\n".join(lines)


def review_line(rec: ReviewRecord) -> str:
    """One review after an edit or approval: score, verdict, and its state."""
    return f"{rec.persona}: {rec.score}/100 · {rec.verdict} ({review_state(rec)})"


def comparison_lines(comp: Comparison) -> list[str]:
    """`panel compare`: the title, each side's label, then a row per persona."""
    from panel.publish.render.markdown import scoreline

    lines = [comp.title]
    for side in (comp.a, comp.b):
        pct = "–" if side.ship_pct is None else f"{side.ship_pct:g}%"
        lines.append(f"  {side.tool_name}: {side.label} ({pct} panel ship)")
    cells = [[scoreline(r).split(" (")[0] for r in (row.a, row.b)] for row in comp.rows]
    width = max([14, *(len(a) for a, _ in cells)])  # "· expected 71.3" widens a column
    for row, (a, b) in zip(comp.rows, cells, strict=True):
        lines.append(f"  {row.persona_name:<10} {a:<{width}} {b}")
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
