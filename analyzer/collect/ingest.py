"""``we-advisor ingest``: local job logs, run-log zips, ``gh run view --log`` output, export folders.

Reading and checking come first, writing second: a file named on the command line that cannot
be used is an error before anything is written; a bad file found inside a folder or an archive
is a warning and is skipped. Local logs get stable negative ids derived from their content, so
ingesting the same thing twice adds nothing.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from analyzer.collect.rest import annotation_from_json, job_from_json, run_from_json
from analyzer.config import PhaseRule
from analyzer.errors import AdvisorError, InputError, LogParseError
from analyzer.parse import events, logs
from analyzer.parse.reparse import reparse
from analyzer.records import Job, Run
from analyzer.store import Store

LOCAL_REPO = "local/logs"
LOCAL_WORKFLOW = "(local)"
MAX_MEMBER_BYTES = 512 * 1024 * 1024  # one log inside an archive
MAX_ARCHIVE_BYTES = 2 * 1024 * 1024 * 1024  # everything inside one archive
LOG_SUFFIXES = (".txt", ".log")

_GH_VIEW_LINE = re.compile(r"^([^\t\n]+)\t([^\t\n]*)\t(\ufeff?\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)")
_STEP_FILE = re.compile(r"^(\d{1,6})_(.*)\.txt$")  # a step number, not any digits (SQLite integers are 64-bit)


@dataclass(slots=True)
class LocalJob:
    """One job read from local files, ready to be saved."""

    name: str
    parts: list[tuple[int, str | None, bytes]]  # (part, name, data); part 0 is the whole log
    key: str  # content identity, for the synthetic ids


@dataclass(slots=True)
class Batch:
    """What one input (file or archive) holds."""

    path: Path
    sha256: str
    kind: str  # log | zip | gh-view | export
    jobs: list[LocalJob] = field(default_factory=list)
    export: Path | None = None


@dataclass(slots=True)
class IngestSummary:
    files: int = 0
    jobs_new: int = 0
    jobs_known: int = 0
    parsed: int = 0
    skipped: list[str] = field(default_factory=list)

    def line(self) -> str:
        text = (
            f"ingested {self.files} input(s): {self.jobs_new} new job(s), {self.jobs_known} already in the store, "
            f"{self.parsed} parsed"
        )
        if self.skipped:
            text += f", {len(self.skipped)} skipped"
        return text


def synthetic_id(*parts: str) -> int:
    """A stable negative id for local data (never collides with GitHub's positive ids)."""
    digest = hashlib.sha256("\x00".join(parts).encode()).hexdigest()
    return -(int(digest[:13], 16) + 1)


def ingest_paths(
    store: Store,
    paths: Sequence[Path],
    *,
    rules: Sequence[PhaseRule] = (),
    repo: str | None = None,
    workflow: str | None = None,
    on_warning: Callable[[str], None] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> IngestSummary:
    """Read every path (checking all of them first), then save and parse what they hold."""
    summary = IngestSummary()

    def warn(message: str) -> None:
        summary.skipped.append(message)
        if on_warning:
            on_warning(message)

    batches: list[Batch] = []
    for path in paths:
        if not path.exists():
            raise InputError(
                f"{path} does not exist", hint="check the path; ingest takes .txt/.log files, .zip archives and folders"
            )
        if path.is_dir():
            if _is_export(path):
                batches.append(Batch(path, _tree_hash(path), "export", export=path))
            else:
                batches.extend(_read_folder(path, warn))
        else:
            batches.append(read_file(path))
    if not batches:
        raise InputError(
            "nothing to ingest in the given paths",
            hint="ingest takes job log .txt files, run-log .zip archives and folders of them",
        )

    with store.transaction():  # all or nothing: a bad export file found while saving leaves the store as it was
        for batch in batches:
            summary.files += 1
            if batch.kind == "export" and batch.export is not None:
                new, known = _save_export(store, batch.export, repo=repo)
            else:
                if store.has_source(batch.sha256):
                    summary.jobs_known += len(batch.jobs)
                    continue
                new, known = _save_local(store, batch, repo=repo or LOCAL_REPO, workflow=workflow or LOCAL_WORKFLOW)
                store.record_source(batch.sha256, str(batch.path), batch.kind, len(batch.jobs))
            summary.jobs_new += new
            summary.jobs_known += known
    summary.parsed = reparse(store, rules, job_ids=None, on_progress=on_progress, on_warning=on_warning)
    return summary


# -- reading ---------------------------------------------------------------------------------


def read_file(path: Path) -> Batch:
    """Read and check one file named by the user; raises InputError if it cannot be used."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}", hint="check the path and its permissions") from None
    digest = hashlib.sha256(data).hexdigest()
    if not data:
        raise InputError(f"{path} is empty", hint="pass a GitHub Actions job log, a run-log .zip or a folder")
    if path.suffix.lower() == ".jsonl":  # bootstrap runner events: one job per plan execution
        executions = events.split_executions(data, source=str(path))
        jobs = [LocalJob(e.plan, [(0, events.EVENTS_LOG_NAME, e.data)], e.key) for e in executions]
        return Batch(path, digest, "bootstrap", jobs=jobs)
    if data[:4] == b"PK\x03\x04" or data[:4] == b"PK\x05\x06" or path.suffix.lower() == ".zip":
        if zipfile.is_zipfile(path):
            return Batch(path, digest, "zip", jobs=_read_zip(path, digest))
        if not _looks_like_log(data):
            raise InputError(
                f"{path} is not a zip archive",
                hint="download run logs with `gh run download` or the API's /logs endpoint",
            )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(
            f"{path} is not UTF-8 text", hint="pass a GitHub Actions job log as served by the API"
        ) from None
    if _GH_VIEW_LINE.match(text.lstrip("\ufeff")):
        return Batch(path, digest, "gh-view", jobs=_split_gh_view(text, digest))
    try:
        name = logs.job_name_from_log(data) or _name_from_file(path.name)
        logs.check_log(data)  # parsing proper happens once, on save
    except LogParseError as exc:
        raise InputError(f"{path}: {exc.message}", hint=exc.hint or "pass a GitHub Actions job log") from None
    return Batch(path, digest, "log", jobs=[LocalJob(name, [(0, None, data)], digest)])


def _read_folder(folder: Path, warn: Callable[[str], None]) -> Iterator[Batch]:
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if path.name.startswith(".") or path.name == "system.txt":
            continue
        if path.suffix.lower() not in (*LOG_SUFFIXES, ".zip", ".jsonl"):
            continue
        try:
            yield read_file(path)
        except AdvisorError as exc:
            warn(f"skipped {path}: {exc.message}")


def _looks_like_log(data: bytes) -> bool:
    head = data[:4096].lstrip(b"\xef\xbb\xbf")
    return re.match(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", head) is not None


def _name_from_file(name: str) -> str:
    stem = name.rsplit(".", 1)[0]
    match = re.match(r"^\d+_(.+)$", stem)
    return match.group(1) if match else stem


def _read_zip(path: Path, digest: str) -> list[LocalJob]:
    """A run-log archive: top-level ``N_job.txt`` files and ``job/N_step.txt`` folders."""
    try:
        with zipfile.ZipFile(path) as archive:
            infos = [i for i in archive.infolist() if not i.is_dir() and not i.filename.startswith("__MACOSX/")]
            declared = sum(i.file_size for i in infos)
            if declared > MAX_ARCHIVE_BYTES or any(i.file_size > MAX_MEMBER_BYTES for i in infos):
                raise InputError(
                    f"{path} declares {declared / 2**30:.1f} GiB uncompressed, more than a run log can be",
                    hint="this looks like a zip bomb or not a run-log archive",
                )
            if any(i.flag_bits & 0x1 for i in infos):
                raise InputError(
                    f"{path} is password-protected", hint="GitHub's run-log archives are not encrypted: download them again"
                )
            whole: dict[str, tuple[str, bytes]] = {}  # folder-ish key -> (job name, data)
            steps: dict[str, list[tuple[int, str, bytes]]] = {}
            for info in infos:
                pure = PurePosixPath(info.filename)
                data = archive.read(info)
                if len(pure.parts) == 1:
                    match = _STEP_FILE.match(pure.name)
                    if match:
                        whole[match.group(2).strip()] = (match.group(2).strip(), data)
                elif len(pure.parts) == 2:
                    match = _STEP_FILE.match(pure.name)
                    if match:
                        steps.setdefault(pure.parts[0].strip(), []).append((int(match.group(1)), match.group(2), data))
    except zipfile.BadZipFile as exc:
        raise InputError(f"{path} is a damaged zip archive: {exc}", hint="download the run logs again") from None
    except (OSError, EOFError, ValueError, NotImplementedError, zlib.error) as exc:
        raise InputError(f"{path} cannot be read as a zip archive: {exc}", hint="download the run logs again") from None
    jobs: list[LocalJob] = []
    names = sorted(set(whole) | set(steps))
    for key in names:
        parts: list[tuple[int, str | None, bytes]] = []
        if key in whole:
            parts.append((0, None, whole[key][1]))
        for number, step_name, data in sorted(steps.get(key, [])):
            parts.append((number, step_name, data))
        usable = [p for p in parts if _is_text_log(p[2])]
        if not usable:
            continue
        data0 = next((p[2] for p in usable if p[0] == 0), usable[0][2])
        name = _safe_job_name(data0) or key
        jobs.append(LocalJob(name, usable, f"{digest}:{key}"))
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


def _safe_job_name(data: bytes) -> str | None:
    try:
        return logs.job_name_from_log(data)
    except LogParseError:
        return None


def _split_gh_view(text: str, digest: str) -> list[LocalJob]:
    """``gh run view --log`` output: ``JOB<TAB>STEP<TAB>timestamp text`` on every line."""
    jobs: dict[str, dict[str, list[str]]] = {}
    last: tuple[str, str] | None = None
    for line in text.splitlines():
        match = _GH_VIEW_LINE.match(line)
        if match:
            last = (match.group(1), match.group(2))
            body = line[match.end(2) + 1 :]
        elif last is not None:
            body = line
        else:
            continue
        jobs.setdefault(last[0], {}).setdefault(last[1], []).append(body)
    out = []
    for job_name, step_lines in jobs.items():
        parts: list[tuple[int, str | None, bytes]] = [
            (i, step, ("\n".join(lines) + "\n").encode()) for i, (step, lines) in enumerate(step_lines.items(), 1)
        ]
        out.append(LocalJob(job_name, parts, f"{digest}:{job_name}"))
    return out


# -- saving ----------------------------------------------------------------------------------


def _save_local(store: Store, batch: Batch, *, repo: str, workflow: str) -> tuple[int, int]:
    run_id = synthetic_id("run", batch.sha256)
    new = known = 0
    for local in batch.jobs:
        job_id = synthetic_id("job", local.key)
        if store.load_job(job_id) is not None:
            known += 1
            continue
        with store.transaction():
            if batch.kind == "bootstrap":  # its own run per plan execution; the plan is the workflow
                run, job = events.execution_records(
                    local.parts[0][2], repo=repo, run_id=synthetic_id("run", local.key), job_id=job_id
                )
                store.save_run(run)
                store.save_job(job)
            else:
                store.save_run(Run(repo=repo, run_id=run_id, run_attempt=1, workflow_name=workflow))
                store.save_job(
                    Job(repo=repo, job_id=job_id, run_id=run_id, run_attempt=1, workflow_name=workflow, name=local.name)
                )
            for part, name, data in local.parts:
                store.save_log(job_id, data, part=part, name=name)
        new += 1
    return new, known


def _is_export(folder: Path) -> bool:
    return (folder / "runs.json").is_file() and (folder / "jobs").is_dir()


def _tree_hash(folder: Path) -> str:
    stat = (folder / "runs.json").stat()
    return hashlib.sha256(f"{folder.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path} is not valid JSON: {exc}", hint="regenerate the export folder") from None


def _save_export(store: Store, folder: Path, *, repo: str | None) -> tuple[int, int]:
    """An export folder in GitHub REST shapes (the layout of ``data/sample/``)."""
    if repo is None:
        meta = _load_json(folder / "repo.json") if (folder / "repo.json").is_file() else {}
        full_name = meta.get("full_name") if isinstance(meta, dict) else None
        if not isinstance(full_name, str):
            raise InputError(f"{folder}: no repo.json with full_name", hint="pass --repo OWNER/NAME")
        repo = full_name
    listing = _load_json(folder / "runs.json")
    if not isinstance(listing, dict) or not isinstance(listing.get("workflow_runs"), list):
        raise InputError(
            f"{folder / 'runs.json'} is not a workflow runs listing", hint="expected {workflow_runs: [...]}"
        )
    runs = [_from_json(run_from_json, r, repo, source=folder / "runs.json") for r in listing["workflow_runs"]]
    attempts_dir = folder / "attempts"
    if attempts_dir.is_dir():
        runs += [_from_json(run_from_json, _load_json(p), repo, source=p) for p in sorted(attempts_dir.glob("*.json"))]
    workflows = {r.run_id: r.workflow_name for r in runs}
    new = known = 0
    for run in runs:
        store.save_run(run)
    for path in sorted((folder / "jobs").glob("*.json")):
        payload = _load_json(path)
        items = payload.get("jobs") if isinstance(payload, dict) else None
        if not isinstance(items, list):
            raise InputError(f"{path} is not a jobs listing", hint="expected {jobs: [...]}")
        for item in items:
            run_id = item.get("run_id") if isinstance(item, dict) else None
            job = _from_json(job_from_json, item, repo, workflows.get(run_id) if isinstance(run_id, int) else None, source=path)
            if store.load_job(job.job_id) == job and store.log_state(job.job_id) is not None:
                known += 1
                continue
            with store.transaction():
                store.save_job(job)
                log = _export_log(folder, job.job_id)
                store.save_log(job.job_id, log, state="ok" if log is not None else "missing")
                notes_path = folder / "annotations" / f"{job.job_id}.json"
                if notes_path.is_file():
                    notes = _load_json(notes_path)
                    if not isinstance(notes, list):
                        raise InputError(f"{notes_path} is not a list of annotations", hint="regenerate the export folder")
                    store.save_annotations(
                        job.job_id, [_from_json(annotation_from_json, n, job.job_id, source=notes_path) for n in notes]
                    )
            new += 1
    files_dir = folder / "workflow-files"
    if files_dir.is_dir():
        for path in sorted(p for p in files_dir.rglob("*") if p.is_file()):
            rel = path.relative_to(files_dir).as_posix()
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                raise InputError(f"{path} is not UTF-8 text", hint="workflow files are YAML text") from None
            store.save_workflow_file(repo, rel, "HEAD", text)
    return new, known


def _from_json(convert: Callable[..., Any], item: Any, *args: Any, source: Path) -> Any:
    """``convert(item, *args)`` for one REST object of an export file; any problem names the file."""
    try:
        return convert(item, *args)
    except AdvisorError as exc:
        raise InputError(f"{source}: {exc.message}", hint=exc.hint or "regenerate the export folder") from None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InputError(
            f"{source}: an item is not in GitHub's REST shape ({type(exc).__name__}: {exc})",
            hint="regenerate the export folder",
        ) from None


def _export_log(folder: Path, job_id: int) -> bytes | None:
    plain = folder / "logs" / f"{job_id}.txt"
    packed = folder / "logs" / f"{job_id}.txt.gz"
    if plain.is_file():
        return plain.read_bytes()
    if packed.is_file():
        try:
            return gzip.decompress(packed.read_bytes())
        except (OSError, EOFError) as exc:
            raise InputError(f"{packed} is not a valid gzip file: {exc}", hint="regenerate the export folder") from None
    return None
