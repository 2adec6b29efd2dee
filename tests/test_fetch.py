"""``we-advisor fetch`` against a fake GitHub on 127.0.0.1: real HTTP, PyGithub used for real, never mocked."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from analyzer.cli import app
from analyzer.collect import github
from analyzer.collect.fetch import FetchProgress, fetch
from analyzer.collect.github import GitHubClient
from analyzer.config import Settings
from analyzer.errors import AuthError, ConfigError, NotFoundError, StoreError
from analyzer.store import Store, store_lock
from analyzer.window import fetch_start
from tests.fake_github import (
    REPO_NAME,
    SINCE,
    TOKEN,
    FakeGitHub,
    assert_store_matches,
    build_export,
    created_matches,
    dump_store,
    expected_state,
    fast_policy,
    run_fetch,
)

FAST = fast_policy()
runner = CliRunner()


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """40 runs of two workflows; one run has 120 jobs (two pages of jobs)."""
    return build_export(tmp_path_factory.mktemp("export"), runs=40, big_run_jobs=120)


@pytest.fixture
def fake(export: Path) -> Iterator[FakeGitHub]:
    with FakeGitHub(export) as server:
        yield server


def cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env={"GITHUB_TOKEN": TOKEN, "GH_TOKEN": "", **(env or {})})
    return result.exit_code, result.stdout, result.stderr


def api_paths(fake: FakeGitHub) -> list[str]:
    return [p for p, _ in fake.requests if not p.startswith("/_blob/")]


# -- the whole history ---------------------------------------------------------------------------


def test_one_fetch_stores_everything_the_server_has(fake: FakeGitHub, tmp_path: Path) -> None:
    """Runs of every attempt, jobs (two pages for the big run), steps, logs, annotations, workflow files."""
    summary = run_fetch(fake, tmp_path / "s.db")
    assert_store_matches(fake, tmp_path / "s.db")
    assert summary.runs_listed == summary.runs_fetched == 40
    assert summary.failures == [] and summary.stopped is None
    assert summary.parsed == len(expected_state(fake)["jobs"])
    assert fake.stats.blob_with_auth == 0


def test_no_lazy_completion_and_requests_within_budget(fake: FakeGitHub, tmp_path: Path) -> None:
    """No GET per listed run or job; per run attempt at most 2 counted requests (its jobs listing or
    its earlier attempt, and one run-log archive) + 1 per job that did not succeed (annotations) + its
    share of listing pages, whatever the number of jobs; a job log is asked for on its own only where
    the archive lacks it (here: jobs GitHub has no log for, answered 404)."""
    summary = run_fetch(fake, tmp_path / "s.db")
    paths = api_paths(fake)
    assert not [p for p in paths if p.split("?")[0].rstrip("/").split("/")[-2:-1] == ["runs"]]  # /runs/{id}
    assert not [p for p in paths if p.split("?")[0].split("/")[-2] == "jobs"]  # /actions/jobs/{id}
    want = expected_state(fake)
    budget = fixed = 6  # repository, workflow list, run listing, 2 workflow files, rate headroom
    no_log = 0
    for jobs in fake.data.jobs.values():
        attempts = {j["run_attempt"] for j in jobs}
        unsuccessful = sum(j["conclusion"] not in ("success", "skipped", "neutral") for j in jobs)
        no_log += sum(j["conclusion"] != "skipped" and j["id"] not in fake.data.logs for j in jobs)
        budget += 2 * len(attempts) + unsuccessful + (len(jobs) - 1) // 100
    assert fake.stats.counted <= budget + no_log, (fake.stats.counted, budget, no_log, fixed)
    assert fake.stats.kinds["job_logs"] == no_log  # the per-job endpoint only for logs no archive holds
    assert fake.stats.kinds["run_logs"] > 0 and fake.stats.blob_with_auth == 0
    assert summary.logs == sum(1 for s, _ in want["logs"].values() if s == "ok")
    assert_store_matches(fake, tmp_path / "s.db")


def test_logs_from_archives_equal_the_logs_from_each_job(fake: FakeGitHub, tmp_path: Path) -> None:
    """The store a fetch through run-log archives leaves equals, row for row, the one that asking
    every job's own log endpoint leaves; with the older archives (per-step files only) as well."""
    run_fetch(fake, tmp_path / "jobs.db", archives=False)
    per_job = fake.stats.counted
    fake.reset_stats()
    run_fetch(fake, tmp_path / "archives.db")
    assert fake.stats.counted < per_job / 2, (fake.stats.counted, per_job)
    assert dump_store(tmp_path / "archives.db") == dump_store(tmp_path / "jobs.db")
    fake.archive_layout = "steps"
    run_fetch(fake, tmp_path / "steps.db")
    assert dump_store(tmp_path / "steps.db") == dump_store(tmp_path / "jobs.db")


def test_second_fetch_costs_at_most_one_counted_request(fake: FakeGitHub, tmp_path: Path) -> None:
    """Nothing new: every request is conditional and answered 304."""
    run_fetch(fake, tmp_path / "s.db")
    fake.reset_stats()
    summary = run_fetch(fake, tmp_path / "s.db")
    assert fake.stats.counted <= 1
    assert (summary.runs_known, summary.runs_fetched, summary.jobs) == (40, 0, 0)
    assert_store_matches(fake, tmp_path / "s.db")


def test_only_new_runs_are_fetched(fake: FakeGitHub, tmp_path: Path) -> None:
    """Runs created after the first fetch are the only ones whose jobs are asked for."""
    newest = [r["id"] for r in fake.visible_runs()[:5]]
    fake.hidden.update(newest)
    run_fetch(fake, tmp_path / "s.db")
    fake.hidden.clear()
    fake.reset_stats()
    summary = run_fetch(fake, tmp_path / "s.db")
    assert summary.runs_fetched == 5
    jobs_requests = [p for p in api_paths(fake) if "/jobs?" in p]
    assert sorted(int(p.split("/runs/")[1].split("/")[0]) for p in jobs_requests) == sorted(newest)
    assert_store_matches(fake, tmp_path / "s.db")


def test_a_fetch_of_new_runs_adds_them_to_the_columns_caches(fake: FakeGitHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The observations' and jobs' columns caches written after one fetch are kept by the next fetch of new
    runs (first analyses, job ids past the cache's) and topped up by the next read: the frames are the ones
    caches written from the whole tables give, and the tables' rows are what the fake serves."""
    import pandas as pd

    from analyzer.store import columns, jobcolumns

    fake.hidden.update(r["id"] for r in fake.visible_runs()[:5])
    run_fetch(fake, tmp_path / "s.db")
    with Store(tmp_path / "s.db") as store:
        store.observations_frame(), store.jobs_frame()  # the caches written
    fake.hidden.clear()
    assert run_fetch(fake, tmp_path / "s.db").runs_fetched == 5
    added: list[tuple[str, bool]] = []
    for module in (columns, jobcolumns):
        monkeypatch.setattr(module, "top_up", lambda *a, real=module.top_up, name=module.__name__: added.append((name, real(*a))) or added[-1][1])
    with Store(tmp_path / "s.db") as store:
        assert store.conn.execute("SELECT count(*) FROM observation_columns").fetchone()[0] > 0  # kept by the fetch
        assert store.conn.execute("SELECT count(*) FROM job_columns").fetchone()[0] > 0
        observed, jobs = store.observations_frame(), store.jobs_frame()
        assert sorted(added) == [("analyzer.store.columns", True), ("analyzer.store.jobcolumns", True)]
        store.conn.execute("DELETE FROM observation_columns")
        store.conn.execute("DELETE FROM job_columns")
        pd.testing.assert_frame_equal(observed, store.observations_frame())
        pd.testing.assert_frame_equal(jobs, store.jobs_frame())
    assert_store_matches(fake, tmp_path / "s.db")

def test_run_in_progress_is_fetched_once_it_completes(fake: FakeGitHub, tmp_path: Path) -> None:
    """A run listed while in progress is saved as such (no jobs); the next fetch completes it."""
    newest = fake.visible_runs()[0]
    fake.overrides[newest["id"]] = {"status": "in_progress", "conclusion": None, "updated_at": "2026-11-20T00:00:00Z"}
    summary = run_fetch(fake, tmp_path / "s.db")
    assert summary.runs_in_progress == 1
    with Store(tmp_path / "s.db") as store:
        assert store.load_run(newest["id"], newest["run_attempt"]).status == "in_progress"  # type: ignore[union-attr]
        assert not [j for j in store.job_ids() if store.load_job(j).run_id == newest["id"]]  # type: ignore[union-attr]
    fake.overrides.clear()
    summary = run_fetch(fake, tmp_path / "s.db")
    assert summary.runs_fetched == 1
    assert_store_matches(fake, tmp_path / "s.db")


def test_in_progress_run_outside_the_listing_is_asked_for_again(fake: FakeGitHub, tmp_path: Path) -> None:
    """A stored unfinished run that the listing no longer shows is re-checked by id."""
    oldest = fake.visible_runs()[-1]
    fake.overrides[oldest["id"]] = {"status": "queued", "conclusion": None}
    run_fetch(fake, tmp_path / "s.db")
    fake.overrides.clear()
    fake.reset_stats()
    run_fetch(fake, tmp_path / "s.db", max_runs=3)  # the listing stops before the oldest run
    assert f"/repos/{REPO_NAME}/actions/runs/{oldest['id']}?exclude_pull_requests=true" in api_paths(fake)
    with Store(tmp_path / "s.db") as store:
        assert store.load_run(oldest["id"], oldest["run_attempt"]).status == "completed"  # type: ignore[union-attr]


def test_capped_listing_is_split_into_created_windows(
    export: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a 10-result cap on filtered listings, windows are split until every run is reached."""
    monkeypatch.setattr(github, "LISTING_CAP", 10)
    with FakeGitHub(export, listing_cap=10) as fake:
        summary = run_fetch(fake, tmp_path / "s.db")
        assert summary.runs_fetched == 40
        assert_store_matches(fake, tmp_path / "s.db")
        windows = {p for p in api_paths(fake) if "/actions/runs?" in p and "&page=" not in p}
        assert len(windows) > 4
        fake.reset_stats()
        run_fetch(fake, tmp_path / "s.db")
        assert fake.stats.counted <= 1  # the same windows come back, answered 304


def test_workflow_and_branch_filters(fake: FakeGitHub, tmp_path: Path) -> None:
    """--workflow takes a name or a file name; --branch narrows the listing."""
    run_fetch(fake, tmp_path / "a.db", workflows=["E2E"], branch="main")
    run_fetch(fake, tmp_path / "b.db", workflows=["e2e.yml"], branch="main")
    want = sorted((r["id"], r["run_attempt"]) for r in fake.data.attempts.values()
                  if r["workflow_id"] == 12 and r["head_branch"] == "main")  # fmt: skip
    for name in ("a.db", "b.db"):
        with Store(tmp_path / name) as store:
            assert sorted((r.run_id, r.run_attempt) for r in store.load_runs()) == want
    with pytest.raises(ConfigError) as info:
        run_fetch(fake, tmp_path / "c.db", workflows=["Nightly"])
    assert info.value.message == f"{REPO_NAME} has no workflow 'Nightly'"
    assert "'CI' (ci.yml)" in info.value.hint


def test_max_runs_takes_the_newest(fake: FakeGitHub, tmp_path: Path) -> None:
    summary = run_fetch(fake, tmp_path / "s.db", max_runs=5)
    with Store(tmp_path / "s.db") as store:
        assert {r.run_id for r in store.load_runs()} == {r["id"] for r in fake.visible_runs()[:5]}
    assert summary.runs_listed == 5


def test_no_logs_then_logs(fake: FakeGitHub, tmp_path: Path) -> None:
    """--no-logs stores jobs only; a later fetch with logs downloads them without re-listing attempts."""
    run_fetch(fake, tmp_path / "s.db", logs=False)
    with Store(tmp_path / "s.db") as store:
        assert store.counts()["logs"] == 0
        assert store.counts()["jobs"] == len(expected_state(fake)["jobs"])
    fake.reset_stats()
    run_fetch(fake, tmp_path / "s.db")
    assert fake.stats.kinds["attempt"] == 0 and fake.stats.kinds["check-runs"] == 0
    assert_store_matches(fake, tmp_path / "s.db")


def test_expired_log_is_recorded_and_never_asked_for_again(fake: FakeGitHub, tmp_path: Path) -> None:
    """410 on a log: state expired; when its run is fetched again, that log is not requested."""
    run = fake.visible_runs()[0]
    job = fake.data.jobs[run["id"]][0]
    fake.faults.expired_logs.add(job["id"])
    run_fetch(fake, tmp_path / "s.db")
    with Store(tmp_path / "s.db") as store:
        assert store.log_state(job["id"]) == "expired"
    fake.overrides[run["id"]] = {"updated_at": "2026-11-21T00:00:00Z"}  # the run changed: fetched again
    fake.reset_stats()
    summary = run_fetch(fake, tmp_path / "s.db")
    assert summary.runs_fetched == 1
    assert not [p for p in api_paths(fake) if f"/jobs/{job['id']}/logs" in p]
    assert_store_matches(fake, tmp_path / "s.db")


def test_progress_is_reported(fake: FakeGitHub, tmp_path: Path) -> None:
    seen: list[FetchProgress] = []
    run_fetch(fake, tmp_path / "s.db", on_progress=seen.append)
    stages = {p.stage for p in seen}
    assert {"listing", "fetching", "parsing"} <= stages
    last = [p for p in seen if p.stage == "parsing"][-1]
    assert last.parsed == last.parse_total > 0 and last.requests > 0 and last.rate_remaining is not None


def test_run_log_zip_through_the_redirect(fake: FakeGitHub) -> None:
    """The run-log archive of an attempt comes through the same unauthenticated redirect."""
    import io
    import zipfile

    run = fake.visible_runs()[0]
    with GitHubClient(TOKEN, api_url=fake.url, policy=FAST) as client:
        download = client.download_run_logs(REPO_NAME, run["id"], run["run_attempt"])
    assert download.state == "ok" and download.data is not None
    names = [n for n in zipfile.ZipFile(io.BytesIO(download.data)).namelist() if "/" not in n]  # N_<job>.txt
    assert len(names) == len([j for j in fake.data.jobs[run["id"]]
                              if j["run_attempt"] == run["run_attempt"] and j["id"] in fake.data.logs])  # fmt: skip
    assert fake.stats.blob_with_auth == 0


# -- errors users meet ---------------------------------------------------------------------------


def test_cli_fetch_happy_path_and_token_never_leaks(fake: FakeGitHub, tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    code, out, err = cli("fetch", "--repo", REPO_NAME, "--since", SINCE, "--api-url", fake.url, "--store", str(db))
    assert code == 0, err
    assert out == ""
    assert f"fetched {REPO_NAME}: 40 run(s) listed, 40 new" in err
    assert TOKEN not in out + err
    stored = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
    assert TOKEN.encode() not in stored


def test_bad_token_says_which_permissions(fake: FakeGitHub, tmp_path: Path) -> None:
    code, out, err = cli("fetch", "--repo", REPO_NAME, "--api-url", fake.url, "--store", str(tmp_path / "s.db"),
                         env={"GITHUB_TOKEN": "wrong-secret-123"})  # fmt: skip
    assert code == 1
    assert "error: GitHub rejected the token\n" in err
    assert "actions: read" in err and "checks: read" in err
    assert "wrong-secret-123" not in out + err
    assert "Traceback" not in err


def test_unknown_repository(fake: FakeGitHub, tmp_path: Path) -> None:
    code, _, err = cli("fetch", "--repo", "acme/nope", "--api-url", fake.url, "--store", str(tmp_path / "s.db"))
    assert code == 1
    assert "error: repository acme/nope not found on 127.0.0.1\n" in err
    with Store(tmp_path / "x.db") as store, pytest.raises(NotFoundError):
        fetch(Settings(), store, repo="acme/nope", api_url=fake.url, token=TOKEN, policy=FAST)


def test_no_token_gives_a_hint(tmp_path: Path) -> None:
    code, _, err = cli("fetch", "--repo", REPO_NAME, "--store", str(tmp_path / "s.db"), env={"GITHUB_TOKEN": ""})
    assert code == 1
    assert "error: no GitHub token\n" in err
    assert "hint: set GITHUB_TOKEN (or GH_TOKEN)" in err
    with Store(tmp_path / "t.db") as store, pytest.raises(AuthError):
        fetch(Settings(), store, repo=REPO_NAME, token=None)


def test_bad_options_are_user_errors(tmp_path: Path) -> None:
    code, _, err = cli("fetch", "--repo", "not-a-repo", "--store", str(tmp_path / "s.db"))
    assert (code, "error: --repo 'not-a-repo' is not OWNER/NAME") == (1, err.splitlines()[0])
    code, _, err = cli("fetch", "--repo", REPO_NAME, "--since", "soon", "--store", str(tmp_path / "s.db"))
    assert (code, "error: --since 'soon' is neither Nd nor a date") == (1, err.splitlines()[0])
    code, _, _ = cli("fetch", "--repo", REPO_NAME, "--concurrency", "0", "--store", str(tmp_path / "s.db"))
    assert code == 2


def test_rate_sets_the_pace_and_is_checked(fake: FakeGitHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``--rate N`` (GitHub Enterprise Server: its own limit) is the client's requests a minute;
    out of range it is refused before anything is sent."""
    code, _, _ = cli("fetch", "--repo", REPO_NAME, "--rate", "0", "--store", str(tmp_path / "s.db"))
    assert code == 2
    with Store(tmp_path / "s.db") as store, pytest.raises(ConfigError, match="--rate 0 is out of range"):
        fetch(Settings(), store, repo=REPO_NAME, api_url=fake.url, token=TOKEN, rate=0)
    assert fake.stats.total == 0
    paces: list[int] = []
    original = GitHubClient.__init__

    def spy(self: GitHubClient, *args: object, **kwargs: object) -> None:
        original(self, *args, **kwargs)  # type: ignore[arg-type]
        paces.append(self.policy.per_minute)

    monkeypatch.setattr(GitHubClient, "__init__", spy)
    run_fetch(fake, tmp_path / "s.db", rate=12_345)
    run_fetch(fake, tmp_path / "t.db", policy=None)
    assert paces == [12_345, 800]
    assert_store_matches(fake, tmp_path / "s.db")


def test_a_second_fetch_on_a_locked_store_is_refused(fake: FakeGitHub, tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    with Store(db) as store, store_lock(store):
        code, _, err = cli("fetch", "--repo", REPO_NAME, "--api-url", fake.url, "--store", str(db))
        assert code == 1
        assert f"error: another `we-advisor fetch` is writing {db}" in err
        with pytest.raises(StoreError):
            run_fetch(fake, db)
    assert fake.stats.total == 0


def test_fetch_help_has_the_design_flags() -> None:
    result = runner.invoke(app, ["fetch", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for flag in ("--repo", "--workflow", "--branch", "--since", "--max-runs", "--logs", "--no-logs", "--api-url",
                 "--concurrency", "--rate", "--store", "--config", "GITHUB_API_URL"):  # fmt: skip
        assert flag in result.stdout


# -- small pure parts ----------------------------------------------------------------------------


def test_since_is_day_aligned_so_listing_urls_stay_stable() -> None:
    from datetime import UTC, datetime

    now = datetime(2026, 11, 20, 15, 30, tzinfo=UTC)
    assert fetch_start("3d", default_days=30, now=now) == datetime(2026, 11, 17, tzinfo=UTC)
    assert fetch_start(None, default_days=30, now=now) == datetime(2026, 10, 21, tzinfo=UTC)
    assert fetch_start("2026-02-01", default_days=30, now=now) == datetime(2026, 2, 1, tzinfo=UTC)


def test_fake_created_filter_speaks_githubs_syntax() -> None:
    from datetime import UTC, datetime

    t = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    assert created_matches(">=2026-03-02", t) and not created_matches(">2026-03-02", t)
    assert created_matches("2026-03-01..2026-03-02", t) and not created_matches("2026-03-03..*", t)
    assert created_matches("2026-03-02T10:00:00Z..2026-03-02T10:00:00Z", t)
    assert not created_matches("2026-03-02T00:00:00Z..2026-03-02T09:59:59Z", t)

