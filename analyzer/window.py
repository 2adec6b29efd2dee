"""The one rule for ``--since`` and for the window of history a command looks at.

``--since`` takes ``Nd`` (N days) or a date ``YYYY-MM-DD`` (UTC). N days count back from an end
that depends on the command: analysis commands count from the newest observation in the store
(so an old store, or the bundled sample, still has a meaningful window), ``fetch`` counts from
now and starts at midnight UTC (so its listing URLs, and their ETags, stay the same all day).
Without ``--since``, analysis looks at the last ``window_days`` of data, a report at
``DEFAULT_REPORT_PERIOD``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from analyzer.errors import ConfigError

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
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
