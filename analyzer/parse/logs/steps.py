"""Splitting a log into steps: by the jobs API's step times, by per-step files, or by markers alone.

See ``analyzer.parse.logs`` for the rules; each step becomes a ``Range`` of lines with its times
and its conclusion.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from datetime import datetime, timedelta

from analyzer.parse.logs.index import Line, LogIndex
from analyzer.parse.logs.signals import Sig
from analyzer.records import StepInfo

ONE_S = timedelta(seconds=1)
_TOL = timedelta(seconds=1)  # slack around API step times (they are truncated to the second)


@dataclass(slots=True)
class Marker:
    kind: str  # setup | run | section | post | complete
    name: str
    line: Line


@dataclass(slots=True)
class Range:
    number: int
    name: str
    api: StepInfo | None
    first_off: int = -1  # -1: no lines
    end_off: int = -1  # exclusive
    first_line: int = 0
    last_line: int = 0
    started_at: datetime | None = None
    completed_at: datetime | None = None
    conclusion: str | None = None


def marker_of(ln: Line) -> Marker | None:
    """The step-start marker a candidate line is, if it is one."""
    text = ln.text
    if text.startswith("##[group]Run "):
        return Marker("run", text[len("##[group]") :].strip(), ln)
    if text.startswith("##[section]Starting: "):
        return Marker("section", text[len("##[section]Starting: ") :].strip(), ln)
    if text.strip() == "Post job cleanup.":
        return Marker("post", "Post job cleanup", ln)
    if text.startswith("Current runner version"):
        return Marker("setup", "Set up job", ln)
    if text.startswith("Cleaning up orphan processes"):
        return Marker("complete", "Complete job", ln)
    return None


_COMPATIBLE = {
    "setup": frozenset({"setup"}),
    "post": frozenset({"post"}),
    "complete": frozenset({"complete"}),
    "run": frozenset({"run", "section"}),
}


def _wanted_kind(name: str) -> str:
    if name == "Set up job":
        return "setup"
    if name == "Complete job":
        return "complete"
    if name.startswith("Post "):
        return "post"
    return "run"


# How the set-up section of a whole job log begins (runner versions 2019-2026). A log that begins
# otherwise is an excerpt or a tail: its lines before the first step marker are of an unknown step.
_SETUP_OPENERS = (
    "Current runner version", "Requested labels", "Job is waiting", "Found online and idle", "Job defined at",
    "Waiting for a runner", "Requested runner group", "Job is about to start running", "Runner name",
    "##[section]Starting: Request a runner", "##[section]Starting: Prepare job", "##[debug]Starting:",
)  # fmt: skip


def starts_with_setup(log: LogIndex) -> bool:
    """Whether the log's first line opens a job's set-up section (a whole log, not an excerpt)."""
    _, text_start = log.own_time(log.start)
    first = log.buf[text_start : log.line_end(log.start)].decode("utf-8", "ignore").lstrip("\ufeff").strip()
    return first.startswith(_SETUP_OPENERS)


def bare_ranges(log: LogIndex, markers: list[Marker]) -> list[Range]:
    """Steps by markers alone (``analyzer.parse.logs``); the lines before the first marker are "Set up
    job" only when the log begins with the set-up section, else of no known step."""
    openers: list[tuple[str, Line | None]] = []
    complete = [m for m in markers if m.kind == "complete"]
    others = [m for m in markers if m.kind != "complete"]
    if not (markers and markers[0].line.no == 1) and starts_with_setup(log):
        openers.append(("Set up job", None))
    for mk in others:
        if mk.kind == "setup":
            if openers and openers[-1][0] == "Set up job":
                continue
            openers.append(("Set up job", mk.line))
        elif mk.kind == "post":
            openers.append(("Post job cleanup", mk.line))
        else:
            openers.append((mk.name, mk.line))
    if complete and (not others or complete[-1].line.no > others[-1].line.no):
        openers.append(("Complete job", complete[-1].line))
    ranges: list[Range] = []
    for i, (name, line) in enumerate(openers, start=1):
        r = Range(number=i, name=name, api=None)
        r.first_off, r.first_line = (line.off, line.no) if line else (log.start, 1)
        ranges.append(r)
    close_ranges(log, ranges)
    return ranges


def api_ranges(log: LogIndex, api: list[StepInfo], markers: list[Marker]) -> list[Range]:
    ordered = sorted(api, key=lambda s: s.number)
    marker_nos = [m.line.no for m in markers]
    marker_set = set(marker_nos)
    ranges: list[Range] = []
    prev_no, prev_off = 0, log.start
    mismatched: list[str] = []
    for s in ordered:
        r = Range(number=s.number, name=s.name, api=s)
        ranges.append(r)
        start_t = s.started_at
        if start_t is None or s.conclusion == "skipped":
            continue
        end_t = s.completed_at if s.completed_at is not None and s.completed_at >= start_t else start_t
        want = _wanted_kind(s.name)
        pick: Marker | None = None
        late: Marker | None = None
        for mk in markers[bisect_right(marker_nos, prev_no) :]:
            at = mk.line.at
            if at is None or mk.kind not in _COMPATIBLE[want]:
                continue
            if at > start_t + ONE_S + _TOL or at >= end_t + ONE_S + _TOL:
                break  # a step prints its first line within a second of starting
            if at >= start_t:
                pick = mk
                break
            if at >= start_t - _TOL:
                late = mk
        pick = pick or late
        if pick is not None:
            r.first_off, r.first_line = pick.line.off, pick.line.no
        elif prev_no == 0 and want == "setup":
            r.first_off, r.first_line = log.start, 1
        else:
            lo = prev_off if prev_no == 0 else log.line_end(prev_off) + 1
            off = log.first_at_or_after(start_t, lo)
            if off is None:
                continue
            no = log.line_no(off)
            at = log.time_at(off)
            if at is None or at >= end_t + ONE_S + _TOL or no in marker_set:
                mismatched.append(s.name)
                continue
            r.first_off, r.first_line = off, no
        prev_no, prev_off = r.first_line, r.first_off
    if mismatched and len(mismatched) == sum(1 for s in ordered if s.started_at and s.conclusion != "skipped"):
        log.warnings.append("API step times do not match the log's timestamps")
    with_lines = [r for r in ranges if r.first_line]
    if with_lines and with_lines[0].first_line > 1:
        with_lines[0].first_off, with_lines[0].first_line = log.start, 1
    close_ranges(log, ranges)
    return ranges


def part_ranges(log: LogIndex, parts: list[tuple[int, str, int, int]], api: list[StepInfo]) -> list[Range]:
    by_number = {s.number: s for s in api}
    ranges: list[Range] = []
    seen: set[int] = set()
    for number, name, a, b in parts:
        if number in seen:
            log.warnings.append(f"two step files for step {number}: {name!r} ignored")
            continue
        seen.add(number)
        s = by_number.get(number)
        r = Range(number=number, name=s.name if s else name, api=s)
        a = max(a, log.start)  # the buffer's own BOM is not a line
        if b > a:
            r.first_off, r.end_off = a, b
            r.first_line = log.line_no(a)
            r.last_line = log.line_no(b - 1)
        ranges.append(r)
    for s in api:
        if s.number not in seen:
            ranges.append(Range(number=s.number, name=s.name, api=s))
            if s.conclusion != "skipped" and s.started_at is not None:
                log.warnings.append(f"no log file for step {s.number} ({s.name})")
    ranges.sort(key=lambda r: r.number)
    return ranges


def close_ranges(log: LogIndex, ranges: list[Range]) -> None:
    with_lines = [r for r in ranges if r.first_line]
    for r, nxt in with_next(with_lines):
        if nxt is None:
            r.end_off, r.last_line = log.n, log.line_count
        else:
            r.end_off, r.last_line = nxt.first_off, nxt.first_line - 1


def step_times(log: LogIndex, ranges: list[Range], with_lines: list[Range]) -> None:
    nxt_of = {id(r): nxt for r, nxt in with_next(with_lines)}
    for r in ranges:
        s = r.api
        api_start = s.started_at if s else None
        api_end = s.completed_at if s else None
        if not r.first_line:
            r.started_at, r.completed_at = api_start, api_end
            continue
        first_t = log.time_at(r.first_off) or log.first_time_in(r.first_off, r.end_off)
        nxt = nxt_of[id(r)]
        if nxt is not None:
            end_t = log.time_at(nxt.first_off)
        else:
            end_t = log.time_at(log.line_start(max(r.first_off, r.end_off - 1)))
        if s is not None and api_start is not None:
            started = first_t if _near(first_t, api_start) else api_start
            completed = end_t if api_end is not None and _near(end_t, api_end) else (api_end or end_t)
        else:
            started, completed = first_t, end_t
        if started is not None and completed is not None and completed < started:
            completed = started
        r.started_at, r.completed_at = started, completed


def step_conclusions(ranges: list[Range], sigs: list[Sig], job_conclusion: str | None) -> None:
    kinds: dict[int, set[str]] = {}
    for sg in sigs:
        kinds.setdefault(sg.line.step, set()).add(sg.kind)
    last_with_lines = max((i for i, r in enumerate(ranges) if r.first_line), default=-1)
    for i, r in enumerate(ranges):
        if r.api is not None and r.api.conclusion:
            r.conclusion = r.api.conclusion
            continue
        if r.api is not None and not r.first_line:
            r.conclusion = None
            continue
        ks = kinds.get(i, set())
        if ks & {"cancelled", "job_timeout", "runner_lost"}:
            r.conclusion = "cancelled"
        elif ks & {"failure", "step_timeout"}:
            r.conclusion = "failure"
        else:
            r.conclusion = "success"
        if (
            i == last_with_lines
            and r.conclusion == "success"
            and r.name != "Complete job"
            and job_conclusion in ("cancelled", "timed_out")
        ):
            r.conclusion = "cancelled"


def number_repeats(names: list[str]) -> list[str]:
    """Steps (or phases) of one job with the same name told apart by position: the second
    ``Run set -euo pipefail`` is ``Run set -euo pipefail #2``, the third ``#3`` (stable across runs
    of the same workflow), so that a unit gets at most one sample per job run."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name} #{seen[name]}")
    return out


def with_next(ranges: list[Range]) -> list[tuple[Range, Range | None]]:
    return list(zip(ranges, [*ranges[1:], None], strict=False))


def _near(t: datetime | None, api: datetime) -> bool:
    return t is not None and api - _TOL <= t <= api + ONE_S + _TOL
