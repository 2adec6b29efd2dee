"""Observations as a pandas DataFrame, read fast (the filters history queries share are in ``filters``).

``observations_frame`` is the read every analysis starts from (10⁶ rows in a large store): one
scan with a ``group_concat`` per column, parsed by numpy (``read_observation_columns``), and the
row-by-row read of pandas where a value does not fit that path. The frame has the same dtypes
under pandas 2 and 3.
"""

from __future__ import annotations

import re
import sqlite3
import warnings
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from analyzer.store.columns import OBSERVATION_COLUMNS as OBSERVATION_COLUMNS  # (defined beside the cache: no pandas)
from analyzer.store.filters import filters


def observations_frame(
    conn: Any,
    *,
    repo: str | None = None,
    workflow: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    branch: str | None = None,
    event: str | None = None,
    dialect: str = "sqlite",
    columns: tuple[str, ...] | None = None,
    after_rowid: int | None = None,
) -> pd.DataFrame:
    """Observations as a DataFrame (one row each), ``started_at`` as UTC datetimes. ``conn`` is a
    ``sqlite3.Connection`` or a ``PgConnection`` (``dialect`` "postgresql"). ``columns``: the frame's
    columns, ``OBSERVATION_COLUMNS`` unless asked for more (the columns cache also keeps ``seq``) or
    fewer. ``after_rowid`` (SQLite): only the rows saved after that one, in rowid order (``columns.top_up``)."""
    columns = columns or OBSERVATION_COLUMNS
    where, args = filters(repo=repo, workflow=workflow, since=since, until=until, branch=branch, event=event)
    if after_rowid is not None:
        where, args = f"{where}{' AND' if where else ' WHERE'} rowid > ?", (*args, after_rowid)
    known = {name: value for name, value in (("repo", repo), ("workflow", workflow)) if value}
    frame = read_observation_columns(conn, where, args, known, dialect=dialect, columns=columns)
    if frame is None:  # a value the fast path cannot carry: row by row
        sql = f"SELECT {', '.join(columns)} FROM observations{where}"
        frame = read_frame(conn, sql, args, dialect=dialect)
        if dialect != "sqlite":
            for name in ("duration_s", "limit_s"):
                if name in frame:
                    frame[name] = frame[name].astype("float64")
        for name in _TEXT_COLUMNS.intersection(frame.columns):  # pandas 3 reads text as its ``str`` dtype, NaN for NULL
            values = frame[name].to_numpy(dtype=object, copy=True)
            values[pd.isna(values)] = None
            frame[name] = _text_column(values)
        if "started_at" in frame:
            stamps = pd.to_datetime(frame["started_at"], utc=True, format="ISO8601")
            frame["started_at"] = stamps.astype(_STAMP_DTYPE)  # pandas 3 infers the unit (µs here)
    if "censored" in frame:
        frame["censored"] = frame["censored"].astype(bool)
    return frame


def read_frame(conn: Any, sql: str, args: tuple[Any, ...] = (), *, dialect: str = "sqlite") -> pd.DataFrame:
    """The rows of ``sql`` as a DataFrame, on either backend (pandas reads only sqlite3 and SQLAlchemy
    connections itself: on PostgreSQL the rows as it would read them)."""
    if dialect == "sqlite":
        return pd.read_sql_query(sql, conn, params=args)
    cursor = conn.execute(sql, args)
    return pd.DataFrame.from_records(cursor.fetchall(), columns=[d[0] for d in cursor.description])


_TEXT_COLUMNS = frozenset({"scope", "repo", "workflow", "job", "step", "phase", "outcome", "runner"})
_INT_COLUMNS = frozenset({"step_number", "run_id", "run_attempt", "job_id", "censored", "seq"})
_NULLABLE = frozenset({"step", "step_number", "phase", "started_at", "limit_s", "runner", "silence_s", "gap_s"})  # the others: NOT NULL
_SEP = "\x1f"  # joins text values; a value containing it sends the read down the row-by-row path
_NULL = "\x00"  # stands for NULL in joined text
_PG_NULL = "\x1e"  # the same on PostgreSQL, whose text cannot hold NUL
# The frame's dtypes, the same under pandas 2 and 3: text as Python objects with None for NULL (pandas 3
# would infer its ``str`` dtype, with NaN for NULL), times in nanoseconds (pandas 3 infers µs from text).
_STAMP_DTYPE = pd.DatetimeTZDtype("ns", "UTC")


def _text_column(values: np.ndarray[Any, np.dtype[np.object_]]) -> pd.Series:
    """An object column of ``str``/None, kept as objects (no string dtype inferred)."""
    return pd.Series(values, dtype=object, copy=False)


def shared_text(series: pd.Series, shared: dict[str, str] | None = None) -> pd.Series:
    """A text column as Python objects, None for NULL, each distinct value one object shared by its cells
    (and with the columns read before that share ``shared``): as read, every cell is a string of its own
    (10⁵ job attempts: ~6 MB a column, 0.9 MB shared)."""
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    shared = {} if shared is None else shared
    values = np.empty(len(uniques) + 1, dtype=object)
    values[:-1] = [shared.setdefault(str(v), str(v)) for v in uniques]
    values[-1] = None  # code -1, NULL
    return pd.Series(values[codes], index=series.index, dtype=object, copy=False)


def read_observation_columns(
    conn: Any, where: str, args: tuple[Any, ...], known: dict[str, str], *, dialect: str = "sqlite",
    columns: tuple[str, ...] | None = None,
) -> pd.DataFrame | None:
    """The observations frame read column by column: one scan, one ``group_concat`` per column.

    Fetching 10⁶ rows through a cursor makes a Python object of every cell (16 per row), and
    pandas then walks them again to build columns: ~6 s and 1.4 GB at 10⁶ rows. Here SQLite
    joins each column into one string during a single scan; numbers are parsed by numpy
    (``%!.17g`` round-trips every double exactly), text is split once and deduplicated (one
    object per distinct value), timestamps are parsed by numpy: about half the time and a third
    of the memory. Returns None when a value does not fit this path (a separator inside text,
    a timestamp numpy cannot read exactly); the caller then reads row by row. A column the filter
    fixes (``known``: repo, workflow) is not read at all.

    PostgreSQL does the same with ``string_agg``: its ``float8::text`` is the shortest text that
    round-trips, and its text cannot hold NUL, so NULL is marked by U+001E there.
    """
    names = columns or OBSERVATION_COLUMNS
    exprs: list[str] = []
    null_mark = _NULL if dialect == "sqlite" else _PG_NULL
    for name in names:
        exprs += _column_aggregate(name, known, dialect)
    sql = f"SELECT count(*), {', '.join(exprs)} FROM observations{where}"
    try:
        row = conn.execute(sql, args).fetchone() if dialect == "sqlite" else _pg_halves(conn, sql, where, args, names)
    except sqlite3.DataError:  # a joined column longer than SQLite's string limit (1 GB by default)
        return None
    n = int(row[0])
    if n == 0:
        return None
    out: dict[str, Any] = {}
    for i, name in enumerate(names):
        text, nulls = row[1 + 2 * i], int(row[2 + 2 * i])
        if name in known:
            out[name] = _text_column(np.full(n, known[name], dtype=object))
        elif name == "started_at":
            stamps = _parse_stamps(text, n, nulls)
            if stamps is None:
                return None
            out[name] = stamps
        elif name in _TEXT_COLUMNS:
            values = np.array(text.split(_SEP), dtype=object)
            if values.size != n:
                return None
            codes, uniques = pd.factorize(values)
            null_code = [k for k, u in enumerate(uniques) if u == null_mark]
            if (int((codes == null_code[0]).sum()) if null_code else 0) != nulls:
                return None
            shared = np.array([None if u == null_mark else u for u in uniques], dtype=object)
            out[name] = _text_column(shared.take(codes))
        elif nulls == n:  # as pandas reads a column of NULLs: None objects
            out[name] = np.full(n, None, dtype=object)
        else:
            integer = name in _INT_COLUMNS and nulls == 0
            numbers = np.fromstring(text, dtype=np.int64 if integer else np.float64, sep=",")
            if numbers.size != n:
                return None
            out[name] = numbers
    return pd.DataFrame(out, columns=list(names), copy=False)  # no copy: no consolidation


def _pg_halves(conn: Any, sql: str, where: str, args: tuple[Any, ...], names: tuple[str, ...]) -> tuple[Any, ...]:
    """PostgreSQL's row of ``sql`` (``count(*)``, then per column its joined text and NULL count), read as
    two halves of the job ids at once, on this connection and a sibling sharing its snapshot: the
    server joins 16 columns of 10⁶ rows in one backend process for seconds, and a second one halves
    that. Each half is one scan in table order (no parallel workers: every column of a half must see
    its rows in the same order); the halves' texts are joined as the column's separator joins values."""
    if conn.in_transaction:  # the caller's (locked) transaction: one scan in it
        return tuple(_pg_read(conn, sql, args, snapshot=""))
    low, high = conn.execute("SELECT min(job_id), max(job_id) FROM observations").fetchone()
    if low is None or high - low < 2:
        return tuple(_pg_read(conn, sql, args, snapshot=None))
    middle = (low + high) // 2
    half = f"{sql}{' AND' if where else ' WHERE'} job_id {{}} ?"
    conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
    try:
        snapshot = str(conn.execute("SELECT pg_export_snapshot()").fetchone()[0])
        try:
            other = conn.sibling()
        except Exception:  # no second connection (the server's limit): one scan
            return tuple(_pg_read(conn, sql, args, snapshot=""))
        try:
            with ThreadPoolExecutor(max_workers=1) as pool:
                upper = pool.submit(_pg_read, other, half.format(">="), (*args, middle), snapshot=snapshot)
                lower = _pg_read(conn, half.format("<"), (*args, middle), snapshot="")
                rows = [lower, upper.result()]
        finally:
            other.close()
    finally:
        conn.execute("COMMIT")
    out: list[Any] = [sum(int(r[0]) for r in rows)]
    for i, name in enumerate(names):
        sep = _SEP if name in _TEXT_COLUMNS or name == "started_at" else ","
        texts = [r[1 + 2 * i] for r in rows if int(r[0]) and r[1 + 2 * i] is not None]
        out += [sep.join(texts) if texts else None, sum(int(r[2 + 2 * i] or 0) for r in rows)]
    return tuple(out)


def _pg_read(conn: Any, sql: str, args: tuple[Any, ...], *, snapshot: str | None) -> Any:
    """One aggregate row on PostgreSQL, without parallel workers; ``snapshot``: None for a transaction of
    its own, "" inside the caller's, else the exported snapshot to read in."""
    if snapshot is None:
        conn.execute("BEGIN")
    elif snapshot:
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        if not re.fullmatch(r"[0-9A-Fa-f-]+", snapshot):
            raise ValueError(f"not a snapshot id: {snapshot!r}")
        conn.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
    try:
        conn.execute("SET LOCAL max_parallel_workers_per_gather = 0")
        return conn.execute(sql, args).fetchone()
    finally:
        if snapshot != "":
            conn.execute("COMMIT")


def _column_aggregate(name: str, known: dict[str, str], dialect: str) -> list[str]:
    """The two aggregates that read column ``name``: its values joined, and its NULL count."""
    if dialect == "sqlite":
        if name in known:
            value = "NULL"
        elif name == "started_at":
            value = "coalesce(started_at, 'NaT')"
        elif name in _TEXT_COLUMNS:
            value = f"coalesce({name}, char(0))"
        elif name in _INT_COLUMNS:
            value = f"coalesce({name}, 'nan')"
        else:
            value = f"CASE WHEN {name} IS NULL THEN 'nan' ELSE printf('%!.17g', {name}) END"
        sep = "char(31)" if name in _TEXT_COLUMNS or name == "started_at" else "','"
        return [f"group_concat({value}, {sep})", f"sum({name} IS NULL)" if name in _NULLABLE else "0"]
    if name in known:
        value = "NULL"
    elif name == "started_at":
        value = "coalesce(started_at, 'NaT')"
    elif name in _TEXT_COLUMNS:
        value = f"coalesce({name}, chr(30))"
    else:
        value = f"coalesce({name}::text, 'nan')"
    sep = "chr(31)" if name in _TEXT_COLUMNS or name == "started_at" else "','"
    return [f"string_agg({value}, {sep})", f"count(*) - count({name})" if name in _NULLABLE else "0"]


def _parse_stamps(joined: str, n: int, nulls: int) -> pd.Series | None:
    """Joined stored timestamps (``iso``: ``…T10:11:12.123456Z``) as UTC datetimes; None if numpy
    cannot read one exactly."""
    naive = joined.replace("Z" + _SEP, _SEP).removesuffix("Z").split(_SEP)  # all are UTC
    if len(naive) != n:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy warns, then converts, on a time zone offset
        try:
            parsed = np.array(naive, dtype="datetime64[ns]")  # pandas' unit: nothing finer is cut
        except (ValueError, TypeError, Warning):
            return None
    if int(np.isnat(parsed).sum()) != nulls:
        return None
    return pd.Series(parsed).dt.tz_localize("UTC")
