"""The composite action (action.yml) for real: its steps in order, as three consecutive weekly runs of
examples/we-advisor-weekly.yml against the fake GitHub, the store handed from run to run.

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

from analyzer.present.markdown import MARKER
from tests.composite import SHA_PINNED, ActionResult, Services, evaluate, run_action
from tests.fake_export import iso_time
from tests.fake_github import TOKEN, FakeGitHub, assert_store_matches, build_export

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


def weekly(fake: FakeGitHub, services: Services, run_id: int) -> ActionResult:
    fake.reset_stats()
    fake.writes.clear()
    return run_action(
        ROOT, services, run_id=run_id, workflow_ref=f"acme/widgets/{WORKFLOW_PATH}@refs/heads/main", env=PIP_OFFLINE,
        inputs={"repo": "acme/widgets", "pr": str(PR), "since": "30d", "report-since": "7d", "config": "we-advisor.toml"},
    )


@pytest.mark.timeout(600)
def test_three_weekly_runs_hand_the_store_over_and_edit_one_comment(tmp_path: Path) -> None:
    """Week 1 finds no store and fetches everything; the cache is evicted, and week 2 takes week 1's store
    from its artifact (found through the API) and fetches only the runs since; week 3 finds week 2's
    store in the cache and downloads nothing. One comment on the PR: created, then edited twice."""
    now = datetime.now(UTC).replace(microsecond=0)
    folder = build_export(tmp_path / "export", runs=24, jobs_per_run=2, end=now - timedelta(hours=1))
    with FakeGitHub(folder) as fake:
        fake.add_workflow(WORKFLOW_ID, "we-advisor weekly", WORKFLOW_PATH)
        fake.data.files[WORKFLOW_PATH] = EXAMPLE.read_text(encoding="utf-8")
        fake.pulls.add(PR)
        fake.comments[PR] = [{"id": 5, "body": "LGTM, but CI is slow", "user": {"login": "reviewer", "id": 2}}]
        recent = {r["id"] for r in fake.visible_runs() if r["created_at"] > iso_time(now - timedelta(days=2))}
        assert 4 <= len(recent) < 24
        services = Services(tmp_path / "github", fake)

        # week 1: nothing to start from; the newest runs do not exist yet
        fake.hidden = set(recent)
        w1, w2, w3 = 8_000_101, 8_000_202, 8_000_303
        fake.add_run(weekly_run(w1, 1, now - timedelta(days=14), done=False))
        first = weekly(fake, services, w1)
        first_requests, first_writes = len(fake.requests), list(fake.writes)
        older = {r["id"] for r in fake.visible_runs() if r["status"] == "completed"}
        assert jobs_listed(fake) == older
        assert first.outputs["store-run-id"] == ""
        assert "no `we-advisor-store` artifact" in first.step("Find the store of the previous run").stdout
        assert not first.step("Download the store of the previous run").ran
        assert "we-advisor 0.1.0 (store schema" in first.step("Install we-advisor").stdout
        assert [m for m, _, status in first_writes if status < 300] == ["POST"]
        ours = [c for c in fake.comments[PR] if c["user"]["login"] == "github-actions[bot]"]
        assert len(ours) == 1 and MARKER in ours[0]["body"]
        comment_id, first_body = ours[0]["id"], ours[0]["body"]
        assert "weekly" in first.summary.lower() and Path(first.outputs["html"]).is_file()
        assert {a["name"] for a in fake.artifacts[w1]} == {"we-advisor-store", "we-advisor-report"}

        # a week later: GitHub evicted the unused cache; new runs happened, and week 1's run is over
        services.evict_caches()
        fake.hidden = set()
        finish(fake, w1, 1, now - timedelta(days=14))
        fake.add_run(weekly_run(w2, 2, now - timedelta(days=7), done=False))
        second = weekly(fake, services, w2)
        second_requests, second_writes = len(fake.requests), list(fake.writes)
        assert second.outputs["store-run-id"] == str(w1)
        assert second.step("Restore the store from the cache").outputs["cache-matched-key"] == ""
        assert second.step("Download the store of the previous run").ran
        assert jobs_listed(fake) == recent | {w1}  # only what is new since week 1
        assert fetched_about(fake) <= recent | {w1} | jobs_of(fake, recent | {w1})  # not a request about older runs
        assert second_writes == [("PATCH", f"/repos/acme/widgets/issues/comments/{comment_id}", 200)]
        ours = [c for c in fake.comments[PR] if c["user"]["login"] == "github-actions[bot]"]
        assert [c["id"] for c in ours] == [comment_id] and ours[0]["body"] != first_body
        assert fake.comments[PR][0]["body"] == "LGTM, but CI is slow"
        assert_store_matches(fake, second.workspace / STORE)

        # week 3: the cache entry week 2 saved is still there, so the artifact is not downloaded
        finish(fake, w2, 2, now - timedelta(days=7))
        fake.add_run(weekly_run(w3, 3, now, done=False))
        third = weekly(fake, services, w3)
        assert third.outputs["store-run-id"] == str(w2)
        assert third.step("Restore the store from the cache").outputs["cache-hit"] == "true"
        assert not third.step("Download the store of the previous run").ran
        assert jobs_listed(fake) == {w2}
        assert fetched_about(fake) <= {w2} | jobs_of(fake, {w2})
        assert [m for m, _, _ in fake.writes] == ["PATCH"]
        assert len([c for c in fake.comments[PR] if c["user"]["login"] == "github-actions[bot]"]) == 1

    assert second_requests < first_requests
    for result in (first, second, third):
        assert TOKEN not in result.log + result.summary


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


def test_the_actions_the_action_and_the_example_use_are_pinned_and_emulated() -> None:
    """Every third-party action is pinned by a full commit SHA with its version in a comment; the
    example refers to this action by the documented placeholder (or ./ inside this repository)."""
    yaml = YAML(typ="safe", pure=True)
    action = yaml.load((ROOT / "action.yml").read_text())
    flow = yaml.load(EXAMPLE.read_text())
    uses = [s["uses"] for s in action["runs"]["steps"] if "uses" in s]
    uses += [s["uses"] for job in flow["jobs"].values() for s in job["steps"] if "uses" in s]
    ours = [u for u in uses if u.split("@")[0] in ("OWNER/we-advisor", ".")]
    assert ours and all(u == "OWNER/we-advisor@vX" for u in ours)
    for use in set(uses) - set(ours):
        assert SHA_PINNED.match(use), use
    text = (ROOT / "action.yml").read_text() + EXAMPLE.read_text()
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
    ],
)
def test_expressions_are_read_as_github_reads_them(expression: str, expected: bool) -> None:
    context = {"steps": {"skipped": {"outputs": {}}, "plan": {"outputs": {"weekly": "true"}}},
               "inputs": {"pr": "", "store": ".we-advisor/we-advisor.db"}}  # fmt: skip
    assert evaluate(expression, context) is expected
