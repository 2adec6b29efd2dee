"""The share of runs a limit stops, with its confidence interval, per unit of a fitted ``DurationModel``.

One estimator for every command: this is ``DurationModel.rates`` (``model.rates.pair_rates``), the
kill rate ``recommend`` judges and proposes limits by, read one limit per unit for ``check``'s
evidence. Kaplan–Meier with its pointwise log-log (Greenwood) band where the curve answers and at
least ``KM_SUPPORT`` runs reached the limit; the unit's accepted tail where fewer did (its upper end
no lower than the band's: ``check`` judges limits in force, its own and the one a change sets) and
beyond the last finished run; beyond a run a limit stopped, with no
accepted tail, no estimate (None).
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
    basis: str  # km | tail:<model>
    level: float  # two-sided confidence of the interval


def kill_rates(model: DurationModel, limits: ArrayLike) -> list[KillRate | None]:
    """Per unit of ``model.units_``: the share of its runs ``limits[u]`` stops, with its interval (None: no
    limit, or no estimate: past a stopped run without an accepted tail)."""
    lim = np.asarray(limits, dtype=np.float64)
    r = model.rates(np.arange(lim.size), lim, in_force=True)
    out: list[KillRate | None] = []
    for u in range(lim.size):
        basis = r.label(u)
        if basis is None or not math.isfinite(float(r.point[u])):
            out.append(None)
            continue
        out.append(KillRate(float(r.point[u]), _clip(float(r.lo[u])), _clip(float(r.hi[u])), basis, model.confidence))
    return out


def _clip(value: float) -> float:
    return value if math.isnan(value) else min(1.0, max(0.0, value))
