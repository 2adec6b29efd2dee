"""backtest: fit before a split, replay after; the heuristics people use beside we-advisor."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from simulated import START, TEKTON_TRUTH, e2e_history, lognormal, unit_history

from analyzer.advise import POLICIES, CurrentLimit, Policy, default_split, run_backtest
from analyzer.records import UnitKey

WAIT = UnitKey("phase", "E2E", "e2e", "Run E2E tests", "wait")


def split_frame(frame: pd.DataFrame, when: datetime) -> tuple[pd.DataFrame, pd.DataFrame]:
    stamp = pd.Timestamp(when)
    return frame[frame["started_at"] < stamp], frame[frame["started_at"] >= stamp]


def totals(result: object) -> dict[str, object]:
    return {t.policy: t for t in result.totals}  # type: ignore[attr-defined]


def test_heuristics_are_what_people_use() -> None:
    """Jenkins 2.5 × mean, max + 3σ, 1.5 × slowest and Bazel's categories, all from successes only."""
    train = unit_history(lognormal(100, 0.2), 60, seed=1)
    train.loc[train.index[:5], ["outcome", "censored"]] = ["cancelled", True]  # censored: not successes
    test = unit_history(lognormal(100, 0.2), 20, seed=2, first_job_id=500)
    test["started_at"] += pd.Timedelta(days=60)
    result = run_backtest(train, test, {}, Policy(), split=datetime(2026, 3, 1, tzinfo=UTC))
    limits = {u.policy: u.limit_s for u in result.units}
    ok = train.loc[train["outcome"] == "success", "duration_s"]
    assert limits["jenkins-elastic"] == pytest.approx(2.5 * ok.mean())
    assert limits["max+3sd"] == pytest.approx(ok.max() + 3 * ok.std(ddof=1))
    assert limits["1.5x-slowest"] == pytest.approx(1.5 * ok.max())
    assert limits["bazel-size"] == (300.0 if ok.max() <= 300 else 900.0)
    assert limits["current"] is None
    assert [p.name for p in POLICIES] == list(limits)


def test_replay_arithmetic() -> None:
    """Killed healthy runs, minutes saved on timed-out runs, minutes at risk, slack: by hand."""
    base = unit_history(lognormal(100, 0.2), 40, seed=3)
    test = pd.DataFrame(
        {
            **{c: base[c].iloc[:4].to_numpy() for c in base.columns},
            "duration_s": [100.0, 250.0, 400.0, 500.0],
            "outcome": ["success", "success", "timeout", "timeout"],
            "censored": [False, False, True, True],
            "started_at": pd.date_range("2026-03-02", periods=4, freq="h", tz="UTC"),
            "job_id": [900, 901, 902, 903],
        }
    )
    result = run_backtest(base, test, {WAIT: CurrentLimit(450.0, "config")}, Policy(), split=datetime(2026, 3, 1, tzinfo=UTC))
    current = next(u for u in result.units if u.policy == "current")
    assert (current.healthy_runs, current.healthy_killed, current.timed_out_runs) == (2, 0, 2)
    assert current.stopped_sooner == 1 and current.runner_minutes_saved == pytest.approx(50 / 60, abs=0.01)
    assert current.unresolved == 1 and current.runner_minutes_at_risk == pytest.approx(50 / 60, abs=0.01)
    assert current.median_slack_s == pytest.approx(np.median([350.0, 200.0]))
    for u in result.units:
        assert u.limit_s is not None
        assert u.healthy_killed == sum(d > u.limit_s for d in (100.0, 250.0))
        assert u.stopped_sooner == sum(d > u.limit_s for d in (400.0, 500.0))
    bazel = next(u for u in result.units if u.policy == "bazel-size")
    assert bazel.limit_s == 300.0 and bazel.runner_minutes_saved == pytest.approx((100 + 200) / 60, abs=0.01)


def test_tekton_history_current_kills_ten_percent_we_advisor_few() -> None:
    """A 300 s limit that stops ~10 %: replayed, the current policy's censoring-aware kill rate shows
    it; we-advisor's limit, chosen on the weeks before, stops a fraction of that. Every run past 300 s
    was stopped, so that first raise rests on a tail and is capped at 1.4 × ("raise to at least 7 min,
    re-measure"); the next one, on data measured under it, meets the target (test_recommend)."""
    frame = e2e_history(600, seed=7, days=56)
    split = default_split(frame["started_at"])
    train, test = split_frame(frame, split)
    key = UnitKey("phase", "E2E WorkflowExecution", "e2e", "Run E2E tests", "tekton-controller-wait")
    result = run_backtest(train, test, {key: CurrentLimit(300.0, "config")}, Policy(), split=split)
    tekton = {u.policy: u for u in result.units if u.key == key}
    assert tekton["current"].est_kill_rate == pytest.approx(TEKTON_TRUTH.survival(300), abs=0.04)
    assert tekton["we-advisor"].limit_s == 420.0
    assert tekton["we-advisor"].est_kill_rate is not None and tekton["we-advisor"].est_kill_rate <= 0.3 * tekton["current"].est_kill_rate
    assert tekton["we-advisor"].limit_s is not None and tekton["we-advisor"].limit_s > 300
    assert tekton["we-advisor"].runner_minutes_at_risk > 0  # a looser limit waits longer on the runs it lets go
    t = totals(result)
    # pooled over every unit and at the worst unit, fewer healthy runs stopped than by the limits in force
    assert t["we-advisor"].est_kill_rate < t["current"].est_kill_rate  # type: ignore[attr-defined]
    assert t["we-advisor"].worst_est_kill_rate < t["current"].worst_est_kill_rate  # type: ignore[attr-defined]
    data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert {p["policy"] for p in data["policies"]} == {p.name for p in POLICIES}
    assert data["split"] == split.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_default_split_two_weeks_back_or_the_middle() -> None:
    """Two weeks before the newest observation when there are more than four weeks; else the middle."""
    long = pd.Series(pd.date_range(START, periods=50, freq="D", tz="UTC"))
    assert default_split(long) == (START + pd.Timedelta(days=35)).to_pydatetime()
    short = pd.Series(pd.date_range(START, periods=11, freq="D", tz="UTC"))
    assert default_split(short) == (START + pd.Timedelta(days=5)).to_pydatetime()


def test_units_without_enough_history_are_left_out_with_a_note() -> None:
    """A unit with fewer than min_samples runs before the split is not scored."""
    train = unit_history(lognormal(60, 0.3), 5, seed=1)
    test = unit_history(lognormal(60, 0.3), 20, seed=2, first_job_id=100)
    test["started_at"] += pd.Timedelta(days=60)
    result = run_backtest(train, test, {}, Policy(), split=datetime(2026, 3, 1, tzinfo=UTC))
    assert result.units == () and result.notes == ("1 unit(s) left out: fewer than 20 runs before the split",)


def test_benchmark_script_runs(tmp_path: object) -> None:
    """benchmarks/model_bench.py runs end to end (small) and writes its JSON."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "model_bench.py"
    spec = importlib.util.spec_from_file_location("model_bench", path)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = Path(str(tmp_path)) / "bench.json"
    bench.main(["--observations", "20000", "--units", "100", "--repeat", "1", "--json", str(out)])
    data = json.loads(out.read_text())
    assert data["observations"] == 20000 and data["units"] == 100
    assert data["we_advisor_fit_recommend_s"] > 0 and data["pandas_groupby_quantile_s"] > 0
