"""A private PostgreSQL server for the tests: a cluster in a temporary folder, on 127.0.0.1.

``PostgresServer`` runs Debian's binaries (``/usr/lib/postgresql/<version>/bin``, or ``initdb``
on ``PATH``): ``initdb`` with a password for the superuser, ``pg_ctl start`` listening on a free
port of 127.0.0.1 with its socket in the cluster folder. PostgreSQL refuses to run as root, so as
root it runs them as the ``postgres`` system user (``runuser -u postgres --``), and the folder is
made readable by that user. ``database()`` makes a fresh database and returns its URL (with the
password in it, as a user would write it: the tests check it never shows); ``restart()`` is a
server restart in the middle of a test; ``stop()`` ends it.

Where PostgreSQL is not installed, ``missing_reason()`` says why, and the tests that need it skip,
unless ``WE_ADVISOR_REQUIRE_POSTGRES=1`` (set by ``.ci/run``): then a skip is a failure, so CI never
passes without having run them.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import socket
import subprocess
import tempfile
import time
from itertools import count
from pathlib import Path

USER = "weadvisor"
PASSWORD = "pg-secret-Zq81xK3v"  # recognizable, so tests can look for leaks
REQUIRE_ENV = "WE_ADVISOR_REQUIRE_POSTGRES"


def binaries() -> Path | None:
    """The folder of initdb/pg_ctl/postgres: Debian's newest version, else what is on PATH."""
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]), reverse=True)
    if versions:
        return versions[0].parent
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def missing_reason() -> str | None:
    """Why no private server can be started here (None: it can)."""
    import importlib.util

    if importlib.util.find_spec("psycopg") is None:
        return "psycopg is not installed (pip install -e '.[test]' installs it)"
    folder = binaries()
    if folder is None or not (folder / "pg_ctl").exists():
        return "PostgreSQL's server binaries (initdb, pg_ctl) are not installed (Debian: apt-get install postgresql)"
    if os.geteuid() == 0 and (shutil.which("runuser") is None or _uid("postgres") is None):
        return "running as root, but there is no `postgres` system user (or no runuser) to run the server as"
    return None


def _uid(name: str) -> int | None:
    import pwd

    try:
        return pwd.getpwnam(name).pw_uid
    except KeyError:
        return None


def _ephemeral_ports() -> tuple[int, int]:
    """The range the kernel takes the local ports of outgoing connections (and of ``bind(0)``) from."""
    with contextlib.suppress(OSError, ValueError):
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    return 32768, 60999


def free_port() -> int:
    """A free port of 127.0.0.1 below the ephemeral range.

    ``bind(0)`` would give one inside it: between this check and the server's own bind (initdb takes
    seconds), and again while ``restart()`` keeps the server down, any outgoing connection on the machine
    (the fake GitHub's clients make thousands) may be given that port as its local one, and the server
    then cannot listen. Below the range only a program that asks for that very port can take it.
    """
    low, _ = _ephemeral_ports()
    first = max(1024, low - 10_000)
    draw = random.SystemRandom()  # which free port: no test outcome depends on it
    for _ in range(200):
        port = draw.randrange(first, low)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as sock:  # a crowded range: the kernel's choice
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresServer:
    """A private cluster; ``start()`` it, ``database()`` per test, ``stop()`` at the end."""

    def __init__(self) -> None:
        folder = binaries()
        assert folder is not None
        self.bin = folder
        self.root = Path(tempfile.mkdtemp(prefix="we-advisor-pg-"))
        self.data = self.root / "data"
        self.socket_dir = self.root / "socket"
        self.log = self.root / "server.log"
        self.port = free_port()
        self._names = count(1)
        self.as_postgres = os.geteuid() == 0

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        prefix = ["runuser", "-u", "postgres", "--"] if self.as_postgres else []
        return subprocess.run([*prefix, *args], capture_output=True, text=True, check=check, timeout=120)

    def start(self) -> PostgresServer:
        self.socket_dir.mkdir(parents=True)
        password_file = self.root / "pw"
        password_file.write_text(PASSWORD + "\n")
        if self.as_postgres:  # the cluster's folder must be the server user's
            import pwd

            entry = pwd.getpwnam("postgres")
            self.root.chmod(0o755)
            for path in (self.root, self.socket_dir, password_file):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        self._run(
            str(self.bin / "initdb"), "-D", str(self.data), "-U", USER, f"--pwfile={password_file}",
            "--auth=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync",
        )  # fmt: skip
        password_file.unlink()
        for tries_left in reversed(range(5)):
            try:
                self._ctl_start()
                break
            except subprocess.CalledProcessError:
                taken = self.log.exists() and "could not bind" in self.log.read_text(errors="replace")
                if not taken or not tries_left:
                    raise
                self.port = free_port()  # another program took the port after free_port() saw it free
        return self

    def _ctl_start(self) -> None:
        options = (
            f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=100 -c shared_buffers=64MB"
        )
        if self.as_postgres:
            self.log.touch()
            import pwd

            entry = pwd.getpwnam("postgres")
            os.chown(self.log, entry.pw_uid, entry.pw_gid)
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.log), "-w", "start")

    def url(self, database: str = "postgres", *, password: bool = True) -> str:
        secret = f":{PASSWORD}" if password else ""
        return f"postgresql://{USER}{secret}@127.0.0.1:{self.port}/{database}"

    def database(self, prefix: str = "t") -> str:
        """A new, empty database; its URL (password included)."""
        import psycopg

        name = f"{prefix}_{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def restart(self, *, down_s: float = 0.0) -> None:
        """Stop the server (every connection is cut), stay down ``down_s`` seconds, start it again."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        time.sleep(down_s)
        self._ctl_start()

    def stop(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop", check=False)
        shutil.rmtree(self.root, ignore_errors=True)


# -- comparing stores of either backend ----------------------------------------------------------------

SKIP_COLUMNS = {"logs": {"saved_at"}, "parse_state": {"parsed_at"}}
SKIP_TABLES = {"meta", "sources", "crawl_rounds", "crawl_queue", "observation_columns", "job_columns"}  # when, by which worker, caches


def table_names() -> list[str]:
    from analyzer.store.schema import TABLES

    return sorted(TABLES)


def columns_of(table: str) -> list[str]:
    import sqlite3

    from analyzer.store.schema import SCHEMA

    with contextlib.closing(sqlite3.connect(":memory:")) as conn:
        conn.executescript(SCHEMA)
        return [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]


def dump(location: str) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table of the store (a file or a URL), sorted, without write times and
    crawl bookkeeping: what two stores holding the same data have in common."""
    from analyzer.store import Store

    with Store(location) as store:
        out = {}
        for table in table_names():
            if table in SKIP_TABLES:
                continue
            columns = [c for c in columns_of(table) if c not in SKIP_COLUMNS.get(table, set())]
            rows = store.conn.execute(f"SELECT {', '.join(columns)} FROM {table}").fetchall()
            out[table] = sorted((tuple(r) for r in rows), key=repr)
        return out


def union(dumps: list[dict[str, list[tuple[object, ...]]]]) -> dict[str, list[tuple[object, ...]]]:
    """The rows of several stores together (as one store holding all of them would)."""
    tables = {t for d in dumps for t in d}
    return {t: sorted((row for d in dumps for row in d.get(t, [])), key=repr) for t in tables}
