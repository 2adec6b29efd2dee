"""The commands: each is its options, one library call (``api``) and what it prints.

The options are declared once in ``cli.options`` (a command names them with its defaults); the
application, its error lines and exit codes are ``cli.app``'s; what a result looks like is
``present``'s. A history command is ``_history`` (the settings, the store, warnings, the windows it
used) and ``show`` (stdout and stderr, in order).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer

from analyzer import api
from analyzer.cli import options as opt
from analyzer.cli.app import app, bootstrap_app, exit_with, show
from analyzer.cli.lean import command_process, fewer_collections, lean_imports
from analyzer.cli.options import DEFAULT_STORE
from analyzer.config import Settings, load_settings
from analyzer.present import tables
from analyzer.present.files import write_output
from analyzer.present.progress import FetchBar, Progress, Windows, stderr_line, stderr_lines, warn
from analyzer.present.tables import ExportFormat, ListFormat, RecommendFormat, TableFormat
from analyzer.window import DEFAULT_REPORT_PERIOD

T = TypeVar("T")


def _history(call: Callable[..., T], store: str, settings: Settings, *, local: bool = False, **options: Any) -> tuple[T, Windows, dict[int, str]]:
    """``call`` (a history function of ``api``) on the store with ``settings``, warnings on stderr; with
    the windows it used (said after the output, once it succeeded) and, if ``local``, the locally
    ingested runs (shown by their file, not their synthetic id)."""
    windows = Windows()
    fewer_collections()  # an analysis: a young-generation collection every 10⁵ allocations, not every 700 (cli/lean.py)
    with api.open_store(store) as db:
        return call(settings, db, on_warning=warn, on_window=windows.append, **options), windows, api.local_runs(db) if local else {}


@app.command()
def ingest(paths: opt.PathsArg, repo: opt.Repo = None, workflow: opt.LocalWorkflow = None, store: opt.Store = DEFAULT_STORE, config: opt.Config = None) -> None:
    """Add local logs to the store: job logs, run-log zips, `gh run view --log` output, export folders.

    Example: we-advisor ingest logs_123.zip ./saved-logs/
    """
    settings = load_settings(config)
    fewer_collections()
    with api.open_store(store, create=True) as db:
        summary = api.ingest(settings, db, paths, repo=repo, workflow=workflow, on_progress=Progress("parsing"), on_warning=warn)
    stderr_line(summary.line())


@app.command()
def reparse(store: opt.Store = DEFAULT_STORE, config: opt.Config = None) -> None:
    """Re-derive steps, phases and incidents from the stored raw logs (no refetch).

    Example: we-advisor reparse --config we-advisor.toml
    """
    settings = load_settings(config)
    with api.open_store(store) as db:
        count = api.reparse(settings, db, on_progress=Progress("parsing"), on_warning=warn)
    stderr_line(f"reparsed {count} job(s)")


@app.command()
def stats(
    repo: opt.Repo = None, workflow: opt.Workflow = None, since: opt.Since = None, format: opt.TableFormat = TableFormat.table,
    branch: opt.Branch = None, event: opt.Event = None, store: opt.Store = DEFAULT_STORE, config: opt.Config = None,
) -> None:  # fmt: skip
    """Duration percentiles per job, step and phase (timed-out runs counted as censored), and how long jobs waited for a runner.

    Example: we-advisor stats --workflow "E2E WorkflowExecution" --since 30d --format json
    """
    rows, windows, _ = _history(api.stats, store, load_settings(config), repo=repo, workflow=workflow, since=since, branch=branch, event=event)
    show(tables.stats_text(rows, format), windows.lines())  # "window: …: 0 of 251 jobs; --since … for all": why a table is empty


@app.command()
def incidents(
    repo: opt.Repo = None, workflow: opt.Workflow = None, since: opt.Since = None, format: opt.ListFormat = ListFormat.table,
    branch: opt.Branch = None, event: opt.Event = None, store: opt.Store = DEFAULT_STORE, config: opt.Config = None,
) -> None:  # fmt: skip
    """Every job attempt that did not succeed, with its classified cause, the line that proves it and its run context.

    Example: we-advisor incidents --since 14d --format json
    """
    found, windows, local = _history(api.incidents, store, load_settings(config), local=True, repo=repo, workflow=workflow, since=since, branch=branch, event=event)
    show(tables.incidents_text(found, format, local=local), windows.lines(), [tables.incidents_summary(found)] if format is ListFormat.table else [])


@app.command()
def failures(
    repo: opt.Repo = None, workflow: opt.Workflow = None, since: opt.Since = None, format: opt.RecommendFormat = RecommendFormat.table,
    branch: opt.Branch = None, event: opt.Event = None, store: opt.Store = DEFAULT_STORE, config: opt.Config = None,
) -> None:  # fmt: skip
    """What keeps failing (failure signatures clustered from the logs) and which jobs pass when rerun.

    Example: we-advisor failures --since 14d --format json
    """
    report, windows, local = _history(api.failures, store, load_settings(config), local=True, repo=repo, workflow=workflow, since=since, branch=branch, event=event)
    show(tables.failures_text(report, format, local=local), windows.lines(), [tables.failures_summary(report)])


@app.command()
def demo(store: opt.DemoStore = None) -> None:
    """Run the bundled sample history through the whole pipeline, offline, and show what it found.

    Example: we-advisor demo
    """
    typer.echo(api.demo(store, on_progress=Progress("parsing"), on_warning=warn).text)


@app.command()
def report(
    repo: opt.Repo = None, since: opt.Period = DEFAULT_REPORT_PERIOD, html: opt.Html = Path("reports/index.html"), markdown: opt.Markdown = None,
    branch: opt.Branch = None, event: opt.Event = None, store: opt.Store = DEFAULT_STORE, config: opt.Config = None,
) -> None:  # fmt: skip
    """Write the HTML report (offline, no scripts) and optionally the weekly Markdown report.

    Example: we-advisor report --since 7d --html reports/index.html --markdown weekly.md
    """
    written, windows, _ = _history(api.report, store, load_settings(config), repo=repo, since=since, branch=branch, event=event, html=html, markdown=markdown)
    show(windows.lines(), written.paths(), [written.line()])


@app.command()
def comment(
    repo: opt.Repo = None, pr: opt.Pr = None, label: opt.Label = None, since: opt.Period = DEFAULT_REPORT_PERIOD, no_pr_ok: opt.NoPrOk = False,
    api_url: opt.ApiUrl = None, dry_run: opt.DryRun = False, branch: opt.Branch = None, event: opt.Event = None, store: opt.Store = DEFAULT_STORE, config: opt.Config = None,
) -> None:  # fmt: skip
    """Upsert the weekly Markdown report as one comment on a pull request (token: GITHUB_TOKEN or GH_TOKEN).

    Example: we-advisor comment --repo jordigilh/kubernaut --pr 42 --dry-run
    """
    result, windows, _ = _history(api.comment, store, load_settings(config), repo=repo, pr=pr, label=label, since=since, branch=branch, event=event,
                                  api_url=api_url, dry_run=dry_run, no_pr_ok=no_pr_ok)  # fmt: skip
    show(windows.lines(), tables.comment_text(result), [tables.comment_line(result)])


@app.command()
def check(
    pr: opt.CheckPr, repo: opt.Repo = None, since: opt.Since = None,
    api_url: opt.ApiUrl = None, dry_run: opt.DryRun = False, branch: opt.Branch = None, event: opt.Event = None, store: opt.Store = DEFAULT_STORE, config: opt.Config = None,
) -> None:  # fmt: skip
    """Weigh the timeouts a pull request changes against measured durations, in one comment on it (token: GITHUB_TOKEN or GH_TOKEN).

    Example: we-advisor check --repo jordigilh/kubernaut --pr 42 --dry-run
    """
    (found, result), windows, _ = _history(api.check, store, load_settings(config), pr=pr, repo=repo, since=since, branch=branch, event=event, api_url=api_url, dry_run=dry_run)
    show(windows.lines(), tables.check_text(result, dry_run), tables.check_lines(found, result))


@app.command()
def fetch(
    repo: opt.Repo = None, workflow: opt.FetchWorkflow = None, branch: opt.FetchBranch = None, since: opt.FetchSince = None,
    max_runs: opt.MaxRuns = None, logs: opt.Logs = True, api_url: opt.ApiUrl = None, concurrency: opt.Concurrency = 4,
    max_wait: opt.MaxWait = 300.0, rate: opt.Rate = 800, run_id: opt.RunId = None, attempt: opt.Attempt = None,
    org: opt.Org = None, repos_file: opt.ReposFile = None, workers: opt.Workers = 1, lease: opt.Lease = 120.0, lock_wait: opt.LockWait = 0.0,
    store: opt.Store = DEFAULT_STORE, config: opt.Config = None,
) -> None:  # fmt: skip
    """Fetch workflow runs, jobs, logs and annotations from GitHub into the store (token: GITHUB_TOKEN or GH_TOKEN).

    Incremental: runs already stored are not asked for again, unchanged listings cost no rate limit.

    Example: we-advisor fetch --repo jordigilh/kubernaut --since 30d
    """
    bar, settings = FetchBar(), load_settings(config)
    token = os.environ.get("GITHUB_TOKEN") or os.environ.get("GH_TOKEN")
    common: dict[str, Any] = {"workflows": workflow or (), "branch": branch, "since": since, "max_runs": max_runs, "logs": logs, "concurrency": concurrency, "max_wait": max_wait, "api_url": api_url, "rate": rate}  # fmt: skip
    with api.open_store(store, create=True) as db:
        if org or repos_file or workers > 1:  # many repositories: the workers share the store's queue
            many = api.fetch_many(settings, db, org=org, repos_file=repos_file, workers=workers, lease=lease,
                                  repo=repo, run_ids=run_id or (), on_repo=lambda s: stderr_lines(tables.fetch_lines(s)),
                                  on_line=stderr_line, on_warning=warn, **common)  # fmt: skip
            stderr_lines(tables.many_lines(many.worker, many.state))
            raise typer.Exit(code=many.exit_code)  # even 0, inside the store's block, as open_store has always seen it
        try:
            summary = api.fetch(settings, db, repo=repo, token=token, run_ids=run_id or (), attempt=attempt,
                                lock_wait=lock_wait, on_progress=bar, on_warning=bar.warn, **common)  # fmt: skip
        finally:
            bar.clear()
    stderr_lines(tables.fetch_lines(summary))
    exit_with(1 if summary.stopped is not None else 0)


@app.command()
def recommend(
    repo: opt.Repo = None, workflow: opt.Workflow = None, since: opt.Since = None, quantile: opt.Quantile = None,
    format: opt.RecommendFormat = RecommendFormat.table, output: opt.Output = None, patch: opt.Patch = None,
    branch: opt.Branch = None, event: opt.Event = None, store: opt.Store = DEFAULT_STORE, config: opt.Config = None,
) -> None:  # fmt: skip
    """Recommended timeouts per job, step and phase, with a verdict on the current limits and their kill rates.

    Example: we-advisor recommend --workflow "E2E WorkflowExecution" --format markdown --output timeouts.md
    """
    settings = load_settings(config)
    result, windows, _ = _history(api.recommend, store, settings, repo=repo, workflow=workflow, since=since, branch=branch, event=event, quantile=quantile, workflows_dir=patch)
    plan = api.patch(settings, result, patch) if patch is not None else None
    text = tables.recommendations_text(result, format)
    if output is not None:
        write_output(output, text)
    summary = tables.verdict_summary(result) + (f"; written to {output}" if output else "")
    show(text if output is None and plan is None else "", windows.lines(), [summary])
    if plan is not None and patch is not None:  # the diff on stdout, its notes on stderr
        show(plan.diff(), tables.patch_lines(plan, patch))


@app.command()
def backtest(
    repo: opt.Repo = None, workflow: opt.Workflow = None, split: opt.Split = None, format: opt.ListFormat = ListFormat.table,
    branch: opt.Branch = None, event: opt.Event = None, store: opt.Store = DEFAULT_STORE, config: opt.Config = None,
) -> None:  # fmt: skip
    """Replay history: would we-advisor's limits (and common heuristics) have killed healthy runs or saved minutes?

    Example: we-advisor backtest --split 2026-02-01 --format json
    """
    result, windows, _ = _history(api.backtest, store, load_settings(config), repo=repo, workflow=workflow, split=split, branch=branch, event=event)
    show(tables.backtest_text(result, format), windows.lines(), [f"note: {note}" for note in result.notes])


@app.command()
def export(directory: opt.DirectoryArg, format: opt.ExportFormat = ExportFormat.parquet, store: opt.Store = DEFAULT_STORE, config: opt.Config = None) -> None:
    """Runs, jobs, steps, observations and incidents as Parquet for a warehouse, by repository and month; incremental.

    Example: we-advisor export --format parquet warehouse/we-advisor
    """
    with api.open_store(store) as db:
        summary = api.export(load_settings(config), db, directory, format=format.value, on_warning=warn)
    stderr_line(summary.line())


@bootstrap_app.command("run")
def bootstrap_run(
    plan: opt.PlanArg, timeouts: opt.Timeouts = None, events: opt.Events = None, fail_fast: opt.FailFast = False,
    default_timeout: opt.DefaultTimeout = None, tick: opt.Tick = 30.0,
) -> None:  # fmt: skip
    """Run a plan: each task as soon as what it needs succeeded, each under its time limit.

    Example: we-advisor bootstrap run examples/e2e-setup.toml --timeouts recs.json --events data/bootstrap.jsonl
    """
    result = api.bootstrap_run(plan, timeouts=timeouts, events=events, fail_fast=fail_fast, default_timeout_s=default_timeout, tick_s=tick)
    stderr_line(result.summary())
    exit_with(result.exit_code)


@bootstrap_app.command("plan")
def bootstrap_plan(
    plan: opt.PlanArg, format: opt.ListFormat = ListFormat.table, runs: opt.Runs = 2000, timeouts: opt.Timeouts = None,
    default_timeout: opt.DefaultTimeout = None, store: opt.Store = DEFAULT_STORE, config: opt.Config = None,
) -> None:  # fmt: skip
    """Critical path and predicted wall time (p50/p95), sequential vs parallel, from measured durations.

    Example: we-advisor bootstrap plan examples/e2e-setup.toml --format json
    """
    forecast = api.bootstrap_plan(load_settings(config), store, plan, timeouts=timeouts, default_timeout_s=default_timeout, runs=runs)
    typer.echo(tables.forecast_text(forecast, format), nl=False)


def main() -> None:
    """The command ``sys.argv`` names; raises ``SystemExit`` with its status (the script's entry point is
    ``analyzer.__main__.console_main``)."""
    os.environ.setdefault("PYTHONIOENCODING", "utf-8")
    lean_imports()  # pandas as without pyarrow, numpy's f2py and testing lazily: less memory and time (cli/lean.py)
    command_process()  # the process is the command's: it may set how often garbage is collected (cli/lean.py)
    app()
