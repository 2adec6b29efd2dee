"""What ``fetch`` remembers between runs, so a fetch is incremental and resumable.

Runs stored completely (as the listing showed them), jobs whose annotations were fetched, and the
ETags of GitHub answers with the slim payloads they stood for (a listing page's only once every run
it lists is stored).
"""

from __future__ import annotations

import json
import zlib
from typing import Any

from analyzer.store.connection import Connection


class FetchBookkeeping(Connection):
    """The fetch's own tables: ``fetched_runs``, ``fetched_annotations``, ``http_cache``."""

    def fetched_runs(self, repo: str) -> dict[int, tuple[int, str | None, bool]]:
        """run_id -> (run_attempt, updated_at, with logs) of the runs a fetch stored completely."""
        rows = self.conn.execute(
            "SELECT run_id, run_attempt, updated_at, logs FROM fetched_runs WHERE repo=?", (repo,)
        )
        return {int(r[0]): (int(r[1]), r[2], bool(r[3])) for r in rows}

    def mark_run_fetched(self, repo: str, run_id: int, run_attempt: int, updated_at: str | None, *, logs: bool) -> None:
        with self.transaction():
            self.conn.execute(
                "INSERT OR REPLACE INTO fetched_runs VALUES (?,?,?,?,?)", (repo, run_id, run_attempt, updated_at, int(logs))
            )

    def annotated_jobs(self, repo: str) -> set[int]:
        """Jobs of ``repo`` whose annotations were fetched."""
        rows = self.conn.execute(
            "SELECT a.job_id FROM fetched_annotations a JOIN jobs j ON j.job_id = a.job_id WHERE j.repo=?", (repo,)
        )
        return {int(r[0]) for r in rows}

    def mark_annotations_fetched(self, job_id: int) -> None:
        with self.transaction():
            self.conn.execute("INSERT OR REPLACE INTO fetched_annotations VALUES (?)", (job_id,))

    def log_states(self, repo: str) -> dict[int, str]:
        """job_id -> state of its whole log (part 0), for the jobs of ``repo`` that have one."""
        rows = self.conn.execute(
            "SELECT l.job_id, l.state FROM logs l JOIN jobs j ON j.job_id = l.job_id WHERE l.part=0 AND j.repo=?",
            (repo,),
        )
        return {int(r[0]): str(r[1]) for r in rows}

    def run_statuses(self, repo: str) -> dict[tuple[int, int], str | None]:
        """(run_id, run_attempt) -> status of every stored attempt of ``repo``."""
        rows = self.conn.execute("SELECT run_id, run_attempt, status FROM runs WHERE repo=?", (repo,))
        return {(int(r[0]), int(r[1])): r[2] for r in rows}

    def load_http_cache(self, prefix: str) -> dict[str, tuple[str, Any]]:
        """key -> (etag, payload) of the cached answers whose key starts with ``prefix``."""
        rows = self.conn.execute(
            "SELECT key, etag, payload FROM http_cache WHERE substr(key, 1, ?) = ?", (len(prefix), prefix)
        )
        return {str(r[0]): (str(r[1]), json.loads(zlib.decompress(r[2]))) for r in rows}

    def save_http_cache(self, key: str, etag: str, payload: Any) -> None:
        blob = zlib.compress(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode(), 6)
        with self.transaction():
            self.conn.execute("INSERT OR REPLACE INTO http_cache VALUES (?,?,?)", (key, etag, blob))
