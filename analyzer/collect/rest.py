"""GitHub REST JSON shapes → records.

Shared by ``fetch`` (PyGithub objects carry the JSON as ``raw_data``) and by ``ingest`` of an
export directory (the layout of ``data/sample/``). Pure functions: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from analyzer.errors import InputError
from analyzer.records import Annotation, Job, Run, StepInfo, parse_iso


def _int(data: Mapping[str, Any], key: str, where: str) -> int:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(f"{where}: field {key!r} is missing or not an integer", hint="is this a GitHub REST response?")
    return value


def _str(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) else None


def run_from_json(data: Mapping[str, Any], repo: str) -> Run:
    """A workflow run object (list item or single run / attempt)."""
    if not isinstance(data, Mapping):
        raise InputError("a workflow run is not a JSON object", hint="is this a GitHub REST response?")
    return Run(
        repo=repo,
        run_id=_int(data, "id", "workflow run"),
        run_attempt=int(data.get("run_attempt") or 1),
        workflow_name=_str(data, "name") or _str(data, "display_title") or "(unknown workflow)",
        workflow_path=_str(data, "path"),
        event=_str(data, "event"),
        head_branch=_str(data, "head_branch"),
        head_sha=_str(data, "head_sha"),
        status=_str(data, "status"),
        conclusion=_str(data, "conclusion"),
        created_at=parse_iso(_str(data, "created_at")),
        run_started_at=parse_iso(_str(data, "run_started_at")),
        updated_at=parse_iso(_str(data, "updated_at")),
        actor=_login(data, "actor"),
        triggering_actor=_login(data, "triggering_actor"),
        head_commit_message=first_line(_field(data, "head_commit", "message")),
    )


def _login(data: Mapping[str, Any], key: str) -> str | None:
    """The login of a user object (``actor``, ``triggering_actor``)."""
    return _field(data, key, "login")


def _field(data: Mapping[str, Any], key: str, inner: str) -> str | None:
    """``data[key][inner]`` when both are there and it is text."""
    value = data.get(key)
    return _str(value, inner) if isinstance(value, Mapping) else None


def first_line(text: object, width: int = 200) -> str | None:
    """The first non-empty line of a commit message, cut to ``width`` characters."""
    line = next((x.strip() for x in text.splitlines() if x.strip()), None) if isinstance(text, str) else None
    return line if line is None or len(line) <= width else line[: width - 1] + "…"


def job_from_json(data: Mapping[str, Any], repo: str, workflow_name: str | None = None) -> Job:
    """A job object from ``/actions/runs/{id}/jobs`` or ``/actions/jobs/{id}``."""
    if not isinstance(data, Mapping):
        raise InputError("a job is not a JSON object", hint="is this a GitHub REST response?")
    steps: list[StepInfo] = []
    for raw in data.get("steps") or []:
        if not isinstance(raw, Mapping):
            continue
        steps.append(
            StepInfo(
                number=int(raw.get("number") or len(steps) + 1),
                name=str(raw.get("name") or f"step {len(steps) + 1}"),
                status=_str(raw, "status"),
                conclusion=_str(raw, "conclusion"),
                started_at=parse_iso(_str(raw, "started_at")),
                completed_at=parse_iso(_str(raw, "completed_at")),
            )
        )
    labels = data.get("labels") or []
    return Job(
        repo=repo,
        job_id=_int(data, "id", "job"),
        run_id=_int(data, "run_id", "job"),
        run_attempt=int(data.get("run_attempt") or 1),
        workflow_name=_str(data, "workflow_name") or workflow_name or "(unknown workflow)",
        name=_str(data, "name") or "(unnamed job)",
        status=_str(data, "status"),
        conclusion=_str(data, "conclusion"),
        created_at=parse_iso(_str(data, "created_at")),
        started_at=parse_iso(_str(data, "started_at")),
        completed_at=parse_iso(_str(data, "completed_at")),
        labels=tuple(str(x) for x in labels if isinstance(x, str)),
        runner_name=_str(data, "runner_name"),
        steps=tuple(sorted(steps, key=lambda s: s.number)),
    )


def annotation_from_json(data: Mapping[str, Any], job_id: int) -> Annotation:
    """A check-run annotation (``/check-runs/{id}/annotations`` list item)."""
    if not isinstance(data, Mapping):
        raise InputError("an annotation is not a JSON object", hint="is this a GitHub REST response?")
    start = data.get("start_line")
    return Annotation(
        job_id=job_id,
        level=_str(data, "annotation_level") or "failure",
        message=_str(data, "message") or "",
        title=_str(data, "title"),
        path=_str(data, "path"),
        start_line=start if isinstance(start, int) and not isinstance(start, bool) else None,
    )
