"""A job, its log and its annotations → the observations it measured, the incident that ended it
and the excerpt of its log that explains the failure.

``analyze_job`` is pure; ``analyzer.parse.reparse`` applies it to the jobs in the store.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from analyzer.config import PhaseRule
from analyzer.errors import LogParseError
from analyzer.parse import events, logs
from analyzer.parse.failures import MAX_BYTES, MAX_LINES, LogLines, clean_line, extract_excerpt
from analyzer.parse.logs import rules_fingerprint as rules_fingerprint  # (re-exported: callers import it from here)
from analyzer.parse.logs.parser import COMPOSITE_NOTE
from analyzer.parse.logs.signals import JOB_TIMEOUT_RE, RUNNER_LOST_RE
from analyzer.parse.logs.steps import number_repeats
from analyzer.records import (
    CENSORING_OUTCOMES,
    TIMEOUT_KINDS,
    Annotation,
    Excerpt,
    ExcerptLine,
    Incident,
    Job,
    LogPart,
    Observation,
    ParsedLog,
    Signal,
    StepSpan,
)

_CONCLUSION_OUTCOME = {
    "success": "success",
    "failure": "failure",
    "cancelled": "cancelled",
    "timed_out": "timeout",
    "skipped": "skipped",
    "neutral": "success",
    "action_required": "failure",
    "startup_failure": "failure",
    "stale": "cancelled",
}


@dataclass(frozen=True, slots=True)
class Analysis:
    observations: tuple[Observation, ...]
    incident: Incident | None
    parsed: ParsedLog | None
    warning: str | None = None
    excerpt: Excerpt | None = None  # for every attempt with an incident: the lines that explain it


@dataclass(frozen=True, slots=True)
class Cause:
    """The incident that ended a job attempt and what proves it: a log line (``signal``), else a
    check-run annotation (``note``), else only the job's conclusion (neither)."""

    incident: Incident
    signal: Signal | None = None
    note: str | None = None


def _step_parts(parts: Sequence[LogPart]) -> list[tuple[int, str, bytes]]:
    return [(p.part, p.name or f"step {p.part}", p.data) for p in parts if p.part > 0 and p.data is not None]


def _whole_log(parts: Sequence[LogPart]) -> bytes | None:
    return next((p.data for p in parts if p.part == 0 and p.state == "ok" and p.data is not None), None)


def log_data(parts: Sequence[LogPart]) -> bytes | None:
    """The text ``parse_parts`` parses, as one buffer whose line numbers are the signals' lines."""
    step_parts = _step_parts(parts)
    return logs.join_step_logs(step_parts, check=False)[0] if step_parts else _whole_log(parts)


def parse_parts(parts: Sequence[LogPart], job: Job, rules: Sequence[PhaseRule]) -> ParsedLog | None:
    """Parse a job's stored log: per-step files when there are any, else the whole log."""
    step_parts = _step_parts(parts)
    whole = _whole_log(parts)
    if step_parts:
        return logs.parse_step_logs(
            step_parts, steps=job.steps, rules=rules, job_name=job.name, job_conclusion=job.conclusion
        )
    if whole is not None:
        return logs.parse_job_log(whole, steps=job.steps, rules=rules, job_name=job.name, job_conclusion=job.conclusion)
    return None


def analyze_job(
    job: Job,
    parts: Sequence[LogPart],
    annotations: Sequence[Annotation],
    rules: Sequence[PhaseRule],
) -> Analysis:
    """Observations (job, steps, phases) and the incident that ended the attempt, if any."""
    # Bootstrap runner events (saved by ingest under events.EVENTS_LOG_NAME) are not a GitHub
    # Actions log: their own reader turns them into phase observations, so reparse keeps them.
    if events.is_events_log(parts):
        observations, incident = events.events_analysis(job, parts)
        excerpt = None if incident is None else failure_excerpt(None, Cause(incident))
        return Analysis(tuple(observations), incident, None, excerpt=excerpt)
    warning = None
    try:
        parsed = parse_parts(parts, job, rules)
    except LogParseError as exc:
        parsed, warning = None, f"job {job.job_id} ({job.name}): log not parsed: {exc.message}"
    notes = [w for w in (parsed.warnings if parsed else ()) if COMPOSITE_NOTE in w]
    if notes and warning is None:  # what a bare log cannot tell, said once per job and step (reparse dedupes)
        warning = f"job {job.name!r}: " + "; ".join(notes)
    cause = find_cause(job, parsed, annotations)
    incident = cause.incident if cause else None
    cut = _cut_step(parsed, incident)
    if incident is not None and cut is not None and incident.kind in ("job_timeout", "step_timeout"):
        # the runner's own limits say nothing but "timed out": the last line before the silence says where it hung
        incident = replace(incident, silence_s=cut.silence_s, last_output=cut.quiet_evidence)
    observations = _observations(job, parsed, incident, cut)
    excerpt = None if cause is None else failure_excerpt(log_data(parts), cause)
    return Analysis(tuple(observations), incident, parsed, warning, excerpt)


def failure_excerpt(data: bytes | None, cause: Cause) -> Excerpt:
    """The lines of a failed attempt's log that explain it (``parse.failures.extract_excerpt`` at
    the signal's line, else at the annotation's text), and the annotation itself when the log does
    not hold it (a job timeout, a cancel): number 0, role ``evidence``. Without any line, the
    incident's evidence alone (number 0)."""
    lines = LogLines(data) if data else LogLines(b"")
    signal = cause.signal
    evidence = None if signal is not None else cause.note
    excerpt = extract_excerpt(lines, signal.line if signal is not None else None, evidence=evidence)
    extra = clean_line(cause.note or "") if cause.note else ""
    if extra and any(extra.removeprefix("##[error]") in line.text for line in excerpt.lines):
        extra = ""
    if not extra and not excerpt.lines:
        extra = clean_line(cause.incident.evidence)
    if not extra:
        return excerpt
    if len(excerpt.lines) >= MAX_LINES or len(excerpt.text.encode()) + len(extra.encode()) + 1 > MAX_BYTES:
        line = signal.line if signal is not None else excerpt.evidence_line
        excerpt = extract_excerpt(lines, line, evidence=evidence, max_lines=MAX_LINES - 1, max_bytes=MAX_BYTES - len(extra.encode()) - 1)
    return Excerpt((*excerpt.lines, ExcerptLine(0, extra, "evidence")), excerpt.evidence_line)


INNER_LIMITS = frozenset({"step_timeout", "tool_timeout", "test_timeout"})  # limits inside the job that end it


def _cut_step(parsed: ParsedLog | None, incident: Incident | None) -> StepSpan | None:
    """The step a limit cut (the incident's, else the first that was cancelled or failed), if a limit ended the job."""
    if parsed is None or incident is None or incident.kind not in TIMEOUT_KINDS:
        return None
    spans = [s for s in parsed.steps if s.first_line]
    if incident.step_number is not None:
        named = next((s for s in spans if s.number == incident.step_number), None)
        if named is not None:
            return named
    return next((s for s in spans if s.conclusion in ("cancelled", "failure")), None)


def classify_incident(job: Job, parsed: ParsedLog | None, annotations: Sequence[Annotation]) -> Incident | None:
    """The one cause that ended a job attempt (a job timeout outranks the tool timeout it cut off)."""
    cause = find_cause(job, parsed, annotations)
    return None if cause is None else cause.incident


def find_cause(job: Job, parsed: ParsedLog | None, annotations: Sequence[Annotation]) -> Cause | None:
    """``classify_incident``'s incident with the log line or annotation that proves it."""
    conclusion = job.conclusion or (parsed.conclusion if parsed else None)
    if conclusion in (None, "success", "skipped", "neutral"):
        return None
    signals = parsed.signals if parsed else ()

    def make(kind: str, evidence: str, limit: float | None, signal: Signal | None, note: str | None = None) -> Cause:
        step_number, step_name, phase = _where(job, parsed, signal)
        when = signal.at if signal and signal.at else (job.completed_at or (parsed.completed_at if parsed else None))
        incident = Incident.of_job(
            job, kind, evidence, step_number=step_number, step=step_name, phase=phase, limit_s=limit, occurred_at=when
        )
        return Cause(incident, signal, note)

    for note in annotations:
        match = JOB_TIMEOUT_RE.search(note.message)
        if match:
            return make("job_timeout", note.message, logs.parse_duration(match["limit"]), None, note.message)
    by_kind: dict[str, list[Signal]] = {}
    for sig in signals:
        by_kind.setdefault(sig.kind, []).append(sig)
    if "job_timeout" in by_kind:
        sig = by_kind["job_timeout"][0]
        return make("job_timeout", sig.evidence, sig.limit_s, sig)
    if conclusion == "timed_out":
        return make("job_timeout", "job concluded timed_out", None, None)
    if "step_timeout" in by_kind:
        sig = by_kind["step_timeout"][0]
        return make("step_timeout", sig.evidence, sig.limit_s, sig)
    lost_note = next((a for a in annotations if RUNNER_LOST_RE.search(a.message)), None)
    if "runner_lost" in by_kind:
        sig = by_kind["runner_lost"][0]
        return make("runner_lost", sig.evidence, None, sig)
    if lost_note is not None:
        return make("runner_lost", lost_note.message, None, None, lost_note.message)
    if conclusion == "cancelled":
        cancel_note = next((a for a in annotations if a.message), None)
        cancel_sig = next(iter(by_kind.get("cancelled", [])), None)
        evidence = cancel_note.message if cancel_note else (cancel_sig.evidence if cancel_sig else "job concluded cancelled")
        return make("cancelled", evidence, None, cancel_sig, cancel_note.message if cancel_note else None)
    timeouts = sorted(by_kind.get("tool_timeout", []) + by_kind.get("test_timeout", []), key=lambda s: s.line)
    if timeouts:
        sig = timeouts[0]
        return make(sig.kind, sig.evidence, sig.limit_s, sig)
    fail_sig = next(iter(by_kind.get("failure", [])), None)
    fail_note = next((a for a in annotations if a.level == "failure" and a.message), None)
    evidence = fail_sig.evidence if fail_sig else (fail_note.message if fail_note else f"job concluded {conclusion}")
    return make("failure", evidence, None, fail_sig, fail_note.message if fail_note and not fail_sig else None)


def _where(job: Job, parsed: ParsedLog | None, signal: Signal | None) -> tuple[int | None, str | None, str | None]:
    if signal is not None and signal.step_number is not None:
        return signal.step_number, signal.step, signal.phase
    # No line names the step: blame the first step that did not succeed, and the phase it cut off.
    steps = parsed.steps if parsed and parsed.steps else ()
    for span in steps:
        if span.conclusion not in (None, "success", "skipped"):
            cut = [p for p in (parsed.phases if parsed else ()) if p.step_number == span.number and p.censored]
            return span.number, span.name, (cut[-1].name if cut else None)
    names = api_step_names(job)
    for info in job.steps:
        if info.conclusion not in (None, "success", "skipped"):
            return info.number, names[info.number], None
    return None, None, None


def api_step_names(job: Job) -> dict[int, str]:
    """The API's step names by number, repeated names told apart by position (``X #2``), as the parser does."""
    ordered = sorted(job.steps, key=lambda s: s.number)
    return dict(zip((s.number for s in ordered), number_repeats([s.name for s in ordered]), strict=True))


def _observations(job: Job, parsed: ParsedLog | None, incident: Incident | None, cut: StepSpan | None) -> list[Observation]:
    """The job's, its steps' and its phases' observations. A run an inner limit ended (a step's
    ``timeout-minutes``, a tool's or a test framework's timeout) lasted *at least* as long as observed
    for the units around that limit: the job (and, for a tool or test timeout, its step) is censored
    (its outcome stays ``failure``). A unit a limit ended carries the silence before it (``silence_s``)."""
    runner = job.labels[0] if job.labels else None
    kind = incident.kind if incident else None
    inner = kind in INNER_LIMITS
    inner_step = incident.step_number if incident is not None and kind in ("tool_timeout", "test_timeout") else None
    silence = cut.silence_s if cut is not None else None
    out: list[Observation] = []

    def add(scope: str, step: str | None, step_number: int | None, phase: str | None, **kw: object) -> None:
        out.append(Observation.of_job(job, scope, step=step, phase=phase, runner=runner, step_number=step_number, **kw))

    # The job.
    start = job.started_at or (parsed.started_at if parsed else None)
    end = job.completed_at or (parsed.completed_at if parsed else None)
    conclusion = job.conclusion or (parsed.conclusion if parsed else None)
    outcome = _CONCLUSION_OUTCOME.get(conclusion or "", "success" if conclusion is None else "failure")
    if kind == "job_timeout":
        outcome = "timeout"
    elif kind == "runner_lost":
        outcome = "runner_lost"
    if start is not None and end is not None and outcome != "skipped":
        add(
            "job",
            None,
            None,
            None,
            started_at=start,
            duration_s=max(0.0, (end - start).total_seconds()),
            outcome=outcome,
            censored=outcome in CENSORING_OUTCOMES or (inner and outcome == "failure"),
            limit_s=incident.limit_s if incident is not None and kind == "job_timeout" else None,
            silence_s=silence if kind in TIMEOUT_KINDS else None,
            gap_s=parsed.gap_s if parsed else None,
        )

    # Steps: the log's refined spans when there is a log, else the API's step times.
    spans = list(parsed.steps) if parsed and parsed.steps else []
    api_steps = {s.number: s for s in job.steps}
    if not spans:
        names = api_step_names(job)
        for info in job.steps:
            if info.started_at is None or info.completed_at is None:
                continue
            step_outcome = _step_outcome(info.conclusion, info.number, incident)
            if step_outcome == "skipped":
                continue
            add(
                "step",
                names[info.number],
                info.number,
                None,
                started_at=info.started_at,
                duration_s=max(0.0, (info.completed_at - info.started_at).total_seconds()),
                outcome=step_outcome,
                censored=step_outcome in CENSORING_OUTCOMES,
                limit_s=_step_limit(info.number, incident),
            )
    for span in spans:
        duration = span.duration_s
        if duration is None or span.started_at is None:
            continue
        api = api_steps.get(span.number)
        step_outcome = _step_outcome(api.conclusion if api else span.conclusion, span.number, incident)
        if step_outcome == "skipped":
            continue
        ended = step_outcome == "timeout" or (span.number == inner_step and step_outcome == "failure")
        add(
            "step",
            span.name,
            span.number,
            None,
            started_at=span.started_at,
            duration_s=duration,
            outcome=step_outcome,
            censored=step_outcome in CENSORING_OUTCOMES or ended,
            limit_s=_step_limit(span.number, incident),
            silence_s=span.silence_s if ended else None,
            gap_s=span.gap_s,
        )

    # Phases, as the parser found them.
    for phase in parsed.phases if parsed else ():
        add(
            "phase",
            phase.step,
            phase.step_number,
            phase.name,
            started_at=phase.started_at or start,
            duration_s=phase.duration_s,
            outcome=phase.outcome,
            censored=phase.censored,
            limit_s=phase.limit_s,
        )
    return _one_sample_per_unit(out)


def _one_sample_per_unit(observations: list[Observation]) -> list[Observation]:
    """At most one observation per unit of the job run (the first): two samples of one run would count
    one run twice. Names are already made distinct; this holds the rule for any source."""
    seen: set[tuple[str, str | None, str | None]] = set()
    kept = []
    for o in observations:
        key = (o.scope, o.step, o.phase)
        if key not in seen:
            seen.add(key)
            kept.append(o)
    return kept


def _step_outcome(conclusion: str | None, number: int, incident: Incident | None) -> str:
    outcome = _CONCLUSION_OUTCOME.get(conclusion or "", "success" if conclusion is None else "failure")
    if incident is not None and incident.step_number == number:
        if incident.kind in ("step_timeout", "job_timeout"):
            return "timeout"
        if incident.kind == "runner_lost":
            return "runner_lost"
    return outcome


def _step_limit(number: int, incident: Incident | None) -> float | None:
    if incident is not None and incident.kind == "step_timeout" and incident.step_number == number:
        return incident.limit_s
    return None
