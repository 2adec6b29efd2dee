"""The export folder: workflow files, config, README and every JSON and log file, written deterministically."""

from __future__ import annotations

import gzip
import json
import random
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from analyzer.demo.sample.history import plan_history
from analyzer.demo.sample.scenario import (
    DEFAULT_END,
    E2E_FILE,
    E2E_WORKFLOW,
    REPO,
    TEKTON_WAIT_S,
    UNIT_FILE,
    UNIT_WORKFLOW,
    SampleSummary,
)
from analyzer.demo.sample.shapes import annotations_json, job_json, log_bytes, repo_full, run_json, workflow_json
from analyzer.demo.sample.text import to_ticks

# ---------------------------------------------------------------------------------- workflow files


_ON_MAIN = """\
on:
  push:
    branches: [main]
  pull_request:
    branches: [main]
"""
_CHECKOUT_AND_GO = """\
      - uses: actions/checkout@v4
      - uses: actions/setup-go@v5
        with:
          go-version-file: go.mod
          cache: false
"""

E2E_YAML = (
    """\
# E2E tests for the WorkflowExecution controller: Kind + Tekton + PostgreSQL + Redis + Data Storage.
# Setup in test/infrastructure/workflowexecution.go is sequential today (~6.5 min).
name: E2E WorkflowExecution

"""
    + _ON_MAIN
    + """
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
"""
    + _CHECKOUT_AND_GO
    + """      - name: Install Kind and kubectl
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
)

UNIT_YAML = (
    """\
# Unit tests for every Go package. No timeout-minutes: the job runs under GitHub's default
# limit of 360 minutes, and go test's own -timeout 10m is the only guard.
name: Unit tests

"""
    + _ON_MAIN
    + """
permissions:
  contents: read

jobs:
  unit:
    runs-on: ubuntu-latest
    steps:
"""
    + _CHECKOUT_AND_GO
    + """      - name: Run go test
        run: |
          go test -timeout 10m ./...
          go test -v -count=1 -run 'TestBuildPipelineRun' ./pkg/workflowexecution/tekton/
"""
)

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
    runs = plan_history(rng, end.astimezone(UTC), weeks)
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
    latest = max(r.created for r in runs) if runs else to_ticks(end.timestamp())
    w.json("repo.json", repo_full(latest))
    workflows = [workflow_json(E2E_WORKFLOW), workflow_json(UNIT_WORKFLOW)]
    w.json("workflows.json", {"total_count": len(workflows), "workflows": workflows})
    w.text(f"workflow-files/{E2E_FILE}", E2E_YAML)
    w.text(f"workflow-files/{UNIT_FILE}", UNIT_YAML)
    w.text("we-advisor.toml", CONFIG_TOML)

    newest_first = sorted(runs, key=lambda r: r.run_id, reverse=True)
    w.listing("runs.json", "workflow_runs", [run_json(r, r.attempts[-1]) for r in newest_first])
    incidents: dict[str, int] = {}
    e2e_jobs = tekton = jobs = 0
    for spec in newest_first:
        for attempt in spec.attempts[:-1]:
            w.json(f"attempts/{spec.run_id}-{attempt.number}.json", run_json(spec, attempt))
        listing = [job_json(spec, a) for a in sorted(spec.attempts, key=lambda a: a.number, reverse=True)]
        w.listing(f"jobs/{spec.run_id}.json", "jobs", listing)
        for attempt in spec.attempts:
            jobs += 1
            w.gz(f"logs/{attempt.job_id}.txt.gz", log_bytes(attempt.job))
            if attempt.job.conclusion != "success":
                w.json(f"annotations/{attempt.job_id}.json", annotations_json(spec, attempt))
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
        "(analyzer/demo/sample/); do not edit it by hand, regenerate it.\n"
    )
    w.text("README.md", readme)
    return SampleSummary(out_dir, len(runs), attempts, jobs, e2e_jobs, tekton, incidents, w.files, w.bytes)
