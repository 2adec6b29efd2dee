"""Labelled failure sets for analyzer.parse.failures / analyzer.model.signatures: generated and real.

* :func:`generated_failures` — job logs made from 18 known causes (Ginkgo assertions in two
  specs, a spec timeout, a suite-setup failure, go and pytest unit tests, two linters, kubectl,
  job timeouts, cancels, a go panic, an OOM kill, …). Every run varies what runs vary: numbers,
  durations, hex ids, UUIDs, pod names, IPs, ports, temp paths, PR numbers, timestamps, the
  amount and content of the output before the failure, and transient error-looking noise
  (klog ``E…`` lines, retries). The cause is known by construction.
* :func:`sample_failures` — the causes of the bundled sample's failed jobs and its rerun counts,
  read from data/sample's raw files by what the sample generator writes.
* :func:`realdata_failures` — failing job logs in ``../shared/realdata`` labelled by hand in
  ``tests/failure_labels.tsv`` (path, evidence line, label, why), read by path.

Both give :class:`Case` records: a name, the excerpt the library extracts, the label, and the
kind/job/step/time facts a store would hold.
"""

from __future__ import annotations

import csv
import gzip
import json
import random
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from analyzer.model.signatures import Failure
from analyzer.parse.failures import Excerpt, extract_excerpt, log_lines

ROOT = Path(__file__).resolve().parents[1]
REALDATA = ROOT.parent / "shared" / "realdata"
LABELS = Path(__file__).with_name("failure_labels.tsv")
T0 = datetime(2026, 3, 2, 8, 0, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Case:
    name: str
    label: str
    excerpt: Excerpt
    kind: str = "failure"
    job: str = "test"
    step: str | None = None
    at: datetime | None = None

    def failure(self, job_id: int, run_id: int | None = None, run_attempt: int = 1) -> Failure:
        return Failure(job_id, run_id or job_id, run_attempt, "CI", self.job, self.step, self.kind, self.at,
                       self.excerpt)  # fmt: skip


# --------------------------------------------------------------------------------------------
# generated


def _hex(r: random.Random, n: int) -> str:
    return "".join(r.choice("0123456789abcdef") for _ in range(n))


def _pod(r: random.Random, name: str) -> str:
    alphabet = "bcdfghjklmnpqrstvwxz2456789"
    return f"{name}-{''.join(r.choice(alphabet) for _ in range(r.choice((8, 9, 10))))}-" + "".join(
        r.choice(alphabet) for _ in range(5)
    )


def _ip(r: random.Random) -> str:
    return f"10.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}"


def _dur(r: random.Random) -> str:
    return f"{r.uniform(0.01, 900):.3f}"


def _ginkgo_summary(r: random.Random, tag: str, spec: str, file: str, pkg: str) -> list[str]:
    total = r.randint(20, 40)
    line = r.randint(40, 400)
    return [
        "", "Summarizing 1 Failure:", f"  [{tag}] {spec}", f"  /home/runner/work/kubernaut/kubernaut/{file}:{line}", "",
        f"Ran {total} of {total + 3} Specs in {_dur(r)} seconds",
        f"FAIL! -- {total - 1} Passed | 1 Failed | 0 Pending | 3 Skipped",
        f"--- FAIL: TestE2E ({_dur(r)}s)", "FAIL", f"FAIL\tgithub.com/jordigilh/kubernaut/{pkg}\t{_dur(r)}s", "FAIL",
    ]  # fmt: skip


def _ginkgo_assert(spec: str, file: str, pkg: str, kind: str) -> Callable[[random.Random], list[str]]:
    def make(r: random.Random) -> list[str]:
        a, b = r.randint(0, 9), r.randint(1, 9)
        return [
            f"  STEP: waiting for {_pod(r, 'controller')} to reconcile @ {T0:%m/%d/%y %H:%M:%S}",
            f"  [FAILED] in [It] - /home/runner/work/kubernaut/kubernaut/{file}:{r.randint(40, 400)} @ 03/02/26",
            f"• [FAILED] [{_dur(r)} seconds]", f"{spec}", "  [FAILED] Expected",
            f"      <{kind}>: {a}", "  to equal", f"      <{kind}>: {b}",
            *_ginkgo_summary(r, "FAIL", spec, file, pkg),
        ]  # fmt: skip

    return make


def _spec_timeout(r: random.Random) -> list[str]:
    spec = "WorkflowExecution lifecycle [It] should complete a workflow within the SLA"
    return [
        f"  STEP: creating WorkflowExecution we-{_hex(r, 8)} in namespace e2e-{r.randint(1000, 9999)}",
        f"• [TIMEDOUT] [{_dur(r)} seconds]", spec,
        "  [TIMEDOUT] A spec timeout occurred", f"  [FAILED] Timed out after {r.uniform(100, 400):.3f}s.",
        "  WorkflowExecution controller pod should become ready", "  Expected", "      <bool>: false", "  to be true",
        *_ginkgo_summary(r, "TIMEDOUT", spec, "test/e2e/workflowexecution/lifecycle_test.go", "test/e2e/workflowexecution"),
    ]  # fmt: skip


def _suite_setup(r: random.Random) -> list[str]:
    return [
        f"[SynchronizedBeforeSuite] [FAILED] [{_dur(r)} seconds]", "[SynchronizedBeforeSuite]",
        f"  [FAILED] Unexpected error: <*errors.errorString | 0xc000{_hex(r, 6)}>:",
        f"      failed to deploy DataStorage: pod {_pod(r, 'datastorage')} not ready: exit status 1",
        f"error: timed out waiting for the condition on pods/{_pod(r, 'datastorage')}",
        *_ginkgo_summary(r, "FAIL", "[SynchronizedBeforeSuite]", "test/e2e/suite_test.go", "test/e2e"),
    ]  # fmt: skip


def _go_unit(r: random.Random) -> list[str]:
    sub = "override"  # another subtest failing would be another failure
    return [
        f"=== RUN   TestParseConfig/{sub}", f"--- FAIL: TestParseConfig ({r.uniform(0, 2):.2f}s)",
        f"    --- FAIL: TestParseConfig/{sub} ({r.uniform(0, 2):.2f}s)",
        f"        config_test.go:{r.randint(30, 90)}: expected timeout {r.randint(1, 60)}s, got {r.randint(61, 600)}s",
        "FAIL", f"FAIL\tgithub.com/acme/widget/pkg/config\t{r.uniform(0, 3):.3f}s",
    ]  # fmt: skip


def _go_unit_b(r: random.Random) -> list[str]:
    return [
        f"--- FAIL: TestReconcileDeletesOrphans ({r.uniform(0, 9):.2f}s)",
        f'    reconcile_test.go:{r.randint(100, 300)}: unexpected error: pods "{_pod(r, "orphan")}" not found',
        "FAIL", f"FAIL\tgithub.com/acme/widget/pkg/controller\t{r.uniform(0, 30):.3f}s",
    ]  # fmt: skip


def _pytest_a(r: random.Random) -> list[str]:
    return [
        "    def test_create_user(client):", f"        response = client.post('/users', json={{'id': {r.randint(1, 10**6)}}})",
        ">       assert response.status_code == 201", f"E       assert {r.choice([500, 502, 422])} == 201",
        f"E        +  where {r.choice([500, 502, 422])} = <Response [{r.choice([500, 502])}]>.status_code", "",
        f"tests/test_api.py:{r.randint(20, 80)}: AssertionError",
        "=========================== short test summary info ============================",
        f"FAILED tests/test_api.py::test_create_user - assert {r.choice([500, 502, 422])} == 201",
        f"= 1 failed, {r.randint(100, 300)} passed, {r.randint(0, 9)} skipped in {r.uniform(5, 90):.2f}s =",
    ]  # fmt: skip


def _pytest_b(r: random.Random) -> list[str]:
    ip, port = _ip(r), r.randint(30000, 32767)
    err = f'(psycopg2.OperationalError) connection to server at "{ip}", port {port} failed: Connection refused'
    return [
        f"E       sqlalchemy.exc.OperationalError: {err}", "",
        f"/tmp/pytest-of-runner/pytest-{r.randint(0, 9)}/test_migration0/conftest.py:{r.randint(10, 50)}: OperationalError",
        f"FAILED tests/test_db.py::test_migration_roundtrip - sqlalchemy.exc.OperationalError: {err}",
        f"= 1 failed, {r.randint(100, 300)} passed in {r.uniform(5, 90):.2f}s =",
    ]  # fmt: skip


def _golangci(r: random.Random) -> list[str]:
    files = r.sample(["reconciler.go", "watcher.go", "status.go"], r.randint(1, 3))
    return [
        *(f"pkg/controller/{f}:{r.randint(10, 500)}:{r.randint(2, 30)}: Error return value of `c.client.Update` is not checked (errcheck)"
          for f in files),
        f'level=error msg="[runner] {len(files)} issues found" duration={r.randint(100, 9000)}ms',
    ]  # fmt: skip


def _ruff(r: random.Random) -> list[str]:
    files = r.sample(["analyzer/api.py", "analyzer/cli.py", "analyzer/report.py"], r.randint(1, 2))
    return [
        *(f"{f}:{r.randint(10, 900)}:121: E501 Line too long ({r.randint(121, 200)} > 120)" for f in files),
        f"Found {len(files)} errors.",
    ]  # fmt: skip


def _kubectl(r: random.Random) -> list[str]:
    return [
        f"+ kubectl wait --for=condition=available deployment/postgresql -n e2e-{r.randint(100, 999)} --timeout={r.choice([120, 300])}s",
        "error: timed out waiting for the condition on deployments/postgresql",
    ]  # fmt: skip


def _npm(r: random.Random) -> list[str]:
    return [
        "npm error code ETARGET", f"npm error notarget No matching version found for left-pad@^{r.randint(2, 9)}.0.0.",
        "npm error notarget In most cases you or one of your dependencies are requesting",
        "npm error notarget a package version that doesn't exist.",
        f"npm error A complete log of this run can be found in: /home/runner/.npm/_logs/{T0:%Y-%m-%dT%H_%M_%S}_{r.randint(100, 999)}Z-debug-0.log",
    ]  # fmt: skip


def _docker_limit(r: random.Random) -> list[str]:
    return [
        f"Unable to find image 'postgres:{r.randint(12, 16)}' locally",
        "docker: Error response from daemon: toomanyrequests: You have reached your pull rate limit. "
        "You may increase the limit by authenticating and upgrading: https://www.docker.com/increase-rate-limit.",
    ]


def _panic(r: random.Random) -> list[str]:
    return [
        "panic: runtime error: invalid memory address or nil pointer dereference",
        f"[signal SIGSEGV: segmentation violation code=0x1 addr=0x{_hex(r, 2)} pc=0x{_hex(r, 6)}]", "",
        f"goroutine {r.randint(1, 400)} [running]:",
        f"github.com/acme/widget/pkg/cache.(*Store).Get(0x0, {{0xc000{_hex(r, 6)}, 0x{_hex(r, 2)}}})",
        f"\t/home/runner/work/widget/widget/pkg/cache/store.go:{r.randint(40, 90)} +0x{_hex(r, 2)}",
        f"FAIL\tgithub.com/acme/widget/pkg/cache\t{r.uniform(0, 5):.3f}s",
    ]  # fmt: skip


def _oom(r: random.Random) -> list[str]:
    return [f"/home/runner/work/_temp/{uuid.UUID(int=r.getrandbits(128))}.sh: line 1: {r.randint(2000, 9000)} Killed"
            f"                  python train.py --epochs {r.randint(1, 50)}"]  # fmt: skip


def _pytest_timeout(r: random.Random) -> list[str]:
    return [
        f"tests/test_sync.py::test_full_sync[{r.choice(['small', 'large'])}] ",
        "+++++++++++++++++++++++++++++++++++ Timeout ++++++++++++++++++++++++++++++++++++",
        f"E   Failed: Timeout (>{r.choice([300, 600])}.0s) from pytest-timeout.",
        f'  File "/home/runner/work/sync/sync/sync/client.py", line {r.randint(100, 300)}, in wait_for_remote',
        "    time.sleep(poll)",
    ]  # fmt: skip


def _curl(r: random.Random) -> list[str]:
    return [f"curl: (28) Failed to connect to {_ip(r)} port {r.randint(1024, 65535)} after {r.randint(1000, 130000)} ms: "
            "Connection timed out"]  # fmt: skip


def _nothing(r: random.Random) -> list[str]:
    return []


# name -> (job, step command, block maker, evidence line, kind)
CAUSES: dict[str, tuple[str, str, Callable[[random.Random], list[str]], str, str]] = {
    "ginkgo-assert-remediation": ("e2e", "make test-e2e", _ginkgo_assert(
        "Remediation lifecycle [It] should create a RemediationRequest when an alert fires",
        "test/e2e/remediation/lifecycle_test.go", "test/e2e/remediation", "int"), "exit1", "failure"),
    "ginkgo-assert-notification": ("e2e", "make test-e2e", _ginkgo_assert(
        "Notification delivery [It] should retry a failed Slack delivery",
        "test/e2e/notification/delivery_test.go", "test/e2e/notification", "int"), "exit1", "failure"),
    "ginkgo-spec-timeout": ("e2e", "make test-e2e", _spec_timeout, "exit1", "test_timeout"),
    "ginkgo-suite-setup": ("e2e", "make test-e2e", _suite_setup, "exit1", "tool_timeout"),
    "go-unit-config": ("unit", "go test ./...", _go_unit, "exit1", "failure"),
    "go-unit-reconcile": ("unit", "go test ./...", _go_unit_b, "exit1", "failure"),
    "pytest-create-user": ("pytest", "pytest -q", _pytest_a, "exit1", "failure"),
    "pytest-db-refused": ("pytest", "pytest -q", _pytest_b, "exit1", "failure"),
    "golangci-errcheck": ("lint", "golangci-lint run", _golangci, "exit1", "failure"),
    "ruff-e501": ("lint", "ruff check .", _ruff, "exit1", "failure"),
    "kubectl-wait-postgres": ("e2e", "./hack/deploy.sh", _kubectl, "exit1", "tool_timeout"),
    "job-timeout": ("e2e", "make test-e2e", _nothing, "job_timeout", "job_timeout"),
    "cancelled": ("unit", "go test ./...", _nothing, "cancel", "cancelled"),
    "npm-etarget": ("build", "npm ci", _npm, "exit1", "failure"),
    "docker-rate-limit": ("e2e", "docker run --rm postgres", _docker_limit, "exit125", "failure"),
    "go-panic-nil": ("unit", "go test ./...", _panic, "exit1", "failure"),
    "oom-killed": ("train", "python train.py", _oom, "exit137", "failure"),
    "pytest-timeout": ("pytest", "pytest -q", _pytest_timeout, "exit1", "tool_timeout"),
    "curl-connect-timeout": ("deploy", "./deploy.sh", _curl, "exit28", "failure"),
}  # fmt: skip


def _noise(r: random.Random) -> str:
    """One line of ordinary output, with the ids and numbers every run has."""
    k = r.randrange(9)
    if k == 0:
        return f"Downloading https://files.pythonhosted.org/packages/{_hex(r, 2)}/{_hex(r, 2)}/pkg_{r.choice('abcdefgh')}-{r.randint(1, 9)}.{r.randint(0, 30)}.whl ({r.randint(10, 900)} kB)"
    if k == 1:
        return f"[{T0 + timedelta(seconds=r.randint(0, 9999)):%H:%M:%S}] INFO request id={uuid.UUID(int=r.getrandbits(128))} took {r.randint(1, 900)}ms"
    if k == 2:
        return f"I0302 {r.randint(10, 23)}:{r.randint(10, 59)}:{r.randint(10, 59)}.{r.randint(100000, 999999)}   {r.randint(1000, 99999)} controller.go:{r.randint(50, 500)}] Reconciling {_pod(r, r.choice(['web', 'api', 'worker']))}"
    if k == 3:
        return f"ok  \tgithub.com/acme/widget/pkg/{r.choice(['api', 'store', 'util', 'auth'])}\t{r.uniform(0, 20):.3f}s"
    if k == 4:
        return f"PASS tests/{r.choice(['a', 'b', 'c', 'd'])}_{r.randint(1, 30)}.test.ts ({r.uniform(0, 9):.2f} s)"
    if k == 5:
        return f"deployment.apps/{r.choice(['api', 'web', 'redis'])} condition met"
    if k == 6:
        return f"Pulling fs layer {_hex(r, 12)}"
    if k == 7:
        return f"  ✓ {r.choice(['renders', 'loads', 'saves', 'parses'])} the {r.choice(['page', 'form', 'list', 'user'])} ({r.randint(1, 900)} ms)"
    return f"Step {r.randint(1, 20)}/20 : RUN make build-{r.randint(1, 9)} PR #{r.randint(100, 9999)}"


def _transient(r: random.Random) -> str:
    """An error-looking line that is not the cause: retries and controller noise."""
    if r.random() < 0.5:
        return (f"E0302 {r.randint(10, 23)}:{r.randint(10, 59)}:{r.randint(10, 59)}.{r.randint(100000, 999999)}   "
                f"{r.randint(1000, 99999)} reflector.go:{r.randint(100, 200)}] failed to watch *v1.Pod: Get "
                f'"https://{_ip(r)}:443/api/v1/pods?watch=true": dial tcp {_ip(r)}:443: connect: connection refused')  # fmt: skip
    return f"Error: transient network error talking to {_ip(r)}:{r.randint(1024, 65535)}, retrying in {r.randint(1, 30)}s"


def generated_log(cause: str, r: random.Random, at: datetime) -> tuple[list[str], int]:
    """A raw job log (lines, with timestamps, sometimes BOM/CRLF/ANSI) and its evidence line number."""
    _job, command, block, ending, _kind = CAUSES[cause]
    body = [f"Current runner version: '2.3{r.randint(10, 30)}.0'", f"Runner name: 'GitHub Actions {r.randint(1, 999)}'",
            f"##[group]Run {command}", f"\x1b[36;1m{command}\x1b[0m", "shell: /usr/bin/bash -e {0}", "##[endgroup]"]  # fmt: skip
    body += [_noise(r) for _ in range(r.randint(5, 120))]
    if r.random() < 0.4:
        body.insert(r.randint(6, len(body)), _transient(r))
    lines = block(r)
    if lines and r.random() < 0.3:  # output interleaved with the failure
        lines.insert(r.randint(0, len(lines)), _noise(r))
    body += lines
    if ending == "job_timeout":
        body.append(f"##[error]The job running on runner GitHub Actions {r.randint(1, 999)} has exceeded the maximum execution time of {r.choice([30, 60])} minutes.")  # fmt: skip
    elif ending == "cancel":
        body.append("##[error]The operation was canceled.")
    else:
        body.append(f"##[error]Process completed with exit code {ending.removeprefix('exit')}.")
    evidence = len(body)
    body += ["Post job cleanup.", "Cleaning up orphan processes"]
    out = []
    for k, line in enumerate(body):
        stamp = (at + timedelta(milliseconds=37 * k)).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"
        colour = "\x1b[31m" if line.startswith(("FAIL", "E ", "panic")) and r.random() < 0.5 else ""
        out.append(f"{stamp} {colour}{line}{chr(27) + '[0m' if colour else ''}")
    if r.random() < 0.5:
        out[0] = "\ufeff" + out[0]
    if r.random() < 0.3:
        out = [line + "\r" for line in out]
    return out, evidence


def generated_failures(seed: int, runs_per_cause: int = 8, causes: list[str] | None = None) -> list[Case]:
    """``runs_per_cause`` failed jobs of each cause (all causes by default), over four weeks."""
    r = random.Random(seed)
    cases = []
    for cause in causes or list(CAUSES):
        for k in range(runs_per_cause):
            at = T0 + timedelta(hours=r.randint(0, 24 * 28))
            lines, evidence = generated_log(cause, r, at)
            job, command, _block, _ending, kind = CAUSES[cause]
            cases.append(Case(f"{cause}#{k}", cause, extract_excerpt(lines, evidence), kind, job, f"Run {command}", at))
    r.shuffle(cases)
    return cases


# --------------------------------------------------------------------------------------------
# real


def realdata_failures(root: Path = REALDATA) -> list[Case]:
    """The hand-labelled real failing logs (empty when ``root`` is absent)."""
    if not root.is_dir():
        return []
    cases = []
    with LABELS.open(encoding="utf-8") as handle:
        for row in csv.DictReader((line for line in handle if not line.startswith("#")), delimiter="\t"):
            lines = log_lines((root / row["path"]).read_bytes())
            excerpt = extract_excerpt(lines, int(row["evidence_line"]))
            cases.append(Case(row["path"], row["label"], excerpt))
    return cases


# --------------------------------------------------------------------------------------------
# the bundled sample


def sample_failures(sample: Path) -> tuple[dict[int, str], dict[tuple[str, str], list[int]]]:
    """The bundled sample's failures, from its raw files alone (not through we-advisor): each failed
    job attempt's cause (job id -> label), read from its log and annotations by what the generator
    (analyzer/demo/sample) writes, and per (workflow, job) the failed attempts, those rerun, and
    those that passed on the rerun. Cancelled attempts are not failures."""
    jobs = [j for path in sorted((sample / "jobs").glob("*.json")) for j in json.loads(path.read_text())["jobs"]]
    notes = {int(p.stem): " ".join(n["message"] for n in json.loads(p.read_text())) for p in (sample / "annotations").glob("*.json")}
    causes: dict[int, str] = {}
    for job in jobs:
        note = notes.get(job["id"], "")
        if job["conclusion"] == "success" or "Canceling since" in note:
            continue
        log = gzip.decompress((sample / "logs" / f"{job['id']}.txt.gz").read_bytes()).decode()
        spec = re.search(r"\n\S+ +\[FAIL\] (.+)\n", log)
        unit = re.search(r"--- FAIL: (\w+).*\n.*\n.*\n\S+ FAIL\t(\S+)\t", log)
        rules = [
            ("job timeout", "maximum execution time" in note), ("step timeout", "has timed out after" in log),
            ("runner lost", "shutdown signal" in log), ("go test hang", "panic: test timed out" in log),
            ("tekton wait", "condition on deployments/tekton-pipelines-controller" in log),
            ("data storage wait", "condition on deployments/datastorage" in log),
            ("controller wait", "controller pod should become ready" in log),
            (f"spec {spec and spec[1]}", spec is not None), (f"unit {unit and unit[2]} {unit and unit[1]}", unit is not None),
        ]  # fmt: skip
        causes[job["id"]] = next(name for name, hit in rules if hit)
    runs: dict[tuple[str, str, int], dict[int, dict[str, Any]]] = {}
    for job in jobs:
        runs.setdefault((job["workflow_name"], job["name"], job["run_id"]), {})[job["run_attempt"]] = job
    reruns: dict[tuple[str, str], list[int]] = {}
    for (workflow, name, _), attempts in runs.items():
        tally = reruns.setdefault((workflow, name), [0, 0, 0])
        order = sorted(attempts)
        for k, number in enumerate(order):
            if attempts[number]["id"] in causes:
                tally[0] += 1
                if k + 1 < len(order):
                    tally[1] += 1
                    tally[2] += attempts[order[k + 1]]["conclusion"] == "success"
    return causes, reruns
