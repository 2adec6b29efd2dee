"""The store: the only code that speaks SQL.

``Store`` (records: ``save_*`` / ``load_*``; fetch bookkeeping; the observations frame) on a
``Connection`` (the file, WAL, schema, transactions); ``open_store`` and ``store_lock`` for its life
around a command. See ARCHITECTURE.md for what may import it.
"""

from analyzer.store.connection import DatabaseError, is_misuse
from analyzer.store.lifecycle import open_store, store_lock
from analyzer.store.schema import SCHEMA_VERSION
from analyzer.store.store import JOB_COLUMNS, Store

__all__ = ["JOB_COLUMNS", "SCHEMA_VERSION", "DatabaseError", "Store", "is_misuse", "open_store", "store_lock"]
