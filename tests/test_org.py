"""``fetch --org`` / ``--repos-file`` with several workers sharing one store.

Four repositories on a fake organization (``tests/fake_org.py``): four workers crawling them at
once leave the store that four solo crawls would (the union of their rows), also when one worker
is SIGKILLed in the middle of a repository and the PostgreSQL server restarts under the others
(they reconnect with backoff and go on). On SQLite, ``--workers`` shares the file the same way.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from analyzer.cli import app
from analyzer.collect.fetch import fetch
from analyzer.collect.org import queue_name
from analyzer.config import Settings
from analyzer.store import Store
from analyzer.store.queue import CrawlQueue
from analyzer.store.schema import SCHEMA_VERSION
from tests.fake_github import SINCE, TOKEN, fast_policy
from tests.fake_org import FakeOrg, build_org
from tests.old_stores import CRAWL_QUEUE_TABLES, CRAWL_QUEUE_VERSION
from tests.postgres import PostgresServer, dump, union
from tests.test_token_safety import leaks

ROOT = Path(__file__).resolve().parents[1]
TOKENS = tuple(f"worker-token-{i}-0123456789abcdef" for i in range(4))
runner = CliRunner()


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return build_org(tmp_path_factory.mktemp("org"), "acme", 4, runs=10)


@pytest.fixture(scope="module")
def served(folders: list[Path]) -> Iterator[FakeOrg]:
    """One fake organization for the module (its URL is part of what a store caches)."""
    with FakeOrg("acme", folders, tokens=(*TOKENS, TOKEN)) as org:
        yield org


@pytest.fixture
def org(served: FakeOrg) -> FakeOrg:
    with served.lock:
        served.calls.clear()
        served.holds.clear()
        served._jobs_calls.clear()
    return served


@pytest.fixture(scope="module")
def solo(served: FakeOrg, tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[tuple[object, ...]]]:
    """The union of four solo fetches, one repository each, into stores of their own."""
    scratch = tmp_path_factory.mktemp("solo")
    dumps = []
    for i, repo in enumerate(served.repos):
        path = scratch / f"{i}.db"
        with Store(path) as store:
            fetch(Settings(), store, repo=repo, since=SINCE, api_url=served.url, token=TOKEN, policy=fast_policy())
        dumps.append(dump(str(path)))
    return union(dumps)


def worker(org: FakeOrg, store: str, token: str, *extra: str, tokens: str = "") -> subprocess.Popen[str]:
    """``we-advisor fetch --org acme`` in a process of its own (a machine of its own, as far as it knows)."""
    env = {**os.environ, "GITHUB_TOKEN": token, "GH_TOKEN": "", "GITHUB_TOKENS": tokens, "PYTHONPATH": str(ROOT)}
    args = ["fetch", "--org", "acme", "--since", SINCE, "--api-url", org.url, "--store", store, "--lease", "5", *extra]
    return subprocess.Popen([sys.executable, "-m", "analyzer", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)  # fmt: skip


def wait_until(condition: object, what: str, limit_s: float = 90.0) -> None:
    deadline = time.monotonic() + limit_s
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


@pytest.fixture
def spawned() -> Iterator[list[subprocess.Popen[str]]]:
    """The worker processes a test starts: none outlives it, whatever way it ends."""
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:  # the command and the workers it forked
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate(timeout=30)


@pytest.mark.timeout(240)
def test_four_workers_give_the_union_of_four_solo_crawls(
    org: FakeOrg, solo: dict[str, list[tuple[object, ...]]], pg_url: str, spawned: list[subprocess.Popen[str]]
) -> None:
    """``--workers 4`` on PostgreSQL, one token each from ``GITHUB_TOKENS``: every repository fetched
    once, the rows those of four solo crawls; a second command starts round 2 and finds nothing new.

    Worker 1's requests for jobs wait until another worker has asked GitHub something: on a busy machine
    worker 1 (forked first) could otherwise fetch all four repositories before the others started, and
    only one of GITHUB_TOKENS would have been used."""
    gate = threading.Event()
    org.holds[TOKENS[0]] = (gate, 0)
    proc = worker(org, pg_url, TOKEN, "--workers", "4", tokens=",".join(TOKENS))
    spawned.append(proc)
    try:
        wait_until(lambda: {c.token for c in org.calls} & set(TOKENS[1:]), "a second worker at work")
    finally:
        gate.set()
    _, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err
    assert "org:acme: round 1: 4 repositories, 4 fetched, 0 failed" in err.splitlines()[-1]
    used = {c.token for c in org.calls if not c.path.startswith("/_blob/")}  # log downloads carry no token
    assert used <= set(TOKENS) and len(used) >= 2  # the workers used GITHUB_TOKENS, not GITHUB_TOKEN
    assert dump(pg_url) == solo
    before = len(org.calls)
    again = worker(org, pg_url, TOKEN)
    spawned.append(again)
    _, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    assert "round 2: 4 repositories, 4 fetched" in err
    assert err.count(" 0 new,") == 4
    assert len(org.calls) - before < 40  # conditional requests: nothing new costs little
    assert dump(pg_url) == solo


@pytest.mark.timeout(300)
def test_a_worker_killed_mid_crawl_and_a_server_restart_still_give_the_union(
    org: FakeOrg, solo: dict[str, list[tuple[object, ...]]], pg_server: PostgresServer,
    spawned: list[subprocess.Popen[str]],
) -> None:
    """Four workers (four processes, as four machines would run them). Worker 1 is SIGKILLed while
    it holds a repository half fetched: another takes that repository over once the lock is free.
    While worker 2 is in the middle of another, the PostgreSQL server restarts: the workers lose
    their connections, reconnect with backoff, and finish. The store: the union of the solo crawls."""
    url = pg_server.database()
    killed, restarted = threading.Event(), threading.Event()
    org.holds[TOKENS[0]] = (killed, 3)
    org.holds[TOKENS[1]] = (restarted, 3)
    # workers 1 and 2 first: each holds a repository before 3 and 4 (which could otherwise take all
    # four on a busy machine) start; 3 and 4 are connected and at work before the kill and the restart
    procs = spawned
    procs += [worker(org, url, token) for token in TOKENS[:2]]
    wait_until(lambda: org.held(TOKENS[0]) and org.held(TOKENS[1]), "workers 1 and 2 mid-repository")
    procs += [worker(org, url, token) for token in TOKENS[2:]]
    wait_until(lambda: {c.token for c in org.calls} >= set(TOKENS[2:]), "workers 3 and 4 at work")
    with Store(url) as store:
        entries = {e.repo: e for e in CrawlQueue(store, "org:acme").entries()}
    assert sum(1 for e in entries.values() if e.owner) >= 2
    procs[0].send_signal(signal.SIGKILL)
    procs[0].wait(timeout=30)
    killed.set()
    pg_server.restart(down_s=1.0)
    restarted.set()
    outs = [p.communicate(timeout=240) for p in procs[1:]]
    for _, err in outs:
        print(err)  # shown when the test fails
    assert [p.returncode for p in procs[1:]] == [0, 0, 0], [e for _, e in outs]
    assert any("reconnecting" in e for _, e in outs), [e for _, e in outs]
    assert all("round 1: 4 repositories, 4 fetched, 0 failed" in e for _, e in outs)
    assert dump(url) == solo
    with Store(url) as store:
        entries = {e.repo: e for e in CrawlQueue(store, "org:acme").entries()}
    assert all(e.done and e.owner is None for e in entries.values())
    assert max(e.attempts for e in entries.values()) >= 2  # the killed worker's repository was claimed again


def test_repos_file_with_two_workers_on_sqlite(
    org: FakeOrg, solo: dict[str, list[tuple[object, ...]]], tmp_path: Path
) -> None:
    """SQLite: ``--workers`` processes share the file (their writes take turns); a repository in the
    file that GitHub does not know is recorded as failed, the exit code is 1, the rest is fetched;
    with ``-v`` the workers' debug output carries none of the tokens of ``GITHUB_TOKENS``. The store
    was written before the crawl queue existed: it is migrated on open."""
    listing = tmp_path / "repos.txt"
    listing.write_text("# the team's repositories\n" + "\n".join([*org.repos, "acme/gone"]) + "\n\n")
    db = str(tmp_path / "s.db")
    Store(db).close()
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        for table in CRAWL_QUEUE_TABLES:
            conn.execute(f"DROP TABLE {table}")
        conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(CRAWL_QUEUE_VERSION - 1),))
    env = {"GITHUB_TOKENS": ",".join(TOKENS[:2]), "GITHUB_TOKEN": ""}
    proc = subprocess.run(
        [sys.executable, "-m", "analyzer", "-v", "fetch", "--repos-file", str(listing), "--since", SINCE,
         "--api-url", org.url, "--store", db, "--workers", "2"],
        env={**os.environ, **env, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert "5 repositories, 4 fetched, 1 failed" in proc.stderr
    assert "failed: acme/gone: repository acme/gone not found" in proc.stderr
    assert "[worker 2] debug: " in proc.stderr  # -v reaches the workers; their Authorization headers do not
    assert all(leaks(token, tmp_path, proc.stdout, proc.stderr) == [] for token in TOKENS)
    assert dump(db) == solo
    with Store(db) as store:
        assert store.get_meta("schema_version") == str(SCHEMA_VERSION)
        assert {e.repo for e in CrawlQueue(store, queue_name(None, listing, [*org.repos, "acme/gone"])).entries()} == {
            *org.repos, "acme/gone"}


def test_bad_org_options_are_user_errors(tmp_path: Path) -> None:
    def cli(*args: str) -> tuple[int, str]:
        result = runner.invoke(app, ["fetch", *args, "--store", str(tmp_path / "s.db")], env={"GITHUB_TOKEN": TOKEN})
        return result.exit_code, result.stderr

    (tmp_path / "bad.txt").write_text("acme/ok\nnot a repo\n")
    cases = [
        (["--org", "acme", "--repo", "acme/x"], "error: --org and --repos-file fetch whole repositories"),
        (["--workers", "2", "--repo", "acme/x"], "error: --workers 2 needs --org or --repos-file"),
        (["--org", "acme", "--repos-file", str(tmp_path / "bad.txt")], "error: name the repositories one way"),
        (["--repos-file", str(tmp_path / "bad.txt")], f"error: {tmp_path / 'bad.txt'}:2: 'not a repo' is not OWNER/NAME"),
        (["--repos-file", str(tmp_path / "none.txt")], f"error: cannot read --repos-file {tmp_path / 'none.txt'}"),
    ]
    for args, first in cases:
        code, err = cli(*args)
        assert code == 1, (args, err)
        lines = err.splitlines()
        assert lines[0].startswith(first) and lines[1].startswith("hint: ") and len(lines) == 2, (args, err)
    assert not (tmp_path / "s.db").exists()
