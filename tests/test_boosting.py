"""``analyzer.model.boosting`` predicts what scikit-learn's ``HistGradientBoostingRegressor`` predicts, bit for bit."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from analyzer.model.boosting import QuantileBoosting


def _problem(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Runner-split-like features (label code, weekday, hour; starts sometimes unknown), skewed
    durations (sometimes rounded: ties), a training subset (the finished runs)."""
    n = int(rng.integers(20, 1200))
    k = int(rng.integers(1, 5))
    code = rng.integers(0, k, n).astype(float)
    unknown = rng.random(n) < rng.choice([0.0, 0.0, 0.05, 0.5])
    weekday = np.where(unknown, np.nan, rng.integers(0, rng.choice([1, 2, 7]), n)).astype(float)
    hour = np.where(unknown, np.nan, rng.integers(0, rng.choice([1, 3, 24]), n)).astype(float)
    X = np.column_stack([code, weekday, hour])
    y = rng.lognormal(np.log(100) + 0.5 * code + 0.02 * np.nan_to_num(hour), 0.3, n)
    if rng.random() < 0.3:
        y = np.round(y)
    train = rng.random(n) < rng.choice([1.0, 0.9])
    if rng.random() < 0.1:
        train &= code != 0  # a label only among the censored runs: unknown to the fit
    return X, y, train


@pytest.mark.parametrize("seed", range(4))
def test_predictions_equal_scikit_learn(seed: int) -> None:
    sklearn_ensemble = pytest.importorskip("sklearn.ensemble")
    rng = np.random.default_rng(seed)
    for _ in range(25):
        X, y, train = _problem(rng)
        theirs = sklearn_ensemble.HistGradientBoostingRegressor(
            loss="quantile", quantile=0.9, max_iter=30, learning_rate=0.2, max_leaf_nodes=8,
            categorical_features=[0], early_stopping=False, random_state=0,
        )  # fmt: skip
        ours = QuantileBoosting(quantile=0.9, max_iter=30, learning_rate=0.2, max_leaf_nodes=8, categorical_features=(0,))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                expected = theirs.fit(X[train], y[train]).predict(X)
        except ValueError:
            with pytest.raises(ValueError):
                ours.fit(X[train], y[train])
            continue
        assert np.array_equal(ours.fit(X[train], y[train]).predict(X), expected)


def test_a_feature_without_values_is_refused() -> None:
    """scikit-learn's binning fails on an all-missing feature; the runner split then skips the unit."""
    X = np.column_stack([np.zeros(50), np.full(50, np.nan)])
    with pytest.raises(ValueError):
        QuantileBoosting(quantile=0.9, max_iter=3, learning_rate=0.2, max_leaf_nodes=8).fit(X, np.arange(50.0))


@pytest.mark.parametrize("percent", [0.0, 10.0, 50.0, 90.0, 100 * 0.9, 99.0, 100.0])
def test_percentiles_of_parts_equal_numpy(percent: float) -> None:
    """The leaves' quantiles, all parts at once, are ``np.percentile``'s floats (ties, one-row parts, both lerp sides)."""
    from analyzer.model.boosting import _percentiles

    rng = np.random.default_rng(int(percent * 7))
    for _ in range(200):
        sizes = rng.integers(1, 40, int(rng.integers(1, 9)))
        values = rng.normal(0, rng.choice([1e-3, 1.0, 1e6]), int(sizes.sum()))
        if rng.random() < 0.3:
            values = np.round(values)
        parts = np.split(values, np.cumsum(sizes)[:-1])
        expected = [np.percentile(part, percent) for part in parts]
        got = _percentiles(values.copy(), sizes, percent)
        assert got.tolist() == expected
