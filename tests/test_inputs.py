"""Real-world inputs without surprises: every form of one job lands on one row, unzipped archives give
what their zip gives, repeated names and composite actions give one sample per job run, text outside
any step stays unplaced, repositories stay apart, history commands state their window.

Real files of ../shared/realdata are used by path (skipped when absent); the small archives here are
made by the tests in the same layout (``0_job.txt`` + ``job/N_step.txt``, BOM on each file, the
step files' timestamps a few microseconds off the whole log's, as GitHub writes them).
"""

from __future__ import annotations

import gzip
import json
import shutil
import sqlite3
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from analyzer.cli import app
from analyzer.collect.archive import is_step_file
from analyzer.collect.ingest import ingest_paths
from analyzer.formatting import shorten_names
from analyzer.parse import logs
from analyzer.parse.identity import log_identity, repository_of
from analyzer.parse.observe import analyze_job
from analyzer.parse.reparse import reparse
from analyzer.records import Job, LogPart, Run, StepInfo
from analyzer.store import Store
from tests.fake_export import build_export
from tests.fake_github import FakeGitHub, run_fetch
from tests.old_stores import drop_run_context

runner = CliRunner()
BOM = "\ufeff"

# One job, as its steps: (step file name, lines). Timestamps are added by ``_stamp``.
STEPS = [
    ("Set up job", ["Current runner version: '2.328.0'", "Complete job name: test"]),
    ("Run actions_checkout@v4", ["##[group]Run actions/checkout@v4", "##[endgroup]", "Syncing repository: acme/shop"]),
    ("Setup Node.js", ["##[group]Run actions/setup-node@v4", "##[endgroup]", "Found in cache @ /opt/node"]),
    ("Lint", ["##[group]Run set -euo pipefail", "##[endgroup]", "eslint ok"]),
    ("Test", ["##[group]Run set -euo pipefail", "##[endgroup]", "jest ok"]),
    ("Complete job", ["Cleaning up orphan processes"]),
]


def _stamp(lines: list[str], start: float, step_s: float, jitter_us: int = 0) -> str:
    out = []
    for n, line in enumerate(lines):
        t = datetime.fromtimestamp(start + n * step_s, UTC)
        out.append(f"{t:%Y-%m-%dT%H:%M:%S}.{(t.microsecond + jitter_us) % 1_000_000:06d}0Z {line}\n")
    return "".join(out)


def _job_files(start: float = 1_760_000_000.0) -> tuple[str, list[tuple[str, str]]]:
    """The whole log and the step files of one job (the step files' stamps a few microseconds off)."""
    flat = [line for _, lines in STEPS for line in lines]
    whole = BOM + _stamp(flat, start, 7.0)
    steps, n = [], 0
    for i, (name, lines) in enumerate(STEPS, 1):
        steps.append((f"{i}_{name}.txt", BOM + _stamp(lines, start + n * 7.0, 7.0, jitter_us=83)))
        n += len(lines)
    return whole, steps


def _archive(folder: Path, zip_path: Path) -> None:
    """``0_test.txt`` + ``test/N_step.txt`` + ``test/system.txt``, as a folder and as a zip."""
    whole, steps = _job_files()
    (folder / "test").mkdir(parents=True)
    (folder / "0_test.txt").write_text(whole, encoding="utf-8")
    (folder / "test" / "system.txt").write_text("2025-10-09T08:26:40.000Z Job is about to start running\n")
    with zipfile.ZipFile(zip_path, "w") as archive:
        archive.writestr("0_test.txt", whole)
        for name, text in steps:
            (folder / "test" / name).write_text(text, encoding="utf-8")
            archive.writestr(f"test/{name}", text)


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def stats_json(db: Path, *extra: str) -> list[dict[str, object]]:
    code, out, err = run("stats", "--store", str(db), "--since", "2000-01-01", "--format", "json", *extra)
    assert code == 0, err
    return json.loads(out)  # type: ignore[no-any-return]


# -- one job, every form -------------------------------------------------------------------------


def test_unzipped_folder_gives_what_the_zip_gives(tmp_path: Path) -> None:
    """The folder a browser makes of a run-log zip is one job with the workflow's step names, not a job
    per step file; its stats are the zip's."""
    _archive(tmp_path / "unzipped", tmp_path / "logs_1.zip")
    with Store(tmp_path / "a.db") as store:
        assert ingest_paths(store, [tmp_path / "unzipped"]).jobs_new == 1
    with Store(tmp_path / "b.db") as store:
        assert ingest_paths(store, [tmp_path / "logs_1.zip"]).jobs_new == 1
    folder, archive = stats_json(tmp_path / "a.db"), stats_json(tmp_path / "b.db")
    assert folder == archive
    steps = [r["step"] for r in folder if r["scope"] == "step"]
    assert steps == ["Set up job", "Run actions_checkout@v4", "Setup Node.js", "Lint", "Test", "Complete job"]
    assert {r["samples"] for r in folder} == {1}


def test_every_form_of_one_job_is_one_row(tmp_path: Path) -> None:
    """Zip, then its own 0_test.txt, the unzipped folder and `gh run view --log`: nothing new after the
    first; a bare log first and the zip after: the zip's richer copy replaces it (its step names win)."""
    _archive(tmp_path / "unzipped", tmp_path / "logs.zip")
    _whole, steps = _job_files()
    gh = "".join(
        f"test\t{name.split('_', 1)[1][:-4]}\t{line}\n" for name, text in steps for line in text.lstrip(BOM).splitlines()
    )
    (tmp_path / "gh.log").write_text(gh, encoding="utf-8")
    db = tmp_path / "s.db"
    code, _, err = run("ingest", str(tmp_path / "logs.zip"), "--store", str(db))
    assert code == 0 and "1 new job(s)" in err
    for form in ("unzipped/0_test.txt", "unzipped", "gh.log"):
        code, _, err = run("ingest", str(tmp_path / form), "--store", str(db))
        assert code == 0 and "0 new job(s), 1 already in the store" in err, (form, err)
    rows = stats_json(db)
    assert {r["samples"] for r in rows} == {1}
    assert "Setup Node.js" in {r["step"] for r in rows}

    bare_first = tmp_path / "t.db"
    run("ingest", str(tmp_path / "unzipped" / "0_test.txt"), "--store", str(bare_first))
    assert "Run actions/setup-node@v4" in {r["step"] for r in stats_json(bare_first)}
    code, _, err = run("ingest", str(tmp_path / "logs.zip"), "--store", str(bare_first))
    assert "0 new job(s), 1 already in the store" in err and "1 replaced by a richer copy" in err
    assert stats_json(bare_first) == rows


def test_a_fetched_job_replaces_its_local_copy(tmp_path: Path) -> None:
    """A job ingested from a local file and later fetched (same log, a GitHub id) ends as one row: the
    fetched one, with its ids and API step names."""
    whole, _ = _job_files()
    path = tmp_path / "0_test.txt"
    path.write_text(whole, encoding="utf-8")
    with Store(tmp_path / "s.db") as store:
        ingest_paths(store, [path])
        (local_id,) = store.job_ids()
        assert local_id < 0
        store.save_run(Run("acme/shop", 77, 1, "CI"))
        store.save_job(Job("acme/shop", 501, 77, 1, "CI", "test", conclusion="success"))
        store.save_log(501, whole.encode())
        reparse(store, ())
        assert store.job_ids() == [501]
        assert set(store.observations_frame()["job_id"]) == {501}
        path.write_text(whole, encoding="utf-8")
        assert ingest_paths(store, [tmp_path / "0_test.txt"]).jobs_new == 0  # a known source
        (tmp_path / "copy").mkdir()
        shutil.copy(path, tmp_path / "copy" / "job.log")
        summary = ingest_paths(store, [tmp_path / "copy"])
        assert (summary.jobs_new, summary.jobs_known) == (0, 1)


def test_a_job_ingested_then_fetched_is_one_row(tmp_path: Path) -> None:
    """Through the fake GitHub: a job log saved locally and ingested, then its repository fetched: the
    fetched record (its GitHub ids) is the one row left."""
    export = build_export(tmp_path / "export", runs=3)
    gz = sorted((export / "logs").glob("*.txt*"))[0]
    fetched_id = int(gz.name.split(".")[0])
    data = gzip.decompress(gz.read_bytes()) if gz.name.endswith(".gz") else gz.read_bytes()
    (tmp_path / "saved.log").write_bytes(data)
    db = tmp_path / "s.db"
    with Store(db) as store:
        assert ingest_paths(store, [tmp_path / "saved.log"]).jobs_new == 1
    with FakeGitHub(export) as fake:
        summary = run_fetch(fake, db)
    assert summary.failures == []
    with Store(db) as store:
        ids = store.job_ids()
        assert all(i > 0 for i in ids) and fetched_id in ids
        assert ingest_paths(store, [tmp_path / "saved.log"]).jobs_new == 0


def test_identity_leaves_out_timestamps_but_not_the_time(tmp_path: Path) -> None:
    """The same lines an hour later are another run (a rerun of the same commit prints the same)."""
    whole, steps = _job_files()
    later, _ = _job_files(start=1_760_003_600.0)
    a = log_identity([(0, whole.encode())])
    b = log_identity([(n, text.encode()) for n, (_, text) in enumerate(steps, 1)])
    c = log_identity([(0, later.encode())])
    assert a is not None and b is not None and c is not None
    assert a.same_job(b.text_hash, b.first_at)
    assert a.text_hash == c.text_hash and not a.same_job(c.text_hash, c.first_at)


def test_realdata_zip_and_unzipped_folder_give_identical_stats(realdata: Path, tmp_path: Path) -> None:
    """The real greenfashion archive: the zip and the folder a browser made of it, then its bare log."""
    for name, source in (("zip", realdata / "runlog-zips/greenfashion-2025/logs_47738665835 (1).zip"),
                         ("folder", realdata / "extracted-runlog-greenfashion-2025")):  # fmt: skip
        code, _, err = run("ingest", str(source), "--store", str(tmp_path / f"{name}.db"))
        assert code == 0 and "1 new job(s)" in err, err
    assert stats_json(tmp_path / "zip.db") == stats_json(tmp_path / "folder.db")
    code, _, err = run("ingest", str(realdata / "extracted-runlog-greenfashion-2025/0_test.txt"), "--store", str(tmp_path / "zip.db"))
    assert "0 new job(s), 1 already in the store" in err


@pytest.mark.parametrize(
    ("folder", "jobs", "skipped"),
    [
        ("extracted-runlog-scavenger-hunt-2025", 4, True),  # two downloads of two jobs; step folders overwritten by the second
        ("extracted-runlog-my-closet-2025", 5, True),  # step files of two runs in one folder
        ("extracted-runlog-codeql-2023", 1, False),  # a flattened archive without the whole log: one job
        ("extracted-runlog-juicessh-2019", 4, False),  # job-build-12x/ is 3_build (12.x).txt in steps
    ],
)
def test_realdata_archive_folders_make_no_jobs_of_step_files(
    realdata: Path, tmp_path: Path, folder: str, jobs: int, skipped: bool
) -> None:
    """Step files never become jobs named after steps; those that cannot be placed are skipped with why."""
    said: list[str] = []
    with Store(tmp_path / "s.db") as store:
        summary = ingest_paths(store, [realdata / folder], on_warning=said.append)
        names = {store.load_job(j).name for j in store.job_ids()}  # type: ignore[union-attr]
    assert summary.jobs_new == jobs, said
    assert not names & {"Set up job", "Complete job", "Run ESLint", "Post Run actions_checkout@v4"}
    assert any("mix runs or jobs" in s for s in said) == skipped


def test_step_files_are_told_from_whole_logs_by_content(realdata: Path) -> None:
    for path in (realdata / "extracted-runlog-greenfashion-2025" / "test").glob("[0-9]*_*.txt"):
        assert is_step_file(path.read_bytes()), path
    for path in [*realdata.glob("joblog-*/0_build.txt"), realdata / "extracted-runlog-juicessh-2019/run-root/1_build (8.x).txt"]:
        assert not is_step_file(path.read_bytes()), path


# -- one sample per job run ---------------------------------------------------------------------


def _bare(*lines: str) -> bytes:
    return _stamp(list(lines), 1_760_000_000.0, 10.0).encode()


def test_repeated_step_names_are_told_apart_and_sampled_once() -> None:
    """Three steps that all begin `Run set -euo pipefail` are three units (#2, #3), one sample each."""
    log = _bare(
        "Current runner version: '2.328.0'",
        "##[group]Run set -euo pipefail", "##[endgroup]", "one",
        "##[group]Run set -euo pipefail", "##[endgroup]", "two",
        "##[group]Run set -euo pipefail", "##[endgroup]", "three",
        "Cleaning up orphan processes",
    )  # fmt: skip
    job = Job("a/b", -1, -1, 1, "(local)", "build")
    result = analyze_job(job, [LogPart(-1, 0, None, "ok", log)], [], [])
    steps = [o.step for o in result.observations if o.scope == "step"]
    assert steps == ["Set up job", "Run set -euo pipefail", "Run set -euo pipefail #2", "Run set -euo pipefail #3", "Complete job"]
    keys = [(o.scope, o.step, o.phase) for o in result.observations]
    assert len(keys) == len(set(keys))


def test_composite_sub_steps_are_phases_of_their_step_where_the_api_shows_it() -> None:
    """With the API's step list a composite action is one step; its inner `Run …` are its phases
    (`composite:` names: not settable by timeout-minutes). A bare log says it cannot tell."""
    log = _bare(
        "Current runner version: '2.328.0'",
        "##[group]Run google-github-actions/run-gemini-cli@v0", "with:", "##[endgroup]",
        "##[group]Run npm install -g gemini", "##[endgroup]", "added 1 package",
        "##[group]Run gemini review", "##[endgroup]", "review done",
        "Cleaning up orphan processes",
    )  # fmt: skip
    t0 = datetime.fromtimestamp(1_760_000_000.0, UTC)

    def at(n: int) -> datetime:
        return datetime.fromtimestamp(1_760_000_000.0 + n * 10, UTC)

    api = (
        StepInfo(1, "Set up job", "completed", "success", t0, at(1)),
        StepInfo(2, "Review", "completed", "success", at(1), at(10)),
        StepInfo(3, "Complete job", "completed", "success", at(10), at(10)),
    )
    job = Job("a/b", 5, 6, 1, "CI", "review", conclusion="success", started_at=t0, completed_at=at(10), steps=api)
    result = analyze_job(job, [LogPart(5, 0, None, "ok", log)], [], [])
    steps = {o.step: o.duration_s for o in result.observations if o.scope == "step"}
    assert steps["Review"] == pytest.approx(90.0)
    phases = [(o.step, o.phase) for o in result.observations if o.scope == "phase"]
    assert phases == [("Review", "composite:Run npm install -g gemini"), ("Review", "composite:Run gemini review")]
    bare = analyze_job(Job("a/b", -5, -6, 1, "(local)", "review"), [LogPart(-5, 0, None, "ok", log)], [], [])
    assert bare.warning is not None and "'Run google-github-actions/run-gemini-cli@v0' looks like a composite action" in bare.warning
    assert "composite:Run gemini review" not in {o.phase for o in bare.observations}


def test_text_outside_any_step_is_not_set_up_job() -> None:
    """A log tail without the set-up section: its lost runner and its pytest phase have no step."""
    tail = _bare(
        "tests/test_a.py::test_x PASSED",
        "==== 3 passed in 12.01s ====",
        "##[error]The runner has received a shutdown signal.",
    )
    parsed = logs.parse_job_log(tail)
    assert [s.name for s in parsed.steps] == []
    lost = [s for s in parsed.signals if s.kind == "runner_lost"]
    assert lost and lost[0].step is None
    assert all(p.step is None for p in parsed.phases)


def test_realdata_runner_lost_tail_is_not_in_set_up_job(realdata: Path) -> None:
    parsed = logs.parse_job_log((realdata / "medimages-jl" / "logs.md").read_bytes())
    assert "Set up job" not in {s.name for s in parsed.steps}
    assert all(s.step != "Set up job" for s in parsed.signals)


# -- repositories kept apart ----------------------------------------------------------------------


def test_realdata_build_jobs_of_many_projects_stay_apart(realdata: Path, tmp_path: Path) -> None:
    """Single `build` logs of different projects name their repository (actions/checkout): each is its
    own unit, and a history command without --repo names the repositories instead of mixing them."""
    logs_ = [*sorted(realdata.glob("joblog-*/0_build.txt")), realdata / "openwrt-home" / "0_build.txt"]
    assert all(repository_of(p.read_bytes()) for p in logs_)
    db = tmp_path / "s.db"
    code, _, err = run("ingest", *map(str, logs_), "--store", str(db))
    assert code == 0, err
    with sqlite3.connect(db) as conn:
        repos = {r[0] for r in conn.execute("SELECT DISTINCT repo FROM jobs")}
    assert len(repos) == len(logs_)
    for command in ("stats", "recommend", "backtest", "report"):
        code, _, err = run(command, "--store", str(db))
        assert code == 1 and err.startswith("error: the store holds the history of 6 repositories"), (command, err)
        assert "hint: pass --repo OWNER/NAME" in err
    repo = repository_of(logs_[0].read_bytes())
    assert stats_json(db, "--repo", str(repo))


def test_logs_naming_no_repository_are_filed_by_folder_and_mixing_is_said(tmp_path: Path) -> None:
    """Without a repository in the log: the folder names it (local/<folder>); --repo over logs that name
    another repository, or over unnamed logs from several folders, is said."""
    plain = _bare("Current runner version: '2.328.0'", "##[group]Run make", "##[endgroup]", "Cleaning up orphan processes")
    named = _bare("Current runner version: '2.328.0'", "Syncing repository: acme/shop", "Cleaning up orphan processes")
    for folder, data in (("projA", plain), ("projB", plain.replace(b"make", b"make all")), ("shop", named)):
        (tmp_path / "logs" / folder).mkdir(parents=True)
        (tmp_path / "logs" / folder / "build.txt").write_bytes(data)
    said: list[str] = []
    with Store(tmp_path / "s.db") as store:
        ingest_paths(store, [tmp_path / "logs"], on_warning=said.append)
        assert {r.repo for r in store.load_runs()} == {"local/projA", "local/projB", "acme/shop"}
    said.clear()
    with Store(tmp_path / "t.db") as store:
        ingest_paths(store, [tmp_path / "logs"], repo="acme/other", on_warning=said.append)
    assert any("from 2 folders" in s and "--repo acme/other" in s for s in said), said
    assert any("--repo acme/other not used for jobs whose logs name their repository: acme/shop" in s for s in said)


# -- folders, windows, names, run ids ---------------------------------------------------------------


def test_folder_ingest_decides_by_content_and_says_why_it_skips(tmp_path: Path) -> None:
    """A `.md` capture of a log is ingested from a folder as when named; other files are skipped once
    each, with the reason."""
    folder = tmp_path / "saved"
    folder.mkdir()
    (folder / "capture.md").write_bytes(_bare("Current runner version: '2.328.0'", "##[group]Run make", "##[endgroup]"))
    (folder / "notes.md").write_text("# what I saw\nnothing timestamped here\n")
    (folder / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe")
    said: list[str] = []
    with Store(tmp_path / "s.db") as store:
        summary = ingest_paths(store, [folder], on_warning=said.append)
    assert summary.jobs_new == 1
    assert len(said) == 2, said
    assert said[0] == f"skipped {folder / 'image.png'}: is not UTF-8 text"
    assert said[1].startswith(f"skipped {folder / 'notes.md'}: not a job log (")


def test_every_history_command_states_its_window(tmp_path: Path) -> None:
    """stats, incidents, recommend, backtest, report and comment say which window they used and how
    many of the jobs they left out, on stderr."""
    sample = Path(__file__).resolve().parents[1] / "data" / "sample"
    db, config = tmp_path / "s.db", sample / "we-advisor.toml"
    assert run("ingest", str(sample), "--store", str(db), "--config", str(config))[0] == 0
    expect = {
        ("stats",): "window: last 30 days ending ",
        ("incidents",): "window: last 30 days ending ",
        ("recommend", "--since", "7d"): "window: --since 7d (7 days ending ",
        ("backtest",): "backtest: limits chosen on: last 30 days ending ",
        ("report", "--html", str(tmp_path / "r.html")): "report period: --since 7d (7 days ending ",
        ("comment", "--repo", "demo/kubernaut", "--pr", "1", "--dry-run"): "recommendations from: last 30 days",
    }
    for args, start in expect.items():
        code, _, err = run(*args, "--store", str(db), "--config", str(config))
        assert code == 0, (args, err)
        line = next((x for x in err.splitlines() if x.startswith(start.split(":")[0] + ":")), "")
        assert start in err, (args, err)
        assert " jobs" in line and (" of " in line)
    code, _, err = run("stats", "--store", str(db), "--config", str(config))
    assert "; --since 20" in err and " for all" in err


def test_unknown_workflow_names_the_ones_there_are(tmp_path: Path) -> None:
    whole, _ = _job_files()
    (tmp_path / "job.txt").write_text(whole, encoding="utf-8")
    db = str(tmp_path / "s.db")
    run("ingest", str(tmp_path / "job.txt"), "--store", db, "--workflow", "CI")
    code, out, err = run("recommend", "--workflow", "Nope", "--store", db)
    assert (code, out) == (1, "")
    assert err.splitlines() == ["error: no workflow 'Nope' in the store", "hint: workflows: 'CI'"]


def test_local_runs_show_as_local_with_their_file(tmp_path: Path) -> None:
    failing = _bare("Current runner version: '2.328.0'", "##[group]Run make", "##[endgroup]", "##[error]Process completed with exit code 2.")
    (tmp_path / "logs_99.zip").write_bytes(b"")
    with zipfile.ZipFile(tmp_path / "logs_99.zip", "w") as archive:
        archive.writestr("0_build.txt", failing)
    db = str(tmp_path / "s.db")
    run("ingest", str(tmp_path / "logs_99.zip"), "--store", db)
    code, out, _ = run("incidents", "--store", db, "--since", "2000-01-01")
    assert code == 0 and "local:logs_99.zip" in out and "#1" not in out


def test_shortened_names_stay_different() -> None:
    names = [f"go-pkg:github.com/demo/kubernaut/pkg/{p}" for p in ("audit", "gateway", "shared/backoff", "shared/k8sutil")]
    short = shorten_names(names, 28)
    assert len(set(short)) == 4 and all(len(s) <= 28 for s in short)
    same_start = ["kubectl-wait:deployment/a-very-long-name-one", "kubectl-wait:deployment/a-very-long-name-two"]
    assert shorten_names(same_start, 20) == ["kubectl…ong-name-one", "kubectl…ong-name-two"]
    assert shorten_names(["short", None], 10) == ["short", "-"]


def test_a_store_from_before_the_identity_rule_is_migrated_and_deduplicated(tmp_path: Path) -> None:
    """A version-1 store holding the zip and the bare log of one job as two jobs: opened, it gains the
    new tables; the next parse keeps the richer copy only."""
    whole, steps = _job_files()
    path = tmp_path / "s.db"
    with Store(path) as store:
        for job_id, parts in ((-11, [(0, None, whole.encode())]),
                              (-12, [(0, None, whole.encode())] + [(n, name, text.encode()) for n, (name, text) in enumerate(steps, 1)])):  # fmt: skip
            store.save_run(Run("local/logs", job_id, 1, "(local)"))
            store.save_job(Job("local/logs", job_id, job_id, 1, "(local)", "test"))
            for part, name, data in parts:
                store.save_log(job_id, data, part=part, name=name)
    with sqlite3.connect(path) as conn:  # version 1's shape: without the tables and columns added since
        conn.execute("DROP TABLE job_identity")
        conn.execute("DROP TABLE local_runs")
        drop_run_context(conn)  # a later version's columns: a version-1 store has none of them
        conn.execute("UPDATE meta SET value='1' WHERE key='schema_version'")
    with Store(path, create=False) as store:
        reparse(store, ())
        assert store.job_ids() == [-12]
        assert len(store.observations_frame().query("scope == 'job'")) == 1


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from([b"2026-01-02T03:04:05.1234567Z ", b"2026-01-02T03:04:05Z", b"\n", b"\r\n", b"x", b" ", b"Z ",
                                 b"\xef\xbb\xbf", b"2026-01-02T03:04:0", b"12"]), max_size=40).map(b"".join))  # fmt: skip
def test_identity_lines_lose_their_stamps_as_the_multiline_pattern_takes_them(data: bytes) -> None:
    """``normalized_lines`` finds the stamps after newlines (a literal-led search) where the identity rule
    says: at the start of every line, as ``(?m)^stamp`` finds them."""
    import re

    from analyzer.parse import identity

    stamp = re.compile(rb"(?m)^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.\d{1,9})?Z ?")
    text = data.replace(b"\r\n", b"\n").removeprefix(identity.BOM).replace(b"\n" + identity.BOM, b"\n")
    text = text + b"\n" if text and not text.endswith(b"\n") else text
    assert identity.normalized_lines(data) == stamp.sub(b"", text)


def test_a_checked_log_is_not_kept_once_parsed() -> None:
    """``ingest`` checks a log when it reads it and parses the same bytes once, without checking them again;
    the parse lets go of them (a library caller's last 100 MB log is not kept alive by the check's memo)."""
    from analyzer.parse.logs import text

    data = b"2026-01-01T00:00:00.0000000Z ##[group]Run make\n2026-01-01T00:00:01.0000000Z done\n"
    logs.check_log(data)
    assert text._PASSED and text._PASSED[0] is data
    logs.parse_job_log(data)
    assert not text._PASSED


def test_a_big_file_is_hashed_beside_its_checks_and_no_hashing_thread_outlives_its_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``read_file`` hashes a file of a MiB or more in a thread of its own: the batch's digest is the file's
    SHA-256 all the same, and when the file is refused the thread has ended before the error is raised
    (ingest forks worker processes later: no thread may be running then; a slow hash makes sure it would be)."""
    import hashlib
    import threading
    import time

    from analyzer.collect import archive
    from analyzer.collect.archive import read_file
    from analyzer.errors import InputError

    real_sha256 = hashlib.sha256
    hashed_by: list[str] = []

    def slow_sha256(data: bytes) -> hashlib._Hash:
        hashed_by.append(threading.current_thread().name)
        if threading.current_thread().name == "ingest-hash":
            time.sleep(0.3)
        return real_sha256(data)

    monkeypatch.setattr(archive.hashlib, "sha256", slow_sha256)

    line = b"2026-01-01T00:00:00.0000000Z ##[group]Run make\n2026-01-01T00:00:01.0000000Z building\n"
    good = tmp_path / "big.txt"
    good.write_bytes(line * (3 * (1 << 20) // len(line)))
    bad = tmp_path / "not-a-log.txt"
    bad.write_bytes(b"\xff\xfe not text" * (1 << 17))
    for path in (good, bad):
        assert path.stat().st_size >= 1 << 20
    batch = read_file(good)
    assert batch.kind == "log" and batch.sha256 == hashlib.sha256(good.read_bytes()).hexdigest()
    assert batch.jobs[0].parts[0][2] == good.read_bytes()
    with pytest.raises(InputError, match="not UTF-8 text"):
        read_file(bad)
    assert not [t for t in threading.enumerate() if t.name == "ingest-hash"]
    assert hashed_by.count("ingest-hash") == 2  # both files hashed by the thread (whose end was waited for)
    # no thread to be had: hashed all the same, by the caller
    monkeypatch.setattr(archive.threading.Thread, "start", lambda self: (_ for _ in ()).throw(RuntimeError("no")))
    again = read_file(good)
    assert again.sha256 == batch.sha256 and hashed_by.count("ingest-hash") == 2
