"""Known duration distributions for the advice benchmark: exact survival and quantiles, or a large Monte Carlo.

``Dist`` is a finite mixture of scipy frozen distributions, so P(T > t) and every quantile are
exact; ``Truth`` wraps one (a single segment: a step, a phase) or a sorted Monte Carlo sample (a
sum of segments: the test step, the job). See ``benchmarks/advice_histories.py``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import optimize, stats


@dataclass(frozen=True)
class Dist:
    """A duration distribution in seconds: a mixture of scipy frozen distributions (exact sf and ppf)."""

    label: str
    weights: tuple[float, ...]
    parts: tuple[Any, ...]  # scipy.stats frozen distributions

    def sample(self, rng: np.random.Generator, n: int) -> NDArray[np.float64]:
        which = rng.choice(len(self.parts), size=n, p=np.asarray(self.weights)) if len(self.parts) > 1 else np.zeros(n, int)
        out = np.empty(n)
        for i, part in enumerate(self.parts):
            mask = which == i
            out[mask] = part.rvs(size=int(mask.sum()), random_state=rng)
        return np.maximum(out, 0.001)

    def sf(self, t: NDArray[np.float64] | float) -> NDArray[np.float64]:
        x = np.asarray(t, dtype=float)
        return np.asarray(sum(w * p.sf(x) for w, p in zip(self.weights, self.parts, strict=True)), dtype=np.float64)

    def quantile(self, q: float) -> float:
        if len(self.parts) == 1:
            return float(self.parts[0].ppf(q))
        lo = min(float(p.ppf(q)) for p in self.parts)
        hi = max(float(p.ppf(q)) for p in self.parts)
        if hi <= lo:
            return lo
        return float(optimize.brentq(lambda t: float(self.sf(t)) - (1 - q), lo, hi, xtol=1e-6))


def lognormal(median: float, sigma: float) -> Dist:
    return Dist(f"lognormal(median {median:g} s, σ {sigma:g})", (1.0,), (stats.lognorm(s=sigma, scale=median),))


def mixture(*components: tuple[float, Dist], label: str | None = None) -> Dist:
    """Weighted components (weights summing to 1), e.g. warm runs and cold image pulls."""
    weights = tuple(w * cw for w, d in components for cw in d.weights)
    parts = tuple(p for _, d in components for p in d.parts)
    text = label or " + ".join(f"{w:g}×{d.label}" for w, d in components)
    return Dist(text, weights, parts)


def heavy(floor: float, scale: float, shape: float) -> Dist:
    """A Pareto (Lomax) tail above ``floor``: P(T > floor + x) = (1 + x/scale)^-shape."""
    return Dist(f"floor {floor:g} s + lomax(scale {scale:g}, shape {shape:g})", (1.0,), (stats.lomax(c=shape, loc=floor, scale=scale),))


def weibull(scale: float, shape: float) -> Dist:
    return Dist(f"weibull(scale {scale:g} s, shape {shape:g})", (1.0,), (stats.weibull_min(c=shape, scale=scale),))


def bimodal(warm: float, cold: float, cold_share: float, sigma: float = 0.15) -> Dist:
    """Warm runs around ``warm`` s, cold image pulls around ``cold`` s (a ``cold_share`` of runs)."""
    return mixture((1 - cold_share, lognormal(warm, sigma)), (cold_share, lognormal(cold, sigma * 1.2)),
                   label=f"bimodal(warm {warm:g} s, cold {cold:g} s × {cold_share:g})")  # fmt: skip


class Truth:
    """The healthy-duration distribution of one unit: exact (a ``Dist``) or a large sorted Monte Carlo sample."""

    def __init__(self, dist: Dist | None = None, draws: NDArray[np.float64] | None = None) -> None:
        if (dist is None) == (draws is None):
            raise ValueError("give a Dist or Monte Carlo draws")
        self.dist = dist
        self.draws = None if draws is None else np.sort(np.asarray(draws, dtype=float))

    @property
    def exact(self) -> bool:
        return self.dist is not None

    def kill(self, limit: float) -> float:
        """P(a healthy run lasts longer than ``limit``): the share a limit stops."""
        if not math.isfinite(limit):
            return 0.0
        if self.dist is not None:
            return float(self.dist.sf(limit))
        assert self.draws is not None
        return float(1.0 - np.searchsorted(self.draws, limit, side="right") / self.draws.size)

    def quantile(self, q: float) -> float:
        if self.dist is not None:
            return self.dist.quantile(q)
        assert self.draws is not None
        return float(np.quantile(self.draws, q))
