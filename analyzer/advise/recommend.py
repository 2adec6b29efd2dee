"""Recommendations: observations + current limits + a policy → a limit per unit, with a verdict.

Pure: no store, no files, no printing. ``api.recommend`` gathers the inputs; ``present`` renders
the result. How a limit is chosen is the policy's (``analyzer.advise.policy``); how the limits of
nested units fit together is ``analyzer.advise.layers``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from analyzer.advise.layers import Structure, apply_layers, structure
from analyzer.advise.limits import CurrentLimit, settable
from analyzer.advise.policy import (
    MINUTE_SCOPES,
    PROPOSALS,
    Policy,
    judge,
    loose,
    next_limits,
    quantile_label,
    quantile_rule,
    raise_cap,
    rate_rule,
    round_limits,
)
from analyzer.advise.result import Recommendation, RecommendResult, RunnerQuantile, RunnerSplit, TailEstimate
from analyzer.formatting import human_duration, percent
from analyzer.model import DurationModel, RunnerQuantileModel, keys_of
from analyzer.model.rates import Rates
from analyzer.records import UnitKey

# The observation columns a recommendation reads (``Store.observations_frame(only=…)``, in its order): all but
# ``step_number`` (the model, the limits the logs revealed, the layers, the runner splits and the rerun notes)
RECOMMEND_COLUMNS = (
    "scope", "repo", "workflow", "job", "step", "phase", "run_id", "run_attempt", "job_id", "started_at", "duration_s",
    "outcome", "censored", "limit_s", "runner", "silence_s", "gap_s",
)  # fmt: skip


def recommend_limits(
    frame: pd.DataFrame,
    current: Mapping[UnitKey, CurrentLimit],
    policy: Policy | None = None,
    *,
    generated_at: datetime | None = None,
    model: DurationModel | None = None,
) -> RecommendResult:
    """Recommendations for every unit of an observations frame (see ``analyzer.advise.policy``).

    ``current`` maps unit keys to the limits in force (see ``current_limits``); units missing from
    it have none (and a step named as the runner names its own steps is not settable). ``model``: a
    ``DurationModel`` already fitted on ``frame`` with the policy's quantile and confidence, to
    avoid fitting twice.
    """
    policy = policy or Policy()
    if model is None:
        model = DurationModel(
            quantile=policy.quantile, confidence=policy.confidence, min_samples=policy.min_samples, kill_budget=policy.budget
        ).fit(frame)
    units = model.units_
    n = len(units)
    start, end, runs = _window(frame)
    if n == 0:
        return RecommendResult(generated_at or datetime.now(UTC), policy.quantile, (), (), policy, start, end, runs)
    keys = keys_of(units)
    limits = [current.get(k) or CurrentLimit(None, None, settable=settable(k)) for k in keys]
    now = np.array([np.nan if c.timeout_s is None else float(c.timeout_s) for c in limits])
    can_set = np.array([c.settable for c in limits], dtype=bool)
    minutes = np.isin(units["scope"].to_numpy(), list(MINUTE_SCOPES))
    samples = units["samples"].to_numpy()
    judged = (samples >= policy.min_samples) & can_set
    estimate, upper, q_basis = model.quantile_bound()

    # the new limit: the kill-rate rule, or the quantile rule for small histories
    advised = np.full(n, np.nan)
    basis: list[str | None] = [None] * n
    big = np.flatnonzero(judged & (samples >= policy.small_runs))
    advised[big], found = rate_rule(model, big, minutes[big], policy)
    for i, u in enumerate(big.tolist()):
        basis[u] = found[i]
    small = np.flatnonzero(judged & (samples < policy.small_runs))
    advised[small] = quantile_rule(upper[small], minutes[small], policy)
    for u in small.tolist():
        basis[u] = q_basis[u] if np.isfinite(advised[u]) else None
    # never below the upper end of the target quantile's own interval (where the data bound it)
    floor = round_limits(upper, minutes)
    advised = np.where(np.isfinite(advised) & np.isfinite(floor), np.fmax(advised, floor), advised)

    rate_now = model.rates(np.arange(n), now, in_force=True)
    longest = units["max_s"].to_numpy(dtype=float)
    # where a cut would rest on a tail fitted to few runs: no lower than the quantile rule's value, nor, where the
    # longest run was stopped (nothing is known beyond it), 1.5 × that run
    stopped = units["max_censored"].to_numpy(dtype=bool)
    safe = np.fmax(quantile_rule(upper, minutes, policy), np.where(stopped, round_limits(1.5 * longest, minutes), np.nan))
    finished = units["max_event_s"].to_numpy(dtype=float)
    decisions = [_Decision() for _ in range(n)]
    for u in np.flatnonzero(judged).tolist():
        _first_pass(decisions[u], float(now[u]), float(advised[u]), basis[u], rate_now, u, bool(minutes[u]), int(samples[u]),
                    (float(safe[u]), q_basis[u], float(finished[u])), policy)  # fmt: skip
    raising = np.array([d.verdict == "too_tight" and not d.remeasure for d in decisions])
    proposed = np.array([d.limit for d in decisions])
    rate_raise = model.rates(np.arange(n), np.where(raising, proposed, np.nan))
    for u in np.flatnonzero(judged).tolist():
        _second_pass(decisions[u], float(now[u]), rate_now, rate_raise, u, bool(minutes[u]), float(longest[u]), policy)
    verdicts = ["insufficient_data" if samples[u] < policy.min_samples else "not_settable" if not can_set[u] else d.verdict
                for u, d in enumerate(decisions)]  # fmt: skip
    recommended = np.array([d.limit if judged[u] else np.nan for u, d in enumerate(decisions)])

    nesting = structure(frame, model, keys)
    # a kept inner limit is cut along with its outer one only on the evidence a cut needs (loose_min_runs)
    cuttable = np.where(samples >= policy.loose_min_runs, advised, np.nan)
    layer_warnings, raised = apply_layers(nesting, keys, now, recommended, verdicts, policy, cuttable)
    # a kept limit is the limit in force: shown with the same interval it was judged by
    rate_rec = model.rates(np.arange(n), recommended, in_force=np.array([v == "ok" for v in verdicts]))
    # how much sooner hung runs would have been stopped: at the recommended limit, or, where the limit in force
    # is kept, at the limit the data would set today when that is lower
    changing = np.array([v in PROPOSALS for v in verdicts])
    saved_at = np.where(changing, recommended, np.where(advised < now, advised, np.nan))
    saved = _hung_saved(model, saved_at)
    _, p99_lo, p99_hi, _ = model.quantile_interval(0.99)
    # the interval shown beside the (Kaplan–Meier) p99 contains it, also where a tail placed the interval above
    # the longest run of a short history (the KM p99 is then that run)
    p99_lo = np.where(np.isfinite(p99_lo), np.fmin(p99_lo, units["p99_s"].to_numpy(dtype=float)), p99_lo)
    texts = {"verdict": verdicts}
    rows = units.assign(
        now=now, estimate=estimate, upper=upper, recommended=recommended, hung_saved=saved, saved_at=saved_at, p99_lo=p99_lo,
        p99_hi=p99_hi,
        **{k: pd.Series(v, index=units.index, dtype=object) for k, v in texts.items()},
    ).to_dict("records")  # one row per unit: everything its recommendation is made of (None stays None)
    context = _Context(model, policy, keys, nesting, raised, _runner_splits(frame, model, policy), rate_now, rate_rec)
    out = [_recommendation(u, rows[u], keys[u], limits[u], decisions[u], context) for u in range(n)]
    order = sorted(range(n), key=lambda u: nesting.sort_key(u, keys[u]))
    return RecommendResult(
        generated_at=generated_at or datetime.now(UTC),
        quantile=policy.quantile,
        recommendations=tuple(out[u] for u in order),
        layers=tuple(layer_warnings),
        policy=policy,
        window_start=start,
        window_end=end,
        runs=runs,
    )


@dataclass
class _Decision:
    """One unit's verdict and limit as the policy works them out, and the notes on how."""

    verdict: str = "insufficient_data"
    limit: float = math.nan
    safe: float = math.nan  # the quantile rule's value (at least 1.5 × the longest run): the fallback
    basis: str | None = None  # what the limit rests on
    basis_km: bool = True
    remeasure: bool = False
    notes: list[str] = field(default_factory=list)


def _first_pass(
    d: _Decision, now: float, advised: float, basis: str | None, rate_now: Rates, u: int, minutes: bool, samples: int,
    fallback: tuple[float, str, float], policy: Policy,
) -> None:  # fmt: skip
    """The verdict on the limit in force and the limit proposed (before checking that a raise lowers the rate).

    ``fallback``: the quantile rule's value and what it rests on, the floor of a cut the kill-rate
    rule cannot support, and the longest run that finished."""
    safe, safe_basis, finished = fallback
    d.limit, d.safe, d.basis, d.basis_km = advised, safe, basis, bool(basis and basis.startswith("km"))
    if not math.isfinite(now):
        d.verdict = "no_timeout"
        return
    verdict, kept = judge(float(rate_now.point[u]), float(rate_now.lo[u]), float(rate_now.hi[u]), policy)
    kept_note = (
            f"kept: its kill rate's interval {_pct(rate_now.lo[u])}–{_pct(rate_now.hi[u])} contains the "
            f"{_pct(policy.target)} target and its estimate {_pct(rate_now.point[u])} is at most "
            f"{_pct(policy.keep_budget)}"
    )
    cut = False
    # a cut needs the data's support: a Kaplan–Meier bound, 500 runs, or runs that finished beyond the new value
    supported = math.isfinite(advised) and (d.basis_km or samples >= policy.loose_min_runs or advised <= finished)
    if verdict == "ok" and supported:
        cut = loose(now, advised, policy)
    elif verdict == "ok" and math.isfinite(safe):
        # the new limit rests on a tail fitted to fewer runs than a cut needs, or nothing certifies one yet:
        # only a limit far above anything the data could need is cut, and only to that
        target = max(safe, advised) if math.isfinite(advised) else safe
        cut = now >= 2 * target and loose(now, target, policy)
        if cut:
            d.limit, d.basis = target, safe_basis
            d.notes.append(f"cut to {human_duration(target)} (the p{quantile_label(policy.quantile)} upper bound plus "
                           f"{policy.margin:.0%}, at least 1.5 × the longest run): the data cannot certify less yet")  # fmt: skip
        elif math.isfinite(advised) and loose(now, advised, policy):
            d.notes.append(f"not cut to {human_duration(advised)}: that rests on a tail fitted to {samples} runs")
    d.verdict = "too_loose" if verdict == "ok" and cut else verdict
    if kept and d.verdict == "ok":
        d.notes.insert(0, kept_note)
    if d.verdict != "too_tight":
        return
    step = float(next_limits(np.array([now]), np.array([minutes]))[0])
    d.limit = max(advised, step) if math.isfinite(advised) else math.nan
    cap = raise_cap(now, minutes, policy)
    if not math.isfinite(d.limit) or (not d.basis_km and d.limit > cap):
        _remeasure(d, cap, now)


def _second_pass(
    d: _Decision, now: float, rate_now: Rates, rate_raise: Rates, u: int, minutes: bool, longest: float, policy: Policy
) -> None:
    """A raise the data cannot show to lower the rate becomes "raise to at least X, re-measure"; a unit
    nothing bounds gets "set at least X, re-measure"; an ``ok`` limit is kept."""
    if d.verdict == "too_tight" and not d.remeasure:
        known_now = math.isfinite(rate_now.point[u])
        lower = math.isfinite(rate_raise.point[u]) and (not known_now or rate_raise.point[u] < rate_now.point[u])
        if not lower:
            _remeasure(d, raise_cap(now, minutes, policy), now)
    if d.verdict == "ok":
        d.limit = now
    elif not math.isfinite(d.limit):
        d.remeasure = True
        d.limit = d.safe if math.isfinite(d.safe) else float(round_limits(np.array([1.5 * longest]), np.array([minutes]))[0])
        d.notes.append(f"set at least {human_duration(d.limit)}, re-measure: no value has a kill-rate bound within "
                       f"{_pct(policy.budget)} yet")  # fmt: skip


def _remeasure(d: _Decision, limit: float, now: float) -> None:
    d.remeasure, d.limit = True, limit
    d.notes.append(
        f"raise to at least {human_duration(limit)}, re-measure: the data cannot say how far beyond "
        f"{human_duration(now)} runs go"
    )


def _window(frame: pd.DataFrame) -> tuple[datetime | None, datetime | None, int]:
    """The first and last start in the frame and its job attempts."""
    if frame.empty:
        return None, None, 0
    runs = _distinct(frame["job_id"]) if "job_id" in frame else 0
    if "started_at" not in frame:
        return None, None, runs
    stamps = frame["started_at"]
    if not (isinstance(stamps.dtype, pd.DatetimeTZDtype) and str(stamps.dtype.tz) == "UTC"):  # else it is UTC already
        stamps = pd.to_datetime(stamps, utc=True)
    first, last = stamps.min(), stamps.max()

    def when(value: Any) -> datetime | None:
        return None if pd.isna(value) else pd.Timestamp(value).floor("us").to_pydatetime()

    return when(first), when(last), runs


def _distinct(values: pd.Series) -> int:
    """``values.nunique()``: for integers by numpy's sort of a copy (8 bytes a row), not pandas' hash table
    (34 MB at 10⁶ rows, the peak of ``recommend``'s memory)."""
    if isinstance(values.dtype, np.dtype) and values.dtype.kind in "iu":  # (not Int64 and kin: they hold NA)
        return int(np.unique(values.to_numpy()).size)
    return int(values.nunique())


def _hung_saved(model: DurationModel, limits: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Per unit: the seconds by which ``limits`` would have stopped its hung runs sooner (NaN: none hung)."""
    out = np.full(limits.size, np.nan)
    hung = np.asarray(model.hung_)
    if not hung.any():
        return out
    unit = model.unit_of_row_[hung]
    durations = model.durations_[hung]
    cut = np.maximum(durations - limits[unit], 0.0)
    total = np.bincount(unit, weights=np.nan_to_num(cut), minlength=limits.size)
    has = np.bincount(unit, minlength=limits.size) > 0
    out[has] = total[has]
    return out


def _pct(x: float) -> str:
    return percent(float(x))


@dataclass(frozen=True)
class _Context:
    """What every unit's recommendation is judged against: the model, the policy, the units' keys, how
    they nest, the notes of outer limits raised to fit their inner ones, runner splits (by unit), and
    the kill rates of the limits in force and of the recommended ones."""

    model: DurationModel
    policy: Policy
    keys: list[UnitKey]
    nesting: Structure
    raised: dict[int, str]
    runners: dict[int, RunnerSplit]
    rate_now: Rates
    rate_rec: Rates


def _recommendation(
    u: int, row: dict[Any, Any], key: UnitKey, limit: CurrentLimit, decision: _Decision, context: _Context
) -> Recommendation:
    tail = None
    if row["tail_model"] is not None:
        rests = any(str(b).startswith("tail:") for b in (decision.basis, context.rate_now.label(u), context.rate_rec.label(u)))
        tail = TailEstimate(
            model=str(row["tail_model"]), quantile_s=_f(row["tail_q_s"]), upper_s=_f(row["tail_q_hi_s"]),
            p95_s=_f(row["tail_p95_s"]), p99_s=_f(row["tail_p99_s"]), fit_error=float(row["tail_fit_error"]),
            used=rests, ks_critical=_f(row["tail_ks_critical"]), threshold_s=_f(row["tail_threshold_s"]),
        )  # fmt: skip
    recommended = _f(row["recommended"])
    now, rec = context.rate_now, context.rate_rec
    limited = math.isfinite(row["now"])
    return Recommendation(
        *key, samples=int(row["samples"]), censored=int(row["censored"]), p50_s=_f(row["p50_s"]), p95_s=_f(row["p95_s"]),
        p99_s=_f(row["p99_s"]), p99_ci_s=(_f(row["p99_lo"]), _f(row["p99_hi"])),
        current_timeout_s=_f(row["now"]), current_source=limit.source, recommended_timeout_s=recommended,
        verdict=row["verdict"], false_timeout_rate_current=_f(now.point[u]) if limited else None,
        false_timeout_rate_recommended=_f(rec.point[u]) if recommended is not None else None,
        rate_current_ci=(_f(now.lo[u]), _f(now.hi[u])) if limited else (None, None),
        rate_recommended_ci=(_f(rec.lo[u]), _f(rec.hi[u])) if recommended is not None else (None, None),
        rate_basis=(now.label(u) if limited else None, rec.label(u) if recommended is not None else None),
        quantile_s=_f(row["estimate"]), quantile_lower_bound_s=_f(row["max_s"]) if row["q_beyond"] else None,
        upper_bound_s=_f(row["upper"]), basis=decision.basis if recommended is not None else None, tail=tail,
        hung=int(row["hung"]), trend=row["trend"], change_ratio=_f(row["change_ratio"]), expression=limit.expression,
        runners=context.runners.get(u), notes=_notes(u, row, limit, decision, tail, context), settable=limit.settable,
        where=limit.where if limit.settable else None, remeasure=decision.remeasure and recommended is not None,
        hung_saved_s=_f(row["hung_saved"]), hung_saved_at_s=_f(row["saved_at"]) if _f(row["hung_saved"]) else None,
    )  # fmt: skip


def _notes(
    u: int, row: dict[Any, Any], limit: CurrentLimit, decision: _Decision, tail: TailEstimate | None, context: _Context
) -> tuple[str, ...]:
    """What a reader needs to trust (or doubt) a unit's recommendation, in plain words."""
    policy = context.policy
    notes: list[str] = []
    if limit.note:
        notes.append(limit.note)
    verdict = row["verdict"]
    if verdict == "not_settable":
        notes.append("no timeout can be set for this step (the runner makes it, or it runs inside a composite action): "
                     "measured, not advised")  # fmt: skip
    if verdict == "insufficient_data":
        notes.append(f"{row['samples']} observation(s), fewer than min_samples={policy.min_samples}")
    notes += decision.notes if verdict not in ("insufficient_data", "not_settable") else []
    if tail is not None and tail.used:
        notes.append(f"beyond the data a {_family(tail.model)} tail (censored MLE, accepted by a tail KS test) "
                     f"extrapolates: {_few(u, row, context.model)}")  # fmt: skip
    notes += _beyond_the_tail(u, row, context)
    for v in context.nesting.aliases.get(u, []):
        notes.append(f"measures the same span as {context.keys[v].phase!r}")
    if row["hung"]:
        saved, at = _f(row["hung_saved"]), _f(row["saved_at"])
        sooner = f"; a limit of {human_duration(at)} would have stopped them {human_duration(saved)} sooner in all" if saved and at else ""
        notes.append(f"{row['hung']} run(s) hung (stopped by a limit after a long silence in the log): set apart from the "
                     f"healthy runs{sooner}")  # fmt: skip
    ratio = _f(row["change_ratio"])
    if row["trend"] is not None and ratio is not None:
        notes.append(
            f"{'slower' if row['trend'] == 'slower' else 'faster'} this week: median {ratio - 1:+.0%} against the week before "
            f"(Mann–Whitney z={float(row['change_z']):+.1f})"
        )
    if u in context.raised:
        notes.append(context.raised[u])
    split = context.runners.get(u)
    if split is not None:
        slow = max(split.labels, key=lambda x: x.quantile_s)
        fast = min(split.labels, key=lambda x: x.quantile_s)
        notes.append(
            f"slow tail belongs to runner {slow.runner!r}: p{quantile_label(split.quantile)} {human_duration(slow.quantile_s)} "
            f"against {human_duration(fast.quantile_s)} on {fast.runner!r}"
            + (" (a lower bound: censored runs left out)" if slow.lower_bound else "")
        )
    return tuple(notes)


def _f(value: object) -> float | None:
    try:
        f = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _family(model: str) -> str:
    return {"lognormal": "log-normal", "weibull": "Weibull", "gpd": "generalized Pareto (peaks over threshold)",
            "mixture": "two-component log-normal mixture"}.get(model, model)  # fmt: skip


def _beyond_the_tail(u: int, row: dict[Any, Any], context: _Context) -> list[str]:
    """Runs that lasted to the limit in force where the accepted tail, which rates the limit, expects
    almost none (at most a tenth of them at its interval's upper end): failures that never finish (a
    deployment in CrashLoopBackOff), not slow healthy runs. The rate stays the tail's; the note says
    why a limit that stopped runs is still rated near zero."""
    if not math.isfinite(row["now"]) or not str(context.rate_now.label(u) or "").startswith("tail:"):
        return []
    limits = np.full(len(context.model.units_), np.nan)
    limits[u] = row["now"]
    reached = int(context.model.runs_reaching(limits)[u])
    tail = context.model.rates([u], [row["now"]])  # the upper end a new limit gets: no higher than KM's (in force: no lower)
    expected = float(tail.hi[0]) * int(row["samples"])
    if reached < 1 or not expected < 0.1 * reached:
        return []
    return [f"{reached} run(s) lasted to the limit in force, where the healthy runs' tail expects at most {expected:.2g}: "
            "they look like failures that never finish, not slow runs (a higher limit would not save them); "
            "look at them before raising it"]  # fmt: skip


def _few(u: int, row: dict[Any, Any], model: DurationModel) -> str:
    if row["q_beyond"]:
        return f"the data end at {human_duration(float(row['max_s']))}"
    limits = np.full(len(model.units_), np.nan)
    limits[u] = row["q_s"]
    return f"only {int(model.runs_reaching(limits)[u])} run(s) reached the Kaplan–Meier estimate"


def _runner_splits(frame: pd.DataFrame, model: DurationModel, policy: Policy) -> dict[int, RunnerSplit]:
    """Gradient-boosted conditional quantiles for the few units whose runner labels differ most."""
    table = model.by_runner_
    if table.empty:
        return {}
    # p90 where every label has one, else the median: a label's quantile beyond its data is no evidence
    p90_known = table["p90_s"].notna().groupby(table["unit"]).transform("all").to_numpy(dtype=bool)
    column = np.where(p90_known, table["p90_s"], table["p50_s"])
    values = pd.Series(column, index=table["unit"].to_numpy())
    lows, highs = values.groupby(level=0).min(), values.groupby(level=0).max()
    with np.errstate(divide="ignore", invalid="ignore"):
        spread = (highs / lows).replace([np.inf], np.nan).dropna()
    candidates = spread[spread >= policy.runner_ratio]
    if candidates.empty:
        return {}
    samples = model.units_["samples"]
    chosen = sorted(candidates.index, key=lambda u: -int(samples.iloc[int(u)]))[: policy.max_runner_models]
    out: dict[int, RunnerSplit] = {}
    not_hung = ~np.asarray(model.hung_)
    for u in chosen:
        sub = frame.iloc[model.positions_[(model.unit_of_row_ == int(u)) & not_hung]]
        try:
            fitted = RunnerQuantileModel(quantile=0.9, min_samples=policy.min_samples).fit(sub)
        except ValueError:
            continue
        labels = tuple(
            RunnerQuantile(label, fitted.quantiles_[label], fitted.samples_[label], fitted.censored_[label], fitted.lower_bound_[label])
            for label in fitted.labels_
        )
        if fitted.ratio_ >= policy.runner_ratio:
            out[int(u)] = RunnerSplit(0.9, float(fitted.ratio_), labels)
    return out

