"""analyzer.model.normal against scipy.special, the functions it replaces (scipy stays a dependency
for the failure signatures' sparse matrices, so the reference is always there)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.special as sc

from analyzer.model import normal

# both tails, the switches between formulas (−37, −1, 0) and their neighbours, the edges
_GRID = np.concatenate([
    np.linspace(-60, 60, 24_001),
    np.array([-37.0, np.nextafter(-37.0, -np.inf), np.nextafter(-37.0, np.inf), -1.0, np.nextafter(-1.0, 0.0),
              np.nextafter(-1.0, -np.inf), 0.0, -0.0, 1e-300, -1e-300, 8.3, -8.3, 38.5, -38.5, 1e3, -1e3, 1e300,
              -1e300]),
    np.random.default_rng(7).normal(0, 4, 20_000),
])  # fmt: skip
_EDGES = np.array([np.inf, -np.inf, np.nan])


def _close(ours: np.ndarray, theirs: np.ndarray, rtol: float) -> None:
    ours, theirs = np.asarray(ours), np.asarray(theirs)
    assert ours.shape == theirs.shape
    assert np.array_equal(np.isnan(ours), np.isnan(theirs))
    assert np.array_equal(np.isinf(ours), np.isinf(theirs))
    both = np.isfinite(theirs)
    assert np.array_equal(ours[~both & ~np.isnan(theirs)], theirs[~both & ~np.isnan(theirs)])
    # relative agreement down to 1e-300; below, in the subnormals, both have lost their digits
    normal_range = both & (np.abs(theirs) >= 1e-300)
    with np.errstate(invalid="ignore"):  # inf − inf where both are infinite (compared above)
        gap = np.abs(ours - theirs)
    worst = float(np.max(gap[normal_range] / np.abs(theirs[normal_range]))) if normal_range.any() else 0.0
    assert worst <= rtol, worst
    assert np.all(gap[both & ~normal_range] <= 1e-300)


@pytest.mark.parametrize("name", ["ndtr", "log_ndtr", "expit", "log_expit"])
def test_each_function_agrees_with_scipy_special_over_the_whole_line(name: str) -> None:
    x = np.concatenate([_GRID, _EDGES])
    _close(getattr(normal, name)(x), getattr(sc, name)(x), 1e-13)  # measured: at most 6e-14, at x ≈ ±37


def test_ndtr_keeps_relative_accuracy_far_into_the_lower_tail() -> None:
    x = np.array([-5.0, -10.0, -20.0, -30.0, -37.5])
    _close(normal.ndtr(x), sc.ndtr(x), 1e-13)
    assert 0.0 <= normal.ndtr(-40.0) < 1e-300


def test_log_ndtr_is_finite_where_the_probability_underflows() -> None:
    x = np.array([-40.0, -100.0, -1e4, -1e150])
    ours = normal.log_ndtr(x)
    assert np.all(np.isfinite(ours))
    _close(ours, sc.log_ndtr(x), 1e-13)


def test_quantile_functions_agree_and_handle_their_edges() -> None:
    p = np.concatenate([np.linspace(1e-12, 1 - 1e-12, 5001), [1e-300, 0.5, 0.975, 0.995, 1 - 1e-16]])
    _close(normal.ndtri(p), sc.ndtri(p), 1e-12)
    _close(normal.logit(p), sc.logit(p), 1e-13)
    edges = np.array([0.0, 1.0, -0.5, 1.5, np.nan])
    _close(normal.ndtri(edges), sc.ndtri(edges), 0.0)
    _close(normal.logit(edges), sc.logit(edges), 0.0)


def test_scalars_come_back_as_floats_and_arrays_keep_their_shape() -> None:
    for name in ("ndtr", "log_ndtr", "ndtri", "expit", "log_expit", "logit"):
        value = getattr(normal, name)(0.25)
        assert isinstance(value, float) and math.isfinite(value)
        grid = np.full((3, 4), 0.25)
        assert getattr(normal, name)(grid).shape == (3, 4)
        assert getattr(normal, name)(np.empty(0)).shape == (0,)
