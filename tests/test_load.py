"""Load: ``stats``, ``recommend`` and ``report`` on a generated store of many runs.

Each command runs in a fresh process (``python -m analyzer`` from this working tree) on a store of
100,000 runs (~1,000,000 observations) from ``python -m tests.loadgen`` in its own process (≈ 10
observations per run, written straight into the schema, parse state current so nothing is
reparsed). The test asserts behaviour: exit codes, every unit and observation accounted for, the
planted too-tight limit found, a bounded well-formed report, nothing reparsed, and peak memory under
a generous bound (memory does not depend on how busy the machine is). Wall and CPU times are printed
(``-s``) and attached to the report (``record_property``) but not asserted: a busy machine must not
fail the suite. The timing targets are measured in ``benchmarks/report_bench.py``.
"""

from __future__ import annotations

import json
import platform
import sqlite3
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from analyzer.present.markdown import GITHUB_COMMENT_LIMIT, MARKER
from tests.loadgen import ROOT, Measured, measure, write_store

MEMORY_BOUND_MB = 1000.0
HTML_LIMIT_BYTES = 2_000_000
CONFIG = 'repo = "acme/monorepo"\npreset = "kubernaut-e2e"\n'


class _TagCheck(HTMLParser):
    """Counts elements and checks that the ones that must close do, in order."""

    CLOSING = frozenset({"html", "head", "body", "main", "section", "table", "svg", "details", "ul", "ol"})

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.counts: dict[str, int] = {}
        self.errors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.counts[tag] = self.counts.get(tag, 0) + 1
        if tag in self.CLOSING:
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self.CLOSING:
            if not self.open or self.open[-1] != tag:
                self.errors.append(f"</{tag}> closes {self.open[-1:] or 'nothing'}")
            else:
                self.open.pop()


def _store_facts(path: Path) -> dict[str, int]:
    with sqlite3.connect(path) as conn:
        units = conn.execute("SELECT COUNT(*) FROM (SELECT DISTINCT scope, workflow, job, step, phase FROM observations)")
        facts = {"units": int(units.fetchone()[0])}
        for table in ("observations", "parse_state", "jobs"):
            facts[table] = int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
    return facts


def _check_run(result: Measured) -> None:
    assert result.returncode == 0, f"{result.command} exited {result.returncode}: {result.stderr[-2000:]}"
    assert "Traceback" not in result.stderr
    assert "parsing" not in result.stderr, "the generated store was reparsed: its parse state should be current"
    assert result.peak_mb < MEMORY_BOUND_MB, f"{result.command}: peak RSS {result.peak_mb:.0f} MB (bound {MEMORY_BOUND_MB:.0f} MB)"


def _generate(store: Path, config: Path, runs: int) -> None:
    """The store, from ``python -m tests.loadgen`` in its own process (its ~1 GB of rows are not ours)."""
    import os
    import subprocess

    args = ["-m", "tests.loadgen", "--runs", str(runs), "--store", str(store), "--config", str(config)]
    done = subprocess.run([sys.executable, *args], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    print(done.stderr.splitlines()[-1], file=sys.stderr)


def _run_load(tmp_path: Path, runs: int, record_property: pytest.RecordProperty) -> list[Measured]:
    config = tmp_path / "we-advisor.toml"
    config.write_text(CONFIG, encoding="utf-8")
    store = tmp_path / "load.db"
    _generate(store, config, runs)
    before = _store_facts(store)
    assert before["observations"] >= 9 * runs  # ≈ 10 per run
    common = ["--store", str(store), "--config", str(config)]
    html, markdown = tmp_path / "report.html", tmp_path / "weekly.md"
    commands = {
        "stats --format json": ["stats", "--format", "json"],
        "recommend": ["recommend"],
        "recommend --format json": ["recommend", "--format", "json"],
        "report --html --markdown": ["report", "--html", str(html), "--markdown", str(markdown)],
    }
    results = [measure([*args, *common], cwd=tmp_path) for args in commands.values()]
    stats, table, recommended, report = results
    lines = [f"\n{runs:,} runs, {before['observations']:,} observations, {before['units']} units"]
    for label, r in zip(commands, results, strict=True):
        lines.append(f"  {label:<26} {r.wall_s:6.2f} s (CPU {r.cpu_s:5.2f} s)  peak RSS {r.peak_mb:5.0f} MB")
        record_property(f"{runs} runs: {label}", f"{r.wall_s:.2f} s (CPU {r.cpu_s:.2f} s), {r.peak_mb:.0f} MB")
    html_bytes = html.stat().st_size if html.exists() else 0
    lines.append(f"  report.html {html_bytes:,} bytes")
    print("\n".join(lines), file=sys.stderr)
    for r in results:
        _check_run(r)

    # stats: every unit of the store, every observation counted once (none is skipped)
    rows = json.loads(stats.stdout)
    assert len(rows) == before["units"]
    assert sum(r["samples"] for r in rows) == before["observations"]
    assert all(r["p50_s"] is not None and r["p50_s"] <= (r["p99_s"] or float("inf")) for r in rows)

    # recommend: the same units; the planted limit that kills ~10 % of healthy runs is too tight
    data = json.loads(recommended.stdout)
    recs = data["recommendations"]
    assert len(recs) == before["units"]
    assert f"{len(recs)} unit(s)" in table.stderr and f"{len(recs)} unit(s)" in recommended.stderr
    tekton = [r for r in recs if r["workflow"] == "E2E WorkflowExecution" and r["phase"] == "tekton-controller-wait"]
    assert [r["verdict"] for r in tekton] == ["too_tight"]
    assert tekton[0]["current_timeout_s"] == 300 and tekton[0]["recommended_timeout_s"] > 300
    lint = [r for r in recs if r["scope"] == "job" and r["workflow"] == "Lint"]
    assert [(r["current_timeout_s"], r["current_source"]) for r in lint] == [(21600, "default")]  # no timeout-minutes
    assert "tekton-controller-wait" in table.stdout and len(table.stdout.splitlines()) >= len(recs)

    # report: a bounded, well-formed HTML file and a comment-sized Markdown body
    assert str(html) in report.stdout
    assert 10_000 < html_bytes <= HTML_LIMIT_BYTES
    check = _TagCheck()
    check.feed(html.read_text(encoding="utf-8"))
    check.close()
    assert check.errors == [] and check.open == []
    assert check.counts.get("svg", 0) >= 10 and check.counts.get("table", 0) >= 2
    body = markdown.read_text(encoding="utf-8")
    assert body.startswith(MARKER) and len(body) <= GITHUB_COMMENT_LIMIT
    assert "tekton-controller-wait" in body

    # analysing changed nothing: no reparse
    assert _store_facts(store) == before
    return results


@pytest.mark.timeout(900)
def test_load_100000_runs(tmp_path: Path, record_property: pytest.RecordProperty) -> None:
    """100,000 runs (~1,000,000 observations): stats, recommend and report each succeed with every
    unit and observation accounted for, a well-formed bounded report, and peak memory under 1 GB."""
    _run_load(tmp_path, 100_000, record_property)


def _slow_frame(store_path: Path, where: str = "", args: tuple[object, ...] = ()) -> object:
    import pandas as pd

    from analyzer.store.frame import OBSERVATION_COLUMNS

    with sqlite3.connect(store_path) as conn:
        frame = pd.read_sql_query(f"SELECT {', '.join(OBSERVATION_COLUMNS)} FROM observations{where}", conn, params=args)
    # the frame's documented dtypes, under pandas 2 and 3 alike: pandas 3 reads text as its ``str``
    # dtype (NaN for NULL) and infers µs from these timestamps, where pandas 2 gave objects/None and ns
    for name in ("scope", "repo", "workflow", "job", "step", "phase", "outcome", "runner"):
        frame[name] = pd.Series(frame[name].to_numpy(dtype=object, na_value=None), dtype=object)
    frame["started_at"] = pd.to_datetime(frame["started_at"], utc=True, format="ISO8601").astype("datetime64[ns, UTC]")
    frame["censored"] = frame["censored"].astype(bool)
    return frame


@pytest.mark.parametrize(
    ("odd", "row_by_row"),
    [
        (None, False),
        (("step", "Run\x1fsplit"), True),  # the separator inside text
        (("step", "\x00"), True),  # the NULL stand-in as a real value
        (("started_at", "2026-11-20T10:00:00+01:00"), True),  # not as the store writes times
        (("started_at", "2026-11-20T10:00:00.123456789Z"), False),  # finer than the store writes
        (("started_at", "2026-11-20"), False),
        (("duration_s", 0.1 + 0.2), False),  # a double that 15 digits do not round-trip
    ],
)
def test_column_read_equals_row_read(tmp_path: Path, odd: tuple[str, object] | None, row_by_row: bool) -> None:
    """observations_frame's one-scan column read gives exactly the frame pandas reads row by row,
    and leaves values it cannot carry exactly to the row-by-row read."""
    import pandas as pd

    from analyzer.store import Store
    from analyzer.store.frame import filters, read_observation_columns

    path = tmp_path / "s.db"
    write_store(path, 300)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE observations SET runner = NULL WHERE job_id % 7 = 0")
        conn.execute("UPDATE observations SET started_at = NULL WHERE job_id % 11 = 0 AND seq = 1")
        if odd is not None:
            conn.execute(f"UPDATE observations SET {odd[0]} = ? WHERE job_id % 5 = 0 AND seq = 2", (odd[1],))
        conn.execute("DELETE FROM observation_columns")  # written behind the store's back: its cache is stale
    with Store(path, create=False) as store:
        assert (read_observation_columns(store.conn, "", (), {}) is None) == row_by_row
        for kwargs in [{}, {"repo": "acme/monorepo"}, {"workflow": "Lint"}, {"repo": "acme/monorepo", "workflow": "Lint"}]:
            fast = store.observations_frame(**kwargs)  # the first builds the columns cache, the others read it
            pd.testing.assert_frame_equal(fast, _slow_frame(path, *filters(**kwargs)))
        assert store.conn.execute("SELECT count(*) FROM observation_columns").fetchone()[0] > 0


def test_the_columns_cache_gives_the_frames_sql_gives_and_follows_every_change(tmp_path: Path) -> None:
    """Cut by repository and time window, the observations' columns cache gives exactly the frame the
    SQL read gives (rows in the same order); saving a job's analysis drops it, the next read or
    reparse writes it again, and a store that cannot be written reads SQL."""
    from datetime import UTC, datetime

    import pandas as pd

    from analyzer.store import Store
    from analyzer.store.frame import filters, observations_frame

    path = tmp_path / "s.db"
    write_store(path, 400)  # leaves the cache written, as reparse does
    windows = [
        {}, {"repo": "acme/monorepo"}, {"repo": "other/repo"},
        {"since": datetime(2026, 11, 10, 6, 30, 0, 250000, tzinfo=UTC)},
        {"repo": "acme/monorepo", "since": datetime(2026, 11, 1, tzinfo=UTC), "until": datetime(2026, 11, 15, tzinfo=UTC)},
    ]  # fmt: skip
    with Store(path, create=False) as store:
        cached = store.conn.execute("SELECT count(*) FROM observation_columns").fetchone()[0]
        assert cached > 0
        for kwargs in windows:
            pd.testing.assert_frame_equal(store.observations_frame(**kwargs), _slow_frame(path, *filters(**kwargs)))
            repo = kwargs.get("repo")
            assert store.newest_time(repo=repo if isinstance(repo, str) else None) == _newest(store, repo)
        spans = [store.job_span(repo=k.get("repo"), since=k.get("since"), until=k.get("until")) for k in windows]  # type: ignore[arg-type]
        repos = store.observed_repos()
        store.conn.execute("DELETE FROM observation_columns")  # the same answers from SQL
        assert spans == [store.job_span(repo=k.get("repo"), since=k.get("since"), until=k.get("until")) for k in windows]  # type: ignore[arg-type]
        assert repos == store.observed_repos() == ["acme/monorepo"]
        assert store.refresh_observation_columns()
        job_id = store.job_ids()[5]
        frame = observations_frame(store.conn)
        rows = frame[frame["job_id"] == job_id]
        from analyzer.records import Observation

        changed = [
            Observation(scope="job", repo="acme/monorepo", workflow="Lint", job="lint", step=None, phase=None,
                        run_id=int(rows["run_id"].iloc[0]), run_attempt=1, job_id=job_id,
                        started_at=datetime(2026, 11, 22, 23, 0, tzinfo=UTC), duration_s=4321.5, outcome="success",
                        censored=False, limit_s=None, runner="ubuntu-latest")
        ]  # fmt: skip
        store.save_analysis(job_id, changed, None, parser_version=1, rules_hash="x")
        assert store.conn.execute("SELECT count(*) FROM observation_columns").fetchone()[0] == 0
        for kwargs in windows:
            pd.testing.assert_frame_equal(store.observations_frame(**kwargs), _slow_frame(path, *filters(**kwargs)))
        assert 4321.5 in store.observations_frame()["duration_s"].to_numpy()
    with Store(path, create=False) as store:
        store.conn.execute("DELETE FROM observation_columns")
        store.conn.execute("PRAGMA query_only = 1")  # a store it may not write: the cache cannot be written
        assert not store.refresh_observation_columns()
        pd.testing.assert_frame_equal(store.observations_frame(), _slow_frame(path))



def _jobs_by_sql(path: Path, where: str = "", args: tuple[object, ...] = ()) -> object:
    """The jobs frame ``Store.jobs_frame`` gives, made here from a plain row-by-row read (the reference)."""
    import pandas as pd

    from analyzer.store import JOB_COLUMNS

    names = {"workflow": "workflow_name", "job": "name"}
    with sqlite3.connect(path) as conn:
        rows = conn.execute(f"SELECT {', '.join(names.get(n, n) for n in JOB_COLUMNS)} FROM jobs{where} ORDER BY job_id", args).fetchall()
    frame = pd.DataFrame.from_records(rows, columns=list(JOB_COLUMNS))
    for name in ("created_at", "started_at"):
        frame[name] = pd.to_datetime(frame[name], utc=True, format="ISO8601").dt.as_unit("ns")
    frame["queued_s"] = frame["queued_s"].astype(float)
    frame["labels"] = [", ".join(json.loads(text)) for text in frame["labels"]]
    for name in ("repo", "workflow", "job", "status", "conclusion", "runner_name", "labels"):
        frame[name] = pd.Series([None if pd.isna(v) else str(v) for v in frame[name]], dtype=object)
    return frame


def test_the_jobs_columns_cache_gives_the_frames_sql_gives_and_follows_every_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cut by repository, workflow and time window (the start, else the creation), the jobs' columns cache
    gives exactly the frame a row-by-row read gives (NULLs, a column of NULLs, rows in ``job_id`` order);
    the first read writes it; saving a job, its context or deleting one drops it, new jobs past its last one
    (in any order) are added to it (as a whole rewrite writes them); times it cannot cut exactly, a branch and a store
    that cannot be written read SQL."""
    from dataclasses import replace
    from datetime import UTC, datetime

    import pandas as pd

    from analyzer.model.queue import QUEUE_COLUMNS
    from analyzer.store import JOB_COLUMNS, SCHEMA_VERSION, Store, jobcolumns
    from analyzer.store.filters import filters

    path = tmp_path / "s.db"
    write_store(path, 300)
    with sqlite3.connect(path) as conn:  # NULLs the listing can give: a job that never started, one of unknown creation
        conn.execute("UPDATE jobs SET started_at = NULL, queued_s = NULL, runner_name = NULL, status = 'queued' WHERE job_id % 13 = 0")
        conn.execute("UPDATE jobs SET created_at = NULL, queued_s = NULL, conclusion = NULL WHERE job_id % 17 = 0")
    windows = [
        {}, {"repo": "acme/monorepo"}, {"repo": "other/repo"}, {"workflow": "Lint"},
        {"since": datetime(2026, 11, 10, 6, 30, 0, 250000, tzinfo=UTC)},
        {"repo": "acme/monorepo", "workflow": "Lint", "since": datetime(2026, 11, 1, tzinfo=UTC), "until": datetime(2026, 11, 15, tzinfo=UTC)},
    ]  # fmt: skip

    def same(store: Store, served: str = "every window") -> None:
        """Each window's frame is SQL's; ``served``: the windows the cache itself gives ("every window",
        "no time window": its times do not sort as text, "none": no cache)."""
        for kwargs in windows:
            where, args = filters(**kwargs, column="coalesce(started_at, created_at)", workflow_column="workflow_name")  # type: ignore[arg-type]
            expected = _jobs_by_sql(path, where, args)
            pd.testing.assert_frame_equal(store.jobs_frame(**kwargs), expected, check_exact=True)  # type: ignore[arg-type]
            only = (*QUEUE_COLUMNS, "labels")
            pd.testing.assert_frame_equal(store.jobs_frame(**kwargs, only=only), expected[[c for c in JOB_COLUMNS if c in only]])  # type: ignore[arg-type,index]
            direct = jobcolumns.read(store.conn, JOB_COLUMNS, SCHEMA_VERSION, **kwargs)  # type: ignore[arg-type]
            timed = "since" in kwargs or "until" in kwargs
            if served == "every window" or (served == "no time window" and not timed):
                assert direct is not None, kwargs  # the frame above came from the cache
                if len(expected):  # (none: ``jobs_frame`` gives SQL's empty frame)
                    pd.testing.assert_frame_equal(direct, expected, check_exact=True)  # type: ignore[arg-type]
            else:
                assert direct is None, kwargs

    def cached(store: Store) -> int:
        return int(store.conn.execute("SELECT count(*) FROM job_columns").fetchone()[0])

    with Store(path, create=False) as store:
        assert cached(store) == 0
        same(store)
        assert cached(store) > 0  # written by the first read
        store.conn.execute("UPDATE jobs SET runner_name = NULL")  # a column of NULLs (behind the store's back: drop it)
        store.conn.execute("DELETE FROM job_columns")
        same(store)
        job = store.load_job(store.job_ids()[3])
        assert job is not None
        store.save_job(replace(job, name="renamed", steps=[]))
        assert cached(store) == 0
        same(store)
        assert "renamed" in set(store.jobs_frame()["job"])
        store.save_job_context(replace(job, runner_name="runner-x", created_at=None))
        assert cached(store) == 0
        same(store)
        assert store.jobs_frame(workflow=job.workflow_name)["runner_name"].tolist().count("runner-x") == 1
        store.delete_job(job.job_id)
        assert cached(store) == 0
        same(store)
        assert job.job_id not in set(store.jobs_frame()["job_id"])
        newest = max(store.job_ids())
        for k, runner in [(2, None), (1, "runner-new"), (2, "runner-again")]:  # new runs' jobs (ids past the cache's), any order
            store.save_job(replace(job, job_id=newest + k, run_id=job.run_id + 10**6, name="new", runner_name=runner, steps=[]))
        assert cached(store) > 0  # kept: they only add rows after the cache's
        topped_up: list[bool] = []
        real_top_up = jobcolumns.top_up
        monkeypatch.setattr(jobcolumns, "top_up", lambda *args: topped_up.append(real_top_up(*args)) or topped_up[-1])
        same(store)
        assert topped_up == [True] and store.jobs_frame()["runner_name"].tolist()[-2:] == ["runner-new", "runner-again"]

        def kept() -> dict[str, bytes]:
            found = {str(k): bytes(v) for k, v in store.conn.execute("SELECT name, data FROM job_columns")}
            return found

        topped = kept()
        store.conn.execute("DELETE FROM job_columns")
        assert store.refresh_job_columns() and kept() == topped  # the cache written from the whole table
        store.save_job(replace(job, job_id=min(store.job_ids()) - 1, steps=[]))  # a job before the others: dropped
        assert cached(store) == 0
        same(store)
        last = store.load_job(max(store.job_ids()))
        assert last is not None and cached(store) > 0
        store.save_job(replace(last, name="renamed again"))  # the last job saved again: dropped
        assert cached(store) == 0
        same(store)
        store.conn.execute(  # a job added by hand past the others, started within the second ``since`` falls in
            "INSERT INTO jobs (job_id, run_id, run_attempt, repo, workflow_name, name, created_at, started_at, labels) "
            "VALUES (?, 1, 1, 'acme/monorepo', 'Lint', 'late', '2026-11-10T06:29:00Z', '2026-11-10T06:30:00Z', '[]')",
            (max(store.job_ids()) + 1,),
        )
        same(store, "no time window")  # added to the cache, whose windows then read SQL
        assert topped_up[-1] is True and topped_up.count(True) == 2
        events = store.run_values("event")
        assert events  # a branch or an event: SQL (the cache keeps no run context)
        pd.testing.assert_frame_equal(store.jobs_frame(event=next(iter(events))), _jobs_by_sql(
            path, " WHERE run_id IN (SELECT run_id FROM runs WHERE event = ?)", (next(iter(events)),)))  # fmt: skip
        store.conn.execute("UPDATE jobs SET started_at = substr(started_at, 1, 19) || 'Z' WHERE job_id % 7 = 0")
        store.conn.execute(  # within the second ``since`` falls in: later than it as text, earlier as a time
            "UPDATE jobs SET started_at = '2026-11-10T06:30:00Z' WHERE job_id = (SELECT min(job_id) FROM jobs WHERE job_id % 7 = 0)"
        )
        store.conn.execute("DELETE FROM job_columns")  # times that do not sort as text: windows are read by SQL
        same(store, "no time window")
        assert cached(store) > 0
    with Store(path, create=False) as store:
        store.conn.execute("DELETE FROM job_columns")
        store.conn.execute("PRAGMA query_only = 1")  # a store it may not write: no cache, SQL
        assert not store.refresh_job_columns()
        same(store, "none")
        assert cached(store) == 0


def test_a_store_written_before_the_jobs_columns_cache_gains_it(tmp_path: Path) -> None:
    """A store of schema 7 (no ``job_columns``) is migrated when opened: the table is added, the version
    is 8, and the first jobs read writes the cache."""
    import pandas as pd

    from analyzer.store import SCHEMA_VERSION, Store

    path = tmp_path / "s.db"
    write_store(path, 50)
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE job_columns")
        conn.execute("UPDATE meta SET value = '7' WHERE key = 'schema_version'")
    with Store(path, create=False) as store:
        assert SCHEMA_VERSION == 8 and store.get_meta("schema_version") == "8"
        frame = store.jobs_frame()
        assert store.conn.execute("SELECT count(*) FROM job_columns").fetchone()[0] > 0
        pd.testing.assert_frame_equal(frame, _jobs_by_sql(path))


def test_a_jobs_first_analysis_is_added_to_the_columns_cache_as_a_whole_rewrite_would_write_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On SQLite a job's first analysis keeps the observations' columns cache (its rows come after the
    cache's); until the next read adds them, nothing reads the cache (newest time, repositories and spans
    come from SQL, right). The next read adds them: every blob is the one a cache written from the whole
    table has (text numbered in order of first appearance, a number column that gains a NULL as floats,
    a column of NULLs that gains values), the frame is SQL's, and the token changes (the export reads them
    again). A job analysed again (its rows change) drops the cache, as before."""
    from dataclasses import replace
    from datetime import UTC, datetime, timedelta

    import pandas as pd

    from analyzer.records import Observation
    from analyzer.store import SCHEMA_VERSION, Store, columns
    from analyzer.store.frame import OBSERVATION_COLUMNS

    start = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)

    def observations(job_id: int, n: int, **extra: object) -> list[Observation]:
        return [
            Observation(**{"scope": "job" if k == 0 else "step", "repo": "o/r", "workflow": "CI", "job": "build",
                           "step": None if k == 0 else f"step {k}", "step_number": None if k == 0 else k, "phase": None,
                           "run_id": job_id, "run_attempt": 1, "job_id": job_id, "started_at": start + timedelta(hours=job_id),
                           "duration_s": 60.0 * k + job_id, "outcome": "success", "censored": False, **extra})  # type: ignore[arg-type]
            for k in range(n)
        ]  # fmt: skip

    def blobs(store: Store) -> dict[str, bytes]:
        return {str(k): bytes(v) for k, v in store.conn.execute("SELECT name, data FROM observation_columns WHERE name != '_meta'")}

    path = tmp_path / "s.db"
    with Store(path) as store:
        for job_id in (1, 2):  # every step numbered, no limit, no runner: an int column and two columns of NULLs
            store.save_analysis(job_id, observations(job_id, 3)[1:], None, parser_version=1, rules_hash="x")
        assert store.refresh_observation_columns()
        token = store.observation_cache_token()
        added = observations(3, 4, limit_s=600.0, runner="ubuntu-latest")  # a NULL step number, a limit, a runner
        added[2] = replace(added[2], workflow="Nightly", started_at=None)  # a new text value, an unknown start
        store.save_analysis(3, added, None, parser_version=1, rules_hash="x")
        assert store.conn.execute("SELECT count(*) FROM observation_columns").fetchone()[0] > 0  # kept
        assert not columns.present(store.conn, OBSERVATION_COLUMNS, SCHEMA_VERSION)  # but not read: rows came after it
        assert store.newest_time() == start + timedelta(hours=3)
        assert store.job_span() == (1, 1, start + timedelta(hours=3), start + timedelta(hours=3))  # (one job observation)
        added_up: list[bool] = []
        real_top_up = columns.top_up
        monkeypatch.setattr(columns, "top_up", lambda *args: added_up.append(real_top_up(*args)) or added_up[-1])
        frame = store.observations_frame()  # adds them
        assert added_up == [True] and columns.present(store.conn, OBSERVATION_COLUMNS, SCHEMA_VERSION)
        pd.testing.assert_frame_equal(frame, _slow_frame(path))
        assert store.observation_cache_token() not in (None, token)
        store.conn.execute(  # a row added by hand, its start not in ``iso``'s form: windows from the cache are off
            "INSERT INTO observations (job_id, seq, scope, repo, workflow, job, run_id, run_attempt, started_at, duration_s,"
            " outcome, censored) VALUES (4, 0, 'job', 'o/r', 'CI', 'build', 4, 1, '2026-11-02T12:00:00Z', 5.0, 'success', 0)"
        )
        pd.testing.assert_frame_equal(store.observations_frame(), _slow_frame(path))
        assert added_up == [True, True]

        def meta() -> dict[str, object]:
            return {k: v for k, v in json.loads(store.conn.execute("SELECT data FROM observation_columns WHERE name = '_meta'").fetchone()[0]).items() if k != "token"}

        topped, topped_meta = blobs(store), meta()
        assert topped_meta["time_order"] is False and topped_meta["rows"] == 9
        store.conn.execute("DELETE FROM observation_columns")
        assert store.refresh_observation_columns()
        assert (topped, topped_meta) == (blobs(store), meta())  # the cache written from the whole table
        store.save_analysis(2, observations(2, 2), None, parser_version=2, rules_hash="x")  # analysed again
        assert store.conn.execute("SELECT count(*) FROM observation_columns").fetchone()[0] == 0
        pd.testing.assert_frame_equal(store.observations_frame(), _slow_frame(path))


def test_the_columns_caches_are_read_in_one_state_of_the_store(tmp_path: Path) -> None:
    """A cache is a meta row and blobs read one at a time: another process that drops it or tops it up
    between two of them must not tear a read (SQLite: the reads share one deferred transaction). Each
    read gives the frame of the state it began in."""
    from dataclasses import replace

    import pandas as pd

    from analyzer.records import Observation
    from analyzer.store import Store

    path = tmp_path / "s.db"
    write_store(path, 60)

    class Interleaved:  # store A's connection: at its first blob read, store B writes
        def __init__(self, conn: object, write: object) -> None:
            self.conn, self.write, self.fired = conn, write, False

        def __getattr__(self, name: str) -> object:
            return getattr(self.conn, name)

        def execute(self, sql: str, args: tuple[object, ...] = ()) -> object:
            if not self.fired and "_columns WHERE name = ?" in sql and args and args[0] != "_meta":
                self.fired = True
                self.write()  # type: ignore[operator]
            return self.conn.execute(sql, args)  # type: ignore[attr-defined]

    with Store(path, create=False) as a, Store(path, create=False) as b:
        job = b.load_job(max(b.job_ids()))
        assert job is not None
        first = b.load_job(min(b.job_ids()))
        assert first is not None
        writes = {
            "jobs_frame": [lambda: b.save_job_context(replace(job, runner_name="elsewhere")),  # drops the jobs' cache
                           lambda: (b.save_job(replace(job, job_id=job.job_id + 1, steps=[])), b.jobs_frame())],  # tops it up
            "observations_frame": [
                lambda: b.save_analysis(first.job_id, [], None, parser_version=9, rules_hash="x"),  # drops it
                lambda: (b.save_analysis(job.job_id + 1, [Observation.of_job(replace(job, job_id=job.job_id + 1), "job",
                         started_at=job.started_at, duration_s=12.5, outcome="success", censored=False)], None,
                         parser_version=9, rules_hash="x"), b.observations_frame()),  # tops it up
            ],
        }  # fmt: skip
        real = a.conn
        for read, changes in writes.items():
            for change in changes:
                getattr(a, read)()  # the cache written (or topped up) for A's read
                before = getattr(b, read)()
                a.conn = Interleaved(real, change)  # type: ignore[assignment]
                try:
                    frame = getattr(a, read)()
                finally:
                    a.conn = real
                assert a.conn.in_transaction is False
                pd.testing.assert_frame_equal(frame, before)
                assert not getattr(a, read)().equals(before)  # the next read sees the write


def test_an_observations_cache_whose_rows_were_renumbered_is_written_whole(tmp_path: Path) -> None:
    """A copy of the observations table (a dump loaded again) numbers its rowids anew, and the cache's
    meta row comes along: the row at the cache's last rowid is then another one, and the cache is
    written whole, not read or topped up, even once new rows bring the largest rowid back to it."""
    import pandas as pd

    from analyzer.store import Store

    path = tmp_path / "s.db"
    write_store(path, 40)
    with Store(path, create=False) as store:
        job_id = store.job_ids()[0]
        rows = store.conn.execute("SELECT count(*) FROM observations WHERE job_id = ?", (job_id,)).fetchone()[0]
        kept = store.conn.execute("SELECT * FROM observations WHERE job_id = ? ORDER BY rowid", (job_id,)).fetchall()
        width = len(kept[0])
        with store.transaction():  # the job analysed again: its rows at the end, a gap where they were
            store.conn.execute("DELETE FROM observations WHERE job_id = ?", (job_id,))
            store.conn.executemany(f"INSERT INTO observations VALUES ({','.join('?' * width)})", kept)
        store.conn.execute("DELETE FROM observation_columns")
        store.observations_frame()
        (high,) = store.conn.execute("SELECT max(rowid) FROM observations").fetchone()
        store.conn.executescript(  # dumped and loaded: rowids 1..N, the cache's rows as they were
            "CREATE TEMP TABLE copied AS SELECT * FROM observations ORDER BY rowid; DELETE FROM observations; "
            "INSERT INTO observations SELECT * FROM copied; DROP TABLE copied;"
        )
        assert store.conn.execute("SELECT max(rowid) FROM observations").fetchone()[0] == high - rows
        store.conn.executemany(  # a new job's first analysis (job id -1): the largest rowid back where the cache's was
            f"INSERT INTO observations VALUES ({','.join('?' * width)})", [(-1, *row[1:]) for row in kept]
        )
        assert store.conn.execute("SELECT max(rowid) FROM observations").fetchone()[0] == high
        pd.testing.assert_frame_equal(store.observations_frame(), _slow_frame(path))

def _newest(store: object, repo: object) -> object:
    from analyzer.records import parse_iso

    where = " WHERE repo = ?" if repo else ""
    row = store.conn.execute(f"SELECT MAX(started_at) FROM observations{where}", (repo,) if repo else ()).fetchone()  # type: ignore[attr-defined]
    return parse_iso(row[0])


def test_a_frame_of_some_columns_is_those_columns_of_the_whole_frame(tmp_path: Path) -> None:
    """``observations_frame(only=…)`` (what ``stats`` reads) gives exactly those columns of the whole frame,
    from the columns cache, the one-scan read and the row-by-row read alike, and the same stats; with
    ``codes`` (text as categoricals from the cache) the same values and the same stats."""
    import pandas as pd

    from analyzer.model import STATS_COLUMNS, unit_stats
    from analyzer.store import Store

    path = tmp_path / "s.db"
    write_store(path, 300)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE observations SET started_at = NULL WHERE job_id % 11 = 0 AND seq = 1")
    with Store(path, create=False) as store:
        for kwargs in [{}, {"repo": "acme/monorepo"}, {"workflow": "Lint"}]:  # the cache, then SQL (a workflow)
            whole = store.observations_frame(**kwargs)
            some = store.observations_frame(**kwargs, only=STATS_COLUMNS)
            assert list(some.columns) == list(STATS_COLUMNS)
            pd.testing.assert_frame_equal(some, whole[list(STATS_COLUMNS)])
            assert unit_stats(some) == unit_stats(whole)
            coded = store.observations_frame(**kwargs, only=STATS_COLUMNS, codes=True)  # text as categoricals (the cache)
            for name in STATS_COLUMNS:
                if isinstance(coded[name].dtype, pd.CategoricalDtype):
                    assert list(coded[name].astype(object).where(coded[name].notna(), None)) == list(some[name])
                else:
                    pd.testing.assert_series_equal(coded[name], some[name])
            assert kwargs.get("workflow") or (coded["step"].dtype == "category")
            assert unit_stats(coded) == unit_stats(whole)
        store.conn.execute("UPDATE observations SET step = 'Run\x1fsplit' WHERE job_id % 5 = 0 AND seq = 2")
        store.conn.execute("DELETE FROM observation_columns")
        whole = store.observations_frame(workflow="Unit tests")  # row by row: a separator inside text
        some = store.observations_frame(workflow="Unit tests", only=STATS_COLUMNS)
        pd.testing.assert_frame_equal(some, whole[list(STATS_COLUMNS)])
        with pytest.raises(ValueError):
            store.observations_frame(only=("job", "scope"))


def test_the_attempts_of_some_runs_are_those_of_the_window(tmp_path: Path) -> None:
    """``load_attempts(run_ids=…)`` (in batches of ``_BATCH`` runs) gives exactly the attempts of those runs
    among the window's, in the same order: runs outside the window or unknown are left out."""
    from datetime import UTC, datetime

    from analyzer.store import Store
    from analyzer.store.store import _BATCH

    path = tmp_path / "s.db"
    write_store(path, 3000)
    since = datetime(2026, 11, 10, tzinfo=UTC)
    with Store(path, create=False) as store:
        everything = store.load_attempts()
        ids = [*sorted({a.run_id for a in everything})[::2], -5, 10**15]  # every other run, and two unknown
        assert len(ids) > 2 * _BATCH
        for kwargs in [{}, {"since": since}, {"repo": "acme/monorepo", "since": since}, {"workflow": "Lint", "since": since}]:
            window = store.load_attempts(**kwargs)
            wanted = set(ids)
            assert store.load_attempts(**kwargs, run_ids=ids) == [a for a in window if a.run_id in wanted]
            assert 0 < len([a for a in window if a.run_id in wanted]) < len(window)


def test_the_attempts_of_failed_runs_give_the_rerun_rates_of_the_window(tmp_path: Path) -> None:
    """``load_attempts(failed_runs=True)`` (what the failure section reads) keeps, in the same order, the window's
    attempts of every run with an attempt that failed, timed out or has an incident, at any time (a failure before
    the window, rerun inside it, counts), and of no other run; the rerun rates over them are the window's."""
    from datetime import UTC, datetime

    from analyzer.model.reruns import is_failed, rerun_rates
    from analyzer.store import Store

    path = tmp_path / "s.db"
    write_store(path, 3000)
    with sqlite3.connect(path) as conn:
        reruns = conn.execute(
            "SELECT a.job_id, a.started_at, b.started_at, a.run_id, a.name FROM jobs a JOIN jobs b ON b.run_id = a.run_id AND b.name = a.name"
            " AND b.run_attempt = 2 WHERE a.run_attempt = 1 AND a.conclusion = 'failure' ORDER BY a.run_id"
        ).fetchall()
        assert len(reruns) >= 3
        (_, before, after, run, name), (blank, *_), (timed, *_) = reruns[:3]
        for job_id, conclusion in ((blank, None), (timed, "timed_out")):  # runs that fail by this job's attempt only:
            conn.execute("UPDATE jobs SET conclusion = 'success' WHERE run_id = (SELECT run_id FROM jobs WHERE job_id = ?)",
                         (job_id,))  # fmt: skip
            conn.execute("DELETE FROM incidents WHERE run_id = (SELECT run_id FROM jobs WHERE job_id = ?)", (job_id,))
            conn.execute("UPDATE jobs SET conclusion = ? WHERE job_id = ?", (conclusion, job_id))
        conn.execute("INSERT INTO incidents (job_id, repo, workflow, run_id, run_attempt, job, kind, evidence) SELECT job_id, "
                     "repo, workflow_name, run_id, run_attempt, name, 'failure', '' FROM jobs WHERE job_id = ?", (blank,))  # fmt: skip
    starts = [datetime.fromisoformat(before.replace("Z", "+00:00")), datetime.fromisoformat(after.replace("Z", "+00:00"))]
    assert starts[0] < starts[1]
    with Store(path, create=False) as store:
        windows: list[dict[str, object]] = [
            {}, {"since": starts[1]}, {"since": datetime(2026, 11, 10, tzinfo=UTC)}, {"workflow": "Lint"},
            {"repo": "acme/monorepo", "since": starts[1]},
        ]  # fmt: skip
        for kwargs in windows:
            window = store.load_attempts(**kwargs)  # type: ignore[arg-type]
            failed = {a.run_id for a in window if is_failed(a)}
            mine = store.load_attempts(**kwargs, failed_runs=True)  # type: ignore[arg-type]
            assert {a.run_id for a in mine} >= failed and len(mine) < len(window), kwargs
            assert mine == [a for a in window if a.run_id in {b.run_id for b in mine}], kwargs
            assert rerun_rates(mine) == rerun_rates(window) and rerun_rates(window), kwargs
        # the run whose failed first attempt started before the window and whose rerun inside it: both counted
        inside = store.load_attempts(since=starts[1], failed_runs=True)
        assert [(a.run_attempt, a.conclusion) for a in inside if (a.run_id, a.job) == (run, name)][:1] == [(1, "failure")]


def test_incidents_read_once_are_those_each_window_reads(tmp_path: Path) -> None:
    """Incidents read once serve every later window (``api._incidents_since``): what ``load_incidents(since=…)``
    reads for that window, in the same order; recommend given them advises what it advises reading them itself
    (it reads those naming a limit only). ``report`` lets recommend read those (few) during its fit, then reads
    all once, for the period and the failures' history, when the model's memory is freed."""
    from dataclasses import replace
    from datetime import UTC, datetime, timedelta

    from analyzer import api
    from analyzer.config import load_settings
    from analyzer.store import Store

    path = tmp_path / "s.db"
    config = tmp_path / "we-advisor.toml"
    config.write_text('repo = "acme/monorepo"\npreset = "kubernaut-e2e"\n', encoding="utf-8")
    write_store(path, 3000)
    settings = load_settings(config)
    with Store(path, create=False) as store:
        everything = store.load_incidents()
        times = sorted(i.occurred_at for i in everything if i.occurred_at is not None)
        assert len(times) > 100
        for since in [None, times[0], times[len(times) // 2], times[len(times) // 2] + timedelta(microseconds=1), times[-1],
                      datetime(2030, 1, 1, tzinfo=UTC)]:  # fmt: skip
            assert api._incidents_since(everything, since) == store.load_incidents(since=since)
            limited = store.load_incidents(since=since, limited=True)  # what recommend reads: those naming a limit
            assert limited == [i for i in store.load_incidents(since=since) if i.limit_s is not None]
        assert 0 < len(store.load_incidents(limited=True)) < len(everything)
        for workflow in ("Lint", None):
            own = api.recommend(settings, store, workflow=workflow)
            reads: list[object] = []
            with pytest.MonkeyPatch.context() as m:
                m.setattr(store, "load_incidents", lambda _reads=reads, **kwargs: _reads.append(kwargs))
                given = api.recommend(settings, store, workflow=workflow, incidents=everything)
            assert replace(given, generated_at=own.generated_at) == own and not reads
        calls: list[object] = []
        with pytest.MonkeyPatch.context() as m:
            read = store.load_incidents
            m.setattr(store, "load_incidents", lambda _calls=calls, _read=read, **kwargs: _calls.append(kwargs) or _read(**kwargs))
            inputs = api.report_inputs(settings, store)
        period = api._incidents_since(everything, inputs.period_start)  # hung ones become kind "hang" in the report
        # recommend's read of those naming a limit (during the fit), then one read of all (once the model is freed)
        assert [bool(c.get("limited")) for c in calls] == [True, False]
        assert [i.job_id for i in inputs.incidents] == [i.job_id for i in period]


def test_column_read_longer_than_sqlites_string_limit_reads_row_by_row(tmp_path: Path) -> None:
    """A joined column past SQLite's length limit (1 GB by default: ~40M rows) falls back, same frame."""
    import pandas as pd

    from analyzer.store import Store
    from analyzer.store.frame import read_observation_columns

    path = tmp_path / "s.db"
    write_store(path, 50)
    with Store(path, create=False) as store:
        store.conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 2_000)
        assert read_observation_columns(store.conn, "", (), {}) is None
        pd.testing.assert_frame_equal(store.observations_frame(), _slow_frame(path))


def test_generator_is_deterministic_and_consistent() -> None:
    """The same seed gives the same rows; every job has its job observation, and only attempts that
    did not succeed have an incident."""
    from tests.loadgen import generate

    a, b = generate(400, seed=3), generate(400, seed=3)
    for name in ("runs", "jobs", "steps", "observations", "incidents"):
        assert getattr(a, name).rows(0, 10**9) == getattr(b, name).rows(0, 10**9)
    assert generate(400, seed=4).observations.rows(0, 10**9) != a.observations.rows(0, 10**9)
    jobs = {r[0]: r for r in a.jobs.rows(0, 10**9)}
    job_rows = [r for r in a.observations.rows(0, 10**9) if r[2] == "job"]
    assert sorted(r[0] for r in job_rows) == sorted(jobs)
    failed = {j for j, r in jobs.items() if r[7] != "success"}
    assert {r[0] for r in a.incidents.rows(0, 10**9)} == failed


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
def test_freed_memory_is_given_back_where_the_c_library_can() -> None:
    """``report`` gives the pages its freed model held back to the system (342 -> 310 MB peak RSS at 100,000
    runs): on Linux (glibc) the call is found and made; elsewhere it says it could not."""
    from analyzer.api import release_freed_memory

    assert release_freed_memory() is True
