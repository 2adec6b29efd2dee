"""Frozen dataclasses that cross module boundaries.

Times are timezone-aware UTC ``datetime`` objects (or ``None`` where unknown); durations and
limits are float seconds. GitHub ids are ints; locally ingested logs get stable negative ids
derived from their content so they can never collide with GitHub's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

# Outcomes of an observation. ``timeout``, ``cancelled`` and ``runner_lost`` end a unit before it
# finished on its own: such an observation is right-censored (it lasted *at least* this long).
OUTCOMES = ("success", "failure", "timeout", "cancelled", "runner_lost", "skipped")
CENSORING_OUTCOMES = frozenset({"timeout", "cancelled", "runner_lost"})

# Incident kinds, in the order they outrank each other when several explain one job attempt. A
# ``hang`` is a timeout after a long silence in the log (``model.hangs`` decides, across runs): the
# analysis commands report such an incident as a hang, with the limit that ended it as ``ended_by``.
INCIDENT_KINDS = (
    "hang",
    "job_timeout",
    "step_timeout",
    "runner_lost",
    "tool_timeout",
    "test_timeout",
    "cancelled",
    "failure",
)
# The incident kinds that are time limits.
TIMEOUT_KINDS = frozenset({"job_timeout", "step_timeout", "tool_timeout", "test_timeout"})

SCOPES = ("job", "step", "phase")

# The status of a run or job before a runner took it (GitHub's vocabulary).
WAITING_STATUSES = ("queued", "waiting", "pending", "requested")


class UnitKey(NamedTuple):
    """A unit: ``(scope, workflow, job, step, phase)``; ``step`` is None for a job unit, ``phase`` for
    job and step units. Build one with ``UnitKey.of``, which puts every source in that form."""

    scope: str
    workflow: str
    job: str
    step: str | None
    phase: str | None

    @classmethod
    def of(cls, scope: object, workflow: object, job: object, step: object = None, phase: object = None) -> UnitKey:
        """The key of a unit from loose values (a frame row, a JSON object): missing values (None,
        NaN, NaT) become None, and a job's step and a non-phase's phase are dropped."""
        kind = str(scope)
        return cls(kind, str(workflow), str(job), None if kind == "job" else _text(step), _text(phase) if kind == "phase" else None)

    @classmethod
    def from_mapping(cls, row: Mapping[str, Any]) -> UnitKey:
        """The key of a unit from a mapping with its five fields (a recommendation, a stats row)."""
        return cls.of(row["scope"], row["workflow"], row["job"], row.get("step"), row.get("phase"))

    def label(self) -> str:
        return " / ".join(x for x in (self.job, self.step, self.phase) if x)


def _text(value: object) -> str | None:
    return None if value is None or value != value else str(value)  # NaN and NaT differ from themselves


def iso(value: datetime | None) -> str | None:
    """A UTC timestamp as stored: ``2026-03-02T10:11:12.123456Z`` (or None)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(value: str | None) -> datetime | None:
    """Inverse of :func:`iso`; accepts GitHub's ``…Z`` forms too."""
    if not value:
        return None
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class StepInfo:
    """One step of a job as the jobs API reports it."""

    number: int
    name: str
    status: str | None = None
    conclusion: str | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Run:
    """One attempt of a workflow run (``run_id`` + ``run_attempt`` is the key)."""

    repo: str
    run_id: int
    run_attempt: int
    workflow_name: str
    workflow_path: str | None = None
    event: str | None = None
    head_branch: str | None = None
    head_sha: str | None = None
    status: str | None = None
    conclusion: str | None = None
    created_at: datetime | None = None
    run_started_at: datetime | None = None
    updated_at: datetime | None = None
    actor: str | None = None  # login of the run's actor (who triggered its first attempt)
    triggering_actor: str | None = None  # login of whoever triggered this attempt (a rerun's is the re-runner)
    head_commit_message: str | None = None  # the first line of the head commit's message


@dataclass(frozen=True, slots=True)
class Job:
    """One job of one run attempt (``job_id`` is the key)."""

    repo: str
    job_id: int
    run_id: int
    run_attempt: int
    workflow_name: str
    name: str
    status: str | None = None
    conclusion: str | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    labels: tuple[str, ...] = ()
    runner_name: str | None = None
    steps: tuple[StepInfo, ...] = ()

    @property
    def queued_s(self) -> float | None:
        """How long this attempt waited for a runner: ``created_at`` → ``started_at`` (a rerun's job has
        its own ``created_at``), to the millisecond; None when either time is unknown."""
        return queue_seconds(self.created_at, self.started_at)


def queue_seconds(created_at: datetime | None, started_at: datetime | None) -> float | None:
    """``started_at - created_at`` in seconds, to the millisecond, never negative; None if either is unknown."""
    if created_at is None or started_at is None:
        return None
    return max(0.0, round((started_at - created_at).total_seconds(), 3))


@dataclass(frozen=True, slots=True)
class JobContext:
    """Who and what a job attempt ran for, where, and how long it waited for a runner (None where
    the input did not say): the run attempt's actor, commit, event and branch, the job's runner."""

    queued_s: float | None = None
    actor: str | None = None  # the triggering actor of the attempt, else the run's actor
    head_sha: str | None = None
    head_commit_message: str | None = None  # first line
    event: str | None = None
    branch: str | None = None
    runner_name: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The fields every per-job JSON object carries (``incidents``)."""
        return {name: getattr(self, name) for name in CONTEXT_FIELDS}


CONTEXT_FIELDS = ("queued_s", "actor", "head_sha", "head_commit_message", "event", "branch", "runner_name")


@dataclass(frozen=True, slots=True)
class Annotation:
    """A check-run annotation of a job (the only place that tells a job timeout from a cancel)."""

    job_id: int
    level: str
    message: str
    title: str | None = None
    path: str | None = None
    start_line: int | None = None


@dataclass(frozen=True, slots=True)
class LogPart:
    """A stored log: the whole job log (part 0) or one per-step file of a run-log zip."""

    job_id: int
    part: int
    name: str | None
    state: str
    data: bytes | None


@dataclass(frozen=True, slots=True)
class StepSpan:
    """A step as found in a job log: where it starts and ends, and how it ended."""

    number: int
    name: str
    started_at: datetime | None
    completed_at: datetime | None
    conclusion: str | None
    first_line: int  # 1-based, inclusive; 0 when the step has no lines in the log
    last_line: int  # 1-based, inclusive
    gap_s: float | None = None  # the longest time between two consecutive lines of the step
    silence_s: float | None = None  # from its last ordinary line to its closing lines (or its end)
    quiet_evidence: str | None = None  # that last ordinary line (for steps that did not succeed)

    @property
    def duration_s(self) -> float | None:
        if self.started_at is None or self.completed_at is None:
            return None
        return max(0.0, (self.completed_at - self.started_at).total_seconds())


@dataclass(frozen=True, slots=True)
class PhaseSpan:
    """A sub-step span found by a ``[[phases]]`` rule or a built-in detector.

    ``outcome`` is ``success``, ``failure`` or ``timeout`` (ended on a timeout line), or
    ``cancelled`` when the end of its step or job cut it off. ``censored`` is true when the
    span did not end on its own (timeout or cut off): its true duration is at least
    ``duration_s``.
    """

    name: str
    step_number: int | None
    step: str | None
    started_at: datetime | None
    duration_s: float
    outcome: str
    censored: bool
    limit_s: float | None = None
    evidence: str | None = None
    line: int = 0  # 1-based line where the span ended (or was detected)


@dataclass(frozen=True, slots=True)
class Signal:
    """A line in a log that proves a cause: a timeout, a cancel, a lost runner or an error."""

    kind: str  # one of INCIDENT_KINDS
    line: int  # 1-based
    at: datetime | None
    step_number: int | None
    step: str | None
    phase: str | None
    limit_s: float | None
    evidence: str  # the line's text, ANSI codes and timestamp removed, cut to 500 characters


@dataclass(frozen=True, slots=True)
class ParsedLog:
    """Everything the parser found in one job's log."""

    job_name: str | None  # from the set-up section's "Complete job name: ..." line
    started_at: datetime | None  # first timestamp
    completed_at: datetime | None  # last timestamp
    steps: tuple[StepSpan, ...]
    phases: tuple[PhaseSpan, ...]
    signals: tuple[Signal, ...]
    line_count: int
    conclusion: str | None = None  # what the log itself says: success, failure, cancelled, ...
    warnings: tuple[str, ...] = field(default=())
    gap_s: float | None = None  # the longest time between two consecutive lines of the whole log


@dataclass(frozen=True, slots=True)
class Observation:
    """One measured duration of one unit in one run attempt."""

    scope: str  # job | step | phase
    repo: str
    workflow: str
    job: str
    step: str | None
    phase: str | None
    run_id: int
    run_attempt: int
    job_id: int
    started_at: datetime | None
    duration_s: float
    outcome: str
    censored: bool
    limit_s: float | None = None
    runner: str | None = None
    step_number: int | None = None
    silence_s: float | None = None  # a run a limit ended: how long its log was silent before (hangs)
    gap_s: float | None = None  # the longest silence between two of its lines

    @classmethod
    def of_job(cls, job: Job, scope: str, **measured: Any) -> Observation:
        """An observation of ``job``'s attempt: its repo, workflow, job and ids, and what was ``measured``
        (step, phase, started_at, duration_s, outcome, censored, limit_s, runner, step_number)."""
        ids = {"repo": job.repo, "workflow": job.workflow_name, "job": job.name, "run_id": job.run_id,
               "run_attempt": job.run_attempt, "job_id": job.job_id}  # fmt: skip
        return cls(scope=scope, **{"step": None, "phase": None, **ids, **measured})


@dataclass(frozen=True, slots=True)
class Incident:
    """The cause that ended a job attempt, with the line that proves it."""

    repo: str
    workflow: str
    run_id: int
    run_attempt: int
    job_id: int
    job: str
    step_number: int | None
    step: str | None
    phase: str | None
    kind: str
    limit_s: float | None
    evidence: str
    occurred_at: datetime | None = None
    # the job attempt's run context, as the store knows it (not part of what the log proved)
    context: JobContext | None = field(default=None, compare=False)
    silence_s: float | None = None  # the log's silence before the limit fired (hangs)
    last_output: str | None = None  # the last line before that silence
    ended_by: str | None = None  # for a ``hang``: the limit that ended it (job_timeout, step_timeout, ...)

    @classmethod
    def of_job(cls, job: Job, kind: str, evidence: str, **where: Any) -> Incident:
        """The incident that ended ``job``'s attempt; the evidence is cut to 500 characters. ``where``:
        step_number, step, phase, limit_s, occurred_at (None where not given)."""
        where = {"step_number": None, "step": None, "phase": None, "limit_s": None, **where}
        return cls(job.repo, job.workflow_name, job.run_id, job.run_attempt, job.job_id, job.name, kind=kind,
                   evidence=evidence[:500], **where)  # fmt: skip


@dataclass(frozen=True, slots=True)
class JobAttempt:
    """One attempt of one job, as the store knows it (its jobs row and its incident's kind): what
    rerun rates are counted from (``analyzer.model.reruns``)."""

    workflow: str
    job: str
    run_id: int
    run_attempt: int
    conclusion: str | None  # the jobs API's: success, failure, timed_out, cancelled, skipped, ...
    kind: str | None = None  # the incident's kind (INCIDENT_KINDS), if any
    repo: str = ""


@dataclass(frozen=True, slots=True)
class ExcerptLine:
    """One line of a failure excerpt: its 1-based number in the log, its cleaned text and its role.

    ``role`` is ``evidence`` (the incident's line), ``error`` (an error-looking line before it;
    the line after a test framework's evidence line, which describes it; or, when the evidence
    is the runner's bare ``Process completed with exit code N.`` and nothing before it looks
    like an error, the last lines before it) or ``context`` (a line right after an error line,
    one of the last two lines before the evidence, or the step's ``##[group]Run`` line).
    ``number`` is 0 for a line that is not in the log: the check-run annotation that proved the
    cause (a job timeout, a cancel) or, without a log, the incident's evidence.
    """

    number: int
    text: str
    role: str


@dataclass(frozen=True, slots=True)
class Excerpt:
    """The lines that explain why a job attempt failed (``analyzer.parse.failures``), in log order."""

    lines: tuple[ExcerptLine, ...]
    evidence_line: int | None  # 1-based; None when the log had no usable line

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)

    def first_error(self) -> str:
        """The first error-looking line (or the evidence line when there is none); '' when empty."""
        for line in self.lines:
            if line.role == "error":
                return line.text
        return next((line.text for line in self.lines if line.role == "evidence"), "")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for storing: ``{"evidence_line": n, "lines": [[number, role, text], ...]}``."""
        return {"evidence_line": self.evidence_line, "lines": [[ln.number, ln.role, ln.text] for ln in self.lines]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Excerpt:
        """Inverse of :meth:`to_dict`."""
        lines = tuple(ExcerptLine(int(n), str(text), str(role)) for n, role, text in data.get("lines", ()))
        evidence = data.get("evidence_line")
        return cls(lines, None if evidence is None else int(evidence))
