"""The store's records: ``save_*`` / ``load_*`` of runs, jobs, logs, annotations and analyses.

One file (default ``data/we-advisor.db``) in WAL mode, so readers never block on a writer.
Every write happens inside a transaction (``BEGIN IMMEDIATE``), so a killed command leaves the
store as it was before the interrupted unit of work. Upserts are keyed by GitHub ids (run id +
attempt, job id), so saving the same thing twice adds nothing. Raw logs are kept
zlib-compressed, so parsed data can be rebuilt when the parser or the phase rules change.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, cast

import pandas as pd

from analyzer.records import Annotation, Incident, Job, LogPart, Observation, Run, StepInfo, iso, parse_iso
from analyzer.store.bookkeeping import FetchBookkeeping
from analyzer.store.frame import filters, observations_frame


class Store(FetchBookkeeping):
    """A we-advisor store: its records, and the fetch's bookkeeping (``FetchBookkeeping``)."""

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
        return observations_frame(self.conn, repo=repo, workflow=workflow, since=since, until=until)

    def load_incidents(
        self, *, repo: str | None = None, workflow: str | None = None, since: datetime | None = None
    ) -> list[Incident]:
        where, args = filters(repo=repo, workflow=workflow, since=since, column="occurred_at")
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
        where, args = filters(repo=repo)
        row = self.conn.execute(f"SELECT MAX(started_at) FROM observations{where}", args).fetchone()
        return parse_iso(row[0]) if row else None

    def counts(self) -> dict[str, int]:
        names = ("runs", "jobs", "steps", "annotations", "logs", "observations", "incidents")
        return {n: int(self.conn.execute(f"SELECT COUNT(*) FROM {n}").fetchone()[0]) for n in names}

    def repos(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT DISTINCT repo FROM jobs ORDER BY repo")]




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
