"""A per-user cache of values derived from content, so that a command does not derive them again.

Its uses: the report's compiled templates (``present.html``, through jinja2's bytecode cache), and parsed
workflow files (``advise.workflows.parse_workflow``). ruamel.yaml's round-trip parser,
which keeps the positions a patch edits, takes about 0.1 s for a workflow of 1,500 lines, so a repository
with ten large workflows paid a second in every ``recommend``, ``report`` and ``check`` before a number was
computed. Each value is a pickle named by a hash of everything it was derived from (the content, the
deriving code, the library's version): a changed input is a new name, never a stale value.

Where: ``$WE_ADVISOR_CACHE_DIR`` if set (``off`` turns the cache off; a directory whose parents only this user
may change), else ``we-advisor-cache-<uid>`` in the temporary directory. Files are written ``0600``. It is used only when it is a directory of this user that no one else may write (made
``0700``), because a pickle is code; any problem (a full disk, a torn or foreign file) means the value is
derived again, never an error; and a value is read back only as the classes its user allows (a restricted
unpickler), so even a planted file builds nothing else. Safe to delete.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import stat
import tempfile
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

CACHE_ENV = "WE_ADVISOR_CACHE_DIR"


def directory() -> Path | None:
    """The cache directory, made if missing; None when the cache is off or the directory is not safe to use."""
    configured = os.environ.get(CACHE_ENV, "")
    if configured.strip().lower() == "off":
        return None
    uid = os.getuid() if hasattr(os, "getuid") else None
    base = Path(configured) if configured else Path(tempfile.gettempdir()) / f"we-advisor-cache-{uid if uid is not None else 'user'}"
    try:
        base.mkdir(mode=0o700, parents=bool(configured), exist_ok=True)
        info = base.lstat()
    except OSError:
        return None
    if not stat.S_ISDIR(info.st_mode) or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return None
    if uid is not None and info.st_uid != uid:
        return None
    return base


def key(*parts: str | bytes) -> str:
    """A name for what was derived from ``parts`` (each part delimited: no two lists give one name)."""
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode("utf-8", "surrogatepass") if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.hexdigest()


class _Only(pickle.Unpickler):
    """An unpickler that builds only the classes it is given (``find_class`` refuses every other global)."""

    def __init__(self, data: bytes, allowed: Mapping[str, Collection[str]]) -> None:
        super().__init__(io.BytesIO(data))
        self.allowed = allowed

    def find_class(self, module: str, name: str) -> Any:
        if name in self.allowed.get(module, ()):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{module}.{name} is not expected in this cache")


def load(kind: str, name: str, allowed: Mapping[str, Collection[str]]) -> Any | None:
    """The value saved as ``kind``/``name``, or None (none saved, or unreadable). Only the classes ``allowed``
    (module → names) are built: a file that holds anything else is read as none."""
    where = directory()
    if where is None:
        return None
    try:
        data = (where / f"{kind}-{name}.pickle").read_bytes()
        return _Only(data, allowed).load()  # (this user's own 0700 directory, and only the allowed classes)
    except Exception:  # a torn or foreign file: derived again, and saved over
        return None


def save(kind: str, name: str, value: Any) -> bool:
    """Keep ``value`` as ``kind``/``name`` (written whole, then renamed into place); False if it could not be."""
    where = directory()
    if where is None:
        return False
    final = where / f"{kind}-{name}.pickle"
    tmp: Path | None = None
    try:
        data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        handle, named = tempfile.mkstemp(dir=where, prefix=f".{kind}-", suffix=".tmp")  # 0600, a name of its own
        tmp = Path(named)
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        tmp.replace(final)
    except Exception:  # (not picklable, a full disk, …): the value is derived again next time
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        return False
    return True
