"""``DurationModel``: censoring-aware duration quantiles, confidence intervals, tails and trends per unit.

The per-unit estimator behind ``recommend`` and ``backtest``: every unit at once, vectorized (10⁶
observations over 10³ units in well under two seconds).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from analyzer.config import quantile_ok
from analyzer.model import normal
from analyzer.model.base import ParamsMixin
from analyzer.model.hangs import hung_rows
from analyzer.model.km import (
    EPS,
    SortedRows,
    bootstrap_quantile_ci,
    first_where,
    km_quantile_rows,
    km_sorted,
    loglog_bands,
    rows_to_times,
    segment_medians,
    sort_units,
)
from analyzer.model.rates import KM_SUPPORT, Rates, pair_rates
from analyzer.model.stats import STATS_QUANTILES
from analyzer.model.tails import Tails, fit_unit_tails
from analyzer.model.units import Rows, unit_rows


class DurationModel(ParamsMixin):
    """Censoring-aware duration quantiles for every unit (job, step, phase) of an observations frame.

    scikit-learn style: parameters in ``__init__``; ``fit(frame)`` sets the attributes ending in
    ``_``. ``units_`` is a DataFrame with one row per unit (its index is the unit number the
    ``*_at`` methods take arrays over):

    - ``samples``, ``censored``, ``events``; ``max_s`` (largest observation), ``max_censored``
      and ``max_event_s`` (largest finished run);
    - ``p50_s`` … ``p99_s`` and ``q_s`` (the target ``quantile``): Kaplan–Meier, NaN where the
      data cannot identify them (beyond the last finished run); ``q_beyond`` marks that case, and
      then ``q_lower_bound_s`` (the largest observation) bounds the quantile from below;
      ``q_support`` is how many observations lie beyond the estimate;
    - ``q_ci_lo_s``/``q_ci_hi_s`` and ``p99_ci_lo_s``/``p99_ci_hi_s``: confidence intervals at
      level ``confidence`` (method ``ci_method``; NaN where the data cannot bound them);
    - ``tail_model`` (``lognormal``, ``weibull``, ``gpd`` or ``mixture``: the simplest model accepted
      by the tail Kolmogorov–Smirnov test, see ``model.tails``; None when none is),
      ``tail_q_s``, ``tail_q_lo_s``, ``tail_q_hi_s`` (its q-quantile and confidence bounds, delta
      method), ``tail_p95_s``, ``tail_p99_s``, ``tail_fit_error`` (its tail KS distance),
      ``tail_ks_critical`` (the distance it had to stay under) and ``tail_threshold_s`` (where the
      test, and a POT model, starts): a *parametric extrapolation*, fitted where the KM curve cannot
      answer what a limit needs (``tail="auto"``: the quantile rests on fewer than ``KM_SUPPORT``
      runs, the longest run was stopped, or no limit inside the data has a kill-rate upper bound
      within ``kill_budget``), everywhere (``"always"``) or nowhere (``"never"``);
    - ``recent_median_s``, ``previous_median_s``, ``change_ratio``, ``change_z`` and ``trend``
      (``slower``/``faster``/None): the last ``change_days`` against the ``change_days`` before,
      by medians and a Mann–Whitney rank test (|z| ≥ 3 and a median change of 10 % or more);
      censored rows enter at their observed duration, which can only understate a slowdown;
    - ``insufficient``: fewer than ``min_samples`` observations;
    - ``hung``: runs set aside as hung rather than slow (``model.hangs``): ended by a limit after
      a long silence in the log (the frame's ``silence_s`` and ``gap_s``); and, for rows without
      that information, censored runs stopped after more than ``hung_factor`` × the median and
      twice the longest finished run. A job killed at GitHub's 360-minute default when it usually
      takes five says nothing about how long a healthy run takes, but it would otherwise push every
      upper quantile beyond the data. ``hung_`` marks them (per fitted row); ``hung_factor=None``
      keeps them all.

    ``by_runner_`` holds KM quantiles per (unit, runner label) for units that ran on several
    labels with ``min_samples`` runs each.

    Confidence intervals: ``"loglog"`` (default) inverts the pointwise log-log (exponential
    Greenwood) band of S(t), Brookmeyer & Crowley's construction and the one lifelines uses: a
    few vector operations over the already sorted rows for every unit at once, and
    deterministic — the same data always gives the same limit, which matters for limits that
    must not flap. The percentile bootstrap (``"bootstrap"``: multinomial weights, vectorized
    over replicates, ``n_bootstrap`` × rows of work per unit) is there for cross-checks on small
    data; at 10⁶ rows it would be the whole time budget, and at the far tail it is no better: a
    resampled 99th percentile of a few hundred runs is one of the few largest observations, so
    its interval is too narrow or unidentified, which is what the parametric tail is for.
    """

    def __init__(
        self,
        *,
        quantile: float = 0.99,
        confidence: float = 0.95,
        min_samples: int = 20,
        window_days: float | None = None,
        change_days: float = 7.0,
        ci_method: str = "loglog",
        n_bootstrap: int = 400,
        tail: str = "auto",
        by_runner: bool = True,
        hung_factor: float | None = 10.0,
        kill_budget: float | None = None,
        random_state: int = 0,
    ) -> None:
        self.quantile = quantile
        self.confidence = confidence
        self.min_samples = min_samples
        self.window_days = window_days
        self.change_days = change_days
        self.ci_method = ci_method
        self.n_bootstrap = n_bootstrap
        self.tail = tail
        self.by_runner = by_runner
        self.hung_factor = hung_factor
        self.kill_budget = kill_budget
        self.random_state = random_state

    def fit(self, X: pd.DataFrame, y: object = None) -> DurationModel:
        """Fit every unit of an observations frame (columns as ``store.observations_frame``)."""
        if not quantile_ok(self.quantile):
            raise ValueError(f"quantile {self.quantile} is not in [0.5, 1)")
        if not 0 < self.confidence < 1:
            raise ValueError(f"confidence {self.confidence} is not in (0, 1)")
        if self.ci_method not in ("loglog", "bootstrap"):
            raise ValueError(f"ci_method {self.ci_method!r} is neither 'loglog' nor 'bootstrap'")
        if self.tail not in ("auto", "always", "never"):
            raise ValueError(f"tail {self.tail!r} is not one of auto, always, never")
        rows = unit_rows(X, self.window_days)
        n_units = len(rows.keys)
        s = sort_units(rows.unit, rows.t, rows.censored, n_units)
        units = rows.keys.copy()
        units["samples"] = s.sizes
        units["censored"] = np.bincount(rows.unit, weights=rows.censored.astype(np.float64), minlength=n_units).astype(np.intp)
        s, hung = self._drop_hung(s, n_units, X, rows)
        self.z_ = float(normal.ndtri(0.5 + self.confidence / 2))
        self.sorted_ = s
        self.band_lo_, self.band_hi_ = loglog_bands(s, self.z_) if s.t.size else (np.empty(0), np.empty(0))
        self.positions_ = rows.position
        self.unit_of_row_ = rows.unit
        self.started_ = rows.started
        self.attempt_ = rows.attempt
        self.hung_ = hung
        self.durations_ = rows.t
        self.n_units_ = n_units
        units["hung"] = np.bincount(rows.unit[hung], minlength=n_units).astype(np.intp)
        units["events"] = units["samples"] - units["censored"]
        last = np.maximum(s.ends - 1, 0)
        has_rows = s.t.size > 0
        units["max_s"] = s.t[last] if has_rows else np.nan
        units["max_censored"] = ~s.event[last] if has_rows else False
        if has_rows:
            max_event = np.maximum.reduceat(np.where(s.event, s.t, -np.inf), s.starts)
            units["max_event_s"] = np.where(np.isfinite(max_event), max_event, np.nan)
        else:
            units["max_event_s"] = np.nan
        for q, column in zip(STATS_QUANTILES, ("p50_s", "p90_s", "p95_s", "p99_s"), strict=True):
            units[column] = rows_to_times(s, *km_quantile_rows(s, q))
        q_rows, known = km_quantile_rows(s, self.quantile)
        units["q_s"] = rows_to_times(s, q_rows, known)
        units["q_beyond"] = ~known
        units["q_lower_bound_s"] = np.where(known, np.nan, units["max_s"])
        units["q_support"] = np.where(known, s.ends - q_rows - 1, 0)
        lo, hi = self._ci(self.quantile)
        units["q_ci_lo_s"], units["q_ci_hi_s"] = lo, hi
        lo99, hi99 = (lo, hi) if abs(self.quantile - 0.99) < 1e-12 else self._ci(0.99)
        units["p99_ci_lo_s"], units["p99_ci_hi_s"] = lo99, hi99
        units["insufficient"] = units["samples"] < self.min_samples
        self.units_ = units
        self._fit_tail_models()
        # the Greenwood sums served the bands and the tails; nothing reads them after (8 bytes a row): a tail or
        # band asked of sorted_ now raises rather than reading them as zero
        self.sorted_ = s = replace(s, greenwood=np.empty(0))
        self._fit_change(rows)
        self.by_runner_ = self._fit_by_runner(rows) if self.by_runner else _empty_runner_frame()
        return self

    # -- parts of fit --------------------------------------------------------------------------

    def _drop_hung(self, s: SortedRows, n_units: int, X: pd.DataFrame, rows: Rows) -> tuple[SortedRows, NDArray[np.bool_]]:
        """Set aside the runs that hung rather than ran slow (see ``hung``).

        Returns the sorted rows without them and a mask over the fitted rows (input order).
        """
        hung = np.zeros(s.t.size, dtype=bool)
        if self.hung_factor is None or not s.t.size:
            return s, hung
        silence = _column(X, "silence_s", rows.position)
        if np.isfinite(silence).any():
            outcome = X["outcome"].to_numpy()[rows.position] if "outcome" in X else np.full(rows.position.size, "")
            hung |= hung_rows(rows.unit, outcome, rows.censored, silence, _column(X, "gap_s", rows.position), n_units)
        # without a log's silences: stopped long after every finished run (GitHub's 360-minute default)
        median = rows_to_times(s, *km_quantile_rows(s, 0.5))
        finished = np.maximum.reduceat(np.where(s.event, s.t, -np.inf), s.starts)
        with np.errstate(invalid="ignore"):
            threshold = np.maximum(float(self.hung_factor) * median, 2.0 * finished)
            flag = ~s.event & (s.t > threshold[s.unit]) & ~np.isfinite(silence[s.order])
        hung[s.order[flag]] = True
        if not hung.any():
            return s, hung
        keep = ~hung[s.order]
        return km_sorted(s.order[keep], s.unit[keep], s.t[keep], s.event[keep], n_units), hung

    def _ci(self, q: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        s = self.sorted_
        n_units = s.starts.size
        if not s.t.size:
            return np.full(n_units, np.nan), np.full(n_units, np.nan)
        if self.ci_method == "bootstrap":
            rng = np.random.default_rng(self.random_state)
            lo, hi = np.full(n_units, np.nan), np.full(n_units, np.nan)
            for u in range(n_units):
                a, b = int(s.starts[u]), int(s.ends[u])
                lo[u], hi[u] = bootstrap_quantile_ci(s.t[a:b], s.event[a:b], q, self.confidence, self.n_bootstrap, rng)
            return lo, hi
        band_lo, band_hi = self.band_lo_, self.band_hi_
        target = 1.0 - q + EPS
        return rows_to_times(s, *first_where(band_lo <= target, s)), rows_to_times(s, *first_where(band_hi <= target, s))

    def _fit_tail_models(self) -> None:
        s, units = self.sorted_, self.units_
        n_units = len(units)
        if self.tail == "never" or not s.t.size:
            wanted = np.zeros(n_units, bool)
        elif self.tail == "always":
            wanted = np.ones(n_units, bool)
        else:
            budget = (1.5 * (1.0 - self.quantile)) if self.kill_budget is None else float(self.kill_budget)
            certified = first_where((self.band_hi_ <= budget) & (s.survival > 0), s)[1]
            weak = (units["q_support"].to_numpy() < KM_SUPPORT) | units["q_ci_hi_s"].isna().to_numpy()
            wanted = weak | units["max_censored"].to_numpy(dtype=bool) | ~certified
        self.tails_ = fit_unit_tails(s, wanted) if wanted.any() else Tails.empty(n_units)
        t = self.tails_
        chosen = np.flatnonzero(t.chosen)
        for column in ("tail_q_s", "tail_q_lo_s", "tail_q_hi_s", "tail_p95_s", "tail_p99_s"):
            units[column] = np.nan
        units["tail_model"] = pd.Series([f or None for f in t.family], index=units.index, dtype=object)
        units["tail_fit_error"] = t.distance
        units["tail_ks_critical"] = t.critical
        units["tail_threshold_s"] = np.where(t.chosen, t.threshold, np.nan)
        if chosen.size:
            q = self.quantile
            units.loc[chosen, "tail_q_s"] = t.quantile(chosen, q)
            units.loc[chosen, "tail_q_lo_s"] = t.quantile(chosen, q, -self.z_)
            units.loc[chosen, "tail_q_hi_s"] = t.quantile(chosen, q, self.z_)
            units.loc[chosen, "tail_p95_s"] = t.quantile(chosen, 0.95)
            units.loc[chosen, "tail_p99_s"] = t.quantile(chosen, 0.99)

    def _fit_change(self, rows: Rows) -> None:
        units, s, n_units = self.units_, self.sorted_, self.n_units_
        for column in ("recent_median_s", "previous_median_s", "change_ratio", "change_z"):
            units[column] = np.nan
        units["trend"] = None
        if not np.isfinite(rows.started).any():
            return
        newest = float(np.nanmax(rows.started))
        span = float(self.change_days) * 86400.0
        started = rows.started[s.order]
        recent = started > newest - span
        previous = (started > newest - 2 * span) & ~recent
        both = recent | previous
        sub_unit, sub_t, sub_recent = s.unit[both], s.t[both], recent[both]
        sub_previous = ~sub_recent
        rec_unit, prev_unit = sub_unit[sub_recent], sub_unit[sub_previous]
        count_rec, count_prev = np.bincount(rec_unit, minlength=n_units), np.bincount(prev_unit, minlength=n_units)
        n_rec, n_prev = count_rec.astype(np.float64), count_prev.astype(np.float64)
        med_rec = segment_medians(count_rec, sub_t[sub_recent])
        med_prev = segment_medians(count_prev, sub_t[sub_previous])
        # Mann–Whitney U of the recent span against the one before: rows are sorted by duration
        # within a unit, so a row's rank is its position in the unit's combined subset
        sizes = n_rec + n_prev
        starts = np.cumsum(sizes) - sizes
        # Σ (position - start + 1) over a unit's recent rows; every term an integer, so exact either way
        position_sum = np.bincount(rec_unit, weights=np.flatnonzero(sub_recent).astype(np.float64), minlength=n_units)
        rank_sum = position_sum - n_rec * starts + n_rec
        u_stat = rank_sum - n_rec * (n_rec + 1) / 2
        with np.errstate(divide="ignore", invalid="ignore"):
            z = (u_stat - n_rec * n_prev / 2) / np.sqrt(n_rec * n_prev * (sizes + 1) / 12)
            ratio = med_rec / med_prev
        enough = (n_rec >= 5) & (n_prev >= 5)
        units["recent_median_s"] = med_rec
        units["previous_median_s"] = med_prev
        units["change_ratio"] = np.where(enough, ratio, np.nan)
        units["change_z"] = np.where(enough, z, np.nan)
        slower = enough & (z >= 3.0) & (ratio >= 1.1)
        faster = enough & (z <= -3.0) & (ratio <= 1 / 1.1)
        trend = [("slower" if up else "faster" if down else None) for up, down in zip(slower, faster, strict=True)]
        units["trend"] = pd.Series(trend, index=units.index, dtype=object)  # None stays None under pandas 3

    def _fit_by_runner(self, rows: Rows) -> pd.DataFrame:
        """KM quantiles per (unit, runner label), for units run on several labels with enough runs each."""
        s = self.sorted_
        if not s.t.size or not rows.runner_names:
            return _empty_runner_frame()
        n_labels = len(rows.runner_names) + 1
        # per sorted row: unit * n_labels + label, the label 0 for unknown (in place: 10⁶ rows, 8 MB an array)
        pair = s.unit.astype(np.int64)
        pair *= n_labels
        pair += rows.runner[s.order]
        pair += 1
        counts = np.bincount(pair, minlength=self.n_units_ * n_labels)
        big = counts >= self.min_samples
        big[:: n_labels] = False  # unknown label
        labels_per_unit = big.reshape(self.n_units_, n_labels).sum(axis=1)
        keep_pair = big & np.repeat(labels_per_unit >= 2, n_labels)
        if not keep_pair.any():
            return _empty_runner_frame()
        pair_ids = np.flatnonzero(keep_pair)
        local = np.full(pair.size and counts.size, -1, np.intp)
        local[pair_ids] = np.arange(pair_ids.size)
        rows_kept = keep_pair[pair]
        if rows_kept.all():  # the usual case: no copies of every row
            sub_pair, t_kept, event_kept = local[pair], s.t, s.event
        else:
            sub_pair, t_kept, event_kept = local[pair[rows_kept]], s.t[rows_kept], s.event[rows_kept]
        del pair, rows_kept  # (each array gone as soon as it is used: this is the fit's peak of memory)
        # rows are already in (unit, t, event-first) order; a stable sort by pair keeps that within pairs
        small = sub_pair.astype(np.int16) if pair_ids.size < 2**15 else sub_pair  # 16-bit: a radix sort
        order = np.argsort(small, kind="stable").astype(np.intp)
        del small
        pair_sorted = sub_pair[order]
        del sub_pair
        t_sorted, event_sorted = t_kept[order], event_kept[order]
        del t_kept, event_kept
        sub = km_sorted(order, pair_sorted, t_sorted, event_sorted, pair_ids.size, greenwood=False)
        del order, pair_sorted, t_sorted, event_sorted
        out = pd.DataFrame(
            {
                "unit": pair_ids // n_labels,
                "runner": pd.Series([rows.runner_names[int(i) - 1] for i in pair_ids % n_labels], dtype=object),
                "samples": sub.sizes,
                "censored": sub.sizes - np.bincount(sub.unit, weights=sub.event.astype(np.float64), minlength=pair_ids.size).astype(np.intp),
            }
        )
        for q, column in ((0.5, "p50_s"), (0.9, "p90_s"), (self.quantile, "q_s")):
            out[column] = rows_to_times(sub, *km_quantile_rows(sub, q))
        return out

    # -- queries -------------------------------------------------------------------------------

    def runs_reaching(self, limits: ArrayLike) -> NDArray[np.float64]:
        """Per unit: observations that lasted at least the limit (what a KM answer there rests on)."""
        s = self.sorted_
        return _where_limited(limits, lambda units, lim: s.ends[units] - 1 - s.rows_at(units, lim, side="left"))

    def rates(self, units: ArrayLike, limits: ArrayLike, *, in_force: ArrayLike = False) -> Rates:
        """The kill rate P(T > limit) of (unit, limit) pairs with its interval at ``confidence``, and what
        it rests on (``model.rates``): Kaplan–Meier where it answers, the unit's accepted tail beyond.
        ``in_force`` (per pair, or for all): judged as the limit in force, see ``pair_rates``."""
        u = np.asarray(units, dtype=np.intp)
        lim = np.asarray(limits, dtype=np.float64)
        return pair_rates(self.sorted_, self.band_lo_, self.band_hi_, self.tails_, self.z_, u, lim, self.confidence,
                          np.asarray(in_force, dtype=bool))  # fmt: skip

    def kill_rate(self, limits: ArrayLike) -> tuple[NDArray[np.float64], list[str | None]]:
        """Estimated share of runs a limit would stop, per unit (one limit each), and what each rests on
        (``km``, ``tail:<model>``, ``unknown``: NaN; None where there is no limit)."""
        lim = np.asarray(limits, dtype=np.float64)
        r = self.rates(np.arange(lim.size), lim)
        return r.point, [r.label(i) for i in range(lim.size)]

    def estimate(self, q: float) -> tuple[NDArray[np.float64], list[str | None]]:
        """Best estimate of the q-quantile per unit, and what it rests on.

        Kaplan–Meier where at least ``KM_SUPPORT`` observations lie beyond it; otherwise the
        unit's accepted tail (``"tail:<model>"``), never below the last duration with
        ``KM_SUPPORT`` observations beyond it (so estimates stay monotone in q), nor below the
        largest observation when q lies beyond the data; otherwise the KM value (NaN when the data
        cannot identify it).
        """
        s = self.sorted_
        rows, known = km_quantile_rows(s, q)
        km = rows_to_times(s, rows, known)
        support = np.where(known, s.ends - rows - 1, 0)
        out = km.copy()
        basis: list[str | None] = ["km" if np.isfinite(v) else None for v in km]
        units = np.flatnonzero(self.tails_.chosen & (support < KM_SUPPORT))
        if units.size:
            supported = s.t[np.maximum(s.ends[units] - KM_SUPPORT - 1, s.starts[units])]
            floor = np.where(known[units], supported, self.units_["max_s"].to_numpy(dtype=float)[units])
            values = np.fmax(self.tails_.quantile(units, q), floor)
            fitted = np.isfinite(self.tails_.quantile(units, q))
            out[units] = np.where(fitted, values, out[units])
            for u, ok in zip(units.tolist(), fitted.tolist(), strict=True):
                if ok:
                    basis[u] = f"tail:{self.tails_.family[u]}"
        return out, basis

    def quantile_interval(self, q: float | None = None) -> tuple[NDArray[Any], ...]:
        """Per unit: the best estimate of the q-quantile (default: the target), its two-sided interval at
        ``confidence``, and what they rest on (basis codes: 1 ``km``, 2 ``tail``, 3 ``unknown``).

        Kaplan–Meier where at least ``KM_SUPPORT`` runs lie beyond the interval's upper end (an upper
        bound resting on fewer is one of the last few runs, as wide as chance makes it); else the
        accepted tail's (delta method), never below the KM estimate (or the longest run when the
        quantile lies beyond the data); else the KM interval resting on fewer runs; else unknown.
        """
        q = self.quantile if q is None else q
        units = self.units_
        n = len(units)
        s = self.sorted_
        q_km = rows_to_times(s, *km_quantile_rows(s, q)) if s.t.size else np.full(n, np.nan)
        if abs(q - self.quantile) < 1e-12:
            lo, hi = units["q_ci_lo_s"].to_numpy(dtype=float), units["q_ci_hi_s"].to_numpy(dtype=float)
        elif abs(q - 0.99) < 1e-12:
            lo, hi = units["p99_ci_lo_s"].to_numpy(dtype=float), units["p99_ci_hi_s"].to_numpy(dtype=float)
        else:
            lo, hi = self._ci(q)
        km_ok = np.isfinite(hi) & (self.runs_reaching(hi) >= KM_SUPPORT)
        all_units = np.arange(n)
        tail_up = self.tails_.quantile(all_units, q, self.z_)
        tail_ok = ~km_ok & np.isfinite(tail_up)
        tail_q = self.tails_.quantile(all_units, q)
        tail_lo = self.tails_.quantile(all_units, q, -self.z_)
        floor = np.where(np.isfinite(q_km), q_km, units["max_s"].to_numpy(dtype=float))
        estimate = np.where(tail_ok & np.isfinite(tail_q), np.fmax(tail_q, floor), q_km)
        low = np.where(tail_ok, np.fmin(tail_lo, estimate), lo)
        high = np.where(tail_ok, np.fmax(tail_up, floor), hi)
        basis = np.where(km_ok, 1, np.where(tail_ok, 2, np.where(np.isfinite(hi), 1, 3))).astype(np.int8)
        return estimate, low, high, basis

    def quantile_bound(self) -> tuple[NDArray[np.float64], NDArray[np.float64], list[str]]:
        """Per unit: the best estimate of the target quantile, its one-sided upper confidence bound, and what
        they rest on (``km``, ``tail:<model>``, ``unknown``): see ``quantile_interval``."""
        estimate, _, upper, codes = self.quantile_interval()
        family = self.tails_.family
        basis = ["km" if c == 1 else f"tail:{family[u]}" if c == 2 else "unknown" for u, c in enumerate(codes.tolist())]
        return estimate, upper, basis


def _empty_runner_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "unit": pd.Series(dtype=np.int64),
            "runner": pd.Series(dtype=object),
            "samples": pd.Series(dtype=np.int64),
            "censored": pd.Series(dtype=np.int64),
            "p50_s": pd.Series(dtype=float),
            "p90_s": pd.Series(dtype=float),
            "q_s": pd.Series(dtype=float),
        }
    )


def _column(frame: pd.DataFrame, name: str, position: NDArray[np.intp]) -> NDArray[np.float64]:
    """A numeric column of the fitted rows (NaN where missing, or all NaN when the frame has none)."""
    if name not in frame:
        return np.full(position.size, np.nan)
    column = frame[name]
    if (column.dtype == object or isinstance(column.dtype, pd.CategoricalDtype)) and column.isna().all():
        # a column of NULLs (None objects as read, or an empty categorical from the columns cache): what
        # to_numeric makes of it, without converting 10⁶ objects
        return np.full(position.size, np.nan)
    values = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    return np.asarray(values[position], dtype=np.float64)


def _where_limited(
    limits: ArrayLike, answer: Callable[[NDArray[np.intp], NDArray[np.float64]], NDArray[Any]]
) -> NDArray[np.float64]:
    """``answer(units, limits)`` for the units that have a limit (finite), NaN for the others."""
    lim = np.asarray(limits, dtype=np.float64)
    out = np.full(lim.shape, np.nan)
    units = np.flatnonzero(np.isfinite(lim))
    if units.size:
        out[units] = answer(units, lim[units])
    return out
