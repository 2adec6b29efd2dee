"""One advice design on top of the estimators of ``benchmarks/advice_lab.py``: verdict, limit rule, hysteresis.

``advise(durations, censored, current=…, minutes=…, design=Design(…))`` gives the verdict on the
current limit and the limit to set for one unit, from arrays. ``Design`` names every choice the
comparison (``benchmarks/advice_compare.py``) varies: interval method, tail models and how one is
chosen, the limit rule (kill-rate budget or quantile bound), the hysteresis, the too_loose
thresholds, the hang rule, whether inner cuts censor. The defaults are not the recommendation:
``RECOMMENDED`` is, and the comparison's tables say why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

from benchmarks.advice_lab import (
    KM_SUPPORT,
    FloatArray,
    Rate,
    TailFit,
    choose_tail,
    fit_tail,
    hung_runs,
    kaplan_meier,
    kill_interval,
    next_limit,
    pot_threshold,
    quantile_interval,
    round_limit,
    tool_hung,
)


@dataclass(frozen=True)
class Design:
    """One combination of the choices above; ``advise`` applies it to a unit."""

    name: str
    q: float = 0.99
    level: float = 0.90  # two-sided; the upper end is a one-sided (1 + level)/2 bound
    ci: str = "loglog"  # loglog | km-beta | binomial
    tails: tuple[str, ...] = ("gpd", "mixture", "lognormal", "weibull")
    gof: str = "tail-ks"  # tail-ks | cdf-gap (today's: whole-range CDF gap ≤ 0.10)
    prefer: str = "best"  # best | simplest | conservative
    rule: str = "rate"  # rate | quantile
    small_rule_below: int = 0  # fewer runs than this: the quantile rule instead (a model-free 1.5 % bound needs ≥ 198)
    budget: float = 0.015  # rate rule: the kill-rate upper bound must not exceed this
    margin: float = 0.05  # quantile rule: added to the upper bound (a share of it) ...
    margin_min_s: float = 5.0  # ... and at least this much
    hysteresis: str = "interval"  # interval | band (today's: keep while above the quantile's lower bound)
    tolerance: float = 1.5  # × (1 − q): the largest point estimate a kept limit may have
    loose_factor: float = 2.0  # too_loose: current > loose_factor × recommended ...
    loose_slack_s: float = 300.0  # ... and current > recommended + loose_slack_s
    loose_needs_km: bool = False  # cut a loose limit only to a value the KM bounds, or a tail with ≥ loose_tail_runs runs
    loose_tail_runs: int = 500
    raise_cap: float | None = None  # a raise resting on a tail: at most max(cap × current, current + 60 s), re-measure
    km_until: str = "identified"  # identified: KM wherever it answers, the tail only beyond a censored end;
    # support: KM only where ≥ KM_SUPPORT runs reached the limit (today's), the tail before that
    hangs: str = "silence"  # none | tool | silence | oracle
    inner_censored: bool = False  # a run ended by an inner limit lasted at least that long
    min_samples: int = 20


RECOMMENDED = Design(
    "recommended",
    inner_censored=True,
    loose_factor=1.25,
    loose_slack_s=60.0,
    loose_needs_km=True,
    raise_cap=1.4,
    prefer="simplest",
    small_rule_below=200,
)
"""The design the comparison supports (D15 in ``advice_compare.py``): every default above plus inner cuts
censored, too_loose above max(1.25 × advised, advised + 60 s) but never to an extrapolated value with
fewer than 500 runs, raises resting on a tail capped at max(1.4 × current, current + 60 s) with
"re-measure", the simplest accepted tail, and the quantile rule below 200 runs."""


@dataclass
class Advice:
    verdict: str  # ok | too_tight | too_loose | no_timeout | insufficient_data | not_settable
    limit: float | None  # the limit after the advice (recommended, or the current one kept)
    now: Rate | None  # the current limit's kill rate
    rec: Rate | None  # the advised limit's kill rate
    quantile: float  # estimate of the q-quantile (NaN: not identified)
    basis: str  # what the advised limit rests on
    tail: TailFit | None = None
    fallback: bool = False  # "raise to at least X, re-measure"
    hung: int = 0
    notes: list[str] = field(default_factory=list)

    def contradicts(self, q: float, tolerance: float = 1.5) -> list[str]:
        """The same checks the benchmark applies to ``recommend``'s output."""
        target = 1 - q
        out = []
        if self.verdict == "ok" and self.now is not None and self.now.point > tolerance * target:
            out.append("ok above tolerance")
        if self.verdict == "too_tight" and self.now is not None and self.now.point <= target:
            out.append("too_tight within target")
        if self.verdict == "too_tight" and self.now and self.rec and self.rec.known and self.rec.point >= self.now.point and not self.fallback:
            out.append("raise without a lower rate")
        return out


class _Unit:
    """One unit's data after the design's treatment, with lazily fitted tails."""

    def __init__(self, t: FloatArray, c: NDArray[np.bool_], design: Design, fits: dict[str, TailFit | None] | None) -> None:
        self.t, self.c, self.design = t, c, design
        self.km = kaplan_meier(t, c)
        self._fits = fits if fits is not None else {}
        self._tail: TailFit | None = None
        self.tail_chosen = False

    def tail(self) -> TailFit | None:
        if not self.tail_chosen:
            self.tail_chosen = True
            d = self.design
            if d.gof == "cdf-gap":
                u = 0.0
            else:
                u = pot_threshold(self.km)
                if not math.isfinite(u):
                    u = self.km.quantile(0.5) if math.isfinite(self.km.quantile(0.5)) else 0.0
            fits = []
            for model in d.tails:
                key = f"{model}@{d.gof}"
                if key not in self._fits:
                    self._fits[key] = fit_tail(model, self.t, self.c, u if model == "gpd" or d.gof == "tail-ks" else 0.0, self.km)
                fit = self._fits[key]
                if fit is None:
                    continue
                if d.gof == "cdf-gap":
                    fit.critical = 0.10
                fits.append(fit)
            self._tail = choose_tail(fits, prefer=d.prefer)
        return self._tail

    @property
    def identified_until(self) -> float:
        """Up to where the KM curve answers: everywhere when the longest run finished, else up to it."""
        longest = int(np.argmax(self.t))
        return math.inf if not self.c[longest] else float(self.t[longest]) + 1e-6

    def rate(self, limit: float) -> Rate:
        """P(T > limit): KM where it answers (``km_until``), else the chosen tail, else KM (or unknown)."""
        d = self.design
        if d.km_until == "identified" and limit <= self.identified_until:
            if self.km.s(limit) > 0:
                return kill_interval(self.t, self.c, limit, level=d.level, method=d.ci, km=self.km)
            # beyond the last finished run KM says 0, however few runs were left at risk: bound S by
            # its interval just before that run, and let an accepted tail narrow it
            last = float(self.t[~self.c].max())
            before = kill_interval(self.t, self.c, last - 1e-6, level=d.level, method=d.ci, km=self.km)
            tail = self.tail()
            if tail is not None and (tail.model != "gpd" or limit > tail.threshold):
                r = tail.rate(limit, level=d.level)
                if r.known and math.isfinite(r.hi):
                    return Rate(r.point, r.lo, min(r.hi, before.hi), r.basis)
            return Rate(0.0, 0.0, before.hi, "km")
        if d.km_until == "support" and self.km.reaching(limit) >= KM_SUPPORT:
            return kill_interval(self.t, self.c, limit, level=d.level, method=d.ci, km=self.km)
        tail = self.tail()
        if tail is not None and (tail.model != "gpd" or limit > tail.threshold):
            r = tail.rate(limit, level=d.level)
            if r.known and math.isfinite(r.hi):
                return r
        km_rate = kill_interval(self.t, self.c, limit, level=d.level, method=d.ci, km=self.km)
        last_censored = bool(self.c[np.argmax(self.t)]) if self.t.size else False
        if last_censored and limit > float(self.t.max()) + 1e-6:
            return Rate(math.nan, km_rate.point, 1.0, "unknown")  # beyond a censored end: at most S(max), no bound below
        return km_rate

    def quantile(self) -> tuple[float, float, str]:
        """(estimate, one-sided upper bound, basis) of the q-quantile."""
        d = self.design
        q_km = self.km.quantile(d.q)
        hi = quantile_interval(self.km, d.q, level=d.level)[1]
        if math.isfinite(hi) and self.km.reaching(hi) >= KM_SUPPORT:  # a bound needs runs beyond it
            return q_km, hi, "km"
        tail = self.tail()
        if tail is not None:
            q_t = tail.quantile(d.q)
            upper = tail.quantile_upper(d.q, level=d.level)
            if math.isfinite(upper):
                floor = q_km if math.isfinite(q_km) else float(self.t.max())
                return (q_t if math.isfinite(q_t) else q_km), max(upper, floor), f"tail:{tail.model}"
        if math.isfinite(hi):
            return q_km, hi, "km"
        return q_km, math.nan, "unknown"


def advise(durations: ArrayLike, censored: ArrayLike, *, current: float | None, minutes: bool, design: Design,
           settable: bool = True, ended_by_limit: ArrayLike | None = None, silence: ArrayLike | None = None,
           gaps: ArrayLike | None = None, hung_truth: ArrayLike | None = None, inner_cut: ArrayLike | None = None,
           fits: dict[str, TailFit | None] | None = None) -> Advice:  # fmt: skip
    """The verdict on ``current`` and the limit to set, for one unit, under ``design``."""
    t = np.asarray(durations, dtype=float)
    c = np.asarray(censored, dtype=bool)
    drop = np.zeros(t.size, bool)
    if design.hangs == "oracle" and hung_truth is not None:
        drop = np.asarray(hung_truth, bool)
    elif design.hangs == "silence" and ended_by_limit is not None and silence is not None and gaps is not None:
        drop = hung_runs(ended_by_limit, silence, gaps)
    elif design.hangs == "tool":
        drop = tool_hung(t, c)
    if design.inner_censored and inner_cut is not None:
        c = c | np.asarray(inner_cut, bool)
    t, c = t[~drop], c[~drop]
    hung = int(drop.sum())
    if t.size < design.min_samples:
        return Advice("insufficient_data", None, None, None, math.nan, "none", hung=hung)
    unit = _Unit(t, c, design, fits)
    q_est, q_upper, q_basis = unit.quantile()
    if not settable:
        return Advice("not_settable", None, None, None, q_est, q_basis, hung=hung)
    target, tolerance = 1 - design.q, design.tolerance * (1 - design.q)
    advised, basis, fallback = _rule(unit, q_upper, q_basis, minutes)
    now = unit.rate(current) if current is not None and math.isfinite(current) else None
    notes: list[str] = []
    if now is None:
        verdict = "no_timeout"
    elif design.hysteresis == "interval":
        if not now.known:
            verdict = "too_tight" if now.lo > tolerance else "ok"  # beyond a censored end: S(max) is a floor
        elif now.hi <= target:
            verdict = "ok"
        elif now.lo <= target and now.point <= tolerance:
            verdict = "ok"
            notes.append(f"kept: the kill rate's interval {now.lo:.1%}–{now.hi:.1%} contains the {target:.0%} target")
        else:
            verdict = "too_tight"
    else:  # band: today's rule
        lo_edge = quantile_interval(unit.km, design.q, level=design.level)[0]
        if not math.isfinite(lo_edge):
            lo_edge = float(t.max()) + max(1.0, 0.005 * float(t.max()))
        verdict = "too_tight" if current is not None and current < lo_edge else "ok"
    assert current is not None or verdict == "no_timeout"
    loose = math.isfinite(advised) and current is not None and current > max(design.loose_factor * advised, advised + design.loose_slack_s)
    if loose and design.loose_needs_km and not basis.startswith("km") and t.size < design.loose_tail_runs:
        loose = False  # a tail extrapolated from a few runs is no reason to cut a limit that works
    if verdict == "ok" and loose:
        verdict = "too_loose"
    if verdict == "too_tight" and current is not None:
        advised = max(advised, next_limit(current, minutes)) if math.isfinite(advised) else math.nan
        if design.raise_cap is not None:
            step = round_limit(max(design.raise_cap * current, current + 60.0), minutes)
            if not math.isfinite(advised) or (not basis.startswith("km") and advised > step):
                fallback = True
                advised = step
                notes.append(f"raise to at least {advised:g} s, re-measure: the data cannot say how far beyond {current:g} s runs go")
        rec = unit.rate(advised) if math.isfinite(advised) else None
        if not fallback and (rec is None or not rec.known or (now is not None and now.known and rec.point >= now.point)):
            fallback = True
            cap = design.raise_cap or 1.5
            advised = round_limit(max(cap * current, current + (60.0 if design.raise_cap else 300.0),
                                      advised if math.isfinite(advised) and not design.raise_cap else 0.0), minutes)  # fmt: skip
            notes.append(f"raise to at least {advised:g} s, re-measure: the data cannot say how far beyond {current:g} s runs go")
    if verdict == "ok":
        limit: float | None = current
    elif math.isfinite(advised):
        limit = advised
    else:
        fallback = True
        limit = round_limit(1.5 * float(t.max()), minutes)
        notes.append(f"set at least {limit:g} s, re-measure: the data do not bound the quantile")
    rec_rate = unit.rate(limit) if limit is not None else None
    return Advice(verdict, limit, now, rec_rate, q_est, basis, unit.tail() if unit.tail_chosen else None,
                  fallback, hung, notes)  # fmt: skip


def _rule(unit: _Unit, q_upper: float, q_basis: str, minutes: bool) -> tuple[float, str, bool]:
    """(limit, basis, fallback) under the design's limit rule."""
    d = unit.design
    if d.rule == "quantile" or unit.t.size < d.small_rule_below:
        if not math.isfinite(q_upper):
            return math.nan, "unknown", True
        raw = max(q_upper * (1 + d.margin), q_upper + d.margin_min_s)
        return round_limit(raw, minutes), q_basis, False
    # rate: the smallest limit on the rounding grid whose kill-rate upper bound is within the budget
    start = unit.km.quantile(0.9)
    if not math.isfinite(start):
        start = float(np.quantile(unit.t, 0.5))
    limit = round_limit(start, minutes)
    cap = max(50 * float(unit.t.max()), 3600.0)
    while limit <= cap:
        r = unit.rate(limit)
        if r.known and math.isfinite(r.hi) and r.hi <= d.budget:
            return limit, r.basis, False
        if limit > 3 * float(unit.t.max()) and not r.known:
            break
        limit = next_limit(limit, minutes) if limit < 4 * float(unit.t.max()) else round_limit(limit * 1.1, minutes)
    return math.nan, "unknown", True
