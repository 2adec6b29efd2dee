"""Whether rerunning a failed job attempt helped: per job, failed (or timed-out) attempts whose next
attempt of the same job succeeded, with a Wilson score interval (:func:`rerun_rates`); per unit,
how often a run stopped by the unit's own limit passed when rerun (:func:`limit_reruns`).

Pure functions over records and frames; nothing here reads the store or the network.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from analyzer.records import TIMEOUT_KINDS, JobAttempt, UnitKey

Attempt = JobAttempt  # one attempt of one job: the jobs row and its incident's kind


@dataclass(frozen=True, slots=True)
class RerunCount:
    """Failed attempts, how many were rerun, how many of those passed, and the pass rate.

    ``rate`` is ``passed_on_rerun / reruns`` (None without reruns); ``rate_ci`` its 95 % Wilson
    score interval.
    """

    failed_attempts: int
    reruns: int
    passed_on_rerun: int
    rate: float | None
    rate_ci: tuple[float, float] | None


@dataclass(frozen=True, slots=True)
class RerunRate:
    """Rerun outcomes of one job: all failures (timeouts included) and timeouts alone."""

    repo: str
    workflow: str
    job: str
    failures: RerunCount
    timeouts: RerunCount

    def to_dict(self) -> dict[str, Any]:
        def part(c: RerunCount) -> dict[str, Any]:
            ci = None if c.rate_ci is None else [round(c.rate_ci[0], 4), round(c.rate_ci[1], 4)]
            rate = None if c.rate is None else round(c.rate, 4)
            return {"failed_attempts": c.failed_attempts, "reruns": c.reruns,
                    "passed_on_rerun": c.passed_on_rerun, "rate": rate, "rate_ci": ci}  # fmt: skip

        return {"repo": self.repo, "workflow": self.workflow, "job": self.job, **part(self.failures),
                "timeouts": part(self.timeouts)}  # fmt: skip


def is_timeout(attempt: Attempt) -> bool:
    """An attempt that ended on a time limit (the jobs API says ``timed_out``, or the incident is a timeout)."""
    return attempt.conclusion == "timed_out" or attempt.kind in TIMEOUT_KINDS


def is_failed(attempt: Attempt) -> bool:
    """An attempt that failed or timed out. Cancelled and skipped attempts are neither."""
    return attempt.conclusion == "failure" or (attempt.kind == "failure" and attempt.conclusion is None) or is_timeout(attempt)


def wilson_interval(successes: int, trials: int, z: float = 1.959963984540054) -> tuple[float, float] | None:
    """The Wilson score interval of a binomial proportion (95 % by default); None for no trials."""
    if trials <= 0:
        return None
    p = successes / trials
    denom = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denom
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def _next_attempts(attempts: Iterable[Attempt]) -> dict[tuple[str, str, str, int], list[tuple[Attempt, Attempt | None]]]:
    """(repo, workflow, job, run id) -> each attempt of that job in that run, in attempt order, with the
    next one (the smallest higher attempt number in which the job appears), None for the last one. An
    attempt number listed twice counts once (its last listing)."""
    runs: dict[tuple[str, str, str, int], dict[int, Attempt]] = {}
    for a in attempts:
        runs.setdefault((a.repo, a.workflow, a.job, a.run_id), {})[a.run_attempt] = a
    out: dict[tuple[str, str, str, int], list[tuple[Attempt, Attempt | None]]] = {}
    for key, by_number in runs.items():
        # pairs, not a dict keyed by the attempts: hashing a record of seven fields cost more than the rest
        order = [by_number[n] for n in sorted(by_number)] if len(by_number) > 1 else list(by_number.values())
        out[key] = [(a, order[k + 1] if k + 1 < len(order) else None) for k, a in enumerate(order)]
    return out


def stopped_by_limit(frame: pd.DataFrame) -> pd.DataFrame:
    """The observations a unit's own limit stopped: outcome ``timeout`` with a known ``limit_s`` (a
    job cut by its job limit, not the steps inside it, whose own limits did not fire)."""
    if frame.empty:
        return frame
    return frame[(frame["outcome"] == "timeout").to_numpy() & frame["limit_s"].notna().to_numpy()]


def limit_reruns(frame: pd.DataFrame, attempts: Iterable[Attempt]) -> dict[UnitKey, RerunCount]:
    """Per unit: the attempts its own limit stopped (:func:`stopped_by_limit`), how many were rerun
    and how many of those passed (the next attempt of the job concluded ``success``)."""
    stopped = stopped_by_limit(frame)
    if stopped.empty:
        return {}
    following = {
        (key, a.run_attempt): nxt for key, pairs in _next_attempts(attempts).items() for a, nxt in pairs
    }
    tallies: dict[UnitKey, list[int]] = {}
    columns = ["scope", "workflow", "job", "step", "phase", "repo", "run_id", "run_attempt"]
    for scope, workflow, job, step, phase, repo, run_id, attempt in stopped[columns].itertuples(index=False):
        key = UnitKey.of(scope, workflow, job, step, phase)
        counts = tallies.setdefault(key, [0, 0, 0])
        nxt = following.get(((str(repo), key.workflow, key.job, int(run_id)), int(attempt)))
        counts[0] += 1
        if nxt is not None:
            counts[1] += 1
            counts[2] += nxt.conclusion == "success"
    return {key: _count(*counts) for key, counts in tallies.items()}


def rerun_note(count: RerunCount) -> str | None:
    """``4 of 6 timeouts passed on rerun: ...`` for a unit whose limit fired and then passed on rerun."""
    if not count.passed_on_rerun:
        return None
    skipped = count.failed_attempts - count.reruns
    more = f" ({skipped} more not rerun)" if skipped else ""
    return (
        f"{count.passed_on_rerun} of {count.reruns} timeouts passed on rerun{more}: "
        "the limit is probably too tight, or runs hang"
    )


def rerun_rates(attempts: Iterable[Attempt]) -> list[RerunRate]:
    """Per job (repo, workflow, job name): failed attempts and how often the next attempt passed.

    An attempt counts as *passed on rerun* when the next attempt of the same job in the same run
    (the smallest higher ``run_attempt`` in which that job appears) concluded ``success``. A
    failed attempt with no later attempt of its job was not rerun: it counts in
    ``failed_attempts`` but not in ``reruns``. Jobs without a failed attempt are left out.
    Sorted by failed attempts, most first, then by name.
    """
    by_job: dict[tuple[str, str, str], list[tuple[Attempt, Attempt | None]]] = {}
    for (repo, workflow, job, _run), following in _next_attempts(attempts).items():
        by_job.setdefault((repo, workflow, job), []).extend(following)
    out = []
    for (repo, workflow, job), mine in by_job.items():
        tallies = {"failures": [0, 0, 0], "timeouts": [0, 0, 0]}
        for a, nxt in mine:
            if is_failed(a):
                for name, counts in tallies.items():
                    if name == "timeouts" and not is_timeout(a):
                        continue
                    counts[0] += 1
                    if nxt is not None:
                        counts[1] += 1
                        counts[2] += nxt.conclusion == "success"
        if tallies["failures"][0]:
            f, t = (_count(*tallies[name]) for name in ("failures", "timeouts"))
            out.append(RerunRate(repo, workflow, job, f, t))
    out.sort(key=lambda r: (-r.failures.failed_attempts, r.repo, r.workflow, r.job))
    return out


def _count(failed: int, reruns: int, passed: int) -> RerunCount:
    return RerunCount(failed, reruns, passed, passed / reruns if reruns else None, wilson_interval(passed, reruns))
