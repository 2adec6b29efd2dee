"""Kaplan–Meier: the survival curve of one unit, and of every unit at once.

A unit stopped by a time limit (or cancelled, or whose runner was lost) lasted *at least* as
long as observed: a right-censored observation. The Kaplan–Meier product-limit estimator uses
such observations correctly; dropping them, or treating them as ordinary durations, biases every
percentile low. A quantile beyond the last observed event cannot be identified from the data and
is ``None``.

For many units at once (``SortedRows``): rows are sorted once by (unit, duration, events before
censorings); every Kaplan–Meier quantity is then a segmented cumulative sum over that order, and
per-unit answers are ``reduceat`` reductions or one binary search over all the units' slices.
There is no Python loop over units on the main path.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

EPS = 1e-9


def km_curve(durations: ArrayLike, censored: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Kaplan–Meier estimate: distinct event-or-censor times and the survival S(t) just after each.

    At tied times events are counted before censorings (a unit censored at t was at risk at t).
    """
    t = np.asarray(durations, dtype=float)
    c = np.asarray(censored, dtype=bool)
    if t.shape != c.shape:
        raise ValueError("durations and censored differ in length")
    if t.size == 0:
        return np.empty(0), np.empty(0)
    order = np.argsort(t, kind="stable")
    t, events = t[order], (~c[order]).astype(float)
    times, first = np.unique(t, return_index=True)
    deaths = np.add.reduceat(events, first)
    at_risk = t.size - first
    survival = np.cumprod(1.0 - deaths / at_risk)
    return times.astype(np.float64), survival.astype(np.float64)


def km_quantiles(durations: ArrayLike, censored: ArrayLike, quantiles: Sequence[float]) -> list[float | None]:
    """The smallest t with F(t) = 1 - S(t) ≥ q for each q, or None where the data cannot tell."""
    times, survival = km_curve(durations, censored)
    if times.size == 0:
        return [None for _ in quantiles]
    cdf = 1.0 - survival
    out: list[float | None] = []
    for q in quantiles:
        pos = int(np.searchsorted(cdf, q - EPS, side="left"))
        out.append(float(times[pos]) if pos < times.size else None)
    return out


def km_cdf_at(durations: ArrayLike, censored: ArrayLike, t: float) -> float:
    """Estimated share of units that would have finished by ``t`` (1 - S(t))."""
    times, survival = km_curve(durations, censored)
    if times.size == 0:
        return float("nan")
    pos = int(np.searchsorted(times, t, side="right")) - 1
    return 0.0 if pos < 0 else float(1.0 - survival[pos])


@dataclass(frozen=True, slots=True)
class SortedRows:
    """Observations sorted by (unit, duration, events first) with per-row Kaplan–Meier quantities.

    At tied times events come before censorings (a unit censored at t was at risk at t). Each
    row multiplies the survival by ``1 - event / at_risk``; over a block of tied events the
    product telescopes to ``1 - d / n``, so per-row products equal the textbook per-time ones,
    and so does Greenwood's sum (``Σ 1/(n(n-1))`` over the block is ``d/(n(n-d))``).
    """

    order: NDArray[np.intp]  # position (in the fitted rows) of each sorted row
    unit: NDArray[np.intp]
    t: NDArray[np.float64]
    event: NDArray[np.bool_]
    starts: NDArray[np.intp]  # first sorted row of each unit
    sizes: NDArray[np.intp]
    survival: NDArray[np.float64]  # S just after this row
    greenwood: NDArray[np.float64]  # Σ d/(n(n-d)) up to this row (inf once S is 0)
    monotone: bool = False  # S checked non-increasing within every unit (float rounding could break it)

    @property
    def ends(self) -> NDArray[np.intp]:
        return self.starts + self.sizes

    def rows_at(self, units: NDArray[np.intp], t: NDArray[np.float64], *, side: str = "right") -> NDArray[np.intp]:
        """Per (unit, t): the last sorted row of the unit with duration ≤ t (``side="right"``) or < t
        (``"left"``); the unit's start - 1 if none. One binary search over all the units' slices."""
        durations = self.t
        if side == "right":
            lo = segment_search(self.starts[units], self.sizes[units], lambda rows, i: durations[rows] <= t[i])
        else:
            lo = segment_search(self.starts[units], self.sizes[units], lambda rows, i: durations[rows] < t[i])
        return np.asarray(lo - 1, dtype=np.intp)


def segment_search(
    starts: NDArray[np.intp], sizes: NDArray[np.intp], below: Callable[[NDArray[np.intp], NDArray[np.intp]], NDArray[np.bool_]]
) -> NDArray[np.intp]:
    """Per slice [start, start + size): the first row where ``below`` stops holding (start + size if never).

    ``below(rows, i)`` answers for rows of slices ``i`` and must hold on a prefix of each slice
    (sorted data): then all slices are searched together, one vector step per halving.
    """
    lo = starts.astype(np.intp)
    hi = lo + sizes
    todo = np.flatnonzero(lo < hi)
    while todo.size:
        a, b = lo[todo], hi[todo]
        mid = (a + b) // 2
        go = below(mid, todo)
        lo[todo] = np.where(go, mid + 1, a)
        hi[todo] = np.where(go, b, mid)
        todo = todo[lo[todo] < hi[todo]]
    return lo


def _segment_cumsum(
    values: NDArray[np.float64], starts: NDArray[np.intp], sizes: NDArray[np.intp], *, in_place: bool = False
) -> NDArray[np.float64]:
    """Cumulative sums restarting at each segment; ``in_place``: into ``values`` (the caller's no longer)."""
    firsts = values[starts] if values.size else np.empty(0)  # (a copy: taken before values may be overwritten)
    total = np.cumsum(values, out=values if in_place else None)
    base = total[starts] - firsts if values.size else np.empty(0)
    total -= np.repeat(base, sizes)  # in place: 10⁶ rows make each temporary 8 MB
    return np.asarray(total, dtype=np.float64)


def _sort_order(unit: NDArray[np.intp], t: NDArray[np.float64], censored: NDArray[np.bool_]) -> NDArray[np.intp]:
    """Row order by (unit, exact duration, events before censorings).

    One sort by duration, then two stable sorts that cost little: by (duration rank, censored), whose
    keys already run in order but within ties, and by unit as 16-bit integers (a radix sort). Rows with
    equal keys are identical, so their order among themselves changes no answer."""
    n = t.size
    by_time = np.argsort(t)
    t_sorted = t[by_time]
    new = np.empty(n, dtype=bool)
    if n:
        new[0] = True
        np.not_equal(t_sorted[1:], t_sorted[:-1], out=new[1:])
    del t_sorted
    key = np.cumsum(new, dtype=np.int64)  # dense rank of the duration (+ 1), in duration order
    del new
    key *= 2
    key += censored[by_time]
    order = by_time[np.argsort(key, kind="stable")]
    del key, by_time
    units = unit[order]
    if n and int(units.max()) >= np.iinfo(np.int16).max:  # more units than 16 bits hold: a general stable sort
        return order[np.argsort(units, kind="stable")].astype(np.intp, copy=False)
    return order[np.argsort(units.astype(np.int16), kind="stable")].astype(np.intp, copy=False)


def km_sorted(
    order: NDArray[np.intp],
    unit_s: NDArray[np.intp],
    t_s: NDArray[np.float64],
    event: NDArray[np.bool_],
    n_units: int,
    *,
    greenwood: bool = True,
) -> SortedRows:
    """KM survival and Greenwood sums of every unit from rows already in (unit, t, event-first) order.

    ``greenwood=False`` leaves the Greenwood sums out (an empty array), for callers that only
    read survival.
    """
    n = t_s.size
    sizes = np.bincount(unit_s, minlength=n_units).astype(np.intp)
    starts = (np.cumsum(sizes) - sizes).astype(np.intp)
    remaining = np.repeat(starts + sizes, sizes)
    remaining -= np.arange(n)
    at_risk = remaining.astype(np.float64)
    del remaining
    dead = event & (at_risk == 1.0)  # the last row of a unit, an event: S drops to 0
    not_counted = ~event | dead
    # each term in one array, computed in place (10⁶ rows: 8 MB a temporary, and this is the fit's peak)
    with np.errstate(divide="ignore", invalid="ignore"):
        survival = np.divide(-1.0, at_risk)
        np.log1p(survival, out=survival)  # an event's term: log(1 − 1/at risk)
    survival[not_counted] = 0.0
    survival = _segment_cumsum(survival, starts, sizes, in_place=True)
    np.exp(survival, out=survival)
    survival[dead] = 0.0
    monotone = bool(np.all((survival[1:] <= survival[:-1]) | (unit_s[1:] != unit_s[:-1])))
    if not greenwood:
        return SortedRows(order, unit_s, t_s, event, starts, sizes, survival, np.empty(0), monotone)
    with np.errstate(divide="ignore", invalid="ignore"):
        gw_sum = at_risk - 1.0
        gw_sum *= at_risk
        np.divide(1.0, gw_sum, out=gw_sum)  # 1 / (n (n − 1))
    del at_risk
    gw_sum[not_counted] = 0.0
    gw_sum = _segment_cumsum(gw_sum, starts, sizes, in_place=True)
    gw_sum[dead] = np.inf
    return SortedRows(order, unit_s, t_s, event, starts, sizes, survival, gw_sum, monotone)


def sort_units(
    unit: NDArray[np.intp], t: NDArray[np.float64], censored: NDArray[np.bool_], n_units: int, *, greenwood: bool = True
) -> SortedRows:
    """Every unit's rows sorted and its KM curve (``greenwood=False``: without the Greenwood sums, see
    ``km_sorted``)."""
    order = _sort_order(unit, t, censored)
    return km_sorted(order, unit[order], t[order], ~censored[order], n_units, greenwood=greenwood)


def first_where(condition: NDArray[np.bool_], s: SortedRows) -> tuple[NDArray[np.intp], NDArray[np.bool_]]:
    """Per unit: the first sorted row where ``condition`` holds, and whether there is one."""
    n = condition.size
    if n == 0:
        return np.zeros(s.starts.size, np.intp), np.zeros(s.starts.size, bool)
    idx = np.where(condition, np.arange(n, dtype=np.intp), n)
    first = np.minimum.reduceat(idx, s.starts)
    return first.astype(np.intp), first < s.ends


def km_quantile_rows(s: SortedRows, q: float) -> tuple[NDArray[np.intp], NDArray[np.bool_]]:
    """Per unit: the row of the smallest t with 1 - S(t) ≥ q (as ``km_quantiles``), and whether known."""
    if not s.t.size:
        return np.zeros(s.starts.size, np.intp), np.zeros(s.starts.size, bool)
    threshold = q - EPS
    if s.monotone:
        # 1 - S is non-decreasing within each unit, so the rows below the threshold are a prefix of
        # it: a binary search over every unit's slice at once instead of a pass over all rows
        survival = s.survival
        lo = segment_search(s.starts, s.sizes, lambda rows, _: (1.0 - survival[rows]) < threshold)
        return lo, lo < s.starts + s.sizes
    below = ((1.0 - s.survival) < threshold).astype(np.int64)
    count = np.add.reduceat(below, s.starts)
    return (s.starts + count).astype(np.intp), count < s.sizes


def rows_to_times(s: SortedRows, rows: NDArray[np.intp], known: NDArray[np.bool_]) -> NDArray[np.float64]:
    if not s.t.size:
        return np.full(rows.size, np.nan)
    return np.where(known, s.t[np.minimum(rows, s.t.size - 1)], np.nan)


def loglog_bands(s: SortedRows, z: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Pointwise log-log (exponential Greenwood) confidence band for S at every row: (low, high)."""
    if s.t.size and s.greenwood.size != s.t.size:
        raise ValueError("the rows carry no Greenwood sums: sort them with greenwood=True")
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        # z √greenwood / |log S|, then exp(log S · e^±spread): the same operations as written out, in place
        # (10⁶ rows: 8 MB a temporary)
        log_s = np.log(s.survival)
        spread = np.sqrt(s.greenwood)
        spread *= z
        spread /= np.abs(log_s)
        low = np.exp(spread)
        low *= log_s
        np.exp(low, out=low)
        high = np.negative(spread, out=spread)
        np.exp(high, out=high)
        high *= log_s
        np.exp(high, out=high)
        del log_s
    no_event_yet = s.survival >= 1.0
    low[no_event_yet] = 1.0
    high[no_event_yet] = 1.0
    gone = s.survival <= 0.0
    low[gone] = 0.0
    high[gone] = 0.0
    return low, high


def bootstrap_quantile_ci(
    t: NDArray[np.float64], event: NDArray[np.bool_], q: float, level: float, n_boot: int, rng: np.random.Generator
) -> tuple[float, float]:
    """Percentile bootstrap CI of one unit's KM q-quantile (``t`` sorted, events first at ties).

    Vectorized over replicates: each replicate is a row of multinomial counts over the
    observations and its KM curve a cumulative product along that row (weights telescope over
    ties exactly as unit weights do). An unidentified replicate quantile counts as +infinity,
    so a NaN end means the data cannot bound it.
    """
    m = t.size
    if m == 0:
        return np.nan, np.nan
    counts = rng.multinomial(m, np.full(m, 1.0 / m), size=n_boot).astype(np.float64)
    at_risk = np.cumsum(counts[:, ::-1], axis=1)[:, ::-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(at_risk > 0, 1.0 - counts * event / at_risk, 1.0)
    reached = (1.0 - np.cumprod(factor, axis=1)) >= q - EPS
    values = np.where(reached.any(axis=1), t[np.argmax(reached, axis=1)], np.inf)
    lo, hi = np.quantile(values, [(1 - level) / 2, (1 + level) / 2])
    return (float(lo) if np.isfinite(lo) else np.nan), (float(hi) if np.isfinite(hi) else np.nan)


def segment_medians(sizes: NDArray[np.intp], t: NDArray[np.float64]) -> NDArray[np.float64]:
    """Medians of ``t`` per unit, with units contiguous (``sizes`` rows each) and ``t`` sorted within each."""
    starts = np.cumsum(sizes) - sizes
    out = np.full(sizes.size, np.nan)
    has = sizes > 0
    out[has] = (t[starts[has] + (sizes[has] - 1) // 2] + t[starts[has] + sizes[has] // 2]) / 2
    return out


def segment_nanmedians(
    unit: NDArray[np.intp],
    columns: Sequence[NDArray[np.float64]],
    n_units: int,
    grouping: tuple[NDArray[np.intp], NDArray[np.intp]] | None = None,
) -> list[NDArray[np.float64]]:
    """Per column: the median of its values per unit code, NaN skipped; NaN for a unit without one.

    As pandas' groupby median computes it: the middle value, or the mean of the two middle ones.
    ``grouping``: the rows grouped by unit (any order within a unit) and their units in that
    order; without it, one stable counting sort finds them. Each unit's median is then a sort of
    its own slice (numpy's SIMD sort of a few hundred values costs less than the call around it).
    """
    outs = [np.full(n_units, np.nan) for _ in columns]
    if not unit.size:
        return outs
    if grouping is None:
        order = np.argsort(unit.astype(np.int16) if n_units < 2**15 else unit, kind="stable")  # 16-bit: radix
        unit_grouped = unit[order]
    else:
        order, unit_grouped = grouping
    for values, out in zip(columns, outs, strict=True):
        grouped = values[order]
        valid = ~np.isnan(grouped)
        if not valid.all():
            grouped = grouped[valid]  # keeps the grouping by unit
            sizes = np.bincount(unit_grouped[valid], minlength=n_units)
        else:
            sizes = np.bincount(unit_grouped, minlength=n_units)
        ends = np.cumsum(sizes).tolist()
        have = np.flatnonzero(sizes).tolist()
        medians = []
        for u in have:
            b = ends[u]
            m = int(sizes[u])
            part = np.sort(grouped[b - m : b])
            k = m // 2
            medians.append(part[k] if m % 2 else (part[k] + part[k - 1]) / 2)
        out[have] = medians
    return outs
