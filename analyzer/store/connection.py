"""Opening a store and running units of work on it: the seam where a backend plugs in.

``Connection`` owns the DB-API connection: stdlib ``sqlite3`` for a file, ``PgConnection``
(``store/postgres.py``, psycopg 3) for a ``postgresql://`` URL. It checks the store, creates or
migrates the schema, and runs ``transaction()``s; ``lock_job`` and the repository locks
(``store/lifecycle.py``) are the backend's own locks. The query methods live in its subclasses
(``FetchBookkeeping``, ``Store``) and are written once in SQLite's dialect (``?`` parameters,
``INSERT OR REPLACE``); ``PgConnection`` translates them, and ``dialect`` names the few spots
that differ (``store/frame.py``'s column aggregates). Nothing outside ``analyzer.store`` sees a
driver: callers ask ``is_database_error`` / ``is_misuse`` about a failure.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self

from analyzer.errors import StoreError
from analyzer.store import schema
from analyzer.store.location import Location, locate
from analyzer.store.schema import SQLITE_MAGIC

DatabaseError = sqlite3.DatabaseError  # what SQLite raises when the database fails
SQLITE, POSTGRES = "sqlite", "postgresql"  # dialects
SQLITE_HINT = (
    "hint: the file may be damaged, locked by another program or on a full disk; check it with "
    "`sqlite3 FILE 'PRAGMA integrity_check'`, or pass --store with another file"
)
POSTGRES_HINT = (
    "hint: the PostgreSQL server failed or went away; check that it runs and run the same command again "
    "(everything committed is kept)"
)


def _postgres() -> Any:
    """``analyzer.store.postgres`` if it was ever imported (it is, by every PostgreSQL store)."""
    import sys

    return sys.modules.get("analyzer.store.postgres")


def is_database_error(exc: BaseException) -> bool:
    """The database failed (either backend's driver error)."""
    pg = _postgres()
    return isinstance(exc, sqlite3.DatabaseError) or bool(pg is not None and pg.is_driver_error(exc))


def is_misuse(exc: BaseException) -> bool:
    """A driver error that means the code used the API wrongly (a bug), not that the store failed."""
    pg = _postgres()
    return isinstance(exc, sqlite3.ProgrammingError | sqlite3.InterfaceError) or bool(pg is not None and pg.is_misuse(exc))


def store_failure_hint(exc: BaseException) -> str:
    """The ``hint:`` line for a store that failed with ``exc``."""
    pg = _postgres()
    return POSTGRES_HINT if pg is not None and pg.is_driver_error(exc) else SQLITE_HINT


class Connection:
    """An open store. Use as a context manager; writes go through ``transaction()``."""

    conn: Any  # sqlite3.Connection, or a PgConnection (the same DB-API surface)

    def __init__(self, path: Path | str, *, create: bool = True) -> None:
        self.location: Location = locate(path)
        self.name = self.location.name  # what messages call the store (a URL's password masked)
        self.path = self.location.path or Path(self.name)
        self.dialect = POSTGRES if self.location.is_postgres else SQLITE
        if self.location.is_postgres:
            self._open_postgres(create)
            return
        if str(path) != ":memory:":
            self._check_file(create)
        try:
            self.conn = sqlite3.connect(str(path), timeout=30.0, isolation_level=None, check_same_thread=False)
            self.conn.execute("PRAGMA busy_timeout = 30000")
            self._setup()
        except sqlite3.DatabaseError as exc:
            self._close_after_failed_open()
            raise StoreError(
                f"{self.path} is not a usable we-advisor store: {exc}",
                hint="point --store at another file, or move this one away",
            ) from None
        except StoreError:
            self._close_after_failed_open()
            raise


    def _open_postgres(self, create: bool) -> None:
        """Connect and set the schema up. The database itself is made by its administrator, so an
        empty one is a new, empty store even for a command that does not create stores (``create``)."""
        from analyzer.store.postgres import PgConnection

        self.conn = PgConnection(self.location)
        try:
            self._setup()
        except StoreError:
            self.conn.close()
            raise
        except Exception as exc:
            message = self.conn.describe(exc)
            self.conn.close()
            raise StoreError(f"{self.name} is not a usable we-advisor store: {message}", hint=POSTGRES_HINT[6:]) from None

    @property
    def postgres(self) -> Any:
        """The ``PgConnection`` (only on PostgreSQL)."""
        assert self.dialect == POSTGRES
        return self.conn

    def _close_after_failed_open(self) -> None:
        """A file refused as a store is left as it was: no -wal/-shm beside it."""
        conn = getattr(self, "conn", None)
        if conn is not None:
            conn.close()

    # -- opening -----------------------------------------------------------------------------

    def _check_file(self, create: bool) -> None:
        if self.path.is_dir():
            raise StoreError(f"store path {self.path} is a directory", hint="pass a file path, e.g. data/we-advisor.db")
        if not self.path.exists():
            if not create:
                raise StoreError(
                    f"no store at {self.path}",
                    hint="run `we-advisor fetch` or `we-advisor ingest` first, or pass --store",
                )
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create {self.path.parent}: {exc.strerror}", hint="check the path") from None
            return
        try:
            with self.path.open("rb") as fh:
                head = fh.read(16)
        except OSError as exc:
            raise StoreError(f"cannot read store {self.path}: {exc.strerror}", hint="check permissions") from None
        if head and head != SQLITE_MAGIC:
            raise StoreError(
                f"{self.path} is not a SQLite database",
                hint="pass --store with a we-advisor store, or a new file name to create one",
            )

    def _setup(self) -> None:
        if self.dialect == POSTGRES:
            with self.transaction():  # one set-up at a time: concurrent CREATE TABLEs collide
                from analyzer.store.postgres import SCHEMA_SPACE

                self.conn.xact_lock(SCHEMA_SPACE, 0)
                self._set_up_schema(self.conn.tables())
            return
        # checked before WAL is switched on: a file that is not ours keeps its journal mode
        tables = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        self._set_up_schema(tables)

    def _set_up_schema(self, tables: set[str]) -> None:
        current = False
        version = 0  # a new, empty file
        if "meta" in tables:
            row = self.conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            version = int(row[0]) if row else 0
            if version > schema.SCHEMA_VERSION:
                raise StoreError(
                    f"{self.name} has schema version {version}, newer than this we-advisor ({schema.SCHEMA_VERSION})",
                    hint="upgrade we-advisor (pip install -U we-advisor) or use another --store",
                )
            current = version == schema.SCHEMA_VERSION
        elif self.dialect == POSTGRES and tables & schema.TABLES:
            raise StoreError(
                f"{self.name} has tables named like a we-advisor store's but is not one",
                hint="give we-advisor a database (or a schema: ?options=-csearch_path%3DNAME) of its own",
            )
        elif tables and self.dialect == SQLITE:
            raise StoreError(
                f"{self.path} is a SQLite database but not a we-advisor store",
                hint="pass --store with a new file name",
            )
        if self.dialect == SQLITE:
            self.conn.execute("PRAGMA journal_mode = WAL")
            self.conn.execute("PRAGMA synchronous = NORMAL")
            self.conn.execute("PRAGMA foreign_keys = OFF")
        if current:
            return
        with self.transaction():
            if version:
                self._migrate(version)
            self._create_tables()
            self.conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)", (str(schema.SCHEMA_VERSION),)
            )

    def _migrate(self, version: int) -> None:
        """Take a store at ``version`` forward to ``SCHEMA_VERSION``, step by step (inside the caller's transaction)."""
        for target in range(version + 1, schema.SCHEMA_VERSION + 1):
            for statement in schema.MIGRATIONS.get(target, ()):
                self.conn.execute(statement)

    def ensure_schema(self) -> None:
        """Create the tables a store made by an earlier build of this schema version lacks. (On
        PostgreSQL only when one is missing: ``CREATE INDEX IF NOT EXISTS`` locks its table, and beside
        other writers that lock could close a deadlock.)"""
        if self.dialect == POSTGRES:
            if self.conn.tables() >= schema.TABLES:
                return
            from analyzer.store.postgres import SCHEMA_SPACE

            with self.transaction():
                self.conn.xact_lock(SCHEMA_SPACE, 0)
                self._create_tables()
            return
        with self.transaction():
            self._create_tables()

    def _create_tables(self) -> None:
        for statement in schema.SCHEMA.split(";"):
            if statement.strip():
                self.conn.execute(statement)

    def close(self) -> None:
        self.conn.close()

    def alive(self) -> bool:
        """Whether the store still answers (a database server may have gone away)."""
        try:
            return bool(self.conn.execute("SELECT 1").fetchone()[0] == 1)
        except Exception:
            return False

    def reconnect(self) -> None:
        """A new connection to a database server that went away (a file needs none)."""
        if self.dialect == POSTGRES:
            self.conn.reconnect()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """One atomic unit of work: committed on success, rolled back on any error.

        SQLite takes the write lock at the start (``BEGIN IMMEDIATE``): one writer at a time.
        PostgreSQL lets writers run side by side; the units of work that must not interleave
        take their own locks (``lock_job``, the repository locks).
        """
        if self.conn.in_transaction:
            yield self.conn
            return
        self.conn.execute("BEGIN IMMEDIATE" if self.dialect == SQLITE else "BEGIN")
        try:
            yield self.conn
        except BaseException:
            with contextlib.suppress(Exception):  # a connection that broke has rolled back already
                self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Several reads that must see one state of the store: one read transaction (PostgreSQL: REPEATABLE
        READ; SQLite: a deferred one, whose first read pins one state of the WAL for the reads after it). A
        columns cache is a meta row and blobs read one at a time: another process may drop it, or top it up,
        between two of them."""
        if self.conn.in_transaction:
            yield
            return
        self.conn.execute("BEGIN" if self.dialect == SQLITE else "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        try:
            yield
        finally:
            with contextlib.suppress(Exception):  # a connection that broke has ended it already
                self.conn.execute("COMMIT")

    def lock_observations(self) -> None:
        """Inside a transaction: no writer changes the observations until it ends (PostgreSQL: the
        columns cache is written from them; the writers drop the cache first, so they wait there;
        SQLite's transactions already hold the one write lock)."""
        if self.dialect == POSTGRES:
            self.conn.execute("LOCK TABLE observation_columns IN EXCLUSIVE MODE")
            self.conn.execute("LOCK TABLE observations IN SHARE MODE")

    def lock_jobs(self) -> None:
        """Inside a transaction: no writer changes the jobs until it ends (PostgreSQL: the jobs' columns
        cache is written from them; the writers drop the cache first, so they wait there; SQLite's
        transactions already hold the one write lock)."""
        if self.dialect == POSTGRES:
            self.conn.execute("LOCK TABLE job_columns IN EXCLUSIVE MODE")
            self.conn.execute("LOCK TABLE jobs IN SHARE MODE")

    def lock_job(self, job_id: int) -> None:
        """Inside a transaction: no other writer of this job's rows until it ends (PostgreSQL;
        SQLite's transactions already hold the one write lock)."""
        if self.dialect == POSTGRES:
            from analyzer.store.postgres import JOB_SPACE, int32

            self.conn.xact_lock(JOB_SPACE, int32(job_id))

    # -- meta --------------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction():
            self.conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))


    def integrity_ok(self) -> bool:
        if self.dialect == POSTGRES:  # the server keeps its own integrity; the store answers
            return bool(self.conn.execute("SELECT 1").fetchone()[0] == 1)
        return bool(self.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok")
