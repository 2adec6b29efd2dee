"""The fetch's threads: a pool of workers fed by a priority queue, and the one writer to the store.

Pool tasks fill a ``RunWork`` (attempts, jobs, logs, annotations of one run); the writer saves
each in one transaction, and a listing page's ETag (``PageDone``) only once every run it lists is
stored.
"""

from __future__ import annotations

import itertools
import queue
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from analyzer.collect.github import LogDownload
from analyzer.collect.summary import Unfetched
from analyzer.records import Annotation, Job, Run
from analyzer.store import Store


@dataclass(eq=False)
class RunWork:
    """One run being fetched: filled by pool tasks, saved by the writer in one transaction."""

    index: int
    run: Run
    updated_at: str | None
    track: bool = True  # a listed run whose completion a listing page waits for
    runs: list[Run] = field(default_factory=list)
    jobs: list[Job] = field(default_factory=list)
    logs: dict[int, LogDownload] = field(default_factory=dict)
    notes: dict[int, list[Annotation]] = field(default_factory=dict)
    complete: bool = True
    pending: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass(frozen=True, slots=True)
class PageDone:
    key: str
    etag: str
    payload: dict[str, Any]
    runs: frozenset[int]


@dataclass(frozen=True, slots=True)
class CachedAnswer:
    key: str
    etag: str
    payload: Any


@dataclass(frozen=True, slots=True)
class ContextFill:
    """A stored run listed again with the context its stored attempts lack (actor, head commit)."""

    run: Run


@dataclass(frozen=True, slots=True)
class WorkflowFile:
    repo: str
    path: str
    ref: str
    content: str
    cache: CachedAnswer | None


class Pool:
    """Worker threads fed by a priority queue: a run's sub-requests go ahead of runs listed later."""

    def __init__(self, size: int) -> None:
        self._queue: queue.PriorityQueue[tuple[int, int, Callable[[], None] | None]] = queue.PriorityQueue()
        self._seq = itertools.count()
        self._pending = 0
        self._cond = threading.Condition()
        self._threads = [threading.Thread(target=self._work, name=f"fetch-{i}", daemon=True) for i in range(size)]
        for thread in self._threads:
            thread.start()

    def submit(self, priority: int, task: Callable[[], None]) -> None:
        with self._cond:
            self._pending += 1
        self._queue.put((priority, next(self._seq), task))

    def _work(self) -> None:
        while True:
            _, _, task = self._queue.get()
            if task is None:
                return
            try:
                task()
            finally:
                with self._cond:
                    self._pending -= 1
                    if self._pending == 0:
                        self._cond.notify_all()

    def wait(self, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self._pending == 0, timeout)

    def close(self) -> None:
        for _ in self._threads:
            self._queue.put((sys.maxsize, next(self._seq), None))
        for thread in self._threads:
            thread.join()


class Writer(threading.Thread):
    """The one thread that writes to the store during a fetch."""

    def __init__(
        self, store: Store, repo: str, logs: bool, release: Callable[[], None],
        parse: Callable[[list[int]], int] | None = None,
    ) -> None:  # fmt: skip
        super().__init__(name="fetch-writer", daemon=True)
        self.store = store
        self.parse = parse  # parses the jobs of a run once it is saved (``Crawl``'s ``parse``)
        self.parsed = 0
        self.repo = repo
        self.logs = logs
        self.release = release
        self.queue: queue.Queue[RunWork | PageDone | CachedAnswer | WorkflowFile | ContextFill | None] = queue.Queue()
        self.error: BaseException | None = None
        self.done: set[int] = set()
        self.failed: set[int] = set()
        self.pages: list[PageDone] = []
        self.runs_fetched = self.jobs = self.logs_ok = self.logs_expired = self.logs_missing = self.annotated = 0
        self.unfetched: list[Unfetched] = []

    def run(self) -> None:
        while True:
            item = self.queue.get()
            if item is None:
                return
            if self.error is None:
                try:
                    self._save(item)
                except BaseException as exc:  # a store that cannot be written stops the fetch
                    self.error = exc
            if isinstance(item, RunWork) and item.track:
                self.release()
            if isinstance(item, RunWork) and item.jobs and self.parse is not None and self.error is None:
                self._parse([job.job_id for job in item.jobs])

    def _parse(self, job_ids: list[int]) -> None:
        """Parse a saved run's jobs while the next runs are fetched, each job in its own transaction as
        ``reparse`` does. Best effort: a job it fails on stays stale, and the fetch's closing
        ``reparse`` (which parses every job still stale) meets the failure there, as without this."""
        assert self.parse is not None
        try:
            self.parsed += self.parse(job_ids)
        except Exception:  # left to the closing reparse, which reports it
            return

    def _save(self, item: RunWork | PageDone | CachedAnswer | WorkflowFile | ContextFill) -> None:
        store = self.store
        if isinstance(item, RunWork):
            self._save_run(item)
        elif isinstance(item, ContextFill):
            store.fill_run_context(item.run)
        elif isinstance(item, PageDone):
            self.pages.append(item)
        elif isinstance(item, CachedAnswer):
            store.save_http_cache(item.key, item.etag, item.payload)
        else:
            with store.transaction():
                store.save_workflow_file(item.repo, item.path, item.ref, item.content)
                if item.cache is not None:
                    store.save_http_cache(item.cache.key, item.cache.etag, item.cache.payload)
        self._settle_pages()

    def _save_run(self, work: RunWork) -> None:
        store = self.store
        with store.transaction():
            for run in work.runs or [work.run]:
                store.save_run(run)
            for job in work.jobs:
                store.save_job(job)
            for job_id, log in work.logs.items():
                store.save_log(job_id, log.data, state=log.state)
            for job_id, notes in work.notes.items():
                store.save_annotations(job_id, notes)
                store.mark_annotations_fetched(job_id)
            if work.track and work.complete:
                run = work.run
                store.mark_run_fetched(self.repo, run.run_id, run.run_attempt, work.updated_at, logs=self.logs)
        if not work.track:
            return
        if work.complete:
            self.done.add(work.run.run_id)
            self.runs_fetched += 1
        else:
            self.failed.add(work.run.run_id)
        self.jobs += len(work.jobs)
        states = [log.state for log in work.logs.values()]
        self.logs_ok += states.count("ok")
        self.logs_expired += states.count("expired")
        self.logs_missing += states.count("missing")
        self.annotated += len(work.notes)
        names = {job.job_id: job.name for job in work.jobs}
        for job_id, log in work.logs.items():
            if log.state != "ok":
                self.unfetched.append(Unfetched(log.state, work.run.run_id, job_id, names.get(job_id)))

    def _settle_pages(self) -> None:
        for page in list(self.pages):
            if page.runs & self.failed:
                self.pages.remove(page)
            elif page.runs <= self.done:
                self.store.save_http_cache(page.key, page.etag, page.payload)
                self.pages.remove(page)
