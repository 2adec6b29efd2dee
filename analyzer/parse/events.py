"""The bootstrap runner's events (JSON lines) as a log format: records, runs and observations.

``we-advisor bootstrap run --events FILE`` appends one ``start`` and one ``end`` line per task
attempt. ``ingest`` reads such a file back as one run and job ("bootstrap") per plan execution,
stored under ``EVENTS_LOG_NAME``; ``observe`` turns that job's events into one phase observation
per attempt (a timeout is right-censored at its limit) and the incident that ended the execution.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from analyzer.errors import InputError
from analyzer.formatting import plain_seconds
from analyzer.records import CENSORING_OUTCOMES, Incident, Job, LogPart, Observation, Run, parse_iso

BOOTSTRAP_JOB = "bootstrap"  # the job name of every plan execution in the store
EVENTS_LOG_NAME = "bootstrap-events.jsonl"  # marks a stored log part as runner events, not a job log
EVENT_OUTCOMES = ("success", "failure", "timeout", "skipped", "cancelled")


@dataclass(frozen=True, slots=True)
class Execution:
    """The events of one plan execution, as they are kept in the store (the raw lines)."""

    plan: str
    key: str  # stable identity: plan + execution id (or first start when the id is missing)
    data: bytes
    events: tuple[dict[str, Any], ...]


def parse_events(data: bytes, *, source: str) -> list[dict[str, Any]]:
    """Validated event records. A last line cut short (a killed run) is ignored."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{source} is not UTF-8 text", hint=_EVENTS_HINT) from None
    lines = text.split("\n")
    out = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            if number == len(lines):  # no newline after it: written by a run killed mid-line
                continue
            raise InputError(f"{source}:{number}: not a JSON line", hint=_EVENTS_HINT) from None
        problem = _event_problem(record)
        if problem:
            raise InputError(f"{source}:{number}: not a bootstrap event: {problem}", hint=_EVENTS_HINT)
        out.append(record)
    return out


_EVENTS_HINT = "a bootstrap events file holds the JSON lines written by `we-advisor bootstrap run --events FILE.jsonl`"


def _event_problem(record: Any) -> str | None:
    if not isinstance(record, dict):
        return "not an object"
    if record.get("event") not in ("start", "end"):
        return "event must be start or end"
    for key in ("plan", "task"):
        if not isinstance(record.get(key), str) or not record[key]:
            return f"{key} must be a non-empty string"
    for key in ("start", "end"):
        value = record.get(key)
        if value is not None and (not isinstance(value, str) or parse_iso(value) is None):
            return f"{key} must be an ISO 8601 time or null"
    for key in ("duration_s", "limit_s"):
        value = record.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float) or value < 0):
            return f"{key} must be a non-negative number or null"
    if record["event"] == "start" and record.get("start") is None:
        return "a start event needs start"
    if record["event"] == "end" and record.get("outcome") not in EVENT_OUTCOMES:
        return f"outcome must be one of {', '.join(EVENT_OUTCOMES)}"
    return None


def split_executions(data: bytes, *, source: str) -> list[Execution]:
    """An events file (possibly appended to by many runs) as one ``Execution`` per plan execution.

    Events carry an ``execution`` id; files without it are split where a task starts again.
    """
    records = parse_events(data, source=source)
    if not records:
        raise InputError(f"{source} holds no bootstrap events", hint=_EVENTS_HINT)
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    open_group: dict[str, tuple[str, str]] = {}  # plan -> current group (for events without an id)
    started: dict[tuple[str, str], set[tuple[str, Any]]] = {}
    for record in records:
        plan = record["plan"]
        execution = record.get("execution")
        if isinstance(execution, str) and execution:
            key = (plan, execution)
        else:
            current = open_group.get(plan)
            marker = (record["task"], record.get("attempt"))
            if current is None or (record["event"] == "start" and marker in started[current]):
                current = (plan, f"@{record.get('start') or record.get('end')}")
                open_group[plan] = current
                started[current] = set()
            if record["event"] == "start":
                started[current].add(marker)
            key = current
        groups.setdefault(key, []).append(record)
    out = []
    for (plan, execution), items in groups.items():
        raw = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in items).encode()
        out.append(Execution(plan=plan, key=f"bootstrap\x00{plan}\x00{execution}", data=raw, events=tuple(items)))
    return out


def execution_records(data: bytes, *, repo: str, run_id: int, job_id: int) -> tuple[Run, Job]:
    """The Run and Job that stand for one plan execution: the plan is the workflow, the job "bootstrap"."""
    records = parse_events(data, source=f"job {job_id}")
    plan = records[0]["plan"] if records else "bootstrap"
    starts = [t for r in records if (t := parse_iso(r.get("start"))) is not None]
    ends = [t for r in records if (t := parse_iso(r.get("end"))) is not None]
    first, last = (min(starts) if starts else None), (max(ends) if ends else None)
    conclusion = _conclusion(records)
    run = Run(repo, run_id, 1, plan, event="bootstrap", status="completed", conclusion=conclusion, created_at=first,
              run_started_at=first, updated_at=last)  # fmt: skip
    job = Job(repo, job_id, run_id, 1, plan, BOOTSTRAP_JOB, status="completed", conclusion=conclusion, created_at=first,
              started_at=first, completed_at=last)  # fmt: skip
    return run, job


def _final_outcomes(records: Sequence[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """Each task's last end event (its final attempt)."""
    final: dict[str, Mapping[str, Any]] = {}
    for record in records:
        if record["event"] == "end":
            final[record["task"]] = record
    return final


def _conclusion(records: Sequence[Mapping[str, Any]]) -> str:
    outcomes = {r["outcome"] for r in _final_outcomes(records).values()}
    if outcomes & {"failure", "timeout"}:
        return "failure"
    if "cancelled" in outcomes:
        return "cancelled"
    return "success" if outcomes <= {"success"} else "failure"


def is_events_log(parts: Sequence[LogPart]) -> bool:
    """Whether a stored job log is a bootstrap events file (saved by ingest under EVENTS_LOG_NAME)."""
    return any(p.name == EVENTS_LOG_NAME and p.data is not None for p in parts)


def events_analysis(job: Job, parts: Sequence[LogPart]) -> tuple[list[Observation], Incident | None]:
    """Phase observations (one per attempt; skipped tasks have none) and the incident that ended the run.

    A timed-out or cancelled attempt is right-censored: it lasted at least its duration.
    """
    data = next(p.data for p in parts if p.name == EVENTS_LOG_NAME and p.data is not None)
    records = parse_events(data, source=f"job {job.job_id}")
    observations = []
    for record in records:
        outcome, duration, start = record.get("outcome"), record.get("duration_s"), parse_iso(record.get("start"))
        if record["event"] != "end" or outcome not in EVENT_OUTCOMES or outcome == "skipped":
            continue
        if duration is None or start is None:
            continue
        observations.append(
            Observation.of_job(
                job,
                "phase",
                phase=record["task"],
                started_at=start,
                duration_s=float(duration),
                outcome=str(outcome),
                censored=outcome in CENSORING_OUTCOMES,
                limit_s=None if record.get("limit_s") is None else float(record["limit_s"]),
            )
        )
    return observations, _events_incident(job, records)


def _events_incident(job: Job, records: Sequence[Mapping[str, Any]]) -> Incident | None:
    failed = [r for r in _final_outcomes(records).values() if r["outcome"] in ("failure", "timeout", "cancelled")]
    if not failed:
        return None
    # the cause that ended the run: the first definitive failure (a cancel only when nothing failed)
    failed.sort(key=lambda r: (r["outcome"] == "cancelled", r.get("end") or ""))
    cause = failed[0]
    limit = cause.get("limit_s")
    kind = {"timeout": "tool_timeout", "failure": "failure", "cancelled": "cancelled"}[cause["outcome"]]
    verb = {"timeout": f"timed out after {plain_seconds(limit)} s" if limit else "timed out", "failure": "failed"}
    evidence = f"bootstrap task {cause['task']} {verb.get(cause['outcome'], 'was cancelled')}"
    if cause.get("reason"):
        evidence += f" ({cause['reason']})"
    limit_s = float(limit) if kind == "tool_timeout" and limit is not None else None
    return Incident.of_job(job, kind, evidence, phase=cause["task"], limit_s=limit_s, occurred_at=parse_iso(cause.get("end")))
