"""The GitHub REST client: the only module that imports PyGithub.

Every request goes through PyGithub's ``Requester`` (authentication, ``GithubRetry``, its
exceptions) as plain JSON, never through PyGithub's object model: a list item's attribute that is
absent from the list JSON, and even ``raw_data``, "completes" the object with one extra GET each.
Reading pages as JSON also lets ``fetch`` send ``If-None-Match`` and track which pages it has
stored. GitHub errors become ``GitHubError``s here, at the boundary, with the cause kept.

Choices made deliberately, against PyGithub's defaults:

- retries: ``GithubRetry`` with a few tries and exponential backoff (its default is 10 tries with
  no backoff), 429 retried too, every wait on a rate limit (``Retry-After`` included) capped at
  ``max_wait_s``, and a 5xx that outlasts the retries answered as a response, not as
  ``requests.exceptions.RetryError``;
- throttling: PyGithub's per-client pause (0.25 s between requests, one client per thread) is off;
  instead one pacer shared by all threads keeps API requests under GitHub's secondary limit of
  900 points a minute, and a shared gate waits for (or stops at) an exhausted primary limit;
- logs: the logs endpoint answers 302 to a short-lived URL on another host. It is downloaded with
  plain ``requests``, streaming, without the Authorization header, its length checked against
  Content-Length, retried when cut short, and a fresh URL asked for if the first one expired.

The token lives only in PyGithub's auth object: it never appears in a message raised from here.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode, urlparse

import requests
from github import Auth, Github, GithubException, GithubRetry
from github.GithubException import RateLimitExceededExceedsMaxWait
from github.Requester import Requester

from analyzer.collect.transport import (
    Cut,
    Pacer,
    Stale,
    decode_content,
    describe,
    int_header,
    loads,
    next_link,
    no_auth,
    rate_error,
)
from analyzer.errors import AuthError, GitHubError, NotFoundError

__all__ = [
    "DEFAULT_API_URL",
    "LISTING_CAP",
    "PER_PAGE",
    "Answer",
    "ClientPolicy",
    "GitHubClient",
    "LogDownload",
    "PostedComment",
    "RateSnapshot",
]

DEFAULT_API_URL = "https://api.github.com"
LISTING_CAP = 1000  # a filtered run listing (branch, created, ...) never returns more than this
PER_PAGE = 100
USER_AGENT = "we-advisor (PyGithub)"

AUTH_HINT = (
    "set GITHUB_TOKEN (or GH_TOKEN) to a token that can read the repository's Actions and Checks: "
    "a fine-grained token with `actions: read` and `checks: read` (plus `contents: read` for workflow files), "
    "or a classic token with `repo` scope for a private repository; e.g. export GITHUB_TOKEN=$(gh auth token)"
)
PERMISSION_HINT = (
    "the token needs `actions: read` and `checks: read` (fine-grained) or `repo` scope (classic) "
    "on this repository"
)
RETRY_HINT = "GitHub or the network had trouble; run the same command again: everything fetched so far is kept"
WRITE_HINT = (
    "the token needs `pull-requests: write` to comment: in a workflow, `permissions: pull-requests: write` on the job "
    "(a pull_request run from a fork only ever gets a read-only token); a fine-grained token: Pull requests read and write"
)
PULL_HINT = (
    "the token needs `pull-requests: read` and `contents: read` (fine-grained) or `repo` scope (classic) on this repository"
)


@dataclass(frozen=True, slots=True)
class ClientPolicy:
    """How hard to try and how fast to go."""

    tries: int = 5  # per request, the first included
    backoff_s: float = 0.5  # exponential: 0, 1, 2, 4 s ... between tries (urllib3 retries the first at once)
    backoff_max_s: float = 20.0
    secondary_wait_s: float = 60.0  # a secondary limit without Retry-After: GitHub asks for a minute
    timeout_s: int = 30  # one API request
    log_timeout_s: float = 120.0  # reading one log download
    per_minute: int = 800  # API requests a minute across all threads (GitHub: 900 points)


@dataclass(frozen=True, slots=True)
class Answer:
    """One GET: JSON ``data`` (200), or ``not_modified`` (304, ``data`` None) when the ETag still held."""

    data: Any
    etag: str | None
    next_url: str | None
    not_modified: bool = False


@dataclass(frozen=True, slots=True)
class LogDownload:
    """A job log: ``ok`` with its bytes, ``expired`` (410: never ask again) or ``missing`` (404)."""

    state: str
    data: bytes | None = None


@dataclass(frozen=True, slots=True)
class RateSnapshot:
    """What the last answers said about the primary rate limit, and what this client spent."""

    limit: int | None
    remaining: int | None
    reset_at: float | None  # epoch seconds
    requests: int  # API requests sent (retries inside urllib3 not included)
    counted: int  # of those, answers other than 304 (GitHub does not count a 304)
    not_modified: int
    downloads: int  # log downloads from the redirect host (not API requests)


@dataclass(frozen=True, slots=True)
class PostedComment:
    """A comment as the issue-comments API lists it (only what an upsert needs)."""

    id: int
    author: str
    body: str
    url: str = ""


class _Retry(GithubRetry):
    """``GithubRetry`` whose every wait, a ``Retry-After`` one included, is capped by ``max_rate_limit_wait``,
    and which says when it is about to sleep until a used-up primary limit resets."""

    def __init__(self, *, on_wait: Callable[[float], None] | None = None, **kwargs: Any) -> None:
        self.on_wait = on_wait
        super().__init__(**kwargs)

    def new(self, **kwargs: Any) -> Any:
        kwargs["on_wait"] = self.on_wait
        return super().new(**kwargs)

    def sleep(self, response: Any = None) -> None:
        if response is not None and self.on_wait is not None and response.status in (403, 429):
            reset = int_header(response.headers, "x-ratelimit-reset")
            if int_header(response.headers, "x-ratelimit-remaining") == 0 and reset is not None:
                self.on_wait(float(reset))
        super().sleep(response)

    def get_retry_after(self, response: Any) -> float | None:
        value = super().get_retry_after(response)
        if value is not None and self.max_rate_limit_wait is not None and value > self.max_rate_limit_wait:
            raise RateLimitExceededExceedsMaxWait(
                int(response.status), {"message": "Retry-After exceeds the wait allowed"}, dict(response.headers), wait=value
            )
        return value


class GitHubClient:
    """A thread-safe GitHub REST client: one PyGithub ``Github`` (and one download session) per thread."""

    def __init__(
        self,
        token: str,
        *,
        api_url: str = DEFAULT_API_URL,
        max_wait_s: float = 300.0,
        policy: ClientPolicy | None = None,
        on_wait: Callable[[float], None] | None = None,
    ) -> None:
        if not token:
            raise AuthError("no GitHub token", hint=AUTH_HINT)
        parsed = urlparse(api_url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise GitHubError(f"--api-url {api_url!r} is not an http(s) URL", hint="e.g. https://ghe.example.com/api/v3")
        self._token = token
        self.api_url = api_url.rstrip("/")
        self.host = parsed.hostname
        self.max_wait_s = max(0.0, max_wait_s)
        self.policy = policy or ClientPolicy()
        self.on_wait = on_wait
        self._local = threading.local()
        self._lock = threading.Lock()
        self._clients: list[Github] = []
        self._sessions: list[requests.Session] = []
        self._pacer = Pacer(self.policy.per_minute)
        self._limit: int | None = None
        self._remaining: int | None = None
        self._reset_at: float | None = None
        self._requests = 0
        self._counted = 0
        self._not_modified = 0
        self._downloads = 0

    # -- plumbing ------------------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            for client in self._clients:
                client.close()
            for session in self._sessions:
                session.close()
            self._clients.clear()
            self._sessions.clear()

    def __enter__(self) -> GitHubClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _retry(self) -> _Retry:
        p = self.policy
        return _Retry(
            total=max(0, p.tries - 1),
            backoff_factor=p.backoff_s,
            backoff_max=p.backoff_max_s,
            status_forcelist=[429, *range(500, 600)],  # GithubRetry adds 403 and checks it is a rate limit
            allowed_methods={"GET", "HEAD"},
            respect_retry_after_header=True,
            raise_on_status=False,  # a 5xx that outlasts the retries comes back as an answer
            secondary_rate_wait=p.secondary_wait_s,
            max_rate_limit_wait=self.max_wait_s,
            on_wait=self._waiting,
        )

    def _requester(self) -> Requester:
        client: Github | None = getattr(self._local, "github", None)
        if client is None:
            client = Github(
                auth=Auth.Token(self._token),
                base_url=self.api_url,
                timeout=self.policy.timeout_s,
                user_agent=USER_AGENT,
                per_page=PER_PAGE,
                retry=self._retry(),
                pool_size=2,
                seconds_between_requests=None,  # paced by the shared Pacer instead, across threads
                seconds_between_writes=1.0,  # fetch never writes; PyGithub's default, kept on purpose
            )
            self._local.github = client
            with self._lock:
                self._clients.append(client)
        return client.requester

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            # No Authorization ever; a non-None auth also stops requests from reading ~/.netrc.
            session.auth = no_auth
            session.headers["User-Agent"] = USER_AGENT
            self._local.session = session
            with self._lock:
                self._sessions.append(session)
        return session

    def rate(self) -> RateSnapshot:
        with self._lock:
            return RateSnapshot(
                self._limit, self._remaining, self._reset_at, self._requests, self._counted, self._not_modified,
                self._downloads,
            )

    def _note(self, status: int, headers: Mapping[str, Any]) -> None:
        with self._lock:
            self._requests += 1
            if status == 304:
                self._not_modified += 1
            else:
                self._counted += 1
            remaining = int_header(headers, "x-ratelimit-remaining")
            if remaining is not None:
                self._remaining = remaining
                self._limit = int_header(headers, "x-ratelimit-limit")
                reset = int_header(headers, "x-ratelimit-reset")
                self._reset_at = float(reset) if reset is not None else None

    def _waiting(self, reset: float) -> None:
        if self.on_wait is not None:
            self.on_wait(reset)

    def _gate(self) -> None:
        """Before a request: wait for an exhausted primary limit to reset (up to max_wait_s), else stop."""
        while True:
            with self._lock:
                remaining, reset = self._remaining, self._reset_at
            if remaining is None or remaining > 0 or reset is None:
                break
            wait = reset - time.time() + 1.0
            if wait <= 0:
                with self._lock:
                    if self._reset_at == reset:
                        self._remaining = None
                continue
            if wait > self.max_wait_s:
                raise rate_error(reset)
            self._waiting(reset)
            time.sleep(min(wait, 5.0))
        self._pacer.wait()

    def _scrub(self, text: str) -> str:
        return text.replace(self._token, "***") if self._token else text

    def _backoff(self, attempt: int) -> None:
        if attempt > 0:
            time.sleep(min(self.policy.backoff_s * (2**attempt), self.policy.backoff_max_s))

    # -- requests ------------------------------------------------------------------------------

    def _get(
        self, url: str, *, what: str, etag: str | None = None, accept: frozenset[int] = frozenset(),
        refused_hint: str = PERMISSION_HINT,
    ) -> tuple[int, dict[str, Any], Any]:  # fmt: skip
        """GET through PyGithub: (status, headers, JSON) for 2xx/3xx and statuses in ``accept``.

        urllib3 retries connection errors, 429, 5xx and rate limits inside PyGithub; this loop also
        retries what it cannot: a body cut short after the headers arrived, or JSON that does not parse.
        """
        headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
        if etag:
            headers["If-None-Match"] = etag
        problem = ""
        for attempt in range(max(1, self.policy.tries)):
            self._backoff(attempt)
            self._gate()
            try:
                status, answer_headers, body = self._requester().requestJson("GET", url, headers=dict(headers))
            except GithubException as exc:  # raised from inside GithubRetry (rate limits, 403s)
                self._note(exc.status, exc.headers or {})
                raise self._error(exc.status, exc.headers or {}, exc.data, what, refused_hint) from exc
            except (requests.exceptions.RequestException, OSError) as exc:
                problem = describe(exc)
                continue
            self._note(status, answer_headers)
            if status >= 400 and status not in accept:
                raise self._error(status, answer_headers, loads(body), what, refused_hint)
            if status in (204, 302, 304) or status >= 400 or not body:
                return status, answer_headers, loads(body) if status >= 400 else None
            try:
                return status, answer_headers, json.loads(body)
            except ValueError:
                problem = "the answer was not complete JSON"
                continue
        raise GitHubError(f"cannot get {what} from {self.host}: {self._scrub(problem)}", hint=RETRY_HINT)

    def _error(
        self, status: int, headers: Mapping[str, Any], data: Any, what: str, refused_hint: str = PERMISSION_HINT
    ) -> GitHubError:
        message = data.get("message") if isinstance(data, dict) else None
        detail = self._scrub(str(message))[:200] if message else ""
        remaining = int_header(headers, "x-ratelimit-remaining")
        if status == 401:
            return AuthError("GitHub rejected the token", hint=AUTH_HINT)
        if status in (403, 429) and (remaining == 0 or Requester.isRateLimitError(detail) or "retry-after" in headers):
            reset = int_header(headers, "x-ratelimit-reset") if remaining == 0 else None
            if reset is None:
                retry_after = int_header(headers, "retry-after")
                reset = int(time.time()) + (retry_after if retry_after is not None else 60)
            return rate_error(float(reset))
        if status == 403:
            return AuthError(f"GitHub refused access to {what}" + (f": {detail}" if detail else ""), hint=refused_hint)
        if status == 404:
            return NotFoundError(f"{what} not found on {self.host}", hint="check the name; GitHub also answers 404 "
                                 "for a private repository the token cannot read (" + refused_hint + ")")
        if status >= 500:
            return GitHubError(
                f"GitHub answered {status} for {what} after {self.policy.tries} tries", hint=RETRY_HINT
            )
        return GitHubError(f"GitHub answered {status} for {what}" + (f": {detail}" if detail else ""), hint=RETRY_HINT)

    def get(self, url: str, *, what: str, etag: str | None = None, refused_hint: str = PERMISSION_HINT) -> Answer:
        """One page of JSON; ``etag`` makes it conditional (a 304 costs no rate limit). ``refused_hint``:
        what a 403 answer's hint says the token needs."""
        status, headers, data = self._get(url, what=what, etag=etag, refused_hint=refused_hint)
        return Answer(data, headers.get("etag"), next_link(headers.get("link")), not_modified=status == 304)

    def get_all(self, url: str, key: str, *, what: str, refused_hint: str = PERMISSION_HINT) -> list[Any]:
        """Every item of a paginated listing (``key`` names the list in a page object)."""
        items: list[Any] = []
        next_url: str | None = url
        while next_url:
            answer = self.get(next_url, what=what, refused_hint=refused_hint)
            page = answer.data
            chunk = page if isinstance(page, list) else (page or {}).get(key)
            if not isinstance(chunk, list):
                raise GitHubError(f"GitHub's answer for {what} has no {key!r} list", hint=RETRY_HINT)
            items.extend(chunk)
            next_url = answer.next_url
        return items

    # -- the endpoints fetch uses ----------------------------------------------------------------

    def fetch_repo(self, repo: str, *, etag: str | None = None) -> Answer:
        return self.get(f"/repos/{repo}", what=f"repository {repo}", etag=etag)

    def fetch_workflows(self, repo: str, *, etag: str | None = None) -> Answer:
        return self.get(f"/repos/{repo}/actions/workflows?per_page={PER_PAGE}", what=f"workflows of {repo}", etag=etag)

    def fetch_run(self, repo: str, run_id: int, *, etag: str | None = None) -> Answer:
        return self.get(f"/repos/{repo}/actions/runs/{run_id}?exclude_pull_requests=true", what=f"run {run_id}", etag=etag)

    def fetch_attempt(self, repo: str, run_id: int, attempt: int) -> dict[str, Any]:
        answer = self.get(
            f"/repos/{repo}/actions/runs/{run_id}/attempts/{attempt}?exclude_pull_requests=true",
            what=f"attempt {attempt} of run {run_id}",
        )
        if not isinstance(answer.data, dict):
            raise GitHubError(f"GitHub's answer for attempt {attempt} of run {run_id} is not a run", hint=RETRY_HINT)
        return answer.data

    def fetch_jobs(self, repo: str, run_id: int) -> list[Any]:
        """The jobs of every attempt of a run (``filter=all``), every page."""
        url = f"/repos/{repo}/actions/runs/{run_id}/jobs?filter=all&per_page={PER_PAGE}"
        return self.get_all(url, "jobs", what=f"jobs of run {run_id}")

    def fetch_annotations(self, repo: str, check_run_id: int) -> list[Any]:
        url = f"/repos/{repo}/check-runs/{check_run_id}/annotations?per_page={PER_PAGE}"
        return self.get_all(url, "annotations", what=f"annotations of job {check_run_id}")

    def fetch_workflow_file(self, repo: str, path: str, ref: str, *, etag: str | None = None) -> Answer:
        """A file's contents object at ``ref`` (404 for a file that is gone: NotFoundError)."""
        query = urlencode({"ref": ref})
        return self.get(f"/repos/{repo}/contents/{path}?{query}", what=f"{path} at {ref}", etag=etag)

    def fetch_rate_limit(self) -> dict[str, Any]:
        """``/rate_limit`` (free: it does not count against the limit)."""
        answer = self.get("/rate_limit", what="the rate limit")
        return answer.data if isinstance(answer.data, dict) else {}

    def login(self) -> str:
        """The account the token acts as (an Actions or App token cannot ask: github-actions[bot])."""
        try:
            data = self.get("/user", what="the token's user").data
        except AuthError as exc:
            if exc.message == "GitHub rejected the token":
                raise
            return "github-actions[bot]"
        login = data.get("login") if isinstance(data, dict) else None
        return str(login) if login else "github-actions[bot]"

    # -- pull requests -------------------------------------------------------------------------

    def fetch_pull(self, repo: str, number: int) -> dict[str, Any]:
        """A pull request (``head``/``base`` SHAs, ``state``, ``labels``); NotFoundError for an unknown number."""
        data = self.get(f"/repos/{repo}/pulls/{number}", what=f"pull request {repo}#{number}", refused_hint=PULL_HINT).data
        if not isinstance(data, dict) or not isinstance(data.get("head"), dict) or not isinstance(data.get("base"), dict):
            raise GitHubError(f"GitHub's answer for pull request {repo}#{number} is not a pull request", hint=RETRY_HINT)
        return data

    def fetch_pull_files(self, repo: str, number: int) -> list[dict[str, Any]]:
        """The files a pull request changes (``filename``, ``status``, ``previous_filename``), every page."""
        url = f"/repos/{repo}/pulls/{number}/files?per_page={PER_PAGE}"
        items = self.get_all(url, "files", what=f"files of pull request {repo}#{number}", refused_hint=PULL_HINT)
        return [f for f in items if isinstance(f, dict) and isinstance(f.get("filename"), str)]

    def newest_labelled_pull(self, repo: str, label: str) -> dict[str, Any] | None:
        """The newest open pull request carrying ``label`` (its issue JSON), or None: the issues listing
        filtered by the label, newest first, read page by page until a pull request turns up."""
        query = urlencode({"state": "open", "labels": label, "sort": "created", "direction": "desc", "per_page": PER_PAGE})
        next_url: str | None = f"/repos/{repo}/issues?{query}"
        while next_url:
            answer = self.get(next_url, what=f"open pull requests of {repo} labelled {label!r}", refused_hint=PULL_HINT)
            page = answer.data if isinstance(answer.data, list) else []
            for item in page:
                if isinstance(item, dict) and isinstance(item.get("pull_request"), dict) and isinstance(item.get("number"), int):
                    return item
            next_url = answer.next_url
        return None

    def fetch_text(self, repo: str, path: str, ref: str) -> str | None:
        """A text file's contents at ``ref`` (a commit SHA), or None where the commit has no such file (404)
        or it is not readable as UTF-8 text through the contents API (a folder, binary, larger than 1 MB)."""
        try:
            answer = self.get(
                f"/repos/{repo}/contents/{quote(path)}?{urlencode({'ref': ref})}", what=f"{path} at {ref[:12]}",
                refused_hint=PULL_HINT,
            )  # fmt: skip
        except NotFoundError:
            return None
        return decode_content(answer.data)

    def list_comments(self, url: str, *, what: str) -> list[PostedComment]:
        """The comments of an issue or pull request (``url``: its comments listing), every page."""
        return [
            PostedComment(
                id=int(c["id"]),
                author=str((c.get("user") or {}).get("login") or ""),
                body=str(c.get("body") or ""),
                url=str(c.get("html_url") or ""),
            )
            for c in self.get_all(url, "comments", what=what)
            if isinstance(c, dict) and isinstance(c.get("id"), int)
        ]

    def write(self, verb: str, url: str, payload: dict[str, Any], *, what: str) -> dict[str, Any]:
        """One POST/PATCH, sent once (urllib3 retries GET only): a write is never repeated blindly."""
        self._gate()
        try:
            status, headers, body = self._requester().requestJson(verb, url, input=payload)
        except GithubException as exc:
            self._note(exc.status, exc.headers or {})
            raise self._error(exc.status, exc.headers or {}, exc.data, what, WRITE_HINT) from exc
        except (requests.exceptions.RequestException, OSError) as exc:
            raise GitHubError(f"cannot write {what} on {self.host}: {describe(exc)}", hint=RETRY_HINT) from exc
        self._note(status, headers)
        data = loads(body)
        if status >= 400:
            raise self._error(status, headers, data, what, WRITE_HINT)
        return data if isinstance(data, dict) else {}

    def download_job_log(self, repo: str, job_id: int) -> LogDownload:
        return self._download(f"/repos/{repo}/actions/jobs/{job_id}/logs", what=f"the log of job {job_id}")

    def download_run_logs(self, repo: str, run_id: int, attempt: int) -> LogDownload:
        """The run-log zip of one attempt (per-step files of every job)."""
        url = f"/repos/{repo}/actions/runs/{run_id}/attempts/{attempt}/logs"
        return self._download(url, what=f"the logs of run {run_id} attempt {attempt}")

    def _download(self, url: str, *, what: str) -> LogDownload:
        problem = ""
        for _redirect in range(2):  # a second, fresh redirect if the first short-lived URL stopped working
            status, headers, data = self._get(url, what=what, accept=frozenset({404, 410}))
            if status == 410:
                return LogDownload("expired")
            if status == 404:
                return LogDownload("missing")
            location = headers.get("location")
            if status == 200:  # a server that answers with the log itself
                return LogDownload("ok", data if isinstance(data, bytes) else json.dumps(data).encode())
            if not location:
                raise GitHubError(f"GitHub answered {status} without a download location for {what}", hint=RETRY_HINT)
            for attempt in range(max(1, self.policy.tries)):
                self._backoff(attempt)
                try:
                    return LogDownload("ok", self._fetch_blob(location))
                except Stale:
                    problem = "the download URL expired"
                    break
                except (Cut, requests.exceptions.RequestException, OSError) as exc:
                    problem = describe(exc)
        raise GitHubError(f"cannot download {what}: {self._scrub(problem)}", hint=RETRY_HINT)

    def _fetch_blob(self, location: str) -> bytes:
        """GET a redirect target: no Authorization, streamed, length checked."""
        with self._lock:
            self._downloads += 1
        timeout = (float(self.policy.timeout_s), self.policy.log_timeout_s)
        with self._session().get(location, stream=True, timeout=timeout) as response:
            if response.status_code in (401, 403, 404):
                raise Stale()
            if response.status_code >= 400:
                raise Cut(f"the download host answered {response.status_code}")
            expected = response.headers.get("content-length")
            buffer = bytearray()
            for chunk in response.iter_content(chunk_size=1 << 16):
                buffer += chunk
            received = response.raw.tell() if response.headers.get("content-encoding") else len(buffer)
            if expected is not None and expected.isdigit() and received != int(expected):
                raise Cut(f"the download stopped after {received} of {expected} bytes")
            return bytes(buffer)
