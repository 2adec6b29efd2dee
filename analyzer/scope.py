"""A history command's scope, checked before it reads its history: its repository, its workflow, its
``--branch``/``--event`` filters and its window, each told to the caller.

Every history command (``stats``, ``incidents``, ``failures``, ``recommend``, ``backtest``,
``report``, ``comment``) goes through ``checked_repo`` first: bad input is an error before any row is
written (a re-parse under other phase rules comes after the checks), units of the same name in two
repositories are never merged silently, and ``history_window``/``window_stated`` give the ``Window`` line
every history command states on stderr.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from analyzer.config import Settings
from analyzer.errors import InputError
from analyzer.parse.reparse import reparse as reparse_store
from analyzer.store import Store
from analyzer.window import Window, analysis_window

Progress = Callable[[int, int], None]
Warn = Callable[[str], None]
Announce = Callable[[Window], None]  # a history command's window, for the caller to state (stderr)


def ensure_parsed(store: Store, settings: Settings, *, on_progress: Progress | None = None, on_warning: Warn | None = None) -> int:
    """Re-derive parsed data for jobs parsed by another parser version or other phase rules."""
    return reparse_store(store, settings.phases, on_progress=on_progress, on_warning=on_warning)


def checked_repo(
    settings: Settings, store: Store, repo: str | None, on_warning: Warn | None, *, workflow: str | None = None,
    units: bool = True,
) -> str | None:  # fmt: skip
    """A history command's repository (``--repo``, else the config's), its jobs parsed with the rules in
    force. Without one, a command about ``units`` needs the store's observations to be of one repository:
    units of the same name in two repositories are different units. A ``workflow`` must be one the store has."""
    repo = repo or settings.repo
    if repo is not None and (known := store.observed_repos()) and repo not in known:
        raise InputError(f"no repository {repo!r} in the store",
                         hint="repositories: " + ", ".join(known[:8]) + (", …" if len(known) > 8 else ""))  # fmt: skip
    if workflow is not None:
        names = store.workflow_names(repo)
        if workflow not in names:
            where = f" of {repo}" if repo else ""
            raise InputError(
                f"no workflow {workflow!r} in the store{where}",
                hint=("workflows: " + ", ".join(repr(n) for n in names[:12]) + (", …" if len(names) > 12 else ""))
                if names else "run `we-advisor fetch` or `we-advisor ingest` first (or check --repo)",
            )
    if repo is None and units:
        repos = store.observed_repos(workflow=workflow)
        if len(repos) > 1:
            shown = ", ".join(repos[:8]) + (f", … ({len(repos)} in all)" if len(repos) > 8 else "")
            raise InputError(
                f"the store holds the history of {len(repos)} repositories; units of the same name in two "
                "repositories are not one unit",
                hint=f"pass --repo OWNER/NAME (or set repo in we-advisor.toml): {shown}",
            )
    again = ensure_parsed(store, settings, on_warning=on_warning)  # after the checks: bad input writes nothing
    if again and on_warning is not None:  # another config's phase rules (or parser) made these rows: say so
        on_warning(f"re-parsed {again} job(s) with the phase rules in force (they were parsed with other rules or an older parser)")
    return repo


def check_filters(store: Store, repo: str | None, branch: str | None, event: str | None) -> None:
    """``--branch`` and ``--event`` name values some run in the store has: a typo is an error, not an
    empty answer."""
    for option, column, value in (("--branch", "head_branch", branch), ("--event", "event", event)):
        if value is None:
            continue
        known = store.run_values(column, repo=repo)
        if value in known:
            continue
        where = f" of {repo}" if repo else ""
        if known:
            shown = ", ".join(list(known)[:10]) + (", …" if len(known) > 10 else "")
            hint = f"{option} takes a value the runs{where} have (most runs first): {shown}"
        else:
            hint = ("no run in the store says it: fetch from GitHub or ingest an export folder (local logs rarely show "
                    "their run's branch or event)")  # fmt: skip
        raise InputError(f"{option} {value!r}: no run{where} in the store has it", hint=hint)


def history_window(
    store: Store, settings: Settings, since: str | None, repo: str | None, *, workflow: str | None = None,
    on_window: Announce | None = None, what: str = "window", branch: str | None = None, event: str | None = None,
) -> tuple[datetime | None, datetime | None]:  # fmt: skip
    """``--since``, else the last ``window_days`` of ``repo``'s data; told to ``on_window`` with how many
    of the jobs in scope it holds."""
    start, end = analysis_window(store.newest_time(repo=repo), settings.window_days, since)
    if on_window is not None:
        on_window(window_stated(store, start, end, since=since, days=settings.window_days, repo=repo, workflow=workflow,
                                what=what, branch=branch, event=event))  # fmt: skip
    return start, end


def window_stated(
    store: Store, start: datetime | None, end: datetime | None, *, since: str | None, days: int | None,
    repo: str | None = None, workflow: str | None = None, what: str = "window", branch: str | None = None,
    event: str | None = None,
) -> Window:  # fmt: skip
    """The ``Window`` a history command used, with its counts: every history command states it."""
    total, inside, oldest, newest = store.job_span(
        repo=repo, workflow=workflow, since=start, until=end, branch=branch, event=event
    )
    return Window(start, end, since, days, inside, total, oldest, newest, what=what)
