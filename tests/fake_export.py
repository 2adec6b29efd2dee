"""Export folders (the layout of data/sample/, in GitHub's REST shapes) for the fake GitHub to serve.

``build_export`` writes a small, varied, deterministic history; ``tests/fake_github.py`` serves it.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any


def iso_time(value: datetime) -> str:
    """A time as GitHub writes it: ``2026-11-20T06:17:00Z``."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


# -- a generated export folder -----------------------------------------------------------------

REPO_NAME = "acme/widgets"


def build_export(
    folder: Path, *, runs: int = 40, jobs_per_run: int = 3, seed: int = 1, end: datetime | None = None,
    big_run_jobs: int = 0,
) -> Path:  # fmt: skip
    """A small, varied history: two workflows, two branches, reruns, failures with annotations,
    a timed-out job, a skipped job, a job without a log; one run with ``big_run_jobs`` jobs (pages)."""
    rng = random.Random(seed)
    end = end or datetime(2026, 11, 20, tzinfo=UTC)
    folder.mkdir(parents=True, exist_ok=True)
    for sub in ("attempts", "jobs", "logs", "annotations", "workflow-files/.github/workflows"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    owner, name = REPO_NAME.split("/")
    repo = {"id": 4242, "name": name, "full_name": REPO_NAME, "default_branch": "main",
            "created_at": "2024-01-01T00:00:00Z", "owner": {"login": owner}}  # fmt: skip
    flows = [
        {"id": 11, "name": "CI", "path": ".github/workflows/ci.yml", "state": "active"},
        {"id": 12, "name": "E2E", "path": ".github/workflows/e2e.yml", "state": "active"},
    ]
    (folder / "repo.json").write_text(json.dumps(repo))
    (folder / "workflows.json").write_text(json.dumps({"total_count": 2, "workflows": flows}))
    for flow, minutes in zip(flows, (10, 30), strict=True):
        (folder / "workflow-files" / flow["path"]).write_text(
            f"name: {flow['name']}\non: [push]\njobs:\n  build:\n    runs-on: ubuntu-latest\n"
            f"    timeout-minutes: {minutes}\n    steps:\n      - run: make\n"
        )
    latest: list[dict[str, Any]] = []
    job_id = 9_000_000
    for n in range(runs):
        run_id = 5_000_000 + n * 7
        created = end - timedelta(hours=6 * (runs - n)) + timedelta(minutes=rng.randint(0, 300))
        flow = flows[n % 2]
        attempts = 2 if n % 9 == 4 else 1
        count = big_run_jobs if (big_run_jobs and n == runs // 2) else jobs_per_run
        base = {
            "id": run_id, "name": flow["name"], "display_title": f"change {n}", "path": flow["path"],
            "event": "push", "head_branch": "main" if n % 3 else "feature/x",
            "head_sha": hashlib.sha1(str(n).encode()).hexdigest(), "workflow_id": flow["id"],
            "run_number": n + 1, "status": "completed", "repository": {"full_name": REPO_NAME},
        }  # fmt: skip
        jobs: list[dict[str, Any]] = []
        for attempt in range(1, attempts + 1):
            start = created + timedelta(hours=attempt - 1)
            conclusions = []
            for k in range(count):
                if attempt < attempts:
                    conclusions.append("failure" if k == 0 else "success")
                elif n % 11 == 3 and k == 0:
                    conclusions.append("cancelled")  # a job timeout: concludes cancelled, annotation says why
                elif n % 13 == 5 and k == count - 1:
                    conclusions.append("skipped")
                else:
                    conclusions.append("success" if rng.random() > 0.15 else "failure")
            for k, conclusion in enumerate(conclusions):
                job_id += rng.randint(1, 50)
                jstart = start + timedelta(seconds=20 + 5 * k)
                steps = []
                t = jstart
                for s, step in enumerate(("Set up job", "Run actions/checkout@v4", f"Run make test-{k}", "Complete job"), 1):
                    length = timedelta(seconds=2 if s != 3 else rng.randint(30, 600))
                    steps.append({"number": s, "name": step, "status": "completed",
                                  "conclusion": "success" if conclusion != "skipped" else "skipped",
                                  "started_at": iso_time(t), "completed_at": iso_time(t + length)})  # fmt: skip
                    t += length
                if conclusion in ("failure", "cancelled"):
                    steps[2]["conclusion"] = conclusion
                job = {
                    "id": job_id, "run_id": run_id, "run_attempt": attempt, "workflow_name": flow["name"],
                    "name": f"test ({k})" if count > 1 else "test", "status": "completed", "conclusion": conclusion,
                    "created_at": iso_time(jstart - timedelta(seconds=15)), "started_at": iso_time(jstart),
                    "completed_at": iso_time(t), "labels": ["ubuntu-latest"], "runner_name": f"GitHub Actions {k}",
                    "head_branch": base["head_branch"], "head_sha": base["head_sha"], "steps": steps,
                    "check_run_url": f"https://api.github.com/repos/{REPO_NAME}/check-runs/{job_id}",
                }  # fmt: skip
                jobs.append(job)
                if conclusion != "skipped" and not (n % 17 == 8 and k == 0):
                    (folder / "logs" / f"{job_id}.txt.gz").write_bytes(
                        gzip.compress(_log(job, conclusion, rng), mtime=0)
                    )
                if conclusion == "cancelled":
                    notes = [{"annotation_level": "failure", "path": ".github", "start_line": 1, "title": "",
                              "message": "The job has exceeded the maximum execution time of 30m0s"}]  # fmt: skip
                elif conclusion == "failure":
                    notes = [{"annotation_level": "failure", "path": ".github", "start_line": 1, "title": "",
                              "message": "Process completed with exit code 2."}]  # fmt: skip
                else:
                    notes = []
                if notes:
                    (folder / "annotations" / f"{job_id}.json").write_text(json.dumps(notes))
            concl = "failure" if any(c in ("failure", "cancelled") for c in conclusions) else "success"
            record = {**base, "run_attempt": attempt, "conclusion": concl, "created_at": iso_time(created),
                      "run_started_at": iso_time(start), "updated_at": iso_time(start + timedelta(minutes=20))}  # fmt: skip
            if attempt < attempts:
                (folder / "attempts" / f"{run_id}-{attempt}.json").write_text(json.dumps(record))
            else:
                latest.append(record)
        (folder / "jobs" / f"{run_id}.json").write_text(json.dumps({"total_count": len(jobs), "jobs": jobs}))
    latest.sort(key=lambda r: (r["created_at"], r["id"]), reverse=True)
    (folder / "runs.json").write_text(json.dumps({"total_count": len(latest), "workflow_runs": latest}))
    return folder


def _log(job: dict[str, Any], conclusion: str, rng: random.Random) -> bytes:
    lines = ["Current runner version: '2.329.0'", f"Complete job name: {job['name']}"]
    out = []
    for step in job["steps"]:
        t = parse_time(step["started_at"])
        stamp = t.strftime("%Y-%m-%dT%H:%M:%S.0000000Z")
        if step["number"] == 1:
            out += [f"{stamp} {line}" for line in lines]
            continue
        out.append(f"{stamp} ##[group]{step['name']}")
        out.append(f"{stamp} ##[endgroup]")
        for i in range(rng.randint(3, 12)):
            out.append(f"{stamp} output line {i} of {step['name']}")
        if step["conclusion"] == "failure":
            out.append(f"{stamp} ##[error]Process completed with exit code 2.")
        if step["conclusion"] == "cancelled":
            out.append(f"{stamp} ##[error]The operation was canceled.")
    end = parse_time(job["completed_at"]).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")
    out.append(f"{end} Cleaning up orphan processes")
    return ("\ufeff" + "\n".join(out) + "\n").encode()
