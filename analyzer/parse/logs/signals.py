"""Lines that prove a cause: job, step and tool timeouts, cancels, lost runners, errors.

Each regex here is the one place its fact is matched: ``parse.observe`` reads check-run
annotations with ``JOB_TIMEOUT_RE`` and ``RUNNER_LOST_RE`` too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from analyzer.parse.logs.index import Line
from analyzer.parse.logs.text import parse_duration

# GitHub: "The job running on runner X has exceeded the maximum execution time of 360 minutes." (an
# annotation, and an ##[error] line) and "The job has exceeded the maximum execution time of 30m0s".
JOB_TIMEOUT_RE = re.compile(
    r"exceeded the maximum execution time of (?P<limit>\d[\w.]*(?: ?(?:minutes?|mins?|hours?|seconds?))?)"
)
_STEP_TIMEOUT_RE = re.compile(r"The action '(.{0,500}?)' has timed out after (\d+(?:\.\d+)?) minutes?")
# "The runner has received a shutdown signal." / "The self-hosted runner: X lost communication with the server."
RUNNER_LOST_RE = re.compile(r"runner has received a shutdown signal|lost communication with the server", re.IGNORECASE)
_CANCELLED_RE = re.compile(r"The operation was cancell?ed")
KUBECTL_TIMEOUT_RE = re.compile(r"timed out waiting for the condition(?: on (\S+))?")
GO_PANIC_RE = re.compile(r"panic: test timed out after (\S+)")
_PYTEST_TIMEOUT_RE = re.compile(r"Timeout \(>(\d+(?:\.\d+)?)s\) from pytest-timeout")
_DEADLINE_RE = re.compile(r"context deadline exceeded")
TIMED_OUT_AFTER_RE = re.compile(r"Timed out after (\d+(?:\.\d+)?)s")
_TIMEDOUT_RE = re.compile(r"\[TIMEDOUT\](?:[^(\n]{0,200}\((\d[^)]{0,40})\))?")
TIMEOUT_WORD_RE = re.compile(r"timed? ?out", re.IGNORECASE)
KUBECTL_LIMIT_RE = re.compile(r"--timeout[= ](\S+)")


@dataclass(slots=True)
class Sig:
    kind: str
    limit: float | None
    line: Line


def classify_signal(text: str) -> tuple[str, float | None] | None:
    is_error = text.startswith("##[error]")
    if "maximum execution time" in text and (m := JOB_TIMEOUT_RE.search(text)):
        return "job_timeout", parse_duration(m["limit"])
    if is_error:
        if m := _STEP_TIMEOUT_RE.search(text):
            return "step_timeout", float(m.group(2)) * 60.0
        if RUNNER_LOST_RE.search(text):
            return "runner_lost", None
        if _CANCELLED_RE.search(text):
            return "cancelled", None
    if "timed out" in text:
        if KUBECTL_TIMEOUT_RE.search(text):
            return "tool_timeout", None
        if m := GO_PANIC_RE.search(text):
            return "tool_timeout", parse_duration(m.group(1).rstrip(".,;"))
    if "pytest-timeout" in text and (m := _PYTEST_TIMEOUT_RE.search(text)):
        return "tool_timeout", float(m.group(1))
    if "deadline exceeded" in text and _DEADLINE_RE.search(text):
        return "tool_timeout", None
    if "Timed out after" in text and (m := TIMED_OUT_AFTER_RE.search(text)):
        return "test_timeout", float(m.group(1))
    if "[TIMEDOUT]" in text and (m := _TIMEDOUT_RE.search(text)):
        return "test_timeout", parse_duration(m.group(1)) if m.group(1) else None
    if is_error:
        return "failure", None
    return None


def stated_limit(text: str) -> float | None:
    for rx in (TIMED_OUT_AFTER_RE, GO_PANIC_RE, KUBECTL_LIMIT_RE):
        m = rx.search(text)
        if m:
            v = parse_duration(m.group(1) + ("s" if rx is TIMED_OUT_AFTER_RE else ""))
            if v is not None:
                return v
    m = re.search(r"\((\d[^)]{0,40})\)", text)
    return parse_duration(m.group(1)) if m else None


def job_outcome(sigs: list[Sig]) -> str:
    kinds = {s.kind for s in sigs}
    if "job_timeout" in kinds:
        return "timed_out"
    if kinds & {"runner_lost", "cancelled"}:
        return "cancelled"
    if kinds & {"failure", "step_timeout"}:
        return "failure"
    return "success"
