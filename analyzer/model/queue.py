"""Queue time: how long job attempts waited for a runner (``created_at`` → ``started_at``).

Unlike durations, queue times need no censoring model: an attempt that got a runner waited exactly
its queue time. Attempts that never got one (still waiting, or cancelled while queued) are counted
apart (``not_started``), not averaged in. Frames in: ``Store.jobs_frame`` rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from analyzer.records import WAITING_STATUSES

QUEUE_QUANTILES = (0.5, 0.9, 0.95, 0.99)
# the columns of a jobs frame (``Store.jobs_frame``) that ``queue_stats`` reads
QUEUE_COLUMNS = ("workflow", "job", "status", "conclusion", "created_at", "started_at", "queued_s", "runner_name")


@dataclass(frozen=True, slots=True)
class QueueStats:
    """How long the attempts of one job waited for a runner: percentiles of those that got one
    (``None`` without any), and how many never got one."""

    workflow: str
    job: str
    samples: int  # attempts that got a runner, with both times known
    p50_s: float | None
    p90_s: float | None
    p95_s: float | None
    p99_s: float | None
    max_s: float | None
    not_started: int  # attempts still waiting for a runner, or cancelled before one took them


def queue_masks(jobs: pd.DataFrame) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """(waited, not started) per row of a jobs frame: attempts with a measured queue time, and attempts
    that never got a runner. Skipped jobs and jobs whose creation time is unknown are in neither."""
    if jobs.empty:
        empty = np.zeros(0, dtype=bool)
        return empty, empty
    created = jobs["created_at"].notna().to_numpy()
    skipped = (jobs["conclusion"] == "skipped").to_numpy()
    runner = jobs["runner_name"].fillna("").to_numpy(dtype=object) != ""
    never = (
        jobs["status"].isin(WAITING_STATUSES).to_numpy()
        | jobs["started_at"].isna().to_numpy()
        | ((jobs["conclusion"] == "cancelled").to_numpy() & ~runner)
    )
    relevant = created & ~skipped
    waited = relevant & ~never & jobs["queued_s"].notna().to_numpy()
    return waited, relevant & never


def queue_stats(jobs: pd.DataFrame) -> list[QueueStats]:
    """Per job (workflow, job name), in name order: queue-time percentiles and attempts not started."""
    waited, never = queue_masks(jobs)
    keep = waited | never
    if not keep.any():
        return []
    out: list[QueueStats] = []
    rows = jobs.assign(_waited=waited, _never=never)[keep]
    for (workflow, job), group in rows.groupby(["workflow", "job"], sort=True):
        values = group["queued_s"].to_numpy(dtype=float)[group["_waited"].to_numpy()]
        p50, p90, p95, p99 = queue_quantiles(values)
        longest = float(values.max()) if values.size else None
        out.append(QueueStats(str(workflow), str(job), int(values.size), p50, p90, p95, p99, longest,
                              int(group["_never"].sum())))  # fmt: skip
    return out


def queue_quantiles(values: NDArray[np.float64], qs: tuple[float, ...] = QUEUE_QUANTILES) -> list[float | None]:
    """Empirical quantiles (the smallest value with at least a share ``q`` of values at or below it,
    as Kaplan–Meier gives without censoring); ``None`` for no values."""
    if values.size == 0:
        return [None for _ in qs]
    return [float(v) for v in np.quantile(values, qs, method="inverted_cdf")]
