"""The store: the only code that speaks SQL.

``Store`` (records: ``save_*`` / ``load_*``; fetch bookkeeping; the observations frame) on a
``Connection`` (a SQLite file or a PostgreSQL database: schema, transactions, locks); ``open_store`` and ``store_lock`` for its life
around a command. See ARCHITECTURE.md for what may import it.
"""

from analyzer.store.connection import DatabaseError, is_database_error, is_misuse, store_failure_hint
from analyzer.store.lifecycle import RepoLock, open_store, repo_lock, store_lock
from analyzer.store.location import is_url, locate
from analyzer.store.schema import SCHEMA_VERSION
from analyzer.store.store import JOB_COLUMNS, Store

__all__ = [
    "JOB_COLUMNS",
    "SCHEMA_VERSION",
    "DatabaseError",
    "RepoLock",
    "Store",
    "is_database_error",
    "is_misuse",
    "is_url",
    "locate",
    "open_store",
    "repo_lock",
    "store_failure_hint",
    "store_lock",
]
