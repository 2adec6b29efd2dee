"""``fetch`` when things go wrong: server faults, rate limits, a failing item, a second fetch, a revoked token.

``kill -9`` then resume, every fault at once and readers beside a fetch: ``test_reliability_fetch.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from analyzer.cli import app
from analyzer.collect.fetch import FetchProgress
from analyzer.store import Store
from tests.fake_github import (
    SINCE,
    TOKEN,
    FakeGitHub,
    Faults,
    assert_store_matches,
    build_export,
    cli_process,
    dump_store,
    expected_state,
    run_fetch,
    wait_for_requests,
)

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_export(tmp_path_factory.mktemp("export"), runs=40)


@pytest.fixture
def sample_or_generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    if (SAMPLE / "runs.json").is_file():
        yield SAMPLE
    else:  # the bundled sample is not there yet: hundreds of generated runs instead
        yield build_export(tmp_path_factory.mktemp("big"), runs=300, jobs_per_run=1)


def test_hundreds_of_runs_through_faults_all_stored(sample_or_generated: Path, tmp_path: Path) -> None:
    """5xx, resets, secondary limits, truncated bodies: every run, job, step, log, annotation arrives."""
    faults = Faults(error_rate=0.05, reset_rate=0.03, secondary_rate=0.01, truncate_rate=0.03, seed=3)
    with FakeGitHub(sample_or_generated, faults=faults) as fake:
        summary = run_fetch(fake, tmp_path / "s.db")
        assert summary.failures == [] and summary.stopped is None
        assert summary.runs_fetched == len(fake.data.runs) >= 300
        assert_store_matches(fake, tmp_path / "s.db")
        assert {"5xx", "reset", "secondary"} <= set(fake.stats.faults)
        assert fake.stats.blob_with_auth == 0
        fake.faults = Faults()
        fake.reset_stats()
        run_fetch(fake, tmp_path / "s.db")
        assert fake.stats.counted <= 1


def test_used_up_rate_limit_is_waited_for_within_max_wait(export: Path, tmp_path: Path) -> None:
    """The primary limit runs out after 25 requests for 1 s: the fetch waits and completes.

    (It runs out after the 25th counted request, whenever that comes: a limit of 25 requests a 1 s window
    was never reached by a fetch slower than 25 requests a second, and then nothing was waited for.)"""
    faults = Faults(primary_once_after=25, primary_reset_s=1.0)
    stages: list[FetchProgress] = []
    with FakeGitHub(export, faults=faults) as fake:
        fake.hidden.update(r["id"] for r in fake.visible_runs()[8:])
        summary = run_fetch(fake, tmp_path / "s.db", max_wait=10, on_progress=stages.append)
        assert summary.stopped is None and summary.failures == []
        assert_store_matches(fake, tmp_path / "s.db")
    assert any(p.stage == "waiting" and p.waiting_until for p in stages)


def test_used_up_rate_limit_stops_cleanly_and_the_same_command_resumes(export: Path, tmp_path: Path) -> None:
    """--max-wait 0: stop with everything fetched saved and a time to resume; repeating it completes the store.

    60 requests an hour, and the test ends each hour (``end_rate_window``) before it repeats the command.
    With 60 a second, the first command stopped only if it made 60 requests within its first second (a
    40-run fetch: all 122 idle, 89 beside a second copy and 4 busy loops); a slower machine never ran
    out, the command exited 0, and the test failed."""
    db = tmp_path / "s.db"
    faults = Faults(primary_limit=60, primary_reset_s=3600)
    with FakeGitHub(export, faults=faults) as fake:
        result = CliRunner().invoke(
            app, ["fetch", "--repo", fake.data.full_name, "--since", SINCE, "--api-url", fake.url, "--store", str(db),
                  "--max-wait", "0"], env={"GITHUB_TOKEN": TOKEN, "GH_TOKEN": ""},
        )  # fmt: skip
        assert result.exit_code == 1
        assert "stopped: the GitHub API rate limit is used up until " in result.stderr
        assert "hint: run the same command again after " in result.stderr
        with Store(db) as store:
            assert store.integrity_ok()
            done = store.fetched_runs(fake.data.full_name)
            assert 0 < len(done) < len(fake.data.runs)
            for run_id in done:  # a run marked fetched has all its jobs and logs
                for job in fake.data.jobs[run_id]:
                    assert store.load_job(job["id"]) is not None
                    assert job["conclusion"] == "skipped" or store.log_state(job["id"]) is not None
        for _ in range(20):
            fake.end_rate_window()  # the hour is over
            summary = run_fetch(fake, db, max_wait=0)
            if summary.stopped is None:
                break
            assert summary.stopped.reset_at is not None
        assert summary.stopped is None
        assert_store_matches(fake, db)


def test_a_failing_item_is_reported_without_aborting_and_retried_next_time(export: Path, tmp_path: Path) -> None:
    """One log answers 502 forever (its run's archive lacks it, its own endpoint fails): that run is
    reported and left unfinished; the rest is stored. The next fetch completes it, and its job (parsed
    without the log the first time) is parsed again."""
    with FakeGitHub(export) as fake:
        run = fake.visible_runs()[3]
        job = next(j for j in fake.data.jobs[run["id"]] if j["id"] in fake.data.logs)
        fake.archive_omits.add(job["id"])
        fake.faults.always_fail = (rf"/actions/jobs/{job['id']}/logs$",)
        summary = run_fetch(fake, tmp_path / "s.db")
        assert summary.failures == [f"run {run['id']}: GitHub answered 502 for the log of job {job['id']} after 5 tries"]
        assert summary.runs_fetched == len(fake.data.runs) - 1
        with Store(tmp_path / "s.db") as store:
            assert run["id"] not in store.fetched_runs(fake.data.full_name)
            assert store.log_state(job["id"]) is None
        fake.faults.always_fail = ()
        summary = run_fetch(fake, tmp_path / "s.db")
        assert (summary.runs_fetched, summary.failures) == (1, [])
        assert_store_matches(fake, tmp_path / "s.db")
        # the job parsed without its log is parsed again now that the log is there
        run_fetch(fake, tmp_path / "reference.db")
        assert dump_store(tmp_path / "s.db") == dump_store(tmp_path / "reference.db")


def test_a_second_concurrent_fetch_on_the_same_store_is_refused(export: Path, tmp_path: Path) -> None:
    """The first fetch is held at its 4th request (the fake answers it only when the test says) while the
    second is refused: with a fixed 10 ms a request, a fast first fetch could end before the second looked."""
    db = tmp_path / "s.db"
    with FakeGitHub(export) as fake:
        fake.hold(after=3)
        first = cli_process(fake, db, tmp_path)
        try:
            wait_for_requests(fake, 4, first, limit_s=120)
            assert fake.held() and first.poll() is None
            result = CliRunner().invoke(
                app, ["fetch", "--repo", fake.data.full_name, "--api-url", fake.url, "--store", str(db)],
                env={"GITHUB_TOKEN": TOKEN, "GH_TOKEN": ""},
            )  # fmt: skip
        finally:
            fake.release()  # the first fetch goes on (also when an assertion above failed)
        assert result.exit_code == 1
        assert f"error: another `we-advisor fetch` is writing {db}" in result.stderr
        _, err = first.communicate(timeout=60)
        assert first.returncode == 0, err
        assert_store_matches(fake, db)


def test_a_token_revoked_midway_stops_with_the_auth_error(export: Path, tmp_path: Path) -> None:
    """401 in the middle: the error is the token's; runs completed before it are kept and marked."""
    with FakeGitHub(export) as fake:
        fake.hidden.update(r["id"] for r in fake.visible_runs()[:20])
        run_fetch(fake, tmp_path / "s.db")
        fake.hidden.clear()
        fake.faults.unauthorized = True
        from analyzer.errors import AuthError

        with pytest.raises(AuthError) as info:
            run_fetch(fake, tmp_path / "s.db")
        assert info.value.message == "GitHub rejected the token"
        with Store(tmp_path / "s.db") as store:
            assert len(store.fetched_runs(fake.data.full_name)) == 20
            assert store.integrity_ok()


@pytest.mark.slow
def test_over_a_thousand_runs_under_the_real_listing_cap(tmp_path: Path) -> None:
    """1,500 runs in the window: created windows keep the 1,000-result cap from hiding any of them."""
    folder = build_export(tmp_path / "export", runs=1500, jobs_per_run=1)
    with FakeGitHub(folder, faults=Faults(error_rate=0.02, reset_rate=0.01, truncate_rate=0.01, seed=5)) as fake:
        summary = run_fetch(fake, tmp_path / "s.db", since="2025-01-01")
        assert summary.runs_fetched == 1500
        assert len(expected_state(fake)["runs"]) > 1500
        assert_store_matches(fake, tmp_path / "s.db")
