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
