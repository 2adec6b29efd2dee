"""Pure parsing of GitHub Actions job logs: lines, steps, phases and signals (no I/O).

Public API: :func:`parse_job_log`, :func:`parse_step_logs`, :func:`check_log`, :func:`is_utf8`, :func:`parse_duration`,
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
        1. line 1 begins step "Set up job" when the log begins with the set-up section
           (``Current runner version``, ``Requested labels``, …); in an excerpt or a tail the lines
           before the first marker are of no known step (their signals and phases have step None);
        2. ``Current runner version`` begins "Set up job" unless that step is the one running;
        3. every ``##[group]Run X`` begins step "Run X" (also the inner steps of composite
           actions: a bare log cannot tell them apart from top-level steps);
        4. ``##[section]Starting: X`` (2019-2022 format) begins step "X";
        5. ``Post job cleanup.`` begins a step "Post job cleanup";
        6. the last ``Cleaning up orphan processes`` begins "Complete job".
      Steps are numbered 1, 2, … in order.
    * Steps of one job with the same name (three ``Run set -euo pipefail``) are told apart by
      position: ``X``, ``X #2``, ``X #3``; so are repeated phase names within a step. A unit
      never gets two samples from one job run.
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

Phases: ``[[phases]]`` rules (``phases``, found fast by ``rules``) and built-in detectors
(``detectors``), see :func:`parse_job_log`.

How it stays fast
    Almost every line of a log is uninteresting, so the parser never loops over lines in Python.
    It works on the UTF-8 bytes: validation checks 16 KiB chunks with ``bytes.isascii`` and
    strictly decodes only the others; a dozen searches with literal-prefixed compiled patterns
    over the whole buffer find the candidate lines (``index``); line numbers come from
    ``bytes.count(b"\\n")`` between sorted candidates; timestamps are decoded only for candidate
    lines. Rule regexes are pre-filtered by a literal every match must contain (``literals``),
    searched in the raw bytes of the steps they apply to; only regexes without such a literal (or
    case-insensitive ones) fall back to decoding and cleaning their steps' text.

Modules, in the order they build on each other: ``text`` (line text, input checks, durations),
``literals`` and ``rules`` (compiled phase rules), ``index`` (lines, numbers, times), ``signals``,
``steps``, ``phases``, ``detectors``, ``parser`` (the whole parse).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from analyzer.parse.logs.text import check_log, is_utf8, job_name_from_log, parse_duration, strip_ansi

if TYPE_CHECKING:
    from analyzer.config import PhaseRule
    from analyzer.parse.logs.parser import join_step_logs, parse_job_log, parse_step_logs
    from analyzer.parse.logs.rules import rule_words

# Bump whenever the output for the same input changes: the store re-parses stored logs then.
PARSER_VERSION = 5  # 4: failure excerpts stored with each incident; 5: the silences (hangs)


def rules_fingerprint(rules: Sequence[PhaseRule]) -> str:
    """Identifies the parser version and the phase rules that produced parsed data."""
    payload = json.dumps(
        [PARSER_VERSION, [[r.name, r.start, r.end, r.step, r.timeout_s] for r in rules]], sort_keys=True
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def __getattr__(name: str) -> Any:
    """The parser proper (and numpy, which it reads line times with), imported on first use: a history
    command only asks whether the store was parsed with this ``PARSER_VERSION`` and these rules."""
    if name in ("join_step_logs", "parse_job_log", "parse_step_logs"):
        from analyzer.parse.logs import parser

        return getattr(parser, name)
    if name == "rule_words":
        from analyzer.parse.logs import rules

        return rules.rule_words
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "PARSER_VERSION",
    "check_log",
    "is_utf8",
    "job_name_from_log",
    "join_step_logs",
    "parse_duration",
    "parse_job_log",
    "parse_step_logs",
    "rule_words",
    "rules_fingerprint",
    "strip_ansi",
]
