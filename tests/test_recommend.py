"""recommend: limits from simulated histories with known truth, verdicts, hysteresis, layers, CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from simulated import TEKTON_TRUTH, Truth, e2e_history, lognormal, unit_history, weibull
from typer.testing import CliRunner

from analyzer.advise import (
    VERDICTS,
    CurrentLimit,
    Policy,
    current_limits,
    logged_limits,
    parse_workflow,
    recommend_limits,
    round_limit,
)
from analyzer.cli import app
from analyzer.config import PhaseRule
from analyzer.present.tables import recommendations_markdown as render_markdown
from analyzer.present.tables import recommendations_table as render_table
from analyzer.records import Incident, UnitKey

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
WF = "E2E WorkflowExecution"
TEKTON = UnitKey("phase", WF, "e2e", "Run E2E tests", "tekton-controller-wait")
SUITE = UnitKey("phase", WF, "e2e", "Run E2E tests", "ginkgo:suite")
JOB = UnitKey("job", WF, "e2e", None, None)
runner = CliRunner()


def only(frame: pd.DataFrame, current: float | None = None, source: str = "config", **policy: float) -> object:
    key = UnitKey("phase", "E2E", "e2e", "Run E2E tests", "wait")
    limits = {} if current is None else {key: CurrentLimit(current, source)}
    return recommend_limits(frame, limits, Policy(**policy)).recommendations[0]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("seconds", "scope", "expected"),
    [(7, "phase", 10), (61, "phase", 70), (299, "phase", 300), (301, "phase", 330), (1201, "phase", 1260),
     (61, "job", 120), (60, "step", 60), (0.2, "job", 60)],
)  # fmt: skip
def test_limits_are_rounded_up_to_values_people_write(seconds: float, scope: str, expected: float) -> None:
    """timeout-minutes in whole minutes; tool limits in 5/10/30/60-second steps by size; always up."""
    assert round_limit(seconds, scope) == expected


def test_the_tekton_wait_is_too_tight_with_its_kill_rate() -> None:
    """The seed's wait: 300 s stops ~10 % of runs; the verdict says so with the estimated rate and its
    interval. Every run past 300 s was stopped, so how far beyond they go rests on a tail: the raise is
    capped at 1.4 × and says "re-measure". Applied, the next history (now measured up to 420 s) gives a
    limit that truly stops at most 1.5 %."""
    result = recommend_limits(e2e_history(300, seed=3), {TEKTON: CurrentLimit(300.0, "config")})
    tekton = next(r for r in result.recommendations if r.key == TEKTON)
    assert tekton.verdict == "too_tight"
    assert tekton.false_timeout_rate_current == pytest.approx(TEKTON_TRUTH.survival(300), abs=0.03)
    lo, hi = tekton.rate_current_ci
    assert lo is not None and hi is not None and lo <= tekton.false_timeout_rate_current <= hi and lo > 0.01
    assert tekton.p99_s is None and tekton.quantile_lower_bound_s == pytest.approx(300.0)
    assert tekton.tail is not None and tekton.tail.used
    assert tekton.remeasure and tekton.recommended_timeout_s == 420.0
    assert any("re-measure" in n for n in tekton.notes)
    assert tekton.false_timeout_rate_recommended is not None
    assert tekton.false_timeout_rate_recommended < tekton.false_timeout_rate_current
    assert TEKTON_TRUTH.survival(420.0) < TEKTON_TRUTH.survival(300.0)
    # re-measured under the raised limit
    again = recommend_limits(e2e_history(300, seed=4, tekton_limit=420.0), {TEKTON: CurrentLimit(420.0, "config")})
    second = next(r for r in again.recommendations if r.key == TEKTON)
    assert second.recommended_timeout_s is not None and second.recommended_timeout_s > 420.0
    assert TEKTON_TRUTH.survival(second.recommended_timeout_s) <= 0.015


SCENARIOS = {
    "lognormal σ=0.35": lognormal(200, 0.35),
    "lognormal σ=0.5": lognormal(200, 0.5),
    "weibull k=1.5": weibull(300, 1.5),
    "weibull k=2.5": weibull(300, 2.5),
}


@pytest.mark.parametrize("censoring", ["limit", "cancel"])
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_recommended_limits_kill_few_healthy_runs_and_stay_close(name: str, censoring: str) -> None:
    """q = 0.99 on histories with ~10 % censored: the limit stops ≤ 1.5 % of healthy runs (true
    distribution) in every history, and stays below max(1.4 × true p99, true p99 + 60 s) in every
    history of 500 runs and in at least 9 of 10 of 200 runs (an upper confidence bound over 200
    runs of a heavy tail is sometimes that wide: 4 of 160 such histories in a 20-seed study)."""
    truth = SCENARIOS[name]
    ceiling = max(1.4 * truth.quantile(0.99), truth.quantile(0.99) + 60)
    for n, allowed_over in ((200, 1), (500, 0)):
        over = 0
        for seed in range(10):
            limit = truth.quantile(0.9) if censoring == "limit" else None
            frame = unit_history(truth, n, seed=seed, limit=limit, cancel_share=0.1 if censoring == "cancel" else 0.0)
            r = only(frame)
            assert r.recommended_timeout_s is not None  # type: ignore[attr-defined]
            assert truth.survival(r.recommended_timeout_s) <= 0.015, (n, seed, r.recommended_timeout_s)  # type: ignore[attr-defined]
            over += r.recommended_timeout_s >= ceiling  # type: ignore[attr-defined]
        assert over <= allowed_over, (n, over)


def test_successes_only_would_lower_a_limit_that_is_too_tight() -> None:
    """The trap: dropping the timed-out runs makes 300 s look generous; with them it is too tight."""
    frame = unit_history(TEKTON_TRUTH, 400, seed=5, limit=300.0)
    naive = only(frame[frame["outcome"] == "success"], current=300.0)
    honest = only(frame, current=300.0)
    assert naive.recommended_timeout_s <= 300 or naive.verdict == "ok"  # type: ignore[attr-defined]
    assert honest.verdict == "too_tight" and honest.recommended_timeout_s > 400  # type: ignore[attr-defined]


def test_verdicts_no_timeout_too_loose_insufficient() -> None:
    """No own limit: no_timeout; six hours for a four-minute job: too_loose; five runs: insufficient_data."""
    truth = lognormal(240, 0.3)
    assert only(unit_history(truth, 200, seed=1)).verdict == "no_timeout"  # type: ignore[attr-defined]
    loose = only(unit_history(truth, 200, seed=1), current=21600.0, source="default")
    assert loose.verdict == "too_loose" and loose.recommended_timeout_s < 900  # type: ignore[attr-defined]
    few = only(unit_history(truth, 5, seed=1), current=600.0)
    assert few.verdict == "insufficient_data" and few.recommended_timeout_s is None  # type: ignore[attr-defined]
    assert any("fewer than min_samples" in n for n in few.notes)  # type: ignore[attr-defined]
    assert set(VERDICTS) == {"too_tight", "ok", "too_loose", "no_timeout", "insufficient_data", "not_settable"}


def test_runs_stuck_at_the_limit_far_beyond_the_healthy_tail_are_named_not_raised_for() -> None:
    """The demo's data-storage wait: healthy runs take about 13 s, and 2 of 183 runs (a deployment in
    CrashLoopBackOff) sat at the 120 s limit. Raising the limit would not save them: the limit stays
    `ok`, rated by the healthy runs' tail, and a note says why a limit that stopped runs rates near 0."""
    frame = unit_history(lognormal(13, 0.5), 183, seed=3)
    stuck = frame.index[[40, 140]]
    frame.loc[stuck, ["duration_s", "outcome", "censored", "limit_s"]] = [120.0, "timeout", True, 120.0]
    rec = only(frame, current=120.0)
    assert rec.verdict == "ok" and rec.recommended_timeout_s == 120.0  # type: ignore[attr-defined]
    assert rec.false_timeout_rate_current < 0.01  # type: ignore[attr-defined]
    # kept, not certified: 2 runs reached the limit, so its interval reaches past the target, and it says so
    assert rec.rate_current_ci[1] > 0.01  # type: ignore[attr-defined]
    assert rec.notes[0].startswith("kept: its kill rate's interval")  # type: ignore[attr-defined]
    note = [n for n in rec.notes if "lasted to the limit in force" in n]  # type: ignore[attr-defined]
    assert len(note) == 1 and note[0].startswith("2 run(s)"), rec.notes  # type: ignore[attr-defined]
    # healthy runs alone: no such note
    clean = only(unit_history(lognormal(13, 0.5), 183, seed=3), current=120.0)
    assert not any("lasted to the limit in force" in n for n in clean.notes)  # type: ignore[attr-defined]


def test_limits_do_not_flap_week_to_week() -> None:
    """Applying each week's recommendation: the limit settles once and then stays, although the raw
    bound moves with every week's sample (hysteresis: a limit inside the band is kept)."""
    truth = lognormal(180, 0.4)
    weeks = [unit_history(truth, 120, seed=100 + w, days=7) for w in range(8)]
    current: float | None = None
    applied, raw = [], []
    for w in range(2, len(weeks)):
        window = pd.concat(weeks[w - 2 : w + 1])  # a rolling three-week window
        r = only(window, current=current)
        raw.append(round_limit(r.upper_bound_s * 1.05, "phase"))  # type: ignore[attr-defined]
        current = r.recommended_timeout_s  # type: ignore[attr-defined]
        applied.append(current)
    assert len(set(raw)) >= 2, raw  # the statistics move ...
    assert len(set(applied[1:])) == 1, applied  # ... the limit does not


def test_hung_runs_do_not_inflate_the_limit() -> None:
    """A few runs that hung until a one-hour limit are noted and do not make the limit an hour."""
    frame = unit_history(lognormal(60, 0.3), 300, seed=2)
    frame.loc[frame.index[:3], ["duration_s", "outcome", "censored"]] = [3600.0, "timeout", True]
    r = only(frame, current=3600.0)
    assert r.verdict == "too_loose" and r.recommended_timeout_s < 300 and r.hung == 3  # type: ignore[attr-defined]


def test_timeout_layers_seed_story() -> None:
    """Every wait at 3600 s inside an 18-minute suite inside a 20-minute job: the wait cannot fire.
    A job limit below the suite's recommendation plus the work around it is raised consistently."""
    frame = e2e_history(300, seed=4, tekton_limit=3600.0)
    current = {
        JOB: CurrentLimit(1200.0, "workflow"),
        SUITE: CurrentLimit(1080.0, "log"),
        TEKTON: CurrentLimit(3600.0, "config"),
    }
    result = recommend_limits(frame, current)
    cannot = [w for w in result.layers if w.kind == "inner_cannot_fire"]
    assert [(w.inner, w.outer) for w in cannot] == [(TEKTON, SUITE)]
    recs = {r.key: r for r in result.recommendations}
    assert recs[TEKTON].verdict == "too_loose"
    # a job limit shorter than its suite's limit plus the steps around it
    current[JOB] = CurrentLimit(600.0, "workflow")
    result = recommend_limits(frame, current)
    recs = {r.key: r for r in result.recommendations}
    small = [w for w in result.layers if w.kind == "outer_too_small"]
    assert [w.outer for w in small] == [JOB]
    assert recs[JOB].verdict == "too_tight"
    suite_limit = recs[SUITE].recommended_timeout_s
    assert suite_limit is not None and recs[JOB].recommended_timeout_s is not None
    assert recs[JOB].recommended_timeout_s >= suite_limit + 10  # room for checkout and set-up around the suite
    assert any("inner limits" in n for n in recs[JOB].notes)


def test_json_has_the_design_fields() -> None:
    """The DESIGN.md contract: field names, types and verdict values; extra fields are additions."""
    result = recommend_limits(e2e_history(120, seed=1), {TEKTON: CurrentLimit(300.0, "config")})
    data = json.loads(json.dumps(result.to_dict(), allow_nan=False))  # strict JSON: no NaN
    assert set(data) >= {"generated_at", "quantile", "recommendations"} and data["quantile"] == 0.99
    contract = {
        "scope", "workflow", "job", "step", "phase", "samples", "censored", "p50_s", "p95_s", "p99_s", "p99_ci_s",
        "current_timeout_s", "current_source", "recommended_timeout_s", "verdict", "false_timeout_rate_current",
        "false_timeout_rate_recommended",
    }  # fmt: skip
    for item in data["recommendations"]:
        assert contract <= set(item)
        assert item["verdict"] in VERDICTS and len(item["p99_ci_s"]) == 2
    tekton = next(i for i in data["recommendations"] if i["phase"] == "tekton-controller-wait")
    assert tekton["tail_estimate"]["label"].startswith("parametric extrapolation")
    assert "too_tight" in render_table(result) and "| `too_tight` |" in render_markdown(result)


def test_current_limits_come_from_yaml_config_and_logs() -> None:
    """Jobs and steps from workflow YAML (default when absent); phases from config, then from the logs."""
    spec = parse_workflow(
        "name: E2E WorkflowExecution\njobs:\n  e2e:\n    runs-on: x\n    timeout-minutes: 30\n    steps:\n"
        "      - name: Run E2E tests\n        timeout-minutes: 25\n        run: make e2e\n  lint:\n    runs-on: x\n    steps: []\n",
        "e2e.yml",
    )
    wait = UnitKey("phase", WF, "e2e", "Run E2E tests", "kubectl-wait:deployment/redis")
    keys = [JOB, UnitKey("step", WF, "e2e", "Run E2E tests", None), UnitKey("job", WF, "lint", None, None), TEKTON, wait,
            UnitKey("job", "Other", "build", None, None)]  # fmt: skip
    rules = [PhaseRule(name="tekton-controller-wait", start="x", timeout_s=300)]
    logged = {wait: 120.0, TEKTON: 600.0, UnitKey("job", "Other", "build", None, None): 1800.0}
    found = current_limits(keys, workflows=[spec], phases=rules, logged=logged)
    assert [(found[k].timeout_s, found[k].source) for k in keys] == [
        (1800, "workflow"), (1500, "workflow"), (21600, "default"), (300, "config"), (120, "log"), (1800, "log"),
    ]  # fmt: skip
    assert found[TEKTON].note and "logs show" in found[TEKTON].note


def test_logged_limits_from_observations_and_incidents() -> None:
    """limit_s on observations (latest wins) and on job/step timeout incidents."""
    frame = unit_history(TEKTON_TRUTH, 50, seed=1, limit=300.0, workflow=WF, phase="tekton-controller-wait")
    incident = Incident(
        repo="o/r", workflow=WF, run_id=1, run_attempt=1, job_id=1, job="e2e", step_number=None, step=None, phase=None,
        kind="job_timeout", limit_s=1800.0, evidence="The job has exceeded the maximum execution time of 30m0s",
    )  # fmt: skip
    found = logged_limits(frame, [incident])
    assert found[TEKTON] == 300.0 and found[JOB] == 1800.0


# -- through the store and the command line (the bundled sample) -------------------------------


@pytest.fixture(scope="module")
def sample_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not (SAMPLE / "runs.json").is_file():
        pytest.skip("data/sample is absent")
    from analyzer import api
    from analyzer.config import load_settings
    from analyzer.store import Store

    path = tmp_path_factory.mktemp("sample") / "sample.db"
    with Store(path) as store:
        api.ingest(load_settings(SAMPLE / "we-advisor.toml"), store, [SAMPLE])
    return path


def cli(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_cli_recommend_json_flags_the_tekton_wait(sample_store: Path) -> None:
    """On the sample: the Tekton controller wait's 300 s limit is too tight and its kill rate is shown."""
    code, out, err = cli("recommend", "--store", str(sample_store), "--config", str(SAMPLE / "we-advisor.toml"),
                         "--since", "60d", "--format", "json")  # fmt: skip
    assert code == 0, err
    data = json.loads(out)
    tekton = next(r for r in data["recommendations"] if r["phase"] == "tekton-controller-wait")
    assert (tekton["current_timeout_s"], tekton["current_source"], tekton["verdict"]) == (300.0, "config", "too_tight")
    assert 0.05 < tekton["false_timeout_rate_current"] < 0.2
    lo, hi = tekton["false_timeout_rate_current_ci"]
    assert 0.01 < lo <= tekton["false_timeout_rate_current"] <= hi
    assert tekton["recommended_timeout_s"] > 300
    assert tekton["false_timeout_rate_recommended"] < tekton["false_timeout_rate_current"]
    assert tekton["remeasure"] or tekton["false_timeout_rate_recommended_ci"][1] <= 0.015
    assert (tekton["settable"], tekton["where"]) == (True, "[[timeouts]] test/infrastructure/workflowexecution.go")
    runner_made = [r for r in data["recommendations"] if r["step"] in ("Set up job", "Complete job") and r["scope"] == "step"]
    assert runner_made and all(r["verdict"] == "not_settable" and r["recommended_timeout_s"] is None for r in runner_made)
    assert "unit(s):" in err and "too_tight" in err


def test_cli_recommend_markdown_to_a_file(sample_store: Path, tmp_path: Path) -> None:
    """--output writes the report there and keeps stdout empty."""
    target = tmp_path / "timeouts.md"
    code, out, err = cli("recommend", "--store", str(sample_store), "--config", str(SAMPLE / "we-advisor.toml"),
                         "--since", "60d", "--format", "markdown", "--output", str(target))  # fmt: skip
    assert code == 0, err
    assert out == "" and f"written to {target}" in err
    assert target.read_text(encoding="utf-8").startswith("## Timeout recommendations (p99")


def test_cli_recommend_patch_rewrites_a_checkout(sample_store: Path, tmp_path: Path) -> None:
    """--patch rewrites the [[timeouts]] source limit and the workflow YAML, printing a unified diff."""
    checkout = tmp_path / "repo"
    (checkout / ".github" / "workflows").mkdir(parents=True)
    (checkout / ".github" / "workflows" / "e2e.yml").write_text(
        "name: E2E WorkflowExecution\non: [pull_request]\njobs:\n  unit:\n    runs-on: ubuntu-latest  # fast\n"
        "    steps:\n      - run: go test ./...\n",
        encoding="utf-8",
    )
    go_file = checkout / "test" / "infrastructure" / "workflowexecution.go"
    go_file.parent.mkdir(parents=True)
    go_file.write_text('exec.Command("kubectl", "wait", "--timeout=300s")\n', encoding="utf-8")
    config = tmp_path / "we-advisor.toml"
    config.write_text(
        'preset = "kubernaut-e2e"\nrepo = "demo/kubernaut"\n[[timeouts]]\nphase = "tekton-controller-wait"\n'
        "file = 'test/infrastructure/workflowexecution.go'\npattern = '--timeout=(\\d+)s'\n",
        encoding="utf-8",
    )
    code, out, err = cli("recommend", "--store", str(sample_store), "--config", str(config), "--since", "60d",
                         "--patch", str(checkout))  # fmt: skip
    assert code == 0, err
    assert "--- a/test/infrastructure/workflowexecution.go" in out
    assert '-exec.Command("kubectl", "wait", "--timeout=300s")' in out
    new_value = go_file.read_text(encoding="utf-8")
    assert "--timeout=300s" not in new_value and new_value.startswith('exec.Command("kubectl", "wait", "--timeout=')
    assert "patched" in err


def test_cli_recommend_errors(tmp_path: Path) -> None:
    """A missing store and an impossible quantile are one-line errors with a hint (exit 1)."""
    code, _, err = cli("recommend", "--store", str(tmp_path / "none.db"))
    assert code == 1 and f"error: no store at {tmp_path / 'none.db'}" in err and "hint:" in err
    db = tmp_path / "empty.db"
    from analyzer.store import Store

    Store(db).close()
    code, _, err = cli("recommend", "--store", str(db), "--quantile", "1.5")
    assert code == 1 and "error: --quantile 1.5 out of range" in err


def test_cli_backtest_table_and_json(sample_store: Path) -> None:
    """backtest shows we-advisor beside the heuristics; JSON carries the totals per policy."""
    args = ("backtest", "--store", str(sample_store), "--config", str(SAMPLE / "we-advisor.toml"))
    code, out, err = cli(*args)
    assert code == 0, err
    for policy in ("current", "we-advisor", "jenkins-elastic", "max+3sd", "1.5x-slowest", "bazel-size"):
        assert policy in out
    code, out, err = cli(*args, "--format", "json")
    data = json.loads(out)
    totals = {t["policy"]: t for t in data["policies"]}
    assert totals["we-advisor"]["units_over_target"] <= totals["current"]["units_over_target"]
    assert totals["jenkins-elastic"]["est_kill_rate"] > totals["we-advisor"]["est_kill_rate"]
    code, _, err = cli(*args, "--split", "1999-01-01")
    assert code == 1 and "error: --split 1999-01-01 leaves no observations on one side" in err


def test_runner_split_is_reported() -> None:
    """A unit whose slow tail belongs to one runner label says so, censoring stated."""
    fast = unit_history(lognormal(100, 0.3), 150, seed=8, runners=("ubuntu-latest",))
    slow = unit_history(lognormal(200, 0.3), 150, seed=9, runners=("self-hosted",), first_job_id=1000)
    r = only(pd.concat([fast, slow], ignore_index=True))
    assert r.runners is not None and r.runners.ratio > 1.5  # type: ignore[attr-defined]
    assert any("slow tail belongs to runner 'self-hosted'" in n for n in r.notes)  # type: ignore[attr-defined]


def test_rows_never_change_the_answer_when_shuffled() -> None:
    """Row order of the observations does not change any recommendation."""
    frame = e2e_history(150, seed=6)
    shuffled = frame.sample(frac=1.0, random_state=1)
    a = recommend_limits(frame, {TEKTON: CurrentLimit(300.0, "config")}).to_dict()["recommendations"]
    b = recommend_limits(shuffled, {TEKTON: CurrentLimit(300.0, "config")}).to_dict()["recommendations"]
    assert_close(a, b)  # equal up to floating-point summation order


def assert_close(a: object, b: object) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys()
        for key in a:
            assert_close(a[key], b[key])
    elif isinstance(a, list | tuple) and isinstance(b, list | tuple):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            assert_close(x, y)
    elif isinstance(a, float) and isinstance(b, float):
        assert a == pytest.approx(b, rel=1e-9, abs=1e-12)
    else:
        assert a == b


@pytest.mark.parametrize(("truth", "runs"), [(lognormal(90, 0.3), 2000), (weibull(120, 2.0), 2000), (weibull(600, 8.0), 10)])
def test_p99_interval_brackets_the_estimate(truth: Truth, runs: int) -> None:
    """p99_ci_s brackets the KM p99 where both are known, also in a short history whose tail puts the whole
    interval above the longest run (which is the KM p99 there: 665 s beside a tail's 668–800 s before)."""
    r = only(unit_history(truth, runs, seed=7))
    lo, hi = r.p99_ci_s  # type: ignore[attr-defined]
    assert lo is not None and hi is not None and lo <= r.p99_s <= hi  # type: ignore[attr-defined]
    assert np.isfinite(hi)


def test_demo_flags_the_tekton_wait(tmp_path: Path) -> None:
    """`we-advisor demo` shows the Tekton wait's 300 s limit as too_tight with its kill rate, and the backtest."""
    if not (SAMPLE / "runs.json").is_file():
        pytest.skip("data/sample is absent")
    from analyzer.api import demo as run_demo

    result = run_demo(tmp_path / "demo.db", reports_dir=None)
    line = next(x for x in result.text.splitlines() if "tekton-controller-wait" in x and "too_tight" in x)
    assert "5m00s (config)" in line
    killed_now = float(re.search(r"([\d.]+)%", line.split("(config)")[1])[1]) / 100  # type: ignore[index]
    assert 0.05 < killed_now < 0.2
    assert "Backtest: limits chosen on the runs before" in result.text and "jenkins-elastic" in result.text
    assert result.recommendations is not None


def test_failures_tell_hangs_as_incidents_do(sample_store: Path) -> None:
    """A timeout after a long silence is a ``hang`` in `failures`' signatures as in `incidents` (it was
    the limit's kind there: tool_timeout, job_timeout …), and both count the same failed attempts."""
    config = str(SAMPLE / "we-advisor.toml")
    code, out, err = cli("failures", "--store", str(sample_store), "--config", config, "--format", "json")
    assert code == 0, err
    kinds: dict[str, int] = {}
    for signature in json.loads(out)["signatures"]:
        for kind, n in (signature.get("kinds") or {}).items():
            kinds[kind] = kinds.get(kind, 0) + n
    code, out, err = cli("incidents", "--store", str(sample_store), "--config", config, "--format", "json")
    assert code == 0, err
    found = json.loads(out)
    told = [i["kind"] for i in (found if isinstance(found, list) else found["incidents"]) if i["kind"] != "cancelled"]
    assert kinds.get("hang", 0) > 0 and "hang" in told
    assert sum(kinds.values()) == len(told)


def test_a_repository_the_store_lacks_is_an_error_and_other_rules_are_said(sample_store: Path, tmp_path: Path) -> None:
    """`--repo` with a typo: an error naming the store's repositories, not an empty answer. A command
    run with other phase rules than the store's rows (here: no config) re-parses, and says so."""
    import shutil

    store = tmp_path / "copy.db"
    shutil.copy(sample_store, store)
    config = str(SAMPLE / "we-advisor.toml")
    for command in ("stats", "recommend", "incidents", "failures"):
        code, out, err = cli(command, "--store", str(store), "--config", config, "--repo", "nonexistent/x")
        assert code == 1 and out == "", (command, err)
        assert err.splitlines()[0] == "error: no repository 'nonexistent/x' in the store", command
        assert err.splitlines()[1].startswith("hint: repositories: ") and len(err.splitlines()) == 2
    code, _, err = cli("stats", "--store", str(store), "--config", config)
    assert code == 0 and "re-parsed" not in err
    code, _, err = cli("stats", "--store", str(store))  # the built-in rules: the preset's phases are gone
    assert code == 0 and "warning: re-parsed " in err and " job(s) with the phase rules in force" in err
    code, _, err = cli("stats", "--store", str(store))
    assert code == 0 and "re-parsed" not in err  # once


def test_recommend_reads_text_as_codes_and_advises_as_from_plain_text(tmp_path: Path) -> None:
    """``recommend`` reads the observations' text as categoricals and only the columns it uses
    (``RECOMMEND_COLUMNS``: less memory at 10⁶ rows); every field of every recommendation, and the
    window, equal what the same history read whole as plain text gives."""
    from analyzer import api
    from analyzer.advise import recommendation_dict
    from analyzer.config import load_settings
    from analyzer.store import Store
    from tests.loadgen import write_store

    config = tmp_path / "we-advisor.toml"
    config.write_text('repo = "acme/monorepo"\npreset = "kubernaut-e2e"\n', encoding="utf-8")
    settings = load_settings(config)
    write_store(tmp_path / "load.db", 1500, rules=settings.phases)
    with Store(tmp_path / "load.db") as store:
        as_codes = api.recommend(settings, store)
        plain = store.observations_frame(codes=False)
        assert plain["job"].dtype == object and store.observations_frame(codes=True)["job"].dtype == "category"
        # a column of NULLs (no log silences in this history): None objects as read, an empty categorical as codes
        silent = store.observations_frame(codes=True)["silence_s"]
        assert plain["silence_s"].isna().all() and plain["silence_s"].dtype == object
        assert silent.dtype == "category" and silent.isna().all() and silent.array.codes.dtype == "int8"
        as_text = api.recommend(settings, store, observations=plain)
    assert as_codes.runs == as_text.runs > 0
    assert (as_codes.window_start, as_codes.window_end) == (as_text.window_start, as_text.window_end)
    assert as_codes.window_start is not None and as_codes.window_start.tzinfo is not None
    codes = [recommendation_dict(r) for r in as_codes.recommendations]
    text = [recommendation_dict(r) for r in as_text.recommendations]
    assert len(codes) > 50 and json.dumps(codes, sort_keys=True) == json.dumps(text, sort_keys=True)


def test_job_attempts_are_counted_as_pandas_counts_them() -> None:
    """The window's job attempts (``_window``, by numpy's sort for plain integers, less memory at 10⁶ rows):
    what ``nunique`` counts, missing values not counted, for every dtype a frame may bring."""
    import numpy as np
    import pandas as pd

    from analyzer.advise.recommend import _distinct

    columns = [
        pd.Series([3, 1, 3, 2, 2**40], dtype="int64"), pd.Series([5, 5], dtype="uint32"), pd.Series([], dtype="int64"),
        pd.Series([3, None, 3, None], dtype="Int64"), pd.Series([1.0, np.nan, 1.0, 2.0]),
        pd.Series(["a", None, "a", "b"], dtype=object), pd.Series([7, 7, 8]).astype("category"),
    ]  # fmt: skip
    assert [_distinct(c) for c in columns] == [c.nunique() for c in columns] == [4, 1, 0, 1, 2, 2, 2]
