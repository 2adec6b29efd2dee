"""PostgreSQL under the store: a psycopg 3 connection that speaks the store's SQLite dialect.

The store's queries are written once, in SQLite's dialect (``?`` parameters, ``INSERT OR
REPLACE``/``INSERT OR IGNORE``, SQLite's column types in ``schema.SCHEMA``). ``PgConnection``
runs them on PostgreSQL, translating each statement once (cached):

- ``?`` becomes ``%s`` (and a literal ``%`` is doubled);
- ``INSERT OR REPLACE INTO t …`` becomes ``INSERT … ON CONFLICT (primary key) DO UPDATE`` of every
  other column (a column the statement does not list goes back to its default, as SQLite's
  REPLACE does), ``INSERT OR IGNORE`` becomes ``ON CONFLICT DO NOTHING``; the columns and primary
  keys are read from the database itself, so a table or column a migration adds is known;
- in ``CREATE``/``ALTER TABLE``: ``INTEGER`` is ``BIGINT`` (GitHub's ids pass 2³¹), ``REAL`` is
  ``DOUBLE PRECISION`` (PostgreSQL's ``REAL`` is 4 bytes), ``BLOB`` is ``BYTEA``, and ``TEXT``
  is ``TEXT COLLATE "C"``, so text sorts and compares byte for byte as in SQLite whatever the
  database's collation: both backends give the same rows in the same order.

Text cannot hold NUL in PostgreSQL: a NUL in a text value is stored as U+FFFD.

Locks are PostgreSQL's advisory locks: ``xact_lock`` (released at commit or rollback) serializes
the writers of one job or the schema set-up; ``try_lock``/``unlock`` (session level, released
when the connection ends, even by ``kill -9``) keep two fetches of a repository apart.

This is the only module that imports psycopg (an optional dependency: ``we-advisor[postgres]``).
"""

from __future__ import annotations

import functools
import logging
import re
import zlib
from collections.abc import Iterable, Sequence
from typing import Any

from analyzer.errors import StoreError
from analyzer.redaction import redact
from analyzer.store.location import Location

try:
    import psycopg
    from psycopg import pq
except ImportError:  # pragma: no cover - exercised where the extra is not installed
    psycopg = None  # type: ignore[assignment]

# psycopg says so on its logger when it drops a pipeline on a connection that broke (a server restart):
# the store's own error says what happened, once
logging.getLogger("psycopg").addHandler(logging.NullHandler())
INSTALL_HINT = "install the PostgreSQL extra: pip install 'we-advisor[postgres]'"
CONNECT_HINT = (
    "check that the server runs and the URL's host, port, user and database are right; the password comes "
    "from the URL, PGPASSWORD or ~/.pgpass"
)
# advisory lock key spaces (the first of the two int4 keys): "we" and a kind
SCHEMA_SPACE = 0x7765_0001
JOB_SPACE = 0x7765_0002
REPO_SPACE = 0x7765_0003
STORE_SPACE = 0x7765_0004

_UPSERT = re.compile(
    r"^\s*INSERT\s+OR\s+(REPLACE|IGNORE)\s+INTO\s+(\w+)\s*(?:\(([^)]*)\))?\s*VALUES\s*(\(.*\))\s*$",
    re.IGNORECASE | re.DOTALL,
)
_DDL = re.compile(r"^(?:\s*--[^\n]*\n)*\s*(CREATE|ALTER)\s+TABLE\b", re.IGNORECASE)
_TYPES = {"INTEGER": "BIGINT", "REAL": "DOUBLE PRECISION", "BLOB": "BYTEA", "TEXT": 'TEXT COLLATE "C"'}
_TYPE_WORD = re.compile(r"\b(INTEGER|REAL|BLOB|TEXT)\b")


def key32(text: str) -> int:
    """A stable signed 32-bit key for ``text`` (a repository name) in an advisory lock's key space."""
    value = zlib.crc32(text.encode())
    return value - (1 << 32) if value >= 1 << 31 else value


def int32(value: int) -> int:
    """A 64-bit id folded into an advisory lock's signed 32-bit key (a collision only makes one wait)."""
    folded = (value ^ (value >> 32)) & 0xFFFF_FFFF
    return folded - (1 << 32) if folded >= 1 << 31 else folded


def is_driver_error(exc: BaseException) -> bool:
    return psycopg is not None and isinstance(exc, psycopg.Error)


def is_misuse(exc: BaseException) -> bool:
    """A psycopg error that means our SQL or our use of the API is wrong (a bug)."""
    return psycopg is not None and isinstance(exc, psycopg.ProgrammingError | psycopg.InterfaceError)


def is_disconnect(exc: BaseException) -> bool:
    """The server went away (restarted, stopped, the network failed): reconnecting may help."""
    return psycopg is not None and isinstance(exc, psycopg.OperationalError)


def _split_quotes(sql: str) -> list[str]:
    return sql.split("'")


_INDEX_HINT = re.compile(r"(?<![\w)\]'])\+(?=[A-Za-z_][\w.]*\s*(?:=|<|>|IN\b))")


def _placeholders(sql: str) -> str:
    """``?`` outside string literals becomes ``%s``; every ``%`` is doubled (psycopg's escape); SQLite's
    unary ``+`` before a column (``+repo = ?``: "not by this index") is dropped, as text has no ``+``."""
    parts = _split_quotes(sql.replace("%", "%%"))
    return "'".join(_INDEX_HINT.sub("", p.replace("?", "%s")) if i % 2 == 0 else p for i, p in enumerate(parts))


def _ddl(sql: str) -> str:
    lines = [line for line in sql.splitlines() if not line.strip().startswith("--")]
    return _TYPE_WORD.sub(lambda m: _TYPES[m.group(1)], "\n".join(lines))


class PgConnection:
    """A psycopg connection with the small DB-API surface the store uses (``execute``,
    ``executemany``, ``in_transaction``, ``close``), in autocommit mode: ``BEGIN``/``COMMIT`` are
    sent by ``Connection.transaction``."""

    def __init__(self, location: Location, *, connect_timeout: int = 10) -> None:
        if psycopg is None:
            raise StoreError(f"--store {location.name} needs psycopg, which is not installed", hint=INSTALL_HINT)
        assert location.url is not None
        self.location = location
        self.connect_timeout = connect_timeout
        self._tables: dict[str, tuple[list[str], list[str]]] | None = None
        self.raw = self._connect()

    def _connect(self) -> Any:
        try:
            return psycopg.connect(
                self.location.url or "", autocommit=True, connect_timeout=self.connect_timeout,
                application_name="we-advisor", keepalives=1, keepalives_idle=30, keepalives_interval=10,
                keepalives_count=3,
            )  # fmt: skip
        except psycopg.Error as exc:
            raise StoreError(
                f"cannot connect to the store {self.location.name}: {self.describe(exc)}", hint=CONNECT_HINT
            ) from None

    def describe(self, exc: BaseException) -> str:
        """A driver error in one line, without the URL's password (libpq may quote the URL)."""
        text = " ".join(str(exc).split()) or type(exc).__name__
        url = self.location.url or ""
        return redact(text.replace(url, self.location.name) if url else text)

    def sibling(self) -> PgConnection:
        """Another connection to the same database (a read that runs beside this one's)."""
        return PgConnection(self.location, connect_timeout=self.connect_timeout)

    def reconnect(self) -> None:
        """A fresh connection (the old one is dropped): its session's advisory locks are gone."""
        self.close()
        self._tables = None
        self.raw = self._connect()

    # -- the DB-API surface -------------------------------------------------------------------

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.raw.execute(self.translate(sql), _values(params))

    def execute_binary(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """``execute``, its results sent in binary: what the columns caches' blobs are read with (a ``bytea``
        comes as its bytes, not as hex text to decode: at 10⁶ observations 0.5 → 0.15 s for the whole cache)."""
        return self.raw.execute(self.translate(sql), _values(params), binary=True)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with self.raw.cursor() as cursor:
            cursor.executemany(self.translate(sql), [_values(r) for r in rows])

    @property
    def in_transaction(self) -> bool:
        return bool(self.raw.info.transaction_status != pq.TransactionStatus.IDLE)

    @property
    def closed(self) -> bool:
        return bool(self.raw.closed)

    def close(self) -> None:
        raw = getattr(self, "raw", None)
        if raw is not None and not raw.closed:
            raw.close()

    # -- translation ---------------------------------------------------------------------------

    def translate(self, sql: str) -> str:
        upsert = _UPSERT.match(sql)
        if upsert is not None:
            return self._upsert(*upsert.groups())
        if _DDL.match(sql):
            self._tables = None
            return _placeholders(_ddl(sql))
        return _cached_placeholders(sql)

    def _upsert(self, verb: str, table: str, listed: str | None, values: str) -> str:
        all_columns, key = self.table_shape(table)
        columns = [c.strip() for c in listed.split(",")] if listed else all_columns
        head = f"INSERT INTO {table} ({', '.join(columns)}) VALUES {values}"
        if verb.upper() == "IGNORE" or not key:
            return _placeholders(head + " ON CONFLICT DO NOTHING")
        rest = [c for c in all_columns if c not in key]
        if not rest:
            return _placeholders(f"{head} ON CONFLICT ({', '.join(key)}) DO NOTHING")
        sets = ", ".join(f"{c} = EXCLUDED.{c}" if c in columns else f"{c} = DEFAULT" for c in rest)
        return _placeholders(f"{head} ON CONFLICT ({', '.join(key)}) DO UPDATE SET {sets}")

    def table_shape(self, table: str) -> tuple[list[str], list[str]]:
        """(columns in order, primary key columns) of ``table``, as the database has it now."""
        if self._tables is None:
            self._tables = {}
            rows = self.raw.execute(
                "SELECT table_name, column_name FROM information_schema.columns "
                "WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position"
            ).fetchall()
            for name, column in rows:
                self._tables.setdefault(name, ([], []))[0].append(column)
            keys = self.raw.execute(
                "SELECT i.indrelid::regclass::text, a.attname FROM pg_index i "
                "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
                "JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE i.indisprimary AND n.nspname = current_schema() "
                "ORDER BY 1, array_position(i.indkey::int2[], a.attnum)"
            ).fetchall()
            for name, column in keys:
                if name in self._tables:
                    self._tables[name][1].append(column)
        shape = self._tables.get(table)
        if shape is None:
            raise StoreError(f"the store {self.location.name} has no table {table}", hint="this is a bug: report it")
        return shape

    # -- what differs from SQLite ---------------------------------------------------------------

    def tables(self) -> set[str]:
        rows = self.raw.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        ).fetchall()
        return {str(r[0]) for r in rows}

    def xact_lock(self, space: int, key: int) -> None:
        """Wait for the advisory lock (``space``, ``key``) until this transaction ends."""
        self.raw.execute("SELECT pg_advisory_xact_lock(%s::int4, %s::int4)", (space, key))

    def try_lock(self, space: int, key: int, *, shared: bool = False) -> bool:
        """Take the session-level advisory lock (``space``, ``key``) if it is free."""
        function = "pg_try_advisory_lock_shared" if shared else "pg_try_advisory_lock"
        row = self.raw.execute(f"SELECT {function}(%s::int4, %s::int4)", (space, key)).fetchone()
        return bool(row[0])

    def unlock(self, space: int, key: int, *, shared: bool = False) -> None:
        if self.raw.closed:
            return
        function = "pg_advisory_unlock_shared" if shared else "pg_advisory_unlock"
        self.raw.execute(f"SELECT {function}(%s::int4, %s::int4)", (space, key))


@functools.lru_cache(maxsize=512)
def _cached_placeholders(sql: str) -> str:
    return _placeholders(sql)


def _values(params: Sequence[Any]) -> tuple[Any, ...]:
    return tuple(v.replace("\x00", "\ufffd") if isinstance(v, str) and "\x00" in v else v for v in params)
