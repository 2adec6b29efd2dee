"""The share of runs a limit stops, with its confidence interval, per unit of a fitted ``DurationModel``.

One ``KillRate`` per unit (``kill_rates``): ``DurationModel.rates`` (``model.rates``: Kaplan–Meier
with its log-log band where the curve answers and enough runs reached the limit, the exact binomial
end where no run finished before it; beyond the last finished run the band just before it, narrowed
by the unit's accepted tail; beyond a stopped run the tail), as the advice's verdicts see it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from analyzer.model.duration import DurationModel


@dataclass(frozen=True, slots=True)
class KillRate:
    """P(T > limit): ``rate`` (what ``basis`` says it rests on) and the data's interval [``low``, ``high``]."""

    rate: float
    low: float
    high: float
    basis: str  # km | tail:lognormal | tail:weibull
    level: float  # two-sided confidence of the interval


def kill_rates(model: DurationModel, limits: ArrayLike, *, max_tail_error: float | None = None) -> list[KillRate | None]:
    """Per unit of ``model.units_``: the share of its runs ``limits[u]`` stops, with an interval (None: no limit,
    or nothing known: beyond a stopped run without a tail). ``max_tail_error`` is kept for callers of the
    earlier rule; a tail is now used where its tail Kolmogorov–Smirnov test accepts it."""
    lim = np.asarray(limits, dtype=np.float64)
    r = model.rates(np.arange(lim.size), lim)
    out: list[KillRate | None] = []
    for u in range(lim.size):
        if not np.isfinite(lim[u]) or not r.known[u]:
            out.append(None)
            continue
        out.append(KillRate(float(r.point[u]), _clip(float(r.lo[u])), _clip(float(r.hi[u])), str(r.label(u)), model.confidence))
    return out


def _clip(value: float) -> float:
    return value if math.isnan(value) else min(1.0, max(0.0, value))
