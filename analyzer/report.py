"""The HTML report and the weekly Markdown report.

Two stages, so each can be tested on its own:

1. ``build_context(inputs)`` turns plain data (an observations frame in the shape of
   ``Store.observations_frame``, incidents, recommendations in the DESIGN.md JSON shape) into a
   plain-data context: headline actions, tables, and chart *geometry* (rectangles, lines, points).
2. ``render_html(context)`` fills the jinja2 templates in ``analyzer/templates/`` (autoescape on,
   undefined variables fail loudly); ``render_markdown(context)`` writes the compact weekly
   Markdown, every log-derived string neutralized by ``comment.md_text``.

``collect(settings, store, ...)`` reads the store (and ``api.recommend`` when it exists) into
``ReportInputs``. Charts are aggregated (histogram bins, weekly points, one typical run per
job), so the file size does not grow with the number of runs.
"""

from __future__ import annotations

import contextlib
import errno
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import pandas as pd

from analyzer.config import Settings
from analyzer.errors import InputError
from analyzer.formatting import human_duration
from analyzer.model import km_quantiles, unit_codes
from analyzer.present.publish import MARKER, CommentResult, upsert_pr_comment
from analyzer.present.text import md_text, mermaid_text
from analyzer.records import Incident
from analyzer.store import Store

DEFAULT_HTML = Path("reports") / "index.html"
GITHUB_DEFAULT_JOB_LIMIT_S = 21600.0
TREND_WEEKS = 8
MAX_UNITS = 36  # per-unit charts
MAX_INCIDENTS = 60  # incident rows in the HTML
MAX_GANTT_ROWS = 40
HIST_BINS = 32
MARKDOWN_TARGET = 6_000
GITHUB_COMMENT_LIMIT = 65_536

Warn = Callable[[str], None]


# --------------------------------------------------------------------------------------------
# inputs


@dataclass(frozen=True)
class ReportInputs:
    """Everything a report is made of, as plain data."""

    repo: str | None
    generated_at: datetime
    period_start: datetime  # "this week" (``--since``)
    period_end: datetime
    observations: pd.DataFrame  # history for trends and distributions (Store.observations_frame shape)
    incidents: Sequence[Incident]
    recommendations: Sequence[Mapping[str, Any]] | None  # DESIGN.md shape; None: recommend unavailable
    quantile: float = 0.99
    notes: Sequence[str] = field(default_factory=tuple)
    version: str = "0.0.0"


def package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("we-advisor")
    except PackageNotFoundError:
        return "0.0.0"


def collect(
    settings: Settings,
    store: Store,
    *,
    repo: str | None = None,
    since: str | None = "7d",
    on_warning: Warn | None = None,
) -> ReportInputs:
    """Read what a report needs from the store: the period, eight weeks of history, recommendations."""
    from analyzer import api  # the library API (imports the parser)

    api.ensure_parsed(store, settings, on_warning=on_warning)
    repo = repo or settings.repo
    end = store.newest_time(repo=repo)
    if end is None:
        raise InputError(
            "the store has no observations to report on" + (f" for {repo}" if repo else ""),
            hint="run `we-advisor fetch` or `we-advisor ingest` first (or check --repo)",
        )
    start = api.parse_since(since or "7d", end=end) or end - timedelta(days=7)
    history_start = min(start, end - timedelta(weeks=TREND_WEEKS))
    # One read for the history and for recommend's window (10⁶ rows take seconds to read).
    window_start = end - timedelta(days=settings.window_days)  # api.analysis_window without --since
    read_from = min(history_start, window_start)
    everything = store.observations_frame(repo=repo, since=read_from)
    frame = everything if read_from == history_start else api.window_of(everything, since=history_start)
    found = store.load_incidents(repo=repo, since=start)
    notes: list[str] = []
    recs: list[Mapping[str, Any]] | None = None
    recommend = getattr(api, "recommend", None)
    if recommend is None:
        notes.append("Recommendations are not available in this version of we-advisor (no `recommend`).")
    else:
        result = recommend(
            settings, store, repo=repo, workflow=None, since=None, quantile=settings.quantile, observations=everything
        )
        data = result if isinstance(result, Mapping) else _as_mapping(result)
        recs = [_as_mapping(r) for r in data.get("recommendations", [])]
    return ReportInputs(
        repo=repo,
        generated_at=datetime.now(UTC),
        period_start=start,
        period_end=end,
        observations=frame,
        incidents=found,
        recommendations=recs,
        quantile=settings.quantile,
        notes=tuple(notes),
        version=package_version(),
    )


def _as_mapping(value: Any) -> Mapping[str, Any]:
    if isinstance(value, Mapping):
        return value
    for name in ("to_dict", "as_dict", "json_dict"):
        method = getattr(value, name, None)
        if callable(method):
            out = method()
            if isinstance(out, Mapping):
                return out
    from dataclasses import asdict, is_dataclass

    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    raise TypeError(f"cannot read a recommendation from {type(value).__name__}")


# --------------------------------------------------------------------------------------------
# small formatting helpers (also template filters)


def dur(seconds: float | None) -> str:
    """Durations for people: ``42 s``, ``6m35s``, ``10 min``, ``1h30m``; ``–`` when unknown."""
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return "–"
    if seconds < 120:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    if round(seconds) % 60 == 0 and seconds < 7200:
        return f"{round(seconds) // 60} min"
    return human_duration(seconds)


def pct(rate: float | None) -> str:
    if rate is None or math.isnan(rate):
        return "–"
    value = rate * 100
    if value == 0:
        return "0 %"
    if value < 1:
        return f"{value:.1f} %"
    return f"{value:.0f} %"


def unit_key(row: Mapping[str, Any]) -> tuple[str, str, str, str | None, str | None]:
    scope = str(row["scope"])
    step = _none(row.get("step")) if scope != "job" else None
    phase = _none(row.get("phase")) if scope == "phase" else None
    return (scope, str(row["workflow"]), str(row["job"]), step, phase)


def unit_label(key: tuple[str, str, str, str | None, str | None]) -> str:
    scope, _, job, step, phase = key
    if scope == "job":
        return f"{job}"
    if scope == "step":
        return f"{job} › {step}"
    return f"{phase} ({job} › {step})" if step else f"{phase} ({job})"


def unit_name(key: tuple[str, str, str, str | None, str | None]) -> str:
    """The short name: the phase, the step or the job."""
    return str(key[4] or key[3] or key[2])


def _none(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if value is pd.NaT:
        return None
    return value


def _slug(key: tuple[str, ...] | tuple[str | None, ...], index: int) -> str:
    return f"u{index}-{key[0]}"


# --------------------------------------------------------------------------------------------
# context


def build_context(inputs: ReportInputs) -> dict[str, Any]:
    """The whole report as plain data (no markup): what the templates and the Markdown render."""
    frame = _usable(inputs.observations)
    unit_rows = _UnitIndex.of(frame)
    recs = [dict(r) for r in inputs.recommendations] if inputs.recommendations is not None else None
    rec_by_key = {unit_key(r): r for r in recs or []}
    units = _units(frame, rec_by_key, unit_rows)
    in_period = unit_rows.is_job & (unit_rows.started >= _ns(inputs.period_start))
    runs_in_period = int(pd.unique(frame["job_id"].to_numpy()[in_period]).size) if not frame.empty else 0
    weeks = _week_starts(inputs.period_end)
    unit_views: list[dict[str, Any]] = []
    for index, (key, group) in enumerate(units):
        rec = rec_by_key.get(key)
        trend = _trend(group, weeks)
        unit_views.append(
            {
                "id": _slug(key, index),
                "key": list(key),
                "scope": key[0],
                "label": unit_label(key),
                "name": unit_name(key),
                "samples": len(group),
                "censored": int(group["censored"].sum()),
                "rec": rec,
                "hist": _histogram(group, rec),
                "trend": trend,
            }
        )
    changes = _week_over_week(frame, inputs.period_start, inputs.period_end, unit_rows)
    regressions = [
        {"label": u["label"], "week": p["week"], "p95": p["p95"], "baseline": p["baseline"]}
        for u in unit_views
        for p in u["trend"]["points"]
        if p["regression"]
    ]
    return {
        "title": f"we-advisor report — {inputs.repo}" if inputs.repo else "we-advisor report",
        "repo": inputs.repo,
        "generated_at": inputs.generated_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "period": f"{inputs.period_start:%Y-%m-%d} → {inputs.period_end:%Y-%m-%d}",
        "history_from": f"{weeks[0]:%Y-%m-%d}",
        "version": inputs.version,
        "quantile": inputs.quantile,
        "notes": list(inputs.notes),
        "summary": {
            "runs": runs_in_period,
            "incidents": len(inputs.incidents),
            "timeouts": sum(1 for i in inputs.incidents if i.kind.endswith("timeout")),
            "units": len(unit_views),
        },
        "actions": _actions(recs, frame, inputs),
        "recommendations": _rec_rows(recs),
        "has_recommendations": recs is not None,
        "units": unit_views,
        "changes": changes,
        "regressions": regressions,
        "layers": _layers(frame, recs, unit_rows),
        "incidents": _incident_view(inputs.incidents),
        "gantts": _gantts(frame, unit_rows),
    }


def _usable(frame: pd.DataFrame) -> pd.DataFrame:
    if frame.empty:
        return frame
    skipped = (frame["outcome"] == "skipped").to_numpy()
    out = frame[~skipped] if skipped.any() else frame  # read only from here on: no copy
    if not isinstance(out["started_at"].dtype, pd.DatetimeTZDtype):
        out = out.assign(started_at=pd.to_datetime(out["started_at"], utc=True))
    return out


Key = tuple[str, str, str, str | None, str | None]


def _ns(when: datetime) -> int:
    """A time as ``_UnitIndex.started`` holds it (UTC nanoseconds)."""
    return int(pd.Timestamp(when).value)


@dataclass(frozen=True)
class _UnitIndex:
    """The rows of each unit of a (usable) frame, found once.

    Grouping 10⁶ rows by five string columns — and then filtering the whole frame again per
    unit — was most of the time of a large report; unit codes (``model.unit_codes``) and the
    row positions of each unit make every per-unit view a ``take``.
    """

    keys: list[Key]  # per unit, in order of first appearance (as ``groupby(sort=False)``)
    rows: list[np.ndarray[Any, Any]]  # per unit: its row positions, in frame order
    code: np.ndarray[Any, Any]  # per row: its unit
    started: np.ndarray[Any, Any]  # per row: UTC nanoseconds (NaT: the smallest int64)
    is_job: np.ndarray[Any, Any]

    @classmethod
    def of(cls, frame: pd.DataFrame) -> _UnitIndex:
        if frame.empty:
            empty = np.empty(0, dtype=np.intp)
            return cls([], [], empty, empty.astype(np.int64), empty.astype(bool))
        code, table = unit_codes(frame)
        keys: list[Key] = [
            (str(k["scope"]), str(k["workflow"]), str(k["job"]), _none(k["step"]), _none(k["phase"]))
            for k in table.to_dict("records")
        ]
        order = np.argsort(code, kind="stable")
        bounds = np.searchsorted(code[order], np.arange(len(keys) + 1))
        rows = [order[bounds[u] : bounds[u + 1]] for u in range(len(keys))]
        started = frame["started_at"].to_numpy(dtype="datetime64[ns]").astype(np.int64)
        return cls(keys, rows, code, started, (frame["scope"] == "job").to_numpy())


def _units(
    frame: pd.DataFrame, rec_by_key: Mapping[Key, Any], index: _UnitIndex
) -> list[tuple[Key, pd.DataFrame]]:
    """Units worth a chart: jobs, phases, and steps that matter (long, censored, or flagged)."""
    if frame.empty:
        return []
    durations = frame["duration_s"].to_numpy(dtype=float)
    censored = frame["censored"].to_numpy(dtype=bool)
    numbers = pd.to_numeric(frame["step_number"], errors="coerce").to_numpy(dtype=float) if "step_number" in frame else None
    ranked: list[tuple[tuple[int, str, str, float, str, str], Key, np.ndarray[Any, Any]]] = []
    for key, rows in zip(index.keys, index.rows, strict=True):
        rec = rec_by_key.get(key)
        flagged = rec is not None and rec.get("verdict") not in (None, "ok", "insufficient_data")
        p95 = float(np.quantile(durations[rows], 0.95))
        keep = key[0] != "step" or flagged or bool(censored[rows].any()) or p95 >= 60
        if not keep:
            continue
        order = 0 if flagged else 1
        mine = numbers[rows] if numbers is not None else np.empty(0)
        number = float(np.nanmin(mine)) if np.isfinite(mine).any() else -1.0
        ranked.append(((order, key[1], key[2], number, key[0], key[4] or ""), key, rows))
    ranked.sort(key=lambda r: r[0])
    chosen = ranked[:MAX_UNITS]
    chosen.sort(key=lambda r: r[0][1:])
    return [(key, frame.take(rows)) for _, key, rows in chosen]


def _week_starts(end: datetime) -> list[datetime]:
    return [end - timedelta(weeks=TREND_WEEKS - i) for i in range(TREND_WEEKS)]


def _km(group: pd.DataFrame, qs: Sequence[float]) -> list[float | None]:
    if group.empty:
        return [None for _ in qs]
    return km_quantiles(group["duration_s"].to_numpy(), group["censored"].to_numpy(), qs)


# -- histograms -------------------------------------------------------------------------------

HIST_W, HIST_H, HIST_PAD_L, HIST_PAD_B, HIST_PAD_T = 370, 150, 34, 22, 18


def _histogram(group: pd.DataFrame, rec: Mapping[str, Any] | None) -> dict[str, Any]:
    durations = group["duration_s"].to_numpy(dtype=float)
    censored = group["censored"].to_numpy(dtype=bool)
    p50, p95, p99 = _km(group, (0.5, 0.95, 0.99))
    current = _none(rec.get("current_timeout_s")) if rec else None
    if current is None:
        limits = group["limit_s"].dropna() if "limit_s" in group else pd.Series(dtype=float)
        current = float(limits.max()) if not limits.empty else None
    recommended = _none(rec.get("recommended_timeout_s")) if rec else None
    top = float(durations.max()) if durations.size else 1.0
    candidates = [top, *(v for v in (recommended, current) if v is not None and v <= 3 * top)]
    xmax = _nice_max(max(candidates) * 1.06)
    edges = np.linspace(0.0, xmax, HIST_BINS + 1)
    done_counts, _ = np.histogram(durations[~censored], bins=edges)
    cens_counts, _ = np.histogram(np.minimum(durations[censored], xmax), bins=edges)
    peak = max(1, int((done_counts + cens_counts).max()))
    plot_w, plot_h = HIST_W - HIST_PAD_L - 22, HIST_H - HIST_PAD_B - HIST_PAD_T
    bw = plot_w / HIST_BINS

    def x(v: float) -> float:
        return round(HIST_PAD_L + plot_w * min(v, xmax) / xmax, 1)

    bars = []
    for i in range(HIST_BINS):
        done, cens = int(done_counts[i]), int(cens_counts[i])
        if not done and not cens:
            continue
        h_done = plot_h * done / peak
        h_cens = plot_h * cens / peak
        base = HIST_PAD_T + plot_h
        span = f"{dur(edges[i])}–{dur(edges[i + 1])}"
        if done:
            bars.append(
                {"x": round(HIST_PAD_L + i * bw + 0.5, 1), "y": round(base - h_done, 1), "w": round(bw - 1, 1),
                 "h": round(h_done, 1), "cls": "done", "title": f"{span}: {done} finished"}
            )
        if cens:
            bars.append(
                {"x": round(HIST_PAD_L + i * bw + 0.5, 1), "y": round(base - h_done - h_cens, 1), "w": round(bw - 1, 1),
                 "h": round(h_cens, 1), "cls": "cens", "title": f"{span}: {cens} stopped by a limit or cancelled (censored)"}
            )
    markers = []
    for value, cls, label in (
        (p50, "q", "p50"),
        (p95, "q", "p95"),
        (p99, "q", "p99"),
        (current, "cur", "limit"),
        (recommended, "rec", "rec."),
    ):
        if value is None:
            continue
        off = value > xmax
        markers.append(
            {"x": x(value), "cls": cls, "label": f"{label} {dur(value)} →" if off else label, "off": off, "title": f"{label}: {dur(value)}"}
        )
    ticks = [{"x": x(t), "label": _tick_label(t)} for t in _ticks(xmax)]
    return {
        "w": HIST_W,
        "h": HIST_H,
        "base": HIST_PAD_T + plot_h,
        "left": HIST_PAD_L,
        "right": HIST_W - 22,
        "bars": bars,
        "markers": _spread_labels(markers),
        "ticks": ticks,
        "peak": peak,
        "p50": p50,
        "p95": p95,
        "p99": p99,
        "current": current,
        "recommended": recommended,
    }


def _spread_labels(markers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Stack marker labels on rows so close markers do not print over each other."""
    last_x: list[float] = []
    for m in sorted(markers, key=lambda m: m["x"]):
        row = 0
        while row < len(last_x) and m["x"] - last_x[row] < 30:
            row += 1
        if row == len(last_x):
            last_x.append(m["x"])
        else:
            last_x[row] = m["x"]
        m["row"] = row % 3
        m["ly"] = 10 + 9 * (row % 3) - 9
    return markers


def _tick_label(value: float) -> str:
    return "0" if value == 0 else dur(value)


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    for step in (5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400):
        if value / step <= 6:
            return math.ceil(value / step) * step
    return math.ceil(value / 3600) * 3600


def _ticks(xmax: float) -> list[float]:
    for step in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800):
        if xmax / step <= 6:
            return [step * i for i in range(int(xmax // step) + 1)]
    return [0.0, xmax]


# -- trends ------------------------------------------------------------------------------------

TREND_W, TREND_H, TREND_PAD = 250, 150, 40


def _trend(group: pd.DataFrame, weeks: Sequence[datetime]) -> dict[str, Any]:
    """Weekly KM p50/p95; a week is a regression when p95 is 20 % and 30 s above the prior median."""
    raw: list[dict[str, Any]] = []
    for i, start in enumerate(weeks):
        end = weeks[i + 1] if i + 1 < len(weeks) else start + timedelta(weeks=1, seconds=1)
        sub = group[(group["started_at"] >= pd.Timestamp(start)) & (group["started_at"] < pd.Timestamp(end))]
        p50, p95 = _km(sub, (0.5, 0.95)) if len(sub) else (None, None)
        raw.append({"week": f"{start + timedelta(days=1):%m-%d}", "n": len(sub), "p50": p50, "p95": p95})
    values = [v for p in raw for v in (p["p50"], p["p95"]) if v is not None]
    ymax = _nice_max(max(values) * 1.1) if values else 1.0
    inner_w, inner_h = TREND_W - TREND_PAD - 10, TREND_H - 2 * 16
    step = inner_w / max(1, len(raw) - 1)
    points = []
    for i, p in enumerate(raw):
        prior = [q["p95"] for q in raw[max(0, i - 4) : i] if q["p95"] is not None and q["n"] >= 3]
        baseline = float(np.median(prior)) if prior else None
        regression = bool(
            p["p95"] is not None and p["n"] >= 3 and baseline is not None
            and p["p95"] > 1.2 * baseline and p["p95"] - baseline >= 30
        )
        x = round(TREND_PAD + i * step, 1)
        points.append(
            {
                **p,
                "x": x,
                "y50": None if p["p50"] is None else round(16 + inner_h * (1 - p["p50"] / ymax), 1),
                "y95": None if p["p95"] is None else round(16 + inner_h * (1 - p["p95"] / ymax), 1),
                "baseline": baseline,
                "regression": regression,
            }
        )
    return {
        "w": TREND_W,
        "h": TREND_H,
        "left": TREND_PAD,
        "right": TREND_W - 10,
        "top": 16,
        "base": 16 + inner_h,
        "ymax": ymax,
        "points": points,
        "line50": _polyline(points, "y50"),
        "line95": _polyline(points, "y95"),
        "band_w": round(step, 1),
    }


def _polyline(points: Sequence[Mapping[str, Any]], key: str) -> str:
    return " ".join(f"{p['x']},{p[key]}" for p in points if p[key] is not None)


def _week_over_week(frame: pd.DataFrame, start: datetime, end: datetime, index: _UnitIndex) -> list[dict[str, Any]]:
    """This period against the one before it: p50/p95 and timeouts per job and phase."""
    if frame.empty:
        return []
    length = max(end - start, timedelta(days=1))
    this = index.started >= _ns(start)
    prev = (index.started >= _ns(start - length)) & (index.started < _ns(start))
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

_VERDICT_ORDER = {"too_tight": 0, "no_timeout": 1, "too_loose": 2, "insufficient_data": 3, "ok": 4}
VERDICT_TEXT = {
    "too_tight": "too tight",
    "too_loose": "too loose",
    "no_timeout": "no timeout",
    "insufficient_data": "insufficient data",
    "ok": "ok",
}


def _rec_name(rec: Mapping[str, Any]) -> str:
    return unit_name(unit_key(rec))


def _actions(recs: list[dict[str, Any]] | None, frame: pd.DataFrame, inputs: ReportInputs) -> list[dict[str, Any]]:
    """The few things to act on, most costly first."""
    out: list[dict[str, Any]] = []
    for rec in sorted(recs or [], key=_action_rank):
        verdict = rec.get("verdict")
        cur, new = _none(rec.get("current_timeout_s")), _none(rec.get("recommended_timeout_s"))
        name = _rec_name(rec)
        if verdict == "too_tight":
            rate = _none(rec.get("false_timeout_rate_current"))
            kills = f"kills ~{pct(rate)} of healthy runs" if rate else "is tighter than the data supports"
            out.append({"verdict": verdict, "name": name, "text": f"limit {dur(cur)} {kills}", "to": f"recommend {dur(new)}"})
        elif verdict == "no_timeout":
            out.append({"verdict": verdict, "name": name, "text": "no limit: a hung run waits for GitHub's 6 h default", "to": f"set {dur(new)}"})
        elif verdict == "too_loose":
            p99 = _none(rec.get("p99_s"))
            ratio = f" ({cur / p99:.0f}× its p99 of {dur(p99)})" if cur and p99 else ""
            out.append({"verdict": verdict, "name": name, "text": f"limit {dur(cur)}{ratio}: a hung run wastes the difference", "to": f"recommend {dur(new)}"})
        if len(out) >= 5:
            break
    if recs is None and not frame.empty:
        # Without recommendations: the measured share of runs a limit stopped in the period.
        period = frame[frame["started_at"] >= pd.Timestamp(inputs.period_start)]
        hits = period[period["outcome"] == "timeout"]
        for raw, group in hits.groupby(["scope", "workflow", "job", "step", "phase"], dropna=False, sort=False):
            key = (str(raw[0]), str(raw[1]), str(raw[2]), _none(raw[3]) if raw[0] != "job" else None, _none(raw[4]))
            same = period[(period["scope"] == key[0]) & (period["job"] == key[2])]
            if key[0] != "job":
                same = same[same["step"] == key[3]]
            if key[0] == "phase":
                same = same[same["phase"] == key[4]]
            limit = group["limit_s"].dropna()
            text = f"limit {dur(float(limit.max()))} stopped" if not limit.empty else "a limit stopped"
            out.append(
                {"verdict": "too_tight", "name": unit_name(key), "text": f"{text} {len(group)} of {len(same)} runs this period",
                 "to": "review the limit", "share": len(group) / max(1, len(same))}
            )
        out.sort(key=lambda a: -float(a.get("share", 0.0)))
        out = out[:5]
    return out


def _action_rank(rec: Mapping[str, Any]) -> tuple[int, float]:
    verdict = str(rec.get("verdict"))
    weight = _none(rec.get("false_timeout_rate_current")) or 0.0
    if verdict == "too_loose":
        cur, new = _none(rec.get("current_timeout_s")) or 0.0, _none(rec.get("recommended_timeout_s")) or 0.0
        weight = (cur - new) / 1e6
    return _VERDICT_ORDER.get(verdict, 9), -float(weight)


def _rec_rows(recs: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    rows = []
    for rec in sorted(recs or [], key=lambda r: (_VERDICT_ORDER.get(str(r.get("verdict")), 9), r.get("job", ""), r.get("scope", ""))):
        ci = rec.get("p99_ci_s") or [None, None]
        key = unit_key(rec)
        rows.append(
            {
                "label": unit_label(key),
                "name": unit_name(key),
                "scope": key[0],
                "samples": rec.get("samples"),
                "censored": rec.get("censored"),
                "p50": _none(rec.get("p50_s")),
                "p95": _none(rec.get("p95_s")),
                "p99": _none(rec.get("p99_s")),
                "ci": [_none(ci[0]) if len(ci) > 0 else None, _none(ci[1]) if len(ci) > 1 else None],
                "current": _none(rec.get("current_timeout_s")),
                "source": rec.get("current_source") or "",
                "recommended": _none(rec.get("recommended_timeout_s")),
                "verdict": str(rec.get("verdict")),
                "verdict_text": VERDICT_TEXT.get(str(rec.get("verdict")), str(rec.get("verdict"))),
                "ftr_current": _none(rec.get("false_timeout_rate_current")),
                "ftr_recommended": _none(rec.get("false_timeout_rate_recommended")),
            }
        )
    return rows


# -- timeout layers ------------------------------------------------------------------------------


def _layers(frame: pd.DataFrame, recs: list[dict[str, Any]] | None, index: _UnitIndex) -> list[dict[str, Any]]:
    """Per job: its limit, then the step and phase limits inside it, each against its p99."""
    if frame.empty:
        return []
    by_key = {unit_key(r): r for r in recs or []}
    light = frame[["duration_s", "censored", "limit_s", "outcome"]]
    units_of: dict[tuple[str, str], list[int]] = {}
    for u, unit in enumerate(index.keys):
        units_of.setdefault((unit[1], unit[2]), []).append(u)
    out = []
    for (workflow, job), units in sorted(units_of.items()):
        rows: list[dict[str, Any]] = []
        job_key = ("job", str(workflow), str(job), None, None)
        job_rec = by_key.get(job_key)
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
        if len(rows) == 1 and rows[0]["default"] and job_rec is None:
            pass
        lo = 1.0
        hi = max(r["limit"] for r in rows)
        for r in rows:
            r["bar"] = _log_pos(r["limit"], lo, hi)
            r["p99_pos"] = None if r["p99"] is None else _log_pos(r["p99"], lo, hi)
            r["rec_pos"] = None if r["recommended"] is None else _log_pos(r["recommended"], lo, hi)
        out.append({"job": str(job), "workflow": str(workflow), "rows": rows})
    return out


def _limit_of(rec: Mapping[str, Any] | None, sub: pd.DataFrame) -> float | None:
    if rec is not None and _none(rec.get("current_timeout_s")) is not None:
        return float(rec["current_timeout_s"])
    limits = sub["limit_s"].dropna() if "limit_s" in sub else pd.Series(dtype=float)
    return float(limits.max()) if not limits.empty else None


def _layer_row(
    scope: str, name: str, depth: int, sub: pd.DataFrame, rec: Mapping[str, Any] | None, limit: float,
    outer: float | None, *, default: bool = False,
) -> dict[str, Any]:
    p99 = _none(rec.get("p99_s")) if rec else _km(sub, (0.99,))[0]
    recommended = _none(rec.get("recommended_timeout_s")) if rec else None
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


def _incident_view(found: Sequence[Incident]) -> dict[str, Any]:
    kinds: dict[str, int] = {}
    for i in found:
        kinds[i.kind] = kinds.get(i.kind, 0) + 1
    newest = sorted(found, key=lambda i: (i.occurred_at or datetime.min.replace(tzinfo=UTC), i.job_id), reverse=True)
    rows = [
        {
            "when": i.occurred_at.strftime("%Y-%m-%d %H:%M") if i.occurred_at else "–",
            "run": f"{i.run_id}#{i.run_attempt}",
            "job": i.job,
            "where": " › ".join(x for x in (i.step, i.phase) if x),
            "kind": i.kind,
            "limit": i.limit_s,
            "evidence": i.evidence,
        }
        for i in newest[:MAX_INCIDENTS]
    ]
    return {
        "total": len(found),
        "kinds": sorted(kinds.items(), key=lambda kv: (-kv[1], kv[0])),
        "rows": rows,
        "hidden": max(0, len(found) - MAX_INCIDENTS),
    }


# -- gantt ---------------------------------------------------------------------------------------

GANTT_W, GANTT_LABEL, GANTT_ROW = 860, 250, 20


def _gantts(frame: pd.DataFrame, index: _UnitIndex) -> list[dict[str, Any]]:
    """Per job: its median successful run, steps and phases on a time axis, critical path marked."""
    if frame.empty:
        return []
    out = []
    job_ids = frame["job_id"].to_numpy()
    jobs = frame[index.is_job & (frame["outcome"] == "success").to_numpy()]
    for (workflow, job), runs in jobs.groupby(["workflow", "job"], sort=True):
        runs = runs.sort_values(["duration_s", "job_id"])
        typical = runs.iloc[(len(runs) - 1) // 2]
        spans = frame.take(np.flatnonzero((job_ids == typical["job_id"]) & ~index.is_job))
        if spans.empty:
            continue
        t0 = typical["started_at"]
        total = max(float(typical["duration_s"]), 1.0)
        items = []
        ordered = spans.assign(_o=(spans["scope"] == "phase").astype(int))
        for _, s in ordered.sort_values(["step_number", "_o", "started_at"], na_position="last").iterrows():
            start = max(0.0, (s["started_at"] - t0).total_seconds()) if not pd.isna(s["started_at"]) else 0.0
            items.append(
                {"scope": s["scope"], "name": str(s["phase"] if s["scope"] == "phase" else s["step"]),
                 "start": start, "duration": float(s["duration_s"]), "step_number": _none(s["step_number"])}
            )
        total = max(total, *(i["start"] + i["duration"] for i in items))
        _mark_critical([i for i in items if i["scope"] == "step"])
        for number in {i["step_number"] for i in items if i["scope"] == "phase"}:
            _mark_critical([i for i in items if i["scope"] == "phase" and i["step_number"] == number])
        items = items[:MAX_GANTT_ROWS]
        plot = GANTT_W - GANTT_LABEL - 16
        for row, item in enumerate(items):
            item["y"] = 24 + row * GANTT_ROW
            item["x"] = round(GANTT_LABEL + plot * item["start"] / total, 1)
            item["w"] = round(max(1.5, plot * item["duration"] / total), 1)
            item["share"] = item["duration"] / total
            item["label_x"] = round(item["x"] + item["w"] + 4, 1)
            item["label_inside"] = item["x"] + item["w"] > GANTT_W - 70
        critical = [i for i in items if i["critical"] and i["scope"] == "step"]
        longest = max(critical, key=lambda i: i["duration"]) if critical else None
        out.append(
            {
                "job": str(job),
                "workflow": str(workflow),
                "run": f"{int(typical['run_id'])}#{int(typical['run_attempt'])}",
                "duration": float(typical["duration_s"]),
                "runs": len(runs),
                "items": items,
                "w": GANTT_W,
                "h": 24 + len(items) * GANTT_ROW + 6,
                "label_w": GANTT_LABEL,
                "ticks": [{"x": round(GANTT_LABEL + plot * t / total, 1), "label": _tick_label(t)} for t in _ticks(total) if t <= total],
                "critical": [{"name": i["name"], "duration": i["duration"]} for i in critical],
                "longest": longest and {"name": longest["name"], "duration": longest["duration"], "share": longest["share"]},
            }
        )
    return out


def _mark_critical(items: list[dict[str, Any]]) -> None:
    """The chain of spans that decides when the last one ends: walk back from the last to finish."""
    for item in items:
        item.setdefault("critical", False)
    if not items:
        return
    current = max(items, key=lambda i: i["start"] + i["duration"])
    while True:
        current["critical"] = True
        before = [
            i for i in items
            if not i["critical"] and i["start"] < current["start"] and i["start"] + i["duration"] <= current["start"] + 1.0
        ]
        if not before:
            return
        current = max(before, key=lambda i: (i["start"] + i["duration"], i["duration"]))


# --------------------------------------------------------------------------------------------
# HTML


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("analyzer", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["dur"] = dur
    env.filters["pct"] = pct
    return env


def render_html(context: Mapping[str, Any]) -> str:
    return _environment().get_template("report.html.j2").render(**context)


# --------------------------------------------------------------------------------------------
# Markdown


def render_markdown(context: Mapping[str, Any], *, limit: int = GITHUB_COMMENT_LIMIT) -> str:
    """The weekly report as compact Markdown: changes first, then actions, then details.

    Sections are added in priority order; one that does not fit in ``limit`` is shortened (fewer
    rows) or replaced by a one-line note, never cut in the middle of a table, block or fence.
    """
    head = [
        MARKER,
        f"## {md_text(context['title'])}",
        "",
        f"Week {context['period']} · {context['summary']['runs']} job runs · "
        f"{context['summary']['incidents']} incidents ({context['summary']['timeouts']} timeouts)",
        "",
    ]
    foot = ["", f"<sub>Generated {context['generated_at']} by we-advisor {context['version']}. "
            "The full report (charts, every unit) is the HTML artifact of this workflow run.</sub>", ""]
    sections: list[Callable[[int], list[str]]] = [
        lambda n: _md_changes(context, n),
        lambda n: _md_actions(context, n),
        lambda n: _md_recommendations(context, n),
        lambda n: _md_incidents(context, n),
        lambda n: _md_gantt(context, n),
    ]
    budget_target = MARKDOWN_TARGET
    out = list(head)
    used = len("\n".join(head + foot))
    for render in sections:
        rows = 12
        while True:
            lines = render(rows)
            text = "\n".join(lines)
            soft_ok = used + len(text) <= budget_target or rows <= 3
            if used + len(text) + 1 <= limit - 200 and soft_ok:
                break
            if rows <= 1:
                lines = ["_(section left out to keep this comment short; see the HTML report)_", ""]
                break
            rows //= 2
        out += lines
        used += len("\n".join(lines)) + 1
    body = "\n".join(out + foot)
    if len(body) > limit:  # cannot happen with the budgets above; a last guard keeps the marker
        body = body[: limit - 80].rsplit("\n", 1)[0] + "\n\n_(truncated)_\n"
    return body


def _md_changes(context: Mapping[str, Any], n: int) -> list[str]:
    rows = context["changes"]
    lines = ["### Since last week", ""]
    if not rows:
        return [*lines, "No runs in this period.", ""]
    lines += ["| unit | p50 | p95 | change | stopped by a limit |", "| --- | ---: | ---: | ---: | ---: |"]
    for r in rows[:n]:
        arrow = "🔺 " if r["worse"] else "🟢 " if r["better"] else ""
        if r["change"] is not None:
            change = f"{arrow}{r['change'] * 100:+.0f} %"
        else:
            change = "new" if not r["n_prev"] else "–"
        lines.append(
            f"| {md_text(r['label'], 60)} | {dur(r['p50'])} | {_md_was(r['p95'], r['p95_prev'])} | {change} | "
            f"{r['timeouts']} (was {r['timeouts_prev']}) |"
        )
    if len(rows) > n:
        lines.append(f"| _… {len(rows) - n} more in the HTML report_ | | | | |")
    return [*lines, ""]


def _md_was(now: float | None, was: float | None) -> str:
    return dur(now) if was is None else f"{dur(now)} (was {dur(was)})"


def _md_actions(context: Mapping[str, Any], n: int) -> list[str]:
    actions = context["actions"]
    lines = ["### Act on these", ""]
    if not actions:
        quiet = "every limit fits its measured durations" if context["has_recommendations"] else "no limit stopped a run"
        return [*lines, f"Nothing to change: {quiet}.", ""]
    for a in actions[: max(1, min(n, 5))]:
        lines.append(f"- **{md_text(a['name'], 60)}**: {md_text(a['text'])} → **{md_text(a['to'])}**")
    return [*lines, ""]


def _md_recommendations(context: Mapping[str, Any], n: int) -> list[str]:
    if not context["has_recommendations"]:
        return [f"> {note}" for note in context["notes"]] + [""]  # our own words, not log text
    rows = [r for r in context["recommendations"] if r["verdict"] != "ok"]
    ok = len(context["recommendations"]) - len(rows)
    lines = [
        f"<details><summary>Recommendations ({len(rows)} to change, {ok} ok)</summary>",
        "",
        "| unit | runs (censored) | p99 | current | recommended | verdict | killed now → then |",
        "| --- | ---: | ---: | ---: | ---: | --- | ---: |",
    ]
    for r in rows[:n]:
        lines.append(
            f"| {md_text(r['label'], 60)} | {r['samples']} ({r['censored']}) | {dur(r['p99'])} | {dur(r['current'])} | "
            f"{dur(r['recommended'])} | {r['verdict_text']} | {pct(r['ftr_current'])} → {pct(r['ftr_recommended'])} |"
        )
    if len(rows) > n:
        lines.append(f"| _… {len(rows) - n} more in the HTML report_ | | | | | | |")
    return [*lines, "", "</details>", ""]


def _md_incidents(context: Mapping[str, Any], n: int) -> list[str]:
    view = context["incidents"]
    if not view["total"]:
        return []
    kinds = ", ".join(f"{k} {v}" for k, v in view["kinds"])
    lines = [f"<details><summary>Incidents this week: {view['total']} ({kinds})</summary>", ""]
    for r in view["rows"][:n]:
        where = " › ".join(x for x in (r["job"], r["where"]) if x)
        lines.append(f"- {r['when']} run {r['run']} **{r['kind']}** {md_text(where, 80)}: {md_text(r['evidence'], 160)}")
    if view["total"] > n:
        lines.append(f"- _… {view['total'] - n} more in the HTML report_")
    return [*lines, "", "</details>", ""]


def _md_gantt(context: Mapping[str, Any], n: int) -> list[str]:
    gantts = context["gantts"][: max(1, n // 6)]
    if not gantts:
        return []
    lines = ["<details><summary>A typical run of each job (critical path in red)</summary>", ""]
    for g in gantts:
        lines += [
            "```mermaid",
            "gantt",
            f"    title {mermaid_text(g['job'])} - median run {dur(g['duration'])}",
            "    dateFormat X",
            "    axisFormat %M:%S" if g["duration"] < 3600 else "    axisFormat %H:%M",
        ]
        for i, item in enumerate(it for it in g["items"] if it["scope"] == "step"):
            if i >= 3 * n:
                break
            start = int(item["start"])
            end = max(start + 1, round(item["start"] + item["duration"]))
            tag = "crit, " if item["critical"] else ""
            lines.append(f"    {mermaid_text(item['name'])} :{tag}s{i}, {start}, {end}")
        lines += ["```", ""]
    return [*lines, "</details>", ""]


# --------------------------------------------------------------------------------------------
# files


@dataclass(frozen=True, slots=True)
class WrittenReport:
    html: Path | None
    markdown: Path | None
    html_bytes: int
    markdown_chars: int


def write_reports(context: Mapping[str, Any], *, html: Path | None, markdown: Path | None) -> WrittenReport:
    outputs: list[tuple[Path, str]] = []
    if html is not None:
        outputs.append((html, render_html(context)))
    if markdown is not None:
        outputs.append((markdown, render_markdown(context)))
    _write_all(outputs)
    html_bytes = len(outputs[0][1].encode("utf-8")) if html is not None else 0
    markdown_chars = len(outputs[-1][1]) if markdown is not None else 0
    return WrittenReport(html, markdown, html_bytes, markdown_chars)


def _write_all(outputs: Sequence[tuple[Path, str]]) -> None:
    """Each file to a ``.tmp`` beside it, then all renamed into place: a path that cannot be written
    leaves no report written, half-written, or in a folder made for it."""
    staged: list[Path] = []
    made: list[Path] = []
    path = Path()
    try:
        for path, text in outputs:
            made += [p for p in reversed(path.parents) if not p.exists()]
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.is_dir():
                raise IsADirectoryError(errno.EISDIR, "Is a directory")
            tmp = path.with_name(path.name + ".tmp")
            staged.append(tmp)
            tmp.write_text(text, encoding="utf-8")
        for (path, _), tmp in zip(outputs, staged, strict=True):
            tmp.replace(path)
    except OSError as exc:
        for tmp in staged:
            tmp.unlink(missing_ok=True)
        for folder in reversed(made):
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise InputError(f"cannot write {path}: {exc.strerror}", hint="check the path and its permissions") from None


def report(
    settings: Settings,
    store: Store,
    *,
    repo: str | None = None,
    since: str | None = "7d",
    html: Path | None = DEFAULT_HTML,
    markdown: Path | None = None,
    on_warning: Warn | None = None,
) -> WrittenReport:
    """``we-advisor report``: collect, build the context, write the HTML and/or Markdown."""
    context = build_context(collect(settings, store, repo=repo, since=since, on_warning=on_warning))
    return write_reports(context, html=html, markdown=markdown)


def markdown_report(
    settings: Settings, store: Store, *, repo: str | None = None, since: str | None = "7d", on_warning: Warn | None = None
) -> str:
    """The weekly Markdown body (what ``comment`` posts)."""
    return render_markdown(build_context(collect(settings, store, repo=repo, since=since, on_warning=on_warning)))


# --------------------------------------------------------------------------------------------
# the pull-request comment


def comment(
    settings: Settings,
    store: Store,
    *,
    repo: str,
    pr: int,
    since: str | None = "7d",
    api_url: str | None = None,
    dry_run: bool = False,
    token: str | None = None,
    on_warning: Warn | None = None,
) -> CommentResult:
    """``we-advisor comment``: upsert the weekly Markdown as one comment on ``repo#pr``.

    The history reported is ``repo``'s when the store has it, else the store's default. With
    ``dry_run`` nothing is sent (not even a read). The token comes from ``GITHUB_TOKEN`` or
    ``GH_TOKEN`` unless given; it is never printed or stored.
    """
    import os

    if "/" not in repo.strip("/"):
        raise InputError(f"--repo {repo!r} is not OWNER/NAME", hint="e.g. --repo jordigilh/kubernaut")
    if pr <= 0:
        raise InputError(f"--pr {pr} is not a pull request number", hint="pass the number shown in the PR's URL")
    source = repo if repo in store.repos() else None
    if source is None and on_warning is not None:
        on_warning(f"the store has no history for {repo}; reporting on {settings.repo or 'everything in the store'}")
    body = markdown_report(settings, store, repo=source, since=since, on_warning=on_warning)
    if dry_run:
        return CommentResult(body, "dry-run")
    token = token or os.environ.get("GITHUB_TOKEN") or os.environ.get("GH_TOKEN")
    if not token:
        from analyzer.errors import AuthError

        raise AuthError("no GitHub token to comment with", hint="set GITHUB_TOKEN or GH_TOKEN (pull-requests: write), or use --dry-run")
    return upsert_pr_comment(repo, pr, body, token=token, api_url=api_url or os.environ.get("GITHUB_API_URL"))
