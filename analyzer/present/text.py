"""Text for people: report durations and shares, and untrusted names made inert in Markdown.

Text that came from logs (job and step names, evidence lines) is untrusted: it could ping
people (``@user``), cross-reference issues (``#123``, ``GH-123``), inject markup
(``<img onerror=…>``, ``[x](javascript:…)``), or become a link by itself (GitHub links bare
``https://…`` and ``www.…``). ``md_text`` turns any such string into inert Markdown that renders
as the literal text, ``md_code`` puts lines of it in a code block that nothing can close early;
``mermaid_text`` does the same for a mermaid Gantt task name.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from analyzer.formatting import human_duration, percent, visible
from analyzer.records import UnitKey

_ZWSP = "\u200b"  # zero-width space: breaks @mentions and #refs, as Dependabot does
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~$])")  # $: GitHub renders $…$ as math
_MENTION = re.compile(r"@(?=[\w-])")
_REF = re.compile(r"(?i)(?<=#)(?=\d)|(?<=\bgh-)(?=\d)")  # #12 and GH-12 link and cross-reference issues
_AUTOLINK = re.compile(r"(?i)(?<=[a-z]:)(?=//)|(?<=www)(?=\.)")  # scheme://, www.: GitHub's bare-URL links
_SPACES = re.compile(r"\s+")


def md_text(text: str | None, width: int | None = None) -> str:
    """Untrusted text as inert, single-line Markdown (safe in tables, lists and headings).

    Markup is escaped; a zero-width space after ``@`` and ``#`` and inside ``://`` and ``www.``
    keeps GitHub from pinging, cross-referencing or linking, and reads the same. Control
    characters are shown as their symbols (ESC as ␛), so ``--dry-run`` cannot drive a terminal.
    """
    if text is None:
        return "–"
    text = visible(_SPACES.sub(" ", text).strip())
    if width is not None and len(text) > width:
        text = text[: width - 1] + "…"
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _MD_SPECIAL.sub(r"\\\1", text)
    text = _REF.sub(_ZWSP, text)
    text = _AUTOLINK.sub(_ZWSP, text)
    return _MENTION.sub("@" + _ZWSP, text)


_BACKTICKS = re.compile(r"`+")


def md_code(text: str) -> str:
    """Untrusted lines as a fenced Markdown code block: nothing inside renders, pings or links. The
    fence is longer than any run of backticks in the text (so no line can close it); control
    characters are shown as their symbols."""
    body = "\n".join(visible(line) for line in text.split("\n"))
    longest = max((len(run) for run in _BACKTICKS.findall(body)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{body}\n{fence}"


_MERMAID_UNSAFE = re.compile(r"[^A-Za-z0-9 ._/()+=-]")
# What mermaid's gantt lexer reads as a statement when a line starts with it (case-insensitive).
_MERMAID_STATEMENT = re.compile(
    r"(?i)(?:(?:dateformat|axisformat|tickinterval|includes|excludes|todaymarker|weekday|title|accdescription"
    r"|section|click|call|href)(?: |$)|gantt|inclusiveenddates|topaxis|accdescr|acctitle|\d{4}-\d\d-\d\d)"
)


def mermaid_text(text: str, width: int = 40) -> str:
    """A name safe as a mermaid Gantt task title: a conservative character set, no ``:``/``#``/``;``,
    and not starting like a statement (``click …``, ``section …``, a date): those get ``- `` first."""
    cleaned = _SPACES.sub(" ", _MERMAID_UNSAFE.sub(" ", text)).strip() or "unnamed"
    if _MERMAID_STATEMENT.match(cleaned):
        cleaned = "- " + cleaned
    return cleaned if len(cleaned) <= width else cleaned[: width - 1] + "."


def dur(seconds: float | None) -> str:
    """Durations for people: ``42 s``, ``6m35s``, ``10 min``, ``1h30m``; ``–`` when unknown."""
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return "–"
    if seconds < 120:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    if round(seconds) % 60 == 0 and seconds < 7200:
        return f"{round(seconds) // 60} min"
    return human_duration(seconds)


def pct(rate: float | None) -> str:
    """A kill rate or other share for people (``formatting.percent``)."""
    return percent(rate)


def rate_with_interval(rate: float | None, interval: Any = None) -> str:
    """A kill rate with its interval: ``9.9 % (7.4–13 %)``; ``–`` when unknown; an unknown rate with an
    interval (beyond a stopped run) as ``≥ low``."""
    lo, hi = (known(interval[0]), known(interval[1])) if interval is not None and len(interval) == 2 else (None, None)
    if rate is None:
        return "–" if lo is None else f"≥ {pct(lo)}"
    if lo is None or hi is None or hi < 1e-4:  # below a hundredth of a percent an interval says nothing more
        return pct(rate)
    return f"{pct(rate)} ({pct(lo).removesuffix(' %')}–{pct(hi)})"


def window_phrase(start: datetime | None, end: datetime | None, runs: int | None) -> str:
    """A window and what is in it, as every section of a report states it: ``2026-10-24 → 2026-11-23 (30 days), 144 runs``."""
    count = "" if runs is None else f"{runs} run{'s' if runs != 1 else ''}"
    if start is None or end is None:
        return count or "–"
    days = max(1, round((end - start).total_seconds() / 86400))
    return f"{start:%Y-%m-%d} → {end:%Y-%m-%d} ({days} day{'s' if days != 1 else ''})" + (f", {count}" if count else "")


def unit_label(key: UnitKey) -> str:
    scope, _, job, step, phase = key
    if scope == "job":
        return f"{job}"
    if scope == "step":
        return f"{job} › {step}"
    return f"{phase} ({job} › {step})" if step else f"{phase} ({job})"


def unit_name(key: UnitKey) -> str:
    """The short name: the phase, the step or the job."""
    return str(key[4] or key[3] or key[2])


def known(value: Any) -> Any:
    """``value``, or None where it is missing (None, NaN, NaT)."""
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    pandas = sys.modules.get("pandas")  # NaT exists only where pandas made it: no need to import it here
    if pandas is not None and value is pandas.NaT:
        return None
    return value


def run_label(run_id: int, attempt: int, local: Mapping[int, str] | None = None) -> str:
    """``123#2`` for a GitHub run; ``local:logs_123.zip`` for a locally ingested one (its id is synthetic)."""
    if run_id < 0:
        return f"local:{(local or {}).get(run_id, '?')}"
    return f"{run_id}#{attempt}"
