"""Failure intelligence through the real pipeline: excerpts stored by ingest and reparse, the
``failures`` command (signatures and rerun rates) on histories whose reruns and causes are known,
``recommend``'s rerun note, and the store's migration to excerpts."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from analyzer.cli import app
from analyzer.parse.logs import PARSER_VERSION
from analyzer.store import Store
from tests.fake_export import build_export, build_rerun_export

ROOT = Path(__file__).resolve().parents[1]

# Every run runs one job; its attempts end as listed (see fake_export.build_rerun_export).
PLAN = {
    "e2e": [
        ["timeout", "success"], ["timeout", "success"], ["timeout", "timeout", "success"], ["timeout"],
        ["failure", "success"], ["failure", "failure"], ["success"], ["cancelled", "success"],
    ],
    "lint": [["failure", "success"], ["failure", "success"], ["success"]],
    "unit": [["success"], ["success"]],
}  # fmt: skip


def cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def rerun_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("reruns")
    export = build_rerun_export(root / "export", PLAN)
    db = root / "store.db"
    code, _, err = cli("ingest", str(export), "--store", str(db))
    assert code == 0, err
    return db


def failures_json(db: Path, *args: str) -> tuple[dict[str, Any], str]:
    code, out, err = cli("failures", "--store", str(db), "--since", "60d", "--format", "json", *args)
    assert code == 0, err
    return json.loads(out), err


def test_rerun_rates_match_a_history_whose_reruns_are_known(rerun_store: Path) -> None:
    """e2e: 8 failed attempts (5 of them timeouts), 6 rerun, 4 passed (3 of the timeouts); a cancel is
    not a failure. lint: 2 of 2. unit never failed: not listed."""
    data, _ = failures_json(rerun_store)
    reruns = {r["job"]: r for r in data["reruns"]}
    assert set(reruns) == {"e2e", "lint"}
    e2e = reruns["e2e"]
    assert (e2e["workflow"], e2e["failed_attempts"], e2e["reruns"], e2e["passed_on_rerun"]) == ("CI", 8, 6, 4)
    assert e2e["rate"] == round(4 / 6, 4)
    assert e2e["rate_ci"][0] < 4 / 6 < e2e["rate_ci"][1]
    assert (e2e["timeouts"]["failed_attempts"], e2e["timeouts"]["reruns"], e2e["timeouts"]["passed_on_rerun"]) == (5, 4, 3)
    lint = reruns["lint"]
    assert (lint["failed_attempts"], lint["reruns"], lint["passed_on_rerun"], lint["rate"]) == (2, 2, 2, 1.0)


def test_signatures_tell_the_causes_apart_and_keep_their_ids(rerun_store: Path) -> None:
    """Job timeouts, e2e's assertion and lint's assertion are three signatures (numbers differ from run
    to run); the cancel is left out and said so; ids are the same on a second run of the command."""
    data, err = failures_json(rerun_store)
    counts = sorted((s["count"], tuple(s["jobs"])) for s in data["signatures"])
    assert counts == [(2, ("CI / lint",)), (3, ("CI / e2e",)), (5, ("CI / e2e",))]
    timeouts = next(s for s in data["signatures"] if s["kinds"] == {"job_timeout": 5})
    assert timeouts["title"] == "The job has exceeded the maximum execution time of <DUR>"
    assert timeouts["steps"] == {"Run make test": 5}
    lint = next(s for s in data["signatures"] if s["jobs"] == {"CI / lint": 2})
    assert lint["title"] == "--- FAIL: TestLintSuite (<DUR>)"  # the line that names the failed test
    assert "lint_test.go:<N>: expected <N> items, got <N>" in lint["template"]
    example = lint["examples"][0]
    assert set(example) >= {"run_id", "run_attempt", "job_id", "line", "url"}
    assert example["url"] == f"https://github.com/acme/widgets/actions/runs/{example['run_id']}/job/{example['job_id']}"
    assert re.fullmatch(r"--- FAIL: TestLintSuite \(\d\.\d\ds\)", example["line"])  # the line itself, not its template
    assert "1 cancelled attempt(s) not counted as failures" in err
    again, _ = failures_json(rerun_store)
    assert [s["id"] for s in again["signatures"]] == [s["id"] for s in data["signatures"]]
    assert {s["id"] for s in data["signatures"]} == {s["id"] for s in failures_json(rerun_store, "--workflow", "CI")[0]["signatures"]}


def test_recommend_notes_timeouts_that_passed_on_rerun(rerun_store: Path) -> None:
    code, out, err = cli("recommend", "--store", str(rerun_store), "--since", "60d", "--format", "json")
    assert code == 0, err
    recommendations = json.loads(out)["recommendations"]
    job = next(r for r in recommendations if r["scope"] == "job" and r["job"] == "e2e")
    assert "3 of 4 timeouts passed on rerun (1 more not rerun): the limit is probably too tight, or runs hang" in job["notes"]
    others = [n for r in recommendations if r is not job for n in r["notes"]]
    assert not [n for n in others if "passed on rerun" in n]


def test_table_and_markdown_formats(rerun_store: Path) -> None:
    code, out, err = cli("failures", "--store", str(rerun_store), "--since", "60d")
    assert code == 0, err
    assert out.startswith("Failure signatures, ") and "Reruns:" in out
    assert "The job has exceeded the maximum execution time of <DUR>" in out
    assert err.startswith("failures 20") and "3 failed job attempt" not in err
    code, out, _ = cli("failures", "--store", str(rerun_store), "--since", "60d", "--format", "markdown")
    assert code == 0
    assert out.startswith("## Failure signatures (") and "## Reruns" in out and "| CI | e2e | 8 | 6 | 4 |" in out


def test_excerpts_are_stored_with_the_incident_and_rebuilt_on_reparse(tmp_path: Path) -> None:
    """Every attempt with an incident gets an excerpt: its evidence line is the parser's line (the
    ##[error] line a failure ends with); a job timeout's carries the annotation as line 0. A forced
    reparse rebuilds the same excerpts."""
    export = build_export(tmp_path / "export", runs=20, jobs_per_run=2)
    db = tmp_path / "s.db"
    assert cli("ingest", str(export), "--store", str(db))[0] == 0
    with Store(db) as store:
        incidents = store.load_incidents()
        excerpts = store.load_excerpts()
        assert incidents and {i.job_id for i in incidents} == set(excerpts)
        for incident in incidents:
            excerpt = excerpts[incident.job_id]
            data = store.load_log_parts(incident.job_id)
            if incident.kind == "failure" and data:
                lines = data[0].data.decode().split("\n") if data[0].data else []
                assert excerpt.evidence_line is not None
                assert lines[excerpt.evidence_line - 1].endswith("##[error]Process completed with exit code 2.")
            if incident.kind == "job_timeout":
                assert excerpt.lines[-1].number == 0 and "maximum execution time" in excerpt.lines[-1].text
        assert any(i.kind == "job_timeout" for i in incidents)
    assert cli("reparse", "--store", str(db))[0] == 0
    with Store(db) as store:
        assert store.load_excerpts() == excerpts


def test_a_store_from_before_excerpts_is_migrated_and_filled(tmp_path: Path) -> None:
    """A schema-1 store (no excerpts table, failed jobs parsed by an older parser) gains the table on
    open; its failed jobs are parsed again by the next history command, which then has excerpts."""
    export = build_rerun_export(tmp_path / "export", {"e2e": [["failure", "success"], ["timeout"]]})
    db = tmp_path / "old.db"
    assert cli("ingest", str(export), "--store", str(db))[0] == 0
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("DROP TABLE excerpts")
        conn.execute("UPDATE meta SET value='1' WHERE key='schema_version'")
        conn.execute("UPDATE parse_state SET parser_version=?", (PARSER_VERSION,))  # as if no parser change came with it
    conn.close()
    with Store(db) as store:
        assert store.load_excerpts() == {}
        assert len(store.stale_jobs(PARSER_VERSION, "x")) == 3  # all, under another rule set
    conn = sqlite3.connect(db)
    stale = conn.execute("SELECT COUNT(*) FROM jobs j LEFT JOIN parse_state p USING (job_id) WHERE p.job_id IS NULL").fetchone()[0]
    conn.close()
    assert stale == 2  # the two failed attempts
    data, _ = failures_json(db)
    assert sorted(s["count"] for s in data["signatures"]) == [1, 1]
    with Store(db) as store:
        assert len(store.load_excerpts()) == 2
