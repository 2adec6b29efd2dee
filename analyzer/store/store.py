"""The store's records: ``save_*`` / ``load_*`` of runs, jobs, logs, annotations and analyses.

One file (default ``data/we-advisor.db``) in WAL mode, so readers never block on a writer.
Every write happens inside a transaction (``BEGIN IMMEDIATE``), so a killed command leaves the
store as it was before the interrupted unit of work. Upserts are keyed by GitHub ids (run id +
attempt, job id), so saving the same thing twice adds nothing. Raw logs are kept compressed
(``codec``: zstandard, zlib in older stores), so parsed data can be rebuilt when the parser or the
phase rules change.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, cast

from analyzer.records import (
    WAITING_STATUSES,
    Annotation,
    Excerpt,
    Incident,
    Job,
    JobAttempt,
    JobContext,
    LogPart,
    Observation,
    Run,
    StepInfo,
    iso,
    parse_iso,
)
from analyzer.store import codec
from analyzer.store.bookkeeping import FetchBookkeeping
from analyzer.store.connection import SQLITE, is_database_error
from analyzer.store.filters import filters
from analyzer.store.schema import SCHEMA_VERSION

if TYPE_CHECKING:
    import pandas as pd

# The columns of ``Store.jobs_frame``: a job attempt, its times and queue time, its runner and labels.
JOB_COLUMNS = (
    "job_id", "run_id", "run_attempt", "repo", "workflow", "job", "status", "conclusion", "created_at", "started_at",
    "queued_s", "runner_name", "labels",
)  # fmt: skip

# The columns of each record's table, in table order: a record is saved as these values and loaded
# back from them (``_values``, ``_record``).
_COLUMNS = {
    "runs": ("run_id", "run_attempt", "repo", "workflow_name", "workflow_path", "event", "head_branch", "head_sha",
             "status", "conclusion", "created_at", "run_started_at", "updated_at", "actor", "triggering_actor",
             "head_commit_message"),
    "jobs": ("job_id", "run_id", "run_attempt", "repo", "workflow_name", "name", "status", "conclusion", "created_at",
             "started_at", "completed_at", "labels", "runner_name", "queued_s"),
    "steps": ("number", "name", "status", "conclusion", "started_at", "completed_at"),  # after job_id
    "observations": ("scope", "repo", "workflow", "job", "step", "step_number", "phase", "run_id", "run_attempt",
                     "started_at", "duration_s", "outcome", "censored", "limit_s", "runner", "silence_s",
                     "gap_s"),  # after job_id, seq
    "incidents": ("job_id", "repo", "workflow", "run_id", "run_attempt", "job", "step_number", "step", "phase", "kind",
                  "limit_s", "evidence", "occurred_at", "silence_s", "last_output"),
}  # fmt: skip
# The observations' columns in a warehouse export (``Store.export_columns``, ``Store.observation_cache``).
EXPORT_OBSERVATIONS = ("job_id", "seq", *_COLUMNS["observations"])
_BATCH = 500  # values bound in one IN (...): well below every backend's limit
_FAILED_RUNS = "SELECT run_id FROM jobs WHERE conclusion IN ('failure', 'timed_out') UNION SELECT run_id FROM incidents"
_DERIVED = frozenset({"queued_s"})  # saved from a record's property, not given back to its constructor
# An incident's job context: the job's queue time and runner, the run attempt's actor, commit, event, branch.
_CONTEXT = ("j.queued_s", "coalesce(r.triggering_actor, r.actor)", "r.head_sha", "r.head_commit_message", "r.event",
            "r.head_branch", "j.runner_name")  # fmt: skip
T = TypeVar("T")
PackedLog = tuple[bytes | None, int, str | None]  # (compressed bytes, size, sha256) of a raw log, None: no log


def pack_log(data: bytes | None) -> PackedLog:
    """A raw log as the store keeps it: compressed, with its size and SHA-256 (thread-safe, and both
    the compressor and the hash release the GIL, so it can run beside parsing)."""
    if data is None:
        return None, 0, None
    return codec.pack(data), len(data), hashlib.sha256(data).hexdigest()


@dataclass(frozen=True, slots=True)
class ExportColumns:
    """A table as one text per column (``Store.export_columns``): ``rows`` rows; each text holds the
    column's values as SQLite or PostgreSQL writes them as text, joined by ``SEP``, NULL written as
    ``null_mark``; ``nulls`` counts the NULLs (a reader checks its split against them)."""

    rows: int
    texts: dict[str, str | None]
    nulls: dict[str, int]
    null_mark: str

    SEP: ClassVar[str] = "\x1f"


@dataclass(frozen=True, slots=True)
class CachedColumns:
    """The observations' columns cache as kept (``Store.observation_cache``, ``store/columns.py``):
    ``rows`` rows in table order; ``kinds``: each column's form ("text": int32 codes (-1 NULL) in
    ``blobs[name]`` into the JSON list ``blobs[name + ':values']``; "stamp": int64 nanoseconds UTC, NULL
    the smallest int64; "none": all NULL; else a numpy dtype, NaN for NULL in floats); ``token`` names
    this state of the observations; ``time_order``: every start time stored in ``iso``'s form."""

    rows: int
    kinds: dict[str, str]
    blobs: dict[str, bytes]
    token: str
    time_order: bool


class Store(FetchBookkeeping):
    """A we-advisor store: its records, and the fetch's bookkeeping (``FetchBookkeeping``)."""

    # -- saving ------------------------------------------------------------------------------

    def save_run(self, run: Run) -> None:
        with self.transaction():
            self.conn.execute(_upsert("runs"), _values(run, _COLUMNS["runs"]))

    def save_job(self, job: Job) -> None:
        """Upsert a job and replace its steps."""
        with self.transaction():
            self.lock_job(job.job_id)
            if self.dialect != SQLITE or job.job_id <= self._cached_jobs_end():  # past its last job: added by top_up
                self.conn.execute("DELETE FROM job_columns")  # the cache of the jobs is stale now (``jobcolumns.top_up``)
            self.conn.execute(_upsert("jobs"), _values(job, _COLUMNS["jobs"]))
            self.conn.execute("DELETE FROM steps WHERE job_id=?", (job.job_id,))
            self._unparse(job.job_id)
            self.conn.executemany(
                "INSERT INTO steps VALUES (?,?,?,?,?,?,?)", [(job.job_id, *_values(s, _COLUMNS["steps"])) for s in job.steps]
            )

    def fill_run_context(self, run: Run) -> None:
        """Fill what the stored attempts of ``run`` lack from another reading of it (a listing, a log):
        event, branch, head commit and actor on every attempt, the triggering actor on ``run``'s attempt
        (and on the first, which the run's actor triggered). What is stored already is kept."""
        with self.transaction():
            self.conn.execute(
                "UPDATE runs SET event = coalesce(event, ?), head_branch = coalesce(head_branch, ?), "
                "head_sha = coalesce(head_sha, ?), head_commit_message = coalesce(head_commit_message, ?), "
                "actor = coalesce(actor, ?), "
                "triggering_actor = coalesce(triggering_actor, CASE run_attempt WHEN ? THEN ? WHEN 1 THEN ? END) "
                "WHERE repo = ? AND run_id = ?",
                (run.event, run.head_branch, run.head_sha, run.head_commit_message, run.actor, run.run_attempt,
                 run.triggering_actor, run.actor, run.repo, run.run_id),
            )  # fmt: skip

    def _cached_jobs_end(self) -> float:
        """The last job id the jobs' columns cache holds (SQLite; ``jobcolumns.top_up`` reads the jobs past it),
        -inf without one. Read here without numpy: ``fetch`` and ``ingest`` save jobs."""
        row = self.conn.execute("SELECT data FROM job_columns WHERE name = '_meta'").fetchone()
        last = json.loads(bytes(row[0])).get("last") if row is not None else None
        return float("-inf") if last is None else float(last)

    def save_job_context(self, job: Job) -> None:
        """Replace a job's queue times, labels and runner (what its local log revealed), keeping its parsed data."""
        with self.transaction():
            self.conn.execute("DELETE FROM job_columns")  # the cache of the jobs is stale now
            self.conn.execute(
                "UPDATE jobs SET created_at = ?, started_at = ?, labels = ?, runner_name = ?, queued_s = ? WHERE job_id = ?",
                (*_values(job, ("created_at", "started_at", "labels", "runner_name", "queued_s")), job.job_id),
            )

    def save_annotations(self, job_id: int, annotations: Sequence[Annotation]) -> None:
        """Replace the annotations of a job."""
        with self.transaction():
            self.lock_job(job_id)
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
        self.save_packed_log(job_id, pack_log(data), part=part, name=name, state=state)

    def save_packed_log(
        self, job_id: int, packed: PackedLog, *, part: int = 0, name: str | None = None, state: str = "ok"
    ) -> None:
        """``save_log`` of a log already packed (``pack_log``, which can run in another thread)."""
        blob, size, digest = packed
        with self.transaction():
            self.lock_job(job_id)
            self.conn.execute(
                "INSERT OR REPLACE INTO logs VALUES (?,?,?,?,?,?,?,?)",
                (job_id, part, name, state, blob, size, digest, iso(datetime.now(UTC))),
            )
            self._unparse(job_id)
            self.conn.execute("DELETE FROM job_identity WHERE job_id=?", (job_id,))  # made again from the new log

    def _unparse(self, job_id: int) -> None:
        """A job's raw inputs changed: its parsed data is stale until the next reparse (in the same
        transaction, so a log stored after the job was parsed without it is never left unparsed)."""
        self.conn.execute("DELETE FROM parse_state WHERE job_id=?", (job_id,))

    def save_analysis(
        self, job_id: int, observations: Sequence[Observation], incident: Incident | None, *, parser_version: int,
        rules_hash: str, excerpt: Excerpt | None = None,
    ) -> None:  # fmt: skip
        """Replace the parsed observations, the incident and the failure excerpt of one job."""
        with self.transaction():
            self.lock_job(job_id)
            if self.dialect == SQLITE:  # a job's first analysis only adds rows: the cache stays (``columns.top_up``)
                if self.conn.execute("DELETE FROM observations WHERE job_id=?", (job_id,)).rowcount:
                    self.conn.execute("DELETE FROM observation_columns")  # the job's rows changed: the cache is stale
            else:  # the writers drop the cache first (``lock_observations``)
                self.conn.execute("DELETE FROM observation_columns")
                self.conn.execute("DELETE FROM observations WHERE job_id=?", (job_id,))
            self.conn.execute("DELETE FROM incidents WHERE job_id=?", (job_id,))
            self.conn.execute("DELETE FROM excerpts WHERE job_id=?", (job_id,))
            if excerpt is not None:
                lines = json.dumps(excerpt.to_dict()["lines"], ensure_ascii=False)
                self.conn.execute("INSERT INTO excerpts VALUES (?,?,?)", (job_id, excerpt.evidence_line, lines))
            self.conn.executemany(
                f"INSERT INTO observations (job_id, seq, {', '.join(_COLUMNS['observations'])}) "
                f"VALUES ({','.join('?' * (2 + len(_COLUMNS['observations'])))})",
                [(job_id, seq, *_values(o, _COLUMNS["observations"])) for seq, o in enumerate(observations)],
            )
            if incident is not None:
                self.conn.execute(_upsert("incidents"), (job_id, *_values(incident, _COLUMNS["incidents"][1:])))
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

    # -- identity of local jobs ------------------------------------------------------------------

    def save_identity(self, job_id: int, text_hash: str, first_at: datetime | None) -> None:
        """Remember a job's log identity (``parse.identity``)."""
        with self.transaction():
            self.conn.execute("INSERT OR REPLACE INTO job_identity VALUES (?,?,?)", (job_id, text_hash, iso(first_at)))

    def identity_of(self, job_id: int) -> tuple[str, datetime | None] | None:
        """A job's recorded log identity (hash, first timestamp), if any."""
        row = self.conn.execute("SELECT text_hash, first_at FROM job_identity WHERE job_id=?", (job_id,)).fetchone()
        return None if row is None else (str(row[0]), parse_iso(row[1]))

    def jobs_with_hash(self, text_hash: str) -> list[tuple[int, datetime | None, list[int]]]:
        """``(job_id, first_at, stored log parts)`` of every job whose log has this identity hash."""
        parts = "group_concat(l.part)" if self.dialect != "postgresql" else "string_agg(l.part::text, ',')"
        rows = self.conn.execute(
            f"SELECT i.job_id, i.first_at, {parts} FROM job_identity i JOIN jobs j ON j.job_id = i.job_id "
            "LEFT JOIN logs l ON l.job_id = i.job_id AND l.state = 'ok' WHERE i.text_hash=? GROUP BY i.job_id "
            "ORDER BY i.job_id",
            (text_hash,),
        ).fetchall()
        return [(int(r[0]), parse_iso(r[1]), [int(x) for x in str(r[2]).split(",")] if r[2] else []) for r in rows]

    def jobs_without_identity(self) -> list[int]:
        """Jobs with a stored log whose identity was never recorded."""
        rows = self.conn.execute(
            "SELECT DISTINCT l.job_id FROM logs l LEFT JOIN job_identity i ON i.job_id = l.job_id "
            "WHERE i.job_id IS NULL AND l.state = 'ok' ORDER BY l.job_id"
        )
        return [int(r[0]) for r in rows]

    def delete_job(self, job_id: int) -> None:
        """Remove a job and everything derived from it (a local copy of a job kept in a richer form);
        its run goes too when no job is left in it."""
        with self.transaction():
            self.lock_job(job_id)
            row = self.conn.execute("SELECT run_id, run_attempt FROM jobs WHERE job_id=?", (job_id,)).fetchone()
            self.conn.execute("DELETE FROM observation_columns")  # its observations go: the cache of them is stale
            self.conn.execute("DELETE FROM job_columns")  # and so is the jobs'
            for table in ("jobs", "steps", "annotations", "logs", "observations", "incidents", "parse_state", "job_identity"):
                self.conn.execute(f"DELETE FROM {table} WHERE job_id=?", (job_id,))
            if row is not None and self.conn.execute(
                "SELECT 1 FROM jobs WHERE run_id=? AND run_attempt=?", (row[0], row[1])
            ).fetchone() is None:
                self.conn.execute("DELETE FROM runs WHERE run_id=? AND run_attempt=?", (row[0], row[1]))
                self.conn.execute("DELETE FROM local_runs WHERE run_id=?", (row[0],))

    def save_local_run(self, run_id: int, source: str) -> None:
        """The file or folder a locally ingested run was read from (shown in place of its synthetic id)."""
        with self.transaction():
            self.conn.execute("INSERT OR REPLACE INTO local_runs VALUES (?,?)", (run_id, source))

    def local_sources(self) -> dict[int, str]:
        """run id -> the file a local run was read from."""
        return {int(r[0]): str(r[1]) for r in self.conn.execute("SELECT run_id, source FROM local_runs")}

    # -- loading -----------------------------------------------------------------------------

    def has_source(self, sha256: str) -> bool:
        return self.conn.execute("SELECT 1 FROM sources WHERE sha256=?", (sha256,)).fetchone() is not None

    def load_run(self, run_id: int, run_attempt: int) -> Run | None:
        row = self.conn.execute(f"{_select('runs')} WHERE run_id=? AND run_attempt=?", (run_id, run_attempt)).fetchone()
        return None if row is None else _record(Run, _COLUMNS["runs"], row)

    def load_runs(self, repo: str | None = None) -> list[Run]:
        sql, args = _select("runs"), cast(tuple[Any, ...], ())
        if repo:
            sql, args = sql + " WHERE repo=?", (repo,)
        return [_record(Run, _COLUMNS["runs"], r) for r in self.conn.execute(sql + " ORDER BY run_id, run_attempt", args)]

    def newest_heads(self, repo: str | None = None) -> dict[str, str]:
        """workflow path -> head commit of its newest run (by start, else creation time; first by id on a tie)."""
        mine, args = (" AND repo = ?", (repo,)) if repo else ("", ())
        # each path's newest time (an aggregate, not a sort of every run), then the runs at that time
        rows = self.conn.execute(
            "SELECT r.workflow_path, r.head_sha, r.run_id, r.run_attempt FROM runs r JOIN (SELECT workflow_path, "
            "MAX(coalesce(run_started_at, created_at)) AS newest FROM runs WHERE workflow_path IS NOT NULL AND "
            f"head_sha IS NOT NULL{mine} GROUP BY workflow_path) m ON m.workflow_path = r.workflow_path AND "
            f"coalesce(r.run_started_at, r.created_at) = m.newest WHERE r.head_sha IS NOT NULL{mine.replace('repo', 'r.repo')}",
            (*args, *args),
        )
        picked: dict[str, tuple[int, int, str]] = {}
        for path, sha, run_id, attempt in rows:
            if str(path) not in picked or (int(run_id), int(attempt)) < picked[str(path)][:2]:
                picked[str(path)] = (int(run_id), int(attempt), str(sha))
        return {path: pick[2] for path, pick in picked.items()}

    def load_job(self, job_id: int) -> Job | None:
        row = self.conn.execute(f"{_select('jobs')} WHERE job_id=?", (job_id,)).fetchone()
        if row is None:
            return None
        sql = f"SELECT {', '.join(_COLUMNS['steps'])} FROM steps WHERE job_id=? ORDER BY number"
        steps = tuple(_record(StepInfo, _COLUMNS["steps"], s) for s in self.conn.execute(sql, (job_id,)))
        return _record(Job, _COLUMNS["jobs"], row, steps=steps)

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
            LogPart(job_id, int(r[0]), r[1], r[2], codec.unpack(r[3]) if r[3] is not None else None) for r in rows
        ]

    def log_state(self, job_id: int) -> str | None:
        row = self.conn.execute("SELECT state FROM logs WHERE job_id=? AND part=0", (job_id,)).fetchone()
        return None if row is None else str(row[0])

    def load_workflow_files(self, repo: str | None = None) -> list[tuple[str, str, str, str]]:
        sql, args = "SELECT repo, path, ref, content FROM workflow_files", cast(tuple[Any, ...], ())
        if repo:
            sql, args = sql + " WHERE repo=?", (repo,)
        return [(r[0], r[1], r[2], r[3]) for r in self.conn.execute(sql + " ORDER BY repo, path, ref", args)]

    def stale_jobs(self, parser_version: int, rules_hash: str, *, repo: str | None = None) -> list[int]:
        """Jobs (of ``repo``, or all) whose parsed data is missing or came from another parser version or rule set
        (asked again of an unchanged store, the answer kept: ``report`` asks twice, 0.08 s each at 10⁵ jobs)."""
        only, args = (" AND j.repo = ?", (repo,)) if repo else ("", ())

        def read() -> list[int]:
            rows = self.conn.execute(
                "SELECT j.job_id FROM jobs j LEFT JOIN parse_state p ON p.job_id = j.job_id "
                f"WHERE (p.job_id IS NULL OR p.parser_version != ? OR p.rules_hash != ?){only} ORDER BY j.job_id",
                (parser_version, rules_hash, *args),
            )
            return [int(r[0]) for r in rows]

        return list(self._kept(("stale_jobs", parser_version, rules_hash, repo), read))

    def _kept(self, key: tuple[Any, ...], read: Callable[[], T]) -> T:
        """``read()``, or what it gave for ``key`` while nothing has been written to the store since (SQLite:
        ``data_version`` moves with another connection's commits, ``total_changes`` with this one's changes);
        always read on PostgreSQL, and inside a transaction (a rollback takes back writes ``total_changes`` counted).
        Schema changes are not counted: none of the tables these answers read is ever dropped."""
        if self.dialect != "sqlite" or self.conn.in_transaction:
            return read()
        token = (int(self.conn.execute("PRAGMA data_version").fetchone()[0]), int(self.conn.total_changes))
        kept: dict[tuple[Any, ...], tuple[tuple[int, int], Any]] = self.__dict__.setdefault("_answers", {})
        if key in kept and kept[key][0] == token:
            value: T = kept[key][1]
            return value
        value = read()
        kept[key] = (token, value)
        return value

    def observations_frame(
        self,
        *,
        repo: str | None = None,
        workflow: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        branch: str | None = None,
        event: str | None = None,
        only: tuple[str, ...] | None = None,
        codes: bool = False,
    ) -> pd.DataFrame:
        """Observations as a DataFrame (one row each), ``started_at`` as UTC datetimes; ``branch`` and
        ``event`` keep the runs with that head branch and event. From their columns' cache (``columns``;
        built here when missing) unless a workflow, branch or event is asked for, else read. ``only``: some
        of ``OBSERVATION_COLUMNS`` (in their order), for a command that needs no more (less memory); ``codes``:
        text as ``pd.Categorical`` where the cache gives it (for code that reads either, as ``model.units``)."""
        from analyzer.store import columns  # pandas only for the commands that analyse
        from analyzer.store.frame import OBSERVATION_COLUMNS, observations_frame

        if only is not None and [c for c in OBSERVATION_COLUMNS if c in only] != list(only):
            raise ValueError(f"not observation columns in their order: {only}")

        if workflow is None and branch is None and event is None:
            if not self._from_cache(lambda: columns.present(self.conn, OBSERVATION_COLUMNS, SCHEMA_VERSION)):
                self.refresh_observation_columns()
            cached = self._from_cache(  # (None too where a blob is past the connection's length limit: SQL)
                lambda: columns.read(
                    self.conn, OBSERVATION_COLUMNS, SCHEMA_VERSION, repo=repo, since=since, until=until, only=only,
                    codes=codes,
                )
            )
            if cached is not None and len(cached):  # (none: SQL's empty frame, whose dtypes pandas infers)
                return cached
        return observations_frame(
            self.conn, repo=repo, workflow=workflow, since=since, until=until, branch=branch, event=event,
            dialect=self.dialect, columns=only,
        )

    def refresh_observation_columns(self) -> bool:
        """Write the observations' columns cache (``columns``) from the table; False when it cannot
        be kept (no observations, a value it cannot carry exactly, a store that cannot be written)."""
        from analyzer.store import columns
        from analyzer.store.frame import OBSERVATION_COLUMNS, observations_frame

        kept = (*OBSERVATION_COLUMNS, *columns.EXTRA)
        try:
            with self.transaction():  # read and written under one lock: no write slips in between
                self.lock_observations()
                if self.dialect == SQLITE:
                    if columns.top_up(self.conn, OBSERVATION_COLUMNS, SCHEMA_VERSION,
                                      lambda rowid: observations_frame(self.conn, columns=kept, after_rowid=rowid)):  # fmt: skip
                        return True
                    (rowid,) = self.conn.execute("SELECT max(rowid) FROM observations").fetchone()
                else:
                    rowid = None
                everything = observations_frame(self.conn, dialect=self.dialect, columns=kept)
                return not everything.empty and columns.write(
                    self.conn, everything, OBSERVATION_COLUMNS, SCHEMA_VERSION, rowid=rowid
                )
        except Exception as exc:  # a read-only file, folder or database role: analyses read SQL instead
            if not is_database_error(exc):
                raise
            return False

    def observation_cache_token(self) -> str | None:
        """The token of the observations' columns cache (``columns.write``: the same token, the same
        observations), the cache written first where it is missing; None where it cannot be kept."""
        from analyzer.store import columns
        from analyzer.store.columns import OBSERVATION_COLUMNS

        found = self._from_cache(lambda: columns.token(self.conn, OBSERVATION_COLUMNS, SCHEMA_VERSION))
        if found is None and self.refresh_observation_columns():
            found = self._from_cache(lambda: columns.token(self.conn, OBSERVATION_COLUMNS, SCHEMA_VERSION))
        return found

    def observation_cache(self) -> CachedColumns | None:
        """The observations' columns cache as it is kept (``CachedColumns``), read in one snapshot and
        written first where it is missing; None where there is none (no observations, a value it
        cannot carry, a store that cannot be written)."""
        from analyzer.store import columns
        from analyzer.store.columns import OBSERVATION_COLUMNS

        def read() -> tuple[dict[str, Any], dict[str, bytes]] | None:
            return self._from_cache(lambda: columns.everything(self.conn, OBSERVATION_COLUMNS, SCHEMA_VERSION))

        found = read()
        if found is None and self.refresh_observation_columns():
            found = read()
        if found is None:
            return None
        meta, blobs = found
        return CachedColumns(int(meta["rows"]), dict(meta["kinds"]), blobs, str(meta["token"]), bool(meta["time_order"]))

    def _from_cache(self, read: Callable[[], T]) -> T | None:
        """``read()`` of the columns cache in one snapshot; None when the store fails it."""
        try:
            with self.snapshot():
                return read()
        except Exception as exc:
            if not is_database_error(exc):
                raise
            return None

    def load_incidents(
        self, *, repo: str | None = None, workflow: str | None = None, since: datetime | None = None,
        branch: str | None = None, event: str | None = None, limited: bool = False,
    ) -> list[Incident]:  # fmt: skip
        """Incidents in time order, each with its job's context (``Incident.context``). ``limited``: only those
        that name the limit that fired (``limit_s``), what the limits a log revealed are read from."""
        where, args = filters(
            repo=repo, workflow=workflow, since=since, column="occurred_at", branch=branch, event=event, table="i"
        )
        if limited:
            where += f"{' AND' if where else ' WHERE'} i.limit_s IS NOT NULL"
        columns = ", ".join(f"i.{c}" for c in _COLUMNS["incidents"])
        joins = "LEFT JOIN jobs j ON j.job_id = i.job_id LEFT JOIN runs r ON r.run_id = i.run_id AND r.run_attempt = i.run_attempt"
        order = " ORDER BY i.occurred_at, i.run_id, i.run_attempt, i.job_id"
        rows = self.conn.execute(f"SELECT {columns}, {', '.join(_CONTEXT)} FROM incidents i {joins}{where}{order}", args)
        width = len(_COLUMNS["incidents"])
        return [
            _record(Incident, _COLUMNS["incidents"], r[:width], context=JobContext(*r[width:])) for r in rows
        ]

    def jobs_frame(
        self, *, repo: str | None = None, workflow: str | None = None, since: datetime | None = None,
        until: datetime | None = None, branch: str | None = None, event: str | None = None,
        only: Sequence[str] | None = None,
    ) -> pd.DataFrame:  # fmt: skip
        """Job attempts, one row each (``JOB_COLUMNS``, or the ones in ``only``, in that order), in the window
        by start (by creation for a job that never started): what queue times are computed from. Times as UTC
        datetimes (nanoseconds), ``labels`` joined by ", ". From the jobs' columns cache (``jobcolumns``; written
        here when missing) unless a branch or event is asked for, else read from SQL, where every cell is a
        Python object first (10⁵ attempts: about 1.5 MB a text column), so a command reads the columns it uses."""
        names = tuple(JOB_COLUMNS if only is None else [c for c in JOB_COLUMNS if c in only])
        if branch is None and event is None:
            cached = self._cached_jobs(repo=repo, workflow=workflow, since=since, until=until, only=names)
            if cached is not None:
                return cached
        where, args = filters(
            repo=repo, workflow=workflow, since=since, until=until, branch=branch, event=event,
            column="coalesce(started_at, created_at)", workflow_column="workflow_name", dialect=self.dialect,
        )  # fmt: skip
        from analyzer.store import jobcolumns

        return jobcolumns.read_sql(self.conn, where, args, names)

    def _cached_jobs(
        self, *, repo: str | None, workflow: str | None, since: datetime | None, until: datetime | None,
        only: tuple[str, ...],
    ) -> pd.DataFrame | None:  # fmt: skip
        """``jobs_frame`` from the jobs' columns cache (``jobcolumns``; written here when missing), or None
        where it cannot give it (no cache can be kept, or no job attempt is in the window: SQL's empty
        frame, whose dtypes pandas infers)."""
        from analyzer.store import jobcolumns

        if not self._from_cache(lambda: jobcolumns.present(self.conn, JOB_COLUMNS, SCHEMA_VERSION)):
            self.refresh_job_columns()
        cached = self._from_cache(
            lambda: jobcolumns.read(
                self.conn, JOB_COLUMNS, SCHEMA_VERSION, repo=repo, workflow=workflow, since=since, until=until,
                only=only,
            )
        )  # fmt: skip
        return cached if cached is not None and len(cached) else None

    def refresh_job_columns(self) -> bool:
        """Write the jobs' columns cache (``jobcolumns``) from the table; False when it cannot be kept (no
        jobs, a value it cannot carry exactly, a store that cannot be written)."""
        from analyzer.store import jobcolumns

        try:
            with self.transaction():  # read and written under one lock: no write slips in between
                self.lock_jobs()
                last = None
                if self.dialect == SQLITE:
                    if jobcolumns.top_up(self.conn, JOB_COLUMNS, SCHEMA_VERSION):
                        return True
                    (last,) = self.conn.execute("SELECT max(job_id) FROM jobs").fetchone()
                everything = jobcolumns.read_sql(self.conn, "", (), JOB_COLUMNS)
                return not everything.empty and jobcolumns.write(self.conn, everything, JOB_COLUMNS, SCHEMA_VERSION, last=last)
        except Exception as exc:  # a read-only file, folder or database role: reads go to SQL instead
            if not is_database_error(exc):
                raise
            return False

    def run_values(self, column: str, *, repo: str | None = None) -> dict[str, int]:
        """How many run attempts (of ``repo``) have each value of ``column`` (``event``, ``head_branch``)."""
        if column not in ("event", "head_branch"):
            raise ValueError(f"not a run context column: {column}")
        where, args = filters(repo=repo)
        rows = self.conn.execute(
            f"SELECT {column}, COUNT(*) FROM runs{where}{' AND' if where else ' WHERE'} {column} IS NOT NULL "
            f"GROUP BY {column} ORDER BY COUNT(*) DESC, {column}",
            args,
        )
        return {str(r[0]): int(r[1]) for r in rows}

    def waiting_runs(
        self, *, repo: str | None = None, workflow: str | None = None, since: datetime | None = None,
        branch: str | None = None, event: str | None = None,
    ) -> int:  # fmt: skip
        """Run attempts created since ``since`` that were still waiting for runners when last fetched."""
        where, args = filters(repo=repo, workflow=workflow, since=since, column="created_at", branch=branch, event=event,
                              workflow_column="workflow_name")  # fmt: skip
        status = f"status IN ({', '.join('?' * len(WAITING_STATUSES))})"
        sql = f"SELECT COUNT(*) FROM runs{where}{' AND ' if where else ' WHERE '}{status}"
        return int(self.conn.execute(sql, (*args, *WAITING_STATUSES)).fetchone()[0])

    def runs_without_actor(self, repo: str) -> set[int]:
        """The runs of ``repo`` (from GitHub) stored without their actor: stored before the store kept it."""
        rows = self.conn.execute("SELECT DISTINCT run_id FROM runs WHERE repo = ? AND run_id > 0 AND actor IS NULL", (repo,))
        return {int(r[0]) for r in rows}

    def load_excerpts(
        self, *, repo: str | None = None, workflow: str | None = None, since: datetime | None = None,
        branch: str | None = None, event: str | None = None,
    ) -> dict[int, Excerpt]:  # fmt: skip
        """job id -> failure excerpt, for the incidents ``load_incidents`` returns with these filters."""
        where, args = filters(repo=repo, workflow=workflow, since=since, column="occurred_at", branch=branch, event=event,
                              dialect=self.dialect)  # fmt: skip
        rows = self.conn.execute(f"SELECT e.job_id, e.evidence_line, e.lines FROM excerpts e JOIN incidents USING (job_id){where}", args)
        return {int(r[0]): Excerpt.from_dict({"evidence_line": r[1], "lines": json.loads(r[2])}) for r in rows}

    def load_attempts(
        self, *, repo: str | None = None, workflow: str | None = None, since: datetime | None = None,
        branch: str | None = None, event: str | None = None, run_ids: Collection[int] | None = None, failed_runs: bool = False,
    ) -> list[JobAttempt]:  # fmt: skip
        """Every job attempt of the runs with a job that started (else was created) at ``since`` or later, with its incident's
        kind: what rerun rates are counted from. ``run_ids``: of these runs only. ``failed_runs``: of the runs with an
        attempt (ever) that failed, timed out or has an incident only: all ``rerun_rates`` counts, 1/10 of the rows."""
        where, args = filters(repo=repo, workflow=None, since=since, column="coalesce(started_at, created_at)", branch=branch,
                              event=event, dialect=self.dialect)  # fmt: skip
        if workflow:
            where, args = (where + " AND " if where else " WHERE ") + "workflow_name = ?", (*args, workflow)
        if failed_runs:
            where += f"{' AND' if where else ' WHERE'} run_id IN ({_FAILED_RUNS})"
        sql = ("SELECT j.workflow_name, j.name, j.run_id, j.run_attempt, j.conclusion, i.kind, j.repo FROM jobs j "
               "LEFT JOIN incidents i ON i.job_id = j.job_id WHERE ")  # fmt: skip
        order = " ORDER BY j.run_id, j.run_attempt, j.job_id"
        if run_ids is None:
            batches = [(f"{sql}j.run_id IN (SELECT run_id FROM jobs{where}){order}", args)]
        else:  # a few runs of many (those a limit stopped): in ascending batches, so in order still; the window's
            # subquery asks for the batch's runs only (through the run index), not for every run of the window again
            wanted = sorted(set(run_ids))
            inside = f"{where}{' AND' if where else ' WHERE'} run_id IN "
            batches = [
                (f"{sql}j.run_id IN (SELECT run_id FROM jobs{inside}({','.join('?' * len(chunk))})){order}", (*args, *chunk))
                for chunk in (wanted[k : k + _BATCH] for k in range(0, len(wanted), _BATCH))
            ]
        return [
            JobAttempt(r[0], r[1], int(r[2]), int(r[3]), r[4], r[5], r[6])
            for query, values in batches
            for r in self.conn.execute(query, values)
        ]

    def newest_time(self, *, repo: str | None = None) -> datetime | None:
        """The latest observation start in the store (the end of the default analysis window; kept while the
        store is unchanged: a report asks four times, 0.03 s each at 10⁶ observations)."""
        from analyzer.store import columns
        from analyzer.store.frame import OBSERVATION_COLUMNS

        def read() -> datetime | None:
            newest = self._from_cache(lambda: columns.newest(self.conn, OBSERVATION_COLUMNS, SCHEMA_VERSION, repo))
            cached, value = newest or (False, None)
            if cached:
                return value
            where, args = filters(repo=repo, dialect=self.dialect)
            row = self.conn.execute(f"SELECT MAX(started_at) FROM observations{where}", args).fetchone()
            return parse_iso(row[0]) if row else None

        return self._kept(("newest_time", repo), read)

    def job_span(
        self, *, repo: str | None = None, workflow: str | None = None, since: datetime | None = None,
        until: datetime | None = None, branch: str | None = None, event: str | None = None,
    ) -> tuple[int, int, datetime | None, datetime | None]:  # fmt: skip
        """Jobs measured (one job observation each) of ``repo``/``workflow`` (on ``branch``, for ``event``):
        how many in all, how many started in ``[since, until)``, and the oldest and newest start (one scan,
        or the columns cache)."""
        if workflow is None and branch is None and event is None:
            from analyzer.store import columns
            from analyzer.store.frame import OBSERVATION_COLUMNS

            cached = self._from_cache(
                lambda: columns.job_span(self.conn, OBSERVATION_COLUMNS, SCHEMA_VERSION, repo=repo, since=since, until=until)
            )
            if cached is not None:
                return cached
        where, args = filters(repo=repo, workflow=workflow, branch=branch, event=event, dialect=self.dialect)
        where = (where + " AND" if where else " WHERE") + " scope = 'job'"
        inside = " AND ".join(c for c in ("started_at >= ?" if since else "", "started_at < ?" if until else "") if c)
        counted = f"SUM(CASE WHEN {inside} THEN 1 ELSE 0 END)" if inside else "COUNT(*)"
        window_args = tuple(iso(t) for t in (since, until) if t is not None)
        row = self.conn.execute(
            f"SELECT COUNT(*), COALESCE({counted}, 0), MIN(started_at), MAX(started_at) FROM observations{where}",
            (*window_args, *args),
        ).fetchone()
        return int(row[0]), int(row[1]), parse_iso(row[2]), parse_iso(row[3])

    def observed_repos(self, *, workflow: str | None = None) -> list[str]:
        """The repositories that have observations (of ``workflow``)."""
        if workflow is None:
            from analyzer.store import columns
            from analyzer.store.frame import OBSERVATION_COLUMNS

            cached = self._from_cache(lambda: columns.repos(self.conn, OBSERVATION_COLUMNS, SCHEMA_VERSION))
            if cached is not None:
                return cached
        where, args = filters(workflow=workflow, dialect=self.dialect)
        return [str(r[0]) for r in self.conn.execute(f"SELECT DISTINCT repo FROM observations{where} ORDER BY repo", args)]

    def workflow_names(self, repo: str | None = None) -> list[str]:
        """The workflows the store has jobs of (of ``repo``)."""
        where, args = filters(repo=repo, dialect=self.dialect)
        return [str(r[0]) for r in self.conn.execute(f"SELECT DISTINCT workflow_name FROM jobs{where} ORDER BY 1", args)]

    def export_columns(self, table: str) -> ExportColumns:
        """A whole table for a warehouse export (``runs``, ``jobs``, ``observations``, ``incidents``, and
        ``steps`` with its job's ``repo`` and ``started_at`` as ``job_started_at``), each column read as
        one text (``ExportColumns``): values as stored (times ISO text, ``labels`` JSON text, numbers
        exact), in one scan of the table, joined by ``SEP`` with ``NULL_MARK`` for NULL."""
        if table == "steps":
            names = ["job_id", *_COLUMNS["steps"], "repo", "job_started_at"]
            exprs = [f"s.{n}" for n in ["job_id", *_COLUMNS["steps"]]] + ["j.repo", "j.started_at"]
            source = "steps s JOIN jobs j ON j.job_id = s.job_id"
        elif table == "observations":
            names = list(EXPORT_OBSERVATIONS)
            exprs, source = list(names), table
        elif table in ("runs", "jobs", "incidents"):
            names = list(_COLUMNS[table])
            exprs, source = list(names), table
        else:
            raise ValueError(f"no export of table {table!r}")
        sqlite = self.dialect != "postgresql"
        mark, sep = ("char(0)", "char(31)") if sqlite else ("chr(30)", "chr(31)")
        parts = []
        for name, expr in zip(names, exprs, strict=True):
            if sqlite:
                value = f"CASE WHEN {expr} IS NULL THEN NULL ELSE printf('%!.17g', {expr}) END" if name.endswith("_s") else expr
                parts += [f"group_concat(coalesce({value}, {mark}), {sep})", f"sum({expr} IS NULL)"]
            else:
                parts += [f"string_agg(coalesce(({expr})::text, {mark}), {sep})", f"count(*) - count({expr})"]
        row = self.conn.execute(f"SELECT count(*), {', '.join(parts)} FROM {source}").fetchone()
        texts = {name: row[1 + 2 * i] for i, name in enumerate(names)}
        nulls = {name: int(row[2 + 2 * i] or 0) for i, name in enumerate(names)}
        return ExportColumns(int(row[0]), texts, nulls, "\x00" if sqlite else "\x1e")

    def counts(self) -> dict[str, int]:
        names = ("runs", "jobs", "steps", "annotations", "logs", "observations", "incidents")
        return {n: int(self.conn.execute(f"SELECT COUNT(*) FROM {n}").fetchone()[0]) for n in names}

    def repos(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT DISTINCT repo FROM jobs ORDER BY repo")]


def _upsert(table: str) -> str:
    columns = _COLUMNS[table]
    return f"INSERT OR REPLACE INTO {table} ({', '.join(columns)}) VALUES ({','.join('?' * len(columns))})"


def _select(table: str) -> str:
    return f"SELECT {', '.join(_COLUMNS[table])} FROM {table}"


def _values(record: object, columns: Iterable[str]) -> tuple[Any, ...]:
    """A record's values as stored: times as ``iso`` text, labels as JSON, flags as 0/1."""
    out: list[Any] = []
    for column in columns:
        value = getattr(record, column)
        if column.endswith("_at"):
            value = iso(value)
        elif column == "labels":
            value = json.dumps(list(value))
        elif isinstance(value, bool):
            value = int(value)
        out.append(value)
    return tuple(out)


def _record(kind: type[T], columns: Sequence[str], row: Sequence[Any], **extra: Any) -> T:
    """The record of ``kind`` stored as ``row`` (``_values`` inverted)."""
    if len(row) != len(columns):
        raise ValueError(f"{len(row)} values for {len(columns)} columns")
    values = {name: row[i] if decode is None else decode(row[i]) for i, name, decode in _decoders(tuple(columns))}
    return kind(**values, **extra)


def _labels(value: str) -> tuple[str, ...]:
    return tuple(json.loads(value))


@functools.cache
def _decoders(columns: tuple[str, ...]) -> tuple[tuple[int, str, Callable[[Any], Any] | None], ...]:
    """Per column a record's constructor takes: its position, name and decoder (times, labels), decided
    once per column list rather than per row (10⁴ incidents at 10⁵ runs)."""
    return tuple(
        (i, c, parse_iso if c.endswith("_at") else _labels if c == "labels" else None)
        for i, c in enumerate(columns) if c not in _DERIVED
    )  # fmt: skip
