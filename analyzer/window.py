"""The one rule for ``--since`` and for the window of history a command looks at.

``--since`` takes ``Nd`` (N days) or a date ``YYYY-MM-DD`` (UTC). N days count back from an end
that depends on the command: analysis commands count from the newest observation in the store
(so an old store, or the bundled sample, still has a meaningful window), ``fetch`` counts from
now and starts at midnight UTC (so its listing URLs, and their ETags, stay the same all day).
Without ``--since``, analysis looks at the last ``window_days`` of data, a report at
``DEFAULT_REPORT_PERIOD``. Every history command says on stderr which window it used and how
much history it left out (``Window.line``), so a default window never hides data silently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from analyzer.errors import ConfigError

if TYPE_CHECKING:  # pandas is imported where frames are handled: fetch and ingest never load it
    import pandas as pd

DEFAULT_REPORT_PERIOD = "7d"  # report, comment, the demo: "this week"

_DAYS = re.compile(r"^\s*(\d+)\s*d\s*$", re.I)


def _since(text: str, option: str) -> timedelta | datetime:
    """``Nd`` as a span, or a date as a UTC time."""
    match = _DAYS.match(text)
    if match:
        return timedelta(days=int(match.group(1)))
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(f"{option} {text!r} is neither Nd nor a date", hint=f"use e.g. {option} 30d or {option} 2026-01-31") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def parse_since(text: str | None, *, end: datetime | None, option: str = "--since") -> datetime | None:
    """``--since`` (or ``option``): ``Nd`` (N days before ``end``, else before now) or a date (UTC)."""
    if text is None:
        return None
    value = _since(text, option)
    if isinstance(value, timedelta):
        return (end or datetime.now(UTC)) - value
    return value


def fetch_start(since: str | None, *, default_days: int, now: datetime | None = None) -> datetime:
    """Where a fetch's listing starts: ``--since`` (default ``default_days``), relative ones at
    midnight UTC."""
    value = _since(f"{default_days}d" if since is None else since, "--since")
    if isinstance(value, timedelta):
        start = (now or datetime.now(UTC)) - value
        return start.replace(hour=0, minute=0, second=0, microsecond=0)
    return value


def analysis_window(newest: datetime | None, window_days: int, since: str | None) -> tuple[datetime | None, datetime | None]:
    """The window a history command looks at: ``--since``, else the last ``window_days`` before the
    ``newest`` observation (``(None, None)``: everything, for an empty store)."""
    if since is not None:
        return parse_since(since, end=newest), None
    if newest is None:
        return None, None
    return newest - timedelta(days=window_days), None


def window_of(
    frame: pd.DataFrame, *, workflow: str | None = None, since: datetime | None = None, until: datetime | None = None
) -> pd.DataFrame:
    """The rows of an observations frame that ``Store.observations_frame`` would return for these filters."""
    import numpy as np

    keep = np.ones(len(frame), dtype=bool)
    if workflow:
        keep &= (frame["workflow"] == workflow).to_numpy()
    if since is not None:
        keep &= (frame["started_at"] >= pd_timestamp(since)).to_numpy()
    if until is not None:
        keep &= (frame["started_at"] < pd_timestamp(until)).to_numpy()
    return frame if keep.all() else frame[keep].reset_index(drop=True)


def pd_timestamp(value: datetime) -> Any:
    """A UTC pandas Timestamp, for comparisons with ``started_at`` columns."""
    import pandas as pd

    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


@dataclass(frozen=True, slots=True)
class Window:
    """The window a history command used, and how much of the history in scope it holds.

    ``start``/``end``: the window (None: open); ``newest``/``oldest``: the data in scope (repository,
    workflow) at all; ``jobs`` of ``total`` jobs lie in the window. ``since`` is the ``--since``
    given (None: the default, ``days`` days); ``what`` names the command's use of it.
    """

    start: datetime | None
    end: datetime | None
    since: str | None
    days: int | None
    jobs: int
    total: int
    oldest: datetime | None
    newest: datetime | None
    what: str = "window"

    def line(self) -> str:
        """``window: last 30 days ending 2026-07-29: 6 of 251 jobs; --since 2019-03-02 for all``."""
        if self.total == 0:
            return f"{self.what}: no job observations in the store" + ("" if self.since is None else f" (--since {self.since})")
        end = self.end or self.newest
        ending = f" ending {end:%Y-%m-%d}" if end is not None else ""
        if self.start is None:
            span = "all data"
        elif self.since is None:
            span = f"last {self.days} days{ending}"
        elif _DAYS.match(self.since):
            span = f"--since {self.since.strip()} ({self.since.strip().rstrip('dD').strip()} days{ending})"
        else:
            span = f"since {self.start:%Y-%m-%d}" + (f" to {end:%Y-%m-%d}" if end is not None else "")
        text = f"{self.what}: {span}: {self.jobs} of {self.total} jobs"
        if self.jobs < self.total and self.oldest is not None:
            text += f"; --since {self.oldest:%Y-%m-%d} for all"
        return text
