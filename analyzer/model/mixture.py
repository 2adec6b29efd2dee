"""A two-component log-normal mixture (warm and cold runs), censored MLE by EM for many units at once.

CI durations are often bimodal: a cached run and one that pulls images or rebuilds. One
log-normal fits neither hump's tail; the mixture w·LN(m₁, s₁) + (1 − w)·LN(m₂, s₂) does. The
expectation–maximization algorithm handles right censoring exactly: a run stopped at c
contributes, per component, the first two moments of a normal truncated below at c (E[Y] =
m + sλ, E[Y²] = m² + s² + s(c + m)λ, λ the inverse Mills ratio). Three starts per unit (the
log durations split at their 50th, 70th and 85th percentiles) keep the best likelihood. The
parameters' covariance (for the intervals) is the inverse of the numerically differentiated
observed information, on (logit w, m₁, log s₁, m₂, log s₂).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from analyzer.model import normal
from analyzer.model.tailbase import TailFit, sum_by, symmetric_inverse

_ITERATIONS = 120
_MIN_SD = 0.005  # a component narrower than this (0.5 % on the duration scale) is degenerate
_LOG_SQRT_2PI = 0.5 * float(np.log(2 * np.pi))
SPLITS = (0.5, 0.7, 0.85)


@dataclass(frozen=True, eq=False)
class MixtureFit(TailFit):
    family = "mixture"
    n_params = 5

    def _survival(self, idx: NDArray[np.intp], t: NDArray[np.float64], p: NDArray[np.float64]) -> NDArray[np.float64]:
        logt = np.log(np.maximum(t, 1e-9))
        with np.errstate(over="ignore", invalid="ignore"):
            w = normal.expit(p[:, 0])
            s1 = normal.ndtr(-(logt - p[:, 1]) / np.exp(p[:, 2]))
            s2 = normal.ndtr(-(logt - p[:, 3]) / np.exp(p[:, 4]))
        return np.asarray(w * s1 + (1 - w) * s2, dtype=np.float64)

    def _quantile(self, idx: NDArray[np.intp], q: float, p: NDArray[np.float64]) -> NDArray[np.float64]:
        """By bisection on log t (S is monotone), 50 halvings: far below a second's resolution."""
        target = 1.0 - q
        with np.errstate(over="ignore", invalid="ignore"):
            sd = np.maximum(np.exp(p[:, 2]), np.exp(p[:, 4]))
        lo = np.minimum(p[:, 1], p[:, 3]) - 12 * sd
        hi = np.maximum(p[:, 1], p[:, 3]) + 12 * sd
        ok = np.isfinite(lo) & np.isfinite(hi)
        lo, hi = np.where(ok, lo, 0.0), np.where(ok, hi, 1.0)
        for _ in range(50):
            mid = (lo + hi) / 2
            above = self._survival(idx, np.exp(mid), p) > target
            lo, hi = np.where(above, mid, lo), np.where(above, hi, mid)
        return np.asarray(np.where(ok, np.exp((lo + hi) / 2), np.nan), dtype=np.float64)


def _loglik_rows(
    y: NDArray[np.float64], event: NDArray[np.bool_], unit: NDArray[np.intp], p: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Per row: the mixture's log-likelihood contribution (log density of log t, or log survival) given
    per-unit parameters ``p`` (logit w, m₁, log s₁, m₂, log s₂) and each row's ``unit``.

    Every function of the parameters alone is taken per unit, then spread to the rows; the log density
    only where a run finished and the log survival only where it was censored (the same numbers,
    element by element, as computing both everywhere and choosing)."""
    out = np.empty(y.size)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        lw, l1w = normal.log_expit(p[:, 0]), normal.log_expit(-p[:, 0])
        sd1, sd2 = np.exp(p[:, 2]), np.exp(p[:, 4])
        log_sd1, log_sd2 = np.log(sd1), np.log(sd2)
        for rows, finished in ((np.flatnonzero(event), True), (np.flatnonzero(~event), False)):
            if not rows.size:
                continue
            u = unit[rows]
            yy = y[rows]
            z1 = (yy - p[u, 1]) / sd1[u]
            z2 = (yy - p[u, 3]) / sd2[u]
            if finished:
                a = -0.5 * z1 * z1 - _LOG_SQRT_2PI - log_sd1[u]
                b = -0.5 * z2 * z2 - _LOG_SQRT_2PI - log_sd2[u]
            else:
                a, b = normal.log_ndtr(-z1), normal.log_ndtr(-z2)
            out[rows] = np.logaddexp(lw[u] + a, l1w[u] + b)
    return out


def _em(
    y: NDArray[np.float64], event: NDArray[np.bool_], unit: NDArray[np.intp], n: int, start: NDArray[np.float64],
    weight: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """EM from ``start`` (n, 5: w, m₁, s₁, m₂, s₂); returns the parameters (same layout) and log-likelihoods.
    A row stands for ``weight`` runs with the same duration and outcome.

    The rows of the units still iterating are kept as compact arrays, cut again only when a unit
    converges; the truncated-normal terms are computed for the censored rows only."""
    w, m1, s1, m2, s2 = (start[:, j].copy() for j in range(5))
    count = sum_by(unit, weight, n)
    ll_old = np.full(n, -np.inf)
    active = np.ones(n, dtype=bool)
    uu, yy, cc, ww = unit, y, ~event, weight
    ci = np.flatnonzero(cc)
    yc, yy2 = yy[ci], yy * yy
    for _ in range(_ITERATIONS):
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            # functions of a unit's parameters are taken per unit and spread to its rows (the same
            # numbers as taking them per row, element by element, at a fraction of the cost)
            log_s1, log_s2, log_w, log_1mw = np.log(s1), np.log(s2), np.log(w), np.log1p(-w)
            mu1, sd1, mu2, sd2 = m1[uu], s1[uu], m2[uu], s2[uu]
            z1 = yy - mu1
            z1 /= sd1
            z2 = yy - mu2
            z2 /= sd2
            a = -0.5 * z1
            a *= z1
            a -= _LOG_SQRT_2PI
            a -= log_s1[uu]
            b = -0.5 * z2
            b *= z2
            b -= _LOG_SQRT_2PI
            b -= log_s2[uu]
            zc1, zc2 = z1[ci], z2[ci]
            l1, l2 = normal.log_ndtr(-zc1), normal.log_ndtr(-zc2)
            a[ci], b[ci] = l1, l2
            a += log_w[uu]
            b += log_1mw[uu]
            total = np.logaddexp(a, b)
            a -= total
            r1 = np.exp(a, out=a)  # (``a`` is not used again: r1 takes its memory)
            r2 = 1.0 - r1  # before r1 and total are weighted below
            # per component: E[y] and E[y²] of each row (a censored row: the truncated normal's moments)
            mills1 = np.exp(-0.5 * zc1 * zc1 - _LOG_SQRT_2PI - l1)
            mills2 = np.exp(-0.5 * zc2 * zc2 - _LOG_SQRT_2PI - l2)
            mc1, sc1, mc2, sc2 = mu1[ci], sd1[ci], mu2[ci], sd2[ci]
            e1, e2 = yy.copy(), yy.copy()
            e1[ci] = mc1 + sc1 * mills1
            e2[ci] = mc2 + sc2 * mills2
            q1, q2 = yy2.copy(), yy2.copy()
            q1[ci] = mc1**2 + sc1**2 + sc1 * (yc + mc1) * mills1
            q2[ci] = mc2**2 + sc2**2 + sc2 * (yc + mc2) * mills2
            r1 *= ww  # each row's share of its runs
            r2 *= ww
            total *= ww
            e1 *= r1
            e2 *= r2
            q1 *= r1
            q2 *= r2
        ll = sum_by(uu, total, n)
        n1, n2 = sum_by(uu, r1, n), sum_by(uu, r2, n)
        with np.errstate(divide="ignore", invalid="ignore"):
            new_m1, new_m2 = sum_by(uu, e1, n) / n1, sum_by(uu, e2, n) / n2
            new_s1 = np.sqrt(np.maximum(sum_by(uu, q1, n) / n1 - new_m1**2, _MIN_SD**2))
            new_s2 = np.sqrt(np.maximum(sum_by(uu, q2, n) / n2 - new_m2**2, _MIN_SD**2))
            new_w = np.clip(n1 / np.maximum(count, 1.0), 1e-6, 1 - 1e-6)
        good = active & np.isfinite(new_m1) & np.isfinite(new_m2) & np.isfinite(new_s1) & np.isfinite(new_s2)
        w, m1, s1 = np.where(good, new_w, w), np.where(good, new_m1, m1), np.where(good, new_s1, s1)
        m2, s2 = np.where(good, new_m2, m2), np.where(good, new_s2, s2)
        done = active & (~good | (np.abs(ll - ll_old) <= 1e-7 * np.maximum(1.0, np.abs(ll))))
        ll_old = np.where(active, ll, ll_old)
        active &= ~done
        if not active.any():
            break
        if done.any():  # the rows of the units still iterating, in the same order
            keep = active[uu]
            uu, yy, cc, ww = uu[keep], yy[keep], cc[keep], ww[keep]
            ci = np.flatnonzero(cc)
            yc, yy2 = yy[ci], yy * yy
    params = np.stack([w, m1, s1, m2, s2], axis=1)
    final = sum_by(unit, weight * _loglik_rows(y, event, unit, _packed(params)), n)
    return params, final


def _packed(p: NDArray[np.float64]) -> NDArray[np.float64]:
    """(w, m₁, s₁, m₂, s₂) → (logit w, m₁, log s₁, m₂, log s₂)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.stack([normal.logit(p[:, 0]), p[:, 1], np.log(p[:, 2]), p[:, 3], np.log(p[:, 4])], axis=1)


def _starts(y: NDArray[np.float64], unit: NDArray[np.intp], n: int, split: float) -> NDArray[np.float64]:
    """A start per unit: the log durations (sorted within each unit) split at their ``split`` quantile."""
    order = np.lexsort((y, unit))
    ys, us = y[order], unit[order]
    sizes = np.bincount(us, minlength=n)
    starts = np.cumsum(sizes) - sizes
    cut = ys[np.minimum(starts + np.floor(split * np.maximum(sizes - 1, 0)).astype(np.intp), max(ys.size - 1, 0))]
    low = ys <= cut[us]
    out = np.full((n, 5), np.nan)
    for j, mask in ((1, low), (3, ~low)):
        k = np.bincount(us, weights=mask.astype(np.float64), minlength=n)
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = np.bincount(us, weights=np.where(mask, ys, 0.0), minlength=n) / k
            var = np.bincount(us, weights=np.where(mask, (ys - mean[us]) ** 2, 0.0), minlength=n) / k
        out[:, j] = np.where(k >= 3, mean, np.nan)
        out[:, j + 1] = np.maximum(np.sqrt(var), 0.02)
    out[:, 0] = split
    return out


def fit_mixture(
    y: NDArray[np.float64], event: NDArray[np.bool_], unit: NDArray[np.intp], n: int
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.bool_], NDArray[np.float64]]:
    """Censored MLE of the mixture per unit from log durations ``y``.

    Returns the packed parameters (n, 5: logit w, m₁, log s₁, m₂, log s₂), their covariance
    (n, 5, 5; NaN where the information is singular), whether a fit was found, and the
    log-likelihoods (of the log durations).
    """
    # every start of every unit at once: start j of unit u is the virtual unit j·n + u
    starts = [_starts(y, unit, n, split) for split in SPLITS]
    usable = np.concatenate([np.all(np.isfinite(st), axis=1) for st in starts])
    stacked = np.concatenate(starts)
    stacked = np.where(usable[:, None], stacked, np.array([0.5, 0.0, 1.0, 1.0, 1.0]))
    k = len(SPLITS)
    # runs of one unit with the same duration and outcome enter once, weighted by their number: the
    # same likelihood, about half the rows on generated histories and fewer on whole-second logs
    y, event, unit, weight = _distinct(y, event, unit)
    params, ll = _em(
        np.tile(y, k), np.tile(event, k), np.concatenate([unit + j * n for j in range(k)]), k * n, stacked,
        np.tile(weight, k),
    )
    ll = np.where(usable & np.isfinite(ll), ll, -np.inf).reshape(k, n)
    pick = np.argmax(ll, axis=0)
    best_ll = ll[pick, np.arange(n)]
    best = params.reshape(k, n, 5)[pick, np.arange(n)]
    found = np.isfinite(best_ll)
    packed = np.where(found[:, None], _packed(np.where(found[:, None], best, 0.5)), np.nan)
    cov = symmetric_inverse(_information(y, event, unit, n, packed, found, weight))
    diagonal = np.einsum("nii->ni", cov)
    singular = ~np.all(np.isfinite(cov), axis=(1, 2)) | np.any(diagonal <= 0, axis=1)
    cov[singular] = np.nan
    return packed, cov, found, best_ll


def _distinct(
    y: NDArray[np.float64], event: NDArray[np.bool_], unit: NDArray[np.intp]
) -> tuple[NDArray[np.float64], NDArray[np.bool_], NDArray[np.intp], NDArray[np.float64]]:
    """Rows with the unit, log duration and outcome of the row before them folded into it: (y, event,
    unit, weight = how many rows each stands for). Rows come sorted by unit and duration, so equal
    rows are neighbours (elsewhere they are only fewer)."""
    if y.size < 2:
        return y, event, unit, np.ones(y.size)
    new = np.ones(y.size, dtype=bool)
    new[1:] = (y[1:] != y[:-1]) | (event[1:] != event[:-1]) | (unit[1:] != unit[:-1])
    first = np.flatnonzero(new)
    weight = np.diff(np.append(first, y.size)).astype(np.float64)
    return y[first], event[first], unit[first], weight


def _information(
    y: NDArray[np.float64], event: NDArray[np.bool_], unit: NDArray[np.intp], n: int, p: NDArray[np.float64],
    found: NDArray[np.bool_], weight: NDArray[np.float64],
) -> NDArray[np.float64]:  # fmt: skip
    """Observed information (minus the Hessian of the log-likelihood) by central differences, per unit."""
    k = 5
    h = 1e-4 * np.maximum(1.0, np.abs(np.nan_to_num(p)))
    safe = np.where(found[:, None], p, 0.0)

    def ll(q: NDArray[np.float64]) -> NDArray[np.float64]:
        return sum_by(unit, weight * _loglik_rows(y, event, unit, q), n)

    base = ll(safe)
    out = np.zeros((n, k, k))
    for i in range(k):
        for j in range(i, k):
            if i == j:
                up, down = safe.copy(), safe.copy()
                up[:, i] += h[:, i]
                down[:, i] -= h[:, i]
                out[:, i, i] = -(ll(up) - 2 * base + ll(down)) / h[:, i] ** 2
            else:
                pp, pm, mp, mm = safe.copy(), safe.copy(), safe.copy(), safe.copy()
                pp[:, i] += h[:, i]
                pp[:, j] += h[:, j]
                pm[:, i] += h[:, i]
                pm[:, j] -= h[:, j]
                mp[:, i] -= h[:, i]
                mp[:, j] += h[:, j]
                mm[:, i] -= h[:, i]
                mm[:, j] -= h[:, j]
                out[:, i, j] = out[:, j, i] = -(ll(pp) - ll(pm) - ll(mp) + ll(mm)) / (4 * h[:, i] * h[:, j])
    out[~found] = np.nan
    return out
