"""``we-advisor fetch --org ORG`` / ``--repos-file FILE``: many repositories, many workers, one store.

The repositories are shared through the store (``store/queue.py``): every worker, in this process
tree (``--workers N``) or on another machine running the same command against the same store,
claims the next repository nobody works on, fetches it as ``fetch --repo`` would (its lock held),
and marks it done. A worker that dies leaves its repository's lock free, and the next worker that
looks takes it over; one that loses the store (a server restart) reconnects with backoff and goes
on. A round ends when every repository is done; the next command starts the next round.

``--workers N`` forks N worker processes, each with its own token when ``GITHUB_TOKENS`` holds
several (quota is per token) and a store connection of its own.
"""

from __future__ import annotations

import contextlib
import hashlib
import multiprocessing
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from analyzer.collect.fetch import check_options, fetch_locked
from analyzer.collect.github import AUTH_HINT, DEFAULT_API_URL, PER_PAGE, ClientPolicy, GitHubClient
from analyzer.collect.summary import FetchSummary
from analyzer.config import Settings, is_repo_name
from analyzer.errors import AdvisorError, AuthError, ConfigError, InputError, NotFoundError, StoreError
from analyzer.redaction import add_secret
from analyzer.store import Store
from analyzer.store.queue import CrawlQueue, QueueEntry

T = TypeVar("T")
DEFAULT_LEASE_S = 120.0
RECONNECT_S = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0)  # waits between tries to reach a store that went away
TOKENS_ENV = "GITHUB_TOKENS"


@dataclass(slots=True)
class WorkerSummary:
    """What one worker did in a round."""

    queue: str
    round: int
    owner: str
    fetched: list[FetchSummary] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # repository -> why
    stopped: AdvisorError | None = None  # the rate limit ran out (the rest is left to others)
    reconnects: int = 0

    def line(self) -> str:
        text = f"worker {self.owner}: {len(self.fetched)} repositor{'y' if len(self.fetched) == 1 else 'ies'} fetched"
        if self.failed:
            text += f", {len(self.failed)} failed"
        if self.reconnects:
            text += f", {self.reconnects} reconnect(s) to the store"
        return text + f" (round {self.round} of {self.queue})"


@dataclass(frozen=True, slots=True)
class RoundState:
    """A round as the queue holds it, for the closing lines."""

    queue: str
    round: int
    entries: tuple[QueueEntry, ...]

    def lines(self) -> list[str]:
        done = [e for e in self.entries if e.done]
        failed = [e for e in done if e.error]
        left = len(self.entries) - len(done)
        text = (
            f"{self.queue}: round {self.round}: {len(self.entries)} repositories, {len(done) - len(failed)} fetched, "
            f"{len(failed)} failed" + (f", {left} not done (run the same command again)" if left else "")
        )
        return [text, *(f"  failed: {e.repo}: {e.error}" for e in failed)]

    @property
    def ok(self) -> bool:
        return all(e.done and not e.error for e in self.entries)


# -- what to crawl --------------------------------------------------------------------------------


def queue_name(org: str | None, repos_file: Path | None, repos: Sequence[str]) -> str:
    """The queue every worker of the same command agrees on: ``org:NAME``, or the file's repositories."""
    if org:
        return f"org:{org.lower()}"
    digest = hashlib.sha256("\n".join(sorted(r.lower() for r in repos)).encode()).hexdigest()[:12]
    return f"repos:{repos_file.name if repos_file else 'list'}:{digest}"


def read_repos_file(path: Path) -> list[str]:
    """OWNER/NAME per line; blank lines and ``#`` comments are skipped."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read --repos-file {path}: {getattr(exc, 'strerror', None) or exc}",
                         hint="one OWNER/NAME per line") from None  # fmt: skip
    repos: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        name = line.split("#", 1)[0].strip().strip("/")
        if not name:
            continue
        if not is_repo_name(name):
            raise InputError(f"{path}:{number}: {name[:80]!r} is not OWNER/NAME", hint="one OWNER/NAME per line")
        repos.append(name)
    if not repos:
        raise InputError(f"--repos-file {path} names no repository", hint="one OWNER/NAME per line")
    return sorted(set(repos), key=str.lower)


def list_org_repos(client: GitHubClient, org: str) -> list[str]:
    """The repositories of ``org`` (or of the user ``org``) that can have Actions runs: not archived,
    not disabled."""
    what = f"the repositories of {org}"
    try:
        items = client.get_all(f"/orgs/{org}/repos?type=all&per_page={PER_PAGE}", "repositories", what=what)
    except NotFoundError:
        items = client.get_all(f"/users/{org}/repos?type=owner&per_page={PER_PAGE}", "repositories", what=what)
    names = [str(r["full_name"]) for r in items
             if isinstance(r, dict) and r.get("full_name") and not r.get("archived") and not r.get("disabled")]  # fmt: skip
    return sorted(set(names), key=str.lower)


def worker_tokens(environ: dict[str, str] | None = None) -> list[str]:
    """``GITHUB_TOKENS``: tokens separated by commas, spaces or newlines, or the path of a file of them
    (one a line); else the one token of ``GITHUB_TOKEN``/``GH_TOKEN``. Every one is a secret."""
    env = os.environ if environ is None else environ
    raw = (env.get(TOKENS_ENV) or "").strip()
    if raw and Path(raw).is_file():
        try:
            raw = Path(raw).read_text(encoding="utf-8")
        except OSError as exc:
            raise AuthError(f"cannot read {TOKENS_ENV} file: {exc.strerror}", hint="check the path") from None
    tokens = [t for t in raw.replace(",", " ").split() if not t.startswith("#")]
    if not tokens:
        single = env.get("GITHUB_TOKEN") or env.get("GH_TOKEN")
        tokens = [single] if single else []
    for token in tokens:
        add_secret(token)
    return tokens


# -- one worker -------------------------------------------------------------------------------------


class _Heartbeat:
    """Renews the lease of the repository being fetched, on a connection of its own."""

    def __init__(self, queue: CrawlQueue, location: str, owner: str, lease_s: float) -> None:
        self.location, self.owner, self.lease_s, self.name = location, owner, lease_s, queue.name
        self.repo: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lease-heartbeat", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        store: Store | None = None
        while not self._stop.wait(max(0.2, self.lease_s / 3)):
            repo = self.repo
            if repo is None:
                continue
            try:
                store = store or Store(self.location)
                CrawlQueue(store, self.name).renew(repo, self.owner, self.lease_s)
            except Exception:  # the store is away: the fetch itself will notice; try again next beat
                if store is not None:
                    with contextlib.suppress(Exception):
                        store.close()
                store = None
        if store is not None:
            store.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


def run_worker(
    settings: Settings,
    store: Store,
    *,
    queue: str,
    repos: Callable[[], Sequence[str]],
    token: str,
    lease_s: float = DEFAULT_LEASE_S,
    poll_s: float = 0.2,
    on_repo: Callable[[FetchSummary], None] | None = None,
    on_warning: Callable[[str], None] | None = None,
    **fetch_options: Any,
) -> WorkerSummary:
    """Work on ``queue``'s current round (starting one from ``repos()`` when none is in progress)
    until every repository is done, or the rate limit stops this worker."""
    if lease_s < 1:
        raise ConfigError(f"--lease {lease_s} is too short", hint="seconds a worker's claim lasts, e.g. 120")
    check_options(concurrency=fetch_options.get("concurrency", 4), max_runs=fetch_options.get("max_runs"))
    work = CrawlQueue(store, queue)

    def begin() -> int:
        number, in_progress = work.current()
        return number if in_progress else work.start(repos())[0]

    number = resilient(store, begin, on_warning)
    owner = f"{socket.gethostname()}:{os.getpid()}"
    summary = WorkerSummary(queue, number, owner)
    beat = _Heartbeat(work, store.location.url or str(store.path), owner, lease_s)
    try:
        while summary.stopped is None:
            try:
                claimed = work.claim(number, owner, lease_s)
                if claimed is None:
                    if work.settle(number):
                        break
                    time.sleep(poll_s)  # the rest is being fetched by others (or waits for a dead worker's lock)
                    continue
                _fetch_one(settings, store, work, number, claimed, summary, beat, token, on_repo, on_warning,
                           fetch_options)  # fmt: skip
            except Exception as exc:
                if store.alive():
                    raise
                summary.reconnects += 1
                _reconnect(store, exc, on_warning)
    finally:
        beat.close()
    return summary


def _fetch_one(
    settings: Settings, store: Store, work: CrawlQueue, number: int, claimed: tuple[str, Any], summary: WorkerSummary,
    beat: _Heartbeat, token: str, on_repo: Callable[[FetchSummary], None] | None,
    on_warning: Callable[[str], None] | None, options: dict[str, Any],
) -> None:  # fmt: skip
    repo, lock = claimed
    beat.repo = repo
    try:
        result = fetch_locked(settings, store, repo=repo, token=token, on_warning=on_warning, parse_while_fetching=True,
                              **options)  # fmt: skip
    except AuthError as exc:  # this worker's token is no good: leave the repository to the others
        work.release(repo)
        summary.stopped = exc
        return
    except AdvisorError as exc:
        if not store.alive():
            raise
        work.finish(number, repo, error=exc.message)
        summary.failed[repo] = exc.message
        return
    finally:
        beat.repo = None
        lock.release()
    if result.stopped is not None:  # out of rate limit: what was fetched is kept, the rest left to others
        work.release(repo)
        summary.stopped = result.stopped
    else:
        work.finish(number, repo, error="; ".join(result.failures[:3]) or None)
        if result.failures:
            summary.failed[repo] = "; ".join(result.failures[:3])
    summary.fetched.append(result)
    if on_repo is not None:
        on_repo(result)


def resilient(store: Store, step: Callable[[], T], on_warning: Callable[[str], None] | None, *, tries: int = 3) -> T:
    """``step()``, again after reconnecting when the store went away while it ran (a server restart)."""
    for attempt in range(tries):
        try:
            return step()
        except Exception as exc:
            if attempt == tries - 1 or store.alive():
                raise
            _reconnect(store, exc, on_warning)
    raise AssertionError("unreachable")


def _reconnect(store: Store, exc: BaseException, on_warning: Callable[[str], None] | None) -> None:
    """The store went away: reach it again, waiting longer each time; give up after ~1 minute."""
    if on_warning is not None:
        on_warning(f"lost the store {store.name} ({' '.join(str(exc).split())[:200]}); reconnecting")
    for wait in RECONNECT_S:
        time.sleep(wait)
        with contextlib.suppress(Exception):
            store.reconnect()
            if store.alive():
                return
    raise StoreError(
        f"cannot reach the store {store.name} again",
        hint="check the database server; run the same command again: every repository fetched so far is kept",
    ) from None


def round_state(store: Store, queue: str, on_warning: Callable[[str], None] | None = None) -> RoundState:
    def read() -> RoundState:
        work = CrawlQueue(store, queue)
        number, _ = work.current()
        return RoundState(queue, number, tuple(work.entries()))

    return resilient(store, read, on_warning)


# -- the command ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ManyFetched:
    """``fetch --org`` / ``--repos-file``: this process's worker (None when it only supervised
    ``--workers N`` processes), the round as the store holds it, and the exit code."""

    worker: WorkerSummary | None
    state: RoundState
    exit_code: int


def fetch_org(
    settings: Settings,
    store: Store,
    *,
    org: str | None = None,
    repos_file: Path | None = None,
    workers: int = 1,
    lease: float = 120.0,
    repo: str | None = None,
    run_ids: Sequence[int] = (),
    api_url: str | None = None,
    max_wait: float = 300.0,
    on_repo: Callable[[Any], None] | None = None,
    on_line: Callable[[str], None] | None = None,
    on_warning: Callable[[str], None] | None = None,
    explain: Callable[[BaseException], tuple[list[str], int]],
    **options: Any,
) -> ManyFetched:
    """``fetch --org ORG`` / ``--repos-file FILE`` (``api.fetch_many``): this process works on the queue's
    round, or with ``workers`` > 1 forks that many workers, each with a store connection of its own and
    the token ``GITHUB_TOKENS`` gives it. ``explain`` turns a worker's failure into its stderr lines
    and exit code."""
    if not org and not repos_file:
        raise ConfigError(f"--workers {workers} needs --org or --repos-file", hint="one fetch of --repo runs in one process")
    if org and repos_file:
        raise ConfigError("name the repositories one way", hint="pass --org ORG or --repos-file FILE, not both")
    if repo or run_ids:
        raise ConfigError("--org and --repos-file fetch whole repositories", hint="leave out --repo and --run-id")
    options.pop("lock_wait", None)  # a worker never waits for a repository: it takes another
    if workers < 1 or workers > 64:
        raise ConfigError(f"--workers {workers} is out of range", hint="use 1 to 64 worker processes")
    listed = read_repos_file(repos_file) if repos_file else None
    name = queue_name(org, repos_file, listed or ())
    tokens = worker_tokens()
    if not tokens:
        raise AuthError("no GitHub token", hint="set GITHUB_TOKEN (or GITHUB_TOKENS: one token per worker)")
    policy = options.pop("policy", None)

    def repos() -> list[str]:
        if listed is not None:
            return listed
        with org_client(tokens[0], api_url, max_wait, policy) as client:
            return list_org_repos(client, str(org))

    def work(store: Store, token: str) -> WorkerSummary:
        return run_worker(
            settings, store, queue=name, repos=repos, token=token, lease_s=lease, on_repo=on_repo,
            on_warning=on_warning, api_url=api_url, max_wait=max_wait, policy=policy, **options,
        )  # fmt: skip

    if workers > 1:
        work_queue = CrawlQueue(store, name)
        if not work_queue.current()[1]:
            work_queue.start(repos())
        location = store.location.url or str(store.path)
        say = on_line or (lambda _: None)

        def worker(_: int, token: str) -> int:
            try:
                with Store(location) as own:
                    done = work(own, token)
                say(done.line())
                return 1 if done.stopped is not None or done.failed else 0
            except (Exception, KeyboardInterrupt) as exc:
                lines, code = explain(exc)
                for line in lines:
                    say(line)
                return code

        code = run_workers(workers, tokens, worker, on_line=say)
        state = round_state(store, name)
        return ManyFetched(None, state, max(code, 0 if state.ok else 1))
    summary = work(store, tokens[0])
    state = round_state(store, name, on_warning)
    failed = summary.stopped is not None or bool(summary.failed) or not state.ok
    return ManyFetched(summary, state, 1 if failed else 0)


# -- N workers ------------------------------------------------------------------------------------


def run_workers(
    workers: int, tokens: Sequence[str], work: Callable[[int, str], int], *, on_line: Callable[[str], None]
) -> int:
    """``workers`` processes, each running ``work(i, token)`` (token ``i`` of ``tokens``, round robin) and
    exiting with its result; what they write on stderr comes back line by line, prefixed
    ``[worker i]``. Returns the highest exit code (a worker killed by a signal counts as 1).

    The processes are forked, so they start at once with everything imported; ``work`` opens a
    store connection of its own (a forked child never uses its parent's).
    """
    if not tokens:
        raise AuthError("no GitHub token", hint=AUTH_HINT)
    if not hasattr(os, "fork"):
        raise ConfigError("--workers needs a system with fork (Linux, macOS)", hint="run the command once per worker")
    context = multiprocessing.get_context("fork")
    children, readers = [], []
    for i in range(workers):
        read_end, write_end = os.pipe()
        child = context.Process(target=_child, args=(work, i, tokens[i % len(tokens)], write_end), daemon=False)
        child.start()
        os.close(write_end)
        children.append(child)
        readers.append(read_end)
    lock = threading.Lock()

    def relay(i: int, fd: int) -> None:
        with open(fd, encoding="utf-8", errors="replace") as stream:
            for line in stream:
                with lock:
                    on_line(f"[worker {i + 1}] {line.rstrip()}")

    threads = [threading.Thread(target=relay, args=(i, fd), daemon=True) for i, fd in enumerate(readers)]
    for thread in threads:
        thread.start()
    try:
        for child in children:
            child.join()
    except KeyboardInterrupt:
        for child in children:
            child.join(timeout=10)
        raise
    for thread in threads:
        thread.join()
    return max((1 if (c.exitcode or 0) < 0 else int(c.exitcode or 0) for c in children), default=0)


def _child(work: Callable[[int, str], int], i: int, token: str, write_end: int) -> None:
    """In a worker process: stderr into the pipe to the parent, then the work; its result is the exit code."""
    sys.stderr.flush()
    os.dup2(write_end, 2)
    os.close(write_end)
    add_secret(token)
    code = work(i, token)
    sys.stderr.flush()
    sys.exit(code)


def org_client(token: str, api_url: str | None, max_wait: float, policy: ClientPolicy | None) -> GitHubClient:
    return GitHubClient(token, api_url=api_url or DEFAULT_API_URL, max_wait_s=max_wait, policy=policy)
