"""Backtest: choose limits on the history before a date, replay the history after it.

Pure: observations in, plain data out. For each unit and each policy — the current limits,
we-advisor's recommendation, and the heuristics people use — the replay counts:

- ``healthy_killed``: runs that succeeded but took longer than the policy's limit (it would have
  killed them), out of ``healthy_runs``;
- ``est_kill_rate``: the censoring-aware estimate, on the replayed period, of the share of runs
  the limit stops (Kaplan–Meier; beyond the period's data, its parametric tail). Unlike
  ``healthy_killed`` it sees the runs the *current* limit already stopped (they lasted at least
  that long), so it is the fair figure for the current policy, which can never "kill" an
  observed success;
- ``runner_minutes_saved``: on runs that timed out (hung, or stopped by a limit), the minutes a
  tighter limit would have cut (observed duration − limit); ``runner_minutes_at_risk``: the
  minutes a looser limit would have let such runs go on for, an upper bound of their extra cost
  (whether they would then have finished cannot be known: ``unresolved``);
- ``median_slack_s``: the median of (limit − duration) over the successful runs it lets finish.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from analyzer.advise.limits import CurrentLimit
from analyzer.advise.policy import Policy
from analyzer.advise.recommend import recommend_limits
from analyzer.model import DurationModel, keys_of
from analyzer.records import UnitKey

BAZEL_TIMEOUTS_S = (60.0, 300.0, 900.0, 3600.0)  # short, moderate, long, eternal


@dataclass(frozen=True, slots=True)
class LimitPolicy:
    name: str
    description: str


POLICIES = (
    LimitPolicy("current", "the limits in force (workflow YAML, config, logs)"),
    LimitPolicy("we-advisor", "smallest limit whose censoring-aware kill-rate upper bound is within 1.5 × (1 − q), with hysteresis"),
    LimitPolicy("jenkins-elastic", "2.5 × mean of successful runs (Jenkins' elastic timeout)"),
    LimitPolicy("max+3sd", "slowest success + 3 standard deviations of successes"),
    LimitPolicy("1.5x-slowest", "1.5 × the slowest successful run"),
    LimitPolicy("bazel-size", "smallest Bazel size category (60/300/900/3600 s) above the slowest success"),
)


@dataclass(frozen=True, slots=True)
class Replayed:
    """What replaying the period after the split under one policy's limit(s) counted (see the module docstring)."""

    runs: int
    healthy_runs: int
    healthy_killed: int
    est_kill_rate: float | None
    timed_out_runs: int
    stopped_sooner: int
    unresolved: int
    runner_minutes_saved: float
    runner_minutes_at_risk: float
    median_slack_s: float | None


@dataclass(frozen=True, slots=True)
class UnitOutcome(Replayed):
    """One unit under one policy, replayed on the period after the split."""

    key: UnitKey
    policy: str
    limit_s: float | None


@dataclass(frozen=True, slots=True)
class PolicyTotals(Replayed):
    """One policy over every unit: the sums, the pooled rates, and the unit it hurts most."""

    policy: str
    description: str
    units: int
    kill_rate: float | None
    worst_est_kill_rate: float | None = None  # the unit this policy hurts most
    worst_unit: UnitKey | None = None
    units_over_target: int = 0  # units where it stops more than 1 - quantile of the runs


@dataclass(frozen=True, slots=True)
class BacktestResult:
    split: datetime
    train_start: datetime | None
    test_end: datetime | None
    train_rows: int
    test_rows: int
    quantile: float
    totals: tuple[PolicyTotals, ...]
    units: tuple[UnitOutcome, ...]
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        def when(value: datetime | None) -> str | None:
            return None if value is None else value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

        return {
            "split": when(self.split),
            "train_start": when(self.train_start),
            "test_end": when(self.test_end),
            "train_rows": self.train_rows,
            "test_rows": self.test_rows,
            "quantile": self.quantile,
            "policies": [_totals_dict(t) for t in self.totals],
            "units": [_unit_dict(u) for u in self.units],
            "notes": list(self.notes),
        }


def _totals_dict(t: PolicyTotals) -> dict[str, Any]:
    return {
        "policy": t.policy, "description": t.description, "units": t.units, "runs": t.runs,
        "healthy_runs": t.healthy_runs, "healthy_killed": t.healthy_killed, "kill_rate": t.kill_rate,
        "est_kill_rate": t.est_kill_rate, "timed_out_runs": t.timed_out_runs, "stopped_sooner": t.stopped_sooner,
        "unresolved": t.unresolved, "runner_minutes_saved": t.runner_minutes_saved,
        "runner_minutes_at_risk": t.runner_minutes_at_risk, "median_slack_s": t.median_slack_s,
        "worst_est_kill_rate": t.worst_est_kill_rate,
        "worst_unit": None if t.worst_unit is None else t.worst_unit._asdict(),
        "units_over_target": t.units_over_target,
    }


def _unit_dict(u: UnitOutcome) -> dict[str, Any]:
    return {
        **u.key._asdict(), "policy": u.policy, "limit_s": u.limit_s, "runs": u.runs, "healthy_runs": u.healthy_runs,
        "healthy_killed": u.healthy_killed, "est_kill_rate": u.est_kill_rate, "timed_out_runs": u.timed_out_runs,
        "stopped_sooner": u.stopped_sooner, "unresolved": u.unresolved,
        "runner_minutes_saved": u.runner_minutes_saved, "runner_minutes_at_risk": u.runner_minutes_at_risk,
        "median_slack_s": u.median_slack_s,
    }


def default_split(started: pd.Series) -> datetime:
    """Two weeks before the newest observation, or the middle of the history when it is shorter than four."""
    newest, oldest = started.max(), started.min()
    span = newest - oldest
    if span > pd.Timedelta(days=28):
        point = newest - pd.Timedelta(days=14)
    else:
        point = oldest + span / 2
    return pd.Timestamp(point).floor("D").to_pydatetime()


def run_backtest(
    train: pd.DataFrame,
    test: pd.DataFrame,
    current: Mapping[UnitKey, CurrentLimit],
    policy: Policy | None = None,
    *,
    split: datetime,
) -> BacktestResult:
    """Fit every policy on ``train``, replay ``test``; units need ``min_samples`` runs before the split."""
    policy = policy or Policy()
    notes: list[str] = []
    recommended = recommend_limits(train, current, policy)
    ours = {r.key: r for r in recommended.recommendations}
    # the replayed period's own censoring-aware curve, with a tail for limits beyond what it saw; runs
    # that plainly hung are set aside as in `recommend` (stopping them is no false timeout)
    replay = DurationModel(quantile=policy.quantile, tail="always", by_runner=False).fit(test)
    keys = keys_of(replay.units_)
    positions = replay.positions_
    unit_of_row = replay.unit_of_row_
    train_success = _successes_by_unit(train)
    outcomes: list[UnitOutcome] = []
    limits: dict[str, NDArray[np.float64]] = {p.name: np.full(len(keys), np.nan) for p in POLICIES}
    eligible = np.zeros(len(keys), dtype=bool)
    for u, key in enumerate(keys):
        rec = ours.get(key)
        if rec is None or rec.samples < policy.min_samples:
            continue
        eligible[u] = True
        now = current.get(key, CurrentLimit(None, None)).timeout_s
        limits["current"][u] = np.nan if now is None else now
        mine = rec.recommended_timeout_s if rec.recommended_timeout_s is not None else now
        limits["we-advisor"][u] = np.nan if mine is None else mine
        for name, rule in _HEURISTICS.items():
            value = rule(train_success.get(key, np.empty(0)))
            limits[name][u] = np.nan if value is None else value
    skipped = len(keys) - int(eligible.sum())
    if skipped:
        notes.append(f"{skipped} unit(s) left out: fewer than {policy.min_samples} runs before the split")

    durations = test["duration_s"].to_numpy(dtype=float)[positions]
    outcome = test["outcome"].to_numpy()[positions]
    censored = test["censored"].to_numpy(dtype=bool)[positions]
    healthy = (outcome == "success") & ~censored
    timed_out = censored & (outcome == "timeout")
    order = np.argsort(unit_of_row, kind="stable")
    bounds = np.searchsorted(unit_of_row[order], np.arange(len(keys) + 1))
    for p in POLICIES:
        rates, _ = replay.kill_rate(limits[p.name])
        for i in (int(x) for x in np.flatnonzero(eligible)):
            rows = order[bounds[i] : bounds[i + 1]]
            outcomes.append(_replay(keys[i], p.name, limits[p.name][i], durations[rows], healthy[rows], timed_out[rows], rates[i]))
    totals = tuple(_totals(p, [o for o in outcomes if o.policy == p.name], 1 - policy.quantile) for p in POLICIES)
    return BacktestResult(
        split=split,
        train_start=_time(train, min),
        test_end=_time(test, max),
        train_rows=len(train),
        test_rows=len(test),
        quantile=policy.quantile,
        totals=totals,
        units=tuple(outcomes),
        notes=tuple(notes),
    )


def _successes_by_unit(frame: pd.DataFrame) -> dict[UnitKey, NDArray[np.float64]]:
    model = DurationModel(tail="never", by_runner=False, hung_factor=None)
    if frame.empty:
        return {}
    keys = keys_of(model.fit(frame).units_)
    positions, unit = model.positions_, model.unit_of_row_
    ok = (frame["outcome"].to_numpy()[positions] == "success") & ~frame["censored"].to_numpy(dtype=bool)[positions]
    durations = frame["duration_s"].to_numpy(dtype=float)[positions]
    return {key: durations[ok & (unit == u)] for u, key in enumerate(keys)}


def _jenkins(successes: NDArray[np.float64]) -> float | None:
    return 2.5 * float(successes.mean()) if successes.size else None


def _max_3sd(successes: NDArray[np.float64]) -> float | None:
    if successes.size < 2:
        return None
    return float(successes.max() + 3 * successes.std(ddof=1))


def _slowest(successes: NDArray[np.float64]) -> float | None:
    return 1.5 * float(successes.max()) if successes.size else None


def _bazel(successes: NDArray[np.float64]) -> float | None:
    if not successes.size:
        return None
    slowest = float(successes.max())
    return next((t for t in BAZEL_TIMEOUTS_S if t >= slowest), BAZEL_TIMEOUTS_S[-1])


_HEURISTICS: dict[str, Callable[[NDArray[np.float64]], float | None]] = {
    "jenkins-elastic": _jenkins,
    "max+3sd": _max_3sd,
    "1.5x-slowest": _slowest,
    "bazel-size": _bazel,
}


def _replay(
    key: UnitKey,
    policy: str,
    limit: float,
    durations: NDArray[np.float64],
    healthy: NDArray[np.bool_],
    timed_out: NDArray[np.bool_],
    rate: float,
) -> UnitOutcome:
    has_limit = math.isfinite(limit)
    killed = int((healthy & (durations > limit)).sum()) if has_limit else 0
    slack = limit - durations[healthy & (durations <= limit)] if has_limit else np.empty(0)
    stopped = timed_out & (durations > limit) if has_limit else np.zeros_like(timed_out)
    later = timed_out & ~stopped
    saved = float((durations[stopped] - limit).sum()) / 60 if has_limit else 0.0
    at_risk = float((limit - durations[later]).clip(min=0).sum()) / 60 if has_limit else 0.0
    return UnitOutcome(
        key=key,
        policy=policy,
        limit_s=float(limit) if has_limit else None,
        runs=int(durations.size),
        healthy_runs=int(healthy.sum()),
        healthy_killed=killed,
        est_kill_rate=float(rate) if has_limit and math.isfinite(rate) else (0.0 if not has_limit else None),
        timed_out_runs=int(timed_out.sum()),
        stopped_sooner=int(stopped.sum()),
        unresolved=int(later.sum()) if has_limit else 0,
        runner_minutes_saved=round(saved, 2),
        runner_minutes_at_risk=round(at_risk, 2),
        median_slack_s=float(np.median(slack)) if slack.size else None,
    )


def _totals(policy: LimitPolicy, rows: Sequence[UnitOutcome], target: float) -> PolicyTotals:
    healthy = sum(r.healthy_runs for r in rows)
    killed = sum(r.healthy_killed for r in rows)
    weighted = [(r.est_kill_rate, r.runs) for r in rows if r.est_kill_rate is not None]
    runs = sum(n for _, n in weighted)
    slacks = [r.median_slack_s for r in rows if r.median_slack_s is not None]
    worst = max((r for r in rows if r.est_kill_rate is not None), key=lambda r: r.est_kill_rate or 0.0, default=None)
    return PolicyTotals(
        policy=policy.name,
        description=policy.description,
        units=len(rows),
        runs=sum(r.runs for r in rows),
        healthy_runs=healthy,
        healthy_killed=killed,
        kill_rate=killed / healthy if healthy else None,
        est_kill_rate=sum(rate * n for rate, n in weighted) / runs if runs else None,
        timed_out_runs=sum(r.timed_out_runs for r in rows),
        stopped_sooner=sum(r.stopped_sooner for r in rows),
        unresolved=sum(r.unresolved for r in rows),
        runner_minutes_saved=round(sum(r.runner_minutes_saved for r in rows), 1),
        runner_minutes_at_risk=round(sum(r.runner_minutes_at_risk for r in rows), 1),
        median_slack_s=float(np.median(slacks)) if slacks else None,
        worst_est_kill_rate=None if worst is None else worst.est_kill_rate,
        worst_unit=None if worst is None else worst.key,
        units_over_target=sum(1 for r in rows if r.est_kill_rate is not None and r.est_kill_rate > target + 1e-12),
    )


def _time(frame: pd.DataFrame, pick: Callable[[Any], Any]) -> datetime | None:
    if frame.empty or "started_at" not in frame:
        return None
    value = pick(frame["started_at"])
    return None if pd.isna(value) else pd.Timestamp(value).floor("us").to_pydatetime()
