"""Estimator research for limit advice: pure numpy/scipy functions on arrays, one unit at a time.

The research record behind design D15, kept so ``advice_compare.py`` can replay the alternatives
it compared. The production estimators are the package's, vectorized over units:
``analyzer.model.rates`` (kill rates and intervals), ``analyzer.model.tails`` / ``gpd`` /
``mixture`` (the tails and their test), ``analyzer.model.hangs`` and ``analyzer.advise.policy``
(verdict and limit rule); ``tests/test_advice_estimators.py`` checks them against reference
optimizers. Changes to the advice go there, not here.

Every function takes one unit's observations as arrays — ``durations`` (seconds), ``censored``
(True: the run lasted *at least* that long: a limit fired, it was cancelled, its runner was lost)
— and limits in seconds. Nothing here knows about stores, frames or the command line.
``benchmarks/advice_design.py`` builds the verdict and the limit rule on these functions, and
``benchmarks/advice_compare.py`` scores designs against the truth of ``benchmarks/advice_histories.py``.

The pieces:

(a) **Judging a limit by its kill rate.** ``kill_interval`` estimates P(T > limit) with a
    two-sided confidence interval, three ways: Kaplan–Meier with Greenwood's variance on the
    log(−log) scale (``"loglog"``), Kaplan–Meier with an effective-sample-size Clopper–Pearson
    (beta) interval (``"km-beta"``: n_eff = S(1 − S)/Var_Greenwood, Dorey & Korn's idea, which
    stays sensible when S is 0 or 1), and an exact binomial on the runs whose fate at the limit is
    known (``"binomial"``: runs that finished before it or lasted at least to it).
(b) **Raising beyond the data.** ``fit_tail`` fits censored maximum-likelihood models — a
    generalized Pareto tail above a high threshold (peaks over threshold, ``"gpd"``, threshold by
    ``pot_threshold``), a two-component log-normal mixture (``"mixture"``), log-normal and Weibull
    — with delta-method intervals for the kill rate and the quantile; ``choose_tail`` picks by a
    tail Kolmogorov–Smirnov distance: the largest gap between the model's conditional survival
    S(t)/S(u) and the Kaplan–Meier one at finished runs above the threshold u, accepted below
    1.36/√(runs beyond u) (the 5 % KS critical value).
(c) **Rounding.** ``round_limit`` / ``next_limit``: the values people write (whole minutes for
    ``timeout-minutes``; 5/10/30/60-second steps for tool limits), which the limit rule scans.
(d) **Hangs.** ``hung_runs``: runs a limit ended after a long silence (≥ ``silence_s``, or ≥
    ``gap_factor`` × the longest silence of a typical finished run) are set aside before fitting;
    ``tool_hung`` is today's rule, for comparison.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import optimize, special, stats

FloatArray = NDArray[np.float64]
KM_SUPPORT = 5  # a Kaplan–Meier answer at t rests on the runs that reached t; fewer: use the tail
KS_CRITICAL = 1.36  # two-sided 5 % Kolmogorov–Smirnov critical value × √n
_EPS = 1e-12


# -- Kaplan–Meier --------------------------------------------------------------------------------


@dataclass(frozen=True)
class KM:
    """Kaplan–Meier curve: distinct times, S just after each, Greenwood's Σ d/(n(n−d)), runs at risk."""

    times: FloatArray
    survival: FloatArray
    greenwood: FloatArray
    at_risk: FloatArray
    n: int

    def index(self, t: float) -> int:
        """Position of the last time ≤ t (−1: before the first)."""
        return int(np.searchsorted(self.times, t, side="right")) - 1

    def s(self, t: float) -> float:
        i = self.index(t)
        return 1.0 if i < 0 else float(self.survival[i])

    def quantile(self, q: float) -> float:
        """Smallest t with 1 − S(t) ≥ q; NaN when the data cannot tell (beyond the last finished run)."""
        pos = int(np.searchsorted(1.0 - self.survival, q - 1e-9, side="left"))
        return float(self.times[pos]) if pos < self.times.size else math.nan

    def reaching(self, t: float) -> int:
        """Runs that lasted at least ``t`` (what an answer at t rests on)."""
        pos = int(np.searchsorted(self.times, t, side="left"))
        return 0 if pos >= self.times.size else int(self.at_risk[pos])


def kaplan_meier(durations: ArrayLike, censored: ArrayLike) -> KM:
    """Product-limit estimate; at tied times events come before censorings."""
    t = np.asarray(durations, dtype=float)
    c = np.asarray(censored, dtype=bool)
    if t.size == 0:
        empty = np.empty(0)
        return KM(empty, empty, empty, empty, 0)
    order = np.lexsort((c, t))
    t, event = t[order], (~c[order]).astype(float)
    times, first = np.unique(t, return_index=True)
    deaths = np.add.reduceat(event, first)
    at_risk = (t.size - first).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        survival = np.cumprod(1.0 - deaths / at_risk)
        term = np.where(at_risk > deaths, deaths / (at_risk * (at_risk - deaths)), np.inf * (deaths > 0))
    return KM(times, survival, np.cumsum(np.nan_to_num(term, nan=0.0)), at_risk, int(t.size))


def _loglog(s: float, greenwood: float, z: float) -> tuple[float, float]:
    if s >= 1.0:
        return 1.0, 1.0
    if s <= 0.0 or not math.isfinite(greenwood):
        return 0.0, 0.0
    spread = z * math.sqrt(greenwood) / abs(math.log(s))
    return s ** math.exp(spread), s ** math.exp(-spread)


def _beta_interval(x: float, n: float, level: float) -> tuple[float, float]:
    """Clopper–Pearson for x successes of n (non-integer x, n allowed: beta quantiles)."""
    a = (1 - level) / 2
    lo = 0.0 if x <= 0 else float(stats.beta.ppf(a, x, n - x + 1))
    hi = 1.0 if x >= n else float(stats.beta.ppf(1 - a, x + 1, n - x))
    return lo, hi


def decided(durations: ArrayLike, censored: ArrayLike, limit: float) -> tuple[int, int]:
    """Runs whose fate at ``limit`` is known, and how many of them lasted at least that long."""
    t = np.asarray(durations, dtype=float)
    c = np.asarray(censored, dtype=bool)
    reached = t >= limit - 1e-6
    known = reached | ~c
    return int(reached.sum()), int(known.sum())


@dataclass(frozen=True)
class Rate:
    """An estimated kill rate P(T > limit) with a two-sided interval, and what it rests on."""

    point: float
    lo: float
    hi: float
    basis: str  # km | binomial | tail:<model> | unknown

    @property
    def known(self) -> bool:
        return math.isfinite(self.point)


def kill_interval(durations: ArrayLike, censored: ArrayLike, limit: float, *, level: float = 0.90, method: str = "loglog",
                  km: KM | None = None) -> Rate:  # fmt: skip
    """P(T > limit) with a ``level`` two-sided interval (methods: loglog, km-beta, binomial)."""
    if method == "binomial":
        k, n = decided(durations, censored, limit)
        if n == 0:
            return Rate(math.nan, math.nan, math.nan, "unknown")
        lo, hi = _beta_interval(k, n, level)
        return Rate(k / n, lo, hi, "binomial")
    km = km or kaplan_meier(durations, censored)
    i = km.index(limit)
    s = 1.0 if i < 0 else float(km.survival[i])
    gw = 0.0 if i < 0 else float(km.greenwood[i])
    z = float(special.ndtri(0.5 + level / 2))
    if method == "loglog":
        lo, hi = _loglog(s, gw, z)
        if s <= 0.0:  # every run finished before the limit: the exact binomial's upper end
            _, n = decided(durations, censored, limit)
            lo, hi = 0.0, _beta_interval(0, max(n, 1), level)[1]
        return Rate(s, lo, hi, "km")
    if method == "km-beta":
        var = s * s * gw
        if 0.0 < s < 1.0 and var > 0 and math.isfinite(var):
            n_eff = s * (1 - s) / var
        else:
            n_eff = float(max(decided(durations, censored, limit)[1], 1))
        lo, hi = _beta_interval(s * n_eff, n_eff, level)
        return Rate(s, lo, hi, "km")
    raise ValueError(f"unknown interval method {method!r}")


def quantile_interval(km: KM, q: float, *, level: float = 0.90) -> tuple[float, float]:
    """The q-quantile's interval by inverting the pointwise log-log band (NaN where unbounded)."""
    z = float(special.ndtri(0.5 + level / 2))
    lo_band = np.empty(km.times.size)
    hi_band = np.empty(km.times.size)
    for i, (s, gw) in enumerate(zip(km.survival, km.greenwood, strict=True)):
        lo_band[i], hi_band[i] = _loglog(float(s), float(gw), z)
    target = 1 - q + 1e-9
    first_lo = np.flatnonzero(lo_band <= target)
    first_hi = np.flatnonzero(hi_band <= target)
    lo = float(km.times[first_lo[0]]) if first_lo.size else math.nan
    hi = float(km.times[first_hi[0]]) if first_hi.size else math.nan
    return lo, hi


# -- parametric tails ----------------------------------------------------------------------------


@dataclass
class TailFit:
    """A censored maximum-likelihood model of the durations (whole, or above ``threshold`` for POT)."""

    model: str  # gpd | mixture | lognormal | weibull
    params: FloatArray
    cov: FloatArray  # covariance of params (inverse observed information; NaN when singular)
    loglik: float
    threshold: float  # u: where the tail comparison (and, for POT, the model) starts
    zeta: float  # KM S(u): for POT the model's mass above u
    zeta_var_log: float  # Greenwood variance of log S(u)
    distance: float = math.nan  # tail KS distance to the KM curve above u
    critical: float = math.nan  # its acceptance limit, 1.36/√(runs beyond u)
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def accepted(self) -> bool:
        return bool(self.distance <= self.critical)

    def survival(self, t: ArrayLike, params: FloatArray | None = None) -> FloatArray:
        return _survival(self.model, self.params if params is None else params, np.asarray(t, dtype=float), self.threshold, self.zeta)

    def quantile(self, q: float, params: FloatArray | None = None) -> float:
        """The model's q-quantile (NaN where it cannot say: below a POT threshold, or out of range)."""
        try:
            return self._quantile(q, self.params if params is None else params)
        except (OverflowError, ValueError, ZeroDivisionError):
            return math.nan

    def _quantile(self, q: float, p: FloatArray) -> float:
        target = 1 - q
        if self.model == "lognormal":
            return float(math.exp(p[0] + math.exp(p[1]) * special.ndtri(q)))
        if self.model == "weibull":
            return float(math.exp(p[0]) * (-math.log(target)) ** (1 / math.exp(p[1])))
        if self.model == "gpd":
            if target >= self.zeta:
                return math.nan  # below the threshold: the KM curve answers
            xi, sigma = float(p[0]), math.exp(float(p[1]))
            ratio = self.zeta / target
            excess = sigma * math.log(ratio) if abs(xi) < 1e-9 else sigma / xi * (ratio**xi - 1)
            return self.threshold + excess
        lo, hi = 1e-3, 1e7
        return float(optimize.brentq(lambda t: float(self.survival(t, p)[()]) - target, lo, hi, xtol=1e-4))

    def rate(self, limit: float, *, level: float = 0.90) -> Rate:
        """P(T > limit) under the model with a delta-method interval on the logit scale."""
        s = float(self.survival(limit)[()])
        z = float(special.ndtri(0.5 + level / 2))
        if not 0 < s < 1:  # beyond a bounded tail's end: the interval from models z standard errors away
            lo, hi = self._spread(limit, z)
            return Rate(s, min(s, lo), max(s, hi), f"tail:{self.model}")

        def logit_s(p: FloatArray) -> float:
            v = float(np.clip(self.survival(limit, p)[()], 1e-300, 1 - 1e-16))
            return math.log(v) - math.log1p(-v)

        var = _delta_var(logit_s, self.params, self.cov)
        if self.model == "gpd":
            var += self.zeta_var_log / (1 - s) ** 2  # log S(u) enters log S(limit) additively
        if not math.isfinite(var):
            return Rate(s, math.nan, math.nan, f"tail:{self.model}")
        mid = math.log(s) - math.log1p(-s)
        half = z * math.sqrt(max(var, 0.0))
        return Rate(s, float(special.expit(mid - half)), float(special.expit(mid + half)), f"tail:{self.model}")

    def _spread(self, limit: float, z: float) -> tuple[float, float]:
        """min and max of S(limit) over the parameters z standard errors along each principal axis."""
        if not np.all(np.isfinite(self.cov)):
            return 0.0, 1.0
        values, vectors = np.linalg.eigh(self.cov)
        found = []
        for value, vector in zip(values, vectors.T, strict=True):
            for sign in (-1.0, 1.0):
                moved = self.params + sign * z * math.sqrt(max(float(value), 0.0)) * vector
                found.append(float(np.nan_to_num(self.survival(limit, moved)[()], nan=0.0)))
        return min(found), max(found)

    def quantile_upper(self, q: float, *, level: float = 0.90) -> float:
        """One-sided (1 + level)/2 upper confidence bound of the q-quantile (delta method on its log)."""
        try:
            value = self.quantile(q)
            if not math.isfinite(value):
                return math.nan
            z = float(special.ndtri(0.5 + level / 2))
            var = _delta_var(lambda p: math.log(max(self.quantile(q, p), 1e-9)), self.params, self.cov)
            if self.model == "gpd":
                slope = _gpd_dlogq_dlogzeta(self, q)
                var += slope**2 * self.zeta_var_log
            return value * math.exp(min(z * math.sqrt(var), 50.0)) if math.isfinite(var) else math.nan
        except (OverflowError, ValueError, ZeroDivisionError):
            return math.nan


def _gpd_dlogq_dlogzeta(fit: TailFit, q: float) -> float:
    """d log q_q / d log ζ for the POT quantile (how the threshold's mass moves it)."""
    h = 1e-4
    base = fit.quantile(q)
    moved = TailFit(fit.model, fit.params, fit.cov, fit.loglik, fit.threshold, fit.zeta * math.exp(h), 0.0).quantile(q)
    return (math.log(moved) - math.log(base)) / h


def _delta_var(g: Callable[[FloatArray], float], params: FloatArray, cov: FloatArray) -> float:
    if not np.all(np.isfinite(cov)):
        return math.nan
    grad = np.empty(params.size)
    for i in range(params.size):
        h = 1e-5 * max(1.0, abs(float(params[i])))
        up, down = params.copy(), params.copy()
        up[i] += h
        down[i] -= h
        try:
            grad[i] = (g(up) - g(down)) / (2 * h)
        except (ValueError, ZeroDivisionError, OverflowError):
            return math.nan
    return float(grad @ cov @ grad)


def _survival(model: str, p: FloatArray, t: FloatArray, u: float, zeta: float) -> FloatArray:
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        logt = np.log(np.maximum(t, 1e-9))
        if model == "lognormal":
            return np.asarray(special.ndtr(-(logt - p[0]) / math.exp(p[1])), dtype=float)
        if model == "weibull":
            return np.asarray(np.exp(-np.exp(math.exp(p[1]) * (logt - p[0]))), dtype=float)
        if model == "mixture":
            w = float(special.expit(p[0]))
            s1 = special.ndtr(-(logt - p[1]) / math.exp(p[2]))
            s2 = special.ndtr(-(logt - p[3]) / math.exp(p[4]))
            return np.asarray(w * s1 + (1 - w) * s2, dtype=float)
        if model == "gpd":
            xi, sigma = float(p[0]), math.exp(float(p[1]))
            y = np.maximum(t - u, 0.0)
            base = np.exp(-y / sigma) if abs(xi) < 1e-9 else np.maximum(1 + xi * y / sigma, 0.0) ** (-1 / xi)
            return np.asarray(np.where(t <= u, np.nan, zeta * base), dtype=float)
    raise ValueError(f"unknown model {model!r}")


def _negloglik(model: str, t: FloatArray, event: NDArray[np.bool_], u: float) -> Callable[[FloatArray], float]:
    logt = np.log(np.maximum(t, 1e-9))
    ev, ce = event, ~event

    def lognormal_parts(mu: float, log_s: float) -> tuple[FloatArray, FloatArray]:
        s = math.exp(log_s)
        z = (logt - mu) / s
        return stats.norm.logpdf(z) - log_s - logt, special.log_ndtr(-z)

    def f(p: FloatArray) -> float:
        try:
            with np.errstate(all="ignore"):
                return g(p)
        except (OverflowError, ValueError, ZeroDivisionError):
            return 1e300

    def g(p: FloatArray) -> float:
        if model == "lognormal":
            lf, ls = lognormal_parts(float(p[0]), float(p[1]))
        elif model == "weibull":
            k = math.exp(float(p[1]))
            z = k * (logt - p[0])
            ez = np.exp(np.minimum(z, 700))
            lf, ls = math.log(k) + z - ez - logt, -ez
        elif model == "mixture":
            w = float(special.expit(p[0]))
            f1, s1 = lognormal_parts(float(p[1]), float(p[2]))
            f2, s2 = lognormal_parts(float(p[3]), float(p[4]))
            lw, l1w = math.log(max(w, 1e-300)), math.log(max(1 - w, 1e-300))
            lf = np.logaddexp(lw + f1, l1w + f2)
            ls = np.logaddexp(lw + s1, l1w + s2)
        elif model == "gpd":
            xi, log_sigma = float(p[0]), float(p[1])
            sigma = math.exp(log_sigma)
            y = t - u
            arg = 1 + xi * y / sigma
            if np.any(arg <= 0):
                return 1e300
            if abs(xi) < 1e-9:
                lf, ls = -log_sigma - y / sigma, -y / sigma
            else:
                la = np.log(arg)
                lf, ls = -log_sigma - (1 + 1 / xi) * la, -la / xi
        else:
            raise ValueError(model)
        total = float(np.sum(lf[ev]) + np.sum(ls[ce]))
        return -total if math.isfinite(total) else 1e300

    return f


def _hessian(f: Callable[[FloatArray], float], x: FloatArray) -> FloatArray:
    n = x.size
    h = 1e-4 * np.maximum(1.0, np.abs(x))
    out = np.empty((n, n))
    fx = f(x)
    for i in range(n):
        for j in range(i, n):
            if i == j:
                up, down = x.copy(), x.copy()
                up[i] += h[i]
                down[i] -= h[i]
                out[i, i] = (f(up) - 2 * fx + f(down)) / h[i] ** 2
            else:
                pp, pm, mp, mm = x.copy(), x.copy(), x.copy(), x.copy()
                pp[i] += h[i]; pp[j] += h[j]  # noqa: E702
                pm[i] += h[i]; pm[j] -= h[j]  # noqa: E702
                mp[i] -= h[i]; mp[j] += h[j]  # noqa: E702
                mm[i] -= h[i]; mm[j] -= h[j]  # noqa: E702
                out[i, j] = out[j, i] = (f(pp) - f(pm) - f(mp) + f(mm)) / (4 * h[i] * h[j])
    return out


def _starts(model: str, t: FloatArray, event: NDArray[np.bool_], u: float) -> list[FloatArray]:
    logt = np.log(np.maximum(t, 1e-9))
    mu, sd = float(np.mean(logt)), max(float(np.std(logt)), 1e-3)
    if model == "lognormal":
        return [np.array([mu, math.log(sd)])]
    if model == "weibull":
        return [np.array([mu + 0.5 * sd, math.log(1.2 / sd)])]
    if model == "gpd":
        y = t - u
        m = max(float(np.mean(y)), 1e-3)
        return [np.array([0.1, math.log(m)]), np.array([-0.2, math.log(m)]), np.array([0.4, math.log(m * 0.7)])]
    # mixture: split the log durations at a few quantiles
    out = []
    for split in (0.5, 0.7, 0.85):
        cut = float(np.quantile(logt, split))
        a, b = logt[logt <= cut], logt[logt > cut]
        if a.size < 3 or b.size < 3:
            continue
        out.append(np.array([special.logit(split), a.mean(), math.log(max(a.std(), 0.02)), b.mean(), math.log(max(b.std(), 0.02))]))
    return out or [np.array([0.0, mu - sd, math.log(sd / 2), mu + sd, math.log(sd / 2)])]


def _bounds(model: str, t: FloatArray) -> list[tuple[float, float]]:
    lo, hi = math.log(max(float(t.min()), 1e-6)) - 5, math.log(float(t.max())) + 5
    if model == "lognormal":
        return [(lo, hi), (-7.0, 3.0)]
    if model == "weibull":
        return [(lo, hi), (-3.0, 5.0)]
    return [(-10.0, 10.0), (lo, hi), (-7.0, 3.0), (lo, hi), (-7.0, 3.0)]


def fit_tail(model: str, durations: ArrayLike, censored: ArrayLike, threshold: float, km: KM | None = None) -> TailFit | None:
    """Censored MLE of ``model`` (the GPD on the exceedances over ``threshold``, the others on every run)."""
    t_all = np.asarray(durations, dtype=float)
    c_all = np.asarray(censored, dtype=bool)
    km = km or kaplan_meier(t_all, c_all)
    i = km.index(threshold)
    zeta = 1.0 if i < 0 else float(km.survival[i])
    zvar = 0.0 if i < 0 else float(km.greenwood[i])
    if model == "gpd":
        keep = t_all > threshold
        t, event = t_all[keep], ~c_all[keep]
    else:
        t, event = t_all, ~c_all
    if int(event.sum()) < (10 if model == "gpd" else 8) or zeta <= 0:
        return None
    f = _negloglik(model, t, event, threshold)
    best: Any = None
    for x0 in _starts(model, t, event, threshold):
        if model == "gpd" and np.any(1 + x0[0] * (t - threshold) / math.exp(x0[1]) <= 0):
            x0 = np.array([0.0, x0[1]])
        if model == "gpd":  # the support constraint makes the likelihood a cliff: a simplex search
            res = optimize.minimize(f, x0, method="Nelder-Mead", options={"xatol": 1e-6, "fatol": 1e-8, "maxiter": 4000})
        else:  # bounded, so a line search cannot wander into overflow
            res = optimize.minimize(f, x0, method="L-BFGS-B", bounds=_bounds(model, t))
        if best is None or res.fun < best.fun:
            best = res
    if best is None or not np.isfinite(best.fun) or best.fun >= 1e299:
        return None
    params = np.asarray(best.x, dtype=float)
    if model == "gpd" and not -0.5 < params[0] < 1.0:
        return None  # outside the range where the MLE is regular (and a finite-variance tail)
    try:
        cov = np.asarray(np.linalg.inv(_hessian(f, params)), dtype=np.float64)
        if not np.all(np.isfinite(cov)) or np.any(np.diag(cov) <= 0):
            cov = np.full((params.size, params.size), np.nan)
    except np.linalg.LinAlgError:
        cov = np.full((params.size, params.size), np.nan)
    fit = TailFit(model, params, cov, -float(best.fun), threshold, zeta if model == "gpd" else 1.0, zvar if model == "gpd" else 0.0)
    fit.distance, fit.critical = tail_distance(fit, km, threshold)
    return fit


def tail_distance(fit: TailFit, km: KM, threshold: float) -> tuple[float, float]:
    """Tail KS: max |S_model(t)/S_model(u) − S_KM(t)/S_KM(u)| at finished runs t > u; and 1.36/√(runs beyond u)."""
    s_u_km = km.s(threshold)
    runs = km.reaching(threshold + 1e-9)
    if s_u_km <= 0 or runs == 0:
        return math.nan, math.nan
    deaths = np.diff(np.concatenate([[1.0], km.survival])) < 0
    mask = (km.times > threshold) & deaths
    if not mask.any():
        return 0.0, KS_CRITICAL / math.sqrt(runs)
    times = km.times[mask]
    s_km_after = km.survival[mask] / s_u_km
    s_km_before = np.concatenate([[1.0], km.survival])[:-1][mask] / s_u_km  # the curve just before each drop
    s_u_model = fit.zeta if fit.model == "gpd" else float(fit.survival(threshold)[()])
    s_model = fit.survival(times) / max(s_u_model, 1e-300)
    gap = np.maximum(np.abs(s_model - s_km_after), np.abs(s_model - s_km_before))
    return float(np.max(gap)), KS_CRITICAL / math.sqrt(runs)


def pot_threshold(km: KM, *, levels: Sequence[float] = (0.9, 0.85, 0.8, 0.75, 0.7, 0.6, 0.5), min_events: int = 25) -> float:
    """The highest KM quantile level with at least ``min_events`` finished runs above it (NaN: none)."""
    for level in levels:
        u = km.quantile(level)
        if not math.isfinite(u):
            continue
        deaths = np.diff(np.concatenate([[1.0], km.survival])) < 0
        above = km.times > u
        events = int(np.sum(deaths[above]))  # distinct event times: a floor on the finished runs above u
        if events >= min_events:
            return u
    return math.nan


def choose_tail(fits: Sequence[TailFit], *, prefer: str = "best") -> TailFit | None:
    """The accepted fit with the smallest tail distance (``"best"``), the fewest parameters (``"simplest"``) or
    the largest q-quantile (``"conservative"``)."""
    accepted = [f for f in fits if f.accepted]
    if not accepted:
        return None
    if prefer == "simplest":  # fewest parameters (a 2-parameter family before the 5-parameter mixture), then fit
        return min(accepted, key=lambda f: (f.params.size, f.distance))
    if prefer == "conservative":
        return max(accepted, key=lambda f: f.quantile(0.99) if math.isfinite(f.quantile(0.99)) else -1.0)
    return min(accepted, key=lambda f: f.distance)


# -- hangs --------------------------------------------------------------------------------------


def hung_runs(ended_by_limit: ArrayLike, silence: ArrayLike, gaps: ArrayLike, *, silence_s: float = 600.0,
              gap_factor: float = 5.0) -> NDArray[np.bool_]:  # fmt: skip
    """Runs a limit ended after no output for ≥ ``silence_s``, or ≥ ``gap_factor`` × the median longest
    silence of the runs that finished (what a healthy run's quietest stretch looks like)."""
    fired = np.asarray(ended_by_limit, dtype=bool)
    quiet = np.asarray(silence, dtype=float)
    g = np.asarray(gaps, dtype=float)
    typical = float(np.nanmedian(g[~fired])) if np.any(~fired & np.isfinite(g)) else math.inf
    threshold = min(silence_s, gap_factor * typical)
    return np.asarray(fired & np.isfinite(quiet) & (quiet >= threshold), dtype=bool)


def tool_hung(durations: ArrayLike, censored: ArrayLike, factor: float = 10.0) -> NDArray[np.bool_]:
    """Today's rule: censored after > ``factor`` × the median and > 2 × the longest finished run."""
    t = np.asarray(durations, dtype=float)
    c = np.asarray(censored, dtype=bool)
    km = kaplan_meier(t, c)
    median = km.quantile(0.5)
    finished = t[~c]
    if not finished.size or not math.isfinite(median):
        return np.zeros(t.size, bool)
    return c & (t > max(factor * median, 2 * float(finished.max())))


# -- rounding, the rule, the verdict -------------------------------------------------------------


def round_limit(seconds: float, minutes: bool) -> float:
    """Up to a value people write: whole minutes for ``timeout-minutes``; 5/10/30/60 s steps for tool limits."""
    if not math.isfinite(seconds):
        return seconds
    seconds = max(seconds, 1.0)
    step = 60.0 if minutes else 5.0 if seconds < 60 else 10.0 if seconds < 300 else 30.0 if seconds < 1200 else 60.0
    return float(math.ceil(seconds / step - 1e-9) * step)


def next_limit(seconds: float, minutes: bool) -> float:
    """The next value up on the rounding grid."""
    return round_limit(round_limit(seconds, minutes) + 1e-3, minutes)
