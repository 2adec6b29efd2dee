"""Kaplan-Meier estimates: against lifelines, and properties that must hold for any data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.model import km_cdf_at, km_curve, km_quantiles, unit_stats

durations_st = st.lists(
    st.tuples(st.floats(min_value=0.1, max_value=5000, allow_nan=False), st.booleans()), min_size=1, max_size=60
)


def test_km_survival_matches_lifelines() -> None:
    """The survival curve equals lifelines' KaplanMeierFitter at every distinct time, ties included."""
    lifelines = pytest.importorskip("lifelines")
    rng = np.random.default_rng(3)
    t = np.round(rng.lognormal(5, 0.5, 400), 0)  # rounding makes ties
    c = rng.random(400) < 0.2
    times, survival = km_curve(t, c)
    kmf = lifelines.KaplanMeierFitter().fit(t, event_observed=~c)
    expected = kmf.survival_function_at_times(times).to_numpy()
    np.testing.assert_allclose(survival, expected, rtol=1e-12)


def test_km_quantiles_match_lifelines_percentiles() -> None:
    """Quantile q is the smallest time where survival drops to 1 - q, as lifelines computes it."""
    lifelines = pytest.importorskip("lifelines")
    rng = np.random.default_rng(11)
    t = rng.weibull(1.5, 300) * 100
    c = rng.random(300) < 0.15
    kmf = lifelines.KaplanMeierFitter().fit(t, event_observed=~c)
    ours = km_quantiles(t, c, [0.5, 0.9])
    theirs = [kmf.percentile(0.5), kmf.percentile(0.1)]
    assert ours == pytest.approx(theirs)


def test_textbook_example() -> None:
    """The classic 6-MP remission data (Gehan 1965, treatment arm): median 23 weeks."""
    weeks = [6, 6, 6, 6, 7, 9, 10, 10, 11, 13, 16, 17, 19, 20, 22, 23, 25, 32, 32, 34, 35]
    censored = [0, 0, 0, 1, 0, 1, 0, 1, 1, 0, 0, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1]
    times, survival = km_curve(weeks, np.array(censored, bool))
    at = dict(zip(times.tolist(), survival.tolist(), strict=True))
    assert at[6.0] == pytest.approx(0.857, abs=1e-3)
    assert at[13.0] == pytest.approx(0.690, abs=1e-3)
    assert at[23.0] == pytest.approx(0.448, abs=1e-3)
    assert km_quantiles(weeks, np.array(censored, bool), [0.5]) == [23.0]


def test_quantile_beyond_last_event_is_unknown() -> None:
    """When the largest observations are censored, high quantiles cannot be identified: None."""
    t = [10, 20, 30, 300, 300, 300]
    c = np.array([0, 0, 0, 1, 1, 1], bool)
    assert km_quantiles(t, c, [0.5, 0.99]) == [30.0, None]


def test_censored_runs_raise_the_estimate_above_successes_only() -> None:
    """A limit that kills 10 % of runs: successes-only p90 stays below the limit, KM says unknown."""
    rng = np.random.default_rng(5)
    true = rng.lognormal(np.log(200), 0.35, 500)
    limit = np.quantile(true, 0.9)
    observed = np.minimum(true, limit)
    censored = true > limit
    naive = float(np.quantile(observed[~censored], 0.95))
    assert naive < limit
    assert km_quantiles(observed, censored, [0.95]) == [None]


def test_cdf_at() -> None:
    """km_cdf_at gives the share finished by t."""
    assert km_cdf_at([1, 2, 3, 4], np.zeros(4, bool), 2.5) == pytest.approx(0.5)
    assert km_cdf_at([1, 2, 3, 4], np.zeros(4, bool), 0.5) == 0.0


@settings(max_examples=200, deadline=None)
@given(durations_st)
def test_quantiles_are_monotone(rows: list[tuple[float, bool]]) -> None:
    """p50 <= p90 <= p95 <= p99 wherever they are known, and a known quantile implies the lower ones are."""
    t = [r[0] for r in rows]
    c = np.array([r[1] for r in rows], bool)
    qs = km_quantiles(t, c, [0.5, 0.9, 0.95, 0.99])
    known = [q for q in qs if q is not None]
    assert known == sorted(known)
    first_none = next((i for i, q in enumerate(qs) if q is None), len(qs))
    assert all(q is None for q in qs[first_none:])


@settings(max_examples=200, deadline=None)
@given(durations_st, st.randoms(use_true_random=False))
def test_row_order_never_matters(rows: list[tuple[float, bool]], rnd: object) -> None:
    """Shuffling the observations changes nothing."""
    shuffled = list(rows)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    a = km_quantiles([r[0] for r in rows], np.array([r[1] for r in rows], bool), [0.5, 0.9, 0.99])
    b = km_quantiles([r[0] for r in shuffled], np.array([r[1] for r in shuffled], bool), [0.5, 0.9, 0.99])
    assert a == b


@settings(max_examples=200, deadline=None)
@given(durations_st, st.floats(min_value=0.1, max_value=5000))
def test_adding_a_censored_observation_never_lowers_the_estimate(rows: list[tuple[float, bool]], at: float) -> None:
    """One more unit censored at t can only raise (or keep) every known quantile."""
    t = [r[0] for r in rows]
    c = [r[1] for r in rows]
    before = km_quantiles(t, np.array(c, bool), [0.5, 0.9])
    after = km_quantiles([*t, at], np.array([*c, True], bool), [0.5, 0.9])
    for b, a in zip(before, after, strict=True):
        if b is not None and a is not None:
            assert a >= b


def test_unit_stats_groups_units_and_counts_censoring() -> None:
    """unit_stats gives one row per unit, job first, and counts censored rows."""
    frame = pd.DataFrame(
        {
            "scope": ["job"] * 4 + ["step"] * 4,
            "workflow": ["W"] * 8,
            "job": ["e2e"] * 8,
            "step": [None] * 4 + ["Run tests"] * 4,
            "step_number": [None] * 4 + [3] * 4,
            "phase": [None] * 8,
            "started_at": pd.to_datetime(["2026-01-01"] * 8, utc=True),
            "duration_s": [10.0, 20.0, 30.0, 40.0, 5.0, 6.0, 7.0, 8.0],
            "outcome": ["success", "success", "success", "timeout", "success", "success", "skipped", "cancelled"],
            "censored": [False, False, False, True, False, False, False, True],
        }
    )
    rows = unit_stats(frame)
    assert [(r.scope, r.samples, r.censored) for r in rows] == [("job", 4, 1), ("step", 3, 1)]
    assert rows[0].p50_s == 20.0
    assert rows[0].p99_s is None


@pytest.mark.parametrize("n_units", [1, 300, 40_000])
def test_rows_sort_by_unit_then_duration_then_events_first(n_units: int) -> None:
    """The KM sort's order equals a lexicographic sort on (unit, duration, censored), ties and all, with
    few units (a 16-bit radix sort) and with more than 16 bits hold (the general sort)."""
    from analyzer.model.km import _sort_order

    rng = np.random.default_rng(n_units)
    n = 50_000
    unit = rng.integers(0, n_units, n).astype(np.intp)
    t = np.round(rng.lognormal(3, 1, n))  # whole seconds: many ties
    censored = rng.random(n) < 0.2
    order = _sort_order(unit, t, censored)
    expected = np.lexsort((censored, t, unit))
    assert sorted(order.tolist()) == list(range(n))
    for column in (unit, t, censored):
        assert np.array_equal(column[order], column[expected])


def test_a_categorical_column_is_numbered_as_pd_factorize_numbers_its_values() -> None:
    """Units are numbered in order of first appearance whether text comes as objects or as
    categoricals whose categories are in another order (missing values: -1)."""
    from analyzer.model.units import _factorize

    rng = np.random.default_rng(5)
    for k in range(200):
        values = list(rng.choice(["a", "b", "c", "d", "e", None], size=int(rng.integers(0, 40))))
        named = sorted({v for v in values if v is not None})
        categories = named[::-1] if k % 2 else [*named, "unused"]
        plain = _factorize(np.asarray(values, dtype=object))
        coded = _factorize(pd.Categorical(values, categories=categories))
        assert np.array_equal(plain[0], coded[0]) and list(plain[1]) == list(coded[1])


def test_a_fitted_models_rows_refuse_a_refit_of_their_tails() -> None:
    """The fit drops its rows' Greenwood sums once the bands and tails are fitted; a tail or band asked of
    ``sorted_`` afterwards raises instead of reading the missing sums as no variance."""
    from analyzer.model import DurationModel
    from analyzer.model.km import loglog_bands
    from analyzer.model.tails import fit_unit_tails

    rng = np.random.default_rng(3)
    n = 400
    frame = pd.DataFrame({
        "scope": "job", "repo": "o/r", "workflow": "ci", "job": "e2e", "step": None, "step_number": np.nan, "phase": None,
        "run_id": np.arange(n), "run_attempt": 1, "job_id": np.arange(n) + 10_000,
        "started_at": pd.Timestamp("2026-11-01", tz="UTC") + pd.to_timedelta(np.arange(n) * 600, unit="s"),
        "duration_s": rng.lognormal(6, 0.3, n), "outcome": "success", "censored": False, "limit_s": np.nan,
        "runner": "ubuntu-latest", "silence_s": np.nan, "gap_s": np.nan,
    })  # fmt: skip
    model = DurationModel().fit(frame)
    assert model.sorted_.t.size == n and model.sorted_.greenwood.size == 0
    with pytest.raises(ValueError, match="Greenwood"):
        fit_unit_tails(model.sorted_, np.ones(1, bool))
    with pytest.raises(ValueError, match="Greenwood"):
        loglog_bands(model.sorted_, 1.96)
