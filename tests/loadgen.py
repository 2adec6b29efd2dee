"""A big, deterministic store for load tests: N workflow runs (≈ 10 observations each), fast.

The store is written straight into the real schema (``runs``, ``jobs``, ``steps``,
``observations``, ``incidents``, ``parse_state``, ``workflow_files``) with batched
``executemany``, and every number is drawn with numpy a whole job template at a time, so
100,000 runs take seconds rather than the hours the log-level sample generator would need.

No raw logs are stored. ``parse_state`` records the current parser version and the fingerprint
of the phase rules the store is meant to be analysed with (``--config``), so ``stats``,
``recommend`` and ``report`` find nothing stale and do not reparse.

The history is a busy monorepo over ``days`` days (all inside the default 30-day analysis window):

- six ``E2E <Service>`` workflows (job ``e2e``: 6 steps, 5 phases named after the
  ``kubernaut-e2e`` preset; ``tekton-controller-wait`` of E2E WorkflowExecution hits its 300 s
  limit ~10 % of the time; rare hangs end at the job's 30-minute ``timeout-minutes``),
- ``Unit tests`` (``go test -timeout 10m`` as a limited phase), ``Lint`` (no ``timeout-minutes``),
  ``Build images`` (two jobs, a loose 120-minute limit) and a rare ``Nightly soak``
  (too few runs for a recommendation),
- cancellations, lost runners, ordinary failures, reruns (attempt 2), two runner labels
  (a faster larger runner for a quarter of the E2E jobs).

    python -m tests.loadgen --runs 100000 --store /tmp/load.db [--config we-advisor.toml] [--days 28]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from analyzer.config import PhaseRule
from analyzer.parse.logs import PARSER_VERSION
from analyzer.parse.observe import rules_fingerprint
from analyzer.store import Store

REPO = "acme/monorepo"
END = datetime(2026, 11, 23, tzinfo=UTC)
BASE_JOB_ID = 7_000_000_000
BASE_RUN_ID = 12_000_000_000
JOBS_PER_RUN_MAX = 4  # job ids are run index * this + the job's place in its workflow

Progress = Callable[[str, int, int], None]

# Causes that end a job attempt early (0: none); the job's outcome and its incident follow.
NONE, TOOL_TIMEOUT, FAILURE, CANCELLED, RUNNER_LOST, JOB_TIMEOUT = range(6)
_JOB_OUTCOME = ("success", "failure", "failure", "cancelled", "runner_lost", "timeout")
_JOB_CONCLUSION = ("success", "failure", "failure", "cancelled", "failure", "cancelled")
_STEP_OUTCOME = ("success", "failure", "failure", "cancelled", "runner_lost", "timeout")
_LEAF_CUT_OUTCOME = ("success", "timeout", "failure", "cancelled", "runner_lost", "timeout")
_INCIDENT_KIND = ("", "tool_timeout", "failure", "cancelled", "runner_lost", "job_timeout")
_CENSORING = frozenset({"timeout", "cancelled", "runner_lost"})


# -- templates ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PhaseT:
    name: str
    median_s: float
    sigma: float
    limit_s: float | None = None
    evidence: str = ""  # the line a limit hit leaves


@dataclass(frozen=True)
class StepT:
    name: str
    median_s: float  # of the step itself, or of its work after the phases
    sigma: float
    phases: tuple[PhaseT, ...] = ()
    fails: bool = False  # where ordinary failures happen
    timeout_minutes: int | None = None


@dataclass(frozen=True)
class JobT:
    name: str
    key: str  # the job id in the YAML
    steps: tuple[StepT, ...]
    timeout_minutes: int | None
    fail_rate: float = 0.04
    hang_rate: float = 0.0  # the work after the phases hangs: the job limit stops it
    fast_runner_share: float = 0.0


@dataclass(frozen=True)
class WorkflowT:
    name: str
    path: str
    jobs: tuple[JobT, ...]
    weight: float


def _setup(go: bool = True) -> tuple[StepT, ...]:
    base = (StepT("Set up job", 3.0, 0.2), StepT("Checkout", 6.0, 0.3))
    return (*base, StepT("Set up Go", 12.0, 0.4)) if go else base


_TEKTON_LINE = "error: timed out waiting for the condition on deployments/tekton-pipelines-controller"


def _e2e(service: str, scale: float, tekton_median: float) -> WorkflowT:
    phases = (
        PhaseT("kind-cluster", 95.0 * scale, 0.15),
        PhaseT("tekton-install", 55.0, 0.2),
        PhaseT("tekton-controller-wait", tekton_median, 0.35, 300.0, _TEKTON_LINE),
        PhaseT("postgresql", 40.0, 0.3, 120.0, "error: timed out waiting for the condition on deployments/postgresql"),
        PhaseT("controller-wait", 70.0 * scale, 0.4, 180.0, "[FAILED] Timed out after 180.000s."),
    )
    steps = (
        *_setup(),
        StepT("Run E2E tests", 300.0 * scale, 0.15, phases, fails=True),
        StepT("Post Checkout", 1.5, 0.2),
        StepT("Complete job", 1.0, 0.2),
    )
    job = JobT("e2e", "e2e", steps, 30, fail_rate=0.04, hang_rate=0.004, fast_runner_share=0.25)
    slug = service.lower()
    return WorkflowT(f"E2E {service}", f".github/workflows/e2e-{slug}.yml", (job,), 0.40 / 6)


WORKFLOWS: tuple[WorkflowT, ...] = (
    _e2e("WorkflowExecution", 1.0, 190.0),
    _e2e("AIAnalysis", 0.8, 60.0),
    _e2e("Gateway", 0.6, 55.0),
    _e2e("DataStorage", 1.2, 65.0),
    _e2e("Notification", 0.7, 50.0),
    _e2e("RemediationOrchestrator", 1.4, 70.0),
    WorkflowT(
        "Unit tests",
        ".github/workflows/unit.yml",
        (
            JobT(
                "unit",
                "unit",
                (
                    *_setup(),
                    StepT(
                        "Run go test",
                        5.0,
                        0.3,
                        (
                            PhaseT("go-build", 60.0, 0.2),
                            PhaseT("go-test", 240.0, 0.15, 600.0, "panic: test timed out after 10m0s"),
                        ),
                        fails=True,
                    ),
                    StepT("Upload coverage", 5.0, 0.5),
                    StepT("Complete job", 1.0, 0.2),
                ),
                20,
                fail_rate=0.05,
            ),
        ),
        0.33,
    ),
    WorkflowT(
        "Lint",
        ".github/workflows/lint.yml",
        (JobT("golangci-lint", "golangci-lint", (*_setup(), StepT("golangci-lint", 90.0, 0.3, fails=True), StepT("Complete job", 1.0, 0.2)), None),),
        0.15,
    ),
    WorkflowT(
        "Build images",
        ".github/workflows/build.yml",
        tuple(
            JobT(
                f"build ({arch})",
                f"build-{arch}",
                (*_setup(go=False), StepT("Set up Buildx", 15.0, 0.3), StepT("Build and push", median, 0.2, fails=True), StepT("Complete job", 1.0, 0.2)),
                120,
                fail_rate=0.02,
            )
            for arch, median in (("amd64", 180.0), ("arm64", 420.0))
        ),
        0.1199,
    ),
    WorkflowT(
        "Nightly soak",
        ".github/workflows/soak.yml",
        (JobT("soak", "soak", (*_setup(), StepT("Soak", 3000.0, 0.1, fails=True), StepT("Complete job", 1.0, 0.2)), 90),),
        0.0001,
    ),
)


def workflow_yaml(wf: WorkflowT) -> str:
    """The workflow file, with the ``timeout-minutes`` the generated runs ran under."""
    lines = [f"name: {wf.name}", "on: [push, pull_request]", "jobs:"]
    for job in wf.jobs:
        lines += [f"  {job.key}:", f"    name: {job.name}", "    runs-on: ubuntu-latest"]
        if job.timeout_minutes is not None:
            lines.append(f"    timeout-minutes: {job.timeout_minutes}")
        lines.append("    steps:")
        for step in job.steps:
            if step.name in ("Set up job", "Complete job", "Post Checkout"):
                continue
            lines += [f"      - name: {step.name}", f"        run: echo {json.dumps(step.name)}"]
            if step.timeout_minutes is not None:
                lines.append(f"        timeout-minutes: {step.timeout_minutes}")
    return "\n".join(lines) + "\n"


# -- generation ----------------------------------------------------------------------------------


@dataclass
class _Columns:
    """Rows of one table, column by column (lists ready for ``zip``)."""

    names: tuple[str, ...]
    data: list[list[Any]]

    @classmethod
    def empty(cls, *names: str) -> _Columns:
        return cls(names, [[] for _ in names])

    def extend(self, **columns: Sequence[Any] | NDArray[Any]) -> None:
        for i, name in enumerate(self.names):
            values = columns[name]
            self.data[i].extend(values.tolist() if isinstance(values, np.ndarray) else values)

    def __len__(self) -> int:
        return len(self.data[0])

    def rows(self, start: int, stop: int) -> list[tuple[Any, ...]]:
        return list(zip(*(c[start:stop] for c in self.data), strict=True))


_EPOCH = np.datetime64("1970-01-01T00:00:00", "us")


def iso_array(seconds: NDArray[np.float64]) -> NDArray[np.str_]:
    """Epoch seconds as stored timestamps (``Store.iso``: ``2026-03-02T10:11:12.123456Z``)."""
    stamps = _EPOCH + np.round(seconds * 1e6).astype("timedelta64[us]")
    return np.char.add(np.datetime_as_string(stamps, unit="us"), "Z")


@dataclass(frozen=True)
class Generated:
    runs: _Columns
    jobs: _Columns
    steps: _Columns
    observations: _Columns
    incidents: _Columns
    workflow_files: list[tuple[str, str, str, str]]


def generate(runs: int, *, days: float = 28.0, seed: int = 0) -> Generated:
    """All rows of a store with ``runs`` run attempts, deterministic for a seed."""
    rng = np.random.default_rng(seed)
    end = END.timestamp()
    start = end - days * 86400.0
    # Run attempts, evenly spread in time with jitter, each of one workflow; ~3 % are a rerun
    # (attempt 2) of the attempt just before them.
    when = np.sort(start + (np.arange(runs) + rng.random(runs)) * (end - start) / max(runs, 1))
    weights = np.array([w.weight for w in WORKFLOWS])
    wf_of = rng.choice(len(WORKFLOWS), size=runs, p=weights / weights.sum())
    rerun = rng.random(runs) < 0.03
    rerun[0] = False
    rerun[1:] &= ~rerun[:-1]
    for i in np.flatnonzero(rerun):
        wf_of[i] = wf_of[i - 1]
    attempt = np.where(rerun, 2, 1)
    run_id = BASE_RUN_ID + np.cumsum(~rerun)
    sha = [f"{(int(r) * 2654435761) % (1 << 160):040x}" for r in run_id]
    pr = rng.random(runs) < 0.6
    branch = np.where(pr, np.char.add("feature/topic-", (run_id % 97).astype(str)), "main")
    event = np.where(pr, "pull_request", "push")
    severity = np.zeros(runs, dtype=np.int64)  # worst job conclusion of the attempt
    last_end = when.copy()

    jobs = _Columns.empty("job_id", "run_id", "run_attempt", "repo", "workflow_name", "name", "status", "conclusion",
                          "created_at", "started_at", "completed_at", "labels", "runner_name", "queued_s")
    steps = _Columns.empty("job_id", "number", "name", "status", "conclusion", "started_at", "completed_at")
    obs = _Columns.empty("job_id", "seq", "scope", "repo", "workflow", "job", "step", "step_number", "phase", "run_id",
                         "run_attempt", "started_at", "duration_s", "outcome", "censored", "limit_s", "runner")
    incidents = _Columns.empty("job_id", "repo", "workflow", "run_id", "run_attempt", "job", "step_number", "step",
                               "phase", "kind", "limit_s", "evidence", "occurred_at")
    for w, wf in enumerate(WORKFLOWS):
        members = np.flatnonzero(wf_of == w)
        if members.size == 0:
            continue
        for j, job in enumerate(wf.jobs):
            _generate_jobs(rng, wf, job, j, members, when, run_id, attempt, jobs, steps, obs, incidents, severity, last_end)
    conclusion = np.array(["success", "failure", "cancelled"])[severity]
    run_cols = _Columns.empty("run_id", "run_attempt", "repo", "workflow_name", "workflow_path", "event", "head_branch",
                              "head_sha", "status", "conclusion", "created_at", "run_started_at", "updated_at", "actor",
                              "triggering_actor", "head_commit_message")
    names = np.array([w.name for w in WORKFLOWS])[wf_of]
    paths = np.array([w.path for w in WORKFLOWS])[wf_of]
    created = iso_array(when)
    run_cols.extend(
        run_id=run_id, run_attempt=attempt, repo=[REPO] * runs, workflow_name=names, workflow_path=paths, event=event,
        head_branch=branch, head_sha=sha, status=["completed"] * runs, conclusion=conclusion, created_at=created,
        run_started_at=created, updated_at=iso_array(last_end), actor=np.char.add("dev-", (run_id % 40).astype(str)),
        triggering_actor=np.char.add("dev-", (run_id % 40).astype(str)), head_commit_message=np.char.add("change ", run_id.astype(str)),
    )
    newest_sha = {int(w): sha[int(np.flatnonzero(wf_of == w)[-1])] for w in np.unique(wf_of)}
    files = [(REPO, wf.path, newest_sha[w], workflow_yaml(wf)) for w, wf in enumerate(WORKFLOWS) if w in newest_sha]
    return Generated(run_cols, jobs, steps, obs, incidents, files)


def _generate_jobs(
    rng: np.random.Generator,
    wf: WorkflowT,
    job: JobT,
    place: int,
    members: NDArray[np.intp],
    when: NDArray[np.float64],
    run_id: NDArray[np.int64],
    attempt: NDArray[np.int64],
    jobs: _Columns,
    steps: _Columns,
    obs: _Columns,
    incidents: _Columns,
    severity: NDArray[np.int64],
    last_end: NDArray[np.float64],
) -> None:
    """One job template for every run attempt of its workflow, a whole matrix at a time."""
    n = members.size
    # Leaves: the spans time is made of, in order. A step with phases is its phases then its own work.
    leaf_step: list[int] = []
    leaf_phase: list[PhaseT | None] = []
    medians, sigmas, limits = [], [], []
    for s, step in enumerate(job.steps):
        for phase in step.phases:
            leaf_step.append(s)
            leaf_phase.append(phase)
            medians.append(phase.median_s)
            sigmas.append(phase.sigma)
            limits.append(phase.limit_s if phase.limit_s is not None else np.inf)
        leaf_step.append(s)
        leaf_phase.append(None)
        medians.append(step.median_s)
        sigmas.append(step.sigma)
        limits.append(np.inf)
    n_leaves = len(leaf_step)
    lstep = np.array(leaf_step)
    limit = np.array(limits)
    fast = rng.random(n) < job.fast_runner_share
    speed = np.where(fast, 0.7, 1.0)
    d = rng.lognormal(np.log(medians), sigmas, size=(n, n_leaves)) * speed[:, None]
    work = [k for k in range(n_leaves) if leaf_phase[k] is None and job.steps[leaf_step[k]].fails]
    fail_leaf = work[0] if work else n_leaves - 1
    hang = rng.random(n) < job.hang_rate
    d[hang, fail_leaf] = 3 * 3600.0
    d = np.round(d, 1)

    # What ends the attempt, and when (seconds after the job starts).
    hit = d > limit
    d_eff = np.minimum(d, limit)
    ends = np.cumsum(d_eff, axis=1)
    starts = ends - d_eff
    natural = ends[:, -1]
    first_hit = np.where(hit.any(axis=1), hit.argmax(axis=1), n_leaves)
    rows = np.arange(n)
    stop = np.full(n, np.inf)
    cause = np.zeros(n, dtype=np.int64)
    has_hit = first_hit < n_leaves
    stop[has_hit] = ends[rows[has_hit], first_hit[has_hit]]
    cause[has_hit] = TOOL_TIMEOUT
    r = rng.random(n)
    failing = (r < job.fail_rate) & ~has_hit
    stop[failing] = ends[failing, fail_leaf]
    cause[failing] = FAILURE
    for kind, share in ((CANCELLED, 0.015), (RUNNER_LOST, 0.002)):
        chosen = rng.random(n) < share
        at = np.round(natural * rng.uniform(0.05, 0.95, n), 1)
        earlier = chosen & (at < stop)
        stop[earlier] = at[earlier]
        cause[earlier] = kind
    job_limit = (job.timeout_minutes or 360) * 60.0
    over = np.minimum(stop, natural) > job_limit
    stop[over] = job_limit
    cause[over] = JOB_TIMEOUT
    total = np.minimum(stop, natural)

    # Leaves that ran, their measured durations and outcomes.
    ran = starts < total[:, None]
    ran[:, 0] = True
    dur = np.round(np.minimum(d_eff, total[:, None] - starts), 1)
    ending = ran & (ends >= total[:, None] - 1e-9) & (cause[:, None] != NONE)  # the leaf where the attempt ended
    ending &= np.cumsum(ending, axis=1) == 1
    leaf_outcome = np.where(ending, cause[:, None], NONE)
    # A tool timeout ends its own leaf with the limit; the leaf a failure happens in fails.

    job_start = when[members] + np.round(rng.uniform(2.0, 30.0, n), 1)
    job_end = job_start + total
    np.maximum.at(last_end, members, job_end)
    job_ids = BASE_JOB_ID + members * JOBS_PER_RUN_MAX + place
    runner = np.where(fast, "ubuntu-24.04-8core", "ubuntu-latest")
    conclusion = np.array(_JOB_CONCLUSION)[cause]
    np.maximum.at(severity, members, np.select([conclusion == "failure", conclusion == "cancelled"], [2, 1], 0))

    # Slots in the order a job's observations are numbered: the job, then each step and its phases.
    slot_scope: list[str] = ["job"]
    slot_step: list[str | None] = [None]
    slot_number: list[int | None] = [None]
    slot_phase: list[str | None] = [None]
    slot_leaf: list[int] = [-1]
    for s, step in enumerate(job.steps):
        slot_scope.append("step")
        slot_step.append(step.name)
        slot_number.append(s + 1)
        slot_phase.append(None)
        slot_leaf.append(-1 - (s + 1))
        for k in range(n_leaves):
            phase = leaf_phase[k]
            if leaf_step[k] == s and phase is not None:
                slot_scope.append("phase")
                slot_step.append(step.name)
                slot_number.append(s + 1)
                slot_phase.append(phase.name)
                slot_leaf.append(k)
    n_slots = len(slot_scope)
    include = np.zeros((n, n_slots), dtype=bool)
    s_start = np.zeros((n, n_slots))
    s_dur = np.zeros((n, n_slots))
    s_cause = np.zeros((n, n_slots), dtype=np.int64)
    s_limit = np.full((n, n_slots), np.nan)
    include[:, 0] = True
    s_dur[:, 0] = np.round(total, 1)
    s_cause[:, 0] = cause
    s_limit[:, 0] = np.where(cause == JOB_TIMEOUT, job_limit, np.nan)
    step_ran = np.zeros((n, len(job.steps)), dtype=bool)
    step_start = np.zeros((n, len(job.steps)))
    step_dur = np.zeros((n, len(job.steps)))
    step_cause = np.zeros((n, len(job.steps)), dtype=np.int64)
    for s in range(len(job.steps)):
        mine = np.flatnonzero(lstep == s)
        step_ran[:, s] = ran[:, mine[0]]
        step_start[:, s] = starts[:, mine[0]]
        step_dur[:, s] = np.round(np.where(ran[:, mine], dur[:, mine], 0.0).sum(axis=1), 1)
        step_cause[:, s] = leaf_outcome[:, mine].max(axis=1)
    for slot, leaf in enumerate(slot_leaf):
        if slot == 0:
            continue
        if leaf < -1:
            s = -leaf - 2
            include[:, slot] = step_ran[:, s]
            s_start[:, slot] = step_start[:, s]
            s_dur[:, slot] = step_dur[:, s]
            s_cause[:, slot] = step_cause[:, s]
        else:
            include[:, slot] = ran[:, leaf]
            s_start[:, slot] = starts[:, leaf]
            s_dur[:, slot] = dur[:, leaf]
            s_cause[:, slot] = leaf_outcome[:, leaf]
            s_limit[:, slot] = np.where(leaf_outcome[:, leaf] == TOOL_TIMEOUT, limit[leaf], np.nan)
    seq = np.cumsum(include, axis=1) - 1
    ji, si = np.nonzero(include)
    scope = np.array(slot_scope)[si]
    outcome_table = np.array([_JOB_OUTCOME, _STEP_OUTCOME, _LEAF_CUT_OUTCOME])  # by scope
    scope_row = np.select([scope == "job", scope == "step"], [0, 1], 2)
    outcome = outcome_table[scope_row, s_cause[ji, si]]
    limit_s = s_limit[ji, si]
    obs.extend(
        job_id=job_ids[ji], seq=seq[ji, si], scope=scope, repo=[REPO] * ji.size, workflow=[wf.name] * ji.size,
        job=[job.name] * ji.size, step=[slot_step[i] for i in si.tolist()], step_number=[slot_number[i] for i in si.tolist()],
        phase=[slot_phase[i] for i in si.tolist()], run_id=run_id[members][ji], run_attempt=attempt[members][ji],
        started_at=iso_array(job_start[ji] + s_start[ji, si]), duration_s=s_dur[ji, si], outcome=outcome,
        censored=np.isin(outcome, list(_CENSORING)).astype(np.int64),
        limit_s=[None if np.isnan(v) else v for v in limit_s.tolist()], runner=runner[ji],
    )
    jobs.extend(
        job_id=job_ids, run_id=run_id[members], run_attempt=attempt[members], repo=[REPO] * n, workflow_name=[wf.name] * n,
        name=[job.name] * n, status=["completed"] * n, conclusion=conclusion, created_at=iso_array(when[members]),
        started_at=iso_array(job_start), completed_at=iso_array(job_end),
        labels=[json.dumps([label]) for label in runner.tolist()], runner_name=np.char.add("runner-", (job_ids % 500).astype(str)),
        queued_s=np.round(job_start - when[members], 3),
    )
    sj, ss = np.nonzero(step_ran)
    step_conclusion = np.array(["success", "failure", "failure", "cancelled", "failure", "cancelled"])[step_cause[sj, ss]]
    step_begin = job_start[sj] + step_start[sj, ss]
    steps.extend(
        job_id=job_ids[sj], number=ss + 1, name=[job.steps[i].name for i in ss.tolist()], status=["completed"] * sj.size,
        conclusion=step_conclusion, started_at=iso_array(step_begin), completed_at=iso_array(step_begin + step_dur[sj, ss]),
    )
    # One incident per attempt that did not succeed: the cause that ended it, where, and its line.
    ij = np.flatnonzero(cause != NONE)
    end_leaf = np.where(ending[ij].any(axis=1), ending[ij].argmax(axis=1), n_leaves - 1)
    kinds = [_INCIDENT_KIND[c] for c in cause[ij].tolist()]
    where_step = [job.steps[leaf_step[k]] for k in end_leaf.tolist()]
    where_phase = [leaf_phase[k] for k in end_leaf.tolist()]
    evidence, limit_col, phase_col = [], [], []
    for kind, step, phase in zip(kinds, where_step, where_phase, strict=True):
        if kind == "tool_timeout" and phase is not None:
            evidence.append(phase.evidence)
            limit_col.append(phase.limit_s)
            phase_col.append(phase.name)
            continue
        phase_col.append(phase.name if phase is not None and kind in ("cancelled", "runner_lost", "job_timeout") else None)
        if kind == "job_timeout":
            evidence.append(f"The job has exceeded the maximum execution time of {job.timeout_minutes or 360}m0s")
            limit_col.append(job_limit)
        elif kind == "cancelled":
            evidence.append("##[error]The operation was canceled.")
            limit_col.append(None)
        elif kind == "runner_lost":
            evidence.append("The runner has received a shutdown signal. This can happen when the runner service is stopped.")
            limit_col.append(None)
        else:
            evidence.append(f"##[error]Process completed with exit code 1. ({step.name})")
            limit_col.append(None)
    incidents.extend(
        job_id=job_ids[ij], repo=[REPO] * ij.size, workflow=[wf.name] * ij.size, run_id=run_id[members][ij],
        run_attempt=attempt[members][ij], job=[job.name] * ij.size, step_number=[leaf_step[k] + 1 for k in end_leaf.tolist()],
        step=[s.name for s in where_step], phase=phase_col, kind=kinds, limit_s=limit_col, evidence=evidence,
        occurred_at=iso_array(job_end[ij]),
    )


# -- writing -------------------------------------------------------------------------------------

_BATCH = 50_000


def write_store(
    path: Path,
    runs: int,
    *,
    rules: Sequence[PhaseRule] = (),
    days: float = 28.0,
    seed: int = 0,
    on_progress: Progress | None = None,
) -> dict[str, int]:
    """Generate and write a store at ``path`` (a new file); returns the row count of each table."""
    if path.exists():
        raise FileExistsError(f"{path} exists; the load generator writes new stores only")
    data = generate(runs, days=days, seed=seed)
    fingerprint = rules_fingerprint(rules)
    parsed_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    job_ids = data.jobs.data[0]
    parse_state = _Columns(
        ("job_id", "parser_version", "rules_hash", "parsed_at"),
        [job_ids, [PARSER_VERSION] * len(job_ids), [fingerprint] * len(job_ids), [parsed_at] * len(job_ids)],
    )
    tables: list[tuple[str, _Columns]] = [
        ("runs", data.runs),
        ("jobs", data.jobs),
        ("steps", data.steps),
        ("observations", data.observations),
        ("incidents", data.incidents),
        ("parse_state", parse_state),
    ]
    counts: dict[str, int] = {}
    with Store(path) as store, store.transaction() as conn:
        for table, columns in tables:
            total = len(columns)
            marks = ",".join("?" * len(columns.names))
            sql = f"INSERT INTO {table} ({', '.join(columns.names)}) VALUES ({marks})"
            for begin in range(0, total, _BATCH):
                conn.executemany(sql, columns.rows(begin, min(total, begin + _BATCH)))
                if on_progress:
                    on_progress(table, min(total, begin + _BATCH), total)
            counts[table] = total
        conn.executemany("INSERT INTO workflow_files VALUES (?,?,?,?)", data.workflow_files)
        counts["workflow_files"] = len(data.workflow_files)
    with Store(path) as store:  # as reparse leaves a store: the observations' columns cache written
        store.refresh_observation_columns()
    return counts


# -- measuring commands ------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]

# A fresh, small intermediate interpreter starts the command and reports its wall time and the
# peak RSS of its child (``ru_maxrss`` of RUSAGE_CHILDREN: the command's own high-water mark;
# what Linux carries over from a forking parent is only this ~10 MB interpreter).
_MEASURE = """
import json, resource, subprocess, sys, time
began = time.perf_counter()
done = subprocess.run(sys.argv[1:], capture_output=True)
wall = time.perf_counter() - began
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
figures = {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime, "peak_bytes": usage.ru_maxrss * 1024}
sys.stdout.buffer.write(json.dumps({**figures, "rc": done.returncode}).encode() + b"\\n")
sys.stdout.buffer.write(done.stdout)
sys.stderr.buffer.write(done.stderr)
"""


@dataclass(frozen=True)
class Measured:
    command: str
    wall_s: float
    cpu_s: float  # user + system: what the wall time would be on an idle machine
    peak_mb: float
    returncode: int
    stdout: str
    stderr: str


def measure(
    args: Sequence[str], *, cwd: Path, python: Sequence[str] | None = None, root: Path = ROOT,
    extra_env: dict[str, str] | None = None,
) -> Measured:  # fmt: skip
    """Run ``python -m analyzer ARGS`` (the checkout at ``root``: this one) in a fresh process: time, peak RSS,
    output; ``extra_env`` added to its environment."""
    import os

    env = {**os.environ, "PYTHONPATH": str(root), "PYTHONIOENCODING": "utf-8", **(extra_env or {})}
    env.pop("WE_ADVISOR_STORE", None)
    return run_measured([*(python or [sys.executable, "-m", "analyzer"]), *args], cwd=cwd, env=env, label=" ".join(args))


def run_measured(command: Sequence[str], *, cwd: Path, env: dict[str, str], label: str) -> Measured:
    """``command`` in a fresh process under ``env``, measured from a small intermediate interpreter."""
    import subprocess

    done = subprocess.run([sys.executable, "-c", _MEASURE, *command], capture_output=True, cwd=cwd, env=env, check=False)
    head, _, rest = done.stdout.partition(b"\n")
    figures = json.loads(head)
    return Measured(
        label, figures["wall_s"], figures["cpu_s"], figures["peak_bytes"] / 1e6, figures["rc"],
        rest.decode("utf-8", "replace"), done.stderr.decode("utf-8", "replace"),
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.loadgen", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=100_000, help="run attempts to generate (default 100,000)")
    parser.add_argument("--store", type=Path, required=True, help="the store to create (must not exist)")
    parser.add_argument("--config", type=Path, help="we-advisor.toml the store will be analysed with (phase rules)")
    parser.add_argument("--days", type=float, default=28.0, help="days of history, ending 2026-11-23 (default 28)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    from analyzer.config import load_settings

    rules = load_settings(args.config, required=True).phases if args.config else ()
    began = time.perf_counter()

    def progress(table: str, done: int, total: int) -> None:
        print(f"\r{table}: {done:,}/{total:,}", end="\n" if done >= total else "", file=sys.stderr, flush=True)

    if args.store.exists():
        parser.error(f"{args.store} exists; the load generator writes new stores only")
    counts = write_store(args.store, args.runs, rules=rules, days=args.days, seed=args.seed, on_progress=progress)
    elapsed = time.perf_counter() - began
    size = args.store.stat().st_size / 1e6
    summary = ", ".join(f"{k} {v:,}" for k, v in counts.items())
    print(f"wrote {args.store} ({size:.0f} MB) in {elapsed:.1f} s: {summary}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
