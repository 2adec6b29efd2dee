"""Parametric tails: censored maximum-likelihood log-normal and Weibull fits for many units at once.

Where the Kaplan–Meier answer at the far tail rests on too few runs, a parametric model
extrapolates it, labelled as such wherever it is shown.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

TAIL_MODELS = ("lognormal", "weibull")
TAIL_MIN_EVENTS = 8  # fewer finished runs than this: no parametric fit
_NEWTON_ITERATIONS = 40
_LOG_SQRT_2PI = 0.5 * float(np.log(2 * np.pi))


@dataclass(frozen=True, slots=True)
class TailFits:
    """Censored maximum-likelihood fits of one family for some units (arrays, one entry per unit).

    Parametrized on standardized log durations ``y = (log t - center) / spread`` as
    ``z = b·y - a`` (Olsen's reparametrization): the right-censored log-likelihood is concave
    in (a, b) for both the normal (log-normal durations) and the minimum-Gumbel (Weibull
    durations) families, so Newton's method with step halving converges from a fixed start.
    """

    family: str
    a: NDArray[np.float64]
    b: NDArray[np.float64]
    info: NDArray[np.float64]  # observed information (negative Hessian), shape (n, 2, 2)
    loglik: NDArray[np.float64]
    converged: NDArray[np.bool_]
    center: NDArray[np.float64]
    spread: NDArray[np.float64]

    def take(self, idx: NDArray[np.intp]) -> TailFits:
        return TailFits(
            self.family, self.a[idx], self.b[idx], self.info[idx], self.loglik[idx], self.converged[idx],
            self.center[idx], self.spread[idx],
        )

    def std_quantile(self, q: float) -> float:
        import scipy.special as sc

        return float(sc.ndtri(q)) if self.family == "lognormal" else float(np.log(-np.log1p(-q)))

    def quantile(self, q: float, z: float = 0.0) -> NDArray[np.float64]:
        """The q-quantile of the duration per unit, moved by ``z`` standard errors (delta method)."""
        w = self.std_quantile(q)
        y = (self.a + w) / self.b
        if z:
            grad = np.stack([1.0 / self.b, -(self.a + w) / self.b**2], axis=1)
            var = np.einsum("ni,nij,nj->n", grad, _inverse_2x2(self.info), grad)
            y = y + z * np.sqrt(np.maximum(var, 0.0))
        with np.errstate(over="ignore"):
            return np.asarray(np.exp(self.center + self.spread * y), dtype=np.float64)

    def survival(self, t: NDArray[np.float64]) -> NDArray[np.float64]:
        """P(T > t) per unit under the fitted model."""
        import scipy.special as sc

        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            z = self.b * (np.log(np.maximum(t, 1e-9)) - self.center) / self.spread - self.a
            if self.family == "lognormal":
                return np.asarray(sc.ndtr(-z), dtype=np.float64)
            return np.asarray(np.exp(-np.exp(np.minimum(z, 700.0))), dtype=np.float64)


def _inverse_2x2(m: NDArray[np.float64]) -> NDArray[np.float64]:
    det = m[:, 0, 0] * m[:, 1, 1] - m[:, 0, 1] * m[:, 1, 0]
    inv = np.empty_like(m)
    with np.errstate(divide="ignore", invalid="ignore"):
        inv[:, 0, 0] = m[:, 1, 1] / det
        inv[:, 1, 1] = m[:, 0, 0] / det
        inv[:, 0, 1] = -m[:, 0, 1] / det
        inv[:, 1, 0] = -m[:, 1, 0] / det
    return inv


def _row_terms(
    family: str, z: NDArray[np.float64], event: NDArray[np.bool_], want: int
) -> tuple[NDArray[np.float64], ...]:
    """Per row: log-likelihood (without the ``log b`` term) and, if ``want`` > 1, its z-derivatives."""
    import scipy.special as sc

    if family == "lognormal":
        ll = -0.5 * z * z - _LOG_SQRT_2PI
        g = -z
        h = np.full(z.size, -1.0)
        cens = ~event
        if cens.any():
            zc = z[cens]
            log_surv = sc.log_ndtr(-zc)
            ll[cens] = log_surv
            if want > 1:
                mills = np.exp(-0.5 * zc * zc - _LOG_SQRT_2PI - log_surv)
                g[cens] = -mills
                h[cens] = -mills * (mills - zc)
    else:
        ez = np.exp(np.minimum(z, 700.0))
        ll = np.where(event, z, 0.0) - ez
        g = event - ez
        h = -ez
    return (ll, g, h) if want > 1 else (ll,)


def _sum_by(unit: NDArray[np.intp], weights: NDArray[np.float64], n_units: int) -> NDArray[np.float64]:
    return np.asarray(np.bincount(unit, weights=weights, minlength=n_units), dtype=np.float64)


def fit_tails(
    family: str, y_raw: NDArray[np.float64], event: NDArray[np.bool_], unit: NDArray[np.intp], n_units: int
) -> TailFits:
    """Censored MLE of a log-location-scale family for every unit at once (vectorized Newton).

    For the log-normal, finished runs enter through their sufficient statistics (count, Σy,
    Σy²), so each iteration touches only the censored rows; the Weibull needs every row.
    """
    count = np.bincount(unit, minlength=n_units).astype(np.float64)
    deaths = np.bincount(unit, weights=event.astype(np.float64), minlength=n_units)
    center = np.bincount(unit, weights=y_raw, minlength=n_units) / np.maximum(count, 1.0)
    dev = y_raw - center[unit]
    spread = np.sqrt(np.bincount(unit, weights=dev * dev, minlength=n_units) / np.maximum(count, 1.0))
    spread = np.where(spread > 1e-6, spread, 1e-6)
    y = dev / spread[unit]
    lognormal = family == "lognormal"
    if lognormal:
        a, b = np.zeros(n_units), np.ones(n_units)
        ev = event.astype(np.float64)
        sum_y = np.bincount(unit, weights=y * ev, minlength=n_units)
        sum_yy = np.bincount(unit, weights=y * y * ev, minlength=n_units)
        per_row = ~event  # rows that need per-row terms
    else:  # minimum Gumbel with mean 0 and sd 1: scale √6/π, location γ·scale
        a, b = np.full(n_units, 0.5772156649), np.full(n_units, np.pi / np.sqrt(6.0))
        per_row = np.ones(unit.size, dtype=bool)
    r_unit, r_y, r_event = unit[per_row], y[per_row], event[per_row]

    def loglik(a_: NDArray[np.float64], b_: NDArray[np.float64], units: NDArray[np.bool_]) -> NDArray[np.float64]:
        rows = units[r_unit]
        uu, yy = r_unit[rows], r_y[rows]
        (ll,) = _row_terms(family, b_[uu] * yy - a_[uu], r_event[rows], 1)
        total = _sum_by(uu, ll, n_units)
        if lognormal:  # Σ over finished runs of -(b·y - a)²/2 - log √(2π)
            total += -0.5 * (b_ * b_ * sum_yy - 2 * a_ * b_ * sum_y + a_ * a_ * deaths) - deaths * _LOG_SQRT_2PI
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.asarray(total + deaths * np.log(b_), dtype=np.float64)

    current = loglik(a, b, np.ones(n_units, bool))
    active = deaths >= 2
    info = np.zeros((n_units, 2, 2))
    for _ in range(_NEWTON_ITERATIONS):
        rows = active[r_unit]
        uu, yy = r_unit[rows], r_y[rows]
        _, g, h = _row_terms(family, b[uu] * yy - a[uu], r_event[rows], 2)
        hy = h * yy
        grad_a = -_sum_by(uu, g, n_units)
        grad_b = _sum_by(uu, g * yy, n_units) + deaths / b
        h_aa = _sum_by(uu, h, n_units)
        h_ab = -_sum_by(uu, hy, n_units)
        h_bb = _sum_by(uu, hy * yy, n_units) - deaths / b**2
        if lognormal:  # finished runs: z = b·y - a, g = -z, h = -1
            grad_a += b * sum_y - a * deaths
            grad_b += -(b * sum_yy - a * sum_y)
            h_aa += -deaths
            h_ab += sum_y
            h_bb += -sum_yy
        info[active, 0, 0], info[active, 0, 1] = -h_aa[active], -h_ab[active]
        info[active, 1, 0], info[active, 1, 1] = -h_ab[active], -h_bb[active]
        inv = _inverse_2x2(info)
        step_a = np.where(active, inv[:, 0, 0] * grad_a + inv[:, 0, 1] * grad_b, 0.0)
        step_b = np.where(active, inv[:, 1, 0] * grad_a + inv[:, 1, 1] * grad_b, 0.0)
        finite = np.isfinite(step_a) & np.isfinite(step_b)
        pending = active & finite
        step_a, step_b = np.where(finite, step_a, 0.0), np.where(finite, step_b, 0.0)
        scale = np.ones(n_units)
        new_a, new_b = a.copy(), b.copy()
        for _half in range(30):
            if not pending.any():
                break
            trial_a = np.where(pending, a + scale * step_a, a)
            trial_b = np.where(pending, b + scale * step_b, b)
            positive = trial_b > 0
            trial = loglik(trial_a, np.where(positive, trial_b, 1.0), pending & positive)
            ok = pending & positive & (np.nan_to_num(trial, nan=-np.inf) >= current - 1e-12 * np.abs(current))
            new_a[ok], new_b[ok] = trial_a[ok], trial_b[ok]
            current = np.where(ok, trial, current)
            pending &= ~ok
            scale[pending] *= 0.5
        moved = np.maximum(np.abs(new_a - a), np.abs(new_b - b))
        a, b = new_a, new_b
        active &= finite & (moved > 1e-7)
        if not active.any():
            break
    converged = ~active & np.isfinite(current) & (deaths >= 2) & (info[:, 0, 0] > 0)
    return TailFits(family, a, b, info, current, converged, center, spread)
