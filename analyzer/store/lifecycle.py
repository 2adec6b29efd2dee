"""A store's life around one command: created on demand, locked per repository while fetched into,
discarded when a failed first command left it empty."""

from __future__ import annotations

import contextlib
import fcntl
import glob
import hashlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from analyzer.errors import AdvisorError, StoreError
from analyzer.store.connection import POSTGRES
from analyzer.store.location import is_url
from analyzer.store.store import Store


@contextlib.contextmanager
def open_store(path: Path | str, *, create: bool = False) -> Iterator[Store]:
    """The store at ``path`` (a file, or a ``postgresql://`` URL), as a context. A store file this
    call created is removed again if the block fails before anything was saved in it: a failed
    first command leaves no file behind."""
    if is_url(path):
        with Store(path, create=create) as db:
            yield db
        return
    path = Path(path)
    created = _missing_ancestors(path) if create else []
    try:
        with Store(path, create=create) as db:
            yield db
    except BaseException:
        if created:
            _discard_empty_store(path, created)
        raise


def _missing_ancestors(path: Path) -> list[Path]:
    """``path`` and its folders that do not exist yet, deepest first ([] if ``path`` exists)."""
    missing = []
    for candidate in (path, *path.parents):
        if candidate.exists() or str(candidate) in ("", "."):
            break
        missing.append(candidate)
    return missing


def _discard_empty_store(store: Path, created: list[Path]) -> None:
    try:
        with Store(store, create=False) as db:
            if any(db.counts().values()):
                return
    except AdvisorError:
        return
    for suffix in ("", "-wal", "-shm", "-journal", ".lock"):
        store.with_name(store.name + suffix).unlink(missing_ok=True)
    for lock in store.parent.glob(f"{glob.escape(store.name)}.repo-*.lock"):
        lock.unlink(missing_ok=True)
    for folder in created[1:]:
        try:
            folder.rmdir()
        except OSError:
            break


@contextlib.contextmanager
def store_lock(store: Store) -> Iterator[None]:
    """The whole store, for one writer alone: no fetch of any repository runs while it is held."""
    with _held(store, None, wait=0.0, on_wait=None):
        yield


@contextlib.contextmanager
def repo_lock(
    store: Store, repo: str, *, wait: float = 0.0, on_wait: Callable[[str], None] | None = None
) -> Iterator[None]:
    """Hold ``repo``'s lock for a whole fetch: a second fetch of the same repository waits up to
    ``wait`` seconds for it, then is refused; fetches of other repositories go on beside it.

    SQLite: ``flock`` on ``<store>.repo-<key>.lock`` (an empty file, left for the next fetch) and a
    shared lock on ``<store>.lock``, which ``store_lock`` takes exclusively. PostgreSQL: session advisory locks, released by the server
    when the connection ends, however the process ended.
    """
    with _held(store, repo, wait=wait, on_wait=on_wait):
        yield


class RepoLock:
    """One held lock (see ``repo_lock``); ``acquire`` tries once, ``release`` gives it back."""

    def __init__(self, store: Store, repo: str | None) -> None:
        self.store, self.repo = store, repo
        self.key = repo.lower() if repo else None
        self._handles: list[Any] = []
        self._pg: list[tuple[int, int, bool]] = []
        self.blocked_by: str | None = None  # "store" or the repository, when acquire failed

    def acquire(self) -> bool:
        """Take the lock if it is free now; True when it is held."""
        if str(self.store.path) == ":memory:":
            return True
        wanted = [("store", self.key is not None)]  # (what, shared)
        if self.key is not None:
            wanted.append((self.key, False))
        try:
            for what, shared in wanted:
                if not self._take(what, shared):
                    self.release()
                    self.blocked_by = what
                    return False
        except BaseException:
            self.release()
            raise
        return True

    def _take(self, what: str, shared: bool) -> bool:
        if self.store.dialect == POSTGRES:
            from analyzer.store.postgres import REPO_SPACE, STORE_SPACE, key32

            space, key = (STORE_SPACE, 0) if what == "store" else (REPO_SPACE, key32(what))
            if not self.store.conn.try_lock(space, key, shared=shared):
                return False
            self._pg.append((space, key, shared))
            return True
        path = self.store.path.with_name(self.store.path.name + ".lock")
        if what != "store":  # an empty lock file per repository, beside the store: <store>.repo-<hash>.lock
            path = self.store.path.with_name(f"{self.store.path.name}.repo-{hashlib.sha256(what.encode()).hexdigest()[:16]}.lock")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handle = path.open("a+")
        except OSError as exc:
            raise StoreError(f"cannot create the lock file {path}: {exc.strerror}", hint="check the store's folder") from None
        try:
            fcntl.flock(handle.fileno(), (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._handles.append(handle)
        return True

    def release(self) -> None:
        for handle in reversed(self._handles):
            with contextlib.suppress(OSError):
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
            handle.close()
        self._handles.clear()
        for space, key, shared in reversed(self._pg):
            with contextlib.suppress(Exception):  # a connection that is gone holds nothing any more
                self.store.conn.unlock(space, key, shared=shared)
        self._pg.clear()


@contextlib.contextmanager
def _held(store: Store, repo: str | None, *, wait: float, on_wait: Callable[[str], None] | None) -> Iterator[None]:
    lock = RepoLock(store, repo)
    deadline = time.monotonic() + max(0.0, wait)
    told = False
    while not lock.acquire():
        left = deadline - time.monotonic()
        if left <= 0:
            detail = f" (fetching {repo})" if lock.blocked_by not in (None, "store") else ""
            raise StoreError(
                f"another `we-advisor fetch` is writing {store.name}{detail}",
                hint="wait for it to finish (or stop it), pass --lock-wait SECONDS to wait for it, or use another --store",
            )
        if on_wait is not None and not told:
            on_wait(f"another fetch {'of ' + repo + ' ' if repo else ''}is writing {store.name}; waiting up to {wait:.0f}s")
            told = True
        time.sleep(min(0.25, left))
    try:
        yield
    finally:
        lock.release()
