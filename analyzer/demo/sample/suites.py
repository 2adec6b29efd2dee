"""The test steps: the E2E suite (Kind, Tekton, PostgreSQL, Redis, Data Storage, controller) and go test."""

from __future__ import annotations

from dataclasses import dataclass

from analyzer.demo.sample.scenario import (
    CONTROLLER_WAIT_S,
    DEPLOY_WAIT_S,
    E2E_CMD,
    GO_TEST_TIMEOUT_S,
    GO_VERSION,
    HANGING_PACKAGE,
    PENDING,
    REPO,
    SPECS,
    SUITE,
    TEKTON_WAIT_S,
    TICK,
    UNIT_CMDS,
    UNIT_PACKAGES,
    WORKDIR,
)
from analyzer.demo.sample.setup import log_run_header
from analyzer.demo.sample.text import Ctx, Log, draw_lognormal, go_duration_text, to_ticks

# ------------------------------------------------------------------------------------ E2E step log


@dataclass
class E2EResult:
    outcome: str  # success | failure
    incident: str | None  # tool_timeout | test_timeout | failure (natural cause, before any cut)
    tekton_timeout: bool


def _kubectl_wait(log: Log, namespace: str, deployment: str, limit: int, true_s: float) -> bool:
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


def _before_suite_failed(log: Log, suite_start: int, bs_start: int, line: int, message: str) -> None:
    log.put(f"  [FAILED] in [SynchronizedBeforeSuite] - {SUITE}:{line} @ {{at}}")
    log.put(f"[SynchronizedBeforeSuite] [FAILED] [{(log.t - bs_start) / TICK:.3f} seconds]")
    log.many(
        (
            "[SynchronizedBeforeSuite] ",
            f"{SUITE}:78",
            "",
            "  [FAILED] Unexpected error:",
            f"      <*fmt.wrapError | 0xc000{log.hex(6)}>: ",
            f"      {message}",
            "  occurred",
            f"  In [SynchronizedBeforeSuite] at: {SUITE}:{line} @ {{at}}",
            "------------------------------",
        )
    )
    _after_suite(log)
    log.many(("", "Summarizing 1 Failure:", "  [FAIL] [SynchronizedBeforeSuite] ", f"  {SUITE}:78", ""))
    total = (log.t - suite_start) / TICK
    log.many(
        (
            f"Ran 0 of {len(SPECS) + len(PENDING)} Specs in {total:.3f} seconds",
            "FAIL! -- A BeforeSuite node failed so all tests were skipped.",
            f"--- FAIL: TestWorkflowExecutionE2E ({total:.2f}s)",
            "FAIL",
        )
    )


def _after_suite(log: Log) -> None:
    start = log.t
    log.many(("[SynchronizedAfterSuite] ", f"{SUITE}:171"))
    log.put("  STEP: Tearing down WorkflowExecution E2E infrastructure @ {at}")
    log.put("🗑️  Deleting Kind cluster workflowexecution-e2e...")
    log.put('Deleting cluster "workflowexecution-e2e" ...', gap_s=0.05)
    log.put('Deleted nodes: ["workflowexecution-e2e-worker" "workflowexecution-e2e-control-plane"]', gap_s=draw_lognormal(log.rng, 5.5, 0.25))
    log.put(f"[SynchronizedAfterSuite] PASSED [{(log.t - start) / TICK + 0.05:.3f} seconds]")
    log.put("------------------------------")


def log_e2e_step(log: Log, ctx: Ctx, *, hang: bool) -> E2EResult:
    """The E2E step's output; ``hang`` makes a spec hang until something kills the step.

    A run picked for a rare incident (``ctx.scenario``) gets a healthy setup, so that incident is what ends it.
    """
    healthy = bool(ctx.scenario)
    rng = log.rng
    log_run_header(log, (E2E_CMD,), ("KIND_CLUSTER_NAME: workflowexecution-e2e", "E2E_COVERAGE: false"))
    log.wait(draw_lognormal(rng, 28, 0.25))  # ginkgo compiles the suite first
    suite_start = log.t
    title = f"Running Suite: WorkflowExecution E2E Suite - {WORKDIR}/test/e2e/workflowexecution"
    log.put(title)
    log.many(("=" * len(title), f"Random Seed: {rng.randint(1_760_000_000, 1_769_999_999)}", ""))
    log.many((f"Will run {len(SPECS)} of {len(SPECS) + len(PENDING)} specs", "------------------------------"))
    bs_start = log.t
    log.many(("[SynchronizedBeforeSuite] ", f"{SUITE}:78"))
    log.put("  STEP: Setting up WorkflowExecution E2E infrastructure (sequential) @ {at}")

    # kind cluster (+ CRDs)
    log.put("🚀 Creating Kind cluster workflowexecution-e2e...")
    log.put('Creating cluster "workflowexecution-e2e" ...', gap_s=0.2)
    kind_s = draw_lognormal(rng, 46, 0.2) * (3.0 if rng.random() < 0.04 else 1.0)
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
    log.put("customresourcedefinition.apiextensions.k8s.io/workflowexecutions.kubernaut.ai created", gap_s=draw_lognormal(rng, 2.5, 0.3))
    log.put("namespace/kubernaut-system created", gap_s=0.4)

    # Tekton
    slow = ctx.slowdown
    log.put("📦 Installing Tekton Pipelines v1.4.0...")
    log.put("+ kubectl apply -f https://storage.googleapis.com/tekton-releases/pipeline/previous/v1.4.0/release.yaml")
    log.put("namespace/tekton-pipelines created", gap_s=draw_lognormal(rng, 5, 0.4) * slow)
    log.many(
        (
            "clusterrole.rbac.authorization.k8s.io/tekton-pipelines-controller-cluster-access created",
            "serviceaccount/tekton-pipelines-controller created",
            "customresourcedefinition.apiextensions.k8s.io/pipelineruns.tekton.dev created",
            "customresourcedefinition.apiextensions.k8s.io/taskruns.tekton.dev created",
            "configmap/config-defaults created",
        )
    )
    log.put("deployment.apps/tekton-pipelines-controller created", gap_s=draw_lognormal(rng, 2.5, 0.4))
    log.put("service/tekton-pipelines-controller created")
    log.put("deployment.apps/tekton-pipelines-webhook created")
    log.put("service/tekton-pipelines-webhook created")
    log.put("⏳ Waiting for Tekton Pipelines controller to be ready...", gap_s=0.3)
    if not healthy and rng.random() < 0.25:  # gcr.io / ghcr.io image pulls: a slow mode beside the usual one
        ctrl_s = draw_lognormal(rng, 270, 0.38) * slow
    else:
        ctrl_s = draw_lognormal(rng, 105, 0.32) * slow
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
    hook_s = draw_lognormal(rng, 9, 0.6) * slow
    _kubectl_wait(log, "tekton-pipelines", "tekton-pipelines-webhook", TEKTON_WAIT_S, min(hook_s, TEKTON_WAIT_S - 1))
    log.put("✅ Tekton Pipelines ready")

    # PostgreSQL, Redis
    for icon, label, name, median, objects in (
        ("🐘", "PostgreSQL", "postgresql", 27, ("configmap/postgresql-init created", "secret/postgresql-secret created")),
        ("🔴", "Redis", "redis", 16, ()),
    ):
        log.put(f"{icon} Deploying {label}...")
        log.many((*objects, f"service/{name} created"))
        log.put(f"deployment.apps/{name} created", gap_s=draw_lognormal(rng, 1.2, 0.3))
        _kubectl_wait(log, "kubernaut-system", name, DEPLOY_WAIT_S, min(draw_lognormal(rng, median, 0.3), DEPLOY_WAIT_S - 5))
        log.put(f"✅ {label} ready")

    # Data Storage: build, load, deploy, wait
    tag = f"workflowexecution-{log.hex(8)}"
    log.put("💾 Building and deploying Data Storage...")
    log.put(f"🔨 Building Data Storage image: localhost/datastorage:{tag}")
    log.put("[1/2] STEP 1/9: FROM registry.access.redhat.com/ubi9/go-toolset:1.23 AS builder", gap_s=0.6)
    log.put("[1/2] STEP 8/9: RUN CGO_ENABLED=0 go build -o /datastorage ./cmd/datastorage", gap_s=draw_lognormal(rng, 6, 0.3))
    log.put("[2/2] STEP 1/5: FROM registry.access.redhat.com/ubi9/ubi-minimal:latest", gap_s=draw_lognormal(rng, 26, 0.25))
    log.put(f"[2/2] COMMIT localhost/datastorage:{tag}", gap_s=draw_lognormal(rng, 3, 0.3))
    log.put(f"✅ Build succeeded: localhost/datastorage:{tag}", gap_s=0.4)
    log.put(f"📦 Loading Data Storage image into Kind: localhost/datastorage:{tag}")
    log.put(f'Image: "localhost/datastorage:{tag}" with ID "sha256:{log.hex(64)}" not yet present on node "workflowexecution-e2e-worker", loading...', gap_s=3.5)
    log.put("✅ Load succeeded", gap_s=draw_lognormal(rng, 15, 0.3))
    log.put("🚀 Deploying Data Storage with config + secrets...")
    log.many(
        (
            "configmap/datastorage-config created",
            "secret/datastorage-db-secret created",
            "service/datastorage created",
        )
    )
    log.put("deployment.apps/datastorage created", gap_s=draw_lognormal(rng, 2.5, 0.3))
    log.put("⏳ Waiting for Data Storage to be ready...")
    ds_s = draw_lognormal(rng, 13, 0.5) if healthy or rng.random() > 0.012 else DEPLOY_WAIT_S + 30.0
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
    mig = draw_lognormal(rng, 13, 0.25)
    log.put("CREATE TABLE", gap_s=mig * 0.4)
    log.many(("CREATE TABLE", "CREATE TABLE", "CREATE TABLE"))
    log.put("CREATE INDEX", gap_s=mig * 0.5)
    log.put("✅ Migrations applied successfully", gap_s=mig * 0.1)

    # controller: build, save, load, deploy, wait
    ctag = f"workflowexecution-controller-{log.hex(8)}"
    log.put(f"🔨 Building E2E image: kubernaut/workflowexecution-controller:{ctag}")
    log.put("   Simple build (no -a, -installsuffix, -extldflags)")
    log.put(f"[2/2] COMMIT kubernaut/workflowexecution-controller:{ctag}", gap_s=draw_lognormal(rng, 33, 0.25))
    log.put(f"💾 Saving image to tarball: /tmp/{ctag}.tar", gap_s=0.3)
    log.put("📦 Loading controller image into Kind...", gap_s=draw_lognormal(rng, 8, 0.3))
    log.put("✅ Controller image built and loaded", gap_s=draw_lognormal(rng, 10, 0.3))
    log.put("🚀 Deploying WorkflowExecution controller...")
    log.many(
        (
            "serviceaccount/workflowexecution-controller created",
            "clusterrole.rbac.authorization.k8s.io/workflowexecution-controller-role created",
            "clusterrolebinding.rbac.authorization.k8s.io/workflowexecution-controller-rolebinding created",
        )
    )
    log.put("deployment.apps/workflowexecution-controller created", gap_s=draw_lognormal(rng, 3, 0.3))
    log.put("⏳ Waiting for WorkflowExecution controller pod to be ready...")
    if not healthy and rng.random() < 0.025:  # CrashLoopBackOff: the Eventually gives up
        log.put(f"[FAILED] Timed out after {CONTROLLER_WAIT_S + rng.uniform(0.0, 0.004):.3f}s.", gap_s=CONTROLLER_WAIT_S + rng.uniform(0.0, 0.004))
        log.many(("WorkflowExecution controller pod should become ready", "Expected", "    <bool>: false", "to be true", ""))
        log.put(f"Pod workflowexecution-controller-6848f4cbdb-{log.hex(5)}: Phase=Running")
        _before_suite_failed(log, suite_start, bs_start, 141, "WorkflowExecution controller pod should become ready")
        return _finish(log, suite_start, True, "test_timeout")
    log.put("✅ WorkflowExecution controller pod ready", gap_s=draw_lognormal(rng, 15, 0.6))
    log.put("✅ WorkflowExecution E2E cluster ready!")
    log.put(f"[SynchronizedBeforeSuite] PASSED [{(log.t - bs_start) / TICK:.3f} seconds]")
    log.put("------------------------------")

    # specs
    hang_at = rng.randrange(3, len(SPECS)) if hang else -1
    flaky = rng.randrange(len(SPECS)) if not healthy and rng.random() < 0.035 else -1
    pending = {3: PENDING[0], 8: PENDING[1], 11: PENDING[2]}
    for i, (container, text, file, line) in enumerate(SPECS):
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
            return E2EResult("failure", None, False)
        spec_s = draw_lognormal(rng, 17, 0.45)
        if i == flaky:
            log.wait(spec_s)
            log.put(f"  [FAILED] in [It] - {path}:{line + 21} @ {{at}}")
            log.put(f"• [FAILED] [{(log.t - start) / TICK:.3f} seconds]")
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
        log.put(f"• [{(log.t - start) / TICK:.3f} seconds]", gap_s=0.002)
        log.put("------------------------------")
    _after_suite(log)
    total = (log.t - suite_start) / TICK
    n, m = len(SPECS), len(SPECS) + len(PENDING)
    if flaky >= 0:
        container, text, file, line = SPECS[flaky]
        log.many(
            (
                "",
                "Summarizing 1 Failure:",
                f"  [FAIL] {container} [It] {text}",
                f"  {WORKDIR}/test/e2e/workflowexecution/{file}:{line + 21}",
                "",
                f"Ran {n} of {m} Specs in {total:.3f} seconds",
                f"FAIL! -- {n - 1} Passed | 1 Failed | {len(PENDING)} Pending | 0 Skipped",
                f"--- FAIL: TestWorkflowExecutionE2E ({total:.2f}s)",
                "FAIL",
            )
        )
        return _finish(log, suite_start, True, "failure")
    log.many(
        (
            f"Ran {n} of {m} Specs in {total:.3f} seconds",
            f"SUCCESS! -- {n} Passed | 0 Failed | {len(PENDING)} Pending | 0 Skipped",
            "PASS",
        )
    )
    return _finish(log, suite_start, False, None)


def _finish(log: Log, suite_start: int, failed: bool, incident: str | None, *, tekton: bool = False) -> E2EResult:
    log.put("", gap_s=0.4)
    log.put(f"Ginkgo ran 1 suite in {go_duration_text(log.t - suite_start + to_ticks(28))}")
    log.put("")
    if failed:
        log.put("Test Suite Failed")
        log.put("##[error]Process completed with exit code 1.", gap_s=0.02)
        return E2EResult("failure", incident, tekton)
    log.put("Test Suite Passed")
    return E2EResult("success", None, False)


# ----------------------------------------------------------------------------------- unit step log


def log_unit_step(log: Log) -> tuple[str, str | None]:
    rng = log.rng
    log_run_header(log, UNIT_CMDS)
    for module in ("sigs.k8s.io/controller-runtime v0.19.3", "k8s.io/client-go v0.31.3", "github.com/tektoncd/pipeline v1.4.0"):
        log.put(f"go: downloading {module}", gap_s=draw_lognormal(rng, 0.8, 0.5))
    log.wait(draw_lognormal(rng, 35, 0.25))  # compiling
    mode = rng.random()
    hang = mode < 0.03
    broken = 0.03 <= mode < 0.06
    test_start = log.t
    failed_pkg = rng.choice(UNIT_PACKAGES) if broken else ""
    for pkg in UNIT_PACKAGES:
        if hang and pkg == HANGING_PACKAGE:
            continue
        elapsed = draw_lognormal(rng, 4.0, 0.9)
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
        log.t = max(log.t, test_start + to_ticks(GO_TEST_TIMEOUT_S + rng.uniform(0.05, 0.4)))
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
                f"FAIL\tgithub.com/{REPO}/{HANGING_PACKAGE}\t{(log.t - test_start) / TICK:.3f}s",
                "FAIL",
            )
        )
        log.put("##[error]Process completed with exit code 1.", gap_s=0.03)
        return "failure", "tool_timeout"
    if broken:
        log.put("FAIL")
        log.put("##[error]Process completed with exit code 1.", gap_s=0.03)
        return "failure", "failure"
    log.put("=== RUN   TestBuildPipelineRun", gap_s=draw_lognormal(rng, 6, 0.3))
    for case in ("Params", "Workspaces", "ServiceAccount"):
        log.put(f"=== RUN   TestBuildPipelineRun/{case}")
    sub = [draw_lognormal(rng, 0.4, 0.8) for _ in range(3)]
    log.put(f"--- PASS: TestBuildPipelineRun ({sum(sub):.2f}s)", gap_s=sum(sub))
    for case, s in zip(("Params", "Workspaces", "ServiceAccount"), sub, strict=True):
        log.put(f"    --- PASS: TestBuildPipelineRun/{case} ({s:.2f}s)")
    log.put("PASS")
    log.put(f"ok  \tgithub.com/{REPO}/pkg/workflowexecution/tekton\t{sum(sub) + 0.31:.3f}s", gap_s=0.2)
    return "success", None


# ------------------------------------------------------------------------------------ job assembly
