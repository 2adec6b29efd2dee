"""``fetch --repo R --run-id ID [--attempt N]``: one finished run, pushed by the repository's own CI
(``examples/we-advisor-collect.yml``), against the fake GitHub."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from analyzer.cli import app
from analyzer.store import Store
from tests.fake_github import REPO_NAME, SINCE, TOKEN, FakeGitHub, build_export, dump_store, run_fetch

runner = CliRunner()


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_export(tmp_path_factory.mktemp("export"), runs=20)


@pytest.fixture
def fake(export: Path) -> Iterator[FakeGitHub]:
    with FakeGitHub(export) as server:
        yield server


def cli(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["fetch", "--repo", REPO_NAME, *args], env={"GITHUB_TOKEN": TOKEN, "GH_TOKEN": ""})
    return result.exit_code, result.stdout, result.stderr


def rerun(fake: FakeGitHub) -> dict[str, int]:
    """A run with two attempts (the export has some): its id and its number of attempts."""
    run = next(r for r in fake.visible_runs() if r["run_attempt"] == 2)
    return {"id": run["id"], "attempts": run["run_attempt"]}


def test_one_run_is_what_a_whole_fetch_stores_of_it(fake: FakeGitHub, tmp_path: Path) -> None:
    """Every attempt, job, step, log and annotation of the run, parsed; nothing of other runs; a
    handful of requests; the same command again asks for the run only."""
    whole, one = tmp_path / "whole.db", tmp_path / "one.db"
    run_fetch(fake, whole)
    target = rerun(fake)["id"]
    fake.reset_stats()
    code, _, err = cli("--run-id", str(target), "--api-url", fake.url, "--store", str(one))
    assert code == 0, err
    assert "1 run(s) listed, 1 new" in err
    assert fake.stats.api < 20
    with Store(whole) as store:
        jobs = [store.load_job(j) for j in store.job_ids() if store.load_job(j).run_id == target]  # type: ignore[union-attr]
        expected = {table: [row for row in rows if target in row or any(j.job_id in row for j in jobs if j)]
                    for table, rows in dump_store(whole).items()}  # fmt: skip
    got = dump_store(one)
    for table in ("runs", "jobs", "steps", "logs", "annotations", "observations", "incidents", "fetched_runs"):
        assert got[table] == expected[table], table
    assert got["workflow_files"] and got["parse_state"]
    code, _, err = cli("--run-id", str(target), "--api-url", fake.url, "--store", str(one))
    assert code == 0 and "1 already stored" in err, err


def test_an_earlier_attempt_then_the_listing_completes_the_run(fake: FakeGitHub, tmp_path: Path) -> None:
    """``--attempt 1`` of a run with two attempts stores that attempt and its jobs only; a later
    listing fetch adds the second and ends with the same store as a whole fetch."""
    db, whole = tmp_path / "s.db", tmp_path / "whole.db"
    run = rerun(fake)
    code, _, err = cli("--run-id", str(run["id"]), "--attempt", "1", "--api-url", fake.url, "--store", str(db))
    assert code == 0, err
    with Store(db) as store:
        assert [r.run_attempt for r in store.load_runs()] == [1]
        assert {store.load_job(j).run_attempt for j in store.job_ids()} == {1}  # type: ignore[union-attr]
    code, _, err = cli("--since", SINCE, "--api-url", fake.url, "--store", str(db))
    assert code == 0, err
    run_fetch(fake, whole)
    assert dump_store(db) == dump_store(whole)


def test_run_id_errors(fake: FakeGitHub, tmp_path: Path) -> None:
    db = str(tmp_path / "s.db")
    cases = [
        (["--run-id", "424242"], "error: run 424242 not found on 127.0.0.1"),
        (["--run-id", "1", "--since", "30d"], "error: --run-id fetches the runs it names"),
        (["--attempt", "2"], "error: --attempt 2 cannot be used here"),
        (["--run-id", "1", "--run-id", "2", "--attempt", "1"], "error: --attempt 1 cannot be used here"),
    ]
    for args, first in cases:
        code, _, err = cli(*args, "--api-url", fake.url, "--store", db)
        lines = err.splitlines()
        assert code == 1 and lines[0].startswith(first) and lines[1].startswith("hint: ") and len(lines) == 2, (args, err)
    assert not Path(db).exists()
