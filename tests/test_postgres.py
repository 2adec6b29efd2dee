"""The PostgreSQL store against a real server (``tests/postgres.py``: a private cluster on 127.0.0.1).

The same fetch into SQLite and into PostgreSQL leaves the same rows and gives the same ``stats``,
``incidents``, ``recommend`` and ``backtest`` JSON; the schema rules (version, forward migrations,
refusal of what is not a store) hold on both; two fetches of one repository never write at the same
time, on either backend, while fetches of two repositories do run side by side; the password in
the URL shows nowhere.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from analyzer.cli import app
from analyzer.errors import StoreError
from analyzer.records import Job, Observation
from analyzer.store import SCHEMA_VERSION, Store
from tests.fake_github import (
    REPO_NAME,
    SINCE,
    TOKEN,
    FakeGitHub,
    Faults,
    build_export,
    cli_process,
    run_fetch,
    wait_for_requests,
)
from tests.fake_org import FakeOrg, build_org
from tests.postgres import PASSWORD, PostgresServer, dump, table_names
from tests.test_token_safety import leaks, values_text

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_export(tmp_path_factory.mktemp("export"), runs=30, big_run_jobs=110)


def cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env={"GITHUB_TOKEN": TOKEN, "GH_TOKEN": "", **(env or {})})
    return result.exit_code, result.stdout, result.stderr


# -- the same answers on both backends -------------------------------------------------------------


def test_same_fetch_same_rows_and_same_json_on_both_backends(export: Path, tmp_path: Path, pg_url: str) -> None:
    """One fake history fetched into a SQLite file and into PostgreSQL: every table equal row for row;
    stats, incidents, recommend, backtest and failures JSON equal byte for byte (but the generation time)."""
    db = str(tmp_path / "s.db")
    with FakeGitHub(export) as fake:
        for store in (db, pg_url):
            code, _, err = cli("fetch", "--repo", REPO_NAME, "--since", SINCE, "--api-url", fake.url, "--store", store)
            assert code == 0, err
    assert dump(db) == dump(pg_url)
    for command in (["stats"], ["incidents"], ["recommend"], ["backtest"], ["failures"]):
        answers = []
        for store in (db, pg_url):
            code, out, err = cli(*command, "--format", "json", "--since", "365d", "--store", store) if command[0] != "backtest" \
                else cli(*command, "--format", "json", "--store", store)  # fmt: skip
            assert code == 0, err
            answers.append(re.sub(r'"generated_at": "[^"]*"', "", out))
        assert answers[0] == answers[1], command
        assert len(answers[0]) > 200
    markdown = [tmp_path / "sqlite.md", tmp_path / "pg.md"]
    for store, path in zip((db, pg_url), markdown, strict=True):
        code, _, err = cli("report", "--since", "60d", "--html", str(tmp_path / "r.html"), "--markdown", str(path), "--store", store)
        assert code == 0, err
    texts = [re.sub(r"(?m)^.*[Gg]enerated.*$", "", p.read_text()) for p in markdown]
    assert texts[0] == texts[1]


@pytest.mark.timeout(300)
def test_kill_9_then_resume_gives_the_same_store_on_postgresql(export: Path, tmp_path: Path, pg_url: str) -> None:
    """``fetch`` into PostgreSQL SIGKILLed at its start, at three request counts spread over the fetch
    and once while it parses, each restart resuming the last: then one run to the end, and every
    row is the row an uninterrupted fetch into a file holds."""
    import psycopg

    def parsed() -> int:
        with psycopg.connect(pg_url) as conn:
            return int(conn.execute("SELECT count(*) FROM parse_state").fetchone()[0])

    with FakeGitHub(export, faults=Faults(latency=0.002)) as fake:
        reference = tmp_path / "reference.db"
        run_fetch(fake, reference)
        total = fake.stats.total
        fake.reset_stats()
        landed = 0
        for target in (0, total // 5, total // 2, 4 * total // 5, "parsing"):
            before = parsed() if target == "parsing" else 0
            process = cli_process(fake, pg_url, tmp_path)  # type: ignore[arg-type]
            if target == "parsing":
                deadline = time.monotonic() + 60
                while process.poll() is None and parsed() <= before and time.monotonic() < deadline:
                    time.sleep(0.01)
            else:
                wait_for_requests(fake, int(target), process)
            landed += process.poll() is None
            process.send_signal(signal.SIGKILL)
            process.communicate(timeout=30)
        process = cli_process(fake, pg_url, tmp_path)  # type: ignore[arg-type]
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
    assert landed >= 4
    assert dump(pg_url) == dump(str(reference))


# -- the observations' columns cache beside other writers ---------------------------------------------


def _observations(job_id: int, n: int) -> list[Observation]:
    start = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    return [
        Observation(scope="job" if k == 0 else "step", repo="o/r", workflow="E2E", job="e2e", step=None if k == 0 else f"s{k}",
                    step_number=None if k == 0 else k, phase=None, run_id=job_id, run_attempt=1, job_id=job_id,
                    started_at=start + timedelta(minutes=job_id), duration_s=10.0 * k + 0.1 * job_id, outcome="success",
                    censored=False, limit_s=None)
        for k in range(n)
    ]  # fmt: skip


@contextlib.contextmanager
def _held_open(writer: Store, write: Callable[[], object]) -> Iterator[None]:
    """``write`` in a transaction of ``writer`` (another thread) that stays open until a second after the
    block starts: what the block reads meanwhile on another connection waits for that commit, or not."""
    opened, release = threading.Event(), threading.Event()

    def slow_writer() -> None:
        with writer.transaction():
            write()
            opened.set()
            release.wait(30)

    thread = threading.Thread(target=slow_writer)
    thread.start()
    assert opened.wait(30)
    threading.Timer(1.0, release.set).start()
    try:
        yield
    finally:
        thread.join(30)


@pytest.mark.timeout(120)
def test_the_columns_cache_follows_every_writer(pg_url: str) -> None:
    """The cache an analysis writes on PostgreSQL is dropped by the next writer on another connection;
    one written while a writer's transaction is open waits for it and includes its rows."""
    from analyzer.store import columns
    from analyzer.store.frame import OBSERVATION_COLUMNS, observations_frame

    with Store(pg_url) as reader, Store(pg_url) as writer:
        writer.save_analysis(1, _observations(1, 3), None, parser_version=1, rules_hash="a")
        assert len(reader.observations_frame()) == 3
        assert columns.present(reader.conn, OBSERVATION_COLUMNS, SCHEMA_VERSION)  # written by that read
        writer.save_analysis(2, _observations(2, 4), None, parser_version=1, rules_hash="a")
        assert not columns.present(reader.conn, OBSERVATION_COLUMNS, SCHEMA_VERSION)
        with _held_open(writer, lambda: writer.save_analysis(3, _observations(3, 5), None, parser_version=1, rules_hash="a")):
            frame = reader.observations_frame()  # the refresh waits for the writer's commit
        assert sorted(frame["job_id"].tolist()) == [1] * 3 + [2] * 4 + [3] * 5
        sql = observations_frame(reader.conn, dialect="postgresql")
        cached = reader.observations_frame()  # from the cache now
        for name in ("job_id", "duration_s", "step", "started_at"):
            assert sorted(map(str, cached[name])) == sorted(map(str, sql[name]))



@pytest.mark.timeout(120)
def test_the_jobs_columns_cache_follows_every_writer(pg_url: str) -> None:
    """As the observations' cache: the jobs' columns cache a read writes on PostgreSQL is dropped by the
    next writer of a job on another connection; one written while a writer's transaction is open waits
    for it and includes its job; the frame it gives is the one SQL gives."""
    from dataclasses import replace

    import pandas as pd

    from analyzer.store import JOB_COLUMNS, jobcolumns

    def job(job_id: int) -> Job:
        return Job(repo="o/r", job_id=job_id, run_id=job_id, run_attempt=1, workflow_name="E2E", name=f"e2e-{job_id}",
                   status="completed", conclusion="success", created_at=datetime(2026, 3, 2, 10, job_id, tzinfo=UTC),
                   started_at=datetime(2026, 3, 2, 10, job_id, 30, 250000, tzinfo=UTC), labels=["ubuntu-latest"])  # fmt: skip

    def present(store: Store) -> bool:
        return jobcolumns.present(store.conn, JOB_COLUMNS, SCHEMA_VERSION)

    with Store(pg_url) as reader, Store(pg_url) as writer:
        writer.save_job(job(1))
        writer.save_job(replace(job(2), started_at=None, runner_name="r2"))
        assert reader.jobs_frame()["job_id"].tolist() == [1, 2]
        assert present(reader)  # written by that read
        writer.save_job_context(replace(job(2), runner_name="r2b"))
        assert not present(reader)
        assert reader.jobs_frame()["runner_name"].tolist() == [None, "r2b"]
        assert present(reader)
        writer.delete_job(1)
        assert not present(reader)  # and the next read writes it while a writer's transaction is open
        with _held_open(writer, lambda: writer.save_job(job(3))):
            frame = reader.jobs_frame()  # the refresh waits for the writer's commit
        assert frame["job_id"].tolist() == [2, 3]
        since = datetime(2026, 3, 2, 10, 3, tzinfo=UTC)  # job 2 started at 10:02:30.25, job 3 at 10:03:30.25
        cached = reader.jobs_frame(since=since)
        assert present(reader) and cached["job_id"].tolist() == [3]
        direct = jobcolumns.read(reader.conn, JOB_COLUMNS, SCHEMA_VERSION, since=since)  # what that frame came from
        assert direct is not None
        pd.testing.assert_frame_equal(direct, cached)
        sql = reader.jobs_frame(since=since, event="push")  # (a branch or an event: SQL) no run has that event
        assert sql.empty
        whole = reader.jobs_frame()
        reader.conn.execute("DELETE FROM job_columns")
        reader.conn.execute("SET default_transaction_read_only = on")  # no cache can be written: SQL
        pd.testing.assert_frame_equal(reader.jobs_frame(), whole)
        assert not present(reader)

# -- the schema rules --------------------------------------------------------------------------------


def _job() -> Job:
    return Job(repo="o/r", job_id=42_000_000_000, run_id=7, run_attempt=1, workflow_name="E2E", name="e2e")


def test_older_schema_is_migrated_forward_and_a_failed_migration_rolls_back(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As on SQLite: every migration runs in order in one transaction (PostgreSQL's DDL is
    transactional), ids beyond 2³¹ fit, and a failing step leaves version, columns and rows as they were."""
    from analyzer.store import schema

    with Store(pg_url) as store:
        store.save_job(_job())
    base = SCHEMA_VERSION
    monkeypatch.setattr(schema, "SCHEMA_VERSION", base + 2)
    monkeypatch.setattr(schema, "MIGRATIONS", {
        base + 1: ["ALTER TABLE jobs ADD COLUMN queued_note TEXT"],
        base + 2: ["UPDATE no_such_table SET x = 1"],
    })  # fmt: skip
    with pytest.raises(StoreError, match="not a usable we-advisor store"):
        Store(pg_url)
    monkeypatch.setattr(schema, "SCHEMA_VERSION", base)
    with Store(pg_url) as store:
        assert store.get_meta("schema_version") == str(base)
        assert store.load_job(_job().job_id) == _job()
    monkeypatch.setattr(schema, "SCHEMA_VERSION", base + 2)
    monkeypatch.setattr(schema, "MIGRATIONS", {
        base + 1: ["ALTER TABLE jobs ADD COLUMN queued_note TEXT", "UPDATE jobs SET queued_note = 'a'"],
        base + 2: ["UPDATE jobs SET queued_note = queued_note || 'b'"],
    })  # fmt: skip
    for _ in range(2):
        with Store(pg_url) as store:
            assert store.conn.execute("SELECT queued_note FROM jobs").fetchall() == [("ab",)]
            assert store.get_meta("schema_version") == str(base + 2)
            store.set_meta("k", "v")  # an upsert after the migration (the table shapes are read again)
            store.conn.execute("INSERT OR REPLACE INTO jobs (job_id, run_id, run_attempt, repo, workflow_name, name, labels) "
                               "VALUES (?,?,?,?,?,?,?)", (1, 2, 1, "o/r", "E2E", "e2e", "[]"))  # fmt: skip
            assert store.conn.execute("SELECT queued_note FROM jobs WHERE job_id = 1").fetchall() == [(None,)]
            store.conn.execute("DELETE FROM jobs WHERE job_id = 1")


def test_newer_schema_and_foreign_tables_are_refused(pg_server: PostgresServer) -> None:
    import psycopg

    newer, foreign = pg_server.database(), pg_server.database()
    Store(newer).close()
    with psycopg.connect(newer, autocommit=True) as conn:
        conn.execute("UPDATE meta SET value = %s WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    with pytest.raises(StoreError, match="newer than this we-advisor"):
        Store(newer)
    with psycopg.connect(foreign, autocommit=True) as conn:
        conn.execute("CREATE TABLE runs (x int)")
    with pytest.raises(StoreError, match="named like a we-advisor store's") as info:
        Store(foreign)
    assert "search_path" in info.value.hint
    with psycopg.connect(foreign, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema='public'").fetchone() == (1,)


def test_concurrent_first_opens_create_the_schema_once(pg_url: str) -> None:
    """Four processes open a new, empty database at once: the schema is set up once, all succeed."""
    code = "import sys; from analyzer.store import Store; Store(sys.argv[1]).close()"
    procs = [subprocess.Popen([sys.executable, "-c", code, pg_url], env={**os.environ, "PYTHONPATH": str(ROOT)},
                              stderr=subprocess.PIPE, text=True) for _ in range(4)]  # fmt: skip
    errors = [p.communicate(timeout=60)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], errors
    with Store(pg_url) as store:
        assert store.get_meta("schema_version") == str(SCHEMA_VERSION)


# -- two fetches of one repository never write at once ------------------------------------------------


def _fetch(org: FakeOrg, repo: str, store: str, token: str, *extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, "GITHUB_TOKEN": token, "GH_TOKEN": "", "PYTHONPATH": str(ROOT), "WE_ADVISOR_STORE": store}
    args = ["fetch", "--repo", repo, "--since", SINCE, "--api-url", org.url, *extra]
    return subprocess.Popen([sys.executable, "-m", "analyzer", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip


def _span(org: FakeOrg, token: str) -> tuple[float, float]:
    times = [c.at for c in org.calls if c.token == token]
    return min(times), max(times)


@pytest.mark.timeout(180)
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_two_fetches_of_one_repository_never_both_write(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """A second fetch of the same repository waits for the first (``--lock-wait``) and makes its first
    request only after the first's last one, or, without waiting, exits 1 at once with one error
    line and asks GitHub nothing; a fetch of another repository runs beside it."""
    store = str(tmp_path / "s.db") if backend == "sqlite" else request.getfixturevalue("pg_url")
    folders = build_org(tmp_path / "org", "acme", 2, runs=8)
    tokens = ("token-first-0123456789", "token-second-0123456789", "token-other-0123456789")
    with FakeOrg("acme", folders, tokens=tokens) as org:
        repo = org.repos[0]
        gate = threading.Event()
        org.holds[tokens[0]] = (gate, 0)
        first = _fetch(org, repo, store, tokens[0])
        deadline = time.monotonic() + 60
        while not org.held(tokens[0]):  # it holds the lock now
            assert first.poll() is None and time.monotonic() < deadline, first.communicate()
            time.sleep(0.01)
        other = _fetch(org, org.repos[1], store, tokens[2])
        refused = _fetch(org, repo, store, tokens[1])
        _, err = refused.communicate(timeout=60)
        assert refused.returncode == 1
        lines = err.strip().splitlines()
        assert lines[0].startswith("error: another `we-advisor fetch` is writing ") and repo in lines[0], err
        assert lines[1].startswith("hint: ") and "--lock-wait" in lines[1]
        assert len(lines) == 2
        assert not any(c.token == tokens[1] for c in org.calls)
        second = _fetch(org, repo, store, tokens[1], "--lock-wait", "120")
        assert second.stderr is not None
        waiting = second.stderr.readline()
        assert "waiting up to 120s" in waiting
        assert other.wait(timeout=120) == 0, other.communicate()
        gate.set()
        outs = [p.communicate(timeout=120) for p in (first, second)]
        assert [first.returncode, second.returncode] == [0, 0], outs
        assert " 0 new," in outs[1][1]
        assert _span(org, tokens[0])[1] < _span(org, tokens[1])[0]
        first_span, other_span = _span(org, tokens[0]), _span(org, tokens[2])
        assert first_span[0] < other_span[0] and other_span[1] < first_span[1], "the other repository ran beside it"


# -- the password ---------------------------------------------------------------------------------------


def _store_text(location: str) -> str:
    parts = []
    with Store(location) as store:
        for table in table_names():
            parts += values_text(store.conn.execute(f"SELECT * FROM {table}").fetchall())
    return "\n".join(parts)


def test_the_password_never_shows(
    export: Path, tmp_path: Path, pg_server: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every command on a URL with a password, with and without -v, succeeding and failing (wrong
    password, no server on the port, no such database, a bad URL): the password is in no output, no
    file, no row of the store, no exception's message, chain or traceback; the server did need it."""
    monkeypatch.chdir(tmp_path)
    url = pg_server.database()
    texts: list[str] = []
    with FakeGitHub(export) as fake:
        for verbose in ([], ["-v"]):
            runs = [
                ["fetch", "--repo", REPO_NAME, "--since", SINCE, "--api-url", fake.url, "--max-runs", "5"],
                ["stats"], ["incidents"], ["recommend"], ["backtest"], ["reparse"],
                ["report", "--markdown", "weekly.md"], ["export", "--format", "parquet", "out"],
            ]  # fmt: skip
            for args in runs:
                code, out, err = cli(*verbose, *args, "--store", url)
                assert code == 0, (args, err)
                texts += [out, err]
    bad = [
        url.replace(PASSWORD, "wrong-" + PASSWORD),
        url.replace(str(pg_server.port), "1"),
        url.rsplit("/", 1)[0] + "/no_such_db",
        url.replace("postgresql://", "postgresql://x:" + PASSWORD + "@h:notaport/").replace("@127", "/127"),
        url.replace("postgresql", "mysql"),
    ]
    for location in bad:
        for verbose in ([], ["-v"]):
            code, out, err = cli(*verbose, "stats", "--store", location)
            assert code == 1, (location, err)
            lines = err.splitlines()
            assert lines[-2].startswith("error: ") and lines[-1].startswith("hint: "), err
            assert verbose or len(lines) == 2, err
            texts += [out, err]
        try:
            Store(location)
        except StoreError as exc:
            texts += [str(exc), repr(exc), repr(exc.args), exc.hint, "".join(traceback.format_exception(exc))]
            assert (exc.__cause__ is None and exc.__context__ is None) or PASSWORD not in repr(exc.__context__)
        else:
            raise AssertionError(f"{location} opened")
    found = leaks(PASSWORD, tmp_path, *texts, _store_text(url))
    assert found == []
    assert "***" in " ".join(texts)
    assert leaks(PASSWORD, tmp_path, f"planted {PASSWORD}") != []
