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
from tests.failure_histories import sample_failures
from tests.fake_export import build_export, build_rerun_export
from tests.old_stores import drop_run_context, migration_with

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
    # the five job timeouts ran far past every finished run: hangs, as `incidents` tells them too
    timeouts = next(s for s in data["signatures"] if s["kinds"] == {"hang": 5})
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
    assert err.splitlines()[0].startswith("window: --since 60d") and "10 failed job attempt(s) in 3 signature(s)" in err
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


EXCERPTS_VERSION = migration_with("FROM incidents")  # the version that added failure excerpts


def test_a_store_from_before_excerpts_is_migrated_and_filled(tmp_path: Path) -> None:
    """A store of the schema before excerpts (no excerpts table) gains the table on
    open; its failed jobs are parsed again by the next history command, which then has excerpts."""
    export = build_rerun_export(tmp_path / "export", {"e2e": [["failure", "success"], ["timeout"]]})
    db = tmp_path / "old.db"
    assert cli("ingest", str(export), "--store", str(db))[0] == 0
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("DROP TABLE excerpts")
        drop_run_context(conn)  # a later version's columns: the store before excerpts has none of them
        conn.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(EXCERPTS_VERSION - 1),))
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


# --------------------------------------------------------------------------------------------
# the bundled sample (the demo) and real logs


SAMPLE = ROOT / "data" / "sample"


@pytest.mark.skipif(not (SAMPLE / "runs.json").is_file(), reason="data/sample is absent")
def test_the_demo_answers_both_questions(tmp_path: Path) -> None:
    """On the bundled sample: every failure cause the generator wrote is one signature and no
    signature mixes two (the Tekton wait, the hanging go test, specs, unit tests, job and step
    timeouts, ...), the most frequent first; rerun rates equal those counted from the raw files."""
    from analyzer import api

    db = tmp_path / "demo.db"
    api.demo(db, reports_dir=None)
    config = str(SAMPLE / "we-advisor.toml")
    code, out, err = cli("failures", "--store", str(db), "--config", config, "--since", "60d", "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    causes, reruns = sample_failures(SAMPLE)
    signature_of = {job: s["id"] for s in data["signatures"] for job in s["member_ids"]}
    assert set(signature_of) == set(causes)
    by_cause: dict[str, set[str]] = {}
    for job, cause in causes.items():
        by_cause.setdefault(cause, set()).add(signature_of[job])
    assert {cause: len(ids) for cause, ids in by_cause.items()} == dict.fromkeys(by_cause, 1)
    assert len(data["signatures"]) == len(by_cause)  # and no signature holds two causes
    top = data["signatures"][0]
    assert top["title"] == "error: timed out waiting for the condition on deployments/tekton-pipelines-controller"
    assert top["count"] == sum(c == "tekton wait" for c in causes.values()) >= 10
    assert [s["count"] for s in data["signatures"]] == sorted((s["count"] for s in data["signatures"]), reverse=True)
    got = {(r["workflow"], r["job"]): [r["failed_attempts"], r["reruns"], r["passed_on_rerun"]] for r in data["reruns"]}
    assert got == reruns
    assert all(passed for _, _, passed in got.values())  # both jobs passed on rerun at least once


@pytest.mark.realdata
def test_real_failed_logs_through_ingest_and_the_failures_command(realdata: Path, tmp_path: Path) -> None:
    """The hand-labelled real logs of tests/failure_labels.tsv that are job logs, ingested one by one:
    the signatures the command finds (from the excerpts the store keeps, at the parser's evidence
    line) agree with the labels better than the exact first error line, and at least 0.9 ARI."""
    import csv

    from sklearn.metrics import adjusted_rand_score

    from analyzer import api
    from analyzer.config import Settings
    from analyzer.errors import LogParseError
    from analyzer.model.signatures import baseline_labels
    from analyzer.parse.logs import check_log

    labels: dict[int, str] = {}
    db = tmp_path / "real.db"
    rows = csv.DictReader((line for line in (ROOT / "tests" / "failure_labels.tsv").open() if not line.startswith("#")), delimiter="\t")
    with api.open_store(db, create=True) as store:
        for row in rows:
            path = realdata / row["path"]
            try:
                check_log(path.read_bytes())
            except LogParseError:
                continue  # a console excerpt pasted into a document, not a job log
            before = set(store.job_ids())
            api.ingest(Settings(), store, [path], repo="real/logs")
            labels.update(dict.fromkeys(set(store.job_ids()) - before, row["label"]))
        excerpts = store.load_excerpts()
    code, out, err = cli("failures", "--store", str(db), "--since", "2000-01-01", "--format", "json")
    assert code == 0, err
    signature_of = {job: s["id"] for s in json.loads(out)["signatures"] for job in s["member_ids"]}
    jobs = sorted(signature_of)
    assert len(jobs) >= 40 and set(jobs) <= set(labels)
    truth = [labels[j] for j in jobs]
    method = adjusted_rand_score(truth, [signature_of[j] for j in jobs])
    assert method >= 0.9
    assert method > adjusted_rand_score(truth, baseline_labels([excerpts[j] for j in jobs]))
