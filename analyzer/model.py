"""Censoring-aware duration models.

A unit stopped by a time limit (or cancelled, or whose runner was lost) lasted *at least* as
long as observed: a right-censored observation. The Kaplan–Meier product-limit estimator uses
such observations correctly; dropping them, or treating them as ordinary durations, biases every
percentile low. A quantile beyond the last observed event cannot be identified from the data and
is ``None``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

UNIT_COLUMNS = ["scope", "workflow", "job", "step", "phase"]
STATS_QUANTILES = (0.5, 0.9, 0.95, 0.99)
_EPS = 1e-9


def km_curve(durations: ArrayLike, censored: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Kaplan–Meier estimate: distinct event-or-censor times and the survival S(t) just after each.

    At tied times events are counted before censorings (a unit censored at t was at risk at t).
    """
    t = np.asarray(durations, dtype=float)
    c = np.asarray(censored, dtype=bool)
    if t.shape != c.shape:
        raise ValueError("durations and censored differ in length")
    if t.size == 0:
        return np.empty(0), np.empty(0)
    order = np.argsort(t, kind="stable")
    t, events = t[order], (~c[order]).astype(float)
    times, first = np.unique(t, return_index=True)
    deaths = np.add.reduceat(events, first)
    at_risk = t.size - first
    survival = np.cumprod(1.0 - deaths / at_risk)
    return times.astype(np.float64), survival.astype(np.float64)


def km_quantiles(durations: ArrayLike, censored: ArrayLike, quantiles: Sequence[float]) -> list[float | None]:
    """The smallest t with F(t) = 1 - S(t) ≥ q for each q, or None where the data cannot tell."""
    times, survival = km_curve(durations, censored)
    if times.size == 0:
        return [None for _ in quantiles]
    cdf = 1.0 - survival
    out: list[float | None] = []
    for q in quantiles:
        pos = int(np.searchsorted(cdf, q - _EPS, side="left"))
        out.append(float(times[pos]) if pos < times.size else None)
    return out


def km_cdf_at(durations: ArrayLike, censored: ArrayLike, t: float) -> float:
    """Estimated share of units that would have finished by ``t`` (1 - S(t))."""
    times, survival = km_curve(durations, censored)
    if times.size == 0:
        return float("nan")
    pos = int(np.searchsorted(times, t, side="right")) - 1
    return 0.0 if pos < 0 else float(1.0 - survival[pos])


@dataclass(frozen=True, slots=True)
class UnitStats:
    scope: str
    workflow: str
    job: str
    step: str | None
    phase: str | None
    samples: int
    censored: int
    p50_s: float | None
    p90_s: float | None
    p95_s: float | None
    p99_s: float | None


def usable(frame: pd.DataFrame) -> pd.DataFrame:
    """Observations that measure a duration: everything but skipped units."""
    return frame[frame["outcome"] != "skipped"]


def unit_stats(frame: pd.DataFrame) -> list[UnitStats]:
    """Per unit (scope, workflow, job, step, phase): sample counts and KM p50/p90/p95/p99."""
    frame = usable(frame)
    if frame.empty:
        return []
    keyed = frame.assign(
        step=frame["step"].where(frame["scope"] != "job"),
        phase=frame["phase"].where(frame["scope"] == "phase"),
    )
    rows: list[tuple[tuple[object, ...], UnitStats]] = []
    for key, group in keyed.groupby(UNIT_COLUMNS, dropna=False, sort=False):
        scope, workflow, job, step, phase = (None if isinstance(k, float) and np.isnan(k) else k for k in key)
        q = km_quantiles(group["duration_s"].to_numpy(), group["censored"].to_numpy(), STATS_QUANTILES)
        stats = UnitStats(
            scope=str(scope),
            workflow=str(workflow),
            job=str(job),
            step=step,
            phase=phase,
            samples=len(group),
            censored=int(group["censored"].sum()),
            p50_s=q[0],
            p90_s=q[1],
            p95_s=q[2],
            p99_s=q[3],
        )
        number = _nan_last(group["step_number"].min()) if "step_number" in group else float("inf")
        started = group["started_at"].min() if "started_at" in group else None
        # job first, then its steps in order, each step followed by its phases (in time order)
        rows.append(
            ((stats.workflow, stats.job, scope != "job", number, scope == "phase", str(started), phase or ""), stats)
        )
    return [s for _, s in sorted(rows, key=lambda r: r[0])]


def _nan_last(value: object) -> float:
    try:
        f = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return float("inf")
    return float("inf") if np.isnan(f) else f
