"""The project's exceptions.

Every error a user can meet is an ``AdvisorError``: a one-line message plus a hint telling what
to do next. Only the command line (``cli.app``) turns them into exit codes (1); anything else escaping is a bug.

    AdvisorError
    ├── ConfigError        we-advisor.toml, plan files, option values
    ├── InputError         files given to ingest / bootstrap / recommend (bad log, zip, JSON)
    │   └── LogParseError  text that cannot be read as a GitHub Actions log
    ├── StoreError         the SQLite store (not a store, newer schema, locked)
    └── GitHubError        the GitHub API (auth, not found, rate limit, network)
        ├── AuthError
        ├── NotFoundError
        └── RateLimitError
"""

from __future__ import annotations


class AdvisorError(Exception):
    """A user-facing error: ``message`` says what went wrong, ``hint`` what to do about it."""

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class ConfigError(AdvisorError):
    """Bad configuration: we-advisor.toml, a plan file, or an option value."""


class InputError(AdvisorError):
    """An input file that cannot be used."""


class LogParseError(InputError):
    """Text that cannot be parsed as a GitHub Actions job log."""


class StoreError(AdvisorError):
    """The SQLite store cannot be opened, read or written."""


class GitHubError(AdvisorError):
    """The GitHub API refused or failed a request."""


class AuthError(GitHubError):
    """GitHub rejected the token or it lacks a permission."""


class NotFoundError(GitHubError):
    """A repository, run, job or pull request that GitHub does not know."""


class RateLimitError(GitHubError):
    """The API rate limit is exhausted; ``reset_at`` says when it recovers (epoch seconds)."""

    def __init__(self, message: str, *, hint: str = "", reset_at: float | None = None) -> None:
        super().__init__(message, hint=hint)
        self.reset_at = reset_at
