"""What identifies a job across the forms its log comes in, and what a log says about where it ran.

**The input identity rule.** A job that GitHub gave an id (fetch, export folders) is identified by
that id (repository, run id and attempt come with it). A job read from local files (a run-log
zip, its unzipped folder, a bare job log, ``gh run view --log`` output) has no id: it is
identified by **its log** -- a hash of its lines without their timestamps, and its first
timestamp. The same job in any form has the same lines: a run-log archive's per-step files,
concatenated in step order, are its whole log line for line; only the fractional seconds of
the timestamps differ (the runner writes the two copies separately), hence the hash leaves the
timestamps out and the first timestamps need only agree within ``SAME_JOB_WITHIN``. The job's
name is part of the lines where the runner prints it (``Complete job name: …``); a file name
is not (``logs.txt``, ``0_test.txt``), so it is not part of the identity.

Where two forms of one job meet, the richer record is kept (``richness``): a job fetched from
the API (ids, API step names and times) outranks a local copy, and a local copy with per-step
files (the workflow's step names) outranks a bare log (only ``Run …`` headers).

Pure: no I/O, no store. ``collect.ingest`` and ``parse.reparse`` apply it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from analyzer.parse.logs.text import BOM

SAME_JOB_WITHIN = timedelta(seconds=60)
EDGE_LINES = 300  # lines hashed at each end of a log (and the count of all of them)

_STAMP = re.compile(rb"(?m)^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.\d{1,9})?Z ?")
# The same stamps after a newline: a search led by a literal (``(?m)^`` is tried at every byte), 2.4 x faster
_STAMP_AFTER_NL = re.compile(rb"\n\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?Z ?")
_REPO_LINES = (
    re.compile(rb"GITHUB_REPOSITORY[:=] *([A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)"),
    re.compile(rb"Syncing repository: ([A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)"),
)


@dataclass(frozen=True, slots=True)
class LogIdentity:
    """A local job's identity: the hash of its log's lines without timestamps, and its first timestamp."""

    text_hash: str
    first_at: datetime | None

    def same_job(self, hash_: str, first_at: datetime | None) -> bool:
        """Another record with ``hash_`` and ``first_at`` is the same job."""
        if hash_ != self.text_hash:
            return False
        if self.first_at is None or first_at is None:
            return self.first_at is None and first_at is None
        return abs(self.first_at - first_at) <= SAME_JOB_WITHIN


def normalized_lines(data: bytes) -> bytes:
    """A log's lines as the identity sees them: LF endings, no BOMs, no timestamps, a final newline."""
    text = data.replace(b"\r\n", b"\n")
    if text.startswith(BOM):
        text = text[len(BOM) :]
    text = text.replace(b"\n" + BOM, b"\n")
    if text and not text.endswith(b"\n"):
        text += b"\n"
    return _STAMP_AFTER_NL.sub(b"\n", b"\n" + text)[1:]  # (the first line's stamp too)


def log_identity(parts: Sequence[tuple[int, bytes | None]]) -> LogIdentity | None:
    """The identity of a job from its stored log parts ``(part, data)``: the whole log (part 0) when
    there is one, else its per-step files in step order. None when there is no log text at all."""
    whole = [data for part, data in parts if part == 0 and data]
    chosen = whole[:1] or [data for _, data in sorted((p for p in parts if p[0] > 0), key=lambda p: p[0]) if data]
    if not chosen:
        return None
    digest = lines_digest(chosen)
    return None if digest is None else LogIdentity(digest, first_timestamp(chosen[0]))


def lines_digest(chunks: Sequence[bytes], *, edge: int = EDGE_LINES) -> str | None:
    """A hash of the lines of ``chunks`` (files of one log, in order) without their timestamps: of the
    number of lines and of the first and last ``edge`` lines, normalized (``normalized_lines``). Two
    forms of one log have the same lines, so the same digest; hashing the edges keeps it as fast as
    a memory copy for a log of any size (normalizing every line of 50 MB costs more than parsing it)."""
    text = b"".join(c[len(BOM) :] if c.startswith(BOM) else c for c in (x if x.endswith(b"\n") else x + b"\n" for x in chunks))
    count = text.count(b"\n")
    if not text or text.isspace():  # (as ``not text.strip()``, without copying a 100 MB log)
        return None
    if count > 2 * edge:
        head_end = -1
        for _ in range(edge):
            head_end = text.find(b"\n", head_end + 1)
        tail_start = len(text) - 1
        for _ in range(edge + 1):
            tail_start = text.rfind(b"\n", 0, tail_start)
        text = text[: head_end + 1] + text[tail_start + 1 :]
    return hashlib.sha256(b"%d\n" % count + normalized_lines(text)).hexdigest()[:32]


def first_timestamp(data: bytes) -> datetime | None:
    """The first line timestamp of a log, to the second (None when it has none)."""
    head = data[: 1 << 20].replace(b"\n" + BOM, b"\n")
    if head.startswith(BOM):
        head = head[len(BOM) :]
    for match in _STAMP.finditer(head):
        try:
            year, month, day, hour, minute, second = (int(x) for x in match.groups())
            return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
        except ValueError:
            continue
    return None


def richness(job_id: int, parts: Sequence[int]) -> int:
    """How much a stored record of a job tells: 2 fetched (GitHub ids), 1 per-step files, 0 a bare log."""
    if job_id > 0:
        return 2
    return 1 if any(part > 0 for part in parts) else 0


def repository_of(data: bytes) -> str | None:
    """The repository a job log says it ran for: ``GITHUB_REPOSITORY`` when it is printed, else the
    first repository actions/checkout synced (``Syncing repository: OWNER/NAME``). None if neither."""
    for pattern in _REPO_LINES:
        match = pattern.search(data)
        if match:
            return match.group(1).decode("ascii").rstrip(".")
    return None
