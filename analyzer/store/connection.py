"""Opening a store file and running units of work on it: the seam where a backend plugs in.

``Connection`` owns the DB-API connection (stdlib ``sqlite3``): it checks the file, sets WAL up,
creates or checks the schema, and runs ``transaction()``s. The query methods live in its
subclasses (``FetchBookkeeping``, ``Store``) and use SQLite's dialect (``?`` parameters,
``INSERT OR REPLACE``). Another backend (PostgreSQL) is another ``Connection`` and a dialect for
those statements; nothing outside ``analyzer.store`` sees the driver: callers catch
``DatabaseError`` from here and ask ``is_misuse`` whether a failure is a bug.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Self

from analyzer.errors import StoreError
from analyzer.store import schema
from analyzer.store.schema import SQLITE_MAGIC

DatabaseError = sqlite3.DatabaseError  # what the driver raises when the database fails


def is_misuse(exc: BaseException) -> bool:
    """A driver error that means the code used the API wrongly (a bug), not that the file failed."""
    return isinstance(exc, sqlite3.ProgrammingError | sqlite3.InterfaceError)


class Connection:
    """An open store file. Use as a context manager; writes go through ``transaction()``."""

    def __init__(self, path: Path | str, *, create: bool = True) -> None:
        self.path = Path(path)
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
        # checked before WAL is switched on: a file that is not ours keeps its journal mode
        tables = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        current = False
        version = 0  # a new, empty file
        if "meta" in tables:
            row = self.conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            version = int(row[0]) if row else 0
            if version > schema.SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path} has schema version {version}, newer than this we-advisor ({schema.SCHEMA_VERSION})",
                    hint="upgrade we-advisor (pip install -U we-advisor) or use another --store",
                )
            current = version == schema.SCHEMA_VERSION
        elif tables:
            raise StoreError(
                f"{self.path} is a SQLite database but not a we-advisor store",
                hint="pass --store with a new file name",
            )
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
        """Create the tables a store made by an earlier build of this schema version lacks."""
        with self.transaction():
            self._create_tables()

    def _create_tables(self) -> None:
        for statement in schema.SCHEMA.split(";"):
            if statement.strip():
                self.conn.execute(statement)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic unit of work: committed on success, rolled back on any error."""
        if self.conn.in_transaction:
            yield self.conn
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    # -- meta --------------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction():
            self.conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))


    def integrity_ok(self) -> bool:
        return bool(self.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok")
