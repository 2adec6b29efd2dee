"""What every parametric tail can answer, for many units at once: survival, kill-rate intervals, quantiles.

A family's fit (``tails.LocationScaleFit`` for the log-normal and Weibull, ``gpd.GpdFit``,
``mixture.MixtureFit``) holds per fitted unit its parameters and their covariance (the inverse
observed information) and says how to compute S(t) and a quantile from parameters. Everything
else is here, the same for every family and vectorized over (unit, limit) pairs:

- ``rate``: P(T > t) with a delta-method interval on the logit scale (the gradient taken
  numerically, central differences); where S is 0 or 1 (beyond a bounded tail's end, or
  numerically so) the interval spans the values S takes with the parameters moved
  ``z`` standard errors along each principal axis of their covariance;
- ``quantile`` and ``quantile_upper`` (delta method on the log of the quantile).

Pairs address fitted units by their position in the fit (``idx``); ``unit`` maps positions to
the model's unit numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from numpy.typing import NDArray

from analyzer.model import normal


def sum_by(unit: NDArray[np.intp], weights: NDArray[np.float64], n_units: int) -> NDArray[np.float64]:
    """Per unit, the sum of its rows' ``weights``.

    The fits hand rows grouped by unit (``SortedRows`` order): then each unit's rows are one slice,
    summed by ``np.add.reduceat`` (pairwise within the slice), about 20 times faster than
    ``np.bincount``'s scattered adds at 10⁵ rows and no less accurate; rows in any other order (or a
    unit outside 0 … n_units − 1, which ``np.bincount`` refuses or counts) go to ``np.bincount``."""
    in_range = unit.size > 1 and 0 <= unit[0] <= unit[-1] < n_units
    if in_range and bool((unit[1:] >= unit[:-1]).all()):
        starts = np.searchsorted(unit, np.arange(n_units + 1))
        filled = np.flatnonzero(starts[1:] > starts[:-1])
        out = np.zeros(n_units)
        if filled.size:
            out[filled] = np.add.reduceat(np.asarray(weights, dtype=np.float64), starts[filled])
        return out
    return np.asarray(np.bincount(unit, weights=weights, minlength=n_units), dtype=np.float64)


def symmetric_inverse(m: NDArray[np.float64]) -> NDArray[np.float64]:
    """Inverses of a stack of square matrices; NaN for the singular ones."""
    n, k = m.shape[0], m.shape[1]
    out = np.full_like(m, np.nan)
    if n == 0:
        return out
    if k == 2:
        det = m[:, 0, 0] * m[:, 1, 1] - m[:, 0, 1] * m[:, 1, 0]
        with np.errstate(divide="ignore", invalid="ignore"):
            out[:, 0, 0] = m[:, 1, 1] / det
            out[:, 1, 1] = m[:, 0, 0] / det
            out[:, 0, 1] = -m[:, 0, 1] / det
            out[:, 1, 0] = -m[:, 1, 0] / det
        out[det == 0] = np.nan
        return out
    finite = np.all(np.isfinite(m), axis=(1, 2))
    for i in np.flatnonzero(finite):
        try:
            out[i] = np.linalg.inv(m[i])
        except np.linalg.LinAlgError:
            continue
    return out


@dataclass(frozen=True, eq=False)
class TailFit:
    """One family's censored maximum-likelihood fits for some units (arrays, one entry per unit)."""

    unit: NDArray[np.intp]  # the model's unit number of each entry
    params: NDArray[np.float64]  # (n, k)
    cov: NDArray[np.float64]  # (n, k, k), NaN where the information is singular
    loglik: NDArray[np.float64]
    converged: NDArray[np.bool_]
    threshold: NDArray[np.float64]  # u: where the goodness-of-fit test starts (and a POT model begins)
    zeta: NDArray[np.float64]  # the model's share of runs beyond u (POT: the KM S(u)); else 1
    zeta_var_log: NDArray[np.float64]  # Greenwood variance of log S(u) (POT), else 0

    family: ClassVar[str] = ""
    n_params: ClassVar[int] = 0

    # -- what a family defines -------------------------------------------------------------------

    def _survival(self, idx: NDArray[np.intp], t: NDArray[np.float64], p: NDArray[np.float64]) -> NDArray[np.float64]:
        raise NotImplementedError

    def _quantile(self, idx: NDArray[np.intp], q: float, p: NDArray[np.float64]) -> NDArray[np.float64]:
        raise NotImplementedError

    def _zeta_log_slope(self, idx: NDArray[np.intp], q: float) -> NDArray[np.float64]:
        return np.zeros(idx.size)

    # -- what follows from it ------------------------------------------------------------------

    @property
    def size(self) -> int:
        return int(self.unit.size)

    def survival(self, idx: NDArray[np.intp], t: NDArray[np.float64]) -> NDArray[np.float64]:
        """P(T > t) per (entry, t) pair."""
        return self._survival(idx, np.asarray(t, dtype=np.float64), self.params[idx])

    def quantile(self, idx: NDArray[np.intp], q: float) -> NDArray[np.float64]:
        return self._quantile(idx, q, self.params[idx])

    def _gradient(
        self, f: Callable[[NDArray[np.intp], NDArray[np.float64]], NDArray[np.float64]], idx: NDArray[np.intp], p: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        """Central-difference gradient of ``f(idx, params) -> values`` per pair, (m, k): every perturbed
        parameter set in one call of ``f``."""
        m, k = p.shape
        h = 1e-5 * np.maximum(1.0, np.abs(p))  # (m, k)
        step = np.zeros((2 * k, m, k))
        for j in range(k):
            step[j, :, j] = h[:, j]
            step[k + j, :, j] = -h[:, j]
        moved = (p[None, :, :] + step).reshape(2 * k * m, k)
        with np.errstate(all="ignore"):
            values = f(np.tile(idx, 2 * k), moved).reshape(2 * k, m)
        return np.asarray(((values[:k] - values[k:]) / (2 * h.T)).T, dtype=np.float64)

    def rate(self, idx: NDArray[np.intp], t: NDArray[np.float64], z: float) -> tuple[NDArray[np.float64], ...]:
        """(point, low, high) of P(T > t) per pair: delta method on logit S, two-sided at ±``z``."""
        t = np.asarray(t, dtype=np.float64)
        p = self.params[idx]
        s = self._survival(idx, t, p)
        lo, hi = np.full(s.shape, np.nan), np.full(s.shape, np.nan)
        inside = (s > 0) & (s < 1)
        if inside.any():
            i = np.flatnonzero(inside)

            def logit(ii: NDArray[np.intp], pp: NDArray[np.float64]) -> NDArray[np.float64]:
                v = np.clip(self._survival(idx[ii], t[ii], pp), 1e-300, 1 - 1e-16)
                return np.asarray(np.log(v) - np.log1p(-v), dtype=np.float64)

            grad = self._gradient(logit, i, p[i])
            var = np.einsum("ni,nij,nj->n", grad, self.cov[idx[i]], grad)
            var = var + self.zeta_var_log[idx[i]] / (1 - s[i]) ** 2
            mid = np.log(s[i]) - np.log1p(-s[i])
            with np.errstate(invalid="ignore"):
                half = z * np.sqrt(np.maximum(var, 0.0))
            ok = np.isfinite(var)
            lo[i] = np.where(ok, normal.expit(mid - half), np.nan)
            hi[i] = np.where(ok, normal.expit(mid + half), np.nan)
        edge = np.flatnonzero(~inside & np.isfinite(s))
        if edge.size:
            low, high = self._spread(idx[edge], t[edge], z)
            lo[edge], hi[edge] = np.minimum(s[edge], low), np.maximum(s[edge], high)
        return s, lo, hi

    def _spread(self, idx: NDArray[np.intp], t: NDArray[np.float64], z: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """min and max of S(t) over the parameters moved ±z standard errors along each principal axis."""
        cov = self.cov[idx]
        low, high = np.zeros(idx.size), np.ones(idx.size)
        good = np.all(np.isfinite(cov), axis=(1, 2))
        if not good.any():
            return low, high
        g = np.flatnonzero(good)
        values, vectors = np.linalg.eigh(cov[g])
        p = self.params[idx[g]]
        found = []
        for j in range(p.shape[1]):
            step = z * np.sqrt(np.maximum(values[:, j], 0.0))[:, None] * vectors[:, :, j]
            for sign in (-1.0, 1.0):
                found.append(np.nan_to_num(self._survival(idx[g], t[g], p + sign * step), nan=0.0))
        stacked = np.stack(found, axis=1)
        low[g], high[g] = stacked.min(axis=1), stacked.max(axis=1)
        return low, high

    def quantile_upper(self, idx: NDArray[np.intp], q: float, z: float) -> NDArray[np.float64]:
        """One-sided upper confidence bound of the q-quantile (delta method on its log)."""
        p = self.params[idx]
        value = self._quantile(idx, q, p)

        def log_q(ii: NDArray[np.intp], pp: NDArray[np.float64]) -> NDArray[np.float64]:
            with np.errstate(all="ignore"):
                return np.asarray(np.log(np.maximum(self._quantile(idx[ii], q, pp), 1e-9)), dtype=np.float64)

        grad = self._gradient(log_q, np.arange(idx.size), p)
        var = np.einsum("ni,nij,nj->n", grad, self.cov[idx], grad) + self._zeta_log_slope(idx, q) ** 2 * self.zeta_var_log[idx]
        with np.errstate(invalid="ignore", over="ignore"):
            out = value * np.exp(np.minimum(z * np.sqrt(np.maximum(var, 0.0)), 50.0))
        return np.asarray(np.where(np.isfinite(value) & np.isfinite(var), out, np.nan), dtype=np.float64)
