"""A fake GitHub REST API on 127.0.0.1 that serves an export folder (the layout of data/sample/).

A real HTTP server (``ThreadingHTTPServer``, HTTP/1.1 keep-alive) speaking GitHub's shapes, so the
client under test — PyGithub's requester, urllib3's retries, ``requests`` for downloads — runs for
real. What it serves:

- ``/repos/{o}/{r}``, ``/actions/workflows``, ``/actions/runs`` and ``/actions/workflows/{id}/runs``
  (filters ``branch``, ``event``, ``status``, ``created`` ranges; ``per_page``/``page``; ``Link``
  headers that carry the query and point at ``/repositories/{id}/...`` as GitHub's do; at most
  ``listing_cap`` results once any filter is given, while ``total_count`` tells the truth);
- ``/actions/runs/{id}``, ``/attempts/{n}``, ``/runs/{id}/jobs?filter=latest|all`` (paginated),
  ``/actions/jobs/{id}``, ``/check-runs/{id}/annotations``, ``/contents/{path}?ref=``, ``/rate_limit``;
- logs: ``/actions/jobs/{id}/logs`` and ``/actions/runs/{id}[/attempts/{n}]/logs`` answer 302 to
  ``/_blob/...`` URLs that expire; a blob request carrying an Authorization header is refused and
  counted in ``stats.blob_with_auth``;
- ETag / ``If-None-Match`` (304, not counted), ``x-ratelimit-*`` headers, 401 for a bad token,
  404 for an unknown repository;
- the few shapes a pull-request comment upsert needs: ``GET /user``, the comments of pull request
  ``COMMENT_PR`` listed in pages of two (``Link`` headers), ``POST`` to create one and ``PATCH`` to
  edit one; ``writes()`` lists the writes, and ``fail_next_post_after_write`` drops the answer to
  a POST that did happen.

Without a folder it serves an empty repository (``EMPTY_REPO``), for the comment tests. This is the
one stand-in for GitHub in the tests; shared fixtures are in ``conftest.py``.

Faults (``Faults``): 5xx, connection resets, 403 secondary limits with ``retry-after``, primary
exhaustion with a short reset, 410 logs, truncated bodies, latency, paths that always fail.
``stats`` counts every request, and those that count against the rate limit.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import hashlib
import io
import json
import os
import random
import re
import socket
import sqlite3
import struct
import subprocess
import sys
import threading
import time
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode, urlparse

if TYPE_CHECKING:
    from analyzer.collect.fetch import FetchSummary
    from analyzer.collect.github import ClientPolicy

TOKEN = "we-advisor-fake-token-7f3a9c21e5d8b604"  # recognizable, so tests can look for leaks
EMPTY_REPO = "acme/operator"  # what a FakeGitHub without a folder serves
COMMENT_PR = 7  # the pull request whose comments the fake keeps
COMMENT_AUTHOR = "we-advisor-bot"  # the login of the token (GET /user)
FILTERS = ("actor", "branch", "check_suite_id", "created", "event", "head_sha", "status")


@dataclass
class Faults:
    """What can go wrong, per request (rates are probabilities, drawn from a seeded RNG)."""

    error_rate: float = 0.0  # 502
    reset_rate: float = 0.0  # connection reset instead of an answer
    secondary_rate: float = 0.0  # 403 secondary rate limit with retry-after
    retry_after: int = 1
    truncate_rate: float = 0.0  # body cut short of its Content-Length (API answers and blobs)
    latency: float = 0.0  # seconds before every answer
    primary_limit: int | None = None  # counted requests per window; then 403 "API rate limit exceeded"
    primary_reset_s: float = 2.0
    primary_once_after: int | None = None  # the limit runs out once, after this many counted requests
    expired_logs: set[int] = field(default_factory=set)  # job ids whose log answers 410
    always_fail: tuple[str, ...] = ()  # path regexes that always answer 502
    unauthorized: bool = False  # every API request answers 401 (a revoked token)
    seed: int = 0


@dataclass
class Stats:
    total: int = 0
    api: int = 0
    counted: int = 0  # counted against the rate limit: API answers other than 304 and /rate_limit
    not_modified: int = 0
    blob: int = 0
    blob_with_auth: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)


class Export:
    """An export folder in memory: what the server serves, and what a test counts against."""

    def __init__(self, folder: Path | None, *, repo: str = EMPTY_REPO) -> None:
        self.folder = folder
        if folder is None:
            self.repo = {"id": 1, "name": repo.split("/")[1], "full_name": repo, "default_branch": "main"}
            self.full_name = repo
            self.workflows: list[dict[str, Any]] = []
            self.runs: dict[int, dict[str, Any]] = {}
            self.attempts: dict[tuple[int, int], dict[str, Any]] = {}
            self.jobs: dict[int, list[dict[str, Any]]] = {}
            self.logs: dict[int, bytes] = {}
            self.annotations: dict[int, list[dict[str, Any]]] = {}
            self.files: dict[str, str] = {}
            return
        self.repo = _load(folder / "repo.json")
        self.full_name = self.repo["full_name"]
        self.workflows = _load(folder / "workflows.json")["workflows"]
        runs = _load(folder / "runs.json")["workflow_runs"]
        self.runs = {r["id"]: r for r in runs}
        self.attempts = {(r["id"], r["run_attempt"]): r for r in runs}
        for path in sorted((folder / "attempts").glob("*.json")) if (folder / "attempts").is_dir() else []:
            data = _load(path)
            self.attempts[(data["id"], data["run_attempt"])] = data
        self.jobs = {}
        for path in sorted((folder / "jobs").glob("*.json")):
            for job in _load(path)["jobs"]:
                self.jobs.setdefault(job["run_id"], []).append(job)
        for items in self.jobs.values():
            items.sort(key=lambda j: (j["run_attempt"], j["id"]))
        self.logs = {}
        for path in sorted((folder / "logs").glob("*")) if (folder / "logs").is_dir() else []:
            job_id = int(path.name.split(".")[0])
            raw = path.read_bytes()
            self.logs[job_id] = gzip.decompress(raw) if path.name.endswith(".gz") else raw
        self.annotations = {}
        for path in sorted((folder / "annotations").glob("*.json")) if (folder / "annotations").is_dir() else []:
            self.annotations[int(path.stem)] = _load(path)
        self.files = {}
        files = folder / "workflow-files"
        for path in sorted(p for p in files.rglob("*") if p.is_file()) if files.is_dir() else []:
            self.files[path.relative_to(files).as_posix()] = path.read_text(encoding="utf-8")

    def all_jobs(self) -> list[dict[str, Any]]:
        return [j for items in self.jobs.values() for j in items]


class FakeGitHub:
    """``with FakeGitHub(folder) as gh: ... gh.url ...`` — serves ``folder`` until the block ends
    (``folder`` None: an empty repository ``EMPTY_REPO``); only ``token`` is accepted."""

    def __init__(
        self, folder: Path | None = None, *, faults: Faults | None = None, listing_cap: int = 1000,
        rate_limit: int = 5000, token: str = TOKEN,
    ) -> None:  # fmt: skip
        self.data = Export(folder)
        self.token = token
        self.comments: list[dict[str, Any]] = []  # of pull request COMMENT_PR, oldest first
        self.next_comment_id = 100
        self.fail_next_post_after_write = False
        self.write_log: list[tuple[str, str]] = []  # (method, path) of every POST and PATCH
        self.faults = faults or Faults()
        self.listing_cap = listing_cap
        self.rate_limit = rate_limit
        self.stats = Stats()
        self.hidden: set[int] = set()  # run ids not served (not yet created, as far as clients know)
        self.overrides: dict[int, dict[str, Any]] = {}  # run id -> fields replaced in its latest attempt
        self.lock = threading.Lock()
        self.rng = random.Random(self.faults.seed)
        self.window_used = 0
        self.window_reset = time.time() + 3600
        self.primary_spent = False  # Faults.primary_once_after has struck
        self.requests: list[tuple[str, int]] = []  # (path with query, status)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="fake-github", daemon=True)

    def __enter__(self) -> FakeGitHub:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- what a test looks at ------------------------------------------------------------------

    def add_comment(self, author: str, body: str) -> dict[str, Any]:
        """A comment on pull request ``COMMENT_PR`` by ``author``."""
        with self.lock:
            comment = {"id": self.next_comment_id, "user": {"login": author, "id": 1, "type": "User"}, "body": body}
            self.next_comment_id += 1
            self.comments.append(comment)
            return comment

    def writes(self) -> list[tuple[str, str]]:
        """(method, path) of every write received, in order."""
        with self.lock:
            return list(self.write_log)

    def reset_stats(self) -> None:
        with self.lock:
            self.stats = Stats()
            self.requests = []

    def visible_runs(self) -> list[dict[str, Any]]:
        runs = [self._latest(r) for rid, r in self.data.runs.items() if rid not in self.hidden]
        return sorted(runs, key=lambda r: (r["created_at"], r["id"]), reverse=True)

    def _latest(self, run: dict[str, Any]) -> dict[str, Any]:
        extra = self.overrides.get(run["id"])
        return {**run, **extra} if extra else run

    def _attempt(self, run_id: int, n: int) -> dict[str, Any] | None:
        run = self.data.runs.get(run_id)
        if run is None or run_id in self.hidden:
            return None
        if n == run["run_attempt"]:
            return self._latest(run)
        return self.data.attempts.get((run_id, n))

    # -- faults ----------------------------------------------------------------------------------

    def _draw(self, rate: float) -> bool:
        if rate <= 0:
            return False
        with self.lock:
            return self.rng.random() < rate

    def _rate_headers(self) -> dict[str, str]:
        limit = self.faults.primary_limit or self.rate_limit
        return {
            "x-ratelimit-limit": str(limit),
            "x-ratelimit-remaining": str(max(0, limit - self.window_used)),
            "x-ratelimit-reset": str(int(self.window_reset)),
            "x-ratelimit-used": str(self.window_used),
            "x-ratelimit-resource": "core",
        }


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _etag(raw: bytes) -> str:
    return f'W/"{hashlib.sha1(raw).hexdigest()}"'


def _when(text: str) -> tuple[datetime, datetime, bool]:
    """A created-filter bound: (start, end, is a whole day)."""
    text = text.strip()
    if re.fullmatch(r"\d{4}-\d\d-\d\d", text):
        day = datetime.fromisoformat(text).replace(tzinfo=UTC)
        return day, day + timedelta(days=1), True
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value, value, False


def created_matches(spec: str, created: datetime) -> bool:
    """GitHub's search syntax for ``created``: >=X, >X, <=X, <X, X..Y (inclusive, * open), X."""
    for op in (">=", "<=", ">", "<"):
        if spec.startswith(op):
            start, end, day = _when(spec[len(op) :])
            return {
                ">=": created >= start,
                ">": created >= end if day else created > start,
                "<=": created < end if day else created <= end,
                "<": created < start,
            }[op]
    if ".." in spec:
        left, right = spec.split("..", 1)
        if left.strip() != "*" and created < _when(left)[0]:
            return False
        if right.strip() != "*":
            _, end, day = _when(right)
            return created < end if day else created <= end
        return True
    start, end, day = _when(spec)
    return start <= created < end if day else created == start


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def _handler(fake: FakeGitHub) -> type[BaseHTTPRequestHandler]:
    data = fake.data

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            # headers and body go out in separate writes: without this, Nagle + delayed ACK add ~40 ms
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, *args: Any) -> None:
            pass

        # -- answering ---------------------------------------------------------------------------

        def _raw(self, status: int, body: bytes, headers: dict[str, str], *, truncate: bool = False) -> None:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if truncate and len(body) > 1:
                with fake.lock:
                    fake.stats.faults["truncated"] += 1
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(body)

        def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None, *, kind: str = "") -> None:
            raw = json.dumps(payload).encode()
            out = {"Content-Type": "application/json; charset=utf-8", **fake._rate_headers(), **(headers or {})}
            if status == 200:
                tag = _etag(raw)
                out["ETag"] = tag
                if self.headers.get("If-None-Match") == tag:
                    self._finish_count(304, kind)
                    self.send_response(304)
                    for key, value in out.items():
                        if key != "Content-Type":
                            self.send_header(key, value)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
            self._finish_count(status, kind)
            self._raw(status, raw, out, truncate=status == 200 and fake._draw(fake.faults.truncate_rate))

        def _finish_count(self, status: int, kind: str) -> None:
            with fake.lock:
                fake.requests.append((self.path, status))
                if status == 304:
                    fake.stats.not_modified += 1
                elif kind != "rate_limit":
                    fake.stats.counted += 1
                    fake.window_used += 1

        def _reset(self) -> None:
            with fake.lock:
                fake.stats.faults["reset"] += 1
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True

        # -- routing -----------------------------------------------------------------------------

        def do_GET(self) -> None:
            faults = fake.faults
            url = urlparse(self.path)
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            if faults.latency:
                time.sleep(faults.latency)
            with fake.lock:
                fake.stats.total += 1
            if url.path.startswith("/_blob/"):
                self._blob(url.path, query)
                return
            with fake.lock:
                fake.stats.api += 1
            if fake._draw(faults.reset_rate):
                self._reset()
                return
            if fake._draw(faults.error_rate) or any(re.search(p, url.path) for p in faults.always_fail):
                with fake.lock:
                    fake.stats.faults["5xx"] += 1
                self._json(502, {"message": "Server Error"}, kind="error")
                return
            if not self._authorized():
                return
            if url.path == "/user":
                self._json(200, {"login": COMMENT_AUTHOR, "id": 1, "type": "User"}, kind="user")
                return
            if url.path == "/rate_limit":
                core = {k.split("-")[-1]: int(v) for k, v in fake._rate_headers().items() if v.isdigit()}
                self._json(200, {"resources": {"core": core}, "rate": core}, kind="rate_limit")
                return
            with fake.lock:
                now = time.time()
                window = faults.primary_reset_s if faults.primary_limit else 3600.0
                if now >= fake.window_reset:
                    fake.window_used = 0
                    fake.window_reset = now + window
                fake.window_reset = min(fake.window_reset, now + window)
                once = faults.primary_once_after
                if once is not None and not fake.primary_spent and fake.stats.counted >= once:
                    fake.primary_spent = True
                    fake.window_used = faults.primary_limit or fake.rate_limit
                    fake.window_reset = now + faults.primary_reset_s
                limit = faults.primary_limit or fake.rate_limit
                exhausted = (faults.primary_limit is not None or fake.primary_spent) and fake.window_used >= limit
            if exhausted:
                with fake.lock:
                    fake.stats.faults["primary"] += 1
                self._json(
                    403,
                    {"message": "API rate limit exceeded for user ID 1.", "documentation_url": "https://docs.github.com"},
                    kind="primary",
                )
                return
            if fake._draw(faults.secondary_rate):
                with fake.lock:
                    fake.stats.faults["secondary"] += 1
                self._json(
                    403,
                    {"message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."},
                    {"Retry-After": str(faults.retry_after)},
                    kind="secondary",
                )
                return
            self._route(url.path, query)

        def _authorized(self) -> bool:
            auth = self.headers.get("Authorization") or ""
            if fake.faults.unauthorized or auth not in (f"token {fake.token}", f"Bearer {fake.token}"):
                message = "Requires authentication" if not auth else "Bad credentials"
                self._json(401, {"message": message, "documentation_url": "https://docs.github.com/rest"}, kind="auth")
                return False
            return True

        # -- pull-request comments ----------------------------------------------------------------

        def _comment_json(self, comment: dict[str, Any]) -> dict[str, Any]:
            repo = data.full_name
            return {**comment, "url": f"{fake.url}/repos/{repo}/issues/comments/{comment['id']}",
                    "html_url": f"https://github.test/{repo}/pull/{COMMENT_PR}#issuecomment-{comment['id']}"}  # fmt: skip

        def _comments_page(self, query: dict[str, str], path: str) -> None:
            page, per = max(1, int(query.get("page") or 1)), 2  # small pages: an upsert must follow Link headers
            with fake.lock:
                items = fake.comments[(page - 1) * per : page * per]
                more = page * per < len(fake.comments)
            headers = {"Link": f'<{fake.url}{path}?page={page + 1}>; rel="next"'} if more else {}
            self._json(200, [self._comment_json(c) for c in items], headers, kind="comments")

        def _write_body(self) -> dict[str, Any]:
            length = int(self.headers.get("Content-Length") or 0)
            body: dict[str, Any] = json.loads(self.rfile.read(length) or b"{}")
            return body

        def do_POST(self) -> None:
            path, body = urlparse(self.path).path, self._write_body()  # the body is read first: keep-alive
            with fake.lock:
                fake.write_log.append(("POST", path))
            if not self._authorized():
                return
            if path != f"/repos/{data.full_name}/issues/{COMMENT_PR}/comments":
                self._json(404, {"message": "Not Found"}, kind="missing")
                return
            created = fake.add_comment(COMMENT_AUTHOR, str(body.get("body", "")))
            with fake.lock:
                lost, fake.fail_next_post_after_write = fake.fail_next_post_after_write, False
            if lost:  # written, but the client never learns it
                self._json(502, {"message": "Bad Gateway"}, kind="error")
            else:
                self._json(201, self._comment_json(created), kind="write")

        def do_PATCH(self) -> None:
            path, body = urlparse(self.path).path, self._write_body()  # the body is read first: keep-alive
            with fake.lock:
                fake.write_log.append(("PATCH", path))
            if not self._authorized():
                return
            prefix = f"/repos/{data.full_name}/issues/comments/"
            cid = int(path[len(prefix) :]) if path.startswith(prefix) and path[len(prefix) :].isdigit() else -1
            with fake.lock:
                match = next((c for c in fake.comments if c["id"] == cid), None)
                if match is not None:
                    match["body"] = str(body.get("body", ""))
            if match is None:
                self._json(404, {"message": "Not Found"}, kind="missing")
            else:
                self._json(200, self._comment_json(match), kind="write")

        # -- reading ------------------------------------------------------------------------------

        def _route(self, path: str, query: dict[str, str]) -> None:
            repo_id = data.repo.get("id")
            prefix = f"/repos/{data.full_name}"
            if path.startswith(f"/repositories/{repo_id}"):
                path = prefix + path[len(f"/repositories/{repo_id}") :]
            if not (path == prefix or path.startswith(prefix + "/")):
                self._json(404, {"message": "Not Found"}, kind="missing")
                return
            rest = path[len(prefix) :].strip("/")
            parts = rest.split("/") if rest else []
            fake.stats.kinds[_kind(parts)] += 1
            if not parts:
                self._json(200, data.repo, kind="repo")
            elif parts == ["actions", "workflows"]:
                self._page("workflows", data.workflows, query, path)
            elif parts == ["actions", "runs"]:
                self._runs(None, query, path)
            elif len(parts) == 4 and parts[:2] == ["actions", "workflows"] and parts[3] == "runs":
                flow = next((w for w in data.workflows if parts[2] in (str(w["id"]), w["path"].rsplit("/", 1)[-1])), None)
                if flow is None:
                    self._json(404, {"message": "Not Found"}, kind="missing")
                else:
                    self._runs(flow["id"], query, path)
            elif len(parts) >= 3 and parts[:2] == ["actions", "runs"] and parts[2].isdigit():
                self._run(int(parts[2]), parts[3:], query, path)
            elif len(parts) >= 3 and parts[:2] == ["actions", "jobs"] and parts[2].isdigit():
                self._job(int(parts[2]), parts[3:])
            elif len(parts) == 3 and parts[0] == "check-runs" and parts[2] == "annotations" and parts[1].isdigit():
                self._page(None, data.annotations.get(int(parts[1]), []), query, path)
            elif parts == ["issues", str(COMMENT_PR), "comments"]:
                self._comments_page(query, path)
            elif parts and parts[0] == "contents":
                text = data.files.get("/".join(parts[1:]))
                if text is None:
                    self._json(404, {"message": "Not Found"}, kind="missing")
                    return
                raw = text.encode()
                self._json(200, {
                    "type": "file", "encoding": "base64", "size": len(raw), "name": parts[-1],
                    "path": "/".join(parts[1:]), "sha": hashlib.sha1(raw).hexdigest(),
                    "content": base64.encodebytes(raw).decode(),
                }, kind="contents")  # fmt: skip
            else:
                self._json(404, {"message": "Not Found"}, kind="missing")

        def _page(self, key: str | None, items: list[Any], query: dict[str, str], path: str, *,
                  cap: int | None = None, extra: dict[str, Any] | None = None) -> None:  # fmt: skip
            per_page = min(100, max(1, int(query.get("per_page") or 30)))
            page = max(1, int(query.get("page") or 1))
            reachable = items[:cap] if cap is not None else items
            chunk = reachable[(page - 1) * per_page : page * per_page]
            pages = max(1, -(-len(reachable) // per_page))
            links = []
            base = f"{fake.url}/repositories/{data.repo.get('id')}{path[len('/repos/' + data.full_name):]}"

            def link(n: int, rel: str) -> str:
                return f'<{base}?{urlencode({**query, "page": str(n)})}>; rel="{rel}"'

            if page < pages:
                links += [link(page + 1, "next"), link(pages, "last")]
            if page > 1:
                links += [link(page - 1, "prev"), link(1, "first")]
            headers = {"Link": ", ".join(links)} if links else {}
            body: Any = chunk if key is None else {"total_count": len(items), key: chunk, **(extra or {})}
            self._json(200, body, headers, kind="page")

        def _runs(self, workflow_id: int | None, query: dict[str, str], path: str) -> None:
            runs = fake.visible_runs()
            if workflow_id is not None:
                runs = [r for r in runs if r["workflow_id"] == workflow_id]
            if "branch" in query:
                runs = [r for r in runs if r["head_branch"] == query["branch"]]
            if "event" in query:
                runs = [r for r in runs if r["event"] == query["event"]]
            if "status" in query:
                runs = [r for r in runs if query["status"] in (r["status"], r["conclusion"])]
            if "created" in query:
                runs = [r for r in runs if created_matches(query["created"], _parse_time(r["created_at"]))]
            filtered = any(k in query for k in FILTERS)
            self._page("workflow_runs", runs, query, path, cap=fake.listing_cap if filtered else None)

        def _run(self, run_id: int, rest: list[str], query: dict[str, str], path: str) -> None:
            run = data.runs.get(run_id)
            if run is None or run_id in fake.hidden:
                self._json(404, {"message": "Not Found"}, kind="missing")
                return
            latest = fake._latest(run)
            attempt = latest["run_attempt"]
            if len(rest) >= 2 and rest[0] == "attempts" and rest[1].isdigit():
                attempt = int(rest[1])
                rest = rest[2:]
                if fake._attempt(run_id, attempt) is None:
                    self._json(404, {"message": "Not Found"}, kind="missing")
                    return
            jobs = data.jobs.get(run_id, [])
            if not rest:
                self._json(200, fake._attempt(run_id, attempt), kind="run")
            elif rest == ["jobs"]:
                if query.get("filter") != "all" or "attempts" in path:
                    jobs = [j for j in jobs if j["run_attempt"] == attempt]
                self._page("jobs", jobs, query, path)
            elif rest == ["logs"]:
                self._redirect(f"/_blob/runs/{run_id}/{attempt}")
            else:
                self._json(404, {"message": "Not Found"}, kind="missing")

        def _job(self, job_id: int, rest: list[str]) -> None:
            job = next((j for j in data.all_jobs() if j["id"] == job_id and j["run_id"] not in fake.hidden), None)
            if job is None:
                self._json(404, {"message": "Not Found"}, kind="missing")
            elif not rest:
                self._json(200, job, kind="job")
            elif rest == ["logs"]:
                if job_id in fake.faults.expired_logs:
                    with fake.lock:
                        fake.stats.faults["410"] += 1
                    self._json(410, {"message": "Gone"}, kind="expired")
                elif job_id not in data.logs:
                    self._json(404, {"message": "Not Found"}, kind="missing")
                else:
                    self._redirect(f"/_blob/jobs/{job_id}")
            else:
                self._json(404, {"message": "Not Found"}, kind="missing")

        def _redirect(self, blob: str) -> None:
            expires = int(time.time()) + 60
            location = f"{fake.url}{blob}?{urlencode({'se': str(expires), 'sig': 'fake'})}"
            self._finish_count(302, "redirect")
            self._raw(302, b"", {"Location": location, **fake._rate_headers()})

        def _blob(self, path: str, query: dict[str, str]) -> None:
            with fake.lock:
                fake.stats.blob += 1
                fake.requests.append((self.path, 0))
            if self.headers.get("Authorization"):
                with fake.lock:
                    fake.stats.blob_with_auth += 1
                self._raw(400, b"InvalidAuthenticationInfo: a signed URL takes no Authorization header", {})
                return
            if fake._draw(fake.faults.reset_rate):
                self._reset()
                return
            if int(query.get("se") or 0) < time.time():
                self._raw(403, b"AuthenticationFailed: signed expiry time has passed", {})
                return
            parts = path.split("/")
            if parts[2] == "jobs":
                body = data.logs.get(int(parts[3]))
            else:
                body = _zip_logs(data.jobs.get(int(parts[3]), []), int(parts[4]), data.logs)
            if body is None:
                self._raw(404, b"BlobNotFound", {})
                return
            self._raw(200, body, {"Content-Type": "text/plain"}, truncate=fake._draw(fake.faults.truncate_rate))

    return Handler


def _kind(parts: list[str]) -> str:
    if not parts:
        return "repo"
    if parts[0] in ("check-runs", "contents"):
        return parts[0]
    if parts[:2] == ["actions", "jobs"]:
        return "job_logs" if parts[-1] == "logs" else "job"
    if parts[:2] == ["actions", "runs"] and len(parts) > 3:
        return {"jobs": "jobs", "logs": "run_logs"}.get(parts[-1], "attempt")
    return "/".join(p for p in parts if not p.isdigit())


def _zip_logs(jobs: list[dict[str, Any]], attempt: int, logs: dict[int, bytes]) -> bytes | None:
    chosen = [j for j in jobs if j["run_attempt"] == attempt and j["id"] in logs]
    if not chosen:
        return None
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for n, job in enumerate(chosen):
            archive.writestr(f"{n}_{job['name']}.txt", logs[job["id"]])
    return buffer.getvalue()


# -- what a complete fetch must have stored ------------------------------------------------------


def expected_state(fake: FakeGitHub) -> dict[str, Any]:
    """Run attempts, jobs, logs and annotations a complete fetch stores, from the server's own data."""
    from analyzer.collect.rest import annotation_from_json, run_from_json

    repo = fake.data.full_name
    visible = {r["id"] for r in fake.visible_runs()}
    data = fake.data
    runs = {k: run_from_json(fake._attempt(*k), repo) for k in data.attempts if k[0] in visible}
    jobs = [j for j in data.all_jobs() if j["run_id"] in visible]
    logs: dict[int, tuple[str, bytes | None]] = {}
    notes = {}
    for job in jobs:
        if job["conclusion"] != "skipped":
            if job["id"] in fake.faults.expired_logs:
                logs[job["id"]] = ("expired", None)
            else:
                logs[job["id"]] = ("ok", data.logs[job["id"]]) if job["id"] in data.logs else ("missing", None)
        if job["conclusion"] not in ("success", "skipped", "neutral"):
            notes[job["id"]] = [annotation_from_json(a, job["id"]) for a in data.annotations.get(job["id"], [])]
    return {"runs": runs, "jobs": jobs, "logs": logs, "notes": notes}


def assert_store_matches(fake: FakeGitHub, path: Path) -> None:
    """Every run attempt, job, step, log and annotation the server has is stored, equal to it."""
    from analyzer.collect.rest import job_from_json
    from analyzer.store import Store

    repo = fake.data.full_name
    want = expected_state(fake)
    with Store(path) as store:
        assert {(r.run_id, r.run_attempt): r for r in store.load_runs(repo)} == want["runs"]
        assert sorted(store.job_ids(repo)) == sorted(j["id"] for j in want["jobs"])
        for raw in want["jobs"]:
            flow = want["runs"][(raw["run_id"], raw["run_attempt"])].workflow_name
            assert store.load_job(raw["id"]) == job_from_json(raw, repo, flow)
        counts = store.counts()
        assert counts["steps"] == sum(len(j["steps"]) for j in want["jobs"])
        assert counts["logs"] == len(want["logs"])
        for job_id, (state, data) in want["logs"].items():
            part = store.load_log_parts(job_id)[0]
            assert (part.state, part.data) == (state, data), job_id
        assert counts["annotations"] == sum(len(n) for n in want["notes"].values())
        for job_id, notes in want["notes"].items():
            assert store.load_annotations(job_id) == notes
        files = {path: text for _, path, _, text in store.load_workflow_files(repo)}
        assert files == fake.data.files
        assert store.integrity_ok()


def dump_store(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, sorted, without the columns that record when a row was written."""
    skip = {"logs": {"saved_at"}, "parse_state": {"parsed_at"}}
    conn = sqlite3.connect(path)
    try:
        out: dict[str, list[tuple[Any, ...]]] = {}
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
        for table in tables:
            if table in ("meta", "sources"):
                continue
            cols = [r[1] for r in conn.execute(f"PRAGMA table_info({table})") if r[1] not in skip.get(table, set())]
            out[table] = sorted(conn.execute(f"SELECT {', '.join(cols)} FROM {table}").fetchall(), key=repr)
        return out
    finally:
        conn.close()


# -- driving a fetch against the fake ---------------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]
SINCE = "2026-01-01"


def fast_policy() -> ClientPolicy:
    """Retries and limits for tests: short backoffs, no pacing."""
    from analyzer.collect.github import ClientPolicy

    return ClientPolicy(backoff_s=0.02, backoff_max_s=0.2, secondary_wait_s=1.0, per_minute=100_000)


def run_fetch(fake: FakeGitHub, path: Path, **options: Any) -> FetchSummary:
    """``analyzer.collect.fetch.fetch`` of the fake's repository into the store at ``path``."""
    from analyzer.collect.fetch import fetch
    from analyzer.config import Settings
    from analyzer.store import Store

    options.setdefault("since", SINCE)
    options.setdefault("policy", fast_policy())
    with Store(path) as store:
        return fetch(Settings(), store, repo=fake.data.full_name, api_url=fake.url, token=TOKEN, **options)


def cli(args: list[str], cwd: Path, **env: str) -> subprocess.Popen[str]:
    """``we-advisor ARGS`` in a process of its own (so it can be killed, or run beside another)."""
    code = "import sys; from analyzer.cli import main; sys.argv[0] = 'we-advisor'; main()"
    environ = {**os.environ, "GITHUB_TOKEN": "", "GH_TOKEN": "", "PYTHONPATH": str(ROOT), **env}
    return subprocess.Popen(
        [sys.executable, "-c", code, *args], cwd=cwd, env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )


def cli_process(fake: FakeGitHub, store: Path, cwd: Path, *extra: str) -> subprocess.Popen[str]:
    """``we-advisor fetch`` of the fake's repository in a process of its own."""
    args = ["fetch", "--repo", fake.data.full_name, "--since", SINCE, "--api-url", fake.url, "--store", str(store)]
    return cli([*args, *extra], cwd, GITHUB_TOKEN=TOKEN)


def wait_for_requests(fake: FakeGitHub, count: int, process: subprocess.Popen[str], limit_s: float = 30.0) -> None:
    """Until the fake has answered ``count`` requests (since its stats were reset), or the process ended."""
    deadline = time.monotonic() + limit_s
    while fake.stats.total < count and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)


def parsed_jobs(db: Path) -> int:
    """Jobs with parsed data committed in the store (0 while it cannot be read)."""
    if not db.exists():
        return 0
    with contextlib.suppress(sqlite3.Error), contextlib.closing(sqlite3.connect(db, timeout=0.1)) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM parse_state").fetchone()[0])
    return 0


def wait_for_parsing(db: Path, process: subprocess.Popen[str], limit_s: float = 30.0, *, beyond: int = 0) -> None:
    """Until the fetch has parsed more than ``beyond`` jobs (its first parsed job is committed)."""
    deadline = time.monotonic() + limit_s
    while process.poll() is None and time.monotonic() < deadline:
        if parsed_jobs(db) > beyond:
            return
        time.sleep(0.002)


# -- a generated export folder -----------------------------------------------------------------

REPO_NAME = "acme/widgets"


def build_export(
    folder: Path, *, runs: int = 40, jobs_per_run: int = 3, seed: int = 1, end: datetime | None = None,
    big_run_jobs: int = 0,
) -> Path:  # fmt: skip
    """A small, varied history: two workflows, two branches, reruns, failures with annotations,
    a timed-out job, a skipped job, a job without a log; one run with ``big_run_jobs`` jobs (pages)."""
    rng = random.Random(seed)
    end = end or datetime(2026, 11, 20, tzinfo=UTC)
    folder.mkdir(parents=True, exist_ok=True)
    for sub in ("attempts", "jobs", "logs", "annotations", "workflow-files/.github/workflows"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    owner, name = REPO_NAME.split("/")
    repo = {"id": 4242, "name": name, "full_name": REPO_NAME, "default_branch": "main",
            "created_at": "2024-01-01T00:00:00Z", "owner": {"login": owner}}  # fmt: skip
    flows = [
        {"id": 11, "name": "CI", "path": ".github/workflows/ci.yml", "state": "active"},
        {"id": 12, "name": "E2E", "path": ".github/workflows/e2e.yml", "state": "active"},
    ]
    (folder / "repo.json").write_text(json.dumps(repo))
    (folder / "workflows.json").write_text(json.dumps({"total_count": 2, "workflows": flows}))
    for flow, minutes in zip(flows, (10, 30), strict=True):
        (folder / "workflow-files" / flow["path"]).write_text(
            f"name: {flow['name']}\non: [push]\njobs:\n  build:\n    runs-on: ubuntu-latest\n"
            f"    timeout-minutes: {minutes}\n    steps:\n      - run: make\n"
        )
    latest: list[dict[str, Any]] = []
    job_id = 9_000_000
    for n in range(runs):
        run_id = 5_000_000 + n * 7
        created = end - timedelta(hours=6 * (runs - n)) + timedelta(minutes=rng.randint(0, 300))
        flow = flows[n % 2]
        attempts = 2 if n % 9 == 4 else 1
        count = big_run_jobs if (big_run_jobs and n == runs // 2) else jobs_per_run
        base = {
            "id": run_id, "name": flow["name"], "display_title": f"change {n}", "path": flow["path"],
            "event": "push", "head_branch": "main" if n % 3 else "feature/x",
            "head_sha": hashlib.sha1(str(n).encode()).hexdigest(), "workflow_id": flow["id"],
            "run_number": n + 1, "status": "completed", "repository": {"full_name": REPO_NAME},
        }  # fmt: skip
        jobs: list[dict[str, Any]] = []
        for attempt in range(1, attempts + 1):
            start = created + timedelta(hours=attempt - 1)
            conclusions = []
            for k in range(count):
                if attempt < attempts:
                    conclusions.append("failure" if k == 0 else "success")
                elif n % 11 == 3 and k == 0:
                    conclusions.append("cancelled")  # a job timeout: concludes cancelled, annotation says why
                elif n % 13 == 5 and k == count - 1:
                    conclusions.append("skipped")
                else:
                    conclusions.append("success" if rng.random() > 0.15 else "failure")
            for k, conclusion in enumerate(conclusions):
                job_id += rng.randint(1, 50)
                jstart = start + timedelta(seconds=20 + 5 * k)
                steps = []
                t = jstart
                for s, step in enumerate(("Set up job", "Run actions/checkout@v4", f"Run make test-{k}", "Complete job"), 1):
                    length = timedelta(seconds=2 if s != 3 else rng.randint(30, 600))
                    steps.append({"number": s, "name": step, "status": "completed",
                                  "conclusion": "success" if conclusion != "skipped" else "skipped",
                                  "started_at": _iso(t), "completed_at": _iso(t + length)})  # fmt: skip
                    t += length
                if conclusion in ("failure", "cancelled"):
                    steps[2]["conclusion"] = conclusion
                job = {
                    "id": job_id, "run_id": run_id, "run_attempt": attempt, "workflow_name": flow["name"],
                    "name": f"test ({k})" if count > 1 else "test", "status": "completed", "conclusion": conclusion,
                    "created_at": _iso(jstart - timedelta(seconds=15)), "started_at": _iso(jstart),
                    "completed_at": _iso(t), "labels": ["ubuntu-latest"], "runner_name": f"GitHub Actions {k}",
                    "head_branch": base["head_branch"], "head_sha": base["head_sha"], "steps": steps,
                    "check_run_url": f"https://api.github.com/repos/{REPO_NAME}/check-runs/{job_id}",
                }  # fmt: skip
                jobs.append(job)
                if conclusion != "skipped" and not (n % 17 == 8 and k == 0):
                    (folder / "logs" / f"{job_id}.txt.gz").write_bytes(
                        gzip.compress(_log(job, conclusion, rng), mtime=0)
                    )
                if conclusion == "cancelled":
                    notes = [{"annotation_level": "failure", "path": ".github", "start_line": 1, "title": "",
                              "message": "The job has exceeded the maximum execution time of 30m0s"}]  # fmt: skip
                elif conclusion == "failure":
                    notes = [{"annotation_level": "failure", "path": ".github", "start_line": 1, "title": "",
                              "message": "Process completed with exit code 2."}]  # fmt: skip
                else:
                    notes = []
                if notes:
                    (folder / "annotations" / f"{job_id}.json").write_text(json.dumps(notes))
            concl = "failure" if any(c in ("failure", "cancelled") for c in conclusions) else "success"
            record = {**base, "run_attempt": attempt, "conclusion": concl, "created_at": _iso(created),
                      "run_started_at": _iso(start), "updated_at": _iso(start + timedelta(minutes=20))}  # fmt: skip
            if attempt < attempts:
                (folder / "attempts" / f"{run_id}-{attempt}.json").write_text(json.dumps(record))
            else:
                latest.append(record)
        (folder / "jobs" / f"{run_id}.json").write_text(json.dumps({"total_count": len(jobs), "jobs": jobs}))
    latest.sort(key=lambda r: (r["created_at"], r["id"]), reverse=True)
    (folder / "runs.json").write_text(json.dumps({"total_count": len(latest), "workflow_runs": latest}))
    return folder


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _log(job: dict[str, Any], conclusion: str, rng: random.Random) -> bytes:
    lines = ["Current runner version: '2.329.0'", f"Complete job name: {job['name']}"]
    out = []
    for step in job["steps"]:
        t = _parse_time(step["started_at"])
        stamp = t.strftime("%Y-%m-%dT%H:%M:%S.0000000Z")
        if step["number"] == 1:
            out += [f"{stamp} {line}" for line in lines]
            continue
        out.append(f"{stamp} ##[group]{step['name']}")
        out.append(f"{stamp} ##[endgroup]")
        for i in range(rng.randint(3, 12)):
            out.append(f"{stamp} output line {i} of {step['name']}")
        if step["conclusion"] == "failure":
            out.append(f"{stamp} ##[error]Process completed with exit code 2.")
        if step["conclusion"] == "cancelled":
            out.append(f"{stamp} ##[error]The operation was canceled.")
    end = _parse_time(job["completed_at"]).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")
    out.append(f"{end} Cleaning up orphan processes")
    return ("\ufeff" + "\n".join(out) + "\n").encode()
