"""Pull requests through the REST API: which one a comment goes to, and what one changes.

``comment_target`` picks the pull request of the weekly comment (``--pr``, ``[comment] pr``, else
the newest open pull request carrying the label); ``read_changes`` reads a pull request's changed
files and, for the files a caller wants, their text at the base and at the head commit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from analyzer.collect.github import GitHubClient
from analyzer.errors import NotFoundError


@dataclass(frozen=True, slots=True)
class PullTarget:
    """The pull request to comment on, how it was chosen (for the message) and its state."""

    number: int
    how: str
    state: str = "open"


@dataclass(frozen=True, slots=True)
class ChangedFile:
    """A file a pull request changes: its text before (at the base commit; None: added) and after
    (at the head commit; None: removed). ``previous`` is the old path of a moved file."""

    path: str
    status: str
    before: str | None
    after: str | None
    previous: str | None = None


@dataclass(frozen=True, slots=True)
class PullChanges:
    """What a pull request changes, as far as a caller asked: its commits and the wanted files."""

    repo: str
    number: int
    state: str
    head_sha: str
    base_sha: str
    files: tuple[ChangedFile, ...]
    changed_files: int  # every file the pull request changes, wanted or not


def open_pull(client: GitHubClient, repo: str, number: int, *, where: str = "--pr") -> dict[str, Any]:
    """The pull request ``repo#number``, or a NotFoundError that says where the number came from."""
    try:
        return client.fetch_pull(repo, number)
    except NotFoundError:
        raise NotFoundError(
            f"pull request {repo}#{number} not found",
            hint=f"check {where} (the number in the pull request's URL) and that the token can read {repo}",
        ) from None


def comment_target(
    client: GitHubClient, repo: str, *, pr: int | None, configured: int | None, source: str | None, label: str
) -> PullTarget | None:
    """The pull request the weekly comment goes to: ``pr`` (``--pr``), else ``configured``
    (``[comment] pr`` of ``source``), else the newest open one labelled ``label``; None if none is."""
    if pr is not None or configured is not None:
        number = pr if pr is not None else configured
        assert number is not None
        where = "--pr" if pr is not None else f"[comment] pr in {source or 'we-advisor.toml'}"
        data = open_pull(client, repo, number, where=where)
        return PullTarget(number, where, str(data.get("state") or "open"))
    found = client.newest_labelled_pull(repo, label)
    if found is None:
        return None
    return PullTarget(int(found["number"]), f"the newest open pull request labelled {label!r}")


def read_changes(client: GitHubClient, repo: str, number: int, wanted: Callable[[str], bool]) -> PullChanges:
    """``repo#number``'s changed files, with the base and head text of those ``wanted`` (by path, old or new)."""
    data = open_pull(client, repo, number)
    head, base = str(data["head"].get("sha") or ""), str(data["base"].get("sha") or "")
    listed = client.fetch_pull_files(repo, number)
    files = []
    for item in listed:
        path, status = str(item["filename"]), str(item.get("status") or "modified")
        previous = item.get("previous_filename") if isinstance(item.get("previous_filename"), str) else None
        if not (wanted(path) or (previous is not None and wanted(previous))):
            continue
        before = None if status == "added" else client.fetch_text(repo, previous or path, base)
        after = None if status == "removed" else client.fetch_text(repo, path, head)
        files.append(ChangedFile(path, status, before, after, previous))
    return PullChanges(repo, number, str(data.get("state") or "open"), head, base, tuple(files), len(listed))
