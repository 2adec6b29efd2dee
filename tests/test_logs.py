"""analyzer.parse.logs: generated job logs covering the format, steps, signals, detectors and rules."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from analyzer.config import PhaseRule
from analyzer.errors import ConfigError, LogParseError
from analyzer.parse.logs import (
    PARSER_VERSION,
    job_name_from_log,
    parse_duration,
    parse_job_log,
    parse_step_logs,
    strip_ansi,
)
from analyzer.records import ParsedLog, StepInfo

T0 = datetime(2026, 3, 2, 10, 0, 0, tzinfo=UTC)

Row = tuple[float, str] | str


def at(sec: float) -> datetime:
    return T0 + timedelta(seconds=sec)


def stamp(sec: float) -> str:
    t = at(sec)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond:06d}0Z"


def make_log(*rows: Row, eol: str = "\n", bom: bool = False) -> str:
    """(seconds after T0, text) rows get a runner timestamp; bare strings are continuation lines."""
    lines = [row if isinstance(row, str) else f"{stamp(row[0])} {row[1]}" for row in rows]
    return ("\ufeff" if bom else "") + eol.join(lines) + eol


# A small successful job: set-up, two run steps, one post step, complete job (16 lines).
JOB: tuple[Row, ...] = (
    (0.3, "Current runner version: '2.323.0'"),
    (0.3, "##[group]Operating System"),
    (0.3, "Ubuntu"),
    (0.3, "##[endgroup]"),
    (1.5, "Complete job name: build (22.x)"),
    (2.4, "##[group]Run actions/checkout@v4"),
    (2.4, "with:"),
    (2.5, "##[endgroup]"),
    (5.0, "Syncing repository"),
    (6.7, "##[group]Run npm test"),
    (6.7, "\x1b[36;1mnpm test\x1b[0m"),
    (6.8, "##[endgroup]"),
    (20.0, "> all tests passed"),
    (36.2, "Post job cleanup."),
    (36.5, "[command]/usr/bin/git version"),
    (37.9, "Cleaning up orphan processes"),
)

API_STEPS = (
    StepInfo(1, "Set up job", "completed", "success", at(0), at(2)),
    StepInfo(2, "Run actions/checkout@v4", "completed", "success", at(2), at(6)),
    StepInfo(3, "Run npm test", "completed", "success", at(6), at(36)),
    StepInfo(7, "Post Use Node.js", "completed", "skipped", at(36), at(36)),
    StepInfo(8, "Post Run actions/checkout@v4", "completed", "success", at(36), at(37)),
    StepInfo(9, "Complete job", "completed", "success", at(37), at(37)),
)


def spans(parsed: ParsedLog) -> list[tuple[int, str, int, int]]:
    return [(s.number, s.name, s.first_line, s.last_line) for s in parsed.steps]


def sig_rows(parsed: ParsedLog) -> list[tuple[str, int, float | None, str | None]]:
    return [(s.kind, s.line, s.limit_s, s.step) for s in parsed.signals]


def phase_rows(parsed: ParsedLog) -> list[tuple[str, float, str, bool, float | None]]:
    return [(p.name, p.duration_s, p.outcome, p.censored, p.limit_s) for p in parsed.phases]


def with_step(*rows: Row, name: str = "Run make e2e", job: str = "e2e") -> str:
    """A job ``job`` whose second step ``name`` starts at 10 s (line 3) and holds ``rows``."""
    head: tuple[Row, ...] = (
        (0.0, "Current runner version: '2.323.0'"),
        (1.0, f"Complete job name: {job}"),
        (10.0, f"##[group]{name}"),
        (10.0, "##[endgroup]"),
    )
    return make_log(*head, *rows)


# ---------------------------------------------------------------------------------------------
# small helpers


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m0s", 1800.0),
        ("1h2m3s", 3723.0),
        ("360 minutes", 21600.0),
        ("10m0s", 600.0),
        ("180.000s", 180.0),
        ("5 min", 300.0),
        ("2.5 minutes", 150.0),
        ("300s", 300.0),
        ("1.23s", 1.23),
        ("500ms", 0.5),
        ("1 hour 5 minutes", 3900.0),
        ("(15 minutes)", 900.0),
        ("90", None),
        ("", None),
        ("soon", None),
        ("5 parsecs", None),
        ("-5s", None),
        ("5s later", None),
    ],
)
def test_parse_duration_table(text: str, expected: float | None) -> None:
    """Durations are read in Go and in word forms; text without a unit is not a duration."""
    actual = parse_duration(text)
    assert expected == (None if actual is None else pytest.approx(actual))


def test_strip_ansi_removes_colours_and_osc() -> None:
    """Colour codes, OSC titles and stray escapes vanish; plain text is kept."""
    assert strip_ansi("\x1b[36;1mnpm test\x1b[0m \x1b]0;title\x07done\x1b") == "npm test done"


def test_parser_version_is_a_positive_int() -> None:
    """The store compares PARSER_VERSION to decide on re-parsing: it is a positive int."""
    assert isinstance(PARSER_VERSION, int)
    assert PARSER_VERSION >= 1


def test_job_name_from_log_reads_the_setup_section() -> None:
    """``Complete job name: X`` in the set-up section names the job."""
    assert job_name_from_log(make_log(*JOB)) == "build (22.x)"


def test_job_name_after_a_step_started_is_ignored() -> None:
    """A ``Complete job name:`` echoed by a later step is not the job's name."""
    log = make_log(
        (0.0, "Current runner version: '2.323.0'"), (1.0, "##[group]Run echo"), (2.0, "Complete job name: fake")
    )
    assert job_name_from_log(log) is None


def test_job_name_from_garbage_is_none() -> None:
    """job_name_from_log never raises: binary input simply has no job name."""
    assert job_name_from_log(b"\x00\xff\xfe") is None


# ---------------------------------------------------------------------------------------------
# rejected input


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "is empty"),
        (" \n\r\n\t", "is empty"),
        (b"\xef\xbb\xbf\n", "is empty"),
        (b"\x00\x01\x02binary", "binary"),
        (b"2026-03-02T10:00:00.0000000Z caf\xe9\n", "not UTF-8 text"),
        ("2026-03-02T10:00:00.0000000Z \udc80\n", "not UTF-8 text"),
        ("just some text\nwith two lines\n", "does not look like a GitHub Actions job log"),
        ('{"message": "Not Found"}', "does not look like a GitHub Actions job log"),
        # notes about logs that quote their markers (realdata's README.md and PROVENANCE.tsv were jobs)
        ("# Logs\n- `##[group]` is standard; some logs contain raw `::group::` lines\n", "does not look like a GitHub Actions job log"),
        ("file\tnote\nx.txt\t1182 lines, 18 ##[group], 0 ##[error]\n", "does not look like a GitHub Actions job log"),
    ],
)
def test_non_logs_raise_log_parse_error(data: bytes | str, message: str) -> None:
    """Empty, binary, non-UTF-8 and non-log input raise LogParseError with a clear message."""
    with pytest.raises(LogParseError) as info:
        parse_job_log(data)
    assert message in info.value.message
    assert info.value.hint


def test_a_log_without_timestamps_is_known_by_its_markers_at_line_starts() -> None:
    """A log copied without timestamps still reads: workflow commands begin its lines."""
    parse_job_log("##[group]Run make test\nmake test\n##[endgroup]\nok\n")
    parse_job_log("  ::group::Install\npip install .\n::endgroup::\n")


def test_stray_nul_deep_in_a_log_is_text() -> None:
    """A NUL echoed late in a real log (a test printing "\\0") does not make it binary."""
    rows = [(i * 0.01, f"line {i} " + "x" * 80) for i in range(200)]
    data = make_log(*rows).encode() + make_log((3.0, 'got {"c":"\x00"}')).encode()
    assert parse_job_log(data).line_count == 201


@pytest.mark.timeout(120)  # a hang guard (catastrophic backtracking takes hours), not a timing
def test_ten_megabyte_line_without_timestamp_is_rejected() -> None:
    """A 10 MB single line that is not a log is rejected, without backtracking for ever."""
    with pytest.raises(LogParseError):
        parse_job_log("a( timed out waiting ##[ " * 400_000)


@pytest.mark.timeout(120)  # a hang guard, as above
def test_ten_megabyte_timestamped_line_is_parsed() -> None:
    """A 10 MB single line that starts with a timestamp parses, hits and all, without backtracking for ever."""
    payload = "== timed out in 1s == --- PASS: x (1s) Ran 1 of 2 Specs in 3 seconds " * 150_000
    parsed = parse_job_log(f"{stamp(0)} {payload}")
    assert parsed.line_count == 1


# ---------------------------------------------------------------------------------------------
# format


def test_bom_crlf_and_line_count() -> None:
    """A BOM and CRLF line endings are invisible: same steps, names and lines as LF."""
    lf = parse_job_log(make_log(*JOB))
    crlf = parse_job_log(make_log(*JOB, eol="\r\n", bom=True).encode())
    assert spans(lf) == spans(crlf)
    assert (crlf.line_count, crlf.job_name) == (16, "build (22.x)")
    assert (at(0.3), at(37.9)) == (crlf.started_at, crlf.completed_at)


def test_continuation_lines_inherit_the_time_of_the_line_before() -> None:
    """A line without a timestamp belongs to the time of the last timestamped line."""
    log = make_log(
        (0.0, "Current runner version: '2'"),
        (4.0, "##[error]first part"),
        "  [FAILED] Timed out after 180.000s.",
        (9.0, "done"),
    )
    parsed = parse_job_log(log)
    assert [(s.kind, s.line, s.at) for s in parsed.signals] == [("failure", 2, at(4.0)), ("test_timeout", 3, at(4.0))]


def test_ansi_codes_are_ignored_for_matching_and_removed_from_evidence() -> None:
    """Coloured text matches detectors and its evidence carries no escape codes."""
    log = with_step((20.0, "\x1b[31m[FAILED] Timed out after \x1b[1m180.000s.\x1b[0m"))
    sig = parse_job_log(log).signals[0]
    assert (sig.kind, sig.limit_s, sig.evidence) == ("test_timeout", 180.0, "[FAILED] Timed out after 180.000s.")


def test_evidence_is_cut_to_500_characters() -> None:
    """Evidence is the line's text without timestamp, at most 500 characters."""
    log = with_step((20.0, "##[error]" + "e" * 2000))
    assert len(parse_job_log(log).signals[0].evidence) == 500


def test_bom_in_the_middle_of_a_log_is_ignored() -> None:
    """Concatenated files keep a BOM at a line start: the timestamp after it still counts."""
    data = make_log((0.0, "Current runner version: '2'")) + "\ufeff" + make_log((5.0, "##[error]boom"))
    sig = parse_job_log(data).signals[0]
    assert ("failure", 2, at(5.0), "##[error]boom") == (sig.kind, sig.line, sig.at, sig.evidence)


def test_log_with_markers_but_no_timestamps_parses_without_times() -> None:
    """Markers alone make a log: steps are found, times are unknown."""
    parsed = parse_job_log("##[group]Run make\nbuilding\n##[error]Process completed with exit code 2.\n")
    assert spans(parsed) == [(1, "Run make", 1, 3)]
    assert (parsed.steps[0].duration_s, parsed.conclusion) == (None, "failure")


# ---------------------------------------------------------------------------------------------
# steps


def test_bare_log_is_split_by_markers() -> None:
    """Without API steps: Set up job, one step per ##[group]Run, post steps, Complete job."""
    parsed = parse_job_log(make_log(*JOB))
    assert spans(parsed) == [
        (1, "Set up job", 1, 5),
        (2, "Run actions/checkout@v4", 6, 9),
        (3, "Run npm test", 10, 13),
        (4, "Post job cleanup", 14, 15),
        (5, "Complete job", 16, 16),
    ]
    assert [s.conclusion for s in parsed.steps] == ["success"] * 5
    assert (parsed.job_name, parsed.conclusion) == ("build (22.x)", "success")


def test_bare_step_ends_when_the_next_starts() -> None:
    """A step lasts from its first line to the next step's first line (the last: to its last line)."""
    parsed = parse_job_log(make_log(*JOB))
    assert [
        (at(0.3), at(2.4)),
        (at(2.4), at(6.7)),
        (at(6.7), at(36.2)),
        (at(36.2), at(37.9)),
        (at(37.9), at(37.9)),
    ] == [(s.started_at, s.completed_at) for s in parsed.steps]


def test_old_section_format_starts_steps() -> None:
    """2019-2022 logs: ``##[section]Starting: X`` begins step X; the runner version begins Set up job."""
    log = make_log(
        (0.0, "##[section]Starting: Request a runner to run this job"),
        (0.5, "Requesting a hosted runner"),
        (0.9, "##[section]Finishing: Request a runner to run this job"),
        (10.0, "Current runner version: '2.160.2'"),
        (12.0, "##[group]Run npm ci"),
        (13.0, "##[command]npm ci"),
        (14.0, "##[error]Process completed with exit code 254."),
        (14.1, "Cleaning up orphan processes"),
        eol="\r\n",
    )
    parsed = parse_job_log(log)
    assert spans(parsed) == [
        (1, "Request a runner to run this job", 1, 3),
        (2, "Set up job", 4, 4),
        (3, "Run npm ci", 5, 7),
        (4, "Complete job", 8, 8),
    ]
    assert [s.conclusion for s in parsed.steps] == ["success", "success", "failure", "success"]


def test_step_conclusions_from_the_log() -> None:
    """Bare steps: cancel -> cancelled, step timeout -> failure, other errors -> failure."""
    log = make_log(
        (0.0, "Current runner version: '2'"),
        (1.0, "##[group]Run lint"),
        (2.0, "##[error]The action 'lint' has timed out after 1 minutes."),
        (62.0, "##[group]Run test"),
        (70.0, "##[error]The operation was canceled."),
        (71.0, "Cleaning up orphan processes"),
    )
    parsed = parse_job_log(log)
    assert [s.conclusion for s in parsed.steps] == ["success", "failure", "cancelled", "success"]
    assert parsed.conclusion == "cancelled"


def test_truncated_log_of_a_cancelled_job_marks_its_last_step() -> None:
    """When the API says the job was cancelled and the log just stops, its last step was cancelled."""
    log = make_log((0.0, "Current runner version: '2'"), (1.0, "##[group]Run sleep 999"), (2.0, "zzz"))
    parsed = parse_job_log(log, job_conclusion="cancelled")
    assert [s.conclusion for s in parsed.steps] == ["success", "cancelled"]


def test_api_steps_split_the_log_and_refine_times() -> None:
    """API steps: skipped steps get no lines; durations agree with the API within 1 s."""
    parsed = parse_job_log(make_log(*JOB), steps=API_STEPS)
    assert spans(parsed) == [
        (1, "Set up job", 1, 5),
        (2, "Run actions/checkout@v4", 6, 9),
        (3, "Run npm test", 10, 13),
        (7, "Post Use Node.js", 0, 0),
        (8, "Post Run actions/checkout@v4", 14, 15),
        (9, "Complete job", 16, 16),
    ]
    assert [at(0.3), at(2.4), at(6.7), at(36), at(36.2), at(37.9)] == [s.started_at for s in parsed.steps]
    for span, api in zip(parsed.steps, API_STEPS, strict=True):
        assert api.started_at is not None and api.completed_at is not None and span.duration_s is not None
        assert abs(span.duration_s - (api.completed_at - api.started_at).total_seconds()) <= 1.0
    assert [s.conclusion for s in parsed.steps] == ["success", "success", "success", "skipped", "success", "success"]


def test_api_steps_keep_composite_inner_runs_in_their_step() -> None:
    """Inner ``##[group]Run`` lines of a composite action stay in the API step they ran in."""
    rows = list(JOB)
    rows.insert(12, (15.5, "##[group]Run inner-composite-step"))
    parsed = parse_job_log(make_log(*rows), steps=API_STEPS)
    assert spans(parsed)[2] == (3, "Run npm test", 10, 14)
    assert len(parse_job_log(make_log(*rows)).steps) == 6


def test_api_step_without_marker_starts_at_its_time() -> None:
    """A step with no start marker (here "Initialize containers") begins at its API time."""
    rows: list[Row] = [
        (0.3, "Current runner version: '2'"),
        (3.2, "##[group]Checking docker version"),
        (3.3, "##[endgroup]"),
        (9.5, "##[group]Run make"),
        (19.0, "Cleaning up orphan processes"),
    ]
    steps = [
        StepInfo(1, "Set up job", "completed", "success", at(0), at(3)),
        StepInfo(2, "Initialize containers", "completed", "success", at(3), at(9)),
        StepInfo(3, "Run make", "completed", "success", at(9), at(19)),
        StepInfo(4, "Complete job", "completed", "success", at(19), at(19)),
    ]
    parsed = parse_job_log(make_log(*rows), steps=steps)
    assert spans(parsed) == [
        (1, "Set up job", 1, 1),
        (2, "Initialize containers", 2, 3),
        (3, "Run make", 4, 4),
        (4, "Complete job", 5, 5),
    ]


def test_step_files_with_one_missing() -> None:
    """Per-step files parse as the whole job would; a missing file leaves its API step empty."""
    text = make_log(*JOB)
    lines = text.splitlines(keepends=True)
    cuts = [
        (1, "Set up job", 0, 5),
        (2, "Run actions_checkout@v4", 5, 9),
        (3, "Run npm test", 9, 13),
        (8, "Post Run actions_checkout@v4", 13, 15),
        (9, "Complete job", 15, 16),
    ]
    parts = [(n, name, "\ufeff" + "".join(lines[a:b])) for n, name, a, b in cuts]
    whole = parse_step_logs(parts, steps=API_STEPS)
    assert spans(parse_job_log(text, steps=API_STEPS)) == spans(whole)

    missing = parse_step_logs([p for p in parts if p[0] != 2], steps=API_STEPS)
    assert spans(missing) == [
        (1, "Set up job", 1, 5),
        (2, "Run actions/checkout@v4", 0, 0),
        (3, "Run npm test", 6, 9),
        (7, "Post Use Node.js", 0, 0),
        (8, "Post Run actions/checkout@v4", 10, 11),
        (9, "Complete job", 12, 12),
    ]
    assert missing.warnings == ("no log file for step 2 (Run actions/checkout@v4)",)
    assert (at(2), at(6)) == (missing.steps[1].started_at, missing.steps[1].completed_at)


def test_step_files_without_api_steps_use_file_names() -> None:
    """Without API steps each file is a step named after its file, in step-number order."""
    parts = [
        (3, "Run tests", f"{stamp(5)} ##[error]Process completed with exit code 1.\n"),
        (1, "Set up job", f"{stamp(0)} Current runner version: '2'\n{stamp(1)} Complete job name: t"),
    ]
    parsed = parse_step_logs(parts)
    assert spans(parsed) == [(1, "Set up job", 1, 2), (3, "Run tests", 3, 3)]
    assert sig_rows(parsed) == [("failure", 3, None, "Run tests")]
    assert (parsed.job_name, parsed.conclusion) == ("t", "failure")


def test_step_file_that_is_not_utf8_raises() -> None:
    """A broken per-step file raises LogParseError naming the step."""
    with pytest.raises(LogParseError) as info:
        parse_step_logs([(1, "Set up job", b"\xff\xfe")])
    assert info.value.message == "step 1 (Set up job) is not UTF-8 text"


# ---------------------------------------------------------------------------------------------
# signals


@pytest.mark.parametrize(
    ("text", "kind", "limit"),
    [
        ("##[error]The job has exceeded the maximum execution time of 30m0s", "job_timeout", 1800.0),
        (
            "##[error]The job running on runner GitHub Actions 3 has exceeded the maximum execution time of "
            "360 minutes.",
            "job_timeout",
            21600.0,
        ),
        ("##[error]The action 'Run e2e' has timed out after 25 minutes.", "step_timeout", 1500.0),
        ("error: timed out waiting for the condition on pods/web-77ccd99cdc-vc8h8", "tool_timeout", None),
        ("panic: test timed out after 10m0s", "tool_timeout", 600.0),
        ("+++++++ Timeout (>300.0s) from pytest-timeout +++++++", "tool_timeout", 300.0),
        ("Get https://x/healthz: context deadline exceeded", "tool_timeout", None),
        ("  [FAILED] Timed out after 180.000s.", "test_timeout", 180.0),
        ("❌ FAILED: Timed out after 120.001s", "test_timeout", 120.001),
        ("[TIMEDOUT] A suite timeout occurred (15 minutes)", "test_timeout", 900.0),
        (
            "##[error]The runner has received a shutdown signal. This can happen when the runner service is stopped.",
            "runner_lost",
            None,
        ),
        ("##[error]The self-hosted runner: r1 lost communication with the server.", "runner_lost", None),
        ("##[error]The operation was canceled.", "cancelled", None),
        ("##[error]Process completed with exit code 2.", "failure", None),
        ("##[error]src/a.ts(3,4): error TS2304", "failure", None),
    ],
)
def test_signal_kinds_and_limits(text: str, kind: str, limit: float | None) -> None:
    """Each timeout, cancel, lost-runner and error line is one signal with the limit it states."""
    parsed = parse_job_log(with_step((20.0, text)))
    sig = parsed.signals[0]
    assert [(kind, 5, limit, "Run make e2e")] == sig_rows(parsed)
    assert (at(20.0), 2, text.strip()) == (sig.at, sig.step_number, sig.evidence)


def test_job_conclusions() -> None:
    """The log's conclusion: timed_out > cancelled (also a lost runner) > failure > success."""

    def conclusion(*rows: Row) -> str | None:
        return parse_job_log(with_step(*rows)).conclusion

    assert (
        conclusion(
            (20.0, "##[error]The job has exceeded the maximum execution time of 30m0s"),
            (20.1, "##[error]The operation was canceled."),
        )
        == "timed_out"
    )
    assert conclusion((20.0, "##[error]The runner has received a shutdown signal.")) == "cancelled"
    assert conclusion((20.0, "##[error]The operation was canceled.")) == "cancelled"
    assert conclusion((20.0, "##[error]Process completed with exit code 1.")) == "failure"
    assert conclusion((20.0, "error: timed out waiting for the condition on pods/x (retrying)")) == "success"


def test_plain_text_mentions_are_not_runner_signals() -> None:
    """Runner messages count only as ##[error] annotations; a test echoing them is no signal."""
    parsed = parse_job_log(with_step((20.0, 'assert msg == "The operation was canceled."')))
    assert sig_rows(parsed) == []


# ---------------------------------------------------------------------------------------------
# built-in detectors


def test_ginkgo_before_suite_passed() -> None:
    """``[SynchronizedBeforeSuite] PASSED [N seconds]``: a phase of N seconds ending on that line."""
    parsed = parse_job_log(with_step((600.0, "[SynchronizedBeforeSuite] PASSED [562.722 seconds]")))
    phase = parsed.phases[0]
    assert phase_rows(parsed) == [("ginkgo:before-suite", 562.722, "success", False, None)]
    assert (at(600.0 - 562.722), 5, "Run make e2e") == (phase.started_at, phase.line, phase.step)


def test_ginkgo_before_suite_failed_by_timeout_is_censored() -> None:
    """A FAILED BeforeSuite whose failure was a timeout is censored; a plain failure is not."""
    timed_out = with_step(
        (200.0, "[SynchronizedBeforeSuite] [FAILED] [190.311 seconds]"), (200.0, "  [FAILED] Timed out after 180.000s.")
    )
    failed = with_step((200.0, "[BeforeSuite] [FAILED] [19.3 seconds]"), (200.0, "  Expected true"))
    assert phase_rows(parse_job_log(timed_out)) == [("ginkgo:before-suite", 190.311, "timeout", True, None)]
    assert phase_rows(parse_job_log(failed)) == [("ginkgo:before-suite", 19.3, "failure", False, None)]
    assert parse_job_log(timed_out).signals[0].phase == "ginkgo:before-suite"


def test_ginkgo_suite_ran_specs() -> None:
    """``Ran N of M Specs in X seconds``: the suite phase; FAIL! after it makes it a failure."""
    ok = with_step((800.0, "Ran 30 of 30 Specs in 703.894 seconds"), (800.0, "SUCCESS! -- 30 Passed"))
    bad = with_step((800.0, "Ran 30 of 30 Specs in 397.485 seconds"), (800.0, "FAIL! -- 23 Passed | 7 Failed"))
    assert phase_rows(parse_job_log(ok)) == [("ginkgo:suite", 703.894, "success", False, None)]
    assert phase_rows(parse_job_log(bad)) == [("ginkgo:suite", 397.485, "failure", False, None)]


def test_ginkgo_suite_timeout_is_censored_from_step_start() -> None:
    """``[TIMEDOUT] A suite timeout occurred (15 minutes)``: censored suite phase from the step start."""
    parsed = parse_job_log(with_step((910.0, "[TIMEDOUT] A suite timeout occurred (15 minutes)")))
    assert phase_rows(parsed) == [("ginkgo:suite", 900.0, "timeout", True, 900.0)]
    assert sig_rows(parsed) == [("test_timeout", 5, 900.0, "Run make e2e")]
    assert parsed.signals[0].phase == "ginkgo:suite"


def test_ginkgo_summary_after_suite_timeout_sets_its_duration() -> None:
    """The ``Ran`` line after a suite timeout gives that same censored phase its exact duration."""
    parsed = parse_job_log(
        with_step((910.0, "[TIMEDOUT] A suite timeout occurred"), (911.0, "Ran 3 of 30 Specs in 900.012 seconds"))
    )
    assert phase_rows(parsed) == [("ginkgo:suite", 900.012, "timeout", True, None)]


def test_go_test_top_level_tests_and_packages() -> None:
    """``--- PASS/FAIL: TestX (Ns)`` for top-level tests (not subtests) and ``ok``/``FAIL`` packages."""
    parsed = parse_job_log(
        with_step(
            (20.0, "--- PASS: TestAlpha (1.23s)"),
            (20.0, "    --- PASS: TestAlpha/sub (0.50s)"),
            (20.0, "--- PASS: TestAlpha/direct_sub (0.10s)"),
            (21.0, "--- FAIL: TestBeta (0.01s)"),
            (22.0, "FAIL"),
            (22.0, "FAIL\tgithub.com/acme/app/pkg/beta\t1.300s"),
            (30.0, "ok  \tgithub.com/acme/app/pkg/alpha\t12.3s\tcoverage: 80.0% of statements"),
            (30.0, "ok  \tgithub.com/acme/app/pkg/cached\t(cached)"),
        )
    )
    assert phase_rows(parsed) == [
        ("go-test:TestAlpha", 1.23, "success", False, None),
        ("go-test:TestBeta", 0.01, "failure", False, None),
        ("go-pkg:github.com/acme/app/pkg/beta", 1.3, "failure", False, None),
        ("go-pkg:github.com/acme/app/pkg/alpha", 12.3, "success", False, None),
    ]


def test_go_package_killed_by_test_timeout_is_censored() -> None:
    """A package that panicked with ``test timed out after 10m0s`` is a censored timeout at 10 minutes."""
    parsed = parse_job_log(
        with_step(
            (620.0, "panic: test timed out after 10m0s"),
            (620.0, "running tests:"),
            (621.0, "FAIL\tgithub.com/acme/slow\t600.123s"),
        )
    )
    assert phase_rows(parsed) == [("go-pkg:github.com/acme/slow", 600.123, "timeout", True, 600.0)]
    assert parsed.signals[0].phase == "go-pkg:github.com/acme/slow"


@pytest.mark.parametrize(
    ("line", "duration", "outcome"),
    [
        ("===== 5 passed, 1 warning in 12.34s =====", 12.34, "success"),
        ("========= 1 failed, 128 passed, 2 rerun in 68.76s (0:01:08) =========", 68.76, "failure"),
        ("\x1b[32m==== \x1b[32m\x1b[1m3 passed\x1b[0m\x1b[32m in 0.52s\x1b[0m\x1b[32m ====\x1b[0m", 0.52, "success"),
        ("=== no tests ran in 0.01s ===", 0.01, "success"),
    ],
)
def test_pytest_summary(line: str, duration: float, outcome: str) -> None:
    """The final pytest summary line is a ``pytest`` phase (also coloured and ``(h:mm:ss)`` forms)."""
    parsed = parse_job_log(with_step((100.0, line)))
    assert [("pytest", duration, outcome, False, None)] == phase_rows(parsed)
    assert at(100.0 - duration) == parsed.phases[0].started_at


def test_kubectl_wait_success_and_timeout() -> None:
    """An echoed ``kubectl wait --timeout`` and its outcome line in the same step make a phase."""
    parsed = parse_job_log(
        with_step(
            (20.0, "\x1b[36;1mkubectl wait --for=condition=ready pod -l app=web --timeout=300s\x1b[0m"),
            (30.0, "+ kubectl wait --for=condition=ready pod -l app=web --timeout=300s"),
            (75.5, "pod/web-584fb45fd-jg2cg condition met"),
            (80.0, "##[command]kubectl wait --for=condition=available deployment/db --timeout=2m"),
            (200.0, "error: timed out waiting for the condition on deployments/db"),
        )
    )
    assert phase_rows(parsed) == [
        ("kubectl-wait:pod/web", 45.5, "success", False, 300.0),
        ("kubectl-wait:deployment/db", 120.0, "timeout", True, 120.0),
    ]
    assert sig_rows(parsed) == [("tool_timeout", 9, 120.0, "Run make e2e")]
    assert parsed.signals[0].phase == "kubectl-wait:deployment/db"


def test_kubectl_outcome_without_a_command_is_no_phase() -> None:
    """``condition met`` with no echoed ``kubectl wait`` before it in the step is not a phase."""
    parsed = parse_job_log(with_step((75.5, "pod/web-1 condition met")))
    assert phase_rows(parsed) == []


# ---------------------------------------------------------------------------------------------
# [[phases]] rules

TEKTON = PhaseRule(
    "tekton-wait", start="Waiting for Tekton", end="condition met|timed out waiting", step="e2e", timeout_s=300
)
INSTALL = PhaseRule("install", start=r"^Installing \w+")
DEPLOY = PhaseRule("deploy", start="Deploying (PostgreSQL|Redis)", end="ready")


def test_rule_phase_ends_on_its_end_line() -> None:
    """A start line opens the phase; the first later end line closes it successfully."""
    parsed = parse_job_log(
        with_step(
            (20.0, "⏳ Waiting for Tekton controller"),
            (20.5, "⏳ Waiting for Tekton controller"),
            (81.25, "deployment.apps/tekton-pipelines-controller condition met"),
        ),
        rules=[TEKTON],
    )
    phase = parsed.phases[0]
    assert phase_rows(parsed) == [("tekton-wait", 61.25, "success", False, 300.0)]
    assert (at(20.0), 7, "deployment.apps/tekton-pipelines-controller condition met", 2) == (
        phase.started_at,
        phase.line,
        phase.evidence,
        phase.step_number,
    )


def test_rule_phase_ending_on_a_timeout_line_is_censored() -> None:
    """An end line that is a timeout line makes the phase a censored timeout at the rule's limit."""
    parsed = parse_job_log(
        with_step(
            (20.0, "Waiting for Tekton"), (320.0, "error: timed out waiting for the condition on deployments/tekton")
        ),
        rules=[TEKTON],
    )
    assert phase_rows(parsed) == [("tekton-wait", 300.0, "timeout", True, 300.0)]
    assert parsed.signals[0].phase == "tekton-wait"


def test_rule_timeout_limit_comes_from_the_line_without_timeout_s() -> None:
    """Without ``timeout_s`` the limit is the one the timeout line states."""
    rule = PhaseRule("ds", start="Waiting for DataStorage", end=r"ready|Timed out after")
    parsed = parse_job_log(
        with_step((20.0, "Waiting for DataStorage"), (200.0, "[FAILED] Timed out after 180.000s.")), rules=[rule]
    )
    assert phase_rows(parsed) == [("ds", 180.0, "timeout", True, 180.0)]


def test_rule_phase_cut_off_by_step_end_is_cancelled() -> None:
    """A phase whose end line never comes is cut off by its step's end: cancelled, censored."""
    parsed = parse_job_log(
        with_step(
            (20.0, "Waiting for Tekton"),
            (60.0, "still waiting"),
            (70.0, "##[error]The operation was canceled."),
            (71.0, "Cleaning up orphan processes"),
        ),
        rules=[TEKTON],
    )
    assert phase_rows(parsed) == [("tekton-wait", 51.0, "cancelled", True, 300.0)]
    assert parsed.signals[0].phase == "tekton-wait"


def test_rule_without_end_runs_to_next_phase_or_step_end() -> None:
    """No end regex: a phase ends where the next phase starts, the last one at its step's end; the rule's
    second phase in one step is told apart by position (one sample per unit and job run)."""
    parsed = parse_job_log(
        with_step(
            (20.0, "Installing Tekton"),
            (50.0, "Deploying PostgreSQL"),
            (52.0, "PostgreSQL ready"),
            (60.0, "Installing Redis"),
            (90.0, "Cleaning up orphan processes"),
        ),
        rules=[INSTALL, DEPLOY],
    )
    assert phase_rows(parsed) == [
        ("install", 30.0, "success", False, None),
        ("deploy", 2.0, "success", False, None),
        ("install #2", 30.0, "success", False, None),
    ]
    assert [p.line for p in parsed.phases] == [5, 7, 8]


def test_rule_without_end_in_a_failed_step_is_cancelled() -> None:
    """A no-end phase still open when its step fails was cut off: cancelled, censored."""
    parsed = parse_job_log(
        with_step(
            (20.0, "Installing Tekton"),
            (50.0, "##[error]Process completed with exit code 1."),
            (51.0, "Cleaning up orphan processes"),
        ),
        rules=[INSTALL],
    )
    assert phase_rows(parsed) == [("install", 31.0, "cancelled", True, None)]


def test_rule_step_regex_selects_steps_or_the_job() -> None:
    """``step`` is searched in the step name, or in the job name."""
    rows = ((20.0, "Waiting for Tekton"), (30.0, "condition met"))
    unit = with_step(*rows, name="Run unit", job="unit")
    assert phase_rows(parse_job_log(unit, rules=[TEKTON])) == []
    assert [p.name for p in parse_job_log(unit, rules=[TEKTON], job_name="nightly e2e").phases] == ["tekton-wait"]
    assert [p.name for p in parse_job_log(with_step(*rows, job="e2e"), rules=[TEKTON]).phases] == ["tekton-wait"]


def test_rule_matching_ignores_ansi_and_timestamps() -> None:
    """Rules see a line's clean text: ``^`` anchors after the timestamp, colours do not split words."""
    parsed = parse_job_log(with_step((20.0, "\x1b[1mInstalling\x1b[0m Tekton"), (25.0, "x")), rules=[INSTALL])
    assert phase_rows(parsed) == [("install", 5.0, "success", False, None)]


def test_case_insensitive_rules_match_any_case() -> None:
    """Case-insensitive rules (``(?i)``) find their lines whatever the case."""
    rule = PhaseRule("mig", start="(?i)applying AUDIT migrations", end="(?i)migrations applied")
    parsed = parse_job_log(
        with_step((20.0, "Applying audit migrations"), "continued line", (24.5, "✅ MIGRATIONS APPLIED")),
        rules=[rule],
    )
    assert phase_rows(parsed) == [("mig", 4.5, "success", False, None)]
    assert parsed.phases[0].line == 7


def test_rules_without_a_literal_word_take_the_slow_path_with_same_result() -> None:
    """A regex with no required word (``^\\w+ \\d+``) is matched line by line over its step's clean text."""
    rule = PhaseRule("num", start=r"^\w+ \d+$", end=r"^[A-Z]{2}$")
    parsed = parse_job_log(
        with_step((20.0, "\x1b[1mstage\x1b[0m 1"), "not 2 x", (21.0, "waiting"), (26.0, "OK"), (27.0, "stage 22x")),
        rules=[rule],
    )
    assert phase_rows(parsed) == [("num", 6.0, "success", False, None)]
    assert (parsed.phases[0].started_at, parsed.phases[0].line) == (at(20.0), 8)


def test_invalid_rule_regex_is_a_config_error() -> None:
    """A rule whose regex does not compile raises ConfigError, not re.error."""
    with pytest.raises(ConfigError):
        parse_job_log(with_step((20.0, "x")), rules=[PhaseRule("bad", start="(unclosed")])


# ---------------------------------------------------------------------------------------------
# benchmark

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "parse_bench.py"


def run_quick_bench(tmp_path: Path, repeat: int) -> dict[str, float]:
    out = tmp_path / "bench.json"
    subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--repeat", str(repeat), "--json", str(out)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    result: dict[str, float] = json.loads(out.read_text())
    return result


def test_quick_benchmark_runs_and_meets_the_memory_target(tmp_path: Path) -> None:
    """``parse_bench.py --quick`` parses ~20 MB of logs; peak RSS stays under largest log + 100 MB."""
    result = run_quick_bench(tmp_path, repeat=1)
    assert result["corpus_mb"] >= 20
    assert result["peak_rss_mb"] <= result["largest_log_mb"] + 100


@pytest.mark.slow
def test_quick_benchmark_meets_the_throughput_target(tmp_path: Path) -> None:
    """Parsing runs at >= 1/8 of ``grep -cE`` with the equivalent pattern (load-sensitive: -m slow)."""
    result = run_quick_bench(tmp_path, repeat=3)
    assert result["ratio_parse_to_grep"] >= 0.125


def test_every_bundled_rule_is_found_by_words() -> None:
    """Each start and end regex of the bundled presets has words to search for in the raw bytes,
    so none falls back to decoding its steps (the slowest path), and starts share words."""
    from analyzer.config import list_presets, load_preset
    from analyzer.parse.logs.rules import compile_rules

    for preset in list_presets():
        compiled = compile_rules(tuple(load_preset(preset).phases))
        for c in compiled:
            assert c.start_lits, (preset, c.rule.name, "start")
            assert c.end_lits or c.rule.end is None, (preset, c.rule.name, "end")
        assert len({w for c in compiled for w in c.start_lits or ()}) < len(compiled), preset


def test_rules_sharing_a_start_word_each_find_their_own_start() -> None:
    """Two rules found by one shared word ("Waiting") still open only their own phases."""
    rules = [
        PhaseRule("a", start="Waiting for alpha", end="alpha ready"),
        PhaseRule("b", start="Waiting for beta", end="beta ready"),
    ]
    log = with_step(
        (20.0, "Waiting for alpha"), (22.0, "alpha ready"), (23.0, "Waiting for beta"), (30.0, "beta ready")
    )
    parsed = parse_job_log(log, rules=rules)
    assert [(p.name, p.duration_s, p.outcome) for p in parsed.phases] == [("a", 2.0, "success"), ("b", 7.0, "success")]


@pytest.mark.parametrize(
    ("line", "outcome"),
    [("deployment.apps/tekton-pipelines-controller condition met", "success"),
     ("error: timed out waiting for the condition on deployments/tekton-pipelines-controller", "timeout")],
)  # fmt: skip
def test_an_end_whose_branches_share_a_first_letter_is_found(line: str, outcome: str) -> None:
    """``tekton…|timed…`` (which the regex parser factors into ``t(?:ekton…|imed…)``) finds either end."""
    rule = PhaseRule(
        "wait", start="Waiting for Tekton", end="tekton-pipelines-controller condition met|timed out waiting"
    )
    parsed = parse_job_log(with_step((20.0, "Waiting for Tekton"), (25.0, line)), rules=[rule])
    assert [(p.name, p.duration_s, p.outcome) for p in parsed.phases] == [("wait", 5.0, outcome)]


# -- silences (hangs) ----------------------------------------------------------------------------


def test_silences_of_a_step_that_hung_until_the_job_limit() -> None:
    """Lines every 30 s, then nothing for 20 minutes until the job's limit cancels the step: the step's
    silence is those 20 minutes, measured to the runner's closing line, and its last ordinary line is
    the evidence; a step that finished has a gap but no closing silence to speak of."""
    rows: list[Row] = [(0.3, "Current runner version: '2.323.0'"), (2.0, "##[group]Run make e2e"), (2.1, "##[endgroup]")]
    rows += [(2.1 + 30 * k, f"progress {k}") for k in range(1, 11)]
    rows += ["  (a continuation line: no time)", (1502.1, "##[error]The operation was canceled."),
             (1503.0, "Post job cleanup."), (1503.5, "Cleaning up orphan processes")]  # fmt: skip
    parsed = parse_job_log(make_log(*rows), job_conclusion="cancelled")
    step = next(s for s in parsed.steps if s.name == "Run make e2e")
    assert step.silence_s == pytest.approx(1200.0, abs=1e-3)
    assert step.gap_s == pytest.approx(1200.0, abs=1e-3)
    assert step.quiet_evidence == "progress 10"
    setup = next(s for s in parsed.steps if s.name == "Set up job")
    assert setup.quiet_evidence is None and setup.gap_s is not None and setup.gap_s < 2
    assert parsed.gap_s == pytest.approx(1200.0, abs=1e-3)


def test_line_times_cross_midnight_and_month_ends_and_keep_fractions() -> None:
    """Every line's time is read at once, to the second: the clock runs on across midnight (here at a year's
    end), a line without a timestamp has no time, a small step back stays one, the absolute time is exact."""
    from analyzer.parse.logs.quiet import LineTimes, PlainLineTimes

    text = (
        b"2025-12-31T23:59:59.5000000Z a\n"
        b"2026-01-01T00:00:01.2500000Z b\n"
        b"not a timestamp, but a line long enough to be looked at\n"
        b"2026-01-01T00:01:01Z c (no fraction)\n"
        b"2026-01-01T00:01:00.9000000Z d (a step back)\n"
        b"2026-01-01T00:31:00.0000000Z ##[error]The operation was canceled.\n"
    )
    for times in (LineTimes.read(text, 0), PlainLineTimes.of(text, 0)):  # with numpy, and in plain Python
        assert list(times.line) == [0, 1, 3, 4, 5]
        assert np.diff(times.seconds).tolist() == [2, 60, -1, 1800]  # to the second
        assert times.origin + times.seconds[0] == pytest.approx(datetime(2025, 12, 31, 23, 59, 59, 500000, tzinfo=UTC).timestamp())
        assert times.longest_gap(1, 5) == 60
        (quiet,) = times.quiet([(1, 6, None)])
        assert (quiet.silence_s, quiet.quiet_line) == (1800, 5)


def test_line_times_in_plain_python_are_numpys() -> None:
    """``PlainLineTimes`` (the first few MB of logs a process reads, without importing numpy) reads the lines,
    offsets, clocks and origin ``LineTimes.read`` reads, and gives the same silences and gaps: on slices of
    the sample's real logs at any offset, and on the same slices with bytes changed to newlines, digits, ``-``, ``T``,
    ``:``, ``#``, ``[`` and worse (lines too short, broken stamps, clocks from non-digits, odd starts)."""
    import gzip
    import random

    from analyzer.parse.logs.quiet import LineTimes, PlainLineTimes

    sample = Path(__file__).resolve().parents[1] / "data" / "sample" / "logs"
    logs = b"".join(gzip.decompress(path.read_bytes()) for path in sorted(sample.glob("*.txt.gz"))[:60])
    assert len(logs) > 1_000_000
    rnd = random.Random(15)
    for n in range(400):
        lo = rnd.randrange(len(logs))
        buf = bytearray(logs[lo : lo + rnd.choice([0, 5, 20, 21, 100, 3000, 60000])])
        for _ in range(rnd.randrange(40) if n % 2 and buf else 0):
            buf[rnd.randrange(len(buf))] = rnd.choice(b"\n-T:0123456789 #[\xff\x00")
        start = rnd.choice([0, 0, 1, 3]) if buf else 0
        numpy_, plain = LineTimes.read(bytes(buf), start), PlainLineTimes.of(bytes(buf), start)
        assert (numpy_.line.tolist(), numpy_.offset.tolist(), numpy_.seconds.tolist()) == (plain.line, plain.offset, plain.seconds)
        assert repr(numpy_.origin) == repr(plain.origin)
        lines = buf.count(b"\n") + 1
        spans = [(f, f + rnd.randrange(60), None) for f in sorted(rnd.randrange(lines + 1) for _ in range(20))]
        spans += [(1, lines, datetime(2026, 3, 2, 12, tzinfo=UTC)), (0, 5, None), (5, 4, None), (1, lines, None)]
        assert numpy_.quiet(spans) == plain.quiet(spans)
        assert [numpy_.longest_gap(f, e) for f, e, _ in spans] == [plain.longest_gap(f, e) for f, e, _ in spans]


def test_line_times_find_newlines_a_mebibyte_at_a_time_as_one_mask_would() -> None:
    """``quiet._newlines`` (chunked, no 100 MB mask) gives the positions one comparison of the whole buffer gives,
    across chunk edges and at the ends."""
    import numpy as np

    from analyzer.parse.logs.quiet import _newlines

    step = 1 << 20
    for buf in (b"", b"\n", b"no newline", b"a\n" * (step // 2 + 3), b"x" * (step - 1) + b"\n\n" + b"y" * step + b"\n"):
        data = np.frombuffer(buf, dtype=np.uint8)
        found, whole = _newlines(data), np.flatnonzero(data == 10)
        assert found.dtype == whole.dtype and found.tolist() == whole.tolist()
