"""The command line: typer only. Parse options, call one library function, print its result, exit code."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup, TyperOption

from analyzer import api
from analyzer.config import DEFAULT_STORE as STORE_PATH
from analyzer.config import load_settings
from analyzer.present import tables
from analyzer.present.files import write_output
from analyzer.present.options import command_shape, global_options_in_place
from analyzer.present.problems import explain
from analyzer.present.progress import FetchBar, Progress, Windows, stderr_line, stderr_lines, warn
from analyzer.present.tables import ExportFormat, ListFormat, RecommendFormat, TableFormat
from analyzer.redaction import debug_logging
from analyzer.window import DEFAULT_REPORT_PERIOD


class _Group(TyperGroup):
    """Runs every command under ``user_errors`` (nothing escapes as a traceback, not even a bug in
    the printing after a command's library call), and takes ``--store``/``--config`` before the
    command and ``-v`` after it (``present.options``)."""

    def invoke(self, ctx: Any) -> Any:  # a click Context (typer vendors click; its path is private)
        with user_errors():
            return super().invoke(ctx)

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        return super().parse_args(ctx, global_options_in_place(args, lambda path: command_shape(self, ctx, path)))


if hasattr(TyperOption, "display_type_rich"):  # flags take no value: their help shows none (typer: ``<bool>``)
    _typed = TyperOption.display_type_rich
    TyperOption.display_type_rich = lambda self, ctx: None if self.is_flag else _typed(self, ctx)  # type: ignore[method-assign]


app = typer.Typer(
    name="we-advisor",
    help="CI log analyzer and timeout advisor for GitHub Actions: timeouts from evidence, not guesses.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
    cls=_Group,
)
bootstrap_app = typer.Typer(
    help="Run a setup plan (a DAG of tasks) under measured time limits, and predict its wall time.", no_args_is_help=True
)
app.add_typer(bootstrap_app, name="bootstrap")


TableFormatOpt = Annotated[TableFormat, typer.Option("--format", help="Output format.")]
ListFormatOpt = Annotated[ListFormat, typer.Option("--format", help="Output format.")]
StoreOpt = Annotated[str, typer.Option("--store", envvar="WE_ADVISOR_STORE", help="SQLite store file, or postgresql://USER@HOST:PORT/DB (before or after the command).", show_default=True)]
ConfigOpt = Annotated[Path | None, typer.Option("--config", help="Settings file (default: ./we-advisor.toml if present; before or after the command).")]
RepoOpt = Annotated[str | None, typer.Option("--repo", help="OWNER/NAME (default: repo in we-advisor.toml).")]
WorkflowOpt = Annotated[str | None, typer.Option("--workflow", help="Only this workflow (name).")]
SinceOpt = Annotated[str | None, typer.Option("--since", help="Nd or YYYY-MM-DD (default: the last window_days of data in the store).")]
PeriodOpt = Annotated[str, typer.Option("--since", help="The reporting period: Nd or YYYY-MM-DD (trends cover 8 weeks).")]
PrOpt = Annotated[int | None, typer.Option("--pr", help="Pull request number (default: [comment] pr in the config, else the newest open PR with the label).")]
LabelOpt = Annotated[str | None, typer.Option("--label", help="Label of the pull request to comment on when there is no --pr (default: [comment] label, else we-advisor).")]
NoPrOkOpt = Annotated[bool, typer.Option("--no-pr-ok", help="No pull request to comment on is not an error: print the report, say so on stderr, exit 0 (schedules).")]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="Print the comment body; write nothing.")]
BranchOpt = Annotated[str | None, typer.Option("--branch", help="Only runs whose head branch is this.")]
EventOpt = Annotated[str | None, typer.Option("--event", help="Only runs triggered by this event (push, pull_request, schedule, ...).")]
ApiUrlOpt = Annotated[str | None, typer.Option("--api-url", envvar="GITHUB_API_URL", help="GitHub API URL (Enterprise, tests).")]
PlanArg = Annotated[Path, typer.Argument(help="Plan TOML of task tables: name, run, needs, timeout_s, diagnose, ...")]
TimeoutsOpt = Annotated[
    Path | None, typer.Option("--timeouts", help='Recommendations JSON (`recommend --format json`) for timeout_s = "auto".')
]
DefaultTimeoutOpt = Annotated[
    float | None, typer.Option("--default-timeout", help="Seconds for tasks without a limit (default: the plan's, else 600).")
]
PATCH_HELP = (
    "Checkout to rewrite: timeout-minutes in its workflow YAML and the source limits named by timeouts rules in the "
    "config; the unified diff goes to stdout (recommendations then only to --output)."
)
QUANTILE_HELP = "Target quantile: at most 1 - q of healthy runs stopped (default 0.99)."
SPLIT_HELP = "YYYY-MM-DD: choose limits before it, replay after (default: 14 days before the newest data)."
MAX_WAIT_HELP = "Seconds to wait for a used-up rate limit; longer: stop, resume later."
VERBOSE_HELP = (
    "Debug output on stderr (HTTP requests and retries, parsing) and the traceback of an unexpected error; tokens and "
    "Authorization headers are redacted. Before or after the command: we-advisor -v fetch ..., we-advisor stats -v"
)
VERSION_HELP = "Print the we-advisor version and the store schema version, then exit."
_verbose = [False]  # what --verbose said for this invocation
DEFAULT_STORE = str(STORE_PATH)
ORG_HELP = "Every repository of this organization (or user) with Actions; shared by all workers on the store."
WORKERS_HELP = "Worker processes for --org/--repos-file (one token each from GITHUB_TOKENS, round robin)."
LOCK_WAIT_HELP = "Seconds to wait while another fetch writes the same repository (default: refuse at once)."
ReposFileOpt = Annotated[Path | None, typer.Option(help="Repositories to fetch, OWNER/NAME a line (instead of --org).")]
LeaseOpt = Annotated[float, typer.Option(min=1, help="Seconds a worker's claim on a repository lasts unrenewed.")]


@contextmanager
def user_errors() -> Iterator[None]:
    """The one exit path for errors: what ``present.problems.explain`` says on stderr, then its exit code."""
    try:
        yield
    except (typer.Exit, typer.Abort, typer.TyperException):  # exit codes and usage errors: typer's to print
        raise
    except (Exception, KeyboardInterrupt) as exc:
        explained = explain(exc, verbose=_verbose[0])
        for line in explained.lines:
            stderr_line(line)
        raise typer.Exit(code=explained.exit_code) from None


def _show_version(value: bool) -> None:
    if value:
        typer.echo(api.version_line())
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[bool, typer.Option("--version", callback=_show_version, is_eager=True, help=VERSION_HELP)] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help=VERBOSE_HELP)] = False,
) -> None:
    _verbose[0] = verbose
    debug_logging(verbose)


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Job log .txt files, run-log .zip archives, folders.")],
    repo: RepoOpt = None, workflow: Annotated[str | None, typer.Option(help="Workflow name for local logs.")] = None,
    store: StoreOpt = DEFAULT_STORE, config: ConfigOpt = None,
) -> None:  # fmt: skip
    """Add local logs to the store: job logs, run-log zips, `gh run view --log` output, export folders.

    Example: we-advisor ingest logs_123.zip ./saved-logs/
    """
    settings = load_settings(config)
    with api.open_store(store, create=True) as db:
        summary = api.ingest(settings, db, paths, repo=repo, workflow=workflow, on_progress=Progress("parsing"), on_warning=warn)
    stderr_line(summary.line())


@app.command()
def reparse(store: StoreOpt = DEFAULT_STORE, config: ConfigOpt = None) -> None:
    """Re-derive steps, phases and incidents from the stored raw logs (no refetch).

    Example: we-advisor reparse --config we-advisor.toml
    """
    settings = load_settings(config)
    with api.open_store(store) as db:
        count = api.reparse(settings, db, on_progress=Progress("parsing"), on_warning=warn)
    stderr_line(f"reparsed {count} job(s)")


@app.command()
def stats(
    repo: RepoOpt = None, workflow: WorkflowOpt = None, since: SinceOpt = None, format: TableFormatOpt = TableFormat.table,
    branch: BranchOpt = None, event: EventOpt = None, store: StoreOpt = DEFAULT_STORE, config: ConfigOpt = None,
) -> None:  # fmt: skip
    """Duration percentiles per job, step and phase (timed-out runs counted as censored), and how long jobs waited for a runner.

    Example: we-advisor stats --workflow "E2E WorkflowExecution" --since 30d --format json
    """
    settings, windows = load_settings(config), Windows()
    with api.open_store(store) as db:
        rows = api.stats(settings, db, repo=repo, workflow=workflow, since=since, branch=branch, event=event, on_warning=warn, on_window=windows.append)
    typer.echo(tables.stats_text(rows, format), nl=False)
    windows.say()  # "window: …: 0 of 251 jobs; --since … for all" says what an empty table means


@app.command()
def incidents(
    repo: RepoOpt = None, workflow: WorkflowOpt = None, since: SinceOpt = None, format: ListFormatOpt = ListFormat.table,
    branch: BranchOpt = None, event: EventOpt = None, store: StoreOpt = DEFAULT_STORE, config: ConfigOpt = None,
) -> None:  # fmt: skip
    """Every job attempt that did not succeed, with its classified cause, the line that proves it and its run context.

    Example: we-advisor incidents --since 14d --format json
    """
    settings, windows = load_settings(config), Windows()
    with api.open_store(store) as db:
        found = api.incidents(settings, db, repo=repo, workflow=workflow, since=since, branch=branch, event=event, on_warning=warn, on_window=windows.append)
        local = api.local_runs(db)  # local runs are shown by their file, not their synthetic id
    typer.echo(tables.incidents_text(found, format, local=local), nl=False)
    windows.say()
    if format is ListFormat.table:
        stderr_line(tables.incidents_summary(found))


@app.command()
def failures(
    repo: RepoOpt = None, workflow: WorkflowOpt = None, since: SinceOpt = None,
    format: Annotated[RecommendFormat, typer.Option(help="Output format.")] = RecommendFormat.table,
    branch: BranchOpt = None, event: EventOpt = None, store: StoreOpt = DEFAULT_STORE, config: ConfigOpt = None,
) -> None:  # fmt: skip
    """What keeps failing (failure signatures clustered from the logs) and which jobs pass when rerun.

    Example: we-advisor failures --since 14d --format json
    """
    settings, windows = load_settings(config), Windows()
    with api.open_store(store) as db:
        report = api.failures(settings, db, repo=repo, workflow=workflow, since=since, branch=branch, event=event, on_warning=warn, on_window=windows.append)
        local = api.local_runs(db)  # local runs are shown by their file, not their synthetic id
    typer.echo(tables.failures_text(report, format, local=local), nl=False)
    windows.say()
    stderr_line(tables.failures_summary(report))


@app.command()
def demo(store: Annotated[Path | None, typer.Option(help="Keep the demo store here (default: a temporary file).")] = None) -> None:
    """Run the bundled sample history through the whole pipeline, offline, and show what it found.

    Example: we-advisor demo
    """
    typer.echo(api.demo(store, on_progress=Progress("parsing"), on_warning=warn).text)


@app.command()
def report(
    repo: RepoOpt = None, since: PeriodOpt = DEFAULT_REPORT_PERIOD,
    html: Annotated[Path | None, typer.Option(help="Self-contained HTML report to write.")] = Path("reports/index.html"),
    markdown: Annotated[Path | None, typer.Option(help="Also write the weekly Markdown report here.")] = None,
    branch: BranchOpt = None, event: EventOpt = None, store: StoreOpt = DEFAULT_STORE, config: ConfigOpt = None,
) -> None:  # fmt: skip
    """Write the HTML report (offline, no scripts) and optionally the weekly Markdown report.

    Example: we-advisor report --since 7d --html reports/index.html --markdown weekly.md
    """
    settings, windows = load_settings(config), Windows()
    with api.open_store(store) as db:
        written = api.report(settings, db, repo=repo, since=since, branch=branch, event=event, html=html, markdown=markdown, on_warning=warn, on_window=windows.append)
    windows.say()
    typer.echo("".join(f"{path}\n" for path in (written.html, written.markdown) if path is not None), nl=False)
    stderr_line(f"report: {written.html_bytes:,} bytes of HTML, {written.markdown_chars:,} characters of Markdown")


@app.command()
def comment(
    repo: RepoOpt = None, pr: PrOpt = None, label: LabelOpt = None, since: PeriodOpt = DEFAULT_REPORT_PERIOD, no_pr_ok: NoPrOkOpt = False,
    api_url: ApiUrlOpt = None, dry_run: DryRunOpt = False, branch: BranchOpt = None, event: EventOpt = None, store: StoreOpt = DEFAULT_STORE, config: ConfigOpt = None,
) -> None:  # fmt: skip
    """Upsert the weekly Markdown report as one comment on a pull request (token: GITHUB_TOKEN or GH_TOKEN).

    Example: we-advisor comment --repo jordigilh/kubernaut --pr 42 --dry-run
    """
    settings, windows = load_settings(config), Windows()
    with api.open_store(store) as db:
        result = api.comment(settings, db, repo=repo, pr=pr, label=label, since=since, branch=branch, event=event, api_url=api_url, dry_run=dry_run,
                             no_pr_ok=no_pr_ok, on_warning=warn, on_window=windows.append)  # fmt: skip
    windows.say()
    typer.echo(result.body if result.action in ("dry-run", "skipped") else "", nl=result.action in ("dry-run", "skipped"))
    stderr_line(tables.comment_line(result))


@app.command()
def check(
    pr: Annotated[int, typer.Option(help="The pull request whose timeout changes to weigh.")], repo: RepoOpt = None, since: SinceOpt = None,
    api_url: ApiUrlOpt = None, dry_run: DryRunOpt = False, branch: BranchOpt = None, event: EventOpt = None, store: StoreOpt = DEFAULT_STORE, config: ConfigOpt = None,
) -> None:  # fmt: skip
    """Weigh the timeouts a pull request changes against measured durations, in one comment on it (token: GITHUB_TOKEN).

    Example: we-advisor check --repo jordigilh/kubernaut --pr 42 --dry-run
    """
    settings, windows = load_settings(config), Windows()
    with api.open_store(store) as db:
        found, result = api.check(settings, db, pr=pr, repo=repo, since=since, branch=branch, event=event, api_url=api_url, dry_run=dry_run, on_warning=warn,
                                  on_window=windows.append)  # fmt: skip
    windows.say()
    typer.echo(result.body if dry_run and result.body else "", nl=bool(dry_run and result.body))
    stderr_line("\n".join(tables.check_lines(found, result)))


@app.command()
def fetch(
    repo: RepoOpt = None,
    workflow: Annotated[list[str] | None, typer.Option(help="Only this workflow (name or file name); repeatable.")] = None,
    branch: Annotated[str | None, typer.Option(help="Only runs on this branch.")] = None,
    since: Annotated[str | None, typer.Option(help="Runs created since Nd or YYYY-MM-DD (default: window_days, 30d).")] = None,
    max_runs: Annotated[int | None, typer.Option(min=1, help="At most the N newest runs.")] = None,
    logs: Annotated[bool, typer.Option("--logs/--no-logs", help="Download job logs (phases and incidents need them).")] = True,
    api_url: ApiUrlOpt = None, concurrency: Annotated[int, typer.Option(min=1, max=64, help="Requests in parallel.")] = 4,
    max_wait: Annotated[float, typer.Option(min=0, help=MAX_WAIT_HELP)] = 300.0,
    rate: Annotated[int, typer.Option(min=1, max=100_000, help="API requests a minute (GitHub Enterprise Server: its limit).")] = 800,
    run_id: Annotated[list[int] | None, typer.Option(help="Only this finished run (event-driven); repeatable.")] = None, attempt: Annotated[int | None, typer.Option(min=1, help="With one --run-id: that attempt.")] = None,
    org: Annotated[str | None, typer.Option(help=ORG_HELP)] = None, repos_file: ReposFileOpt = None,
    workers: Annotated[int, typer.Option(min=1, max=64, help=WORKERS_HELP)] = 1, lease: LeaseOpt = 120.0,
    lock_wait: Annotated[float, typer.Option(min=0, help=LOCK_WAIT_HELP)] = 0.0,
    store: StoreOpt = DEFAULT_STORE, config: ConfigOpt = None,
) -> None:  # fmt: skip
    """Fetch workflow runs, jobs, logs and annotations from GitHub into the store (token: GITHUB_TOKEN or GH_TOKEN).

    Incremental: runs already stored are not asked for again, unchanged listings cost no rate limit.

    Example: we-advisor fetch --repo jordigilh/kubernaut --since 30d
    """
    bar, settings = FetchBar(), load_settings(config)
    token = os.environ.get("GITHUB_TOKEN") or os.environ.get("GH_TOKEN")
    common: dict[str, Any] = {"workflows": workflow or (), "branch": branch, "since": since, "max_runs": max_runs, "logs": logs, "concurrency": concurrency, "max_wait": max_wait, "api_url": api_url, "rate": rate}  # fmt: skip
    with api.open_store(store, create=True) as db:
        if org or repos_file or workers > 1:
            many = api.fetch_many(settings, db, org=org, repos_file=repos_file, workers=workers, lease=lease,
                                  repo=repo, run_ids=run_id or (), on_repo=lambda s: stderr_lines(tables.fetch_lines(s)),
                                  on_line=stderr_line, on_warning=warn, **common)  # fmt: skip
            stderr_lines(tables.many_lines(many.worker, many.state))
            raise typer.Exit(code=many.exit_code)
        try:
            summary = api.fetch(settings, db, repo=repo, token=token, run_ids=run_id or (), attempt=attempt,
                                lock_wait=lock_wait, on_progress=bar, on_warning=bar.warn, **common)  # fmt: skip
        finally:
            bar.clear()
    stderr_lines(tables.fetch_lines(summary))
    if summary.stopped is not None:
        raise typer.Exit(code=1)


@app.command()
def recommend(
    repo: RepoOpt = None, workflow: WorkflowOpt = None, since: SinceOpt = None,
    quantile: Annotated[float | None, typer.Option(help=QUANTILE_HELP)] = None,
    format: Annotated[RecommendFormat, typer.Option(help="Output format.")] = RecommendFormat.table,
    output: Annotated[Path | None, typer.Option(help="Write the recommendations to FILE instead of stdout.")] = None,
    patch: Annotated[Path | None, typer.Option(help=PATCH_HELP)] = None,
    branch: BranchOpt = None, event: EventOpt = None, store: StoreOpt = DEFAULT_STORE, config: ConfigOpt = None,
) -> None:  # fmt: skip
    """Recommended timeouts per job, step and phase, with a verdict on the current limits and their kill rates.

    Example: we-advisor recommend --workflow "E2E WorkflowExecution" --format markdown --output timeouts.md
    """
    settings, windows = load_settings(config), Windows()
    with api.open_store(store) as db:
        result = api.recommend(settings, db, repo=repo, workflow=workflow, since=since, branch=branch, event=event, quantile=quantile, workflows_dir=patch, on_warning=warn, on_window=windows.append)
    plan = api.patch(settings, result, patch) if patch is not None else None
    text = tables.recommendations_text(result, format)
    if output is not None:
        write_output(output, text)
    elif plan is None:
        typer.echo(text, nl=False)
    windows.say()
    stderr_line(tables.verdict_summary(result) + (f"; written to {output}" if output else ""))
    if plan is not None and patch is not None:
        typer.echo(plan.diff(), nl=False)
        for line in [*(f"note: {note}" for note in plan.notes), tables.patch_summary(plan, patch)]:
            stderr_line(line)


@app.command()
def backtest(
    repo: RepoOpt = None, workflow: WorkflowOpt = None, split: Annotated[str | None, typer.Option(help=SPLIT_HELP)] = None,
    format: ListFormatOpt = ListFormat.table, branch: BranchOpt = None, event: EventOpt = None, store: StoreOpt = DEFAULT_STORE, config: ConfigOpt = None,
) -> None:  # fmt: skip
    """Replay history: would we-advisor's limits (and common heuristics) have killed healthy runs or saved minutes?

    Example: we-advisor backtest --split 2026-02-01 --format json
    """
    settings, windows = load_settings(config), Windows()
    with api.open_store(store) as db:
        result = api.backtest(settings, db, repo=repo, workflow=workflow, split=split, branch=branch, event=event, on_warning=warn, on_window=windows.append)
    typer.echo(tables.backtest_text(result, format), nl=False)
    windows.say()
    for note in result.notes:
        stderr_line(f"note: {note}")


@app.command()
def export(
    directory: Annotated[Path, typer.Argument(help="Folder to write into (created if missing).")],
    format: Annotated[ExportFormat, typer.Option(help="Output format.")] = ExportFormat.parquet,
    store: StoreOpt = DEFAULT_STORE, config: ConfigOpt = None,
) -> None:  # fmt: skip
    """Runs, jobs, steps, observations and incidents as Parquet for a warehouse, by repository and month; incremental.

    Example: we-advisor export --format parquet warehouse/we-advisor
    """
    with api.open_store(store) as db:
        summary = api.export(load_settings(config), db, directory, format=format.value, on_warning=warn)
    stderr_line(summary.line())


@bootstrap_app.command("run")
def bootstrap_run(
    plan: PlanArg, timeouts: TimeoutsOpt = None,
    events: Annotated[Path | None, typer.Option(help="Append start/end events (JSON lines) here, for `ingest`.")] = None,
    fail_fast: Annotated[bool, typer.Option("--fail-fast", help="Cancel running tasks at the first failure.")] = False,
    default_timeout: DefaultTimeoutOpt = None,
    tick: Annotated[float, typer.Option(help="Seconds between 'still waiting' lines.")] = 30.0,
) -> None:  # fmt: skip
    """Run a plan: each task as soon as what it needs succeeded, each under its time limit.

    Example: we-advisor bootstrap run examples/e2e-setup.toml --timeouts recs.json --events data/bootstrap.jsonl
    """
    result = api.bootstrap_run(plan, timeouts=timeouts, events=events, fail_fast=fail_fast, default_timeout_s=default_timeout, tick_s=tick)
    stderr_line(result.summary())
    if result.exit_code:
        raise typer.Exit(code=result.exit_code)


@bootstrap_app.command("plan")
def bootstrap_plan(
    plan: PlanArg, format: ListFormatOpt = ListFormat.table,
    runs: Annotated[int, typer.Option(help="Monte Carlo runs.")] = 2000,
    timeouts: TimeoutsOpt = None, default_timeout: DefaultTimeoutOpt = None,
    store: StoreOpt = DEFAULT_STORE, config: ConfigOpt = None,
) -> None:  # fmt: skip
    """Critical path and predicted wall time (p50/p95), sequential vs parallel, from measured durations.

    Example: we-advisor bootstrap plan examples/e2e-setup.toml --format json
    """
    forecast = api.bootstrap_plan(load_settings(config), store, plan, timeouts=timeouts, default_timeout_s=default_timeout, runs=runs)
    typer.echo(tables.forecast_text(forecast, format), nl=False)


def main() -> None:
    """Console-script entry point."""
    os.environ.setdefault("PYTHONIOENCODING", "utf-8")
    app()
