"""The limits in force (workflow YAML for jobs and steps, the config then the logs for phases), and where a
limit can be set at all.

GitHub Actions has ``timeout-minutes`` for jobs and for the ``run:``/``uses:`` steps of a workflow
file only. The steps the runner makes ("Set up job", "Complete job", "Post …" of an action,
"Initialize containers", "Stop containers") and the inner steps of a composite action have none:
they are measured and shown, but no limit is recommended for them (``settable`` is False).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd

from analyzer.advise.policy import MINUTE_SCOPES
from analyzer.advise.workflows import (
    DEFAULT_JOB_TIMEOUT_S,
    JobSpec,
    WorkflowSpec,
    find_workflow,
    job_timeout,
    step_timeout,
)
from analyzer.config import PhaseRule, TimeoutRule
from analyzer.formatting import human_duration
from analyzer.parse.logs.phases import COMPOSITE
from analyzer.records import Incident, UnitKey

RUNNER_STEPS = frozenset({"Set up job", "Complete job", "Initialize containers", "Stop containers", "Set up runner",
                          "Post job cleanup"})  # fmt: skip
WHERE_JOB = "workflow job timeout-minutes"
WHERE_STEP = "workflow step timeout-minutes"
WHERE_PHASE_RULE = "[[phases]] timeout_s"
WHERE_TOOL = "the tool's own timeout option (the logs show it)"


def runner_made(step: str) -> bool:
    """A step the runner makes (set-up, clean-up, an action's post step, service containers): no
    ``timeout-minutes`` can be set for it."""
    return step in RUNNER_STEPS or step.startswith(("Post ", "Build container for action", "Pull down action image"))


def settable(key: UnitKey) -> bool:
    """Whether a limit can be written for a unit at all, from its name: not for a step the runner makes,
    nor for a composite action's sub-step (a phase named ``composite:…``)."""
    if key.scope == "step":
        return not runner_made(key.step or "")
    return not (key.scope == "phase" and (key.phase or "").startswith(COMPOSITE))


@dataclass(frozen=True, slots=True)
class CurrentLimit:
    """The limit in force for a unit, where it was read, and where a limit for the unit can be set."""

    timeout_s: float | None
    source: str | None  # workflow, workflow-matrix, default, config, log, expression; None: no limit
    expression: str | None = None
    note: str | None = None
    settable: bool = True  # a limit can be written for this unit
    where: str | None = None  # where: "workflow job timeout-minutes", "[[timeouts]] FILE", … (None: not known)


def current_limits(
    keys: Iterable[UnitKey],
    *,
    workflows: Sequence[WorkflowSpec] = (),
    phases: Sequence[PhaseRule] = (),
    logged: Mapping[UnitKey, float] | None = None,
    timeouts: Sequence[TimeoutRule] = (),
) -> dict[UnitKey, CurrentLimit]:
    """Each unit's limit in force: workflow YAML for jobs and steps, config then logs for phases;
    and whether and where a limit can be set (``settable``, ``where``; ``timeouts``: the
    ``[[timeouts]]`` rules that locate limits in source files).

    A job whose workflow file is unknown falls back to a limit its logs revealed (a
    ``job_timeout`` annotation), else to GitHub's default, with a note saying so.
    """
    logged = logged or {}
    rules = {rule.name: rule for rule in phases}
    out: dict[UnitKey, CurrentLimit] = {}
    for key in keys:
        from_log = logged.get(key)
        spec = find_workflow(workflows, key.workflow) if key.scope in MINUTE_SCOPES else None
        job = spec.job_for(key.job) if spec else None
        if key.scope in MINUTE_SCOPES:
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
        out[key] = _placed(limit, key, job, spec.path if spec is not None else None, rules, timeouts)
    return out


def _placed(
    limit: CurrentLimit, key: UnitKey, job: JobSpec | None, path: str | None, rules: Mapping[str, PhaseRule],
    timeouts: Sequence[TimeoutRule],
) -> CurrentLimit:  # fmt: skip
    """``limit`` with ``settable`` and ``where`` filled in for ``key``."""
    from dataclasses import replace

    in_source = next((f"[[timeouts]] {t.file}" for t in timeouts if _rule_for(t, key)), None)
    if key.scope == "job":
        if job is not None and job.reusable:
            return replace(limit, settable=False, where=None)
        return replace(limit, where=_at(WHERE_JOB, path, job, None))
    if key.scope == "step":
        step = key.step or ""
        found = job.step_for(step) if job is not None else None
        if step in RUNNER_STEPS or (found is None and (job is not None or runner_made(step))):
            # made by the runner, or not a step of the workflow file (a composite action's inner step)
            return replace(limit, settable=False, where=None)
        return replace(limit, where=in_source or _at(WHERE_STEP, path if found is not None else None, job, step))
    if not settable(key):
        return replace(limit, settable=False, where=None)
    rule = rules.get(key.phase or "")
    where = in_source or (WHERE_PHASE_RULE if rule is not None else WHERE_TOOL if limit.source == "log" else None)
    return replace(limit, where=where)


def _at(kind: str, path: str | None, job: JobSpec | None, step: str | None) -> str:
    """``kind``, with the workflow file (and the line of the value, when there is one) where known."""
    if path is None or job is None:
        return kind
    found = job.step_for(step) if step is not None else None
    value = job.timeout if step is None else (found.timeout if found is not None else None)
    line = value.line if value is not None and value.line is not None else None
    return f"{kind} ({path})" if line is None else f"{kind} ({path}:{line + 1})"


def _rule_for(rule: TimeoutRule, key: UnitKey) -> bool:
    """A ``[[timeouts]]`` rule names this unit's limit (the same matching as ``recommend --patch``)."""
    import re

    if rule.phase is not None:
        return key.scope == "phase" and key.phase == rule.phase and (rule.step is None or bool(key.step and re.search(rule.step, key.step)))
    if rule.step is not None:
        return key.scope == "step" and key.step is not None and bool(re.search(rule.step, key.step)) and (
            rule.job is None or bool(re.search(rule.job, key.job)))  # fmt: skip
    return rule.job is not None and key.scope == "job" and bool(re.search(rule.job, key.job))


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
            # text may come as categoricals (recommend reads codes): observed=True keeps pandas 2 from warning;
            # tail(1) keeps rows, so the groups are the same either way
            keys = ["scope", "workflow", "job", "step", "phase"]
            last = limited.groupby(keys, dropna=False, sort=False, observed=True).tail(1)
            columns = [last[c].tolist() for c in ("scope", "workflow", "job", "step", "phase", "limit_s")]
            for scope, workflow, job, step, phase, limit in zip(*columns, strict=True):
                out[UnitKey.of(scope, workflow, job, step, phase)] = float(limit)
    return out
