"""A store's life around one command: created on demand, locked while fetched into, discarded when
a failed first command left it empty."""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path

from analyzer.errors import AdvisorError, StoreError
from analyzer.store.store import Store


@contextlib.contextmanager
def open_store(path: Path, *, create: bool = False) -> Iterator[Store]:
    """The store at ``path``, as a context. A store this call created is removed again if the block
    fails before anything was saved in it: a failed first command leaves no file behind."""
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
    for folder in created[1:]:
        try:
            folder.rmdir()
        except OSError:
            break


@contextlib.contextmanager
def store_lock(store: Store) -> Iterator[None]:
    """Hold ``<store>.lock`` (flock) for the whole fetch; a second fetch of the same store is refused."""
    if str(store.path) == ":memory:":
        yield
        return
    path = store.path.with_name(store.path.name + ".lock")
    try:
        handle = path.open("a+")
    except OSError as exc:
        raise StoreError(f"cannot create the lock file {path}: {exc.strerror}", hint="check the store's folder") from None
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise StoreError(
                f"another `we-advisor fetch` is writing {store.path}",
                hint="wait for it to finish (or stop it), or pass another --store",
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    finally:
        handle.close()
