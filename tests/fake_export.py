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
    big_run_jobs: int = 0, repo: str = REPO_NAME, ids: int = 0,
) -> Path:  # fmt: skip
    """A small, varied history: two workflows, two branches, reruns, failures with annotations,
    a timed-out job, a skipped job, a job without a log; one run with ``big_run_jobs`` jobs (pages).

    Run context as GitHub gives it: actors (a rerun's attempt triggered by someone else), head
    commits with multi-line messages, push / pull_request / schedule events; E2E jobs run on a
    self-hosted pool that falls short in the newest quarter of the history (queue times of minutes),
    CI jobs on hosted runners (seconds). None of it draws from ``rng``: the durations and outcomes
    are those of the history without it.
    ``repo`` names the repository; ``ids`` > 0 moves its repository, run and job ids to a range of
    their own (several repositories served side by side, as ids are unique on GitHub)."""
    rng = random.Random(seed)
    end = end or datetime(2026, 11, 20, tzinfo=UTC)
    folder.mkdir(parents=True, exist_ok=True)
    for sub in ("attempts", "jobs", "logs", "annotations", "workflow-files/.github/workflows"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    full_name = repo
    owner, name = full_name.split("/")
    repo_json = {"id": 4242 + ids, "name": name, "full_name": full_name, "default_branch": "main",
                 "created_at": "2024-01-01T00:00:00Z", "owner": {"login": owner}}  # fmt: skip
    flows = [
        {"id": 11, "name": "CI", "path": ".github/workflows/ci.yml", "state": "active"},
        {"id": 12, "name": "E2E", "path": ".github/workflows/e2e.yml", "state": "active"},
    ]
    (folder / "repo.json").write_text(json.dumps(repo_json))
    (folder / "workflows.json").write_text(json.dumps({"total_count": 2, "workflows": flows}))
    for flow, minutes in zip(flows, (10, 30), strict=True):
        (folder / "workflow-files" / flow["path"]).write_text(
            f"name: {flow['name']}\non: [push]\njobs:\n  build:\n    runs-on: ubuntu-latest\n"
            f"    timeout-minutes: {minutes}\n    steps:\n      - run: make\n"
        )
    latest: list[dict[str, Any]] = []
    job_id = 9_000_000 + ids * 10_000_000
    for n in range(runs):
        run_id = 5_000_000 + ids * 1_000_000 + n * 7
        created = end - timedelta(hours=6 * (runs - n)) + timedelta(minutes=rng.randint(0, 300))
        flow = flows[n % 2]
        attempts = 2 if n % 9 == 4 else 1
        count = big_run_jobs if (big_run_jobs and n == runs // 2) else jobs_per_run
        branch = "main" if n % 3 else "feature/x"
        event = "pull_request" if branch != "main" else ("schedule" if n % 10 == 7 else "push")
        sha = hashlib.sha1(str(n).encode()).hexdigest()
        author = ACTORS[n % len(ACTORS)]
        base = {
            "id": run_id, "name": flow["name"], "display_title": f"change {n}", "path": flow["path"],
            "event": event, "head_branch": branch, "head_sha": sha, "workflow_id": flow["id"],
            "run_number": n + 1, "status": "completed", "repository": {"full_name": full_name},
            "actor": _user(author), "triggering_actor": _user(author),
            "head_commit": {"id": sha, "tree_id": sha[::-1], "message": f"change {n}: tune the suite\n\nDetails of change {n}.",
                            "timestamp": iso_time(created - timedelta(minutes=3)),
                            "author": {"name": author, "email": f"{author}@example.com"},
                            "committer": {"name": "GitHub", "email": "noreply@github.com"}},
        }  # fmt: skip
        self_hosted = flow["name"] == "E2E"
        short = n >= runs * 3 // 4  # the self-hosted pool falls short
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
                waited = (600 + 60 * (n % 4) + 7 * k if short else 20 + 5 * (n % 3)) if self_hosted else 15
                job = {
                    "id": job_id, "run_id": run_id, "run_attempt": attempt, "workflow_name": flow["name"],
                    "name": f"test ({k})" if count > 1 else "test", "status": "completed", "conclusion": conclusion,
                    "created_at": iso_time(jstart - timedelta(seconds=waited)), "started_at": iso_time(jstart),
                    "completed_at": iso_time(t), "labels": SELF_HOSTED if self_hosted else ["ubuntu-latest"],
                    "runner_name": f"e2e-runner-{k % 3}" if self_hosted else f"GitHub Actions {k}",
                    "runner_group_name": "e2e" if self_hosted else "GitHub Actions",
                    "head_branch": base["head_branch"], "head_sha": base["head_sha"], "steps": steps,
                    "check_run_url": f"https://api.github.com/repos/{full_name}/check-runs/{job_id}",
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
            if attempt > 1:  # a rerun: triggered by whoever re-ran it
                record["triggering_actor"] = _user(RERUNNER)
            _keep_attempt(folder, record, attempt == attempts, latest)
        (folder / "jobs" / f"{run_id}.json").write_text(json.dumps({"total_count": len(jobs), "jobs": jobs}))
    return _write_runs(folder, latest)


def _keep_attempt(folder: Path, record: dict[str, Any], last: bool, latest: list[dict[str, Any]]) -> None:
    """A run attempt as the export keeps it: the latest in runs.json, earlier ones under attempts/."""
    if last:
        latest.append(record)
    else:
        (folder / "attempts" / f"{record['id']}-{record['run_attempt']}.json").write_text(json.dumps(record))


def _write_runs(folder: Path, latest: list[dict[str, Any]]) -> Path:
    latest.sort(key=lambda r: (r["created_at"], r["id"]), reverse=True)
    (folder / "runs.json").write_text(json.dumps({"total_count": len(latest), "workflow_runs": latest}))
    return folder


ACTORS = ("alice", "bob", "dependabot[bot]")
RERUNNER = "carol"
SELF_HOSTED = ["self-hosted", "linux", "e2e"]


def _user(login: str) -> dict[str, Any]:
    """A user object as GitHub nests it in a run (the fields fetch does not read left out)."""
    uid = int(hashlib.sha1(login.encode()).hexdigest()[:6], 16)
    return {"login": login, "id": uid, "type": "Bot" if login.endswith("[bot]") else "User",
            "url": f"https://api.github.com/users/{login}"}  # fmt: skip


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


# -- a history whose reruns are known exactly -----------------------------------------------------

OUTCOMES = {  # plan outcome -> the job's conclusion as the jobs API reports it
    "success": "success",
    "failure": "failure",
    "timeout": "cancelled",  # a job stopped by its timeout-minutes: cancelled, and an annotation says why
    "cancelled": "cancelled",
}


def build_rerun_export(
    folder: Path, plan: dict[str, list[list[str]]], *, end: datetime | None = None, workflow: str = "CI"
) -> Path:
    """An export folder of one workflow where each run runs one job and its attempts end as ``plan``
    says: ``{job name: [[outcome of attempt 1, attempt 2, ...] for each run]}``, outcomes
    ``success``, ``failure`` (an assertion message, then exit code 2), ``timeout`` (the job's
    30-minute limit: concluded ``cancelled`` with the execution-time annotation) or ``cancelled``
    (a newer push). Runs are two hours apart, attempts 40 minutes apart, ending at ``end``."""
    end = end or datetime(2026, 11, 20, tzinfo=UTC)
    for sub in ("attempts", "jobs", "logs", "annotations", "workflow-files/.github/workflows"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    owner, name = REPO_NAME.split("/")
    (folder / "repo.json").write_text(json.dumps({"id": 4242, "name": name, "full_name": REPO_NAME, "default_branch": "main",
                                                  "created_at": "2024-01-01T00:00:00Z", "owner": {"login": owner}}))  # fmt: skip
    flow = {"id": 11, "name": workflow, "path": ".github/workflows/ci.yml", "state": "active"}
    (folder / "workflows.json").write_text(json.dumps({"total_count": 1, "workflows": [flow]}))
    (folder / "workflow-files" / flow["path"]).write_text(
        f"name: {workflow}\non: [push]\njobs:\n" + "".join(f"  {job}:\n    runs-on: ubuntu-latest\n    timeout-minutes: 30\n"
                                                           f"    steps:\n      - run: make test\n" for job in plan)
    )  # fmt: skip
    runs = [(job, outcomes) for job, rows in plan.items() for outcomes in rows]
    latest: list[dict[str, Any]] = []
    rng = random.Random(len(runs))
    for n, (job_name, outcomes) in enumerate(runs):
        run_id, created = 6_000_000 + n, end - timedelta(hours=2 * (len(runs) - n) + 2)
        base = {"id": run_id, "name": workflow, "display_title": f"change {n}", "path": flow["path"], "event": "push",
                "head_branch": "main", "head_sha": hashlib.sha1(str(n).encode()).hexdigest(), "workflow_id": flow["id"],
                "run_number": n + 1, "status": "completed", "repository": {"full_name": REPO_NAME}}  # fmt: skip
        jobs = []
        for attempt, outcome in enumerate(outcomes, 1):
            job_id = 8_000_000 + 10 * n + attempt
            start = created + timedelta(minutes=40 * (attempt - 1), seconds=20)
            length = 1800 if outcome == "timeout" else rng.randint(300, 600)
            conclusion = OUTCOMES[outcome]
            names = ("Set up job", "Run actions/checkout@v4", "Run make test", "Complete job")
            lengths = (2, 3, length - 7, 2)
            steps, t = [], start
            for s, (step, seconds) in enumerate(zip(names, lengths, strict=True), 1):
                steps.append({"number": s, "name": step, "status": "completed",
                              "conclusion": conclusion if s == 3 else "success",
                              "started_at": iso_time(t), "completed_at": iso_time(t + timedelta(seconds=seconds))})  # fmt: skip
                t += timedelta(seconds=seconds)
            job = {"id": job_id, "run_id": run_id, "run_attempt": attempt, "workflow_name": workflow, "name": job_name,
                   "status": "completed", "conclusion": conclusion, "created_at": iso_time(start - timedelta(seconds=15)),
                   "started_at": iso_time(start), "completed_at": iso_time(t), "labels": ["ubuntu-latest"],
                   "runner_name": "GitHub Actions 1", "head_branch": "main", "head_sha": base["head_sha"], "steps": steps,
                   "check_run_url": f"https://api.github.com/repos/{REPO_NAME}/check-runs/{job_id}"}  # fmt: skip
            jobs.append(job)
            (folder / "logs" / f"{job_id}.txt.gz").write_bytes(gzip.compress(_rerun_log(job, outcome, rng), mtime=0))
            notes = {
                "failure": "Process completed with exit code 2.",
                "timeout": "The job has exceeded the maximum execution time of 30m0s",
                "cancelled": "Canceling since a higher priority waiting request for 'CI-refs/heads/main' exists",
            }.get(outcome)
            if notes:
                (folder / "annotations" / f"{job_id}.json").write_text(json.dumps(
                    [{"annotation_level": "failure", "path": ".github", "start_line": 1, "title": "", "message": notes}]
                ))  # fmt: skip
            record = {**base, "run_attempt": attempt, "conclusion": "success" if conclusion == "success" else "failure",
                      "created_at": iso_time(created), "run_started_at": iso_time(start), "updated_at": iso_time(t)}  # fmt: skip
            _keep_attempt(folder, record, attempt == len(outcomes), latest)
        (folder / "jobs" / f"{run_id}.json").write_text(json.dumps({"total_count": len(jobs), "jobs": jobs}))
    return _write_runs(folder, latest)


def _rerun_log(job: dict[str, Any], outcome: str, rng: random.Random) -> bytes:
    """A job log in GitHub's format: a failure's assertion (numbers vary), a timeout's or cancel's end."""
    out = []
    for step in job["steps"]:
        stamp = parse_time(step["started_at"]).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")
        if step["number"] == 1:
            out += [f"{stamp} Current runner version: '2.329.0'", f"{stamp} Complete job name: {job['name']}"]
            continue
        if step["name"] == "Complete job":
            out.append(f"{stamp} Cleaning up orphan processes")
            continue
        out += [f"{stamp} ##[group]{step['name']}", f"{stamp} ##[endgroup]"]
        out += [f"{stamp} ok  \tpkg/part{i}\t{rng.uniform(1, 9):.3f}s" for i in range(rng.randint(2, 6))]
        if step["number"] == 3 and outcome == "failure":
            out += [f"{stamp} --- FAIL: Test{job['name'].title()}Suite ({rng.uniform(1, 9):.2f}s)",
                    f"{stamp}     {job['name']}_test.go:{rng.randint(10, 99)}: expected {rng.randint(1, 9)} items, got 0",
                    f"{stamp} FAIL", f"{stamp} ##[error]Process completed with exit code 2."]  # fmt: skip
        elif step["number"] == 3 and outcome in ("timeout", "cancelled"):
            end = parse_time(step["completed_at"]).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")
            out.append(f"{end} ##[error]The operation was canceled.")
    return ("\ufeff" + "\n".join(out) + "\n").encode()
