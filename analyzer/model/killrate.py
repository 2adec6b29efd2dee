"""The share of runs a limit stops, with its confidence interval, per unit of a fitted ``DurationModel``.

The estimate is ``DurationModel.kill_rate`` (``model.rates``: Kaplan–Meier, or the unit's accepted
parametric tail where fewer than ``KM_SUPPORT`` runs reached the limit or beyond the data). The interval is the data's: the pointwise log-log
(exponential Greenwood) band of the Kaplan–Meier S(limit) at the model's ``confidence``, and where
that band collapses to a point — every decided run finished before the limit (S = 0), or none did
(S = 1) — the exact (Clopper–Pearson) binomial end for 0 of n (n of n) decided runs, so that "no run
lasted that long" reads "at most 1.5 %" for 200 runs instead of a bare 0 %. Beyond the longest run,
when that run was stopped (censored), the data bound the rate from above only: its lower end is 0.
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
    """Per unit of ``model.units_``: the share of its runs ``limits[u]`` stops, with the data's interval (None: no
    limit, or no estimate: past a stopped run without an accepted tail). ``max_tail_error`` is kept for
    callers of the earlier tail rule; a tail is now used where its tail Kolmogorov–Smirnov test accepts it."""
    lim = np.asarray(limits, dtype=np.float64)
    rate, basis = model.kill_rate(lim)
    survival = model.survival_at(lim)
    low, high = model.survival_band_at(lim)
    reaching = model.runs_reaching(lim)
    events = model.units_["events"].to_numpy(dtype=float)
    max_s = model.units_["max_s"].to_numpy(dtype=float)
    max_censored = model.units_["max_censored"].to_numpy(dtype=bool)
    alpha = (1.0 - model.confidence) / 2.0
    out: list[KillRate | None] = []
    for u in range(lim.size):
        if not np.isfinite(lim[u]) or basis[u] is None or not np.isfinite(rate[u]):
            out.append(None)
            continue
        lo, hi = float(low[u]), float(high[u])
        if survival[u] <= 0.0 and events[u] > 0:  # every decided run finished before the limit: 0 of n
            lo, hi = 0.0, 1.0 - alpha ** (1.0 / events[u])
        elif survival[u] >= 1.0 and reaching[u] > 0:  # every run lasted at least the limit: n of n
            lo, hi = alpha ** (1.0 / reaching[u]), 1.0
        if max_censored[u] and lim[u] > max_s[u]:  # past the longest run, which was stopped: at most this
            lo = 0.0
        out.append(KillRate(float(rate[u]), _clip(lo), _clip(hi), str(basis[u]), model.confidence))
    return out


def _clip(value: float) -> float:
    return value if math.isnan(value) else min(1.0, max(0.0, value))
