"""The limits in force: workflow YAML for jobs and steps, the config then the logs for phases."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd

from analyzer.advise.policy import MINUTE_SCOPES
from analyzer.advise.workflows import DEFAULT_JOB_TIMEOUT_S, WorkflowSpec, find_workflow, job_timeout, step_timeout
from analyzer.config import PhaseRule
from analyzer.formatting import human_duration
from analyzer.records import Incident, UnitKey


@dataclass(frozen=True, slots=True)
class CurrentLimit:
    """The limit in force for a unit and where it was read."""

    timeout_s: float | None
    source: str | None  # workflow, workflow-matrix, default, config, log, expression; None: no limit
    expression: str | None = None
    note: str | None = None


def current_limits(
    keys: Iterable[UnitKey],
    *,
    workflows: Sequence[WorkflowSpec] = (),
    phases: Sequence[PhaseRule] = (),
    logged: Mapping[UnitKey, float] | None = None,
) -> dict[UnitKey, CurrentLimit]:
    """Each unit's limit in force: workflow YAML for jobs and steps, config then logs for phases.

    A job whose workflow file is unknown falls back to a limit its logs revealed (a
    ``job_timeout`` annotation), else to GitHub's default, with a note saying so.
    """
    logged = logged or {}
    rules = {rule.name: rule for rule in phases}
    out: dict[UnitKey, CurrentLimit] = {}
    for key in keys:
        from_log = logged.get(key)
        if key.scope in MINUTE_SCOPES:
            spec = find_workflow(workflows, key.workflow)
            job = spec.job_for(key.job) if spec else None
            if key.scope == "job":
                if job is not None:
                    found = job_timeout(job, key.job)
                    limit = CurrentLimit(found.timeout_s, found.source, found.expression, found.note)
                elif from_log is not None:
                    limit = CurrentLimit(from_log, "log")
                else:
                    why = "workflow file not in the store" if spec is None else "job not found in its workflow file"
                    limit = CurrentLimit(DEFAULT_JOB_TIMEOUT_S, "default", note=f"{why}: GitHub's default of 360 minutes assumed")
            else:
                found = step_timeout(job, key.job, key.step or "")
                if found.source is not None:
                    limit = CurrentLimit(found.timeout_s, found.source, found.expression, found.note)
                elif from_log is not None:
                    limit = CurrentLimit(from_log, "log")
                else:
                    limit = CurrentLimit(None, None)
        else:
            rule = rules.get(key.phase or "")
            if rule is not None and rule.timeout_s is not None:
                note = None
                if from_log is not None and abs(from_log - rule.timeout_s) > 0.5:
                    note = f"the logs show a limit of {human_duration(from_log)}, the config says {human_duration(rule.timeout_s)}"
                limit = CurrentLimit(rule.timeout_s, "config", note=note)
            elif from_log is not None:
                limit = CurrentLimit(from_log, "log")
            else:
                limit = CurrentLimit(None, None)
        out[key] = limit
    return out


def logged_limits(frame: pd.DataFrame, incidents: Sequence[Incident] = ()) -> dict[UnitKey, float]:
    """Limits the logs revealed: the latest ``limit_s`` of each unit, and of incidents (job/step/phase)."""
    out: dict[UnitKey, float] = {}
    seen: dict[UnitKey, datetime] = {}
    for incident in sorted(incidents, key=lambda i: i.occurred_at or datetime.min.replace(tzinfo=UTC)):
        if incident.limit_s is None:
            continue
        if incident.kind == "job_timeout":
            key = UnitKey("job", incident.workflow, incident.job, None, None)
        elif incident.kind == "step_timeout" and incident.step:
            key = UnitKey("step", incident.workflow, incident.job, incident.step, None)
        elif incident.phase:
            key = UnitKey("phase", incident.workflow, incident.job, incident.step, incident.phase)
        else:
            continue
        out[key] = float(incident.limit_s)
        if incident.occurred_at is not None:
            seen[key] = incident.occurred_at
    if "limit_s" in frame and len(frame):
        limited = frame[frame["limit_s"].notna()]
        if len(limited):
            if "started_at" in limited:
                limited = limited.sort_values("started_at", kind="stable")
            last = limited.groupby(["scope", "workflow", "job", "step", "phase"], dropna=False, sort=False).tail(1)
            columns = [last[c].tolist() for c in ("scope", "workflow", "job", "step", "phase", "limit_s")]
            for scope, workflow, job, step, phase, limit in zip(*columns, strict=True):
                out[UnitKey.of(scope, workflow, job, step, phase)] = float(limit)
    return out
