"""What failed, how often, and whether a rerun fixed it: the failed job attempts of a window as
signatures (``model.signatures``) and the jobs' rerun rates (``model.reruns``).

``failure_report`` is what the ``failures`` command, the report and the weekly comment show. The
incidents it is given may reach back before the window (``since``): that history is clustered
with the window's failures, so a signature's ``first_seen`` and trend ("new this week") see past
the window, while its counts are the window's. Cancelled attempts (a concurrency cancel, a
person) are not failures: they are counted, not clustered. The clustering (scipy.sparse) is imported only
when there is something to cluster.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from analyzer.model.reruns import RerunRate, rerun_rates
from analyzer.parse.failures import clean_line
from analyzer.records import Excerpt, ExcerptLine, Incident, JobAttempt

if TYPE_CHECKING:
    from analyzer.model.signatures import Signature

HISTORY = timedelta(weeks=8)  # failures before the window clustered with it, for first_seen and trends
TREND_WINDOW = timedelta(days=7)  # "new this week", "growing": this week against the one before
NOT_FAILURES = frozenset({"cancelled"})  # incident kinds that are not failures


@dataclass(frozen=True)
class FailureReport:
    """Signatures of the failed job attempts in a window and the rerun rates of its jobs.

    ``since``/``until``: the window (``until`` is the newest data, the trends' "now"); ``failed``:
    failed attempts in the window (the signatures' counts add up to it); ``cancelled``: cancelled
    attempts in the window, not counted as failures.
    """

    signatures: tuple[Signature, ...]
    reruns: tuple[RerunRate, ...]
    since: datetime | None
    until: datetime | None
    failed: int
    cancelled: int

    def to_dict(self) -> dict[str, Any]:
        """The ``failures --format json`` shape: ``{"signatures": [...], "reruns": [...]}``."""
        return {"signatures": [s.to_dict() for s in self.signatures], "reruns": [r.to_dict() for r in self.reruns]}

    @property
    def flaky(self) -> tuple[RerunRate, ...]:
        """Jobs with a failed attempt that passed when rerun, most passes first."""
        found = [r for r in self.reruns if r.failures.passed_on_rerun]
        return tuple(sorted(found, key=lambda r: (-r.failures.passed_on_rerun, -(r.failures.rate or 0.0), r.workflow, r.job)))


def failure_report(
    incidents: Sequence[Incident],
    excerpts: Mapping[int, Excerpt],
    attempts: Sequence[JobAttempt],
    *,
    since: datetime | None,
    now: datetime | None,
) -> FailureReport:
    """Signatures of the failed attempts among ``incidents`` (those before ``since`` as history) and
    rerun rates over ``attempts``. An incident without a stored excerpt (a store written by an
    older parser) is represented by its evidence line."""
    recent = [i for i in incidents if since is None or i.occurred_at is None or i.occurred_at >= since]
    failed = [i for i in incidents if i.kind not in NOT_FAILURES]
    signatures: list[Signature] = []
    if any(since is None or i.occurred_at is None or i.occurred_at >= since for i in failed):
        from analyzer.model.signatures import Failure, find_signatures

        records = [
            Failure(i.job_id, i.run_id, i.run_attempt, i.workflow, i.job, i.step, i.kind, i.occurred_at,
                    excerpts.get(i.job_id) or evidence_excerpt(i.evidence), i.repo)
            for i in failed
        ]  # fmt: skip
        signatures = find_signatures(records, now=now, window=TREND_WINDOW, since=since)
    return FailureReport(
        signatures=tuple(signatures),
        reruns=tuple(rerun_rates(attempts)),
        since=since,
        until=now,
        failed=sum(s.count for s in signatures),
        cancelled=sum(1 for i in recent if i.kind in NOT_FAILURES),
    )


@lru_cache(maxsize=8192)
def evidence_excerpt(evidence: str) -> Excerpt:
    """An excerpt of one line, the incident's evidence, for a failure whose log lines are unknown.
    Remembered (an ``Excerpt`` is immutable): many failures share their evidence line."""
    text = clean_line(" ".join(evidence.split()))
    return Excerpt((ExcerptLine(0, text, "evidence"),) if text else (), None)
