"""The report as plain data: headline actions, tables, week-over-week changes, layers, incidents
and chart geometry (``charts``), built from ``ReportInputs``; no markup here.

``build_context(inputs)`` is what the HTML template and the Markdown renderer both read, so each
stage can be tested on its own.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from analyzer.model import km_quantiles, measured, queue_masks, queue_quantiles
from analyzer.model.failures import FailureReport
from analyzer.present.charts import gantts, histogram, km, trend_chart, week_starts
from analyzer.present.failures import failures_view
from analyzer.present.index import UnitIndex, as_ns
from analyzer.present.text import dur, known, rate_with_interval, run_label, unit_label, unit_name, window_phrase
from analyzer.records import Incident, JobContext, UnitKey

GITHUB_DEFAULT_JOB_LIMIT_S = 21600.0
MAX_UNITS = 36  # per-unit charts
MAX_INCIDENTS = 60  # incident rows in the HTML
MAX_POOLS = 6  # runner pools with a weekly queue-time chart
MAX_QUEUE_JOBS = 12  # jobs in the queue-time table


@dataclass(frozen=True)
class ReportInputs:
    """Everything a report is made of, as plain data."""

    repo: str | None
    generated_at: datetime
    period_start: datetime  # "this week" (``--since``)
    period_end: datetime
    observations: pd.DataFrame  # history for trends and distributions (Store.observations_frame shape)
    incidents: Sequence[Incident]
    recommendations: Sequence[Mapping[str, Any]]  # DESIGN.md shape (``RecommendResult.to_dict``)
    quantile: float = 0.99
    version: str = "0.0.0"
    local_runs: Mapping[int, str] = field(default_factory=dict)  # local run id -> the file it came from
    failures: FailureReport | None = None  # signatures and rerun rates of the period (None: not shown)
    jobs: pd.DataFrame = field(default_factory=pd.DataFrame)  # job attempts, for queue times (Store.jobs_frame shape)
    filters: tuple[tuple[str, str], ...] = ()  # (name, value): the runs the report is limited to (branch, event)
    model_start: datetime | None = None  # the window the recommendations were made on (``window.analysis_window``) ...
    model_end: datetime | None = None
    model_runs: int | None = None  # ... and the job runs in it


def package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("we-advisor")
    except PackageNotFoundError:
        return "0.0.0"


def build_context(inputs: ReportInputs) -> dict[str, Any]:
    """The whole report as plain data (no markup): what the templates and the Markdown render."""
    frame = _usable(inputs.observations)
    unit_rows = UnitIndex.of(frame)
    recs = [dict(r) for r in inputs.recommendations]
    rec_by_key = {UnitKey.from_mapping(r): r for r in recs}
    units = _units(frame, rec_by_key, unit_rows)
    in_period = unit_rows.is_job & (unit_rows.started >= as_ns(inputs.period_start))
    runs_in_period = int(pd.unique(frame["job_id"].to_numpy()[in_period]).size) if not frame.empty else 0
    runs_in_history = int(pd.unique(frame["job_id"].to_numpy()[unit_rows.is_job]).size) if not frame.empty else 0
    weeks = week_starts(inputs.period_end)
    unit_views: list[dict[str, Any]] = []
    for index, (key, group) in enumerate(units):
        rec = rec_by_key.get(key)
        trend = trend_chart(group, weeks)
        unit_views.append(
            {
                "id": f"u{index}-{key.scope}",
                "key": list(key),
                "scope": key[0],
                "label": unit_label(key),
                "name": unit_name(key),
                "samples": len(group),
                "censored": int(group["censored"].sum()),
                "rec": rec,
                "hist": histogram(group, rec),
                "trend": trend,
            }
        )
    changes = _week_over_week(frame, inputs.period_start, inputs.period_end, unit_rows)
    queue = _queue_view(inputs.jobs, inputs.period_start, inputs.period_end, weeks)
    regressions = [
        {"label": u["label"], "week": p["week"], "p95": p["p95"], "baseline": p["baseline"]}
        for u in unit_views
        for p in u["trend"]["points"]
        if p["regression"]
    ]
    judged = [r for r in recs if r.get("verdict") not in ("insufficient_data", "not_settable")]
    return {
        "title": f"we-advisor report — {inputs.repo}" if inputs.repo else "we-advisor report",
        "repo": inputs.repo,
        "generated_at": inputs.generated_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "period": f"{inputs.period_start:%Y-%m-%d} → {inputs.period_end:%Y-%m-%d}",
        "filters": " · ".join(f"{name} {value}" for name, value in inputs.filters),
        "history_from": f"{weeks[0]:%Y-%m-%d}",
        "windows": {
            "period": window_phrase(inputs.period_start, inputs.period_end, runs_in_period),
            "history": window_phrase(weeks[0], inputs.period_end, runs_in_history),
            "model": window_phrase(inputs.model_start, inputs.model_end, inputs.model_runs),
        },
        "judged": len(judged),
        "hangs": _hangs(recs),
        "version": inputs.version,
        "quantile": inputs.quantile,
        "summary": {
            "runs": runs_in_period,
            "incidents": len(inputs.incidents),
            "timeouts": sum(1 for i in inputs.incidents if i.kind.endswith("timeout") or i.kind == "hang"),
            "units": len(unit_views),
            "queue_p95": queue["p95"],
        },
        "actions": _actions(recs),
        "recommendations": _rec_rows(recs),
        "units": unit_views,
        "changes": changes,
        "regressions": regressions,
        "layers": _layers(frame, recs, unit_rows),
        "incidents": _incident_view(inputs.incidents, inputs.local_runs),
        "queue": queue,
        "gantts": gantts(frame, unit_rows),
        "failures": failures_view(inputs.failures, inputs.local_runs),
    }


# Observation columns no view of the report reads: not carried into its copies of the rows (at 10⁶
# observations the two text-or-NULL silence columns are 16 MB in each copy). A view must not read them: they
# are absent from the frames it gets whenever a row is left out (and from every unit's copy).
_UNREAD = ("repo", "runner", "silence_s", "gap_s")


def _usable(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows that measure a duration, ``started_at`` as UTC times; read only from here on: no copy when
    every row measures one, else a copy without the columns no view reads."""
    if frame.empty:
        return frame
    keep = measured(frame)
    out = frame if keep.all() else frame.loc[keep, [c for c in frame.columns if c not in _UNREAD]]  # one copy, or none
    if not isinstance(out["started_at"].dtype, pd.DatetimeTZDtype):
        out = out.assign(started_at=pd.to_datetime(out["started_at"], utc=True))
    return out


def _units(
    frame: pd.DataFrame, rec_by_key: Mapping[UnitKey, Any], index: UnitIndex
) -> list[tuple[UnitKey, pd.DataFrame]]:
    """Units worth a chart: jobs, phases, and steps that matter (long, censored, or flagged)."""
    if frame.empty:
        return []
    durations = frame["duration_s"].to_numpy(dtype=float)
    censored = frame["censored"].to_numpy(dtype=bool)
    numbers = pd.to_numeric(frame["step_number"], errors="coerce").to_numpy(dtype=float) if "step_number" in frame else None
    ranked: list[tuple[tuple[int, str, str, float, str, str], UnitKey, np.ndarray[Any, Any]]] = []
    for key, rows in zip(index.keys, index.rows, strict=True):
        rec = rec_by_key.get(key)
        flagged = rec is not None and rec.get("verdict") in ("too_tight", "too_loose", "no_timeout")
        p95 = float(np.quantile(durations[rows], 0.95))
        keep = key[0] != "step" or flagged or bool(censored[rows].any()) or p95 >= 60
        if not keep:
            continue
        order = _action_rank(rec)[0] if flagged and rec is not None else 9
        mine = numbers[rows] if numbers is not None else np.empty(0)
        number = float(np.nanmin(mine)) if np.isfinite(mine).any() else -1.0
        ranked.append(((order, key[1], key[2], number, key[0], key[4] or ""), key, rows))
    ranked.sort(key=lambda r: r[0])  # what needs action first (the action list's order), then as a workflow reads
    read = [i for i, c in enumerate(frame.columns) if c not in _UNREAD]  # each unit's copy: the columns its views read
    return [(key, frame.iloc[rows, read]) for _, key, rows in ranked[:MAX_UNITS]]


def _week_over_week(frame: pd.DataFrame, start: datetime, end: datetime, index: UnitIndex) -> list[dict[str, Any]]:
    """This period against the one before it: p50/p95 and timeouts per job and phase."""
    if frame.empty:
        return []
    length = max(end - start, timedelta(days=1))
    this = index.started >= as_ns(start)
    prev = (index.started >= as_ns(start - length)) & (index.started < as_ns(start))
    durations = frame["duration_s"].to_numpy(dtype=float)
    censored = frame["censored"].to_numpy(dtype=bool)
    # A phase whose step is unknown is compared with that phase under any step of its job.
    same_phase: dict[tuple[str, str, str | None], list[int]] = {}
    for u, key in enumerate(index.keys):
        if key[0] == "phase":
            same_phase.setdefault((key[1], key[2], key[4]), []).append(u)
    rows: list[dict[str, Any]] = []
    not_step = (frame["scope"] != "step").to_numpy()
    for u in pd.unique(index.code[this & not_step]):  # in order of first appearance this period
        key = index.keys[int(u)]
        mine = index.rows[int(u)]
        now = mine[this[mine]]
        if key[0] == "phase" and key[3] is None:
            was = np.concatenate([index.rows[v] for v in same_phase[(key[1], key[2], key[4])]])
        else:
            was = mine
        was = was[prev[was]]
        now50, now95 = km_quantiles(durations[now], censored[now], (0.5, 0.95))
        was50, was95 = km_quantiles(durations[was], censored[was], (0.5, 0.95)) if was.size else (None, None)
        change = None
        if now95 is not None and was95:
            change = (now95 - was95) / was95
        rows.append(
            {
                "label": unit_label(key),
                "name": unit_name(key),
                "scope": key[0],
                "n": int(now.size),
                "n_prev": int(was.size),
                "p50": now50,
                "p50_prev": was50,
                "p95": now95,
                "p95_prev": was95,
                "change": change,
                "timeouts": int(censored[now].sum()),
                "timeouts_prev": int(censored[was].sum()),
                "worse": change is not None and change > 0.1 and now95 is not None and was95 is not None and now95 - was95 >= 15,
                "better": change is not None and change < -0.1,
            }
        )
    rows.sort(key=lambda r: (-abs((r["p95"] or 0.0) - (r["p95_prev"] or r["p95"] or 0.0)), r["label"]))
    return rows


# -- actions and recommendations -----------------------------------------------------------------

_VERDICT_ORDER = {"too_tight": 0, "too_loose": 1, "no_timeout": 2, "ok": 3, "insufficient_data": 4, "not_settable": 5}
VERDICT_TEXT = {
    "too_tight": "too tight",
    "too_loose": "too loose",
    "no_timeout": "no timeout",
    "insufficient_data": "insufficient data",
    "not_settable": "not settable",
    "ok": "ok",
}


def actionable(rec: Mapping[str, Any]) -> bool:
    """A change someone can make: a settable unit whose verdict asks for another limit, with one to set."""
    return (
        rec.get("verdict") in ("too_tight", "too_loose", "no_timeout")
        and rec.get("settable", True) is not False
        and known(rec.get("recommended_timeout_s")) is not None
    )


def _actions(recs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The few things to act on, most costly first: settable changes only, each naming its job and step,
    with the kill rate now → then and their intervals."""
    out: list[dict[str, Any]] = []
    done: set[tuple[Any, ...]] = set()
    name = _action_namer(recs)
    for rec in sorted((r for r in recs if actionable(r)), key=_action_rank):
        verdict = rec.get("verdict")
        cur, new = known(rec.get("current_timeout_s")), known(rec.get("recommended_timeout_s"))
        key = UnitKey.from_mapping(rec)
        # two detectors measuring one span (a [[phases]] rule and a kubectl-wait, say): one action
        same = (key.scope, key.workflow, key.job, key.step, verdict, cur, new)
        if key.scope == "phase" and same in done:
            continue
        done.add(same)
        now = rate_with_interval(known(rec.get("false_timeout_rate_current")), rec.get("false_timeout_rate_current_ci"))
        then = rate_with_interval(known(rec.get("false_timeout_rate_recommended")), rec.get("false_timeout_rate_recommended_ci"))
        to = f"{'raise to at least' if rec.get('remeasure') else 'recommend' if verdict != 'no_timeout' else 'set'} {dur(new)}"
        if rec.get("remeasure"):
            to += ", re-measure"
        if verdict == "too_tight":
            text = f"limit {dur(cur)} stops {now} of healthy runs"
        elif verdict == "no_timeout":
            text = "no limit of its own: a hung run waits for the next limit out" + (" (GitHub's 6 h)" if key.scope == "job" else "")
        else:
            p99 = known(rec.get("p99_s"))
            ratio = f" ({cur / p99:.0f}× its p99 of {dur(p99)})" if cur and p99 else ""
            text = f"limit {dur(cur)}{ratio}: a hung run wastes the difference"
        out.append({"verdict": verdict, "name": name(key), "text": text, "to": to, "then": then, "where": rec.get("where")})
        if len(out) >= 5:
            break
    return out


def _action_namer(recs: list[dict[str, Any]]) -> Callable[[UnitKey], str]:
    """How "Act on these" names a unit: job › step, and its workflow too where two workflows have a
    job of that name (the action must say which file to edit)."""
    workflows: dict[str, set[str]] = {}
    for rec in recs:
        workflows.setdefault(str(rec.get("job")), set()).add(str(rec.get("workflow")))
    ambiguous = {job for job, names in workflows.items() if len(names) > 1}

    def name(key: UnitKey) -> str:
        label = unit_label(key)
        return f"{key.workflow} › {label}" if key.job in ambiguous else label

    return name


def _action_rank(rec: Mapping[str, Any] | None) -> tuple[int, float]:
    if rec is None:
        return 9, 0.0
    verdict = str(rec.get("verdict"))
    weight = known(rec.get("false_timeout_rate_current")) or 0.0
    if verdict == "too_loose":
        cur, new = known(rec.get("current_timeout_s")) or 0.0, known(rec.get("recommended_timeout_s")) or 0.0
        weight = (cur - new) / 1e6
    return _VERDICT_ORDER.get(verdict, 9), -float(weight)


def _hangs(recs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Units whose runs hung: how many, and how much sooner the recommended limit would have stopped them."""
    out = []
    name = _action_namer(recs)
    for rec in recs:
        hung = int(rec.get("hung") or 0)
        if not hung:
            continue
        saved, at = known(rec.get("hung_saved_s")), known(rec.get("hung_saved_at_s"))
        text = f"{hung} run{'s' if hung != 1 else ''} hung (stopped by a limit after a long silence in the log)"
        if saved and saved >= 1 and at is not None:
            text += f"; a limit of {dur(at)} would have stopped {'them' if hung != 1 else 'it'} {dur(saved)} sooner"
            text += " in all" if hung != 1 else ""
        out.append({"name": name(UnitKey.from_mapping(rec)), "hung": hung, "text": text})
    return out


def _rec_rows(recs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for rec in sorted(recs, key=lambda r: (_VERDICT_ORDER.get(str(r.get("verdict")), 9), r.get("job", ""), r.get("scope", ""))):
        ci = rec.get("p99_ci_s") or [None, None]
        key = UnitKey.from_mapping(rec)
        rows.append(
            {
                "label": unit_label(key),
                "name": unit_name(key),
                "scope": key[0],
                "samples": rec.get("samples"),
                "censored": rec.get("censored"),
                "p50": known(rec.get("p50_s")),
                "p95": known(rec.get("p95_s")),
                "p99": known(rec.get("p99_s")),
                "ci": [known(ci[0]) if len(ci) > 0 else None, known(ci[1]) if len(ci) > 1 else None],
                "current": known(rec.get("current_timeout_s")),
                "source": rec.get("current_source") or "",
                "recommended": known(rec.get("recommended_timeout_s")),
                "verdict": str(rec.get("verdict")),
                "verdict_text": VERDICT_TEXT.get(str(rec.get("verdict")), str(rec.get("verdict"))),
                "ftr_current": known(rec.get("false_timeout_rate_current")),
                "ftr_recommended": known(rec.get("false_timeout_rate_recommended")),
                "killed_now": rate_with_interval(known(rec.get("false_timeout_rate_current")), rec.get("false_timeout_rate_current_ci")),
                "killed_then": rate_with_interval(
                    known(rec.get("false_timeout_rate_recommended")), rec.get("false_timeout_rate_recommended_ci")
                ),
                "where": rec.get("where") or "",
                "remeasure": bool(rec.get("remeasure")),
            }
        )
    return rows


# -- timeout layers ------------------------------------------------------------------------------


def _layers(frame: pd.DataFrame, recs: list[dict[str, Any]], index: UnitIndex) -> list[dict[str, Any]]:
    """Per job: its limit, then the step and phase limits inside it, each against its p99."""
    if frame.empty:
        return []
    by_key = {UnitKey.from_mapping(r): r for r in recs}
    light = frame[["duration_s", "censored", "limit_s", "outcome"]]
    units_of: dict[tuple[str, str], list[int]] = {}
    for u, unit in enumerate(index.keys):
        units_of.setdefault((unit[1], unit[2]), []).append(u)
    out = []
    for (workflow, job), units in sorted(units_of.items()):
        rows: list[dict[str, Any]] = []
        job_rec = by_key.get(UnitKey.of("job", workflow, job))
        job_unit = [u for u in units if index.keys[u][0] == "job"]
        jobs = light.take(index.rows[job_unit[0]]) if job_unit else light.iloc[:0]
        job_limit = _limit_of(job_rec, jobs) or GITHUB_DEFAULT_JOB_LIMIT_S
        rows.append(_layer_row("job", str(job), 0, jobs, job_rec, job_limit, None, default=job_rec is None and _limit_of(None, jobs) is None))
        for u in units:  # in order of first appearance, as groupby(sort=False) gave them
            key = index.keys[u]
            if key[0] == "job":
                continue
            sub = light.take(index.rows[u])
            rec = by_key.get(key)
            limit = _limit_of(rec, sub)
            if limit is None or (rec is None and key[0] == "step" and limit == job_limit):
                continue
            rows.append(_layer_row(key[0], unit_name(key), 1 if key[0] == "step" else 2, sub, rec, limit, job_limit))
        lo = 1.0
        hi = max(r["limit"] for r in rows)
        for r in rows:
            r["bar"] = _log_pos(r["limit"], lo, hi)
            r["p99_pos"] = None if r["p99"] is None else _log_pos(r["p99"], lo, hi)
            r["rec_pos"] = None if r["recommended"] is None else _log_pos(r["recommended"], lo, hi)
        out.append({"job": str(job), "workflow": str(workflow), "rows": rows})
    return out


def _limit_of(rec: Mapping[str, Any] | None, sub: pd.DataFrame) -> float | None:
    if rec is not None and known(rec.get("current_timeout_s")) is not None:
        return float(rec["current_timeout_s"])
    limits = sub["limit_s"].dropna() if "limit_s" in sub else pd.Series(dtype=float)
    return float(limits.max()) if not limits.empty else None


def _layer_row(
    scope: str, name: str, depth: int, sub: pd.DataFrame, rec: Mapping[str, Any] | None, limit: float,
    outer: float | None, *, default: bool = False,
) -> dict[str, Any]:
    p99 = known(rec.get("p99_s")) if rec else km(sub, (0.99,))[0]
    recommended = known(rec.get("recommended_timeout_s")) if rec else None
    fits = recommended is None or outer is None or recommended < outer
    return {
        "scope": scope,
        "name": name,
        "depth": depth,
        "limit": limit,
        "p99": p99,
        "recommended": recommended,
        "default": default,
        "headroom": None if p99 is None else limit / p99 if p99 > 0 else None,
        "fits": fits,
        "killed": int((sub["outcome"] == "timeout").sum()),
        "samples": len(sub),
    }


def _log_pos(value: float, lo: float, hi: float) -> float:
    value = min(max(value, lo), hi)
    return round(100 * math.log(value / lo) / math.log(hi / lo), 1) if hi > lo else 100.0


# -- incidents -----------------------------------------------------------------------------------


def _incident_view(found: Sequence[Incident], local: Mapping[int, str] | None = None) -> dict[str, Any]:
    kinds: dict[str, int] = {}
    for i in found:
        kinds[i.kind] = kinds.get(i.kind, 0) + 1
    newest = sorted(found, key=lambda i: (i.occurred_at or datetime.min.replace(tzinfo=UTC), i.job_id), reverse=True)
    rows = [
        {
            "when": i.occurred_at.strftime("%Y-%m-%d %H:%M") if i.occurred_at else "–",
            "run": run_label(i.run_id, i.run_attempt, local),
            "job": i.job,
            "where": " › ".join(x for x in (i.step, i.phase) if x),
            "kind": i.kind,
            "limit": i.limit_s,
            "evidence": i.evidence,
            "context": _context_view(i.context),
            "ended_by": i.ended_by,
            "silence": i.silence_s if i.kind == "hang" else None,
        }
        for i in newest[:MAX_INCIDENTS]
    ]
    return {
        "total": len(found),
        "kinds": sorted(kinds.items(), key=lambda kv: (-kv[1], kv[0])),
        "rows": rows,
        "hidden": max(0, len(found) - MAX_INCIDENTS),
    }


def _context_view(context: JobContext | None) -> dict[str, Any]:
    """A job attempt's run context for people: what is known of branch, event, actor, commit, runner, wait."""
    c = context or JobContext()
    return {
        "branch": c.branch,
        "event": c.event,
        "actor": c.actor,
        "sha": c.head_sha[:7] if c.head_sha else None,
        "message": c.head_commit_message,
        "runner": c.runner_name,
        "queued": c.queued_s,
        "known": any(v is not None for v in (c.branch, c.event, c.actor, c.head_sha, c.runner_name, c.queued_s)),
    }


# -- queue time ----------------------------------------------------------------------------------


def _queue_view(jobs: pd.DataFrame, start: datetime, end: datetime, weeks: Sequence[datetime]) -> dict[str, Any]:
    """How long jobs waited for a runner: per runner pool (its labels) this period against the one
    before, weekly p50/p95 of the busiest pools, the jobs that waited longest."""
    view: dict[str, Any] = {"pools": [], "charts": [], "jobs": [], "n": 0, "p50": None, "p95": None,
                            "not_started": 0, "unknown": 0}  # fmt: skip
    if jobs.empty:
        return view
    waited, never = queue_masks(jobs)
    length = max(end - start, timedelta(days=1))
    created = jobs["created_at"]
    when = jobs["started_at"].where(created.isna(), created)  # a job of unknown creation counts by its start
    this = (when >= pd.Timestamp(start)).to_numpy()
    prev = ((when >= pd.Timestamp(start - length)) & (when < pd.Timestamp(start))).to_numpy()
    pools = jobs["labels"].where(jobs["labels"] != "", "(no labels)").to_numpy(dtype=object)
    queued = jobs["queued_s"].to_numpy(dtype=float)
    skipped = (jobs["conclusion"] == "skipped").to_numpy()
    now = queued[waited & this]
    view.update(n=int(now.size), not_started=int((never & this).sum()), unknown=int((this & created.isna().to_numpy() & ~skipped).sum()))
    view["p50"], view["p95"] = queue_quantiles(now, (0.5, 0.95))
    measured = pd.DataFrame({"started_at": created, "duration_s": queued, "censored": False})[waited]
    rows: list[dict[str, Any]] = []
    for pool in pd.unique(pools[(waited | never) & (this | prev)]):
        mine = pools == pool
        p50, p95 = queue_quantiles(queued[waited & this & mine], (0.5, 0.95))
        p50_prev, p95_prev = queue_quantiles(queued[waited & prev & mine], (0.5, 0.95))
        rows.append({
            "label": str(pool),
            "n": int((waited & this & mine).sum()), "n_prev": int((waited & prev & mine).sum()),
            "p50": p50, "p95": p95, "p50_prev": p50_prev, "p95_prev": p95_prev,
            "max": float(queued[waited & this & mine].max()) if (waited & this & mine).any() else None,
            "not_started": int((never & this & mine).sum()),
            "worse": p95 is not None and p95_prev is not None and p95 > 1.2 * p95_prev and p95 - p95_prev >= 30,
        })  # fmt: skip
    rows.sort(key=lambda r: (-(r["p95"] or 0.0), -r["n"], r["label"]))
    view["pools"] = rows
    busiest = sorted(rows, key=lambda r: (-(r["n"] + r["n_prev"]), r["label"]))[:MAX_POOLS]
    view["charts"] = [
        {"label": r["label"], "trend": trend_chart(measured[pools[waited] == r["label"]], weeks)}
        for r in busiest
    ]
    view["jobs"] = _queue_jobs(jobs[this & (waited | never)], waited[this & (waited | never)])
    return view


def _queue_jobs(jobs: pd.DataFrame, waited: np.ndarray[Any, Any]) -> list[dict[str, Any]]:
    """The jobs that waited longest this period (by p95): their waits and their attempts never started."""
    out: list[dict[str, Any]] = []
    for (workflow, job), group in jobs.assign(_waited=waited).groupby(["workflow", "job"], sort=True):
        values = group["queued_s"].to_numpy(dtype=float)[group["_waited"].to_numpy()]
        p50, p95 = queue_quantiles(values, (0.5, 0.95))
        labels = ", ".join(sorted({str(x) for x in group["labels"] if x})) or "(no labels)"
        out.append({"label": unit_label(UnitKey.of("job", workflow, job)), "labels": labels, "n": int(values.size),
                    "p50": p50, "p95": p95, "max": float(values.max()) if values.size else None,
                    "not_started": int((~group["_waited"]).sum())})  # fmt: skip
    out.sort(key=lambda r: (-(r["p95"] or 0.0), r["label"]))
    return out[:MAX_QUEUE_JOBS]
