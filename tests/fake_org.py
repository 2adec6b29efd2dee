"""An organization on the fake GitHub: several repositories behind one API URL.

``FakeOrg`` starts one ``FakeGitHub`` per export folder and a front server on 127.0.0.1 that
routes each request to the repository it is about (``/repos/{owner}/{name}/…``,
``/repositories/{id}/…``, a log ``/_blob/…`` by its job or run id) and answers
``/orgs/{org}/repos`` itself. The backends write their links and redirects with the front's URL,
so a client only ever sees one host, as with GitHub. The front accepts every token in
``tokens`` (one per worker) and records which one asked for what, and when (``calls``), so a test
can tell whose requests interleaved; ``holds`` keeps a token's requests for jobs (after its
first few) waiting until the test lets them go.
"""

from __future__ import annotations

import http.client
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from tests.fake_github import TOKEN, FakeGitHub, Faults, build_export

HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "server", "date"}


@dataclass(frozen=True, slots=True)
class Call:
    at: float  # time.monotonic()
    token: str
    path: str
    repo: str | None


def build_org(folder: Path, org: str, count: int, *, runs: int = 12, jobs_per_run: int = 2) -> list[Path]:
    """``count`` export folders of repositories ``{org}/repo-{i}``, each with ids of its own."""
    return [
        build_export(folder / f"repo-{i}", runs=runs, jobs_per_run=jobs_per_run, seed=i + 1,
                     repo=f"{org}/repo-{i}", ids=i + 1)
        for i in range(count)
    ]


class FakeOrg:
    """``with FakeOrg("acme", folders) as org: ... org.url ...``"""

    def __init__(
        self, org: str, folders: list[Path], *, tokens: tuple[str, ...] = (TOKEN,), latency: float = 0.0,
        archived: tuple[str, ...] = (),
    ) -> None:  # fmt: skip
        self.org = org
        self.tokens = tokens
        self.archived = set(archived)
        self.backends = [FakeGitHub(f, faults=Faults(latency=latency)) for f in folders]
        self.by_name = {b.data.full_name.lower(): b for b in self.backends}
        self.by_id = {int(b.data.repo["id"]): b for b in self.backends}
        self.by_job = {j["id"]: b for b in self.backends for j in b.data.all_jobs()}
        self.by_run = {r: b for b in self.backends for r in b.data.runs}
        self.calls: list[Call] = []
        # token -> (event, n): that token's requests for jobs after its n-th wait until the event is set
        self.holds: dict[str, tuple[threading.Event, int]] = {}
        self._jobs_calls: dict[str, int] = {}
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _front(self))
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        for backend in self.backends:
            backend.url = self.url  # links and log redirects point at the front
        self.thread = threading.Thread(target=self.server.serve_forever, name="fake-org", daemon=True)

    def __enter__(self) -> FakeOrg:
        for backend in self.backends:
            backend.__enter__()
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        for backend in self.backends:
            backend.__exit__()

    @property
    def repos(self) -> list[str]:
        return sorted(b.data.full_name for b in self.backends)

    def held(self, token: str) -> bool:
        """Whether a request of ``token`` is waiting in ``holds`` now (or has)."""
        hold = self.holds.get(token)
        return hold is not None and self._jobs_calls.get(token, 0) > hold[1]

    def backend_for(self, path: str) -> FakeGitHub | None:
        parts = [p for p in path.split("/") if p]
        if len(parts) >= 3 and parts[0] == "repos":
            return self.by_name.get(f"{parts[1]}/{parts[2]}".lower())
        if len(parts) >= 2 and parts[0] == "repositories" and parts[1].isdigit():
            return self.by_id.get(int(parts[1]))
        if len(parts) >= 3 and parts[0] == "_blob" and parts[2].isdigit():
            return (self.by_job if parts[1] == "jobs" else self.by_run).get(int(parts[2]))
        if parts == ["rate_limit"]:
            return self.backends[0]
        return None

    def repo_listing(self) -> list[dict[str, Any]]:
        out = []
        for b in self.backends:
            name = b.data.full_name
            out.append({"id": b.data.repo["id"], "full_name": name, "name": name.split("/")[1],
                        "archived": name in self.archived, "disabled": False})  # fmt: skip
        return out


def _front(org: FakeOrg) -> type[BaseHTTPRequestHandler]:
    class Front(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, status: int, body: bytes, headers: list[tuple[str, str]]) -> None:
            self.send_response(status)
            for key, value in headers:
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            import json

            path = urlparse(self.path).path
            auth = self.headers.get("Authorization") or ""
            token = next((t for t in org.tokens if auth in (f"token {t}", f"Bearer {t}")), "")
            backend = org.backend_for(path)
            with org.lock:
                org.calls.append(Call(time.monotonic(), token, self.path, backend.data.full_name if backend else None))
            hold = org.holds.get(token)
            if hold is not None and "/jobs" in path:
                with org.lock:
                    org._jobs_calls[token] = seen = org._jobs_calls.get(token, 0) + 1
                if seen > hold[1]:
                    hold[0].wait(timeout=120)
            if path.startswith("/_blob/") is False and not token:
                self._send(401, b'{"message": "Bad credentials"}', [("Content-Type", "application/json")])
                return
            if path.rstrip("/") == f"/orgs/{org.org}/repos":
                body = json.dumps(org.repo_listing()).encode()
                self._send(200, body, [("Content-Type", "application/json")])
                return
            if backend is None:
                self._send(404, b'{"message": "Not Found"}', [("Content-Type", "application/json")])
                return
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "authorization")}
            if token:
                headers["Authorization"] = f"token {TOKEN}"
            port = urlparse(f"http://127.0.0.1:{backend.server.server_address[1]}").port
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            try:
                conn.request("GET", self.path, headers=headers)
                answer = conn.getresponse()
                body = answer.read()
                out = [(k, v) for k, v in answer.getheaders() if k.lower() not in HOP]
            except (OSError, http.client.HTTPException):
                self.close_connection = True
                return
            finally:
                conn.close()
            self._send(answer.status, body, out)

    return Front
