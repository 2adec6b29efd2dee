"""What ``recommend`` answers: a ``Recommendation`` per unit, layer warnings, and their JSON shape."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from analyzer.advise.policy import Policy
from analyzer.model.stats import UnitSummary
from analyzer.records import UnitKey


@dataclass(frozen=True, slots=True)
class TailEstimate:
    """The parametric tail of a unit: an extrapolation, labelled as such wherever it is shown."""

    model: str  # lognormal | weibull | gpd | mixture
    quantile_s: float | None
    upper_s: float | None
    p95_s: float | None
    p99_s: float | None
    fit_error: float  # its tail Kolmogorov–Smirnov distance to the KM curve beyond the threshold
    used: bool  # a number of the recommendation rests on it
    ks_critical: float | None = None  # the distance it had to stay under to be accepted
    threshold_s: float | None = None  # where the test (and a POT model) starts


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
class Recommendation(UnitSummary):
    """A unit's recommended limit, the verdict on the one in force, and the evidence for both."""

    p95_s: float | None
    p99_s: float | None
    p99_ci_s: tuple[float | None, float | None]
    current_timeout_s: float | None
    current_source: str | None
    recommended_timeout_s: float | None
    verdict: str
    false_timeout_rate_current: float | None
    false_timeout_rate_recommended: float | None
    quantile_s: float | None = None  # best estimate of the target quantile (KM, or the tail beyond the data)
    quantile_lower_bound_s: float | None = None  # set when the quantile lies beyond the data
    upper_bound_s: float | None = None  # the quantile's one-sided upper confidence bound
    basis: str | None = None  # what the recommended limit rests on: km | tail:<model> | unknown
    rate_basis: tuple[str | None, str | None] = (None, None)  # what the two kill rates rest on
    tail: TailEstimate | None = None
    hung: int = 0
    rate_current_ci: tuple[float | None, float | None] = (None, None)  # the two kill rates' intervals
    rate_recommended_ci: tuple[float | None, float | None] = (None, None)
    settable: bool = True  # a limit can be written for this unit (not a step the runner makes)
    where: str | None = None  # where it is written: workflow job/step timeout-minutes, [[timeouts]] FILE, …
    remeasure: bool = False  # "raise to at least X, re-measure": the data cannot say how far beyond runs go
    hung_saved_s: float | None = None  # how much sooner (in all) a lower limit would have stopped the hung runs ...
    hung_saved_at_s: float | None = None  # ... this one: the recommended limit, or, where one is kept, today's new one
    trend: str | None = None
    change_ratio: float | None = None
    expression: str | None = None
    runners: RunnerSplit | None = None
    notes: tuple[str, ...] = ()

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
    window_start: datetime | None = None  # the observations the model looked at: first start ...
    window_end: datetime | None = None  # ... and last
    runs: int = 0  # job attempts in them

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of DESIGN.md, plus ``notes``, ``tail_estimate``, ``layers`` and a few more."""
        def when(value: datetime | None) -> str | None:
            return None if value is None else value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

        return {
            "generated_at": when(self.generated_at),
            "quantile": self.quantile,
            "window_start": when(self.window_start),
            "window_end": when(self.window_end),
            "runs": self.runs,
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
        "false_timeout_rate_current_ci": list(r.rate_current_ci),
        "false_timeout_rate_recommended_ci": list(r.rate_recommended_ci),
        "settable": r.settable,
        "where": r.where,
        "remeasure": r.remeasure,
        "quantile_s": r.quantile_s,
        "quantile_lower_bound_s": r.quantile_lower_bound_s,
        "upper_bound_s": r.upper_bound_s,
        "basis": r.basis,
        "false_timeout_rate_basis": {"current": r.rate_basis[0], "recommended": r.rate_basis[1]},
        "tail_estimate": None,
        "hung": r.hung,
        "hung_saved_s": r.hung_saved_s,
        "hung_saved_at_s": r.hung_saved_at_s,
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
            "ks_critical": r.tail.ks_critical,
            "threshold_s": r.tail.threshold_s,
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
