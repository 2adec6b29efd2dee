"""Re-deriving the store's parsed data from its raw logs, so a rule change never needs a refetch.

The one place where parsing meets the store: every job whose observations came from another
parser version or another set of phase rules is read, analysed (``observe.analyze_job``) and
saved again, each under its own write lock. Reparsing a job also records its log's identity
(``parse.identity``): when the same job is in the store twice (a local copy ingested before it was
fetched, or the zip and the bare log of one job in a store from before the identity rule), the
richer record is kept and the other removed. A local log's job (no API JSON) also gets the run
context its log shows (``parse.context``): queue times, runner and labels on the job, branch, event
and commit on its run. ``save_parsed`` does the same for a job whose log is still in memory
(``ingest``): parsed from those bytes, not read back and unpacked.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from analyzer.config import PhaseRule
from analyzer.parse.logs import PARSER_VERSION, rules_fingerprint
from analyzer.records import Annotation, Job, LogPart, Run
from analyzer.store import Store

# The parser and what it needs (numpy among them) are imported where a log is parsed: a history command
# on a store parsed with these rules only checks that it is (``stale_jobs``).
if TYPE_CHECKING:
    from analyzer.parse.observe import Analysis


def reparse(
    store: Store,
    rules: Sequence[PhaseRule],
    *,
    force: bool = False,
    job_ids: Sequence[int] | None = None,
    repo: str | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    on_warning: Callable[[str], None] | None = None,
) -> int:
    """Re-derive observations, incidents and failure excerpts from stored raw logs; returns the number
    of jobs parsed.

    Only jobs parsed by another parser version or rule set are redone, unless ``force``; with
    ``repo``, only that repository's (what a fetch of it parses: workers of other repositories
    parse their own).
    Each job is saved in its own transaction, so an interrupted reparse resumes where it stopped.
    """
    fingerprint = rules_fingerprint(rules)
    if job_ids is None:
        job_ids = store.job_ids(repo) if force else store.stale_jobs(PARSER_VERSION, fingerprint, repo=repo)
    total = len(job_ids)
    if total:
        from analyzer.parse.observe import analyze_job
    said: set[str] = set()  # a warning about many jobs of one kind (a composite in every run) is said once
    for done, job_id in enumerate(job_ids, 1):
        # Read, parse and save under one write lock: a fetch storing this job's log in between
        # would otherwise have its new log's analysis marked current while the old one is saved.
        with store.transaction():
            store.lock_job(job_id)
            job = store.load_job(job_id)
            if job is None:
                continue
            parts = store.load_log_parts(job_id)
            if _poorer_copy(store, job_id, parts):
                if on_progress:
                    on_progress(done, total)
                continue
            if _is_local_log(job, parts):  # a local log: its context comes from the log
                derived, run = _log_context(job, parts)
                _save_context(store, job, derived, run)
                job = derived
            result = analyze_job(job, parts, store.load_annotations(job_id), rules)
            _save(store, job_id, result, fingerprint)
        if result.warning and on_warning and result.warning not in said:
            said.add(result.warning)
            on_warning(result.warning)
        if on_progress:
            on_progress(done, total)
    return total


Parsed = tuple[Job, Run | None, "Analysis"]  # the job with its log's context, its run's context, the analysis


def parse_in_memory(
    job: Job, parts: Sequence[LogPart], annotations: Sequence[Annotation], rules: Sequence[PhaseRule]
) -> Parsed:
    """The parse half of ``save_parsed``: pure (no store), so it can run in another process."""
    from analyzer.parse.observe import analyze_job

    derived, run = _log_context(job, parts) if _is_local_log(job, parts) else (job, None)
    return derived, run, analyze_job(derived, parts, annotations, rules)


def save_parsed(
    store: Store,
    job: Job,
    parts: Sequence[LogPart],
    annotations: Sequence[Annotation],
    rules: Sequence[PhaseRule],
    *,
    fingerprint: str | None = None,
    before_saving: Callable[[], None] | None = None,
    parsed: Parsed | None = None,
) -> tuple[bool, str | None]:
    """What ``reparse`` does for one job, from log ``parts`` in memory: (saved, the parse warning).
    Not saved when the job turns out to be the poorer copy of another (then it is gone). The job's
    raw inputs must be saved before the result (saving them marks the job stale): before this call,
    or by ``before_saving``, called between the parse and the save (``ingest`` writes the raw log in
    another thread meanwhile and waits for it there). ``parsed``: ``parse_in_memory`` of the same
    arguments, made beforehand (``ingest``'s worker processes); else the job is parsed here."""
    derived, run, result = parsed if parsed is not None else parse_in_memory(job, parts, annotations, rules)
    if before_saving is not None:
        before_saving()
    if _poorer_copy(store, job.job_id, list(parts)):
        return False, None
    _save_context(store, job, derived, run)
    _save(store, job.job_id, result, fingerprint or rules_fingerprint(rules))
    return True, result.warning


def _save(store: Store, job_id: int, result: Analysis, fingerprint: str) -> None:
    """One job's analysis saved as current (``reparse`` and ``save_parsed`` alike)."""
    store.save_analysis(
        job_id, result.observations, result.incident, excerpt=result.excerpt, parser_version=PARSER_VERSION,
        rules_hash=fingerprint,
    )


def fill_identities(store: Store) -> int:
    """Record the log identity of every job that has none yet (a store from before the identity rule),
    so that ingest recognizes their other forms before they are reparsed; returns how many."""
    from analyzer.parse.identity import log_identity

    missing = store.jobs_without_identity()
    for job_id in missing:
        stored = [(p.part, p.data) for p in store.load_log_parts(job_id) if p.state == "ok" and p.data is not None]
        identity = log_identity(stored)
        if identity is not None:
            store.save_identity(job_id, identity.text_hash, identity.first_at)
    return len(missing)


def _poorer_copy(store: Store, job_id: int, parts: list[LogPart]) -> bool:
    """Record the job's log identity; of two records of one job keep the richer (``identity.richness``:
    fetched, then per-step files, then a bare log; a tie keeps the id nearer zero). True if ``job_id`` itself
    was the poorer copy and is gone. Two GitHub ids are never merged."""
    from analyzer.parse.identity import LogIdentity, log_identity, richness

    stored = [(p.part, p.data) for p in parts if p.state == "ok" and p.data is not None]
    known = store.identity_of(job_id)
    identity = LogIdentity(*known) if known is not None else log_identity(stored)
    if identity is None:
        return False
    if known is None:
        store.save_identity(job_id, identity.text_hash, identity.first_at)
    mine = richness(job_id, [part for part, _ in stored])
    for other, first_at, other_parts in store.jobs_with_hash(identity.text_hash):
        if other == job_id or (other > 0 and job_id > 0) or not identity.same_job(identity.text_hash, first_at):
            continue
        theirs = richness(other, other_parts)
        if theirs > mine or (theirs == mine and abs(other) < abs(job_id)):
            store.delete_job(job_id)
            return True
        store.delete_job(other)
    return False


def _is_local_log(job: Job, parts: Sequence[LogPart]) -> bool:
    """A local log's job (no API JSON): its context comes from the log (a bootstrap events log has none)."""
    from analyzer.parse import events

    return job.job_id < 0 and not events.is_events_log(parts)


def _log_context(job: Job, parts: Sequence[LogPart]) -> tuple[Job, Run | None]:
    """A local job with the queue times, runner and labels its log shows, and its run with the
    branch, event and commit the log shows (None when it shows none); nothing saved."""
    from analyzer.parse.context import local_job, local_run, log_context

    context = log_context([p.data for p in parts if p.data is not None])
    return local_job(job, context), local_run(job, context)


def _save_context(store: Store, job: Job, derived: Job, run: Run | None) -> None:
    """Save what ``_log_context`` found: the job's context where it changed, the run's where the run has none."""
    if derived != job:
        store.save_job_context(derived)
    if run is not None:
        store.fill_run_context(run)
