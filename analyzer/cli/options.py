"""The command line's options, declared once: name, help text, envvar and checks of each.

The commands (``cli/__init__.py``) name them in their signatures with their defaults (``repo:
opt.Repo = None``), so a command reads as its list of options. A shared one (``--store``, ``--repo``,
``--since``, ``--branch``, ...) is one alias for every command; an option of one command is here too,
so that its help text does not hide the command. Nothing here runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from analyzer.config import DEFAULT_STORE as STORE_PATH
from analyzer.present import tables

DEFAULT_STORE = str(STORE_PATH)
VERSION_HELP = "Print the we-advisor version and the store schema version, then exit."
VERBOSE_HELP = (
    "Debug output on stderr (HTTP requests and retries, parsing) and the traceback of an unexpected error; tokens and "
    "Authorization headers are redacted. Before or after the command: we-advisor -v fetch ..., we-advisor stats -v"
)
PATCH_HELP = (
    "Checkout to rewrite: timeout-minutes in its workflow YAML and the source limits named by timeouts rules in the "
    "config; the unified diff goes to stdout (recommendations then only to --output)."
)
QUANTILE_HELP = "Target quantile: at most 1 - q of healthy runs stopped (default 0.99)."
SPLIT_HELP = "YYYY-MM-DD or Nd (N days before the newest data): choose limits before it, replay after (default: 14 days before the newest data, the middle of a shorter history)."
MAX_WAIT_HELP = "Seconds to wait for a used-up rate limit; longer: stop, resume later."
ORG_HELP = "Every repository of this organization (or user) with Actions; shared by all workers on the store."
WORKERS_HELP = "Worker processes for --org/--repos-file (one token each from GITHUB_TOKENS, round robin)."
LOCK_WAIT_HELP = "Seconds to wait while another fetch writes the same repository (default: refuse at once)."

# -- every command, or most ---------------------------------------------------------------------
Store = Annotated[str, typer.Option("--store", envvar="WE_ADVISOR_STORE", help="SQLite store file, or postgresql://USER@HOST:PORT/DB (before or after the command).", show_default=True)]
Config = Annotated[Path | None, typer.Option("--config", help="Settings file (default: ./we-advisor.toml if present; before or after the command).")]
Repo = Annotated[str | None, typer.Option("--repo", help="OWNER/NAME (default: repo in we-advisor.toml).")]
Workflow = Annotated[str | None, typer.Option("--workflow", help="Only this workflow (name).")]
Since = Annotated[str | None, typer.Option("--since", help="Nd or YYYY-MM-DD (default: the last window_days of data in the store).")]
Period = Annotated[str, typer.Option("--since", help="The reporting period: Nd or YYYY-MM-DD (trends cover 8 weeks).")]
Branch = Annotated[str | None, typer.Option("--branch", help="Only runs whose head branch is this.")]
Event = Annotated[str | None, typer.Option("--event", help="Only runs triggered by this event (push, pull_request, schedule, ...).")]
TableFormat = Annotated[tables.TableFormat, typer.Option("--format", help="Output format.")]
ListFormat = Annotated[tables.ListFormat, typer.Option("--format", help="Output format.")]
RecommendFormat = Annotated[tables.RecommendFormat, typer.Option(help="Output format.")]
ApiUrl = Annotated[str | None, typer.Option("--api-url", envvar="GITHUB_API_URL", help="GitHub API URL (Enterprise, tests).")]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Print the comment body; write nothing.")]
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help=VERBOSE_HELP)]

# -- ingest, demo, report, export -----------------------------------------------------------------
PathsArg = Annotated[list[Path], typer.Argument(help="Job log .txt files, run-log .zip archives, folders.")]
LocalWorkflow = Annotated[str | None, typer.Option(help="Workflow name for local logs.")]
DemoStore = Annotated[Path | None, typer.Option(help="Keep the demo store here (default: a temporary file).")]
Html = Annotated[Path | None, typer.Option(help="Self-contained HTML report to write.")]
Markdown = Annotated[Path | None, typer.Option(help="Also write the weekly Markdown report here.")]
DirectoryArg = Annotated[Path, typer.Argument(help="Folder to write into (created if missing).")]
ExportFormat = Annotated[tables.ExportFormat, typer.Option(help="Output format.")]

# -- comment, check ------------------------------------------------------------------------------
Pr = Annotated[int | None, typer.Option("--pr", help="Pull request number (default: [comment] pr in the config, else the newest open PR with the label).")]
Label = Annotated[str | None, typer.Option("--label", help="Label of the pull request to comment on when there is no --pr (default: [comment] label, else we-advisor).")]
NoPrOk = Annotated[bool, typer.Option("--no-pr-ok", help="No pull request to comment on is not an error: print the report, say so on stderr, exit 0 (schedules).")]
CheckPr = Annotated[int, typer.Option(help="The pull request whose timeout changes to weigh.")]

# -- fetch ---------------------------------------------------------------------------------------
FetchWorkflow = Annotated[list[str] | None, typer.Option(help="Only this workflow (name or file name); repeatable.")]
FetchBranch = Annotated[str | None, typer.Option(help="Only runs on this branch.")]
FetchSince = Annotated[str | None, typer.Option(help="Runs created since Nd or YYYY-MM-DD (default: window_days, 30d).")]
MaxRuns = Annotated[int | None, typer.Option(min=1, help="At most the N newest runs.")]
Logs = Annotated[bool, typer.Option("--logs/--no-logs", help="Download job logs (phases and incidents need them).")]
Concurrency = Annotated[int, typer.Option(min=1, max=64, help="Requests in parallel.")]
MaxWait = Annotated[float, typer.Option(min=0, help=MAX_WAIT_HELP)]
Rate = Annotated[int, typer.Option(min=1, max=100_000, help="API requests a minute (GitHub Enterprise Server: its limit).")]
RunId = Annotated[list[int] | None, typer.Option(help="Only this finished run (event-driven); repeatable.")]
Attempt = Annotated[int | None, typer.Option(min=1, help="With one --run-id: that attempt.")]
Org = Annotated[str | None, typer.Option(help=ORG_HELP)]
ReposFile = Annotated[Path | None, typer.Option(help="Repositories to fetch, OWNER/NAME a line (instead of --org).")]
Workers = Annotated[int, typer.Option(min=1, max=64, help=WORKERS_HELP)]
Lease = Annotated[float, typer.Option(min=1, help="Seconds a worker's claim on a repository lasts unrenewed.")]
LockWait = Annotated[float, typer.Option(min=0, help=LOCK_WAIT_HELP)]

# -- recommend, backtest -------------------------------------------------------------------------
Quantile = Annotated[float | None, typer.Option(help=QUANTILE_HELP)]
Output = Annotated[Path | None, typer.Option(help="Write the recommendations to FILE instead of stdout.")]
Patch = Annotated[Path | None, typer.Option(help=PATCH_HELP)]
Split = Annotated[str | None, typer.Option(help=SPLIT_HELP)]

# -- bootstrap -----------------------------------------------------------------------------------
PlanArg = Annotated[Path, typer.Argument(help="Plan TOML of task tables: name, run, needs, timeout_s, diagnose, ...")]
Timeouts = Annotated[Path | None, typer.Option("--timeouts", help='Recommendations JSON (`recommend --format json`) for timeout_s = "auto".')]
DefaultTimeout = Annotated[float | None, typer.Option("--default-timeout", help="Seconds for tasks without a limit (default: the plan's, else 600).")]
Events = Annotated[Path | None, typer.Option(help="Append start/end events (JSON lines) here, for `ingest`.")]
FailFast = Annotated[bool, typer.Option("--fail-fast", help="Cancel running tasks at the first failure.")]
Tick = Annotated[float, typer.Option(help="Seconds between 'still waiting' lines.")]
Runs = Annotated[int, typer.Option(help="Monte Carlo runs.")]
