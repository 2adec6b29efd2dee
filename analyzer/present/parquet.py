"""``we-advisor export --format parquet DIR``: the store's tables as Parquet, for a warehouse.

Layout (Hive partitioning, as Spark writes it, so BigQuery, ClickHouse, DuckDB and Spark read it
directly)::

    DIR/<table>/repository=<owner>%2F<name>/month=<YYYY-MM>/data.parquet
    DIR/_we_advisor_export.json      what the last export wrote (partition -> content hash, sources)

``<table>`` is ``runs``, ``jobs``, ``steps``, ``observations``, ``incidents``; ``month`` comes from
the table's own time (``MONTH_OF``; ``__HIVE_DEFAULT_PARTITION__`` when it has none). Every file
also holds its ``repo`` column, so a reader that ignores the directory names loses nothing.

Incremental: each partition's rows are sorted by the table's key and hashed (its schema, then each
column's values and NULLs, straight from Arrow's buffers); a partition whose hash matches the
manifest is not written again, a changed one is rewritten (to a temporary file, then renamed: a
reader never sees half a file), one that no longer exists is removed. The manifest is written last,
so an interrupted export leaves files that the next one checks again.

The observations (most of the rows) come from their columns cache (``store/columns.py``: codes,
numbers and times, no text to parse), and the manifest keeps the cache's token (``sources``): every
write to the observations drops the cache, or (rows added) has it topped up with a new token before it
is read, so while its token is the one the last export wrote them from, they are neither read nor
hashed again. The other tables are read as one text per
column (``Store.export_columns``) and hashed on every export.

This is the only module that imports pyarrow (an optional dependency: ``we-advisor[parquet]``).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analyzer.errors import ConfigError, InputError
from analyzer.store.store import EXPORT_OBSERVATIONS, CachedColumns, ExportColumns, Store

TABLES = ("runs", "jobs", "steps", "observations", "incidents")
MONTH_OF = {"runs": "created_at", "jobs": "started_at", "steps": "job_started_at", "observations": "started_at",
            "incidents": "occurred_at"}  # fmt: skip
KEYS = {"runs": ["run_id", "run_attempt"], "jobs": ["job_id"], "steps": ["job_id", "number"],
        "observations": ["job_id", "seq"], "incidents": ["job_id"]}  # fmt: skip
_INTEGERS = frozenset({"run_id", "run_attempt", "job_id", "number", "step_number", "start_line", "seq", "jobs"})
MANIFEST = "_we_advisor_export.json"
FORMAT = 2  # the layout version (in the manifest; another one rewrites everything). 2: hashes of the values
NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"
INSTALL_HINT = "install the Parquet extra: pip install 'we-advisor[parquet]'"


@dataclass(slots=True)
class ExportSummary:
    directory: Path
    rows: dict[str, int] = field(default_factory=dict)
    written: int = 0
    unchanged: int = 0
    removed: int = 0

    def line(self) -> str:
        counts = ", ".join(f"{n:,} {table}" for table, n in self.rows.items())
        return (f"exported {counts} to {self.directory}: {self.written} partition file(s) written, "
                f"{self.unchanged} unchanged, {self.removed} removed")  # fmt: skip


def _pyarrow() -> tuple[Any, Any]:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise ConfigError("export --format parquet needs pyarrow, which is not installed", hint=INSTALL_HINT) from None
    return pa, pq


def escape(value: str) -> str:
    """A partition value in a directory name, escaped as Hive and Spark do (``/`` is ``%2F``)."""
    special = set('"#%\'*/:=?\\\x7f{[]^')
    return "".join(f"%{ord(c):02X}" if c in special or ord(c) < 0x20 else c for c in value)


def arrow_type(name: str) -> Any:
    """The Parquet type of column ``name``: ids and counts int64, durations float64, flags bool, times
    timestamp[us, UTC], ``labels`` list<string>, text string (a column the store adds later: a time if
    it ends in ``_at``, else text)."""
    pa, _ = _pyarrow()
    if name.endswith("_at"):
        return pa.timestamp("us", tz="UTC")
    if name == "labels":
        return pa.list_(pa.string())
    if name == "censored":
        return pa.bool_()
    if name in _INTEGERS:
        return pa.int64()
    if name.endswith("_s"):
        return pa.float64()
    return pa.string()


def arrow_table(table: str, data: ExportColumns) -> tuple[Any, Any]:
    """(the rows as an Arrow table in the export's types, each row's ``YYYY-MM`` or null). Each column's
    text is split, its NULLs set and its type cast by Arrow itself: no Python object per value."""
    pa, _ = _pyarrow()
    import pyarrow.compute as pc

    columns: dict[str, Any] = {}
    month = None
    for name, joined in data.texts.items():
        if data.rows == 0 or joined is None:
            text = pa.nulls(data.rows, pa.large_string())
        else:
            text = pc.split_pattern(pa.scalar(joined, pa.large_string()), data.SEP).values
            if len(text) != data.rows:
                raise InputError(f"{table}.{name} holds a value with a control character the export cannot carry",
                                 hint="report it: the export reads each column as one text")  # fmt: skip
            empty = pc.equal(text, data.null_mark)
            if pc.sum(empty).as_py() or data.nulls[name]:
                text = pc.if_else(empty, pa.scalar(None, pa.large_string()), text)
        kind = arrow_type(name)
        if name == MONTH_OF[table]:
            month = pc.utf8_slice_codeunits(text, 0, 7).cast(pa.string())
        if name == "labels":
            codes = text.dictionary_encode()  # a few distinct label sets: each parsed once
            decoded = pa.array([None if v is None else json.loads(v) for v in codes.dictionary.to_pylist()], kind)
            columns[name] = decoded.take(codes.indices)
        elif kind == pa.bool_():
            columns[name] = text.cast(pa.int64()).cast(kind)
        else:
            columns[name] = text.cast(kind)
    return pa.table(columns), month


@dataclass(frozen=True, slots=True)
class ArrowRows:
    """A table's rows made Arrow already (``cached_table``): ``table``, each row's month (or null), and
    the token of the store's state they were read in."""

    table: Any
    month: Any
    token: str


def cached_table(data: CachedColumns) -> ArrowRows | None:
    """``arrow_table`` of the observations from their columns cache (``Store.observation_cache``): the
    numbers, codes and times it keeps, made Arrow arrays without any text to parse, the rows already in
    partition and key order (numpy sorts the codes; Arrow then decodes each text once); None when the
    cache cannot give the export's values exactly (a column it lacks, a time finer than a microsecond
    or not stored in ``iso``'s form). The month is the stored time's (UTC) ``YYYY-MM``."""
    pa, _ = _pyarrow()
    import numpy as np

    month_of = MONTH_OF["observations"]
    if not data.time_order or any(name not in data.kinds for name in EXPORT_OBSERVATIONS):
        return None
    if data.kinds[month_of] != "stamp" or data.kinds["repo"] != "text":
        return None
    raw: dict[str, Any] = {}
    for name in EXPORT_OBSERVATIONS:
        kind, wanted = data.kinds[name], arrow_type(name)
        if kind == "text":
            raw[name] = np.frombuffer(data.blobs[name], dtype="<i4")
            if wanted != pa.string():
                return None
        elif kind == "stamp":
            raw[name] = np.frombuffer(data.blobs[name], dtype="<i8")
            known = raw[name][raw[name] != np.iinfo(np.int64).min]
            if wanted != pa.timestamp("us", tz="UTC") or bool((known % 1000).any()):
                return None
        elif kind != "none":
            raw[name] = numbers = np.frombuffer(data.blobs[name], dtype=kind)
            if numbers.dtype.kind == "f" and wanted == pa.int64():
                known = numbers[~np.isnan(numbers)]
                if not bool((known == np.trunc(known)).all()) or bool((np.abs(known) > 2**53).any()):
                    return None
            elif not (wanted in (pa.int64(), pa.float64()) or (wanted == pa.bool_() and numbers.dtype.kind != "f")):
                return None
    # each row's partition: its repository (ranked by name) and month (a null one last), then the key
    repos = json.loads(data.blobs["repo:values"])
    repo_rank = np.empty(len(repos) + 1, dtype=np.int64)  # (code -1 cannot occur: repo is NOT NULL)
    repo_rank[np.argsort(np.array(repos, dtype=object), kind="stable")] = np.arange(len(repos))
    repo_rank[-1] = len(repos)
    stamps = raw[month_of]
    missing_month = stamps == np.iinfo(np.int64).min
    months = stamps.view("datetime64[ns]").astype("datetime64[M]").view("<i8")
    months = np.where(missing_month, np.iinfo(np.int64).max, months)
    keys = [repo_rank[raw["repo"]], months, *(raw[k] for k in KEYS["observations"])]
    if not _ascending(keys):
        order = np.lexsort(keys[::-1])
        raw = {name: values.take(order) for name, values in raw.items()}
        months = months.take(order)
    n = data.rows
    columns: dict[str, Any] = {}
    for name in EXPORT_OBSERVATIONS:
        kind, wanted = data.kinds[name], arrow_type(name)
        if kind == "none":
            columns[name] = pa.nulls(n, wanted)
        elif kind == "text":
            codes = raw[name]
            values = pa.array(json.loads(data.blobs[f"{name}:values"]), pa.string())
            columns[name] = values.take(pa.array(codes, mask=codes < 0))
        elif kind == "stamp":
            missing = raw[name] == np.iinfo(np.int64).min
            columns[name] = pa.array(raw[name] // 1000, wanted, mask=missing)
        else:
            numbers = raw[name]
            missing = np.isnan(numbers) if numbers.dtype.kind == "f" else None
            if wanted == pa.int64():
                columns[name] = pa.array(np.nan_to_num(numbers).astype(np.int64), wanted, mask=missing)
            elif wanted == pa.float64():
                columns[name] = pa.array(numbers.astype(np.float64), wanted, mask=missing)
            else:
                columns[name] = pa.array(numbers != 0, wanted)
    distinct, inverse = np.unique(months, return_inverse=True)
    missing = distinct == np.iinfo(np.int64).max
    texts = np.datetime_as_string(np.where(missing, 0, distinct).astype("datetime64[M]"), unit="M").astype(object)
    month = pa.array(texts, pa.string(), mask=missing).take(pa.array(inverse.astype(np.int32)))
    return ArrowRows(pa.table(columns), month, data.token)


def _feed(digest: Any, array: Any) -> None:
    """Feed one column's values to ``digest``, canonically: which are NULL, then the values (NULL as a
    zero, an empty text or an empty list), read from Arrow's buffers without a copy where it can."""
    pa, _ = _pyarrow()
    import numpy as np
    import pyarrow.compute as pc

    digest.update(f"{array.type}:{len(array)}:{array.null_count};".encode())
    if array.null_count:
        digest.update(np.packbits(array.is_valid().to_numpy(zero_copy_only=False)).tobytes())
    kind = array.type
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        lengths = pc.list_value_length(array).fill_null(0)
        digest.update(lengths.to_numpy(zero_copy_only=False).astype("<i8").tobytes())
        _feed(digest, array.flatten())
        return
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        filled = array.fill_null("") if array.null_count else array
        width = "<i4" if pa.types.is_string(kind) else "<i8"
        buffers = filled.buffers()
        offsets = np.frombuffer(buffers[1], dtype=width)[filled.offset : filled.offset + len(filled) + 1]
        digest.update((offsets - offsets[0]).tobytes())
        if buffers[2] is not None and offsets[-1] > offsets[0]:
            digest.update(buffers[2].slice(int(offsets[0]), int(offsets[-1] - offsets[0])))
        return
    if array.null_count:
        array = pc.if_else(array.is_valid(), array, pa.scalar(False if pa.types.is_boolean(kind) else 0).cast(kind))
    values = array.to_numpy(zero_copy_only=False)
    digest.update(np.ascontiguousarray(values).view(np.uint8).tobytes() if values.dtype != object else repr(values.tolist()).encode())


def _digest(part: Any) -> str:
    """The hash of a partition's rows (in key order): its schema, then each column's values
    (``_feed``)."""
    digest = hashlib.sha256(str(part.schema).encode())
    for column in part.columns:
        for chunk in column.chunks:
            _feed(digest, chunk)
    return digest.hexdigest()


def _partitions(table: str, rows: Any, month: Any) -> list[tuple[str, str, Any]]:
    """``rows`` split by repository and month: (repository, month, its rows sorted by the table's key),
    in (repository, month) order. One sort of every row by (partition, key), skipped where they are in
    that order already (``cached_table``), then slices."""
    pa, _ = _pyarrow()
    import numpy as np
    import pyarrow.compute as pc

    def codes(values: Any) -> tuple[Any, list[str]]:
        encoded = values.dictionary_encode()
        if isinstance(encoded, pa.ChunkedArray):
            encoded = encoded.combine_chunks()
        return encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64), encoded.dictionary.to_pylist()

    repo_codes, repos = codes(rows["repo"])
    month_codes, months = codes(pc.fill_null(month, NULL_PARTITION))
    combined = repo_codes * len(months) + month_codes
    if len(repos) * len(months) <= 4 * len(combined) + 1024:  # a table of every pair, no sort
        seen = np.zeros(len(repos) * len(months), dtype=bool)
        seen[combined] = True
        uniques = np.flatnonzero(seen)
        lookup = np.zeros(len(seen), dtype=np.int64)
        lookup[uniques] = np.arange(len(uniques))
        found = lookup[combined]
    else:
        uniques, found = np.unique(combined, return_inverse=True)
    pairs = [(repos[int(u) // len(months)], months[int(u) % len(months)]) for u in uniques]
    rank = np.empty(len(pairs), dtype=np.int64)  # partitions in (repository, month) order
    rank[sorted(range(len(pairs)), key=lambda i: pairs[i])] = np.arange(len(pairs))
    by_rank = sorted(pairs)
    part = rank[found]
    key_columns = [rows[k].to_numpy() for k in KEYS[table]] if all(rows[k].null_count == 0 for k in KEYS[table]) else None
    if key_columns is not None and _ascending([part, *key_columns]):
        ordered = rows
    else:
        with_part = rows.append_column("\x1fpart", pa.array(part))
        order = [("\x1fpart", "ascending"), *[(k, "ascending") for k in KEYS[table]]]
        indices = pc.sort_indices(with_part, sort_keys=order)
        ordered, part = rows.take(indices), part[indices.to_numpy()]
    bounds = np.flatnonzero(np.diff(part)) + 1
    starts, ends = np.concatenate([[0], bounds]), np.concatenate([bounds, [len(part)]])
    out = []
    for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
        repo, month_text = by_rank[int(part[start])]
        out.append((repo, month_text, ordered.slice(start, end - start).combine_chunks()))
    return out


def _ascending(columns: list[Any]) -> bool:
    """Whether the rows are in strictly ascending order of ``columns`` (compared left to right)."""
    import numpy as np

    if len(columns[0]) < 2:
        return True
    later = np.zeros(len(columns[0]) - 1, dtype=bool)  # a row decided greater than the one before
    tied = np.ones(len(columns[0]) - 1, dtype=bool)
    for values in columns:
        step = np.diff(values)
        later |= tied & (step > 0)
        if bool((tied & (step < 0)).any()):
            return False
        tied &= step == 0
    return bool(later.all())


def _manifest(path: Path, schema_version: int) -> dict[str, Any]:
    """The last export's manifest, {} where there is none this version can use."""
    try:
        old = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except (OSError, ValueError):
        return {}
    if not isinstance(old, dict) or old.get("format") != FORMAT or old.get("schema") != schema_version:
        return {}
    return old


Frame = ExportColumns | ArrowRows | str  # a table's rows as text or as Arrow; str: unchanged since that token


class ParquetExport:
    """One export into ``directory``: ``table`` writes a table's partitions (tables may be written
    from different threads at once), ``finish`` removes the partitions that are gone and writes the
    manifest, last."""

    def __init__(self, directory: Path, *, schema_version: int) -> None:
        _pyarrow()
        if directory.exists() and not directory.is_dir():
            raise InputError(f"{directory} is not a folder", hint="pass a folder to export into (it is created if missing)")
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as e:  # a file where a parent folder should be, no permission, a read-only disk
            raise InputError(f"cannot create the export folder {directory}: {e.strerror or e}",
                             hint="pass a folder you can write to (it is created if missing)") from None  # fmt: skip
        self.directory = directory
        self.schema_version = schema_version
        self.manifest_path = directory / MANIFEST
        old = _manifest(self.manifest_path, schema_version)
        self.known: dict[str, Any] = old.get("partitions", {})
        self.known_sources: dict[str, str] = old.get("sources", {})
        self.summary = ExportSummary(directory)
        self.partitions: dict[str, dict[str, Any]] = {}
        self.sources: dict[str, str] = {}
        self._lock = threading.Lock()

    def unchanged(self, table: str, token: str) -> bool:
        """Whether the last export wrote ``table`` from the store's state ``token`` (a columns cache's
        token, ``Store.observation_cache_token``) and every file of it is still there: then the table
        need not be read or hashed again (``table(name, token)``)."""
        if self.known_sources.get(table) != token:
            return False
        return all((self.directory / relative / "data.parquet").is_file() for relative in self.known
                   if relative.startswith(f"{table}/"))  # fmt: skip

    def table(self, table: str, data: Frame, on_progress: Callable[[int, int], None] | None = None) -> None:
        """Write ``table``'s partitions from ``data`` (``Store.export_columns``, ``cached_table``, or the
        token of an ``unchanged`` table), each only if its rows' hash differs from the last export's."""
        _, pq = _pyarrow()
        if isinstance(data, str):  # unchanged: the last export's partitions stand
            kept = {k: v for k, v in self.known.items() if k.startswith(f"{table}/")}
            with self._lock:
                self.partitions.update(kept)
                self.summary.rows[table] = sum(int(v["rows"]) for v in kept.values())
                self.summary.unchanged += len(kept)
                self.sources[table] = data
            return
        token = data.token if isinstance(data, ArrowRows) else None
        rows, month = (data.table, data.month) if isinstance(data, ArrowRows) else arrow_table(table, data)
        del data  # the text: let it go before the partitions are cut
        with self._lock:
            self.summary.rows[table] = rows.num_rows
            if token is not None:
                self.sources[table] = token
        if rows.num_rows == 0:
            return
        groups = _partitions(table, rows, month)
        del rows, month
        for done, (repo, month_text, part) in enumerate(groups, 1):
            relative = f"{table}/repository={escape(repo)}/month={month_text}"
            digest = _digest(part)
            target = self.directory / relative / "data.parquet"
            same = self.known.get(relative, {}).get("hash") == digest and target.is_file()
            if not same:
                target.parent.mkdir(parents=True, exist_ok=True)
                temporary = target.with_name(f".data.parquet.{os.getpid()}.tmp")
                pq.write_table(part, temporary, compression="zstd")
                temporary.replace(target)
            with self._lock:
                self.partitions[relative] = {"hash": digest, "rows": part.num_rows}
                if same:
                    self.summary.unchanged += 1
                else:
                    self.summary.written += 1
            if on_progress is not None:
                on_progress(done, len(groups))

    def finish(self) -> ExportSummary:
        """Remove the partitions the store no longer has, write the manifest; the summary."""
        directory, summary = self.directory, self.summary
        for relative in sorted(set(self.known) - set(self.partitions)):
            gone = directory / relative
            if gone.is_dir() and gone.resolve().is_relative_to(directory.resolve()):
                shutil.rmtree(gone)
                summary.removed += 1
                for parent in gone.parents:  # the repository's folder, once its last month is gone
                    if parent == directory or any(parent.iterdir()):
                        break
                    parent.rmdir()
        summary.rows = {t: summary.rows[t] for t in TABLES if t in summary.rows}
        manifest = {"format": FORMAT, "schema": self.schema_version, "partitions": self.partitions,
                    "sources": self.sources}  # fmt: skip
        text = json.dumps(manifest, indent=1, sort_keys=True)
        temporary = self.manifest_path.with_name(f".{MANIFEST}.tmp")
        temporary.write_text(text + "\n", encoding="utf-8")
        temporary.replace(self.manifest_path)
        return summary


def export_store(connect: Callable[[], Store], directory: Path, *, schema_version: int) -> ExportSummary:
    """Export the store ``connect()`` opens (a connection per table: the database reads tables side by
    side, two at a time, and each is written as soon as it is read, overlapping the next one's read).
    The observations come from their columns cache (``cached_table``; read as text where it cannot give
    them) and are not read at all when the last export wrote them from the same cache (``unchanged``)."""
    from concurrent.futures import ThreadPoolExecutor

    export = ParquetExport(directory, schema_version=schema_version)

    def observations(own: Store) -> Frame:
        token = own.observation_cache_token()
        if token is not None and export.unchanged("observations", token):
            return token
        cached = own.observation_cache()
        arrow = cached_table(cached) if cached is not None else None
        return arrow if arrow is not None else own.export_columns("observations")

    def write(table: str) -> None:
        with connect() as own:
            data = observations(own) if table == "observations" else own.export_columns(table)
        export.table(table, data)

    largest_first = ["observations", "steps", *(t for t in TABLES if t not in ("observations", "steps"))]
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="export") as pool:
        list(pool.map(write, largest_first))
    return export.finish()
