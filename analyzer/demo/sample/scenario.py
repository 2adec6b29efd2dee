"""The project the sample models: its repository, workflows, limits, commands, people and specs."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

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

TICK = 10_000_000  # ticks per second (GitHub log timestamps carry 7 fractional digits)
SUITE = f"{WORKDIR}/test/e2e/workflowexecution/workflowexecution_e2e_suite_test.go"
E2E_CMD = "ginkgo -v --timeout=60m ./test/e2e/workflowexecution/..."
INSTALL_CMDS = (
    "curl -fsSL --retry 5 --max-time 120 -o ./kind https://kind.sigs.k8s.io/dl/v0.24.0/kind-linux-amd64",
    "chmod +x ./kind && sudo mv ./kind /usr/local/bin/kind",
    'curl -fsSL --retry 5 --max-time 120 -O "https://dl.k8s.io/release/v1.31.0/bin/linux/amd64/kubectl"',
    "sudo install -m 0755 kubectl /usr/local/bin/kubectl",
    "go install github.com/onsi/ginkgo/v2/ginkgo@v2.22.0",
    "kind version && kubectl version --client",
)
UNIT_CMDS = (
    "go test -timeout 10m ./...",
    "go test -v -count=1 -run 'TestBuildPipelineRun' ./pkg/workflowexecution/tekton/",
)
UNIT_PACKAGES = (
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
HANGING_PACKAGE = "pkg/workflowexecution/controller"
SPECS = (  # (container, text, file, line): the 12 specs that run
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
PENDING = (
    ("WorkflowExecution Resource Locking", "BR-WE-011 should honour the exponential backoff cap", "02_locking_test.go", 160),
    ("WorkflowExecution Bundles", "BR-WE-016 should verify bundle signatures", "05_bundles_test.go", 90),
    ("WorkflowExecution Failure Handling", "BR-WE-014 should surface a skipped execution reason", "04_failure_test.go", 170),
)
USERS = (("jgil", 5120001), ("mbarrett", 5120002), ("sofia-dev", 5120003), ("akumar", 5120004))
PR_TOPICS = (  # (branch, title)
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
COMMIT_MESSAGES = (
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
