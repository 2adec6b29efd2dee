"""The GitHub token never gets out: not on stdout or stderr (``-v`` included), not in the store, the
reports, the events or a patch, not in an exception's message.

Every command runs with a recognizable fake token in ``GITHUB_TOKEN`` and ``GH_TOKEN``, with and
without ``-v``, through successes and failures against fake GitHub servers on 127.0.0.1 that
record the Authorization header they received (so a test cannot pass because no token was sent).
Everything the run left in its folder is searched, the store's compressed blobs decompressed, for
the token and its base64 forms. ``test_the_search_finds_a_planted_token`` shows the search works.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import shutil
import sqlite3
import traceback
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
import zstandard
from typer.testing import CliRunner

from analyzer.cli import app
from analyzer.collect import github
from analyzer.collect.fetch import fetch
from analyzer.collect.github import ClientPolicy, GitHubClient
from analyzer.config import Settings
from analyzer.errors import AdvisorError
from analyzer.present.publish import upsert_pr_comment
from analyzer.store import Store
from analyzer.store.codec import unpack
from tests.fake_github import COMMENT_PR, REPO_NAME, SINCE, TOKEN, FakeGitHub, Faults, build_export

COMMENT_TOKEN = "ghp_test_token_never_printed"  # the only token the comment stand-in accepts
FAST = ClientPolicy(tries=3, backoff_s=0.01, backoff_max_s=0.05, secondary_wait_s=0.1, per_minute=100_000)
LOG = (
    "2026-03-02T10:00:00.0000000Z Current runner version: '2.323.0'\n"
    "2026-03-02T10:00:00.1000000Z Complete job name: e2e\n"
    "2026-03-02T10:00:01.0000000Z ##[group]Run make e2e\n"
    "2026-03-02T10:00:01.0200000Z ##[endgroup]\n"
    "2026-03-02T10:00:02.0000000Z Waiting for Tekton Pipelines controller to be ready...\n"
    "2026-03-02T10:05:02.0000000Z error: timed out waiting for the condition on deployments/tekton {extra}\n"
    "2026-03-02T10:05:03.0000000Z ##[error]Process completed with exit code 1.\n"
)
PLAN = 'name = "setup"\n[[task]]\nname = "ok"\nrun = ["true"]\n[[task]]\nname = "bad"\nrun = ["sh", "-c", "exit 3"]\n'
WORKFLOW = (
    "on: push\njobs:\n  e2e:\n    runs-on: ubuntu-latest\n    timeout-minutes: 30\n    steps:\n      - run: make e2e\n"
)
runner = CliRunner()


def forms(token: str) -> list[str]:
    """The token and the base64 forms it takes in headers (Basic auth, x-access-token)."""
    raw = token.encode()
    encoded = [base64.b64encode(p + raw).decode() for p in (b"", b"x-access-token:", b":", b"token:")]
    return [token, *encoded, *(e.rstrip("=") for e in encoded)]


def store_text(path: Path) -> str:
    """Every value in a SQLite file, compressed blobs (logs, HTTP cache) decompressed."""
    parts: list[str] = []
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            parts += values_text(conn.execute(f"SELECT * FROM {table}"))
    return "\n".join(parts)


def values_text(rows: Iterable[Sequence[object]]) -> list[str]:
    """Every value of ``rows`` as text, compressed blobs decompressed."""
    parts: list[str] = []
    for row in rows:
        for value in row:
            if isinstance(value, bytes):
                with contextlib.suppress(zlib.error, zstandard.ZstdError):
                    value = unpack(value)  # a raw log (zstandard, or zlib), or the HTTP cache (zlib)
                parts.append(value.decode("utf-8", "replace"))
            else:
                parts.append(str(value))
    return parts


def leaks(token: str, folder: Path, *texts: str) -> list[str]:
    """Where the token (in any of its forms) shows: in ``texts`` or in any file under ``folder``."""
    found = []
    places: list[tuple[str, str]] = [(f"text #{i}", t) for i, t in enumerate(texts)]
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes()
        places.append((str(path), data.decode("latin-1")))
        if data.startswith(b"SQLite format 3\x00"):
            places.append((f"{path} (decompressed)", store_text(path)))
    for where, text in places:
        found += [f"{form!r} in {where}" for form in forms(token) if form in text]
    return found


class Recorder:
    """Wraps a test server's handler: remembers every Authorization header it was sent."""

    def __init__(self, server: ThreadingHTTPServer) -> None:
        self.seen: list[str] = []
        base = server.RequestHandlerClass
        seen = self.seen

        class Recording(base):  # type: ignore[valid-type, misc]
            def parse_request(self) -> bool:
                ok: bool = super().parse_request()
                if ok:
                    seen.append(self.headers.get("Authorization") or "")
                return ok

        server.RequestHandlerClass = Recording

    def received(self, token: str) -> bool:
        return any(token in header for header in self.seen)


@dataclass
class Servers:
    github: FakeGitHub
    github_seen: Recorder
    comment: str
    comment_seen: Recorder


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_export(tmp_path_factory.mktemp("export"), runs=6)


@pytest.fixture
def servers(export: Path) -> Iterator[Servers]:
    with FakeGitHub(export) as fake, FakeGitHub(token=COMMENT_TOKEN) as comments:
        comments.pulls.add(COMMENT_PR)
        yield Servers(fake, Recorder(fake.server), comments.url, Recorder(comments.server))


def cli(token: str, *args: str, verbose: bool) -> tuple[int, str, str]:
    env = {"GITHUB_TOKEN": token, "GH_TOKEN": token, "GITHUB_API_URL": "", "WE_ADVISOR_STORE": ""}
    result = runner.invoke(app, ["-v", *args] if verbose else list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder with a job log, a plan, a checkout with a workflow; the working directory."""
    (tmp_path / "job.txt").write_text(LOG.format(extra=""), encoding="utf-8")
    (tmp_path / "plan.toml").write_text(PLAN, encoding="utf-8")
    (tmp_path / "checkout" / ".github" / "workflows").mkdir(parents=True)
    (tmp_path / "checkout" / ".github" / "workflows" / "e2e.yml").write_text(WORKFLOW, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


VERBOSE = pytest.mark.parametrize("verbose", [False, True], ids=["quiet", "verbose"])


def assert_debug_output(err: str, verbose: bool) -> None:
    """-v prints debug records (so the test looks at the output that could leak); without it none."""
    assert ("debug: " in err) == verbose, err[-2000:]


# -- fetch -----------------------------------------------------------------------------------


@VERBOSE
def test_fetch_success_and_failures(servers: Servers, work: Path, verbose: bool) -> None:
    """fetch OK, a revoked token (401), an unknown repository (404), 5xx faults: the token is sent, never shown."""
    gh = servers.github
    base = ("fetch", "--repo", REPO_NAME, "--since", SINCE, "--api-url", gh.url, "--store", str(work / "s.db"))
    outputs = []
    code, out, err = cli(TOKEN, *base, verbose=verbose)
    assert code == 0, err
    assert_debug_output(err, verbose)
    if verbose:
        assert "github.Requester" in err and "urllib3" in err and "Authorization" in err
    outputs += [out, err]
    gh.faults = Faults(unauthorized=True)
    code, out, err = cli(TOKEN, *base, verbose=verbose)
    assert (code, err.splitlines()[-2]) == (1, "error: GitHub rejected the token")
    outputs += [out, err]
    gh.faults = Faults()
    code, out, err = cli(TOKEN, *base[:2], "acme/nope", *base[3:], verbose=verbose)
    assert (code, err.splitlines()[-2]) == (1, "error: repository acme/nope not found on 127.0.0.1")
    outputs += [out, err]
    gh.faults = Faults(error_rate=0.3, seed=7)
    code, out, err = cli(TOKEN, *base, "--no-logs", verbose=verbose)
    assert gh.stats.faults["5xx"] > 0
    outputs += [out, err]
    assert servers.github_seen.received(TOKEN)
    assert leaks(TOKEN, work, *outputs) == []


# -- comment ---------------------------------------------------------------------------------


def _comment_store(work: Path) -> Path:
    db = work / "s.db"
    code, _, err = cli(
        COMMENT_TOKEN, "ingest", str(work / "job.txt"), "--repo", "acme/operator", "--store", str(db), verbose=False
    )
    assert code == 0, err
    return db


@VERBOSE
def test_comment_dry_run_success_and_failures(servers: Servers, work: Path, verbose: bool) -> None:
    """comment --dry-run, created, updated, a missing PR (404), a revoked token (401)."""
    db = _comment_store(work)
    base = ("comment", "--repo", "acme/operator", "--api-url", servers.comment, "--store", str(db))
    outputs = []
    for pr, expected in (("7", 0), ("7", 0), ("8", 1)):
        code, out, err = cli(COMMENT_TOKEN, *base, "--pr", pr, verbose=verbose)
        assert code == expected, err
        assert_debug_output(err, verbose)
        outputs += [out, err]
    code, out, err = cli(COMMENT_TOKEN, *base, "--pr", "7", "--dry-run", verbose=verbose)
    assert code == 0
    outputs += [out, err]
    assert servers.comment_seen.received(COMMENT_TOKEN)
    assert leaks(COMMENT_TOKEN, work, *outputs) == []

    gh = servers.github  # speaks 401 on demand, to the fetch token (5xx: test_bad_input and the library test)
    gh.faults = Faults(unauthorized=True)
    code, out, err = cli(TOKEN, *base[:3], "--api-url", gh.url, "--store", str(db), "--pr", "7", verbose=verbose)
    assert code == 1 and "rejected the token" in err.splitlines()[-2], err
    outputs += [out, err]
    assert servers.github_seen.received(TOKEN)
    assert leaks(TOKEN, work, *outputs) == []


@VERBOSE
def test_comment_by_label_and_check_success_and_failures(export: Path, work: Path, verbose: bool) -> None:
    """comment without --pr (found by its label; none found with --no-pr-ok), a token that cannot write (403);
    check --pr: a pull request that changes a timeout (created, --dry-run), one that does not exist (404),
    one whose head breaks a workflow, a revoked token (401)."""
    db = _comment_store(work)
    workflow = "name: E2E\non: [push]\njobs:\n  e2e:\n    runs-on: ubuntu-latest\n    timeout-minutes: 30\n    steps:\n      - run: x\n"
    path = ".github/workflows/e2e.yml"
    with FakeGitHub(token=COMMENT_TOKEN) as fake:
        seen = Recorder(fake.server)
        fake.add_pull(11, labels=("we-advisor",), base={path: workflow}, head={path: workflow.replace("30", "45")})
        fake.add_pull(12, base={path: workflow}, head={path: "jobs: [\n"})
        base = ("--repo", "acme/operator", "--api-url", fake.url, "--store", str(db))
        runs: list[tuple[tuple[str, ...], int]] = [
            (("comment", *base), 0), (("comment", *base, "--label", "nobody", "--no-pr-ok"), 0),
            (("check", *base, "--pr", "11"), 0), (("check", *base, "--pr", "11", "--dry-run"), 0),
            (("check", *base, "--pr", "13"), 1), (("check", *base, "--pr", "12"), 1),
        ]
        outputs = []
        for args, expected in runs:
            code, out, err = cli(COMMENT_TOKEN, *args, verbose=verbose)
            assert code == expected, (args, err)
            assert_debug_output(err, verbose)
            outputs += [out, err]
        assert len(fake.comments[11]) == 2  # the weekly report and the evidence
        fake.read_only = True
        fake.comments[11].clear()
        for command in ("comment", "check"):
            code, out, err = cli(COMMENT_TOKEN, command, *base, "--pr", "11", verbose=verbose)
            assert code == 1 and "Resource not accessible by integration" in err, err
            outputs += [out, err]
        fake.faults = Faults(unauthorized=True)
        code, out, err = cli(COMMENT_TOKEN, "check", *base, "--pr", "11", verbose=verbose)
        assert code == 1 and "rejected the token" in err.splitlines()[-2], err
        outputs += [out, err]
    assert seen.received(COMMENT_TOKEN)
    assert leaks(COMMENT_TOKEN, work, *outputs) == []


# -- the offline commands --------------------------------------------------------------------


@VERBOSE
def test_every_offline_command(work: Path, verbose: bool) -> None:
    """ingest, reparse, stats, incidents, failures, recommend (output and patch), backtest, report, bootstrap run
    (events) and plan, demo, and failing ones: no token anywhere, though it is in the environment."""
    db = str(work / "s.db")
    runs: list[tuple[tuple[str, ...], int]] = [
        (("ingest", "job.txt", "--store", db), 0),
        (("reparse", "--store", db), 0),
        (("stats", "--store", db, "--since", "3000d", "--format", "json"), 0),
        (("incidents", "--store", db, "--since", "3000d"), 0),
        (("failures", "--store", db, "--since", "3000d", "--format", "markdown"), 0),
        (("recommend", "--store", db, "--since", "3000d", "--output", "recs.json", "--format", "json"), 0),
        (("recommend", "--store", db, "--since", "3000d", "--patch", "checkout"), 0),
        (("backtest", "--store", db), 1),  # one job: nothing to replay
        (("report", "--store", db, "--since", "3000d", "--html", "out/index.html", "--markdown", "out/weekly.md"), 0),
        (("bootstrap", "run", "plan.toml", "--events", "events.jsonl", "--timeouts", "recs.json"), 1),  # "bad" fails
        (("ingest", "events.jsonl", "--store", db), 0),
        (("bootstrap", "plan", "plan.toml", "--store", db, "--runs", "50"), 0),
        (("stats", "--store", "job.txt"), 1),
        (("ingest", "plan.toml", "--store", db), 1),
        (("demo", "--store", "demo.db"), 0),
    ]
    outputs = []
    for args, expected in runs:
        code, out, err = cli(TOKEN, *args, verbose=verbose)
        assert code == expected, (args, err)
        outputs += [out, err]
    assert (work / "events.jsonl").stat().st_size > 0
    assert (work / "out" / "index.html").is_file() and (work / "reports" / "index.html").is_file()
    assert leaks(TOKEN, work, *outputs) == []


# -- bugs and library errors -----------------------------------------------------------------


@VERBOSE
def test_an_unexpected_error_carrying_the_token_is_redacted(
    work: Path, verbose: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug whose message holds the token and an Authorization header, after debug records holding them:
    the one line, the -v traceback and the debug lines show neither."""
    header = "Basic " + base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()

    def broken(*args: object, **kwargs: object) -> None:
        logging.getLogger("github.Requester").debug("GET /x %s", {"Authorization": f"token {TOKEN}"})
        logging.getLogger("urllib3.connectionpool").debug("retrying with %s", header)
        raise RuntimeError(f"request with token {TOKEN} and headers {{'Authorization': '{header}'}} failed")

    monkeypatch.setattr("analyzer.cli.load_settings", broken)
    code, out, err = cli(TOKEN, "stats", "--store", "s.db", verbose=verbose)
    assert code == 1
    assert err.splitlines()[-2].startswith("error: unexpected RuntimeError: request with token *** and headers")
    assert ("Traceback" in err) == verbose
    if verbose:  # the records went through the redacting filter
        assert "github.Requester MainThread: GET /x {'Authorization': '***'}" in err
        assert "urllib3.connectionpool MainThread: retrying with Basic ***" in err
    assert leaks(TOKEN, work, out, err) == []


def _exception_text(exc: BaseException) -> str:
    """Everything an exception says: str, repr, args and the whole chain, traceback included."""
    parts = []
    seen: BaseException | None = exc
    while seen is not None:
        parts += [str(seen), repr(seen), repr(seen.args), *(str(a) for a in seen.args)]
        seen = seen.__cause__ or seen.__context__
    parts.append("".join(traceback.format_exception(exc)))
    return "\n".join(parts)


def test_library_errors_never_carry_the_token(servers: Servers, tmp_path: Path) -> None:
    """AdvisorErrors raised by the library API (and the PyGithub / requests exceptions chained to them)."""
    gh = servers.github
    errors: list[AdvisorError] = []
    cases = [
        (Faults(unauthorized=True), REPO_NAME),
        (Faults(), "acme/nope"),
        (Faults(always_fail=(".*",)), REPO_NAME),
        (Faults(primary_limit=1, primary_reset_s=3600), REPO_NAME),
    ]
    for faults, repo in cases:
        gh.faults = faults
        with Store(tmp_path / "s.db") as store, pytest.raises(AdvisorError) as caught:
            fetch(Settings(), store, repo=repo, since=SINCE, api_url=gh.url, token=TOKEN, policy=FAST, max_wait=0)
        errors.append(caught.value)
    gh.faults = Faults()
    with (
        GitHubClient(TOKEN, api_url="http://127.0.0.1:9", policy=FAST) as client,
        pytest.raises(AdvisorError) as caught,
    ):
        client.fetch_repo(REPO_NAME)  # nothing listens there: a requests ConnectionError underneath
    errors.append(caught.value)
    for pr in (8, -1):
        with pytest.raises(AdvisorError) as caught:
            upsert_pr_comment("acme/operator", pr, "body", token=COMMENT_TOKEN, api_url=servers.comment, policy=FAST)
        errors.append(caught.value)
    assert servers.github_seen.received(TOKEN) and servers.comment_seen.received(COMMENT_TOKEN)
    assert {type(e).__name__ for e in errors} >= {"AuthError", "NotFoundError", "GitHubError"}
    for exc in errors:
        text = _exception_text(exc)
        assert [f for f in forms(TOKEN) + forms(COMMENT_TOKEN) if f in text] == [], text
    assert github.AUTH_HINT  # the hint names the variables, never a value


# -- the search itself -----------------------------------------------------------------------


def test_the_search_finds_a_planted_token(work: Path) -> None:
    """A log that itself holds the token is stored (compressed) and shown as evidence: the search sees both,
    so an empty result above means no token, not a blind search."""
    (work / "leaky.txt").write_text(LOG.format(extra=TOKEN), encoding="utf-8")
    code, _, err = cli(TOKEN, "ingest", "leaky.txt", "--store", "s.db", verbose=False)
    assert code == 0, err
    (work / "leaky.txt").unlink()
    code, out, _ = cli(TOKEN, "incidents", "--store", "s.db", "--since", "3000d", "--format", "json", verbose=False)
    assert code == 0
    found = leaks(TOKEN, work, out)
    assert any("(decompressed)" in f for f in found), found
    assert any("text #0" in f for f in found), found
    shutil.rmtree(work / "checkout")
    assert leaks(TOKEN, work) != []
    assert leaks("no-such-token-abcdef", work, out) == []
