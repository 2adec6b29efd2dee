"""The run context: queue time, actor, head commit, event, branch and runner, from every input to every output.

Real REST JSON (``realdata``: date-night-app2, PyGithub's recordings, orientdb's listings) is read
as GitHub wrote it; a history fetched from the fake GitHub (whose runs and jobs carry these fields
in GitHub's shapes) comes out of ``stats``/``incidents`` JSON and the report equal to what the
server said; ``--branch``/``--event`` keep exactly the runs they name; a store written at the
previous schema version migrates, and its next fetch fills what it never kept without asking for
a job or a log again; local logs give what their lines show.
"""

from __future__ import annotations

import json
import sqlite3
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from analyzer.cli import app
from analyzer.collect.rest import job_from_json, run_from_json
from analyzer.model import queue_stats
from analyzer.parse.context import log_context
from analyzer.records import JobContext, parse_iso
from analyzer.store import JOB_COLUMNS, SCHEMA_VERSION, Store
from tests.fake_github import FakeGitHub, assert_store_matches, build_export, parse_time, run_fetch
from tests.old_stores import RUN_CONTEXT_VERSION, drop_run_context

runner = CliRunner()


def cli(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env={"GITHUB_TOKEN": "", "GH_TOKEN": ""})
    return result.exit_code, result.stdout, result.stderr


# -- what GitHub's JSON says ----------------------------------------------------------------------


def _recorded(path: Path) -> list[dict[str, Any]]:
    """The JSON bodies of a PyGithub replay recording (a request, headers, then one JSON line per call)."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.startswith("{\"")]


def test_real_run_json_gives_actor_commit_event_branch(realdata: Path) -> None:
    """date-night-app2's run, a rerun's attempt from PyGithub's recordings, orientdb's run listing."""
    meta = json.loads((realdata / "date-night-app2/angular-tests/2025-04-16_14499185192/metadata.json").read_text())
    run = run_from_json(meta, "mrkurger/date-night-app2")
    assert (run.actor, run.triggering_actor, run.head_commit_message, run.event, run.head_branch, run.head_sha) == (
        "mrkurger", "mrkurger", "UI mega upgrade", "push", "main", "c105d335e584b4ccd26d29723ec78e539f006739",
    )  # fmt: skip
    attempt = _recorded(realdata / "pygithub/WorkflowRun.testGetAttempt.txt")[-1]
    rerun = run_from_json(attempt, "EnricoMi/PyGithub")
    assert (rerun.run_attempt, rerun.triggering_actor, rerun.event) == (2, "EnricoMi", "schedule")
    assert rerun.head_commit_message == "Release 2.9.0 (#3465)"
    listing = json.loads((realdata / "bugswarm/orientdb-api/runs-page1.json").read_text())["workflow_runs"]
    for item in listing:
        parsed = run_from_json(item, "orientechnologies/orientdb")
        assert parsed.actor == item["actor"]["login"]
        assert parsed.head_commit_message == item["head_commit"]["message"].strip().splitlines()[0][:200]
        assert "\n" not in (parsed.head_commit_message or "")


def test_real_job_json_gives_queue_time_and_runner(realdata: Path) -> None:
    """A 2025 job waited created → started; a 2022 job (no created_at in the API then) has no queue time."""
    jobs = json.loads((realdata / "date-night-app2/angular-tests/2025-04-16_14499185192/jobs.json").read_text())["jobs"]
    job = job_from_json(jobs[0], "mrkurger/date-night-app2")
    assert (job.queued_s, job.runner_name, job.labels) == (4.0, "GitHub Actions", ("ubuntu-latest",))
    for raw in _recorded(realdata / "pygithub/WorkflowRun.test_jobs.txt")[-1]["jobs"]:
        parsed = job_from_json(raw, "PyGithub/PyGithub")
        expected = (parse_time(raw["started_at"]) - parse_time(raw["created_at"])).total_seconds()
        assert parsed.queued_s == expected and parsed.runner_name == raw["runner_name"]
    old = json.loads((realdata / "bugswarm/orientdb-api/jobs-responses/2557358222.json").read_text())["jobs"][0]
    assert job_from_json(old, "orientechnologies/orientdb").queued_s is None


# -- the history the fake GitHub serves ------------------------------------------------------------


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_export(tmp_path_factory.mktemp("export"), runs=40, jobs_per_run=3)


@pytest.fixture(scope="module")
def fetched(export: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FakeGitHub, Path]]:
    """The fake's history fetched once; tests only read the store."""
    with FakeGitHub(export) as fake:
        path = tmp_path_factory.mktemp("fetched") / "s.db"
        run_fetch(fake, path)
        yield fake, path


def _server_jobs(fake: FakeGitHub) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(job JSON, the JSON of its run attempt) for every job the server has."""
    return [(j, fake._attempt(j["run_id"], j["run_attempt"]) or {}) for j in fake.data.all_jobs()]


def _waited(job: dict[str, Any]) -> float:
    return (parse_time(job["started_at"]) - parse_time(job["created_at"])).total_seconds()


def test_stats_json_has_each_jobs_queue_percentiles(fetched: tuple[FakeGitHub, Path]) -> None:
    """Per job: the attempts that waited, their p50/p90/p95/p99 and longest wait, as the server's times say."""
    fake, db = fetched
    code, out, err = cli("stats", "--store", str(db), "--format", "json")
    assert code == 0, err
    rows = json.loads(out)
    waits: dict[tuple[str, str], list[float]] = {}
    for job, _ in _server_jobs(fake):
        if job["conclusion"] != "skipped":
            waits.setdefault((job["workflow_name"], job["name"]), []).append(_waited(job))
    jobs = {(r["workflow"], r["job"]): r for r in rows if r["scope"] == "job"}
    assert set(jobs) == set(waits)
    for key, values in waits.items():
        row = jobs[key]
        want = np.quantile(values, (0.5, 0.9, 0.95, 0.99), method="inverted_cdf")
        got = (row["queued_p50_s"], row["queued_p90_s"], row["queued_p95_s"], row["queued_p99_s"])
        assert got == tuple(float(v) for v in want), key
        assert (row["queued_samples"], row["queued_max_s"], row["not_started"]) == (len(values), max(values), 0)
    assert all(r["queued_samples"] is None for r in rows if r["scope"] != "job")
    assert max(jobs[("E2E", "test (0)")]["queued_max_s"], 0) >= 600  # the self-hosted pool's shortage
    code, out, _ = cli("stats", "--store", str(db))
    assert "Waiting for a runner (job created → started):" in out


def test_incidents_json_carries_each_attempts_run_context(fetched: tuple[FakeGitHub, Path]) -> None:
    """Every incident names its attempt's queue time, triggering actor, commit, event, branch and runner,
    a rerun's attempt the person who re-ran it."""
    fake, db = fetched
    code, out, err = cli("incidents", "--store", str(db), "--format", "json")
    assert code == 0, err
    found = json.loads(out)
    by_id = {j["id"]: (j, r) for j, r in _server_jobs(fake)}
    assert found
    for incident in found:
        job, run = by_id[incident["job_id"]]
        assert {k: incident[k] for k in JobContext().to_dict()} == {
            "queued_s": _waited(job), "actor": run["triggering_actor"]["login"], "head_sha": run["head_sha"],
            "head_commit_message": run["head_commit"]["message"].splitlines()[0], "event": run["event"],
            "branch": run["head_branch"], "runner_name": job["runner_name"],
        }  # fmt: skip
    reruns = [i for i in found if i["run_attempt"] > 1]
    assert reruns and {i["actor"] for i in reruns} == {"carol"}  # the re-runner, not the run's author


def test_branch_and_event_keep_exactly_those_runs(fetched: tuple[FakeGitHub, Path]) -> None:
    """``--branch``/``--event`` on stats, incidents, recommend and backtest count only the runs named."""
    fake, db = fetched
    pairs = _server_jobs(fake)
    for option, value, field in (("--branch", "feature/x", "head_branch"), ("--event", "schedule", "event")):
        mine = [j for j, r in pairs if r[field] == value and j["conclusion"] != "skipped"]
        code, out, err = cli("stats", "--store", str(db), option, value, "--format", "json")
        assert code == 0, err
        rows = [r for r in json.loads(out) if r["scope"] == "job"]
        assert sum(r["samples"] for r in rows) == sum(r["queued_samples"] for r in rows) == len(mine) > 0
        assert f": {len(mine)} of {len(mine)} jobs" in err  # the stated window counts those runs' jobs only
        code, out, err = cli("incidents", "--store", str(db), option, value, "--format", "json")
        assert code == 0, err
        found = json.loads(out)
        assert sorted(i["job_id"] for i in found) == sorted(j["id"] for j in mine if j["conclusion"] != "success")
        assert {i["branch" if field == "head_branch" else "event"] for i in found} <= {value}
        assert found or option == "--event"  # the feature branch has failures; the scheduled runs need none
        code, out, err = cli("recommend", "--store", str(db), option, value, "--format", "json")
        assert code == 0, err
        job_units = [r for r in json.loads(out)["recommendations"] if r["scope"] == "job"]
        assert sum(r["samples"] for r in job_units) == len(mine)
    code, _, err = cli("backtest", "--store", str(db), "--event", "push", "--format", "json")
    assert code == 0, err


def test_runs_still_waiting_for_a_runner_are_noted_not_counted(export: Path, tmp_path: Path) -> None:
    """A run listed while queued has no jobs yet: ``stats`` says so on stderr and counts no wait for it."""
    db = tmp_path / "s.db"
    with FakeGitHub(export) as fake:
        newest = fake.visible_runs()[0]
        fake.overrides[newest["id"]] = {"status": "queued", "conclusion": None}
        run_fetch(fake, db)
        counted = sum(1 for j in fake.data.all_jobs() if j["run_id"] != newest["id"] and j["conclusion"] != "skipped")
    code, out, err = cli("stats", "--store", str(db), "--format", "json")
    assert code == 0, err
    assert "1 run(s) were still waiting for a runner when last fetched: not in the queue times yet" in err
    assert sum(r["queued_samples"] for r in json.loads(out) if r["scope"] == "job") == counted


def test_an_unknown_branch_or_event_is_one_error_naming_the_known_ones(fetched: tuple[FakeGitHub, Path]) -> None:
    """A typo is not an empty answer: one error line, one hint listing what the runs have, most runs first."""
    _, db = fetched
    for command in ("stats", "incidents", "failures", "recommend", "backtest", "report"):
        code, out, err = cli(command, "--store", str(db), "--branch", "mian")
        assert (code, out) == (1, "")
        assert err.splitlines() == [
            "error: --branch 'mian': no run in the store has it",
            "hint: --branch takes a value the runs have (most runs first): main, feature/x",
        ]
    code, _, err = cli("stats", "--store", str(db), "--event", "workflow_dispatch")
    assert code == 1 and "hint: --event takes a value the runs have (most runs first): push, pull_request, schedule" in err


def test_a_jobs_frame_of_some_columns_is_those_columns_of_the_whole(fetched: tuple[FakeGitHub, Path]) -> None:
    """``stats`` reads the queue's columns only (less memory): the same values and types, the same queue stats."""
    from analyzer.model.queue import QUEUE_COLUMNS

    _, db = fetched
    with Store(db, create=False) as store:
        whole, some = store.jobs_frame(), store.jobs_frame(only=QUEUE_COLUMNS)
    assert list(some.columns) == list(QUEUE_COLUMNS) and len(some) == len(whole) > 0
    pd.testing.assert_frame_equal(some, whole[list(QUEUE_COLUMNS)])
    assert queue_stats(some) == queue_stats(whole)


def test_a_jobs_frame_shares_its_texts_and_reads_null_as_none(fetched: tuple[FakeGitHub, Path]) -> None:
    """The jobs' text columns are Python objects under pandas 2 and 3, None for NULL, and each distinct value
    is one object (10⁵ attempts: ~1 MB a column instead of a string a cell): the values the table holds."""
    _, db = fetched
    with Store(db, create=False) as store:
        frame = store.jobs_frame()
        rows = store.conn.execute("SELECT workflow_name, name, status, conclusion, runner_name FROM jobs ORDER BY job_id").fetchall()
    texts = ["workflow", "job", "status", "conclusion", "runner_name"]
    assert len(frame) == len(rows) > 3
    assert [tuple(r) for r in frame[texts].itertuples(index=False)] == [tuple(r) for r in rows]
    for name in texts:
        assert frame[name].dtype == object, name
        values = frame[name].tolist()
        assert len({id(v) for v in values}) == len(set(values)), name  # one object per distinct value (None too)
    assert any(v is None for v in frame["runner_name"]) or all(r[4] is not None for r in rows)


def test_a_jobs_frame_read_in_chunks_is_the_frame_read_at_once(fetched: tuple[FakeGitHub, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """``jobs_frame`` reads 16,384 attempts at a time from SQL: in chunks of 2 (a NULL runner among them) the
    same frame, values, dtypes and index as read at once (and kept in the jobs' columns cache), each distinct
    text still one object across the chunks."""
    from analyzer.store import jobcolumns

    _, db = fetched
    with Store(db, create=False) as store:
        store.conn.execute("UPDATE jobs SET runner_name = NULL WHERE job_id = (SELECT MIN(job_id) FROM jobs)")
        store.conn.execute("DELETE FROM job_columns")  # (changed behind the store's back: its cache is stale)
        whole = store.jobs_frame()
        store.conn.execute("DELETE FROM job_columns")
        store.conn.execute("PRAGMA query_only = 1")  # no cache can be written: SQL, in chunks
        monkeypatch.setattr(jobcolumns, "CHUNK", 2)
        chunked = store.jobs_frame()
        store.conn.execute("PRAGMA query_only = 0")
        store.conn.execute("DELETE FROM jobs WHERE 0")  # (a no-op keeps the fixture's store as it was for others)
    assert len(whole) > 4 and whole["runner_name"].isna().any()
    pd.testing.assert_frame_equal(chunked, whole)
    for name in ("workflow", "job", "conclusion", "runner_name", "labels"):
        values = chunked[name].tolist()
        assert len({id(v) for v in values}) == len(set(values)), name


def test_report_has_the_queue_panel_and_the_incidents_context(fetched: tuple[FakeGitHub, Path], tmp_path: Path) -> None:
    """The HTML's queue-time panel flags the self-hosted pool that fell short this week; the Markdown says
    so too; ``--branch`` narrows the report and says it does."""
    _, db = fetched
    html, md = tmp_path / "r.html", tmp_path / "r.md"
    code, _, err = cli("report", "--store", str(db), "--html", str(html), "--markdown", str(md))
    assert code == 0, err
    page, weekly = html.read_text(encoding="utf-8"), md.read_text(encoding="utf-8")
    assert '<section id="queue">' in page and '<tr class="worse"><td class="name">self-hosted, linux, e2e</td>' in page
    assert "| 🔺 self-hosted, linux, e2e |" in weekly and "p95 wait for a runner" in weekly
    assert "by carol" in weekly or "by alice" in weekly
    code, _, err = cli("report", "--store", str(db), "--html", str(html), "--branch", "feature/x")
    assert code == 0, err
    assert "only runs with branch feature/x" in html.read_text(encoding="utf-8")


# -- a store written at the previous schema version ----------------------------------------------------

# The runs and jobs tables before the run context (the rest is unchanged).
RUNS_BEFORE = ("run_id", "run_attempt", "repo", "workflow_name", "workflow_path", "event", "head_branch", "head_sha",
               "status", "conclusion", "created_at", "run_started_at", "updated_at")  # fmt: skip
JOBS_BEFORE = ("job_id", "run_id", "run_attempt", "repo", "workflow_name", "name", "status", "conclusion", "created_at",
               "started_at", "completed_at", "labels", "runner_name")  # fmt: skip


def as_written_before_the_context(path: Path) -> None:
    """Turn a store into what the schema version before ``RUN_CONTEXT_VERSION`` wrote: no context columns,
    listing pages cached as it slimmed them (without actors and head commits), its version in meta."""
    with sqlite3.connect(path) as conn:
        drop_run_context(conn)
        for table, kept in (("runs", RUNS_BEFORE), ("jobs", JOBS_BEFORE)):
            assert tuple(r[1] for r in conn.execute(f"PRAGMA table_info({table})")) == kept
        for key, blob in conn.execute("SELECT key, payload FROM http_cache").fetchall():
            payload = json.loads(zlib.decompress(blob))
            if isinstance(payload, dict) and isinstance(payload.get("runs"), list):
                for item in payload["runs"]:
                    for name in ("actor", "triggering_actor", "head_commit"):
                        item.pop(name, None)
                conn.execute("UPDATE http_cache SET payload=? WHERE key=?", (zlib.compress(json.dumps(payload).encode()), key))
        conn.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(RUN_CONTEXT_VERSION - 1),))


def test_a_store_of_the_previous_version_migrates_and_the_next_fetch_fills_the_rest(export: Path, tmp_path: Path) -> None:
    """Queue times come from the times the store kept, at once; actors and commit messages, never kept,
    come with the next fetch: listings are read again, no job, log or annotation is asked for again,
    and the store then equals a fresh fetch's."""
    db = tmp_path / "s.db"
    with FakeGitHub(export) as fake:
        run_fetch(fake, db)
        as_written_before_the_context(db)
        with Store(db, create=False) as store:  # opening migrates
            frame = store.jobs_frame()
            assert store.conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] == str(SCHEMA_VERSION)
            assert {r.actor for r in store.load_runs()} == {None}
            listings = store.conn.execute("SELECT COUNT(*) FROM http_cache WHERE key LIKE '%/runs?%'").fetchone()[0]
        assert listings == 0
        want = {j["id"]: _waited(j) for j, _ in _server_jobs(fake)}
        assert dict(zip(frame["job_id"], frame["queued_s"], strict=True)) == want
        fake.reset_stats()
        summary = run_fetch(fake, db)
        asked = [p for p, _ in fake.requests]
        assert (summary.runs_fetched, summary.runs_known, summary.runs_filled) == (0, 40, 40)
        assert "; actor and commit added to 40 stored run(s)" in summary.line()
        assert not [p for p in asked if "/jobs" in p or "/logs" in p or "/annotations" in p or "/attempts/" in p]
        assert_store_matches(fake, db)  # every attempt's actor, triggering actor and commit message included


def test_a_previous_version_store_of_local_logs_reads_their_context_at_the_next_command(realdata: Path, tmp_path: Path) -> None:
    """Local logs are kept: after the migration their jobs are parsed again and get what their lines show."""
    log = realdata / "bugswarm/joblogs/build_language_not_java/e35ffaa457eee569d4bc81be16d0db26e0f3e1b3.log"
    db = tmp_path / "s.db"
    assert cli("ingest", str(log), "--store", str(db))[0] == 0
    with sqlite3.connect(db) as conn:  # as the previous version left it: no context, parsed
        conn.execute("UPDATE jobs SET created_at=NULL, started_at=NULL, runner_name=NULL, labels='[]'")
        conn.execute("UPDATE runs SET head_branch=NULL, head_sha=NULL")
    as_written_before_the_context(db)
    code, out, err = cli("stats", "--store", str(db), "--since", "3650d", "--format", "json")
    assert code == 0, err
    job = next(r for r in json.loads(out) if r["scope"] == "job")
    assert (job["queued_samples"], job["queued_p50_s"]) == (1, 0.619)
    with Store(db, create=False) as store:
        (run,) = store.load_runs()
        (job_id,) = store.job_ids()
        loaded = store.load_job(job_id)
    assert loaded is not None and (loaded.runner_name, loaded.labels) == ("Airflow Runner 60", ("self-hosted",))
    assert (run.head_branch, run.head_sha) == ("main", "e35ffaa457eee569d4bc81be16d0db26e0f3e1b3")


# -- local logs --------------------------------------------------------------------------------------


def test_a_2022_log_shows_its_queue_runner_labels_branch_and_commit(realdata: Path) -> None:
    """apache/airflow on a self-hosted runner: the pre-job lines, ``Runner name``, the checkout."""
    data = (realdata / "bugswarm/joblogs/build_language_not_java/e35ffaa457eee569d4bc81be16d0db26e0f3e1b3.log").read_bytes()
    context = log_context([data])
    assert context.queued_at == datetime(2022, 6, 21, 18, 58, 4, 779278, tzinfo=UTC)
    assert context.picked_at == datetime(2022, 6, 21, 18, 58, 5, 398052, tzinfo=UTC)
    assert (context.runner_name, context.labels, context.branch, context.event) == (
        "Airflow Runner 60", ("self-hosted",), "main", None,
    )  # fmt: skip
    assert context.head_sha == "e35ffaa457eee569d4bc81be16d0db26e0f3e1b3"


def test_a_pull_request_log_says_its_event_and_not_the_merge_commit(realdata: Path) -> None:
    """consensus-specs checked out ``refs/pull/3028/merge``: the event, never the merge commit as head."""
    data = (realdata / "extracted-runlog-consensus-specs-2022/1_codespell.txt").read_bytes()
    context = log_context([data])
    assert (context.event, context.head_sha, context.head_commit_message) == ("pull_request", None, None)
    assert (context.runner_name, context.labels) == ("github-actions-runner-01-02", ("self-hosted",))


def test_a_2025_log_shows_branch_and_commit_but_no_queue(realdata: Path) -> None:
    """A job log as the API serves it today starts at the runner: no queue time, no runner name."""
    data = (realdata / "date-night-app2/angular-tests/2025-04-16_14499185192/e2e--22-x-/logs.txt").read_bytes()
    context = log_context([data])
    assert (context.queued_at, context.runner_name) == (None, None)
    assert (context.branch, context.head_sha) == ("main", "c105d335e584b4ccd26d29723ec78e539f006739")


def test_an_older_checkout_gives_the_commit_message(tmp_path: Path) -> None:
    """``actions/checkout@v1`` checks out the SHA itself and prints ``HEAD is now at SHORT MESSAGE``;
    a synthetic ``Merge X into Y`` commit is a pull request's, not the head commit."""
    sha = "a064beca6b59b1eaa9cb78cbe04dc5fd0e456608"
    log = (f"2019-11-13T15:34:21.3591079Z ##[command]git checkout --progress --force {sha}\n"
           "2019-11-13T15:34:21.3594666Z HEAD is now at a064bec Create nodejs.yml\n").encode()  # fmt: skip
    context = log_context([log])
    assert (context.head_sha, context.head_commit_message, context.event) == (sha, "Create nodejs.yml", None)
    merge = log.replace(b"Create nodejs.yml", f"Merge {sha} into {sha[::-1]}".encode())
    assert (log_context([merge]).event, log_context([merge]).head_sha) == ("pull_request", None)


def test_an_unzipped_archive_reads_its_job_folders_system_files(realdata: Path, tmp_path: Path) -> None:
    """The same holds for an archive's folder as a browser unzips it: a job folder's ``system.txt`` goes with
    the job its step files make."""
    db = tmp_path / "s.db"
    code, _, err = cli("ingest", str(realdata / "extracted-runlog-my-closet-2025"), "--store", str(db))
    assert code == 0, err
    with Store(db, create=False) as store:
        frame = store.jobs_frame()
    waited = frame[frame["queued_s"].notna()].set_index("job")
    assert waited.loc["python-test", "runner_name"] == "GitHub Actions 1000000160"
    assert waited.loc["test (latest)", "queued_s"] == 0.493  # 20:12:45.091 asked, 20:12:45.584 picked up
    assert set(waited["labels"]) == {"ubuntu-latest"}


def test_an_ingested_run_log_archive_reads_each_jobs_system_file(realdata: Path, tmp_path: Path) -> None:
    """A run-log zip's ``job/system.txt`` (kept as the job's part -1) gives queue time, runner and labels;
    incidents and stats show them; the fields no local log has stay null."""
    archive = realdata / "runlog-zips/scavenger-hunt-2025/logs.zip"
    db = tmp_path / "s.db"
    code, _, err = cli("ingest", str(archive), "--store", str(db))
    assert code == 0, err
    with Store(db, create=False) as store:
        frame = store.jobs_frame()
        parts = {p.part for job_id in store.job_ids() for p in store.load_log_parts(job_id)}
    assert -1 in parts
    assert set(frame["labels"]) == {"ubuntu-latest"} and frame["runner_name"].str.startswith("GitHub Actions ").all()
    assert (frame["queued_s"] >= 0).all()
    with Store(db, create=False) as store:
        runs = store.load_runs()
    assert {r.event for r in runs} == {"pull_request"}  # the archive checked out refs/pull/9/merge
    assert {(r.actor, r.head_commit_message, r.head_sha) for r in runs} == {(None, None, None)}


# -- the model ----------------------------------------------------------------------------------------


def test_queue_stats_keep_attempts_that_never_started_apart() -> None:
    """Cancelled while queued, still waiting: counted as not started, never averaged in; skipped jobs and
    jobs of unknown creation time are in neither."""
    t = pd.Timestamp("2026-03-02T10:00:00Z")
    rows = [
        # status, conclusion, created, started, queued_s, runner
        ("completed", "success", t, t + pd.Timedelta(seconds=10), 10.0, "r1"),
        ("completed", "failure", t, t + pd.Timedelta(seconds=30), 30.0, "r2"),
        ("completed", "cancelled", t, t + pd.Timedelta(hours=1), 3600.0, None),  # cancelled while waiting
        ("queued", None, t, None, None, None),  # still waiting
        ("completed", "skipped", t, t, 0.0, None),
        ("completed", "success", None, t, None, "r3"),  # a local log without the pre-job lines
    ]
    frame = pd.DataFrame([dict(zip(JOB_COLUMNS, (i, 1, 1, "o/r", "CI", "build", *r, "ubuntu-latest"), strict=True))
                          for i, r in enumerate(rows)])  # fmt: skip
    (stats,) = queue_stats(frame)
    assert (stats.samples, stats.p50_s, stats.p99_s, stats.max_s, stats.not_started) == (2, 10.0, 30.0, 30.0, 2)


def test_a_negative_or_unknown_wait_is_never_made_up() -> None:
    """Clock skew cannot make a wait negative; without both times there is none."""
    from analyzer.records import queue_seconds

    t = parse_iso("2026-03-02T10:00:05Z")
    assert queue_seconds(t, parse_iso("2026-03-02T10:00:00Z")) == 0.0
    assert queue_seconds(None, t) is None and queue_seconds(t, None) is None
