"""Local inputs read into jobs: bare job logs, run-log zips, their unzipped folders, ``gh run view --log``.

A run-log archive (``/actions/runs/{id}/logs``) holds a whole log per job (``N_job.txt``) and a
folder per job with one file per step (``job/N_step.txt``); browsers unzip it, people flatten
it, and folders end up mixing the files of several runs. ``assemble`` turns any such set of
files into jobs by their **content**, so a zip and its unzipped folder give the same jobs:

* a *step file* begins with a step's first line (``##[group]Run …``, ``Post job cleanup.``,
  ``Cleaning up orphan processes``, or the set-up section with no step after it); anything else
  is a *whole* job log;
* the step files of one folder whose lines, in step order, are exactly a whole log's lines are
  that job's per-step files (they give the workflow's step names);
* step files whose lines are found inside a whole log beside them are parts of it (a flattened
  archive) and add nothing;
* the other step files of a folder form one job when their step numbers do not clash (an archive
  without whole logs); files from several runs or jobs mixed together are skipped, with the reason.

Files are classified by content, not by extension (a ``.md`` capture of a log is a log); files
that are not job logs are skipped with the reason, once each.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import threading
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath

from analyzer.collect.prefetch import fork_map
from analyzer.collect.runlogs import MAX_MEMBER_BYTES, read_members
from analyzer.errors import AdvisorError, InputError, LogParseError
from analyzer.parse import events, logs
from analyzer.parse.identity import (
    LogIdentity,
    first_timestamp,
    lines_digest,
    log_identity,
    normalized_lines,
    repository_of,
    richness,
)
from analyzer.parse.logs.text import BOM

_GH_VIEW_LINE = re.compile(r"^([^\t\n]+)\t([^\t\n]*)\t(\ufeff?\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)")
_STEP_FILE = re.compile(r"^(\d{1,6})_(.*)\.txt$")  # a step number, not any digits (SQLite integers are 64-bit)
_FIRST_TEXT = re.compile(rb"^(?:\xef\xbb\xbf)?(?:\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?Z ?)?([^\r\n]*)")
_STEP_OPENERS = (
    b"##[group]Run ", b"Post job cleanup.", b"Cleaning up orphan processes",
    b"Prepare all required actions", b"Getting action download info", b"Download action repository",
)  # a step's first line; an action fetched at run time (a composite in a local path) prepares first  # fmt: skip
_LATER_STEP = re.compile(rb"\n(?:\xef\xbb\xbf)?[0-9T:.Z-]* ?(?:##\[group\]Run |##\[section\]Starting: |Cleaning up orphan processes)")
SYSTEM_FILE = "system.txt"  # a job folder's runner assignment (labels asked for, the wait, the runner): not a job log
SYSTEM_PART = -1  # kept as this part beside the job's log, for the run context it shows (``parse.context``)
_SILENT = (SYSTEM_FILE,)
Warn = Callable[[str], None]


@dataclass(slots=True)
class LocalJob:
    """One job read from local files, ready to be saved."""

    name: str
    parts: list[tuple[int, str | None, bytes]]  # (part, name, data); part 0 is the whole log
    source: str  # the file (an archive member: archive/member) it was read from
    folder: str  # the name of the folder it was found in: the repository's fallback
    key: str = ""  # bootstrap executions: their own identity
    identity: LogIdentity | None = None
    stated_repo: str | None = None  # the repository its log names

    def __post_init__(self) -> None:
        if self.identity is None and not self.key:
            self.identity = log_identity([(part, data) for part, _, data in self.parts])
        if self.stated_repo is None:
            self.stated_repo = next((r for _, _, d in self.parts if (r := repository_of(d))), None)


@dataclass(slots=True)
class Batch:
    """What one input (file, archive or folder) holds."""

    path: Path
    sha256: str
    kind: str  # log | zip | gh-view | folder | bootstrap | export
    jobs: list[LocalJob] = field(default_factory=list)
    export: Path | None = None


# -- one file --------------------------------------------------------------------------------


def read_file(path: Path, *, folder: str | None = None) -> Batch:
    """Read and check one file; raises InputError (with the reason) if it cannot be used."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}", hint="check the path and its permissions") from None
    digest = _Digest(data)  # hashed by another thread while this one checks the file
    try:
        return _read_data(path, data, digest, folder or _folder_name(path))
    finally:
        digest.join()  # also when the file is refused: no thread left running (ingest forks workers later)


def _read_data(path: Path, data: bytes, digest: _Digest, where: str) -> Batch:
    """``read_file`` of the bytes read."""
    if not data:
        raise InputError(f"{path} is empty", hint="pass a GitHub Actions job log, a run-log .zip or a folder")
    if path.suffix.lower() == ".jsonl":  # bootstrap runner events: one job per plan execution
        executions = events.split_executions(data, source=str(path))
        jobs = [LocalJob(e.plan, [(0, events.EVENTS_LOG_NAME, e.data)], str(path), where, key=e.key) for e in executions]
        return Batch(path, digest.hexdigest(), "bootstrap", jobs=jobs)
    if data[:4] == b"PK\x03\x04" or data[:4] == b"PK\x05\x06" or path.suffix.lower() == ".zip":
        if zipfile.is_zipfile(path):
            jobs = _read_zip(path, where)
            return Batch(path, digest.hexdigest(), "zip", jobs=jobs)
        if not _looks_like_log(data):
            raise InputError(
                f"{path} is not a zip archive",
                hint="download run logs with `gh run download` or the API's /logs endpoint",
            )
    # the format from the first lines: decoding the whole of a 100 MB log costs more than parsing a quarter of it
    if _GH_VIEW_LINE.match(data[: 1 << 16].decode("utf-8", "ignore").lstrip("\ufeff")):
        jobs = _split_gh_view(_text(path, data), str(path), where)
        return Batch(path, digest.hexdigest(), "gh-view", jobs=jobs)
    try:
        name = logs.job_name_from_log(data) or name_from_file(path.name)
        logs.check_log(data)  # parsing proper happens once, on save
    except LogParseError as exc:
        if not logs.is_utf8(data):
            _text(path, data)  # says it is not UTF-8 text
        raise InputError(f"{path}: {exc.message}", hint=exc.hint or "pass a GitHub Actions job log") from None
    jobs = [LocalJob(name, [(0, None, data)], str(path), where)]  # (its identity read while the hash is made)
    return Batch(path, digest.hexdigest(), "log", jobs=jobs)


class _Digest:
    """The SHA-256 of ``data``, computed by a thread of its own when ``data`` is big (hashlib releases the GIL):
    a 100 MB log's hash (0.05 s) then costs nothing beside its checks. Where no thread can be started, or the
    thread failed, ``hexdigest`` hashes ``data`` itself (small data: always)."""

    THREAD_BYTES = 1 << 20

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._hex: str | None = None
        self._thread: threading.Thread | None = None
        if len(data) >= self.THREAD_BYTES:
            thread = threading.Thread(target=self._run, name="ingest-hash", daemon=True)
            with contextlib.suppress(RuntimeError):  # no thread to be had (a process or thread limit)
                thread.start()
                self._thread = thread

    def _run(self) -> None:
        with contextlib.suppress(Exception):  # (no traceback from the thread: ``hexdigest`` hashes again)
            self._hex = hashlib.sha256(self._data).hexdigest()

    def join(self) -> None:
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def hexdigest(self) -> str:
        self.join()
        if self._hex is None:
            self._hex = hashlib.sha256(self._data).hexdigest()
        return self._hex


def _text(path: Path, data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{path} is not UTF-8 text", hint="pass a GitHub Actions job log as served by the API") from None


def _folder_name(path: Path) -> str:
    return path.resolve().parent.name or "logs"


def _looks_like_log(data: bytes) -> bool:
    head = data[:4096].lstrip(BOM)
    return re.match(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", head) is not None


def name_from_file(name: str) -> str:
    """``3_build (12.x).txt`` -> ``build (12.x)``; ``log.md`` -> ``log``."""
    stem = name.rsplit(".", 1)[0]
    match = re.match(r"^\d+_(.+)$", stem)
    return match.group(1) if match else stem


# -- folders ---------------------------------------------------------------------------------


def read_folder(folder: Path, warn: Warn) -> list[Batch]:
    """Every file under ``folder``, classified by content: archives, event files and ``gh run view``
    captures are inputs of their own; job logs and step files are assembled into jobs together
    (an unzipped run-log archive gives what its zip gives). Unusable files: one warning each, with why."""
    batches: list[Batch] = []
    found: list[tuple[Path, PurePosixPath, bytes] | str] = []  # in the files' order: a file to check, or a warning
    for path in _walk(folder):
        rel = PurePosixPath(path.relative_to(folder).as_posix())
        try:
            size = path.stat().st_size
            if size > MAX_MEMBER_BYTES:
                raise InputError(f"{path} is larger than a job log can be ({size / 2**20:.0f} MiB)", hint="")
            with path.open("rb") as handle:
                head = handle.read(8)
            if path.suffix.lower() in (".zip", ".jsonl") or head[:2] == b"PK":
                batches.append(read_file(path))
                continue
            data = path.read_bytes()
            if _GH_VIEW_LINE.match(data[: 1 << 16].decode("utf-8", "ignore").lstrip("\ufeff")):  # as read_file
                batches.append(read_file(path))
                continue
        except LogParseError as exc:
            found.append(_skipped(path, exc))
            continue
        except AdvisorError as exc:
            found.append(_skipped(path, exc))
            continue
        except OSError as exc:
            found.append(f"skipped {path}: cannot read it ({exc.strerror})")
            continue
        found.append((path, rel, data))
    files = [item for item in found if not isinstance(item, str)]
    # each file's checks and digests: by worker processes when there are many (``prefetch.fork_map``)
    facts = iter(fork_map(_file_facts, files, [len(data) for _, _, data in files]))
    entries: list[tuple[PurePosixPath, bytes]] = []
    known: dict[int, _Facts] = {}
    digest = hashlib.sha256()
    for item in found:
        if isinstance(item, str):
            warn(item)
            continue
        fact = next(facts)
        if fact.skipped:
            warn(fact.skipped)
            continue
        _, rel, data = item
        entries.append((rel, data))
        known[id(data)] = fact
        digest.update(f"{rel}\x00{fact.sha256}\x00".encode())
    del found, files  # (the files that are no job logs: let go before assembling)
    if entries:
        jobs = assemble(entries, folder, warn, systems=_system_files(folder), known=known)
        if jobs:
            batches.insert(0, Batch(folder, digest.hexdigest(), "folder", jobs=jobs))
    return batches


@dataclass(frozen=True, slots=True)
class _Facts:
    """What ``read_folder`` learns of one file by reading it whole (``_file_facts``)."""

    skipped: str = ""  # the warning when it is no job log
    sha256: str = ""
    whole: bool = False  # a whole job log, not a step file: the rest is known
    digest: str | None = None  # ``lines_digest``
    first_at: datetime | None = None
    repo: str | None = None  # ``repository_of``


def _skipped(path: Path, exc: AdvisorError) -> str:
    if isinstance(exc, LogParseError):
        return f"skipped {path}: not a job log ({exc.message})"
    return f"skipped {path}: {exc.message.removeprefix(f'{path} ').removeprefix(f'{path}: ')}"


def _file_facts(item: tuple[Path, PurePosixPath, bytes]) -> _Facts:
    """A folder's file checked (a job log?) and hashed, and a whole log's identity and repository (in a
    worker process when there are many: nothing here raises)."""
    path, rel, data = item
    try:
        try:
            logs.check_log(data)  # (checks UTF-8 too, without decoding the whole file)
        except LogParseError:
            if not logs.is_utf8(data):
                _text(path, data)  # says it is not UTF-8 text
            raise
    except AdvisorError as exc:
        return _Facts(_skipped(path, exc))
    sha256 = hashlib.sha256(data).hexdigest()
    if _STEP_FILE.match(rel.name) is not None and is_step_file(data):  # as ``assemble`` tells them (not in a zip)
        return _Facts(sha256=sha256)
    return _Facts(sha256=sha256, whole=True, digest=lines_digest([data]), first_at=first_timestamp(data), repo=repository_of(data))


def _system_files(folder: Path) -> dict[PurePosixPath, bytes]:
    """The ``system.txt`` of each job folder under ``folder`` (by the folder's relative path)."""
    found: dict[PurePosixPath, bytes] = {}
    for path in sorted(folder.rglob(SYSTEM_FILE)):
        rel = PurePosixPath(path.relative_to(folder).as_posix())
        if any(part.startswith(".") or part == "__MACOSX" for part in rel.parts) or not path.is_file():
            continue
        try:
            data = path.read_bytes() if path.stat().st_size <= MAX_MEMBER_BYTES else b""
        except OSError:
            continue
        if _is_text_log(data):
            found[rel.parent] = data
    return found


def _walk(folder: Path) -> Iterator[Path]:
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).parts
        if any(part.startswith(".") or part == "__MACOSX" for part in rel) or path.name in _SILENT:
            continue
        if path.is_file():
            yield path


# -- zips ------------------------------------------------------------------------------------


def _read_zip(path: Path, folder: str) -> list[LocalJob]:
    """A run-log archive: top-level ``N_job.txt`` files and ``job/N_step.txt`` folders."""
    entries: list[tuple[PurePosixPath, bytes]] = []
    systems: dict[PurePosixPath, bytes] = {}
    for pure, data in read_members(path, what=str(path)):
        if _STEP_FILE.match(pure.name):
            entries.append((pure, data))
        elif len(pure.parts) == 2 and pure.name == SYSTEM_FILE:
            systems[pure.parent] = data
    usable = [(rel, data) for rel, data in entries if _is_text_log(data)]
    systems = {parent: data for parent, data in systems.items() if _is_text_log(data)}
    jobs = assemble(usable, path, lambda _message: None, folder=folder, archive=True, systems=systems)
    if not jobs:
        raise InputError(
            f"{path} holds no job logs", hint="a run-log archive has N_job.txt files or job/N_step.txt folders"
        )
    return jobs


def _is_text_log(data: bytes) -> bool:
    try:
        logs.check_log(data)
    except LogParseError:
        return False
    return True


# -- whole logs and step files -----------------------------------------------------------------


@dataclass(slots=True)
class _Whole:
    rel: PurePosixPath
    data: bytes
    digest: str | None
    steps: list[tuple[int, str, bytes]] = field(default_factory=list)
    system: bytes | None = None  # its job folder's system.txt
    _lines: bytes | None = None

    @property
    def lines(self) -> bytes:
        """All its lines without timestamps (made when a step file must be looked for inside it)."""
        if self._lines is None:
            self._lines = normalized_lines(self.data)
        return self._lines


def is_step_file(data: bytes) -> bool:
    """A run-log archive's per-step file (not a whole job log), by its first line: a step's opener,
    or the set-up section with no step after it (the "Set up job" file)."""
    match = _FIRST_TEXT.match(data)
    first = match.group(1) if match else b""
    if first.startswith(_STEP_OPENERS):
        return True
    if first.startswith(b"##[section]Starting: "):
        return not first.startswith((b"##[section]Starting: Request a runner", b"##[section]Starting: Prepare job"))
    return first.startswith(b"Current runner version") and _LATER_STEP.search(data) is None


def assemble(
    entries: list[tuple[PurePosixPath, bytes]], root: Path, warn: Warn, *, folder: str | None = None, archive: bool = False,
    systems: Mapping[PurePosixPath, bytes] | None = None, known: Mapping[int, _Facts] | None = None,
) -> list[LocalJob]:  # fmt: skip
    """Jobs from a set of files (relative paths and contents): see the module's docstring. In an
    ``archive`` (a zip) the layout decides: ``job/N_step.txt`` are step files, ``N_job.txt`` whole logs.
    ``systems``: the ``system.txt`` of job folders, kept with the job their step files make (``SYSTEM_PART``).
    ``known``: what ``_file_facts`` found of a whole log (by the ``id`` of its bytes), not found again."""
    systems = systems or {}
    known = known or {}
    wholes: list[_Whole] = []
    groups: dict[PurePosixPath, list[tuple[int, str, bytes, PurePosixPath]]] = {}
    for rel, data in entries:
        match = _STEP_FILE.match(rel.name)
        step = len(rel.parts) == 2 if archive else (match is not None and is_step_file(data))
        if step and match:
            groups.setdefault(rel.parent, []).append((int(match.group(1)), match.group(2), data, rel))
        else:
            fact = known.get(id(data))
            wholes.append(_Whole(rel, data, fact.digest if fact is not None and fact.whole else lines_digest([data])))
    by_lines: dict[str | None, list[_Whole]] = {}
    for whole in wholes:
        by_lines.setdefault(whole.digest, []).append(whole)
    jobs: list[LocalJob] = []
    absorbed = 0
    for parent, files in sorted(groups.items()):
        files.sort(key=lambda f: (f[0], f[1]))
        numbers = [f[0] for f in files]
        unique = len(set(numbers)) == len(numbers)
        joined = lines_digest([f[2] for f in files])
        owner = next((w for w in by_lines.get(joined, []) if not w.steps), None) if unique and joined else None
        if owner is not None:
            owner.steps = [(n, name, data) for n, name, data, _ in files]
            owner.system = systems.get(parent)
            continue
        inside = [f for f in files if any(normalized_lines(f[2]) in w.lines for w in wholes)]
        rest = [f for f in files if f not in inside]
        absorbed += len(inside)
        label = root / parent if str(parent) != "." else root
        if rest and not inside and unique:
            jobs.append(_steps_job(files, label, folder or _dir_name(root, parent), systems.get(parent)))
        elif rest:
            why = "step numbers clash" if not unique else "some belong to job logs beside them, the rest to none"
            warn(f"skipped {len(rest)} step file(s) in {label}: they mix runs or jobs ({why}), e.g. {rest[0][3].name!r}")
    if absorbed:
        warn(f"{absorbed} step file(s) under {root} are parts of job logs beside them (a flattened archive): counted once")
    for whole in wholes:
        parts: list[tuple[int, str | None, bytes]] = [(0, None, whole.data), *whole.steps, *_system_part(whole.system)]
        name = logs.job_name_from_log(whole.data) or name_from_file(whole.rel.name)
        source = f"{root}/{whole.rel}" if archive else str(root / whole.rel)
        # its identity from the digest made above (the whole log decides it: ``log_identity``)
        fact = known.get(id(whole.data))
        fact = fact if fact is not None and fact.whole else None
        first_at = fact.first_at if fact is not None else first_timestamp(whole.data) if whole.digest and whole.data else None
        identity = LogIdentity(whole.digest, first_at) if whole.digest and whole.data else None
        repo = fact.repo if fact is not None else None  # (None: looked for in its parts, as always)
        jobs.append(LocalJob(name, parts, source, folder or _dir_name(root, whole.rel.parent), identity=identity, stated_repo=repo))
    return merge_same_jobs(jobs)


def merge_same_jobs(jobs: list[LocalJob]) -> list[LocalJob]:
    """One job per identity (``parse.identity``): of two forms of one job given together (a zip and its
    own ``0_job.txt``), the richer is kept."""
    kept: list[LocalJob] = []
    by_hash: dict[str, list[int]] = {}  # text hash -> where its jobs are in ``kept`` (only they can be twins)
    for local in jobs:
        ident = local.identity
        twin = None
        if ident:
            twin = next(
                (at for at in by_hash.get(ident.text_hash, ())
                 if (other := kept[at].identity) and other.same_job(ident.text_hash, ident.first_at)),
                None,
            )  # fmt: skip
        if twin is None:
            if ident:
                by_hash.setdefault(ident.text_hash, []).append(len(kept))
            kept.append(local)
        elif richness(-1, [p for p, _, _ in local.parts]) > richness(-1, [p for p, _, _ in kept[twin].parts]):
            kept[twin] = local  # (the same text hash: its place in ``by_hash`` holds)
    return kept


def _steps_job(
    files: list[tuple[int, str, bytes, PurePosixPath]], label: Path, folder: str, system: bytes | None
) -> LocalJob:
    """One job from per-step files alone: named by its set-up section, else by its folder."""
    name = next((n for _, _, data, _ in files if (n := logs.job_name_from_log(data))), None)
    parts: list[tuple[int, str | None, bytes]] = [(n, step, data) for n, step, data, _ in files]
    return LocalJob(name or label.name, [*parts, *_system_part(system)], str(label), folder)


def _system_part(system: bytes | None) -> list[tuple[int, str | None, bytes]]:
    return [(SYSTEM_PART, SYSTEM_FILE, system)] if system is not None else []


def _dir_name(root: Path, parent: PurePosixPath) -> str:
    """The folder a file sits in: its own directory under ``root``, else ``root``'s name."""
    if str(parent) not in ("", "."):
        return parent.parts[0]
    return root.name if root.is_dir() else _folder_name(root)


# -- gh run view --log -------------------------------------------------------------------------


def _split_gh_view(text: str, source: str, folder: str) -> list[LocalJob]:
    """``gh run view --log`` output: ``JOB<TAB>STEP<TAB>timestamp text`` on every line. Each run of
    lines with one step name is a step (two steps may share a name)."""
    jobs: dict[str, list[tuple[str, list[str]]]] = {}
    last: tuple[str, str] | None = None
    for line in text.splitlines():
        match = _GH_VIEW_LINE.match(line)
        if match:
            current = (match.group(1), match.group(2))
            body = line[match.end(2) + 1 :]
            steps = jobs.setdefault(current[0], [])
            if current != last or not steps:
                steps.append((current[1], []))
            last = current
        elif last is not None:
            body = line
        else:
            continue
        jobs[last[0]][-1][1].append(body)
    out = []
    for job_name, step_lines in jobs.items():
        parts: list[tuple[int, str | None, bytes]] = [
            (i, step, ("\n".join(lines) + "\n").encode()) for i, (step, lines) in enumerate(step_lines, 1)
        ]
        out.append(LocalJob(job_name, parts, f"{source} ({job_name})", folder))
    return out
