"""Stores as an older schema version wrote them, for migration tests.

A test makes a store with today's code and takes out what later versions added: a migration that
adds columns (``ALTER TABLE … ADD COLUMN``) cannot run on a store that already has them, so a store
"from before version N" must lack the columns of every version from N on, not only N's own.
"""

from __future__ import annotations

import re
import sqlite3

from analyzer.store.schema import MIGRATIONS

# The columns the run context added (queue time, actors, head commit message), per table.
RUN_CONTEXT_COLUMNS = {"runs": ("actor", "triggering_actor", "head_commit_message"), "jobs": ("queued_s",)}
_ADDED = re.compile(r"ALTER TABLE (\w+) ADD COLUMN (\w+)")


def migration_with(text: str) -> int:
    """The schema version whose migration has a statement containing ``text``."""
    return next(v for v, steps in MIGRATIONS.items() if any(text in step for step in steps))


RUN_CONTEXT_VERSION = migration_with("head_commit_message")
CRAWL_QUEUE_VERSION = 7  # the version that added the tables of ``fetch --org`` (new tables: no statement)
CRAWL_QUEUE_TABLES = ("crawl_rounds", "crawl_queue")


def drop_columns_since(conn: sqlite3.Connection, version: int) -> None:
    """Take out every column the migrations from ``version`` on added, as a store from before it lacks them."""
    for v, steps in MIGRATIONS.items():
        for table, column in (m.groups() for step in steps if v >= version and (m := _ADDED.match(step))):
            if column in {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}:
                conn.execute(f"ALTER TABLE {table} DROP COLUMN {column}")


def drop_run_context(conn: sqlite3.Connection) -> None:
    """Take the run context's columns out, and those of every later version, as a store from before
    ``RUN_CONTEXT_VERSION`` has none of them."""
    assert {c for cols in RUN_CONTEXT_COLUMNS.values() for c in cols} <= {
        m[2] for step in MIGRATIONS[RUN_CONTEXT_VERSION] if (m := _ADDED.match(step))
    }
    drop_columns_since(conn, RUN_CONTEXT_VERSION)
