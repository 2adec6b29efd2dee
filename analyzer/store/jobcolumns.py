"""The job attempts kept a second time, column by column, as the observations are (``columns``): what
``Store.jobs_frame`` reads (the queue times of ``stats`` and of ``report``).

Read row by row, 10⁵ job attempts take a third of a second: SQLite makes every cell a Python object,
pandas then a frame of them, the times parsed from text. Here each column of the jobs frame
(``store.JOB_COLUMNS``, as ``jobs_frame`` gives them: ``labels`` joined, times as UTC datetimes) is
one blob in ``job_columns``, kept by ``columns.encode``; a frame is cut from them by repository,
workflow and time window (the start, else the creation, as the SQL read's window), in ``job_id``
order as SQL gives it. A branch or event filter reads SQL.

Every write that changes or removes job attempts (``Store.save_job`` of a job id not past the cache's
last, ``save_job_context``, ``delete_job``) drops the cache in the same transaction; the next
``jobs_frame`` writes it again. Code that adds a job at or below the cache's last id, or changes or
removes jobs, another way must drop it too. A new run's jobs (ids past the cache's last) only add rows
after the cache's: on SQLite the cache records its last job id, is not read while larger ones are
stored, and the next read adds them (``top_up``). A cache written for other columns or by another
schema version is ignored and rewritten. It is read in one snapshot (``Connection.snapshot``); on
PostgreSQL it is written under table locks (``Connection.lock_jobs``) that keep the writers, who drop
it first, waiting.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from analyzer.store.columns import decode, encode, join_blobs, joinable, nanoseconds, read_blobs, replace_blobs

if TYPE_CHECKING:
    import pandas as pd

FORMAT = 1  # of the blobs (``columns.encode``) and the meta below
_META = "_meta"
_ISO_LENGTH = 27  # ``iso``: 2026-03-02T10:11:12.123456Z, so text order is time order
_NO_TIME = np.iinfo(np.int64).min  # NaT, as ``encode`` keeps it
_TEXT = frozenset({"repo", "workflow", "job", "status", "conclusion", "runner_name"})  # (labels: joined, then shared)
CHUNK = 16384  # job attempts read from SQL at a time


def drop(conn: sqlite3.Connection) -> None:
    """Forget the cache (inside the caller's transaction: the jobs changed)."""
    conn.execute("DELETE FROM job_columns")


def write(
    conn: sqlite3.Connection, frame: pd.DataFrame, columns: tuple[str, ...], schema: int, *, last: int | None = None
) -> bool:
    """Keep ``frame`` (every job attempt, in ``job_id`` order, ``columns`` as ``jobs_frame`` gives them) as
    the cache; False when a column cannot be kept exactly (then reads go to SQL). Inside the caller's
    transaction, the one ``frame`` was read in. ``last``: SQLite's largest job id, the last row ``frame``
    holds (jobs saved after it with larger ids: see ``top_up``)."""
    kinds = replace_blobs(conn, "job_columns", frame, columns)
    if kinds is None:
        return False
    _write_meta(conn, columns, schema, len(frame), kinds, time_order=_times_in_text_order(conn), last=last)
    return True


def _write_meta(
    conn: sqlite3.Connection, columns: tuple[str, ...], schema: int, rows: int, kinds: dict[str, str], *,
    time_order: bool, last: int | None,
) -> None:  # fmt: skip
    meta = {"format": FORMAT, "schema": schema, "rows": rows, "columns": [[n, kinds[n]] for n in columns],
            "time_order": time_order, "last": last}  # fmt: skip
    conn.execute("INSERT OR REPLACE INTO job_columns VALUES (?, ?)", (_META, json.dumps(meta).encode()))


def top_up(conn: sqlite3.Connection, columns: tuple[str, ...], schema: int) -> bool:
    """Add to the cache the job attempts saved after it (SQLite): True when it then holds every one.

    ``Store.save_job`` keeps the cache for a job whose id is past the cache's last one (a new run's jobs:
    GitHub's ids grow), in whatever order they come: they only add rows after the cache's in ``job_id``
    order. The cache records its last job id and is not read while the table has larger ones. Here those
    are read from SQL (in id order) and joined to each column's blob as a cache written from the whole
    table has it (``columns.join_blobs``). False (write it whole) without a cache to add to, or for rows it
    cannot add."""
    meta = _stored_meta(conn, columns, schema)
    if meta is None or meta.get("last") is None:
        return False
    (high,) = conn.execute("SELECT max(job_id) FROM jobs").fetchone()
    if high is None or high < meta["last"]:  # jobs went without the cache being dropped: write it whole
        return False
    if high == meta["last"]:
        return True
    after = " WHERE job_id > ?", (meta["last"],)
    added = read_sql(conn, *after, columns)
    encoded = encode(added, columns) if len(added) else None
    if encoded is None:
        return False
    kinds, blobs = encoded
    old_kinds = dict(meta["columns"])
    if not all(joinable(old_kinds[name], kinds[name]) for name in columns):
        return False
    rows = (int(meta["rows"]), len(added))
    del added
    merged_kinds = join_blobs(conn, "job_columns", columns, old_kinds, kinds, rows, dict(blobs))
    time_order = bool(meta["time_order"]) and _times_in_text_order(conn, after)
    _write_meta(conn, columns, schema, sum(rows), merged_kinds, time_order=time_order, last=int(high))
    return True


def _times_in_text_order(conn: sqlite3.Connection, where: tuple[str, tuple[Any, ...]] = ("", ())) -> bool:
    """Whether every stored start and creation time (of the jobs ``where`` selects) is in ``iso``'s
    fixed-width form: then the window SQL selects by comparing text is the one the cache cuts by
    comparing times."""
    clause, args = where
    row = conn.execute(
        f"SELECT count(*) FROM jobs{clause}{' AND' if clause else ' WHERE'} ((started_at IS NOT NULL AND length(started_at) != ?) "
        "OR (created_at IS NOT NULL AND length(created_at) != ?))",
        (*args, _ISO_LENGTH, _ISO_LENGTH),
    ).fetchone()
    return int(row[0]) == 0


def _stored_meta(conn: sqlite3.Connection, columns: tuple[str, ...], schema: int) -> dict[str, Any] | None:
    """The cache's meta when it was written by this format and schema for these columns, whether or not
    jobs were saved after it."""
    row = read_blobs(conn, "SELECT data FROM job_columns WHERE name = ?", (_META,)).fetchone()
    if row is None:
        return None
    meta: dict[str, Any] = json.loads(bytes(row[0]))
    usable = meta["format"] == FORMAT and meta["schema"] == schema and [c for c, _ in meta["columns"]] == list(columns)
    return meta if usable else None


def _meta(conn: sqlite3.Connection, columns: tuple[str, ...], schema: int) -> dict[str, Any] | None:
    """The cache's meta; None when there is none written by this format and schema for these columns, or
    jobs were saved after it (SQLite: until ``top_up`` adds them, it is not read)."""
    meta = _stored_meta(conn, columns, schema)
    if meta is None or meta.get("last") is None:  # (on SQLite every cache knows its last job)
        return None if isinstance(conn, sqlite3.Connection) else meta
    (high,) = conn.execute("SELECT max(job_id) FROM jobs").fetchone()
    return meta if high == meta["last"] else None


def present(conn: sqlite3.Connection, columns: tuple[str, ...], schema: int) -> bool:
    """Whether there is a cache of these columns, written by this schema and format."""
    return _meta(conn, columns, schema) is not None


def read(
    conn: sqlite3.Connection, columns: tuple[str, ...], schema: int, *, repo: str | None = None,
    workflow: str | None = None, since: datetime | None = None, until: datetime | None = None,
    only: tuple[str, ...] | None = None,
) -> pd.DataFrame | None:  # fmt: skip
    """The job attempts of ``repo`` (and ``workflow``) in [since, until) from the cache (``only``: those of
    ``columns``, in their order), or None when it cannot give them (absent, written for other columns or
    schema, times it cannot cut exactly)."""
    import pandas as pd

    meta = _meta(conn, columns, schema)
    if meta is None:
        return None
    kinds = dict(meta["columns"])
    windowed = since is not None or until is not None
    if windowed and not meta["time_order"]:
        return None

    def blob(name: str) -> bytes:  # one column at a time: the peak is the frame and one column
        found = read_blobs(conn, "SELECT data FROM job_columns WHERE name = ?", (name,)).fetchone()
        if found is None:
            raise KeyError(name)
        return bytes(found[0])

    n = int(meta["rows"])
    keep = np.ones(n, dtype=bool)
    for name, value in (("repo", repo), ("workflow", workflow)):
        if value:
            if kinds.get(name) != "text":  # (NOT NULL columns: kept as text)
                return None
            values = json.loads(blob(f"{name}:values"))
            keep &= np.frombuffer(blob(name), dtype="<i4") == (values.index(value) if value in values else -2)
    if windowed:
        if kinds.get("started_at") != "stamp" or kinds.get("created_at") != "stamp":
            return None
        when = np.frombuffer(blob("started_at"), dtype="<i8")
        when = np.where(when != _NO_TIME, when, np.frombuffer(blob("created_at"), dtype="<i8"))  # coalesce
        keep &= when != _NO_TIME
        if since is not None:
            keep &= when >= nanoseconds(since)
        if until is not None:
            keep &= when < nanoseconds(until)
        del when
    rows = None if keep.all() else np.flatnonzero(keep)
    del keep
    count = n if rows is None else len(rows)
    wanted = [name for name in columns if only is None or name in only]
    out = {
        name: decode(kinds[name], count, rows, partial(blob, name), partial(blob, f"{name}:values"))
        for name in wanted
    }
    return pd.DataFrame(out, columns=wanted, copy=False)


def read_sql(conn: sqlite3.Connection, where: str, args: tuple[Any, ...], names: Sequence[str]) -> pd.DataFrame:
    """``jobs_frame``'s columns ``names`` of the job attempts ``where`` selects, read row by row."""
    import pandas as pd  # only for the commands that analyse

    from analyzer.store.frame import shared_text

    names = list(names)
    sql_names = {"workflow": "workflow_name", "job": "name"}
    columns = ", ".join(sql_names.get(name, name) for name in names)
    cursor = conn.execute(f"SELECT {columns} FROM jobs{where} ORDER BY job_id", args)
    shared: dict[str, str] = {}  # each distinct text once, across the chunks
    joined: dict[str, str] = {}  # label sets (few), as shown
    chunks: list[pd.DataFrame] = []
    while True:  # in chunks: a row of Python objects is ~700 bytes, a row of the frame ~100
        rows = cursor.fetchmany(CHUNK)
        if not rows and chunks:
            break
        chunk = pd.DataFrame.from_records(rows, columns=names)
        for name in _TEXT.intersection(names):
            chunk[name] = shared_text(chunk[name], shared)
        for name in ("created_at", "started_at"):
            if name in chunk:
                chunk[name] = pd.to_datetime(chunk[name], utc=True, format="ISO8601")
        if "queued_s" in chunk:
            chunk["queued_s"] = chunk["queued_s"].astype(float)
        if "labels" in chunk:
            for text in pd.unique(chunk["labels"]):
                if text not in joined:
                    joined[text] = ", ".join(json.loads(text))
            chunk["labels"] = shared_text(chunk["labels"].map(joined), shared)
        chunks.append(chunk)
        if not rows:
            break
    frame = chunks[0] if len(chunks) == 1 else pd.concat(chunks, ignore_index=True)
    for name in ("created_at", "started_at"):  # nanoseconds, as the cache and the observations give times
        if name in frame:
            frame[name] = frame[name].dt.as_unit("ns")
    return frame
