"""The SQLite store: ``save_*`` / ``load_*``, schema version, transactions.

One file (default ``data/we-advisor.db``) in WAL mode, so readers never block on a writer.
Every write happens inside a transaction (``BEGIN IMMEDIATE``), so a killed command leaves the
store as it was before the interrupted unit of work. Upserts are keyed by GitHub ids (run id +
attempt, job id), so saving the same thing twice adds nothing. Raw logs are kept
zlib-compressed, so parsed data can be rebuilt when the parser or the phase rules change.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import zlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd

from analyzer.errors import StoreError
from analyzer.records import Annotation, Incident, Job, Observation, Run, StepInfo

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id INTEGER NOT NULL, run_attempt INTEGER NOT NULL, repo TEXT NOT NULL,
    workflow_name TEXT NOT NULL, workflow_path TEXT, event TEXT, head_branch TEXT, head_sha TEXT,
    status TEXT, conclusion TEXT, created_at TEXT, run_started_at TEXT, updated_at TEXT,
    PRIMARY KEY (run_id, run_attempt)
);
CREATE TABLE IF NOT EXISTS jobs (
    job_id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL, run_attempt INTEGER NOT NULL,
    repo TEXT NOT NULL, workflow_name TEXT NOT NULL, name TEXT NOT NULL, status TEXT,
    conclusion TEXT, created_at TEXT, started_at TEXT, completed_at TEXT, labels TEXT NOT NULL,
    runner_name TEXT
);
CREATE INDEX IF NOT EXISTS jobs_run ON jobs (run_id, run_attempt);
CREATE TABLE IF NOT EXISTS steps (
    job_id INTEGER NOT NULL, number INTEGER NOT NULL, name TEXT NOT NULL, status TEXT,
    conclusion TEXT, started_at TEXT, completed_at TEXT, PRIMARY KEY (job_id, number)
);
CREATE TABLE IF NOT EXISTS annotations (
    job_id INTEGER NOT NULL, idx INTEGER NOT NULL, level TEXT NOT NULL, message TEXT NOT NULL,
    title TEXT, path TEXT, start_line INTEGER, PRIMARY KEY (job_id, idx)
);
-- part 0 is the whole job log, part N > 0 the per-step file N of a run-log zip.
-- state: ok | expired (410, never asked again) | missing (no log could be had)
CREATE TABLE IF NOT EXISTS logs (
    job_id INTEGER NOT NULL, part INTEGER NOT NULL, name TEXT, state TEXT NOT NULL,
    content BLOB, size INTEGER NOT NULL DEFAULT 0, sha256 TEXT, saved_at TEXT NOT NULL,
    PRIMARY KEY (job_id, part)
);
CREATE TABLE IF NOT EXISTS observations (
    job_id INTEGER NOT NULL, seq INTEGER NOT NULL, scope TEXT NOT NULL, repo TEXT NOT NULL,
    workflow TEXT NOT NULL, job TEXT NOT NULL, step TEXT, step_number INTEGER, phase TEXT,
    run_id INTEGER NOT NULL, run_attempt INTEGER NOT NULL, started_at TEXT,
    duration_s REAL NOT NULL, outcome TEXT NOT NULL, censored INTEGER NOT NULL, limit_s REAL,
    runner TEXT, PRIMARY KEY (job_id, seq)
);
CREATE INDEX IF NOT EXISTS observations_unit ON observations (repo, workflow, job, step, phase);
CREATE TABLE IF NOT EXISTS incidents (
    job_id INTEGER PRIMARY KEY, repo TEXT NOT NULL, workflow TEXT NOT NULL, run_id INTEGER NOT NULL,
    run_attempt INTEGER NOT NULL, job TEXT NOT NULL, step_number INTEGER, step TEXT, phase TEXT,
    kind TEXT NOT NULL, limit_s REAL, evidence TEXT NOT NULL, occurred_at TEXT
);
-- which parser version and phase rules produced a job's observations and incident
CREATE TABLE IF NOT EXISTS parse_state (
    job_id INTEGER PRIMARY KEY, parser_version INTEGER NOT NULL, rules_hash TEXT NOT NULL,
    parsed_at TEXT NOT NULL
);
-- local files already ingested (by content hash), so ingesting the same thing twice adds nothing
CREATE TABLE IF NOT EXISTS sources (
    sha256 TEXT PRIMARY KEY, path TEXT NOT NULL, kind TEXT NOT NULL, jobs INTEGER NOT NULL,
    ingested_at TEXT NOT NULL
);
-- workflow YAML text at a ref, for the current timeout-minutes values
CREATE TABLE IF NOT EXISTS workflow_files (
    repo TEXT NOT NULL, path TEXT NOT NULL, ref TEXT NOT NULL, content TEXT NOT NULL,
    PRIMARY KEY (repo, path, ref)
);
-- fetch: runs whose jobs, logs and annotations were all stored, as the listing showed them then
-- (a run listed again with the same attempt and updated_at is not fetched again)
CREATE TABLE IF NOT EXISTS fetched_runs (
    repo TEXT NOT NULL, run_id INTEGER NOT NULL, run_attempt INTEGER NOT NULL, updated_at TEXT,
    logs INTEGER NOT NULL, PRIMARY KEY (repo, run_id)
);
-- fetch: jobs whose check-run annotations were fetched (a job may have none)
CREATE TABLE IF NOT EXISTS fetched_annotations (job_id INTEGER PRIMARY KEY);
-- fetch: conditional requests. The ETag of a GitHub answer and the slim payload it stood for
-- (zlib-compressed JSON). A listing page's row is written only once everything it lists is stored.
CREATE TABLE IF NOT EXISTS http_cache (key TEXT PRIMARY KEY, etag TEXT NOT NULL, payload BLOB NOT NULL);
"""

_SQLITE_MAGIC = b"SQLite format 3\x00"


def iso(value: datetime | None) -> str | None:
    """A UTC timestamp as stored: ``2026-03-02T10:11:12.123456Z`` (or None)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(value: str | None) -> datetime | None:
    """Inverse of :func:`iso`; accepts GitHub's ``…Z`` forms too."""
    if not value:
        return None
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class LogPart:
    """A stored log: the whole job log (part 0) or one per-step file of a run-log zip."""

    job_id: int
    part: int
    name: str | None
    state: str
    data: bytes | None


class Store:
    """A we-advisor SQLite store. Use as a context manager; writes go through ``transaction()``."""

    def __init__(self, path: Path | str, *, create: bool = True) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            self._check_file(create)
        try:
            self.conn = sqlite3.connect(str(path), timeout=30.0, isolation_level=None, check_same_thread=False)
            self.conn.execute("PRAGMA busy_timeout = 30000")
            self._setup()
        except sqlite3.DatabaseError as exc:
            self._close_after_failed_open()
            raise StoreError(
                f"{self.path} is not a usable we-advisor store: {exc}",
                hint="point --store at another file, or move this one away",
            ) from None
        except StoreError:
            self._close_after_failed_open()
            raise

    def _close_after_failed_open(self) -> None:
        """A file refused as a store is left as it was: no -wal/-shm beside it."""
        conn = getattr(self, "conn", None)
        if conn is not None:
            conn.close()

    # -- opening -----------------------------------------------------------------------------

    def _check_file(self, create: bool) -> None:
        if self.path.is_dir():
            raise StoreError(f"store path {self.path} is a directory", hint="pass a file path, e.g. data/we-advisor.db")
        if not self.path.exists():
            if not create:
                raise StoreError(
                    f"no store at {self.path}",
                    hint="run `we-advisor fetch` or `we-advisor ingest` first, or pass --store",
                )
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create {self.path.parent}: {exc.strerror}", hint="check the path") from None
            return
        try:
            with self.path.open("rb") as fh:
                head = fh.read(16)
        except OSError as exc:
            raise StoreError(f"cannot read store {self.path}: {exc.strerror}", hint="check permissions") from None
        if head and head != _SQLITE_MAGIC:
            raise StoreError(
                f"{self.path} is not a SQLite database",
                hint="pass --store with a we-advisor store, or a new file name to create one",
            )

    def _setup(self) -> None:
        # checked before WAL is switched on: a file that is not ours keeps its journal mode
        tables = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        current = False
        if "meta" in tables:
            row = self.conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            version = int(row[0]) if row else 0
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path} has schema version {version}, newer than this we-advisor ({SCHEMA_VERSION})",
                    hint="upgrade we-advisor (pip install -U we-advisor) or use another --store",
                )
            current = version == SCHEMA_VERSION
        elif tables:
            raise StoreError(
                f"{self.path} is a SQLite database but not a we-advisor store",
                hint="pass --store with a new file name",
            )
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute("PRAGMA synchronous = NORMAL")
        self.conn.execute("PRAGMA foreign_keys = OFF")
        if current:
            return
        with self.transaction():
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    self.conn.execute(statement)
            self.conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic unit of work: committed on success, rolled back on any error."""
        if self.conn.in_transaction:
            yield self.conn
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    # -- meta --------------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction():
            self.conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # -- saving ------------------------------------------------------------------------------

    def save_run(self, run: Run) -> None:
        with self.transaction():
            self.conn.execute(
                "INSERT OR REPLACE INTO runs VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    run.run_id,
                    run.run_attempt,
                    run.repo,
                    run.workflow_name,
                    run.workflow_path,
                    run.event,
                    run.head_branch,
                    run.head_sha,
                    run.status,
                    run.conclusion,
                    iso(run.created_at),
                    iso(run.run_started_at),
                    iso(run.updated_at),
                ),
            )

    def save_job(self, job: Job) -> None:
        """Upsert a job and replace its steps."""
        with self.transaction():
            self.conn.execute(
                "INSERT OR REPLACE INTO jobs VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    job.job_id,
                    job.run_id,
                    job.run_attempt,
                    job.repo,
                    job.workflow_name,
                    job.name,
                    job.status,
                    job.conclusion,
                    iso(job.created_at),
                    iso(job.started_at),
                    iso(job.completed_at),
                    json.dumps(list(job.labels)),
                    job.runner_name,
                ),
            )
            self.conn.execute("DELETE FROM steps WHERE job_id=?", (job.job_id,))
            self._unparse(job.job_id)
            self.conn.executemany(
                "INSERT INTO steps VALUES (?,?,?,?,?,?,?)",
                [
                    (job.job_id, s.number, s.name, s.status, s.conclusion, iso(s.started_at), iso(s.completed_at))
                    for s in job.steps
                ],
            )

    def save_annotations(self, job_id: int, annotations: Sequence[Annotation]) -> None:
        """Replace the annotations of a job."""
        with self.transaction():
            self.conn.execute("DELETE FROM annotations WHERE job_id=?", (job_id,))
            self._unparse(job_id)
            self.conn.executemany(
                "INSERT INTO annotations VALUES (?,?,?,?,?,?,?)",
                [(job_id, i, a.level, a.message, a.title, a.path, a.start_line) for i, a in enumerate(annotations)],
            )

    def save_log(
        self, job_id: int, data: bytes | None, *, part: int = 0, name: str | None = None, state: str = "ok"
    ) -> None:
        """Keep a raw log (compressed). ``state`` is ``ok``, ``expired`` or ``missing``."""
        blob = zlib.compress(data, 6) if data is not None else None
        digest = hashlib.sha256(data).hexdigest() if data is not None else None
        with self.transaction():
            self.conn.execute(
                "INSERT OR REPLACE INTO logs VALUES (?,?,?,?,?,?,?,?)",
                (job_id, part, name, state, blob, len(data or b""), digest, iso(datetime.now(UTC))),
            )
            self._unparse(job_id)

    def _unparse(self, job_id: int) -> None:
        """A job's raw inputs changed: its parsed data is stale until the next reparse (in the same
        transaction, so a log stored after the job was parsed without it is never left unparsed)."""
        self.conn.execute("DELETE FROM parse_state WHERE job_id=?", (job_id,))

    def save_analysis(
        self,
        job_id: int,
        observations: Sequence[Observation],
        incident: Incident | None,
        *,
        parser_version: int,
        rules_hash: str,
    ) -> None:
        """Replace the parsed observations and the incident of one job."""
        with self.transaction():
            self.conn.execute("DELETE FROM observations WHERE job_id=?", (job_id,))
            self.conn.execute("DELETE FROM incidents WHERE job_id=?", (job_id,))
            self.conn.executemany(
                "INSERT INTO observations VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                [
                    (
                        job_id,
                        seq,
                        o.scope,
                        o.repo,
                        o.workflow,
                        o.job,
                        o.step,
                        o.step_number,
                        o.phase,
                        o.run_id,
                        o.run_attempt,
                        iso(o.started_at),
                        o.duration_s,
                        o.outcome,
                        int(o.censored),
                        o.limit_s,
                        o.runner,
                    )
                    for seq, o in enumerate(observations)
                ],
            )
            if incident is not None:
                i = incident
                self.conn.execute(
                    "INSERT INTO incidents VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        job_id,
                        i.repo,
                        i.workflow,
                        i.run_id,
                        i.run_attempt,
                        i.job,
                        i.step_number,
                        i.step,
                        i.phase,
                        i.kind,
                        i.limit_s,
                        i.evidence,
                        iso(i.occurred_at),
                    ),
                )
            self.conn.execute(
                "INSERT OR REPLACE INTO parse_state VALUES (?,?,?,?)",
                (job_id, parser_version, rules_hash, iso(datetime.now(UTC))),
            )

    def save_workflow_file(self, repo: str, path: str, ref: str, content: str) -> None:
        with self.transaction():
            self.conn.execute("INSERT OR REPLACE INTO workflow_files VALUES (?,?,?,?)", (repo, path, ref, content))

    def record_source(self, sha256: str, path: str, kind: str, jobs: int) -> None:
        with self.transaction():
            self.conn.execute(
                "INSERT OR REPLACE INTO sources VALUES (?,?,?,?,?)", (sha256, path, kind, jobs, iso(datetime.now(UTC)))
            )

    # -- loading -----------------------------------------------------------------------------

    def has_source(self, sha256: str) -> bool:
        return self.conn.execute("SELECT 1 FROM sources WHERE sha256=?", (sha256,)).fetchone() is not None

    def load_run(self, run_id: int, run_attempt: int) -> Run | None:
        row = self.conn.execute("SELECT * FROM runs WHERE run_id=? AND run_attempt=?", (run_id, run_attempt)).fetchone()
        return None if row is None else _run_from_row(row)

    def load_runs(self, repo: str | None = None) -> list[Run]:
        sql, args = "SELECT * FROM runs", cast(tuple[Any, ...], ())
        if repo:
            sql, args = sql + " WHERE repo=?", (repo,)
        return [_run_from_row(r) for r in self.conn.execute(sql + " ORDER BY run_id, run_attempt", args)]

    def newest_heads(self, repo: str | None = None) -> dict[str, str]:
        """workflow path -> head commit of its newest run (by start, else creation time; first by id on a tie)."""
        where, args = ("AND repo = ?", (repo,)) if repo else ("", ())
        rows = self.conn.execute(
            "SELECT workflow_path, head_sha FROM (SELECT workflow_path, head_sha, ROW_NUMBER() OVER ("
            "PARTITION BY workflow_path ORDER BY coalesce(run_started_at, created_at) DESC, run_id, run_attempt) AS pick "
            "FROM runs WHERE workflow_path IS NOT NULL AND head_sha IS NOT NULL "
            f"AND coalesce(run_started_at, created_at) IS NOT NULL {where}) WHERE pick = 1",
            args,
        )
        return {str(r[0]): str(r[1]) for r in rows}

    def load_job(self, job_id: int) -> Job | None:
        row = self.conn.execute("SELECT * FROM jobs WHERE job_id=?", (job_id,)).fetchone()
        if row is None:
            return None
        steps = self.conn.execute("SELECT * FROM steps WHERE job_id=? ORDER BY number", (job_id,)).fetchall()
        return _job_from_row(row, steps)

    def job_ids(self, repo: str | None = None) -> list[int]:
        sql, args = "SELECT job_id FROM jobs", cast(tuple[Any, ...], ())
        if repo:
            sql, args = sql + " WHERE repo=?", (repo,)
        return [int(r[0]) for r in self.conn.execute(sql + " ORDER BY job_id", args)]

    def load_annotations(self, job_id: int) -> list[Annotation]:
        rows = self.conn.execute(
            "SELECT level, message, title, path, start_line FROM annotations WHERE job_id=? ORDER BY idx", (job_id,)
        )
        return [Annotation(job_id, r[0], r[1], r[2], r[3], r[4]) for r in rows]

    def load_log_parts(self, job_id: int) -> list[LogPart]:
        rows = self.conn.execute(
            "SELECT part, name, state, content FROM logs WHERE job_id=? ORDER BY part", (job_id,)
        ).fetchall()
        return [
            LogPart(job_id, int(r[0]), r[1], r[2], zlib.decompress(r[3]) if r[3] is not None else None) for r in rows
        ]

    def log_state(self, job_id: int) -> str | None:
        row = self.conn.execute("SELECT state FROM logs WHERE job_id=? AND part=0", (job_id,)).fetchone()
        return None if row is None else str(row[0])

    def load_workflow_files(self, repo: str | None = None) -> list[tuple[str, str, str, str]]:
        sql, args = "SELECT repo, path, ref, content FROM workflow_files", cast(tuple[Any, ...], ())
        if repo:
            sql, args = sql + " WHERE repo=?", (repo,)
        return [(r[0], r[1], r[2], r[3]) for r in self.conn.execute(sql + " ORDER BY repo, path, ref", args)]

    def stale_jobs(self, parser_version: int, rules_hash: str) -> list[int]:
        """Jobs whose parsed data is missing or came from another parser version or rule set."""
        rows = self.conn.execute(
            "SELECT j.job_id FROM jobs j LEFT JOIN parse_state p ON p.job_id = j.job_id "
            "WHERE p.job_id IS NULL OR p.parser_version != ? OR p.rules_hash != ? ORDER BY j.job_id",
            (parser_version, rules_hash),
        )
        return [int(r[0]) for r in rows]

    def observations_frame(
        self,
        *,
        repo: str | None = None,
        workflow: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> pd.DataFrame:
        """Observations as a DataFrame (one row each), ``started_at`` as UTC datetimes."""
        where, args = _filters(repo=repo, workflow=workflow, since=since, until=until)
        known = {name: value for name, value in (('repo', repo), ('workflow', workflow)) if value}
        frame = _read_observation_columns(self.conn, where, args, known)
        if frame is None:  # a value the fast path cannot carry: row by row
            frame = pd.read_sql_query(
                f"SELECT {', '.join(_OBSERVATION_COLUMNS)} FROM observations{where}", self.conn, params=args
            )
            for name in _TEXT_COLUMNS:  # pandas 3 reads text as its ``str`` dtype, NaN for NULL
                values = frame[name].to_numpy(dtype=object, copy=True)
                values[pd.isna(values)] = None
                frame[name] = _text_column(values)
            stamps = pd.to_datetime(frame["started_at"], utc=True, format="ISO8601")
            frame["started_at"] = stamps.astype(_STAMP_DTYPE)  # pandas 3 infers the unit (µs here)
        frame["censored"] = frame["censored"].astype(bool)
        return frame

    def load_incidents(
        self, *, repo: str | None = None, workflow: str | None = None, since: datetime | None = None
    ) -> list[Incident]:
        where, args = _filters(repo=repo, workflow=workflow, since=since, column="occurred_at")
        rows = self.conn.execute(
            "SELECT repo, workflow, run_id, run_attempt, job_id, job, step_number, step, phase, kind, limit_s, "
            f"evidence, occurred_at FROM incidents{where} ORDER BY occurred_at, run_id, run_attempt, job_id",
            args,
        )
        return [
            Incident(
                repo=r[0],
                workflow=r[1],
                run_id=r[2],
                run_attempt=r[3],
                job_id=r[4],
                job=r[5],
                step_number=r[6],
                step=r[7],
                phase=r[8],
                kind=r[9],
                limit_s=r[10],
                evidence=r[11],
                occurred_at=parse_iso(r[12]),
            )
            for r in rows
        ]

    def newest_time(self, *, repo: str | None = None) -> datetime | None:
        """The latest observation start in the store (the end of the default analysis window)."""
        where, args = _filters(repo=repo)
        row = self.conn.execute(f"SELECT MAX(started_at) FROM observations{where}", args).fetchone()
        return parse_iso(row[0]) if row else None

    def counts(self) -> dict[str, int]:
        names = ("runs", "jobs", "steps", "annotations", "logs", "observations", "incidents")
        return {n: int(self.conn.execute(f"SELECT COUNT(*) FROM {n}").fetchone()[0]) for n in names}

    def repos(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT DISTINCT repo FROM jobs ORDER BY repo")]

    def integrity_ok(self) -> bool:
        return bool(self.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok")

    # -- fetch bookkeeping (analyzer.fetch) ---------------------------------------------------

    def ensure_schema(self) -> None:
        """Create the tables a store made by an earlier build of this schema version lacks."""
        with self.transaction():
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    self.conn.execute(statement)

    def fetched_runs(self, repo: str) -> dict[int, tuple[int, str | None, bool]]:
        """run_id -> (run_attempt, updated_at, with logs) of the runs a fetch stored completely."""
        rows = self.conn.execute(
            "SELECT run_id, run_attempt, updated_at, logs FROM fetched_runs WHERE repo=?", (repo,)
        )
        return {int(r[0]): (int(r[1]), r[2], bool(r[3])) for r in rows}

    def mark_run_fetched(self, repo: str, run_id: int, run_attempt: int, updated_at: str | None, *, logs: bool) -> None:
        with self.transaction():
            self.conn.execute(
                "INSERT OR REPLACE INTO fetched_runs VALUES (?,?,?,?,?)", (repo, run_id, run_attempt, updated_at, int(logs))
            )

    def annotated_jobs(self, repo: str) -> set[int]:
        """Jobs of ``repo`` whose annotations were fetched."""
        rows = self.conn.execute(
            "SELECT a.job_id FROM fetched_annotations a JOIN jobs j ON j.job_id = a.job_id WHERE j.repo=?", (repo,)
        )
        return {int(r[0]) for r in rows}

    def mark_annotations_fetched(self, job_id: int) -> None:
        with self.transaction():
            self.conn.execute("INSERT OR REPLACE INTO fetched_annotations VALUES (?)", (job_id,))

    def log_states(self, repo: str) -> dict[int, str]:
        """job_id -> state of its whole log (part 0), for the jobs of ``repo`` that have one."""
        rows = self.conn.execute(
            "SELECT l.job_id, l.state FROM logs l JOIN jobs j ON j.job_id = l.job_id WHERE l.part=0 AND j.repo=?",
            (repo,),
        )
        return {int(r[0]): str(r[1]) for r in rows}

    def run_statuses(self, repo: str) -> dict[tuple[int, int], str | None]:
        """(run_id, run_attempt) -> status of every stored attempt of ``repo``."""
        rows = self.conn.execute("SELECT run_id, run_attempt, status FROM runs WHERE repo=?", (repo,))
        return {(int(r[0]), int(r[1])): r[2] for r in rows}

    def load_http_cache(self, prefix: str) -> dict[str, tuple[str, Any]]:
        """key -> (etag, payload) of the cached answers whose key starts with ``prefix``."""
        rows = self.conn.execute(
            "SELECT key, etag, payload FROM http_cache WHERE substr(key, 1, ?) = ?", (len(prefix), prefix)
        )
        return {str(r[0]): (str(r[1]), json.loads(zlib.decompress(r[2]))) for r in rows}

    def save_http_cache(self, key: str, etag: str, payload: Any) -> None:
        blob = zlib.compress(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode(), 6)
        with self.transaction():
            self.conn.execute("INSERT OR REPLACE INTO http_cache VALUES (?,?,?)", (key, etag, blob))


_OBSERVATION_COLUMNS = (
    "scope", "repo", "workflow", "job", "step", "step_number", "phase", "run_id", "run_attempt", "job_id",
    "started_at", "duration_s", "outcome", "censored", "limit_s", "runner",
)
_TEXT_COLUMNS = frozenset({"scope", "repo", "workflow", "job", "step", "phase", "outcome", "runner"})
_INT_COLUMNS = frozenset({"step_number", "run_id", "run_attempt", "job_id", "censored"})
_NULLABLE = frozenset({"step", "step_number", "phase", "started_at", "limit_s", "runner"})  # the others: NOT NULL
_SEP = "\x1f"  # joins text values; a value containing it sends the read down the row-by-row path
_NULL = "\x00"  # stands for NULL in joined text
# The frame's dtypes, the same under pandas 2 and 3: text as Python objects with None for NULL (pandas 3
# would infer its ``str`` dtype, with NaN for NULL), times in nanoseconds (pandas 3 infers µs from text).
_STAMP_DTYPE = pd.DatetimeTZDtype("ns", "UTC")


def _text_column(values: np.ndarray[Any, np.dtype[np.object_]]) -> pd.Series:
    """An object column of ``str``/None, kept as objects (no string dtype inferred)."""
    return pd.Series(values, dtype=object, copy=False)


def _read_observation_columns(
    conn: sqlite3.Connection, where: str, args: tuple[Any, ...], known: dict[str, str]
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
    """
    exprs: list[str] = []
    for name in _OBSERVATION_COLUMNS:
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
        exprs += [f"group_concat({value}, {sep})", f"sum({name} IS NULL)" if name in _NULLABLE else "0"]
    try:
        row = conn.execute(f"SELECT count(*), {', '.join(exprs)} FROM observations{where}", args).fetchone()
    except sqlite3.DataError:  # a joined column longer than SQLite's string limit (1 GB by default)
        return None
    n = int(row[0])
    if n == 0:
        return None
    columns: dict[str, Any] = {}
    for i, name in enumerate(_OBSERVATION_COLUMNS):
        text, nulls = row[1 + 2 * i], int(row[2 + 2 * i])
        if name in known:
            columns[name] = _text_column(np.full(n, known[name], dtype=object))
        elif name == "started_at":
            stamps = _parse_stamps(text, n, nulls)
            if stamps is None:
                return None
            columns[name] = stamps
        elif name in _TEXT_COLUMNS:
            values = np.array(text.split(_SEP), dtype=object)
            if values.size != n:
                return None
            codes, uniques = pd.factorize(values)
            null_code = [k for k, u in enumerate(uniques) if u == _NULL]
            if (int((codes == null_code[0]).sum()) if null_code else 0) != nulls:
                return None
            shared = np.array([None if u == _NULL else u for u in uniques], dtype=object)
            columns[name] = _text_column(shared.take(codes))
        elif nulls == n:  # as pandas reads a column of NULLs: None objects
            columns[name] = np.full(n, None, dtype=object)
        else:
            integer = name in _INT_COLUMNS and nulls == 0
            numbers = np.fromstring(text, dtype=np.int64 if integer else np.float64, sep=",")
            if numbers.size != n:
                return None
            columns[name] = numbers
    return pd.DataFrame(columns, columns=list(_OBSERVATION_COLUMNS), copy=False)  # no copy: no consolidation


def _parse_stamps(joined: str, n: int, nulls: int) -> pd.Series | None:
    """Joined stored timestamps (``iso``: ``…T10:11:12.123456Z``) as UTC datetimes; None if numpy
    cannot read one exactly."""
    import warnings

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


def _filters(
    *,
    repo: str | None = None,
    workflow: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    column: str = "started_at",
) -> tuple[str, tuple[Any, ...]]:
    clauses: list[str] = []
    args: list[Any] = []
    if repo:
        # ``+repo`` keeps SQLite off the (repo, workflow, ...) index when the repo is the only filter:
        # a store usually holds one repo, and an index walk over all its rows is ~3x slower than a scan.
        clauses.append("repo = ?" if workflow else "+repo = ?")
        args.append(repo)
    if workflow:
        clauses.append("workflow = ?")
        args.append(workflow)
    if since is not None:
        clauses.append(f"{column} >= ?")
        args.append(iso(since))
    if until is not None:
        clauses.append(f"{column} < ?")
        args.append(iso(until))
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), tuple(args)


def _run_from_row(r: Sequence[Any]) -> Run:
    return Run(
        run_id=r[0],
        run_attempt=r[1],
        repo=r[2],
        workflow_name=r[3],
        workflow_path=r[4],
        event=r[5],
        head_branch=r[6],
        head_sha=r[7],
        status=r[8],
        conclusion=r[9],
        created_at=parse_iso(r[10]),
        run_started_at=parse_iso(r[11]),
        updated_at=parse_iso(r[12]),
    )


def _job_from_row(r: Sequence[Any], steps: Iterable[Sequence[Any]]) -> Job:
    return Job(
        job_id=r[0],
        run_id=r[1],
        run_attempt=r[2],
        repo=r[3],
        workflow_name=r[4],
        name=r[5],
        status=r[6],
        conclusion=r[7],
        created_at=parse_iso(r[8]),
        started_at=parse_iso(r[9]),
        completed_at=parse_iso(r[10]),
        labels=tuple(json.loads(r[11])),
        runner_name=r[12],
        steps=tuple(
            StepInfo(
                number=s[1],
                name=s[2],
                status=s[3],
                conclusion=s[4],
                started_at=parse_iso(s[5]),
                completed_at=parse_iso(s[6]),
            )
            for s in steps
        ),
    )
