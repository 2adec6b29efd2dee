"""The store: upserts by GitHub ids (on both backends), schema version, refusal of files that are not stores."""

from __future__ import annotations

import hashlib
import sqlite3
import zlib
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from analyzer.errors import StoreError
from analyzer.records import Annotation, Incident, Job, Observation, Run, StepInfo, iso, parse_iso
from analyzer.store import SCHEMA_VERSION, Store
from tests.old_stores import drop_columns_since, migration_with

T0 = datetime(2026, 3, 2, 10, 11, 12, 123456, tzinfo=UTC)


def _job(conclusion: str = "success") -> Job:
    return Job(
        repo="o/r", job_id=42, run_id=7, run_attempt=1, workflow_name="E2E", name="e2e", conclusion=conclusion,
        started_at=T0, completed_at=T0, labels=("ubuntu-latest",),
        steps=(StepInfo(1, "Set up job", "completed", "success", T0, T0),),
    )


def test_saving_twice_adds_nothing(any_store: Store) -> None:
    """Upserts are keyed by run id + attempt and job id."""
    run = Run(repo="o/r", run_id=7, run_attempt=1, workflow_name="E2E", created_at=T0)
    for _ in range(2):
        any_store.save_run(run)
        any_store.save_job(_job())
        any_store.save_annotations(42, [Annotation(42, "failure", "boom")])
        any_store.save_log(42, b"log text")
    counts = any_store.counts()
    assert (counts["runs"], counts["jobs"], counts["steps"], counts["annotations"], counts["logs"]) == (1, 1, 1, 1, 1)
    assert any_store.load_job(42) == _job()
    assert any_store.load_run(7, 1) == run
    assert any_store.load_log_parts(42)[0].data == b"log text"


def test_attempts_are_separate_runs(any_store: Store) -> None:
    """Every attempt of a run is kept."""
    for attempt in (1, 2):
        any_store.save_run(Run(repo="o/r", run_id=7, run_attempt=attempt, workflow_name="E2E"))
    assert [r.run_attempt for r in any_store.load_runs()] == [1, 2]


def test_logs_are_kept_compressed(any_store: Store) -> None:
    """A raw log is stored zstandard-compressed (the frame's magic number) and comes back byte for byte."""
    data = b"2026-03-02T10:11:12.1234567Z hello\n" * 1000
    any_store.save_log(1, data)
    blob, size, digest = any_store.conn.execute("SELECT content, size, sha256 FROM logs").fetchone()
    assert len(blob) < len(data) / 10 and blob[:4] == b"\x28\xb5\x2f\xfd"
    assert (size, digest) == (len(data), hashlib.sha256(data).hexdigest())
    assert any_store.load_log_parts(1)[0].data == data


def test_logs_packed_with_zlib_by_an_older_version_stay_readable(any_store: Store) -> None:
    """A store written before zstandard holds zlib blobs; they are read as they are, beside new ones."""
    old = b"2026-03-02T10:11:12.1234567Z written by an older we-advisor\n" * 50
    any_store.save_log(1, b"2026-03-02T10:11:12.1234567Z new\n")
    with any_store.transaction():
        any_store.conn.execute(
            "INSERT INTO logs VALUES (2, 0, NULL, 'ok', ?, ?, ?, '2026-01-01T00:00:00Z')",
            (zlib.compress(old, 6), len(old), hashlib.sha256(old).hexdigest()),
        )
    assert any_store.load_log_parts(2)[0].data == old
    assert any_store.load_log_parts(1)[0].data == b"2026-03-02T10:11:12.1234567Z new\n"


def test_analysis_replaces_previous_results(any_store: Store) -> None:
    """save_analysis replaces a job's observations and incident, and records the parser state."""
    obs = Observation(
        scope="job", repo="o/r", workflow="E2E", job="e2e", step=None, phase=None, run_id=7, run_attempt=1,
        job_id=42, started_at=T0, duration_s=12.5, outcome="timeout", censored=True, limit_s=1800.0,
    )
    inc = Incident(
        repo="o/r", workflow="E2E", run_id=7, run_attempt=1, job_id=42, job="e2e", step_number=None, step=None,
        phase=None, kind="job_timeout", limit_s=1800.0, evidence="The job has exceeded...", occurred_at=T0,
    )
    any_store.save_job(_job("cancelled"))
    any_store.save_analysis(42, [obs, obs], inc, parser_version=1, rules_hash="a")
    any_store.save_analysis(42, [obs], inc, parser_version=1, rules_hash="a")
    frame = any_store.observations_frame()
    assert len(frame) == 1
    assert bool(frame["censored"].iloc[0]) is True
    assert any_store.load_incidents() == [inc]
    assert any_store.stale_jobs(1, "a") == []
    assert any_store.stale_jobs(2, "a") == [42]
    assert any_store.stale_jobs(1, "b") == [42]


def test_not_a_sqlite_file(tmp_path: Path) -> None:
    """A file that is not SQLite is refused with a hint, and left untouched."""
    path = tmp_path / "x.db"
    path.write_bytes(b"hello, not a database")
    with pytest.raises(StoreError, match="is not a SQLite database") as info:
        Store(path)
    assert info.value.hint
    assert path.read_bytes() == b"hello, not a database"


def test_foreign_sqlite_database(tmp_path: Path) -> None:
    """A SQLite database of another program is not taken over."""
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE things (x)")
    with pytest.raises(StoreError, match="not a we-advisor store"):
        Store(path)


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    """A store written by a newer we-advisor is not touched."""
    path = tmp_path / "s.db"
    Store(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION + 1),))
    with pytest.raises(StoreError, match="newer than this we-advisor"):
        Store(path)


def _schema_version(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0])


def test_older_schema_is_migrated_forward_on_open(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A store written at the previous version gets every migration up to this one, in order, and
    keeps its rows; opening it again runs nothing twice."""
    from analyzer.store import schema

    path = tmp_path / "s.db"
    with Store(path) as store, store.transaction():
        store.save_job(_job())
    base = SCHEMA_VERSION
    monkeypatch.setattr(schema, "SCHEMA_VERSION", base + 2)
    monkeypatch.setattr(schema, "MIGRATIONS", {
        base + 1: ["ALTER TABLE jobs ADD COLUMN queued_note TEXT", "UPDATE jobs SET queued_note = 'a'"],
        base + 2: ["UPDATE jobs SET queued_note = queued_note || 'b'"],
    })
    for _ in range(2):
        with Store(path, create=False) as store:
            assert store.counts()["jobs"] == 1
        with sqlite3.connect(path) as conn:
            assert conn.execute("SELECT queued_note FROM jobs").fetchall() == [("ab",)]
        assert _schema_version(path) == base + 2


def test_a_failed_migration_leaves_the_store_as_it_was(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A migration that fails rolls back every step before it: same version, same tables, same rows."""
    from analyzer.store import schema

    path = tmp_path / "s.db"
    with Store(path) as store, store.transaction():
        store.save_job(_job())
    base = SCHEMA_VERSION
    monkeypatch.setattr(schema, "SCHEMA_VERSION", base + 2)
    monkeypatch.setattr(schema, "MIGRATIONS", {
        base + 1: ["ALTER TABLE jobs ADD COLUMN queued_note TEXT"],
        base + 2: ["UPDATE no_such_table SET x = 1"],
    })
    with pytest.raises(StoreError):
        Store(path, create=False)
    assert _schema_version(path) == base
    with sqlite3.connect(path) as conn:
        columns = [r[1] for r in conn.execute("PRAGMA table_info(jobs)")]
        assert "queued_note" not in columns
        assert conn.execute("SELECT COUNT(*) FROM jobs").fetchone()[0] == 1


def test_missing_store_when_not_creating(tmp_path: Path) -> None:
    """Read-only commands do not create an empty store; they say what to run first."""
    with pytest.raises(StoreError, match="no store at") as info:
        Store(tmp_path / "none.db", create=False)
    assert "ingest" in info.value.hint
    assert not (tmp_path / "none.db").exists()


def test_failed_transaction_leaves_nothing(any_store: Store) -> None:
    """An error inside a transaction rolls back every write in it."""
    with pytest.raises(RuntimeError), any_store.transaction():
        any_store.save_job(_job())
        raise RuntimeError("killed")
    assert any_store.counts()["jobs"] == 0


def test_iso_round_trip() -> None:
    """Times are stored as UTC ISO 8601 with Z, and GitHub's forms parse."""
    assert iso(T0) == "2026-03-02T10:11:12.123456Z"
    assert parse_iso(iso(T0)) == T0
    assert parse_iso("2025-04-16T17:50:15Z") == datetime(2025, 4, 16, 17, 50, 15, tzinfo=UTC)
    assert parse_iso("garbage") is None


def test_a_store_from_before_the_hang_columns_gains_them(tmp_path: Path) -> None:
    """Schema 6 adds the silences a hang is told by (observations) and the last line before one
    (incidents): a store written at the version before keeps its rows, reads them with those fields
    empty, and takes new ones."""
    path = tmp_path / "s.db"
    obs = Observation(scope="job", repo="o/r", workflow="E2E", job="e2e", step=None, phase=None, run_id=7, run_attempt=1,
                      job_id=42, started_at=T0, duration_s=1800.0, outcome="timeout", censored=True, limit_s=1800.0)  # fmt: skip
    incident = Incident("o/r", "E2E", 7, 1, 42, "e2e", 4, "Run tests", None, "job_timeout", 1800.0, "exceeded", T0)
    with Store(path) as store:
        store.save_job(_job())
        store.save_analysis(42, [obs], incident, parser_version=1, rules_hash="x")
    before = migration_with("last_output") - 1
    with sqlite3.connect(path) as conn:  # back to the shape of the version before the hang columns
        drop_columns_since(conn, before + 1)
        conn.execute(f"UPDATE meta SET value='{before}' WHERE key='schema_version'")
    with Store(path, create=False) as store:
        assert _schema_version(path) == SCHEMA_VERSION
        frame = store.observations_frame()
        assert len(frame) == 1 and frame["duration_s"].iloc[0] == 1800.0 and frame["silence_s"].isna().all()
        (kept,) = store.load_incidents()
        assert kept == incident and kept.silence_s is None and kept.last_output is None
        hung = replace(obs, silence_s=900.0, gap_s=40.0)
        store.save_analysis(42, [hung], replace(incident, silence_s=900.0, last_output="waiting"), parser_version=3,
                            rules_hash="x")  # fmt: skip
        assert store.observations_frame()["silence_s"].tolist() == [900.0]
        assert store.load_incidents()[0].last_output == "waiting"


def test_answers_are_kept_only_while_the_store_is_unchanged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``stale_jobs`` and ``newest_time`` asked again of an unchanged store answer without reading it again
    (``report`` asks both several times); a write by this connection or a commit by another one, and the
    store is read again, and the answers follow the writes."""
    from analyzer.parse.logs import PARSER_VERSION
    from analyzer.store import columns
    from tests.loadgen import write_store

    path = tmp_path / "s.db"
    write_store(path, 40)
    reads: list[str] = []
    real_newest = columns.newest
    monkeypatch.setattr(columns, "newest", lambda *a, **k: reads.append("newest") or real_newest(*a, **k))
    with Store(path, create=False) as store:
        store.conn.set_trace_callback(lambda sql: reads.append("stale") if "parse_state p" in sql else None)
        (rules_hash,) = {r[0] for r in store.conn.execute("SELECT rules_hash FROM parse_state")}
        first = store.stale_jobs(PARSER_VERSION, rules_hash)
        newest = store.newest_time()
        assert first == [] and newest is not None
        assert store.stale_jobs(PARSER_VERSION, rules_hash) == [] and store.newest_time() == newest
        assert reads == ["stale", "newest"]
        store.stale_jobs(PARSER_VERSION, "other rules")  # another question: read
        assert reads[-1] == "stale"
        other = sqlite3.connect(path)  # another connection's commit
        victim = other.execute("SELECT MIN(job_id) FROM jobs").fetchone()[0]
        other.execute("DELETE FROM parse_state WHERE job_id = ?", (victim,))
        other.commit()
        reads.clear()
        assert store.stale_jobs(PARSER_VERSION, rules_hash) == [victim] and reads == ["stale"]
        kept = store.stale_jobs(PARSER_VERSION, rules_hash)
        kept.append(-1)  # the caller's copy: what is kept is not changed
        assert store.stale_jobs(PARSER_VERSION, rules_hash) == [victim] and reads == ["stale"]
        store.conn.execute("UPDATE runs SET event = event")  # this connection's write
        assert store.newest_time() == newest and reads == ["stale", "newest"]
        # inside a transaction nothing is kept: a rollback takes back what total_changes counted
        with pytest.raises(RuntimeError), store.transaction():
            store.conn.execute("DELETE FROM parse_state")
            assert len(store.stale_jobs(PARSER_VERSION, rules_hash)) == store.conn.execute("SELECT COUNT(*) FROM jobs").fetchone()[0]
            raise RuntimeError("rolled back")
        assert store.stale_jobs(PARSER_VERSION, rules_hash) == [victim]
        other.close()
        store.conn.set_trace_callback(None)
    with Store(path, create=False) as again:  # a new connection keeps nothing of the last one
        assert again.stale_jobs(PARSER_VERSION, rules_hash) == [victim]
