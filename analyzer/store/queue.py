"""Work shared through the store: the repositories of one crawl (``fetch --org`` / ``--repos-file``),
claimed one at a time by every worker of every machine that runs the same command.

A *queue* (``org:acme``) has *rounds*: the first worker that finds no round in progress lists the
repositories and starts one; workers that come while it is in progress join it; it is over when
every repository is done for it (fetched, or failed and recorded). A worker claims a repository
that is not done in a short transaction: the row is locked with ``FOR UPDATE SKIP LOCKED`` (on
SQLite the transaction itself is exclusive), the repository's lock (``RepoLock``: advisory lock
or ``flock``) is taken, and the row leased to the worker (``owner``, ``lease_until``, renewed by a
heartbeat). A repository whose lock is free is claimable even under a lease: its worker is gone
(killed, its connection dropped), so another picks it up at once; one whose lease ran out while
its lock is still held (a machine that vanished without closing its connection) is left alone
until the server drops that connection, since nothing may write beside a holder of the lock.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from analyzer.records import iso
from analyzer.store.connection import POSTGRES
from analyzer.store.lifecycle import RepoLock
from analyzer.store.store import Store


@dataclass(frozen=True, slots=True)
class QueueEntry:
    """One repository of a round, as the queue holds it."""

    repo: str
    done: bool
    owner: str | None
    lease_until: float | None
    attempts: int
    error: str | None


class CrawlQueue:
    """The queue ``name`` in ``store`` (tables ``crawl_rounds`` and ``crawl_queue``)."""

    def __init__(self, store: Store, name: str) -> None:
        self.store = store
        self.name = name

    def _for_update(self, *, skip_locked: bool = False) -> str:
        if self.store.dialect != POSTGRES:
            return ""  # SQLite: BEGIN IMMEDIATE already keeps every other writer out
        return " FOR UPDATE SKIP LOCKED" if skip_locked else " FOR UPDATE"

    def current(self) -> tuple[int, bool]:
        """(the latest round, whether it is still in progress); (0, False) for a new queue."""
        row = self.store.conn.execute(
            "SELECT round, finished_at FROM crawl_rounds WHERE queue=?", (self.name,)
        ).fetchone()
        return (0, False) if row is None else (int(row[0]), row[1] is None)

    def start(self, repos: Sequence[str]) -> tuple[int, bool]:
        """Start a round of ``repos``, or join the one another worker started meanwhile; returns
        (round, started by this call)."""
        now = iso(datetime.now(UTC))
        with self.store.transaction():
            self.store.conn.execute("INSERT OR IGNORE INTO crawl_rounds VALUES (?,?,?,?)", (self.name, 0, now, now))
            row = self.store.conn.execute(
                f"SELECT round, finished_at FROM crawl_rounds WHERE queue=?{self._for_update()}", (self.name,)
            ).fetchone()
            if row[1] is None:
                return int(row[0]), False
            number = int(row[0]) + 1
            self.store.conn.execute(
                "UPDATE crawl_rounds SET round=?, started_at=?, finished_at=NULL WHERE queue=?", (number, now, self.name)
            )
            self.store.conn.execute("DELETE FROM crawl_queue WHERE queue=?", (self.name,))
            self.store.conn.executemany(
                "INSERT INTO crawl_queue (queue, repo, done_round, attempts) VALUES (?,?,0,0)",
                [(self.name, repo) for repo in sorted(set(repos))],
            )
        return number, True

    def claim(self, number: int, owner: str, lease_s: float) -> tuple[str, RepoLock] | None:
        """The next repository of round ``number`` nobody works on, leased to ``owner`` with its lock
        held (give it back with ``finish`` or ``release``); None when there is none now."""
        rows = self.store.conn.execute(
            "SELECT repo FROM crawl_queue WHERE queue=? AND done_round < ? ORDER BY owner IS NOT NULL, attempts, repo",
            (self.name, number),
        ).fetchall()
        for (repo,) in rows:
            lock = RepoLock(self.store, str(repo))
            try:
                with self.store.transaction():
                    row = self.store.conn.execute(
                        f"SELECT done_round FROM crawl_queue WHERE queue=? AND repo=?{self._for_update(skip_locked=True)}",
                        (self.name, repo),
                    ).fetchone()
                    if row is None or int(row[0]) >= number or not lock.acquire():
                        continue
                    self.store.conn.execute(
                        "UPDATE crawl_queue SET owner=?, lease_until=?, attempts=attempts+1 WHERE queue=? AND repo=?",
                        (owner, time.time() + lease_s, self.name, str(repo)),
                    )
            except BaseException:
                lock.release()
                raise
            return str(repo), lock
        return None

    def renew(self, repo: str, owner: str, lease_s: float) -> None:
        """The heartbeat: ``owner`` still works on ``repo``."""
        with self.store.transaction():
            self.store.conn.execute(
                "UPDATE crawl_queue SET lease_until=? WHERE queue=? AND repo=? AND owner=?",
                (time.time() + lease_s, self.name, repo, owner),
            )

    def finish(self, number: int, repo: str, *, error: str | None = None) -> None:
        """``repo`` is done for round ``number`` (``error``: it failed, and will not be retried in it)."""
        with self.store.transaction():
            self.store.conn.execute(
                "UPDATE crawl_queue SET done_round=?, owner=NULL, lease_until=NULL, last_error=?, finished_at=? "
                "WHERE queue=? AND repo=?",
                (number, error, iso(datetime.now(UTC)), self.name, repo),
            )

    def release(self, repo: str) -> None:
        """Give ``repo`` back undone (another worker, or a later one, takes it)."""
        with self.store.transaction():
            self.store.conn.execute(
                "UPDATE crawl_queue SET owner=NULL, lease_until=NULL WHERE queue=? AND repo=?", (self.name, repo)
            )

    def entries(self) -> list[QueueEntry]:
        number, _ = self.current()
        rows = self.store.conn.execute(
            "SELECT repo, done_round, owner, lease_until, attempts, last_error FROM crawl_queue WHERE queue=? "
            "ORDER BY repo",
            (self.name,),
        ).fetchall()
        return [QueueEntry(str(r[0]), int(r[1]) >= number, r[2], r[3], int(r[4]), r[5]) for r in rows]

    def settle(self, number: int) -> bool:
        """Whether round ``number`` is over (every repository done); the first to see it marks it so."""
        with self.store.transaction():
            left = self.store.conn.execute(
                "SELECT COUNT(*) FROM crawl_queue WHERE queue=? AND done_round < ?", (self.name, number)
            ).fetchone()[0]
            if int(left):
                return False
            self.store.conn.execute(
                "UPDATE crawl_rounds SET finished_at=? WHERE queue=? AND round=? AND finished_at IS NULL",
                (iso(datetime.now(UTC)), self.name, number),
            )
        return True
