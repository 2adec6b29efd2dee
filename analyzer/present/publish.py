"""Publishing a report as one comment on a pull request, edited in place.

A comment is found again by its marker (a hidden HTML comment the body starts with: the weekly
report's ``MARKER``, the timeout check's ``CHECK_MARKER``) and its author. Writes are never retried
blindly: a POST whose answer was lost may have been written, so after a failed POST the comments
are listed again, and a comment found there counts as created.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from analyzer.collect.github import DEFAULT_API_URL, PER_PAGE, ClientPolicy, GitHubClient, PostedComment
from analyzer.errors import AuthError, GitHubError, NotFoundError
from analyzer.present.markdown import MARKER


@dataclass(frozen=True, slots=True)
class CommentResult:
    """What a comment command did: ``created``, ``updated`` or ``unchanged`` (the body was already
    there), ``dry-run`` (nothing sent), ``skipped`` (no pull request to comment on) or ``none`` (nothing
    to say), with the body, the comment's address and the pull request (``pr``, ``how`` it was chosen)."""

    body: str
    action: str
    url: str = ""
    pr: int | None = None
    how: str = ""
    repo: str = ""


def find_marked(comments: Iterable[PostedComment], author: str, marker: str = MARKER) -> PostedComment | None:
    """The comment to edit: the oldest one carrying ``marker`` written by ``author``."""
    for comment in comments:
        if comment.author.lower() == author.lower() and marker in comment.body:
            return comment
    return None


def _listing(repo: str, pr: int) -> tuple[str, str]:
    return f"/repos/{repo}/issues/{pr}/comments?per_page={PER_PAGE}", f"comments of {repo}#{pr}"


def our_comment(client: GitHubClient, repo: str, pr: int, marker: str = MARKER) -> PostedComment | None:
    """Our comment on ``repo#pr`` carrying ``marker`` (written by the token's account), if there is one."""
    url, what = _listing(repo, pr)
    return find_marked(client.list_comments(url, what=what), client.login(), marker)


def edit_comment(client: GitHubClient, repo: str, pr: int, found: PostedComment, body: str) -> CommentResult:
    """Replace ``found``'s body (no write when it already says ``body``)."""
    if found.body == body:
        return CommentResult(body, "unchanged", found.url, pr, repo=repo)
    data = client.write("PATCH", f"/repos/{repo}/issues/comments/{found.id}", {"body": body}, what=f"comments of {repo}#{pr}")
    return CommentResult(body, "updated", str(data.get("html_url") or found.url), pr, repo=repo)


def upsert_comment(client: GitHubClient, repo: str, pr: int, body: str, marker: str = MARKER) -> CommentResult:
    """Create the comment carrying ``marker`` on ``repo#pr``, or edit ours if there is one."""
    url, what = _listing(repo, pr)
    author = client.login()
    found = find_marked(client.list_comments(url, what=what), author, marker)
    if found is not None:
        return edit_comment(client, repo, pr, found, body)
    try:
        data = client.write("POST", f"/repos/{repo}/issues/{pr}/comments", {"body": body}, what=what)
    except GitHubError as exc:
        if isinstance(exc, AuthError | NotFoundError):
            raise
        again = find_marked(client.list_comments(url, what=what), author, marker)
        if again is None:
            raise
        return CommentResult(body, "created", again.url, pr, repo=repo)
    return CommentResult(body, "created", str(data.get("html_url") or ""), pr, repo=repo)


def upsert_pr_comment(
    repo: str, pr: int, body: str, *, token: str, api_url: str | None = None, policy: ClientPolicy | None = None,
    marker: str = MARKER,
) -> CommentResult:  # fmt: skip
    """``upsert_comment`` with a client of its own."""
    with GitHubClient(token, api_url=api_url or DEFAULT_API_URL, policy=policy) as client:
        return upsert_comment(client, repo, pr, body, marker)
