"""The kill rate of a limit: P(T > L) with a confidence interval, Kaplan–Meier where it answers, the tail beyond.

For many (unit, limit) pairs at once, from the model's sorted rows, their log-log (Greenwood)
band and the units' accepted tails (``tails.Tails``):

- up to where the KM curve answers (everywhere when the longest run finished, else up to that
  run, which a limit or a cancel stopped), while S(L) > 0: the KM estimate and its pointwise
  log-log interval (basis ``km``); but where fewer than ``KM_SUPPORT`` runs reached L (the KM
  answer is then one of the last few runs, as wide as chance makes it) and the unit has an
  accepted tail whose estimate the band does not exclude, the tail's estimate, its upper end no
  higher than the KM band's (``tail:<model>``) — for a limit judged as the one in force
  (``in_force``), no lower than the band's, and the tail's estimate even where the band excludes it
  (the higher rate: such a limit is not kept on the few runs that happened to pass it);
- beyond the last finished run of a unit whose longest run finished, KM says 0 however few runs
  were left at risk: the upper end is the KM interval's just before that run, narrowed by an
  accepted tail where there is one (``tail:<model>``, its point and lower end), else the point is
  0 (``km``);
- beyond a censored end, the accepted tail (``tail:<model>``), else nothing is known: the point
  is NaN, the lower end S(longest run) (what KM proves: at least that many lasted that long) and
  the upper end 1 (``unknown``). A limit in force that the longest runs were stopped at, recorded
  up to max(1 s, 0.5 %) short of it, keeps the KM band's upper end there as above.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from analyzer.model.km import SortedRows
from analyzer.model.tails import Tails

KM_SUPPORT = 5  # a Kaplan–Meier answer at t rests on the runs that reached t; fewer than this: prefer the tail

BASES = ("", "km", "tail", "unknown")  # codes of ``Rates.basis``


@dataclass(frozen=True)
class Rates:
    """Kill rates of (unit, limit) pairs: point, two-sided interval, and what each rests on."""

    point: NDArray[np.float64]  # NaN: unknown (beyond a censored end, no tail) or no limit
    lo: NDArray[np.float64]
    hi: NDArray[np.float64]
    basis: NDArray[np.int8]  # index into BASES (0: no limit)
    family: NDArray[np.object_]  # the tail's family where basis is "tail", else ""

    def label(self, i: int) -> str | None:
        code = int(self.basis[i])
        if code == 0:
            return None
        if BASES[code] == "tail":
            return f"tail:{self.family[i]}"
        return BASES[code]

    @property
    def known(self) -> NDArray[np.bool_]:
        return np.asarray(np.isfinite(self.point), dtype=bool)


def pair_rates(
    s: SortedRows,
    band_lo: NDArray[np.float64],
    band_hi: NDArray[np.float64],
    tails: Tails,
    z: float,
    units: NDArray[np.intp],
    limits: NDArray[np.float64],
    confidence: float = 0.90,
    in_force: NDArray[np.bool_] | bool = False,
) -> Rates:
    """P(T > limit) per (unit, limit) pair (see the module docstring); NaN where the limit is NaN.

    ``in_force`` (per pair, or for all): the limit is judged as the one in force. Where fewer than
    ``KM_SUPPORT`` runs reached it, the tail still gives the estimate, but the upper end is never below the
    Kaplan–Meier band's: the runs that did reach it are evidence a tail fitted to the others cannot overrule,
    so a kept limit says its interval contains the target instead of claiming a certainty it does not have."""
    m = units.size
    point, lo, hi = np.full(m, np.nan), np.full(m, np.nan), np.full(m, np.nan)
    basis = np.zeros(m, dtype=np.int8)
    family = np.full(m, "", dtype=object)
    has = np.isfinite(limits)
    if not has.any() or not s.t.size:
        return Rates(point, lo, hi, basis, family)
    k = np.flatnonzero(has)
    uu, lim = units[k], limits[k]
    starts, last = s.starts[uu], s.ends[uu] - 1
    empty = s.sizes[uu] == 0
    longest_censored = ~s.event[np.maximum(last, 0)]
    until = np.where(longest_censored, s.t[np.maximum(last, 0)] + 1e-6, np.inf)
    j = s.rows_at(uu, lim)
    before_any = j < starts
    jj = np.maximum(j, 0)
    surv = np.where(before_any, 1.0, s.survival[jj])
    b_lo = np.where(before_any, 1.0, band_lo[jj])
    b_hi = np.where(before_any, 1.0, band_hi[jj])
    inside = lim <= until
    reaching = s.ends[uu] - 1 - s.rows_at(uu, lim, side="left")
    weak = (reaching < KM_SUPPORT) & tails.chosen[uu]
    # the tails answer only where the KM curve does not (their intervals take numerical gradients)
    t_point, t_lo, t_hi = np.full(k.size, np.nan), np.full(k.size, np.nan), np.full(k.size, np.nan)
    need = np.flatnonzero(~(inside & (surv > 0)) | weak)
    if need.size:
        t_point[need], t_lo[need], t_hi[need] = tails.rate(uu[need], lim[need], z)
    tail_ok = np.isfinite(t_point) & np.isfinite(t_hi)

    # inside, S > 0: KM and its band (the tail where few runs reached the limit)
    km = inside & (surv > 0)
    point[k[km]], lo[k[km]], hi[k[km]], basis[k[km]] = surv[km], b_lo[km], b_hi[km], 1
    # no run finished before L: the band collapses to S = 1; the exact binomial end for n of n runs instead
    every = np.flatnonzero(km & (surv >= 1.0) & (reaching > 0))
    if every.size:
        lo[k[every]] = ((1.0 - confidence) / 2.0) ** (1.0 / reaching[every])
    # Where the tail's estimate lies above the band's upper end the two disagree: a new limit is rated by KM (its
    # certificate was the band's upper end already; a tail estimate above it would make an interval that does
    # not hold its estimate), the limit in force by the tail (the higher rate: a limit in force that may stop too
    # many runs is not kept on the few runs that happened to pass it)
    in_force_k = np.broadcast_to(np.asarray(in_force, dtype=bool), units.shape)[k]
    few = km & weak & tail_ok & (in_force_k | (t_point <= b_hi))
    if few.any():
        f_idx = np.flatnonzero(few)
        sel = k[f_idx]
        wide = in_force_k[f_idx]
        t_upper = np.where(wide, np.maximum(t_hi[f_idx], b_hi[f_idx]), np.minimum(t_hi[f_idx], b_hi[f_idx]))
        point[sel], lo[sel], hi[sel] = t_point[f_idx], t_lo[f_idx], t_upper
        basis[sel] = 2
        family[sel] = tails.family[uu[f_idx]]

    # inside, S = 0 (beyond the last finished run): the band just before that run bounds it from above
    zero = inside & ~(surv > 0)
    if zero.any():
        z_idx = np.flatnonzero(zero)
        last_event_t = s.t[np.maximum(j[z_idx], 0)]  # the row where S reached 0 is the last event's block
        before = s.rows_at(uu[z_idx], last_event_t - 1e-6)
        none = before < starts[z_idx]
        before_hi = np.where(none, 1.0, band_hi[np.maximum(before, 0)])
        use_tail = tail_ok[z_idx]
        sel = k[z_idx]
        point[sel] = np.where(use_tail, t_point[z_idx], 0.0)
        lo[sel] = np.where(use_tail, t_lo[z_idx], 0.0)
        hi[sel] = np.where(use_tail, np.minimum(t_hi[z_idx], before_hi), before_hi)
        basis[sel] = np.where(use_tail, 2, 1)
        family[sel] = np.where(use_tail, tails.family[uu[z_idx]], "")

    # beyond a censored end: the tail, else unknown (at least S at the longest run)
    out = ~inside
    if out.any():
        o_idx = np.flatnonzero(out)
        use_tail = tail_ok[o_idx]
        sel = k[o_idx]
        point[sel] = np.where(use_tail, t_point[o_idx], np.nan)
        lo[sel] = np.where(use_tail, t_lo[o_idx], surv[o_idx])
        # a limit in force that stopped the longest runs, recorded a little short of it (step times are whole
        # seconds): those runs reached it, and the band at them bounds it as inside
        t_last = s.t[np.maximum(last[o_idx], 0)]
        stopped_at = in_force_k[o_idx] & (
            lim[o_idx] - t_last <= np.maximum(1.0, 0.005 * lim[o_idx]))  # fmt: skip
        upper = np.where(stopped_at, np.maximum(t_hi[o_idx], b_hi[o_idx]), t_hi[o_idx])
        hi[sel] = np.where(use_tail, upper, 1.0)
        basis[sel] = np.where(use_tail, 2, 3)
        family[sel] = np.where(use_tail, tails.family[uu[o_idx]], "")
    basis[k[empty]] = 3
    point[k[empty]], lo[k[empty]], hi[k[empty]] = np.nan, 0.0, 1.0
    return Rates(point, lo, hi, basis, family)
