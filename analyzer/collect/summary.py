"""What a fetch reports: progress snapshots, the items it could not get, and its summary line."""

from __future__ import annotations

from dataclasses import dataclass, field

from analyzer.errors import RateLimitError


@dataclass(frozen=True, slots=True)
class FetchProgress:
    """A snapshot for a progress bar."""

    stage: str  # listing | fetching | waiting | parsing
    runs_listed: int
    runs_done: int
    runs_todo: int
    jobs: int
    logs: int
    requests: int
    rate_remaining: int | None
    rate_limit: int | None
    waiting_until: float | None = None  # epoch seconds, while waiting for the rate limit to reset
    parsed: int = 0
    parse_total: int = 0


@dataclass(frozen=True, slots=True)
class Unfetched:
    """One item a fetch could not get: a log GitHub no longer keeps (``expired``, 410: never asked for
    again), a log it does not have (``missing``, 404), or a request that ``failed`` after its retries
    (the run is left unfinished, and the next fetch asks again)."""

    reason: str  # expired | missing | failed
    run_id: int | None = None
    job_id: int | None = None
    job: str | None = None
    detail: str = ""  # for failed: the error message

    def line(self) -> str:
        if self.reason == "failed":
            where = f"run {self.run_id}: " if self.run_id is not None else ""
            return f"{where}{self.detail} (the next fetch retries it)"
        what = f"log of job {self.job_id}" + (f" {self.job!r}" if self.job else "") + f" in run {self.run_id}"
        if self.reason == "expired":
            return f"{what}: expired, GitHub no longer keeps it (410)"
        return f"{what}: missing, GitHub has none (404)"


@dataclass(slots=True)
class FetchSummary:
    """What one fetch did."""

    repo: str
    runs_listed: int = 0
    runs_fetched: int = 0
    runs_known: int = 0
    runs_in_progress: int = 0
    runs_filled: int = 0  # stored runs given the context they were stored without (actor, head commit)
    jobs: int = 0
    logs: int = 0
    logs_expired: int = 0
    logs_missing: int = 0
    annotated_jobs: int = 0
    requests: int = 0
    counted_requests: int = 0
    downloads: int = 0
    rate_remaining: int | None = None
    rate_limit: int | None = None
    failures: list[str] = field(default_factory=list)
    unfetched: list[Unfetched] = field(default_factory=list)  # per item: expired and missing logs, failures
    stopped: RateLimitError | None = None
    parsed: int | None = None
    elapsed_s: float = 0.0

    def line(self) -> str:
        text = (
            f"fetched {self.repo}: {self.runs_listed} run(s) listed, {self.runs_fetched} new, "
            f"{self.runs_known} already stored, {self.runs_in_progress} in progress; {self.jobs} job(s), "
            f"{self.logs} log(s)"
        )
        extra = [f"{n} {label}" for n, label in ((self.logs_expired, "expired"), (self.logs_missing, "missing")) if n]
        if extra:
            text += f" ({', '.join(extra)})"
        text += f"; {self.requests} request(s), {self.counted_requests} counted"
        if self.rate_remaining is not None:
            text += f", {self.rate_remaining}" + (f"/{self.rate_limit}" if self.rate_limit else "") + " left"
        if self.runs_filled:
            text += f"; actor and commit added to {self.runs_filled} stored run(s)"
        if self.failures:
            text += f"; {len(self.failures)} failed (the next fetch retries them)"
        if self.parsed is not None:
            text += f"; {self.parsed} job(s) parsed"
        return text + f" in {self.elapsed_s:.1f}s"

    def details(self, limit: int | None = None) -> list[str]:
        """One line per item this fetch could not get (ordered by run and job), at most ``limit`` of
        them and then a line that counts the rest."""
        lines = [item.line() for item in self.unfetched]
        if limit is not None and len(lines) > limit:
            rest = len(lines) - limit
            lines = [*lines[:limit], f"... and {rest} more"]
        return lines
