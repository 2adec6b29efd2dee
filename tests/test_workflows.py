"""Workflow YAML: current timeout-minutes (jobs, steps, matrix expressions) and patch round-trips."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.advise import Recommendation, RecommendResult, plan_source_patches, plan_workflow_patches
from analyzer.advise.workflows import DEFAULT_JOB_TIMEOUT_S, job_timeout, matrix_values, parse_workflow, step_timeout
from analyzer.config import TimeoutRule

# Real-shaped workflow files: comments everywhere, anchors and merge keys, quoted numbers, a
# matrix whose timeout is an expression, a reusable-workflow call, and a job with no limit.
E2E = """\
# E2E for the WorkflowExecution controller (Kind + Tekton + PostgreSQL + Redis)
name: E2E WorkflowExecution

on:
  pull_request:
    paths: ["pkg/workflowexecution/**", "test/e2e/workflowexecution/**"]
  workflow_dispatch: {}

concurrency:
  group: e2e-${{ github.ref }}
  cancel-in-progress: true

env:
  GO_VERSION: "1.22"   # keep in sync with go.mod

jobs:
  e2e:
    name: e2e
    runs-on: ubuntu-latest
    timeout-minutes: 20 # whole job, including cluster setup
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-go@v5
        with:
          go-version: ${{ env.GO_VERSION }}
      - name: Install Kind and kubectl
        run: |
          curl -sLo kind https://kind.sigs.k8s.io/dl/v0.23.0/kind-linux-amd64
          chmod +x kind && sudo mv kind /usr/local/bin/
      - name: Run E2E tests
        timeout-minutes: '18'   # quoted on purpose: the Ginkgo suite has its own 18m limit
        run: make test-e2e-workflowexecution

  lint:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: make lint
"""

MATRIX = """\
name: Unit tests
on: [push]

x-defaults: &defaults
  runs-on: ubuntu-latest
  timeout-minutes: 15

jobs:
  unit:
    name: unit (${{ matrix.os }})
    runs-on: ${{ matrix.os }}
    timeout-minutes: ${{ matrix.timeout }}
    strategy:
      fail-fast: false
      matrix:
        os: [ubuntu-latest, windows-latest]
        include:
          - os: ubuntu-latest
            timeout: 10
          - os: windows-latest
            timeout: 25
          - os: macos-latest
            timeout: 30
    steps:
      - uses: actions/checkout@v4
      - run: go test ./...
        timeout-minutes: 9

  inherited:
    <<: *defaults
    steps:
      - run: make docs

  shared:
    runs-on: ubuntu-latest
    timeout-minutes: &shared_limit 12
    steps:
      - run: make a

  reuse:
    uses: ./.github/workflows/reusable.yml

  go:
    strategy:
      matrix:
        go: ['1.21', '1.22']
    runs-on: ubuntu-latest
    steps:
      - run: go test ./...
"""


def rec(job: str, *, step: str | None = None, seconds: float, verdict: str = "too_loose", current: float | None = None,
        source: str | None = "workflow", phase: str | None = None, expression: str | None = None,
        workflow: str = "E2E WorkflowExecution") -> Recommendation:
    scope = "phase" if phase else ("step" if step else "job")
    return Recommendation(
        scope=scope, workflow=workflow, job=job, step=step, phase=phase, samples=100, censored=0, p50_s=1.0,
        p95_s=2.0, p99_s=3.0, p99_ci_s=(2.5, 3.5), current_timeout_s=current, current_source=source,
        recommended_timeout_s=seconds, verdict=verdict, false_timeout_rate_current=0.0,
        false_timeout_rate_recommended=0.0, expression=expression,
    )  # fmt: skip


def result_of(*recs: Recommendation) -> RecommendResult:
    return RecommendResult(datetime(2026, 3, 1, tzinfo=UTC), 0.99, tuple(recs))


def test_job_and_step_limits_are_read() -> None:
    """timeout-minutes at job and step level (quoted numbers too); no job limit means the 360-minute default."""
    spec = parse_workflow(E2E, ".github/workflows/e2e.yml")
    assert spec.name == "E2E WorkflowExecution"
    e2e, lint = spec.job_for("e2e"), spec.job_for("lint")
    assert job_timeout(e2e, "e2e").timeout_s == 1200 and job_timeout(e2e, "e2e").source == "workflow"
    assert step_timeout(e2e, "e2e", "Run E2E tests").timeout_s == 18 * 60
    assert step_timeout(e2e, "e2e", "Run actions/checkout@v4").timeout_s is None
    default = job_timeout(lint, "lint")
    assert (default.timeout_s, default.source) == (DEFAULT_JOB_TIMEOUT_S, "default")
    assert lint is not None and [s.name for s in lint.steps] == ["Run actions/checkout@v4", "Run make lint"]


def test_matrix_expressions_are_resolved_per_entry_and_reported() -> None:
    """${{ matrix.timeout }} resolves per matrix entry; names follow GitHub's rules; include extends and adds."""
    base = parse_workflow(
        "jobs:\n  t:\n    strategy:\n      matrix:\n        os: [a, b]\n        timeout: [10]\n"
        "        include:\n          - {os: b, timeout: 25}\n          - {color: red}\n    steps: []\n",
        "t.yml",
    ).jobs[0]
    # GitHub: an include that would overwrite an original value becomes a combination of its own
    assert [dict(e.values) for e in base.matrix] == [
        {"os": "a", "timeout": 10, "color": "red"}, {"os": "b", "timeout": 10, "color": "red"},
        {"os": "b", "timeout": 25, "color": "red"},
    ]  # fmt: skip
    spec = parse_workflow(MATRIX, ".github/workflows/unit.yml")
    unit = spec.job_for("unit (macos-latest)")
    assert unit is not None and unit.job_id == "unit"
    assert [(e.name, e.values["timeout"]) for e in unit.matrix] == [
        ("unit (ubuntu-latest)", 10), ("unit (windows-latest)", 25), ("unit (macos-latest)", 30),
    ]  # fmt: skip
    found = job_timeout(unit, "unit (windows-latest)")
    assert (found.timeout_s, found.source, found.expression) == (25 * 60, "workflow-matrix", "${{ matrix.timeout }}")
    assert unit.timeout is not None
    assert [m for _, m in matrix_values(unit, unit.timeout)] == [10, 25, 30]
    go = spec.job_for("go (1.22)")
    assert go is not None and go.job_id == "go" and job_timeout(go, "go (1.22)").source == "default"


def test_anchored_inherited_and_reusable_values_are_not_patchable() -> None:
    """Values behind anchors or merge keys are shared; a reusable-workflow call has no limit of its own."""
    spec = parse_workflow(MATRIX, "unit.yml")
    inherited, shared, reuse = spec.job_for("inherited"), spec.job_for("shared"), spec.job_for("reuse")
    assert inherited is not None and inherited.timeout is not None
    assert inherited.timeout.minutes == 15 and not inherited.timeout.patchable
    assert shared is not None and shared.timeout is not None and not shared.timeout.patchable
    assert reuse is not None and reuse.reusable and job_timeout(reuse, "reuse").timeout_s is None


def test_patch_changes_only_the_numbers() -> None:
    """Job and step values change in place: quotes, comments and every other line stay as they were."""
    spec = parse_workflow(E2E, ".github/workflows/e2e.yml")
    plan = plan_workflow_patches(
        result_of(
            rec("e2e", seconds=35 * 60, verdict="too_tight", current=1200),
            rec("e2e", step="Run E2E tests", seconds=25 * 60, verdict="too_tight", current=1080),
        ),
        [spec],
    )
    (edit,) = plan.edits
    before, after = E2E.splitlines(), edit.after.splitlines()
    changed = [(b, a) for b, a in zip(before, after, strict=True) if b != a]
    assert changed == [
        ("    timeout-minutes: 20 # whole job, including cluster setup", "    timeout-minutes: 35 # whole job, including cluster setup"),
        (
            "        timeout-minutes: '18'   # quoted on purpose: the Ginkgo suite has its own 18m limit",
            "        timeout-minutes: '25'   # quoted on purpose: the Ginkgo suite has its own 18m limit",
        ),
    ]
    again = parse_workflow(edit.after, spec.path)
    assert job_timeout(again.job_for("e2e"), "e2e").timeout_s == 35 * 60
    assert step_timeout(again.job_for("e2e"), "e2e", "Run E2E tests").timeout_s == 25 * 60
    assert "-    timeout-minutes: 20" in plan.diff() and "+    timeout-minutes: 35" in plan.diff()


def test_patch_adds_a_limit_to_a_job_under_the_default() -> None:
    """A job under the 360-minute default gets a timeout-minutes line after runs-on, at its keys' indentation."""
    spec = parse_workflow(E2E, "e2e.yml")
    plan = plan_workflow_patches(result_of(rec("lint", seconds=600, current=DEFAULT_JOB_TIMEOUT_S, source="default")), [spec])
    (edit,) = plan.edits
    assert "  lint:\n    runs-on: ubuntu-latest\n    timeout-minutes: 10\n    steps:\n" in edit.after
    assert job_timeout(parse_workflow(edit.after, "e2e.yml").job_for("lint"), "lint").timeout_s == 600
    assert len(edit.after.splitlines()) == len(E2E.splitlines()) + 1


def test_patch_keeps_crlf_line_endings() -> None:
    """A file with Windows line endings keeps them, inserted line included."""
    text = E2E.replace("\n", "\r\n")
    spec = parse_workflow(text, "e2e.yml")
    plan = plan_workflow_patches(
        result_of(rec("e2e", seconds=1500, current=1200), rec("lint", seconds=600, current=DEFAULT_JOB_TIMEOUT_S, source="default")),
        [spec],
    )
    after = plan.edits[0].after
    assert after.count("\r\n") == after.count("\n") == text.count("\n") + 1


def test_expressions_and_shared_values_are_reported_not_overwritten() -> None:
    """${{ matrix.timeout }} stays; the note gives the recommendation per matrix entry; anchors stay too."""
    spec = parse_workflow(MATRIX, ".github/workflows/unit.yml")
    expression = "${{ matrix.timeout }}"
    plan = plan_workflow_patches(
        result_of(
            rec("unit (ubuntu-latest)", seconds=8 * 60, workflow="Unit tests", current=600, source="workflow-matrix", expression=expression),
            rec("unit (macos-latest)", seconds=40 * 60, workflow="Unit tests", verdict="too_tight", current=1800, source="workflow-matrix", expression=expression),
            rec("shared", seconds=5 * 60, workflow="Unit tests", current=720),
            rec("inherited", seconds=4 * 60, workflow="Unit tests", current=900),
        ),
        [spec],
    )  # fmt: skip
    assert plan.edits == ()
    notes = "\n".join(plan.notes)
    assert "timeout-minutes is ${{ matrix.timeout }}; not overwritten" in notes
    assert "unit (ubuntu-latest) → 8, unit (macos-latest) → 40" in notes
    assert notes.count("YAML anchor or merge") == 2


def test_one_value_serving_several_matrix_entries_takes_the_largest() -> None:
    """A literal timeout shared by matrix entries is set to the largest of their recommendations."""
    text = MATRIX.replace("  go:\n    strategy:", "  go:\n    timeout-minutes: 60\n    strategy:")
    spec = parse_workflow(text, "unit.yml")
    plan = plan_workflow_patches(
        result_of(
            rec("go (1.21)", seconds=7 * 60, workflow="Unit tests", current=3600),
            rec("go (1.22)", seconds=9 * 60, workflow="Unit tests", current=3600),
        ),
        [spec],
    )
    assert "    timeout-minutes: 9\n" in plan.edits[0].after
    assert any("largest recommendation (9)" in n for n in plan.notes)


def test_source_limits_are_patched_where_the_current_value_is() -> None:
    """A [[timeouts]] pattern changes only the occurrences holding the current limit."""
    go = (
        'waitCmd := exec.Command("kubectl", "wait", "deployment/tekton-pipelines-controller",\n'
        '    "--timeout=300s",  // INCREASED FROM 120s\n'
        ')\n'
        'dsWait := exec.Command("kubectl", "wait", "deployment/datastorage", "--timeout=120s")\n'
    )
    rule = TimeoutRule(file="test/infrastructure/workflowexecution.go", pattern=r"--timeout=(\d+)s", phase="tekton-controller-wait")
    result = result_of(
        rec("e2e", step="Run E2E tests", phase="tekton-controller-wait", seconds=600, verdict="too_tight", current=300, source="config")
    )
    plan = plan_source_patches(result, [rule], {rule.file: go})
    (edit,) = plan.edits
    assert edit.after == go.replace("--timeout=300s", "--timeout=600s")
    assert any("other values left alone" in n for n in plan.notes)
    minutes = TimeoutRule(file="suite.go", pattern=r"ginkgo --timeout=(\d+)m", phase="ginkgo:suite", unit="m")
    suite = "ginkgo --timeout=18m ./test/e2e/...\n"
    plan = plan_source_patches(
        result_of(rec("e2e", step="Run E2E tests", phase="ginkgo:suite", seconds=1230, current=1080, source="log", verdict="too_tight")),
        [minutes], {"suite.go": suite},
    )  # fmt: skip
    assert plan.edits[0].after == "ginkgo --timeout=21m ./test/e2e/...\n"


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=1, max_value=720), st.integers(min_value=1, max_value=720))
def test_patching_round_trips(job_minutes: int, step_minutes: int) -> None:
    """Any recommended minutes patched in are read back exactly, and patching twice changes nothing more."""
    spec = parse_workflow(E2E, "e2e.yml")
    result = result_of(
        rec("e2e", seconds=job_minutes * 60.0, current=1200),
        rec("e2e", step="Run E2E tests", seconds=step_minutes * 60.0, current=1080),
    )
    once = plan_workflow_patches(result, [spec]).edits[0].after
    again = parse_workflow(once, "e2e.yml")
    assert job_timeout(again.job_for("e2e"), "e2e").timeout_s == job_minutes * 60
    assert step_timeout(again.job_for("e2e"), "e2e", "Run E2E tests").timeout_s == step_minutes * 60
    twice = plan_workflow_patches(result, [again]).edits[0].after
    assert twice == once


def test_invalid_yaml_is_a_user_error() -> None:
    """A broken file is an InputError naming it."""
    from analyzer.errors import InputError

    with pytest.raises(InputError, match=r"broken\.yml is not valid YAML"):
        parse_workflow("jobs: [unclosed", "broken.yml")


def test_the_store_version_in_force_is_the_newest_runs_and_one_version_needs_no_runs(tmp_path: Path) -> None:
    """A workflow stored at several commits is read at its newest run's commit (not the last stored);
    a path stored once is read as it is, without looking at the runs."""
    from analyzer.api import _workflow_specs
    from analyzer.records import Run
    from analyzer.store import Store

    def text(minutes: int) -> str:
        return f"name: E2E\non: push\njobs:\n  e2e:\n    runs-on: ubuntu-latest\n    timeout-minutes: {minutes}\n    steps:\n      - run: make\n"

    with Store(tmp_path / "s.db") as store:
        store.save_workflow_file("o/r", ".github/workflows/e2e.yml", "bbb", text(45))  # stored last, older run
        store.save_workflow_file("o/r", ".github/workflows/e2e.yml", "aaa", text(30))
        store.save_workflow_file("o/r", ".github/workflows/lint.yml", "ccc", text(10).replace("E2E", "Lint"))
        for run_id, sha, day in ((1, "bbb", 1), (2, "aaa", 2)):
            store.save_run(Run(repo="o/r", run_id=run_id, run_attempt=1, workflow_name="E2E",
                               workflow_path=".github/workflows/e2e.yml", head_sha=sha,
                               run_started_at=datetime(2026, 11, day, tzinfo=UTC)))  # fmt: skip
        specs = {s.name: s for s in _workflow_specs(store, "o/r")}
        assert specs["E2E"].jobs[0].timeout.minutes == 30  # run 2 (the newest) ran at aaa
        with Store(tmp_path / "single.db") as single:  # one version per path: the runs are not read
            single.save_workflow_file("o/r", ".github/workflows/lint.yml", "ccc", text(10).replace("E2E", "Lint"))

            def refuse(repo: str | None = None) -> dict[str, str]:
                raise AssertionError("newest_heads read every run for a path stored once")

            single.newest_heads = refuse  # type: ignore[method-assign]
            assert [s.name for s in _workflow_specs(single, "o/r")] == ["Lint"]
        store.save_run(Run(repo="o/r", run_id=3, run_attempt=1, workflow_name="E2E",
                           workflow_path=".github/workflows/e2e.yml", head_sha="bbb",
                           run_started_at=datetime(2026, 11, 3, tzinfo=UTC)))  # fmt: skip
        specs = {s.name: s for s in _workflow_specs(store, "o/r")}
        assert specs["E2E"].jobs[0].timeout.minutes == 45 and specs["Lint"].jobs[0].timeout.minutes == 10
