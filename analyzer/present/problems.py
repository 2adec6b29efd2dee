"""What the user sees when a command fails: one ``error:`` line and one ``hint:`` line, redacted.

A user error (``AdvisorError``) is its message and hint; a store that fails is told as such; an
interrupt is one word; anything else is a bug, told in one line (with ``-v`` its traceback
first). Every line is redacted: no token gets out. ``cli.app.user_errors`` prints these and exits.
"""

from __future__ import annotations

import logging
import traceback
from dataclasses import dataclass

from analyzer.errors import AdvisorError
from analyzer.redaction import redact
from analyzer.store import is_database_error, is_misuse, store_failure_hint


@dataclass(frozen=True, slots=True)
class Explained:
    """The lines to print on stderr and the exit code."""

    lines: tuple[str, ...]
    exit_code: int


def one_line(text: str, width: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def explain(exc: BaseException, *, verbose: bool = False) -> Explained:
    """The lines that tell the user what ``exc`` means, and the exit code (1, or 130 on an interrupt)."""
    if isinstance(exc, KeyboardInterrupt):
        return Explained(("interrupted",), 130)
    if isinstance(exc, AdvisorError):
        logging.getLogger("analyzer").debug("the error, with its cause", exc_info=exc)
        lines = [redact(f"error: {one_line(exc.message, 2000)}")]
        if exc.hint:
            lines.append(redact(f"hint: {one_line(exc.hint, 2000)}"))
        return Explained(tuple(lines), 1)
    if is_database_error(exc) and not is_misuse(exc):  # misuse of the API is a bug
        logging.getLogger("analyzer").debug("the store failed", exc_info=exc)
        return Explained((redact(f"error: the store cannot be used: {one_line(str(exc))}"), store_failure_hint(exc)), 1)
    lines = []
    if verbose:
        lines.append(redact("".join(traceback.format_exception(exc)).rstrip()))
        hint = "this is a bug in we-advisor: please report it with the traceback above"
    else:
        hint = "rerun with -v for the traceback and report it"
    lines.append(redact(f"error: unexpected {type(exc).__name__}: {one_line(str(exc)) or repr(exc)}"))
    lines.append(f"hint: {hint}")
    return Explained(tuple(lines), 1)
