"""Parametric tails: censored maximum-likelihood fits for many units at once, a goodness-of-fit test, a choice.

Where the Kaplan–Meier curve cannot answer (beyond the last finished run, or beyond a run a limit
stopped), a parametric model extrapolates, labelled as such wherever it is shown. Four families:
log-normal and Weibull (on every run of the unit; Newton's method below), a generalized Pareto
tail above a high threshold (``gpd``: peaks over threshold) and a two-component log-normal
mixture (``mixture``: warm and cold runs). Each is tested where it matters, above a threshold u
(``pot_thresholds``): the largest gap between its conditional survival S(t)/S(u) and the KM
curve's at the finished runs beyond u (a tail Kolmogorov–Smirnov distance), accepted below
1.36/√(runs beyond u), the 5 % critical value. The simplest accepted model is chosen: the
log-normal or the Weibull, which use every run of the unit (of the two the one with the higher
likelihood, when it passes: over every run the likelihood tells them apart far better than a
test on the few dozen runs of the tail); else the GPD, which
uses only the runs beyond u (a few dozen: its tail shape is free and its extrapolation far more
variable); else the mixture, which fits best but whose five parameters make every interval it
gives wide, so it is fitted only where nothing simpler passes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from analyzer.model import normal
from analyzer.model.gpd import GpdFit, fit_gpd
from analyzer.model.km import SortedRows, km_quantile_rows, rows_to_times
from analyzer.model.mixture import MixtureFit, fit_mixture
from analyzer.model.tailbase import TailFit, sum_by, symmetric_inverse

TAIL_MODELS = ("lognormal", "weibull", "gpd", "mixture")
TAIL_MIN_EVENTS = 8  # fewer finished runs than this: no parametric fit
POT_MIN_EVENTS = 25  # a POT threshold needs this many finished runs (distinct times) beyond it
POT_LEVELS = (0.9, 0.85, 0.8, 0.75, 0.7, 0.6, 0.5)
GPD_MIN_EVENTS = 10
KS_CRITICAL = 1.36  # two-sided 5 % Kolmogorov–Smirnov critical value × √n
_NEWTON_ITERATIONS = 40
_LOG_SQRT_2PI = 0.5 * float(np.log(2 * np.pi))


@dataclass(frozen=True, eq=False)
class LocationScaleFit(TailFit):
    """Log-normal or Weibull durations, parametrized on standardized log durations ``y = (log t - center) / spread``
    as ``z = b·y - a`` (Olsen's reparametrization): the right-censored log-likelihood is concave in
    (a, b) for both the normal (log-normal durations) and the minimum-Gumbel (Weibull durations)
    families, so Newton's method with step halving converges from a fixed start."""

    center: NDArray[np.float64] = field(default_factory=lambda: np.empty(0))
    spread: NDArray[np.float64] = field(default_factory=lambda: np.empty(0))

    @property
    def weibull(self) -> bool:
        return self.family == "weibull"

    def _z(self, idx: NDArray[np.intp], t: NDArray[np.float64], p: NDArray[np.float64]) -> NDArray[np.float64]:
        with np.errstate(divide="ignore", invalid="ignore"):
            y = (np.log(np.maximum(t, 1e-9)) - self.center[idx]) / self.spread[idx]
        return np.asarray(p[:, 1] * y - p[:, 0], dtype=np.float64)

    def _survival(self, idx: NDArray[np.intp], t: NDArray[np.float64], p: NDArray[np.float64]) -> NDArray[np.float64]:
        z = self._z(idx, t, p)
        with np.errstate(over="ignore", invalid="ignore"):
            if self.weibull:
                return np.asarray(np.exp(-np.exp(np.minimum(z, 700.0))), dtype=np.float64)
            return np.asarray(normal.ndtr(-z), dtype=np.float64)

    def _quantile(self, idx: NDArray[np.intp], q: float, p: NDArray[np.float64]) -> NDArray[np.float64]:
        w = float(np.log(-np.log1p(-q))) if self.weibull else float(normal.ndtri(q))
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            y = (p[:, 0] + w) / p[:, 1]
            return np.asarray(np.exp(self.center[idx] + self.spread[idx] * y), dtype=np.float64)


@dataclass(frozen=True, eq=False)
class LogNormalFit(LocationScaleFit):
    family = "lognormal"
    n_params = 2


@dataclass(frozen=True, eq=False)
class WeibullFit(LocationScaleFit):
    family = "weibull"
    n_params = 2


def _row_terms(
    family: str, z: NDArray[np.float64], event: NDArray[np.bool_], want: int
) -> tuple[NDArray[np.float64], ...]:
    """Per row: log-likelihood (without the ``log b`` term) and, if ``want`` > 1, its z-derivatives."""
    if family == "lognormal":
        ll = -0.5 * z * z - _LOG_SQRT_2PI
        g = -z
        h = np.full(z.size, -1.0)
        cens = ~event
        if cens.any():
            zc = z[cens]
            log_surv = normal.log_ndtr(-zc)
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


def fit_location_scale(
    family: str, y_raw: NDArray[np.float64], event: NDArray[np.bool_], unit: NDArray[np.intp], n_units: int
) -> tuple[NDArray[Any], ...]:
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
        total = sum_by(uu, ll, n_units)
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
        grad_a = -sum_by(uu, g, n_units)
        grad_b = sum_by(uu, g * yy, n_units) + deaths / b
        h_aa = sum_by(uu, h, n_units)
        h_ab = -sum_by(uu, hy, n_units)
        h_bb = sum_by(uu, hy * yy, n_units) - deaths / b**2
        if lognormal:  # finished runs: z = b·y - a, g = -z, h = -1
            grad_a += b * sum_y - a * deaths
            grad_b += -(b * sum_yy - a * sum_y)
            h_aa += -deaths
            h_ab += sum_y
            h_bb += -sum_yy
        info[active, 0, 0], info[active, 0, 1] = -h_aa[active], -h_ab[active]
        info[active, 1, 0], info[active, 1, 1] = -h_ab[active], -h_bb[active]
        inv = symmetric_inverse(info)
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
    return a, b, info, current, converged, center, spread


# -- thresholds, goodness of fit, the choice ---------------------------------------------------


def _first_at_time(s: SortedRows) -> NDArray[np.bool_]:
    """Per sorted row: an event that is the unit's first row at its duration (distinct event times)."""
    n = s.t.size
    first = np.ones(n, dtype=bool)
    if n > 1:
        first[1:] = (s.t[1:] != s.t[:-1]) | (s.unit[1:] != s.unit[:-1])
    return first & s.event


def pot_thresholds(s: SortedRows, units: NDArray[np.intp]) -> NDArray[np.float64]:
    """Per unit: the highest KM quantile of ``POT_LEVELS`` with at least ``POT_MIN_EVENTS`` distinct
    finished durations beyond it (NaN where none has)."""
    out = np.full(units.size, np.nan)
    if not s.t.size or not units.size:
        return out
    flags = _first_at_time(s).astype(np.int64)
    cum = np.cumsum(flags)
    total = cum[s.ends[units] - 1] - np.where(s.starts[units] > 0, cum[np.maximum(s.starts[units] - 1, 0)], 0)
    for level in reversed(POT_LEVELS):  # the highest level that qualifies wins: write the lowest first
        rows, known = km_quantile_rows(s, level)
        u = rows_to_times(s, rows, known)[units]
        last = s.rows_at(units, np.where(np.isfinite(u), u, -np.inf))
        upto = np.where(last >= s.starts[units], cum[np.maximum(last, 0)], 0) - np.where(
            s.starts[units] > 0, cum[np.maximum(s.starts[units] - 1, 0)], 0
        )
        ok = np.isfinite(u) & (total - upto >= POT_MIN_EVENTS)
        out = np.where(ok, u, out)
    return out


def ks_distances(s: SortedRows, fit: TailFit) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per entry of ``fit``: the tail KS distance max |S_model(t)/S_model(u) − S_KM(t)/S_KM(u)| over the
    finished runs beyond its threshold u (before and after each drop of the KM curve), and its
    acceptance limit 1.36/√(runs beyond u). NaN where no run lies beyond u."""
    n = fit.size
    units, u = fit.unit, fit.threshold
    at_u = s.rows_at(units, u)
    s_km_u = np.where(at_u >= s.starts[units], s.survival[np.maximum(at_u, 0)], 1.0)
    runs = (s.ends[units] - 1 - at_u).astype(np.float64)
    entry = np.full(s.starts.size, -1, dtype=np.intp)
    entry[units] = np.arange(n)
    row_entry = entry[s.unit]
    rows = np.flatnonzero((row_entry >= 0) & s.event)
    rows = rows[s.t[rows] > u[row_entry[rows]]]
    distance = np.zeros(n)
    if rows.size:
        e = row_entry[rows]
        after = s.survival[rows] / s_km_u[e]
        before = np.where(rows > s.starts[s.unit[rows]], s.survival[np.maximum(rows - 1, 0)], 1.0) / s_km_u[e]
        model_u = fit.zeta if fit.family == "gpd" else fit.survival(np.arange(n), u)
        with np.errstate(divide="ignore", invalid="ignore"):
            model = fit.survival(e, s.t[rows]) / np.maximum(model_u[e], 1e-300)
        gap = np.maximum(np.abs(model - after), np.abs(model - before))
        np.maximum.at(distance, e, np.nan_to_num(gap, nan=np.inf))
    bad = (s_km_u <= 0) | (runs <= 0)
    with np.errstate(divide="ignore"):
        critical = KS_CRITICAL / np.sqrt(runs)
    return np.where(bad, np.nan, distance), np.where(bad, np.nan, critical)


@dataclass(frozen=True, eq=False)
class Tails:
    """Per unit: the tail chosen for it (the simplest accepted), or none; and every family's fits."""

    fits: dict[str, TailFit]
    family: NDArray[np.object_]  # per unit: "lognormal" | "weibull" | "gpd" | "mixture" | "" (none accepted)
    local: NDArray[np.intp]  # per unit: its entry in fits[family] (-1: none)
    threshold: NDArray[np.float64]  # per unit: u, where the test (and a POT model) starts
    distance: NDArray[np.float64]  # per unit: the chosen model's tail KS distance
    critical: NDArray[np.float64]

    @classmethod
    def empty(cls, n_units: int) -> Tails:
        nan = np.full(n_units, np.nan)
        return cls({}, np.full(n_units, "", dtype=object), np.full(n_units, -1, np.intp), nan, nan.copy(), nan.copy())

    @property
    def chosen(self) -> NDArray[np.bool_]:
        return np.asarray(self.local >= 0, dtype=bool)

    def _each(self, units: NDArray[np.intp]) -> list[tuple[TailFit, NDArray[np.intp], NDArray[np.intp]]]:
        """Per family: its fit, the positions in ``units`` it answers for, and their entries."""
        out = []
        for name, fit in self.fits.items():
            pos = np.flatnonzero(self.family[units] == name)
            if pos.size:
                out.append((fit, pos, self.local[units[pos]]))
        return out

    def rate(self, units: NDArray[np.intp], limits: NDArray[np.float64], z: float) -> tuple[NDArray[np.float64], ...]:
        """(point, low, high) of P(T > limit) per (unit, limit) pair under the unit's tail; NaN where it has
        none, and for a POT tail at or below its threshold (the KM curve answers there)."""
        point, lo, hi = (np.full(units.size, np.nan) for _ in range(3))
        for fit, pos, idx in self._each(units):
            lim = limits[pos]
            valid = np.isfinite(lim) & ((fit.family != "gpd") | (lim > fit.threshold[idx]))
            if valid.any():
                k = np.flatnonzero(valid)
                point[pos[k]], lo[pos[k]], hi[pos[k]] = fit.rate(idx[k], lim[k], z)
        return point, lo, hi

    def quantile(self, units: NDArray[np.intp], q: float, z: float | None = None) -> NDArray[np.float64]:
        """The q-quantile under each unit's tail (``z``: its one-sided upper confidence bound instead)."""
        out = np.full(units.size, np.nan)
        for fit, pos, idx in self._each(units):
            out[pos] = fit.quantile(idx, q) if z is None else fit.quantile_upper(idx, q, z)
        return out


def _location_scale(s: SortedRows, units: NDArray[np.intp], u: NDArray[np.float64]) -> list[TailFit]:
    local = np.full(s.starts.size, -1, dtype=np.intp)
    local[units] = np.arange(units.size)
    rows = local[s.unit] >= 0
    unit = local[s.unit[rows]]
    y = np.log(np.maximum(s.t[rows], 1e-3))
    out: list[TailFit] = []
    for kind in (LogNormalFit, WeibullFit):
        a, b, info, ll, converged, center, spread = fit_location_scale(kind.family, y, s.event[rows], unit, units.size)
        converged = np.asarray(converged, dtype=bool)
        cov = symmetric_inverse(info)
        cov[~((cov[:, 0, 0] > 0) & (cov[:, 1, 1] > 0))] = np.nan
        out.append(
            kind(units, np.stack([a, b], axis=1), cov, ll, converged, u, np.ones(units.size), np.zeros(units.size),
                 center=center, spread=spread)
        )  # fmt: skip
    return out


def _gpd(s: SortedRows, units: NDArray[np.intp], u: NDArray[np.float64], greenwood: NDArray[np.float64]) -> GpdFit | None:
    at_u = s.rows_at(units, u)
    before = at_u < s.starts[units]
    zeta = np.where(before, 1.0, s.survival[np.maximum(at_u, 0)])
    zvar = np.where(before, 0.0, greenwood[np.maximum(at_u, 0)] if greenwood.size else 0.0)
    local = np.full(s.starts.size, -1, dtype=np.intp)
    local[units] = np.arange(units.size)
    rows = np.flatnonzero(local[s.unit] >= 0)
    rows = rows[s.t[rows] > u[local[s.unit[rows]]]]
    unit = local[s.unit[rows]]
    events = np.bincount(unit, weights=s.event[rows].astype(np.float64), minlength=units.size)
    keep = (events >= GPD_MIN_EVENTS) & (zeta > 0) & np.isfinite(zvar)
    if not keep.any():
        return None
    params, cov, converged, ll = fit_gpd(unit, s.t[rows] - u[unit], s.event[rows], units.size)
    return GpdFit(units, params, cov, ll, converged & keep, u, zeta, zvar)


def _mixture(s: SortedRows, units: NDArray[np.intp], u: NDArray[np.float64]) -> MixtureFit:
    local = np.full(s.starts.size, -1, dtype=np.intp)
    local[units] = np.arange(units.size)
    rows = local[s.unit] >= 0
    y = np.log(np.maximum(s.t[rows], 1e-3))
    params, cov, found, ll = fit_mixture(y, s.event[rows], local[s.unit[rows]], units.size)
    return MixtureFit(units, params, cov, ll, found, u, np.ones(units.size), np.zeros(units.size))


def fit_unit_tails(s: SortedRows, wanted: NDArray[np.bool_], greenwood: NDArray[np.float64] | None = None) -> Tails:
    """The simplest accepted tail of each ``wanted`` unit with at least ``TAIL_MIN_EVENTS`` finished runs."""
    if greenwood is None and s.t.size and s.greenwood.size != s.t.size:  # km_sorted(greenwood=False), a fit's sorted_
        raise ValueError("the rows carry no Greenwood sums: sort them with greenwood=True")
    n_units = s.starts.size
    tails = Tails.empty(n_units)
    events = np.add.reduceat(s.event.astype(np.int64), s.starts) if s.t.size else np.zeros(n_units, np.int64)
    events = np.where(s.sizes > 0, events, 0)
    units = np.flatnonzero(wanted & (events >= TAIL_MIN_EVENTS))
    if not units.size:
        return tails
    u = pot_thresholds(s, units)
    median = rows_to_times(s, *km_quantile_rows(s, 0.5))[units]
    u = np.where(np.isfinite(u), u, np.where(np.isfinite(median), median, 0.0))
    tails.threshold[units] = u
    # the simplest first: a family is fitted only for the units nothing simpler passed
    local = np.full(n_units, -1, dtype=np.intp)
    local[units] = np.arange(units.size)
    fits: list[TailFit] = _location_scale(s, units, u)
    lognormal, weibull = fits[0], fits[1]
    prefer_weibull = np.nan_to_num(weibull.loglik, nan=-np.inf) > np.nan_to_num(lognormal.loglik, nan=-np.inf)
    for fit, first in ((weibull, prefer_weibull), (lognormal, ~prefer_weibull), (weibull, ~prefer_weibull),
                       (lognormal, prefer_weibull)):  # fmt: skip
        _accept(s, fit, np.where(first & (tails.local[units] < 0), np.inf, -np.inf), tails)
    left = units[tails.local[units] < 0]
    if left.size:
        gpd = _gpd(s, left, u[local[left]], s.greenwood if greenwood is None else greenwood)
        if gpd is not None:
            _accept(s, gpd, np.full(left.size, np.inf), tails)
            fits.append(gpd)
    left = units[tails.local[units] < 0]
    if left.size:
        mixture = _mixture(s, left, u[local[left]])
        _accept(s, mixture, np.full(left.size, np.inf), tails)
        fits.append(mixture)
    tails.fits.update({fit.family: fit for fit in fits})
    return tails


def _accept(s: SortedRows, fit: TailFit, best: NDArray[np.float64], tails: Tails) -> None:
    """Make ``fit`` the unit's tail where it is accepted and closer than the best so far (same order as ``fit``)."""
    distance, critical = ks_distances(s, fit)
    ok = fit.converged & np.isfinite(distance) & (distance <= critical) & (distance < best)
    idx = np.flatnonzero(ok)
    units = fit.unit[idx]
    best[idx] = distance[idx]
    tails.family[units] = fit.family
    tails.local[units] = idx
    tails.distance[units] = distance[idx]
    tails.critical[units] = critical[idx]
