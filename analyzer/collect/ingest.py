"""``we-advisor ingest``: local job logs, run-log zips and their unzipped folders, ``gh run view --log``
output, export folders and bootstrap events.

Reading and checking come first, writing second: a file named on the command line that cannot
be used is an error before anything is written; a file found inside a folder or an archive that
is not a job log is skipped with a warning that says why (``collect.archive`` reads them).

Every job lands on one row whatever form it came in (``parse.identity``): a local job is
recognized by its log's lines, so ingesting the zip and then its own ``0_job.txt`` (or the
unzipped folder, or ``gh run view --log``) adds nothing, and a richer form of a job already
stored (per-step files after a bare log) replaces the poorer one. Local jobs get stable negative
ids; their repository is the one the log names (``GITHUB_REPOSITORY``, actions/checkout's
``Syncing repository:``), else ``--repo``, else ``local/<folder>``.

A job is parsed from the bytes in memory as it is saved, while a second thread compresses, hashes
and writes its raw log (``_Saver``): a big log costs about its parse, not parse + compress + unpack.
Many jobs are parsed and packed ahead by worker processes (``collect.prefetch``) while this one
writes, in the same order and transactions as it would alone.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analyzer.collect.archive import Batch, LocalJob, merge_same_jobs, read_file, read_folder
from analyzer.collect.prefetch import Prefetch, Prepared
from analyzer.collect.rest import annotation_from_json, job_from_json, run_from_json
from analyzer.config import PhaseRule
from analyzer.errors import AdvisorError, InputError
from analyzer.parse import events
from analyzer.parse.identity import richness
from analyzer.parse.observe import rules_fingerprint
from analyzer.parse.reparse import fill_identities, reparse, save_parsed
from analyzer.records import Annotation, Job, LogPart, Run, iso
from analyzer.store import Store
from analyzer.store.store import pack_log

__all__ = ["Batch", "IngestSummary", "LocalJob", "ingest_paths", "read_file", "synthetic_id"]

LOCAL_WORKFLOW = "(local)"


@dataclass(slots=True)
class IngestSummary:
    files: int = 0
    jobs_new: int = 0
    jobs_known: int = 0
    jobs_richer: int = 0  # known jobs whose stored copy this input replaced with a richer one
    parsed: int = 0
    skipped: list[str] = field(default_factory=list)

    def line(self) -> str:
        text = (
            f"ingested {self.files} input(s): {self.jobs_new} new job(s), {self.jobs_known} already in the store, "
            f"{self.parsed} parsed"
        )
        if self.jobs_richer:
            text += f", {self.jobs_richer} replaced by a richer copy"
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
        if message.startswith("skipped "):
            summary.skipped.append(message)
        if on_warning:
            on_warning(message)

    batches: list[Batch] = []
    for path in paths:
        if not path.exists():
            raise InputError(
                f"{path} does not exist", hint="check the path; ingest takes job logs, .zip archives and folders"
            )
        if path.is_dir():
            if _is_export(path):
                batches.append(Batch(path, _tree_hash(path), "export", export=path))
            else:
                batches.extend(read_folder(path, warn))
        else:
            batches.append(read_file(path))
    if not batches:
        raise InputError(
            "nothing to ingest in the given paths",
            hint="ingest takes job logs (any extension), run-log .zip archives and folders of them",
        )
    _merge_forms(batches)
    _warn_about_repositories(batches, repo, warn)

    prefetch = Prefetch(_guesses(store, batches, repo=repo, workflow=workflow or LOCAL_WORKFLOW), rules)
    saver = _Saver(store, rules, on_warning, prefetch)
    try:
        with store.transaction():  # all or nothing: a bad export file found while saving leaves the store as it was
            fill_identities(store)
            for batch in batches:
                summary.files += 1
                if batch.kind == "export" and batch.export is not None:
                    new, known = _save_export(saver, batch.export, repo=repo)
                else:
                    if store.has_source(batch.sha256):
                        summary.jobs_known += len(batch.jobs)
                        continue
                    new, known = _save_local(saver, batch, summary, repo=repo, workflow=workflow or LOCAL_WORKFLOW)
                    store.record_source(batch.sha256, str(batch.path), batch.kind, len(batch.jobs))
                summary.jobs_new += new
                summary.jobs_known += known
    finally:
        saver.close()
        prefetch.close()
    if saver.parsed and on_progress:
        on_progress(saver.parsed, saver.parsed)
    # jobs stored before and parsed with other rules (or by an older parser) are parsed now
    summary.parsed = saver.parsed + reparse(store, rules, job_ids=None, on_progress=on_progress, on_warning=on_warning)
    return summary


class _Saver:
    """Saves a job's raw logs and its analysis, parsed from the bytes in memory: the logs are
    compressed, hashed and written by a second thread while this one parses them (zstandard and
    hashlib release the GIL; the store is not touched by this thread meanwhile)."""

    def __init__(
        self, store: Store, rules: Sequence[PhaseRule], on_warning: Callable[[str], None] | None,
        prefetch: Prefetch | None = None,
    ) -> None:  # fmt: skip
        self.store = store
        self.prefetch = prefetch
        self.rules = rules
        self.fingerprint = rules_fingerprint(rules)
        self.on_warning = on_warning
        self.parsed = 0
        self._said: set[str] = set()
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="ingest-pack")

    def close(self) -> None:
        self._writer.shutdown(wait=True)

    def save(
        self, job: Job, parts: Sequence[LogPart], annotations: Sequence[Annotation] = (),
        after_logs: Callable[[], None] | None = None, prepared: Prepared | None = None,
    ) -> None:  # fmt: skip
        """The job's log ``parts`` and its analysis (the job itself, and its annotations, saved by the
        caller); ``after_logs`` runs once the logs are written, before the analysis is saved.
        ``prepared``: the parse and the packed logs made by a worker process (``collect.prefetch``)."""
        store = self.store
        if prepared is not None:
            for part, packed in zip(parts, prepared.packed, strict=True):
                store.save_packed_log(job.job_id, packed, part=part.part, name=part.name, state=part.state)
            saved, warning = save_parsed(
                store, job, parts, annotations, self.rules, fingerprint=self.fingerprint, before_saving=after_logs,
                parsed=prepared.parsed,
            )  # fmt: skip
            self._done(saved, warning)
            return

        def write_logs() -> None:
            for part in parts:
                store.save_packed_log(job.job_id, pack_log(part.data), part=part.part, name=part.name, state=part.state)

        written = self._writer.submit(write_logs)

        def before_saving() -> None:
            written.result()
            if after_logs is not None:
                after_logs()

        try:
            saved, warning = save_parsed(
                store, job, parts, annotations, self.rules, fingerprint=self.fingerprint, before_saving=before_saving
            )
        finally:
            written.result()  # never leave the other thread writing while this one goes on
        self._done(saved, warning)

    def _done(self, saved: bool, warning: str | None) -> None:
        self.parsed += saved
        if warning and self.on_warning and warning not in self._said:
            self._said.add(warning)
            self.on_warning(warning)


def _merge_forms(batches: list[Batch]) -> None:
    """Two forms of one job given in different inputs (a zip and its ``0_job.txt``): saved once, richer form kept."""
    local = [b for b in batches if b.kind != "bootstrap"]
    kept = {id(j) for j in merge_same_jobs([j for b in local for j in b.jobs])}
    for batch in local:
        batch.jobs = [j for j in batch.jobs if id(j) in kept]


def _richness(local: LocalJob) -> int:
    return richness(-1, [part for part, _, _ in local.parts])


def _repo_of(local: LocalJob, repo: str | None) -> str:
    """The log's repository, else ``--repo``, else ``local/<folder>``."""
    return local.stated_repo or repo or f"local/{local.folder}"


def _warn_about_repositories(batches: list[Batch], repo: str | None, warn: Callable[[str], None]) -> None:
    """Say where jobs whose logs name no repository were filed, and when one unit gets jobs whose logs
    name a repository together with jobs filed there by ``--repo`` or their folder."""
    units: dict[tuple[str, str], list[LocalJob]] = {}
    for batch in batches:
        if batch.kind in ("export", "bootstrap"):
            continue
        for local in batch.jobs:
            units.setdefault((_repo_of(local, repo), local.name), []).append(local)
    for (where, name), jobs in sorted(units.items()):
        stated = [j for j in jobs if j.stated_repo]
        unstated = [j for j in jobs if not j.stated_repo]
        folders = sorted({j.folder for j in unstated})
        if stated and unstated:
            warn(
                f"job {name!r} of {where}: {len(stated)} log(s) name that repository, {len(unstated)} name none and were "
                f"filed there by {'--repo' if repo else 'their folder'} (e.g. {unstated[0].source}): check they belong together"
            )
        elif unstated and repo and len(folders) > 1:
            warn(
                f"job {name!r}: {len(unstated)} log(s) from {len(folders)} folders ({', '.join(folders[:3])}) name no "
                f"repository and were all filed under --repo {repo}: check they belong together"
            )
    if repo:
        others = sorted({j.stated_repo for js in units.values() for j in js if j.stated_repo and j.stated_repo != repo})
        if others:
            warn(f"--repo {repo} not used for jobs whose logs name their repository: {', '.join(others[:5])}")


# -- saving ----------------------------------------------------------------------------------


def _save_local(saver: _Saver, batch: Batch, summary: IngestSummary, *, repo: str | None, workflow: str) -> tuple[int, int]:
    """Save a batch's jobs: one local run per repository and folder of the input, a job already stored
    (in any form) counted as known and replaced when this copy is richer."""
    store = saver.store
    new = known = 0
    for local in batch.jobs:
        if batch.kind == "bootstrap":  # its own run per plan execution; the plan is the workflow
            job_id = synthetic_id("job", local.key)
            if store.load_job(job_id) is not None:
                known += 1
                continue
            with store.transaction():
                run, job = events.execution_records(
                    local.parts[0][2], repo=repo or "local/bootstrap", run_id=synthetic_id("run", local.key), job_id=job_id
                )
                store.save_run(run)
                store.save_job(job)
                saver.save(job, [LogPart(job_id, 0, local.parts[0][1], "ok", local.parts[0][2])])
            new += 1
            continue
        run_id = synthetic_id("run", batch.sha256, _repo_of(local, repo), local.folder)
        stored = _stored_copy(store, local)
        if stored is not None:
            known += 1
            job_id, parts = stored
            if _richness(local) > richness(job_id, parts):  # per-step files for a job stored as a bare log
                _save_job(saver, local, job_id, run_id, batch, repo=repo, workflow=workflow)
                summary.jobs_richer += 1
            continue
        _save_job(saver, local, _new_job_id(local), run_id, batch, repo=repo, workflow=workflow)
        new += 1
    return new, known


def _stored_copy(store: Store, local: LocalJob) -> tuple[int, list[int]] | None:
    """The job already stored that ``local`` is a copy of (its id and stored log parts), if any."""
    if local.identity is None:
        return None
    for job_id, first_at, parts in store.jobs_with_hash(local.identity.text_hash):
        if local.identity.same_job(local.identity.text_hash, first_at):
            return job_id, parts
    return None


def _new_job_id(local: LocalJob) -> int:
    identity = local.identity
    return synthetic_id("job", identity.text_hash, iso(identity.first_at) or "") if identity else synthetic_id("job", local.source)


def _job_record(store: Store, local: LocalJob, job_id: int, run_id: int, *, repo: str | None, workflow: str) -> Job:
    """The job record ``_save_job`` saves (the run of the job already stored under ``job_id`` kept)."""
    existing = store.load_job(job_id)
    if existing is not None:
        run_id = existing.run_id
    return Job(repo=_repo_of(local, repo), job_id=job_id, run_id=run_id, run_attempt=1, workflow_name=workflow, name=local.name)


def _guesses(
    store: Store, batches: Sequence[Batch], *, repo: str | None, workflow: str
) -> list[tuple[object, Job, list[LogPart]]]:
    """The jobs ``_save_local`` will most likely save as new, each with the record and parts it will save
    (read from the store before anything is written): what worker processes may prepare ahead."""
    out: list[tuple[object, Job, list[LogPart]]] = []
    for batch in batches:
        if batch.kind in ("export", "bootstrap") or store.has_source(batch.sha256):
            continue
        for local in batch.jobs:
            if _stored_copy(store, local) is not None:
                continue
            job_id = _new_job_id(local)
            run_id = synthetic_id("run", batch.sha256, _repo_of(local, repo), local.folder)
            job = _job_record(store, local, job_id, run_id, repo=repo, workflow=workflow)
            out.append((local, job, _log_parts(local, job_id)))
    return out


def _log_parts(local: LocalJob, job_id: int) -> list[LogPart]:
    return [LogPart(job_id, part, name, "ok", data) for part, name, data in local.parts]


def _save_job(
    saver: _Saver, local: LocalJob, job_id: int, run_id: int, batch: Batch, *, repo: str | None, workflow: str
) -> None:
    store = saver.store
    with store.transaction():
        job = _job_record(store, local, job_id, run_id, repo=repo, workflow=workflow)
        store.save_run(Run(repo=job.repo, run_id=job.run_id, run_attempt=1, workflow_name=workflow))
        store.save_local_run(job.run_id, batch.path.name)
        store.save_job(job)
        identity = local.identity

        def save_identity() -> None:
            if identity is not None:
                store.save_identity(job_id, identity.text_hash, identity.first_at)

        prepared = saver.prefetch.take(local, job) if saver.prefetch is not None else None
        saver.save(job, _log_parts(local, job_id), after_logs=save_identity, prepared=prepared)


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


def _save_export(saver: _Saver, folder: Path, *, repo: str | None) -> tuple[int, int]:
    """An export folder in GitHub REST shapes (the layout of ``data/sample/``)."""
    store = saver.store
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
                notes_path = folder / "annotations" / f"{job.job_id}.json"
                annotations: list[Annotation] = []
                if notes_path.is_file():
                    notes = _load_json(notes_path)
                    if not isinstance(notes, list):
                        raise InputError(f"{notes_path} is not a list of annotations", hint="regenerate the export folder")
                    annotations = [_from_json(annotation_from_json, n, job.job_id, source=notes_path) for n in notes]
                    store.save_annotations(job.job_id, annotations)
                saver.save(job, [LogPart(job.job_id, 0, None, "ok" if log is not None else "missing", log)], annotations)
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
