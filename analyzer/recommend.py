"""Recommendations: observations + current limits + a policy → a limit per unit, a verdict, patches.

Pure: no store, no files, no printing. ``api.recommend`` gathers the inputs; ``cli.py`` prints.

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

import difflib
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from analyzer.config import PhaseRule, TimeoutRule
from analyzer.formatting import human_duration, shorten
from analyzer.model import KM_SUPPORT, DurationModel, RunnerQuantileModel, segment_nanmedians
from analyzer.records import Incident
from analyzer.workflows import (
    DEFAULT_JOB_TIMEOUT_S,
    JobSpec,
    TimeoutValue,
    WorkflowSpec,
    find_workflow,
    job_timeout,
    step_timeout,
)

VERDICTS = ("too_tight", "ok", "too_loose", "no_timeout", "insufficient_data")
_MINUTE_SCOPES = frozenset({"job", "step"})  # limits written as timeout-minutes


class UnitKey(NamedTuple):
    scope: str
    workflow: str
    job: str
    step: str | None
    phase: str | None

    def label(self) -> str:
        return " / ".join(x for x in (self.job, self.step, self.phase) if x)


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


@dataclass(frozen=True, slots=True)
class CurrentLimit:
    """The limit in force for a unit and where it was read."""

    timeout_s: float | None
    source: str | None  # workflow, workflow-matrix, default, config, log, expression; None: no limit
    expression: str | None = None
    note: str | None = None


@dataclass(frozen=True, slots=True)
class TailEstimate:
    """The parametric tail of a unit: an extrapolation, labelled as such wherever it is shown."""

    model: str  # lognormal | weibull
    quantile_s: float
    upper_s: float
    p95_s: float
    p99_s: float
    fit_error: float  # largest gap between the model's CDF and the KM CDF at finished runs
    used: bool  # the recommendation rests on it


@dataclass(frozen=True, slots=True)
class RunnerQuantile:
    runner: str
    quantile_s: float
    samples: int
    censored: int
    lower_bound: bool  # censored runs were left out of the regression: the true value is higher


@dataclass(frozen=True, slots=True)
class RunnerSplit:
    """Conditional quantiles by runner label (gradient boosting on label, weekday, hour)."""

    quantile: float
    ratio: float
    labels: tuple[RunnerQuantile, ...]


@dataclass(frozen=True, slots=True)
class Recommendation:
    scope: str
    workflow: str
    job: str
    step: str | None
    phase: str | None
    samples: int
    censored: int
    p50_s: float | None
    p95_s: float | None
    p99_s: float | None
    p99_ci_s: tuple[float | None, float | None]
    current_timeout_s: float | None
    current_source: str | None
    recommended_timeout_s: float | None
    verdict: str
    false_timeout_rate_current: float | None
    false_timeout_rate_recommended: float | None
    quantile_s: float | None = None  # KM estimate of the target quantile
    quantile_lower_bound_s: float | None = None  # set when the quantile lies beyond the data
    upper_bound_s: float | None = None  # the upper confidence bound the recommendation starts from
    basis: str | None = None  # km | tail:lognormal | tail:weibull
    rate_basis: tuple[str | None, str | None] = (None, None)  # what the two kill rates rest on
    tail: TailEstimate | None = None
    hung: int = 0
    trend: str | None = None
    change_ratio: float | None = None
    expression: str | None = None
    runners: RunnerSplit | None = None
    notes: tuple[str, ...] = ()

    @property
    def key(self) -> UnitKey:
        return UnitKey(self.scope, self.workflow, self.job, self.step, self.phase)

    @property
    def name(self) -> str:
        return self.phase or self.step or self.job


@dataclass(frozen=True, slots=True)
class LayerWarning:
    kind: str  # inner_cannot_fire | outer_too_small
    outer: UnitKey
    inner: UnitKey | None
    outer_timeout_s: float | None
    inner_timeout_s: float | None
    required_s: float | None
    message: str


@dataclass(frozen=True, slots=True)
class RecommendResult:
    generated_at: datetime
    quantile: float
    recommendations: tuple[Recommendation, ...]
    layers: tuple[LayerWarning, ...] = ()
    policy: Policy = field(default_factory=Policy)

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of DESIGN.md, plus ``notes``, ``tail_estimate``, ``layers`` and a few more."""
        return {
            "generated_at": self.generated_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "quantile": self.quantile,
            "recommendations": [recommendation_dict(r) for r in self.recommendations],
            "layers": [
                {
                    "kind": w.kind,
                    "outer": w.outer._asdict(),
                    "inner": None if w.inner is None else w.inner._asdict(),
                    "outer_timeout_s": w.outer_timeout_s,
                    "inner_timeout_s": w.inner_timeout_s,
                    "required_s": w.required_s,
                    "message": w.message,
                }
                for w in self.layers
            ],
        }


def recommendation_dict(r: Recommendation) -> dict[str, Any]:
    out: dict[str, Any] = {
        "scope": r.scope,
        "workflow": r.workflow,
        "job": r.job,
        "step": r.step,
        "phase": r.phase,
        "samples": r.samples,
        "censored": r.censored,
        "p50_s": r.p50_s,
        "p95_s": r.p95_s,
        "p99_s": r.p99_s,
        "p99_ci_s": list(r.p99_ci_s),
        "current_timeout_s": r.current_timeout_s,
        "current_source": r.current_source,
        "recommended_timeout_s": r.recommended_timeout_s,
        "verdict": r.verdict,
        "false_timeout_rate_current": r.false_timeout_rate_current,
        "false_timeout_rate_recommended": r.false_timeout_rate_recommended,
        "quantile_s": r.quantile_s,
        "quantile_lower_bound_s": r.quantile_lower_bound_s,
        "upper_bound_s": r.upper_bound_s,
        "basis": r.basis,
        "false_timeout_rate_basis": {"current": r.rate_basis[0], "recommended": r.rate_basis[1]},
        "tail_estimate": None,
        "hung": r.hung,
        "trend": r.trend,
        "change_ratio": r.change_ratio,
        "expression": r.expression,
        "runners": None,
        "notes": list(r.notes),
    }
    if r.tail is not None:
        out["tail_estimate"] = {
            "model": r.tail.model,
            "quantile_s": r.tail.quantile_s,
            "upper_s": r.tail.upper_s,
            "p95_s": r.tail.p95_s,
            "p99_s": r.tail.p99_s,
            "fit_error": r.tail.fit_error,
            "used": r.tail.used,
            "label": "parametric extrapolation (censored maximum likelihood)",
        }
    if r.runners is not None:
        out["runners"] = {
            "quantile": r.runners.quantile,
            "ratio": r.runners.ratio,
            "method": "HistGradientBoostingRegressor(loss='quantile') on runner label, weekday, hour; "
            "fitted on finished runs (censored runs left out, so labels with any are lower bounds)",
            "labels": [
                {"runner": x.runner, "quantile_s": x.quantile_s, "samples": x.samples, "censored": x.censored,
                 "lower_bound": x.lower_bound}
                for x in r.runners.labels
            ],
        }
    return out


# -- rounding ----------------------------------------------------------------------------------


def round_limit(seconds: float, scope: str) -> float:
    """Round a limit *up* to a value people write.

    Jobs and steps (``timeout-minutes``): whole minutes. Tool limits (phases): 5 s steps below
    a minute, 10 s below 5 minutes, 30 s below 20 minutes, whole minutes above.
    """
    if not math.isfinite(seconds):
        return seconds
    seconds = max(seconds, 1.0)
    if scope in _MINUTE_SCOPES:
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


# -- current limits ----------------------------------------------------------------------------


def current_limits(
    keys: Iterable[UnitKey],
    *,
    workflows: Sequence[WorkflowSpec] = (),
    phases: Sequence[PhaseRule] = (),
    logged: Mapping[UnitKey, float] | None = None,
) -> dict[UnitKey, CurrentLimit]:
    """Each unit's limit in force: workflow YAML for jobs and steps, config then logs for phases.

    A job whose workflow file is unknown falls back to a limit its logs revealed (a
    ``job_timeout`` annotation), else to GitHub's default, with a note saying so.
    """
    logged = logged or {}
    rules = {rule.name: rule for rule in phases}
    out: dict[UnitKey, CurrentLimit] = {}
    for key in keys:
        from_log = logged.get(key)
        if key.scope in _MINUTE_SCOPES:
            spec = find_workflow(workflows, key.workflow)
            job = spec.job_for(key.job) if spec else None
            if key.scope == "job":
                if job is not None:
                    found = job_timeout(job, key.job)
                    limit = CurrentLimit(found.timeout_s, found.source, found.expression, found.note)
                elif from_log is not None:
                    limit = CurrentLimit(from_log, "log")
                else:
                    why = "workflow file not in the store" if spec is None else "job not found in its workflow file"
                    limit = CurrentLimit(DEFAULT_JOB_TIMEOUT_S, "default", note=f"{why}: GitHub's default of 360 minutes assumed")
            else:
                found = step_timeout(job, key.job, key.step or "")
                if found.source is not None:
                    limit = CurrentLimit(found.timeout_s, found.source, found.expression, found.note)
                elif from_log is not None:
                    limit = CurrentLimit(from_log, "log")
                else:
                    limit = CurrentLimit(None, None)
        else:
            rule = rules.get(key.phase or "")
            if rule is not None and rule.timeout_s is not None:
                note = None
                if from_log is not None and abs(from_log - rule.timeout_s) > 0.5:
                    note = f"the logs show a limit of {human_duration(from_log)}, the config says {human_duration(rule.timeout_s)}"
                limit = CurrentLimit(rule.timeout_s, "config", note=note)
            elif from_log is not None:
                limit = CurrentLimit(from_log, "log")
            else:
                limit = CurrentLimit(None, None)
        out[key] = limit
    return out


def logged_limits(frame: pd.DataFrame, incidents: Sequence[Incident] = ()) -> dict[UnitKey, float]:
    """Limits the logs revealed: the latest ``limit_s`` of each unit, and of incidents (job/step/phase)."""
    out: dict[UnitKey, float] = {}
    seen: dict[UnitKey, datetime] = {}
    for incident in sorted(incidents, key=lambda i: i.occurred_at or datetime.min.replace(tzinfo=UTC)):
        if incident.limit_s is None:
            continue
        if incident.kind == "job_timeout":
            key = UnitKey("job", incident.workflow, incident.job, None, None)
        elif incident.kind == "step_timeout" and incident.step:
            key = UnitKey("step", incident.workflow, incident.job, incident.step, None)
        elif incident.phase:
            key = UnitKey("phase", incident.workflow, incident.job, incident.step, incident.phase)
        else:
            continue
        out[key] = float(incident.limit_s)
        if incident.occurred_at is not None:
            seen[key] = incident.occurred_at
    if "limit_s" in frame and len(frame):
        limited = frame[frame["limit_s"].notna()]
        if len(limited):
            if "started_at" in limited:
                limited = limited.sort_values("started_at", kind="stable")
            last = limited.groupby(["scope", "workflow", "job", "step", "phase"], dropna=False, sort=False).tail(1)
            columns = [last[c].tolist() for c in ("scope", "workflow", "job", "step", "phase", "limit_s")]
            for scope, workflow, job, step, phase, limit in zip(*columns, strict=True):
                out[_key_of(scope, workflow, job, step, phase)] = float(limit)
    return out


def _key_of(scope: object, workflow: object, job: object, step: object, phase: object) -> UnitKey:
    def text(v: object) -> str | None:
        return None if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)

    scope_s = str(scope)
    return UnitKey(
        scope_s, str(workflow), str(job), None if scope_s == "job" else text(step), text(phase) if scope_s == "phase" else None
    )


# -- recommendations ---------------------------------------------------------------------------


def recommend_limits(
    frame: pd.DataFrame,
    current: Mapping[UnitKey, CurrentLimit],
    policy: Policy | None = None,
    *,
    generated_at: datetime | None = None,
    model: DurationModel | None = None,
) -> RecommendResult:
    """Recommendations for every unit of an observations frame (see the module docstring).

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
    keys = [
        UnitKey(str(scope), str(workflow), str(job), step, phase)
        for scope, workflow, job, step, phase in zip(
            units["scope"], units["workflow"], units["job"], units["step"], units["phase"], strict=True
        )
    ]
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
        verdict, value = _verdict(bool(insufficient[u]), float(now[u]), float(lo_edge[u]), float(rec[u]), policy)
        verdicts.append(verdict)
        recommended[u] = value

    structure = _structure(frame, model, keys)
    layer_warnings, raised = _apply_layers(structure, keys, now, rec, lo_edge, recommended, verdicts, policy)

    rate_now, basis_now = model.kill_rate(now, max_tail_error=policy.max_tail_error)
    rate_rec, basis_rec = model.kill_rate(recommended, max_tail_error=policy.max_tail_error)
    max_censored = units["max_censored"].to_numpy(dtype=bool)
    for bases, lim in ((basis_now, now), (basis_rec, recommended)):
        for u in range(n):
            if bases[u] == "km" and max_censored[u] and lim[u] > max_s[u] + max(1.0, 0.005 * max_s[u]):
                bases[u] = "km-upper-bound"  # beyond the longest run, which was stopped: at most this
    runners = _runner_splits(frame, model, policy)

    wanted = [
        "tail_q_s", "tail_p95_s", "tail_p99_s", "hung", "trend", "change_ratio", "change_z", "censored", "p50_s",
        "p95_s", "p99_s", "p99_ci_lo_s", "p99_ci_hi_s",
    ]  # fmt: skip
    columns = units[wanted].to_dict("records")
    out: list[Recommendation] = []
    for u in range(n):
        row = columns[u]
        notes: list[str] = []
        limit = limits[u]
        if limit.note:
            notes.append(limit.note)
        tail = None
        if tail_fitted[u]:
            used = str(basis[u]).startswith("tail:")
            tail = TailEstimate(
                model=str(tail_model[u]),
                quantile_s=float(row["tail_q_s"]),
                upper_s=float(tail_hi[u]),
                p95_s=float(row["tail_p95_s"]),
                p99_s=float(row["tail_p99_s"]),
                fit_error=float(tail_err[u]),
                used=used,
            )
            if used:
                notes.append(
                    f"p{_pct(policy.quantile)} extrapolated by a {_family(str(tail_model[u]))} tail (censored MLE): "
                    f"{_few(model, u, q_s, beyond, lower)}"
                )
            elif tail_err[u] > policy.max_tail_error:
                notes.append(f"the {_family(str(tail_model[u]))} tail fits poorly (CDF off by {tail_err[u]:.0%}); not relied on")
        if basis[u] == "km-lower-bound" and verdicts[u] != "insufficient_data":
            notes.append(
                f"p{_pct(policy.quantile)} lies beyond the data and no tail fits: the recommendation starts from its "
                f"lower bound {human_duration(lower[u])}, the longest run (stopped there: slow or hung, the data cannot tell)"
            )
        for v in structure.aliases.get(u, []):
            notes.append(f"measures the same span as {keys[v].phase!r}")
        if verdicts[u] == "insufficient_data":
            if samples[u] < policy.min_samples:
                notes.append(f"{samples[u]} observation(s), fewer than min_samples={policy.min_samples}")
            else:
                notes.append("neither the data nor a parametric tail bounds the quantile")
        hung = int(row["hung"])
        if hung:
            notes.append(f"{hung} censored run(s) set aside as hung (stopped after > 10× the median and 2× the longest finished run)")
        trend = row["trend"]
        ratio = _f(row["change_ratio"])
        if trend is not None and ratio is not None:
            notes.append(
                f"{'slower' if trend == 'slower' else 'faster'} this week: median {ratio - 1:+.0%} against the week before "
                f"(Mann–Whitney z={float(row['change_z']):+.1f})"
            )
        if u in raised:
            notes.append(raised[u])
        split = runners.get(u)
        if split is not None:
            slow = max(split.labels, key=lambda x: x.quantile_s)
            fast = min(split.labels, key=lambda x: x.quantile_s)
            notes.append(
                f"slow tail belongs to runner {slow.runner!r}: p{_pct(split.quantile)} {human_duration(slow.quantile_s)} "
                f"against {human_duration(fast.quantile_s)} on {fast.runner!r}"
                + (" (a lower bound: censored runs left out)" if slow.lower_bound else "")
            )
        out.append(
            Recommendation(
                scope=keys[u].scope,
                workflow=keys[u].workflow,
                job=keys[u].job,
                step=keys[u].step,
                phase=keys[u].phase,
                samples=int(samples[u]),
                censored=int(row["censored"]),
                p50_s=_f(row["p50_s"]),
                p95_s=_f(row["p95_s"]),
                p99_s=_f(row["p99_s"]),
                p99_ci_s=(_f(row["p99_ci_lo_s"]), _f(row["p99_ci_hi_s"])),
                current_timeout_s=_f(now[u]),
                current_source=limit.source,
                recommended_timeout_s=_f(recommended[u]),
                verdict=verdicts[u],
                false_timeout_rate_current=_f(rate_now[u]) if np.isfinite(now[u]) else None,
                false_timeout_rate_recommended=_f(rate_rec[u]) if np.isfinite(recommended[u]) else None,
                rate_basis=(basis_now[u], basis_rec[u] if np.isfinite(recommended[u]) else None),
                quantile_s=_f(q_s[u]),
                quantile_lower_bound_s=_f(lower[u]) if beyond[u] else None,
                upper_bound_s=_f(upper[u]),
                basis=basis[u],
                tail=tail,
                hung=hung,
                trend=trend,
                change_ratio=ratio,
                expression=limit.expression,
                runners=split,
                notes=tuple(notes),
            )
        )
    order = sorted(range(n), key=lambda u: structure.sort_key(u, keys[u]))
    return RecommendResult(
        generated_at=generated_at or datetime.now(UTC),
        quantile=policy.quantile,
        recommendations=tuple(out[u] for u in order),
        layers=tuple(layer_warnings),
        policy=policy,
    )


def _verdict(insufficient: bool, now: float, lo_edge: float, rec: float, policy: Policy) -> tuple[str, float]:
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


def _f(value: object) -> float | None:
    try:
        f = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _family(model: str) -> str:
    return {"lognormal": "log-normal", "weibull": "Weibull"}.get(model, model)


def _pct(q: float) -> str:
    text = f"{q * 100:.2f}".rstrip("0").rstrip(".")
    return text


def _few(model: DurationModel, u: int, q_s: NDArray[np.float64], beyond: NDArray[np.bool_], lower: NDArray[np.float64]) -> str:
    if beyond[u]:
        return f"it lies beyond the data, which end at {human_duration(float(lower[u]))}"
    reaching = model.runs_reaching(np.where(np.arange(q_s.size) == u, q_s, np.nan))[u]
    return f"only {int(reaching)} run(s) reached the Kaplan–Meier estimate"


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


# -- layers ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Structure:
    """How units nest, from median offsets inside their job: parent, children, start/end offsets."""

    parent: dict[int, int]
    children: dict[int, list[int]]
    aliases: dict[int, list[int]]  # phases that measure the same span (a rule and a built-in detector)
    start: NDArray[np.float64]  # median start offset from the job's start (s)
    end: NDArray[np.float64]
    median: NDArray[np.float64]

    def sort_key(self, u: int, key: UnitKey) -> tuple[Any, ...]:
        start = float(self.start[u]) if np.isfinite(self.start[u]) else float("inf")
        return (key.workflow, key.job, key.scope != "job", start, key.scope == "phase", key.step or "", key.phase or "")


def _structure(frame: pd.DataFrame, model: DurationModel, keys: Sequence[UnitKey]) -> _Structure:
    n = len(keys)
    median = model.units_["p50_s"].to_numpy(dtype=float)
    start = np.full(n, np.nan)
    end = np.full(n, np.nan)
    attempt = getattr(model, "attempt_", None)
    if n and {"job_id", "started_at"} <= set(frame.columns) and model.positions_.size and attempt is not None:
        # per fitted row: its start as an offset from its job attempt's first start, and its end;
        # per unit: the medians of both (NaN skipped, as pandas does), without a pandas groupby
        begun = model.started_
        first = np.full(int(attempt.max()) + 1, np.inf)
        if (attempt >= 0).all():
            np.minimum.at(first, attempt, np.where(np.isnan(begun), np.inf, begun))
            first[np.isinf(first)] = np.nan  # no known start in the attempt
            offset = begun - first[attempt]
        else:
            known = attempt >= 0
            np.minimum.at(first, attempt[known], np.where(np.isnan(begun[known]), np.inf, begun[known]))
            first[np.isinf(first)] = np.nan
            offset = np.full(begun.size, np.nan)
            offset[known] = begun[known] - first[attempt[known]]
        lasted = frame["duration_s"].to_numpy(dtype=float)[model.positions_]
        # the model's sorted rows are grouped by unit already, unless hung runs were set aside
        s = model.sorted_
        grouped = None if model.hung_.any() else (s.order, s.unit)
        start, end = segment_nanmedians(model.unit_of_row_, [offset, offset + lasted], n, grouped)
    median = np.where(np.isfinite(median), median, end - start)
    index = {k: u for u, k in enumerate(keys)}
    # Python floats for the pairwise loops below (numpy scalar arithmetic was most of their time)
    sl: list[float] = start.tolist()
    el: list[float] = end.tolist()
    parent: dict[int, int] = {}
    aliases: dict[int, list[int]] = {}
    siblings: dict[tuple[str, str, str | None], list[int]] = {}
    for u, key in enumerate(keys):
        if key.scope == "phase" and math.isfinite(sl[u]):
            siblings.setdefault((key.workflow, key.job, key.step), []).append(u)
    for u, key in enumerate(keys):
        if key.scope == "job":
            continue
        job = index.get(UnitKey("job", key.workflow, key.job, None, None))
        step = index.get(UnitKey("step", key.workflow, key.job, key.step, None)) if key.scope == "phase" else None
        candidates: list[int] = []
        if key.scope == "phase" and math.isfinite(sl[u]):
            span = el[u] - sl[u]
            tol = max(2.0, 0.05 * span)
            for v in siblings.get((key.workflow, key.job, key.step), []):
                if v == u:
                    continue
                if abs(sl[v] - sl[u]) <= tol and abs(el[v] - el[u]) <= tol:
                    aliases.setdefault(u, []).append(v)  # the same span, measured twice: not a layer
                elif sl[v] <= sl[u] + tol and el[u] <= el[v] + tol and el[v] - sl[v] > 1.25 * span + tol:
                    candidates.append(v)
        if candidates:
            parent[u] = min(candidates, key=lambda v: el[v] - sl[v])
        elif step is not None:
            parent[u] = step
        elif job is not None:
            parent[u] = job
    children: dict[int, list[int]] = {}
    for u, p in parent.items():
        children.setdefault(p, []).append(u)
    return _Structure(parent, children, aliases, start, end, median)


def _blocks(children: Sequence[int], start: Sequence[float], end: Sequence[float]) -> list[list[int]]:
    """Children grouped into blocks that run in parallel; blocks run one after another.

    ``start``/``end``: the structure's offsets as Python floats (NaN where unknown).
    """
    inf = math.inf
    ordered = sorted(children, key=lambda c: (start[c] if math.isfinite(start[c]) else inf, c))
    blocks: list[list[int]] = []
    block_end = -inf
    for c in ordered:
        begin = start[c] if math.isfinite(start[c]) else inf
        if blocks and begin < block_end - 1.0:
            blocks[-1].append(c)
            block_end = max(block_end, end[c] if math.isfinite(end[c]) else block_end)
        else:
            blocks.append([c])
            block_end = end[c] if math.isfinite(end[c]) else inf
    return blocks


def _apply_layers(
    s: _Structure,
    keys: Sequence[UnitKey],
    now: NDArray[np.float64],
    own: NDArray[np.float64],
    lo_edge: NDArray[np.float64],
    recommended: NDArray[np.float64],
    verdicts: list[str],
    policy: Policy,
) -> tuple[list[LayerWarning], dict[int, str]]:
    """Flag limits that do not fit their layers and raise outer recommendations to fit the inner ones.

    ``recommended`` and ``verdicts`` are updated in place; returns the warnings and a note per
    unit whose recommendation was raised.
    """
    warnings: list[LayerWarning] = []
    raised: dict[int, str] = {}
    limited = np.isfinite(now)

    # inner limits (as they are today) that cannot fire before their nearest limited outer layer
    for u in range(len(keys)):
        if not limited[u]:
            continue
        a = s.parent.get(u)
        while a is not None and not limited[a]:
            a = s.parent.get(a)
        if a is None:
            continue
        offset = max(0.0, float(s.start[u] - s.start[a])) if np.isfinite(s.start[u] - s.start[a]) else 0.0
        if offset + now[u] >= now[a]:
            warnings.append(
                LayerWarning(
                    "inner_cannot_fire", keys[a], keys[u], float(now[a]), float(now[u]), None,
                    f"{keys[u].label()}: its limit {human_duration(now[u])} (starting ~{human_duration(offset)} in) "
                    f"cannot fire before the {keys[a].scope} limit {human_duration(now[a])} of {keys[a].label()}",
                )
            )

    need: dict[int, float] = {}
    # Python floats for the recursion below: numpy scalar indexing was most of its time
    start_l: list[float] = s.start.tolist()
    end_l: list[float] = s.end.tolist()
    median_l: list[float] = np.nan_to_num(s.median).tolist()

    def required(u: int) -> float:
        kids = s.children.get(u, [])
        if not kids:
            return 0.0
        blocks = _blocks(kids, start_l, end_l)
        path = sum(max(needed(c) for c in block) for block in blocks)
        covered = sum(max(median_l[c] for c in block) for block in blocks)
        gap = max(0.0, median_l[u] - covered)
        return path + gap

    def needed(u: int) -> float:
        if u in need:
            return need[u]
        inner = required(u)
        value = max(median_l[u], inner)
        if limited[u] and np.isfinite(recommended[u]):
            # the consistent set: an outer limit must leave room for its inner limits
            if inner > 0 and _has_limited_descendant(u, s, limited):
                target = round_limit(max(inner * (1 + policy.margin), inner + policy.margin_min_s), keys[u].scope)
                if now[u] < inner:
                    warnings.append(
                        LayerWarning(
                            "outer_too_small", keys[u], None, float(now[u]), None, inner,
                            f"{keys[u].label()}: limit {human_duration(now[u])} is shorter than its inner limits on the "
                            f"critical path plus the time around them ({human_duration(inner)})",
                        )
                    )
                if np.isfinite(own[u]) and own[u] < target:
                    own[u] = target
                    edge = max(inner, float(lo_edge[u])) if np.isfinite(lo_edge[u]) else inner
                    verdict, value = _verdict(False, float(now[u]), edge, float(own[u]), policy)
                    if verdict != "ok":
                        raised[u] = (
                            f"raised to {human_duration(target)} to leave room for its inner limits "
                            f"({human_duration(inner)} on the critical path)"
                        )
                    if verdicts[u] != "insufficient_data":
                        verdicts[u], recommended[u] = verdict, value
                elif now[u] < inner and verdicts[u] != "insufficient_data":
                    verdicts[u], recommended[u] = "too_tight", max(float(own[u]), target)
            value = float(recommended[u])
        need[u] = value
        return value

    roots = [u for u in range(len(keys)) if u not in s.parent]
    for u in roots:
        needed(u)
    return warnings, raised


def _has_limited_descendant(u: int, s: _Structure, limited: NDArray[np.bool_]) -> bool:
    stack = list(s.children.get(u, []))
    while stack:
        c = stack.pop()
        if limited[c]:
            return True
        stack.extend(s.children.get(c, []))
    return False


# -- rendering ---------------------------------------------------------------------------------


def format_rate(rate: float | None, basis: str | None = None) -> str:
    """A kill rate for people: ``9.9%``, ``<0.1%``, ``≤2.5%`` (an upper bound), ``-`` (no limit)."""
    return _kill(rate, basis)


def _kill(rate: float | None, basis: str | None = None) -> str:
    if rate is None:
        return "-"
    if basis == "km-upper-bound":
        return "≤" + _kill(rate)
    if rate == 0:
        return "0%"
    return f"{rate:.1%}" if rate >= 0.001 else "<0.1%"


def _percentile(r: Recommendation, value: float | None) -> str:
    if value is not None:
        return human_duration(value)
    if r.quantile_lower_bound_s is not None:
        return "≥" + human_duration(r.quantile_lower_bound_s)
    return "-"


def render_table(result: RecommendResult) -> str:
    """A readable terminal table: one row per unit, then the layer warnings."""
    from analyzer import formatting

    rows = []
    for r in result.recommendations:
        rows.append(
            [
                r.scope, shorten(r.job, 20), shorten(r.step or "", 26), shorten(r.phase or "", 26), r.samples, r.censored,
                human_duration(r.p50_s), _percentile(r, r.p95_s), _percentile(r, r.p99_s),
                human_duration(r.current_timeout_s) + (f" ({r.current_source})" if r.current_source else ""),
                human_duration(r.recommended_timeout_s), r.verdict,
                _kill(r.false_timeout_rate_current, r.rate_basis[0]) + " → "
                + _kill(r.false_timeout_rate_recommended, r.rate_basis[1]),
            ]
        )
    headers = ["scope", "job", "step", "phase", "n", "cens", "p50", "p95", "p99", "current", "recommended", "verdict", "killed now → rec"]
    text = formatting.render_table(headers, rows, right=range(4, 9))
    if result.layers:
        text += "\n\nTimeout layers:\n" + "\n".join(f"  {w.kind}: {w.message}" for w in result.layers)
    return text


def render_markdown(result: RecommendResult) -> str:
    """A Markdown report: a table, then notes per unit and the layer warnings."""
    q = _pct(result.quantile)
    lines = [
        f"## Timeout recommendations (p{q}, generated {result.generated_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC)",
        "",
        "| unit | n | censored | p50 | p95 | p99 | current | recommended | verdict | killed now → rec |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | --- | --- |",
    ]
    for r in result.recommendations:
        unit = f"{r.scope}: {_md(r.key.label())}"
        current = human_duration(r.current_timeout_s) + (f" ({r.current_source})" if r.current_source else "")
        lines.append(
            f"| {unit} | {r.samples} | {r.censored} | {human_duration(r.p50_s)} | {_percentile(r, r.p95_s)} | "
            f"{_percentile(r, r.p99_s)} | {current} | {human_duration(r.recommended_timeout_s)} | `{r.verdict}` | "
            f"{_kill(r.false_timeout_rate_current, r.rate_basis[0])} → "
            f"{_kill(r.false_timeout_rate_recommended, r.rate_basis[1])} |"
        )
    noted = [r for r in result.recommendations if r.notes]
    if noted:
        lines += ["", "### Notes", ""]
        for r in noted:
            lines.append(f"- **{_md(r.key.label())}** ({r.scope}): " + "; ".join(_md(n) for n in r.notes))
    if result.layers:
        lines += ["", "### Timeout layers", ""]
        lines += [f"- `{w.kind}`: {_md(w.message)}" for w in result.layers]
    lines += [
        "",
        "Censored runs (stopped by a limit, cancelled, runner lost) count as lasting *at least* as long as observed; "
        "values marked ≥ are lower bounds; tail estimates are parametric extrapolations.",
    ]
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|")


# -- patches -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FileEdit:
    path: str
    before: str
    after: str

    def diff(self) -> str:
        return "".join(
            difflib.unified_diff(
                self.before.splitlines(keepends=True), self.after.splitlines(keepends=True),
                fromfile=f"a/{self.path}", tofile=f"b/{self.path}",
            )
        )


@dataclass(frozen=True, slots=True)
class PatchPlan:
    edits: tuple[FileEdit, ...]
    notes: tuple[str, ...]

    def diff(self) -> str:
        return "".join(e.diff() for e in self.edits if e.before != e.after)

    def __add__(self, other: PatchPlan) -> PatchPlan:
        return PatchPlan(self.edits + other.edits, self.notes + other.notes)


_CHANGE = ("too_tight", "too_loose")
_NUMBER_AT = re.compile(r"""(["']?)(\d+(?:\.\d+)?)(["']?)""")


def plan_workflow_patches(result: RecommendResult, workflows: Sequence[WorkflowSpec]) -> PatchPlan:
    """Rewrite job and step ``timeout-minutes`` that should change; add them to jobs under the default.

    Only the number changes (quotes, comments and layout stay); values written as expressions or
    shared through YAML anchors are reported with the recommendation per matrix entry instead.
    """
    notes: list[str] = []
    values: dict[tuple[str, int, int], list[tuple[int, Recommendation]]] = {}
    inserts: dict[tuple[str, int, int], list[tuple[int, Recommendation]]] = {}
    expressions: dict[tuple[str, str, str | None], list[Recommendation]] = {}
    for r in result.recommendations:
        if r.scope not in _MINUTE_SCOPES or r.verdict not in _CHANGE or r.recommended_timeout_s is None:
            continue
        spec = find_workflow(workflows, r.workflow)
        job = spec.job_for(r.job) if spec else None
        if spec is None or job is None:
            notes.append(f"{r.key.label()}: workflow file for {r.workflow!r} not found; set timeout-minutes: {_minutes(r)} by hand")
            continue
        value = job.timeout if r.scope == "job" else _step_value(job, r.step)
        minutes = _minutes(r)
        if value is None:
            if r.scope == "job" and r.current_source == "default" and job.insert_line is not None and not job.reusable:
                inserts.setdefault((spec.path, job.insert_line, job.insert_indent), []).append((minutes, r))
            else:
                notes.append(f"{r.key.label()}: no timeout-minutes to change in {spec.path}; recommended {minutes}")
        elif value.expression is not None:
            expressions.setdefault((spec.path, job.job_id, r.step), []).append(r)
        elif not value.patchable:
            notes.append(
                f"{r.key.label()}: timeout-minutes in {spec.path} comes through a YAML anchor or merge and is shared; "
                f"not changed (recommended {minutes})"
            )
        else:
            assert value.line is not None and value.column is not None
            values.setdefault((spec.path, value.line, value.column), []).append((minutes, r))
    for (path, job_id, step), recs in expressions.items():
        where = f"jobs.{job_id}" + (f" step {step!r}" if step else "")
        per_entry = ", ".join(f"{r.job} → {_minutes(r)}" for r in recs)
        notes.append(f"{path} {where}: timeout-minutes is {recs[0].expression}; not overwritten. Recommended per matrix entry: {per_entry}")
    texts = {spec.path: spec.text for spec in workflows}
    edits: list[FileEdit] = []
    for path in sorted({k[0] for k in values} | {k[0] for k in inserts}):
        lines = texts[path].splitlines(keepends=True)
        for (p, line, column), choices in sorted(values.items()):
            if p != path:
                continue
            minutes = max(m for m, _ in choices)
            if len({m for m, _ in choices}) > 1:
                notes.append(f"{path}:{line + 1}: one value serves {len(choices)} units; the largest recommendation ({minutes}) is used")
            new_line = _replace_number(lines[line], column, minutes)
            if new_line is None:
                notes.append(f"{path}:{line + 1}: could not find the number to change")
            else:
                lines[line] = new_line
        for (p, line, indent), choices in sorted(inserts.items(), reverse=True):
            if p != path:
                continue
            minutes = max(m for m, _ in choices)
            newline = "\r\n" if lines and lines[0].endswith("\r\n") else "\n"
            if line > 0 and line <= len(lines) and not lines[line - 1].endswith(("\n", "\r")):
                lines[line - 1] += newline
            lines.insert(line, " " * indent + f"timeout-minutes: {minutes}" + newline)
        edits.append(FileEdit(path, texts[path], "".join(lines)))
    return PatchPlan(tuple(edits), tuple(notes))


def plan_source_patches(
    result: RecommendResult, rules: Sequence[TimeoutRule], files: Mapping[str, str | None]
) -> PatchPlan:
    """Rewrite source limits declared by ``[[timeouts]]`` rules (the first group of ``pattern``).

    Only occurrences whose value equals the current limit are changed when the current limit is
    known, so one broad pattern (``--timeout=(\\d+)s``) does not rewrite unrelated waits.
    """
    notes: list[str] = []
    edited: dict[str, str] = {}
    for rule in rules:
        targets = [
            r for r in result.recommendations
            if r.verdict in _CHANGE and r.recommended_timeout_s is not None and _rule_matches(rule, r)
        ]
        if not targets:
            continue
        target = max(targets, key=lambda r: r.recommended_timeout_s or 0.0)
        text = edited.get(rule.file, files.get(rule.file))
        if text is None:
            notes.append(f"{rule.file}: not found under the patch directory ([[timeouts]] for {target.key.label()})")
            continue
        seconds = float(target.recommended_timeout_s or 0.0)
        new_value = _in_unit(seconds, rule.unit)
        current = target.current_timeout_s
        new_text, changed, skipped = _rewrite(text, re.compile(rule.pattern), rule.unit, current, new_value)
        if changed:
            edited[rule.file] = new_text
        if not changed:
            notes.append(f"{rule.file}: no occurrence of {rule.pattern!r} with the current value {human_duration(current)}")
        elif skipped:
            notes.append(f"{rule.file}: {skipped} occurrence(s) of {rule.pattern!r} with other values left alone")
    edits = tuple(FileEdit(path, files[path] or "", text) for path, text in sorted(edited.items()))
    return PatchPlan(edits, tuple(notes))


def _rewrite(
    text: str, pattern: re.Pattern[str], unit: str, current: float | None, new_value: str
) -> tuple[str, int, int]:
    """Replace group 1 of each match whose value is the current limit; count changed and skipped."""
    changed = skipped = 0
    scale = {"s": 1.0, "m": 60.0, "ms": 0.001}[unit]

    def swap(match: re.Match[str]) -> str:
        nonlocal changed, skipped
        try:
            value_s = float(match.group(1)) * scale
        except ValueError:
            skipped += 1
            return match.group(0)
        if current is not None and abs(value_s - current) > 0.5:
            skipped += 1
            return match.group(0)
        changed += 1
        offset = match.start(0)
        whole = match.group(0)
        return whole[: match.start(1) - offset] + new_value + whole[match.end(1) - offset :]

    return pattern.sub(swap, text), changed, skipped


def _rule_matches(rule: TimeoutRule, r: Recommendation) -> bool:
    if rule.phase is not None:
        if r.phase != rule.phase:
            return False
    elif rule.step is not None:
        if r.scope != "step" or r.step is None or not re.search(rule.step, r.step):
            return False
    elif rule.job is not None:
        if r.scope != "job":
            return False
    else:
        return False
    if rule.job is not None and not re.search(rule.job, r.job):
        return False
    return not (rule.step is not None and rule.phase is not None and (r.step is None or not re.search(rule.step, r.step)))


def _in_unit(seconds: float, unit: str) -> str:
    if unit == "m":
        return str(math.ceil(seconds / 60 - 1e-9))
    if unit == "ms":
        return str(round(seconds * 1000))
    return str(round(seconds)) if float(seconds).is_integer() else f"{seconds:g}"


def _minutes(r: Recommendation) -> int:
    return max(1, math.ceil((r.recommended_timeout_s or 60.0) / 60 - 1e-9))


def _step_value(job: JobSpec, step: str | None) -> TimeoutValue | None:
    found = job.step_for(step or "")
    return None if found is None else found.timeout


def _replace_number(line: str, column: int, minutes: int) -> str | None:
    match = _NUMBER_AT.match(line, column)
    if match is None or match.group(1) != match.group(3):
        return None
    return line[: match.start(2)] + str(minutes) + line[match.end(2) :]
