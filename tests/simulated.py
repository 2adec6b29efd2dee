"""Simulated observation histories with known duration distributions (helpers for the tests).

Every frame has the columns of ``Store.observations_frame``. Durations are drawn from known
distributions, so tests can compare estimates with the truth; limits censor them the way CI
does (a run stopped at its limit is recorded as lasting the limit, outcome ``timeout``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

COLUMNS = [
    "scope", "repo", "workflow", "job", "step", "step_number", "phase", "run_id", "run_attempt", "job_id",
    "started_at", "duration_s", "outcome", "censored", "limit_s", "runner",
]
START = pd.Timestamp("2026-01-05", tz="UTC")


@dataclass(frozen=True)
class Truth:
    """A known duration distribution (scipy frozen distribution) and its quantiles."""

    dist: stats.rv_continuous

    def quantile(self, q: float) -> float:
        return float(self.dist.ppf(q))

    def survival(self, t: float) -> float:
        return float(self.dist.sf(t))


def lognormal(median: float, sigma: float) -> Truth:
    return Truth(stats.lognorm(s=sigma, scale=median))


def weibull(scale: float, shape: float) -> Truth:
    return Truth(stats.weibull_min(c=shape, scale=scale))


def unit_history(
    truth: Truth,
    n: int,
    *,
    seed: int,
    limit: float | None = None,
    cancel_share: float = 0.0,
    scope: str = "phase",
    workflow: str = "E2E",
    job: str = "e2e",
    step: str | None = "Run E2E tests",
    phase: str | None = "wait",
    days: float = 28.0,
    runners: tuple[str, ...] = ("ubuntu-latest",),
    first_job_id: int = 1,
) -> pd.DataFrame:
    """``n`` runs of one unit: durations from ``truth``, stopped at ``limit`` (timeout) and a
    ``cancel_share`` cancelled at a uniformly random point of their run."""
    rng = np.random.default_rng(seed)
    true = truth.dist.rvs(size=n, random_state=rng)
    duration = true.copy()
    outcome = np.full(n, "success", dtype=object)
    if limit is not None:
        killed = true > limit
        duration[killed] = limit
        outcome[killed] = "timeout"
    cancelled = (rng.random(n) < cancel_share) & (outcome == "success")
    duration[cancelled] = duration[cancelled] * rng.random(int(cancelled.sum()))
    outcome[cancelled] = "cancelled"
    started = START + pd.to_timedelta(np.sort(rng.uniform(0, days * 86400, n)), unit="s")
    job_ids = np.arange(first_job_id, first_job_id + n)
    return pd.DataFrame(
        {
            "scope": scope,
            "repo": "o/r",
            "workflow": workflow,
            "job": job,
            "step": None if scope == "job" else step,
            "step_number": np.nan if scope == "job" else 3.0,
            "phase": phase if scope == "phase" else None,
            "run_id": job_ids + 10_000,
            "run_attempt": 1,
            "job_id": job_ids,
            "started_at": started,
            "duration_s": duration,
            "outcome": outcome,
            "censored": outcome != "success",
            "limit_s": np.where(outcome == "timeout", limit if limit is not None else np.nan, np.nan),
            "runner": rng.choice(np.array(runners, dtype=object), n),
        },
        columns=COLUMNS,
    )


def e2e_history(n_runs: int = 300, *, seed: int = 0, tekton_limit: float = 300.0, days: float = 42.0) -> pd.DataFrame:
    """The seed's E2E job: a job, two steps, and phases inside the test step (nested in a suite).

    The Tekton controller wait has a 300 s limit that stops about 10 % of its runs; a run whose
    Tekton wait timed out fails (the suite stops there).
    """
    rng = np.random.default_rng(seed)
    start = START + pd.to_timedelta(np.sort(rng.uniform(0, days * 86400, n_runs)), unit="s")
    job_ids = np.arange(1, n_runs + 1)
    runner = rng.choice(np.array(["ubuntu-latest", "ubuntu-latest-4core"], dtype=object), n_runs)
    checkout = rng.lognormal(np.log(4), 0.3, n_runs)
    kind = rng.lognormal(np.log(35), 0.2, n_runs)
    tekton_true = rng.lognormal(np.log(170), 0.45, n_runs)  # p90 ≈ 303 s: ~10 % exceed 300 s
    tekton = np.minimum(tekton_true, tekton_limit)
    tekton_timeout = tekton_true > tekton_limit
    postgres = rng.lognormal(np.log(25), 0.3, n_runs)
    specs = rng.lognormal(np.log(240), 0.2, n_runs)
    suite = kind + tekton + postgres + np.where(tekton_timeout, 0.0, specs) + 5
    test_step = suite + 3
    job = 10 + checkout + test_step + 4
    rows: list[dict[str, object]] = []
    for i in range(n_runs):
        base = start[i]
        failed = bool(tekton_timeout[i])

        def add(scope: str, step: str | None, phase: str | None, offset: float, duration: float, outcome: str,
                limit: float | None = None, number: float | None = None, *, i: int = i, base: pd.Timestamp = base) -> None:
            rows.append(
                {
                    "scope": scope, "repo": "o/r", "workflow": "E2E WorkflowExecution", "job": "e2e", "step": step,
                    "step_number": number, "phase": phase, "run_id": 5000 + i, "run_attempt": 1,
                    "job_id": int(job_ids[i]), "started_at": base + pd.Timedelta(seconds=offset),
                    "duration_s": float(duration), "outcome": outcome,
                    "censored": outcome in ("timeout", "cancelled", "runner_lost"), "limit_s": limit, "runner": runner[i],
                }
            )

        add("job", None, None, 0.0, job[i], "failure" if failed else "success")
        add("step", "Run actions/checkout@v4", None, 10.0, checkout[i], "success", number=2)
        t0 = 10.0 + checkout[i]
        add("step", "Run E2E tests", None, t0, test_step[i], "failure" if failed else "success", number=3)
        s0 = t0 + 1
        add("phase", "Run E2E tests", "ginkgo:suite", s0, suite[i], "failure" if failed else "success", number=3)
        add("phase", "Run E2E tests", "kind-create", s0 + 1, kind[i], "success", number=3)
        w0 = s0 + 1 + kind[i]
        add("phase", "Run E2E tests", "tekton-controller-wait", w0, tekton[i], "timeout" if failed else "success",
            tekton_limit if failed else None, number=3)
        if not failed:
            add("phase", "Run E2E tests", "postgres-wait", w0 + tekton[i], postgres[i], "success", number=3)
    return pd.DataFrame(rows, columns=COLUMNS)


TEKTON_TRUTH = lognormal(170.0, 0.45)
