"""Run-log archives: one download per run attempt in ``fetch`` (against the fake GitHub, which builds
them as GitHub does), falling back to the per-job endpoint, and the splitting shared with ``ingest``
(on real archives from ``../shared/realdata``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from analyzer.collect.rest import job_from_json
from analyzer.collect.runlogs import joined_steps, match_jobs, read_run_archive, spelled_as
from analyzer.errors import InputError
from analyzer.records import Job
from tests.fake_github import BOM, FakeGitHub, archive_name, assert_store_matches, build_export, dump_store, run_fetch

REALDATA = Path(__file__).resolve().parents[2] / "shared" / "realdata"
_NO_NOTES = ("success", "skipped", "neutral")


def counted_per_attempt(fake: FakeGitHub) -> tuple[int, int]:
    """(counted requests of a first fetch beyond the fixed ones, the issue's budget: 2 per run attempt +
    1 per unsuccessful job + the listing pages + 1 per job whose log no archive holds)."""
    budget = 0
    for jobs in fake.data.jobs.values():
        budget += 2 * len({j["run_attempt"] for j in jobs}) + (len(jobs) - 1) // 100
        budget += sum(j["conclusion"] not in _NO_NOTES for j in jobs)
        budget += sum(j["conclusion"] != "skipped" and j["id"] not in fake.data.logs for j in jobs)
    fixed = 5 + len(fake.visible_runs()) // 100  # repository, workflows, run listing pages, 2 workflow files
    return fake.stats.counted - fixed, budget


@pytest.mark.parametrize("jobs_per_run", [1, 4, 16])
def test_counted_requests_per_run_do_not_grow_with_its_jobs(tmp_path: Path, jobs_per_run: int) -> None:
    """6 runs of 1, 4 or 16 jobs: at most 2 counted requests per run attempt + 1 per job that did not
    succeed (its annotations) + listing pages: no request per job for its log."""
    folder = build_export(tmp_path / "export", runs=6, jobs_per_run=jobs_per_run, seed=jobs_per_run)
    with FakeGitHub(folder) as fake:
        run_fetch(fake, tmp_path / "s.db")
        spent, budget = counted_per_attempt(fake)
        assert spent <= budget, (spent, budget)
        missing = sum(j["conclusion"] != "skipped" and j["id"] not in fake.data.logs for j in fake.data.all_jobs())
        attempts = sum(len({j["run_attempt"] for j in jobs}) for jobs in fake.data.jobs.values())
        # one log request per attempt (its archive, or the one job log it needs) + the logs no archive has
        assert fake.stats.kinds["job_logs"] + fake.stats.kinds["run_logs"] <= attempts + missing
        assert fake.stats.blob_with_auth == 0
        assert_store_matches(fake, tmp_path / "s.db")


def test_missing_expired_and_partial_archives_fall_back_to_each_job(tmp_path: Path) -> None:
    """An archive answered 404 or 410, or one without a job's log: those logs come from their jobs'
    own endpoint, and the store is the one a fetch of every job's log leaves."""
    folder = build_export(tmp_path / "export", runs=12, jobs_per_run=3)
    with FakeGitHub(folder) as fake:
        run_fetch(fake, tmp_path / "jobs.db", archives=False)
        runs = [r["id"] for r in fake.visible_runs()]
        fake.archive_missing.add(runs[0])
        fake.archive_expired.add(runs[1])
        omitted = next(j for j in fake.data.jobs[runs[2]] if j["id"] in fake.data.logs)
        fake.archive_omits.add(omitted["id"])
        fake.reset_stats()
        run_fetch(fake, tmp_path / "archives.db")
        asked = {int(path.split("/jobs/")[1].split("/")[0]) for path, _ in fake.requests if path.endswith("/logs")
                 and "/jobs/" in path}  # fmt: skip
        fallback = {j["id"] for r in runs[:2] for j in fake.data.jobs[r] if j["conclusion"] != "skipped"}
        assert fallback | {omitted["id"]} <= asked
        assert dump_store(tmp_path / "archives.db") == dump_store(tmp_path / "jobs.db")


def test_matrix_jobs_of_one_name_and_names_files_cannot_hold(tmp_path: Path) -> None:
    """Jobs that share a name (mapped by their place in the run), names with ``/`` and ``:`` (dropped
    in the archive) and names longer than 90 characters (cut): each log lands on its own job."""
    folder = build_export(tmp_path / "export", runs=4, jobs_per_run=3)
    long_name = "deploy " + "very-long-service-name " * 6 + "(linux, amd64)"
    with FakeGitHub(folder) as fake:
        first, second = (r["id"] for r in fake.visible_runs()[:2])
        renames = {first: ["test", "test", "test"], second: ["e2e / operator: install", long_name, "lint / go"]}
        for run_id, names in renames.items():
            for job, name in zip(fake.data.jobs[run_id], names, strict=False):
                if job["id"] in fake.data.logs:
                    fake.data.logs[job["id"]] = fake.data.logs[job["id"]].replace(
                        f"Complete job name: {job['name']}".encode(), f"Complete job name: {name}".encode()
                    )
                job["name"] = name
        assert archive_name(long_name) != long_name and "/" not in archive_name("e2e / operator: install")
        run_fetch(fake, tmp_path / "jobs.db", archives=False)
        fake.reset_stats()
        run_fetch(fake, tmp_path / "archives.db")
        assert fake.stats.kinds["job_logs"] <= 2  # the jobs GitHub has no log for
        assert dump_store(tmp_path / "archives.db") == dump_store(tmp_path / "jobs.db")
        fake.archive_layout = "steps"  # older archives: folders only, and a shared name cannot be placed
        fake.reset_stats()
        run_fetch(fake, tmp_path / "steps.db")
        assert dump_store(tmp_path / "steps.db") == dump_store(tmp_path / "jobs.db")


def _job(job_id: int, name: str, start: str = "2026-01-01T00:00:00Z", end: str = "2026-01-01T01:00:00Z") -> Job:
    raw = {"id": job_id, "run_id": 1, "run_attempt": 1, "name": name, "status": "completed", "conclusion": "success",
           "started_at": start, "completed_at": end, "labels": [], "steps": []}  # fmt: skip
    return job_from_json(raw, "o/r", "CI")


def test_archive_names_match_the_jobs_they_stand_for() -> None:
    """Dropped ``/`` and ``:``, ``_`` for ``/``, cut long names and broken surrogates all still match;
    different jobs do not."""
    assert spelled_as("cool job / with slash", "cool job  with slash")
    assert spelled_as("build: lint", "build lint") and spelled_as("Run actions/checkout@v4", "Run actions_checkout@v4")
    long_name = "Emoji Test " + "😅" * 60
    assert spelled_as(long_name, archive_name(long_name))
    assert not spelled_as("test (1)", "test (2)") and not spelled_as("test", "test (2)")


def test_a_log_naming_several_jobs_is_placed_by_its_start_or_left_alone() -> None:
    """Two jobs named ``test``: a log without its place in the run goes to the job whose run time holds
    its first line; with neither, it is left for the per-job endpoint."""
    log = b"\xef\xbb\xbf2026-01-01T02:00:05.1234567Z Complete job name: test\n"
    entries = read_run_archive(_zip({"test/1_Set up job.txt": log}), what="a test archive")
    jobs = [_job(1, "test"), _job(2, "test", "2026-01-01T02:00:00Z", "2026-01-01T03:00:00Z")]
    assert match_jobs(entries, jobs) == {2: log}
    assert match_jobs(entries, [_job(1, "test"), _job(2, "test")]) == {}


def test_a_damaged_archive_is_an_input_error() -> None:
    with pytest.raises(InputError, match=r"the logs of run 7 is a damaged zip"):
        read_run_archive(b"PK\x03\x04 not really a zip", what="the logs of run 7")


def _zip(members: dict[str, bytes]) -> bytes:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.realdata
@pytest.mark.skipif(not (REALDATA / "runlog-zips").is_dir(), reason="needs ../shared/realdata")
def test_real_archives_split_into_jobs_whose_steps_join_into_the_whole_log() -> None:
    """Every real archive with top-level job logs: each N_<job>.txt is matched to its job by the name its
    log states, and its steps joined as GitHub joins them are exactly as long as the whole log (the
    runner writes both, so only sub-millisecond timestamps differ)."""
    archives = sorted((REALDATA / "runlog-zips").rglob("*.zip"))
    assert len(archives) >= 5
    for path in archives:
        entries = read_run_archive(path, what=str(path))
        jobs = [_job(100 + e.order, e.name() or e.key) for e in entries if e.order is not None]
        found = match_jobs(entries, jobs)
        assert len(found) == len(jobs) > 0, path
        for entry in entries:
            assert entry.whole is not None and entry.whole.startswith(BOM), path
            joined = joined_steps([data for _, _, data in entry.steps])
            assert joined is not None and len(joined) == len(entry.whole), (path, entry.key)
            texts = [[line[29:] for line in log.removeprefix(BOM).splitlines()] for log in (joined, entry.whole)]
            assert texts[0] == texts[1], (path, entry.key)  # the same lines, in the same order
