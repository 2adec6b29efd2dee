"""Pull requests for the fake GitHub (``tests/fake_github.py``), in GitHub's REST shapes.

What ``comment`` (finding its pull request) and ``check --pr`` (reading what a pull request
changes) ask for:

- ``GET /repos/{o}/{r}/pulls/{n}``: the pull request (``state``, ``labels``, ``head``/``base`` with
  ``sha`` and ``ref``, ``created_at``); a number the fake only knows as one that takes comments
  (``FakeGitHub.pulls``) is an open pull request with nothing changed;
- ``GET /repos/{o}/{r}/pulls/{n}/files``: the changed files (``filename``, ``status`` added /
  modified / removed / renamed, ``previous_filename``), paginated like every listing;
- ``GET /repos/{o}/{r}/issues?state=&labels=&sort=created&direction=``: issues and pull requests
  (those carry a ``pull_request`` object), filtered by state and by every label named, newest first
  by default, paginated;
- ``/contents/{path}?ref=SHA`` at a pull request's base and head commits (``Refs``): a file's text
  at that commit, 404 where the commit does not have it.

``add_pull`` takes the files of the base and the head as ``{path: text}`` (``None`` at the head:
the file is deleted; a ``renamed`` mapping names moves) and derives the changed files, the
commits and their contents from them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.fake_export import iso_time

_EPOCH = datetime(2026, 11, 1, tzinfo=UTC)


def sha_of(*parts: object) -> str:
    return hashlib.sha1("\0".join(map(str, parts)).encode()).hexdigest()


@dataclass
class Pull:
    """One pull request (or, with ``is_pull`` False, a plain issue) as the fake serves it."""

    number: int
    title: str
    state: str
    labels: list[str]
    created_at: str
    head_sha: str
    base_sha: str
    head_ref: str = "feature"
    base_ref: str = "main"
    files: list[dict[str, Any]] = field(default_factory=list)
    is_pull: bool = True


class Pulls:
    """The pull requests and issues of the fake's repository, and the file contents at their commits."""

    def __init__(self) -> None:
        self.items: dict[int, Pull] = {}
        self.refs: dict[str, dict[str, str | None]] = {}  # commit sha -> path -> text (None: not there)

    def add(
        self, number: int, *, repo: str, labels: tuple[str, ...] = (), state: str = "open", title: str = "",
        base: dict[str, str] | None = None, head: dict[str, str | None] | None = None,
        renamed: dict[str, str] | None = None, created: datetime | None = None, is_pull: bool = True,
    ) -> Pull:  # fmt: skip
        """A pull request whose head changes ``base`` into ``head`` (``renamed``: new path -> old path)."""
        base, head, renamed = dict(base or {}), dict(head or {}), dict(renamed or {})
        created = created or _EPOCH + timedelta(hours=number)
        pull = Pull(
            number=number, title=title or f"change {number}", state=state, labels=list(labels),
            created_at=iso_time(created), head_sha=sha_of(repo, number, "head", sorted(head.items())),
            base_sha=sha_of(repo, number, "base", sorted(base.items())), is_pull=is_pull,
        )  # fmt: skip
        base_files: dict[str, str | None] = dict(base)
        head_files: dict[str, str | None] = {**base, **head}
        for new, old in renamed.items():
            head_files[old] = None
            head_files.setdefault(new, base.get(old))
        for path in sorted(set(base) | set(head) | set(renamed)):
            before = base.get(renamed.get(path, path))
            after = head_files.get(path)
            if path in renamed.values() and path not in head:
                continue  # the old name of a move: listed under its new name
            if before == after and path not in renamed:
                continue
            status = "renamed" if path in renamed else "added" if before is None else "removed" if after is None else "modified"
            item: dict[str, Any] = {
                "sha": sha_of(path, after), "filename": path, "status": status,
                "additions": len((after or "").splitlines()), "deletions": len((before or "").splitlines()),
                "changes": 1, "blob_url": f"https://github.test/{repo}/blob/{pull.head_sha}/{path}",
            }  # fmt: skip
            if path in renamed:
                item["previous_filename"] = renamed[path]
            pull.files.append(item)
        self.refs[pull.base_sha] = base_files
        self.refs[pull.head_sha] = head_files
        self.items[number] = pull
        return pull

    def text_at(self, ref: str | None, path: str) -> tuple[bool, str | None]:
        """(whether ``ref`` is one of these commits, the file's text there or None)."""
        if ref is None or ref not in self.refs:
            return False, None
        return True, self.refs[ref].get(path)

    def pull_json(self, number: int, repo: str, url: str) -> dict[str, Any] | None:
        pull = self.items.get(number)
        if pull is None or not pull.is_pull:
            return None
        return {
            "url": f"{url}/repos/{repo}/pulls/{number}", "id": 800_000 + number, "number": number,
            "html_url": f"https://github.test/{repo}/pull/{number}", "state": pull.state, "title": pull.title,
            "user": {"login": "octodev", "id": 3, "type": "User"}, "labels": [_label(n) for n in pull.labels],
            "created_at": pull.created_at, "updated_at": pull.created_at, "draft": False,
            "merged": False, "closed_at": None if pull.state == "open" else pull.created_at,
            "head": {"label": f"acme:{pull.head_ref}", "ref": pull.head_ref, "sha": pull.head_sha,
                     "repo": {"full_name": repo}},
            "base": {"label": f"acme:{pull.base_ref}", "ref": pull.base_ref, "sha": pull.base_sha,
                     "repo": {"full_name": repo}},
            "changed_files": len(pull.files),
        }  # fmt: skip

    def issues(self, repo: str, query: dict[str, str]) -> list[dict[str, Any]]:
        """``GET /issues`` for the repository: filtered by ``state`` and ``labels``, sorted by ``created``."""
        state = query.get("state", "open")
        wanted = {label.strip().lower() for label in query.get("labels", "").split(",") if label.strip()}
        chosen = [
            p for p in self.items.values()
            if (state == "all" or p.state == state) and wanted <= {label.lower() for label in p.labels}
        ]  # fmt: skip
        chosen.sort(key=lambda p: (p.created_at, p.number), reverse=query.get("direction", "desc") == "desc")
        out = []
        for p in chosen:
            item: dict[str, Any] = {
                "id": 900_000 + p.number, "number": p.number, "title": p.title, "state": p.state,
                "labels": [_label(n) for n in p.labels], "created_at": p.created_at, "updated_at": p.created_at,
                "html_url": f"https://github.test/{repo}/{'pull' if p.is_pull else 'issues'}/{p.number}",
                "user": {"login": "octodev", "id": 3, "type": "User"},
            }  # fmt: skip
            if p.is_pull:
                item["pull_request"] = {"url": f"https://api.github.test/repos/{repo}/pulls/{p.number}",
                                        "html_url": f"https://github.test/{repo}/pull/{p.number}"}  # fmt: skip
            out.append(item)
        return out


def minimal_pull(number: int, repo: str, url: str) -> dict[str, Any]:
    """An open pull request that changes nothing, for a number the fake knows only as one that takes comments."""
    sha = sha_of(repo, number)
    return {
        "url": f"{url}/repos/{repo}/pulls/{number}", "number": number, "state": "open", "title": f"change {number}",
        "html_url": f"https://github.test/{repo}/pull/{number}", "labels": [], "created_at": iso_time(_EPOCH),
        "head": {"ref": "feature", "sha": sha, "repo": {"full_name": repo}},
        "base": {"ref": "main", "sha": sha, "repo": {"full_name": repo}},
    }  # fmt: skip


def _label(name: str) -> dict[str, Any]:
    return {"id": int(sha_of(name)[:8], 16), "name": name, "color": "ededed", "default": False, "description": None}
