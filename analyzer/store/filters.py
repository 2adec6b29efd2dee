"""The WHERE clause that history queries share (repo, workflow, a time window)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from analyzer.records import iso

__all__ = ["filters"]


def filters(
    *,
    repo: str | None = None,
    workflow: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    column: str = "started_at",
    branch: str | None = None,
    event: str | None = None,
    table: str = "",
    workflow_column: str = "workflow",
    dialect: str = "sqlite",
) -> tuple[str, tuple[Any, ...]]:
    """The WHERE clause of a history query and its arguments. ``column`` is the time the window is on;
    ``branch`` and ``event`` keep the rows of runs with that head branch and event; ``table`` qualifies
    the columns (an alias, for a query that joins)."""
    qualify = f"{table}." if table else ""
    clauses: list[str] = []
    args: list[Any] = []
    if repo:
        # ``+repo`` keeps SQLite off the (repo, workflow, ...) index when the repo is the only filter:
        # a store usually holds one repo, and an index walk over all its rows is ~3x slower than a scan.
        clauses.append(f"{qualify}repo = ?" if workflow or dialect != "sqlite" else f"+{qualify}repo = ?")
        args.append(repo)
    if workflow:
        clauses.append(f"{qualify}{workflow_column} = ?")
        args.append(workflow)
    when = column if "(" in column else f"{qualify}{column}"
    if since is not None:
        clauses.append(f"{when} >= ?")
        args.append(iso(since))
    if until is not None:
        clauses.append(f"{when} < ?")
        args.append(iso(until))
    context = [(name, value) for name, value in (("head_branch", branch), ("event", event)) if value is not None]
    if context:  # a run's branch and event are the same in every attempt
        clauses.append(
            f"{qualify}run_id IN (SELECT run_id FROM runs WHERE {' AND '.join(f'{name} = ?' for name, _ in context)})"
        )
        args += [value for _, value in context]
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), tuple(args)
