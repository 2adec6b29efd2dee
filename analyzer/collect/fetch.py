"""``we-advisor fetch``: incremental, rate-limit-safe collection of GitHub Actions history.

One fetch, in order:

1. the repository and its workflow list (conditional requests: a 304 costs no rate limit);
2. the run listings, newest first (per workflow with ``--workflow``), in ``created`` windows: a
   filtered listing stops at 1,000 results, so a window that holds more is split in two until none
   does. Every page is conditional, and a page's ETag is stored only once every run it lists is
   stored, so a fetch killed halfway never makes a later 304 skip runs it did not read;
3. every listed run not already stored as listed now (same attempt, same ``updated_at``): its
   earlier attempts, the jobs of all attempts, the logs of its jobs, and the check-run annotations
   of jobs that did not succeed. These requests run in a bounded pool of threads, each run's
   sub-requests ahead of new runs; one writer thread saves each run (attempts, jobs, steps, logs,
   annotations and the mark that it is complete) in one transaction. A run still in progress is
   saved as such and fetched once it has completed;
4. runs stored while in progress and not listed this time are asked for again;
5. the workflow files on the default branch (conditional), for the current ``timeout-minutes``;
6. the new jobs are parsed (``parse.reparse``); in an org crawl's workers each run's jobs are parsed
   by the writer as soon as the run is saved, while the next runs are fetched (each job in its own
   transaction, as a reparse does), and at the end whatever is still stale (a job that failed there,
   one stored stale before).

Logs come from the run-log archive of each new run attempt (one download, whatever the number of
its jobs; ``collect.runlogs`` splits it and matches its files to the jobs), from the per-job
endpoint for a job the archive does not hold unambiguously, for an attempt whose archive is
missing, expired or broken, and for an attempt with a single log to get. API requests are paced
at ``--rate`` a minute (default 800, under github.com's secondary limit of 900 points).
With ``run_ids`` (``--run-id``, event-driven collection) steps 2 and 4 are replaced by asking
for those runs (``--attempt``: that attempt) and the workflow files are those of their workflows.

A ``kill -9`` at any moment loses at most the runs in flight; the same command again fetches
them, so the store ends up as an uninterrupted fetch would have left it. The repository's lock
(``store.repo_lock``: a lock file on SQLite, an advisory lock on PostgreSQL) keeps a second fetch
of the same repository from writing at the same time (it waits up to ``lock_wait`` seconds, then
is refused); fetches of other repositories run beside it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace

from analyzer.collect.crawl import Crawl
from analyzer.collect.github import AUTH_HINT, DEFAULT_API_URL, ClientPolicy, GitHubClient
from analyzer.collect.summary import FetchProgress, FetchSummary, Unfetched
from analyzer.config import Settings, require_repo
from analyzer.errors import AuthError, ConfigError
from analyzer.parse.reparse import reparse
from analyzer.store import Store, repo_lock
from analyzer.window import fetch_start

__all__ = ["FetchProgress", "FetchSummary", "Unfetched", "fetch", "fetch_locked"]

DEFAULT_CONCURRENCY = 4
DEFAULT_MAX_WAIT_S = 300.0
MAX_RATE = 100_000  # requests a minute: beyond anything a GitHub server allows


def fetch(
    settings: Settings,
    store: Store,
    *,
    repo: str | None = None,
    workflows: Sequence[str] = (),
    branch: str | None = None,
    since: str | None = None,
    max_runs: int | None = None,
    logs: bool = True,
    api_url: str | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    token: str | None = None,
    max_wait: float = DEFAULT_MAX_WAIT_S,
    policy: ClientPolicy | None = None,
    rate: int | None = None,
    archives: bool = True,
    run_ids: Sequence[int] = (),
    attempt: int | None = None,
    lock_wait: float = 0.0,
    on_progress: Callable[[FetchProgress], None] | None = None,
    on_warning: Callable[[str], None] | None = None,
) -> FetchSummary:
    """Fetch what is new in ``repo``'s Actions history into ``store``, then parse the new jobs.

    Stops cleanly (``summary.stopped``) when the primary rate limit is used up for longer than
    ``max_wait`` seconds; raises ``AdvisorError`` for what the user must fix (token, repository,
    options, a repository another fetch is writing for longer than ``lock_wait`` seconds). ``rate``:
    API requests a minute (``--rate``; default ``ClientPolicy.per_minute``, 800). ``archives=False``
    downloads every log from its job's own endpoint (what fetch did before run-log archives; the
    tests compare the two).
    """
    if not (repo or settings.repo or "").strip().strip("/"):
        raise ConfigError("no repository to fetch", hint="pass --repo OWNER/NAME or set repo in we-advisor.toml")
    name = require_repo(repo or settings.repo)
    check_options(
        concurrency=concurrency, max_runs=max_runs, run_ids=run_ids, attempt=attempt, lock_wait=lock_wait, rate=rate
    )
    fetch_start(since, default_days=settings.window_days)  # a bad --since is refused before anything is locked
    if not token:
        raise AuthError("no GitHub token", hint=AUTH_HINT)
    with repo_lock(store, name, wait=lock_wait, on_wait=on_warning):
        return fetch_locked(
            settings, store, repo=name, workflows=workflows, branch=branch, since=since, max_runs=max_runs, logs=logs,
            api_url=api_url, concurrency=concurrency, token=token, max_wait=max_wait, policy=policy, run_ids=run_ids,
            attempt=attempt, rate=rate, archives=archives, on_progress=on_progress, on_warning=on_warning,
        )  # fmt: skip


def check_options(
    *, concurrency: int, max_runs: int | None, run_ids: Sequence[int] = (), attempt: int | None = None,
    lock_wait: float = 0.0, rate: int | None = None,
) -> None:  # fmt: skip
    """The option values a fetch refuses, as ConfigErrors."""
    if concurrency < 1 or concurrency > 64:
        raise ConfigError(f"--concurrency {concurrency} is out of range", hint="use 1 to 64 (default 4)")
    if rate is not None and not 1 <= rate <= MAX_RATE:
        raise ConfigError(
            f"--rate {rate} is out of range", hint=f"requests a minute, 1 to {MAX_RATE:,} (default 800, github.com allows 900)"
        )
    if max_runs is not None and max_runs < 1:
        raise ConfigError(f"--max-runs {max_runs} must be at least 1", hint="omit it to fetch every run in the window")
    if any(r < 1 for r in run_ids):
        raise ConfigError(f"--run-id {min(run_ids)} is not a run id", hint="pass the number in the run's URL (…/actions/runs/ID)")
    if attempt is not None and (attempt < 1 or len(run_ids) != 1):
        hint = "--attempt N goes with exactly one --run-id" if len(run_ids) != 1 else "attempts count from 1"
        raise ConfigError(f"--attempt {attempt} cannot be used here", hint=hint)
    if lock_wait < 0:
        raise ConfigError(f"--lock-wait {lock_wait} must not be negative", hint="seconds to wait for another fetch, e.g. 300")


def fetch_locked(
    settings: Settings,
    store: Store,
    *,
    repo: str,
    token: str,
    workflows: Sequence[str] = (),
    branch: str | None = None,
    since: str | None = None,
    max_runs: int | None = None,
    logs: bool = True,
    api_url: str | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    max_wait: float = DEFAULT_MAX_WAIT_S,
    policy: ClientPolicy | None = None,
    run_ids: Sequence[int] = (),
    attempt: int | None = None,
    rate: int | None = None,
    archives: bool = True,
    on_progress: Callable[[FetchProgress], None] | None = None,
    on_warning: Callable[[str], None] | None = None,
    parse_while_fetching: bool = False,
) -> FetchSummary:
    """``fetch`` of ``repo`` (checked ``OWNER/NAME``) by a caller that holds its lock. With
    ``parse_while_fetching`` (an org crawl's workers, ``collect.org``: the round ends when the last
    repository is parsed) each run's jobs are parsed by the writer as soon as the run is saved, and
    the closing reparse parses only what is still stale; otherwise all are parsed at the end."""
    if run_ids and (workflows or branch or since or max_runs):
        raise ConfigError("--run-id fetches the runs it names", hint="leave out --workflow, --branch, --since and --max-runs")
    start = fetch_start(since, default_days=settings.window_days)
    began = time.monotonic()
    if rate is not None:
        policy = replace(policy or ClientPolicy(), per_minute=rate)
    store.ensure_schema()
    client = GitHubClient(token, api_url=api_url or DEFAULT_API_URL, max_wait_s=max_wait, policy=policy)
    said: set[str] = set()

    def warn_once(message: str) -> None:  # a parse warning (a composite in every run) is said once
        if on_warning is not None and message not in said:
            said.add(message)
            on_warning(message)

    def parse(job_ids: list[int]) -> int:  # a run's jobs, parsed as soon as they are saved
        return reparse(store, settings.phases, job_ids=job_ids, on_warning=warn_once)

    job = Crawl(
        store, client, repo=repo, workflows=tuple(workflows), branch=branch, start=start, max_runs=max_runs,
        logs=logs, concurrency=concurrency, on_progress=on_progress, on_warning=on_warning, archives=archives,
        run_ids=tuple(run_ids), attempt=attempt, parse=parse if parse_while_fetching else None,
    )  # fmt: skip
    try:
        summary = job.run()
    finally:
        job.client.close()
    # what the fetch did not parse yet (a job it failed on, one stored stale before): parsed now
    closing = reparse(store, settings.phases, repo=summary.repo, on_progress=job.parse_progress, on_warning=warn_once)
    summary.parsed = closing + (job.writer.parsed if job.writer is not None else 0)
    if summary.parsed > closing:  # the parsing done while fetching, told once it is all done
        job.parse_progress(summary.parsed, summary.parsed)
    summary.elapsed_s = time.monotonic() - began
    return summary
