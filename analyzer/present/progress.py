"""Progress and warnings on stderr: redrawn in place on a terminal, a few plain lines otherwise."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable

from analyzer.collect.summary import FetchProgress
from analyzer.window import Window


def stderr_line(message: str) -> None:
    """One line on stderr, flushed (a progress line, a warning, a summary)."""
    print(message, file=sys.stderr, flush=True)


def stderr_lines(lines: Iterable[str]) -> None:
    for line in lines:
        stderr_line(line)


def warn(message: str) -> None:
    stderr_line(f"warning: {message}")


class Windows(list[Window]):
    """The windows a history command used (its ``on_window``): their lines go to stderr once the
    command has succeeded (a failed command says only its error and hint)."""

    def lines(self) -> list[str]:
        return [window.line() for window in self]


class Progress:
    """A ``done/total`` progress line (parsing): redrawn in place on a terminal, a few plain lines otherwise."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.tty = sys.stderr.isatty()
        self.last = 0.0
        self.shown = False

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - self.last < (0.2 if self.tty else 5.0):
            return
        self.last = now
        if total == 0:
            return
        text = f"{self.label}: {done}/{total} ({100 * done // total}%)"
        if self.tty:
            sys.stderr.write("\r" + text + ("\n" if done >= total else ""))
            sys.stderr.flush()
        elif done >= total or self.shown or total > 50:
            stderr_line(text)
        self.shown = True


class FetchBar:
    """The fetch progress line: redrawn in place on a terminal, a plain line every few seconds otherwise."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.last = 0.0 if self.tty else time.monotonic()
        self.width = 0

    def __call__(self, p: FetchProgress) -> None:
        now = time.monotonic()
        if p.stage != "waiting" and now - self.last < (0.2 if self.tty else 5.0):
            return
        self.last = now
        if p.stage == "parsing":
            text = f"fetch: parsing {p.parsed}/{p.parse_total} job(s)"
        elif p.stage == "waiting" and p.waiting_until is not None:
            until = time.strftime("%H:%M:%S UTC", time.gmtime(p.waiting_until))
            text = f"fetch: the rate limit is used up; waiting until {until} (--max-wait)"
        else:
            filled = 20 * p.runs_done // p.runs_todo if p.runs_todo else 0
            text = (
                f"fetch [{'#' * filled}{'.' * (20 - filled)}] {p.runs_done}/{p.runs_todo} run(s) "
                f"({p.runs_listed} listed), {p.jobs} job(s), {p.logs} log(s), {p.requests} request(s)"
            )
            if p.rate_remaining is not None:
                text += f", rate {p.rate_remaining}/{p.rate_limit} left"
        if self.tty:
            sys.stderr.write("\r" + text.ljust(self.width))
            sys.stderr.flush()
            self.width = len(text)
        else:
            stderr_line(text)

    def clear(self) -> None:
        if self.tty and self.width:
            sys.stderr.write("\r" + " " * self.width + "\r")
            sys.stderr.flush()
            self.width = 0

    def warn(self, message: str) -> None:
        self.clear()
        warn(message)
