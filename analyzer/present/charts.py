"""Chart geometry as plain data: histograms, weekly trends and a typical run as a Gantt chart.

Charts are aggregated (histogram bins, weekly points, one typical run per job), so the report's
size does not grow with the number of runs. The templates draw them as inline SVG.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from analyzer.model import km_quantiles
from analyzer.model.units import utc_ns
from analyzer.present.index import UnitIndex
from analyzer.present.text import dur, known

TREND_WEEKS = 8
MAX_GANTT_ROWS = 40
HIST_BINS = 32


def week_starts(end: datetime) -> list[datetime]:
    """The starts of the ``TREND_WEEKS`` weeks before ``end``, oldest first."""
    return [end - timedelta(weeks=TREND_WEEKS - i) for i in range(TREND_WEEKS)]


def km(group: pd.DataFrame, qs: Sequence[float]) -> list[float | None]:
    if group.empty:
        return [None for _ in qs]
    return km_quantiles(group["duration_s"].to_numpy(), group["censored"].to_numpy(), qs)


# -- histograms -------------------------------------------------------------------------------

HIST_W, HIST_H, HIST_PAD_L, HIST_PAD_B, HIST_PAD_T = 370, 150, 34, 22, 18


def histogram(group: pd.DataFrame, rec: Mapping[str, Any] | None) -> dict[str, Any]:
    durations = group["duration_s"].to_numpy(dtype=float)
    censored = group["censored"].to_numpy(dtype=bool)
    p50, p95, p99 = km(group, (0.5, 0.95, 0.99))
    current = known(rec.get("current_timeout_s")) if rec else None
    if current is None:
        limits = group["limit_s"].dropna() if "limit_s" in group else pd.Series(dtype=float)
        current = float(limits.max()) if not limits.empty else None
    recommended = known(rec.get("recommended_timeout_s")) if rec else None
    top = float(durations.max()) if durations.size else 1.0
    candidates = [top, *(v for v in (recommended, current) if v is not None and v <= 3 * top)]
    xmax = nice_max(max(candidates) * 1.06)
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
    ticks = [{"x": x(t), "label": tick_label(t)} for t in tick_values(xmax)]
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


def tick_label(value: float) -> str:
    return "0" if value == 0 else dur(value)


def nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    for step in (5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400):
        if value / step <= 6:
            return math.ceil(value / step) * step
    return math.ceil(value / 3600) * 3600


def tick_values(xmax: float) -> list[float]:
    for step in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800):
        if xmax / step <= 6:
            return [step * i for i in range(int(xmax // step) + 1)]
    return [0.0, xmax]


# -- trends ------------------------------------------------------------------------------------

TREND_W, TREND_H, TREND_PAD = 250, 150, 40


def trend_chart(group: pd.DataFrame, weeks: Sequence[datetime]) -> dict[str, Any]:
    """Weekly KM p50/p95; a week is a regression when p95 is 20 % and 30 s above the prior median."""
    raw: list[dict[str, Any]] = []
    # the week's rows by comparing start times as numbers (NaT is in no week), not as Timestamp Series
    started, unknown = utc_ns(group["started_at"])
    durations = group["duration_s"].to_numpy()
    censored = group["censored"].to_numpy()
    for i, start in enumerate(weeks):
        end = weeks[i + 1] if i + 1 < len(weeks) else start + timedelta(weeks=1, seconds=1)
        inside = np.flatnonzero(~unknown & (started >= _ns(start)) & (started < _ns(end)))
        p50, p95 = km_quantiles(durations[inside], censored[inside], (0.5, 0.95)) if inside.size else (None, None)
        raw.append({"week": f"{start + timedelta(days=1):%m-%d}", "n": int(inside.size), "p50": p50, "p95": p95})
    values = [v for p in raw for v in (p["p50"], p["p95"]) if v is not None]
    ymax = nice_max(max(values) * 1.1) if values else 1.0
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


def _ns(when: datetime) -> int:
    """A time as nanoseconds since the epoch (UTC), as ``utc_ns`` gives a column's."""
    return int(pd.Timestamp(when).as_unit("ns").value)


def _polyline(points: Sequence[Mapping[str, Any]], key: str) -> str:
    return " ".join(f"{p['x']},{p[key]}" for p in points if p[key] is not None)


# -- gantt ---------------------------------------------------------------------------------------

GANTT_W, GANTT_LABEL, GANTT_ROW = 860, 250, 20


def gantts(frame: pd.DataFrame, index: UnitIndex) -> list[dict[str, Any]]:
    """Per job: its median successful run, steps and phases on a time axis, critical path marked."""
    if frame.empty:
        return []
    out = []
    job_ids = frame["job_id"].to_numpy()
    durations = frame["duration_s"].to_numpy(dtype=float)
    successful = np.flatnonzero(index.is_job & (frame["outcome"] == "success").to_numpy())
    # by name (text read as categoricals groups in category order; observed=True: pandas 2 would make
    # empty groups of every other (workflow, job) pair)
    names = frame[["workflow", "job"]].take(successful)
    indices: dict[Any, Any] = names.groupby(["workflow", "job"], sort=False, observed=True).indices
    chosen: list[tuple[Any, Any, int, int, np.ndarray[Any, Any]]] = []  # per job: its typical run and its spans' rows
    for (workflow, job), positions in sorted(indices.items(), key=lambda g: (str(g[0][0]), str(g[0][1]))):
        runs = successful[positions]
        runs = runs[np.lexsort((job_ids[runs], durations[runs]))]  # as sort_values: NaN last, ties in order (stable)
        typical = int(runs[(len(runs) - 1) // 2])
        spans = np.flatnonzero((job_ids == job_ids[typical]) & ~index.is_job)
        if spans.size:
            chosen.append((workflow, job, typical, len(runs), spans))
    # the few rows the charts read, as plain arrays (a Series per span, a DataFrame per job, cost more than the rest)
    rows = np.concatenate([[typical, *spans] for _, _, typical, _, spans in chosen]) if chosen else np.empty(0, np.intp)
    few = frame.take(rows)  # per chosen job, a block: its typical run's row, then its spans' rows
    started, no_start = utc_ns(few["started_at"])
    numbers = few["step_number"].to_numpy(dtype=float)
    scopes, steps, phases = (few[name].to_numpy(dtype=object) for name in ("scope", "step", "phase"))
    run_ids, attempts = few["run_id"].to_numpy(), few["run_attempt"].to_numpy()
    block = 0  # where the job's block starts in ``few``
    for workflow, job, typical, n_runs, spans in chosen:
        t, block = block, block + 1 + spans.size  # t: the typical run's row in ``few``; its spans follow it
        total = max(float(durations[typical]), 1.0)
        mine = np.arange(t + 1, block)
        # sort_values(["step_number", phase after step, "started_at"], na_position="last"), a stable sort (numpy
        # sorts NaN last too)
        stamp = np.where(no_start[mine], np.iinfo(np.int64).max, started[mine])
        mine = mine[np.lexsort((stamp, scopes[mine] == "phase", numbers[mine]))]
        t0 = None if no_start[t] else int(started[t])
        items = []
        for k, begun, duration, n in zip(mine.tolist(), started[mine].tolist(), durations[rows[mine]].tolist(),
                                         numbers[mine].tolist(), strict=True):  # fmt: skip
            # Timedelta.total_seconds() is the same division; NaT minus a time is NaT, and max(0.0, NaT) 0.0
            start = 0.0 if no_start[k] or t0 is None else max(0.0, (begun - t0) / 1_000_000_000)
            scope = scopes[k]
            items.append(
                {"scope": scope, "name": str(phases[k] if scope == "phase" else steps[k]),
                 "start": start, "duration": duration, "step_number": known(n)}
            )  # fmt: skip
        total = max(total, *(i["start"] + i["duration"] for i in items))
        mark_critical([i for i in items if i["scope"] == "step"])
        for number in {i["step_number"] for i in items if i["scope"] == "phase"}:
            mark_critical([i for i in items if i["scope"] == "phase" and i["step_number"] == number])
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
                "run": f"{int(run_ids[t])}#{int(attempts[t])}",
                "duration": float(durations[typical]),
                "runs": n_runs,
                "items": items,
                "w": GANTT_W,
                "h": 24 + len(items) * GANTT_ROW + 6,
                "label_w": GANTT_LABEL,
                "ticks": [{"x": round(GANTT_LABEL + plot * t / total, 1), "label": tick_label(t)} for t in tick_values(total) if t <= total],
                "critical": [{"name": i["name"], "duration": i["duration"]} for i in critical],
                "longest": longest and {"name": longest["name"], "duration": longest["duration"], "share": longest["share"]},
            }
        )
    return out


def mark_critical(items: list[dict[str, Any]]) -> None:
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
