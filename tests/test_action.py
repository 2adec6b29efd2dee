"""The composite action (action.yml) and the example workflows for real: examples/we-advisor-weekly.yml
job by job (``tests/workflow.py``) as three consecutive scheduled runs against the fake GitHub, the
store handed from run to run, then examples/we-advisor-check.yml on a pull request.

The install step runs as written: ``pip install "$GITHUB_ACTION_PATH"`` builds this checkout with
hatchling and installs it into the job's fresh Python. pip's own environment settings keep that
offline (no index, no dependencies: the job's venv sees this interpreter's packages; no build
isolation: hatchling is a test dependency), so the test stays hermetic and takes about a second.
"""

from __future__ import annotations

import hashlib
import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from analyzer.present.evidence import CHECK_MARKER
from analyzer.present.markdown import MARKER
from tests.composite import SHA_PINNED, STATUS, Services, evaluate, run_action
from tests.fake_export import iso_time
from tests.fake_github import TOKEN, FakeGitHub, assert_store_matches, build_export
from tests.workflow import JobRun, run_workflow

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "we-advisor-weekly.yml"
WORKFLOW_PATH = ".github/workflows/we-advisor-weekly.yml"
WORKFLOW_ID = 13
PR = 7
STORE = ".we-advisor/we-advisor.db"
PIP_OFFLINE = {
    "PIP_CONFIG_FILE": os.devnull, "PIP_NO_INDEX": "1", "PIP_NO_DEPS": "1",
    "PIP_NO_BUILD_ISOLATION": "0",  # pip reads this negative option inverted: "0" switches isolation off
    "PIP_DISABLE_PIP_VERSION_CHECK": "1",
}  # fmt: skip


def weekly_run(run_id: int, number: int, created: datetime, *, done: bool) -> dict[str, Any]:
    """A run of the weekly workflow itself, as the runs API lists it."""
    return {
        "id": run_id, "name": "we-advisor weekly", "display_title": "we-advisor weekly", "path": WORKFLOW_PATH,
        "event": "schedule", "head_branch": "main", "head_sha": hashlib.sha1(str(run_id).encode()).hexdigest(),
        "workflow_id": WORKFLOW_ID, "run_number": number, "run_attempt": 1,
        "status": "completed" if done else "in_progress", "conclusion": "success" if done else None,
        "created_at": iso_time(created), "run_started_at": iso_time(created + timedelta(seconds=5)),
        "updated_at": iso_time(created + timedelta(minutes=3 if done else 0)),
        "repository": {"full_name": "acme/widgets"},
    }  # fmt: skip


def finish(fake: FakeGitHub, run_id: int, number: int, created: datetime) -> None:
    """The weekly run is over: completed, with its one job and that job's log."""
    run = weekly_run(run_id, number, created, done=True)
    start, end = created + timedelta(seconds=10), created + timedelta(minutes=3)
    steps = [{"number": n, "name": name, "status": "completed", "conclusion": "success",
              "started_at": iso_time(start), "completed_at": iso_time(end)}
             for n, name in enumerate(("Set up job", "Run we-advisor", "Complete job"), 1)]  # fmt: skip
    job_id = run_id * 10
    job = {"id": job_id, "run_id": run_id, "run_attempt": 1, "workflow_name": run["name"], "name": "Weekly report",
           "status": "completed", "conclusion": "success", "created_at": iso_time(created), "started_at": iso_time(start),
           "completed_at": iso_time(end), "labels": ["ubuntu-latest"], "runner_name": "GitHub Actions 9",
           "head_branch": "main", "head_sha": run["head_sha"], "steps": steps,
           "check_run_url": f"https://api.github.com/repos/acme/widgets/check-runs/{job_id}"}  # fmt: skip
    stamp = start.strftime("%Y-%m-%dT%H:%M:%S.0000000Z")
    log = f"\ufeff{stamp} ##[group]Run we-advisor\n{stamp} we-advisor fetch\n{stamp} ##[endgroup]\n".encode()
    fake.add_run(run, [job], {job_id: log})


def jobs_listed(fake: FakeGitHub) -> set[int]:
    """The runs whose jobs were asked for (what a fetch fetched)."""
    return {int(m.group(1)) for path, _ in fake.requests if (m := re.search(r"/actions/runs/(\d+)/jobs", path))}


def fetched_about(fake: FakeGitHub) -> set[int]:
    """The run and job ids that requests were about (attempts, jobs, logs, annotations)."""
    pattern = r"/actions/runs/(\d+)/(?:jobs|attempts|logs)|/actions/jobs/(\d+)|/check-runs/(\d+)"
    return {int(next(g for g in m.groups() if g)) for path, _ in fake.requests if (m := re.search(pattern, path))}


def jobs_of(fake: FakeGitHub, runs: set[int]) -> set[int]:
    return {job["id"] for run in runs for job in fake.data.jobs.get(run, [])}


CHECK_EXAMPLE = ROOT / "examples" / "we-advisor-check.yml"
TIMEOUTS_PR_LABEL = "we-advisor"
CONFIG = (
    'repo = "acme/widgets"\nmin_samples = 5\n'
    "[[timeouts]]\nstep = \"Run make test\"\njob = \"test\"\nfile = \"test/helper.go\"\npattern = '--timeout=(\\d+)s'\n"
)


def ci_workflow(name: str, minutes: int) -> str:
    """A workflow whose matrix job makes the export's jobs ``test (0)`` and ``test (1)``."""
    return (f"name: {name}\non: [push]\njobs:\n  test:\n    runs-on: ubuntu-latest\n    timeout-minutes: {minutes}\n"
            "    strategy:\n      matrix:\n        k: [0, 1]\n    steps:\n      - uses: actions/checkout@v4\n"
            "      - run: make test-${{ matrix.k }}\n")  # fmt: skip


def helper_go(seconds: int) -> str:
    return f'package e2e\n\nfunc waitReady() {{\n\tkubectl("wait", "--timeout={seconds}s")\n}}\n'


def repository() -> dict[str, str]:
    """The analysed repository at its default branch: what actions/checkout puts in the workspace."""
    return {
        ".github/workflows/ci.yml": ci_workflow("CI", 3),  # far below the jobs' durations: too tight
        # far above anything the data could need; a 30-minute limit on these 10-minute jobs is kept (a cut to a
        # value that rests on a tail fitted to a dozen runs waits for more runs)
        ".github/workflows/e2e.yml": ci_workflow("E2E", 360),
        WORKFLOW_PATH: EXAMPLE.read_text(encoding="utf-8"),
        ".github/workflows/we-advisor-check.yml": CHECK_EXAMPLE.read_text(encoding="utf-8"),
        "we-advisor.toml": CONFIG,
        "test/helper.go": helper_go(300),
    }


def monday(fake: FakeGitHub, services: Services, run_id: int, workflow: str | None = None) -> dict[str, JobRun]:
    """One scheduled run of the example workflow, copied as is (or as ``workflow`` says), with no input."""
    fake.reset_stats()
    fake.writes.clear()
    return run_workflow(
        workflow or EXAMPLE.read_text(encoding="utf-8"), services, run_id=run_id, checkout=repository(), env=PIP_OFFLINE,
        workflow_ref=f"acme/widgets/{WORKFLOW_PATH}@refs/heads/main",
    )  # fmt: skip


def bot_comments(fake: FakeGitHub, pr: int, marker: str = MARKER) -> list[dict[str, Any]]:
    return [c for c in fake.comments.get(pr, []) if c["user"]["login"] == "github-actions[bot]" and marker in c["body"]]


@pytest.mark.timeout(900)
def test_mondays_with_nobody_pressing_a_button(tmp_path: Path) -> None:
    """examples/we-advisor-weekly.yml as it is, on the schedule, no PR number anywhere:

    week 1: no store; `apply` opens the timeouts pull request (labelled we-advisor) and `comment` puts
    the weekly report on it; week 2: the cache was evicted, the store comes from week 1's artifact and
    only the new runs are fetched; the same pull request is updated and the same comment edited;
    week 3 (a repository that turned `apply` off): the store from the cache, the comment found by its
    label and edited again. Then a pull request raising a `--timeout=` gets one evidence comment from
    examples/we-advisor-check.yml, which starts from the weekly workflow's store; one from a fork is
    skipped. The report job never holds a token that can write to a pull request."""
    now = datetime.now(UTC).replace(microsecond=0)
    folder = build_export(tmp_path / "export", runs=24, jobs_per_run=2, end=now - timedelta(hours=1))
    with FakeGitHub(folder) as fake:
        fake.add_workflow(WORKFLOW_ID, "we-advisor weekly", WORKFLOW_PATH)
        fake.data.files.update({k: v for k, v in repository().items() if k.startswith(".github/") and "check" not in k})
        recent = {r["id"] for r in fake.visible_runs() if r["created_at"] > iso_time(now - timedelta(days=2))}
        assert 4 <= len(recent) < 24
        services = Services(tmp_path / "github", fake)
        logs: list[str] = []

        # week 1: nothing to start from; the newest runs do not exist yet
        fake.hidden = set(recent)
        w1, w2, w3, w4 = 8_000_101, 8_000_202, 8_000_303, 8_000_404
        fake.add_run(weekly_run(w1, 1, now - timedelta(days=14), done=False))
        first = monday(fake, services, w1)
        requests = [len(fake.requests)]
        logs += [job.log + job.summary for job in first.values()]
        assert {k: j.result for k, j in first.items()} == {"report": "success", "apply": "success", "comment": "success"}, first
        report = first["report"]
        older = {r["id"] for r in fake.visible_runs() if r["status"] == "completed"}
        assert jobs_listed(fake) == older
        assert report.step("we-advisor").outputs["store-run-id"] == ""
        assert "no `we-advisor-store` artifact" in report.step("Find the store of the previous run").stdout
        assert not report.step("Upsert the pull-request comment").ran  # the comment job posts it
        assert first["apply"].step("Open or update the pull request").outputs["pull-request-operation"] == "created"
        pr = int(first["apply"].outputs["pr"])
        timeouts_pr = fake.pull_requests.items[pr]
        assert (timeouts_pr.labels, timeouts_pr.state) == ([TIMEOUTS_PR_LABEL], "open")
        # CI's 3 minutes were too tight, E2E's 360 too loose: both workflow files change, nothing else
        assert [f["filename"] for f in timeouts_pr.files] == [".github/workflows/ci.yml", ".github/workflows/e2e.yml"]
        assert [(m, path) for m, path, status in fake.writes if status < 300] == [("POST", f"/repos/acme/widgets/issues/{pr}/comments")]
        [ours] = bot_comments(fake, pr)
        comment_id, first_body = ours["id"], ours["body"]
        assert f"comment created on acme/widgets#{pr} (--pr)" in first["comment"].step("Upsert the weekly report comment").stderr
        assert {a["name"] for a in fake.artifacts[w1]} == {"we-advisor-store", "we-advisor-report"}
        fake.add_comment(pr, "reviewer", "LGTM, but CI is slow")

        # a week later: GitHub evicted the unused cache; new runs happened, and week 1's run is over
        services.evict_caches()
        fake.hidden = set()
        finish(fake, w1, 1, now - timedelta(days=14))
        fake.add_run(weekly_run(w2, 2, now - timedelta(days=7), done=False))
        second = monday(fake, services, w2)
        requests.append(len(fake.requests))
        logs += [job.log + job.summary for job in second.values()]
        report = second["report"]
        assert report.step("we-advisor").outputs["store-run-id"] == str(w1)
        assert report.step("Restore the store from the cache").outputs["cache-matched-key"] == ""
        assert report.step("Download the store of the previous run").ran
        assert jobs_listed(fake) == recent | {w1}  # only what is new since week 1
        assert fetched_about(fake) <= recent | {w1} | jobs_of(fake, recent | {w1})  # not a request about older runs
        assert report.workspace is not None
        assert_store_matches(fake, report.workspace / STORE)
        assert second["apply"].outputs["pr"] == str(pr)  # the same pull request, updated
        assert second["apply"].step("Open or update the pull request").outputs["pull-request-operation"] == "updated"
        assert [w for w in fake.writes if w[0] in ("POST", "PATCH")] == [("PATCH", f"/repos/acme/widgets/issues/comments/{comment_id}", 200)]
        [ours] = bot_comments(fake, pr)
        assert ours["id"] == comment_id and ours["body"] != first_body
        assert [c["body"] for c in fake.comments[pr] if c["user"]["login"] == "reviewer"] == ["LGTM, but CI is slow"]

        # week 3, `apply` turned off: the cache entry week 2 saved is there; the label finds the pull request
        finish(fake, w2, 2, now - timedelta(days=7))
        fake.add_run(weekly_run(w3, 3, now, done=False))
        without_apply = EXAMPLE.read_text(encoding="utf-8").replace("    needs: report\n", "    needs: report\n    if: false\n", 1)
        third = monday(fake, services, w3, without_apply)
        requests.append(len(fake.requests))
        logs += [job.log + job.summary for job in third.values()]
        assert {k: j.result for k, j in third.items()} == {"report": "success", "apply": "skipped", "comment": "success"}
        report = third["report"]
        assert report.step("we-advisor").outputs["store-run-id"] == str(w2)
        assert report.step("Restore the store from the cache").outputs["cache-hit"] == "true"
        assert not report.step("Download the store of the previous run").ran
        assert jobs_listed(fake) == {w2}
        label_line = f"comment updated on acme/widgets#{pr} (the newest open pull request labelled 'we-advisor')"
        assert label_line in third["comment"].step("Upsert the weekly report comment").stderr
        assert [w[0] for w in fake.writes] == ["PATCH"] and len(bot_comments(fake, pr)) == 1

        # a pull request raises the Go helper's --timeout: the check workflow weighs it against week 3's store
        finish(fake, w3, 3, now)
        fake.add_pull(200, base=repository(), head={"test/helper.go": helper_go(900)})
        fake.reset_stats()
        event = {"pull_request": {"number": 200, "head": {"repo": {"full_name": "acme/widgets"}}}}
        checked = run_workflow(CHECK_EXAMPLE, services, run_id=w4, checkout=repository(), env=PIP_OFFLINE, event="pull_request",
                               event_payload=event, workflow_ref="acme/widgets/.github/workflows/we-advisor-check.yml@refs/pull/200/merge")  # fmt: skip
        requests.append(len(fake.requests))
        logs += [job.log + job.summary for job in checked.values()]
        job = checked["check"]
        assert job.result == "success", job.error
        assert job.step("we-advisor check").outputs["store-run-id"] == str(w3)
        assert job.step("Restore the store from the cache").outputs["cache-hit"] == "true"
        assert not job.step("Fetch CI history").ran and not job.step("Keep the store for the next run").ran
        assert w4 not in fake.artifacts
        [evidence] = bot_comments(fake, 200, CHECK_MARKER)
        assert "--timeout=300s → --timeout=900s" in evidence["body"] and "Run make test-0" in evidence["body"]
        assert "check: 1 timeout change(s) in acme/widgets#200" in job.step("Check the pull request's timeout changes").stderr
        fork = {"pull_request": {"number": 200, "head": {"repo": {"full_name": "someone/widgets"}}}}
        assert run_workflow(CHECK_EXAMPLE, services, run_id=w4 + 1, checkout=repository(), event="pull_request",
                            event_payload=fork)["check"].result == "skipped"  # fmt: skip

    assert requests[1] < requests[0]
    print(f"requests per run: weeks 1-3 {requests[:3]}, the check {requests[3]}")
    for text in logs:
        assert TOKEN not in text


def test_install_only_sets_up_we_advisor_and_nothing_else(tmp_path: Path) -> None:
    """The `apply` job's use of the action: Python and we-advisor, no fetch, store, report or comment."""
    folder = build_export(tmp_path / "export", runs=2, jobs_per_run=1)
    with FakeGitHub(folder) as fake:
        services = Services(tmp_path / "github", fake)
        result = run_action(ROOT, services, run_id=1, workflow_ref=f"acme/widgets/{WORKFLOW_PATH}@refs/heads/main",
                            env=PIP_OFFLINE, inputs={"install-only": "true"})  # fmt: skip
        ran = [s.name for s in result.steps if s.ran]
        assert ran == ["Set up Python", "Plan the caches and the store handover", "Restore pip's cache",
                       "Install we-advisor", "Save pip's cache"]  # fmt: skip
        assert fake.stats.total == 0 and not fake.artifacts


def test_the_actions_the_action_and_the_examples_use_are_pinned_and_emulated() -> None:
    """Every third-party action is pinned by a full commit SHA with its version in a comment; the
    examples refer to this action by the documented placeholder (or ./ inside this repository)."""
    yaml = YAML(typ="safe", pure=True)
    action = yaml.load((ROOT / "action.yml").read_text())
    uses = [s["uses"] for s in action["runs"]["steps"] if "uses" in s]
    for example in (EXAMPLE, CHECK_EXAMPLE):
        flow = yaml.load(example.read_text())
        uses += [s["uses"] for job in flow["jobs"].values() for s in job["steps"] if "uses" in s]
    ours = [u for u in uses if u.split("@")[0] in ("OWNER/we-advisor", ".")]
    assert len(ours) == 4 and all(u == "OWNER/we-advisor@vX" for u in ours)
    for use in set(uses) - set(ours):
        assert SHA_PINNED.match(use), use
    text = (ROOT / "action.yml").read_text() + EXAMPLE.read_text() + CHECK_EXAMPLE.read_text()
    for line in text.splitlines():
        if re.search(r"uses: \S+@[0-9a-f]{40}", line):
            assert re.search(r"@[0-9a-f]{40} # v\d+\.\d+\.\d+$", line), line


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("steps.skipped.outputs.run-id != ''", False),  # a skipped step's output is null, and null == ''
        ("steps.plan.outputs.weekly == 'TRUE'", True),  # strings compare ignoring case
        ("steps.plan.outputs.weekly == 'true' && inputs.pr != ''", False),
        ("!(inputs.pr == '') || steps.plan.outputs.weekly == 'true'", True),
        ("contains(inputs.store, '://')", False),
        ("!cancelled() && needs.report.result == 'success'", True),  # the comment job after a skipped apply
        ("success() && needs.report.result == 'success'", False),  # success() sees the skipped need
        ("inputs.pr || needs.apply.outputs.pr", "12"),
    ],
)
def test_expressions_are_read_as_github_reads_them(expression: str, expected: object) -> None:
    context = {"steps": {"skipped": {"outputs": {}}, "plan": {"outputs": {"weekly": "true"}}},
               "inputs": {"pr": "", "store": ".we-advisor/we-advisor.db"},
               "needs": {"report": {"result": "success"}, "apply": {"result": "skipped", "outputs": {"pr": "12"}}},
               STATUS: "skipped"}  # fmt: skip
    assert evaluate(expression, context) == expected
