"""Plain-text tables and human durations for the terminal (no colours, stable for tests)."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from typing import Any

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # bytes that drive a terminal (ESC, CSI, BEL, CR)


def visible(text: str) -> str:
    """Control characters as their symbols (ESC as ␛, newline as ␊): untrusted names printed to a
    terminal or a comment cannot move the cursor, retitle the window or fake extra lines."""
    return _CONTROL.sub(_control_picture, text)


def _control_picture(match: re.Match[str]) -> str:
    code = ord(match[0])
    return chr(0x2400 + code) if code < 0x20 else "\u2421" if code == 0x7F else "\ufffd"


def human_duration(seconds: float | None) -> str:
    """``None`` → ``-``; 42.4 → ``42s``; 395 → ``6m35s``; 5400 → ``1h30m``."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s" if seconds < 10 else f"{seconds:.0f}s"
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s"


def percent(rate: float | None) -> str:
    """A share as people read kill rates: ``<0.01 %``, ``0.04 %``, ``1.4 %``, ``12 %``; ``–`` when unknown.

    One decimal from 0.1 % to 10 %, where the 1 % target and its 1.5 % tolerance must be told apart.
    """
    if rate is None or rate != rate:
        return "–"
    value = rate * 100
    if value == 0:
        return "0 %"
    if value < 0.01:
        return "<0.01 %"
    if value < 0.1:
        return f"{value:.2f} %"
    if value < 10:
        return f"{value:.1f} %"
    return f"{value:.0f} %"


def plain_seconds(seconds: float | None) -> str:
    """Seconds as a bare number for messages that say "s" after it: ``42``, ``2.5``, ``3`` (``-``: unknown)."""
    if seconds is None:
        return "-"
    if seconds >= 10:
        return f"{seconds:.0f}"
    return f"{seconds:.1f}".removesuffix(".0")


def render_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, right: Sequence[int] = ()) -> str:
    """A left-aligned text table; columns whose index is in ``right`` are right-aligned. Control
    characters in cells (names come from logs) are shown as their symbols."""
    cells = [[str(h) for h in headers]] + [["" if c is None else visible(str(c)) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for n, row in enumerate(cells):
        parts = [c.rjust(widths[i]) if i in right else c.ljust(widths[i]) for i, c in enumerate(row)]
        lines.append("  ".join(parts).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def render_csv(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(headers)
    writer.writerows(["" if c is None else c for c in row] for row in rows)
    return buffer.getvalue()


def shorten_name(text: str | None, width: int) -> str:
    """A name cut in the middle to ``width``: its start and its distinguishing end stay
    (``go-pkg:github.com/de…/workflowexecution``), where a cut end would make a dozen names alike."""
    if text is None:
        return "-"
    if len(text) <= width:
        return text
    head = (width - 1) * 2 // 5
    return text[:head] + "…" + text[len(text) - (width - 1 - head) :]


def shorten_names(values: Sequence[str | None], width: int) -> list[str]:
    """A column of names shortened (``shorten_name``) so that different names stay different: where two
    still collide, they keep only their ends (``…/e2e/workflowexecution``)."""
    short = [shorten_name(v, width) for v in values]
    sources: dict[str, set[str | None]] = {}
    for value, cut in zip(values, short, strict=True):
        sources.setdefault(cut, set()).add(value)
    return [
        "…" + value[len(value) - width + 1 :] if value is not None and len(sources[cut]) > 1 and len(value) > width else cut
        for value, cut in zip(values, short, strict=True)
    ]


def shorten(text: str | None, width: int) -> str:
    if text is None:
        return "-"
    return text if len(text) <= width else text[: width - 1] + "…"
