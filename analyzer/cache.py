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

It does not grow for good (every edit of a workflow, and every release of we-advisor, leaves files of a few
KB): each save removes the values not used for ``UNUSED_S`` (30 days; a value read is marked used, its file's
time set) and, past ``MAX_VALUES``, the least recently used down to ``KEEP_VALUES``; the compiled templates
written more than ``UNUSED_S`` ago (compiled again, in milliseconds, when next needed); and what a save killed
mid-way left, after an hour. Only files named as the cache names its own are touched: the directory
``$WE_ADVISOR_CACHE_DIR`` names may hold others.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import pickle
import re
import stat
import tempfile
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

CACHE_ENV = "WE_ADVISOR_CACHE_DIR"
UNUSED_S = 30 * 86400.0  # a value not read or written, or a compiled template not written, for this long is removed
MAX_VALUES = 4096  # values kept (a few KB each) before a save removes the least recently used ...
KEEP_VALUES = 3072  # ... down to this many
STALE_TMP_S = 3600.0  # a save's temporary file older than this was left by a killed process
# The cache's own files: values (``save``: kind, a key's 64 hex digits), their temporary files (``mkstemp``), the
# compiled templates (``template_pattern``: a tag of 16 hex digits, jinja2's SHA-1) and theirs (jinja2's).
_TEMPLATE_NAME = r"__we_advisor_[0-9a-f]{16}_[0-9a-f]{40}\.cache"
_VALUE = re.compile(r"[a-z][a-z0-9_]*-[0-9a-f]{64}\.pickle")
_TEMPLATE = re.compile(_TEMPLATE_NAME)
_TEMPORARY = re.compile(rf"\.[a-z][a-z0-9_]*-[A-Za-z0-9_]+\.tmp|{_TEMPLATE_NAME}[A-Za-z0-9_]+\.tmp")


def template_pattern(tag: str) -> str:
    """The file name pattern of the compiled templates (``present.html``, jinja2's bytecode cache, which puts
    its SHA-1 of the template in ``%s``): ``tag``, 16 hex digits, names what the code depends on. Named here,
    beside ``tidy``, which removes these files (and only files named so) once unused."""
    if re.fullmatch(r"[0-9a-f]{16}", tag) is None:
        raise ValueError(f"a template tag is 16 hex digits, not {tag!r}")
    return f"__we_advisor_{tag}_%s.cache"


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
    path = where / f"{kind}-{name}.pickle"
    try:
        value = _Only(path.read_bytes(), allowed).load()  # (this user's own 0700 directory, only the allowed classes)
    except Exception:  # a torn or foreign file: derived again, and saved over
        return None
    with contextlib.suppress(OSError):
        os.utime(path)  # used now: the last to be removed (``tidy``)
    return value


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
    tidy(where)
    return True


def tidy(where: Path | str) -> None:
    """Remove what the cache keeps no longer (see the module docstring), and nothing that is not its own.
    Never raises: a file another process removed first is skipped."""
    import time

    where = Path(where)
    now = time.time()
    values: list[tuple[float, str]] = []
    try:
        with os.scandir(where) as entries:
            names = [entry.name for entry in entries]
    except OSError:
        return
    for name in names:
        value, template, temporary = _VALUE.fullmatch(name), _TEMPLATE.fullmatch(name), _TEMPORARY.fullmatch(name)
        if not (value or template or temporary):
            continue
        try:
            info = (where / name).lstat()
            if not stat.S_ISREG(info.st_mode):
                continue
            age = now - info.st_mtime
            if age > (STALE_TMP_S if temporary else UNUSED_S):
                (where / name).unlink(missing_ok=True)
            elif value:
                values.append((info.st_mtime, name))
        except OSError:
            continue
    if len(values) > MAX_VALUES:
        values.sort()
        for _, name in values[: len(values) - KEEP_VALUES]:
            with contextlib.suppress(OSError):
                (where / name).unlink(missing_ok=True)
