"""The command line: typer only. Parse options, call one library function, print, exit code."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import sys
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from analyzer import api
from analyzer.config import DEFAULT_STORE, Settings, load_settings
from analyzer.errors import AdvisorError
from analyzer.formatting import human_duration, render_csv, render_table, shorten
from analyzer.redaction import TOKEN_ENV, RedactingFilter, add_secret, redact
from analyzer.store import Store

DEBUG_LOGGERS = ("analyzer", "github", "urllib3")


class _Group(TyperGroup):
    """Runs every command under ``user_errors``: nothing escapes as a traceback, not even a bug
    in the printing after a command's library call."""

    def invoke(self, ctx: Any) -> Any:  # a click Context (typer vendors click; its path is private)
        with user_errors():
            return super().invoke(ctx)


app = typer.Typer(
    name="we-advisor",
    help="CI log analyzer and timeout advisor for GitHub Actions: timeouts from evidence, not guesses.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
    cls=_Group,
)


class TableFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


class ListFormat(StrEnum):
    table = "table"
    json = "json"


StoreOpt = Annotated[
    Path,
    typer.Option("--store", envvar="WE_ADVISOR_STORE", help="SQLite store file.", show_default=True),
]
ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", help="Settings file (default: ./we-advisor.toml if present)."),
]
RepoOpt = Annotated[str | None, typer.Option("--repo", help="OWNER/NAME (default: repo in we-advisor.toml).")]
WorkflowOpt = Annotated[str | None, typer.Option("--workflow", help="Only this workflow (name).")]
SinceOpt = Annotated[
    str | None,
    typer.Option("--since", help="Nd or YYYY-MM-DD (default: the last window_days of data in the store)."),
]


def _err(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class _Verbosity:
    """What ``--verbose`` switched on for this invocation (reset by every invocation)."""

    on = False
    handler: logging.Handler | None = None


def _configure_logging(verbose: bool) -> None:
    """``-v``: DEBUG records of we-advisor, PyGithub and urllib3 on stderr, secrets redacted; else quiet."""
    for name in TOKEN_ENV:
        add_secret(os.environ.get(name))
    _Verbosity.on = verbose
    if _Verbosity.handler is not None:
        for name in DEBUG_LOGGERS:
            logging.getLogger(name).removeHandler(_Verbosity.handler)
        _Verbosity.handler = None
    for name in DEBUG_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.NOTSET)
    if verbose:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("debug: %(asctime)s %(name)s %(threadName)s: %(message)s"))
        handler.addFilter(RedactingFilter())
        for name in DEBUG_LOGGERS:
            logging.getLogger(name).addHandler(handler)
        _Verbosity.handler = handler


def _one_line(text: str, width: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


@contextmanager
def user_errors() -> Iterator[None]:
    """The one exit path for errors: message and hint on stderr, exit code 1.

    A user error (``AdvisorError``) is its message and hint; anything else is a bug, told in one
    line (with ``-v`` the traceback comes first). Every line is redacted: no token gets out.
    """
    try:
        yield
    except AdvisorError as exc:
        logging.getLogger("analyzer").debug("the error, with its cause", exc_info=True)
        _err(redact(f"error: {_one_line(exc.message, 2000)}"))
        if exc.hint:
            _err(redact(f"hint: {_one_line(exc.hint, 2000)}"))
        raise typer.Exit(code=1) from None
    except KeyboardInterrupt:
        _err("interrupted")
        raise typer.Exit(code=130) from None
    except sqlite3.DatabaseError as exc:
        if isinstance(exc, sqlite3.ProgrammingError | sqlite3.InterfaceError):  # misuse of the API: a bug
            raise _unexpected(exc) from None
        logging.getLogger("analyzer").debug("the store failed", exc_info=True)
        _err(redact(f"error: the store cannot be used: {_one_line(str(exc))}"))
        _err(
            "hint: the file may be damaged, locked by another program or on a full disk; check it with "
            "`sqlite3 FILE 'PRAGMA integrity_check'`, or pass --store with another file"
        )
        raise typer.Exit(code=1) from None
    except (typer.Exit, typer.Abort, typer.TyperException):  # exit codes and usage errors: typer's to print
        raise
    except Exception as exc:
        raise _unexpected(exc) from None


def _unexpected(exc: Exception) -> typer.Exit:
    """A bug: one line and a hint; with ``-v`` the traceback first (redacted, like everything)."""
    if _Verbosity.on:
        _err(redact("".join(traceback.format_exception(exc)).rstrip()))
        hint = "this is a bug in we-advisor: please report it with the traceback above"
    else:
        hint = "rerun with -v for the traceback and report it"
    _err(redact(f"error: unexpected {type(exc).__name__}: {_one_line(str(exc)) or repr(exc)}"))
    _err(f"hint: {hint}")
    return typer.Exit(code=1)


def version_line() -> str:
    """``we-advisor --version``: the package version and the store schema it reads and writes."""
    from importlib.metadata import PackageNotFoundError, version

    from analyzer.store import SCHEMA_VERSION

    try:
        package = version("we-advisor")
    except PackageNotFoundError:  # a source tree on sys.path that was never installed
        package = "(not installed)"
    return f"we-advisor {package} (store schema {SCHEMA_VERSION})"


def _show_version(value: bool) -> None:
    if value:
        typer.echo(version_line())
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_show_version,
            is_eager=True,
            help="Print the we-advisor version and the store schema version, then exit.",
        ),
    ] = False,
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose",
            "-v",
            help="Debug output on stderr (HTTP requests and retries, parsing) and the traceback of an unexpected "
            "error; tokens and Authorization headers are redacted. Put it before the command: we-advisor -v fetch ...",
        ),
    ] = False,
) -> None:
    _configure_logging(verbose)


class Progress:
    """A progress line on stderr: redrawn in place on a terminal, a few plain lines otherwise."""

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
            _err(text)
        self.shown = True


def _settings(config: Path | None) -> Settings:
    return load_settings(config)


@contextmanager
def _open(store: Path, *, create: bool = False) -> Iterator[Store]:
    """The store, as a context. A store this command created is removed again if the command fails
    before anything was saved in it: a failed first command leaves no file behind."""
    created = _missing_ancestors(store) if create else []
    try:
        with Store(store, create=create) as db:
            yield db
    except BaseException:
        if created:
            _discard_empty_store(store, created)
        raise


def _missing_ancestors(path: Path) -> list[Path]:
    """``path`` and its folders that do not exist yet, deepest first ([] if ``path`` exists)."""
    missing = []
    for candidate in (path, *path.parents):
        if candidate.exists() or str(candidate) in ("", "."):
            break
        missing.append(candidate)
    return missing


def _discard_empty_store(store: Path, created: list[Path]) -> None:
    try:
        with Store(store, create=False) as db:
            if any(db.counts().values()):
                return
    except AdvisorError:
        return
    for suffix in ("", "-wal", "-shm", "-journal", ".lock"):
        store.with_name(store.name + suffix).unlink(missing_ok=True)
    for folder in created[1:]:
        try:
            folder.rmdir()
        except OSError:
            break


def _dump_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Job log .txt files, run-log .zip archives, folders.")],
    repo: RepoOpt = None,
    workflow: Annotated[str | None, typer.Option("--workflow", help="Workflow name for local logs.")] = None,
    store: StoreOpt = DEFAULT_STORE,
    config: ConfigOpt = None,
) -> None:
    """Add local logs to the store: job logs, run-log zips, `gh run view --log` output, export folders.

    Example: we-advisor ingest logs_123.zip ./saved-logs/
    """
    settings = _settings(config)
    with _open(store, create=True) as db:
        summary = api.ingest(
            settings, db, paths, repo=repo, workflow=workflow, on_progress=Progress("parsing"), on_warning=_warn
        )
    _err(summary.line())


def _warn(message: str) -> None:
    _err(f"warning: {message}")


@app.command()
def reparse(store: StoreOpt = DEFAULT_STORE, config: ConfigOpt = None) -> None:
    """Re-derive steps, phases and incidents from the stored raw logs (no refetch).

    Example: we-advisor reparse --config we-advisor.toml
    """
    settings = _settings(config)
    with _open(store) as db:
        count = api.reparse(settings, db, on_progress=Progress("parsing"), on_warning=_warn)
    _err(f"reparsed {count} job(s)")


@app.command()
def stats(
    repo: RepoOpt = None,
    workflow: WorkflowOpt = None,
    since: SinceOpt = None,
    format: Annotated[TableFormat, typer.Option("--format", help="Output format.")] = TableFormat.table,
    store: StoreOpt = DEFAULT_STORE,
    config: ConfigOpt = None,
) -> None:
    """Duration percentiles per job, step and phase (timed-out runs counted as censored).

    Example: we-advisor stats --workflow "E2E WorkflowExecution" --since 30d --format json
    """
    settings = _settings(config)
    with _open(store) as db:
        rows = api.stats(settings, db, repo=repo, workflow=workflow, since=since, on_warning=_warn)
    if format is TableFormat.json:
        _dump_json([api.stats_dict(r) for r in rows])
        return
    headers = ["scope", "workflow", "job", "step", "phase", "samples", "censored", "p50_s", "p90_s", "p95_s", "p99_s"]
    if format is TableFormat.csv:
        data = [[getattr(r, h) for h in headers] for r in rows]
        typer.echo(render_csv(headers, data), nl=False)
        return
    table = [
        [
            r.scope, shorten(r.workflow, 24), shorten(r.job, 24), shorten(r.step, 28), shorten(r.phase, 28),
            r.samples, r.censored, human_duration(r.p50_s), human_duration(r.p90_s),
            human_duration(r.p95_s), human_duration(r.p99_s),
        ]
        for r in rows
    ]
    typer.echo(render_table(["scope", "workflow", "job", "step", "phase", "n", "cens", "p50", "p90", "p95", "p99"], table, right=range(5, 11)))
    if not rows:
        _err("no observations in the window; try --since with a longer span")


@app.command()
def incidents(
    repo: RepoOpt = None,
    workflow: WorkflowOpt = None,
    since: SinceOpt = None,
    format: Annotated[ListFormat, typer.Option("--format", help="Output format.")] = ListFormat.table,
    store: StoreOpt = DEFAULT_STORE,
    config: ConfigOpt = None,
) -> None:
    """Every job attempt that did not succeed, with its classified cause and the line that proves it.

    Example: we-advisor incidents --since 14d --format json
    """
    settings = _settings(config)
    with _open(store) as db:
        found = api.incidents(settings, db, repo=repo, workflow=workflow, since=since, on_warning=_warn)
    if format is ListFormat.json:
        _dump_json([api.incident_dict(i) for i in found])
        return
    table = [
        [
            i.occurred_at.strftime("%Y-%m-%d %H:%M") if i.occurred_at else "-", f"{i.run_id}#{i.run_attempt}",
            shorten(i.job, 20), shorten(i.step, 22), shorten(i.phase, 22), i.kind, human_duration(i.limit_s),
            shorten(i.evidence, 70),
        ]
        for i in found
    ]
    typer.echo(render_table(["when", "run", "job", "step", "phase", "kind", "limit", "evidence"], table))
    kinds: dict[str, int] = {}
    for i in found:
        kinds[i.kind] = kinds.get(i.kind, 0) + 1
    _err(f"{len(found)} incident(s): " + (", ".join(f"{k} {v}" for k, v in sorted(kinds.items())) or "none"))


@app.command()
def demo(
    store: Annotated[
        Path | None, typer.Option("--store", help="Keep the demo store here (default: a temporary file).")
    ] = None,
) -> None:
    """Run the bundled sample history through the whole pipeline, offline, and show what it found.

    Example: we-advisor demo
    """
    from analyzer import demo as demo_module

    result = demo_module.run_demo(store, on_progress=Progress("parsing"), on_warning=_warn)
    typer.echo(result.text)


@app.command()
def report(
    repo: RepoOpt = None,
    since: Annotated[str, typer.Option("--since", help="The reporting period: Nd or YYYY-MM-DD (trends cover 8 weeks).")] = "7d",
    html: Annotated[Path | None, typer.Option("--html", help="Self-contained HTML report to write.")] = Path("reports/index.html"),
    markdown: Annotated[Path | None, typer.Option("--markdown", help="Also write the weekly Markdown report here.")] = None,
    store: StoreOpt = DEFAULT_STORE,
    config: ConfigOpt = None,
) -> None:
    """Write the HTML report (offline, no scripts) and optionally the weekly Markdown report.

    Example: we-advisor report --since 7d --html reports/index.html --markdown weekly.md
    """
    from analyzer import report as report_module

    settings = _settings(config)
    with _open(store) as db:
        written = report_module.report(settings, db, repo=repo, since=since, html=html, markdown=markdown, on_warning=_warn)
    for path in (written.html, written.markdown):
        if path is not None:
            typer.echo(str(path))
    _err(f"report: {written.html_bytes:,} bytes of HTML, {written.markdown_chars:,} characters of Markdown")


@app.command()
def comment(
    repo: Annotated[str, typer.Option("--repo", help="OWNER/NAME of the pull request.")],
    pr: Annotated[int, typer.Option("--pr", help="Pull request number.")],
    since: Annotated[str, typer.Option("--since", help="The reporting period: Nd or YYYY-MM-DD.")] = "7d",
    api_url: Annotated[
        str | None, typer.Option("--api-url", envvar="GITHUB_API_URL", help="GitHub API URL (Enterprise, tests).")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the comment body; send nothing.")] = False,
    store: StoreOpt = DEFAULT_STORE,
    config: ConfigOpt = None,
) -> None:
    """Upsert the weekly Markdown report as one comment on a pull request (token: GITHUB_TOKEN or GH_TOKEN).

    Example: we-advisor comment --repo jordigilh/kubernaut --pr 42 --dry-run
    """
    from analyzer import report as report_module

    settings = _settings(config)
    with _open(store) as db:
        result = report_module.comment(
            settings, db, repo=repo, pr=pr, since=since, api_url=api_url, dry_run=dry_run, on_warning=_warn
        )
    if dry_run:
        typer.echo(result.body)
        return
    _err(f"comment {result.action}: {result.url}" if result.url else f"comment {result.action}")


bootstrap_app = typer.Typer(
    help="Run a setup plan (a DAG of tasks) under measured time limits, and predict its wall time.",
    no_args_is_help=True,
)
app.add_typer(bootstrap_app, name="bootstrap")

PlanArg = Annotated[Path, typer.Argument(help="Plan TOML of task tables: name, run, needs, timeout_s, diagnose, ...")]
TimeoutsOpt = Annotated[
    Path | None,
    typer.Option("--timeouts", help='Recommendations JSON (`recommend --format json`) for timeout_s = "auto".'),
]
DefaultTimeoutOpt = Annotated[
    float | None,
    typer.Option("--default-timeout", help="Seconds for tasks without a limit (default: the plan's, else 600)."),
]


@bootstrap_app.command("run")
def bootstrap_run(
    plan: PlanArg,
    timeouts: TimeoutsOpt = None,
    events: Annotated[
        Path | None, typer.Option("--events", help="Append start/end events (JSON lines) here, for `ingest`.")
    ] = None,
    fail_fast: Annotated[bool, typer.Option("--fail-fast", help="Cancel running tasks at the first failure.")] = False,
    default_timeout: DefaultTimeoutOpt = None,
    tick: Annotated[float, typer.Option("--tick", help="Seconds between 'still waiting' lines.")] = 30.0,
) -> None:
    """Run a plan: each task as soon as what it needs succeeded, each under its time limit.

    Example: we-advisor bootstrap run examples/e2e-setup.toml --timeouts recs.json --events data/bootstrap.jsonl
    """
    from analyzer import bootstrap

    result = bootstrap.run_file(
        plan, timeouts=timeouts, events=events, fail_fast=fail_fast, default_timeout_s=default_timeout, tick_s=tick
    )
    _err(result.summary())
    if result.exit_code:
        raise typer.Exit(code=result.exit_code)


@bootstrap_app.command("plan")
def bootstrap_plan(
    plan: PlanArg,
    format: Annotated[ListFormat, typer.Option("--format", help="Output format.")] = ListFormat.table,
    runs: Annotated[int, typer.Option("--runs", help="Monte Carlo runs.")] = 2000,
    timeouts: TimeoutsOpt = None,
    default_timeout: DefaultTimeoutOpt = None,
    store: StoreOpt = DEFAULT_STORE,
    config: ConfigOpt = None,
) -> None:
    """Critical path and predicted wall time (p50/p95), sequential vs parallel, from measured durations.

    Example: we-advisor bootstrap plan examples/e2e-setup.toml --format json
    """
    from analyzer import bootstrap

    settings = _settings(config)
    forecast = bootstrap.forecast_file(
        plan, store_path=store, rules=settings.phases, timeouts=timeouts, default_timeout_s=default_timeout, runs=runs
    )
    if format is ListFormat.json:
        _dump_json(bootstrap.forecast_dict(forecast))
        return
    typer.echo(bootstrap.render_forecast(forecast))


class _FetchBar:
    """The fetch progress line on stderr: redrawn in place on a terminal, a plain line every few seconds otherwise."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.last = 0.0 if self.tty else time.monotonic()
        self.width = 0

    def __call__(self, p: Any) -> None:  # an analyzer.fetch.FetchProgress
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
            _err(text)

    def clear(self) -> None:
        if self.tty and self.width:
            sys.stderr.write("\r" + " " * self.width + "\r")
            sys.stderr.flush()
            self.width = 0

    def warn(self, message: str) -> None:
        self.clear()
        _warn(message)


@app.command()
def fetch(
    repo: RepoOpt = None,
    workflow: Annotated[
        list[str] | None, typer.Option("--workflow", help="Only this workflow (name or file name); repeatable.")
    ] = None,
    branch: Annotated[str | None, typer.Option("--branch", help="Only runs on this branch.")] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="Runs created since Nd or YYYY-MM-DD (default: window_days, 30d).")
    ] = None,
    max_runs: Annotated[int | None, typer.Option("--max-runs", min=1, help="At most the N newest runs.")] = None,
    logs: Annotated[bool, typer.Option("--logs/--no-logs", help="Download job logs (phases and incidents need them).")] = True,
    api_url: Annotated[
        str | None, typer.Option("--api-url", envvar="GITHUB_API_URL", help="GitHub API URL (Enterprise, tests).")
    ] = None,
    concurrency: Annotated[int, typer.Option("--concurrency", min=1, max=64, help="Requests in parallel.")] = 4,
    max_wait: Annotated[
        float, typer.Option("--max-wait", min=0, help="Seconds to wait for a used-up rate limit; longer: stop, resume later.")
    ] = 300.0,
    store: StoreOpt = DEFAULT_STORE,
    config: ConfigOpt = None,
) -> None:
    """Fetch workflow runs, jobs, logs and annotations from GitHub into the store (token: GITHUB_TOKEN or GH_TOKEN).

    Incremental: runs already stored are not asked for again, unchanged listings cost no rate limit.

    Example: we-advisor fetch --repo jordigilh/kubernaut --since 30d
    """
    from analyzer import fetch as fetch_module

    bar = _FetchBar()
    settings = _settings(config)
    token = os.environ.get("GITHUB_TOKEN") or os.environ.get("GH_TOKEN")
    with _open(store, create=True) as db:
        try:
            summary = fetch_module.fetch(
                settings, db, repo=repo, workflows=workflow or (), branch=branch, since=since, max_runs=max_runs,
                logs=logs, api_url=api_url, concurrency=concurrency, token=token, max_wait=max_wait,
                on_progress=bar, on_warning=bar.warn,
            )  # fmt: skip
        finally:
            bar.clear()
    _err(summary.line())
    for line in summary.details(limit=20):
        _err(f"  not fetched: {line}")
    if summary.stopped is not None:
        _err(f"stopped: {summary.stopped.message}; everything fetched so far is saved")
        _err(f"hint: {summary.stopped.hint}")
        raise typer.Exit(code=1)


class RecommendFormat(StrEnum):
    table = "table"
    json = "json"
    markdown = "markdown"


@app.command()
def recommend(
    repo: RepoOpt = None,
    workflow: WorkflowOpt = None,
    since: SinceOpt = None,
    quantile: Annotated[
        float | None, typer.Option("--quantile", help="Target quantile: at most 1 - q of healthy runs stopped (default 0.99).")
    ] = None,
    format: Annotated[RecommendFormat, typer.Option("--format", help="Output format.")] = RecommendFormat.table,
    output: Annotated[Path | None, typer.Option("--output", help="Write the recommendations to FILE instead of stdout.")] = None,
    patch: Annotated[
        Path | None,
        typer.Option(
            "--patch",
            help="Checkout to rewrite: timeout-minutes in its workflow YAML and the source limits named by "
            "timeouts rules in the config; the unified diff goes to stdout (recommendations then only to --output).",
        ),
    ] = None,
    store: StoreOpt = DEFAULT_STORE,
    config: ConfigOpt = None,
) -> None:
    """Recommended timeouts per job, step and phase, with a verdict on the current limits and their kill rates.

    Example: we-advisor recommend --workflow "E2E WorkflowExecution" --format markdown --output timeouts.md
    """
    from analyzer.errors import InputError
    from analyzer.recommend import render_markdown
    from analyzer.recommend import render_table as render_recommendations

    settings = _settings(config)
    with _open(store) as db:
        result = api.recommend(
            settings, db, repo=repo, workflow=workflow, since=since, quantile=quantile, workflows_dir=patch,
            on_warning=_warn,
        )
    plan = api.apply_patches(settings, result, patch) if patch is not None else None
    if format is RecommendFormat.json:
        text = json.dumps(result.to_dict(), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    elif format is RecommendFormat.markdown:
        text = render_markdown(result)
    else:
        text = render_recommendations(result) + "\n"
    if output is not None:
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise InputError(f"cannot write {output}: {exc.strerror}", hint="check the path") from None
    if output is None and plan is None:
        typer.echo(text, nl=False)
    verdicts: dict[str, int] = {}
    for r in result.recommendations:
        verdicts[r.verdict] = verdicts.get(r.verdict, 0) + 1
    summary = ", ".join(f"{k} {v}" for k, v in sorted(verdicts.items())) or "no observations in the window; try --since"
    _err(f"{len(result.recommendations)} unit(s): {summary}" + (f"; written to {output}" if output else ""))
    if plan is not None:
        typer.echo(plan.diff(), nl=False)
        for note in plan.notes:
            _err(f"note: {note}")
        changed = sum(1 for e in plan.edits if e.before != e.after)
        _err(f"patched {changed} file(s) under {patch}" if changed else f"nothing to change under {patch}")


@app.command()
def backtest(
    repo: RepoOpt = None,
    workflow: WorkflowOpt = None,
    split: Annotated[
        str | None,
        typer.Option("--split", help="YYYY-MM-DD: choose limits before it, replay after (default: 14 days before the newest data)."),
    ] = None,
    format: Annotated[ListFormat, typer.Option("--format", help="Output format.")] = ListFormat.table,
    store: StoreOpt = DEFAULT_STORE,
    config: ConfigOpt = None,
) -> None:
    """Replay history: would we-advisor's limits (and common heuristics) have killed healthy runs or saved minutes?

    Example: we-advisor backtest --split 2026-02-01 --format json
    """
    from analyzer.backtest import render_backtest_table

    settings = _settings(config)
    with _open(store) as db:
        result = api.backtest(settings, db, repo=repo, workflow=workflow, split=split, on_warning=_warn)
    if format is ListFormat.json:
        _dump_json(result.to_dict())
    else:
        typer.echo(render_backtest_table(result))
    for note in result.notes:
        _err(f"note: {note}")


def main() -> None:
    """Console-script entry point."""
    os.environ.setdefault("PYTHONIOENCODING", "utf-8")
    app()
