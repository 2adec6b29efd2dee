"""``we-advisor export --format parquet DIR``: the store's tables as Parquet, for a warehouse.

Layout (Hive partitioning, as Spark writes it, so BigQuery, ClickHouse, DuckDB and Spark read it
directly)::

    DIR/<table>/repository=<owner>%2F<name>/month=<YYYY-MM>/data.parquet
    DIR/_we_advisor_export.json      what the last export wrote (partition -> content hash)

``<table>`` is ``runs``, ``jobs``, ``steps``, ``observations``, ``incidents``; ``month`` comes from
the table's own time (``MONTH_OF``; ``__HIVE_DEFAULT_PARTITION__`` when it has none). Every file
also holds its ``repo`` column, so a reader that ignores the directory names loses nothing.

Incremental: each partition's rows are hashed (sorted by the table's key); a partition whose hash
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

import pandas as pd

from analyzer.errors import ConfigError, InputError

TABLES = ("runs", "jobs", "steps", "observations", "incidents")
MONTH_OF = {"runs": "created_at", "jobs": "started_at", "steps": "job_started_at", "observations": "started_at",
            "incidents": "occurred_at"}  # fmt: skip
KEYS = {"runs": ["run_id", "run_attempt"], "jobs": ["job_id"], "steps": ["job_id", "number"],
        "observations": ["job_id", "scope", "step_number", "phase", "step"], "incidents": ["job_id"]}  # fmt: skip
_INTEGERS = frozenset({"run_id", "run_attempt", "job_id", "number", "step_number", "start_line", "seq"})
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


def arrow_schema(table: str, frame: pd.DataFrame) -> Any:
    """The Parquet columns: ids and counts int64, durations float64, flags bool, times
    timestamp[us, UTC], ``labels`` list<string>, everything else string."""
    pa, _ = _pyarrow()
    fields = []
    for name in frame.columns:
        dtype = frame[name].dtype
        if name.endswith("_at"):
            kind = pa.timestamp("us", tz="UTC")
        elif name == "labels":
            kind = pa.list_(pa.string())
        elif name == "censored" or pd.api.types.is_bool_dtype(dtype):
            kind = pa.bool_()
        elif name in _INTEGERS or pd.api.types.is_integer_dtype(dtype):
            kind = pa.int64()  # step_number is read as float where some are NULL: nulls here
        elif pd.api.types.is_float_dtype(dtype) or name.endswith("_s"):
            kind = pa.float64()
        else:
            kind = pa.string()
        fields.append(pa.field(name, kind))
    return pa.schema(fields)


def _months(frame: pd.DataFrame, table: str) -> pd.Series:
    stamps = frame[MONTH_OF[table]]
    months: pd.Series = stamps.dt.strftime("%Y-%m")
    return months.where(stamps.notna(), NULL_PARTITION)


def _digest(frame: pd.DataFrame) -> str:
    hashed = pd.util.hash_pandas_object(frame.astype({c: str for c in frame.columns if frame[c].dtype == object}),
                                        index=False)  # fmt: skip
    return hashlib.sha256(hashed.to_numpy().tobytes() + ",".join(frame.columns).encode()).hexdigest()


def write_parquet(
    frames: Mapping[str, pd.DataFrame], directory: Path, *, schema_version: int,
    on_progress: Callable[[int, int], None] | None = None,
) -> ExportSummary:  # fmt: skip
    """Write ``frames`` (table -> its rows) under ``directory``, partitioned, incrementally."""
    pa, pq = _pyarrow()
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
    for table in TABLES:
        frame = frames[table]
        summary.rows[table] = len(frame)
        if frame.empty:
            continue
        schema = arrow_schema(table, frame)
        ordered = frame.assign(_month=_months(frame, table)).sort_values(
            ["repo", "_month", *KEYS[table]], kind="stable", na_position="first"
        )
        groups = list(ordered.groupby(["repo", "_month"], sort=False))
        for done, ((repo, month), rows) in enumerate(groups, 1):
            part = rows.drop(columns="_month").reset_index(drop=True)
            relative = f"{table}/repository={escape(str(repo))}/month={month}"
            digest = _digest(part)
            partitions[relative] = {"hash": digest, "rows": len(part)}
            target = directory / relative / "data.parquet"
            if known.get(relative, {}).get("hash") == digest and target.is_file():
                summary.unchanged += 1
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            temporary = target.with_name(f".data.parquet.{os.getpid()}.tmp")
            pq.write_table(pa.Table.from_pandas(part, schema=schema, preserve_index=False), temporary,
                           compression="zstd")  # fmt: skip
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
