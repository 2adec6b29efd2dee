"""Where a store lives: a SQLite file, or a PostgreSQL database named by a URL.

``--store`` (and ``WE_ADVISOR_STORE``) takes either. ``locate`` tells them apart and gives the
name every message shows: a URL's password is never part of it (``postgresql://ci:***@db/ci``),
and it is registered for redaction, so no log line, error or report can carry it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from analyzer.errors import StoreError
from analyzer.redaction import MASK, add_secret

SCHEMES = ("postgresql", "postgres")
URL_HINT = "e.g. --store postgresql://USER@HOST:5432/DB (the password from PGPASSWORD or ~/.pgpass, or in the URL)"


@dataclass(frozen=True, slots=True)
class Location:
    """A store's place: ``path`` for a SQLite file, ``url`` for PostgreSQL; ``name`` is safe to show."""

    name: str
    path: Path | None = None
    url: str | None = None

    @property
    def is_postgres(self) -> bool:
        return self.url is not None


def is_url(value: str | Path) -> bool:
    """Whether ``value`` names a database server rather than a file (it has a ``scheme://``)."""
    return isinstance(value, str) and "://" in value


def locate(value: str | Path) -> Location:
    """The store ``value`` names; a URL that is not a usable PostgreSQL URL is a StoreError."""
    if not is_url(value):
        return Location(name=str(value), path=Path(value))
    text = str(value).strip()
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise StoreError("--store is not a valid URL", hint=URL_HINT) from None
    for secret in [parts.password or "", *_query_passwords(parts.query)]:
        add_secret(unquote(secret))
        add_secret(secret)
    name = safe_url(text)
    if parts.scheme.lower() not in SCHEMES:
        raise StoreError(
            f"--store {name} is neither a file nor a PostgreSQL URL",
            hint="use a file path (SQLite) or postgresql://USER@HOST:PORT/DB",
        )
    if not parts.path.strip("/") and "dbname=" not in parts.query:
        raise StoreError(f"--store {name} names no database", hint=URL_HINT)
    return Location(name=name, url=text)


def safe_url(url: str) -> str:
    """``url`` with its password (if any) shown as ``***``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(a URL that cannot be parsed)"
    if parts.password is not None:
        user = parts.username or ""
        host = parts.netloc.rsplit("@", 1)[1]
        parts = parts._replace(netloc=f"{user}:{MASK}@{host}")
    if _query_passwords(parts.query):
        parts = parts._replace(query=_QUERY_PASSWORD.sub(rf"\g<1>{MASK}", parts.query))
    return urlunsplit(parts)


_QUERY_PASSWORD = re.compile(r"((?:^|&)password=)[^&]*", re.IGNORECASE)


def _query_passwords(query: str) -> list[str]:
    """The values of ``password=`` in a URL's query (libpq takes one there too)."""
    return [m.group(0).split("=", 1)[1] for m in _QUERY_PASSWORD.finditer(query)]
