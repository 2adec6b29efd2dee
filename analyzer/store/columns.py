"""The observations kept a second time, column by column: what every analysis reads, at the speed of
reading numbers.

Reading 10⁶ observations row by row, or even joined per column (``frame.read_observation_columns``),
takes seconds: SQLite turns every value into text or a Python object. Here each column of the
observations table is one blob in ``observation_columns``: numbers as little-endian arrays, start
times as int64 nanoseconds, text as int32 codes into a list of its distinct values. Reading all of
it is a few dozen blobs straight into numpy (about 0.1 s for 10⁶ rows), then filtering by masks.

The cache holds every observation in the order a scan of the table returns them (rowid order),
so a frame cut from it by repository and time window has the rows in the order the SQL read
gives; other filters (a workflow: SQLite then walks an index) read SQL. Every write that changes
or removes observations (``Store.save_analysis`` of a job that had some: reparse; ``delete_job``)
drops it in the same transaction; the next analysis that reads the observations writes it again
(that read costs what reading them did before; ``fetch`` and ``ingest`` stay free of pandas). Code
that changes or removes observations other than through those must drop it too. Rows only added (a
job's first analysis: fetch, ingest) keep it on SQLite, whose new rows come after every other: the
cache records its last ``rowid``, is not read while the table has rows past it, and the next
analysis adds them (``top_up``: the blobs a cache written from the whole table would have, for the
cost of reading the new rows; at 100,000 runs with a quarter of them new, 8.2 → 4.6 s and 576 →
303 MB for the first ``report``). A cache
written for other columns or by another schema version is ignored and rewritten. Beside the
analysis columns it keeps ``seq`` (``EXTRA``: the warehouse export's key), and a random ``token``
per cache written: the same token, the same observations (the export skips them then).

On PostgreSQL the cache is the same table (``bytea`` blobs), in the order the observations were
read; it is written under table locks (``Connection.lock_observations``) that keep the writers, who
drop it first, waiting, and read in one snapshot (``Connection.snapshot``).
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from analyzer.records import iso

if TYPE_CHECKING:  # pandas is imported where a frame is made: the export reads the cache without it
    import pandas as pd

# The observations frame's columns (``frame.observations_frame``), which the cache keeps.
OBSERVATION_COLUMNS = (
    "scope", "repo", "workflow", "job", "step", "step_number", "phase", "run_id", "run_attempt", "job_id",
    "started_at", "duration_s", "outcome", "censored", "limit_s", "runner", "silence_s", "gap_s",
)
FORMAT = 3  # of the blobs below; a cache written in another format is rebuilt (2: with ``seq``, a token; 3: its last row)
_META = "_meta"
EXTRA = ("seq",)  # kept beside the analysis columns (for the warehouse export), not read into their frames
_ISO_LENGTH = 27  # ``iso``: 2026-03-02T10:11:12.123456Z, so text order is time order


def drop(conn: sqlite3.Connection) -> None:
    """Forget the cache (inside the caller's transaction: the observations changed)."""
    conn.execute("DELETE FROM observation_columns")


def write(
    conn: sqlite3.Connection, frame: pd.DataFrame, columns: tuple[str, ...], schema: int, *, rowid: int | None = None
) -> bool:
    """Keep ``frame`` (every observation, in table order: ``columns`` and ``EXTRA``) as the cache; False
    when a column cannot be kept exactly (then there is no cache and reads go to SQL). Inside the
    caller's transaction, the one ``frame`` was read in. Each cache gets a new random ``token``: the
    same token later means the same observations (every write to them drops the cache, or adds rows
    that ``top_up`` adds to it, with a new token). ``rowid``: SQLite's largest observation rowid, the
    last row ``frame`` holds (rows added after it are a job's first analysis: see ``top_up``)."""
    kinds = replace_blobs(conn, "observation_columns", frame, (*columns, *EXTRA))
    if kinds is None:
        return False
    _write_meta(conn, columns, schema, len(frame), kinds, time_order=_times_in_text_order(conn), rowid=rowid)
    return True


def replace_blobs(conn: sqlite3.Connection, table: str, frame: pd.DataFrame, names: tuple[str, ...]) -> dict[str, str] | None:
    """A columns cache's blobs (``table``: this one's, or ``job_columns``) replaced by ``frame``'s columns ``names``,
    encoded (``encode``); their kinds, for the meta row the caller writes next. None, and the cache as it was,
    when a column cannot be kept exactly."""
    encoded = encode(frame, names)
    if encoded is None:
        return None
    kinds, blobs = encoded
    conn.execute(f"DELETE FROM {table}")
    conn.executemany(f"INSERT INTO {table} VALUES (?, ?)", blobs)
    return kinds


def _write_meta(
    conn: sqlite3.Connection, columns: tuple[str, ...], schema: int, rows: int, kinds: dict[str, str], *,
    time_order: bool, rowid: int | None,
) -> None:  # fmt: skip
    """The cache's meta row, with a new token (and on SQLite its last row: rowid, job and seq)."""
    last = None if rowid is None else conn.execute("SELECT job_id, seq FROM observations WHERE rowid = ?", (rowid,)).fetchone()
    meta = {"format": FORMAT, "schema": schema, "rows": rows, "columns": [[n, kinds[n]] for n in columns],
            "extra": [[n, kinds[n]] for n in EXTRA], "time_order": time_order, "token": uuid.uuid4().hex,
            "rowid": rowid, "last": None if last is None else [int(last[0]), int(last[1])]}  # fmt: skip
    conn.execute("INSERT OR REPLACE INTO observation_columns VALUES (?, ?)", (_META, json.dumps(meta).encode()))


def top_up(
    conn: sqlite3.Connection, columns: tuple[str, ...], schema: int, read_after: Callable[[int], pd.DataFrame]
) -> bool:
    """Add to the cache the observations saved after it (SQLite): True when it then holds every observation.

    A job's first analysis only adds rows, and SQLite gives a new row a rowid past every other, so
    ``Store.save_analysis`` keeps the cache then (it drops it when the job had rows: those change). A
    cache whose ``rowid`` is below the table's largest is missing only those rows: ``read_after(rowid)``
    reads them (in rowid order, ``EXTRA`` too), and each column's blob becomes the blob of every row, as
    a cache written from the whole table would have it (text numbered in order of first appearance, a
    number column that gains a NULL as floats). The first report after a fetch reads a week's rows instead
    of the whole table. False (write it whole) without a cache to add to, or for rows it cannot add."""
    meta = _stored_meta(conn, columns, schema)
    if meta is None or meta.get("rowid") is None:
        return False
    high = _rows_after(conn, meta)
    if high is None:  # its last row is not where it was (rows went, or were renumbered): write it whole
        return False
    if high == meta["rowid"]:
        return True
    added = read_after(int(meta["rowid"]))
    encoded = encode(added, (*columns, *EXTRA)) if len(added) else None
    if encoded is None:
        return False
    kinds, blobs = encoded
    old_kinds = dict([*meta["columns"], *meta["extra"]])
    names = (*columns, *EXTRA)
    if not all(joinable(old_kinds[name], kinds[name]) for name in names):
        return False
    new_rows = len(added)
    del added
    merged_kinds = join_blobs(conn, "observation_columns", names, old_kinds, kinds, (int(meta["rows"]), new_rows), dict(blobs))
    (unordered,) = conn.execute(
        "SELECT count(*) FROM observations WHERE rowid > ? AND started_at IS NOT NULL AND length(started_at) != ?",
        (meta["rowid"], _ISO_LENGTH),
    ).fetchone()
    _write_meta(conn, columns, schema, int(meta["rows"]) + new_rows, merged_kinds,
                time_order=bool(meta["time_order"]) and int(unordered) == 0, rowid=int(high))  # fmt: skip
    return True


def join_blobs(
    conn: sqlite3.Connection, table: str, names: tuple[str, ...], old_kinds: dict[str, str], new_kinds: dict[str, str],
    rows: tuple[int, int], new_blobs: dict[str, bytes],
) -> dict[str, str]:  # fmt: skip
    """Replace each column's blobs in ``table`` (a columns cache) by ``join`` of them and ``new_blobs`` (every
    pair of kinds ``joinable``; ``rows``: how many the cache and ``new_blobs`` hold), one column at a time: the
    peak is one column's blobs, not the cache's twice. Returns each column's kind."""
    old_rows, new_rows = rows
    out: dict[str, str] = {}
    for name in names:
        wanted = (name, f"{name}:values")
        old_blobs = {str(k): bytes(v) for k, v in read_blobs(conn, f"SELECT name, data FROM {table} WHERE name IN (?, ?)", wanted)}
        joined = join(name, old_kinds[name], new_kinds[name], old_rows, new_rows, old_blobs, new_blobs)
        assert joined is not None  # (checked by the caller: ``joinable``)
        out[name], parts = joined
        conn.executemany(f"INSERT OR REPLACE INTO {table} VALUES (?, ?)", parts)
        del old_blobs, joined, parts
    return out


_WIDENS = {frozenset({"<i8", "<f8"}), frozenset({"<i8", "none"}), frozenset({"<f8", "none"})}  # to floats, NaN for NULL


def joinable(old: str, new: str) -> bool:
    """Whether ``join`` can join a column kept as ``old`` with rows kept as ``new``."""
    return old == new or {old, new} <= {"text", "none"} or frozenset({old, new}) in _WIDENS


def join(
    name: str, old: str, new: str, old_rows: int, new_rows: int, old_blobs: dict[str, bytes], new_blobs: dict[str, bytes]
) -> tuple[str, list[tuple[str, bytes]]] | None:  # fmt: skip
    """One column's blobs (``encode``'s) of the cache's rows then the added ones, as ``encode`` of all of
    them gives it; None for kinds that cannot be joined."""
    if not joinable(old, new):
        return None
    if old == new == "none":
        return "none", []
    if {old, new} <= {"text", "none"}:
        values: list[str] = json.loads(old_blobs[f"{name}:values"]) if old == "text" else []
        first = old_blobs[name] if old == "text" else np.full(old_rows, -1, dtype="<i4").tobytes()
        index = {value: k for k, value in enumerate(values)}
        renumber = []
        for value in json.loads(new_blobs[f"{name}:values"]) if new == "text" else []:
            if value not in index:  # a value the cache had not seen: numbered after its values
                index[value] = len(values)
                values.append(value)
            renumber.append(index[value])
        codes = np.frombuffer(new_blobs[name], dtype="<i4") if new == "text" else np.full(new_rows, -1, dtype="<i4")
        then = np.array([*renumber, -1], dtype="<i4")[codes]  # (NULL, code -1, takes the last slot)
        return "text", [(name, first + then.tobytes()), (f"{name}:values", json.dumps(values).encode())]
    if old == new and old != "text":
        return old, [(name, old_blobs[name] + new_blobs[name])]
    if frozenset({old, new}) in _WIDENS:

        def floats(kind: str, blob: bytes | None, rows: int) -> bytes:
            if kind == "none" or blob is None:
                return np.full(rows, np.nan, dtype="<f8").tobytes()
            return np.frombuffer(blob, dtype=kind).astype("<f8").tobytes()

        return "<f8", [(name, floats(old, old_blobs.get(name), old_rows) + floats(new, new_blobs.get(name), new_rows))]
    return None


def encode(frame: pd.DataFrame, names: tuple[str, ...]) -> tuple[dict[str, str], list[tuple[str, bytes]]] | None:
    """``names`` of ``frame`` as blobs: (each column's kind, the blobs by name), or None when a column cannot
    be kept exactly. Kinds: ``stamp`` (UTC times as int64 nanoseconds, NaT as int64's minimum), ``text``
    (int32 codes, -1 for NULL, and ``NAME:values``: the distinct values as JSON), ``none`` (every cell
    NULL: no blob), else the numpy dtype of the numbers (``<f8``, ``<i8``, ``|b1``)."""
    import pandas as pd

    blobs: list[tuple[str, bytes]] = []
    kinds: dict[str, str] = {}
    for name in names:
        series = frame[name]
        if isinstance(series.dtype, pd.DatetimeTZDtype):
            kinds[name] = "stamp"
            blobs.append((name, series.to_numpy(dtype="datetime64[ns]").view("<i8").tobytes()))
            continue
        values = series.to_numpy()
        if values.dtype == object:
            if all(v is None for v in values):
                kinds[name] = "none"  # a column of NULLs, as pandas reads it
                continue
            if any(v is not None and not isinstance(v, str) for v in values[:1000]):
                return None
            codes, uniques = pd.factorize(values, use_na_sentinel=True)
            if not all(isinstance(u, str) for u in uniques):
                return None
            kinds[name] = "text"
            blobs += [(name, codes.astype("<i4").tobytes()), (f"{name}:values", json.dumps(list(uniques)).encode())]
        elif values.dtype.kind in "fib":
            kinds[name] = values.dtype.str
            blobs.append((name, values.tobytes()))
        else:
            return None
    return kinds, blobs


def _times_in_text_order(conn: sqlite3.Connection) -> bool:
    """Whether the stored start times sort as text the way they do as times (every one in ``iso``'s
    fixed-width form): then a time window cut from the cache is the one SQL would select."""
    row = conn.execute(
        "SELECT count(*) FROM observations WHERE started_at IS NOT NULL AND length(started_at) != ?", (_ISO_LENGTH,)
    ).fetchone()
    return int(row[0]) == 0


def read_blobs(conn: Any, sql: str, args: Sequence[Any] = ()) -> Any:
    """``conn.execute(sql, args)`` for a read of a columns cache's blobs: on PostgreSQL with the results in
    binary (``PgConnection.execute_binary``: the bytes themselves, not their hex text; a third of the time)."""
    binary = getattr(conn, "execute_binary", None)
    return conn.execute(sql, args) if binary is None else binary(sql, args)


def _usable(meta: dict[str, Any], columns: tuple[str, ...], schema: int) -> bool:
    """Whether a cache's meta says it was written by this format and schema, for these columns."""
    return bool(meta["format"] == FORMAT and meta["schema"] == schema and [c for c, _ in meta["columns"]] == list(columns))


def _stored_meta(conn: sqlite3.Connection, columns: tuple[str, ...], schema: int) -> dict[str, Any] | None:
    """The cache's meta when it was written by this format and schema for these columns (see ``_usable``),
    whether or not observations were added after it."""
    row = read_blobs(conn, "SELECT data FROM observation_columns WHERE name = ?", (_META,)).fetchone()
    if row is None:
        return None
    meta: dict[str, Any] = json.loads(bytes(row[0]))
    return meta if _usable(meta, columns, schema) else None


def _meta(conn: sqlite3.Connection, columns: tuple[str, ...], schema: int) -> dict[str, Any] | None:
    """The cache's meta, or None when there is no usable cache (see ``_usable``), or observations were
    added after it (SQLite: until ``top_up`` adds them, it is not read)."""
    meta = _stored_meta(conn, columns, schema)
    if meta is None or meta.get("rowid") is None:  # (on SQLite every cache knows its last row)
        return None if isinstance(conn, sqlite3.Connection) else meta
    return meta if _rows_after(conn, meta) == meta["rowid"] else None


def _rows_after(conn: sqlite3.Connection, meta: dict[str, Any]) -> int | None:
    """SQLite: the table's largest rowid when the cache's last row is still at its rowid (else None). SQLite
    keeps rowids, but a copy of the table (a dump loaded again) numbers its rows anew: the row then found at
    the cache's last rowid is another one, or none."""
    found = conn.execute(
        "SELECT (SELECT max(rowid) FROM observations), job_id, seq FROM observations WHERE rowid = ?", (meta["rowid"],)
    ).fetchone()
    if found is None or meta.get("last") != [found[1], found[2]]:
        return None
    return int(found[0])


def present(conn: sqlite3.Connection, columns: tuple[str, ...], schema: int) -> bool:
    """Whether there is a cache of these columns, written by this schema and format."""
    return _meta(conn, columns, schema) is not None


def newest(conn: sqlite3.Connection, columns: tuple[str, ...], schema: int, repo: str | None) -> tuple[bool, datetime | None]:
    """(True, the latest start of ``repo``'s observations) from the cache; (False, None) without one."""
    if not present(conn, columns, schema):
        return False, None
    stored = dict(read_blobs(conn, "SELECT name, data FROM observation_columns WHERE name IN ('started_at', 'repo', 'repo:values')"))
    stamps = np.frombuffer(stored["started_at"], dtype="<i8")
    if repo:
        values = json.loads(stored["repo:values"])
        stamps = stamps[np.frombuffer(stored["repo"], dtype="<i4") == (values.index(repo) if repo in values else -2)]
    stamps = stamps[stamps != np.iinfo(np.int64).min]
    if not stamps.size:
        return True, None
    return True, _utc(int(stamps.max()))


def token(conn: sqlite3.Connection, columns: tuple[str, ...], schema: int) -> str | None:
    """The cache's token (see ``write``), None without a usable cache."""
    meta = _meta(conn, columns, schema)
    return None if meta is None else str(meta["token"])


def everything(conn: sqlite3.Connection, columns: tuple[str, ...], schema: int) -> tuple[dict[str, Any], dict[str, bytes]] | None:
    """(the cache's meta, with ``kinds``: column -> how it is kept, ``EXTRA`` included; every blob by
    name), or None without a usable cache: the raw cache, for the warehouse export."""
    if _meta(conn, columns, schema) is None:  # none, or observations were added after it
        return None
    rows = {str(k): bytes(v) for k, v in read_blobs(conn, "SELECT name, data FROM observation_columns")}
    if _META not in rows:
        return None
    meta = json.loads(rows.pop(_META))
    if not _usable(meta, columns, schema):
        return None
    meta["kinds"] = dict([*meta["columns"], *meta["extra"]])
    return meta, rows


def _blobs(conn: sqlite3.Connection, columns: tuple[str, ...], schema: int, names: tuple[str, ...]) -> dict[str, bytes] | None:
    """Some of the cache's blobs, by name; None when there is no usable cache (see ``present``)."""
    meta = _meta(conn, columns, schema)
    if meta is None:
        return None
    if not meta["time_order"] or dict(meta["columns"]).get("scope") != "text" or dict(meta["columns"]).get("repo") != "text":
        return None
    marks = ",".join("?" * len(names))
    return {str(k): bytes(v) for k, v in read_blobs(conn, f"SELECT name, data FROM observation_columns WHERE name IN ({marks})", names)}


def _codes(blobs: dict[str, bytes], name: str, value: str) -> np.ndarray[Any, np.dtype[np.bool_]]:
    values = json.loads(blobs[f"{name}:values"])
    mask: np.ndarray[Any, np.dtype[np.bool_]] = np.frombuffer(blobs[name], dtype="<i4") == (
        values.index(value) if value in values else -2
    )
    return mask


def job_span(
    conn: sqlite3.Connection, columns: tuple[str, ...], schema: int, *, repo: str | None,
    since: datetime | None, until: datetime | None,
) -> tuple[int, int, datetime | None, datetime | None] | None:  # fmt: skip
    """``Store.job_span`` (without a workflow) from the cache, or None without one."""
    blobs = _blobs(conn, columns, schema, ("scope", "scope:values", "repo", "repo:values", "started_at"))
    if blobs is None:
        return None
    keep = _codes(blobs, "scope", "job")
    if repo:
        keep &= _codes(blobs, "repo", repo)
    stamps = np.frombuffer(blobs["started_at"], dtype="<i8")[keep]
    known = stamps[stamps != np.iinfo(np.int64).min]
    inside = np.ones(known.size, dtype=bool)
    if since is not None:
        inside &= known >= nanoseconds(since)
    if until is not None:
        inside &= known < nanoseconds(until)
    counted = int(inside.sum()) if since is not None or until is not None else int(keep.sum())
    first, last = (_utc(int(known.min())), _utc(int(known.max()))) if known.size else (None, None)
    return int(keep.sum()), counted, first, last


def repos(conn: sqlite3.Connection, columns: tuple[str, ...], schema: int) -> list[str] | None:
    """The repositories that have observations, sorted, from the cache; None without one."""
    blobs = _blobs(conn, columns, schema, ("repo", "repo:values"))
    if blobs is None:
        return None
    values = json.loads(blobs["repo:values"])
    used = np.unique(np.frombuffer(blobs["repo"], dtype="<i4"))
    return sorted(values[int(c)] for c in used if c >= 0)


def _utc(stamp: int) -> datetime:
    import pandas as pd

    return pd.Timestamp(stamp, unit="ns", tz="UTC").to_pydatetime()


def read(
    conn: sqlite3.Connection,
    columns: tuple[str, ...],
    schema: int,
    *,
    repo: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    only: tuple[str, ...] | None = None,
    codes: bool = False,
) -> pd.DataFrame | None:
    """The observations of ``repo`` started in [since, until) from the cache, or None when it cannot
    give them (absent, written for other columns or schema, or times it cannot cut exactly). ``only``:
    the frame's columns, some of ``columns`` (all of them by default); ``codes``: text as categoricals
    (the cache's codes and values: a byte a row, not an 8-byte object pointer), and a column of NULLs as an
    empty one."""
    import pandas as pd

    meta = _meta(conn, columns, schema)
    if meta is None:
        return None
    kinds = dict(meta["columns"])
    if (since is not None or until is not None) and not meta["time_order"]:
        return None

    def blob(name: str) -> bytes:  # one column at a time: the peak is the frame and one column, not two copies
        found = read_blobs(conn, "SELECT data FROM observation_columns WHERE name = ?", (name,)).fetchone()
        if found is None:
            raise KeyError(name)
        return bytes(found[0])

    n = int(meta["rows"])
    keep: np.ndarray[Any, np.dtype[np.bool_]] | None = None

    def narrow(mask: np.ndarray[Any, np.dtype[np.bool_]]) -> None:
        nonlocal keep
        keep = mask if keep is None else keep & mask

    if repo:
        values = json.loads(blob("repo:values"))
        code = values.index(repo) if repo in values else -2
        narrow(np.frombuffer(blob("repo"), dtype="<i4") == code)
    if since is not None or until is not None:
        stamps = np.frombuffer(blob("started_at"), dtype="<i8")
        present = stamps != np.iinfo(np.int64).min
        if since is not None:
            narrow(present & (stamps >= nanoseconds(since)))
        if until is not None:
            narrow(present & (stamps < nanoseconds(until)))
        del stamps, present
    rows = np.flatnonzero(keep) if keep is not None else None
    del keep
    count = n if rows is None else len(rows)
    out: dict[str, Any] = {}
    wanted = [name for name in columns if only is None or name in only]
    for name in wanted:
        out[name] = decode(kinds[name], count, rows, partial(blob, name), partial(blob, f"{name}:values"), codes=codes)
    return pd.DataFrame(out, columns=wanted, copy=False)


def decode(
    kind: str, count: int, rows: np.ndarray[Any, np.dtype[np.intp]] | None, data: Callable[[], bytes],
    values: Callable[[], bytes], *, codes: bool = False,
) -> Any:  # fmt: skip
    """A column kept by ``encode`` as a frame's column: its cells at ``rows`` (every cell: None), ``count``
    of them. ``data`` and ``values`` give its blob and its distinct values' blob (a ``none`` column has
    neither). Times as UTC nanoseconds; text as shared Python objects, None for NULL, or with ``codes``
    as a categorical (and a column of NULLs as an empty one)."""
    import pandas as pd

    if kind == "none":  # all NULL: as read (None objects), or with ``codes`` an empty categorical (1 byte a row)
        empty = pd.Categorical.from_codes(np.full(count, -1, np.int8), dtype=pd.CategoricalDtype([])) if codes else None
        return empty if empty is not None else np.full(count, None, dtype=object)
    array = np.frombuffer(data(), dtype="<i8" if kind == "stamp" else ("<i4" if kind == "text" else kind))
    array = array.take(rows) if rows is not None else array.copy()  # writable, and the blob is let go
    if kind == "stamp":
        return pd.Series(array.view("datetime64[ns]")).dt.tz_localize("UTC")
    if kind == "text" and codes:
        return pd.Categorical.from_codes(array, categories=json.loads(values()))
    if kind == "text":
        # one shared object per distinct value, None for NULL (code -1 takes the last slot)
        shared = np.array([*json.loads(values()), None], dtype=object)
        return pd.Series(shared.take(array), dtype=object, copy=False)
    return array


def nanoseconds(value: datetime) -> int:
    """A time as the cache stores it, rounded as the stored text is (microseconds)."""
    return int(np.datetime64(str(iso(value))[:-1], "ns").astype("<i8"))
