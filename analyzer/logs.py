"""Pure parsing of GitHub Actions job logs: lines, steps, phases and signals (no I/O).

Public API: :func:`parse_job_log`, :func:`parse_step_logs`, :func:`parse_duration`,
:func:`strip_ansi`, :func:`job_name_from_log` and :data:`PARSER_VERSION`.

Input
    ``2026-03-02T10:11:12.1234567Z text`` lines (7 fractional digits), optional UTF-8 BOM at the
    start of a file or of each concatenated per-step file, LF or CRLF. A line without a timestamp
    continues the line before it and inherits its time (runner markers -- ``##[group]Run``,
    ``##[error]``, ``Post job cleanup.`` -- and go test summary lines are recognised on timestamped
    lines only: the runner stamps every line it writes, a continuation line is the rest of a
    multi-line message; logs without any timestamps are scanned for markers anywhere). ANSI escape
    codes are ignored when
    matching and removed from evidence. Anything that is not such a log raises
    :class:`~analyzer.errors.LogParseError` -- and nothing else escapes for any ``bytes``/``str``.

Steps
    * With API steps (``StepInfo`` with 1-second ``started_at``/``completed_at``), each step begins
      at the first step-start marker of a fitting kind whose time lies in the step's window
      (``Current runner version`` for "Set up job", ``##[group]Run …``/``##[section]Starting: …``
      for ordinary steps, ``Post job cleanup.`` for "Post …" steps, the last ``Cleaning up orphan
      processes`` for "Complete job") whose time lies within a second of ``started_at`` (API times
      are truncated to the second); without such a marker, at the first line whose time is at or
      after ``started_at`` (binary search by timestamp). Skipped steps and steps without
      ``started_at`` get no lines. Times are the API times refined to the lines' fractional times
      when those lie within a second of the API's.
    * Per-step files of a run-log zip (:func:`parse_step_logs`): each file is one step.
    * A bare log (no API steps), split by markers alone -- the rule:
        1. line 1 begins step "Set up job" (unless line 1 is itself a marker below);
        2. ``Current runner version`` begins "Set up job" unless that step is the one running;
        3. every ``##[group]Run X`` begins step "Run X" (also the inner steps of composite
           actions: a bare log cannot tell them apart from top-level steps);
        4. ``##[section]Starting: X`` (2019-2022 format) begins step "X";
        5. ``Post job cleanup.`` begins a step "Post job cleanup";
        6. the last ``Cleaning up orphan processes`` begins "Complete job".
      Steps are numbered 1, 2, … in order.
    * Without API times, a step starts at its first line's time and ends when the next step starts
      (the last step: at its last line). A step that prints nothing while it works (``sleep 600``)
      would otherwise look instantaneous.
    * Step conclusion (API vocabulary): the API's when given; else from the log:
      ``cancelled`` (``The operation was canceled.``, a job timeout, a lost runner), ``failure``
      (any other ``##[error]`` line, including ``The action '…' has timed out``: GitHub reports a
      step that hit its ``timeout-minutes`` as failed; the ``step_timeout`` signal says why),
      else ``success``.

Job conclusion (:attr:`ParsedLog.conclusion`, GitHub's conclusion vocabulary, as the jobs API
would say it if it told the whole truth): ``timed_out`` (the job hit its time limit; the API itself
says ``cancelled``), ``cancelled`` (cancelled, or the runner was lost), ``failure`` (an
``##[error]`` line), else ``success``. The signals say why.

Phases: ``[[phases]]`` rules and built-in detectors, see :func:`parse_job_log`.

How it stays fast
    Almost every line of a log is uninteresting, so the parser never loops over lines in Python.
    It works on the UTF-8 bytes: validation checks 16 KiB chunks with ``bytes.isascii`` and
    strictly decodes only the others; a dozen searches with literal-prefixed compiled patterns
    over the whole buffer find the candidate lines (each search skips to the end of the line it
    hit, so a line is visited once per pattern however many hits it holds); line numbers come from
    ``bytes.count(b"\\n")`` between sorted candidates; timestamps are decoded only for candidate
    lines (a continuation line's time is found by a windowed backward search). Rule regexes are
    pre-filtered by a literal every match must contain, searched in the raw bytes of the steps
    they apply to; only regexes without such a literal (or case-insensitive ones) fall back to
    decoding and cleaning their steps' text.
"""

from __future__ import annotations

import functools
import importlib
import re
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from analyzer.config import PhaseRule
from analyzer.errors import ConfigError, LogParseError
from analyzer.records import ParsedLog, PhaseSpan, Signal, StepInfo, StepSpan

__all__ = [
    "PARSER_VERSION",
    "job_name_from_log",
    "parse_duration",
    "parse_job_log",
    "parse_step_logs",
    "strip_ansi",
]

# Bump whenever the output for the same input changes: the store re-parses stored logs then.
PARSER_VERSION = 1

_BOM = b"\xef\xbb\xbf"
_CAP = 8192  # bytes of a line (after its timestamp) looked at when classifying it
_EVIDENCE_MAX = 500
_ONE_S = timedelta(seconds=1)
_TOL = timedelta(seconds=1)  # slack around API step times (they are truncated to the second)
_HINT_NOT_LOG = "pass a job log as GitHub serves it (lines starting with 2024-01-02T03:04:05.1234567Z)"

_TS_BODY = rb"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?Z(?: |(?=[\r\n])|\Z)"
_TS_RE = re.compile(rb"(?:\xef\xbb\xbf)?" + _TS_BODY)
_TS_NL_RE = re.compile(rb"\n(?:\xef\xbb\xbf)?" + _TS_BODY)
_MARKER_ANY_RE = re.compile(rb"##\[(?:group|endgroup|error|warning|notice|section|command|debug)\]|::(?:end)?group::")

# Candidate-line searches over the whole buffer. Each has a literal prefix, which CPython's
# regex engine finds with a fast substring search; the same needles as one alternation are
# ~1.6x slower, and alternations starting with many different characters far worse.
# Runner markers and go test lines start a line's text, right after its timestamp ("...Z "): one
# search with that two-byte prefix replaces a search per marker.
_MARKERS = (
    rb"##\[(?:group\]Run |error\]|section\]Starting: )|Post job cleanup\.|--- (?:PASS|FAIL): |ok  \t|FAIL\t"
    rb"|Current runner version|Cleaning up orphan processes"
)
_ANYWHERE = (
    rb"ime(?:d? ?[Oo]ut| of \d)",  # timed out, Timed out, timeout (>, Ginkgo timeouts, execution time of
    rb"deadline exceeded",
    rb" seconds",  # Ginkgo: [BeforeSuite] PASSED [N seconds], Ran N of M Specs in X seconds
    rb" in \d+(?:\.\d+)?s",  # pytest summary
)
_SCANS = tuple(re.compile(p) for p in (rb"Z (?:" + _MARKERS + rb")", *_ANYWHERE))
# A log without timestamps (rare, synthetic) has no "Z " before its markers.
_SCANS_NO_TS = tuple(
    re.compile(p)
    for p in (rb"##\[(?:group\]Run |error\]|section\]Starting: )", rb"Post job cleanup\.", rb"--- (?:PASS|FAIL): ",
              rb"\t\S+\t\d", rb"Current runner version", rb"Cleaning up orphan processes", *_ANYWHERE)
)  # fmt: skip
_KUBECTL_SCAN = re.compile(rb"kubectl wait")
_CONDITION_MET_SCAN = re.compile(rb"condition met")
# The same searches as one extended regex, for benchmarks comparing against `grep -cE`.
GREP_EQUIVALENT = (
    r"Z (##\[(group\]Run |error\]|section\]Starting: )|Post job cleanup\.|--- (PASS|FAIL): |ok  	|FAIL	"
    r"|Current runner version|Cleaning up orphan processes)|ime(d? ?[Oo]ut| of [0-9])|deadline exceeded"
    r"| seconds| in [0-9]+(\.[0-9]+)?s|kubectl wait|condition met|Complete job name: "
)


def grep_equivalent(rules: Sequence[PhaseRule] = ()) -> str:
    """``GREP_EQUIVALENT`` plus the words the parser searches for to apply ``rules`` (a
    case-insensitive word as bracket expressions), for benchmarks comparing against ``grep -cE``.

    A rule regex without such words adds nothing: the parser decodes its steps instead, which
    has no grep equivalent.
    """
    words: set[str] = set()
    for compiled in _compile_rules(tuple(rules)):
        for found in (compiled.start_lits, compiled.end_lits):
            for word in found or ():
                text = re.escape(word.decode("utf-8", "replace"))
                if isinstance(word, _Folded):
                    text = "".join(f"[{c.upper()}{c}]" if c.isalpha() else c for c in text)
                words.add(text)
    return "|".join([GREP_EQUIVALENT, *sorted(words)])


_ANSI_RE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_]|)")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_TS_STRIP_RE = re.compile(r"(?m)^\ufeff?(?:\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?Z(?: |(?=[\r\n])|$))?")

# Signals
_JOB_TIMEOUT_RE = re.compile(
    r"exceeded the maximum execution time of (\d[\w.]*(?: ?(?:minutes?|mins?|hours?|seconds?))?)"
)
_STEP_TIMEOUT_RE = re.compile(r"The action '(.{0,500}?)' has timed out after (\d+(?:\.\d+)?) minutes?")
_RUNNER_LOST_RE = re.compile(r"The runner has received a shutdown signal|lost communication with the server")
_CANCELLED_RE = re.compile(r"The operation was cancell?ed")
_KUBECTL_TIMEOUT_RE = re.compile(r"timed out waiting for the condition(?: on (\S+))?")
_GO_PANIC_RE = re.compile(r"panic: test timed out after (\S+)")
_PYTEST_TIMEOUT_RE = re.compile(r"Timeout \(>(\d+(?:\.\d+)?)s\) from pytest-timeout")
_DEADLINE_RE = re.compile(r"context deadline exceeded")
_TIMED_OUT_AFTER_RE = re.compile(r"Timed out after (\d+(?:\.\d+)?)s")
_TIMEDOUT_RE = re.compile(r"\[TIMEDOUT\](?:[^(\n]{0,200}\((\d[^)]{0,40})\))?")
_TIMEOUT_WORD_RE = re.compile(r"timed? ?out", re.IGNORECASE)

# Detectors
_BEFORE_SUITE_RE = re.compile(
    r"\[(?:Synchronized)?BeforeSuite\] \[?(PASSED|FAILED|TIMEDOUT|PANICKED|INTERRUPTED|ABORTED)\]?"
    r" \[(\d+(?:\.\d+)?) seconds\]"
)
_RAN_RE = re.compile(r"\bRan \d+ of \d+ Specs in (\d+(?:\.\d+)?) seconds")
_SUITE_TIMEOUT_RE = re.compile(r"\[TIMEDOUT\] A suite timeout occurred(?: \(([^)]{1,40})\))?")
_GO_TEST_RE = re.compile(r"--- (PASS|FAIL): ([^\s/]+) \((\d+(?:\.\d+)?)s\)")
_GO_PKG_RE = re.compile(r"(ok|FAIL)\s+(\S+)\s+(\d+(?:\.\d+)?)s(?:\s|$)")
_PYTEST_RE = re.compile(r"=+ ([^=\n]{1,500}?) in (\d+(?:\.\d+)?)s(?: \(\d+:\d\d:\d\d(?:\.\d+)?\))? =+")
_PYTEST_WORDS_RE = re.compile(
    r"\b(?:passed|failed|errors?|skipped|deselected|xfailed|xpassed|warnings?|rerun)\b|no tests ran"
)
_KUBECTL_CMD_RE = re.compile(r"\bkubectl\s+wait\b")
_KUBECTL_LIMIT_RE = re.compile(r"--timeout[= ](\S+)")
_CONDITION_MET_RE = re.compile(r"(\S+) condition met")
_K8S_SUFFIX_RE = re.compile(
    r"-[bcdfghjklmnpqrstvwxz2456789]{6,10}-[bcdfghjklmnpqrstvwxz2456789]{5}$|"
    r"-[bcdfghjklmnpqrstvwxz2456789]{5}$"
)
_KUBECTL_DEFAULT_TIMEOUT_S = 30.0  # kubectl wait --timeout defaults to 30s

_DUR_TOKEN_RE = re.compile(r"(\d+(?:\.\d+)?|\.\d+)\s*([a-zA-Zµμ]+)")
_UNITS = {
    "ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3,
    "s": 1.0, "sec": 1.0, "secs": 1.0, "second": 1.0, "seconds": 1.0,
    "m": 60.0, "min": 60.0, "mins": 60.0, "minute": 60.0, "minutes": 60.0,
    "h": 3600.0, "hr": 3600.0, "hrs": 3600.0, "hour": 3600.0, "hours": 3600.0,
    "d": 86400.0, "day": 86400.0, "days": 86400.0,
}  # fmt: skip


# --------------------------------------------------------------------------------------------
# small public helpers


def parse_duration(text: str) -> float | None:
    """Seconds in a duration as logs write it, or ``None`` when ``text`` is not one.

    Go durations (``30m0s``, ``1h2m3s``, ``180.000s``, ``500ms``) and words (``360 minutes``,
    ``5 min``, ``2.5 minutes``, ``1 hour 5 minutes``); surrounding parentheses and a final period
    are ignored. A bare number has no unit and gives ``None``.
    """
    s = text.strip().strip("()").strip().rstrip(".").strip()
    if not s or len(s) > 100:
        return None
    total = 0.0
    pos = 0
    for m in _DUR_TOKEN_RE.finditer(s):
        if s[pos : m.start()].strip(" ,"):
            return None
        unit = _UNITS.get(m.group(2).lower())
        if unit is None:
            return None
        total += float(m.group(1)) * unit
        pos = m.end()
    if pos == 0 or s[pos:].strip():
        return None
    return total


def strip_ansi(text: str) -> str:
    """``text`` without ANSI escape sequences (colours, cursor moves, OSC titles, stray ESC)."""
    return _ANSI_RE.sub("", text) if "\x1b" in text else text


def job_name_from_log(data: bytes | str) -> str | None:
    """The job name from the set-up section's ``Complete job name: X`` line, else ``None``.

    Never raises: anything that is not a log simply has no job name.
    """
    buf = data.encode("utf-8", "replace") if isinstance(data, str) else bytes(data)
    return _job_name(buf)


# --------------------------------------------------------------------------------------------
# public parse functions


def check_log(data: bytes | str) -> None:
    """The input checks of :func:`parse_job_log` without the parse: raises LogParseError if
    ``data`` is not a GitHub Actions log (empty, binary, not UTF-8, no timestamps or markers)."""
    _check_looks_like_log(_prepare(data, what="the log"))


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
    buf = _prepare(data, what="the log")
    _check_looks_like_log(buf)
    log = _Log(buf)
    return log.parse(list(steps), list(rules), job_name, job_conclusion, parts=None)


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
    chunks: list[bytes] = []
    bounds: list[tuple[int, str, int, int]] = []  # number, name, start offset, end offset
    offset = 0
    for number, name, content in sorted(parts, key=lambda p: p[0]):
        raw = _prepare(content, what=f"step {number} ({name})", allow_empty=True)
        if raw.startswith(_BOM):
            raw = raw[len(_BOM) :]
        if raw and not raw.endswith(b"\n"):
            raw += b"\n"
        chunks.append(raw)
        bounds.append((number, name, offset, offset + len(raw)))
        offset += len(raw)
    buf = b"".join(chunks)
    if not buf.strip():
        raise LogParseError("the per-step logs are empty", hint="pass the step files of a run-log zip")
    _check_looks_like_log(buf)
    log = _Log(buf)
    return log.parse(list(steps), list(rules), job_name, job_conclusion, parts=bounds)


# --------------------------------------------------------------------------------------------
# input checks


def _prepare(data: bytes | str, *, what: str, allow_empty: bool = False) -> bytes:
    if isinstance(data, str):
        try:
            buf = data.encode("utf-8")
        except UnicodeEncodeError:
            raise LogParseError(f"{what} is not UTF-8 text", hint=_HINT_NOT_LOG) from None
    elif isinstance(data, bytes | bytearray | memoryview):
        buf = bytes(data)
    else:
        raise TypeError(f"expected bytes or str, not {type(data).__name__}")
    if not allow_empty and _blank(buf):
        raise LogParseError(f"{what} is empty", hint=_HINT_NOT_LOG)
    # Binary: a NUL early on (git's heuristic) or many of them. Real logs can echo a stray NUL.
    first_nul = buf.find(b"\x00")
    if first_nul >= 0 and (first_nul < 8192 or buf.count(b"\x00", first_nul) > len(buf) // 1000):
        raise LogParseError(f"{what} is binary data, not text", hint=_HINT_NOT_LOG)
    _validate_utf8(buf, what)
    return buf


def _blank(buf: bytes) -> bool:
    """Only whitespace and BOMs (checks a prefix first: a log is rarely blank for long)."""
    head = buf[:4096].replace(_BOM, b"").strip()
    return not head and not buf.replace(_BOM, b"").strip()


def _validate_utf8(buf: bytes, what: str) -> None:
    """Strict UTF-8 check that decodes only the chunks holding non-ASCII bytes."""
    n = len(buf)
    i = 0
    chunk = 16384
    while i < n:
        j = min(n, i + chunk)
        if buf[i:j].isascii():
            i = j
            continue
        # Bytes before i are ASCII or end a validated line, so i starts a character; a line
        # break cannot be inside a multi-byte character, so [i, next newline] decodes alone.
        e = buf.find(b"\n", j)
        e = n if e < 0 else e + 1
        try:
            buf[i:e].decode("utf-8")
        except UnicodeDecodeError:
            raise LogParseError(f"{what} is not UTF-8 text", hint=_HINT_NOT_LOG) from None
        i = e


def _check_looks_like_log(buf: bytes) -> None:
    start = len(_BOM) if buf.startswith(_BOM) else 0
    if _TS_RE.match(buf, start) or _TS_NL_RE.search(buf) or _MARKER_ANY_RE.search(buf):
        return
    raise LogParseError("does not look like a GitHub Actions job log", hint=_HINT_NOT_LOG)


def _job_name(buf: bytes) -> str | None:
    limit = min(len(buf), 4 << 20)
    i = buf.find(b"Complete job name: ", 0, limit)
    if i < 0 or buf.find(b"##[group]Run ", 0, i) >= 0:
        return None
    e = buf.find(b"\n", i)
    e = len(buf) if e < 0 else e
    raw = buf[i + len(b"Complete job name: ") : min(e, i + 1024)]
    name = _CONTROL_RE.sub("", strip_ansi(raw.decode("utf-8", "replace"))).strip()
    return name or None


# --------------------------------------------------------------------------------------------
# internal records


@dataclass(slots=True)
class _Line:
    """A candidate line: found by a scan, then numbered, timed and cleaned."""

    off: int  # byte offset of the line start
    end: int  # offset of its newline (or of the buffer end)
    no: int = 0
    at: datetime | None = None
    text: str = ""  # timestamp, ANSI codes and control characters removed
    raw_text_start: int = 0  # offset after the timestamp
    cyan: bool = False  # the runner's echo of a step's script (ESC[36;1m), not an execution
    step: int = -1  # index into the step ranges


@dataclass(slots=True)
class _Marker:
    kind: str  # setup | run | section | post | complete
    name: str
    line: _Line


@dataclass(slots=True)
class _Sig:
    kind: str
    limit: float | None
    line: _Line


@dataclass(slots=True)
class _Range:
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


@dataclass(slots=True)
class _Phase:
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


@dataclass(slots=True)
class _RuleC:
    rule: PhaseRule
    start: re.Pattern[str]
    end: re.Pattern[str] | None
    step: re.Pattern[str] | None
    start_lits: _Prefilter | None
    end_lits: _Prefilter | None
    start_ml: re.Pattern[str] = field(init=False)
    end_ml: re.Pattern[str] | None = field(init=False)

    def __post_init__(self) -> None:
        self.start_ml = re.compile(self.start.pattern, self.start.flags | re.MULTILINE)
        self.end_ml = re.compile(self.end.pattern, self.end.flags | re.MULTILINE) if self.end else None


# --------------------------------------------------------------------------------------------
# the parser


class _Log:
    def __init__(self, buf: bytes) -> None:
        self.buf = buf
        self.n = len(buf)
        self.start = len(_BOM) if buf.startswith(_BOM) else 0
        self.line_count = 0  # set by number()
        self._cp_off: list[int] = [self.start]
        self._cp_no: list[int] = [1]
        self._sec_cache: dict[bytes, datetime | None] = {}
        self._times: dict[int, datetime | None] = {}  # line start -> time, for decoded lines
        self._word_hits: dict[tuple[bool, bytes, int, int], dict[int, int]] = {}  # rule words, per step
        self._folded: bytes | None = None  # buf.lower(), made when a case-insensitive rule word needs it
        self.warnings: list[str] = []

    # ---- lines, numbers and times ------------------------------------------------------------

    def line_end(self, off: int) -> int:
        e = self.buf.find(b"\n", off)
        return self.n if e < 0 else e

    def line_start(self, off: int) -> int:
        return max(self.start, self.buf.rfind(b"\n", 0, off) + 1)

    def last_line_start(self) -> int:
        end = self.n - 1 if self.buf.endswith(b"\n") else self.n
        return self.line_start(end)

    def _ts(self, m: re.Match[bytes]) -> datetime | None:
        key = m.group(1, 2, 3, 4, 5, 6)
        skey = b"".join(key)
        if skey in self._sec_cache:
            base = self._sec_cache[skey]
        else:
            try:
                y, mo, d, h, mi, s = (int(x) for x in key)
                base = datetime(y, mo, d, h, mi, s, tzinfo=UTC)
            except ValueError:
                base = None
            self._sec_cache[skey] = base
        if base is None:
            return None
        frac = m.group(7)
        if frac:
            return base.replace(microsecond=int((frac + b"00000")[:6]))
        return base

    def own_time(self, off: int) -> tuple[datetime | None, int]:
        """The timestamp a line starts with (or None) and the offset of its text."""
        m = _TS_RE.match(self.buf, off)
        if m is None:
            return None, off + (len(_BOM) if self.buf.startswith(_BOM, off) else 0)
        return self._ts(m), m.end()

    def time_at(self, off: int) -> datetime | None:
        """Time of the line starting at ``off``: its own, or the nearest earlier timestamp."""
        if off in self._times:
            return self._times[off]
        t, _ = self.own_time(off)
        return t if t is not None else self._time_before(off)

    def _time_before(self, off: int) -> datetime | None:
        if off <= self.start:
            return None
        prev = self.line_start(off - 1)
        t, _ = self.own_time(prev)
        if t is not None:
            return t
        limit = prev - 1  # newlines strictly before this one start earlier lines
        width = 4096
        while limit >= self.start:
            lo = max(self.start, limit - width)
            best: datetime | None = None
            for m in _TS_NL_RE.finditer(self.buf, lo, min(self.n, limit + 64)):
                if m.start() >= limit:
                    break
                t = self._ts(m)
                if t is not None:
                    best = t
            if best is not None:
                return best
            if lo == self.start:
                t, _ = self.own_time(self.start)
                return t
            limit = lo
            width *= 2
        return None

    def first_time_in(self, a: int, b: int) -> datetime | None:
        """The first valid timestamp of a line starting in [a, b)."""
        m = _TS_RE.match(self.buf, a)
        t = self._ts(m) if m else None
        pos = a
        while t is None:
            m = _TS_NL_RE.search(self.buf, pos, b)
            if m is None:
                return None
            t, pos = self._ts(m), m.end()
        return t

    def number(self, lines: list[_Line]) -> None:
        """Number sorted candidate lines (1-based) in one counting pass; they become checkpoints."""
        prev_off, prev_no = self.start, 1
        for ln in lines:
            prev_no += self.buf.count(b"\n", prev_off, ln.off)
            prev_off = ln.off
            ln.no = prev_no
        ends_open = 0 if self.buf.endswith(b"\n") else 1
        self.line_count = prev_no + self.buf.count(b"\n", prev_off) - 1 + ends_open
        pairs = sorted({self.start: 1, **{ln.off: ln.no for ln in lines}}.items())
        self._cp_off = [o for o, _ in pairs]
        self._cp_no = [k for _, k in pairs]

    def line_no(self, off: int) -> int:
        """Number of the line holding ``off``, counted from the nearest checkpoint before it."""
        off = max(off, self.start)
        i = bisect_right(self._cp_off, off) - 1
        base_off, base_no = self._cp_off[i], self._cp_no[i]
        ls = self.line_start(off)
        no = base_no + self.buf.count(b"\n", base_off, ls)
        if ls != base_off:
            self._cp_off.insert(i + 1, ls)
            self._cp_no.insert(i + 1, no)
        return no

    def offset_of_line(self, no: int) -> int:
        """Offset where line ``no`` starts (walks forward from the nearest known line)."""
        i = bisect_right(self._cp_no, no) - 1
        off, cur = self._cp_off[i], self._cp_no[i]
        while cur < no:
            e = self.buf.find(b"\n", off)
            if e < 0:
                break
            off, cur = e + 1, cur + 1
        return off

    def first_at_or_after(self, t: datetime, lo: int) -> int | None:
        """Start of the first line at or after ``lo`` whose time is >= ``t`` (binary search)."""
        hi = self.n
        if lo >= hi:
            return None
        while lo < hi:
            mid = (lo + hi) // 2
            r = self.buf.rfind(b"\n", lo, mid)
            ls = lo if r < 0 else r + 1
            lt = self.time_at(ls)
            if lt is not None and lt >= t:
                hi = ls
            else:
                e = self.buf.find(b"\n", ls)
                lo = self.n if e < 0 else e + 1
        return lo if lo < self.n else None

    def clean_text(self, line: _Line) -> None:
        """Fill in a line's clean text and its time (its own, else inherited)."""
        at, ts_end = self.own_time(line.off)
        line.at = at if at is not None else self._time_before(line.off)
        self._times[line.off] = line.at
        line.raw_text_start = ts_end
        line.cyan = self.buf.startswith(b"\x1b[36;1m", ts_end)
        end = min(line.end, ts_end + _CAP)
        raw = self.buf[ts_end:end].decode("utf-8", "ignore")
        line.text = _clean(raw)

    # ---- candidates --------------------------------------------------------------------------

    def candidates(self) -> list[_Line]:
        found: dict[int, int] = {}
        head = min(self.n, self.start + 65536)
        timestamped = _TS_RE.match(self.buf, self.start) or _TS_NL_RE.search(self.buf, self.start, head)
        for rx in _SCANS if timestamped else _SCANS_NO_TS:
            self._scan(rx, self.start, found)
        first_wait = self._scan(_KUBECTL_SCAN, self.start, found)
        if first_wait is not None:  # outcome lines matter only after an echoed `kubectl wait`
            self._scan(_CONDITION_MET_SCAN, first_wait, found)
        lines = [_Line(off, end) for off, end in sorted(found.items())]
        self.number(lines)
        for ln in lines:
            self.clean_text(ln)
        return lines

    def _scan(self, rx: re.Pattern[bytes], pos: int, found: dict[int, int]) -> int | None:
        """Add the lines ``rx`` matches from ``pos`` on to ``found`` (line start -> line end).

        Returns the first such line's start. After a hit the search resumes at the next line, so
        a line full of hits costs one visit.
        """
        buf, n, start = self.buf, self.n, self.start
        search = rx.search
        first: int | None = None
        while pos < n:
            m = search(buf, pos)
            if m is None:
                break
            ls = max(start, buf.rfind(b"\n", 0, m.start()) + 1)
            e = buf.find(b"\n", m.end())
            e = n if e < 0 else e
            found[ls] = e
            if first is None:
                first = ls
            pos = e + 1
        return first

    # ---- main --------------------------------------------------------------------------------

    def parse(
        self,
        api: list[StepInfo],
        rules: list[PhaseRule],
        job_name: str | None,
        job_conclusion: str | None,
        parts: list[tuple[int, str, int, int]] | None,
    ) -> ParsedLog:
        lines = self.candidates()
        markers, raw_sigs, detections = _classify(lines)
        log_job_name = _job_name(self.buf)
        has_times = any(ln.at is not None for ln in lines) or self.time_at(self.start) is not None

        if parts is not None:
            ranges = self._part_ranges(parts, api)
        elif api and has_times:
            ranges = self._api_ranges(api, markers)
        else:
            if api:
                self.warnings.append("the log has no timestamps: steps split by markers, API steps ignored")
            ranges = self._bare_ranges(markers)
        with_lines = [r for r in ranges if r.first_line]
        firsts = [r.first_line for r in with_lines]
        index_of = {id(r): i for i, r in enumerate(ranges)}

        def step_of(no: int) -> int:
            k = bisect_right(firsts, no) - 1
            return index_of[id(with_lines[k])] if k >= 0 else -1

        for ln in lines:
            ln.step = step_of(ln.no)
        self._step_times(ranges, with_lines)
        self._step_conclusions(ranges, raw_sigs, job_conclusion)

        names = [x for x in (job_name, log_job_name) if x]
        phases = self._detector_phases(detections, raw_sigs, ranges)
        phases += self._rule_phases(rules, ranges, names, raw_sigs)
        phases.sort(key=lambda p: (p.end_line, p.name))

        by_step: dict[int, list[_Phase]] = {}
        for p in phases:
            by_step.setdefault(p.step, []).append(p)
        signals = [self._signal(s, ranges, by_step.get(s.line.step, [])) for s in raw_sigs]
        started = self.first_time_in(self.start, self.n)
        completed = self.time_at(self.last_line_start())
        return ParsedLog(
            job_name=log_job_name or job_name,
            started_at=started,
            completed_at=completed,
            steps=tuple(
                StepSpan(
                    number=r.number,
                    name=r.name,
                    started_at=r.started_at,
                    completed_at=r.completed_at,
                    conclusion=r.conclusion,
                    first_line=r.first_line,
                    last_line=r.last_line,
                )
                for r in ranges
            ),
            phases=tuple(
                PhaseSpan(
                    name=p.name,
                    step_number=ranges[p.step].number if p.step >= 0 else None,
                    step=ranges[p.step].name if p.step >= 0 else None,
                    started_at=p.started_at,
                    duration_s=round(max(0.0, p.duration_s), 6),
                    outcome=p.outcome,
                    censored=p.censored,
                    limit_s=p.limit_s,
                    evidence=p.evidence,
                    line=p.end_line,
                )
                for p in phases
            ),
            signals=tuple(signals),
            line_count=self.line_count,
            conclusion=_job_outcome(raw_sigs),
            warnings=tuple(self.warnings),
        )

    # ---- steps -------------------------------------------------------------------------------

    def _bare_ranges(self, markers: list[_Marker]) -> list[_Range]:
        openers: list[tuple[str, _Line | None]] = []
        complete = [m for m in markers if m.kind == "complete"]
        others = [m for m in markers if m.kind != "complete"]
        if not (markers and markers[0].line.no == 1):
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
        ranges: list[_Range] = []
        for i, (name, line) in enumerate(openers, start=1):
            r = _Range(number=i, name=name, api=None)
            r.first_off, r.first_line = (line.off, line.no) if line else (self.start, 1)
            ranges.append(r)
        self._close_ranges(ranges)
        return ranges

    def _api_ranges(self, api: list[StepInfo], markers: list[_Marker]) -> list[_Range]:
        ordered = sorted(api, key=lambda s: s.number)
        marker_nos = [m.line.no for m in markers]
        marker_set = set(marker_nos)
        ranges: list[_Range] = []
        prev_no, prev_off = 0, self.start
        mismatched: list[str] = []
        for s in ordered:
            r = _Range(number=s.number, name=s.name, api=s)
            ranges.append(r)
            start_t = s.started_at
            if start_t is None or s.conclusion == "skipped":
                continue
            end_t = s.completed_at if s.completed_at is not None and s.completed_at >= start_t else start_t
            want = _wanted_kind(s.name)
            pick: _Marker | None = None
            late: _Marker | None = None
            for mk in markers[bisect_right(marker_nos, prev_no) :]:
                at = mk.line.at
                if at is None or mk.kind not in _COMPATIBLE[want]:
                    continue
                if at > start_t + _ONE_S + _TOL or at >= end_t + _ONE_S + _TOL:
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
                r.first_off, r.first_line = self.start, 1
            else:
                lo = prev_off if prev_no == 0 else self.line_end(prev_off) + 1
                off = self.first_at_or_after(start_t, lo)
                if off is None:
                    continue
                no = self.line_no(off)
                at = self.time_at(off)
                if at is None or at >= end_t + _ONE_S + _TOL or no in marker_set:
                    mismatched.append(s.name)
                    continue
                r.first_off, r.first_line = off, no
            prev_no, prev_off = r.first_line, r.first_off
        if mismatched and len(mismatched) == sum(1 for s in ordered if s.started_at and s.conclusion != "skipped"):
            self.warnings.append("API step times do not match the log's timestamps")
        with_lines = [r for r in ranges if r.first_line]
        if with_lines and with_lines[0].first_line > 1:
            with_lines[0].first_off, with_lines[0].first_line = self.start, 1
        self._close_ranges(ranges)
        return ranges

    def _part_ranges(self, parts: list[tuple[int, str, int, int]], api: list[StepInfo]) -> list[_Range]:
        by_number = {s.number: s for s in api}
        ranges: list[_Range] = []
        seen: set[int] = set()
        for number, name, a, b in parts:
            if number in seen:
                self.warnings.append(f"two step files for step {number}: {name!r} ignored")
                continue
            seen.add(number)
            s = by_number.get(number)
            r = _Range(number=number, name=s.name if s else name, api=s)
            a = max(a, self.start)  # the buffer's own BOM is not a line
            if b > a:
                r.first_off, r.end_off = a, b
                r.first_line = self.line_no(a)
                r.last_line = self.line_no(b - 1)
            ranges.append(r)
        for s in api:
            if s.number not in seen:
                ranges.append(_Range(number=s.number, name=s.name, api=s))
                if s.conclusion != "skipped" and s.started_at is not None:
                    self.warnings.append(f"no log file for step {s.number} ({s.name})")
        ranges.sort(key=lambda r: r.number)
        return ranges

    def _close_ranges(self, ranges: list[_Range]) -> None:
        with_lines = [r for r in ranges if r.first_line]
        for r, nxt in _with_next(with_lines):
            if nxt is None:
                r.end_off, r.last_line = self.n, self.line_count
            else:
                r.end_off, r.last_line = nxt.first_off, nxt.first_line - 1

    def _step_times(self, ranges: list[_Range], with_lines: list[_Range]) -> None:
        nxt_of = {id(r): nxt for r, nxt in _with_next(with_lines)}
        for r in ranges:
            s = r.api
            api_start = s.started_at if s else None
            api_end = s.completed_at if s else None
            if not r.first_line:
                r.started_at, r.completed_at = api_start, api_end
                continue
            first_t = self.time_at(r.first_off) or self.first_time_in(r.first_off, r.end_off)
            nxt = nxt_of[id(r)]
            if nxt is not None:
                end_t = self.time_at(nxt.first_off)
            else:
                end_t = self.time_at(self.line_start(max(r.first_off, r.end_off - 1)))
            if s is not None and api_start is not None:
                started = first_t if _near(first_t, api_start) else api_start
                completed = end_t if api_end is not None and _near(end_t, api_end) else (api_end or end_t)
            else:
                started, completed = first_t, end_t
            if started is not None and completed is not None and completed < started:
                completed = started
            r.started_at, r.completed_at = started, completed

    def _step_conclusions(self, ranges: list[_Range], sigs: list[_Sig], job_conclusion: str | None) -> None:
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

    # ---- phases: detectors ----------------------------------------------------------------------

    def _detector_phases(
        self, detections: list[tuple[str, _Line, re.Match[str]]], sigs: list[_Sig], ranges: list[_Range]
    ) -> list[_Phase]:
        phases: list[_Phase] = []
        timeout_sigs = [s for s in sigs if s.kind in ("test_timeout", "tool_timeout")]
        suite_timeouts: dict[int, _Phase] = {}
        last_pkg_no: dict[int, int] = {}
        kubectl_cmd: dict[int, tuple[_Line, float | None]] = {}
        kubectl_done: dict[tuple[int, str], _Phase] = {}

        def from_text(name: str, ln: _Line, secs: float, outcome: str, censored: bool, limit: float | None) -> _Phase:
            start = ln.at - timedelta(seconds=secs) if ln.at is not None else None
            return _Phase(name, ln.step, start, ln.at, secs, outcome, censored, limit, _evidence(ln.text), ln.no)

        for kind, ln, m in detections:
            if kind == "before-suite":
                secs = float(m.group(2))
                status = m.group(1)
                if status == "PASSED":
                    outcome, censored = "success", False
                elif status == "TIMEDOUT" or self._timed_out_near(ln, secs, timeout_sigs):
                    outcome, censored = "timeout", True
                elif status in ("INTERRUPTED", "ABORTED"):
                    outcome, censored = "cancelled", True
                else:
                    outcome, censored = "failure", False
                phases.append(from_text("ginkgo:before-suite", ln, secs, outcome, censored, None))
            elif kind == "suite-timeout":
                limit = parse_duration(m.group(1)) if m.group(1) else None
                r = ranges[ln.step] if ln.step >= 0 else None
                step_start = r.started_at if r else None
                secs = (ln.at - step_start).total_seconds() if ln.at and step_start else 0.0
                ph = _Phase(
                    "ginkgo:suite", ln.step, step_start, ln.at, secs, "timeout", True, limit, _evidence(ln.text), ln.no
                )
                phases.append(ph)
                suite_timeouts[ln.step] = ph
            elif kind == "suite":
                secs = float(m.group(1))
                prior = suite_timeouts.pop(ln.step, None)
                if prior is not None:  # the summary after a suite timeout: same suite, exact duration
                    prior.duration_s = secs
                    prior.started_at = ln.at - timedelta(seconds=secs) if ln.at else prior.started_at
                    continue
                failed = b"FAIL!" in self.buf[ln.end : min(self.n, ln.end + 2048)]
                phases.append(from_text("ginkgo:suite", ln, secs, "failure" if failed else "success", False, None))
            elif kind == "go-test":
                outcome = "success" if m.group(1) == "PASS" else "failure"
                phases.append(from_text(f"go-test:{m.group(2)}", ln, float(m.group(3)), outcome, False, None))
            elif kind == "go-pkg":
                prev_no = last_pkg_no.get(ln.step, 0)
                last_pkg_no[ln.step] = ln.no
                outcome, censored, limit = ("success" if m.group(1) == "ok" else "failure"), False, None
                if m.group(1) == "FAIL":
                    for sg in sigs:
                        if (
                            sg.line.step == ln.step
                            and prev_no < sg.line.no < ln.no
                            and _GO_PANIC_RE.search(sg.line.text)
                        ):
                            outcome, censored, limit = "timeout", True, sg.limit
                phases.append(from_text(f"go-pkg:{m.group(2)}", ln, float(m.group(3)), outcome, censored, limit))
            elif kind == "pytest":
                words = m.group(1)
                bad = re.search(r"\b(?:failed|errors?)\b", words) is not None
                phases.append(from_text("pytest", ln, float(m.group(2)), "failure" if bad else "success", False, None))
            elif kind == "kubectl-cmd":
                lm = _KUBECTL_LIMIT_RE.search(ln.text)
                limit = parse_duration(lm.group(1)) if lm else _KUBECTL_DEFAULT_TIMEOUT_S
                kubectl_cmd[ln.step] = (ln, limit)
            elif kind in ("kubectl-met", "kubectl-timeout"):
                cmd = kubectl_cmd.get(ln.step)
                if cmd is None or not m.group(1):
                    continue
                cmd_line, limit = cmd
                name = "kubectl-wait:" + _normalize_resource(m.group(1))
                secs = (ln.at - cmd_line.at).total_seconds() if ln.at and cmd_line.at else 0.0
                timed_out = kind == "kubectl-timeout"
                ph = _Phase(
                    name,
                    ln.step,
                    cmd_line.at,
                    ln.at,
                    secs,
                    "timeout" if timed_out else "success",
                    timed_out,
                    limit,
                    _evidence(ln.text),
                    ln.no,
                    start_line=cmd_line.no,
                )
                key = (cmd_line.no, name)
                old = kubectl_done.get(key)
                if old is not None:
                    phases.remove(old)
                kubectl_done[key] = ph
                phases.append(ph)
        # a kubectl timeout line states no limit; the echoed command did
        for sg in sigs:
            if sg.kind == "tool_timeout" and sg.limit is None and _KUBECTL_TIMEOUT_RE.search(sg.line.text):
                for ph in phases:
                    if ph.name.startswith("kubectl-wait:") and ph.end_line == sg.line.no:
                        sg.limit = ph.limit_s
        return phases

    @staticmethod
    def _timed_out_near(ln: _Line, secs: float, timeout_sigs: list[_Sig]) -> bool:
        """A timeout signal in the same step within the span (or the report printed with it)."""
        if ln.at is None:
            return any(s.line.step == ln.step and s.line.no <= ln.no + 200 for s in timeout_sigs)
        lo = ln.at - timedelta(seconds=secs + 1)
        hi = ln.at + timedelta(seconds=2)
        return any(s.line.step == ln.step and s.line.at is not None and lo <= s.line.at <= hi for s in timeout_sigs)

    # ---- phases: rules -------------------------------------------------------------------------

    def _rule_phases(
        self, rules: list[PhaseRule], ranges: list[_Range], job_names: list[str], sigs: list[_Sig]
    ) -> list[_Phase]:
        if not rules:
            return []
        compiled = _compile_rules(tuple(rules))
        for_job = [c.step is None or any(c.step.search(j) for j in job_names) for c in compiled]
        by_name: dict[str, list[_RuleC]] = {}
        sig_by_no = {s.line.no: s for s in sigs}
        phases: list[_Phase] = []
        for idx, r in enumerate(ranges):
            if not r.first_line:
                continue
            applicable = by_name.get(r.name)
            if applicable is None:
                applicable = [c for c, job in zip(compiled, for_job, strict=True) if job or _searches(c.step, r.name)]
                by_name[r.name] = applicable
            if not applicable:
                continue
            starts: list[list[_Line]] = []
            ends: list[list[_Line]] = []
            for c in applicable:
                starts.append(self._rule_lines(c.start, c.start_ml, c.start_lits, r))
                # an end only counts after a start: a rule that never starts in this step needs no end search
                ends.append(
                    self._rule_lines(c.end, c.end_ml, c.end_lits, r) if starts[-1] and c.end and c.end_ml else []
                )
            all_starts = sorted({ln.no: ln for lst in starts for ln in lst}.values(), key=lambda x: x.no)
            all_nos = [ln.no for ln in all_starts]
            for c, st, en in zip(applicable, starts, ends, strict=True):
                phases += self._rule_spans(c, st, en, all_starts, all_nos, r, idx, sig_by_no)
        return phases

    def _rule_spans(
        self,
        c: _RuleC,
        starts: list[_Line],
        ends: list[_Line],
        all_starts: list[_Line],
        all_nos: list[int],
        r: _Range,
        idx: int,
        sig_by_no: dict[int, _Sig],
    ) -> Iterator[_Phase]:
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
                if timeout_sig or _TIMEOUT_WORD_RE.search(e.text):
                    limit = rule.timeout_s or (sig.limit if sig is not None else None) or _stated_limit(e.text)
                    outcome, censored = "timeout", True
                else:
                    limit, outcome, censored = rule.timeout_s, "success", False
                covered = e.no
                yield _Phase(
                    rule.name,
                    idx,
                    s.at,
                    e.at,
                    _secs(s.at, e.at),
                    outcome,
                    censored,
                    limit,
                    _evidence(e.text),
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
            yield _Phase(
                rule.name,
                idx,
                s.at,
                end_at,
                _secs(s.at, end_at),
                outcome,
                censored,
                rule.timeout_s,
                self._evidence_of_line(end_no),
                end_no,
                start_line=s.no,
                from_rule=True,
            )

    def _rule_lines(
        self, rx: re.Pattern[str], rx_ml: re.Pattern[str] | None, pre: _Prefilter | None, r: _Range
    ) -> list[_Line]:
        """Lines of step ``r`` whose clean text ``rx`` matches (``re.search`` per line)."""
        out: list[_Line] = []
        if pre is not None:
            found: dict[int, int] = {}
            for word in pre:
                found.update(self._word_lines(word, r.first_off, r.end_off))
            for off, end in sorted(found.items()):
                ln = _Line(off, end)
                self.clean_text(ln)
                if rx.search(ln.text):
                    out.append(ln)
        else:
            out = self._rule_lines_slow(rx, rx_ml, r)
        for ln in out:
            if not ln.no:
                ln.no = self.line_no(ln.off)
        return out

    def _word_lines(self, word: bytes, lo: int, hi: int) -> dict[int, int]:
        """Start -> end of the lines in ``[lo, hi)`` holding ``word`` (case-insensitively for a
        ``_Folded`` word). Cached: rules share words (deployments, Timed, ...), one scan serves all."""
        folded = isinstance(word, _Folded)
        key = (folded, bytes(word), lo, hi)
        hits = self._word_hits.get(key)
        if hits is None:
            if folded and self._folded is None:
                self._folded = self.buf.lower()  # ASCII-only, so offsets stay the same
            haystack = self._folded if folded and self._folded is not None else self.buf
            hits = {}
            pos = haystack.find(word, lo, hi)
            while pos >= 0:
                end = self.line_end(pos)
                hits[self.line_start(pos)] = end
                pos = haystack.find(word, end + 1, hi)
            self._word_hits[key] = hits
        return hits

    def _rule_lines_slow(self, rx: re.Pattern[str], rx_ml: re.Pattern[str] | None, r: _Range) -> list[_Line]:
        text = self.buf[r.first_off : r.end_off].decode("utf-8", "replace")
        text = _clean(_TS_STRIP_RE.sub("", text)).replace("\ufeff", "")
        out: list[_Line] = []
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
                    e = self.buf.find(b"\n", cur_off)
                    if e < 0:
                        break
                    cur_off, cur_no = e + 1, cur_no + 1
                ln = _Line(cur_off, self.line_end(cur_off), no=no)
                self.clean_text(ln)
                out.append(ln)
            pos, pos_line = le + 1, no + 1
        return out

    def _evidence_of_line(self, no: int) -> str | None:
        if no <= 0:
            return None
        ln = _Line(self.offset_of_line(no), 0)
        ln.end = self.line_end(ln.off)
        self.clean_text(ln)
        return _evidence(ln.text)

    # ---- signals -------------------------------------------------------------------------------

    def _signal(self, s: _Sig, ranges: list[_Range], phases: list[_Phase]) -> Signal:
        ln = s.line
        r = ranges[ln.step] if ln.step >= 0 else None
        return Signal(
            kind=s.kind,
            line=ln.no,
            at=ln.at,
            step_number=r.number if r else None,
            step=r.name if r else None,
            phase=_phase_of(ln, phases),
            limit_s=s.limit,
            evidence=_evidence(ln.text),
        )


# --------------------------------------------------------------------------------------------
# classification of candidate lines

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


def _classify(lines: list[_Line]) -> tuple[list[_Marker], list[_Sig], list[tuple[str, _Line, re.Match[str]]]]:
    markers: list[_Marker] = []
    sigs: list[_Sig] = []
    detections: list[tuple[str, _Line, re.Match[str]]] = []
    for ln in lines:
        text = ln.text
        # markers
        if text.startswith("##[group]Run "):
            markers.append(_Marker("run", text[len("##[group]") :].strip(), ln))
        elif text.startswith("##[section]Starting: "):
            markers.append(_Marker("section", text[len("##[section]Starting: ") :].strip(), ln))
        elif text.strip() == "Post job cleanup.":
            markers.append(_Marker("post", "Post job cleanup", ln))
        elif text.startswith("Current runner version"):
            markers.append(_Marker("setup", "Set up job", ln))
        elif text.startswith("Cleaning up orphan processes"):
            markers.append(_Marker("complete", "Complete job", ln))
        sig = _classify_signal(text)
        if sig is not None:
            sigs.append(_Sig(sig[0], sig[1], ln))
        det = _detect(text)
        if det is not None:
            detections.append((det[0], ln, det[1]))
        if "kubectl" in text and not ln.cyan and (m := _KUBECTL_CMD_RE.search(text)):
            detections.append(("kubectl-cmd", ln, m))
    return markers, sigs, detections


def _classify_signal(text: str) -> tuple[str, float | None] | None:
    is_error = text.startswith("##[error]")
    if "maximum execution time" in text and (m := _JOB_TIMEOUT_RE.search(text)):
        return "job_timeout", parse_duration(m.group(1))
    if is_error:
        if m := _STEP_TIMEOUT_RE.search(text):
            return "step_timeout", float(m.group(2)) * 60.0
        if _RUNNER_LOST_RE.search(text):
            return "runner_lost", None
        if _CANCELLED_RE.search(text):
            return "cancelled", None
    if "timed out" in text:
        if _KUBECTL_TIMEOUT_RE.search(text):
            return "tool_timeout", None
        if m := _GO_PANIC_RE.search(text):
            return "tool_timeout", parse_duration(m.group(1).rstrip(".,;"))
    if "pytest-timeout" in text and (m := _PYTEST_TIMEOUT_RE.search(text)):
        return "tool_timeout", float(m.group(1))
    if "deadline exceeded" in text and _DEADLINE_RE.search(text):
        return "tool_timeout", None
    if "Timed out after" in text and (m := _TIMED_OUT_AFTER_RE.search(text)):
        return "test_timeout", float(m.group(1))
    if "[TIMEDOUT]" in text and (m := _TIMEDOUT_RE.search(text)):
        return "test_timeout", parse_duration(m.group(1)) if m.group(1) else None
    if is_error:
        return "failure", None
    return None


def _detect(text: str) -> tuple[str, re.Match[str]] | None:
    if "BeforeSuite]" in text and (m := _BEFORE_SUITE_RE.search(text)):
        return "before-suite", m
    if "A suite timeout occurred" in text and (m := _SUITE_TIMEOUT_RE.search(text)):
        return "suite-timeout", m
    if "Specs in" in text and (m := _RAN_RE.search(text)):
        return "suite", m
    if text.startswith("--- ") and (m := _GO_TEST_RE.match(text)):
        return "go-test", m
    if (text.startswith("ok") or text.startswith("FAIL")) and (m := _GO_PKG_RE.match(text)):
        return "go-pkg", m
    if (
        text.startswith("=")
        and " in " in text
        and (m := _PYTEST_RE.match(text.strip()))
        and _PYTEST_WORDS_RE.search(m.group(1))
    ):
        return "pytest", m
    if "condition met" in text and (m := _CONDITION_MET_RE.search(text)):
        return "kubectl-met", m
    if "timed out waiting for the condition" in text and (m := _KUBECTL_TIMEOUT_RE.search(text)):
        return "kubectl-timeout", m
    return None


def _normalize_resource(res: str) -> str:
    """``pods/web-77ccd99cdc-vc8h8`` -> ``pod/web``: stable across runs."""
    res = res.strip().rstrip(".,;:)")
    kind, sep, name = res.partition("/")
    if not sep:
        return res
    kind = kind.split(".")[0].lower()
    if kind.endswith("s") and not kind.endswith("ss"):
        kind = kind[:-1]
    if kind == "pod":
        name = _K8S_SUFFIX_RE.sub("", name)
    return f"{kind}/{name}"


def _stated_limit(text: str) -> float | None:
    for rx in (_TIMED_OUT_AFTER_RE, _GO_PANIC_RE, _KUBECTL_LIMIT_RE):
        m = rx.search(text)
        if m:
            v = parse_duration(m.group(1) + ("s" if rx is _TIMED_OUT_AFTER_RE else ""))
            if v is not None:
                return v
    m = re.search(r"\((\d[^)]{0,40})\)", text)
    return parse_duration(m.group(1)) if m else None


def _job_outcome(sigs: list[_Sig]) -> str:
    kinds = {s.kind for s in sigs}
    if "job_timeout" in kinds:
        return "timed_out"
    if kinds & {"runner_lost", "cancelled"}:
        return "cancelled"
    if kinds & {"failure", "step_timeout"}:
        return "failure"
    return "success"


def _phase_of(ln: _Line, phases: list[_Phase]) -> str | None:
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
        elif not p.started_at - _ONE_S <= ln.at <= p.ended_at + 2 * _ONE_S:
            continue  # Ginkgo prints a failed BeforeSuite's details right after its summary line
        key = (0 if p.end_line == ln.no else 1, 0 if p.from_rule else 1, p.duration_s)
        if best is None or key < best:
            best, name = key, p.name
    return name


# --------------------------------------------------------------------------------------------
# rules


@functools.lru_cache(maxsize=256)
def _compile_rule(rule: PhaseRule) -> _RuleC:
    """A rule's compiled regexes and prefilter literals (cached: rules repeat across logs)."""
    try:
        start = re.compile(rule.start)
        end = re.compile(rule.end) if rule.end else None
        step = re.compile(rule.step) if rule.step else None
    except re.error as exc:
        raise ConfigError(f"phase {rule.name!r}: invalid regex: {exc}", hint="fix the [[phases]] entry") from None
    return _RuleC(rule, start, end, step, _required_literals(start), _required_literals(end) if end else None)


@functools.lru_cache(maxsize=64)
def _compile_rules(rules: tuple[PhaseRule, ...]) -> tuple[_RuleC, ...]:
    """The rules compiled, their starts searched for by shared words where they can be.

    Every rule's start is searched for in every step it applies to, so starts with a word in
    common (``Waiting for …``, ``Building …``, ``Deploying …``) are found by one scan for that word
    instead of one scan each: the bundled kubernaut-e2e rules need 6 scans instead of 11. Ends keep
    their longest word: they are searched for only after a start, and a shared word would be a
    common one ("ready", "condition").
    """
    compiled = [_compile_rule(r) for r in rules]
    shared = _shared_words([c.start for c in compiled])
    return tuple(replace(c, start_lits=shared[i]) if i in shared else c for i, c in enumerate(compiled))


def _shared_words(regexes: Sequence[re.Pattern[str]]) -> dict[int, _Prefilter]:
    """For some of ``regexes`` (by index), words that find every line it can match, chosen so
    that the regexes share as few words as possible (greedy set cover over their top-level
    alternatives; words shorter than 5 characters are not shared: "for", "pod" are everywhere)."""
    elements: list[tuple[int, set[str]]] = []  # (regex, the words one of which every match of one alternative holds)
    for i, rx in enumerate(regexes):
        alternatives = None if rx.flags & re.IGNORECASE else _alternative_words(rx)
        if alternatives is not None:
            elements += [(i, set(words)) for words in alternatives]
    chosen: dict[int, set[str]] = {}
    todo = list(range(len(elements)))
    while todo:
        count = Counter(w for k in todo for w in elements[k][1])
        best = max(count, key=lambda w: (count[w] if len(w) >= 5 else 1, len(w), w))
        for k in [k for k in todo if best in elements[k][1]]:
            chosen.setdefault(elements[k][0], set()).add(best)
            todo.remove(k)
    return {i: tuple(sorted(w.encode("utf-8") for w in words)) for i, words in chosen.items()}


def _alternative_words(rx: re.Pattern[str]) -> list[list[str]] | None:
    """For each top-level alternative of ``rx``, every word (>= 3 characters) that all its matches
    contain; None when an alternative has none."""
    if _PARSER is None:
        return None
    try:
        items = list(_PARSER.parse(rx.pattern, rx.flags))
    except Exception:  # any surprise in a private API means: that regex keeps its own words
        return None
    if len(items) == 1 and items[0][0] is _PARSER.BRANCH:
        alternatives = [_sequence_words(list(alt)) for alt in items[0][1][1]]
    else:
        alternatives = [_sequence_words(items)]
    return alternatives if all(alternatives) else None


def _sequence_words(items: list[Any]) -> list[str]:
    """The words (>= 3 characters) of a parsed sequence that every match passes through: its
    runs of literal word characters, and those of the plain groups in it."""
    consts = _PARSER
    words: list[str] = []
    run: list[str] = []
    for op, av in [*items, (None, None)]:
        if op is consts.LITERAL and (chr(av).isalnum() or chr(av) == "_"):
            run.append(chr(av))
            continue
        if len(run) >= 3:
            words.append("".join(run))
        run = []
        if op is consts.SUBPATTERN and not av[1] and not av[2]:
            words += _sequence_words(list(av[3]))
    return words


_PARSER: Any = None
try:  # the regex parser is private; without it every rule takes the slow path
    _PARSER = importlib.import_module("re._parser")
except ImportError:  # pragma: no cover
    _PARSER = None


class _Folded(bytes):
    """A lower-case ASCII word of a case-insensitive rule, searched for in ``buf.lower()``: a
    case-insensitive ``bytes.find`` (CPython's regex engine has no fast search under IGNORECASE:
    on 3 MB, 11 ms against 1.3 ms for the lowering and 1.3 ms for the find)."""


# Words one of which is on every line a rule regex can match (bytes.find; _Folded: case-insensitive).
_Prefilter = tuple[bytes, ...]


def _required_literals(rx: re.Pattern[str]) -> _Prefilter | None:
    """Searches that together find every line ``rx`` can match (one word of >= 3 characters per
    alternative), or None when there are none.

    ANSI colour codes sit between words, not inside them, so a line whose clean text matches
    contains such a word verbatim in its raw bytes.
    """
    if _PARSER is None:
        return None
    try:
        words = _branch_words(list(_PARSER.parse(rx.pattern, rx.flags)))
    except Exception:  # any surprise in a private API means: no prefilter
        return None
    if not words:
        return None
    encoded = sorted({w.encode("utf-8") for w in words})
    if not rx.flags & re.IGNORECASE:
        return tuple(encoded)
    if not all(w.isascii() for w in encoded):
        return None  # Unicode case folding (e.g. the long s) is beyond a bytes search
    return tuple(_Folded(w) for w in sorted({w.lower() for w in encoded}))


def _branch_words(items: list[Any]) -> list[str] | None:
    """One required word per alternative of a parsed pattern (None if some branch has none)."""
    consts = _PARSER  # re._parser re-exports the opcode constants
    if len(items) == 1 and items[0][0] is consts.BRANCH:
        out: list[str] = []
        for alt in items[0][1][1]:
            ws = _branch_words(list(alt))
            if not ws:
                return None
            out += ws
        return out
    if len(items) == 1 and items[0][0] is consts.SUBPATTERN and not items[0][1][1] and not items[0][1][2]:
        return _branch_words(list(items[0][1][3]))
    best = ""
    run: list[str] = []
    for op, av in [*items, (None, None)]:
        if op is consts.LITERAL and (chr(av).isalnum() or chr(av) == "_"):
            run.append(chr(av))
            continue
        word = "".join(run)
        if len(word) > len(best):
            best = word
        run = []
    if len(best) >= 3:
        return [best]
    for op, av in items:  # a group or an alternation that every match passes through
        if op is consts.SUBPATTERN and not av[1] and not av[2]:
            ws = _branch_words(list(av[3]))
        elif op is consts.BRANCH:  # e.g. after the parser factored out a common prefix: t(ekton…|imed…)
            ws = _branch_words([(op, av)])
        else:
            continue
        if ws:
            return ws
    return None


# --------------------------------------------------------------------------------------------
# helpers


def _clean(raw: str) -> str:
    raw = raw.rstrip("\r\n")
    if "\x1b" in raw:
        raw = _ANSI_RE.sub("", raw)
    if "\ufeff" in raw:
        raw = raw.replace("\ufeff", "")
    return raw


def _evidence(text: str) -> str:
    return _CONTROL_RE.sub("", text).strip()[:_EVIDENCE_MAX]


def _searches(rx: re.Pattern[str] | None, text: str) -> bool:
    return rx is not None and rx.search(text) is not None


def _with_next(ranges: list[_Range]) -> list[tuple[_Range, _Range | None]]:
    return list(zip(ranges, [*ranges[1:], None], strict=False))


def _near(t: datetime | None, api: datetime) -> bool:
    return t is not None and api - _TOL <= t <= api + _ONE_S + _TOL


def _secs(a: datetime | None, b: datetime | None) -> float:
    return (b - a).total_seconds() if a is not None and b is not None else 0.0
