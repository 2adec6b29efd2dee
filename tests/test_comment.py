"""``we-advisor comment`` against a small GitHub stand-in on 127.0.0.1 (real HTTP, real PyGithub).

The server speaks the few REST shapes the upsert needs: ``GET /user``, issue comments listed
with ``Link`` pagination, ``POST`` to create and ``PATCH`` to edit. It records every request,
so a test can assert what was written, and can drop the response of a write that did happen.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from typer.testing import CliRunner

from analyzer.cli import app
from analyzer.collect.github import PostedComment
from analyzer.errors import AuthError, NotFoundError
from analyzer.parse.logs import PARSER_VERSION
from analyzer.parse.observe import rules_fingerprint
from analyzer.present.publish import MARKER, find_marked, upsert_pr_comment
from analyzer.present.text import md_text, mermaid_text
from analyzer.records import Job, Observation, Run, parse_iso
from analyzer.store import Store

TOKEN = "ghp_test_token_never_printed"
REPO = "acme/operator"


class FakeGitHub:
    def __init__(self) -> None:
        self.comments: list[dict[str, Any]] = []
        self.requests: list[tuple[str, str]] = []
        self.next_id = 100
        self.fail_next_post_after_write = False
        self.lock = threading.Lock()
        self.url = ""

    def add(self, author: str, body: str) -> None:
        self.comments.append({"id": self.next_id, "user": {"login": author, "id": 1, "type": "User"}, "body": body})
        self.next_id += 1

    def writes(self) -> list[tuple[str, str]]:
        return [r for r in self.requests if r[0] in ("POST", "PATCH")]


def _handler(fake: FakeGitHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, status: int, data: Any, headers: dict[str, str] | None = None) -> None:
            raw = json.dumps(data).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(raw)

        def _comment_json(self, c: dict[str, Any]) -> dict[str, Any]:
            return {**c, "url": f"{fake.url}/repos/{REPO}/issues/comments/{c['id']}",
                    "html_url": f"https://github.test/{REPO}/pull/7#issuecomment-{c['id']}"}

        def _auth_ok(self) -> bool:
            if self.headers.get("Authorization") != f"token {TOKEN}" and self.headers.get("Authorization") != f"Bearer {TOKEN}":
                self._send(401, {"message": "Bad credentials"})
                return False
            return True

        def do_GET(self) -> None:
            url = urlparse(self.path)
            with fake.lock:
                fake.requests.append(("GET", url.path))
            if not self._auth_ok():
                return
            if url.path == "/user":
                self._send(200, {"login": "we-advisor-bot", "id": 1, "type": "User"})
            elif url.path == f"/repos/{REPO}/issues/7/comments":
                page = int(parse_qs(url.query).get("page", ["1"])[0])
                per = 2  # small pages: the upsert must follow Link headers
                items = fake.comments[(page - 1) * per : page * per]
                headers = {}
                if page * per < len(fake.comments):
                    headers["Link"] = f'<{fake.url}{url.path}?page={page + 1}>; rel="next"'
                self._send(200, [self._comment_json(c) for c in items], headers)
            else:
                self._send(404, {"message": "Not Found"})

        def _body(self) -> dict[str, Any]:
            length = int(self.headers.get("Content-Length") or 0)
            return json.loads(self.rfile.read(length) or b"{}")

        def do_POST(self) -> None:
            url = urlparse(self.path)
            with fake.lock:
                fake.requests.append(("POST", url.path))
            if not self._auth_ok():
                return
            if url.path != f"/repos/{REPO}/issues/7/comments":
                self._send(404, {"message": "Not Found"})
                return
            with fake.lock:
                fake.add("we-advisor-bot", self._body()["body"])
                created = fake.comments[-1]
                if fake.fail_next_post_after_write:
                    fake.fail_next_post_after_write = False
                    self._send(502, {"message": "Bad Gateway"})  # written, but the client never learns it
                    return
            self._send(201, self._comment_json(created))

        def do_PATCH(self) -> None:
            url = urlparse(self.path)
            with fake.lock:
                fake.requests.append(("PATCH", url.path))
            if not self._auth_ok():
                return
            cid = int(url.path.rsplit("/", 1)[-1])
            with fake.lock:
                match = next((c for c in fake.comments if c["id"] == cid), None)
                if match is None:
                    self._send(404, {"message": "Not Found"})
                    return
                match["body"] = self._body()["body"]
            self._send(200, self._comment_json(match))

    return Handler


@contextmanager
def serve_fake() -> Iterator[FakeGitHub]:
    """The stand-in on 127.0.0.1 for the ``with`` block (other test modules use it too)."""
    state = FakeGitHub()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    with serve_fake() as state:
        yield state


def _store(path: Path, job_name: str = "e2e") -> Path:
    """A tiny store: ten runs of one job with one step, saved through the real store API."""
    with Store(path) as db:
        for n in range(10):
            start = parse_iso(f"2026-03-0{1 + n % 7}T10:00:00Z")
            db.save_run(Run(repo=REPO, run_id=n + 1, run_attempt=1, workflow_name="E2E", created_at=start))
            job = Job(repo=REPO, job_id=100 + n, run_id=n + 1, run_attempt=1, workflow_name="E2E", name=job_name,
                      conclusion="success", started_at=start)
            db.save_job(job)
            obs = [
                Observation("job", REPO, "E2E", job_name, None, None, n + 1, 1, 100 + n, start, 600.0 + n, "success", False),
                Observation("step", REPO, "E2E", job_name, "Run @octocat <img src=x onerror=alert(1)>", None, n + 1, 1,
                            100 + n, start, 500.0 + n, "success", False, step_number=2),
            ]
            db.save_analysis(job.job_id, obs, None, parser_version=PARSER_VERSION,
                             rules_hash=rules_fingerprint(()))
    return path


def run_cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def test_two_runs_leave_exactly_one_comment_edited_the_second_time(fake: FakeGitHub, tmp_path: Path) -> None:
    """The first run creates the comment, the second edits it: one comment, one POST, one PATCH."""
    fake.add("someone-else", f"{MARKER} not ours: another author's marker is left alone")
    fake.add("we-advisor-bot", "an unrelated comment by the same user")
    db = str(_store(tmp_path / "s.db"))
    env = {"GITHUB_TOKEN": TOKEN, "GH_TOKEN": ""}
    code, out, err = run_cli("comment", "--repo", REPO, "--pr", "7", "--api-url", fake.url, "--store", db, env=env)
    assert code == 0, err
    assert "comment created" in err
    fake.comments[-1]["body"] = fake.comments[-1]["body"].replace("Week", "Last week")  # stale report
    code, _, err = run_cli("comment", "--repo", REPO, "--pr", "7", "--api-url", fake.url, "--store", db, env=env)
    assert code == 0, err
    assert "comment updated" in err
    ours = [c for c in fake.comments if c["user"]["login"] == "we-advisor-bot" and MARKER in c["body"]]
    assert len(ours) == 1
    assert "Last week" not in ours[0]["body"]
    assert [m for m, _ in fake.writes()] == ["POST", "PATCH"]
    assert TOKEN not in out + err


def test_dry_run_prints_the_body_and_writes_nothing(fake: FakeGitHub, tmp_path: Path) -> None:
    """--dry-run prints the Markdown and sends nothing at all (no token needed)."""
    db = str(_store(tmp_path / "s.db"))
    code, out, err = run_cli("comment", "--repo", REPO, "--pr", "7", "--api-url", fake.url, "--store", db, "--dry-run",
                             env={"GITHUB_TOKEN": "", "GH_TOKEN": ""})
    assert code == 0, err
    assert out.startswith(MARKER)
    assert fake.requests == []


def test_log_text_cannot_ping_or_inject_markup(tmp_path: Path) -> None:
    """A step name carrying @octocat and an <img onerror> arrives inert in the comment body."""
    db = str(_store(tmp_path / "s.db", job_name="e2e @octocat <img src=x onerror=alert(1)>"))
    code, out, _ = run_cli("comment", "--repo", REPO, "--pr", "7", "--store", db, "--dry-run")
    assert code == 0
    assert "@octocat" not in out and "@\u200boctocat" in out
    assert "<img" not in out and "&lt;img" in out


def test_lost_response_to_a_create_is_not_repeated_into_a_duplicate(fake: FakeGitHub) -> None:
    """A POST that succeeded but answered 502 is found by re-listing: still exactly one comment."""
    fake.fail_next_post_after_write = True
    body = f"{MARKER}\nhello"
    outcome = upsert_pr_comment(REPO, 7, body, token=TOKEN, api_url=fake.url)
    assert outcome.action == "created"
    assert len(fake.comments) == 1
    assert [m for m, _ in fake.writes()] == ["POST"]


def test_bad_token_is_an_auth_error_without_the_token(fake: FakeGitHub) -> None:
    with pytest.raises(AuthError) as info:
        upsert_pr_comment(REPO, 7, f"{MARKER}\nx", token="wrong", api_url=fake.url)
    assert "wrong" not in info.value.message


def test_unknown_pull_request_is_not_found(fake: FakeGitHub) -> None:
    with pytest.raises(NotFoundError):
        upsert_pr_comment(REPO, 8, f"{MARKER}\nx", token=TOKEN, api_url=fake.url)


def test_comment_without_token_explains_what_to_set(tmp_path: Path) -> None:
    """No token and no --dry-run: exit 1 with a hint, nothing sent."""
    db = str(_store(tmp_path / "s.db"))
    code, _, err = run_cli("comment", "--repo", REPO, "--pr", "7", "--store", db, env={"GITHUB_TOKEN": "", "GH_TOKEN": ""})
    assert code == 1
    assert "error: no GitHub token to comment with" in err
    assert "hint: set GITHUB_TOKEN or GH_TOKEN" in err


def test_find_marked_picks_our_oldest_marked_comment() -> None:
    comments = [PostedComment(1, "bot", "plain"), PostedComment(2, "other", MARKER), PostedComment(3, "Bot", MARKER + "x"),
                PostedComment(4, "bot", MARKER)]
    found = find_marked(comments, "bot")
    assert found is not None and found.id == 3


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ping @octocat", "ping @\u200boctocat"),
        ("<script>x</script>", "&lt;script&gt;x&lt;/script&gt;"),
        ("[x](javascript:alert(1))", "\\[x\\]\\(javascript:alert\\(1\\)\\)"),
        ("![i](http://e/x.png)", "\\!\\[i\\]\\(http:\u200b//e/x.png\\)"),
        ("see https://evil.example/a, _www.evil.example", "see https:\u200b//evil.example/a, \\_www\u200b.evil.example"),
        ("mail me@evil.example", "mail me@\u200bevil.example"),
        ("see #12", "see \\#\u200b12"),
        ("fixes GH-12, gh-3, UGH-4", "fixes GH-\u200b12, gh-\u200b3, UGH-4"),
        ("a | b\nc", "a \\| b c"),
        ("echo ${{ env.X }} costs $x^2$", "echo \\$\\{\\{ env.X \\}\\} costs \\$x^2\\$"),
        ("a\x1b]0;x\x07b\x1b[2J\x9b\x7f", "a\u241b\\]0;x\u2407b\u241b\\[2J\ufffd\u2421"),
    ],
)
def test_md_text_neutralizes(raw: str, expected: str) -> None:
    assert md_text(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Run make test-e2e", "Run make test-e2e"),
        ("a: b # c; d `e`", "a b c d e"),
        ("click s1 call alert(1)", "- click s1 call alert(1)"),  # would be a click statement
        ("Title check", "- Title check"),  # the lexer is case-insensitive
        ("section x", "- section x"),
        ("2026-01-01 deploy", "- 2026-01-01 deploy"),
        ("Calling the API", "Calling the API"),
        ("<>", "unnamed"),
    ],
)
def test_mermaid_text_is_a_plain_task_name(raw: str, expected: str) -> None:
    assert mermaid_text(raw) == expected
