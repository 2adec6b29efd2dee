"""Runs a workflow file (examples/*.yml) the way GitHub does, job by job, for tests.

``run_workflow`` takes the jobs in the order their ``needs`` allow, decides each job's ``if:`` as
GitHub does (``success()`` implied unless the condition names a status function, which then sees how
the needed jobs ended; ``needs.<job>.result`` and ``.outputs``), starts each on a fresh runner
(``tests.composite.start_job``) and runs its steps there:

- ``run:`` steps in bash with the job's environment (``${{ }}`` reaches them only through ``env:``);
- this repository's action (``OWNER/we-advisor@vX`` or ``./``) through ``tests.composite.run_action``
  in the same job, so what it installs stays on ``PATH`` for the later steps;
- ``actions/checkout``: the files of the commit the run is for (``checkout``) copied into the workspace;
- ``peter-evans/create-pull-request``: the working tree compared with that commit; a difference opens a
  pull request on the fake GitHub (or updates the open one of the same branch: same number) with the
  labels given; no difference closes an open one when ``delete-branch`` is set; outputs
  ``pull-request-number`` and ``pull-request-operation`` as the action sets them;
- cache and artifact actions as ``tests.composite`` stands in for them.

Permissions are enforced where the fake GitHub can tell: a job whose ``permissions`` do not grant
``pull-requests: write`` gets a token whose every write is refused (403).
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from tests.composite import (
    STATUS,
    Services,
    StepFailed,
    StepRecord,
    _run_script,
    _uses,
    evaluate,
    render,
    run_action,
    start_job,
    truthy,
)
from tests.fake_github import TOKEN

ROOT = Path(__file__).resolve().parents[1]
OURS = ("OWNER/we-advisor@vX", "./")
_STATUS_FUNCTION = re.compile(r"\b(?:success|failure|always|cancelled)\(")


@dataclass
class JobRun:
    """How a job ended (``success``, ``failure`` or ``skipped``), its outputs and what its steps did."""

    result: str
    outputs: dict[str, str] = field(default_factory=dict)
    steps: list[StepRecord] = field(default_factory=list)
    summary: str = ""
    error: str = ""
    workspace: Path | None = None

    def step(self, name: str) -> StepRecord:
        return next(s for s in self.steps if s.name == name)

    @property
    def log(self) -> str:
        return "\n".join(s.stdout + s.stderr for s in self.steps) + self.error


def run_workflow(
    workflow: Path | str, services: Services, *, run_id: int, checkout: dict[str, str], event: str = "schedule",
    inputs: dict[str, str] | None = None, env: dict[str, str] | None = None, workflow_ref: str = "",
    event_payload: dict[str, Any] | None = None,
) -> dict[str, JobRun]:  # fmt: skip
    """Every job of ``workflow`` (a path or the YAML text) as run ``run_id``, triggered by ``event``."""
    text = workflow.read_text(encoding="utf-8") if isinstance(workflow, Path) else workflow
    flow = YAML(typ="safe", pure=True).load(text)
    declared = ((flow.get("on") or {}).get("workflow_dispatch") or {}).get("inputs") or {}
    given = {name: (inputs or {}).get(name, str(spec.get("default", ""))) for name, spec in declared.items()}
    results: dict[str, JobRun] = {}
    for job_id in _in_order(flow["jobs"]):
        spec = flow["jobs"][job_id]
        needs = [spec["needs"]] if isinstance(spec.get("needs"), str) else list(spec.get("needs") or [])
        ended = [results[n].result for n in needs]
        status = "failure" if "failure" in ended else "success" if all(r == "success" for r in ended) else "skipped"
        context: dict[str, Any] = {
            "github": {"repository": services.fake.data.full_name, "event_name": event, "run_id": str(run_id),
                       "event": event_payload or {}},
            "inputs": given, "secrets": {"GITHUB_TOKEN": TOKEN},
            "needs": {n: {"result": results[n].result, "outputs": results[n].outputs} for n in needs},
            STATUS: status,
        }  # fmt: skip
        condition = str(spec.get("if", "success()")).strip()
        condition = condition[3:-2] if condition.startswith("${{") else condition
        if not _STATUS_FUNCTION.search(condition):
            condition = f"success() && ({condition})"
        if not truthy(evaluate(condition, context)):
            results[job_id] = JobRun("skipped")
            continue
        results[job_id] = _run_job(job_id, spec, context, services, run_id, checkout, env, workflow_ref, event)
    services.fake.read_only = False
    return results


def _in_order(jobs: dict[str, Any]) -> list[str]:
    done: list[str] = []
    while len(done) < len(jobs):
        for job_id, spec in jobs.items():
            needs = [spec["needs"]] if isinstance(spec.get("needs"), str) else list(spec.get("needs") or [])
            if job_id not in done and all(n in done for n in needs):
                done.append(job_id)
                break
        else:
            raise AssertionError(f"the jobs' needs form a cycle or name a missing job: {list(jobs)}")
    return done


def _run_job(
    job_id: str, spec: dict[str, Any], context: dict[str, Any], services: Services, run_id: int,
    checkout: dict[str, str], env: dict[str, str] | None, workflow_ref: str, event: str,
) -> JobRun:  # fmt: skip
    job = start_job(services, run_id=run_id, workflow_ref=workflow_ref, env=env, event=event, name=job_id)
    services.fake.read_only = (spec.get("permissions") or {}).get("pull-requests") != "write"
    context = {**context, "runner": {"temp": str(job.temp), "os": "Linux"}, "steps": {}}
    run = JobRun("success")
    for number, step in enumerate(spec["steps"], 1):
        name = step.get("name") or step.get("uses") or f"step {number}"
        try:
            if "run" in step:
                job.steps_run += 1
                record = _run_script({"shell": "bash", **step}, name, job.steps_run, context, job.env, job.root,
                                     job.workspace, 300.0, job.summary)  # fmt: skip
            elif step["uses"] in OURS:
                given = {k: render(v, context) for k, v in (step.get("with") or {}).items()}
                action = run_action(ROOT, services, run_id=run_id, inputs=given, job=job)
                run.steps += action.steps
                record = StepRecord(name, True, action.outputs)
            elif step["uses"].startswith("actions/checkout@"):
                for path, text in checkout.items():
                    (job.workspace / path).parent.mkdir(parents=True, exist_ok=True)
                    (job.workspace / path).write_text(text, encoding="utf-8")
                record = StepRecord(name, True)
            elif step["uses"].startswith("peter-evans/create-pull-request@"):
                given = {k: render(v, context) for k, v in (step.get("with") or {}).items()}
                record = StepRecord(name, True, _create_pull_request(given, job.workspace, checkout, services))
            else:
                record = _uses(step, name, context, services, run_id, job.env, job.workspace, job.tools)
        except StepFailed as exc:
            run.result, run.error = "failure", str(exc)
            break
        run.steps.append(record)
        context["steps"][step.get("id", f"_{number}")] = {"outputs": record.outputs, "outcome": "success"}
    run.outputs = {k: render(v, context) for k, v in (spec.get("outputs") or {}).items()} if run.result == "success" else {}
    run.summary, run.workspace = "".join(job.summary), job.workspace
    return run


def _create_pull_request(given: dict[str, str], workspace: Path, checkout: dict[str, str], services: Services) -> dict[str, str]:
    """peter-evans/create-pull-request against the fake: the working tree's changes become a pull request."""
    fake = services.fake
    tree = {p.relative_to(workspace).as_posix(): p.read_text(encoding="utf-8") for p in workspace.rglob("*") if p.is_file()}
    changed: dict[str, str | None] = {path: text for path, text in tree.items() if checkout.get(path) != text}
    changed |= {path: None for path in checkout if path not in tree}
    branch = given["branch"]
    labels = tuple(label.strip() for label in re.split(r"[,\n]", given.get("labels", "")) if label.strip())
    number = services.branches.get(branch)
    existing = fake.pull_requests.items.get(number) if number is not None else None
    is_open = existing is not None and existing.state == "open"
    if not changed:
        if is_open and given.get("delete-branch") == "true":
            assert existing is not None
            existing.state = "closed"  # the branch is deleted: GitHub closes its pull request
            return {"pull-request-operation": "closed"}
        return {"pull-request-operation": "none"}
    if not is_open:
        number = max([99, *fake.pull_requests.items, *fake.pulls]) + 1
        services.branches[branch] = number
    assert number is not None
    body = Path(given["body-path"]).read_text(encoding="utf-8") if given.get("body-path") else given.get("body", "")
    fake.add_pull(number, base=dict(checkout), head=changed, labels=labels, title=given.get("title", "") or body[:20])
    shutil.rmtree(workspace / ".git", ignore_errors=True)
    return {"pull-request-number": str(number), "pull-request-operation": "updated" if is_open else "created",
            "pull-request-branch": branch}  # fmt: skip
