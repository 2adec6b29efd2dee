"""Peaks over threshold: a generalized Pareto tail above a threshold, censored MLE for many units at once.

Above a high threshold u, the excess Y = T − u of any duration distribution with a regular tail
is close to a generalized Pareto distribution (Pickands–Balkema–de Haan): P(Y > y) =
(1 + ξ·y/σ)^(−1/ξ), an exponential tail at ξ = 0, a heavy (power-law) one for ξ > 0 and a tail
with an end at σ/(−ξ) for ξ < 0. Runs still going when they were stopped (censored) enter with
log S, finished ones with log f. The fit is Newton's method on (ξ, log σ) with the analytic
gradient and Hessian, step halving and damping, vectorized over units like ``tails.fit_location_scale``;
ξ is kept in (−0.5, 1), where the MLE is regular and the tail's variance finite.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from analyzer.model.tailbase import TailFit, sum_by, symmetric_inverse

XI_RANGE = (-0.5, 1.0)  # where a fit is accepted at all
_XI_FLOOR = -0.9  # the search never goes below: the likelihood is unbounded for ξ < −1
_ITERATIONS = 60
_SERIES = 1e-4  # |ξ·y/σ| below this: the ξ → 0 limits by their series


def _g_terms(xi: NDArray[np.float64], u: NDArray[np.float64], want: int) -> tuple[NDArray[np.float64], ...]:
    """g = log(1 + ξu)/ξ (→ u at ξ = 0) and, if ``want`` > 1, ∂g/∂ξ and ∂²g/∂ξ² per row."""
    w = xi * u
    small = np.abs(w) < _SERIES
    safe = np.where(small, 1.0, xi)
    with np.errstate(divide="ignore", invalid="ignore"):
        lw = np.log1p(w)
        g = np.where(small, u * (1.0 - w / 2 + w * w / 3), lw / safe)
        if want < 2:
            return (g,)
        a = 1.0 + w
        n = w / a - lw
        g_xi = np.where(small, u * u * (-0.5 + 2 * w / 3 - 0.75 * w * w), n / safe**2)
        g_xixi = np.where(small, u**3 * (2.0 / 3.0 - 1.5 * w), -u * u / (safe * a * a) - 2 * n / safe**3)
    return g, g_xi, g_xixi


@dataclass(frozen=True, eq=False)
class GpdFit(TailFit):
    """Generalized Pareto tails above ``threshold`` (params ξ, log σ), weighted by ζ = KM S(u)."""

    family = "gpd"
    n_params = 2

    def _survival(self, idx: NDArray[np.intp], t: NDArray[np.float64], p: NDArray[np.float64]) -> NDArray[np.float64]:
        xi, sigma = p[:, 0], np.exp(p[:, 1])
        u = self.threshold[idx]
        y = np.maximum(t - u, 0.0) / sigma
        arg = 1.0 + xi * y
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            (g,) = _g_terms(xi, y, 1)
            base = np.where(arg > 0, np.exp(-g), 0.0)
        return np.asarray(np.where(t <= u, np.nan, self.zeta[idx] * base), dtype=np.float64)

    def _quantile(self, idx: NDArray[np.intp], q: float, p: NDArray[np.float64], zeta: NDArray[np.float64] | None = None) -> NDArray[np.float64]:
        """The q-quantile; NaN where 1 − q ≥ ζ (below the threshold: the KM curve answers there)."""
        target = 1.0 - q
        z = self.zeta[idx] if zeta is None else zeta
        xi, sigma = p[:, 0], np.exp(p[:, 1])
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            ratio = z / target
            small = np.abs(xi) < 1e-9
            excess = np.where(small, sigma * np.log(ratio), sigma / np.where(small, 1.0, xi) * (ratio**xi - 1.0))
        return np.asarray(np.where(target < z, self.threshold[idx] + excess, np.nan), dtype=np.float64)

    def _zeta_log_slope(self, idx: NDArray[np.intp], q: float) -> NDArray[np.float64]:
        """d log q / d log ζ (how the mass above the threshold moves the quantile), numerically."""
        h = 1e-4
        p = self.params[idx]
        base = self._quantile(idx, q, p)
        moved = self._quantile(idx, q, p, self.zeta[idx] * np.exp(h))
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.asarray((np.log(moved) - np.log(base)) / h, dtype=np.float64)


def fit_gpd(
    unit: NDArray[np.intp], excess: NDArray[np.float64], event: NDArray[np.bool_], n_units: int
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.bool_], NDArray[np.float64]]:
    """Censored MLE of (ξ, log σ) per unit from the excesses over its threshold.

    Returns the parameters (n, 2), their covariance (n, 2, 2; the inverse observed information,
    NaN where singular), whether each fit converged inside ``XI_RANGE``, and the log-likelihoods.
    """
    ev = event.astype(np.float64)
    count = np.bincount(unit, minlength=n_units).astype(np.float64)
    deaths = np.bincount(unit, weights=ev, minlength=n_units)
    mean = np.bincount(unit, weights=excess, minlength=n_units) / np.maximum(count, 1.0)
    xi = np.full(n_units, 0.1)
    s = np.log(np.maximum(mean, 1e-6))
    y = np.maximum(excess, 0.0)

    def loglik(xi_: NDArray[np.float64], s_: NDArray[np.float64], units: NDArray[np.bool_]) -> NDArray[np.float64]:
        rows = units[unit]
        uu, yy = unit[rows], y[rows]
        x = yy * np.exp(-s_[uu])
        arg = 1.0 + xi_[uu] * x
        ok = arg > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            (g,) = _g_terms(xi_[uu], np.where(ok, x, 0.0), 1)
            row = -ev[rows] * (s_[uu] + np.log(np.where(ok, arg, 1.0))) - g
        total = sum_by(uu, np.where(ok, row, -np.inf), n_units)
        bad = sum_by(uu, (~ok).astype(np.float64), n_units) > 0
        return np.asarray(np.where(bad | (xi_ < _XI_FLOOR), -np.inf, total), dtype=np.float64)

    current = loglik(xi, s, np.ones(n_units, bool))
    active = (deaths >= 2) & np.isfinite(current)
    info = np.zeros((n_units, 2, 2))
    for _ in range(_ITERATIONS):
        rows = active[unit]
        uu, yy, dd = unit[rows], y[rows], ev[rows]
        x = yy * np.exp(-s[uu])
        xr = xi[uu]
        a = 1.0 + xr * x
        _, g_xi, g_xixi = _g_terms(xr, x, 2)
        grad_xi = sum_by(uu, -dd * x / a - g_xi, n_units)
        grad_s = sum_by(uu, -dd + dd * xr * x / a + x / a, n_units)
        h_xixi = sum_by(uu, dd * x * x / (a * a) - g_xixi, n_units)
        h_xis = sum_by(uu, (dd * x - x * x) / (a * a), n_units)
        h_ss = sum_by(uu, -(dd * xr + 1.0) * x / (a * a), n_units)
        info[active, 0, 0], info[active, 0, 1] = -h_xixi[active], -h_xis[active]
        info[active, 1, 0], info[active, 1, 1] = -h_xis[active], -h_ss[active]
        # Levenberg damping where the information is not positive definite (far from the optimum)
        tr = info[:, 0, 0] + info[:, 1, 1]
        det = info[:, 0, 0] * info[:, 1, 1] - info[:, 0, 1] ** 2
        low = tr / 2 - np.sqrt(np.maximum(tr * tr / 4 - det, 0.0))
        damp = np.where(low > 1e-9 * np.maximum(np.abs(tr), 1.0), 0.0, np.abs(low) + 1e-3 * np.maximum(np.abs(tr), 1.0))
        damped = info + damp[:, None, None] * np.eye(2)[None, :, :]
        inv = symmetric_inverse(damped)
        step_xi = np.where(active, inv[:, 0, 0] * grad_xi + inv[:, 0, 1] * grad_s, 0.0)
        step_s = np.where(active, inv[:, 1, 0] * grad_xi + inv[:, 1, 1] * grad_s, 0.0)
        finite = np.isfinite(step_xi) & np.isfinite(step_s)
        step_xi, step_s = np.where(finite, step_xi, 0.0), np.where(finite, step_s, 0.0)
        pending = active & finite
        scale = np.ones(n_units)
        new_xi, new_s = xi.copy(), s.copy()
        for _half in range(30):
            if not pending.any():
                break
            trial_xi = np.where(pending, xi + scale * step_xi, xi)
            trial_s = np.where(pending, s + scale * step_s, s)
            trial = loglik(trial_xi, trial_s, pending)
            ok = pending & (np.nan_to_num(trial, nan=-np.inf) >= current - 1e-12 * np.abs(current))
            new_xi[ok], new_s[ok] = trial_xi[ok], trial_s[ok]
            current = np.where(ok, trial, current)
            pending &= ~ok
            scale[pending] *= 0.5
        moved = np.maximum(np.abs(new_xi - xi), np.abs(new_s - s))
        xi, s = new_xi, new_s
        active &= finite & (moved > 1e-7)
        if not active.any():
            break
    # the information at the optimum, undamped, for the covariance
    x = y * np.exp(-s[unit])
    xr = xi[unit]
    a = 1.0 + xr * x
    _, g_xi, g_xixi = _g_terms(xr, x, 2)
    final = np.zeros((n_units, 2, 2))
    final[:, 0, 0] = -sum_by(unit, ev * x * x / (a * a) - g_xixi, n_units)
    final[:, 0, 1] = final[:, 1, 0] = -sum_by(unit, (ev * x - x * x) / (a * a), n_units)
    final[:, 1, 1] = -sum_by(unit, -(ev * xr + 1.0) * x / (a * a), n_units)
    cov = symmetric_inverse(final)
    positive = (cov[:, 0, 0] > 0) & (cov[:, 1, 1] > 0) & np.all(np.isfinite(cov), axis=(1, 2))
    cov[~positive] = np.nan
    converged = ~active & np.isfinite(current) & (deaths >= 2) & (xi > XI_RANGE[0]) & (xi < XI_RANGE[1])
    return np.stack([xi, s], axis=1), cov, converged, current
