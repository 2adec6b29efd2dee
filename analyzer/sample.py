"""A deterministic, realistic sample history of the seed project's CI, in GitHub REST shapes.

``generate_sample`` writes an export directory (``data/sample/`` in the repository) that both
``we-advisor ingest`` and the tests' fake GitHub server read. It models six weeks of a Kubernetes
operator's "E2E WorkflowExecution" workflow (Kind, Tekton, PostgreSQL, Redis, Data Storage,
controller: the setup that ``shared/seed`` describes) plus a smaller "Unit tests" workflow:
heavy-tailed phase durations, a Tekton controller wait whose true duration exceeds its 300 s limit
in roughly one run in ten, a slower week, reruns, job and step timeouts, concurrency cancels and a
lost runner.

Determinism: one ``random.Random(seed)`` drives everything, times are integer ticks of 100 ns
counted from ``end``, JSON is written with sorted keys and ``\\n`` newlines, and logs are gzipped
with ``mtime=0``. The same arguments give the same bytes (with the same zlib).
"""

from __future__ import annotations

import gzip
import json
import math
import random
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

__all__ = ["DEFAULT_END", "SampleSummary", "generate_sample"]

DEFAULT_END = datetime(2026, 11, 23, tzinfo=UTC)

OWNER = "demo"
NAME = "kubernaut"
REPO = f"{OWNER}/{NAME}"
API = f"https://api.github.com/repos/{REPO}"
WEB = f"https://github.com/{REPO}"
WORKDIR = f"/home/runner/work/{NAME}/{NAME}"
GO_VERSION = "1.23.4"
RUNNER_VERSION = "2.329.0"

E2E_WORKFLOW = "E2E WorkflowExecution"
E2E_FILE = ".github/workflows/e2e-workflowexecution.yml"
E2E_JOB = "e2e"
E2E_STEP = "Run E2E tests"
UNIT_WORKFLOW = "Unit tests"
UNIT_FILE = ".github/workflows/unit.yml"
UNIT_JOB = "unit"
UNIT_STEP = "Run go test"

JOB_LIMIT_S = 30 * 60  # e2e: timeout-minutes: 30
STEP_LIMIT_S = 25 * 60  # "Run E2E tests": timeout-minutes: 25
TEKTON_WAIT_S = 300  # kubectl wait --timeout=300s
DEPLOY_WAIT_S = 120  # kubectl wait --timeout=120s (PostgreSQL, Redis, Data Storage)
CONTROLLER_WAIT_S = 180  # Ginkgo Eventually(..., 180*time.Second)
GO_TEST_TIMEOUT_S = 600  # go test -timeout 10m

TEKTON_TIMEOUT_LINE = "error: timed out waiting for the condition on deployments/tekton-pipelines-controller"
SHUTDOWN_LINE = (
    "##[error]The runner has received a shutdown signal. This can happen when the runner service is stopped, "
    "or a manually started runner is canceled."
)
CANCELED_LINE = "##[error]The operation was canceled."

_TICK = 10_000_000  # ticks per second (GitHub log timestamps carry 7 fractional digits)
_SUITE = f"{WORKDIR}/test/e2e/workflowexecution/workflowexecution_e2e_suite_test.go"
_E2E_CMD = "ginkgo -v --timeout=60m ./test/e2e/workflowexecution/..."
_INSTALL_CMDS = (
    "curl -fsSL --retry 5 --max-time 120 -o ./kind https://kind.sigs.k8s.io/dl/v0.24.0/kind-linux-amd64",
    "chmod +x ./kind && sudo mv ./kind /usr/local/bin/kind",
    'curl -fsSL --retry 5 --max-time 120 -O "https://dl.k8s.io/release/v1.31.0/bin/linux/amd64/kubectl"',
    "sudo install -m 0755 kubectl /usr/local/bin/kubectl",
    "go install github.com/onsi/ginkgo/v2/ginkgo@v2.22.0",
    "kind version && kubectl version --client",
)
_UNIT_CMDS = (
    "go test -timeout 10m ./...",
    "go test -v -count=1 -run 'TestBuildPipelineRun' ./pkg/workflowexecution/tekton/",
)
_UNIT_PACKAGES = (
    "internal/config",
    "pkg/aianalysis",
    "pkg/audit",
    "pkg/datastorage/repository",
    "pkg/datastorage/server",
    "pkg/gateway",
    "pkg/notification",
    "pkg/remediationorchestrator",
    "pkg/shared/backoff",
    "pkg/shared/k8sutil",
    "pkg/signalprocessing",
    "pkg/workflowexecution/controller",
    "pkg/workflowexecution/tekton",
)
_HANGING_PACKAGE = "pkg/workflowexecution/controller"
_SPECS = (  # (container, text, file, line): the 12 specs that run
    ("WorkflowExecution Lifecycle", "BR-WE-001 should run a hello-world workflow to Completed", "01_lifecycle_test.go", 48),
    ("WorkflowExecution Lifecycle", "BR-WE-002 should mark the WFE Failed when the PipelineRun fails", "01_lifecycle_test.go", 97),
    ("WorkflowExecution Lifecycle", "BR-WE-003 should pass parameters through to the TaskRun", "01_lifecycle_test.go", 141),
    ("WorkflowExecution Lifecycle", "BR-WE-004 should clean up the PipelineRun on WFE deletion", "01_lifecycle_test.go", 188),
    ("WorkflowExecution Resource Locking", "BR-WE-009 should block a second WFE on the same target", "02_locking_test.go", 44),
    ("WorkflowExecution Resource Locking", "BR-WE-010 should release the lock after cooldown", "02_locking_test.go", 102),
    ("WorkflowExecution Observability", "BR-WE-005 should emit audit events to Data Storage", "03_observability_test.go", 39),
    ("WorkflowExecution Observability", "BR-WE-006 should expose reconcile metrics", "03_observability_test.go", 88),
    ("WorkflowExecution Observability", "BR-WE-007 should record Kubernetes events for phase changes", "03_observability_test.go", 131),
    ("WorkflowExecution Failure Handling", "BR-WE-012 should classify a TaskRun timeout as a workflow failure", "04_failure_test.go", 51),
    ("WorkflowExecution Failure Handling", "BR-WE-013 should back off after consecutive failures", "04_failure_test.go", 109),
    ("WorkflowExecution Bundles", "BR-WE-015 should resolve a Tekton bundle from the local registry", "05_bundles_test.go", 36),
)
_PENDING = (
    ("WorkflowExecution Resource Locking", "BR-WE-011 should honour the exponential backoff cap", "02_locking_test.go", 160),
    ("WorkflowExecution Bundles", "BR-WE-016 should verify bundle signatures", "05_bundles_test.go", 90),
    ("WorkflowExecution Failure Handling", "BR-WE-014 should surface a skipped execution reason", "04_failure_test.go", 170),
)
_USERS = (("jgil", 5120001), ("mbarrett", 5120002), ("sofia-dev", 5120003), ("akumar", 5120004))
_PR_TOPICS = (  # (branch, title)
    ("we-parallel-infra", "Parallelize WE E2E infrastructure setup"),
    ("tekton-bundle-resolver", "Resolve Tekton bundles from the local registry"),
    ("datastorage-audit-batching", "Batch audit writes in Data Storage"),
    ("wfe-cooldown-lock", "Release WFE resource lock after cooldown"),
    ("controller-metrics", "Expose WorkflowExecution reconcile metrics"),
    ("notification-routing", "Priority-based notification routing"),
    ("gateway-dedup", "Deduplicate storm signals in the gateway"),
    ("ro-timeout-escalation", "Escalate remediation timeouts"),
    ("ds-migration-partitions", "Partition audit_events by month"),
    ("ginkgo-v2-22", "Bump Ginkgo to v2.22"),
    ("kind-node-1-31", "Use kindest/node v1.31 in E2E"),
    ("audit-correlation-ids", "Propagate audit correlation ids"),
)
_COMMIT_MESSAGES = (
    "chore(deps): bump sigs.k8s.io/controller-runtime",
    "docs: update WorkflowExecution handoff notes",
    "fix(datastorage): retry audit batch on connection reset",
    "refactor(we): extract PipelineRun builder",
    "test(e2e): tighten WFE status assertions",
    "feat(gateway): dedupe storm signals",
    "ci: cache Kind node image",
    "fix(we): requeue on conflict when updating status",
)


@dataclass(frozen=True)
class SampleSummary:
    """What ``generate_sample`` wrote. ``incidents`` counts job attempts by the cause that ended them."""

    out_dir: Path
    runs: int
    run_attempts: int
    jobs: int
    e2e_jobs: int
    tekton_timeouts: int
    incidents: dict[str, int] = field(hash=False)
    files: int
    bytes: int

    @property
    def tekton_timeout_rate(self) -> float:
        """Share of E2E job attempts whose log shows the Tekton controller wait timing out."""
        return self.tekton_timeouts / self.e2e_jobs if self.e2e_jobs else 0.0


# --------------------------------------------------------------------------------------------- time


def _ticks(seconds: float) -> int:
    return round(seconds * _TICK)


def _dt(t: int) -> datetime:
    return datetime.fromtimestamp(t // _TICK, UTC)


def _stamp(t: int) -> str:
    """A log timestamp: ``2026-11-23T10:00:00.1234567Z``."""
    return f"{_dt(t):%Y-%m-%dT%H:%M:%S}.{t % _TICK:07d}Z"


def _api(t: int) -> str:
    """An API timestamp, truncated to whole seconds: ``2026-11-23T10:00:00Z``."""
    return f"{_dt(t):%Y-%m-%dT%H:%M:%S}Z"


def _ginkgo(t: int) -> str:
    return f"{_dt(t):%m/%d/%y %H:%M:%S}.{t % _TICK // 10_000:03d}"


def _go_duration(t: int) -> str:
    """Go's ``time.Duration`` text for a span of ticks, e.g. ``11m2.819261667s``."""
    minutes, rest = divmod(t, 60 * _TICK)
    seconds = f"{rest // _TICK}.{rest % _TICK:07d}{(t * 7) % 100:02d}s"
    return f"{minutes}m{seconds}" if minutes else seconds


# ---------------------------------------------------------------------------------------- log text


class _Log:
    """Timestamped lines of one step, written forward in time."""

    def __init__(self, rng: random.Random, start: int) -> None:
        self.rng = rng
        self.start = start
        self.t = start
        self.lines: list[tuple[int, str]] = []

    def put(self, text: str, gap_s: float | None = None) -> None:
        """Append a line ``gap_s`` after the previous one (default: a few milliseconds).

        ``{at}`` in the text becomes the line's own time in Ginkgo's format (``@ 11/23/26 10:00:00.123``).
        """
        self.t += _ticks(gap_s) if gap_s is not None else self.rng.randint(300, 20_000)
        self.lines.append((self.t, text.replace("{at}", _ginkgo(self.t))))

    def many(self, texts: list[str] | tuple[str, ...]) -> None:
        for text in texts:
            self.put(text)

    def wait(self, seconds: float) -> None:
        self.t += _ticks(seconds)

    def hex(self, n: int) -> str:
        return f"{self.rng.getrandbits(4 * n):0{n}x}"

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))


def _lognormal(rng: random.Random, median: float, sigma: float) -> float:
    return median * math.exp(rng.gauss(0.0, sigma))


@dataclass
class _Seg:
    """One step as run: its lines, when it ended, and how."""

    name: str
    number: int
    start: int
    end: int
    lines: list[tuple[int, str]]
    conclusion: str = "success"


@dataclass
class _Ctx:
    """Everything a job's log needs to know about its run."""

    event: str
    sha: str
    merge_sha: str
    pr: int | None
    branch: str
    slowdown: float = 1.0  # Tekton image pulls: > 1 in the slow week
    scenario: str = ""  # forced rare incident: job_timeout, step_timeout, runner_lost
    cancel_at: int | None = None  # concurrency cancel (E2E, pull_request, attempt 1)


@dataclass
class _JobOut:
    name: str
    start: int
    end: int
    conclusion: str
    segs: list[_Seg]
    incident: str | None
    annotations: list[str]
    tekton_timeout: bool = False


def _setup_job(log: _Log, job_name: str, actions: tuple[tuple[str, str, str], ...]) -> None:
    log.put(f"Current runner version: '{RUNNER_VERSION}'", gap_s=log.rng.uniform(0.4, 0.9))
    log.many(
        (
            "##[group]Runner Image Provisioner",
            "Hosted Compute Agent",
            "Version: 20260928.412",
            "Commit: 5c0f2d6c1b8e4a3f9d7e6b5a4c3d2e1f0a9b8c7d",
            "Build Date: 2026-09-28T16:41:07Z",
            "##[endgroup]",
            "##[group]Operating System",
            "Ubuntu",
            "24.04.3",
            "LTS",
            "##[endgroup]",
            "##[group]Runner Image",
            "Image: ubuntu-24.04",
            "Version: 20261005.1.0",
            "Included Software: https://github.com/actions/runner-images/blob/ubuntu24/20261005.1/images/ubuntu/Ubuntu2404-Readme.md",
            "Image Release: https://github.com/actions/runner-images/releases/tag/ubuntu24%2F20261005.1",
            "##[endgroup]",
            "##[group]GITHUB_TOKEN Permissions",
            "Contents: read",
            "Metadata: read",
            "##[endgroup]",
            "Secret source: Actions",
            "Prepare workflow directory",
        )
    )
    log.put("Prepare all required actions", gap_s=log.rng.uniform(0.03, 0.06))
    log.put("Getting action download info")
    for action, version, sha in actions:
        log.put(f"##[group]Download immutable action package '{action}'", gap_s=log.rng.uniform(0.1, 0.4))
        log.many((f"Version: {version}", f"Digest: sha256:{log.hex(64)}", f"Source commit SHA: {sha}", "##[endgroup]"))
    log.put(f"Complete job name: {job_name}", gap_s=log.rng.uniform(0.1, 0.3))


_ACTIONS = (
    ("actions/checkout@v4", "4.3.0", "08eba0b27e820071cde6df949e0beb9ba4906955"),
    ("actions/setup-go@v5", "5.5.0", "d35c59abb061a4a6fb18e82ac0862c26744d6ab5"),
)


def _checkout(log: _Log, ctx: _Ctx) -> None:
    log.put("##[group]Run actions/checkout@v4", gap_s=0.05)
    log.many(
        (
            "with:",
            f"  repository: {REPO}",
            "  token: ***",
            "  ssh-strict: true",
            "  ssh-user: git",
            "  persist-credentials: true",
            "  clean: true",
            "  sparse-checkout-cone-mode: true",
            "  fetch-depth: 1",
            "  fetch-tags: false",
            "  show-progress: true",
            "  lfs: false",
            "  submodules: false",
            "  set-safe-directory: true",
            "##[endgroup]",
        )
    )
    log.put(f"Syncing repository: {REPO}", gap_s=log.rng.uniform(0.08, 0.2))
    log.many(
        (
            "##[group]Getting Git version info",
            f"Working directory is '{WORKDIR}'",
            "[command]/usr/bin/git version",
            "git version 2.51.2",
            "##[endgroup]",
            f"Temporarily overriding HOME='/home/runner/work/_temp/{log.uuid()}' before making global git config changes",
            "Adding repository directory to the temporary git global config as a safe directory",
            f"[command]/usr/bin/git config --global --add safe.directory {WORKDIR}",
            f"Deleting the contents of '{WORKDIR}'",
            "##[group]Initializing the repository",
            f"[command]/usr/bin/git init {WORKDIR}",
            f"Initialized empty Git repository in {WORKDIR}/.git/",
            f"[command]/usr/bin/git remote add origin {WEB}",
            "##[endgroup]",
            "##[group]Disabling automatic garbage collection",
            "[command]/usr/bin/git config --local gc.auto 0",
            "##[endgroup]",
            "##[group]Setting up auth",
            "[command]/usr/bin/git config --local http.https://github.com/.extraheader AUTHORIZATION: basic ***",
            "##[endgroup]",
            "##[group]Fetching the repository",
        )
    )
    if ctx.pr is not None:
        ref = f"refs/remotes/pull/{ctx.pr}/merge"
        sha = ctx.merge_sha
        log.put(
            "[command]/usr/bin/git -c protocol.version=2 fetch --no-tags --prune --no-recurse-submodules "
            f"--depth=1 origin +{sha}:{ref}"
        )
        log.put(f"From {WEB}", gap_s=log.rng.uniform(0.3, 1.6))
        log.many((f" * [new ref]         {sha} -> pull/{ctx.pr}/merge", "##[endgroup]"))
        log.many(("##[group]Checking out the ref", f"[command]/usr/bin/git checkout --progress --force {ref}"))
        log.put(f"HEAD is now at {sha[:7]} Merge {ctx.sha} into {log.hex(40)}", gap_s=log.rng.uniform(0.2, 0.9))
    else:
        sha = ctx.sha
        log.put(
            "[command]/usr/bin/git -c protocol.version=2 fetch --no-tags --prune --no-recurse-submodules "
            f"--depth=1 origin +{sha}:refs/remotes/origin/main"
        )
        log.put(f"From {WEB}", gap_s=log.rng.uniform(0.3, 1.6))
        log.many((f" * [new ref]         {sha} -> origin/main", "##[endgroup]"))
        log.many(
            ("##[group]Checking out the ref", "[command]/usr/bin/git checkout --progress --force -B main refs/remotes/origin/main")
        )
        log.put("Switched to a new branch 'main'", gap_s=log.rng.uniform(0.2, 0.9))
        log.put("branch 'main' set up to track 'origin/main'.")
    log.many(("##[endgroup]", "[command]/usr/bin/git log -1 --format=%H", sha))


def _setup_go(log: _Log) -> None:
    log.put("##[group]Run actions/setup-go@v5", gap_s=0.03)
    log.many(
        ("with:", "  go-version-file: go.mod", "  cache: false", "  check-latest: false", "  token: ***", "##[endgroup]")
    )
    log.put(f"Setup go version spec {GO_VERSION}", gap_s=log.rng.uniform(0.05, 0.2))
    hit = log.rng.random() < 0.8
    if hit:
        log.put(f"Found in cache @ /opt/hostedtoolcache/go/{GO_VERSION}/x64")
    else:
        log.put(f"Attempting to download {GO_VERSION}...")
        log.put(f"matching {GO_VERSION}...")
        log.put(
            f"Acquiring {GO_VERSION} from https://github.com/actions/go-versions/releases/download/"
            f"{GO_VERSION}-12029476218/go-{GO_VERSION}-linux-x64.tar.gz"
        )
        log.put("Extracting Go...", gap_s=_lognormal(log.rng, 2.5, 0.4))
        log.put(f"[command]/usr/bin/tar xz --warning=no-unknown-keyword --overwrite -C /home/runner/work/_temp/{log.uuid()} -f /home/runner/work/_temp/{log.uuid()}")
        log.put("Successfully extracted go to /home/runner/work/_temp/go", gap_s=_lognormal(log.rng, 3.0, 0.3))
        log.put("Adding to the cache ...")
        log.put(f"Successfully cached go to /opt/hostedtoolcache/go/{GO_VERSION}/x64", gap_s=_lognormal(log.rng, 1.2, 0.3))
    log.many(("Added go to the path", f"Successfully set up Go version {GO_VERSION}"))
    log.put(f"go version go{GO_VERSION} linux/amd64", gap_s=_lognormal(log.rng, 1.0 if hit else 0.3, 0.5))
    log.many(
        (
            "",
            "##[group]go env",
            "GO111MODULE=''",
            "GOARCH='amd64'",
            "GOCACHE='/home/runner/.cache/go-build'",
            "GOMODCACHE='/home/runner/go/pkg/mod'",
            "GOOS='linux'",
            f"GOROOT='/opt/hostedtoolcache/go/{GO_VERSION}/x64'",
            f"GOVERSION='go{GO_VERSION}'",
            "##[endgroup]",
        )
    )


def _run_header(log: _Log, commands: tuple[str, ...], env: tuple[str, ...] = ()) -> None:
    log.put(f"##[group]Run {commands[0]}", gap_s=0.02)
    log.many(tuple(f"\x1b[36;1m{c}\x1b[0m" for c in commands))
    log.put("shell: /usr/bin/bash -e {0}")
    if env:
        log.put("env:")
        log.many(tuple(f"  {e}" for e in env))
    log.put("##[endgroup]")


def _install_kind(log: _Log, slow: bool) -> None:
    _run_header(log, _INSTALL_CMDS)
    rng = log.rng
    if slow:  # a stalled download: curl gives up after --max-time and retries
        for left in (5, 4, 3, 2)[: rng.randint(3, 4)]:
            log.wait(120 + rng.uniform(0.0, 0.2))
            log.put("curl: (28) Operation timed out after 120001 milliseconds with 0 out of 0 bytes received", gap_s=0.0)
            log.put(f"Warning: Problem : timeout. Will retry in 1 seconds. {left} retries left.")
            log.wait(1.0)
        log.wait(_lognormal(rng, 40, 0.3))
    else:
        log.wait(_lognormal(rng, 1.5, 0.4))
    log.put("go: downloading github.com/onsi/ginkgo/v2 v2.22.0", gap_s=_lognormal(rng, 1.8, 0.4))
    log.many(("go: downloading github.com/go-logr/logr v1.4.2", "go: downloading golang.org/x/tools v0.28.0"))
    log.put("kind v0.24.0 go1.22.6 linux/amd64", gap_s=_lognormal(rng, 9.0, 0.3))
    log.many(("Client Version: v1.31.0", "Kustomize Version: v5.4.2"))


def _post_checkout(log: _Log) -> None:
    log.put("Post job cleanup.", gap_s=log.rng.uniform(0.005, 0.02))
    log.put("[command]/usr/bin/git version", gap_s=log.rng.uniform(0.05, 0.12))
    log.many(
        (
            "git version 2.51.2",
            f"Temporarily overriding HOME='/home/runner/work/_temp/{log.uuid()}' before making global git config changes",
            "Adding repository directory to the temporary git global config as a safe directory",
            f"[command]/usr/bin/git config --global --add safe.directory {WORKDIR}",
            "[command]/usr/bin/git config --local --name-only --get-regexp core\\.sshCommand",
            "[command]/usr/bin/git submodule foreach --recursive sh -c \"git config --local --name-only --get-regexp "
            "'core\\.sshCommand' && git config --local --unset-all 'core.sshCommand' || :\"",
            "[command]/usr/bin/git config --local --name-only --get-regexp http\\.https\\:\\/\\/github\\.com\\/\\.extraheader",
            "http.https://github.com/.extraheader",
            "[command]/usr/bin/git config --local --unset-all http.https://github.com/.extraheader",
        )
    )


# ------------------------------------------------------------------------------------ E2E step log


@dataclass
class _E2EResult:
    outcome: str  # success | failure
    incident: str | None  # tool_timeout | test_timeout | failure (natural cause, before any cut)
    tekton_timeout: bool


def _kubectl_wait(log: _Log, namespace: str, deployment: str, limit: int, true_s: float) -> bool:
    """The echoed command and its outcome; True when it timed out."""
    log.put(f"+ kubectl wait -n {namespace} --for=condition=available deployment/{deployment} --timeout={limit}s")
    if true_s >= limit:
        log.put(
            f"error: timed out waiting for the condition on deployments/{deployment}",
            gap_s=limit + log.rng.uniform(0.01, 0.08),
        )
        return True
    log.put(f"deployment.apps/{deployment} condition met", gap_s=true_s)
    return False


def _before_suite_failed(log: _Log, suite_start: int, bs_start: int, line: int, message: str) -> None:
    log.put(f"  [FAILED] in [SynchronizedBeforeSuite] - {_SUITE}:{line} @ {{at}}")
    log.put(f"[SynchronizedBeforeSuite] [FAILED] [{(log.t - bs_start) / _TICK:.3f} seconds]")
    log.many(
        (
            "[SynchronizedBeforeSuite] ",
            f"{_SUITE}:78",
            "",
            "  [FAILED] Unexpected error:",
            f"      <*fmt.wrapError | 0xc000{log.hex(6)}>: ",
            f"      {message}",
            "  occurred",
            f"  In [SynchronizedBeforeSuite] at: {_SUITE}:{line} @ {{at}}",
            "------------------------------",
        )
    )
    _after_suite(log)
    log.many(("", "Summarizing 1 Failure:", "  [FAIL] [SynchronizedBeforeSuite] ", f"  {_SUITE}:78", ""))
    total = (log.t - suite_start) / _TICK
    log.many(
        (
            f"Ran 0 of {len(_SPECS) + len(_PENDING)} Specs in {total:.3f} seconds",
            "FAIL! -- A BeforeSuite node failed so all tests were skipped.",
            f"--- FAIL: TestWorkflowExecutionE2E ({total:.2f}s)",
            "FAIL",
        )
    )


def _after_suite(log: _Log) -> None:
    start = log.t
    log.many(("[SynchronizedAfterSuite] ", f"{_SUITE}:171"))
    log.put("  STEP: Tearing down WorkflowExecution E2E infrastructure @ {at}")
    log.put("🗑️  Deleting Kind cluster workflowexecution-e2e...")
    log.put('Deleting cluster "workflowexecution-e2e" ...', gap_s=0.05)
    log.put('Deleted nodes: ["workflowexecution-e2e-worker" "workflowexecution-e2e-control-plane"]', gap_s=_lognormal(log.rng, 5.5, 0.25))
    log.put(f"[SynchronizedAfterSuite] PASSED [{(log.t - start) / _TICK + 0.05:.3f} seconds]")
    log.put("------------------------------")


def _e2e_step(log: _Log, ctx: _Ctx, *, hang: bool) -> _E2EResult:
    """The E2E step's output; ``hang`` makes a spec hang until something kills the step.

    A run picked for a rare incident (``ctx.scenario``) gets a healthy setup, so that incident is what ends it.
    """
    healthy = bool(ctx.scenario)
    rng = log.rng
    _run_header(log, (_E2E_CMD,), ("KIND_CLUSTER_NAME: workflowexecution-e2e", "E2E_COVERAGE: false"))
    log.wait(_lognormal(rng, 28, 0.25))  # ginkgo compiles the suite first
    suite_start = log.t
    title = f"Running Suite: WorkflowExecution E2E Suite - {WORKDIR}/test/e2e/workflowexecution"
    log.put(title)
    log.many(("=" * len(title), f"Random Seed: {rng.randint(1_760_000_000, 1_769_999_999)}", ""))
    log.many((f"Will run {len(_SPECS)} of {len(_SPECS) + len(_PENDING)} specs", "------------------------------"))
    bs_start = log.t
    log.many(("[SynchronizedBeforeSuite] ", f"{_SUITE}:78"))
    log.put("  STEP: Setting up WorkflowExecution E2E infrastructure (sequential) @ {at}")

    # kind cluster (+ CRDs)
    log.put("🚀 Creating Kind cluster workflowexecution-e2e...")
    log.put('Creating cluster "workflowexecution-e2e" ...', gap_s=0.2)
    kind_s = _lognormal(rng, 46, 0.2) * (3.0 if rng.random() < 0.04 else 1.0)
    for share, text in (
        (0.18, " ✓ Ensuring node image (kindest/node:v1.31.0) 🖼"),
        (0.22, " ✓ Preparing nodes 📦 📦  "),
        (0.04, " ✓ Writing configuration 📜"),
        (0.30, " ✓ Starting control-plane 🕹️"),
        (0.06, " ✓ Installing CNI 🔌"),
        (0.02, " ✓ Installing StorageClass 💾"),
        (0.18, " ✓ Joining worker nodes 🚜"),
    ):
        log.put(text, gap_s=kind_s * share)
    log.put('Set kubectl context to "kind-workflowexecution-e2e"')
    log.put("✅ Kind cluster ready (2 nodes: control-plane + worker)")
    log.put("📋 Installing WorkflowExecution CRDs...")
    log.put("customresourcedefinition.apiextensions.k8s.io/workflowexecutions.kubernaut.ai created", gap_s=_lognormal(rng, 2.5, 0.3))
    log.put("namespace/kubernaut-system created", gap_s=0.4)

    # Tekton
    slow = ctx.slowdown
    log.put("📦 Installing Tekton Pipelines v1.4.0...")
    log.put("+ kubectl apply -f https://storage.googleapis.com/tekton-releases/pipeline/previous/v1.4.0/release.yaml")
    log.put("namespace/tekton-pipelines created", gap_s=_lognormal(rng, 5, 0.4) * slow)
    log.many(
        (
            "clusterrole.rbac.authorization.k8s.io/tekton-pipelines-controller-cluster-access created",
            "serviceaccount/tekton-pipelines-controller created",
            "customresourcedefinition.apiextensions.k8s.io/pipelineruns.tekton.dev created",
            "customresourcedefinition.apiextensions.k8s.io/taskruns.tekton.dev created",
            "configmap/config-defaults created",
        )
    )
    log.put("deployment.apps/tekton-pipelines-controller created", gap_s=_lognormal(rng, 2.5, 0.4))
    log.put("service/tekton-pipelines-controller created")
    log.put("deployment.apps/tekton-pipelines-webhook created")
    log.put("service/tekton-pipelines-webhook created")
    log.put("⏳ Waiting for Tekton Pipelines controller to be ready...", gap_s=0.3)
    if not healthy and rng.random() < 0.25:  # gcr.io / ghcr.io image pulls: a slow mode beside the usual one
        ctrl_s = _lognormal(rng, 270, 0.38) * slow
    else:
        ctrl_s = _lognormal(rng, 105, 0.32) * slow
    if healthy:
        ctrl_s = min(ctrl_s, 0.8 * TEKTON_WAIT_S)
    if _kubectl_wait(log, "tekton-pipelines", "tekton-pipelines-controller", TEKTON_WAIT_S, ctrl_s):
        log.put("❌ Tekton Pipelines controller not ready - showing pod status:")
        log.put("NAME                                           READY   STATUS              RESTARTS   AGE", gap_s=0.3)
        log.put(f"tekton-pipelines-controller-6d4f8b7c9-{log.hex(5)}    0/1     ContainerCreating   0          5m{rng.randint(8, 14)}s")
        log.put(f"tekton-pipelines-webhook-7c9d5b6f4-{log.hex(5)}       0/1     ContainerCreating   0          5m{rng.randint(8, 14)}s")
        _before_suite_failed(
            log, suite_start, bs_start, 96, "failed to install Tekton Pipelines: tekton-pipelines-controller not ready: exit status 1"
        )
        return _finish(log, suite_start, True, "tool_timeout", tekton=True)
    log.put("⏳ Waiting for Tekton Pipelines webhook to be ready...")
    hook_s = _lognormal(rng, 9, 0.6) * slow
    _kubectl_wait(log, "tekton-pipelines", "tekton-pipelines-webhook", TEKTON_WAIT_S, min(hook_s, TEKTON_WAIT_S - 1))
    log.put("✅ Tekton Pipelines ready")

    # PostgreSQL, Redis
    for icon, label, name, median, objects in (
        ("🐘", "PostgreSQL", "postgresql", 27, ("configmap/postgresql-init created", "secret/postgresql-secret created")),
        ("🔴", "Redis", "redis", 16, ()),
    ):
        log.put(f"{icon} Deploying {label}...")
        log.many((*objects, f"service/{name} created"))
        log.put(f"deployment.apps/{name} created", gap_s=_lognormal(rng, 1.2, 0.3))
        _kubectl_wait(log, "kubernaut-system", name, DEPLOY_WAIT_S, min(_lognormal(rng, median, 0.3), DEPLOY_WAIT_S - 5))
        log.put(f"✅ {label} ready")

    # Data Storage: build, load, deploy, wait
    tag = f"workflowexecution-{log.hex(8)}"
    log.put("💾 Building and deploying Data Storage...")
    log.put(f"🔨 Building Data Storage image: localhost/datastorage:{tag}")
    log.put("[1/2] STEP 1/9: FROM registry.access.redhat.com/ubi9/go-toolset:1.23 AS builder", gap_s=0.6)
    log.put("[1/2] STEP 8/9: RUN CGO_ENABLED=0 go build -o /datastorage ./cmd/datastorage", gap_s=_lognormal(rng, 6, 0.3))
    log.put("[2/2] STEP 1/5: FROM registry.access.redhat.com/ubi9/ubi-minimal:latest", gap_s=_lognormal(rng, 26, 0.25))
    log.put(f"[2/2] COMMIT localhost/datastorage:{tag}", gap_s=_lognormal(rng, 3, 0.3))
    log.put(f"✅ Build succeeded: localhost/datastorage:{tag}", gap_s=0.4)
    log.put(f"📦 Loading Data Storage image into Kind: localhost/datastorage:{tag}")
    log.put(f'Image: "localhost/datastorage:{tag}" with ID "sha256:{log.hex(64)}" not yet present on node "workflowexecution-e2e-worker", loading...', gap_s=3.5)
    log.put("✅ Load succeeded", gap_s=_lognormal(rng, 15, 0.3))
    log.put("🚀 Deploying Data Storage with config + secrets...")
    log.many(
        (
            "configmap/datastorage-config created",
            "secret/datastorage-db-secret created",
            "service/datastorage created",
        )
    )
    log.put("deployment.apps/datastorage created", gap_s=_lognormal(rng, 2.5, 0.3))
    log.put("⏳ Waiting for Data Storage to be ready...")
    ds_s = _lognormal(rng, 13, 0.5) if healthy or rng.random() > 0.012 else DEPLOY_WAIT_S + 30.0
    if _kubectl_wait(log, "kubernaut-system", "datastorage", DEPLOY_WAIT_S, ds_s):
        log.put("❌ Deployment datastorage timeout - showing pod status:")
        log.put("NAME                           READY   STATUS             RESTARTS      AGE", gap_s=0.3)
        log.put(f"datastorage-5867859648-{log.hex(5)}   0/1     CrashLoopBackOff   4 (21s ago)   2m4s")
        _before_suite_failed(
            log, suite_start, bs_start, 112, "failed to deploy Data Storage: deployment datastorage did not become available: exit status 1"
        )
        return _finish(log, suite_start, True, "tool_timeout")
    log.put("✅ Data Storage ready")

    # audit migrations
    log.put("🗄️  Applying audit migrations (audit_events + partitions)...")
    mig = _lognormal(rng, 13, 0.25)
    log.put("CREATE TABLE", gap_s=mig * 0.4)
    log.many(("CREATE TABLE", "CREATE TABLE", "CREATE TABLE"))
    log.put("CREATE INDEX", gap_s=mig * 0.5)
    log.put("✅ Migrations applied successfully", gap_s=mig * 0.1)

    # controller: build, save, load, deploy, wait
    ctag = f"workflowexecution-controller-{log.hex(8)}"
    log.put(f"🔨 Building E2E image: kubernaut/workflowexecution-controller:{ctag}")
    log.put("   Simple build (no -a, -installsuffix, -extldflags)")
    log.put(f"[2/2] COMMIT kubernaut/workflowexecution-controller:{ctag}", gap_s=_lognormal(rng, 33, 0.25))
    log.put(f"💾 Saving image to tarball: /tmp/{ctag}.tar", gap_s=0.3)
    log.put("📦 Loading controller image into Kind...", gap_s=_lognormal(rng, 8, 0.3))
    log.put("✅ Controller image built and loaded", gap_s=_lognormal(rng, 10, 0.3))
    log.put("🚀 Deploying WorkflowExecution controller...")
    log.many(
        (
            "serviceaccount/workflowexecution-controller created",
            "clusterrole.rbac.authorization.k8s.io/workflowexecution-controller-role created",
            "clusterrolebinding.rbac.authorization.k8s.io/workflowexecution-controller-rolebinding created",
        )
    )
    log.put("deployment.apps/workflowexecution-controller created", gap_s=_lognormal(rng, 3, 0.3))
    log.put("⏳ Waiting for WorkflowExecution controller pod to be ready...")
    if not healthy and rng.random() < 0.025:  # CrashLoopBackOff: the Eventually gives up
        log.put(f"[FAILED] Timed out after {CONTROLLER_WAIT_S + rng.uniform(0.0, 0.004):.3f}s.", gap_s=CONTROLLER_WAIT_S + rng.uniform(0.0, 0.004))
        log.many(("WorkflowExecution controller pod should become ready", "Expected", "    <bool>: false", "to be true", ""))
        log.put(f"Pod workflowexecution-controller-6848f4cbdb-{log.hex(5)}: Phase=Running")
        _before_suite_failed(log, suite_start, bs_start, 141, "WorkflowExecution controller pod should become ready")
        return _finish(log, suite_start, True, "test_timeout")
    log.put("✅ WorkflowExecution controller pod ready", gap_s=_lognormal(rng, 15, 0.6))
    log.put("✅ WorkflowExecution E2E cluster ready!")
    log.put(f"[SynchronizedBeforeSuite] PASSED [{(log.t - bs_start) / _TICK:.3f} seconds]")
    log.put("------------------------------")

    # specs
    hang_at = rng.randrange(3, len(_SPECS)) if hang else -1
    flaky = rng.randrange(len(_SPECS)) if not healthy and rng.random() < 0.035 else -1
    pending = {3: _PENDING[0], 8: _PENDING[1], 11: _PENDING[2]}
    for i, (container, text, file, line) in enumerate(_SPECS):
        if i in pending:
            p_container, p_text, p_file, p_line = pending[i]
            log.many(("P [PENDING]", f"{p_container} {p_text}", f"{WORKDIR}/test/e2e/workflowexecution/{p_file}:{p_line}"))
            log.put("------------------------------")
        start = log.t
        path = f"{WORKDIR}/test/e2e/workflowexecution/{file}"
        log.many((f"{container} {text}", f"{path}:{line}"))
        name = f"wfe-e2e-{log.hex(4)}"
        log.put(f"  STEP: Creating WorkflowExecution {name} @ {{at}}", gap_s=0.05)
        log.put(f"  STEP: Waiting for PipelineRun {name}-run to complete @ {{at}}", gap_s=0.2)
        if i == hang_at:  # a TaskRun stuck Pending: no more output until something kills the step
            log.wait(4 * 3600)
            return _E2EResult("failure", None, False)
        spec_s = _lognormal(rng, 17, 0.45)
        if i == flaky:
            log.wait(spec_s)
            log.put(f"  [FAILED] in [It] - {path}:{line + 21} @ {{at}}")
            log.put(f"• [FAILED] [{(log.t - start) / _TICK:.3f} seconds]")
            log.many(
                (
                    f"{container} [It] {text}",
                    f"{path}:{line}",
                    "",
                    "  [FAILED] Expected",
                    "      <string>: Running",
                    "  to equal",
                    "      <string>: Completed",
                    f"  In [It] at: {path}:{line + 21} @ {{at}}",
                    "------------------------------",
                )
            )
            continue
        log.put(f"  STEP: Verifying WorkflowExecution {name} status @ {{at}}", gap_s=spec_s)
        log.put(f"• [{(log.t - start) / _TICK:.3f} seconds]", gap_s=0.002)
        log.put("------------------------------")
    _after_suite(log)
    total = (log.t - suite_start) / _TICK
    n, m = len(_SPECS), len(_SPECS) + len(_PENDING)
    if flaky >= 0:
        container, text, file, line = _SPECS[flaky]
        log.many(
            (
                "",
                "Summarizing 1 Failure:",
                f"  [FAIL] {container} [It] {text}",
                f"  {WORKDIR}/test/e2e/workflowexecution/{file}:{line + 21}",
                "",
                f"Ran {n} of {m} Specs in {total:.3f} seconds",
                f"FAIL! -- {n - 1} Passed | 1 Failed | {len(_PENDING)} Pending | 0 Skipped",
                f"--- FAIL: TestWorkflowExecutionE2E ({total:.2f}s)",
                "FAIL",
            )
        )
        return _finish(log, suite_start, True, "failure")
    log.many(
        (
            f"Ran {n} of {m} Specs in {total:.3f} seconds",
            f"SUCCESS! -- {n} Passed | 0 Failed | {len(_PENDING)} Pending | 0 Skipped",
            "PASS",
        )
    )
    return _finish(log, suite_start, False, None)


def _finish(log: _Log, suite_start: int, failed: bool, incident: str | None, *, tekton: bool = False) -> _E2EResult:
    log.put("", gap_s=0.4)
    log.put(f"Ginkgo ran 1 suite in {_go_duration(log.t - suite_start + _ticks(28))}")
    log.put("")
    if failed:
        log.put("Test Suite Failed")
        log.put("##[error]Process completed with exit code 1.", gap_s=0.02)
        return _E2EResult("failure", incident, tekton)
    log.put("Test Suite Passed")
    return _E2EResult("success", None, False)


# ----------------------------------------------------------------------------------- unit step log


def _unit_step(log: _Log) -> tuple[str, str | None]:
    rng = log.rng
    _run_header(log, _UNIT_CMDS)
    for module in ("sigs.k8s.io/controller-runtime v0.19.3", "k8s.io/client-go v0.31.3", "github.com/tektoncd/pipeline v1.4.0"):
        log.put(f"go: downloading {module}", gap_s=_lognormal(rng, 0.8, 0.5))
    log.wait(_lognormal(rng, 35, 0.25))  # compiling
    mode = rng.random()
    hang = mode < 0.03
    broken = 0.03 <= mode < 0.06
    test_start = log.t
    failed_pkg = rng.choice(_UNIT_PACKAGES) if broken else ""
    for pkg in _UNIT_PACKAGES:
        if hang and pkg == _HANGING_PACKAGE:
            continue
        elapsed = _lognormal(rng, 4.0, 0.9)
        if pkg == failed_pkg:
            log.put(f"--- FAIL: TestReconcile_{rng.choice(('Conflict', 'Cooldown', 'Status'))} ({elapsed * 0.3:.2f}s)", gap_s=elapsed)
            log.put(f"    {pkg.rsplit('/', 1)[-1]}_test.go:{rng.randint(40, 400)}: expected phase Completed, got Running")
            log.put("FAIL")
            log.put(f"FAIL\tgithub.com/{REPO}/{pkg}\t{elapsed:.3f}s")
        else:
            log.put(f"ok  \tgithub.com/{REPO}/{pkg}\t{elapsed:.3f}s", gap_s=elapsed * rng.uniform(0.6, 1.4))
    for pkg in ("cmd/datastorage", "cmd/workflowexecution"):
        log.put(f"?   \tgithub.com/{REPO}/{pkg}\t[no test files]")
    if hang:
        log.t = max(log.t, test_start + _ticks(GO_TEST_TIMEOUT_S + rng.uniform(0.05, 0.4)))
        log.put("panic: test timed out after 10m0s", gap_s=0.0)
        log.many(
            (
                "\trunning tests:",
                "\t\tTestReconcile_RequeuesOnConflict (10m0s)",
                "",
                f"goroutine {rng.randint(60, 400)} [running]:",
                "testing.(*M).startAlarm.func1()",
                f"\t/opt/hostedtoolcache/go/{GO_VERSION}/x64/src/testing/testing.go:2373 +0x385",
                "created by time.goFunc",
                f"\t/opt/hostedtoolcache/go/{GO_VERSION}/x64/src/time/sleep.go:215 +0x2d",
                "",
                "goroutine 1 [chan receive, 9 minutes]:",
                "testing.(*T).Run(0xc0001a2d00, {0x1c3e2f1, 0x20}, 0x1d5c6a8)",
                f"\t/opt/hostedtoolcache/go/{GO_VERSION}/x64/src/testing/testing.go:1751 +0x3ab",
                f"FAIL\tgithub.com/{REPO}/{_HANGING_PACKAGE}\t{(log.t - test_start) / _TICK:.3f}s",
                "FAIL",
            )
        )
        log.put("##[error]Process completed with exit code 1.", gap_s=0.03)
        return "failure", "tool_timeout"
    if broken:
        log.put("FAIL")
        log.put("##[error]Process completed with exit code 1.", gap_s=0.03)
        return "failure", "failure"
    log.put("=== RUN   TestBuildPipelineRun", gap_s=_lognormal(rng, 6, 0.3))
    for case in ("Params", "Workspaces", "ServiceAccount"):
        log.put(f"=== RUN   TestBuildPipelineRun/{case}")
    sub = [_lognormal(rng, 0.4, 0.8) for _ in range(3)]
    log.put(f"--- PASS: TestBuildPipelineRun ({sum(sub):.2f}s)", gap_s=sum(sub))
    for case, s in zip(("Params", "Workspaces", "ServiceAccount"), sub, strict=True):
        log.put(f"    --- PASS: TestBuildPipelineRun/{case} ({s:.2f}s)")
    log.put("PASS")
    log.put(f"ok  \tgithub.com/{REPO}/pkg/workflowexecution/tekton\t{sum(sub) + 0.31:.3f}s", gap_s=0.2)
    return "success", None


# ------------------------------------------------------------------------------------ job assembly


_Builder = Callable[[_Log], str]  # writes one main step's lines; returns success | failure


def _job(
    rng: random.Random,
    start: int,
    job_name: str,
    mains: list[tuple[str, _Builder, float | None]],
    *,
    job_limit_s: float | None,
    cancel_at: int | None,
    lost_at: Callable[[int], int] | None,
    concurrency_group: str,
) -> tuple[list[_Seg], str, str | None, list[str]]:
    """Run the main steps forward in time, cut at the first limit or cancel, then the post steps.

    Returns the steps, the job conclusion, the cause that ended it (or None) and the annotations.
    """
    segs: list[_Seg] = []
    log = _Log(rng, start)
    _setup_job(log, job_name, _ACTIONS)
    log.wait(rng.uniform(0.02, 0.06))
    segs.append(_Seg("Set up job", 1, start, log.t, log.lines))
    job_end_limit = start + _ticks(job_limit_s) if job_limit_s else None
    cause: str | None = None
    conclusion = "success"
    t = log.t
    for number, (name, build, step_limit_s) in enumerate(mains, start=2):
        if cause is not None or conclusion != "success":
            segs.append(_Seg(name, number, t, t, [], "skipped"))
            continue
        log = _Log(rng, t)
        outcome = build(log)
        log.wait(rng.uniform(0.005, 0.05))
        seg = _Seg(name, number, t, log.t, log.lines, outcome)
        cuts: list[tuple[int, str]] = []
        if job_end_limit is not None:
            cuts.append((job_end_limit, "job_timeout"))
        if step_limit_s is not None:
            cuts.append((t + _ticks(step_limit_s), "step_timeout"))
        if cancel_at is not None:
            cuts.append((cancel_at, "cancelled"))
        if lost_at is not None and step_limit_s is not None:
            cuts.append((lost_at(t), "runner_lost"))
        cut_at, cut_cause = min(cuts) if cuts else (seg.end + 1, "")
        if cut_at < seg.end:
            kept = [(ts, text) for ts, text in seg.lines if ts < cut_at]
            if cut_cause == "step_timeout":
                kept.append((cut_at, f"##[error]The action '{name}' has timed out after {round(step_limit_s or 0) // 60} minutes."))
                seg.conclusion = "failure"
            elif cut_cause == "runner_lost":
                kept.append((cut_at, SHUTDOWN_LINE))
                kept.append((cut_at + _ticks(rng.uniform(1.2, 2.5)), CANCELED_LINE))
                seg.conclusion = "cancelled"
            else:
                kept.append((cut_at, CANCELED_LINE))
                seg.conclusion = "cancelled"
            seg.lines = kept
            seg.end = kept[-1][0] + _ticks(0.001)
            cause = cut_cause
        conclusion = "failure" if seg.conclusion != "success" else "success"
        segs.append(seg)
        t = seg.end
    # post steps: always() post of actions/checkout, then "Complete job"
    post_number = 2 * (len(mains) + 1)
    if cause in ("job_timeout", "runner_lost"):
        segs.append(_Seg("Post Run actions/checkout@v4", post_number, t, t, [], "skipped"))
        log = _Log(rng, t)
        if cause == "runner_lost":
            log.put("Cleaning up orphan processes", gap_s=rng.uniform(0.03, 0.08))
        segs.append(_Seg("Complete job", post_number + 1, t, log.t, log.lines))
    else:
        log = _Log(rng, t)
        _post_checkout(log)
        log.wait(rng.uniform(0.002, 0.01))
        segs.append(_Seg("Post Run actions/checkout@v4", post_number, t, log.t, log.lines))
        t = log.t
        log = _Log(rng, t)
        log.put("Cleaning up orphan processes", gap_s=rng.uniform(0.005, 0.03))
        segs.append(_Seg("Complete job", post_number + 1, t, log.t, log.lines))
    annotations: list[str] = []
    if cause == "job_timeout":
        conclusion = "cancelled"
        annotations = [f"The job has exceeded the maximum execution time of {round(job_limit_s or 0) // 60}m0s", CANCELED_LINE[9:]]
    elif cause == "cancelled":
        conclusion = "cancelled"
        annotations = [f"Canceling since a higher priority waiting request for '{concurrency_group}' exists", CANCELED_LINE[9:]]
    elif cause == "runner_lost":
        conclusion = "failure"
        annotations = [SHUTDOWN_LINE[9:], CANCELED_LINE[9:]]
    elif cause == "step_timeout":
        conclusion = "failure"
        failed = next(s for s in segs if s.conclusion == "failure")
        annotations = [f"The action '{failed.name}' has timed out after {STEP_LIMIT_S // 60} minutes."]
    elif conclusion == "failure":
        annotations = ["Process completed with exit code 1."]
    return segs, conclusion, cause, annotations


def _simulate_e2e(rng: random.Random, start: int, ctx: _Ctx) -> _JobOut:
    result: list[_E2EResult] = []

    def e2e(log: _Log) -> str:
        r = _e2e_step(log, ctx, hang=ctx.scenario in ("job_timeout", "step_timeout"))
        result.append(r)
        return r.outcome

    def install(log: _Log) -> str:
        _install_kind(log, slow=ctx.scenario == "job_timeout")
        return "success"

    def checkout(log: _Log) -> str:
        _checkout(log, ctx)
        return "success"

    def setup_go(log: _Log) -> str:
        _setup_go(log)
        return "success"

    lost = None
    if ctx.scenario == "runner_lost":
        lost_after = rng.uniform(120, 500)

        def lost(step_start: int) -> int:
            return step_start + _ticks(lost_after)

    group = f"E2E-refs/pull/{ctx.pr}/merge" if ctx.pr is not None else "E2E-refs/heads/main"
    segs, conclusion, cause, notes = _job(
        rng,
        start,
        E2E_JOB,
        [
            ("Run actions/checkout@v4", checkout, None),
            ("Run actions/setup-go@v5", setup_go, None),
            ("Install Kind and kubectl", install, None),
            (E2E_STEP, e2e, STEP_LIMIT_S),
        ],
        job_limit_s=JOB_LIMIT_S,
        cancel_at=ctx.cancel_at,
        lost_at=lost,
        concurrency_group=group,
    )
    natural = result[0] if result else _E2EResult("success", None, False)
    incident = cause or natural.incident
    tekton = natural.tekton_timeout and any(TEKTON_TIMEOUT_LINE in text for s in segs for _, text in s.lines)
    return _JobOut(E2E_JOB, start, segs[-1].end, conclusion, segs, incident, notes, tekton)


def _simulate_unit(rng: random.Random, start: int, ctx: _Ctx) -> _JobOut:
    natural: list[str | None] = []

    def go_test(log: _Log) -> str:
        outcome, incident = _unit_step(log)
        natural.append(incident)
        return outcome

    def checkout(log: _Log) -> str:
        _checkout(log, ctx)
        return "success"

    def setup_go(log: _Log) -> str:
        _setup_go(log)
        return "success"

    segs, conclusion, cause, notes = _job(
        rng,
        start,
        UNIT_JOB,
        [("Run actions/checkout@v4", checkout, None), ("Run actions/setup-go@v5", setup_go, None), (UNIT_STEP, go_test, None)],
        job_limit_s=None,
        cancel_at=None,
        lost_at=None,
        concurrency_group="",
    )
    return _JobOut(UNIT_JOB, start, segs[-1].end, conclusion, segs, cause or (natural[0] if natural else None), notes)


# ---------------------------------------------------------------------------------------- history


@dataclass
class _Attempt:
    number: int
    created: int  # when this attempt was queued (run_started_at)
    job: _JobOut
    job_created: int
    job_id: int = 0
    runner_id: int = 0


@dataclass
class _RunSpec:
    workflow: str
    created: int
    ctx: _Ctx
    event: str
    branch: str
    title: str
    actor: tuple[str, int]
    run_id: int = 0
    run_number: int = 0
    attempts: list[_Attempt] = field(default_factory=list)


@dataclass
class _Event:
    t: int
    event: str  # push | pull_request
    pr: int | None
    branch: str
    title: str
    actor: tuple[str, int]
    cancels_previous: bool = False


def _events(rng: random.Random, start: datetime, days: int) -> list[_Event]:
    events: list[_Event] = []
    open_prs: list[tuple[int, str, str, tuple[str, int]]] = []
    next_pr = 412
    for day in range(days):
        date = start + timedelta(days=day)
        count = rng.randint(4, 7) if date.weekday() < 5 else rng.randint(0, 2)
        hours = sorted(rng.uniform(7.5, 19.5) for _ in range(count))
        for hour in hours:
            t = _ticks((date + timedelta(hours=hour)).timestamp()) // _TICK * _TICK
            if open_prs and rng.random() < 0.35:
                number, branch, title, actor = open_prs.pop(rng.randrange(len(open_prs)))
                events.append(_Event(t, "push", None, "main", f"Merge pull request #{number} from {OWNER}/{branch}", actor))
                continue
            if not open_prs and rng.random() < 0.3:
                events.append(_Event(t, "push", None, "main", rng.choice(_COMMIT_MESSAGES), rng.choice(_USERS)))
                continue
            if not open_prs or rng.random() < 0.45:
                topic, subject = _PR_TOPICS[(next_pr - 412) % len(_PR_TOPICS)]
                kind = rng.choice(("feat", "fix", "refactor", "test"))
                pr = (next_pr, f"{kind}/{topic}", subject, rng.choice(_USERS))
                next_pr += 1
                open_prs.append(pr)
            else:
                pr = open_prs[rng.randrange(len(open_prs))]
            number, branch, title, actor = pr
            events.append(_Event(t, "pull_request", number, branch, title, actor))
            if rng.random() < 0.06:  # a quick follow-up push: concurrency cancels the running E2E
                follow = t + _ticks(rng.uniform(150, 480)) // _TICK * _TICK
                events.append(_Event(follow, "pull_request", number, branch, title, actor, cancels_previous=True))
    events.sort(key=lambda e: e.t)
    return events


def _history(rng: random.Random, end: datetime, weeks: int) -> list[_RunSpec]:
    start = end - timedelta(weeks=weeks)
    end_t = _ticks(end.timestamp())
    slow_from, slow_to = (start + timedelta(weeks=3), start + timedelta(weeks=4)) if weeks >= 4 else (end, end)
    runs: list[_RunSpec] = []
    last_e2e: dict[int, _RunSpec] = {}
    for ev in _events(rng, start, weeks * 7):
        sha = f"{rng.getrandbits(160):040x}"
        merge_sha = f"{rng.getrandbits(160):040x}"
        in_slow_week = _ticks(slow_from.timestamp()) <= ev.t < _ticks(slow_to.timestamp())
        for workflow in (E2E_WORKFLOW, UNIT_WORKFLOW):
            ctx = _Ctx(ev.event, sha, merge_sha, ev.pr, ev.branch, slowdown=1.45 if in_slow_week else 1.0)
            created = ev.t + (0 if workflow == E2E_WORKFLOW else _TICK * rng.randint(0, 1))
            spec = _RunSpec(workflow, created, ctx, ev.event, ev.branch, ev.title, ev.actor)
            runs.append(spec)
            if workflow == E2E_WORKFLOW and ev.pr is not None:
                previous = last_e2e.get(ev.pr)
                if ev.cancels_previous and previous is not None:
                    previous.ctx.cancel_at = ev.t + _ticks(rng.uniform(1.5, 4.0))
                last_e2e[ev.pr] = spec
    # the rare incidents, placed on runs that are not cancelled anyway
    last_day = end_t - _ticks(86_400)
    candidates = [r for r in runs if r.workflow == E2E_WORKFLOW and r.ctx.cancel_at is None and r.created < last_day]
    scale = max(1, round(weeks / 2))
    wanted = ["job_timeout"] * scale + ["step_timeout"] * max(1, scale - 1) + ["runner_lost"]
    for spec, scenario in zip(rng.sample(candidates, min(len(wanted), len(candidates))), wanted, strict=False):
        spec.ctx.scenario = scenario
    for spec in runs:
        _simulate_attempts(rng, spec, end_t)
    return runs


def _simulate_attempts(rng: random.Random, spec: _RunSpec, end_t: int) -> None:
    queued = spec.created
    ctx = spec.ctx
    for number in (1, 2, 3):
        job_created = queued + _TICK * rng.randint(1, 3)
        delay = _lognormal(rng, 5, 0.6) + (rng.uniform(60, 240) if rng.random() < 0.03 else 0.0)
        start = job_created + _ticks(delay)
        simulate = _simulate_e2e if spec.workflow == E2E_WORKFLOW else _simulate_unit
        job = simulate(rng, start, ctx)
        if job.end + _ticks(5) >= end_t:  # would still be running at the snapshot: not part of the history
            break
        spec.attempts.append(_Attempt(number, queued, job, job_created))
        if job.conclusion == "success" or job.incident == "cancelled" or number == 3:
            break
        rerun_p = 0.9 if job.incident == "runner_lost" else (0.6 if number == 1 else 0.45)
        if rng.random() >= rerun_p:
            break
        queued = (job.end + _ticks(_lognormal(rng, 900, 0.8))) // _TICK * _TICK
        ctx = _Ctx(ctx.event, ctx.sha, ctx.merge_sha, ctx.pr, ctx.branch, slowdown=ctx.slowdown)


# ---------------------------------------------------------------------------------------- JSON shapes


def _user(login: str, uid: int) -> dict[str, Any]:
    return {
        "avatar_url": f"https://avatars.githubusercontent.com/u/{uid}?v=4",
        "html_url": f"https://github.com/{login}",
        "id": uid,
        "login": login,
        "node_id": f"MDQ6VXNlcj{uid}",
        "site_admin": False,
        "type": "User",
        "url": f"https://api.github.com/users/{login}",
    }


_REPO_ID = 913_482_706
_OWNER_ID = 182_736_451
_WORKFLOW_IDS = {E2E_WORKFLOW: 171_204_331, UNIT_WORKFLOW: 171_204_332}
_WORKFLOW_PATHS = {E2E_WORKFLOW: E2E_FILE, UNIT_WORKFLOW: UNIT_FILE}


def _repo_minimal() -> dict[str, Any]:
    return {
        "description": "Kubernetes AIOps remediation (we-advisor sample)",
        "fork": False,
        "full_name": REPO,
        "html_url": WEB,
        "id": _REPO_ID,
        "name": NAME,
        "node_id": "R_kgDONZ3x0g",
        "owner": {
            "html_url": f"https://github.com/{OWNER}",
            "id": _OWNER_ID,
            "login": OWNER,
            "node_id": "O_kgDOCuRWww",
            "type": "Organization",
            "url": f"https://api.github.com/users/{OWNER}",
        },
        "private": False,
        "url": API,
    }


def _repo_full(created: int) -> dict[str, Any]:
    repo = _repo_minimal()
    repo.update(
        {
            "archived": False,
            "clone_url": f"{WEB}.git",
            "created_at": "2025-03-02T09:14:27Z",
            "default_branch": "main",
            "disabled": False,
            "has_issues": True,
            "language": "Go",
            "license": {"key": "apache-2.0", "name": "Apache License 2.0", "spdx_id": "Apache-2.0"},
            "pushed_at": _api(created),
            "size": 48213,
            "topics": ["kubernetes", "operator", "tekton"],
            "updated_at": _api(created),
            "visibility": "public",
        }
    )
    return repo


def _workflow_json(name: str) -> dict[str, Any]:
    wid = _WORKFLOW_IDS[name]
    path = _WORKFLOW_PATHS[name]
    return {
        "badge_url": f"{WEB}/workflows/{name.replace(' ', '%20')}/badge.svg",
        "created_at": "2025-06-11T08:40:12.000Z",
        "html_url": f"{WEB}/blob/main/{path}",
        "id": wid,
        "name": name,
        "node_id": f"W_kwDONZ3x0s4KNC{wid % 100000:05d}",
        "path": path,
        "state": "active",
        "updated_at": "2026-09-30T14:02:55.000Z",
        "url": f"{API}/actions/workflows/{wid}",
    }


def _run_json(spec: _RunSpec, attempt: _Attempt) -> dict[str, Any]:
    run_id = spec.run_id
    wid = _WORKFLOW_IDS[spec.workflow]
    actor = _user(*spec.actor)
    pulls: list[dict[str, Any]] = []
    if spec.ctx.pr is not None:
        base_repo = {"id": _REPO_ID, "name": NAME, "url": API}
        pulls = [
            {
                "base": {"ref": "main", "repo": base_repo, "sha": spec.ctx.merge_sha[::-1]},
                "head": {"ref": spec.branch, "repo": base_repo, "sha": spec.ctx.sha},
                "id": 2_300_000_000 + spec.ctx.pr,
                "number": spec.ctx.pr,
                "url": f"{API}/pulls/{spec.ctx.pr}",
            }
        ]
    return {
        "actor": actor,
        "artifacts_url": f"{API}/actions/runs/{run_id}/artifacts",
        "cancel_url": f"{API}/actions/runs/{run_id}/cancel",
        "check_suite_id": 40_000_000_000 + run_id % 1_000_000_000 + attempt.number,
        "check_suite_node_id": f"CS_kwDONZ3x0s8AAAAJ{run_id % 10**8:08d}",
        "check_suite_url": f"{API}/check-suites/{40_000_000_000 + run_id % 1_000_000_000 + attempt.number}",
        "conclusion": attempt.job.conclusion,
        "created_at": _api(spec.created),
        "display_title": spec.title,
        "event": spec.event,
        "head_branch": spec.branch,
        "head_commit": {
            "author": {"email": f"{spec.actor[0]}@users.noreply.github.com", "name": spec.actor[0]},
            "committer": {"email": "noreply@github.com", "name": "GitHub"},
            "id": spec.ctx.sha,
            "message": spec.title,
            "timestamp": _api(spec.created - _TICK * 40),
            "tree_id": spec.ctx.sha[::-1],
        },
        "head_repository": _repo_minimal(),
        "head_sha": spec.ctx.sha,
        "html_url": f"{WEB}/actions/runs/{run_id}",
        "id": run_id,
        "jobs_url": f"{API}/actions/runs/{run_id}/jobs",
        "logs_url": f"{API}/actions/runs/{run_id}/logs",
        "name": spec.workflow,
        "node_id": f"WFR_kwLONZ3x0s8AAAAE{run_id % 10**8:08d}",
        "path": _WORKFLOW_PATHS[spec.workflow],
        "previous_attempt_url": f"{API}/actions/runs/{run_id}/attempts/{attempt.number - 1}" if attempt.number > 1 else None,
        "pull_requests": pulls,
        "referenced_workflows": [],
        "repository": _repo_minimal(),
        "rerun_url": f"{API}/actions/runs/{run_id}/rerun",
        "run_attempt": attempt.number,
        "run_number": spec.run_number,
        "run_started_at": _api(attempt.created),
        "status": "completed",
        "triggering_actor": actor,
        "updated_at": _api(attempt.job.end + _TICK * 2),
        "url": f"{API}/actions/runs/{run_id}",
        "workflow_id": wid,
        "workflow_url": f"{API}/actions/workflows/{wid}",
    }


def _job_json(spec: _RunSpec, attempt: _Attempt) -> dict[str, Any]:
    job = attempt.job
    jid = attempt.job_id
    steps = [
        {
            "completed_at": _api(s.end),
            "conclusion": s.conclusion,
            "name": s.name,
            "number": s.number,
            "started_at": _api(s.start),
            "status": "completed",
        }
        for s in job.segs
    ]
    return {
        "check_run_url": f"{API}/check-runs/{jid}",
        "completed_at": _api(job.end),
        "conclusion": job.conclusion,
        "created_at": _api(attempt.job_created),
        "head_branch": spec.branch,
        "head_sha": spec.ctx.sha,
        "html_url": f"{WEB}/actions/runs/{spec.run_id}/job/{jid}",
        "id": jid,
        "labels": ["ubuntu-latest"],
        "name": job.name,
        "node_id": f"CR_kwDONZ3x0s8AAAAM{jid % 10**8:08d}",
        "run_attempt": attempt.number,
        "run_id": spec.run_id,
        "run_url": f"{API}/actions/runs/{spec.run_id}",
        "runner_group_id": 0,
        "runner_group_name": "GitHub Actions",
        "runner_id": attempt.runner_id,
        "runner_name": f"GitHub Actions {attempt.runner_id}",
        "started_at": _api(job.start),
        "status": "completed",
        "steps": steps,
        "url": f"{API}/actions/jobs/{jid}",
        "workflow_name": spec.workflow,
    }


def _annotations_json(spec: _RunSpec, attempt: _Attempt) -> list[dict[str, Any]]:
    return [
        {
            "annotation_level": "failure",
            "blob_href": f"{WEB}/blob/{spec.ctx.sha}/.github",
            "end_column": None,
            "end_line": 1,
            "message": message,
            "path": ".github",
            "raw_details": "",
            "start_column": None,
            "start_line": 1,
            "title": "",
        }
        for message in attempt.job.annotations
    ]


def _log_bytes(job: _JobOut) -> bytes:
    lines = [f"{_stamp(t)} {text}" for seg in job.segs for t, text in seg.lines]
    return ("\ufeff" + "\n".join(lines) + "\n").encode("utf-8")


# ---------------------------------------------------------------------------------- workflow files


E2E_YAML = """\
# E2E tests for the WorkflowExecution controller: Kind + Tekton + PostgreSQL + Redis + Data Storage.
# Setup in test/infrastructure/workflowexecution.go is sequential today (~6.5 min).
name: E2E WorkflowExecution

on:
  push:
    branches: [main]
  pull_request:
    branches: [main]

concurrency:
  group: E2E-${{ github.ref }}
  cancel-in-progress: ${{ github.event_name == 'pull_request' }}

permissions:
  contents: read

jobs:
  e2e:
    runs-on: ubuntu-latest
    timeout-minutes: 30 # guessed: setup ~6.5 min + specs ~5 min, "plenty of slack"
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-go@v5
        with:
          go-version-file: go.mod
          cache: false
      - name: Install Kind and kubectl
        run: |
          curl -fsSL --retry 5 --max-time 120 -o ./kind https://kind.sigs.k8s.io/dl/v0.24.0/kind-linux-amd64
          chmod +x ./kind && sudo mv ./kind /usr/local/bin/kind
          curl -fsSL --retry 5 --max-time 120 -O "https://dl.k8s.io/release/v1.31.0/bin/linux/amd64/kubectl"
          sudo install -m 0755 kubectl /usr/local/bin/kubectl
          go install github.com/onsi/ginkgo/v2/ginkgo@v2.22.0
          kind version && kubectl version --client
      - name: Run E2E tests
        timeout-minutes: 25 # the Tekton waits alone may take 2 x 300s
        env:
          KIND_CLUSTER_NAME: workflowexecution-e2e
          E2E_COVERAGE: false
        run: ginkgo -v --timeout=60m ./test/e2e/workflowexecution/...
"""

UNIT_YAML = """\
# Unit tests for every Go package. No timeout-minutes: the job runs under GitHub's default
# limit of 360 minutes, and go test's own -timeout 10m is the only guard.
name: Unit tests

on:
  push:
    branches: [main]
  pull_request:
    branches: [main]

permissions:
  contents: read

jobs:
  unit:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-go@v5
        with:
          go-version-file: go.mod
          cache: false
      - name: Run go test
        run: |
          go test -timeout 10m ./...
          go test -v -count=1 -run 'TestBuildPipelineRun' ./pkg/workflowexecution/tekton/
"""

CONFIG_TOML = """\
# we-advisor settings for the bundled sample history
repo = "demo/kubernaut"
preset = "kubernaut-e2e"
"""


# ------------------------------------------------------------------------------------------ writer


class _Writer:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.files = 0
        self.bytes = 0

    def raw(self, rel: str, data: bytes) -> None:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        self.files += 1
        self.bytes += len(data)

    def text(self, rel: str, text: str) -> None:
        self.raw(rel, text.encode("utf-8"))

    def json(self, rel: str, obj: Any) -> None:
        self.text(rel, json.dumps(obj, indent=1, sort_keys=True, ensure_ascii=False) + "\n")

    def listing(self, rel: str, key: str, items: list[dict[str, Any]]) -> None:
        """A REST list response, one compact item per line (small on disk, readable in a diff)."""
        body = ",\n".join(json.dumps(item, sort_keys=True, ensure_ascii=False, separators=(",", ":")) for item in items)
        count = f'"total_count": {len(items)}'
        array = f'"{key}": [\n{body}\n]' if items else f'"{key}": []'
        self.text(rel, "{" + (f"{array}, {count}" if key < "total_count" else f"{count}, {array}") + "}\n")

    def gz(self, rel: str, data: bytes) -> None:
        self.raw(rel, gzip.compress(data, compresslevel=9, mtime=0))


def generate_sample(out_dir: Path, *, seed: int = 7, weeks: int = 6, end: datetime = DEFAULT_END) -> SampleSummary:
    """Write the sample export directory to ``out_dir`` (replacing what was there) and summarize it."""
    if weeks < 1:
        raise ValueError("weeks must be at least 1")
    if end.tzinfo is None:
        raise ValueError("end must be timezone-aware (UTC)")
    rng = random.Random(seed)  # noqa: S311 - a simulation, not cryptography
    runs = _history(rng, end.astimezone(UTC), weeks)
    runs = [r for r in runs if r.attempts]

    # ids grow with time, as GitHub's do: runs by creation, jobs by the moment they were queued
    run_id = 19_480_000_000 + rng.randint(0, 99_999)
    numbers = {E2E_WORKFLOW: 1180, UNIT_WORKFLOW: 2311}
    for spec in sorted(runs, key=lambda r: (r.created, r.workflow)):
        run_id += rng.randint(1_500, 60_000)
        spec.run_id = run_id
        numbers[spec.workflow] += 1
        spec.run_number = numbers[spec.workflow]
    job_id = 55_600_000_000 + rng.randint(0, 99_999)
    for _spec, attempt in sorted(((s, a) for s in runs for a in s.attempts), key=lambda p: (p[1].job_created, p[0].run_id)):
        job_id += rng.randint(3, 900)
        attempt.job_id = job_id
        attempt.runner_id = 1_000_000_000 + rng.randint(100, 99_999)

    if out_dir.exists():
        shutil.rmtree(out_dir)
    w = _Writer(out_dir)
    latest = max(r.created for r in runs) if runs else _ticks(end.timestamp())
    w.json("repo.json", _repo_full(latest))
    workflows = [_workflow_json(E2E_WORKFLOW), _workflow_json(UNIT_WORKFLOW)]
    w.json("workflows.json", {"total_count": len(workflows), "workflows": workflows})
    w.text(f"workflow-files/{E2E_FILE}", E2E_YAML)
    w.text(f"workflow-files/{UNIT_FILE}", UNIT_YAML)
    w.text("we-advisor.toml", CONFIG_TOML)

    newest_first = sorted(runs, key=lambda r: r.run_id, reverse=True)
    w.listing("runs.json", "workflow_runs", [_run_json(r, r.attempts[-1]) for r in newest_first])
    incidents: dict[str, int] = {}
    e2e_jobs = tekton = jobs = 0
    for spec in newest_first:
        for attempt in spec.attempts[:-1]:
            w.json(f"attempts/{spec.run_id}-{attempt.number}.json", _run_json(spec, attempt))
        listing = [_job_json(spec, a) for a in sorted(spec.attempts, key=lambda a: a.number, reverse=True)]
        w.listing(f"jobs/{spec.run_id}.json", "jobs", listing)
        for attempt in spec.attempts:
            jobs += 1
            w.gz(f"logs/{attempt.job_id}.txt.gz", _log_bytes(attempt.job))
            if attempt.job.conclusion != "success":
                w.json(f"annotations/{attempt.job_id}.json", _annotations_json(spec, attempt))
            if attempt.job.incident:
                incidents[attempt.job.incident] = incidents.get(attempt.job.incident, 0) + 1
            if spec.workflow == E2E_WORKFLOW:
                e2e_jobs += 1
                tekton += attempt.job.tekton_timeout

    attempts = sum(len(r.attempts) for r in runs)
    incidents = dict(sorted(incidents.items()))
    start = end - timedelta(weeks=weeks)
    readme = (
        "# Sample CI history (generated)\n\n"
        f"A synthetic but realistic history of `{REPO}`, modelled on the WorkflowExecution E2E "
        f"stabilization plan of jordigilh/kubernaut: {len(runs)} workflow runs ({attempts} attempts, {jobs} jobs) of "
        f"\"{E2E_WORKFLOW}\" and \"{UNIT_WORKFLOW}\" from {start:%Y-%m-%d} to {end:%Y-%m-%d}, stored exactly as the "
        "GitHub REST API serves them (runs.json = latest attempts, attempts/ = earlier attempts, jobs/ = jobs of all "
        "attempts, logs/ = gzipped job logs, annotations/ = check-run annotations of jobs that did not succeed, "
        "workflow-files/ = the workflow YAML). Phase durations are drawn from heavy-tailed distributions; the Tekton "
        f"controller wait overran its {TEKTON_WAIT_S} s limit in {tekton} of {e2e_jobs} E2E job attempts, week 4 "
        "pulls Tekton images more slowly, and job attempts ended by "
        + ", ".join(f"{k} ({v})" for k, v in incidents.items())
        + f". It was generated by `python scripts/generate_sample.py --seed {seed} --weeks {weeks}` "
        "(analyzer/sample.py); do not edit it by hand, regenerate it.\n"
    )
    w.text("README.md", readme)
    return SampleSummary(
        out_dir=out_dir,
        runs=len(runs),
        run_attempts=attempts,
        jobs=jobs,
        e2e_jobs=e2e_jobs,
        tekton_timeouts=tekton,
        incidents=incidents,
        files=w.files,
        bytes=w.bytes,
    )
