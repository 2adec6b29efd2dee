"""Fetch reliability: ``kill -9`` at many moments then resume, every fault at
once, and readers beside a writing fetch.

Each test runs ``we-advisor fetch`` (a real process where it must be killed or run beside others)
against the fake GitHub server on 127.0.0.1 and compares the store with what the server holds, and
with the store an uninterrupted fetch leaves. Long variants are ``@pytest.mark.slow``.
"""

from __future__ import annotations

import contextlib
import random
import re
import signal
import sqlite3
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from analyzer.collect.fetch import Unfetched
from analyzer.collect.github import ClientPolicy
from analyzer.store import Store
from tests.fake_github import (
    TOKEN,
    FakeGitHub,
    Faults,
    assert_store_matches,
    build_export,
    cli,
    cli_process,
    dump_store,
    parsed_jobs,
    run_fetch,
    wait_for_parsing,
    wait_for_requests,
)

# 120 runs: two listing pages (100 a page), so kills land while listing as well as in jobs, logs,
# annotations, workflow files and parsing; about 700 requests.
RUNS = 120
JOBS_PER_RUN = 2


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_export(tmp_path_factory.mktemp("export"), runs=RUNS, jobs_per_run=JOBS_PER_RUN)


# -- kill -9 at many moments, resume -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Kill:
    """Where one SIGKILL landed."""

    target: str  # "start" | "request N" | "parsing"
    landed: bool  # the process was still running when it was killed
    stage: str  # what it was doing: the kind of its last request, "parsing", or "starting"
    requests: int  # requests this process had made


def integrity(db: Path) -> str:
    """``PRAGMA integrity_check`` of the store (without creating one where none was written yet)."""
    if not db.exists():
        return "ok"
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


def assert_fetched_runs_whole(fake: FakeGitHub, db: Path) -> int:
    """Every run the store marks fetched has all its jobs, logs and annotations; returns their number."""
    if not db.exists():
        return 0
    with Store(db) as store:
        done = store.fetched_runs(fake.data.full_name)
        annotated = store.annotated_jobs(fake.data.full_name)
        for run_id in done:
            for job in fake.data.jobs[run_id]:
                assert store.load_job(job["id"]) is not None, (run_id, job["id"])
                assert job["conclusion"] == "skipped" or store.log_state(job["id"]) is not None, (run_id, job["id"])
                if job["conclusion"] not in ("success", "skipped", "neutral"):
                    assert job["id"] in annotated, (run_id, job["id"])
        return len(done)


def stage_of(fake: FakeGitHub, since: int, db: Path, parsed_before: int) -> str:
    """What a killed fetch was doing: parsing if it had committed parsed jobs, else its last request."""
    if parsed_jobs(db) > parsed_before:
        return "parsing"
    with fake.lock:
        paths = [path for path, _ in fake.requests[since:]]
    if not paths:
        return "starting"
    path = paths[-1].split("?")[0]
    for marker, kind in (("/_blob/", "log download"), ("/logs", "log"), ("/check-runs/", "annotations"),
                         ("/jobs", "jobs"), ("/attempts/", "attempt"), ("/actions/runs", "listing"),
                         ("/contents/", "workflow file"), ("/actions/workflows", "workflows")):  # fmt: skip
        if marker in path:
            return kind
    return "repository"


def kill_and_resume(fake: FakeGitHub, db: Path, cwd: Path, points: int, parse_points: int, seed: int) -> list[Kill]:
    """SIGKILL ``we-advisor fetch`` at ``points`` request counts drawn over a whole fetch (counted across
    the restarts, so each restart is killed further on), once right at its start, and ``parse_points``
    times while it parses; after every kill the store is intact and its fetched runs are whole."""
    total = fake.stats.total  # requests of the uninterrupted reference fetch
    rng = random.Random(seed)
    thresholds = sorted(rng.sample(range(1, total + 1), points))
    targets: list[int | str] = ["start", *thresholds, *["parsing"] * parse_points]
    fake.reset_stats()
    kills: list[Kill] = []
    fetched = 0
    for target in targets:
        parsed_before = parsed_jobs(db)
        since = len(fake.requests)
        process = cli_process(fake, db, cwd)
        if target == "parsing":
            wait_for_parsing(db, process, beyond=parsed_before)
        elif isinstance(target, int):
            wait_for_requests(fake, target, process)
        landed = process.poll() is None
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=30)
        stage = stage_of(fake, since, db, parsed_before) if landed else "finished"
        kills.append(Kill(str(target if not isinstance(target, int) else f"request {target}"), landed, stage,
                          len(fake.requests) - since))  # fmt: skip
        assert integrity(db) == "ok", kills[-1]
        now = assert_fetched_runs_whole(fake, db)
        assert now >= fetched, "a kill lost runs already stored"
        fetched = now
    return kills


def report_kills(kills: list[Kill], seconds: float) -> str:
    stages = Counter(k.stage for k in kills if k.landed)
    landed = sum(k.landed for k in kills)
    return f"{landed} of {len(kills)} kills landed mid-fetch in {seconds:.1f}s; stages: {dict(stages)}"


def test_kill_9_at_twenty_moments_then_resume_gives_the_same_store(export: Path, tmp_path: Path) -> None:
    """24 SIGKILLs: at start, at 20 request counts drawn over a whole fetch (listing, jobs, logs,
    annotations, workflow files), and 3 times while parsing; each restart resumes where the last one
    left off. Then one uninterrupted run: the store equals an uninterrupted fetch's, row for row.

    Measured on the 2-core CI machine: every kill lands mid-fetch (none after the end), about 30 s."""
    began = time.monotonic()
    with FakeGitHub(export, faults=Faults(latency=0.002)) as fake:
        reference = tmp_path / "reference.db"
        run_fetch(fake, reference, policy=ClientPolicy())
        db = tmp_path / "killed.db"
        total = fake.stats.total
        kills = kill_and_resume(fake, db, tmp_path, points=20, parse_points=3, seed=7)
        fake.reset_stats()
        process = cli_process(fake, db, tmp_path)
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        assert fake.stats.total < total // 4  # it began where the killed ones left off
        assert dump_store(db) == dump_store(reference)
        assert_store_matches(fake, db)
        assert TOKEN not in err and TOKEN not in repr(dump_store(db))
    print(report_kills(kills, time.monotonic() - began))
    assert sum(k.landed for k in kills) >= 20, kills
    assert [k.stage for k in kills[-3:]] == ["parsing"] * 3, kills


@pytest.mark.slow
def test_kill_9_at_eighty_moments_through_faults_then_resume_gives_the_same_store(
    export: Path, tmp_path: Path
) -> None:
    """The long variant: 80 request counts and 6 kills while parsing, with 5xx, resets, secondary
    limits and truncated bodies on throughout."""
    faults = Faults(latency=0.002, error_rate=0.05, reset_rate=0.02, secondary_rate=0.005, truncate_rate=0.03, seed=11)
    began = time.monotonic()
    with FakeGitHub(export, faults=faults) as fake:
        reference = tmp_path / "reference.db"
        assert run_fetch(fake, reference).failures == []
        db = tmp_path / "killed.db"
        kills = kill_and_resume(fake, db, tmp_path, points=80, parse_points=6, seed=8)
        process = cli_process(fake, db, tmp_path)
        _, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
        assert dump_store(db) == dump_store(reference)
        assert_store_matches(fake, db)
        assert {"5xx", "reset", "truncated"} <= set(fake.stats.faults)
    print(report_kills(kills, time.monotonic() - began))
    assert sum(k.landed for k in kills) >= 70, kills


# -- every fault at once -------------------------------------------------------------------------


def expected_unfetched(fake: FakeGitHub) -> list[str]:
    """The per-item lines a fresh fetch must report: expired (410) and missing (404) logs."""
    items = []
    for job in fake.data.all_jobs():
        if job["conclusion"] == "skipped" or job["status"] != "completed":
            continue
        if job["id"] in fake.faults.expired_logs:
            items.append(Unfetched("expired", job["run_id"], job["id"], job["name"]))
        elif job["id"] not in fake.data.logs:
            items.append(Unfetched("missing", job["run_id"], job["id"], job["name"]))
    return [item.line() for item in sorted(items, key=lambda u: (u.run_id or 0, u.job_id or 0))]


def test_every_retrievable_item_arrives_through_all_faults_at_once(export: Path, tmp_path: Path) -> None:
    """10 % 5xx, connection resets, secondary-limit 403s with retry-after, the primary limit used up
    (after 150 requests, for 1.5 s), 410 for some logs, truncated bodies: everything retrievable is stored exactly as
    served (a cut body never passes for a whole one), and the summary names each log it could not get."""
    with FakeGitHub(export) as fake:
        with_logs = [j for j in fake.data.all_jobs() if j["id"] in fake.data.logs]
        expired = {j["id"] for j in random.Random(5).sample(with_logs, 6)}
        fake.faults = Faults(
            error_rate=0.10, reset_rate=0.03, secondary_rate=0.02, retry_after=1, truncate_rate=0.05,
            primary_once_after=150, primary_reset_s=1.5, expired_logs=expired, seed=21,
        )  # fmt: skip
        fake.rng = random.Random(21)
        summary = run_fetch(fake, tmp_path / "s.db", max_wait=30)
        faults = dict(fake.stats.faults)
        print(f"faults: {faults}; {summary.line()}")
        assert summary.stopped is None and summary.failures == []
        assert {"5xx", "reset", "secondary", "primary", "truncated", "410"} <= set(faults)
        assert faults["410"] == len(expired)
        assert_store_matches(fake, tmp_path / "s.db")  # every log's bytes equal to the served ones
        with contextlib.closing(sqlite3.connect(tmp_path / "s.db")) as conn:
            rows = conn.execute("SELECT job_id, state, size, content IS NULL FROM logs WHERE part=0").fetchall()
        for job_id, state, size, empty in rows:
            if job_id in expired:
                assert (state, size, empty) == ("expired", 0, 1)
            elif state == "ok":
                assert size == len(fake.data.logs[job_id])
        assert summary.logs_expired == len(expired)
        lines = summary.details()
        assert lines == expected_unfetched(fake)
        assert sum("expired, GitHub no longer keeps it (410)" in line for line in lines) == len(expired)
        assert any("missing, GitHub has none (404)" in line for line in lines)


def test_items_that_cannot_be_fetched_are_reported_one_line_each(export: Path, tmp_path: Path) -> None:
    """A log and an annotation listing that always fail, an expired log, a log GitHub never had: one
    line each, ordered by run; the failed run is retried (and completed) by the next fetch."""
    with FakeGitHub(export) as fake:
        runs = fake.visible_runs()
        failed_run = next(r for r in runs if any(j["id"] in fake.data.logs for j in fake.data.jobs[r["id"]]))
        log_job = next(j for j in fake.data.jobs[failed_run["id"]] if j["id"] in fake.data.logs)
        noted = next(j for j in fake.data.all_jobs() if j["conclusion"] == "failure" and j["run_id"] != failed_run["id"])
        gone = next(j for j in fake.data.all_jobs() if j["id"] in fake.data.logs and j["run_id"] not in
                    (failed_run["id"], noted["run_id"]))  # fmt: skip
        fake.archive_omits.add(log_job["id"])  # its run's archive lacks it: its own endpoint is asked, and fails
        fake.faults.always_fail = (rf"/actions/jobs/{log_job['id']}/logs$", rf"/check-runs/{noted['id']}/annotations$")
        fake.faults.expired_logs = {gone["id"]}
        summary = run_fetch(fake, tmp_path / "s.db")
        assert sorted(summary.failures) == sorted([
            f"run {failed_run['id']}: GitHub answered 502 for the log of job {log_job['id']} after 5 tries",
            f"run {noted['run_id']}: GitHub answered 502 for annotations of job {noted['id']} after 5 tries",
        ])  # fmt: skip
        failed = [
            Unfetched("failed", failed_run["id"], detail=f"GitHub answered 502 for the log of job {log_job['id']} after 5 tries"),
            Unfetched("failed", noted["run_id"], detail=f"GitHub answered 502 for annotations of job {noted['id']} after 5 tries"),
        ]  # fmt: skip
        want = sorted([*failed, Unfetched("expired", gone["run_id"], gone["id"], gone["name"])],
                      key=lambda u: (u.run_id or 0, u.job_id or 0))  # fmt: skip
        got = [u for u in summary.unfetched if u.reason != "missing"]
        assert got == want
        assert summary.details()[0] == summary.unfetched[0].line()
        assert failed[0].line() == (
            f"run {failed_run['id']}: GitHub answered 502 for the log of job {log_job['id']} after 5 tries "
            "(the next fetch retries it)"
        )
        expired_line = f"log of job {gone['id']} {gone['name']!r} in run {gone['run_id']}: expired, GitHub no longer keeps it (410)"
        assert expired_line in summary.details()
        assert summary.details(limit=1) == [summary.details()[0], f"... and {len(summary.unfetched) - 1} more"]
        assert "2 failed (the next fetch retries them)" in summary.line() and "\n" not in summary.line()
        fake.faults.always_fail = ()
        again = run_fetch(fake, tmp_path / "s.db")
        assert again.failures == [] and again.runs_fetched == 2
        assert [u.reason for u in again.unfetched] == [] or {u.reason for u in again.unfetched} == {"missing"}
        assert_store_matches(fake, tmp_path / "s.db")


def test_the_command_prints_each_item_it_could_not_fetch(export: Path, tmp_path: Path) -> None:
    """``we-advisor fetch`` prints the summary line and then one ``not fetched:`` line per item."""
    with FakeGitHub(export) as fake:
        gone = [j for j in fake.data.all_jobs() if j["id"] in fake.data.logs][:2]
        fake.faults.expired_logs = {j["id"] for j in gone}
        process = cli_process(fake, tmp_path / "s.db", tmp_path)
        out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert out == ""
    lines = err.splitlines()
    summary = next(i for i, line in enumerate(lines) if line.startswith("fetched "))
    assert "2 expired" in lines[summary]
    listed = [line for line in lines[summary + 1 :] if line.startswith("  not fetched: ")]
    for job in gone:
        assert (
            f"  not fetched: log of job {job['id']} {job['name']!r} in run {job['run_id']}: "
            "expired, GitHub no longer keeps it (410)"
        ) in listed
    assert TOKEN not in out + err


# -- readers while a fetch writes ------------------------------------------------------------------


def stored_logs(db: Path) -> int:
    """Job logs committed in the store (0 while it cannot be read)."""
    if not db.exists():
        return 0
    with contextlib.suppress(sqlite3.Error), contextlib.closing(sqlite3.connect(db, timeout=0.1)) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM logs").fetchone()[0])
    return 0


def test_stats_incidents_and_report_read_while_a_fetch_writes(export: Path, tmp_path: Path) -> None:
    """``stats``, ``incidents`` and ``report`` run over and over (each also parses stale jobs: it writes)
    while ``fetch`` writes the same store: every one exits 0, none meets "database is locked", and the
    store ends up as an uninterrupted fetch alone leaves it."""
    db = tmp_path / "s.db"
    readers = [
        ["stats", "--format", "json", "--store", str(db)],
        ["incidents", "--format", "json", "--store", str(db)],
        ["report", "--since", "365d", "--html", str(tmp_path / "report.html"), "--store", str(db)],
    ]
    # Each answer waits 1 s while the readers run: the fetch (~700 requests, 4 at a time) would need
    # minutes, so it is still writing whatever the machine's load does to the readers; then the
    # latency drops to 0 and it finishes.
    with FakeGitHub(export, faults=Faults(latency=1.0)) as fake:
        writer = cli_process(fake, db, tmp_path)
        # The readers start once the fetch has stored a few job logs: on an empty store ``report`` rightly
        # exits 1 ("no observations to report on"), which is not what this tests.
        wait_for_requests(fake, 5, writer)
        deadline = time.monotonic() + 120
        while stored_logs(db) < 3 and writer.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert writer.poll() is None
        assert stored_logs(db) >= 3
        results: list[tuple[list[str], int, str, bool]] = []
        lock = threading.Lock()

        def read(args: list[str]) -> None:
            for _ in range(3):
                during = writer.poll() is None
                process = cli(args, tmp_path)
                _, err = process.communicate(timeout=120)
                with lock:
                    results.append((args, process.returncode, err, during and writer.poll() is None))

        threads = [threading.Thread(target=read, args=(args,)) for args in readers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        fake.faults.latency = 0.0  # let the fetch finish
        _, err = writer.communicate(timeout=120)
        assert writer.returncode == 0, err
        parsed_by_fetch = int(re.search(r"; (\d+) job\(s\) parsed", err).group(1))  # type: ignore[union-attr]
        assert parsed_by_fetch < len(fake.data.all_jobs())  # the readers parsed (wrote) the others
        reference = tmp_path / "reference.db"
        run_fetch(fake, reference)
        assert_store_matches(fake, db)
        assert dump_store(db) == dump_store(reference)
    for args, code, err, _ in results:
        assert code == 0, (args, err)
        assert "locked" not in err, (args, err)
    overlapped = Counter(args[0] for args, _, _, during in results if during)
    print(f"reader runs while the fetch wrote: {dict(overlapped)}")
    assert set(overlapped) == {"stats", "incidents", "report"}
