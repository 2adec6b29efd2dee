"""``we-advisor export --format parquet DIR``: read back by DuckDB as a warehouse would.

DuckDB reading the partitioned files counts the same observations per unit as ``stats``, the same
rows per table as the store; a second export rewrites nothing, a new run rewrites only its month's
partitions; the export of a PostgreSQL store is the same data.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from analyzer.cli import app
from analyzer.store import Store
from tests.fake_github import REPO_NAME, SINCE, TOKEN, FakeGitHub, build_export, run_fetch

duckdb = pytest.importorskip("duckdb")
runner = CliRunner()
TABLES = ("runs", "jobs", "steps", "observations", "incidents")


@pytest.fixture(scope="module")
def export_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """160 runs, six hours apart: 40 days, so two or three months."""
    return build_export(tmp_path_factory.mktemp("export"), runs=160, jobs_per_run=2)


def cli(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env={"GITHUB_TOKEN": TOKEN})
    return result.exit_code, result.stdout, result.stderr


def query(sql: str) -> list[tuple[Any, ...]]:
    with duckdb.connect() as conn:
        return list(conn.execute(sql).fetchall())


def source(directory: Path, table: str) -> str:
    return f"read_parquet('{directory}/{table}/**/*.parquet', hive_partitioning = true)"


def files(directory: Path) -> dict[str, int]:
    return {str(p.relative_to(directory)): p.stat().st_mtime_ns for p in directory.rglob("*.parquet")}


def test_duckdb_counts_what_stats_counts(export_folder: Path, tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    with FakeGitHub(export_folder) as fake:
        run_fetch(fake, db)
    out = tmp_path / "warehouse"
    code, _, err = cli("export", "--format", "parquet", str(out), "--store", str(db))
    assert code == 0, err
    assert err.startswith("exported ") and "partition file(s) written" in err
    code, stats, err = cli("stats", "--format", "json", "--since", "3650d", "--store", str(db))
    assert code == 0, err
    expected = {(r["scope"], r["workflow"], r["job"], r["step"], r["phase"]): r["samples"] for r in json.loads(stats)}
    rows = query(f"SELECT scope, workflow, job, step, phase, count(*) FROM {source(out, 'observations')} GROUP BY ALL")
    assert {tuple(r[:5]): r[5] for r in rows} == expected
    with Store(db) as store:
        counts = store.counts()
    for table in TABLES:
        assert query(f"SELECT count(*) FROM {source(out, table)}") == [(counts[table],)], table
    months = {r[0] for r in query(f"SELECT DISTINCT month FROM {source(out, 'runs')}")}
    assert len(months) >= 2
    assert query(f"SELECT DISTINCT repository, repo FROM {source(out, 'jobs')}") == [(REPO_NAME, REPO_NAME)]
    kinds = {r[0]: r[1] for r in query(f"DESCRIBE SELECT * FROM {source(out, 'observations')}")}
    assert (kinds["started_at"], kinds["duration_s"], kinds["censored"], kinds["job_id"]) == (
        "TIMESTAMP WITH TIME ZONE", "DOUBLE", "BOOLEAN", "BIGINT")  # fmt: skip


def test_export_is_incremental(export_folder: Path, tmp_path: Path) -> None:
    """Nothing changed: nothing written. The newest run arrives: only its month's partitions are
    rewritten (its runs, jobs, steps, observations, incidents if any), the older months untouched."""
    db, out = tmp_path / "s.db", tmp_path / "warehouse"
    with FakeGitHub(export_folder) as fake:
        newest = fake.visible_runs()[0]["id"]
        fake.hidden.add(newest)
        run_fetch(fake, db)
        assert cli("export", str(out), "--store", str(db))[0] == 0
        before = files(out)
        code, _, err = cli("export", str(out), "--store", str(db))
        assert code == 0 and " 0 partition file(s) written" in err, err
        assert files(out) == before
        fake.hidden.clear()
        run_fetch(fake, db)
    code, _, err = cli("export", str(out), "--store", str(db))
    assert code == 0, err
    after = files(out)
    changed = {path for path in after if before.get(path) != after[path]}
    month = fake.visible_runs()[0]["created_at"][:7]
    assert changed and all(f"month={month}" in path for path in changed), changed
    assert {path.split("/")[0] for path in changed} >= {"runs", "jobs", "steps", "observations"}
    assert len(after) > len(changed)


def test_export_of_a_postgresql_store_is_the_same_data(export_folder: Path, tmp_path: Path, pg_url: str) -> None:
    db = tmp_path / "s.db"
    with FakeGitHub(export_folder) as fake:
        for store in (str(db), pg_url):
            code, _, err = cli("fetch", "--repo", REPO_NAME, "--since", SINCE, "--api-url", fake.url, "--store", store)
            assert code == 0, err
    outs = [tmp_path / "from-sqlite", tmp_path / "from-postgresql"]
    for store, out in zip((str(db), pg_url), outs, strict=True):
        assert cli("export", str(out), "--store", store)[0] == 0
    for table in TABLES:
        rows = [sorted(query(f"SELECT * FROM {source(out, table)}"), key=repr) for out in outs]
        assert rows[0] == rows[1], table
    manifests = [json.loads((out / "_we_advisor_export.json").read_text()) for out in outs]
    assert manifests[0]["partitions"] == manifests[1]["partitions"]  # the same hashes: the same rows
    assert manifests[0]["sources"].keys() == manifests[1]["sources"].keys() == {"observations"}
    assert manifests[0]["sources"] != manifests[1]["sources"]  # each store's own state


def tables(directory: Path) -> dict[str, Any]:
    import pyarrow.parquet as pq

    return {str(p.relative_to(directory)): pq.read_table(p) for p in sorted(directory.rglob("*.parquet"))}


def test_observations_from_the_columns_cache_are_the_rows_sql_gives(
    export_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The observations exported from their columns cache are those read as text from the table: the
    same files (schema, its metadata, every row in order) and the same hashes."""
    import analyzer.present.parquet

    db = tmp_path / "s.db"
    with FakeGitHub(export_folder) as fake:
        run_fetch(fake, db)
    cached, read = tmp_path / "cached", tmp_path / "read"
    assert cli("export", str(cached), "--store", str(db))[0] == 0
    monkeypatch.setattr(analyzer.present.parquet, "cached_table", lambda data: None)  # the table read as text instead
    assert cli("export", str(read), "--store", str(db))[0] == 0
    manifests = [json.loads((out / "_we_advisor_export.json").read_text()) for out in (cached, read)]
    assert manifests[0]["partitions"] == manifests[1]["partitions"]
    assert "observations" in manifests[0]["sources"] and "observations" not in manifests[1]["sources"]
    ours, theirs = tables(cached), tables(read)
    assert ours.keys() == theirs.keys() and any(k.startswith("observations/") for k in ours)
    for name, table in ours.items():
        assert table.schema.equals(theirs[name].schema, check_metadata=True), name
        assert table.equals(theirs[name]), name


def test_unchanged_observations_are_not_read_again(export_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A second export of unchanged observations takes their partitions from the manifest; one whose
    file went missing, or observations parsed again, are read again."""
    from analyzer.store.store import Store as StoreClass

    db, out = tmp_path / "s.db", tmp_path / "warehouse"
    with FakeGitHub(export_folder) as fake:
        run_fetch(fake, db)
    assert cli("export", str(out), "--store", str(db))[0] == 0
    first = json.loads((out / "_we_advisor_export.json").read_text())
    reads: list[int] = []
    real = StoreClass.observation_cache
    monkeypatch.setattr(StoreClass, "observation_cache", lambda self: reads.append(1) or real(self))
    code, _, err = cli("export", str(out), "--store", str(db))
    assert code == 0 and " 0 partition file(s) written" in err and reads == [], err
    assert json.loads((out / "_we_advisor_export.json").read_text()) == first
    gone = next(p for p in out.rglob("*.parquet") if p.parts[-4] == "observations")
    gone.unlink()
    code, _, err = cli("export", str(out), "--store", str(db))
    assert code == 0 and " 1 partition file(s) written" in err and reads == [1], err
    assert gone.is_file()
    with Store(db) as store:  # the observations written again (as a reparse does): a new state
        store.conn.execute("DELETE FROM observation_columns")
        store.conn.commit()
    code, _, err = cli("export", str(out), "--store", str(db))
    assert code == 0 and " 0 partition file(s) written" in err and reads == [1, 1], err
    after = json.loads((out / "_we_advisor_export.json").read_text())
    assert after["partitions"] == first["partitions"] and after["sources"] != first["sources"]


def test_a_file_in_the_way_is_refused(tmp_path: Path) -> None:
    (tmp_path / "s.db").write_bytes(b"")
    (tmp_path / "taken").write_text("x")
    code, _, err = cli("export", str(tmp_path / "taken"), "--store", str(tmp_path / "s.db"))
    assert code == 1
    assert err.splitlines()[0] == f"error: {tmp_path / 'taken'} is not a folder"
    assert err.splitlines()[1].startswith("hint: ")


def test_a_file_where_a_parent_folder_should_be_is_refused(tmp_path: Path) -> None:
    (tmp_path / "s.db").write_bytes(b"")
    (tmp_path / "taken").write_text("x")
    code, _, err = cli("export", str(tmp_path / "taken" / "sub"), "--store", str(tmp_path / "s.db"))
    assert code == 1
    assert err.splitlines()[0].startswith(f"error: cannot create the export folder {tmp_path / 'taken' / 'sub'}: ")
    assert err.splitlines()[1].startswith("hint: ") and len(err.splitlines()) == 2
    assert (tmp_path / "taken").read_text() == "x"
