"""Publishing the weekly Markdown report as one comment on a pull request, edited in place.

The comment is found again by ``MARKER`` (a hidden HTML comment the Markdown report starts with)
and its author. Writes are never retried blindly: a POST whose answer was lost may have been
written, so after a failed POST the comments are listed again, and a comment found there counts
as created.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from analyzer.collect.github import DEFAULT_API_URL, PER_PAGE, ClientPolicy, GitHubClient, PostedComment
from analyzer.errors import AuthError, GitHubError, NotFoundError
from analyzer.present.markdown import MARKER


@dataclass(frozen=True, slots=True)
class CommentResult:
    """What ``comment`` did: ``created`` or ``updated`` (or ``dry-run``: nothing sent), with the body
    and the comment's address."""

    body: str
    action: str
    url: str = ""


def find_marked(comments: Iterable[PostedComment], author: str) -> PostedComment | None:
    """The report comment to edit: the oldest one carrying ``MARKER`` written by ``author``."""
    for comment in comments:
        if comment.author.lower() == author.lower() and MARKER in comment.body:
            return comment
    return None


def upsert_pr_comment(
    repo: str, pr: int, body: str, *, token: str, api_url: str | None = None, policy: ClientPolicy | None = None
) -> CommentResult:
    """Create the report comment on ``repo#pr``, or edit ours (found by ``MARKER``) if there is one."""
    with GitHubClient(token, api_url=api_url or DEFAULT_API_URL, policy=policy) as client:
        author = client.login()
        url = f"/repos/{repo}/issues/{pr}/comments?per_page={PER_PAGE}"
        what = f"comments of {repo}#{pr}"
        found = find_marked(client.list_comments(url, what=what), author)
        if found is not None:
            data = client.write("PATCH", f"/repos/{repo}/issues/comments/{found.id}", {"body": body}, what=what)
            return CommentResult(body, "updated", str(data.get("html_url") or ""))
        try:
            data = client.write("POST", f"/repos/{repo}/issues/{pr}/comments", {"body": body}, what=what)
        except GitHubError as exc:
            if isinstance(exc, AuthError | NotFoundError):
                raise
            again = find_marked(client.list_comments(url, what=what), author)
            if again is None:
                raise
            return CommentResult(body, "created", again.url)
        return CommentResult(body, "created", str(data.get("html_url") or ""))
