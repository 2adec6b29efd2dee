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
  counted in ``stats.blob_with_auth``. A run-log archive is built as GitHub builds it
  (``run_archive``): ``N_<job>.txt`` with the job's log, byte for byte what its own endpoint
  serves, beside ``<job>/M_<step>.txt`` files split from it by the steps' start times, names
  cleaned and cut as GitHub does; ``archive_layout`` "steps" gives the older layout (folders only),
  "whole" only the top-level files; ``archive_missing`` / ``archive_expired`` (run ids) answer 404 /
  410, ``archive_omits`` (job ids) leaves jobs out;
- ETag / ``If-None-Match`` (304, not counted), ``x-ratelimit-*`` headers, 401 for a bad token,
  404 for an unknown repository;
- what the composite action asks for: ``/runs/{id}/artifacts?name=`` (``add_artifact``), and the
  pull-request comment upsert: ``/user`` (403, as for an Actions token), ``GET``/``POST``
  ``/issues/{n}/comments`` for the numbers in ``pulls``, ``PATCH /issues/comments/{id}``; comments
  are written as ``github-actions[bot]`` and every write is listed in ``writes``. ``add_workflow``
  and ``add_run`` add workflows and runs while the server runs (the action's own runs);
  ``add_comment`` puts another author's comment there, ``comment_page_size`` makes the comment
  listing page in small steps (an upsert must follow ``Link``), ``fail_next_post_after_write``
  drops the answer to a POST that did happen, ``read_only`` refuses every write with 403 (a token
  without ``pull-requests: write``);
- pull requests (``tests/fake_pulls.py``, added with ``add_pull``): ``/pulls/{n}``, ``/pulls/{n}/files``,
  ``/issues?state=&labels=`` and ``/contents/{path}?ref=`` at their base and head commits.

Without a folder it serves an empty repository (``EMPTY_REPO``, for the comment tests); ``token``
is the only token it accepts. This is the one stand-in for GitHub in the tests; the shared fixtures
are in ``conftest.py``.

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
from urllib.parse import parse_qs, unquote, urlencode, urlparse

from tests.fake_export import REPO_NAME as REPO_NAME  # re-exported: the tests import both from here
from tests.fake_export import build_export as build_export
from tests.fake_export import iso_time, parse_time
from tests.fake_pulls import Pull, Pulls, minimal_pull

if TYPE_CHECKING:
    from analyzer.collect.github import ClientPolicy
    from analyzer.collect.summary import FetchSummary

TOKEN = "we-advisor-fake-token-7f3a9c21e5d8b604"  # recognizable, so tests can look for leaks
EMPTY_REPO = "acme/operator"  # what a FakeGitHub without a folder serves
ACTIONS_BOT = "github-actions[bot]"  # the author of the comments the fake writes (an Actions token)
COMMENT_PR = 7  # the pull request the comment tests write to
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
    # Transient faults are transient: one request target (path and query; a blob by its path) draws at most this
    # many random faults in the fake's lifetime, fewer than the client's 5 tries, so "everything retrievable
    # arrives" holds for every draw order the threads make, not only for most. always_fail, 410s and the primary
    # limit are not random and not capped.
    max_faults_per_target: int = 3


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

    repo: dict[str, Any]
    full_name: str
    workflows: list[dict[str, Any]]
    runs: dict[int, dict[str, Any]]
    attempts: dict[tuple[int, int], dict[str, Any]]
    jobs: dict[int, list[dict[str, Any]]]
    logs: dict[int, bytes]
    annotations: dict[int, list[dict[str, Any]]]
    files: dict[str, str]

    def __init__(self, folder: Path | None, *, repo: str = EMPTY_REPO) -> None:
        self.folder = folder
        if folder is None:  # an empty repository
            self.repo = {"id": 1, "name": repo.split("/")[1], "full_name": repo, "default_branch": "main"}
            self.full_name, self.workflows, self.runs, self.attempts = repo, [], {}, {}
            self.jobs, self.logs, self.annotations, self.files = {}, {}, {}, {}
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
    (no folder: an empty repository ``EMPTY_REPO``); only ``token`` is accepted."""

    def __init__(
        self, folder: Path | None = None, *, faults: Faults | None = None, listing_cap: int = 1000,
        rate_limit: int = 5000, token: str = TOKEN,
    ) -> None:  # fmt: skip
        self.data = Export(folder)
        self.token = token
        self.comment_page_size: int | None = None  # the comment listing's page size, whatever per_page asks
        self.fail_next_post_after_write = False  # the next comment POST is written, but answered 502
        self.faults = faults or Faults()
        self.listing_cap = listing_cap
        self.rate_limit = rate_limit
        self.stats = Stats()
        self.hidden: set[int] = set()  # run ids not served (not yet created, as far as clients know)
        self.overrides: dict[int, dict[str, Any]] = {}  # run id -> fields replaced in its latest attempt
        self.lock = threading.Lock()
        self.rng = random.Random(self.faults.seed)
        self.fault_count: Counter[str] = Counter()  # random faults drawn per request target
        self.window_used = 0
        self.window_reset = time.time() + 3600
        self.primary_spent = False  # Faults.primary_once_after has struck
        self.requests: list[tuple[str, int]] = []  # (path with query, status)
        # hold_after = N: every request after the N-th (stats.total) waits until ``released`` is set, so a
        # client is stopped mid-fetch for as long as a test needs, whatever the machine's speed (``hold``)
        self.hold_after: int | None = None
        self.released = threading.Event()
        self.archive_layout = "whole+steps"  # or "steps" (older archives), "whole"
        self.archive_missing: set[int] = set()  # run ids whose archives answer 404
        self.archive_expired: set[int] = set()  # run ids whose archives answer 410
        self.archive_omits: set[int] = set()  # job ids their run's archive leaves out
        self.artifacts: dict[int, list[dict[str, Any]]] = {}  # run id -> its artifacts
        self.pulls: set[int] = set()  # pull-request numbers that take comments
        self.comments: dict[int, list[dict[str, Any]]] = {}  # pull-request number -> its comments
        self.writes: list[tuple[str, str, int]] = []  # (method, path, status) of every POST/PATCH
        self.read_only = False  # every write answers 403, as for a token without pull-requests: write
        self.pull_requests = Pulls()  # full pull requests and issues (add_pull)
        self.next_id = 700_000_000
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

    def hold(self, after: int) -> threading.Event:
        """Requests after the ``after``-th (counted by ``stats.total``) wait until the returned event is set
        (or 120 s): a client cannot get past that point however fast it runs. ``held()`` tells when one waits."""
        with self.lock:
            self.released = threading.Event()
            self.hold_after = after
            return self.released

    def held(self) -> bool:
        """Whether a request is waiting in ``hold`` now (or has)."""
        with self.lock:
            return self.hold_after is not None and self.stats.total > self.hold_after

    def release(self) -> None:
        """Lets the held requests go and holds no more."""
        with self.lock:
            self.hold_after = None
            self.released.set()

    def end_rate_window(self) -> None:
        """The primary rate limit's window is over, as if its reset time had come: the next request starts
        a fresh one. (Tests that use it set a long ``primary_reset_s``, so a window ends when they say, not
        when the clock says: how many requests fit in one must not depend on the machine's speed.)"""
        with self.lock:
            self.window_reset = time.time()

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

    # -- growing the data while it is served --------------------------------------------------------

    def add_workflow(self, workflow_id: int, name: str, path: str) -> dict[str, Any]:
        flow = {"id": workflow_id, "name": name, "path": path, "state": "active"}
        with self.lock:
            self.data.workflows.append(flow)
        return flow

    def add_run(
        self, run: dict[str, Any], jobs: list[dict[str, Any]] | None = None, logs: dict[int, bytes] | None = None
    ) -> None:
        """A run (its latest attempt, in the REST shape), its jobs and their logs, served from now on."""
        with self.lock:
            self.data.runs[run["id"]] = run
            self.data.attempts[(run["id"], run["run_attempt"])] = run
            self.data.jobs[run["id"]] = sorted(jobs or [], key=lambda j: (j["run_attempt"], j["id"]))
            self.data.logs.update(logs or {})

    def add_artifact(self, run_id: int, name: str, size: int) -> dict[str, Any]:
        """An artifact of ``run_id`` (an upload-artifact step), as ``/runs/{id}/artifacts`` lists it."""
        now = datetime.now(UTC)
        with self.lock:
            self.next_id += 1
            run = self.data.runs[run_id]
            item = {
                "id": self.next_id, "node_id": f"MDg6QXJ0aWZhY3Q{self.next_id}", "name": name, "size_in_bytes": size,
                "url": f"{self.url}/repos/{self.data.full_name}/actions/artifacts/{self.next_id}",
                "archive_download_url": f"{self.url}/repos/{self.data.full_name}/actions/artifacts/{self.next_id}/zip",
                "expired": False, "created_at": iso_time(now), "updated_at": iso_time(now),
                "expires_at": iso_time(now + timedelta(days=90)),
                "workflow_run": {"id": run_id, "repository_id": self.data.repo.get("id"),
                                 "head_repository_id": self.data.repo.get("id"), "head_branch": run.get("head_branch"),
                                 "head_sha": run.get("head_sha")},
            }  # fmt: skip
            self.artifacts.setdefault(run_id, []).append(item)
        return item

    def add_comment(self, pr: int, author: str, body: str) -> dict[str, Any]:
        """A comment by ``author`` on pull request ``pr`` (which takes comments from now on)."""
        with self.lock:
            self.next_id += 1
            now = iso_time(datetime.now(UTC))
            comment = {"id": self.next_id, "body": body, "created_at": now, "updated_at": now,
                       "user": {"login": author, "id": 1, "type": "User"}}  # fmt: skip
            self.pulls.add(pr)
            self.comments.setdefault(pr, []).append(comment)
            return comment

    def add_pull(self, number: int, **options: Any) -> Pull:
        """A pull request (``tests.fake_pulls.Pulls.add``: labels, state, base and head files) that takes comments."""
        with self.lock:
            self.pulls.add(number)
            return self.pull_requests.add(number, repo=self.data.full_name, **options)

    def _comment_json(self, comment: dict[str, Any], pr: int) -> dict[str, Any]:
        repo = self.data.full_name
        return {**comment, "url": f"{self.url}/repos/{repo}/issues/comments/{comment['id']}",
                "html_url": f"https://github.test/{repo}/pull/{pr}#issuecomment-{comment['id']}"}  # fmt: skip

    # -- faults ----------------------------------------------------------------------------------

    def _draw(self, rate: float, target: str) -> bool:
        if rate <= 0:
            return False
        with self.lock:
            if self.fault_count[target] >= self.faults.max_faults_per_target:
                return False
            hit = self.rng.random() < rate
            if hit:
                self.fault_count[target] += 1
            return hit

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
            self._raw(status, raw, out, truncate=status == 200 and fake._draw(fake.faults.truncate_rate, self.path))

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
                held = fake.released if fake.hold_after is not None and fake.stats.total > fake.hold_after else None
            if held is not None:
                held.wait(timeout=120)
            if url.path.startswith("/_blob/"):
                self._blob(url.path, query)
                return
            with fake.lock:
                fake.stats.api += 1
            if fake._draw(faults.reset_rate, self.path):
                self._reset()
                return
            if fake._draw(faults.error_rate, self.path) or any(re.search(p, url.path) for p in faults.always_fail):
                with fake.lock:
                    fake.stats.faults["5xx"] += 1
                self._json(502, {"message": "Server Error"}, kind="error")
                return
            auth = self.headers.get("Authorization") or ""
            if faults.unauthorized or auth not in (f"token {fake.token}", f"Bearer {fake.token}"):
                message = "Requires authentication" if not auth else "Bad credentials"
                self._json(401, {"message": message, "documentation_url": "https://docs.github.com/rest"}, kind="auth")
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
            if fake._draw(faults.secondary_rate, self.path):
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

        def do_POST(self) -> None:
            self._write("POST")

        def do_PATCH(self) -> None:
            self._write("PATCH")

        def _write(self, method: str) -> None:
            """A comment created (POST /issues/{n}/comments) or edited (PATCH /issues/comments/{id})."""
            path = urlparse(self.path).path
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = str(json.loads(self.rfile.read(length) or b"{}")["body"])
            except (ValueError, KeyError, TypeError):
                body = None
            prefix = f"/repos/{data.full_name}/issues/"
            parts = path[len(prefix) :].split("/") if path.startswith(prefix) else []
            status, answer = 404, {"message": "Not Found"}
            auth = self.headers.get("Authorization") or ""
            with fake.lock:
                fake.stats.total += 1
                fake.stats.api += 1
                if fake.faults.unauthorized or auth not in (f"token {fake.token}", f"Bearer {fake.token}"):
                    status, answer = 401, {"message": "Bad credentials"}
                elif fake.read_only:
                    status, answer = 403, {"message": "Resource not accessible by integration",
                                           "documentation_url": "https://docs.github.com/rest/issues/comments"}  # fmt: skip
                elif body is None:
                    status, answer = 422, {"message": "Invalid request: body is missing"}
                elif method == "POST" and len(parts) == 2 and parts[1] == "comments" and parts[0].isdigit():
                    pr = int(parts[0])
                    if pr in fake.pulls:
                        fake.next_id += 1
                        now = iso_time(datetime.now(UTC))
                        comment = {"id": fake.next_id, "body": body, "created_at": now, "updated_at": now,
                                   "user": {"login": ACTIONS_BOT, "id": 41898282, "type": "Bot"}}  # fmt: skip
                        fake.comments.setdefault(pr, []).append(comment)
                        status, answer = 201, fake._comment_json(comment, pr)
                        if fake.fail_next_post_after_write:  # written, but the client never learns it
                            fake.fail_next_post_after_write = False
                            status, answer = 502, {"message": "Bad Gateway"}
                elif method == "PATCH" and len(parts) == 2 and parts[0] == "comments" and parts[1].isdigit():
                    for pr, items in fake.comments.items():
                        for comment in items:
                            if comment["id"] == int(parts[1]):
                                comment["body"], comment["updated_at"] = body, iso_time(datetime.now(UTC))
                                status, answer = 200, fake._comment_json(comment, pr)
                fake.writes.append((method, path, status))
            self._json(status, answer, kind="write")

        def _route(self, path: str, query: dict[str, str]) -> None:
            if path == "/user":  # an Actions token cannot ask who it is
                self._json(403, {"message": "Resource not accessible by integration",
                                 "documentation_url": "https://docs.github.com/rest/users/users"}, kind="user")  # fmt: skip
                return
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
            elif len(parts) == 3 and parts[0] == "issues" and parts[1].isdigit() and parts[2] == "comments":
                pr = int(parts[1])
                if pr not in fake.pulls:
                    self._json(404, {"message": "Not Found"}, kind="missing")
                    return
                with fake.lock:
                    items = [fake._comment_json(c, pr) for c in fake.comments.get(pr, [])]
                    size = fake.comment_page_size
                self._page(None, items, {**query, "per_page": str(size)} if size else query, path)
            elif parts and parts[0] in ("pulls", "issues"):
                self._pulls(parts, query, path)
            elif parts and parts[0] == "contents":
                file = unquote("/".join(parts[1:]))
                known, text = fake.pull_requests.text_at(query.get("ref"), file)
                if not known:
                    text = data.files.get(file)
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

        def _pulls(self, parts: list[str], query: dict[str, str], path: str) -> None:
            """``/pulls/{n}``, ``/pulls/{n}/files`` and the ``/issues`` listing (``tests/fake_pulls.py``)."""
            repo, pulls = data.full_name, fake.pull_requests
            number = int(parts[1]) if len(parts) >= 2 and parts[1].isdigit() else None
            with fake.lock:
                if parts == ["issues"]:
                    items: list[Any] | None = pulls.issues(repo, query)
                elif number is not None and len(parts) == 2 and parts[0] == "pulls":
                    found = pulls.pull_json(number, repo, fake.url)
                    if found is None and number in fake.pulls and number not in pulls.items:
                        found = minimal_pull(number, repo, fake.url)
                    items = None
                elif number is not None and parts[2:] == ["files"] and parts[0] == "pulls" and number in fake.pulls:
                    items = list(pulls.items[number].files) if number in pulls.items else []
                else:
                    items, found = None, None
            if items is not None:
                self._page(None, items, query, path)
            elif found is not None:
                self._json(200, found, kind="pull")
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
                runs = [r for r in runs if created_matches(query["created"], parse_time(r["created_at"]))]
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
                if run_id in fake.archive_expired:
                    self._json(410, {"message": "Gone"}, kind="expired")
                elif run_id in fake.archive_missing:
                    self._json(404, {"message": "Not Found"}, kind="missing")
                else:
                    self._redirect(f"/_blob/runs/{run_id}/{attempt}")
            elif rest == ["artifacts"]:
                with fake.lock:
                    items = [a for a in fake.artifacts.get(run_id, []) if query.get("name", a["name"]) == a["name"]]
                self._page("artifacts", items, query, path)
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
            if fake._draw(fake.faults.reset_rate, path):
                self._reset()
                return
            if int(query.get("se") or 0) < time.time():
                self._raw(403, b"AuthenticationFailed: signed expiry time has passed", {})
                return
            parts = path.split("/")
            if parts[2] == "jobs":
                body = data.logs.get(int(parts[3]))
            else:
                run_jobs = [j for j in data.jobs.get(int(parts[3]), []) if j["id"] not in fake.archive_omits]
                served = {k: v for k, v in data.logs.items() if k not in fake.faults.expired_logs}
                body = run_archive(run_jobs, int(parts[4]), served, layout=fake.archive_layout)
            if body is None:
                self._raw(404, b"BlobNotFound", {})
                return
            self._raw(200, body, {"Content-Type": "text/plain"}, truncate=fake._draw(fake.faults.truncate_rate, path))

    return Handler


def _kind(parts: list[str]) -> str:
    if not parts:
        return "repo"
    if parts[0] in ("check-runs", "contents"):
        return parts[0]
    if parts[:2] == ["actions", "jobs"]:
        return "job_logs" if parts[-1] == "logs" else "job"
    if parts[:2] == ["actions", "runs"] and len(parts) > 3:
        return {"jobs": "jobs", "logs": "run_logs", "artifacts": "artifacts"}.get(parts[-1], "attempt")
    return "/".join(p for p in parts if not p.isdigit())


BOM = b"\xef\xbb\xbf"


def archive_name(name: str, limit: int = 90) -> str:
    """A name as GitHub writes it in a run-log archive: ``/`` and ``:`` dropped, cut at ``limit``
    UTF-16 units (possibly inside a character), trimmed."""
    cleaned = name.replace("/", "").replace(":", "")
    units = cleaned.encode("utf-16-le")
    if len(units) > 2 * limit:
        cleaned = units[: 2 * limit].decode("utf-16-le", "replace")
    return cleaned.strip()


def step_files(log: bytes, steps: list[dict[str, Any]]) -> list[tuple[int, str, bytes]]:
    """A job log cut into per-step files at the steps' start times (each with its own BOM when the
    log has one): joined again (one BOM, the others dropped) they are the log."""
    bom = log.startswith(BOM)
    lines = (log[len(BOM) :] if bom else log).splitlines(keepends=True)
    started = sorted(
        ((parse_time(s["started_at"]), s["number"], s["name"]) for s in steps if s.get("started_at")),
        key=lambda t: (t[0], t[1]),
    )
    if not started:
        return []
    chunks: dict[int, list[bytes]] = {}
    current = 0
    for line in lines:
        stamp = line[:28].decode("ascii", "replace")
        if len(stamp) == 28 and stamp[4] == "-" and stamp.endswith("Z"):
            at = parse_time(stamp[:19] + "Z")
            while current + 1 < len(started) and started[current + 1][0] <= at:
                current += 1
        chunks.setdefault(current, []).append(line)
    return [
        (started[i][1], started[i][2], (BOM if bom else b"") + b"".join(chunk)) for i, chunk in sorted(chunks.items())
    ]


def run_archive(jobs: list[dict[str, Any]], attempt: int, logs: dict[int, bytes], *, layout: str = "whole+steps") -> bytes | None:
    """The run-log archive of one attempt, as GitHub builds it: ``N_<job>.txt`` (N: the job's place
    in the attempt, skipped ones included) holding the job's log, and ``<job>/M_<step>.txt``."""
    listed = [j for j in jobs if j["run_attempt"] == attempt]
    chosen = [(n, j) for n, j in enumerate(listed) if j["id"] in logs]
    if not chosen:
        return None
    names = [archive_name(j["name"]) for _, j in chosen]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for (n, job), name in zip(chosen, names, strict=True):
            if layout != "steps":
                archive.writestr(f"{n}_{name}.txt", logs[job["id"]])
            if layout != "whole" and names.count(name) == 1:
                for number, step, data in step_files(logs[job["id"]], job.get("steps") or []):
                    archive.writestr(f"{name}/{number}_{step.replace('/', '_').replace(':', '')}.txt", data)
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
            if table in ("meta", "sources", "observation_columns", "job_columns"):  # (the last two: caches, written by reads)
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
