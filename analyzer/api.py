"""The library API behind the command line: one function per command.

Each function takes a ``Settings`` and a ``Store`` (or paths) and returns plain data; nothing
here prints. ``cli.py`` is a thin adapter over these.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from analyzer import analysis
from analyzer.config import Settings
from analyzer.errors import ConfigError
from analyzer.ingest import IngestSummary, ingest_paths
from analyzer.model import UnitStats, unit_stats
from analyzer.records import Incident
from analyzer.store import Store, iso

Progress = Callable[[int, int], None]
Warn = Callable[[str], None]

_SINCE_DAYS = re.compile(r"^\s*(\d+)\s*d\s*$", re.I)


def parse_since(text: str | None, *, end: datetime | None) -> datetime | None:
    """``--since``: ``Nd`` (N days before ``end``) or a date ``YYYY-MM-DD`` (UTC)."""
    if text is None:
        return None
    match = _SINCE_DAYS.match(text)
    if match:
        anchor = end or datetime.now(UTC)
        return anchor - timedelta(days=int(match.group(1)))
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(f"--since {text!r} is neither Nd nor a date", hint="use e.g. --since 30d or --since 2026-01-31") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def analysis_window(store: Store, settings: Settings, since: str | None, repo: str | None) -> tuple[datetime | None, datetime | None]:
    """The window a history command looks at: ``--since``, else the last ``window_days`` of data.

    Relative windows end at the newest observation in the store rather than at the wall clock, so
    an old store (or the bundled sample) still has a meaningful default window.
    """
    newest = store.newest_time(repo=repo)
    if since is not None:
        return parse_since(since, end=newest), None
    if newest is None:
        return None, None
    return newest - timedelta(days=settings.window_days), None


def ensure_parsed(store: Store, settings: Settings, *, on_progress: Progress | None = None, on_warning: Warn | None = None) -> int:
    """Re-derive parsed data for jobs parsed by another parser version or other phase rules."""
    return analysis.reparse(store, settings.phases, on_progress=on_progress, on_warning=on_warning)


def ingest(
    settings: Settings,
    store: Store,
    paths: Sequence[Path],
    *,
    repo: str | None = None,
    workflow: str | None = None,
    on_progress: Progress | None = None,
    on_warning: Warn | None = None,
) -> IngestSummary:
    return ingest_paths(
        store, paths, rules=settings.phases, repo=repo, workflow=workflow, on_progress=on_progress, on_warning=on_warning
    )


def reparse(settings: Settings, store: Store, *, on_progress: Progress | None = None, on_warning: Warn | None = None) -> int:
    return analysis.reparse(store, settings.phases, force=True, on_progress=on_progress, on_warning=on_warning)


def stats(
    settings: Settings,
    store: Store,
    *,
    repo: str | None = None,
    workflow: str | None = None,
    since: str | None = None,
    on_warning: Warn | None = None,
) -> list[UnitStats]:
    ensure_parsed(store, settings, on_warning=on_warning)
    repo = repo or settings.repo
    start, end = analysis_window(store, settings, since, repo)
    frame = store.observations_frame(repo=repo, workflow=workflow, since=start, until=end)
    return unit_stats(frame)


def incidents(
    settings: Settings,
    store: Store,
    *,
    repo: str | None = None,
    workflow: str | None = None,
    since: str | None = None,
    on_warning: Warn | None = None,
) -> list[Incident]:
    ensure_parsed(store, settings, on_warning=on_warning)
    repo = repo or settings.repo
    start, _ = analysis_window(store, settings, since, repo)
    return store.load_incidents(repo=repo, workflow=workflow, since=start)


def incident_dict(incident: Incident) -> dict[str, Any]:
    """The JSON shape of DESIGN.md (plus workflow and time, which scripts find useful)."""
    data = asdict(incident)
    keys = ["run_id", "run_attempt", "job_id", "job", "step_number", "step", "phase", "kind", "limit_s", "evidence"]
    out = {k: data[k] for k in keys}
    out["workflow"] = incident.workflow
    out["occurred_at"] = iso(incident.occurred_at)
    return out


def stats_dict(row: UnitStats) -> dict[str, Any]:
    return asdict(row)
