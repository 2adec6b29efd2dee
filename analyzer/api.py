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

import numpy as np
import pandas as pd

from analyzer.collect.ingest import IngestSummary, ingest_paths
from analyzer.config import Settings
from analyzer.errors import ConfigError
from analyzer.model import UnitStats, unit_stats
from analyzer.parse.reparse import reparse as parse_again
from analyzer.records import Incident, iso
from analyzer.store import Store

Progress = Callable[[int, int], None]
Warn = Callable[[str], None]

_SINCE_DAYS = re.compile(r"^\s*(\d+)\s*d\s*$", re.I)


def parse_since(text: str | None, *, end: datetime | None, option: str = "--since") -> datetime | None:
    """``--since`` (or ``option``): ``Nd`` (N days before ``end``) or a date ``YYYY-MM-DD`` (UTC)."""
    if text is None:
        return None
    match = _SINCE_DAYS.match(text)
    if match:
        anchor = end or datetime.now(UTC)
        return anchor - timedelta(days=int(match.group(1)))
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(f"{option} {text!r} is neither Nd nor a date", hint=f"use e.g. {option} 30d or {option} 2026-01-31") from None
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
    return parse_again(store, settings.phases, on_progress=on_progress, on_warning=on_warning)


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
    return parse_again(store, settings.phases, force=True, on_progress=on_progress, on_warning=on_warning)


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


from analyzer.advise import (  # noqa: E402
    BacktestResult,
    PatchPlan,
    Policy,
    RecommendResult,
    WorkflowSpec,
    choose_specs,
    current_limits,
    default_split,
    logged_limits,
    patch_checkout,
    recommend_limits,
    run_backtest,
)
from analyzer.advise.patch import read_workflow_dir  # noqa: E402
from analyzer.errors import InputError  # noqa: E402
from analyzer.model import DurationModel, keys_of, unit_codes  # noqa: E402


def workflow_specs(
    store: Store, repo: str | None, *, directory: Path | None = None, on_warning: Warn | None = None
) -> list[WorkflowSpec]:
    """Workflow files for current ``timeout-minutes``: those under ``directory`` (a checkout) first,
    then the store's (for each path, the version at the newest run's commit)."""
    local = read_workflow_dir(directory) if directory is not None else []
    return choose_specs(local, store.load_workflow_files(repo), store.newest_heads(repo), on_warning=on_warning)


def recommend(
    settings: Settings,
    store: Store,
    *,
    repo: str | None = None,
    workflow: str | None = None,
    since: str | None = None,
    quantile: float | None = None,
    workflows_dir: Path | None = None,
    on_warning: Warn | None = None,
    observations: pd.DataFrame | None = None,
) -> RecommendResult:
    """Recommended limits for every job, step and phase in the window (``recommend.RecommendResult``).

    Current limits come from the workflow YAML (``workflows_dir`` first, then the store), the
    ``[[phases]]`` ``timeout_s`` of the settings, and the limits the logs revealed.
    ``observations``: the store's observations of ``repo`` already read (``observations_frame``)
    from the start of the window or earlier, so that a caller that needs them too (``report``)
    reads 10⁶ rows once; the window is then taken from them.
    """

    ensure_parsed(store, settings, on_warning=on_warning)
    repo = repo or settings.repo
    target = settings.quantile if quantile is None else quantile
    if not 0.5 <= target < 1:
        raise ConfigError(f"--quantile {target} out of range", hint="use 0.5 <= quantile < 1, e.g. 0.99")
    start, end = analysis_window(store, settings, since, repo)
    if observations is None:
        frame = store.observations_frame(repo=repo, workflow=workflow, since=start, until=end)
    else:
        frame = window_of(observations, workflow=workflow, since=start, until=end)
    found = store.load_incidents(repo=repo, workflow=workflow, since=start)
    policy = Policy(quantile=target, min_samples=settings.min_samples)

    # the model's units are the keys the current limits are looked up for; fitted once
    model = DurationModel(quantile=policy.quantile, confidence=policy.confidence, min_samples=policy.min_samples)
    unit_keys = keys_of(model.fit(frame).units_)
    specs = workflow_specs(store, repo, directory=workflows_dir, on_warning=on_warning)
    current = current_limits(unit_keys, workflows=specs, phases=settings.phases, logged=logged_limits(frame, found))
    return recommend_limits(frame, current, policy, model=model)


def window_of(
    frame: pd.DataFrame, *, workflow: str | None = None, since: datetime | None = None, until: datetime | None = None
) -> pd.DataFrame:
    """The rows of an observations frame that ``observations_frame`` would return for these filters."""
    keep = np.ones(len(frame), dtype=bool)
    if workflow:
        keep &= (frame["workflow"] == workflow).to_numpy()
    if since is not None:
        keep &= (frame["started_at"] >= pd_timestamp(since)).to_numpy()
    if until is not None:
        keep &= (frame["started_at"] < pd_timestamp(until)).to_numpy()
    return frame if keep.all() else frame[keep].reset_index(drop=True)


def apply_patches(settings: Settings, result: RecommendResult, directory: Path, *, write: bool = True) -> PatchPlan:
    """Rewrite ``timeout-minutes`` under ``directory`` and the ``[[timeouts]]`` source limits."""
    return patch_checkout(result, directory, settings.timeouts, write=write)


def backtest(
    settings: Settings,
    store: Store,
    *,
    repo: str | None = None,
    workflow: str | None = None,
    split: str | None = None,
    quantile: float | None = None,
    on_warning: Warn | None = None,
) -> BacktestResult:
    """Choose limits on the ``window_days`` before ``split`` (a date), replay the runs after it.

    Without ``split``: two weeks before the newest observation (the middle of a shorter history).
    """

    ensure_parsed(store, settings, on_warning=on_warning)
    repo = repo or settings.repo
    everything = store.observations_frame(repo=repo, workflow=workflow)
    if everything.empty:
        raise InputError(
            "the store has no observations to backtest" + (f" for {repo}" if repo else ""),
            hint="run `we-advisor fetch` or `we-advisor ingest` first (or check --repo)",
        )
    if split is None:
        point = default_split(everything["started_at"])
    else:
        parsed = parse_since(split, end=store.newest_time(repo=repo), option="--split")
        assert parsed is not None
        point = parsed
    stamp = pd_timestamp(point)
    train = everything[(everything["started_at"] < stamp) & (everything["started_at"] >= stamp - timedelta(days=settings.window_days))]
    test = everything[everything["started_at"] >= stamp]
    if train.empty or test.empty:
        raise InputError(
            f"--split {point:%Y-%m-%d} leaves no observations on one side",
            hint=f"the history runs from {everything['started_at'].min():%Y-%m-%d} to {everything['started_at'].max():%Y-%m-%d}",
        )
    found = store.load_incidents(repo=repo, workflow=workflow)
    unit_keys = keys_of(unit_codes(train)[1])
    specs = workflow_specs(store, repo, on_warning=on_warning)
    before = [i for i in found if i.occurred_at is None or i.occurred_at < point]
    current = current_limits(unit_keys, workflows=specs, phases=settings.phases, logged=logged_limits(train, before))
    policy = Policy(quantile=settings.quantile if quantile is None else quantile, min_samples=settings.min_samples)
    return run_backtest(train, test, current, policy, split=point)


def pd_timestamp(value: datetime) -> Any:
    """A UTC pandas Timestamp, for comparisons with ``started_at`` columns."""
    import pandas as pd

    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


# -- report / comment ----------------------------------------------------------------------------

from analyzer.advise import recommendation_dict  # noqa: E402
from analyzer.config import require_repo  # noqa: E402
from analyzer.errors import AuthError  # noqa: E402
from analyzer.present.charts import TREND_WEEKS  # noqa: E402
from analyzer.present.context import ReportInputs, build_context, package_version  # noqa: E402
from analyzer.present.files import DEFAULT_HTML, WrittenReport, write_reports  # noqa: E402
from analyzer.present.markdown import render_markdown  # noqa: E402
from analyzer.present.publish import CommentResult, upsert_pr_comment  # noqa: E402
from analyzer.window import DEFAULT_REPORT_PERIOD  # noqa: E402


def report_inputs(
    settings: Settings, store: Store, *, repo: str | None = None, since: str | None = DEFAULT_REPORT_PERIOD, on_warning: Warn | None = None
) -> ReportInputs:
    """Read what a report needs from the store: the period, eight weeks of history, recommendations."""
    ensure_parsed(store, settings, on_warning=on_warning)
    repo = repo or settings.repo
    end = store.newest_time(repo=repo)
    if end is None:
        raise InputError(
            "the store has no observations to report on" + (f" for {repo}" if repo else ""),
            hint="run `we-advisor fetch` or `we-advisor ingest` first (or check --repo)",
        )
    start = parse_since(since or DEFAULT_REPORT_PERIOD, end=end)
    assert start is not None
    history_start = min(start, end - timedelta(weeks=TREND_WEEKS))
    # One read for the history and for recommend's window (10⁶ rows take seconds to read).
    window_start = end - timedelta(days=settings.window_days)  # analysis_window without --since
    read_from = min(history_start, window_start)
    everything = store.observations_frame(repo=repo, since=read_from)
    frame = everything if read_from == history_start else window_of(everything, since=history_start)
    found = store.load_incidents(repo=repo, since=start)
    result = recommend(settings, store, repo=repo, workflow=None, since=None, quantile=settings.quantile, observations=everything)
    return ReportInputs(
        repo=repo,
        generated_at=datetime.now(UTC),
        period_start=start,
        period_end=end,
        observations=frame,
        incidents=found,
        recommendations=[recommendation_dict(r) for r in result.recommendations],
        quantile=settings.quantile,
        version=package_version(),
    )


def report(
    settings: Settings,
    store: Store,
    *,
    repo: str | None = None,
    since: str | None = DEFAULT_REPORT_PERIOD,
    html: Path | None = DEFAULT_HTML,
    markdown: Path | None = None,
    on_warning: Warn | None = None,
) -> WrittenReport:
    """``we-advisor report``: collect, build the context, write the HTML and/or Markdown."""
    context = build_context(report_inputs(settings, store, repo=repo, since=since, on_warning=on_warning))
    return write_reports(context, html=html, markdown=markdown)


def comment(
    settings: Settings,
    store: Store,
    *,
    repo: str,
    pr: int,
    since: str | None = DEFAULT_REPORT_PERIOD,
    api_url: str | None = None,
    dry_run: bool = False,
    token: str | None = None,
    on_warning: Warn | None = None,
) -> CommentResult:
    """``we-advisor comment``: upsert the weekly Markdown as one comment on ``repo#pr``.

    The history reported is ``repo``'s when the store has it, else the store's default. With
    ``dry_run`` nothing is sent (not even a read). The token comes from ``GITHUB_TOKEN`` or
    ``GH_TOKEN`` unless given; it is never printed or stored.
    """
    import os

    repo = require_repo(repo)
    if pr <= 0:
        raise InputError(f"--pr {pr} is not a pull request number", hint="pass the number shown in the PR's URL")
    source = repo if repo in store.repos() else None
    if source is None and on_warning is not None:
        on_warning(f"the store has no history for {repo}; reporting on {settings.repo or 'everything in the store'}")
    body = render_markdown(build_context(report_inputs(settings, store, repo=source, since=since, on_warning=on_warning)))
    if dry_run:
        return CommentResult(body, "dry-run")
    token = token or os.environ.get("GITHUB_TOKEN") or os.environ.get("GH_TOKEN")
    if not token:
        raise AuthError("no GitHub token to comment with", hint="set GITHUB_TOKEN or GH_TOKEN (pull-requests: write), or use --dry-run")
    return upsert_pr_comment(repo, pr, body, token=token, api_url=api_url or os.environ.get("GITHUB_API_URL"))


# -- bootstrap -----------------------------------------------------------------------------------

from dataclasses import replace  # noqa: E402

from analyzer.bootstrap.forecast import Forecast, forecast_plan  # noqa: E402
from analyzer.bootstrap.plan import load_plan_and_limits  # noqa: E402
from analyzer.bootstrap.runner import RunResult, run_file  # noqa: E402
from analyzer.store import open_store  # noqa: E402


def bootstrap_run(
    plan: Path,
    *,
    timeouts: Path | None = None,
    events: Path | None = None,
    fail_fast: bool = False,
    default_timeout_s: float | None = None,
    tick_s: float = 30.0,
) -> RunResult:
    """``we-advisor bootstrap run``: the plan's tasks under their limits, events appended to ``events``."""
    return run_file(plan, timeouts=timeouts, events=events, fail_fast=fail_fast, default_timeout_s=default_timeout_s, tick_s=tick_s)


def bootstrap_plan(
    settings: Settings,
    store_path: Path,
    plan: Path,
    *,
    timeouts: Path | None = None,
    default_timeout_s: float | None = None,
    runs: int = 2000,
) -> Forecast:
    """``we-advisor bootstrap plan``: the plan's history from the store (if there is one), forecast."""
    loaded, limits = load_plan_and_limits(plan, timeouts=timeouts, default_timeout_s=default_timeout_s)
    if not store_path.exists():
        forecast = forecast_plan(loaded, pd.DataFrame(), limits, runs=runs)
        return replace(forecast, notes=(f"no store at {store_path}: no history at all", *forecast.notes))
    with open_store(store_path) as store:
        parse_again(store, settings.phases)
        frame = store.observations_frame(workflow=loaded.name)
    return forecast_plan(loaded, frame, limits, runs=runs)
