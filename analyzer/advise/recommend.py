"""Recommendations: observations + current limits + a policy → a limit per unit, with a verdict.

Pure: no store, no files, no printing. ``api.recommend`` gathers the inputs; ``present`` renders
the result. How a limit is chosen is the policy's (``analyzer.advise.policy``); how the limits of
nested units fit together is ``analyzer.advise.layers``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from analyzer.advise.layers import Structure, apply_layers, structure
from analyzer.advise.limits import CurrentLimit
from analyzer.advise.policy import Policy, quantile_label, round_limit, verdict
from analyzer.advise.result import Recommendation, RecommendResult, RunnerQuantile, RunnerSplit, TailEstimate
from analyzer.formatting import human_duration
from analyzer.model import KM_SUPPORT, DurationModel, RunnerQuantileModel, keys_of
from analyzer.records import UnitKey


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
    it have none. ``model``: a ``DurationModel`` already fitted on ``frame`` with the policy's
    quantile and confidence, to avoid fitting twice.
    """
    policy = policy or Policy()
    if model is None:
        model = DurationModel(quantile=policy.quantile, confidence=policy.confidence, min_samples=policy.min_samples)
        model.fit(frame)
    units = model.units_
    n = len(units)
    if n == 0:
        return RecommendResult(generated_at or datetime.now(UTC), policy.quantile, (), (), policy)
    keys = keys_of(units)
    limits = [current.get(k, CurrentLimit(None, None)) for k in keys]
    now = np.array([np.nan if c.timeout_s is None else float(c.timeout_s) for c in limits])

    samples = units["samples"].to_numpy()
    q_s = units["q_s"].to_numpy(dtype=float)
    beyond = units["q_beyond"].to_numpy(dtype=bool)
    lower = np.where(beyond, units["q_lower_bound_s"].to_numpy(dtype=float), q_s)
    ci_lo = units["q_ci_lo_s"].to_numpy(dtype=float)
    ci_hi = units["q_ci_hi_s"].to_numpy(dtype=float)
    max_s = units["max_s"].to_numpy(dtype=float)
    tail_model = units["tail_model"].to_numpy()
    tail_hi = units["tail_q_hi_s"].to_numpy(dtype=float)
    tail_lo = units["tail_q_lo_s"].to_numpy(dtype=float)
    tail_err = units["tail_fit_error"].to_numpy(dtype=float)

    km_ok = np.isfinite(ci_hi) & (model.runs_reaching(ci_hi) >= KM_SUPPORT)
    tail_fitted = np.array([m is not None for m in tail_model], dtype=bool) & np.isfinite(tail_hi)
    tail_ok = tail_fitted & (tail_err <= policy.max_tail_error)
    with np.errstate(invalid="ignore"):
        tail_bound = np.fmax(tail_hi, lower)
    # the upper bound, by what supports it best: the KM bound with enough runs beyond it; the tail;
    # a KM bound resting on few runs; and when the quantile lies beyond the data and no tail fits,
    # the largest observation (the quantile is at least that)
    lower_only = beyond & np.isfinite(lower)
    upper = np.select(
        [km_ok, tail_ok, np.isfinite(ci_hi), lower_only], [ci_hi, tail_bound, ci_hi, lower], default=np.nan
    )
    basis = [
        "km" if km_ok[u] or (not tail_ok[u] and np.isfinite(ci_hi[u]))
        else f"tail:{tail_model[u]}" if tail_ok[u]
        else "km-lower-bound" if lower_only[u]
        else None
        for u in range(n)
    ]
    scopes = units["scope"].to_numpy()
    raw = np.maximum(upper * (1 + policy.margin), upper + policy.margin_min_s)
    rec = np.array([round_limit(float(raw[u]), str(scopes[u])) if np.isfinite(raw[u]) else np.nan for u in range(n)])
    # the lower edge of the band: below it the current limit stops more than 1 - q of the runs, with
    # confidence. When even the lower confidence band of S stays above 1 - q to the end of the data,
    # the quantile's lower bound is past the longest run; a limit at that run (the runs it stopped,
    # give or take the log's timestamp rounding) is then too tight.
    at_end = np.fmax(max_s + np.maximum(1.0, 0.005 * max_s), np.where(tail_ok, tail_lo, np.nan))
    lo_edge = np.where(np.isfinite(ci_lo), ci_lo, at_end)

    insufficient = (samples < policy.min_samples) | ~np.isfinite(upper)
    verdicts: list[str] = []
    recommended = np.full(n, np.nan)
    for u in range(n):
        judged, value = verdict(bool(insufficient[u]), float(now[u]), float(lo_edge[u]), float(rec[u]), policy)
        verdicts.append(judged)
        recommended[u] = value

    nesting = structure(frame, model, keys)
    layer_warnings, raised = apply_layers(nesting, keys, now, rec, lo_edge, recommended, verdicts, policy)

    rate_now, basis_now = model.kill_rate(now, max_tail_error=policy.max_tail_error)
    rate_rec, basis_rec = model.kill_rate(recommended, max_tail_error=policy.max_tail_error)
    max_censored = units["max_censored"].to_numpy(dtype=bool)
    for bases, lim in ((basis_now, now), (basis_rec, recommended)):
        for u in range(n):
            if bases[u] == "km" and max_censored[u] and lim[u] > max_s[u] + max(1.0, 0.005 * max_s[u]):
                bases[u] = "km-upper-bound"  # beyond the longest run, which was stopped: at most this
    texts = {"basis": basis, "verdict": verdicts, "basis_now": basis_now, "basis_rec": basis_rec}
    rows = units.assign(
        now=now, lower=lower, upper=upper, recommended=recommended, rate_now=rate_now, rate_rec=rate_rec,
        tail_fitted=tail_fitted, **{k: pd.Series(v, index=units.index, dtype=object) for k, v in texts.items()},
    ).to_dict("records")  # one row per unit: everything its recommendation is made of (None stays None)
    context = _Context(model, policy, keys, nesting, raised, _runner_splits(frame, model, policy))
    out = [_recommendation(u, rows[u], keys[u], limits[u], context) for u in range(n)]
    order = sorted(range(n), key=lambda u: nesting.sort_key(u, keys[u]))
    return RecommendResult(
        generated_at=generated_at or datetime.now(UTC),
        quantile=policy.quantile,
        recommendations=tuple(out[u] for u in order),
        layers=tuple(layer_warnings),
        policy=policy,
    )


@dataclass(frozen=True)
class _Context:
    """What every unit's recommendation is judged against: the model, the policy, the units' keys, how
    they nest, the notes of outer limits raised to fit their inner ones, and runner splits (by unit)."""

    model: DurationModel
    policy: Policy
    keys: list[UnitKey]
    nesting: Structure
    raised: dict[int, str]
    runners: dict[int, RunnerSplit]


def _recommendation(u: int, row: dict[Any, Any], key: UnitKey, limit: CurrentLimit, context: _Context) -> Recommendation:
    tail = None
    if row["tail_fitted"]:
        tail = TailEstimate(
            model=str(row["tail_model"]),
            quantile_s=float(row["tail_q_s"]),
            upper_s=float(row["tail_q_hi_s"]),
            p95_s=float(row["tail_p95_s"]),
            p99_s=float(row["tail_p99_s"]),
            fit_error=float(row["tail_fit_error"]),
            used=str(row["basis"]).startswith("tail:"),
        )
    limited, recommended = math.isfinite(row["now"]), _f(row["recommended"])
    return Recommendation(
        *key, samples=int(row["samples"]), censored=int(row["censored"]), p50_s=_f(row["p50_s"]), p95_s=_f(row["p95_s"]),
        p99_s=_f(row["p99_s"]), p99_ci_s=(_f(row["p99_ci_lo_s"]), _f(row["p99_ci_hi_s"])),
        current_timeout_s=_f(row["now"]), current_source=limit.source, recommended_timeout_s=recommended,
        verdict=row["verdict"], false_timeout_rate_current=_f(row["rate_now"]) if limited else None,
        false_timeout_rate_recommended=_f(row["rate_rec"]) if recommended is not None else None,
        rate_basis=(row["basis_now"], row["basis_rec"] if recommended is not None else None), quantile_s=_f(row["q_s"]),
        quantile_lower_bound_s=_f(row["lower"]) if row["q_beyond"] else None, upper_bound_s=_f(row["upper"]),
        basis=row["basis"], tail=tail, hung=int(row["hung"]), trend=row["trend"], change_ratio=_f(row["change_ratio"]),
        expression=limit.expression, runners=context.runners.get(u), notes=_notes(u, row, limit, tail, context),
    )  # fmt: skip


def _notes(u: int, row: dict[Any, Any], limit: CurrentLimit, tail: TailEstimate | None, context: _Context) -> tuple[str, ...]:
    """What a reader needs to trust (or doubt) a unit's recommendation, in plain words."""
    policy = context.policy
    notes: list[str] = []
    if limit.note:
        notes.append(limit.note)
    if tail is not None:
        family = _family(tail.model)
        if tail.used:
            notes.append(f"p{quantile_label(policy.quantile)} extrapolated by a {family} tail (censored MLE): {_few(u, row, context.model)}")
        elif tail.fit_error > policy.max_tail_error:
            notes.append(f"the {family} tail fits poorly (CDF off by {tail.fit_error:.0%}); not relied on")
    if row["basis"] == "km-lower-bound" and row["verdict"] != "insufficient_data":
        notes.append(
            f"p{quantile_label(policy.quantile)} lies beyond the data and no tail fits: the recommendation starts from its "
            f"lower bound {human_duration(row['lower'])}, the longest run (stopped there: slow or hung, the data cannot tell)"
        )
    for v in context.nesting.aliases.get(u, []):
        notes.append(f"measures the same span as {context.keys[v].phase!r}")
    if row["verdict"] == "insufficient_data":
        if row["samples"] < policy.min_samples:
            notes.append(f"{row['samples']} observation(s), fewer than min_samples={policy.min_samples}")
        else:
            notes.append("neither the data nor a parametric tail bounds the quantile")
    if row["hung"]:
        notes.append(f"{row['hung']} censored run(s) set aside as hung (stopped after > 10× the median and 2× the longest finished run)")
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
    return {"lognormal": "log-normal", "weibull": "Weibull"}.get(model, model)


def _few(u: int, row: dict[Any, Any], model: DurationModel) -> str:
    if row["q_beyond"]:
        return f"it lies beyond the data, which end at {human_duration(float(row['lower']))}"
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

