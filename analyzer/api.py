"""The library behind the command line: one function per command, usable from Python.

Each function takes ``Settings`` and an open ``Store`` (or paths) and returns plain data; nothing
here prints, and files are read and written by the packages it delegates to. ``cli`` is a thin
adapter over these::

    from analyzer import api
    from analyzer.config import load_settings

    with api.open_store(Path("data/we-advisor.db")) as store:
        rows = api.stats(load_settings(), store, since="30d")
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from analyzer.config import Settings, require_label, require_quantile, require_repo
from analyzer.errors import AuthError, ConfigError, InputError, NotFoundError
from analyzer.parse.reparse import reparse as reparse_store
from analyzer.present.files import DEFAULT_HTML, WrittenReport, write_reports
from analyzer.present.parquet import ExportSummary, export_store
from analyzer.records import TIMEOUT_KINDS, Incident
from analyzer.scope import (
    Announce,
    Progress,
    Warn,
    check_filters,
    checked_repo,
    ensure_parsed,
    history_window,
    window_stated,
)
from analyzer.store import SCHEMA_VERSION, Store, is_url, open_store
from analyzer.window import DEFAULT_REPORT_PERIOD, analysis_window, parse_since, pd_timestamp, window_of

# The analysis packages (pandas, scipy: most of a command's start-up) and the GitHub client are
# imported by the functions that use them, so `ingest` and `fetch` never load pandas or scipy
# (tests/test_imports.py checks ``sys.modules`` after each; no command imports scikit-learn).
if TYPE_CHECKING:
    import pandas as pd

    from analyzer.advise import (
        BacktestResult,
        PatchPlan,
        RecommendResult,
        WorkflowSpec,
    )
    from analyzer.advise.check import PullCheck
    from analyzer.bootstrap.forecast import Forecast
    from analyzer.bootstrap.runner import run_file as bootstrap_run
    from analyzer.collect.fetch import fetch
    from analyzer.collect.github import GitHubClient
    from analyzer.collect.ingest import IngestSummary
    from analyzer.collect.org import ManyFetched
    from analyzer.demo.demo import DemoResult
    from analyzer.model import UnitStats
    from analyzer.model.failures import FailureReport
    from analyzer.present.context import ReportInputs
    from analyzer.present.publish import CommentResult


__all__ = [
    "backtest",
    "bootstrap_plan",
    "bootstrap_run",
    "check",
    "comment",
    "demo",
    "ensure_parsed",
    "export",
    "failures",
    "fetch",
    "fetch_many",
    "incidents",
    "ingest",
    "local_runs",
    "open_store",
    "patch",
    "recommend",
    "reparse",
    "report",
    "report_inputs",
    "stats",
    "version_line",
]



def __getattr__(name: str) -> Any:
    """``api.fetch`` and ``api.bootstrap_run``, re-exported as they are, imported on first use."""
    if name == "fetch":
        from analyzer.collect.fetch import fetch

        return fetch
    if name == "bootstrap_run":
        from analyzer.bootstrap.runner import run_file

        return run_file
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def version_line() -> str:
    """``we-advisor --version``: the package version and the store schema it reads and writes."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        package = version("we-advisor")
    except PackageNotFoundError:  # a source tree on sys.path that was never installed
        package = "(not installed)"
    return f"we-advisor {package} (store schema {SCHEMA_VERSION})"


# -- collecting ---------------------------------------------------------------------------------


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
    """``we-advisor ingest``: local logs, run-log zips, export folders and bootstrap events."""
    from analyzer.collect.ingest import ingest_paths  # the log parser's modules: for the commands that read logs

    return ingest_paths(
        store, paths, rules=settings.phases, repo=repo, workflow=workflow, on_progress=on_progress, on_warning=on_warning
    )


def fetch_many(
    settings: Settings,
    store: Store,
    *,
    org: str | None = None,
    repos_file: Path | None = None,
    workers: int = 1,
    lease: float = 120.0,
    repo: str | None = None,
    run_ids: Sequence[int] = (),
    on_repo: Callable[[Any], None] | None = None,
    on_line: Warn | None = None,
    on_warning: Warn | None = None,
    **options: Any,
) -> ManyFetched:
    """``we-advisor fetch --org ORG`` / ``--repos-file FILE``: the repositories, shared through the store
    by every worker of this and other machines (``collect/org.py``). ``workers`` > 1 forks that many
    worker processes, each with a store connection of its own; the token of each comes from
    ``GITHUB_TOKENS`` (round robin), else ``GITHUB_TOKEN``/``GH_TOKEN``."""
    from analyzer.collect.org import fetch_org
    from analyzer.present.problems import explain

    def explained(exc: BaseException) -> tuple[list[str], int]:
        problem = explain(exc)
        return list(problem.lines), problem.exit_code

    return fetch_org(
        settings, store, org=org, repos_file=repos_file, workers=workers, lease=lease, repo=repo, run_ids=run_ids,
        on_repo=on_repo, on_line=on_line, on_warning=on_warning, explain=explained, **options,
    )  # fmt: skip


def reparse(settings: Settings, store: Store, *, on_progress: Progress | None = None, on_warning: Warn | None = None) -> int:
    """``we-advisor reparse``: every job's parsed data again from its stored raw log."""
    return reparse_store(store, settings.phases, force=True, on_progress=on_progress, on_warning=on_warning)


# -- history ------------------------------------------------------------------------------------


def stats(
    settings: Settings, store: Store, *, repo: str | None = None, workflow: str | None = None, since: str | None = None,
    branch: str | None = None, event: str | None = None, on_warning: Warn | None = None,
    on_window: Announce | None = None,
) -> list[UnitStats]:  # fmt: skip
    """``we-advisor stats``: duration percentiles per unit in the window, queue times per job; ``branch``
    and ``event`` keep the runs with that head branch and event."""
    from analyzer.model import STATS_COLUMNS, queue_stats, unit_stats, with_queue
    from analyzer.model.queue import QUEUE_COLUMNS

    repo = checked_repo(settings, store, repo, on_warning, workflow=workflow)
    check_filters(store, repo, branch, event)
    start, end = history_window(store, settings, since, repo, workflow=workflow, on_window=on_window, branch=branch, event=event)
    rows = unit_stats(store.observations_frame(  # the columns it reads only, text as codes: less memory
        repo=repo, workflow=workflow, since=start, until=end, branch=branch, event=event, only=STATS_COLUMNS, codes=True))
    waiting = store.waiting_runs(repo=repo, workflow=workflow, since=start, branch=branch, event=event)
    if waiting and on_warning is not None:
        on_warning(f"{waiting} run(s) were still waiting for a runner when last fetched: not in the queue times yet")
    jobs = store.jobs_frame(repo=repo, workflow=workflow, since=start, until=end, branch=branch, event=event,
                            only=QUEUE_COLUMNS)  # fmt: skip
    return with_queue(rows, queue_stats(jobs))


def incidents(
    settings: Settings, store: Store, *, repo: str | None = None, workflow: str | None = None, since: str | None = None,
    branch: str | None = None, event: str | None = None, on_warning: Warn | None = None,
    on_window: Announce | None = None,
) -> list[Incident]:  # fmt: skip
    """``we-advisor incidents``: every job attempt that did not succeed in the window, with its cause (a
    timeout after a long silence in the log as a ``hang``, see ``model.hangs``) and its run context
    (``Incident.context``)."""
    repo = checked_repo(settings, store, repo, on_warning, workflow=workflow, units=False)
    check_filters(store, repo, branch, event)
    start, end = history_window(store, settings, since, repo, workflow=workflow, on_window=on_window, branch=branch, event=event)
    found = store.load_incidents(repo=repo, workflow=workflow, since=start, branch=branch, event=event)
    if not any(i.kind in TIMEOUT_KINDS for i in found):
        return found
    from analyzer.model import as_hangs, hung_attempts

    frame = store.observations_frame(repo=repo, workflow=workflow, since=start, until=end, branch=branch, event=event)
    return as_hangs(found, hung_attempts(frame))


def local_runs(store: Store) -> dict[int, str]:
    """Locally ingested runs (negative synthetic ids) and the file each came from, to show instead of the id."""
    return store.local_sources()


def failures(
    settings: Settings, store: Store, *, repo: str | None = None, workflow: str | None = None, since: str | None = None,
    branch: str | None = None, event: str | None = None, on_warning: Warn | None = None, on_window: Announce | None = None,
) -> FailureReport:  # fmt: skip
    """``we-advisor failures``: the window's failed job attempts as signatures, and the jobs' rerun rates."""
    repo = checked_repo(settings, store, repo, on_warning, workflow=workflow, units=False)
    check_filters(store, repo, branch, event)
    start, _ = history_window(store, settings, since, repo, workflow=workflow, on_window=on_window, branch=branch, event=event)
    return _failure_report(store, repo, workflow, start, branch=branch, event=event)


def _failure_history(store: Store, repo: str | None, start: datetime | None) -> tuple[datetime | None, datetime | None]:
    """The newest observation's time, and where the failures clustered with those since ``start`` begin."""
    from analyzer.model.failures import HISTORY

    newest = store.newest_time(repo=repo)
    return newest, None if start is None or newest is None else min(start, newest - HISTORY)


def _incidents_since(found: list[Incident], since: datetime | None) -> list[Incident]:
    """``found`` (in time order) from ``since`` on, as ``Store.load_incidents(since=...)`` would have read them."""
    if since is None:
        return found
    return [i for i in found if i.occurred_at is not None and i.occurred_at >= since]


def _failure_report(
    store: Store, repo: str | None, workflow: str | None, start: datetime | None, *, branch: str | None = None,
    event: str | None = None, hung: set[int] | None = None, incidents: list[Incident] | None = None,
) -> FailureReport:  # fmt: skip
    """Failures since ``start``, clustered with the ``HISTORY`` before it (for first seen and trends); hung
    attempts (``hung``, else found as ``incidents`` finds them) as kind ``hang``, as everywhere else.
    ``incidents``: the scope's incidents already read, from the history's start or earlier (``report``)."""
    from analyzer.model import as_hangs, hung_attempts
    from analyzer.model.failures import failure_report

    newest, history = _failure_history(store, repo, start)
    scope: dict[str, Any] = {"repo": repo, "workflow": workflow, "branch": branch, "event": event}
    found = store.load_incidents(since=history, **scope) if incidents is None else _incidents_since(incidents, history)
    if hung is None and any(i.kind in TIMEOUT_KINDS for i in found):
        hung = hung_attempts(store.observations_frame(since=history, **scope))
    found = as_hangs(found, hung or set())
    excerpts = store.load_excerpts(since=history, **scope)
    attempts = store.load_attempts(since=start, failed_runs=True, **scope)  # (rerun rates count no other run)
    return failure_report(found, excerpts, attempts, since=start, now=newest)


# -- advice -------------------------------------------------------------------------------------


def _workflow_specs(
    store: Store, repo: str | None, *, directory: Path | None = None, local: Sequence[tuple[str, str]] = (),
    on_warning: Warn | None = None,
) -> list[WorkflowSpec]:  # fmt: skip
    """Workflow files for current ``timeout-minutes``: ``local`` ones (path, text) and those under
    ``directory`` (a checkout) first, then the store's (for each path, the version at the newest run's commit)."""
    from analyzer.advise import choose_specs
    from analyzer.advise.patch import read_workflow_dir

    local = [*local, *(read_workflow_dir(directory) if directory is not None else [])]
    stored = store.load_workflow_files(repo)
    paths = [path for _repo, path, _ref, _text in stored]
    # which version of a file is in force matters only for a path stored at several commits; finding each
    # path's newest run reads every run (0.14 s at 10⁵ runs)
    newest = store.newest_heads(repo) if len(set(paths)) < len(paths) else {}
    return choose_specs(local, stored, newest, on_warning=on_warning)


def recommend(
    settings: Settings,
    store: Store,
    *,
    repo: str | None = None,
    workflow: str | None = None,
    since: str | None = None,
    quantile: float | None = None,
    workflows_dir: Path | None = None,
    branch: str | None = None,
    event: str | None = None,
    on_warning: Warn | None = None,
    observations: pd.DataFrame | None = None,
    on_window: Announce | None = None,
    on_model: Callable[[pd.DataFrame, Any], None] | None = None,
    incidents: list[Incident] | None = None,
) -> RecommendResult:
    """``we-advisor recommend``: a limit and a verdict for every job, step and phase in the window.

    Current limits come from the workflow YAML (``workflows_dir`` first, then the store), the
    ``[[phases]]`` ``timeout_s`` of the settings, and the limits the logs revealed.
    ``observations``: the store's observations of ``repo`` already read (``observations_frame``)
    from the start of the window or earlier, so that a caller that needs them too (``report``)
    reads 10⁶ rows once (read with the same ``branch`` and ``event``); the window is then taken from them.
    ``on_model``: called with the window's frame and its fitted ``DurationModel`` (``report`` reuses its hung runs);
    read here, the frame has ``RECOMMEND_COLUMNS`` only.
    ``incidents``: likewise the store's incidents of ``repo`` already read (with the same ``branch`` and ``event``),
    from the window's start or earlier.
    """
    from analyzer.advise import RECOMMEND_COLUMNS, Policy, current_limits, logged_limits, recommend_limits
    from analyzer.advise.reruns import with_rerun_notes
    from analyzer.model import DurationModel, keys_of
    from analyzer.model.reruns import limit_reruns, stopped_by_limit

    repo = checked_repo(settings, store, repo, on_warning, workflow=workflow)
    check_filters(store, repo, branch, event)
    target = require_quantile(settings.quantile if quantile is None else quantile)
    start, end = history_window(store, settings, since, repo, workflow=workflow, on_window=on_window, branch=branch, event=event)
    if observations is None:
        frame = store.observations_frame(  # text as codes, the columns it reads: ~70 MB less at 10⁶ rows, the same JSON
            repo=repo, workflow=workflow, since=start, until=end, branch=branch, event=event, codes=True,
            only=RECOMMEND_COLUMNS,
        )  # fmt: skip
    else:
        frame = window_of(observations, workflow=workflow, since=start, until=end)
    # the incidents that name a limit: the limits the logs revealed (``logged_limits`` reads no others)
    if incidents is None:
        found = store.load_incidents(repo=repo, workflow=workflow, since=start, branch=branch, event=event, limited=True)
    else:
        found = [i for i in _incidents_since(incidents, start) if (not workflow or i.workflow == workflow) and i.limit_s is not None]
    policy = Policy(quantile=target, min_samples=settings.min_samples)
    # the model's units are the keys the current limits are looked up for; fitted once
    model = DurationModel(
        quantile=policy.quantile, confidence=policy.confidence, min_samples=policy.min_samples,
        kill_budget=policy.budget,
    )  # fmt: skip
    keys = keys_of(model.fit(frame).units_)
    if on_model is not None:
        on_model(frame, model)
    specs = _workflow_specs(store, repo, directory=workflows_dir, on_warning=on_warning)
    current = current_limits(
        keys, workflows=specs, phases=settings.phases, logged=logged_limits(frame, found), timeouts=settings.timeouts
    )
    result = recommend_limits(frame, current, policy, model=model)
    stopped = stopped_by_limit(frame)  # the attempts of runs a limit stopped are read only when there are some
    attempts = (  # only the runs a limit stopped: the note is about their next attempts
        store.load_attempts(repo=repo, workflow=workflow, since=start, run_ids=stopped["run_id"].unique().tolist())
        if not stopped.empty else []
    )  # fmt: skip
    return with_rerun_notes(result, limit_reruns(stopped, attempts))


def patch(settings: Settings, result: RecommendResult, directory: Path, *, write: bool = True) -> PatchPlan:
    """``recommend --patch``: rewrite ``timeout-minutes`` under ``directory`` and the ``[[timeouts]]``
    source limits (only where something changes); the plan's ``diff()`` is the unified diff."""
    from analyzer.advise import patch_checkout

    return patch_checkout(result, directory, settings.timeouts, write=write)


def backtest(
    settings: Settings,
    store: Store,
    *,
    repo: str | None = None,
    workflow: str | None = None,
    split: str | None = None,
    quantile: float | None = None,
    branch: str | None = None,
    event: str | None = None,
    on_warning: Warn | None = None,
    on_window: Announce | None = None,
) -> BacktestResult:
    """``we-advisor backtest``: limits chosen on the ``window_days`` before ``split`` (a date), the runs
    after it replayed. Without ``split``: two weeks before the newest observation (the middle of a
    shorter history)."""
    from analyzer.advise import Policy, current_limits, default_split, logged_limits, run_backtest
    from analyzer.model import keys_of, unit_codes

    repo = checked_repo(settings, store, repo, on_warning, workflow=workflow)
    check_filters(store, repo, branch, event)
    everything = store.observations_frame(repo=repo, workflow=workflow, branch=branch, event=event)
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
    started = everything["started_at"]
    train_start = point - timedelta(days=settings.window_days)
    train = everything[(started < stamp) & (started >= pd_timestamp(train_start))]
    test = everything[started >= stamp]
    if on_window is not None:
        scope = {"repo": repo, "workflow": workflow, "branch": branch, "event": event}
        on_window(window_stated(store, train_start, point, since=None, days=settings.window_days, what="backtest: limits chosen on", **scope))
        on_window(window_stated(store, point, None, since=f"{point:%Y-%m-%d}", days=None, what="backtest: replayed on", **scope))
    if train.empty or test.empty:
        raise InputError(
            f"--split {point:%Y-%m-%d} leaves no observations on one side",
            hint=f"the history runs from {started.min():%Y-%m-%d} to {started.max():%Y-%m-%d}",
        )
    found = store.load_incidents(repo=repo, workflow=workflow, branch=branch, event=event, limited=True)
    specs = _workflow_specs(store, repo, on_warning=on_warning)
    before = [i for i in found if i.occurred_at is None or i.occurred_at < point]
    current = current_limits(
        keys_of(unit_codes(train)[1]), workflows=specs, phases=settings.phases, logged=logged_limits(train, before),
        timeouts=settings.timeouts,
    )
    policy = Policy(quantile=settings.quantile if quantile is None else quantile, min_samples=settings.min_samples)
    return run_backtest(train, test, current, policy, split=point)


# -- reports ------------------------------------------------------------------------------------


def release_freed_memory() -> bool:
    """Give the pages the C heap holds free back to the system (glibc's ``malloc_trim``; False where there is
    none). After numpy frees large arrays glibc serves the next ones from its heap and keeps what is freed
    there: at 100,000 runs ``report`` held the fitted model's ~90 MB after freeing it, and its peak RSS
    was 342 MB instead of 310 MB (``benchmarks/README.md``)."""
    import ctypes

    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (AttributeError, OSError, TypeError):  # no such function, or no C library to name (Windows)
        return False
    trim(0)
    return True


def report_inputs(
    settings: Settings, store: Store, *, repo: str | None = None, since: str | None = DEFAULT_REPORT_PERIOD,
    branch: str | None = None, event: str | None = None, on_warning: Warn | None = None,
    on_window: Announce | None = None,
) -> ReportInputs:  # fmt: skip
    """What a report is made of: the period, eight weeks of history (durations and queue times), the
    recommendations; ``branch`` and ``event`` keep the runs with that head branch and event."""
    from analyzer.advise import recommendation_dict
    from analyzer.model import as_hangs, hung_attempts
    from analyzer.model.queue import QUEUE_COLUMNS
    from analyzer.present.charts import TREND_WEEKS
    from analyzer.present.context import ReportInputs, package_version

    repo = checked_repo(settings, store, repo, on_warning)
    check_filters(store, repo, branch, event)
    end = store.newest_time(repo=repo)
    if end is None:
        raise InputError(
            "the store has no observations to report on" + (f" for {repo}" if repo else ""),
            hint="run `we-advisor fetch` or `we-advisor ingest` first (or check --repo)",
        )
    start = parse_since(since or DEFAULT_REPORT_PERIOD, end=end)
    assert start is not None
    if on_window is not None:
        on_window(window_stated(store, start, None, since=since or DEFAULT_REPORT_PERIOD, days=None, repo=repo,
                                what="report period", branch=branch, event=event))  # fmt: skip
    history_start = min(start, end - timedelta(weeks=TREND_WEEKS))
    # One read for the history and for recommend's window (10⁶ rows take seconds to read).
    window_start, _ = analysis_window(end, settings.window_days, None)
    assert window_start is not None
    read_from = min(history_start, window_start)
    everything = store.observations_frame(repo=repo, since=read_from, branch=branch, event=event, codes=True)
    frame = everything if read_from == history_start else window_of(everything, since=history_start)
    fitted: list[Any] = []  # recommend's model, when its window is everything read: its hung runs are the same
    result = recommend(settings, store, repo=repo, quantile=settings.quantile, branch=branch, event=event,
                       observations=everything, on_window=(
        None if on_window is None else lambda w: on_window(replace(w, what="recommendations from"))),
                       on_model=lambda seen, model: fitted.append(model) if seen is everything else None,
    )  # fmt: skip
    hung = hung_attempts(everything, fitted[0] if fitted else None)
    fitted.clear()  # the model's rows (~90 MB at 10⁶ observations) are not needed past here: freed before the jobs are read
    release_freed_memory()
    # one read of the incidents, for the period and the failures' history, once the model is freed (recommend
    # read the few that name a limit: the incidents' text is held from here on, not during the fit)
    _, history = _failure_history(store, repo, start)
    incidents = store.load_incidents(repo=repo, since=None if history is None else min(start, history), branch=branch, event=event)
    found = as_hangs(_incidents_since(incidents, start), hung)
    failed = _failure_report(store, repo, None, start, branch=branch, event=event, hung=hung, incidents=incidents)
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
        local_runs=store.local_sources(),
        failures=failed,
        jobs=store.jobs_frame(  # what the queue section reads, no more (10⁵ attempts: every cell an object)
            repo=repo, since=history_start, branch=branch, event=event, only=(*QUEUE_COLUMNS, "labels")
        ),
        filters=tuple((name, value) for name, value in (("branch", branch), ("event", event)) if value is not None),
        model_start=window_start,
        model_end=end,
        model_runs=result.runs,
    )


def report(
    settings: Settings,
    store: Store,
    *,
    repo: str | None = None,
    since: str | None = DEFAULT_REPORT_PERIOD,
    html: Path | None = DEFAULT_HTML,
    markdown: Path | None = None,
    branch: str | None = None,
    event: str | None = None,
    on_warning: Warn | None = None,
    on_window: Announce | None = None,
) -> WrittenReport:
    """``we-advisor report``: the HTML report and/or the weekly Markdown, written all or none."""
    from analyzer.present.context import build_context

    inputs = report_inputs(
        settings, store, repo=repo, since=since, branch=branch, event=event, on_warning=on_warning, on_window=on_window
    )
    context = build_context(inputs)
    return write_reports(context, html=html, markdown=markdown)


def comment(
    settings: Settings,
    store: Store,
    *,
    repo: str | None = None,
    pr: int | None = None,
    label: str | None = None,
    since: str | None = DEFAULT_REPORT_PERIOD,
    api_url: str | None = None,
    dry_run: bool = False,
    no_pr_ok: bool = False,
    token: str | None = None,
    branch: str | None = None,
    event: str | None = None,
    on_warning: Warn | None = None,
    on_window: Announce | None = None,
) -> CommentResult:
    """``we-advisor comment``: upsert the weekly Markdown as one comment on a pull request of ``repo``
    (default: the config's ``repo``).

    The pull request is ``pr``, else ``[comment] pr`` of the settings, else the newest open pull
    request labelled ``label`` (default ``[comment] label``, ``we-advisor``). When there is none,
    the result is ``skipped`` with ``no_pr_ok`` (a scheduled run: the report is still made), else a
    NotFoundError. The history reported is ``repo``'s when the store has it, else the store's
    default. With ``dry_run`` nothing is sent (not even a read). The token comes from
    ``GITHUB_TOKEN`` or ``GH_TOKEN`` unless given; it is never printed or stored.
    """
    from analyzer.collect.pulls import comment_target
    from analyzer.present.context import build_context
    from analyzer.present.markdown import render_markdown
    from analyzer.present.publish import CommentResult, upsert_comment


    repo = _target_repo(settings, repo)
    if pr is not None and pr <= 0:
        raise InputError(f"--pr {pr} is not a pull request number", hint="pass the number shown in the PR's URL")
    label = settings.comment.label if label is None else require_label(label)
    source = repo if repo in store.repos() else None
    if source is None and on_warning is not None:
        on_warning(f"the store has no history for {repo}; reporting on {settings.repo or 'everything in the store'}")
    inputs = report_inputs(
        settings, store, repo=source, since=since, branch=branch, event=event, on_warning=on_warning, on_window=on_window
    )
    body = render_markdown(build_context(inputs))
    if dry_run:
        if pr is not None or settings.comment.pr is not None:
            number = pr if pr is not None else settings.comment.pr
            how = "--pr" if pr is not None else f"[comment] pr in {settings.source or 'we-advisor.toml'}"
            return CommentResult(body, "dry-run", pr=number, how=how, repo=repo)
        return CommentResult(body, "dry-run", how=f"the newest open pull request labelled {label!r} (not looked up)", repo=repo)
    with _github(token, api_url, "no GitHub token to comment with", "pull-requests: write", ", or use --dry-run") as client:
        target = comment_target(client, repo, pr=pr, configured=settings.comment.pr, source=settings.source, label=label)
        if target is None:
            if no_pr_ok:
                how = f"no --pr, no [comment] pr and no open pull request labelled {label!r}"
                return CommentResult(body, "skipped", how=how, repo=repo)
            raise NotFoundError(
                f"no open pull request of {repo} is labelled {label!r}",
                hint=f"label the pull request to comment on {label!r}, set [comment] pr in we-advisor.toml or pass --pr "
                "(--no-pr-ok: report without commenting, for scheduled runs)",
            )
        if target.state != "open" and on_warning is not None:
            on_warning(f"pull request {repo}#{target.number} is {target.state}; commenting on it all the same")
        result = upsert_comment(client, repo, target.number, body)
    return replace(result, how=target.how)


def check(
    settings: Settings,
    store: Store,
    *,
    pr: int,
    repo: str | None = None,
    since: str | None = None,
    api_url: str | None = None,
    dry_run: bool = False,
    token: str | None = None,
    branch: str | None = None,
    event: str | None = None,
    on_warning: Warn | None = None,
    on_window: Announce | None = None,
) -> tuple[PullCheck, CommentResult]:
    """``we-advisor check --pr N``: the limits pull request ``repo#N`` changes (workflow
    ``timeout-minutes``, ``[[timeouts]]`` source limits), weighed against the history in the store,
    as ONE comment on it (its own marker), created or edited. No change: no comment, and an
    earlier evidence comment is edited to say the pull request no longer changes a limit.

    The pull request's files are read through the API (their text at its base and head commits),
    so a token is needed even with ``dry_run``, which writes nothing.
    """
    from analyzer.advise import Policy, current_limits, logged_limits
    from analyzer.advise.check import PullCheck, find_changes, is_workflow_path, weigh_changes
    from analyzer.collect.pulls import read_changes
    from analyzer.model import keys_of, unit_codes
    from analyzer.present.context import package_version
    from analyzer.present.evidence import CHECK_MARKER, render_check, render_no_changes
    from analyzer.present.publish import CommentResult, edit_comment, our_comment, upsert_comment


    repo = _target_repo(settings, repo)
    if pr <= 0:
        raise InputError(f"--pr {pr} is not a pull request number", hint="pass the number shown in the PR's URL")
    rule_files = {rule.file for rule in settings.timeouts}
    needs = "pull-requests: read, contents: read; pull-requests: write to comment"
    with _github(token, api_url, "no GitHub token to read the pull request with", needs) as client:
        pull = read_changes(client, repo, pr, lambda path: is_workflow_path(path) or path in rule_files)
        source = repo if repo in store.repos() else None
        if source is None and on_warning is not None:
            on_warning(f"the store has no history for {repo}; weighing against {settings.repo or 'everything in the store'}")
        source = checked_repo(settings, store, source, on_warning)
        check_filters(store, source, branch, event)
        start, end = history_window(store, settings, since, source, on_window=on_window, what="evidence", branch=branch, event=event)
        frame = store.observations_frame(repo=source, since=start, until=end, branch=branch, event=event)
        keys = keys_of(unit_codes(frame)[1])
        changes = find_changes(pull.files, settings.timeouts, keys, on_warning=on_warning)
        policy = Policy(quantile=settings.quantile, min_samples=settings.min_samples)
        heads = [(f.path, f.after) for f in pull.files if is_workflow_path(f.path) and f.after is not None]
        found = store.load_incidents(repo=source, since=start, branch=branch, event=event, limited=True)
        specs = _workflow_specs(store, source, local=heads)  # the pull request's workflows in force
        current = current_limits(keys, workflows=specs, phases=settings.phases, logged=logged_limits(frame, found))
        weighed, runs = weigh_changes(changes, frame, current, policy)
        span = (frame["started_at"].min().to_pydatetime(), frame["started_at"].max().to_pydatetime()) if len(frame) else (start, end)
        result = PullCheck(repo, pr, pull.head_sha, weighed, len(pull.files), pull.changed_files, span, runs,
                           policy.quantile, policy.confidence)  # fmt: skip
        body = render_check(result, version=package_version()) if weighed else ""
        if dry_run:
            return result, CommentResult(body, "dry-run" if weighed else "none", pr=pr, how="--pr", repo=repo)
        if weighed:
            return result, replace(upsert_comment(client, repo, pr, body, CHECK_MARKER), how="--pr")
        earlier = our_comment(client, repo, pr, CHECK_MARKER)
        if earlier is None:
            return result, CommentResult("", "none", pr=pr, repo=repo)
        return result, replace(edit_comment(client, repo, pr, earlier, render_no_changes(result)), how="no timeout changes any more")


def _github(token: str | None, api_url: str | None, missing: str, needs: str, after: str = "") -> GitHubClient:
    """A client with ``token``, else ``GITHUB_TOKEN``/``GH_TOKEN`` (an AuthError saying ``missing`` and
    what the token ``needs`` when there is none), for ``api_url`` else ``GITHUB_API_URL``."""
    import os

    from analyzer.collect.github import DEFAULT_API_URL, GitHubClient

    token = token or os.environ.get("GITHUB_TOKEN") or os.environ.get("GH_TOKEN")
    if not token:
        raise AuthError(missing, hint=f"set GITHUB_TOKEN or GH_TOKEN ({needs}){after}")
    return GitHubClient(token, api_url=api_url or os.environ.get("GITHUB_API_URL") or DEFAULT_API_URL)


def _target_repo(settings: Settings, repo: str | None) -> str:
    """``--repo``, else the config's ``repo``: the repository whose pull request a command writes to."""
    if repo is None and settings.repo is None:
        raise ConfigError("no repository given", hint="pass --repo OWNER/NAME or set repo in we-advisor.toml")
    return require_repo(repo if repo is not None else settings.repo)


# -- export -------------------------------------------------------------------------------------


def export(
    settings: Settings, store: Store, directory: Path, *, format: str = "parquet", on_warning: Warn | None = None
) -> ExportSummary:
    """``we-advisor export --format parquet DIR``: runs, jobs, steps, observations and incidents as
    Parquet, partitioned by repository and month, rewriting only what changed (``present/parquet.py``)."""
    if format != "parquet":
        raise ConfigError(f"--format {format} is not an export format", hint="use --format parquet")
    ensure_parsed(store, settings, on_warning=on_warning)
    location = store.location.url or str(store.path)
    return export_store(lambda: Store(location, create=False), directory, schema_version=SCHEMA_VERSION)


# -- bootstrap ----------------------------------------------------------------------------------


def bootstrap_plan(
    settings: Settings,
    store_path: Path | str,
    plan: Path,
    *,
    timeouts: Path | None = None,
    default_timeout_s: float | None = None,
    runs: int = 2000,
) -> Forecast:
    """``we-advisor bootstrap plan``: the plan's wall time forecast from its history in the store (if any)."""
    import pandas as pd

    from analyzer.bootstrap.forecast import forecast_plan
    from analyzer.bootstrap.plan import load_plan_and_limits

    loaded, limits = load_plan_and_limits(plan, timeouts=timeouts, default_timeout_s=default_timeout_s)
    if not is_url(store_path) and not Path(store_path).exists():
        forecast = forecast_plan(loaded, pd.DataFrame(), limits, runs=runs)
        return replace(forecast, notes=(f"no store at {store_path}: no history at all", *forecast.notes))
    with open_store(store_path) as store:
        ensure_parsed(store, settings)
        frame = store.observations_frame(workflow=loaded.name)
    return forecast_plan(loaded, frame, limits, runs=runs)


# -- demo ---------------------------------------------------------------------------------------

DEMO_WINDOW = "60d"  # the whole bundled sample


def demo(
    store_path: Path | None,
    *,
    on_progress: Progress | None = None,
    on_warning: Warn | None = None,
    reports_dir: Path | None = Path("reports"),
) -> DemoResult:
    """``we-advisor demo``: the bundled sample history through the whole pipeline, offline."""
    from analyzer.demo.demo import DemoResult, keep_settings, next_command, render_demo, sample_workspace

    with sample_workspace() as (sample, settings, scratch):
        path = store_path or scratch / "demo.db"
        with Store(path) as store:
            summary = ingest(settings, store, [sample], on_progress=on_progress, on_warning=on_warning)
            rows = stats(settings, store, since=DEMO_WINDOW, on_warning=on_warning)
            found = incidents(settings, store, since=DEMO_WINDOW, on_warning=on_warning)
            failed = failures(settings, store, since=DEMO_WINDOW, on_warning=on_warning)
            counts = store.counts()
            recommended = recommend(settings, store, since=DEMO_WINDOW, on_warning=on_warning)
            try:
                replay: BacktestResult | None = backtest(settings, store, on_warning=on_warning)
            except InputError:
                replay = None
            written = None
            if reports_dir is not None:
                html, markdown = reports_dir / "index.html", reports_dir / "weekly.md"
                written = report(settings, store, html=html, markdown=markdown, on_warning=on_warning)
        config = keep_settings(sample, store_path) if store_path is not None else None
        step = next_command(store_path, config, DEMO_WINDOW)
        text = render_demo(settings, summary, counts, rows, found, recommended, replay, written, next_step=step, failed=failed)
        return DemoResult(text, summary, rows, found, path, recommended)
