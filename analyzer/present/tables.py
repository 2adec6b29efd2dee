"""Command results as text for a terminal or a file: tables, CSV, JSON shapes, Markdown, summaries.

Untrusted names (from logs) are made visible-safe by ``formatting.render_table`` (control
characters as symbols) and neutralized in Markdown by ``present.text.md_text``'s table escape.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict
from datetime import UTC
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from analyzer.collect.summary import FetchSummary
from analyzer.formatting import human_duration, render_csv, render_table, shorten, shorten_names
from analyzer.present.text import run_label, window_phrase
from analyzer.records import Incident, JobContext, iso

if TYPE_CHECKING:  # the analysis packages load pandas: not for the commands that only collect
    from analyzer.advise.backtest import BacktestResult
    from analyzer.advise.check import PullCheck
    from analyzer.advise.patch import PatchPlan
    from analyzer.advise.result import Recommendation, RecommendResult
    from analyzer.bootstrap.forecast import Forecast
    from analyzer.collect.org import RoundState, WorkerSummary
    from analyzer.model import UnitStats
    from analyzer.model.failures import FailureReport
    from analyzer.present.publish import CommentResult


class TableFormat(StrEnum):
    """The formats of ``stats``."""

    table = "table"
    json = "json"
    csv = "csv"


class ExportFormat(StrEnum):
    parquet = "parquet"


class ListFormat(StrEnum):
    """The formats of ``incidents``, ``backtest`` and ``bootstrap plan``."""

    table = "table"
    json = "json"


class RecommendFormat(StrEnum):
    """The formats of ``recommend`` and ``failures``."""

    table = "table"
    json = "json"
    markdown = "markdown"


STATS_FIELDS = (
    "scope", "workflow", "job", "step", "phase", "samples", "censored", "p50_s", "p90_s", "p95_s", "p99_s",
    "queued_samples", "queued_p50_s", "queued_p90_s", "queued_p95_s", "queued_p99_s", "queued_max_s", "not_started",
)  # fmt: skip
INCIDENT_FIELDS = ("run_id", "run_attempt", "job_id", "job", "step_number", "step", "phase", "kind", "limit_s", "evidence")


def json_text(data: Any) -> str:
    """JSON as the commands print it: indented, non-ASCII kept, no trailing newline."""
    return json.dumps(data, indent=2, ensure_ascii=False)


def share(value: float | None) -> str:
    """A share of runs for people: ``9.9%``, ``0.0%``, ``<0.1%``, ``-`` (unknown)."""
    if value is None:
        return "-"
    return f"{value:.1%}" if value == 0 or value >= 0.001 else "<0.1%"


def counts(values: Iterable[str]) -> str:
    """``a 2, b 1``: how often each value occurs, by name."""
    return ", ".join(f"{k} {v}" for k, v in sorted(Counter(values).items()))


# -- stats -------------------------------------------------------------------------------------


def stats_json(rows: Sequence[UnitStats]) -> str:
    return json_text([r.to_dict() for r in rows])


def stats_csv(rows: Sequence[UnitStats]) -> str:
    return render_csv(STATS_FIELDS, [[getattr(r, h) for h in STATS_FIELDS] for r in rows])


def names(rows: Sequence[Any], *columns: tuple[str, int]) -> list[list[str]]:
    """Name columns of a table, each shortened in the middle to its width, different names kept different."""
    cut = [shorten_names([getattr(r, name) for r in rows], width) for name, width in columns]
    return [list(row) for row in zip(*cut, strict=True)] if rows else []


def stats_table(rows: Sequence[UnitStats]) -> str:
    cut = names(rows, ("workflow", 24), ("job", 24), ("step", 28), ("phase", 28))
    table = [
        [
            r.scope, *shown, r.samples, r.censored, human_duration(r.p50_s), human_duration(r.p90_s),
            human_duration(r.p95_s), human_duration(r.p99_s),
        ]
        for r, shown in zip(rows, cut, strict=True)
    ]  # fmt: skip
    headers = ["scope", "workflow", "job", "step", "phase", "n", "cens", "p50", "p90", "p95", "p99"]
    return render_table(headers, table, right=range(5, 11)) + queue_table(rows)


def queue_table(rows: Sequence[UnitStats]) -> str:
    """The jobs' queue times (created → started), after the units (nothing when no job has any)."""
    jobs = [r for r in rows if r.scope == "job" and (r.queued_samples or r.not_started)]
    if not jobs:
        return ""
    cut = names(jobs, ("workflow", 24), ("job", 24))
    table = [
        [
            *shown, r.queued_samples, human_duration(r.queued_p50_s), human_duration(r.queued_p90_s),
            human_duration(r.queued_p95_s), human_duration(r.queued_max_s), r.not_started,
        ]
        for r, shown in zip(jobs, cut, strict=True)
    ]  # fmt: skip
    headers = ["workflow", "job", "n", "p50", "p90", "p95", "max", "never started"]
    return "\n\nWaiting for a runner (job created → started):\n" + render_table(headers, table, right=range(2, 8))


# -- incidents ---------------------------------------------------------------------------------


def incident_dict(incident: Incident) -> dict[str, Any]:
    """The JSON shape of DESIGN.md (plus workflow and time, which scripts find useful), then the job
    attempt's run context (``CONTEXT_FIELDS``, null where unknown)."""
    data = asdict(incident)
    out = {k: data[k] for k in INCIDENT_FIELDS}
    out["workflow"] = incident.workflow
    out["occurred_at"] = iso(incident.occurred_at)
    out.update((incident.context or JobContext()).to_dict())
    out["ended_by"] = incident.ended_by
    out["silence_s"] = incident.silence_s
    return out


def incidents_json(found: Sequence[Incident]) -> str:
    return json_text([incident_dict(i) for i in found])


def incidents_table(found: Sequence[Incident], local: Mapping[int, str] | None = None) -> str:
    cut = names(found, ("job", 20), ("step", 22), ("phase", 22))
    table = [
        [
            i.occurred_at.strftime("%Y-%m-%d %H:%M") if i.occurred_at else "-", run_label(i.run_id, i.run_attempt, local),
            shorten(i.context.branch if i.context else None, 18), *shown, i.kind + (f" ({i.ended_by})" if i.ended_by else ""),
            human_duration(i.limit_s), shorten(i.evidence, 70),
        ]
        for i, shown in zip(found, cut, strict=True)
    ]  # fmt: skip
    return render_table(["when", "run", "branch", "job", "step", "phase", "kind", "limit", "evidence"], table)


def incidents_summary(found: Sequence[Incident]) -> str:
    return f"{len(found)} incident(s): " + (counts(i.kind for i in found) or "none")


# -- recommendations ---------------------------------------------------------------------------


def recommendations_json(result: RecommendResult) -> str:
    return json.dumps(result.to_dict(), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def verdict_summary(result: RecommendResult) -> str:
    """``51 unit(s): ok 10, too_tight 3, ...`` (the window is on the line before it, as every history command says it)."""
    found = counts(r.verdict for r in result.recommendations) or "no observations in the window; try --since"
    return f"{len(result.recommendations)} unit(s): {found}"


def format_rate(rate: float | None, basis: str | None = None, interval: tuple[float | None, float | None] = (None, None)) -> str:
    """A kill rate for people: ``9.9% (7.4–13.1%)``, ``<0.1%``, ``≥4.1%`` (only a lower end known), ``-`` (no limit)."""
    return _kill(rate, basis, interval)


def _kill(rate: float | None, basis: str | None = None, interval: tuple[float | None, float | None] = (None, None)) -> str:
    """A kill rate with its interval when there is one: ``9.9% (7.4–13.1%)``; ``≥4.1%`` where only a lower
    end is known (beyond a run a limit stopped)."""
    lo, hi = interval
    if rate is None:
        return "-" if lo is None or basis != "unknown" else "≥" + _kill(lo)
    text = "0%" if rate == 0 else f"{rate:.1%}" if rate >= 0.001 else "<0.1%"
    if lo is None or hi is None or hi < 0.001:  # below a tenth of a percent the interval says nothing more
        return text
    return f"{text} ({lo:.1%}–{hi:.1%})"


def _where(r: Recommendation) -> str:
    """Where the recommended limit would be set, for a change; why none can be, for a runner-made step."""
    if not r.settable:
        return "no limit can be set (made by the runner or inside a composite action)"
    from analyzer.advise.policy import PROPOSALS

    if r.verdict in PROPOSALS and r.where:
        return f"set in: {r.where}"
    return ""


def _percentile(r: Recommendation, value: float | None) -> str:
    if value is not None:
        return human_duration(value)
    if r.quantile_lower_bound_s is not None:
        return "≥" + human_duration(r.quantile_lower_bound_s)
    return "-"


def recommendations_table(result: RecommendResult) -> str:
    """A readable terminal table: one row per unit, then the layer warnings."""
    rows = []
    cut = names(result.recommendations, ("job", 20), ("step", 26), ("phase", 26))
    for r, (job, step, phase) in zip(result.recommendations, cut, strict=True):
        rows.append(
            [
                r.scope, job, "" if r.step is None else step, "" if r.phase is None else phase, r.samples, r.censored,
                human_duration(r.p50_s), _percentile(r, r.p95_s), _percentile(r, r.p99_s),
                human_duration(r.current_timeout_s) + (f" ({r.current_source})" if r.current_source else ""),
                human_duration(r.recommended_timeout_s) + (" (re-measure)" if r.remeasure else ""), r.verdict,
                _kill(r.false_timeout_rate_current, r.rate_basis[0], r.rate_current_ci) + " → "
                + _kill(r.false_timeout_rate_recommended, r.rate_basis[1], r.rate_recommended_ci),
            ]
        )
    headers = ["scope", "job", "step", "phase", "n", "cens", "p50", "p95", "p99", "current", "recommended", "verdict",
               "killed now → rec (90% interval)"]  # fmt: skip
    text = render_table(headers, rows, right=range(4, 9))
    if result.layers:
        text += "\n\nTimeout layers:\n" + "\n".join(f"  {w.kind}: {w.message}" for w in result.layers)
    return text


def recommendations_markdown(result: RecommendResult) -> str:
    """A Markdown report: a table, then notes per unit and the layer warnings."""
    from analyzer.advise.policy import quantile_label

    q = quantile_label(result.quantile)
    lines = [
        f"## Timeout recommendations (p{q}, generated {result.generated_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC)",
        "",
        f"Model: {window_phrase(result.window_start, result.window_end, result.runs)}.",
        "",
        "| unit | n | censored | p50 | p95 | p99 | current | recommended | verdict | killed now → rec (90% interval) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | --- | --- |",
    ]
    for r in result.recommendations:
        unit = f"{r.scope}: {_md(r.key.label())}"
        current = human_duration(r.current_timeout_s) + (f" ({r.current_source})" if r.current_source else "")
        recommended = human_duration(r.recommended_timeout_s) + (" (re-measure)" if r.remeasure else "")
        lines.append(
            f"| {unit} | {r.samples} | {r.censored} | {human_duration(r.p50_s)} | {_percentile(r, r.p95_s)} | "
            f"{_percentile(r, r.p99_s)} | {current} | {recommended} | `{r.verdict}` | "
            f"{_kill(r.false_timeout_rate_current, r.rate_basis[0], r.rate_current_ci)} → "
            f"{_kill(r.false_timeout_rate_recommended, r.rate_basis[1], r.rate_recommended_ci)} |"
        )
    noted = [r for r in result.recommendations if r.notes or _where(r)]
    if noted:
        lines += ["", "### Notes", ""]
        for r in noted:
            notes = [_where(r), *r.notes] if _where(r) else list(r.notes)
            lines.append(f"- **{_md(r.key.label())}** ({r.scope}): " + "; ".join(_md(n) for n in notes))
    if result.layers:
        lines += ["", "### Timeout layers", ""]
        lines += [f"- `{w.kind}`: {_md(w.message)}" for w in result.layers]
    lines += [
        "",
        "Censored runs (stopped by a limit, cancelled, runner lost) count as lasting *at least* as long as observed; "
        "values marked ≥ are lower bounds; tail estimates are parametric extrapolations. Kill rates are estimates of the "
        "share of healthy runs a limit stops, with their 90 % interval.",
    ]
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|")


# -- backtest ----------------------------------------------------------------------------------


def backtest_table(result: BacktestResult) -> str:
    """Policies side by side; ``est. killed`` is the censoring-aware kill rate on the replayed period."""
    rows = []
    for t in result.totals:
        rows.append(
            [
                t.policy, t.units, f"{t.healthy_killed}/{t.healthy_runs}", share(t.kill_rate), share(t.est_kill_rate),
                t.units_over_target,
                share(t.worst_est_kill_rate) + (f" ({shorten(t.worst_unit.label(), 28)})" if t.worst_unit and t.worst_est_kill_rate else ""),
                f"{t.stopped_sooner}/{t.timed_out_runs}", f"{t.runner_minutes_saved:.0f}", f"{t.runner_minutes_at_risk:.0f}",
                human_duration(t.median_slack_s),
            ]
        )
    headers = [
        "policy", "units", "healthy killed", "kill %", "est. killed", "units over", "worst unit",
        "timed-out stopped sooner", "min saved", "min at risk", "median slack",
    ]
    head = (
        f"Backtest: limits chosen on runs before {result.split:%Y-%m-%d}, replayed on {result.test_rows} observations after "
        f"(target p{result.quantile * 100:g})"
    )
    foot = (
        f"'est. killed' = censoring-aware share of runs the limits stop; 'units over' = units where it exceeds "
        f"{(1 - result.quantile) * 100:g} %; minutes saved/at risk: on runs that timed out"
    )
    return head + "\n" + render_table(headers, rows, right=(1, 2, 3, 4, 5, 7, 8, 9, 10)) + "\n" + foot


# -- bootstrap plan ----------------------------------------------------------------------------


def forecast_table(forecast: Forecast) -> str:
    """The table of ``bootstrap plan``."""
    rows = [
        [
            t.name,
            ", ".join(t.needs) or "-",
            t.samples,
            t.censored,
            human_duration(t.p50_s),
            human_duration(t.p95_s),
            f"{human_duration(t.limit.seconds)} ({t.limit.source})",
            t.data,
        ]
        for t in forecast.tasks
    ]
    table = render_table(["task", "needs", "n", "cens", "p50", "p95", "limit", "data"], rows, right=[2, 3, 4, 5])
    saved = forecast.savings_p50_s
    share = f" ({saved / forecast.sequential_p50_s:.0%})" if forecast.sequential_p50_s > 0 else ""
    totals = render_table(
        ["wall time", "p50", "p95"],
        [
            ["sequential", human_duration(forecast.sequential_p50_s), human_duration(forecast.sequential_p95_s)],
            ["parallel", human_duration(forecast.parallel_p50_s), human_duration(forecast.parallel_p95_s)],
        ],
        right=[1, 2],
    )
    lines = [
        f"plan {forecast.plan}: {len(forecast.tasks)} task(s), {forecast.runs} Monte Carlo runs",
        table,
        "",
        f"critical path (median durations): {' -> '.join(forecast.critical_path)} = {human_duration(forecast.critical_path_s)}",
        "",
        totals,
        f"expected savings of running in parallel: {human_duration(saved)}{share} (p50)",
    ]
    lines += [f"note: {n}" for n in forecast.notes]
    return "\n".join(lines)


# -- a command's output in the format asked for --------------------------------------------------


def stats_text(rows: Sequence[UnitStats], format: str) -> str:
    if format == "json":
        return stats_json(rows) + "\n"
    return stats_csv(rows) if format == "csv" else stats_table(rows) + "\n"


def incidents_text(found: Sequence[Incident], format: str, *, local: Mapping[int, str] | None = None) -> str:
    return (incidents_json(found) if format == "json" else incidents_table(found, local)) + "\n"


def recommendations_text(result: RecommendResult, format: str) -> str:
    if format == "json":
        return recommendations_json(result)
    return recommendations_markdown(result) if format == "markdown" else recommendations_table(result) + "\n"


def failures_text(report: FailureReport, format: str, *, local: Mapping[int, str] | None = None) -> str:
    if format == "json":
        return json_text(report.to_dict()) + "\n"
    from analyzer.present.failures import failures_markdown, failures_table

    return failures_markdown(report, local) if format == "markdown" else failures_table(report, local)


def failures_summary(report: FailureReport) -> str:
    from analyzer.present.failures import summary_line

    return summary_line(report)


def backtest_text(result: BacktestResult, format: str) -> str:
    return (json_text(result.to_dict()) if format == "json" else backtest_table(result)) + "\n"


def forecast_text(forecast: Forecast, format: str) -> str:
    return (json_text(forecast.to_dict()) if format == "json" else forecast_table(forecast)) + "\n"


def patch_summary(plan: PatchPlan, directory: Path) -> str:
    changed = sum(1 for e in plan.edits if e.before != e.after)
    return f"patched {changed} file(s) under {directory}" if changed else f"nothing to change under {directory}"


def patch_lines(plan: PatchPlan, directory: Path) -> list[str]:
    """What ``recommend --patch`` says on stderr after the diff: its notes, then what it changed."""
    return [*(f"note: {note}" for note in plan.notes), patch_summary(plan, directory)]


def many_lines(worker: WorkerSummary | None, state: RoundState) -> list[str]:
    """The closing lines of ``fetch --org``/``--repos-file``: this worker's share, then the round."""
    return [*([worker.line()] if worker is not None else []), *state.lines(),
            *([f"stopped: {worker.stopped.message}", f"hint: {worker.stopped.hint}"]
              if worker is not None and worker.stopped is not None else [])]  # fmt: skip


def fetch_lines(summary: FetchSummary) -> list[str]:
    """What a fetch did, for stderr: its summary, the items it could not get (20 at most), and why it
    stopped early if it did."""
    lines = [summary.line(), *(f"  not fetched: {line}" for line in summary.details(limit=20))]
    if summary.stopped is not None:
        lines += [f"stopped: {summary.stopped.message}; everything fetched so far is saved", f"hint: {summary.stopped.hint}"]
    return lines


def comment_line(result: CommentResult) -> str:
    """What ``comment`` (or ``check``) did with its comment, for stderr."""
    where = f"{result.repo}#{result.pr}" if result.pr is not None else ""
    chosen = f" ({result.how})" if result.how and result.pr is not None else ""
    if result.action == "dry-run":
        target = f"pull request {where}{chosen}" if result.pr is not None else result.how
        return f"dry run: nothing sent; the comment would go to {target}"
    if result.action == "skipped":
        return f"notice: no pull request to comment on ({result.how}); the report went to stdout, nothing was posted"
    if result.action == "none":
        return "no timeout changes in this pull request: nothing to comment"
    return f"comment {result.action} on {where}{chosen}" + (f": {result.url}" if result.url else "")


def comment_text(result: CommentResult) -> str:
    """What ``comment`` prints on stdout: the body when it was not posted (a dry run, no pull request)."""
    return result.body + "\n" if result.action in ("dry-run", "skipped") else ""


def check_text(result: CommentResult, dry_run: bool) -> str:
    """What ``check`` prints on stdout: the body of a dry run's comment, if there is one."""
    return result.body + "\n" if dry_run and result.body else ""


def check_lines(check: PullCheck, result: CommentResult) -> list[str]:
    """What ``check`` found and did with its comment, for stderr."""
    count = sum(len(c.units) or 1 for c in check.changes)
    found = (
        f"check: {len(check.changes)} timeout change(s) in {check.repo}#{check.pr} ({count} row(s) of evidence; "
        f"{check.files_read} of its {check.files_changed} changed file(s) are workflows or [[timeouts]] files)"
    )
    return [found, comment_line(result)]
