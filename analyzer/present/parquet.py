"""``we-advisor export --format parquet DIR``: the store's tables as Parquet, for a warehouse.

Layout (Hive partitioning, as Spark writes it, so BigQuery, ClickHouse, DuckDB and Spark read it
directly)::

    DIR/<table>/repository=<owner>%2F<name>/month=<YYYY-MM>/data.parquet
    DIR/_we_advisor_export.json      what the last export wrote (partition -> content hash)

``<table>`` is ``runs``, ``jobs``, ``steps``, ``observations``, ``incidents``; ``month`` comes from
the table's own time (``MONTH_OF``; ``__HIVE_DEFAULT_PARTITION__`` when it has none). Every file
also holds its ``repo`` column, so a reader that ignores the directory names loses nothing.

Incremental: each partition's rows are sorted by the table's key and hashed; a partition whose hash
matches the manifest is not written again, a changed one is rewritten (to a temporary file, then
renamed: a reader never sees half a file), one that no longer exists is removed. The manifest is
written last, so an interrupted export leaves files that the next one checks again.

This is the only module that imports pyarrow (an optional dependency: ``we-advisor[parquet]``).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analyzer.errors import ConfigError, InputError
from analyzer.store.store import ExportColumns

TABLES = ("runs", "jobs", "steps", "observations", "incidents")
MONTH_OF = {"runs": "created_at", "jobs": "started_at", "steps": "job_started_at", "observations": "started_at",
            "incidents": "occurred_at"}  # fmt: skip
KEYS = {"runs": ["run_id", "run_attempt"], "jobs": ["job_id"], "steps": ["job_id", "number"],
        "observations": ["job_id", "seq"], "incidents": ["job_id"]}  # fmt: skip
_INTEGERS = frozenset({"run_id", "run_attempt", "job_id", "number", "step_number", "start_line", "seq", "jobs"})
MANIFEST = "_we_advisor_export.json"
FORMAT = 1  # the layout version (in the manifest; another one rewrites everything)
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


def _digest(part: Any) -> str:
    """The hash of a partition's rows (in key order): their Arrow IPC serialization."""
    pa, _ = _pyarrow()
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, part.schema) as writer:
        writer.write_table(part)
    return hashlib.sha256(sink.getvalue().to_pybytes()).hexdigest()


def write_parquet(
    frames: Mapping[str, ExportColumns], directory: Path, *, schema_version: int,
    on_progress: Callable[[int, int], None] | None = None,
) -> ExportSummary:  # fmt: skip
    """Write ``frames`` (table -> its columns, ``Store.export_columns``) under ``directory``, partitioned,
    incrementally."""
    _, pq = _pyarrow()
    if directory.exists() and not directory.is_dir():
        raise InputError(f"{directory} is not a folder", hint="pass a folder to export into (it is created if missing)")
    directory.mkdir(parents=True, exist_ok=True)
    manifest_path = directory / MANIFEST
    old: dict[str, Any] = {}
    if manifest_path.is_file():
        try:
            old = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            old = {}
    known = old.get("partitions", {}) if old.get("format") == FORMAT and old.get("schema") == schema_version else {}
    summary = ExportSummary(directory)
    partitions: dict[str, dict[str, Any]] = {}
    import pyarrow.compute as pc

    for table in TABLES:
        rows, month = arrow_table(table, frames[table])
        summary.rows[table] = rows.num_rows
        if rows.num_rows == 0:
            continue
        month = pc.fill_null(month, NULL_PARTITION)
        keys = pc.binary_join_element_wise(rows["repo"], month, "\x1f")
        groups = sorted(pc.unique(keys).to_pylist())
        order = [(k, "ascending") for k in KEYS[table]]
        for done, key in enumerate(groups, 1):
            repo, month_text = key.split("\x1f")
            part = rows.filter(pc.equal(keys, key))
            part = part.take(pc.sort_indices(part, sort_keys=order)).combine_chunks()
            relative = f"{table}/repository={escape(repo)}/month={month_text}"
            digest = _digest(part)
            partitions[relative] = {"hash": digest, "rows": part.num_rows}
            target = directory / relative / "data.parquet"
            if known.get(relative, {}).get("hash") == digest and target.is_file():
                summary.unchanged += 1
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            temporary = target.with_name(f".data.parquet.{os.getpid()}.tmp")
            pq.write_table(part, temporary, compression="zstd")
            temporary.replace(target)
            summary.written += 1
            if on_progress is not None:
                on_progress(done, len(groups))
    for relative in sorted(set(known) - set(partitions)):
        gone = directory / relative
        if gone.is_dir() and gone.resolve().is_relative_to(directory.resolve()):
            shutil.rmtree(gone)
            summary.removed += 1
            for parent in gone.parents:  # the repository's folder, once its last month is gone
                if parent == directory or any(parent.iterdir()):
                    break
                parent.rmdir()
    text = json.dumps({"format": FORMAT, "schema": schema_version, "partitions": partitions}, indent=1, sort_keys=True)
    temporary = manifest_path.with_name(f".{MANIFEST}.tmp")
    temporary.write_text(text + "\n", encoding="utf-8")
    temporary.replace(manifest_path)
    return summary
