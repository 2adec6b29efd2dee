"""Predicting a plan's wall time from measured durations: Monte Carlo over each task's Kaplan–Meier
distribution, sequential against parallel, and the critical path on median durations.

Pure: the plan, its limits and an observations frame in (``api`` reads the store), a
``Forecast`` out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from analyzer.bootstrap.plan import Limit, Plan, Task, resolve_limits
from analyzer.errors import ConfigError
from analyzer.formatting import plain_seconds
from analyzer.model import km_curve
from analyzer.parse.events import BOOTSTRAP_JOB


@dataclass(frozen=True, slots=True)
class TaskForecast:
    name: str
    needs: tuple[str, ...]
    samples: int
    censored: int
    p50_s: float
    p95_s: float
    limit: Limit
    data: str  # "history" or "no data" (the limit stands in for the duration: an upper bound)
    tail_mass: float  # share of the distribution beyond the last observed finish (censored tail)


@dataclass(frozen=True, slots=True)
class Forecast:
    plan: str
    runs: int
    tasks: tuple[TaskForecast, ...]
    critical_path: tuple[str, ...]
    critical_path_s: float
    sequential_p50_s: float
    sequential_p95_s: float
    parallel_p50_s: float
    parallel_p95_s: float
    notes: tuple[str, ...]

    @property
    def savings_p50_s(self) -> float:
        return self.sequential_p50_s - self.parallel_p50_s

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of ``bootstrap plan --format json``."""
        return {
            "plan": self.plan,
            "runs": self.runs,
            "critical_path": list(self.critical_path),
            "critical_path_s": round(self.critical_path_s, 3),
            "sequential": {"p50_s": round(self.sequential_p50_s, 3), "p95_s": round(self.sequential_p95_s, 3)},
            "parallel": {"p50_s": round(self.parallel_p50_s, 3), "p95_s": round(self.parallel_p95_s, 3)},
            "savings_p50_s": round(self.savings_p50_s, 3),
            "tasks": [
                {
                    "task": t.name,
                    "needs": list(t.needs),
                    "samples": t.samples,
                    "censored": t.censored,
                    "p50_s": round(t.p50_s, 3),
                    "p95_s": round(t.p95_s, 3),
                    "limit_s": t.limit.seconds,
                    "limit_source": t.limit.source,
                    "data": t.data,
                    "tail_mass": round(t.tail_mass, 4),
                }
                for t in self.tasks
            ],
            "notes": list(self.notes),
        }


# Outcomes that measure how long a task takes to succeed: finished ones, and censored ones (it
# took at least that long). A failure says how long it took to fail, which predicts nothing here.
_FORECAST_OUTCOMES = ("success", "timeout", "cancelled", "runner_lost")


def sample_durations(
    durations: Sequence[float] | NDArray[np.float64],
    censored: Sequence[bool] | NDArray[np.bool_],
    limit: float,
    runs: int,
    rng: np.random.Generator,
) -> tuple[NDArray[np.float64], float]:
    """Draw ``runs`` durations from the Kaplan–Meier curve; returns them and the censored tail mass.

    KM leaves mass S(t_max) > 0 when the slowest observations were censored: the data only say
    "longer than t_max". That tail is drawn uniformly between t_max and the task's limit (the runner
    ends a task there), or placed at t_max (a lower bound) when the limit is not above it.
    """
    times, survival = km_curve(durations, censored)
    cdf = 1.0 - survival
    u = rng.random(runs)
    index = np.searchsorted(cdf, u, side="right")
    inside = index < times.size
    out = np.empty(runs)
    out[inside] = times[index[inside]]
    t_max = float(times[-1])
    tail = ~inside
    if limit > t_max:
        out[tail] = rng.uniform(t_max, limit, int(tail.sum()))
    else:
        out[tail] = t_max
    return out, float(survival[-1])


def forecast_plan(
    plan: Plan,
    frame: pd.DataFrame,
    limits: Mapping[str, Limit] | None = None,
    *,
    runs: int = 2000,
    seed: int = 0,
) -> Forecast:
    """Predicted wall time (p50, p95), sequential and in parallel, by Monte Carlo over each task's
    measured duration distribution; the critical path on median durations."""
    if runs < 1:
        raise ConfigError(f"--runs {runs} must be at least 1", hint="e.g. --runs 2000")
    limits = limits if limits is not None else resolve_limits(plan)
    rng = np.random.default_rng(seed)
    if not frame.empty:
        frame = frame[
            (frame["scope"] == "phase")
            & (frame["workflow"] == plan.name)
            & (frame["job"] == BOOTSTRAP_JOB)
            & frame["outcome"].isin(_FORECAST_OUTCOMES)
        ]
    draws: dict[str, NDArray[np.float64]] = {}
    tasks: list[TaskForecast] = []
    notes: list[str] = []
    for task in plan.tasks:
        limit = limits[task.name]
        rows = frame[frame["phase"] == task.name] if not frame.empty else frame
        if rows.empty:
            sample, tail, data = np.full(runs, limit.seconds), 0.0, "no data"
        else:
            durations = rows["duration_s"].to_numpy(dtype=float)
            censored = rows["censored"].to_numpy(dtype=bool)
            sample, tail = sample_durations(durations, censored, limit.seconds, runs, rng)
            data = "history"
            if tail > 0:
                t_max = float(durations.max())
                where = (
                    f"drawn uniformly between {plain_seconds(t_max)} s and its limit {plain_seconds(limit.seconds)} s"
                    if limit.seconds > t_max
                    else f"placed at {plain_seconds(t_max)} s (a lower bound)"
                )
                notes.append(
                    f"{task.name}: {tail:.0%} of its distribution lies beyond the last observed finish; {where}"
                )
        draws[task.name] = sample
        tasks.append(
            TaskForecast(
                name=task.name,
                needs=task.needs,
                samples=len(rows),
                censored=int(rows["censored"].sum()) if not rows.empty else 0,
                p50_s=float(np.quantile(sample, 0.5)),
                p95_s=float(np.quantile(sample, 0.95)),
                limit=limit,
                data=data,
                tail_mass=tail,
            )
        )
    missing = [t.name for t in tasks if t.data == "no data"]
    if missing:
        notes.append(
            f"no history for {', '.join(missing)}: the limit stands in for the duration (an upper bound); "
            "run the plan with --events and ingest the file"
        )
    order = plan.topological()
    finish: dict[str, NDArray[np.float64]] = {}
    for task in order:
        start = np.max([finish[n] for n in task.needs], axis=0) if task.needs else np.zeros(runs)
        finish[task.name] = start + draws[task.name]
    parallel = np.max(list(finish.values()), axis=0)
    sequential = np.sum(list(draws.values()), axis=0)
    path, length = critical_path(order, {t.name: t.p50_s for t in tasks})
    return Forecast(
        plan=plan.name,
        runs=runs,
        tasks=tuple(tasks),
        critical_path=tuple(path),
        critical_path_s=length,
        sequential_p50_s=float(np.quantile(sequential, 0.5)),
        sequential_p95_s=float(np.quantile(sequential, 0.95)),
        parallel_p50_s=float(np.quantile(parallel, 0.5)),
        parallel_p95_s=float(np.quantile(parallel, 0.95)),
        notes=tuple(notes),
    )


def critical_path(order: Sequence[Task], duration: Mapping[str, float]) -> tuple[list[str], float]:
    """The longest chain of needs by ``duration`` (``order`` is topological)."""
    finish: dict[str, float] = {}
    via: dict[str, str | None] = {}
    for task in order:
        before = max(task.needs, key=lambda n: finish[n], default=None)
        finish[task.name] = (finish[before] if before else 0.0) + duration[task.name]
        via[task.name] = before
    last = max(finish, key=lambda n: finish[n])
    length = finish[last]
    path = [last]
    while (before := via[path[-1]]) is not None:
        path.append(before)
    return path[::-1], length
