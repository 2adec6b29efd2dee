"""What a job log tells about its run and its runner: the context of a local log, which has no API JSON.

Pure; nothing here measures durations. Lines it reads (all optional, ANSI codes ignored):

- before the first step, GitHub's own lines (in job logs of 2021–2022, and in a run-log archive's
  per-job ``system.txt`` since): ``Requested labels: a, b``, ``Job defined at: OWNER/REPO/PATH@REF``,
  ``Waiting for a runner to pick up this job...`` (the job asked for a runner: its creation time)
  and ``Job is about to start running on the [hosted ]runner: NAME (scope)`` (a runner took it);
- in "Set up job" of a self-hosted runner: ``Runner name: 'NAME'``;
- from ``actions/checkout``: ``git checkout --progress --force -B BRANCH refs/remotes/origin/BRANCH``
  (a branch), ``… refs/remotes/pull/N/merge`` (a pull request's merge commit), ``git log -1
  --format=%H`` followed by the commit SHA, and ``HEAD is now at SHORT MESSAGE``.

A pull request's merge commit is not the run's head commit (GitHub's ``head_sha`` is the pull
request's head): for those, the SHA and message are left unknown and only the event is said.
The event of any other run (push, schedule, workflow_dispatch, …) cannot be told from a log.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from analyzer.parse.logs import strip_ansi
from analyzer.records import Job, Run, parse_iso

HEAD_BYTES = 2 << 20  # the context lines come before or at the checkout: the head of a log is enough

_TS = r"^\ufeff?(?P<ts>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?Z) "
_LABELS = re.compile(_TS + r"Requested labels: (?P<v>[^\r\n]+?)\s*$", re.M)
_DEFINED = re.compile(_TS + r"Job defined at: \S+?@(?P<v>refs/\S+)\s*$", re.M)
_WAITING = re.compile(_TS + r"Waiting for a runner to pick up this job", re.M)
_PICKED = re.compile(
    _TS + r"Job is about to start running on the (?:hosted )?runner: (?P<v>[^\r\n]+?)"
    r"(?: \((?:hosted|organization|repository|enterprise)\))?\s*$",
    re.M,
)
_RUNNER = re.compile(_TS + r"Runner name: '(?P<v>[^'\r\n]+)'", re.M)
_CHECKOUT = re.compile(_TS + r"(?:##)?\[command\]\S*git(?:\.exe)? checkout --progress --force (?P<v>[^\r\n]+?)\s*$", re.M)
_LOG_SHA = re.compile(
    _TS + r"(?:##)?\[command\]\S*git(?:\.exe)? log -1 --format=['\"]?%H['\"]?\s*$\r?\n"
    + _TS.replace("(?P<ts>", "(?:").lstrip("^") + r"'?(?P<v>[0-9a-f]{40})'?\s*$",
    re.M,
)
_HEAD = re.compile(_TS + r"HEAD is now at (?P<short>[0-9a-f]{7,40}) (?P<v>[^\r\n]*?)\s*$", re.M)
# The words each line pattern above cannot match without: a pattern is tried only at the starts of
# the lines holding them (``_search``), not at every line of a 2 MB head (4 × faster on real logs).
_WORDS: dict[re.Pattern[str], str] = {
    _LABELS: "Requested labels: ",
    _DEFINED: "Job defined at: ",
    _WAITING: "Waiting for a runner to pick up this job",
    _PICKED: "Job is about to start running on the ",
    _RUNNER: "Runner name: '",
    _CHECKOUT: " checkout --progress --force ",
    _LOG_SHA: " log -1 --format=",
    _HEAD: "HEAD is now at ",
}
_SYNTHETIC_MERGE = re.compile(r"^Merge [0-9a-f]{40} into [0-9a-f]{40}$")
_BRANCH_REF = re.compile(r"^-B (?P<branch>\S+) refs/remotes/origin/\S+$")
_PULL_REF = re.compile(r"refs/(?:remotes/)?pull/\d+/(?:merge|head)$")
_SHA = re.compile(r"^[0-9a-f]{40}$")


@dataclass(frozen=True, slots=True)
class LogContext:
    """The run context a log revealed (None / empty where it did not)."""

    queued_at: datetime | None = None  # the job asked for a runner
    picked_at: datetime | None = None  # a runner took it
    runner_name: str | None = None
    labels: tuple[str, ...] = ()
    branch: str | None = None
    event: str | None = None  # "pull_request" when the log checked out a pull request's merge ref
    head_sha: str | None = None
    head_commit_message: str | None = None


def log_context(texts: list[bytes]) -> LogContext:
    """The context in a job's log files (the whole log, or ``system.txt`` and the per-step files of
    an archive, in that order); the first file that says something wins."""
    text = "\n".join(strip_ansi(t[:HEAD_BYTES].decode("utf-8", "replace")) for t in texts)
    queued = _first_time(text, _LABELS, _WAITING)
    picked = _first(text, _PICKED)
    runner = _first(text, _RUNNER) or picked
    labels = _first(text, _LABELS)
    branch, event, sha, message = _checkout(text)
    defined = _first(text, _DEFINED)
    ref = defined[1] if defined else None
    if ref is not None and branch is None and ref.startswith("refs/heads/"):
        branch = ref.removeprefix("refs/heads/")
    if ref is not None and event is None and _PULL_REF.search(ref):
        event = "pull_request"
    return LogContext(
        queued_at=queued,
        picked_at=_first_time(text, _PICKED) if picked else None,
        runner_name=runner[1] if runner else None,
        labels=tuple(x.strip() for x in labels[1].split(",") if x.strip()) if labels else (),
        branch=branch,
        event=event,
        head_sha=sha,
        head_commit_message=message,
    )


def _search(text: str, pattern: re.Pattern[str]) -> re.Match[str] | None:
    """``pattern.search(text)`` for a line pattern of ``_WORDS``: the first line holding its words where it matches."""
    words = _WORDS[pattern]
    at = text.find(words)
    while at >= 0:
        if match := pattern.match(text, text.rfind("\n", 0, at) + 1):
            return match
        at = text.find(words, at + len(words))
    return None


def _first(text: str, pattern: re.Pattern[str]) -> tuple[str, str] | None:
    """(timestamp, value) of the first line ``pattern`` matches."""
    match = _search(text, pattern)
    return (match["ts"], match["v"].strip()) if match else None


def _first_time(text: str, *patterns: re.Pattern[str]) -> datetime | None:
    """The earliest time among the first lines the patterns match (``system.txt`` is not in time order)."""
    times = [parse_iso(m["ts"]) for p in patterns if (m := _search(text, p))]
    known = [t for t in times if t is not None]
    return min(known) if known else None


def _checkout(text: str) -> tuple[str | None, str | None, str | None, str | None]:
    """(branch, event, head SHA, head commit message) from the first checkout in the log."""
    checkout = _first(text, _CHECKOUT)
    if checkout is None:
        return None, None, None, None
    target = checkout[1]
    if _PULL_REF.search(target):
        return None, "pull_request", None, None
    head = _search(text, _HEAD)
    message = head["v"].strip() if head else None
    if message is not None and _SYNTHETIC_MERGE.match(message):  # an older checkout of a merge commit
        return None, "pull_request", None, None
    branch_ref = _BRANCH_REF.match(target)
    sha_line = _search(text, _LOG_SHA)
    sha = sha_line["v"] if sha_line else (target if _SHA.match(target) else None)
    if sha is not None and head is not None and not sha.startswith(head["short"]):
        message = None  # the message of another commit than the one checked out
    return (branch_ref["branch"] if branch_ref else None), None, sha, (message or None)


def local_job(job: Job, context: LogContext) -> Job:
    """A local log's job with what its log revealed: queue times, runner, labels (kept where it revealed nothing)."""
    return Job(
        repo=job.repo, job_id=job.job_id, run_id=job.run_id, run_attempt=job.run_attempt,
        workflow_name=job.workflow_name, name=job.name, status=job.status, conclusion=job.conclusion,
        created_at=context.queued_at or job.created_at, started_at=context.picked_at or job.started_at,
        completed_at=job.completed_at, labels=context.labels or job.labels,
        runner_name=context.runner_name or job.runner_name, steps=job.steps,
    )  # fmt: skip


def local_run(job: Job, context: LogContext) -> Run | None:
    """What a local log revealed about its run (None when it revealed nothing)."""
    if not (context.branch or context.event or context.head_sha or context.head_commit_message):
        return None
    return Run(
        repo=job.repo, run_id=job.run_id, run_attempt=job.run_attempt, workflow_name=job.workflow_name,
        event=context.event, head_branch=context.branch, head_sha=context.head_sha,
        head_commit_message=context.head_commit_message,
    )  # fmt: skip
