"""``we-advisor comment`` against the fake GitHub on 127.0.0.1 (real HTTP, real PyGithub).

The fake (``fake_github``) speaks the few REST shapes the upsert needs: ``GET /user``, issue
comments listed with ``Link`` pagination, ``POST`` to create and ``PATCH`` to edit. It records every
write, so a test can assert what was written, and can drop the response of a write that did happen.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from analyzer.cli import app
from analyzer.collect.github import PostedComment
from analyzer.errors import AuthError, NotFoundError
from analyzer.parse.logs import PARSER_VERSION
from analyzer.parse.observe import rules_fingerprint
from analyzer.present.markdown import MARKER
from analyzer.present.publish import find_marked, upsert_pr_comment
from analyzer.present.text import md_text, mermaid_text
from analyzer.records import Job, Observation, Run, parse_iso
from analyzer.store import Store
from tests.fake_github import ACTIONS_BOT, COMMENT_PR, EMPTY_REPO, TOKEN, FakeGitHub

REPO = EMPTY_REPO
PR = str(COMMENT_PR)


def _store(path: Path, job_name: str = "e2e") -> Path:
    """A tiny store: ten runs of one job with one step, saved through the real store API."""
    with Store(path) as db:
        for n in range(10):
            start = parse_iso(f"2026-03-0{1 + n % 7}T10:00:00Z")
            db.save_run(Run(repo=REPO, run_id=n + 1, run_attempt=1, workflow_name="E2E", created_at=start))
            job = Job(repo=REPO, job_id=100 + n, run_id=n + 1, run_attempt=1, workflow_name="E2E", name=job_name,
                      conclusion="success", started_at=start)
            db.save_job(job)
            obs = [
                Observation("job", REPO, "E2E", job_name, None, None, n + 1, 1, 100 + n, start, 600.0 + n, "success", False),
                Observation("step", REPO, "E2E", job_name, "Run @octocat <img src=x onerror=alert(1)>", None, n + 1, 1,
                            100 + n, start, 500.0 + n, "success", False, step_number=2),
            ]
            db.save_analysis(job.job_id, obs, None, parser_version=PARSER_VERSION,
                             rules_hash=rules_fingerprint(()))
    return path


def run_cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def test_two_runs_leave_exactly_one_comment_edited_the_second_time(comment_github: FakeGitHub, tmp_path: Path) -> None:
    """The first run creates the comment, the second edits it: one comment, one POST, one PATCH."""
    comment_github.add_comment(COMMENT_PR, "someone-else", f"{MARKER} not ours: another author's marker is left alone")
    comment_github.add_comment(COMMENT_PR, ACTIONS_BOT, "an unrelated comment by the same user")
    db = str(_store(tmp_path / "s.db"))
    env = {"GITHUB_TOKEN": TOKEN, "GH_TOKEN": ""}
    code, out, err = run_cli("comment", "--repo", REPO, "--pr", PR, "--api-url", comment_github.url, "--store", db, env=env)
    assert code == 0, err
    assert "comment created" in err
    comment_github.comments[COMMENT_PR][-1]["body"] = comment_github.comments[COMMENT_PR][-1]["body"].replace("Week", "Last week")  # stale report
    code, _, err = run_cli("comment", "--repo", REPO, "--pr", PR, "--api-url", comment_github.url, "--store", db, env=env)
    assert code == 0, err
    assert "comment updated" in err
    ours = [c for c in comment_github.comments[COMMENT_PR] if c["user"]["login"] == ACTIONS_BOT and MARKER in c["body"]]
    assert len(ours) == 1
    assert "Last week" not in ours[0]["body"]
    assert [m for m, _, _ in comment_github.writes] == ["POST", "PATCH"]
    assert TOKEN not in out + err


def test_dry_run_prints_the_body_and_writes_nothing(comment_github: FakeGitHub, tmp_path: Path) -> None:
    """--dry-run prints the Markdown and sends nothing at all (no token needed)."""
    db = str(_store(tmp_path / "s.db"))
    code, out, err = run_cli("comment", "--repo", REPO, "--pr", PR, "--api-url", comment_github.url, "--store", db, "--dry-run",
                             env={"GITHUB_TOKEN": "", "GH_TOKEN": ""})
    assert code == 0, err
    assert out.startswith(MARKER)
    assert comment_github.stats.total == 0 and comment_github.writes == []


def test_log_text_cannot_ping_or_inject_markup(tmp_path: Path) -> None:
    """A step name carrying @octocat and an <img onerror> arrives inert in the comment body."""
    db = str(_store(tmp_path / "s.db", job_name="e2e @octocat <img src=x onerror=alert(1)>"))
    code, out, _ = run_cli("comment", "--repo", REPO, "--pr", PR, "--store", db, "--dry-run")
    assert code == 0
    assert "@octocat" not in out and "@\u200boctocat" in out
    assert "<img" not in out and "&lt;img" in out


def test_lost_response_to_a_create_is_not_repeated_into_a_duplicate(comment_github: FakeGitHub) -> None:
    """A POST that succeeded but answered 502 is found by re-listing: still exactly one comment."""
    comment_github.fail_next_post_after_write = True
    body = f"{MARKER}\nhello"
    outcome = upsert_pr_comment(REPO, COMMENT_PR, body, token=TOKEN, api_url=comment_github.url)
    assert outcome.action == "created"
    assert len(comment_github.comments[COMMENT_PR]) == 1
    assert [m for m, _, _ in comment_github.writes] == ["POST"]


def test_bad_token_is_an_auth_error_without_the_token(comment_github: FakeGitHub) -> None:
    with pytest.raises(AuthError) as info:
        upsert_pr_comment(REPO, COMMENT_PR, f"{MARKER}\nx", token="wrong", api_url=comment_github.url)
    assert "wrong" not in info.value.message


def test_unknown_pull_request_is_not_found(comment_github: FakeGitHub) -> None:
    with pytest.raises(NotFoundError):
        upsert_pr_comment(REPO, COMMENT_PR + 1, f"{MARKER}\nx", token=TOKEN, api_url=comment_github.url)


def test_comment_without_token_explains_what_to_set(tmp_path: Path) -> None:
    """No token and no --dry-run: exit 1 with a hint, nothing sent."""
    db = str(_store(tmp_path / "s.db"))
    code, _, err = run_cli("comment", "--repo", REPO, "--pr", PR, "--store", db, env={"GITHUB_TOKEN": "", "GH_TOKEN": ""})
    assert code == 1
    assert "error: no GitHub token to comment with" in err
    assert "hint: set GITHUB_TOKEN or GH_TOKEN" in err


# -- finding the pull request: --pr, [comment] pr, the label ------------------------------------


def _config(tmp_path: Path, text: str) -> str:
    path = tmp_path / "we-advisor.toml"
    path.write_text(f'repo = "{REPO}"\n{text}', encoding="utf-8")
    return str(path)


def _ours(fake: FakeGitHub, pr: int) -> list[dict[str, object]]:
    return [c for c in fake.comments.get(pr, []) if c["user"]["login"] == ACTIONS_BOT and MARKER in c["body"]]


def test_the_configured_pull_request_needs_neither_repo_nor_pr(comment_github: FakeGitHub, tmp_path: Path) -> None:
    """repo and [comment] pr in we-advisor.toml: `we-advisor comment` with no options comments there."""
    db, config = str(_store(tmp_path / "s.db")), _config(tmp_path, "[comment]\npr = 7\n")
    env = {"GITHUB_TOKEN": TOKEN, "GH_TOKEN": ""}
    code, out, err = run_cli("comment", "--api-url", comment_github.url, "--store", db, "--config", config, env=env)
    assert code == 0, err
    assert f"comment created on {REPO}#7 ([comment] pr in {config})" in err
    assert len(_ours(comment_github, 7)) == 1 and out == ""


def test_the_newest_open_labelled_pull_request_gets_the_comment(comment_github: FakeGitHub, tmp_path: Path) -> None:
    """No --pr, no [comment] pr: the newest open pull request labelled we-advisor, found past a page of
    labelled issues, closed pull requests and pull requests with other labels; the next run edits it."""
    fake = comment_github
    fake.add_pull(11, labels=("we-advisor",))
    fake.add_pull(12, labels=("bug", "We-Advisor"))  # GitHub matches labels ignoring case
    fake.add_pull(13, labels=("we-advisor",), state="closed")
    fake.add_pull(14, labels=("other",))
    for n in range(100, 230):  # newer issues (not pull requests) carrying the label: two pages of them
        fake.add_pull(n, labels=("we-advisor",), is_pull=False)
    db, env = str(_store(tmp_path / "s.db")), {"GITHUB_TOKEN": TOKEN, "GH_TOKEN": ""}
    args = ("comment", "--repo", REPO, "--api-url", fake.url, "--store", db)
    code, _, err = run_cli(*args, env=env)
    assert code == 0, err
    assert f"comment created on {REPO}#12 (the newest open pull request labelled 'we-advisor')" in err
    listed = [path for path, _ in fake.requests if "/issues?" in path]
    assert len(listed) == 2 and "labels=we-advisor" in listed[0] and "state=open" in listed[0]
    code, _, err = run_cli(*args, env=env)
    assert code == 0 and "comment unchanged on" in err, err  # the same report again: no write
    _ours(fake, 12)[0]["body"] = f"{MARKER}\nlast week's report"
    code, _, err = run_cli(*args, env=env)
    assert code == 0 and "comment updated on" in err, err
    assert [len(_ours(fake, n)) for n in (11, 12, 13, 14)] == [0, 1, 0, 0]
    assert [m for m, _, _ in fake.writes] == ["POST", "PATCH"]


@pytest.mark.parametrize("how", ["config", "option"])
def test_another_label(comment_github: FakeGitHub, tmp_path: Path, how: str) -> None:
    """[comment] label (or --label) names the label to look for."""
    comment_github.add_pull(21, labels=("ci-report",))
    comment_github.add_pull(22, labels=("we-advisor",))
    db = str(_store(tmp_path / "s.db"))
    extra = ("--label", "ci-report") if how == "option" else ("--config", _config(tmp_path, '[comment]\nlabel = "ci-report"\n'))
    code, _, err = run_cli("comment", "--repo", REPO, "--api-url", comment_github.url, "--store", db, *extra,
                           env={"GITHUB_TOKEN": TOKEN, "GH_TOKEN": ""})  # fmt: skip
    assert code == 0, err
    assert [len(_ours(comment_github, n)) for n in (21, 22)] == [1, 0]


def test_no_pull_request_to_comment_on(comment_github: FakeGitHub, tmp_path: Path) -> None:
    """No labelled pull request: an error and a hint; with --no-pr-ok (schedules) the report on stdout, a
    notice and exit 0. Nothing is written either way."""
    comment_github.add_pull(31, labels=("we-advisor",), state="closed")
    db, env = str(_store(tmp_path / "s.db")), {"GITHUB_TOKEN": TOKEN, "GH_TOKEN": ""}
    args = ("comment", "--repo", REPO, "--api-url", comment_github.url, "--store", db)
    code, out, err = run_cli(*args, env=env)
    assert (code, out) == (1, "")
    assert err.splitlines() == [
        f"error: no open pull request of {REPO} is labelled 'we-advisor'",
        "hint: label the pull request to comment on 'we-advisor', set [comment] pr in we-advisor.toml or pass --pr "
        "(--no-pr-ok: report without commenting, for scheduled runs)",
    ]
    code, out, err = run_cli(*args, "--no-pr-ok", env=env)
    assert code == 0, err
    assert out.startswith(MARKER)
    assert err.splitlines()[-1] == ("notice: no pull request to comment on (no --pr, no [comment] pr and no open pull "
                                    "request labelled 'we-advisor'); the report went to stdout, nothing was posted")
    assert err.splitlines()[0].startswith("report period: ")  # the windows the report rests on, as every history command
    assert comment_github.writes == []


def test_dry_run_without_a_pull_request_asks_github_nothing(comment_github: FakeGitHub, tmp_path: Path) -> None:
    db = str(_store(tmp_path / "s.db"))
    code, out, err = run_cli("comment", "--repo", REPO, "--api-url", comment_github.url, "--store", db, "--dry-run",
                             env={"GITHUB_TOKEN": "", "GH_TOKEN": ""})  # fmt: skip
    assert code == 0, err
    assert out.startswith(MARKER)
    assert "the comment would go to the newest open pull request labelled 'we-advisor' (not looked up)" in err
    assert comment_github.stats.total == 0


def test_a_token_that_cannot_write_is_one_error_with_the_permission_to_add(comment_github: FakeGitHub, tmp_path: Path) -> None:
    """403 on the write (a job without pull-requests: write): the error names the refusal, the hint the
    permission; nothing is created, and the token is in neither line."""
    comment_github.read_only = True
    db = str(_store(tmp_path / "s.db"))
    code, out, err = run_cli("comment", "--repo", REPO, "--pr", PR, "--api-url", comment_github.url, "--store", db,
                             env={"GITHUB_TOKEN": TOKEN, "GH_TOKEN": ""})  # fmt: skip
    assert (code, out) == (1, "")
    error, hint = err.splitlines()
    assert error == f"error: GitHub refused access to comments of {REPO}#7: Resource not accessible by integration"
    assert hint.startswith("hint: the token needs `pull-requests: write` to comment")
    assert comment_github.comments.get(COMMENT_PR, []) == [] and [s for _, _, s in comment_github.writes] == [403]
    assert TOKEN not in err


def test_a_closed_configured_pull_request_is_commented_with_a_warning(comment_github: FakeGitHub, tmp_path: Path) -> None:
    comment_github.add_pull(41, state="closed")
    db, config = str(_store(tmp_path / "s.db")), _config(tmp_path, "[comment]\npr = 41\n")
    code, _, err = run_cli("comment", "--api-url", comment_github.url, "--store", db, "--config", config,
                           env={"GITHUB_TOKEN": TOKEN, "GH_TOKEN": ""})  # fmt: skip
    assert code == 0, err
    assert f"warning: pull request {REPO}#41 is closed; commenting on it all the same" in err
    assert len(_ours(comment_github, 41)) == 1


def test_find_marked_picks_our_oldest_marked_comment() -> None:
    comments = [PostedComment(1, "bot", "plain"), PostedComment(2, "other", MARKER), PostedComment(3, "Bot", MARKER + "x"),
                PostedComment(4, "bot", MARKER)]
    found = find_marked(comments, "bot")
    assert found is not None and found.id == 3


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ping @octocat", "ping @\u200boctocat"),
        ("<script>x</script>", "&lt;script&gt;x&lt;/script&gt;"),
        ("[x](javascript:alert(1))", "\\[x\\]\\(javascript:alert\\(1\\)\\)"),
        ("![i](http://e/x.png)", "\\!\\[i\\]\\(http:\u200b//e/x.png\\)"),
        ("see https://evil.example/a, _www.evil.example", "see https:\u200b//evil.example/a, \\_www\u200b.evil.example"),
        ("mail me@evil.example", "mail me@\u200bevil.example"),
        ("see #12", "see \\#\u200b12"),
        ("fixes GH-12, gh-3, UGH-4", "fixes GH-\u200b12, gh-\u200b3, UGH-4"),
        ("a | b\nc", "a \\| b c"),
        ("echo ${{ env.X }} costs $x^2$", "echo \\$\\{\\{ env.X \\}\\} costs \\$x^2\\$"),
        ("a\x1b]0;x\x07b\x1b[2J\x9b\x7f", "a\u241b\\]0;x\u2407b\u241b\\[2J\ufffd\u2421"),
    ],
)
def test_md_text_neutralizes(raw: str, expected: str) -> None:
    assert md_text(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Run make test-e2e", "Run make test-e2e"),
        ("a: b # c; d `e`", "a b c d e"),
        ("click s1 call alert(1)", "- click s1 call alert(1)"),  # would be a click statement
        ("Title check", "- Title check"),  # the lexer is case-insensitive
        ("section x", "- section x"),
        ("2026-01-01 deploy", "- 2026-01-01 deploy"),
        ("Calling the API", "Calling the API"),
        ("<>", "unnamed"),
    ],
)
def test_mermaid_text_is_a_plain_task_name(raw: str, expected: str) -> None:
    assert mermaid_text(raw) == expected
