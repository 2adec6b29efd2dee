"""The bootstrap runner with real subprocesses: scheduling, limits, process groups, events, forecasts."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from analyzer.bootstrap.forecast import forecast_plan, sample_durations
from analyzer.bootstrap.plan import Limit, load_plan, load_recommendations, resolve_limits
from analyzer.bootstrap.runner import Attempt, RunResult, run_plan
from analyzer.cli import app
from analyzer.errors import ConfigError, InputError
from analyzer.parse import events
from analyzer.store import Store

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "e2e-setup.toml"

cli = CliRunner()


def _plan(tmp_path: Path, body: str, name: str = "plan.toml") -> Path:
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    return path


def _run(path: Path, **kwargs: object) -> tuple[RunResult, str, str]:
    out, err = io.StringIO(), io.StringIO()
    plan = load_plan(path)
    result = run_plan(plan, resolve_limits(plan), out=out, err=err, **kwargs)  # type: ignore[arg-type]
    return result, out.getvalue(), err.getvalue()


def _alive(pid: int) -> bool:
    """Whether a process runs (a zombie that nobody reaped does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return not Path("/proc").is_dir()
    return stat[stat.rfind(")") + 2] not in "ZX"


def _pids(tmp_path: Path, *names: str) -> list[int]:
    return [int((tmp_path / n).read_text().split()[0]) for n in names]


def _ended(attempt: Attempt) -> datetime:
    return attempt.started_at + timedelta(seconds=attempt.duration_s)


def _wait_for(paths: list[Path], timeout: float = 60.0) -> None:
    until = time.monotonic() + timeout
    while not all(p.exists() and p.read_text().strip() for p in paths):
        assert time.monotonic() < until, f"never appeared: {paths}"
        time.sleep(0.02)


# A task whose process group holds two grandchildren, one of which ignores SIGTERM. The leader
# writes its pid and says "started" only once that grandchild has set its trap (gc2.ready): a test
# that waits for leader.pid, or sees "started", knows the group is complete.
STUBBORN = (
    "sleep 30 & echo $! > gc1.pid; (trap '' TERM; touch gc2.ready; sleep 30) & echo $! > gc2.pid; "
    "while [ ! -e gc2.ready ]; do sleep 0.01; done; echo $$ > leader.pid; echo started; sleep 30"
)


def test_diamond_takes_its_critical_path_not_the_sum(tmp_path: Path) -> None:
    """a -> (b, c) -> d runs b and c together (they overlap), d only after both: the critical path
    (1.0 s of sleeps), not the sum (1.6 s). Asserted on the order of events, not on the clock: b and c
    each wait until the other has started (a runner that ran them one after the other would time them
    out), so they overlap however late the machine's load lets either of them start."""
    path = _plan(
        tmp_path,
        """
[[task]]
name = "a"
run = ["sleep", "0.2"]
[[task]]
name = "b"
run = "touch b.started; while [ ! -e c.started ]; do sleep 0.01; done; sleep 0.6"
cwd = "."
timeout_s = 60
needs = ["a"]
[[task]]
name = "c"
run = "touch c.started; while [ ! -e b.started ]; do sleep 0.01; done; sleep 0.6"
cwd = "."
timeout_s = 60
needs = ["a"]
[[task]]
name = "d"
run = ["sleep", "0.2"]
needs = ["b", "c"]
""",
    )
    result, _, _ = _run(path)
    assert result.exit_code == 0
    assert [r.outcome for r in result.results] == ["success"] * 4
    assert result.wall_s >= 1.0  # a physical lower bound: the critical path's sleeps
    a, b, c, d = (result.result(name).attempts[0] for name in "abcd")
    assert _ended(a) <= b.started_at and _ended(a) <= c.started_at
    assert b.started_at < _ended(c) and c.started_at < _ended(b)  # b and c overlapped
    assert d.started_at >= max(_ended(b), _ended(c))


def test_a_task_starts_when_its_own_needs_succeeded_not_in_waves(tmp_path: Path) -> None:
    """A task whose need is quick does not wait for a slow, unrelated task of the same 'level'."""
    path = _plan(
        tmp_path,
        """
[[task]]
name = "slow"
run = "while [ ! -f after-quick.done ]; do sleep 0.02; done"
cwd = "."
timeout_s = 60
[[task]]
name = "quick"
run = ["sleep", "0.1"]
[[task]]
name = "after-quick"
run = "touch after-quick.done"
cwd = "."
needs = ["quick"]
""",
    )
    # "slow" can only finish once "after-quick" has run: a runner that waited for the whole first
    # level before starting the second would time "slow" out instead.
    result, _, _ = _run(path)
    assert {r.name: r.outcome for r in result.results} == {"slow": "success", "quick": "success", "after-quick": "success"}
    assert result.result("after-quick").attempts[0].started_at < _ended(result.result("slow").attempts[0])


def test_a_timed_out_task_leaves_no_process_behind(tmp_path: Path) -> None:
    """Past its limit the whole group gets SIGTERM, then SIGKILL after the grace: grandchildren too.

    The limit (2 s) only has to outlast the script's start-up (a few forks, ~10 ms; tens of ms on a
    loaded machine): with 0.4 s a slow start could be cut short before the pid files, "started" or the
    grandchild's trap existed, and the test failed on a missing file or a wall time under the grace."""
    path = _plan(
        tmp_path,
        f"""
grace_s = 0.3
[[task]]
name = "stubborn"
run = "{STUBBORN}"
timeout_s = 2
cwd = "."
""",
    )
    result, out, err = _run(path)
    task = result.result("stubborn")
    assert (task.outcome, task.reason) == ("timeout", "timed out after 2 s")
    assert task.duration_s >= 2  # not before its limit
    assert result.wall_s >= 2.3  # limit + grace: the grandchild that ignores SIGTERM was SIGKILLed after it
    assert [p for p in _pids(tmp_path, "leader.pid", "gc1.pid", "gc2.pid") if _alive(p)] == []
    assert "[stubborn] started" in out
    assert "stubborn passed its limit of 2 s: ending its process group" in err
    assert result.exit_code == 1


@pytest.mark.timeout(120)
def test_leftovers_of_a_finished_task_are_ended(tmp_path: Path) -> None:
    """A command that exits but leaves a background process in its group does not leave an orphan."""
    path = _plan(
        tmp_path,
        """
grace_s = 0.2
[[task]]
name = "leaky"
run = "sleep 600 & echo $! > bg.pid"
cwd = "."
""",
    )
    # a runner that waited for the background sleep would not return before the test's own timeout
    result, _, _ = _run(path)
    assert result.result("leaky").outcome == "success"
    assert not _alive(_pids(tmp_path, "bg.pid")[0])


def test_diagnostics_run_after_a_failure_and_are_kept(tmp_path: Path) -> None:
    """diagnose commands run when a task fails or times out; their output is in the result and summary."""
    path = _plan(
        tmp_path,
        """
grace_s = 0.2
[[task]]
name = "tekton"
run = ["sleep", "5"]
timeout_s = 0.3
diagnose = ["echo NAME READY; echo tekton-pipelines-controller 0/1", ["sh", "-c", "echo to stderr >&2; exit 3"]]
[[task]]
name = "fine"
run = "true"
diagnose = ["echo never runs"]
""",
    )
    result, out, _ = _run(path)
    first, second = result.result("tekton").diagnostics
    assert (first.command, first.outcome, first.lines) == (
        "echo NAME READY; echo tekton-pipelines-controller 0/1",
        "success",
        ("NAME READY", "tekton-pipelines-controller 0/1"),
    )
    assert (second.returncode, second.lines) == (3, ("to stderr",))
    assert result.result("fine").diagnostics == ()
    assert "[tekton diagnose] tekton-pipelines-controller 0/1" in out
    summary = result.summary()
    assert (
        "diagnostics of tekton (attempt 1): $ echo NAME READY; echo tekton-pipelines-controller 0/1  [exit 0]"
        in summary
    )
    assert "  | tekton-pipelines-controller 0/1" in summary


def test_dependents_of_a_failure_are_skipped_and_independent_tasks_finish(tmp_path: Path) -> None:
    """Tasks needing a failed task (directly or not) are skipped with the reason; the others run on."""
    path = _plan(
        tmp_path,
        """
[[task]]
name = "postgres"
run = "echo boom; exit 2"
[[task]]
name = "data-storage"
run = "echo never"
needs = ["postgres"]
[[task]]
name = "migrations"
run = "echo never"
needs = ["data-storage"]
[[task]]
name = "tekton"
run = ["sleep", "0.3"]
""",
    )
    result, out, _ = _run(path)
    outcomes = {r.name: (r.outcome, r.reason) for r in result.results}
    assert outcomes == {
        "postgres": ("failure", "exit code 2"),
        "data-storage": ("skipped", "needs postgres, which failed"),
        "migrations": ("skipped", "needs data-storage, which was skipped (postgres failed)"),
        "tekton": ("success", None),
    }
    assert "never" not in out
    assert result.exit_code == 1


@pytest.mark.timeout(120)
def test_fail_fast_cancels_running_tasks(tmp_path: Path) -> None:
    """With fail_fast the first failure cancels the running tasks and skips the ones not started."""
    path = _plan(
        tmp_path,
        """
grace_s = 0.3
[[task]]
name = "broken"
run = "while [ ! -s long.pid ]; do sleep 0.01; done; exit 1"
cwd = "."
timeout_s = 60
[[task]]
name = "long"
run = "echo $$ > long.pid; exec sleep 600"
cwd = "."
[[task]]
name = "later"
run = "true"
needs = ["long"]
""",
    )
    # "broken" fails once "long" has written its pid (not after a sleep that a slow start of "long" could
    # outlast): "long" is certainly running, and its pid file there, when the failure cancels it
    result, _, _ = _run(path, fail_fast=True)
    outcomes = {r.name: (r.outcome, r.reason) for r in result.results}
    assert outcomes == {
        "broken": ("failure", "exit code 1"),
        "long": ("cancelled", "cancelled by --fail-fast: broken failed"),
        "later": ("skipped", "not started: --fail-fast after broken failed"),
    }
    assert not _alive(_pids(tmp_path, "long.pid")[0])  # ended, not waited for (600 s)


def test_retries_rerun_a_failed_task(tmp_path: Path) -> None:
    """retries = 1 runs a failed task once more; every attempt is an event of its own."""
    events = tmp_path / "events.jsonl"
    path = _plan(
        tmp_path,
        """
[[task]]
name = "flaky"
run = "if [ -e once ]; then echo ok; else touch once; exit 1; fi"
retries = 1
cwd = "."
""",
    )
    result, _, err = _run(path, events=events)
    task = result.result("flaky")
    assert (task.outcome, [a.outcome for a in task.attempts]) == ("success", ["failure", "success"])
    assert "flaky failed; retrying (attempt 2 of 2)" in err
    ends = [e for e in map(json.loads, events.read_text().splitlines()) if e["event"] == "end"]
    assert [(e["attempt"], e["outcome"]) for e in ends] == [(1, "failure"), (2, "success")]


def test_ticker_says_what_is_still_running(tmp_path: Path) -> None:
    """While a task runs, a line per tick names it, its elapsed time and its limit.

    The task runs until the test has seen three ticks (not for a fixed 0.35 s, in which a loaded machine
    may wake the ticker late, print "0.2 s" for the first tick, or fewer ticks): each tick comes no
    earlier than its multiple of the tick, and no line says less time than the one before."""
    path = _plan(tmp_path, '[[task]]\nname = "tekton"\nrun = "while [ ! -e go ]; do sleep 0.01; done"\n'
                           'cwd = "."\ntimeout_s = 600\n')  # fmt: skip
    err, finished = io.StringIO(), threading.Event()

    def release_after_three_ticks() -> None:
        until = time.monotonic() + 60
        while err.getvalue().count("still waiting for tekton") < 3 and time.monotonic() < until:
            if finished.wait(0.01):
                return
        (tmp_path / "go").touch()

    releaser = threading.Thread(target=release_after_three_ticks)
    releaser.start()
    try:
        plan = load_plan(path)
        result = run_plan(plan, resolve_limits(plan), out=io.StringIO(), err=err, tick_s=0.1)
    finally:
        finished.set()
        releaser.join()
    assert result.result("tekton").outcome == "success"
    ticks = [line for line in err.getvalue().splitlines() if "still waiting" in line]
    pattern = r"bootstrap: still waiting for tekton \((\d+(?:\.\d)?) s elapsed, limit 600 s\)"
    elapsed = [float(re.fullmatch(pattern, line).group(1)) for line in ticks]  # type: ignore[union-attr]
    assert len(elapsed) >= 3
    assert all(e >= round(0.1 * k, 1) for k, e in enumerate(elapsed[:3], 1))  # never before its tick
    assert elapsed == sorted(elapsed)  # each line says at least as much time as the one before


def test_github_actions_output_is_grouped_per_task(tmp_path: Path) -> None:
    """Under GitHub Actions each task's prefixed output is written inside ::group:: markers at its end."""
    path = _plan(tmp_path, '[[task]]\nname = "a"\nrun = "echo one; echo two"\n[[task]]\nname = "b"\nrun = "exit 4"\n')
    _, out, _ = _run(path, github_actions=True)
    assert "::group::a: success in" in out
    assert "[a] one\n[a] two\n::endgroup::\n" in out
    assert "::error title=bootstrap b::b failed: exit code 4" in out


def test_a_missing_program_is_a_task_failure(tmp_path: Path) -> None:
    """A command that cannot start fails its task (with the reason) instead of crashing the run."""
    path = _plan(tmp_path, '[[task]]\nname = "kind"\nrun = ["no-such-program-xyz", "create", "cluster"]\n')
    result, _, _ = _run(path)
    task = result.result("kind")
    assert (task.outcome, task.reason) == ("failure", "cannot start no-such-program-xyz: No such file or directory")


# -- plan validation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message", "hint"),
    [
        (
            '[[task]]\nname = "a"\nrun = "true"\nneeds = ["c"]\n[[task]]\nname = "b"\nrun = "true"\nneeds = ["a"]\n'
            '[[task]]\nname = "c"\nrun = "true"\nneeds = ["b"]\n',
            "error: {path}: dependency cycle: a -> c -> b -> a",
            "hint: each arrow means 'needs'; remove one of these needs",
        ),
        (
            '[[task]]\nname = "postgres"\nrun = "true"\n[[task]]\nname = "ds"\nrun = "true"\nneeds = ["postgress"]\n',
            "error: {path}: task 'ds' needs unknown task 'postgress'",
            "hint: did you mean 'postgres'?",
        ),
        (
            '[[task]]\nname = "redis"\nrun = "true"\n[[task]]\nname = "redis"\nrun = "true"\n',
            "error: {path}: task 'redis' is defined twice",
            "hint: give each [[task]] a unique name",
        ),
        (
            '[[task]]\nname = "a"\nrun = "true"\ntimeout_s = -5\n',
            "error: {path}: task 'a' timeout_s must be a positive number of seconds or \"auto\"",
            'hint: e.g. timeout_s = 300, or timeout_s = "auto" with --timeouts recommendations.json',
        ),
        (
            '[[task]]\nname = "a"\nrun = []\n',
            "error: {path}: task 'a' run must be a command string or a non-empty list of strings",
            'hint: e.g. run = ["kubectl", "apply", "-f", "tekton.yaml"] or run = "make deploy"',
        ),
        (
            '[[task]]\nname = "a"\nrun = "true"\nretry = 2\n',
            "error: {path}: task 'a' has unknown key 'retry'",
            "hint: known keys: name, run, needs, timeout_s, diagnose, retries, env, cwd",
        ),
        (
            '[[task]]\nname = "a\nrun = "true"\n',
            "error: {path} is not valid TOML: Illegal character '\\n' (at line 2, column 10)",
            "hint: check the line named above",
        ),
    ],
    ids=["cycle", "unknown-need", "duplicate", "bad-timeout", "empty-run", "unknown-key", "malformed"],
)
def test_plan_errors_are_one_line_with_a_hint(tmp_path: Path, body: str, message: str, hint: str) -> None:
    """A bad plan is exit 1 with the exact message and a hint, before anything runs."""
    path = _plan(tmp_path, body)
    result = cli.invoke(app, ["bootstrap", "run", str(path)])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [message.format(path=path), hint]


@pytest.mark.parametrize("name", ["e2e-setup.toml", "e2e-setup-real.toml"])
def test_example_plans_are_valid(name: str) -> None:
    """Both example plans load, with the seed's shape: Tekton, PostgreSQL and Redis after the cluster."""
    plan = load_plan(ROOT / "examples" / name)
    assert plan.name == "e2e-setup"
    assert {t.name for t in plan.tasks if t.needs == ("kind-cluster",)} == {"tekton", "postgresql", "redis"}
    assert plan.task("data-storage").needs == ("postgresql", "redis", "build-datastorage-image")


def test_a_self_need_is_a_cycle(tmp_path: Path) -> None:
    """A task that needs itself is named as a cycle."""
    path = _plan(tmp_path, '[[task]]\nname = "a"\nrun = "true"\nneeds = ["a"]\n')
    with pytest.raises(ConfigError, match=r"dependency cycle: a -> a$"):
        load_plan(path)


# -- signals ---------------------------------------------------------------------------------


def test_ctrl_c_ends_every_child_and_exits_130(tmp_path: Path) -> None:
    """SIGINT to `we-advisor bootstrap run` ends every task's process group and exits 130."""
    path = _plan(
        tmp_path,
        f"""
grace_s = 0.5
[[task]]
name = "stubborn"
run = "{STUBBORN}"
cwd = "."
[[task]]
name = "plain"
run = "echo $$ > plain.pid; exec sleep 30"
cwd = "."
[[task]]
name = "after"
run = "true"
needs = ["plain"]
""",
    )
    events = tmp_path / "events.jsonl"
    code = "import sys; from analyzer.cli import main; sys.argv[0] = 'we-advisor'; main()"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "bootstrap", "run", str(path), "--events", str(events)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        pid_files = [tmp_path / n for n in ("leader.pid", "gc1.pid", "gc2.pid", "plain.pid")]
        _wait_for(pid_files)
        pids = _pids(tmp_path, "leader.pid", "gc1.pid", "gc2.pid", "plain.pid")
        assert all(_alive(p) for p in pids)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert [p for p in pids if _alive(p)] == []
    assert "SIGINT received: ending 2 running task(s)" in err
    ends = {(e["task"], e["outcome"]) for e in map(json.loads, events.read_text().splitlines()) if e["event"] == "end"}
    assert ends == {("stubborn", "cancelled"), ("plain", "cancelled"), ("after", "skipped")}


# -- events, ingest, limits, forecasts -------------------------------------------------------


def test_events_round_trip_through_ingest_into_phase_observations(tmp_path: Path) -> None:
    """The events file becomes one run/job per execution and phase observations; reparse keeps them."""
    path = _plan(
        tmp_path,
        """
name = "e2e-setup"
grace_s = 0.2
[[task]]
name = "kind"
run = ["sleep", "0.1"]
timeout_s = 30
[[task]]
name = "tekton"
run = ["sleep", "5"]
needs = ["kind"]
timeout_s = 0.3
[[task]]
name = "controller"
run = "true"
needs = ["tekton"]
""",
    )
    events, db = tmp_path / "events.jsonl", tmp_path / "store.db"
    assert cli.invoke(app, ["bootstrap", "run", str(path), "--events", str(events)]).exit_code == 1
    lines = [json.loads(line) for line in events.read_text().splitlines()]
    assert [(e["event"], e["task"], e["outcome"]) for e in lines] == [
        ("start", "kind", None),
        ("end", "kind", "success"),
        ("start", "tekton", None),
        ("end", "tekton", "timeout"),
        ("end", "controller", "skipped"),
    ]
    start = lines[0]
    assert (start["end"], start["duration_s"], start["outcome"], start["start"][-1]) == (None, None, None, "Z")

    result = cli.invoke(app, ["ingest", str(events), "--store", str(db)])
    assert result.exit_code == 0, result.stderr

    def phases() -> list[tuple[object, ...]]:
        with Store(db) as store:
            frame = store.observations_frame().sort_values("phase")
        return [
            (r.scope, r.workflow, r.job, r.step, r.phase, r.outcome, bool(r.censored), r.limit_s)
            for r in frame.itertuples()
        ]

    before = phases()
    assert before == [
        ("phase", "e2e-setup", "bootstrap", None, "kind", "success", False, 30.0),
        ("phase", "e2e-setup", "bootstrap", None, "tekton", "timeout", True, 0.3),
    ]
    assert cli.invoke(app, ["reparse", "--store", str(db)]).exit_code == 0
    assert phases() == before
    with Store(db) as store:
        (incident,) = store.load_incidents()
        assert (incident.kind, incident.phase, incident.limit_s) == ("tool_timeout", "tekton", 0.3)
        assert store.load_job(store.job_ids()[0]).name == "bootstrap"  # type: ignore[union-attr]

    # a second run appended to the same file adds one execution; the first is already known
    assert cli.invoke(app, ["bootstrap", "run", str(path), "--events", str(events)]).exit_code == 1
    assert cli.invoke(app, ["ingest", str(events), "--store", str(db)]).exit_code == 0
    with Store(db) as store:
        assert (len(store.job_ids()), len(store.load_runs())) == (2, 2)


def test_a_killed_run_leaves_readable_events() -> None:
    """A last line cut short by a kill is ignored; every complete line is kept."""
    line = {"event": "start", "plan": "p", "task": "a", "start": "2026-03-02T10:00:00.000000Z", "limit_s": 5}
    cut = '{"event": "end", "plan": "p", "ta'
    data = (json.dumps(line) + "\n" + cut).encode()
    assert [e["task"] for e in events.parse_events(data, source="x.jsonl")] == ["a"]
    with pytest.raises(InputError, match=r"^x.jsonl:2: not a JSON line$"):
        events.parse_events(data + b"\n", source="x.jsonl")


def test_auto_timeout_takes_the_recommendation(tmp_path: Path) -> None:
    """timeout_s = "auto" uses the recommendation whose phase is the task's name, else the default."""
    recs = tmp_path / "recs.json"
    recs.write_text(
        json.dumps(
            {
                "generated_at": "2026-03-02T10:00:00Z",
                "quantile": 0.99,
                "recommendations": [
                    {
                        "scope": "phase",
                        "workflow": "other",
                        "job": "e2e",
                        "step": "E2E",
                        "phase": "tekton",
                        "recommended_timeout_s": 900.0,
                    },
                    {
                        "scope": "phase",
                        "workflow": "setup",
                        "job": "bootstrap",
                        "step": None,
                        "phase": "tekton",
                        "recommended_timeout_s": 0.3,
                    },
                    {
                        "scope": "phase",
                        "workflow": "setup",
                        "job": "bootstrap",
                        "step": None,
                        "phase": "redis",
                        "recommended_timeout_s": None,
                        "verdict": "insufficient_data",
                    },
                ],
            }
        )
    )
    path = _plan(
        tmp_path,
        'name = "setup"\ngrace_s = 0.2\n[[task]]\nname = "tekton"\nrun = ["sleep", "5"]\ntimeout_s = "auto"\n'
        '[[task]]\nname = "redis"\nrun = "true"\ntimeout_s = "auto"\n',
    )
    plan = load_plan(path)
    limits = resolve_limits(plan, recommendations=load_recommendations(recs), default_timeout_s=45)
    assert limits == {
        "tekton": Limit(0.3, "recommend"),
        "redis": Limit(45.0, "default", "auto: no recommendation"),
    }
    result = cli.invoke(app, ["bootstrap", "run", str(path), "--timeouts", str(recs), "--default-timeout", "45"])
    assert result.exit_code == 1
    assert "tekton started (limit 0.3 s)" in result.stderr
    assert "tekton  timeout" in result.stderr


def test_forecast_samples_the_censored_tail_up_to_the_limit() -> None:
    """Mass that KM leaves beyond the last finish (censored runs) is drawn between it and the limit."""
    rng = np.random.default_rng(1)
    draws, tail = sample_durations([10.0, 20.0, 30.0, 30.0], [False, False, True, True], 60.0, 4000, rng)
    assert tail == pytest.approx(0.5)
    assert set(np.round(draws[draws < 30], 6)) == {10.0, 20.0}
    assert ((draws >= 30) & (draws <= 60)).mean() == pytest.approx(0.5, abs=0.03)


def test_forecast_without_history_falls_back_to_the_limits(tmp_path: Path) -> None:
    """With no observations, each task's limit stands in for its duration, and the note says so."""
    plan = load_plan(EXAMPLE)
    forecast = forecast_plan(plan, pd.DataFrame(), resolve_limits(plan))
    assert {t.data for t in forecast.tasks} == {"no data"}
    # the limits stand in for the durations: the longest chain of limits is critical
    assert forecast.critical_path == ("kind-cluster", "postgresql", "data-storage", "migrations", "controller")
    assert forecast.parallel_p50_s == 30 + 60 + 60 + 60 + 60
    assert forecast.notes[0].startswith("no history for kind-cluster, build-datastorage-image")
    result = cli.invoke(
        app, ["bootstrap", "plan", str(EXAMPLE), "--store", str(tmp_path / "none.db"), "--format", "json"]
    )
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["parallel"] == {"p50_s": 270.0, "p95_s": 270.0}
    assert data["notes"][0] == f"no store at {tmp_path / 'none.db'}: no history at all"


def test_plan_forecasts_the_example_from_its_ingested_runs(tmp_path: Path) -> None:
    """After two runs were ingested, `bootstrap plan` forecasts from that history: the critical path
    named, the parallel wall time at least the critical path's sleeps and well under the sequential
    one. (How close the forecast comes to a measured run is a timing: benchmarks/bootstrap_bench.py.)"""
    events, db = tmp_path / "events.jsonl", tmp_path / "store.db"
    for _ in range(2):
        assert cli.invoke(app, ["bootstrap", "run", str(EXAMPLE), "--events", str(events)]).exit_code == 0
    assert cli.invoke(app, ["ingest", str(events), "--store", str(db)]).exit_code == 0
    result = cli.invoke(app, ["bootstrap", "plan", str(EXAMPLE), "--store", str(db), "--format", "json"])
    assert result.exit_code == 0, result.stderr
    forecast = json.loads(result.stdout)
    assert forecast["critical_path"] == ["kind-cluster", "tekton", "controller"]
    assert {t["data"] for t in forecast["tasks"]} == {"history"}
    assert forecast["sequential"]["p50_s"] > 1.5 * forecast["parallel"]["p50_s"]

    nominal_critical_path = 0.3 + 1.2  # kind-cluster, tekton: the sleeps before the controller
    assert nominal_critical_path <= forecast["parallel"]["p50_s"] <= forecast["parallel"]["p95_s"]
    assert forecast["parallel"]["p50_s"] < forecast["sequential"]["p50_s"]

    table = cli.invoke(app, ["bootstrap", "plan", str(EXAMPLE), "--store", str(db)])
    assert "critical path (median durations): kind-cluster -> tekton -> controller" in table.stdout


def test_events_feed_recommend_and_its_limit_comes_back_as_auto(tmp_path: Path) -> None:
    """The loop: run with --events, ingest, `recommend --format json`, then timeout_s = "auto" uses it."""
    path = _plan(tmp_path, 'name = "small"\n[[task]]\nname = "tekton"\nrun = ["sleep", "0.02"]\ntimeout_s = "auto"\n')
    events, db, recs = tmp_path / "events.jsonl", tmp_path / "store.db", tmp_path / "recs.json"
    plan = load_plan(path)
    for _ in range(22):  # more than min_samples (20)
        run_plan(plan, events=events, out=io.StringIO(), err=io.StringIO(), handle_signals=False)
    assert cli.invoke(app, ["ingest", str(events), "--store", str(db)]).exit_code == 0
    result = cli.invoke(app, ["recommend", "--store", str(db), "--format", "json", "--output", str(recs)])
    assert result.exit_code == 0, result.stderr
    (rec,) = [r for r in json.loads(recs.read_text())["recommendations"] if r["phase"] == "tekton"]
    assert (rec["workflow"], rec["job"], rec["samples"], rec["current_timeout_s"]) == ("small", "bootstrap", 22, 600.0)
    limits = resolve_limits(plan, recommendations=load_recommendations(recs))
    assert limits["tekton"] == Limit(rec["recommended_timeout_s"], "recommend")
