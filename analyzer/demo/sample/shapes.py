"""The GitHub REST JSON of repositories, workflows, runs, jobs and annotations."""

from __future__ import annotations

from typing import Any

from analyzer.demo.sample.history import Attempt, RunSpec
from analyzer.demo.sample.scenario import (
    API,
    E2E_FILE,
    E2E_WORKFLOW,
    NAME,
    OWNER,
    REPO,
    TICK,
    UNIT_FILE,
    UNIT_WORKFLOW,
    WEB,
)
from analyzer.demo.sample.text import JobOut, api_time, log_stamp

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


def repo_full(created: int) -> dict[str, Any]:
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
            "pushed_at": api_time(created),
            "size": 48213,
            "topics": ["kubernetes", "operator", "tekton"],
            "updated_at": api_time(created),
            "visibility": "public",
        }
    )
    return repo


def workflow_json(name: str) -> dict[str, Any]:
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


def run_json(spec: RunSpec, attempt: Attempt) -> dict[str, Any]:
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
        "created_at": api_time(spec.created),
        "display_title": spec.title,
        "event": spec.event,
        "head_branch": spec.branch,
        "head_commit": {
            "author": {"email": f"{spec.actor[0]}@users.noreply.github.com", "name": spec.actor[0]},
            "committer": {"email": "noreply@github.com", "name": "GitHub"},
            "id": spec.ctx.sha,
            "message": spec.title,
            "timestamp": api_time(spec.created - TICK * 40),
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
        "run_started_at": api_time(attempt.created),
        "status": "completed",
        "triggering_actor": actor,
        "updated_at": api_time(attempt.job.end + TICK * 2),
        "url": f"{API}/actions/runs/{run_id}",
        "workflow_id": wid,
        "workflow_url": f"{API}/actions/workflows/{wid}",
    }


def job_json(spec: RunSpec, attempt: Attempt) -> dict[str, Any]:
    job = attempt.job
    jid = attempt.job_id
    steps = [
        {
            "completed_at": api_time(s.end),
            "conclusion": s.conclusion,
            "name": s.name,
            "number": s.number,
            "started_at": api_time(s.start),
            "status": "completed",
        }
        for s in job.segs
    ]
    return {
        "check_run_url": f"{API}/check-runs/{jid}",
        "completed_at": api_time(job.end),
        "conclusion": job.conclusion,
        "created_at": api_time(attempt.job_created),
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
        "started_at": api_time(job.start),
        "status": "completed",
        "steps": steps,
        "url": f"{API}/actions/jobs/{jid}",
        "workflow_name": spec.workflow,
    }


def annotations_json(spec: RunSpec, attempt: Attempt) -> list[dict[str, Any]]:
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


def log_bytes(job: JobOut) -> bytes:
    lines = [f"{log_stamp(t)} {text}" for seg in job.segs for t, text in seg.lines]
    return ("\ufeff" + "\n".join(lines) + "\n").encode("utf-8")
