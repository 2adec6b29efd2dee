"""The store's tables, in SQLite's dialect, their version, and the forward migrations.

``SCHEMA`` always describes the newest schema (``SCHEMA_VERSION``). A store whose
``meta.schema_version`` is newer is refused; an older one is migrated forward when it is opened:
``MIGRATIONS[v]`` takes a store at version ``v - 1`` to ``v``, and every step from the store's
version up to ``SCHEMA_VERSION`` runs, then ``SCHEMA``'s ``CREATE … IF NOT EXISTS`` adds new
tables and indexes, all in one transaction (a failed migration leaves the store as it was). An
older build of the same version gains the tables it lacks (``Connection.ensure_schema``).

To change the schema: edit ``SCHEMA`` to the new shape, bump ``SCHEMA_VERSION``, and add
``MIGRATIONS[new_version]`` with what turns the previous shape into it (``ALTER TABLE … ADD
COLUMN`` for a new column, data moves as ``UPDATE``s; a new table needs no statement, only the
version bump). Test it on a store written at the previous version.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

SCHEMA_VERSION = 8

MIGRATIONS: Mapping[int, Sequence[str]] = {
    # 2: job_identity (a local job's log identity) and local_runs (the file a local run came from) are
    # new tables; reparse fills job_identity for every job (PARSER_VERSION changed with it).
    2: (),
    # 3: failure excerpts (a new table); the failed jobs are parsed again to fill it
    3: ("DELETE FROM parse_state WHERE job_id IN (SELECT job_id FROM incidents)",),
    # 4: the run context. A run attempt's actor, triggering actor and head commit message were never
    # kept (the run listings' cached payloads were slimmed without them): they stay NULL until the
    # next fetch, which reads the listings again (their cached pages are dropped here) and fills the
    # runs it lists; an export folder fills them when it is ingested again. A job's queue time is
    # computed from the times the store already has (SQLite reads them to the millisecond). Local
    # logs are kept: their jobs are parsed again, which reads the context their logs show.
    4: (
        "ALTER TABLE runs ADD COLUMN actor TEXT",
        "ALTER TABLE runs ADD COLUMN triggering_actor TEXT",
        "ALTER TABLE runs ADD COLUMN head_commit_message TEXT",
        "ALTER TABLE jobs ADD COLUMN queued_s REAL",
        "UPDATE jobs SET queued_s = max(0.0, round((julianday(started_at) - julianday(created_at)) * 86400.0, 3)) "
        "WHERE created_at IS NOT NULL AND started_at IS NOT NULL",
        "DELETE FROM http_cache WHERE key LIKE '%/runs?%' OR key LIKE '%/actions/runs/%'",
        "DELETE FROM parse_state WHERE job_id < 0",  # local logs: their context is read at the next parse
    ),
    5: (),  # observation_columns: a new table (created below), written by the first read
    # 6: the silences a hang is told by (observations), and the last line before one (incidents)
    6: (
        "ALTER TABLE observations ADD COLUMN silence_s REAL",
        "ALTER TABLE observations ADD COLUMN gap_s REAL",
        "ALTER TABLE incidents ADD COLUMN silence_s REAL",
        "ALTER TABLE incidents ADD COLUMN last_output TEXT",
    ),
    7: (),  # the crawl queue's tables (new tables: created by SCHEMA)
    8: (),  # job_columns: a new table (created below), written by the first read of the jobs
}

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id INTEGER NOT NULL, run_attempt INTEGER NOT NULL, repo TEXT NOT NULL,
    workflow_name TEXT NOT NULL, workflow_path TEXT, event TEXT, head_branch TEXT, head_sha TEXT,
    status TEXT, conclusion TEXT, created_at TEXT, run_started_at TEXT, updated_at TEXT,
    actor TEXT, triggering_actor TEXT, head_commit_message TEXT,
    PRIMARY KEY (run_id, run_attempt)
);
CREATE TABLE IF NOT EXISTS jobs (
    job_id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL, run_attempt INTEGER NOT NULL,
    repo TEXT NOT NULL, workflow_name TEXT NOT NULL, name TEXT NOT NULL, status TEXT,
    conclusion TEXT, created_at TEXT, started_at TEXT, completed_at TEXT, labels TEXT NOT NULL,
    runner_name TEXT, queued_s REAL  -- queued_s: created_at -> started_at (seconds)
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
-- part 0 is the whole job log, part N > 0 the per-step file N of a run-log zip, part -1 its job's
-- system.txt (the runner it asked for and got).
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
    runner TEXT, silence_s REAL, gap_s REAL, PRIMARY KEY (job_id, seq)
);
CREATE INDEX IF NOT EXISTS observations_unit ON observations (repo, workflow, job, step, phase);
CREATE TABLE IF NOT EXISTS incidents (
    job_id INTEGER PRIMARY KEY, repo TEXT NOT NULL, workflow TEXT NOT NULL, run_id INTEGER NOT NULL,
    run_attempt INTEGER NOT NULL, job TEXT NOT NULL, step_number INTEGER, step TEXT, phase TEXT,
    kind TEXT NOT NULL, limit_s REAL, evidence TEXT NOT NULL, occurred_at TEXT, silence_s REAL, last_output TEXT
);
-- the lines of a failed job attempt's log that explain its incident (parse.failures), rebuilt with it:
-- lines is JSON [[line number (0: not in the log), role, cleaned text], ...]
CREATE TABLE IF NOT EXISTS excerpts (job_id INTEGER PRIMARY KEY, evidence_line INTEGER, lines TEXT NOT NULL);
-- which parser version and phase rules produced a job's observations, incident and excerpt
CREATE TABLE IF NOT EXISTS parse_state (
    job_id INTEGER PRIMARY KEY, parser_version INTEGER NOT NULL, rules_hash TEXT NOT NULL,
    parsed_at TEXT NOT NULL
);
-- local files already ingested (by content hash), so ingesting the same thing twice adds nothing
CREATE TABLE IF NOT EXISTS sources (
    sha256 TEXT PRIMARY KEY, path TEXT NOT NULL, kind TEXT NOT NULL, jobs INTEGER NOT NULL,
    ingested_at TEXT NOT NULL
);
-- the identity of a job's log (parse.identity): the hash of its lines without timestamps and its
-- first timestamp: the same job in another form (zip, folder, bare log, fetch) has the same identity
CREATE TABLE IF NOT EXISTS job_identity (job_id INTEGER PRIMARY KEY, text_hash TEXT NOT NULL, first_at TEXT);
CREATE INDEX IF NOT EXISTS job_identity_hash ON job_identity (text_hash);
-- locally ingested runs (negative ids): the file or folder each was read from, to show instead of the id
CREATE TABLE IF NOT EXISTS local_runs (run_id INTEGER PRIMARY KEY, source TEXT NOT NULL);
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
-- the observations again, one blob per column (store/columns.py): what analyses read. Dropped with
-- every change to the observations, written again by the next read.
CREATE TABLE IF NOT EXISTS observation_columns (name TEXT PRIMARY KEY, data BLOB NOT NULL);
-- the jobs frame again, one blob per column (store/jobcolumns.py): what the queue times are read from.
-- Dropped with every change to the jobs, written again by the next read.
CREATE TABLE IF NOT EXISTS job_columns (name TEXT PRIMARY KEY, data BLOB NOT NULL);
-- fetch --org / --repos-file: each crawl queue's latest round (finished_at NULL: in progress) and the
-- repositories of that round, leased one at a time to the workers (store/queue.py)
CREATE TABLE IF NOT EXISTS crawl_rounds (
    queue TEXT PRIMARY KEY, round INTEGER NOT NULL, started_at TEXT NOT NULL, finished_at TEXT
);
CREATE TABLE IF NOT EXISTS crawl_queue (
    queue TEXT NOT NULL, repo TEXT NOT NULL, done_round INTEGER NOT NULL DEFAULT 0, owner TEXT, lease_until REAL,
    attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT, finished_at TEXT, PRIMARY KEY (queue, repo)
);
"""

SQLITE_MAGIC = b"SQLite format 3\x00"
TABLES = frozenset(re.findall(r"CREATE TABLE IF NOT EXISTS (\w+)", SCHEMA))
