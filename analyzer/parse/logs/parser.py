"""One job's log → ``ParsedLog``: candidate lines classified, steps split, phases found, signals placed."""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Sequence
from itertools import pairwise

from analyzer.config import PhaseRule
from analyzer.errors import LogParseError
from analyzer.parse.logs.detectors import Detection, detect, detect_kubectl_wait, detector_phases
from analyzer.parse.logs.index import Line, LogIndex
from analyzer.parse.logs.phases import Phase, composite_phases, phase_of, rule_phases
from analyzer.parse.logs.quiet import LineTimes, Quiet
from analyzer.parse.logs.signals import Sig, classify_signal, job_outcome
from analyzer.parse.logs.steps import (
    Marker,
    Range,
    api_ranges,
    bare_ranges,
    marker_of,
    number_repeats,
    part_ranges,
    step_conclusions,
    step_times,
)
from analyzer.parse.logs.text import BOM, check_looks_like_log, evidence, prepare, read_job_name
from analyzer.records import ParsedLog, PhaseSpan, Signal, StepInfo, StepSpan


def parse_job_log(
    data: bytes | str,
    *,
    steps: Sequence[StepInfo] = (),
    rules: Sequence[PhaseRule] = (),
    job_name: str | None = None,
    job_conclusion: str | None = None,
) -> ParsedLog:
    """Parse one job's log into steps, phases and signals.

    ``steps``: the jobs API's steps, to split the log by their times (else by markers alone).
    ``rules``: ``[[phases]]`` rules. In the steps they apply to (``rule.step`` searched in the
    step name or the job name), each ``start`` match opens the phase (a start while it is open is
    ignored); it ends at the first later ``end`` match -- outcome ``success``, or ``timeout``
    (censored, ``limit_s`` = ``rule.timeout_s`` or the limit the line states) when that line is
    a timeout line. Without an end match it ends at the next start of any rule or at the end of
    its step: a normal ``success`` for a rule without ``end`` (at step end only if the step
    succeeded), else ``cancelled`` and censored.
    Built-in detectors (always on): ``ginkgo:before-suite``, ``ginkgo:suite``,
    ``go-test:<Test>``, ``go-pkg:<import path>``, ``pytest`` and ``kubectl-wait:<kind/name>``
    (pod names lose their ReplicaSet/random suffix so that runs share one unit).
    ``job_name``/``job_conclusion``: from the API when known; the name is matched by rules, the
    conclusion marks the step a truncated log ends in (``cancelled``/``timed_out``).

    Raises :class:`LogParseError` for input that is not a GitHub Actions log.
    """
    buf = prepare(data, what="the log")
    check_looks_like_log(buf)
    return _parse(LogIndex(buf), list(steps), list(rules), job_name, job_conclusion, parts=None)


def parse_step_logs(
    parts: Sequence[tuple[int, str, bytes | str]],
    *,
    steps: Sequence[StepInfo] = (),
    rules: Sequence[PhaseRule] = (),
    job_name: str | None = None,
    job_conclusion: str | None = None,
) -> ParsedLog:
    """Parse the per-step files of one job from a run-log zip as if they were its job log.

    ``parts``: ``(step number, step name from the file name, content)``; order does not matter and
    files may be missing. With ``steps`` (API), names and times come from the API and API steps
    without a file get no lines; without, each file is a step named after its file.
    """
    buf, bounds = join_step_logs(parts)
    if not buf.strip():
        raise LogParseError("the per-step logs are empty", hint="pass the step files of a run-log zip")
    check_looks_like_log(buf)
    return _parse(LogIndex(buf), list(steps), list(rules), job_name, job_conclusion, parts=bounds)


def join_step_logs(
    parts: Sequence[tuple[int, str, bytes | str]], *, check: bool = True
) -> tuple[bytes, list[tuple[int, str, int, int]]]:
    """The per-step files of one job as the one buffer :func:`parse_step_logs` numbers lines in (in
    step order, each without its BOM and ending in a newline), and each file's ``(number, name,
    start offset, end offset)``. ``check``: raise LogParseError for a file that is not UTF-8 text."""
    chunks: list[bytes] = []
    bounds: list[tuple[int, str, int, int]] = []
    offset = 0
    for number, name, content in sorted(parts, key=lambda p: p[0]):
        if check:
            raw = prepare(content, what=f"step {number} ({name})", allow_empty=True)
        else:
            raw = content.encode("utf-8", "replace") if isinstance(content, str) else bytes(content)
        if raw.startswith(BOM):
            raw = raw[len(BOM) :]
        if raw and not raw.endswith(b"\n"):
            raw += b"\n"
        chunks.append(raw)
        bounds.append((number, name, offset, offset + len(raw)))
        offset += len(raw)
    return b"".join(chunks), bounds


def _classify(lines: list[Line]) -> tuple[list[Marker], list[Sig], list[Detection]]:
    """Each candidate line as a step marker, a signal and a detection (a line can be all three)."""
    markers: list[Marker] = []
    sigs: list[Sig] = []
    detections: list[Detection] = []
    for ln in lines:
        marker = marker_of(ln)
        if marker is not None:
            markers.append(marker)
        sig = classify_signal(ln.text)
        if sig is not None:
            sigs.append(Sig(sig[0], sig[1], ln))
        det = detect(ln.text)
        if det is not None:
            detections.append((det[0], ln, det[1]))
        wait = detect_kubectl_wait(ln)
        if wait is not None:
            detections.append(wait)
    return markers, sigs, detections


def _parse(
    log: LogIndex,
    api: list[StepInfo],
    rules: list[PhaseRule],
    job_name: str | None,
    job_conclusion: str | None,
    parts: list[tuple[int, str, int, int]] | None,
) -> ParsedLog:
    lines = log.candidates()
    markers, raw_sigs, detections = _classify(lines)
    log_job_name = read_job_name(log.buf)
    has_times = any(ln.at is not None for ln in lines) or log.time_at(log.start) is not None

    if parts is not None:
        ranges = part_ranges(log, parts, api)
    elif api and has_times:
        ranges = api_ranges(log, api, markers)
    else:
        if api:
            log.warnings.append("the log has no timestamps: steps split by markers, API steps ignored")
        ranges = bare_ranges(log, markers)
    for r, name in zip(ranges, number_repeats([r.name for r in ranges]), strict=True):
        r.name = name
    with_lines = [r for r in ranges if r.first_line]
    firsts = [r.first_line for r in with_lines]
    index_of = {id(r): i for i, r in enumerate(ranges)}

    def step_of(no: int) -> int:
        k = bisect_right(firsts, no) - 1
        return index_of[id(with_lines[k])] if k >= 0 else -1

    for ln in lines:
        ln.step = step_of(ln.no)
    step_times(log, ranges, with_lines)
    step_conclusions(ranges, raw_sigs, job_conclusion)

    names = [x for x in (job_name, log_job_name) if x]
    phases = detector_phases(log, detections, raw_sigs, ranges)
    phases += rule_phases(log, rules, ranges, names, raw_sigs)
    if parts is not None or (api and has_times):
        phases += composite_phases(ranges, markers)
    else:
        _note_composites(log, ranges)
    phases.sort(key=lambda p: (p.end_line, p.name))
    for step in {p.step for p in phases}:  # a phase name twice in one step: told apart by position
        mine = [p for p in phases if p.step == step]
        for p, name in zip(mine, number_repeats([p.name for p in mine]), strict=True):
            p.name = name

    by_step: dict[int, list[Phase]] = {}
    for p in phases:
        by_step.setdefault(p.step, []).append(p)
    signals = [_signal(s, ranges, by_step.get(s.line.step, [])) for s in raw_sigs]
    started = log.first_time_in(log.start, log.n)
    completed = log.time_at(log.last_line_start())
    times = LineTimes.of(log.buf, log.start)
    quiet = times.quiet([(r.first_line, r.last_line, r.completed_at) for r in ranges])
    return ParsedLog(
        job_name=log_job_name or job_name,
        started_at=started,
        completed_at=completed,
        steps=tuple(_step_span(log, r, q) for r, q in zip(ranges, quiet, strict=True)),
        phases=tuple(_phase_span(p, ranges[p.step] if p.step >= 0 else None) for p in phases),
        signals=tuple(signals),
        line_count=log.line_count,
        conclusion=job_outcome(raw_sigs),
        warnings=tuple(log.warnings),
        gap_s=times.longest_gap(1, log.line_count),
    )


COMPOSITE_NOTE = "looks like a composite action"
_ACTION_REF = re.compile(r"^Run (?:[\w.-]+/[\w./-]+@\S+|\./\S+)$")  # Run owner/repo@ref, Run ./local-action


def _note_composites(log: LogIndex, ranges: list[Range]) -> None:
    """A bare log cannot tell a composite action's sub-steps from steps (each ``##[group]Run`` is a
    step): the best guess is that an action step printing nothing of its own before the next
    ``Run`` is a composite one, said in a warning so its 0 s and the steps after it are read as such."""
    for r, nxt in pairwise(ranges):
        if not (r.first_line and nxt.first_line and _ACTION_REF.match(r.name) and nxt.name.startswith("Run ")):
            continue
        own = log.buf[log.offset_of_line(r.first_line) : log.offset_of_line(nxt.first_line)]
        header_end = own.find(b"##[endgroup]")
        after = own[own.find(b"\n", header_end) + 1 :] if header_end >= 0 else b"x"
        if not after.strip():
            log.warnings.append(
                f"step {r.name!r} {COMPOSITE_NOTE}: in a bare log its sub-steps count as steps of their own and "
                "it as 0 s (fetch or a run-log zip tells them apart)"
            )


def _step_span(log: LogIndex, r: Range, quiet: Quiet) -> StepSpan:
    """A step as found, with its silences (and, if it did not succeed, the last line before its silence)."""
    evidence = None
    if quiet.quiet_line and r.conclusion not in (None, "success", "skipped"):
        evidence = log.evidence_of_line(quiet.quiet_line)
    return StepSpan(
        r.number, r.name, r.started_at, r.completed_at, r.conclusion, r.first_line, r.last_line, gap_s=quiet.gap_s,
        silence_s=quiet.silence_s, quiet_evidence=evidence,
    )  # fmt: skip


def _signal(s: Sig, ranges: list[Range], phases: list[Phase]) -> Signal:
    ln = s.line
    r = ranges[ln.step] if ln.step >= 0 else None
    return Signal(
        kind=s.kind,
        line=ln.no,
        at=ln.at,
        step_number=r.number if r else None,
        step=r.name if r else None,
        phase=phase_of(ln, phases),
        limit_s=s.limit,
        evidence=evidence(ln.text),
    )


def _phase_span(p: Phase, step: Range | None) -> PhaseSpan:
    return PhaseSpan(
        p.name, step.number if step else None, step.name if step else None, p.started_at,
        round(max(0.0, p.duration_s), 6), p.outcome, p.censored, p.limit_s, p.evidence, line=p.end_line,
    )  # fmt: skip
