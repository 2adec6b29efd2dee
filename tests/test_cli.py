"""Every command through typer's CliRunner: a happy path and an error path with its exact message."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from analyzer.cli import app

ROOT = Path(__file__).resolve().parents[1]

runner = CliRunner()

LOG = (
    "\ufeff2026-03-02T10:00:00.0000000Z Current runner version: '2.323.0'\n"
    "2026-03-02T10:00:00.1000000Z Complete job name: e2e\n"
    "2026-03-02T10:00:01.0000000Z ##[group]Run make e2e\n"
    "2026-03-02T10:00:01.0100000Z make e2e\n"
    "2026-03-02T10:00:01.0200000Z ##[endgroup]\n"
    "2026-03-02T10:00:02.0000000Z Waiting for Tekton Pipelines controller to be ready...\n"
    "2026-03-02T10:05:02.0000000Z error: timed out waiting for the condition on deployments/tekton-pipelines-controller\n"
    "2026-03-02T10:05:03.0000000Z ##[error]Process completed with exit code 1.\n"
    "2026-03-02T10:05:04.0000000Z Cleaning up orphan processes\n"
)
CONFIG = (
    "[[phases]]\nname = 'tekton-wait'\nstart = 'Waiting for Tekton Pipelines controller'\n"
    "end = 'condition met|timed out waiting for the condition'\ntimeout_s = 300\n"
)


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def logfile(tmp_path: Path) -> Path:
    path = tmp_path / "job.txt"
    path.write_text(LOG, encoding="utf-8")
    return path


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "we-advisor.toml"
    path.write_text(CONFIG)
    return path


def test_ingest_then_stats_json(tmp_path: Path, logfile: Path, config: Path) -> None:
    """A log ingested is measured: job, step and phase rows, the timed-out phase censored at 300 s, and
    the job it ended too (an inner limit stopped it: it lasted at least its 304 s)."""
    db = str(tmp_path / "s.db")
    code, _, err = run("ingest", str(logfile), "--store", db, "--config", str(config))
    assert code == 0, err
    assert "1 new job(s)" in err
    code, out, _ = run("stats", "--store", db, "--config", str(config), "--format", "json")
    assert code == 0
    rows = json.loads(out)
    phase = next(r for r in rows if r["phase"] == "tekton-wait")
    assert (phase["samples"], phase["censored"]) == (1, 1)
    assert phase["p50_s"] is None
    job = next(r for r in rows if r["scope"] == "job")
    assert job["job"] == "e2e"
    assert (job["samples"], job["censored"], job["p50_s"]) == (1, 1, None)  # ended by its step's limit: censored
    assert set(job) == {"scope", "workflow", "job", "step", "phase", "samples", "censored", "p50_s", "p90_s", "p95_s", "p99_s",
                        "queued_samples", "queued_p50_s", "queued_p90_s", "queued_p95_s", "queued_p99_s", "queued_max_s",
                        "not_started"}  # fmt: skip
    # a bare log without the runner's pre-job lines: its queue time is unknown, none is made up
    assert (job["queued_samples"], job["queued_p50_s"], job["not_started"]) == (0, None, 0)
    assert phase["queued_samples"] is None  # steps and phases have no queue time


def test_ingest_twice_adds_nothing(tmp_path: Path, logfile: Path) -> None:
    """The same file ingested again is recognized."""
    db = str(tmp_path / "s.db")
    run("ingest", str(logfile), "--store", db)
    code, _, err = run("ingest", str(logfile), "--store", db)
    assert code == 0
    assert "0 new job(s), 1 already in the store" in err


def test_incidents_json(tmp_path: Path, logfile: Path, config: Path) -> None:
    """The kubectl timeout is the job's incident, with its evidence line."""
    db = str(tmp_path / "s.db")
    run("ingest", str(logfile), "--store", db, "--config", str(config))
    code, out, err = run("incidents", "--store", db, "--config", str(config), "--format", "json")
    assert code == 0, err
    (incident,) = json.loads(out)
    assert incident["kind"] == "tool_timeout"
    assert incident["evidence"].startswith("error: timed out waiting for the condition")
    assert incident["step"] == "Run make e2e"
    for key in ("run_id", "run_attempt", "job_id", "job", "step_number", "step", "phase", "kind", "limit_s", "evidence"):
        assert key in incident


def test_stats_csv_and_table(tmp_path: Path, logfile: Path) -> None:
    """The other formats render the same rows."""
    db = str(tmp_path / "s.db")
    run("ingest", str(logfile), "--store", db)
    code, out, _ = run("stats", "--store", db, "--format", "csv")
    assert code == 0
    assert out.splitlines()[0] == (
        "scope,workflow,job,step,phase,samples,censored,p50_s,p90_s,p95_s,p99_s,"
        "queued_samples,queued_p50_s,queued_p90_s,queued_p95_s,queued_p99_s,queued_max_s,not_started"
    )
    code, out, _ = run("stats", "--store", db)
    assert code == 0
    assert "e2e" in out


def test_reparse_after_rule_change(tmp_path: Path, logfile: Path, config: Path) -> None:
    """A phase rule added later is applied to stored logs without re-ingesting."""
    db = str(tmp_path / "s.db")
    run("ingest", str(logfile), "--store", db)
    _, out, _ = run("stats", "--store", db, "--format", "json")
    assert not any(r["phase"] == "tekton-wait" for r in json.loads(out))
    code, _, err = run("reparse", "--store", db, "--config", str(config))
    assert code == 0
    assert "reparsed 1 job(s)" in err
    _, out, _ = run("stats", "--store", db, "--config", str(config), "--format", "json")
    assert any(r["phase"] == "tekton-wait" for r in json.loads(out))
    # rules apply at analysis time: without the config the phase is gone again
    _, out, _ = run("stats", "--store", db, "--format", "json")
    assert not any(r["phase"] == "tekton-wait" for r in json.loads(out))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty"),
        (b"\x00\x01\x02binary\xff", "not UTF-8 text"),
        (b"\xff\xfe invalid utf-8 \xc3\x28", "not UTF-8 text"),
        (b"just some text\nnot a log\n", "does not look like a GitHub Actions job log"),
    ],
)
def test_ingest_bad_file(tmp_path: Path, content: bytes, message: str) -> None:
    """A bad file named on the command line: one error line, one hint line, exit 1, no store written."""
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    db = tmp_path / "s.db"
    code, out, err = run("ingest", str(path), "--store", str(db))
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("error: ") and message in lines[0]
    assert lines[1].startswith("hint: ")
    assert out == ""
    assert "Traceback" not in err


def test_ingest_not_a_zip(tmp_path: Path) -> None:
    """A .zip that is not an archive (and not a log either) is refused."""
    path = tmp_path / "logs.zip"
    path.write_bytes(b"this is not a zip file at all")
    code, _, err = run("ingest", str(path), "--store", str(tmp_path / "s.db"))
    assert code == 1
    assert f"error: {path} is not a zip archive" in err


def test_ingest_ten_megabyte_line(tmp_path: Path) -> None:
    """A 10 MB single line without a timestamp is refused quickly, not parsed for minutes."""
    path = tmp_path / "line.txt"
    path.write_bytes(b"x" * (10 * 1024 * 1024))
    code, _, err = run("ingest", str(path), "--store", str(tmp_path / "s.db"))
    assert code == 1
    assert "does not look like a GitHub Actions job log" in err


def test_bad_file_in_folder_is_skipped_with_a_warning(tmp_path: Path, logfile: Path) -> None:
    """Inside a folder, a bad log is a warning and a skip; the good ones are ingested."""
    folder = tmp_path / "logs"
    folder.mkdir()
    (folder / "good.txt").write_text(LOG, encoding="utf-8")
    (folder / "bad.txt").write_bytes(b"\x00\x00")
    code, _, err = run("ingest", str(folder), "--store", str(tmp_path / "s.db"))
    assert code == 0
    assert "warning: skipped" in err and "bad.txt" in err
    assert "1 new job(s)" in err


def test_malformed_config(tmp_path: Path, logfile: Path) -> None:
    """A malformed we-advisor.toml stops the command before anything is written."""
    bad = tmp_path / "we-advisor.toml"
    bad.write_text("repo = ")
    db = tmp_path / "s.db"
    code, _, err = run("ingest", str(logfile), "--store", str(db), "--config", str(bad))
    assert code == 1
    assert err.startswith(f"error: {bad} is not valid TOML")
    assert not db.exists()


def test_stats_without_store(tmp_path: Path) -> None:
    """Analysis commands on a missing store say what to run first."""
    code, _, err = run("stats", "--store", str(tmp_path / "none.db"))
    assert code == 1
    assert err.splitlines()[0] == f"error: no store at {tmp_path / 'none.db'}"


def test_store_that_is_not_sqlite(tmp_path: Path) -> None:
    """A --store that is some other file is refused and left alone."""
    path = tmp_path / "notes.db"
    path.write_text("hello")
    code, _, err = run("incidents", "--store", str(path))
    assert code == 1
    assert err.splitlines()[0] == f"error: {path} is not a SQLite database"
    assert path.read_text() == "hello"


def test_bad_since(tmp_path: Path, logfile: Path) -> None:
    """--since takes Nd or a date."""
    db = str(tmp_path / "s.db")
    run("ingest", str(logfile), "--store", db)
    code, _, err = run("stats", "--store", db, "--since", "yesterday")
    assert code == 1
    assert "error: --since 'yesterday' is neither Nd nor a date" in err


def test_store_from_environment(tmp_path: Path, logfile: Path) -> None:
    """WE_ADVISOR_STORE sets the default store."""
    db = tmp_path / "env.db"
    code, _, _ = run("ingest", str(logfile), env={"WE_ADVISOR_STORE": str(db)})
    assert code == 0
    assert db.exists()


def test_usage_error_is_exit_2() -> None:
    """An unknown option is a usage error."""
    code, _, _ = run("stats", "--no-such-option")
    assert code == 2


def _command_paths() -> list[tuple[str, ...]]:
    """Every command a user can run, subcommands included (``("bootstrap", "run")``), from typer's own tree."""
    import typer.main

    paths: list[tuple[str, ...]] = []

    def walk(command: Any, path: tuple[str, ...]) -> None:
        subcommands = getattr(command, "commands", None)
        if subcommands:
            for name, sub in subcommands.items():
                walk(sub, (*path, name))
        else:
            paths.append(path)

    walk(typer.main.get_command(app), ())
    return paths


def test_the_command_tree_is_walked_whole() -> None:
    """The help test below sees every command and both bootstrap subcommands (a walk that missed a
    level would make it pass on nothing)."""
    paths = _command_paths()
    assert {("bootstrap", "run"), ("bootstrap", "plan"), ("fetch",), ("demo",), ("comment",)} <= set(paths)
    assert len(paths) == 15


@pytest.mark.parametrize("path", _command_paths(), ids=" ".join)
def test_every_command_has_help_with_an_example_and_is_in_readme(path: tuple[str, ...]) -> None:
    """Each command and subcommand documents itself with an example of itself, and the README names it."""
    name = " ".join(path)
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, name
    assert f"Example: we-advisor {name} " in result.stdout or f"Example: we-advisor {name}\n" in result.stdout, name
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert re.search(rf"`(we-advisor )?{re.escape(name)}\b", readme), f"{name} missing from README"


def test_demo_runs_offline() -> None:
    """The demo ingests the bundled sample and reports what it found."""
    code, out, err = run("demo")
    assert code == 0, err
    assert "incidents" in out.lower()
    assert "tool_timeout" in out


def test_verbose_is_global_and_documented(tmp_path: Path) -> None:
    """-v/--verbose comes before or after the command, is in --help, and adds debug lines before the error and hint."""
    code, out, _ = run("--help")
    assert code == 0 and "--verbose" in out and "-v" in out
    missing = tmp_path / "none.db"
    code, _, quiet = run("stats", "--store", str(missing))
    assert (code, quiet.splitlines()) == (1, [f"error: no store at {missing}", quiet.splitlines()[1]])
    code, _, loud = run("-v", "stats", "--store", str(missing))
    assert code == 1
    assert loud.startswith("debug: ") and "StoreError" in loud
    assert loud.splitlines()[-2:] == quiet.splitlines()
    for args in (("stats", "-v", "--store", str(missing)), ("stats", "--store", str(missing), "--verbose")):
        code, _, after = run(*args)
        assert code == 1 and after.startswith("debug: ") and after.splitlines()[-2:] == quiet.splitlines()


def test_store_and_config_before_or_after_the_command(tmp_path: Path, logfile: Path, config: Path) -> None:
    """`we-advisor --store X --config C stats` is `we-advisor stats --store X --config C`, for a group's
    subcommand too; an option value that looks like -v is left alone; --help shows no type for flags."""
    db = str(tmp_path / "s.db")
    assert run("--store", db, "ingest", str(logfile))[0] == 0
    code, before, err = run("--store", db, f"--config={config}", "stats", "--format", "json")
    assert code == 0, err
    assert before == run("stats", "--format", "json", "--store", db, "--config", str(config))[1]
    assert "window: last 30 days ending 2026-03-02: 1 of 1 jobs" in err
    code, _, err = run("--store", db, "stats", "--workflow", "-v")
    assert (code, err.splitlines()[0]) == (1, "error: no workflow '-v' in the store")
    plan = tmp_path / "plan.toml"
    plan.write_text("[[task]]\nname = 'a'\nrun = 'true'\n")
    code, out, err = run("--store", db, "bootstrap", "plan", str(plan), "--format", "json")
    assert code == 0 and "critical_path" in json.loads(out), err
    assert "<bool>" not in run("fetch", "--help")[1] and "<bool>" not in run("--help")[1]


def test_tables_show_control_characters_as_symbols() -> None:
    """A step named with an escape sequence cannot drive the terminal that prints the table."""
    from analyzer.formatting import render_table

    text = render_table(["step", "p50"], [["\x1b]0;pwned\x07e2e\r\nfake row", "1s"]])
    assert "\x1b" not in text and "\x07" not in text and "\r" not in text
    assert "␛]0;pwned␇e2e␍␊fake row" in text
    assert len(text.splitlines()) == 3


def test_version_prints_package_and_store_schema(tmp_path: Path) -> None:
    """One line with the installed package's version and the schema of the stores it reads and writes;
    nothing else runs (no store is opened or created, no command is needed)."""
    from importlib.metadata import version

    from analyzer.store import SCHEMA_VERSION

    result = CliRunner().invoke(app, ["--version"], env={"WE_ADVISOR_STORE": str(tmp_path / "never.db")})
    assert result.exit_code == 0, result.output
    assert result.stdout == f"we-advisor {version('we-advisor')} (store schema {SCHEMA_VERSION})\n"
    assert re.fullmatch(r"we-advisor \d+\.\d+\.\d+\S* \(store schema \d+\)\n", result.stdout)
    assert not (tmp_path / "never.db").exists()


@pytest.mark.parametrize("args", [("--help",), ("export", "--help"), ("recommend", "--help")])
def test_help_into_a_pipe_nobody_reads_ends_quietly(args: tuple[str, ...]) -> None:
    """`we-advisor export --help | head -1`: the reader is gone; no "unexpected BrokenPipeError"."""
    import os
    import subprocess
    import sys

    read, write = os.pipe()
    os.close(read)  # closed before anything is written: the first write fails with EPIPE
    try:
        done = subprocess.run([sys.executable, "-m", "analyzer", *args], stdout=write, stderr=subprocess.PIPE,
                              timeout=120, check=False)  # fmt: skip
    finally:
        os.close(write)
    assert done.stderr.decode() == ""
    assert done.returncode == 1  # click's exit for a closed pipe, as at the top level


def test_a_closed_pipe_inside_a_command_is_left_to_click() -> None:
    """A command's (or its --help's) output into a pipe whose reader left: click's own quiet exit, never
    "error: unexpected BrokenPipeError" with the "report it" hint."""
    from analyzer.cli.app import user_errors

    with pytest.raises(BrokenPipeError), user_errors():
        raise BrokenPipeError(32, "Broken pipe")


def test_a_window_without_jobs_says_so_not_that_the_store_is_empty() -> None:
    """A store of bootstrap events holds phases but no job: the window line must not say it is empty."""
    from analyzer.window import Window

    line = Window(start=None, end=None, since=None, days=30, jobs=0, total=0, oldest=None, newest=None).line()
    assert line == "window: no job observations in the store"
