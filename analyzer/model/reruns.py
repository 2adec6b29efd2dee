"""Whether rerunning a failed job attempt helped: per job, failed (or timed-out) attempts whose next
attempt of the same job succeeded, with a Wilson score interval (:func:`rerun_rates`).

Pure functions over records; nothing here reads the store or the network.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from analyzer.records import TIMEOUT_KINDS


@dataclass(frozen=True, slots=True)
class Attempt:
    """One attempt of one job, as the store knows it (jobs table + incident kind)."""

    workflow: str
    job: str
    run_id: int
    run_attempt: int
    conclusion: str | None  # the jobs API's: success, failure, timed_out, cancelled, skipped, ...
    kind: str | None = None  # the incident's kind (analyzer.records.INCIDENT_KINDS), if any
    repo: str = ""


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


def rerun_rates(attempts: Iterable[Attempt]) -> list[RerunRate]:
    """Per job (repo, workflow, job name): failed attempts and how often the next attempt passed.

    An attempt counts as *passed on rerun* when the next attempt of the same job in the same run
    (the smallest higher ``run_attempt`` in which that job appears) concluded ``success``. A
    failed attempt with no later attempt of its job was not rerun: it counts in
    ``failed_attempts`` but not in ``reruns``. Jobs without a failed attempt are left out.
    Sorted by failed attempts, most first, then by name.
    """
    by_job: dict[tuple[str, str, str], dict[int, dict[int, Attempt]]] = {}
    for a in attempts:
        runs = by_job.setdefault((a.repo, a.workflow, a.job), {})
        runs.setdefault(a.run_id, {})[a.run_attempt] = a
    out = []
    for (repo, workflow, job), runs in by_job.items():
        tallies = {"failures": [0, 0, 0], "timeouts": [0, 0, 0]}
        for by_attempt in runs.values():
            order = sorted(by_attempt)
            for k, number in enumerate(order):
                a = by_attempt[number]
                if not is_failed(a):
                    continue
                nxt = by_attempt[order[k + 1]] if k + 1 < len(order) else None
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
