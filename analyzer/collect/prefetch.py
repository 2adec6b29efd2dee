"""Ingest of many logs: the jobs parsed and packed ahead by worker processes, saved by this one.

Parsing a job (``parse.reparse.parse_in_memory``) and packing its raw log (``store.store.pack_log``)
touch no store, so forked workers do them while the main process writes, in the order ingest
has always written: the workers only *prepare*; every row is still written by the main process,
in the same transactions, so the store holds the same rows as a serial ingest and a killed ingest
leaves it as before.

The workers work from a guess of each job's record (what ``collect.ingest`` will save for a new
job), made before anything is written; the main process takes a prepared job only when the record
it saves is that guess (else, and whenever a worker failed on a job, it parses the job itself, as
before, so an error or a warning is the same either way). Workers are forked after the inputs are
read, so they see the logs in memory without their being sent to them; what comes back is the
analysis and the packed logs.

Measured on 2 CPUs (benchmarks/README.md, "Ingest"): below ``MIN_BYTES`` of logs a pool's start costs
more than it saves (32 logs, 1.2 MB: 0.21 s against 0.20 s in one process; 64 logs, 2.5 MB: 0.23 s
against 0.26 s; 256 logs, 13 MB: 0.52 s against 0.69 s; medians of 5).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from analyzer.config import PhaseRule
from analyzer.parse.reparse import Parsed, parse_in_memory
from analyzer.records import Job, LogPart
from analyzer.store.store import PackedLog, pack_log

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor

MIN_BYTES = 2 << 20  # less log than this is parsed in the main process (a pool's start costs ~0.03 s)
MIN_JOBS = 2
CHUNK_BYTES = 1 << 20  # jobs sent to a worker together: up to this much log (one IPC round each, not one per job)
CHUNK_JOBS = 32


@dataclass(frozen=True, slots=True)
class Prepared:
    """A job parsed and its log parts packed, by a worker."""

    parsed: Parsed
    packed: list[PackedLog]


T = TypeVar("T")
R = TypeVar("R")

# What forked workers read: set by ``Prefetch`` and ``fork_map`` before their workers are forked (never sent
# through a pipe).
_TASKS: list[tuple[Job, list[LogPart]]] = []
_RULES: list[PhaseRule] = []
_MAP: list[Any] = []  # fork_map's function and items


def _worker_start(parent: int) -> None:
    """A worker leaves Ctrl-C to the main process (which rolls back and stops it), and ends when the main
    process is gone (killed: else it would wait forever for work, or to hand back what it did)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.2)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def _pool(workers: int) -> ProcessPoolExecutor:
    import multiprocessing  # (imported when there are workers to start: ~0.01 s)
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(
        workers, mp_context=multiprocessing.get_context("fork"), initializer=_worker_start, initargs=(os.getpid(),)
    )


def _prepare_one(index: int) -> Prepared | None:
    job, parts = _TASKS[index]
    try:
        parsed = parse_in_memory(job, parts, (), _RULES)
        return Prepared(parsed, [pack_log(part.data) for part in parts])
    except Exception:  # parsed again by the main process, which reports it as a serial ingest does
        return None


def _prepare(first: int, end: int) -> list[Prepared | None]:
    return [_prepare_one(i) for i in range(first, end)]


def _chunks(sizes: Sequence[int]) -> list[tuple[int, int]]:
    """Consecutive tasks grouped up to ``CHUNK_BYTES`` or ``CHUNK_JOBS`` (a bigger job alone): ``(first, end)``."""
    out: list[tuple[int, int]] = []
    first = total = 0
    for i, size in enumerate(sizes):
        if i > first and (total + size > CHUNK_BYTES or i - first >= CHUNK_JOBS):
            out.append((first, i))
            first, total = i, 0
        total += size
    if first < len(sizes):
        out.append((first, len(sizes)))
    return out


def _map_chunk(first: int, end: int) -> list[Any]:
    function, items = _MAP
    return [function(items[i]) for i in range(first, end)]


def fork_map(function: Callable[[T], R], items: Sequence[T], sizes: Sequence[int]) -> list[R]:
    """``[function(item) for item in items]``, by forked workers when they pay (``workers_for``: ``sizes``
    are the items' bytes of log). The items are inherited by the fork, not sent; the results come back
    pickled, in order. ``function`` must not raise (its own errors are part of what it returns); if a
    worker dies, the items are done here."""
    workers = workers_for(len(items), sum(sizes))
    if not workers:
        return [function(item) for item in items]
    _MAP[:] = [function, items]
    try:
        with _pool(workers) as pool:
            futures = [pool.submit(_map_chunk, first, end) for first, end in _chunks(sizes)]
            return [result for future in futures for result in future.result()]
    except Exception:  # a worker that died (BrokenProcessPool)
        return [function(item) for item in items]
    finally:
        _MAP.clear()


def _order(sizes: Sequence[int]) -> list[int]:
    """The order chunks of ``sizes`` bytes are sent in: the ordinary ones as they come, each followed by
    one of those bigger than ``CHUNK_BYTES`` (single big logs), biggest first, while there are any."""
    big = sorted((c for c, size in enumerate(sizes) if size > CHUNK_BYTES), key=lambda c: -sizes[c])
    small = [c for c, size in enumerate(sizes) if size <= CHUNK_BYTES]
    out: list[int] = []
    for i in range(max(len(small), len(big))):
        out += small[i : i + 1] + big[i : i + 1]
    return out


def workers_for(jobs: int, size: int) -> int:
    """How many worker processes ``jobs`` jobs of ``size`` bytes of logs in all are worth: none on one CPU,
    without fork, for one job or for little log."""
    cpus = os.cpu_count() or 1
    if cpus < 2 or jobs < MIN_JOBS or size < MIN_BYTES or not hasattr(os, "fork"):
        return 0
    return min(cpus, jobs)


class Prefetch:
    """Jobs prepared by worker processes, each guessed ``(key, job, parts)`` of ``tasks``; ``take`` hands
    one over. Without workers (``workers_for``) it prepares nothing and ``take`` says so.

    Every task is sent at once (``_order``): the chunks in the order they are saved, so that the main
    process writes while the workers parse, with the logs bigger than a chunk, biggest first, between
    them (one such log last would keep one worker busy alone at the end). What comes back (the analysis
    and packed logs: about a seventh of the logs' size) waits for its turn in memory beside the logs,
    which are all in memory already."""

    def __init__(self, tasks: Sequence[tuple[object, Job, list[LogPart]]], rules: Sequence[PhaseRule]) -> None:
        self._index = {id(key): i for i, (key, _, _) in enumerate(tasks)}
        self._jobs = [job for _, job, _ in tasks]
        self._pool: ProcessPoolExecutor | None = None
        self._chunk_of: list[int] = []
        self._futures: list[Future[list[Prepared | None]]] = []
        self._bounds: list[tuple[int, int]] = []
        sizes = [sum(len(p.data or b"") for p in parts) for _, _, parts in tasks]
        workers = workers_for(len(tasks), sum(sizes))
        if not workers:
            return
        from analyzer.parse import context, observe  # what a worker needs, imported once before the fork
        from analyzer.parse.logs import quiet

        del context, observe
        if sum(sizes) > quiet.PLAIN_BUDGET:  # as one process would import it (else each worker would, once)
            quiet.import_numpy()

        _TASKS[:] = [(job, parts) for _, job, parts in tasks]
        _RULES[:] = rules
        self._bounds = _chunks(sizes)
        self._chunk_of = [c for c, (first, end) in enumerate(self._bounds) for _ in range(first, end)]
        self._pool = _pool(workers)
        futures: dict[int, Future[list[Prepared | None]]] = {}
        for c in _order([sum(sizes[first:end]) for first, end in self._bounds]):  # forks the workers at the first
            futures[c] = self._pool.submit(_prepare, *self._bounds[c])
        self._futures = [futures[c] for c in range(len(self._bounds))]

    @property
    def active(self) -> bool:
        return self._pool is not None

    def take(self, key: object, job: Job) -> Prepared | None:
        """The prepared job for ``key`` if its guessed record is ``job``; None: parse it here."""
        at = self._index.get(id(key))
        if self._pool is None or at is None or self._jobs[at] != job:
            return None
        chunk = self._chunk_of[at]
        try:
            prepared = self._futures[chunk].result()
        except Exception:  # a worker that died (BrokenProcessPool): this job is parsed here
            return None
        return prepared[at - self._bounds[chunk][0]]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self._futures = []
        _TASKS.clear()
        _RULES.clear()
