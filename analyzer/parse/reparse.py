"""Re-deriving the store's parsed data from its raw logs, so a rule change never needs a refetch.

The one place where parsing meets the store: every job whose observations came from another
parser version or another set of phase rules is read, analysed (``observe.analyze_job``) and
saved again, each under its own write lock.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from analyzer.config import PhaseRule
from analyzer.parse.logs import PARSER_VERSION
from analyzer.parse.observe import analyze_job, rules_fingerprint
from analyzer.store import Store


def reparse(
    store: Store,
    rules: Sequence[PhaseRule],
    *,
    force: bool = False,
    job_ids: Sequence[int] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    on_warning: Callable[[str], None] | None = None,
) -> int:
    """Re-derive observations and incidents from stored raw logs; returns the number of jobs parsed.

    Only jobs parsed by another parser version or rule set are redone, unless ``force``.
    Each job is saved in its own transaction, so an interrupted reparse resumes where it stopped.
    """
    fingerprint = rules_fingerprint(rules)
    if job_ids is None:
        job_ids = store.job_ids() if force else store.stale_jobs(PARSER_VERSION, fingerprint)
    total = len(job_ids)
    for done, job_id in enumerate(job_ids, 1):
        # Read, parse and save under one write lock: a fetch storing this job's log in between
        # would otherwise have its new log's analysis marked current while the old one is saved.
        with store.transaction():
            job = store.load_job(job_id)
            if job is None:
                continue
            result = analyze_job(job, store.load_log_parts(job_id), store.load_annotations(job_id), rules)
            store.save_analysis(
                job_id, result.observations, result.incident, parser_version=PARSER_VERSION, rules_hash=fingerprint
            )
        if result.warning and on_warning:
            on_warning(result.warning)
        if on_progress:
            on_progress(done, total)
    return total
