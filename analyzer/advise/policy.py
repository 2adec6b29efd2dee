"""The policy: how a recommended limit is chosen, rounded and judged against the limit in force.

Pure. ``recommend`` applies it to every unit; ``layers`` makes the set consistent.

How a limit is chosen (see ``Policy``):

1. Per unit, a censoring-aware estimate of the target quantile q (``model.DurationModel``):
   Kaplan–Meier, whose upper confidence bound is used where at least ``KM_SUPPORT`` observed
   runs lie beyond it; otherwise a parametric tail (log-normal or Weibull, censored maximum
   likelihood), whose upper confidence bound is used and never below what the KM already
   proves (the estimate, or the largest observation when q lies beyond the data).
2. Plus a margin (``margin`` × the bound, at least ``margin_min_s``), rounded *up* to a value
   people write: whole minutes for ``timeout-minutes`` (jobs, steps); 5/10/30/60-second steps
   for tool limits (phases) below 1/5/20 minutes and above.
3. Verdict against the current limit L, with hysteresis so a limit does not flap week to week:
   ``too_tight`` when the data show with confidence that L stops more than 1 - q of the runs
   (L below the lower confidence bound of the q-quantile); ``too_loose`` when L exceeds
   ``loose_factor`` × the recommendation and the recommendation plus ``loose_slack_s``;
   otherwise ``ok`` and the recommendation *is* L. ``no_timeout`` when the unit has no limit
   of its own, ``insufficient_data`` below ``min_samples`` or when nothing bounds the quantile.
4. Timeout layers: phases nest in steps (or in other phases), steps in jobs. An inner limit
   that cannot fire before its outer one is flagged; an outer limit smaller than the sum of the
   recommended inner limits on its critical path (parallel inner spans count once, by their
   largest) plus the time not covered by them is flagged, and the recommended outer limit is
   raised so the recommended set is consistent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

VERDICTS = ("too_tight", "ok", "too_loose", "no_timeout", "insufficient_data")
CHANGE = ("too_tight", "too_loose")  # verdicts that ask for another limit
MINUTE_SCOPES = frozenset({"job", "step"})  # limits written as timeout-minutes


@dataclass(frozen=True, slots=True)
class Policy:
    """How limits are chosen; defaults are what ``we-advisor recommend`` uses."""

    quantile: float = 0.99  # at most 1 - quantile of healthy runs may be stopped
    confidence: float = 0.90  # two-sided level of the intervals; the upper end (a one-sided 95 % bound) is used
    margin: float = 0.05  # added to the upper confidence bound (a share of it) ...
    margin_min_s: float = 5.0  # ... and at least this much
    loose_factor: float = 2.0  # too_loose: current > loose_factor × recommended ...
    loose_slack_s: float = 300.0  # ... and current > recommended + loose_slack_s
    min_samples: int = 20
    max_tail_error: float = 0.10  # a tail whose CDF misses the KM curve by more is not relied on
    runner_ratio: float = 1.25  # runner labels whose p90 differ by this much get a closer look
    max_runner_models: int = 5  # at most this many gradient-boosting fits per recommend


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
    seconds = max(seconds, 1.0)
    if scope in MINUTE_SCOPES:
        step = 60.0
    elif seconds < 60:
        step = 5.0
    elif seconds < 300:
        step = 10.0
    elif seconds < 1200:
        step = 30.0
    else:
        step = 60.0
    return float(math.ceil(seconds / step - 1e-9) * step)


def verdict(insufficient: bool, now: float, lo_edge: float, rec: float, policy: Policy) -> tuple[str, float]:
    """The verdict on the current limit ``now`` and the limit to recommend (NaN: none)."""
    if insufficient:
        return "insufficient_data", float("nan")
    if not math.isfinite(now):
        return "no_timeout", rec
    if now < lo_edge:
        return "too_tight", max(rec, now)
    if now > max(policy.loose_factor * rec, rec + policy.loose_slack_s):
        return "too_loose", rec
    return "ok", now  # hysteresis: inside the band, keep what is there
