"""Sub-step spans from ``[[phases]]`` rules, and which phase a line belongs to.

In the steps a rule applies to (``rule.step`` searched in the step name or the job name), each
``start`` match opens the phase (a start while it is open is ignored); it ends at the first later
``end`` match, or at the next start of any rule, or at the end of its step (see
``analyzer.parse.logs.parse_job_log``). Lines are found by the rule's words first
(``analyzer.parse.logs.rules``) and checked with the full regex.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from analyzer.config import PhaseRule
from analyzer.parse.logs.index import Line, LogIndex
from analyzer.parse.logs.rules import CompiledRule, Prefilter, compile_rules
from analyzer.parse.logs.signals import TIMEOUT_WORD_RE, Sig, stated_limit
from analyzer.parse.logs.steps import ONE_S, Marker, Range
from analyzer.parse.logs.text import TS_STRIP_RE, clean, evidence


@dataclass(slots=True)
class Phase:
    name: str
    step: int  # range index
    started_at: datetime | None
    ended_at: datetime | None
    duration_s: float
    outcome: str
    censored: bool
    limit_s: float | None
    evidence: str | None
    end_line: int
    start_line: int | None = None  # known for rule and kubectl phases
    from_rule: bool = False


def phase_of(ln: Line, phases: list[Phase]) -> str | None:
    best: tuple[int, int, float] | None = None
    name: str | None = None
    for p in phases:
        if p.step != ln.step:
            continue
        if p.start_line is not None:
            if not p.start_line <= ln.no <= p.end_line:
                continue
        elif ln.no > p.end_line and not (p.censored and p.name == "ginkgo:before-suite"):
            continue
        elif p.started_at is None or p.ended_at is None or ln.at is None:
            if ln.no != p.end_line:
                continue
        elif not p.started_at - ONE_S <= ln.at <= p.ended_at + 2 * ONE_S:
            continue  # Ginkgo prints a failed BeforeSuite's details right after its summary line
        key = (0 if p.end_line == ln.no else 1, 0 if p.from_rule else 1, p.duration_s)
        if best is None or key < best:
            best, name = key, p.name
    return name


def rule_phases(
    log: LogIndex, rules: list[PhaseRule], ranges: list[Range], job_names: list[str], sigs: list[Sig]
) -> list[Phase]:
    if not rules:
        return []
    compiled = compile_rules(tuple(rules))
    for_job = [c.step is None or any(c.step.search(j) for j in job_names) for c in compiled]
    by_name: dict[str, list[CompiledRule]] = {}
    sig_by_no = {s.line.no: s for s in sigs}
    phases: list[Phase] = []
    for idx, r in enumerate(ranges):
        if not r.first_line:
            continue
        applicable = by_name.get(r.name)
        if applicable is None:
            applicable = [c for c, job in zip(compiled, for_job, strict=True) if job or _searches(c.step, r.name)]
            by_name[r.name] = applicable
        if not applicable:
            continue
        starts: list[list[Line]] = []
        ends: list[list[Line]] = []
        for c in applicable:
            starts.append(_rule_lines(log, c.start, c.start_ml, c.start_lits, r))
            # an end only counts after a start: a rule that never starts in this step needs no end search
            ends.append(
                _rule_lines(log, c.end, c.end_ml, c.end_lits, r) if starts[-1] and c.end and c.end_ml else []
            )
        all_starts = sorted({ln.no: ln for lst in starts for ln in lst}.values(), key=lambda x: x.no)
        all_nos = [ln.no for ln in all_starts]
        for c, st, en in zip(applicable, starts, ends, strict=True):
            phases += _rule_spans(log, c, st, en, all_starts, all_nos, r, idx, sig_by_no)
    return phases


def _rule_spans(
    log: LogIndex,
    c: CompiledRule,
    starts: list[Line],
    ends: list[Line],
    all_starts: list[Line],
    all_nos: list[int],
    r: Range,
    idx: int,
    sig_by_no: dict[int, Sig],
) -> Iterator[Phase]:
    end_nos = [e.no for e in ends]
    covered = 0
    rule = c.rule
    for s in starts:
        if s.no <= covered:
            continue
        k = bisect_right(end_nos, s.no)
        if k < len(ends):
            e = ends[k]
            sig = sig_by_no.get(e.no)
            timeout_sig = sig is not None and sig.kind in ("tool_timeout", "test_timeout")
            if timeout_sig or TIMEOUT_WORD_RE.search(e.text):
                limit = rule.timeout_s or (sig.limit if sig is not None else None) or stated_limit(e.text)
                outcome, censored = "timeout", True
            else:
                limit, outcome, censored = rule.timeout_s, "success", False
            covered = e.no
            yield Phase(
                rule.name,
                idx,
                s.at,
                e.at,
                _secs(s.at, e.at),
                outcome,
                censored,
                limit,
                evidence(e.text),
                e.no,
                start_line=s.no,
                from_rule=True,
            )
            continue
        j = bisect_right(all_nos, s.no)
        if j < len(all_starts):  # ends where the next phase starts
            nxt = all_starts[j]
            end_at, end_no = nxt.at, nxt.no - 1
            natural = rule.end is None
            covered = end_no
        else:  # ends with its step
            end_at, end_no = r.completed_at, r.last_line
            natural = rule.end is None and r.conclusion == "success"
            covered = r.last_line
        outcome, censored = ("success", False) if natural else ("cancelled", True)
        yield Phase(
            rule.name,
            idx,
            s.at,
            end_at,
            _secs(s.at, end_at),
            outcome,
            censored,
            rule.timeout_s,
            log.evidence_of_line(end_no),
            end_no,
            start_line=s.no,
            from_rule=True,
        )


def _rule_lines(
    log: LogIndex, rx: re.Pattern[str], rx_ml: re.Pattern[str] | None, pre: Prefilter | None, r: Range
) -> list[Line]:
    """Lines of step ``r`` whose clean text ``rx`` matches (``re.search`` per line)."""
    out: list[Line] = []
    if pre is not None:
        found: dict[int, int] = {}
        for word in pre:
            found.update(log.word_lines(word, r.first_off, r.end_off))
        for off, end in sorted(found.items()):
            ln = Line(off, end)
            log.clean_text(ln)
            if rx.search(ln.text):
                out.append(ln)
    else:
        out = _rule_lines_slow(log, rx, rx_ml, r)
    for ln in out:
        if not ln.no:
            ln.no = log.line_no(ln.off)
    return out


def _rule_lines_slow(log: LogIndex, rx: re.Pattern[str], rx_ml: re.Pattern[str] | None, r: Range) -> list[Line]:
    text = log.buf[r.first_off : r.end_off].decode("utf-8", "replace")
    text = clean(TS_STRIP_RE.sub("", text)).replace("\ufeff", "")
    out: list[Line] = []
    search = (rx_ml or rx).search
    pos, pos_line = 0, r.first_line
    cur_off, cur_no = r.first_off, r.first_line
    n = len(text)
    while pos < n:
        m = search(text, pos)
        if m is None:
            break
        ls = text.rfind("\n", 0, m.start()) + 1
        if ls < pos:
            ls = pos
        no = pos_line + text.count("\n", pos, ls)
        le = text.find("\n", ls)
        le = n if le < 0 else le
        if rx.search(text[ls:le]):
            while cur_no < no:
                e = log.buf.find(b"\n", cur_off)
                if e < 0:
                    break
                cur_off, cur_no = e + 1, cur_no + 1
            ln = Line(cur_off, log.line_end(cur_off), no=no)
            log.clean_text(ln)
            out.append(ln)
        pos, pos_line = le + 1, no + 1
    return out


def _searches(rx: re.Pattern[str] | None, text: str) -> bool:
    return rx is not None and rx.search(text) is not None


COMPOSITE = "composite:"  # phase names of a composite action's sub-steps: ``composite:Run make test``


def composite_phases(ranges: list[Range], markers: list[Marker]) -> list[Phase]:
    """The sub-steps of composite actions as phases of their step. Where the steps are known (the
    API's step list, or per-step files) a ``##[group]Run …`` inside a step's lines, after its own,
    is a sub-step of a composite action: it lasts until the next one or the end of the step. These
    phases are not settable with ``timeout-minutes`` (only their step is): the ``composite:``
    prefix of their name says so. The last sub-step ends as its step did."""
    out: list[Phase] = []
    runs = [m for m in markers if m.kind == "run"]
    for index, r in enumerate(ranges):
        if not r.first_line:
            continue
        inner = [m for m in runs if r.first_line < m.line.no <= r.last_line]
        for n, mk in enumerate(inner):
            last = n + 1 == len(inner)
            ended = r.completed_at if last else inner[n + 1].line.at
            cut = last and r.conclusion == "cancelled"
            outcome = ("cancelled" if cut else "failure" if r.conclusion == "failure" else "success") if last else "success"
            out.append(Phase(
                name=COMPOSITE + mk.name, step=index, started_at=mk.line.at, ended_at=ended,
                duration_s=_secs(mk.line.at, ended), outcome=outcome, censored=cut, limit_s=None, evidence=None,
                end_line=r.last_line if last else inner[n + 1].line.no - 1, start_line=mk.line.no,
            ))  # fmt: skip
    return out


def _secs(a: datetime | None, b: datetime | None) -> float:
    return (b - a).total_seconds() if a is not None and b is not None else 0.0
