"""analyzer.parse.logs under hypothesis: any input parses or raises LogParseError, with sane output."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from analyzer.config import PhaseRule
from analyzer.errors import LogParseError
from analyzer.parse.logs import check_log, job_name_from_log, parse_duration, parse_job_log, parse_step_logs, strip_ansi
from analyzer.records import ParsedLog, StepInfo

FUZZ = settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
T0 = datetime(2026, 3, 2, 10, 0, 0, tzinfo=UTC)

FRAGMENTS = [
    "Current runner version: '2.323.0'",
    "Complete job name: build (x)",
    "##[group]Run npm test",
    "##[group]Run kubectl wait --for=condition=ready pod -l app=x --timeout=30s",
    "##[endgroup]",
    "##[section]Starting: Request a runner",
    "##[section]Finishing: Request a runner",
    "##[command]kubectl wait --timeout=300s deployment/db",
    "+ kubectl wait --for=condition=available deployment/db --timeout=5m",
    "Post job cleanup.",
    "Cleaning up orphan processes",
    "##[error]Process completed with exit code 1.",
    "##[error]The operation was canceled.",
    "##[error]The job has exceeded the maximum execution time of 30m0s",
    "##[error]The action 'x' has timed out after 5 minutes.",
    "##[error]The runner has received a shutdown signal.",
    "error: timed out waiting for the condition on pods/web-77ccd99cdc-vc8h8",
    "deployment.apps/db condition met",
    "panic: test timed out after 10m0s",
    "Timeout (>300.0s) from pytest-timeout",
    "context deadline exceeded",
    "[FAILED] Timed out after 180.000s.",
    "[TIMEDOUT] A suite timeout occurred (15 minutes)",
    "[SynchronizedBeforeSuite] PASSED [562.722 seconds]",
    "[BeforeSuite] [FAILED] [12.5 seconds]",
    "Ran 30 of 30 Specs in 703.894 seconds",
    "--- PASS: TestA (1.23s)",
    "--- FAIL: TestB (0.5s)",
    "ok  \tgithub.com/a/b\t12.3s",
    "FAIL\tgithub.com/a/c\t600.1s",
    "===== 5 passed, 1 failed in 12.34s =====",
    "Waiting for Tekton",
    "Installing Tekton",
    "\x1b[36;1mkubectl wait --timeout=1s x\x1b[0m",
    "\x1b[31m",
    "plain output",
    "",
]
RULES = [
    PhaseRule("tekton", start="Waiting for Tekton", end="condition met|timed out", step="npm|e2e", timeout_s=300),
    PhaseRule("install", start=r"^Installing \w+"),
    PhaseRule("ci", start="(?i)ran \\d+", end="(?i)PASSED|failed"),
]


def stamp(sec: float) -> str:
    t = T0 + timedelta(seconds=sec)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond:06d}0Z"


@st.composite
def log_lines(draw: st.DrawFn) -> list[str]:
    """Lines mixing real fragments, noise, timestamps (some broken), BOMs, ANSI and CRs."""
    lines = []
    sec = 0.0
    for _ in range(draw(st.integers(0, 40))):
        sec += draw(st.floats(0, 120, allow_nan=False))
        text = draw(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=30)))
        text = text.replace("\n", " ")
        prefix = draw(st.sampled_from(["ts", "ts", "ts", "none", "bom", "bad"]))
        if prefix == "ts":
            text = f"{stamp(sec)} {text}"
        elif prefix == "bom":
            text = f"\ufeff{stamp(sec)} {text}"
        elif prefix == "bad":
            text = f"2026-13-45T99:99:99.1234567Z {text}"
        if draw(st.booleans()):
            text += "\r"
        lines.append(text)
    return lines


@st.composite
def api_steps(draw: st.DrawFn) -> list[StepInfo]:
    steps = []
    sec = 0
    for number in range(1, draw(st.integers(0, 6)) + 1):
        start = sec + draw(st.integers(0, 200))
        end = start + draw(st.integers(-5, 300))
        sec = max(start, end)
        conclusion = draw(st.sampled_from(["success", "failure", "skipped", "cancelled", None]))
        name = draw(st.sampled_from(["Set up job", "Run npm test", "Post Run x", "Complete job", "e2e"]))
        started = T0 + timedelta(seconds=start) if draw(st.booleans()) or number > 1 else None
        steps.append(StepInfo(number, name, "completed", conclusion, started, T0 + timedelta(seconds=end)))
    return steps


def check(parsed: ParsedLog) -> None:
    """Line numbers stay within the log; step spans are ordered and never overlap."""
    n = parsed.line_count
    assert n >= 1
    with_lines = [s for s in parsed.steps if s.first_line]
    for step in parsed.steps:
        assert (step.first_line == 0) == (step.last_line == 0)
        assert step.duration_s is None or step.duration_s >= 0
    for s in with_lines:
        assert 1 <= s.first_line <= s.last_line <= n
    for a, b in itertools.pairwise(with_lines):
        assert a.last_line < b.first_line
    for sig in parsed.signals:
        assert 1 <= sig.line <= n
        assert len(sig.evidence) <= 500
        assert "\x1b" not in sig.evidence
    for phase in parsed.phases:
        assert 0 <= phase.line <= n
        assert phase.duration_s >= 0


def parse_or_refuse(data: bytes | str, **kw: object) -> ParsedLog | None:
    try:
        parsed = parse_job_log(data, **kw)  # type: ignore[arg-type]
    except LogParseError:
        return None
    check(parsed)
    return parsed


@FUZZ
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_parse_or_raise_log_parse_error(data: bytes) -> None:
    """Random bytes never raise anything but LogParseError; job_name_from_log never raises."""
    parse_or_refuse(data)
    job_name_from_log(data)


@FUZZ
@given(st.text(max_size=2000))
def test_arbitrary_text_parses_or_raises_log_parse_error(text: str) -> None:
    """Random text (including lone surrogates) never raises anything but LogParseError."""
    parse_or_refuse(text)
    job_name_from_log(text)


@FUZZ
@given(log_lines(), api_steps(), st.lists(st.sampled_from(RULES), max_size=3, unique_by=lambda r: r.name))
def test_log_like_text_gives_consistent_spans(lines: list[str], steps: list[StepInfo], rules: list[PhaseRule]) -> None:
    """Logs built from real fragments parse into in-range, non-overlapping spans, with or without API steps."""
    text = "\n".join(lines)
    parse_or_refuse(text, rules=rules)
    parse_or_refuse(text.encode(), steps=steps, rules=rules, job_conclusion="cancelled")


@FUZZ
@given(log_lines(), st.lists(st.integers(0, 40), max_size=6), api_steps())
def test_step_files_give_consistent_spans(lines: list[str], cuts: list[int], steps: list[StepInfo]) -> None:
    """Per-step files cut anywhere (some dropped) parse or raise LogParseError, with sane spans."""
    bounds = sorted({0, len(lines), *(c for c in cuts if c <= len(lines))})
    parts = [
        (i + 1, f"step {i + 1}", "\ufeff" + "\n".join(lines[a:b]))
        for i, (a, b) in enumerate(itertools.pairwise(bounds))
        if i % 3 != 1
    ]
    try:
        parsed = parse_step_logs(parts, steps=steps, rules=RULES)
    except LogParseError:
        return
    check(parsed)


CORRUPTIONS = [b"\x00", b"\x00" * 64, b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xef\xbb\xbf", b"\x1b[", b"\r", b"\x89PNG\r\n\x1a\n"]


@st.composite
def damaged_logs(draw: st.DrawFn) -> bytes:
    """Log-like lines with one line ending throughout (LF, CRLF, or CR alone as old Macs wrote), then
    NULs, invalid UTF-8, BOMs and binary headers spliced in anywhere."""
    lines = draw(log_lines())
    data = bytearray(draw(st.sampled_from(["\n", "\r\n", "\r"])).join(lines).encode("utf-8", "surrogatepass"))
    for _ in range(draw(st.integers(0, 6))):
        at = draw(st.integers(0, len(data)))
        data[at:at] = draw(st.sampled_from(CORRUPTIONS))
    return bytes(data)


@FUZZ
@given(damaged_logs(), st.lists(st.sampled_from(RULES), max_size=3, unique_by=lambda r: r.name))
def test_damaged_logs_parse_or_raise_log_parse_error(data: bytes, rules: list[PhaseRule]) -> None:
    """Binary, invalid UTF-8, NULs and CR-only lines: parsed with sane spans or refused, by check_log and the
    parser alike (what check_log accepts, the parser accepts too)."""
    try:
        check_log(data)
    except LogParseError:
        accepted = False
    else:
        accepted = True
    event("accepted" if accepted else "refused")
    parsed = parse_or_refuse(data, rules=rules)
    assert (parsed is not None) == accepted
    job_name_from_log(data)


@FUZZ
@given(st.text(max_size=200))
def test_helpers_never_raise(text: str) -> None:
    """parse_duration returns a non-negative number or None; strip_ansi leaves no escape sequence start."""
    value = parse_duration(text)
    assert value is None or value >= 0
    assert "\x1b" not in strip_ansi(text)
