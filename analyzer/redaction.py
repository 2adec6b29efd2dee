"""Keeping secrets out of text that a user or a log file will see.

``redact`` replaces the GitHub token (from ``GITHUB_TOKEN`` / ``GH_TOKEN``, or registered with
``add_secret``), its base64 forms (as in a Basic ``Authorization`` header), any ``Authorization``
header value, strings shaped like GitHub tokens (``ghp_…``, ``github_pat_…``), the password of a database
URL (``postgresql://user:…@host``) and libpq's ``password=…`` with ``***``.
``RedactingFilter`` applies it to every log record a handler emits, tracebacks included.
"""

from __future__ import annotations

import base64
import logging
import os
import re
import sys
import threading

MASK = "***"
TOKEN_ENV = ("GITHUB_TOKEN", "GH_TOKEN")
DEBUG_LOGGERS = ("analyzer", "github", "urllib3")

_lock = threading.Lock()
_secrets: set[str] = set()

_AUTH_HEADER = re.compile(
    r"""(?ix)
    (authorization ["']? \s* [:=] \s* ["']? \s*)   # the header name, as in HTTP, a dict repr or JSON
    (?!(?:token|bearer|basic)?\s*\()               # not PyGithub's own "token (oauth token removed)"
    (?:(?:token|bearer|basic)\s+)?                 # its scheme
    [^\s"',}\]]+                                   # its value
    """
)
_GITHUB_TOKEN = re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{16,}|github_pat_[A-Za-z0-9_]{16,})\b")
# a database URL's password (postgresql://user:PASSWORD@host) and libpq's ``password=...``, however short
_URL_PASSWORD = re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^\s/]+@")
_CONNINFO_PASSWORD = re.compile(r"(?i)(\bpassword\s*=\s*)('[^']*'|[^\s&'\"]+)")


def add_secret(value: str | None) -> None:
    """Redact ``value`` (and its base64 forms) from now on; short values are ignored."""
    if value and len(value) >= 8:
        with _lock:
            _secrets.add(value)


def _variants(value: str) -> list[str]:
    raw = value.encode()
    forms = [value]
    for prefix in (b"", b"x-access-token:", b":", b"token:"):
        encoded = base64.b64encode(prefix + raw).decode()
        forms.append(encoded)
        forms.append(encoded.rstrip("="))
    # the token inside any longer base64 text: its encoding at each of the three alignments
    for shift in range(3):
        encoded = base64.b64encode(b"\x00" * shift + raw).decode()
        start = (shift * 4 + 2) // 3
        core = encoded[start : len(encoded) - 4]
        if len(core) >= 8:
            forms.append(core)
    return forms


def known_secrets() -> list[str]:
    """Every value redacted: the registered ones and the tokens in the environment now, longest first."""
    with _lock:
        values = set(_secrets)
    values.update(v for name in TOKEN_ENV if len(v := os.environ.get(name, "")) >= 8)
    forms = {form for value in values for form in _variants(value)}
    return sorted(forms, key=len, reverse=True)


def redact(text: str) -> str:
    """``text`` without any secret in it."""
    for secret in known_secrets():
        if secret in text:
            text = text.replace(secret, MASK)
    text = _AUTH_HEADER.sub(lambda m: m.group(1) + MASK, text)
    text = _URL_PASSWORD.sub(lambda m: m.group(1) + MASK + "@", text)
    text = _CONNINFO_PASSWORD.sub(lambda m: m.group(1) + MASK, text)
    return _GITHUB_TOKEN.sub(MASK, text)


class RedactingFilter(logging.Filter):
    """Rewrites each record (message, arguments, traceback, stack) with ``redact`` before it is emitted."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a library's bad format string must not hide the record
            message = f"{record.msg!r} % {record.args!r}"
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


_debug_handler: list[logging.Handler] = []  # the handler debug_logging installed, if any


def debug_logging(verbose: bool) -> None:
    """``-v``: DEBUG records of we-advisor, PyGithub and urllib3 on stderr, secrets redacted; else quiet.

    The tokens in the environment are registered as secrets first. Calling it again (another
    command in the same process) replaces what the last call set up.
    """
    for name in TOKEN_ENV:
        add_secret(os.environ.get(name))
    for handler in _debug_handler:
        for name in DEBUG_LOGGERS:
            logging.getLogger(name).removeHandler(handler)
    _debug_handler.clear()
    for name in DEBUG_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.NOTSET)
    if verbose:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("debug: %(asctime)s %(name)s %(threadName)s: %(message)s"))
        handler.addFilter(RedactingFilter())
        for name in DEBUG_LOGGERS:
            logging.getLogger(name).addHandler(handler)
        _debug_handler.append(handler)
