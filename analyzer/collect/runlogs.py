"""Run-log archives (``/actions/runs/{id}/attempts/{n}/logs``, ``gh run download``): split into jobs,
and matched to the jobs the API lists. ``fetch`` splits one download per run attempt with it instead of
asking for each job's log; ``ingest`` reads a ``.zip`` given on the command line with
``read_members`` and assembles its jobs by content (``collect.archive``).

What GitHub puts in one (``../shared/realdata/runlog-zips``, ``extracted-runlog-*``):

- newer archives (2023 on): a top-level ``N_<job>.txt`` per job with the whole job log — the
  same bytes as the job's own ``/logs`` endpoint — beside a folder ``<job>/`` of per-step files
  ``M_<step>.txt``; ``N`` is the job's place in the run (0, 1, 2 …; a skipped job leaves a gap);
- older ones only the folders: the job log is the step files joined in step order (each file
  starts with its own UTF-8 BOM; the whole log has one, at the start);
- names as files allow: a ``/`` or ``:`` dropped (a double space where `` / `` was) or written as
  ``_``, parentheses kept, cut at 90 UTF-16 units and trimmed; matrix jobs may share a name.

The job a whole log belongs to is known from its content first: the set-up step writes
``Complete job name: <the job's full name>``. Where that names several jobs (a matrix with one
name for all), ``N`` decides if it points at one of them, then the log's first timestamp if it
falls in exactly one of their run times; a log still ambiguous, or a job without a log in the
archive, is left to the per-job endpoint.
"""

from __future__ import annotations

import io
import re
import unicodedata
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path, PurePosixPath

from analyzer.errors import InputError
from analyzer.parse.logs.text import BOM, TS_RE, read_job_name
from analyzer.records import Job, parse_iso

__all__ = ["MAX_ARCHIVE_BYTES", "MAX_MEMBER_BYTES", "ArchiveJob", "joined_steps", "match_jobs", "read_members", "read_run_archive"]

MAX_MEMBER_BYTES = 512 * 1024 * 1024  # one log inside an archive
MAX_ARCHIVE_BYTES = 2 * 1024 * 1024 * 1024  # everything inside one archive
NAME_LIMIT = 90  # UTF-16 code units GitHub keeps of a job name in an archive's file names

_JOB_FILE = re.compile(r"^(-?\d{1,19})_(.*)\.txt$")  # N_<job>.txt (negative N: an id of the old service)
_STEP_FILE = re.compile(r"^(\d{1,6})_(.*)\.txt$")  # a step number, not any digits (SQLite integers are 64-bit)
_LOOSE_DROP = re.compile(r"[\s/\\:_*?\"<>|\ufffd]+")
_TIME_SLACK = timedelta(seconds=5)


@dataclass(frozen=True, slots=True)
class ArchiveJob:
    """One job's logs in a run-log archive."""

    key: str  # the job's name as the archive spells it (file or folder name)
    order: int | None  # N of its N_<job>.txt (its place in the run); None when it has only a folder
    whole: bytes | None  # N_<job>.txt: the whole job log
    steps: tuple[tuple[int, str, bytes], ...]  # (number, step name, data) of <job>/M_<step>.txt, by number

    def log(self) -> bytes | None:
        """The job log: the whole one if the archive has it, else the step files joined in order."""
        return self.whole if self.whole is not None else joined_steps([data for _, _, data in self.steps])

    def name(self) -> str | None:
        """The job's full name as its log states it (``Complete job name: …``), else None."""
        head = self.whole if self.whole is not None else (self.steps[0][2] if self.steps else b"")
        return read_job_name(head[: 1 << 20]) if head else None


def joined_steps(parts: Sequence[bytes]) -> bytes | None:
    """Per-step files joined as GitHub joins them into the job log: one BOM at the start, the
    steps' own BOMs dropped, a line break after a file that lacks one."""
    if not parts:
        return None
    chunks = []
    for data in parts:
        body = data[len(BOM) :] if data.startswith(BOM) else data
        if body and not body.endswith(b"\n"):
            body += b"\n"
        chunks.append(body)
    return (BOM if parts[0].startswith(BOM) else b"") + b"".join(chunks)


def read_members(source: bytes | Path, *, what: str) -> list[tuple[PurePosixPath, bytes]]:
    """The ``.txt`` files of a run-log archive (top level and one folder down, ``__MACOSX`` left out; a
    name listed twice: the last one, as unzip does); raises InputError (naming ``what``) for a
    damaged, encrypted or oversized archive. ``ingest`` reads zips with it too."""
    try:
        with zipfile.ZipFile(io.BytesIO(source) if isinstance(source, bytes) else source) as archive:
            # a member without a name (a damaged directory entry) is neither a folder nor a log: ZipInfo.is_dir()
            # itself fails on it (IndexError), so the names are looked at here
            infos = [
                i for i in archive.infolist() if i.filename and not i.filename.endswith("/") and not i.filename.startswith("__MACOSX/")
            ]
            declared = sum(i.file_size for i in infos)
            if declared > MAX_ARCHIVE_BYTES or any(i.file_size > MAX_MEMBER_BYTES for i in infos):
                raise InputError(
                    f"{what} declares {declared / 2**30:.1f} GiB uncompressed, more than a run log can be",
                    hint="this looks like a zip bomb or not a run-log archive",
                )
            if any(i.flag_bits & 0x1 for i in infos):
                raise InputError(
                    f"{what} is password-protected", hint="GitHub's run-log archives are not encrypted: download them again"
                )
            members = {info.filename: info for info in infos}
            return [
                (PurePosixPath(name), archive.read(info))
                for name, info in members.items()
                if len(PurePosixPath(name).parts) <= 2 and name.endswith(".txt")
            ]
    except zipfile.BadZipFile as exc:
        raise InputError(f"{what} is a damaged zip archive: {exc}", hint="download the run logs again") from None
    except (OSError, EOFError, ValueError, NotImplementedError, zlib.error) as exc:
        raise InputError(f"{what} cannot be read as a zip archive: {exc}", hint="download the run logs again") from None


def read_run_archive(source: bytes | Path, *, what: str) -> list[ArchiveJob]:
    """The jobs of a run-log archive, in archive order; raises InputError (naming ``what``) for a
    damaged, encrypted or oversized archive."""
    wholes: dict[tuple[int, str], bytes] = {}
    folders: dict[str, list[tuple[int, str, bytes]]] = {}
    for pure, data in read_members(source, what=what):
        if len(pure.parts) == 1:
            match = _JOB_FILE.match(pure.name)
            if match:
                wholes[(int(match.group(1)), match.group(2).strip())] = data
        else:
            match = _STEP_FILE.match(pure.name)
            if match:
                folders.setdefault(pure.parts[0].strip(), []).append((int(match.group(1)), match.group(2), data))
    jobs: list[ArchiveJob] = []
    spelled = [key for _, key in wholes]
    for (order, key), data in wholes.items():
        # a folder belongs to a whole log only when the name is not shared: matrix jobs of one name
        # cannot be told apart by their folders
        steps = folders.pop(key, []) if spelled.count(key) == 1 else []
        jobs.append(ArchiveJob(key, order, data, tuple(sorted(steps, key=lambda s: s[0]))))
    for key, steps in folders.items():
        jobs.append(ArchiveJob(key, None, None, tuple(sorted(steps, key=lambda s: s[0]))))
    return jobs


def loose(name: str) -> str:
    """A name reduced to what an archive's spelling of it keeps: no spaces, path separators, ``:``
    or ``_`` (which may stand for ``/``), compared without case."""
    return _LOOSE_DROP.sub("", unicodedata.normalize("NFC", name)).casefold()


def spelled_as(name: str, key: str) -> bool:
    """Whether an archive's file or folder name ``key`` can be job ``name``: the same loose name,
    or, for a key at the length limit, the start of it (GitHub cuts long names, in UTF-16 units)."""
    wanted, spelled = loose(name), loose(key)
    if wanted == spelled:
        return True
    return len(key.encode("utf-16-le")) >= 2 * (NAME_LIMIT - 2) and bool(spelled) and wanted.startswith(spelled)


def match_jobs(entries: Sequence[ArchiveJob], jobs: Sequence[Job]) -> dict[int, bytes]:
    """job id -> its log, for the ``jobs`` of one run attempt (in the API's order) that ``entries``
    hold unambiguously. A job left out is fetched on its own."""
    found: dict[int, bytes] = {}
    taken: set[int] = set()
    for entry in sorted(entries, key=lambda e: (e.whole is None, e.order if e.order is not None else 0)):
        data = entry.log()
        if data is None:
            continue
        free = [j for j in jobs if j.job_id not in taken]
        stated = entry.name()
        candidates = [j for j in free if j.name == stated] if stated else []
        if not candidates:
            candidates = [j for j in free if spelled_as(j.name, entry.key)]
        if len(candidates) > 1 and entry.order is not None and 0 <= entry.order < len(jobs):
            placed = jobs[entry.order]
            candidates = [placed] if placed in candidates else candidates
        if len(candidates) > 1:
            first = _first_time(data)
            candidates = [j for j in candidates if first is not None and _ran_at(j, first)]
        if len(candidates) == 1:
            found[candidates[0].job_id] = data
            taken.add(candidates[0].job_id)
    return found


def _first_time(data: bytes) -> datetime | None:
    start = len(BOM) if data.startswith(BOM) else 0
    match = TS_RE.match(data, start)
    return parse_iso(match.group(0).lstrip(BOM).decode().strip()) if match else None


def _ran_at(job: Job, moment: datetime) -> bool:
    start, end = job.started_at, job.completed_at
    return start is not None and end is not None and start - _TIME_SLACK <= moment <= end + _TIME_SLACK
