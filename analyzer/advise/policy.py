"""The policy: how a limit is judged, how a new one is chosen, and how both are rounded.

Pure. ``recommend`` applies it to every unit; ``layers`` makes the set consistent. The target:
at most 1 − q of *healthy* runs stopped by a limit (q = ``quantile``, 0.99 by default; hung runs
are set apart first, see ``model.hangs``). Every rate below is the model's censoring-aware
estimate with its two-sided ``confidence`` interval (``model.rates``: Kaplan–Meier where it
answers, the unit's accepted tail beyond).

1. **Verdict on the limit in force L** (hysteresis: a limit is kept while the data cannot show
   it is wrong, so it does not flap week to week):
   ``ok`` when the kill rate's upper end is ≤ 1 − q, or its interval contains 1 − q and its
   estimate is ≤ ``keep_tolerance`` × (1 − q) (kept, with a note); ``too_tight`` otherwise.
   Beyond a run a limit stopped, where nothing bounds the rate from above, ``too_tight`` only when
   the share that certainly lasted that long already exceeds that. The band between setting a
   limit (its upper bound ≤ ``tolerance`` × (1 − q), rule 2) and keeping it (its estimate ≤
   ``keep_tolerance`` × (1 − q), however wide its interval) is the hysteresis. A kept estimate
   as high as the tolerance (1.5 × (1 − q)) would keep, by chance, limits that truly stop more
   than the tolerance: estimates scatter around the truth. ``too_loose`` when an
   ``ok`` limit is above max(``loose_factor`` × the new limit, the new limit + ``loose_slack_s``),
   but never to cut to a value a tail extrapolated from fewer than ``loose_min_runs`` runs.
   ``no_timeout`` when the unit has no limit of its own, ``not_settable`` for units no limit can
   be written for (steps the runner makes), ``insufficient_data`` below ``min_samples`` runs.
2. **New limit**: the smallest value on the rounding grid whose one-sided upper kill-rate bound
   is ≤ ``tolerance`` × (1 − q) (``rate_rule``). With fewer than ``small_runs`` runs no
   model-free bound can certify that (with no run stopped, a 95 % Clopper–Pearson bound of 1.5 %
   needs 198 runs): there the quantile's upper confidence bound plus ``margin`` (at least
   ``margin_min_s``) is used. Either way a new limit is never below the upper end of the target
   quantile's own confidence interval where the Kaplan–Meier curve bounds it (the interval shown
   beside it, ``p99_ci_s`` at q = 0.99).
3. **A raise** from a too-tight limit is at least the next value up; one that rests on a tail is
   capped at max(``raise_cap`` × L, L + ``raise_min_s``) and labelled "raise to at least X,
   re-measure", as is a raise the data cannot show to lower the rate.
4. **Rounding** *up* to values people write: whole minutes for ``timeout-minutes`` (jobs,
   steps); 5/10/30/60-second steps for tool limits (phases) below 1/5/20 minutes and above.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from analyzer.model import DurationModel

VERDICTS = ("too_tight", "ok", "too_loose", "no_timeout", "insufficient_data", "not_settable")
CHANGE = ("too_tight", "too_loose")  # verdicts that ask for another limit than the one in force (what a patch rewrites)
PROPOSALS = (*CHANGE, "no_timeout")  # verdicts that propose a limit: a change, or one for a unit without its own
MINUTE_SCOPES = frozenset({"job", "step"})  # limits written as timeout-minutes


@dataclass(frozen=True, slots=True)
class Policy:
    """How limits are chosen and judged; defaults are what ``we-advisor recommend`` uses."""

    quantile: float = 0.99  # at most 1 - quantile of healthy runs may be stopped
    confidence: float = 0.90  # two-sided level of the intervals; the upper end is a one-sided 95 % bound
    tolerance: float = 1.5  # × (1 - quantile): a new limit's upper bound
    keep_tolerance: float = 1.0  # × (1 - quantile): a kept limit's estimate
    small_runs: int = 200  # fewer runs: the quantile rule
    margin: float = 0.05  # quantile rule: added to the quantile's upper bound (a share of it) ...
    margin_min_s: float = 5.0  # ... and at least this much
    loose_factor: float = 1.25  # too_loose: current > loose_factor × new ...
    loose_slack_s: float = 60.0  # ... and current > new + loose_slack_s
    loose_min_runs: int = 500  # a cut to a tail-based value needs this many runs
    raise_cap: float = 1.4  # a raise resting on a tail: at most max(raise_cap × current, ...
    raise_min_s: float = 60.0  # ... current + raise_min_s), "re-measure"
    min_samples: int = 20
    runner_ratio: float = 1.25  # runner labels whose p90 differ by this much get a closer look
    max_runner_models: int = 5  # at most this many gradient-boosting fits per recommend

    @property
    def target(self) -> float:
        """The largest share of healthy runs a limit should stop: 1 − q."""
        return 1.0 - self.quantile

    @property
    def budget(self) -> float:
        """The largest kill rate tolerated: ``tolerance`` × (1 − q)."""
        return self.tolerance * self.target

    @property
    def keep_budget(self) -> float:
        """The largest estimated kill rate a limit in force is kept at: ``keep_tolerance`` × (1 − q)."""
        return self.keep_tolerance * self.target


def quantile_label(q: float) -> str:
    """A quantile as people name its percentile: 0.99 → ``99``, 0.995 → ``99.5``."""
    return f"{q * 100:.2f}".rstrip("0").rstrip(".")


def round_limit(seconds: float, scope: str) -> float:
    """Round a limit *up* to a value people write.

    Jobs and steps (``timeout-minutes``): whole minutes. Tool limits (phases): 5 s steps below
    a minute, 10 s below 5 minutes, 30 s below 20 minutes, whole minutes above.
    """
    if not math.isfinite(seconds):
        return seconds
    return float(round_limits(np.array([seconds]), np.array([scope in MINUTE_SCOPES]))[0])


def round_limits(seconds: NDArray[np.float64], minutes: NDArray[np.bool_]) -> NDArray[np.float64]:
    """``round_limit`` for many values at once (``minutes``: written as timeout-minutes); NaN stays NaN."""
    x = np.maximum(seconds, 1.0)
    step = np.where(minutes, 60.0, np.where(x < 60, 5.0, np.where(x < 300, 10.0, np.where(x < 1200, 30.0, 60.0))))
    with np.errstate(invalid="ignore"):
        return np.asarray(np.where(np.isfinite(seconds), np.ceil(x / step - 1e-9) * step, seconds), dtype=np.float64)


def next_limits(seconds: NDArray[np.float64], minutes: NDArray[np.bool_]) -> NDArray[np.float64]:
    """The next value up on the rounding grid."""
    return round_limits(round_limits(seconds, minutes) + 1e-3, minutes)


def quantile_rule(upper: NDArray[np.float64], minutes: NDArray[np.bool_], policy: Policy) -> NDArray[np.float64]:
    """The quantile's upper confidence bound plus the margin, rounded up (NaN where unbounded)."""
    raw = np.maximum(upper * (1 + policy.margin), upper + policy.margin_min_s)
    return round_limits(raw, minutes)


def loose(current: float, new: float, policy: Policy) -> bool:
    """The limit in force is far enough above the new one to be worth cutting."""
    return math.isfinite(new) and current > max(policy.loose_factor * new, new + policy.loose_slack_s)


def raise_cap(current: float, minutes: bool, policy: Policy) -> float:
    """The largest raise a tail may justify: max(``raise_cap`` × current, current + ``raise_min_s``), rounded."""
    value = max(policy.raise_cap * current, current + policy.raise_min_s)
    return float(round_limits(np.array([value]), np.array([minutes]))[0])


def judge(point: float, lo: float, hi: float, policy: Policy) -> tuple[str, bool]:
    """The verdict on a limit from its kill rate (point, interval), and whether it was kept inside the
    tolerance band (its interval contains the target). ``point`` NaN: beyond a stopped run, where only
    ``lo`` (the share that certainly lasted that long) is known."""
    target, keep = policy.target, policy.keep_budget
    if not math.isfinite(point):
        return ("too_tight" if lo > keep else "ok"), False
    if hi <= target:
        return "ok", False
    if lo <= target and point <= keep:
        return "ok", True
    return "too_tight", False


_CHUNK = 24  # grid values tried per unit and round


def rate_rule(
    model: DurationModel, units: NDArray[np.intp], minutes: NDArray[np.bool_], policy: Policy
) -> tuple[NDArray[np.float64], list[str | None]]:
    """Per unit: the smallest value on the rounding grid whose kill-rate upper bound is ≤ the budget,
    and what that bound rests on (NaN and None where none is found).

    The scan starts at the first Kaplan–Meier row whose band already certifies the budget (rounded
    up; below it no value can), else at the unit's p90; it goes up the grid (×1.1 steps beyond 4 ×
    the longest run) to max(50 × the longest run, 1 h), and gives up beyond 3 × the longest run
    where nothing is known. Every unit is scanned at once, ``_CHUNK`` grid values per round.
    """
    from analyzer.model.km import first_where

    s = model.sorted_
    n = units.size
    limit = np.full(n, np.nan)
    basis: list[str | None] = [None] * n
    if not n or not s.t.size:
        return limit, basis
    budget = policy.budget
    row, certified = first_where((model.band_hi_ <= budget) & (s.survival > 0), s)
    table = model.units_
    longest = table["max_s"].to_numpy(dtype=float)[units]
    p90 = table["p90_s"].to_numpy(dtype=float)[units]
    start = np.where(np.isfinite(p90), p90, table["p50_s"].to_numpy(dtype=float)[units])
    start = np.where(np.isfinite(start), start, longest)
    start = np.where(certified[units], np.fmax(s.t[np.minimum(row[units], s.t.size - 1)], start), start)
    cand = round_limits(start, minutes)
    cap = np.maximum(50 * longest, 3600.0)
    todo = np.flatnonzero(np.isfinite(cand) & (s.sizes[units] > 0))
    while todo.size:
        grid = np.empty((todo.size, _CHUNK))
        value = cand[todo]
        for k in range(_CHUNK):
            grid[:, k] = value
            big = value >= 4 * longest[todo]
            value = np.where(big, round_limits(value * 1.1, minutes[todo]), next_limits(value, minutes[todo]))
        flat_units = np.repeat(units[todo], _CHUNK)
        r = model.rates(flat_units, grid.ravel())
        known = r.known.reshape(grid.shape)
        ok = (known & np.isfinite(r.hi.reshape(grid.shape)) & (r.hi.reshape(grid.shape) <= budget)
              & (grid <= cap[todo, None]))  # fmt: skip
        stop = (grid > cap[todo, None]) | ((grid > 3 * longest[todo, None]) & ~known)
        # the first grid value that qualifies, unless the scan stops before it
        first_ok = np.where(ok.any(axis=1), ok.argmax(axis=1), _CHUNK)
        first_stop = np.where(stop.any(axis=1), stop.argmax(axis=1), _CHUNK)
        found = first_ok < first_stop
        for i in np.flatnonzero(found):
            u = int(todo[i])
            limit[u] = grid[i, first_ok[i]]
            basis[u] = r.label(int(i * _CHUNK + first_ok[i]))
        going = ~found & (first_stop == _CHUNK)
        cand[todo[going]] = value[going]
        todo = todo[going]
    return limit, basis
