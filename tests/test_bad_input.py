"""Bad input for every command: one ``error:`` line, one ``hint:`` line, exit 1, nothing written.

One table: each command's valid invocation (``BASE``) with one malformed input swapped in
(``Case``). Every case runs in a folder of its own, and everything in that folder (the store it
starts from included) must be byte-identical afterwards: no store created, no ``-wal`` left
behind, no report, recommendation, patch or events file written, not even half of one. Below the
table, hypothesis fuzzes the zip reader.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import shutil
import sqlite3
import struct
import tempfile
import warnings
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from analyzer.cli import app
from analyzer.collect import ingest
from analyzer.errors import AdvisorError
from analyzer.store import SCHEMA_VERSION, Store
from tests.fake_github import COMMENT_PR, REPO_NAME, SINCE, TOKEN, FakeGitHub, Faults, build_export

runner = CliRunner()

LOG = (
    "\ufeff2026-03-02T10:00:00.0000000Z Current runner version: '2.323.0'\n"
    "2026-03-02T10:00:00.1000000Z Complete job name: e2e\n"
    "2026-03-02T10:00:01.0000000Z ##[group]Run make e2e\n"
    "2026-03-02T10:00:01.0200000Z ##[endgroup]\n"
    "2026-03-02T10:00:02.0000000Z Waiting for Tekton Pipelines controller to be ready...\n"
    "2026-03-02T10:05:02.0000000Z error: timed out waiting for the condition on deployments/tekton\n"
    "2026-03-02T10:05:03.0000000Z ##[error]Process completed with exit code 1.\n"
)
PLAN = b'name = "setup"\n[[task]]\nname = "one"\nrun = ["true"]\ntimeout_s = 5\n'
TEN_MB = 10 * 1024 * 1024
BROKEN_PR, CHANGING_PR = 9, 9  # on `comment`: its head breaks a workflow; on `readonly`: it raises a timeout
WORKFLOW_FILE = ".github/workflows/e2e.yml"
WORKFLOW_TEXT = "name: E2E\non: [push]\njobs:\n  e2e:\n    runs-on: ubuntu-latest\n    timeout-minutes: 30\n    steps:\n      - run: make\n"


def run_log_zip(members: dict[str, str | bytes] | None = None) -> bytes:
    """A run-log archive as GitHub serves it: ``N_job.txt`` and ``job/N_step.txt``."""
    members = members if members is not None else {"0_e2e.txt": LOG, "e2e/1_Set up job.txt": LOG}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def declared_size(data: bytes, size: int) -> bytes:
    """The archive with every member's uncompressed size (local and central headers) set to ``size``."""
    out = bytearray(data)
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = out.find(signature)
        while at >= 0:
            out[at + offset : at + offset + 4] = struct.pack("<I", size)
            at = out.find(signature, at + 4)
    return bytes(out)


def corrupt_deflate(data: bytes) -> bytes:
    """The first member's compressed bytes replaced by garbage (headers intact)."""
    out = bytearray(data)
    start = 30 + struct.unpack("<H", out[26:28])[0] + struct.unpack("<H", out[28:30])[0]
    out[start : start + 16] = b"\xff" * 16
    return bytes(out)


def encrypted_flag(data: bytes) -> bytes:
    """Every member marked encrypted (general purpose flag bit 0), as a password-protected zip is."""
    out = bytearray(data)
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = out.find(signature)
        while at >= 0:
            out[at + offset] |= 1
            at = out.find(signature, at + 4)
    return bytes(out)


def export_folder(runs: bytes = b'{"workflow_runs": []}', jobs: bytes | None = None) -> dict[str, bytes]:
    files = {"export/repo.json": b'{"full_name": "acme/operator"}', "export/runs.json": runs}
    files["export/jobs/1.json"] = jobs if jobs is not None else b'{"jobs": []}'
    return files


GOOD_EXPORT_RUNS = json.dumps(
    {"workflow_runs": [{"id": 1, "run_attempt": 1, "name": "CI", "created_at": "2026-03-02T10:00:00Z"}]}
).encode()


# -- the table ---------------------------------------------------------------------------------

# Each command's valid invocation; {name} is filled from the case's context.
BASE: dict[str, tuple[str, ...]] = {
    "ingest": ("ingest", "{input}", "--store", "{store}"),
    "reparse": ("reparse", "--store", "{store}"),
    "stats": ("stats", "--store", "{store}", "--since", "{since}"),
    "incidents": ("incidents", "--store", "{store}", "--since", "{since}"),
    "failures": ("failures", "--store", "{store}", "--since", "{since}", "--format", "json"),
    "recommend": ("recommend", "--store", "{store}", "--output", "{output}", "--quantile", "{quantile}"),
    "backtest": ("backtest", "--store", "{store}", "--split", "{split}"),
    "report": (
        "report",
        "--store",
        "{store}",
        "--html",
        "{html}",
        "--markdown",
        "{tmp}/weekly.md",
        "--since",
        "{since}",
    ),
    "comment": ("comment", "--repo", "{repo}", "--pr", "{pr}", "--api-url", "{comment}", "--store", "{store}"),
    "check": ("check", "--repo", "{repo}", "--pr", "{pr}", "--api-url", "{comment}", "--store", "{store}"),
    "fetch": ("fetch", "--repo", "{repo}", "--since", "{since}", "--api-url", "{github}", "--store", "{store}"),
    "bootstrap run": ("bootstrap", "run", "{plan}", "--timeouts", "{timeouts}", "--events", "{tmp}/events.jsonl"),
    "bootstrap plan": ("bootstrap", "plan", "{plan}", "--timeouts", "{timeouts}", "--store", "{store}", "--runs", "20"),
    "demo": ("demo", "--store", "{store}"),
    "export": ("export", "{export}", "--store", "{store}"),
}
WITH_STORE = [c for c in BASE if "{store}" in BASE[c]]
WITH_CONFIG = [c for c in WITH_STORE if c != "demo"]


@dataclass(frozen=True)
class Case:
    """A malformed input: files to lay down (paths under the case's folder), context to change, the
    fragment its error line must contain."""

    name: str
    message: str
    files: dict[str, bytes] = field(default_factory=dict)
    context: dict[str, str] = field(default_factory=dict)
    extra: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)


def _schema_99(path: Path) -> None:
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("UPDATE meta SET value='99' WHERE key='schema_version'")


def _foreign(path: Path) -> None:
    path.unlink()
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
        conn.execute("INSERT INTO notes (text) VALUES ('mine')")


STORE_CASES = [
    Case(
        "not-sqlite", "is not a SQLite database", {"bad.db": b"hello, I am not a database\n"}, {"store": "{tmp}/bad.db"}
    ),
    Case("binary", "is not a SQLite database", {"bad.db": bytes(range(256)) * 64}, {"store": "{tmp}/bad.db"}),
    Case(
        "sqlite-header-then-garbage",
        "store",
        {"bad.db": b"SQLite format 3\x00" + b"\xa5" * 8192},
        {"store": "{tmp}/bad.db"},
    ),
    Case("truncated", "store", {"bad.db": b"@truncated"}, {"store": "{tmp}/bad.db"}),
    Case(
        "foreign-database",
        "is a SQLite database but not a we-advisor store",
        {"bad.db": b"@foreign"},
        {"store": "{tmp}/bad.db"},
    ),
    Case(
        "newer-schema",
        f"has schema version 99, newer than this we-advisor ({SCHEMA_VERSION})",
        {"bad.db": b"@schema99"},
        {"store": "{tmp}/bad.db"},
    ),
    Case("directory", "is a directory", {"bad.db/keep": b""}, {"store": "{tmp}/bad.db"}),
]
CONFIG_CASES = [
    Case("malformed-toml", "is not valid TOML", {"bad.toml": b"repo = \n"}),
    Case("binary", "is not UTF-8 text", {"bad.toml": b"\x00\x01\x02\xff\xfe\x89PNG"}),
    Case("invalid-utf8", "is not UTF-8 text", {"bad.toml": b'repo = "caf\xe9/x"\n'}),
    Case("ten-mb-line", "is not valid TOML", {"bad.toml": b"x" * TEN_MB}),
    Case("json-not-toml", "is not valid TOML", {"bad.toml": b'{"repo": "a/b"}\n'}),
    Case("unknown-key", "unknown key 'colour'", {"bad.toml": b"colour = 1\n"}),
    Case("bad-regex", "is not a valid regex", {"bad.toml": b"[[phases]]\nname = 'x'\nstart = '('\n"}),
    Case("wrong-type", "quantile has the wrong type", {"bad.toml": b"quantile = 'high'\n"}),
    Case("missing", "does not exist", {}, {"config": "{tmp}/nope.toml"}),
]
INGEST_CASES = [
    Case("empty", "is empty", {"in.txt": b""}),
    Case("binary", "not UTF-8 text", {"in.txt": b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 16}),
    Case("invalid-utf8", "not UTF-8 text", {"in.txt": LOG.encode()[:200] + b"\xff\xfe\xc3\x28" + LOG.encode()[200:]}),
    Case("not-a-log", "does not look like a GitHub Actions job log", {"in.txt": b"just some text\nnot a log\n"}),
    Case("ten-mb-line", "does not look like a GitHub Actions job log", {"in.txt": b"x" * TEN_MB}),
    Case("nul-bytes", "the log is binary data", {"in.txt": b"\x00" * 4096}),
    Case("cr-only-text", "does not look like a GitHub Actions job log", {"in.txt": b"no\rtimestamps\rhere\r"}),
    Case("not-a-zip", "is not a zip archive", {"in.zip": b"this is not a zip file at all"}, {"input": "{tmp}/in.zip"}),
    Case("pk-header-garbage", "zip", {"in.zip": b"PK\x03\x04" + b"\x00\xff" * 500}, {"input": "{tmp}/in.zip"}),
    Case("zip-bomb-declared", "more than a run log can be", {"in.zip": b"@bomb"}, {"input": "{tmp}/in.zip"}),
    Case("zip-lies-about-size", "zip", {"in.zip": b"@lying-zip"}, {"input": "{tmp}/in.zip"}),
    Case("truncated-zip", "zip", {"in.zip": b"@truncated-zip"}, {"input": "{tmp}/in.zip"}),
    Case("corrupt-deflate", "zip", {"in.zip": b"@corrupt-zip"}, {"input": "{tmp}/in.zip"}),
    Case("encrypted-zip", "zip", {"in.zip": b"@encrypted-zip"}, {"input": "{tmp}/in.zip"}),
    Case("zip-without-logs", "holds no job logs", {"in.zip": b"@zip-no-logs"}, {"input": "{tmp}/in.zip"}),
    Case("zip-of-binary-logs", "holds no job logs", {"in.zip": b"@zip-binary-logs"}, {"input": "{tmp}/in.zip"}),
    Case("events-not-json", "not a JSON line", {"in.jsonl": b"{not json\n"}, {"input": "{tmp}/in.jsonl"}),
    Case("events-binary", "not UTF-8 text", {"in.jsonl": b"\xff\xfe\x00\x01"}, {"input": "{tmp}/in.jsonl"}),
    Case("events-not-events", "not a bootstrap event", {"in.jsonl": b'{"a": 1}\n'}, {"input": "{tmp}/in.jsonl"}),
    Case("export-runs-not-json", "is not valid JSON", export_folder(runs=b"{oops"), {"input": "{tmp}/export"}),
    Case("export-runs-binary", "is not valid JSON", export_folder(runs=b"\xff\x00\xfe"), {"input": "{tmp}/export"}),
    Case(
        "export-runs-wrong-shape",
        "is not a workflow runs listing",
        export_folder(runs=b"[1, 2]"),
        {"input": "{tmp}/export"},
    ),
    Case(
        "export-bad-run",
        "runs.json: workflow run: field 'id' is missing",
        export_folder(runs=b'{"workflow_runs": [{"name": 1}]}'),
        {"input": "{tmp}/export"},
    ),
    # the runs are valid and saved first: the bad jobs file after them must roll them back
    Case(
        "export-jobs-not-json",
        "is not valid JSON",
        export_folder(GOOD_EXPORT_RUNS, jobs=b"{"),
        {"input": "{tmp}/export"},
    ),
    Case(
        "export-bad-job",
        "1.json: job: field 'id' is missing",
        export_folder(GOOD_EXPORT_RUNS, jobs=b'{"jobs": [{"id": "x", "run_id": []}]}'),
        {"input": "{tmp}/export"},
    ),
    Case("missing", "does not exist", {}, {"input": "{tmp}/nope.txt"}),
]
PLAN_CASES = [
    Case("empty", "task", {"plan.toml": b""}),
    Case("binary", "is not UTF-8 text", {"plan.toml": b"\x00\x01\xff\xfe"}),
    Case("invalid-utf8", "is not UTF-8 text", {"plan.toml": PLAN.replace(b"one", b"\xe9t\xe9")}),
    Case("malformed-toml", "is not valid TOML", {"plan.toml": b"[[task]\nname = 'x'\n"}),
    Case("ten-mb-line", "is not valid TOML", {"plan.toml": b"x" * TEN_MB}),
    Case("wrong-types", "task", {"plan.toml": b"[[task]]\nname = 1\nrun = 2\n"}),
    Case(
        "cycle",
        "dependency cycle: a -> b -> a",
        {"plan.toml": b"[[task]]\nname='a'\nrun='true'\nneeds=['b']\n[[task]]\nname='b'\nrun='true'\nneeds=['a']\n"},
    ),
    Case("unknown-need", "needs unknown task", {"plan.toml": b"[[task]]\nname='a'\nrun='true'\nneeds=['zz']\n"}),
    Case("missing", "does not exist", {}, {"plan": "{tmp}/nope.toml"}),
]
TIMEOUTS_CASES = [
    Case("malformed-json", "is not valid JSON", {"t.json": b'{"recommendations": ['}),
    Case("binary", "is not valid JSON", {"t.json": b"\xff\xfe\x00\x01"}),
    Case("empty", "is not valid JSON", {"t.json": b""}),
    Case("ten-mb-line", "is not valid JSON", {"t.json": b"[" * 100 + b"x" * TEN_MB}),
    Case("wrong-shape", "is not a recommendations file", {"t.json": b"[1, 2, 3]"}),
    Case("missing", "does not exist", {}, {"timeouts": "{tmp}/nope.json"}),
]


URL_CASES = [
    Case("url-no-server", "cannot connect to the store postgresql://ci:***@127.0.0.1:1/ci",
         context={"store": "postgresql://ci:pw-Zx8@127.0.0.1:1/ci"}),
    Case("url-other-scheme", "is neither a file nor a PostgreSQL URL", context={"store": "mysql://ci@127.0.0.1/ci"}),
    Case("url-bad-port", "--store is not a valid URL", context={"store": "postgresql://ci@127.0.0.1:port/ci"}),
    Case("url-no-database", "names no database", context={"store": "postgresql://ci@127.0.0.1:5432"}),
]  # fmt: skip


def _rows() -> Iterator[tuple[str, Case]]:
    for command in WITH_STORE:
        for case in STORE_CASES:
            yield command, Case(f"store-{case.name}", case.message, case.files, case.context)
    for command in WITH_CONFIG:
        for case in CONFIG_CASES:
            context = case.context or {"config": "{tmp}/bad.toml"}
            yield (
                command,
                Case(f"config-{case.name}", case.message, case.files, context, ("--config", context["config"])),
            )
    for case in INGEST_CASES:
        yield "ingest", Case(f"input-{case.name}", case.message, case.files, {"input": "{tmp}/in.txt", **case.context})
        yield "ingest", Case(f"input-{case.name}-new-store", case.message, case.files,
                             {"input": "{tmp}/in.txt", **case.context, "store": "{tmp}/new/store.db"})  # fmt: skip
    for command in ("bootstrap run", "bootstrap plan"):
        for case in PLAN_CASES:
            yield (
                command,
                Case(f"plan-{case.name}", case.message, case.files, {"plan": "{tmp}/plan.toml", **case.context}),
            )
        for case in TIMEOUTS_CASES:
            yield (
                command,
                Case(f"timeouts-{case.name}", case.message, case.files, {"timeouts": "{tmp}/t.json", **case.context}),
            )
    for command in ("stats", "incidents", "failures", "report", "fetch"):
        yield command, Case("since-not-a-date", "is neither Nd nor a date", context={"since": "yesterday"})
    yield "backtest", Case("split-not-a-date", "--split 'soon' is neither Nd nor a date", context={"split": "soon"})
    yield "recommend", Case("quantile-out-of-range", "quantile", context={"quantile": "1.5"})
    yield "export", Case("into-a-file", "is not a folder", {"taken": b"x"}, {"export": "{tmp}/taken"})
    for command in WITH_CONFIG:  # a database URL that cannot be used (no server is asked for more than a connection)
        for case in URL_CASES:
            yield command, Case(f"store-{case.name}", case.message, case.files, case.context)
    for command in ("stats", "incidents", "recommend", "backtest"):  # the error names the workflows there are
        yield command, Case("unknown-workflow", "no workflow 'Nope' in the store", extra=("--workflow", "Nope"))
    yield "recommend", Case("output-in-missing-folder", "cannot write", context={"output": "{tmp}/nope/recs.json"})
    yield "recommend", Case("patch-missing-folder", "nope is not a directory", extra=("--patch", "{tmp}/nope"))
    yield "report", Case("html-under-a-file", "cannot write", {"file": b"x"}, {"html": "{tmp}/file/index.html"})
    yield "report", Case("markdown-is-a-folder", "cannot write", {"md/keep": b""}, {"html": "{tmp}/out/index.html"},
                         ("--markdown", "{tmp}/md"))  # fmt: skip
    yield "bootstrap run", Case("events-is-a-folder", "cannot write events", {"ev/keep": b""}, extra=("--events", "{tmp}/ev"))
    workflows = "co/.github/workflows"
    yield "recommend", Case("patch-binary-workflow", "a.yml", {f"{workflows}/a.yml": b"\xff\xfe\x00\x01"},
                            extra=("--patch", "{tmp}/co"))  # fmt: skip
    # (malformed YAML in a checkout is a warning and the file is skipped: not a case here)
    yield "fetch", Case("bad-token", "GitHub rejected the token", env={"GITHUB_TOKEN": "wrong-token-123456"})
    yield "fetch", Case("bad-token-new-store", "GitHub rejected the token", context={"store": "{tmp}/new/s.db"},
                        env={"GITHUB_TOKEN": "wrong-token-123456"})  # fmt: skip
    yield "fetch", Case("no-token", "no GitHub token", env={"GITHUB_TOKEN": "", "GH_TOKEN": ""})
    yield "fetch", Case("unknown-repo", "repository acme/nope not found", context={"repo": "acme/nope"})
    yield "fetch", Case("repo-not-owner-name", "is not OWNER/NAME", context={"repo": "not-a-repo"})
    yield "fetch", Case("server-5xx", "GitHub answered 502", context={"github": "{github_failing}"})
    yield "comment", Case("bad-token", "GitHub rejected the token", env={"GITHUB_TOKEN": "wrong-token-123456"})
    yield "comment", Case("no-token", "no GitHub token", env={"GITHUB_TOKEN": "", "GH_TOKEN": ""})
    yield "comment", Case("unknown-pr", "not found", context={"pr": "8"})
    yield "comment", Case("pr-zero", "is not a pull request number", context={"pr": "0"})
    yield "comment", Case("repo-not-owner-name", "is not OWNER/NAME", context={"repo": "nope"})
    yield "comment", Case("server-5xx", "GitHub answered 502", context={"comment": "{github_failing}"})
    # finding the pull request: a label no open pull request carries (not on a schedule), a bad label,
    # a [comment] pr that does not exist; a token without pull-requests: write
    yield "comment", Case("label-without-open-pr", "no open pull request of acme/operator is labelled 'nobody-uses-this'",
                          context={"pr": ""}, extra=("--label", "nobody-uses-this"))  # fmt: skip
    yield "comment", Case("label-with-a-comma", "--label 'a,b' is not a label to look for", context={"pr": ""},
                          extra=("--label", "a,b"))  # fmt: skip
    yield "comment", Case("config-pr-unknown", "pull request acme/operator#8 not found", {"c.toml": b"[comment]\npr = 8\n"},
                          {"pr": ""}, ("--config", "{tmp}/c.toml"))  # fmt: skip
    yield "comment", Case("no-repo-anywhere", "no repository given", context={"repo": ""})
    yield "comment", Case("token-cannot-write", "GitHub refused access to comments of acme/operator#7: Resource not "
                          "accessible by integration", context={"comment": "{readonly}"})  # fmt: skip
    yield "check", Case("unknown-pr", "pull request acme/operator#8 not found", context={"pr": "8"})
    yield "check", Case("pr-zero", "--pr 0 is not a pull request number", context={"pr": "0"})
    yield "check", Case("repo-not-owner-name", "is not OWNER/NAME", context={"repo": "nope"})
    yield "check", Case("no-token", "no GitHub token to read the pull request with", env={"GITHUB_TOKEN": "", "GH_TOKEN": ""})
    yield "check", Case("bad-token", "GitHub rejected the token", env={"GITHUB_TOKEN": "wrong-token-123456"})
    yield "check", Case("server-5xx", "GitHub answered 502", context={"comment": "{github_failing}"})
    yield "check", Case("head-workflow-does-not-parse", "the pull request's head: .github/workflows/e2e.yml is not valid YAML",
                        context={"pr": str(BROKEN_PR)})  # fmt: skip
    yield "check", Case("token-cannot-write", "GitHub refused access to comments of acme/operator#9: Resource not "
                        "accessible by integration", context={"comment": "{readonly}", "pr": str(CHANGING_PR)})  # fmt: skip


ROWS = list(_rows())


# -- running a case ----------------------------------------------------------------------------


@dataclass(frozen=True)
class World:
    template: Path  # a small we-advisor store with one job of acme/operator
    github: str
    github_failing: str
    comment: str
    readonly: str  # a GitHub whose token may read but not write (no pull-requests: write)




@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    base = tmp_path_factory.mktemp("world")
    (base / "job.txt").write_text(LOG, encoding="utf-8")
    result = runner.invoke(
        app, ["ingest", str(base / "job.txt"), "--repo", "acme/operator", "--store", str(base / "t.db")]
    )
    assert result.exit_code == 0, result.stderr
    # as a first analysis leaves a store: the observations' columns cache written (a failed command
    # after it must not write anything)
    result = runner.invoke(app, ["stats", "--since", "3000d", "--store", str(base / "t.db")])
    assert result.exit_code == 0, result.stderr
    export = build_export(base / "export", runs=3)
    with (
        FakeGitHub(export) as github, FakeGitHub(export, faults=Faults(always_fail=(".*",))) as failing,
        FakeGitHub() as comments, FakeGitHub() as readonly,
    ):  # fmt: skip
        comments.pulls.add(COMMENT_PR)
        comments.add_pull(BROKEN_PR, base={WORKFLOW_FILE: WORKFLOW_TEXT}, head={WORKFLOW_FILE: "jobs: [unclosed\n"})
        readonly.pulls.add(COMMENT_PR)
        readonly.add_pull(CHANGING_PR, base={WORKFLOW_FILE: WORKFLOW_TEXT}, head={WORKFLOW_FILE: WORKFLOW_TEXT.replace("30", "60")})
        readonly.read_only = True
        yield World(base / "t.db", github.url, failing.url, comments.url, readonly.url)


def lay_down(tmp: Path, files: dict[str, bytes], template: Path) -> None:
    """Write a case's files; ``@name`` contents are built here from the template store or a zip."""
    built = {
        b"@truncated": lambda: template.read_bytes()[: template.stat().st_size // 2],
        b"@bomb": lambda: declared_size(run_log_zip(), 0xFFFFFFF0),
        b"@lying-zip": lambda: declared_size(run_log_zip({"0_e2e.txt": LOG.encode() + b"\0" * (64 << 20)}), 1000),
        b"@truncated-zip": lambda: run_log_zip()[:-40],
        b"@corrupt-zip": lambda: corrupt_deflate(run_log_zip()),
        b"@encrypted-zip": lambda: encrypted_flag(run_log_zip()),
        b"@zip-no-logs": lambda: run_log_zip({"README.md": "hello", "img/x.png": b"\x89PNG"}),
        b"@zip-binary-logs": lambda: run_log_zip({"0_e2e.txt": b"\xff\xfe\x00" * 100, "e2e/1_a.txt": b""}),
    }
    for name, data in files.items():
        path = tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if data in (b"@foreign", b"@schema99"):
            shutil.copyfile(template, path)
            (_foreign if data == b"@foreign" else _schema_99)(path)
        else:
            path.write_bytes(built[data]() if data in built else data)


def snapshot(folder: Path) -> dict[str, str]:
    """Every file and folder under ``folder`` with a hash of its bytes."""
    return {
        p.relative_to(folder).as_posix(): "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
    }


def invoke(command: str, case: Case, tmp: Path, world: World) -> tuple[int, str, str, dict[str, str], dict[str, str]]:
    """Lay the case down, run it, return (exit code, stdout, stderr, the folder before, after)."""
    shutil.copyfile(world.template, tmp / "store.db")
    (tmp / "plan.toml").write_bytes(PLAN)
    (tmp / "t.json").write_text('{"recommendations": []}')
    (tmp / "in.txt").write_text(LOG, encoding="utf-8")
    lay_down(tmp, case.files, world.template)
    context = {
        "tmp": str(tmp), "store": "{tmp}/store.db", "input": "{tmp}/in.txt", "plan": "{tmp}/plan.toml",
        "timeouts": "{tmp}/t.json", "since": "3000d", "split": "2026-03-01", "output": "{tmp}/recs.json",
        "quantile": "0.99", "html": "{tmp}/reports/index.html", "repo": "acme/operator", "pr": "7",
        "comment": world.comment, "github": world.github, "github_failing": world.github_failing,
        "readonly": world.readonly,
        "export": "{tmp}/warehouse",
    }  # fmt: skip
    if command == "fetch":
        context["repo"] = REPO_NAME
        context["since"] = SINCE
    context.update(case.context)
    for _ in range(3):  # values name other values
        context = {k: v.format(**context) for k, v in context.items()}
    formatted = [a.format(**context) for a in (*BASE[command], *case.extra)]
    args = [a for i, a in enumerate(formatted) if a and not (a.startswith("--") and formatted[i + 1 : i + 2] == [""])]
    token = TOKEN
    env = {"GITHUB_TOKEN": token, "GH_TOKEN": "", "GITHUB_API_URL": "", "WE_ADVISOR_STORE": "", **case.env}
    before = snapshot(tmp)
    result = runner.invoke(app, args, env=env)
    return result.exit_code, result.stdout, result.stderr, before, snapshot(tmp)


@pytest.mark.parametrize(("command", "case"), ROWS, ids=[f"{c.replace(' ', '-')}:{k.name}" for c, k in ROWS])
def test_bad_input_is_one_error_line_and_a_hint_and_writes_nothing(
    command: str, case: Case, tmp_path: Path, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Exit 1, ``error: …`` naming the problem then ``hint: …``, no traceback, every file as it was."""
    monkeypatch.chdir(tmp_path)  # demo writes reports/ here when it succeeds; it must not
    code, out, err, before, after = invoke(command, case, tmp_path, world)
    lines = err.splitlines()
    assert len(lines) == 2, err
    assert lines[0].startswith("error: ") and lines[1].startswith("hint: "), err
    assert not lines[0].startswith("error: unexpected"), err
    assert case.message in lines[0], err
    assert len(lines[1]) > len("hint: ") + 5, err
    assert code == 1, err
    assert out == ""
    if command == "fetch":  # the flock file a fetch holds is left, empty, as lock files are
        after = {k: v for k, v in after.items() if not (k.endswith(".lock") and v == hashlib.sha256().hexdigest())}
    assert after == before


def test_the_table_covers_every_command() -> None:
    """Every command of the CLI has rows, and every command with a store or a config meets every such case."""
    names = {info.name or info.callback.__name__ for info in app.registered_commands}  # type: ignore[union-attr]
    names |= {f"bootstrap {c.name}" for g in app.registered_groups for c in g.typer_instance.registered_commands}  # type: ignore[union-attr]
    assert names == set(BASE)
    covered = {(c, k.name) for c, k in ROWS}
    for command in WITH_STORE:
        assert {(command, f"store-{c.name}") for c in STORE_CASES} <= covered
    for command in WITH_CONFIG:
        assert {(command, f"config-{c.name}") for c in CONFIG_CASES} <= covered
    assert len(ROWS) >= 200


def test_the_check_catches_a_planted_write(tmp_path: Path, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """The folder comparison is not vacuous: a report written by a successful command shows up."""
    monkeypatch.chdir(tmp_path)
    code, _, err, before, after = invoke("report", Case("fine", ""), tmp_path, world)
    assert code == 0, err
    assert set(after) - set(before) >= {"reports/index.html", "weekly.md"}


def test_an_unexpected_exception_is_one_line_and_a_hint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug is not a traceback either: ``error: unexpected <Type>: <message>``, a hint to rerun with -v."""

    def broken(*args: object, **kwargs: object) -> None:
        raise ZeroDivisionError("the planted bug")

    monkeypatch.setattr("analyzer.api.ingest", broken)
    (tmp_path / "job.txt").write_text(LOG, encoding="utf-8")
    result = runner.invoke(app, ["ingest", str(tmp_path / "job.txt"), "--store", str(tmp_path / "s.db")])
    assert (result.exit_code, result.stderr.splitlines()) == (
        1, ["error: unexpected ZeroDivisionError: the planted bug", "hint: rerun with -v for the traceback and report it"]
    )  # fmt: skip
    assert not (tmp_path / "s.db").exists()
    result = runner.invoke(app, ["-v", "ingest", str(tmp_path / "job.txt"), "--store", str(tmp_path / "s.db")])
    assert result.exit_code == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert result.stderr.splitlines()[-2] == "error: unexpected ZeroDivisionError: the planted bug"


# -- fuzzing the zip reader -------------------------------------------------------------------

ZIP_FUZZ = settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
SEED_ZIPS = [
    run_log_zip(),
    run_log_zip({"0_build.txt": LOG, "build/1_Set up job.txt": LOG[:120], "build/2_Run make.txt": LOG[120:]}),
    run_log_zip({"1_a.txt": LOG.replace("\n", "\r"), "2_b.txt": LOG.encode() + b"\x00\xff"}),
]


@st.composite
def mutated_zips(draw: st.DrawFn) -> bytes:
    """A valid run-log zip, then cut, bytes overwritten, sizes in its headers made huge, or junk after PK."""
    data = bytearray(draw(st.sampled_from(SEED_ZIPS)))
    kind = draw(st.sampled_from(["truncate", "flip", "sizes", "pk-junk", "mixed"]))
    if kind in ("truncate", "mixed"):
        data = data[: draw(st.integers(0, len(data)))]
    if kind in ("flip", "mixed") and data:
        for _ in range(draw(st.integers(1, 8))):
            at = draw(st.integers(0, len(data) - 1))
            data[at] = draw(st.integers(0, 255))
    if kind == "sizes":
        data = bytearray(declared_size(bytes(data), draw(st.sampled_from([0, 1, 2**20, 2**29 + 1, 2**31, 2**32 - 1]))))
    if kind == "pk-junk":
        data = bytearray(b"PK\x03\x04" + draw(st.binary(max_size=600)))
    return bytes(data)


@st.composite
def built_zips(draw: st.DrawFn) -> bytes:
    """Archives whose structure is valid but whose names and contents are anything: odd paths, deep
    folders, duplicate names, binary or empty members, logs cut anywhere, CR-only lines."""
    name = st.one_of(
        st.sampled_from(["0_e2e.txt", "e2e/1_Set up job.txt", "2_b.txt", "x/y/3_z.txt", "../1_up.txt", "/1_abs.txt",
                         "e2e/", "__MACOSX/1_a.txt", "1_.txt", "e2e/999999999999999999999_a.txt"]),
        st.text(min_size=1, max_size=30).filter(lambda n: "\x00" not in n),
    )  # fmt: skip
    body = st.one_of(
        st.sampled_from([LOG, LOG.replace("\n", "\r"), LOG.replace("\n", "\r\n"), "", "\ufeff"]),
        st.integers(0, len(LOG)).map(lambda n: LOG[:n]),
        st.binary(max_size=300),
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names are part of the point
        for member, data in draw(st.lists(st.tuples(name, body), max_size=6)):
            method = draw(st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]))
            with contextlib.suppress(ValueError):  # names zipfile itself refuses
                archive.writestr(member, data, compress_type=method)
    return buffer.getvalue()


def check_zip_ingest(data: bytes) -> None:
    """Read and ingest one archive into a fresh store: jobs saved, or a clean AdvisorError and an empty store."""
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "logs.zip"
        path.write_bytes(data)
        try:
            batch = ingest.read_file(path)
        except AdvisorError as exc:
            assert exc.message and exc.hint
            assert "\n" not in exc.message
            event(f"refused: {exc.message.split(': ')[0].replace(scratch, '')[:40]}")
            return
        assert batch.jobs
        event("ingested")
        with Store(Path(scratch) / "s.db") as store:
            try:
                summary = ingest.ingest_paths(store, [path])
            except AdvisorError:
                assert not any(store.counts().values())
                return
            assert summary.jobs_new == len(batch.jobs) == store.counts()["jobs"]


@pytest.mark.parametrize("data", SEED_ZIPS)
def test_seed_zips_are_ingested(data: bytes) -> None:
    """The archives the fuzzer mutates are good ones to begin with."""
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "logs.zip"
        path.write_bytes(data)
        assert ingest.read_file(path).jobs


@ZIP_FUZZ
@given(mutated_zips())
def test_mutated_zips_ingest_or_fail_cleanly(data: bytes) -> None:
    """A damaged, cut or lying archive is ingested as it is or refused with an AdvisorError; nothing half-saved."""
    check_zip_ingest(data)


@ZIP_FUZZ
@given(built_zips())
def test_odd_archives_ingest_or_fail_cleanly(data: bytes) -> None:
    """Well-formed archives holding odd names and contents: ingested or refused, never a crash."""
    check_zip_ingest(data)


@pytest.mark.slow
@settings(max_examples=3000, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(mutated_zips(), built_zips()))
def test_zips_ingest_or_fail_cleanly_long(data: bytes) -> None:
    """The long variant: many more archives, mutated and built."""
    check_zip_ingest(data)


@ZIP_FUZZ
@given(st.binary(min_size=0, max_size=3000))
def test_random_bytes_named_zip_fail_cleanly(data: bytes) -> None:
    """Anything in a file called .zip: an AdvisorError (or, if it happens to be a log, a job)."""
    assume(data[:2] != b"PK" or len(data) > 4)
    check_zip_ingest(b"PK\x05\x06" + data if data[:1] == b"\x00" else data)


def test_a_zip_member_without_a_name_is_skipped_not_a_crash() -> None:
    """Found by the mutation fuzz: a central-directory entry whose name is empty made the stdlib's
    ``ZipInfo.is_dir()`` raise IndexError ("unexpected error"); the named log beside it is ingested."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("1_a.txt", "2026-01-05T10:00:00.0000000Z ##[group]Run make test\n2026-01-05T10:00:05.0000000Z ok\n")
        archive.writestr(zipfile.ZipInfo(""), "y")
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "logs.zip"
        path.write_bytes(buffer.getvalue())
        batch = ingest.read_file(path)
    assert [job.name for job in batch.jobs] == ["a"]
