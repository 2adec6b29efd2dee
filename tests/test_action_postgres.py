"""The composite action with a team store: ``store`` is a PostgreSQL URL from a secret.

A weekly run of the action against the fake GitHub and the private PostgreSQL server: the
PostgreSQL extra is installed, nothing is handed over (no artifact, no cache of the store), the
runs land in the database, the report and the comment are written from it, and the password
(masked for the runner) shows in no step's output. (Incremental fetches on PostgreSQL:
tests/test_postgres.py.)
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from analyzer.store import Store
from tests.composite import Services, run_action
from tests.fake_export import iso_time
from tests.fake_github import TOKEN, FakeGitHub, build_export
from tests.postgres import PASSWORD
from tests.test_action import EXAMPLE, PIP_OFFLINE, PR, WORKFLOW_ID, WORKFLOW_PATH, weekly_run

ROOT = Path(__file__).resolve().parents[1]
COLLECT = ROOT / "examples" / "we-advisor-collect.yml"


def weekly(fake: FakeGitHub, services: Services, run_id: int, store: str):  # type: ignore[no-untyped-def]
    fake.reset_stats()
    return run_action(
        ROOT, services, run_id=run_id, workflow_ref=f"acme/widgets/{WORKFLOW_PATH}@refs/heads/main", env=PIP_OFFLINE,
        inputs={"repo": "acme/widgets", "pr": str(PR), "since": "30d", "report-since": "7d", "store": store},
    )


@pytest.mark.timeout(600)
def test_a_weekly_run_on_a_postgresql_store(tmp_path: Path, pg_url: str) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    folder = build_export(tmp_path / "export", runs=16, jobs_per_run=2, end=now - timedelta(hours=1))
    with FakeGitHub(folder) as fake:
        fake.add_workflow(WORKFLOW_ID, "we-advisor weekly", WORKFLOW_PATH)
        fake.data.files[WORKFLOW_PATH] = EXAMPLE.read_text(encoding="utf-8")
        fake.pulls.add(PR)
        recent = {r["id"] for r in fake.visible_runs() if r["created_at"] > iso_time(now - timedelta(days=2))}
        services = Services(tmp_path / "github", fake)
        fake.hidden = set(recent)
        w1 = 8_000_101
        fake.add_run(weekly_run(w1, 1, now - timedelta(days=7), done=False))
        first = weekly(fake, services, w1, pg_url)
        assert f"::add-mask::{PASSWORD}" in first.step("Plan the caches and the store handover").stdout
        ran = {s.name for s in first.steps if s.ran}
        assert "Find the store of the previous run" not in ran and "Keep the store for the next run" not in ran
        assert "we-advisor 0.1.0 (store schema" in first.step("Install we-advisor").stdout
        assert not fake.artifacts.get(w1, []) or {a["name"] for a in fake.artifacts[w1]} == {"we-advisor-report"}
        assert [c for c in fake.comments[PR] if c["user"]["login"] == "github-actions[bot]"]

        with Store(pg_url) as store:
            assert {r.run_id for r in store.load_runs()} == {r["id"] for r in fake.visible_runs()}
    text = first.log + first.summary + "".join(s.stdout for s in first.steps)
    assert PASSWORD not in text.replace(f"::add-mask::{PASSWORD}", "")
    assert TOKEN not in text


def test_the_collect_example_fetches_the_run_that_triggered_it() -> None:
    """examples/we-advisor-collect.yml: workflow_run completed, least permissions, the action pinned by
    the documented placeholder, the run id and attempt from the event through env: only."""
    from ruamel.yaml import YAML

    flow = YAML(typ="safe", pure=True).load(COLLECT.read_text())
    assert flow["on"]["workflow_run"]["types"] == ["completed"]
    job = flow["jobs"]["collect"]
    assert job["permissions"] == {"actions": "read", "checks": "read", "contents": "read"}
    assert flow["permissions"] == {}
    install, collect = job["steps"]
    assert install["uses"] == "OWNER/we-advisor@vX" and install["with"]["install-only"] == "true"
    assert "${{" not in collect["run"]
    assert collect["env"]["RUN_ID"] == "${{ github.event.workflow_run.id }}"
    assert "--run-id \"$RUN_ID\" --attempt \"$ATTEMPT\"" in collect["run"]
