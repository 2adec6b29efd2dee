"""The HTML and Markdown reports: golden files (dates and versions scrubbed), size, safety.

On a golden mismatch, or when a gold file is missing, the test fails and the actual output is
written beside the gold file (``*.actual``) for review; to accept it, move it over the gold file
(or run with ``WE_ADVISOR_UPDATE_GOLD=1``, which rewrites existing gold files).
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from analyzer.model.failures import FailureReport, failure_report
from analyzer.present.charts import mark_critical
from analyzer.present.context import ReportInputs, build_context
from analyzer.present.html import render_html
from analyzer.present.markdown import MARKER, render_markdown
from analyzer.records import Excerpt, ExcerptLine, Incident, JobAttempt, JobContext

GOLD = Path(__file__).parent / "gold"
END = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
PLANTED = "<script>window.__pwned = 1; document.title = 'PWNED'</script>"
WORKFLOW = "E2E WorkflowExecution"

# (step number, step name, median seconds, spread, [(phase, median, spread, limit)])
E2E_STEPS: list[tuple[int, str, float, float, list[tuple[str, float, float, float | None]]]] = [
    (1, "Set up job", 3, 0.2, []),
    (2, "Checkout", 6, 0.3, []),
    (3, "Create Kind cluster", 95, 0.15, []),
    (
        4,
        "Run make test-e2e-workflowexecution",
        0,
        0,
        [
            ("tekton-install", 55, 0.2, None),
            ("tekton-wait", 190, 0.35, 300.0),
            ("postgres-ready", 40, 0.3, 180.0),
            ("ginkgo-suite", 420, 0.12, None),
        ],
    ),
    (5, "Post Checkout", 1.5, 0.2, []),
]


def synthetic_observations(runs: int = 160, *, seed: int = 7, planted: bool = False) -> tuple[pd.DataFrame, list[Incident]]:
    """Eight weeks of an E2E job and a unit-test job, deterministic; tekton-wait hits its 300 s limit."""
    rng = np.random.default_rng(seed)
    rows: list[dict[str, Any]] = []
    incidents: list[Incident] = []
    span = timedelta(weeks=8)
    for n in range(runs):
        started = END - span + span * (n + 0.5) / runs
        late = started > END - timedelta(weeks=1)
        run_id, job_id = 1000 + n, 50_000 + 2 * n
        t = started
        outcome_job, incident = "success", None
        e2e: list[dict[str, Any]] = []
        for number, name, median, spread, phases in E2E_STEPS:
            step_start = t
            if phases:
                for pname, pmed, pspread, limit in phases:
                    d = float(pmed * rng.lognormal(0, pspread))
                    if pname == "ginkgo-suite" and late:
                        d *= 1.5  # this week's regression
                    outcome, censored = "success", False
                    if limit is not None and d > limit:
                        d, outcome, censored = limit, "timeout", True
                    e2e.append({"scope": "phase", "step": name, "step_number": number, "phase": pname, "started_at": t,
                                    "duration_s": round(d, 1), "outcome": outcome, "censored": censored,
                                    "limit_s": limit if censored else None})
                    t += timedelta(seconds=d)
                    if censored:
                        outcome_job = "failure"
                        evidence = "error: timed out waiting for the condition on deployments/tekton-pipelines-controller"
                        incident = Incident(repo="acme/operator", workflow=WORKFLOW, run_id=run_id, run_attempt=1,
                                            job_id=job_id, job="e2e", step_number=number, step=name, phase=pname,
                                            kind="tool_timeout", limit_s=limit, evidence=evidence, occurred_at=t)
                        break
                d = (t - step_start).total_seconds()
            else:
                d = float(median * rng.lognormal(0, spread))
                t += timedelta(seconds=d)
            step_name = f"{name} {PLANTED}" if planted and number == 2 else name
            e2e.append({"scope": "step", "step": step_name, "step_number": number, "phase": None, "started_at": step_start,
                            "duration_s": round(d, 1), "outcome": "failure" if incident and number == 4 else "success",
                            "censored": False, "limit_s": None})
            if incident:
                break
        job_d = (t - started).total_seconds()
        e2e.append({"scope": "job", "step": None, "step_number": None, "phase": None, "started_at": started, "duration_s": round(job_d, 1),
                        "outcome": outcome_job, "censored": False, "limit_s": None})
        for r in e2e:
            r.update(job="e2e", job_id=job_id)
        unit_d = float(150 * rng.lognormal(0, 0.1))
        unit = [
            {"scope": "job", "step": None, "step_number": None, "phase": None, "started_at": started, "duration_s": round(unit_d + 10, 1),
                 "outcome": "success", "censored": False, "limit_s": None},
            {"scope": "step", "step": "Run go test ./...", "step_number": 3, "phase": None, "started_at": started + timedelta(seconds=8),
                 "duration_s": round(unit_d, 1), "outcome": "success", "censored": False, "limit_s": None},
        ]
        for r in unit:
            r.update(job="unit", job_id=job_id + 1)
        for r in e2e + unit:
            r.update(repo="acme/operator", workflow=WORKFLOW, run_id=run_id, run_attempt=1, runner="ubuntu-latest")
            rows.append(r)
        if incident:
            incidents.append(incident)
    incidents = [
        replace(i, context=JobContext(queued_s=12.0, actor="alice", head_sha=_sha(i.run_id), event="push",
                                      head_commit_message=f"change {i.run_id}", branch="main", runner_name="kind-runner-2"))
        for i in incidents
    ]  # fmt: skip
    if planted and incidents:
        evidence = f"{PLANTED} @octocat see #12 [x](javascript:alert(1)) <img src=x onerror=alert(1)>"
        context = JobContext(actor="@octocat", branch=f"fix/{PLANTED}", head_commit_message=f"{PLANTED} closes #12",
                             head_sha="0" * 40, runner_name=f"runner {PLANTED}", event="pull_request")  # fmt: skip
        incidents[-1] = replace(incidents[-1], evidence=evidence, job=f"e2e @octocat {PLANTED}", context=context)
    frame = pd.DataFrame(rows)
    frame["started_at"] = pd.to_datetime(frame["started_at"], utc=True)
    return frame, incidents


def _sha(run_id: int) -> str:
    return hashlib.sha1(str(run_id).encode()).hexdigest()


def synthetic_jobs(frame: pd.DataFrame, *, seed: int = 11) -> pd.DataFrame:
    """The job attempts of ``synthetic_observations`` (``Store.jobs_frame`` shape): e2e on a self-hosted
    pool that falls short in the last week, unit on hosted runners; two e2e attempts never started."""
    rng = np.random.default_rng(seed)
    jobs = frame[frame["scope"] == "job"].sort_values("job_id").reset_index(drop=True)
    rows: list[dict[str, Any]] = []
    for n, job in enumerate(jobs.itertuples()):
        e2e = job.job == "e2e"
        late = job.started_at > END - timedelta(weeks=1)
        wait = float(rng.lognormal(np.log(420 if late else 25), 0.4)) if e2e else float(rng.lognormal(np.log(6), 0.3))
        wait = round(wait, 1)
        rows.append({
            "job_id": job.job_id, "run_id": job.run_id, "run_attempt": 1, "repo": job.repo, "workflow": job.workflow,
            "job": job.job, "status": "completed", "conclusion": "success",
            "created_at": job.started_at - timedelta(seconds=wait), "started_at": job.started_at, "queued_s": wait,
            "runner_name": f"kind-runner-{n % 3}" if e2e else f"GitHub Actions {n % 7}",
            "labels": "self-hosted, linux, kind" if e2e else "ubuntu-latest",
        })  # fmt: skip
    for k in range(2):  # cancelled while waiting for a self-hosted runner
        created = END - timedelta(days=2, hours=k)
        rows.append({**rows[-2], "job_id": 90_000 + k, "run_id": 9_000 + k, "conclusion": "cancelled",
                     "created_at": created, "started_at": created + timedelta(hours=1), "queued_s": 3600.0,
                     "runner_name": None, "job": "e2e", "labels": "self-hosted, linux, kind"})  # fmt: skip
    out = pd.DataFrame(rows)
    for name in ("created_at", "started_at"):
        out[name] = pd.to_datetime(out[name], utc=True)
    return out


def rec(scope: str, job: str, step: str | None, phase: str | None, **kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"scope": scope, "workflow": WORKFLOW, "job": job, "step": step, "phase": phase, "samples": 160, "censored": 0,
                                "p50_s": 100.0, "p95_s": 150.0, "p99_s": 170.0, "p99_ci_s": [160.0, 190.0], "current_timeout_s": None,
                                "current_source": "default", "recommended_timeout_s": None, "verdict": "ok",
                                "false_timeout_rate_current": 0.0, "false_timeout_rate_recommended": 0.0}
    base.update(kw)
    return base


STEP4 = "Run make test-e2e-workflowexecution"
RECOMMENDATIONS = [
    rec("job", "e2e", None, None, p50_s=840.0, p95_s=1010.0, p99_s=1100.0, p99_ci_s=[1050.0, 1180.0],
        current_timeout_s=21600.0, current_source="default", recommended_timeout_s=1500.0, verdict="no_timeout",
        false_timeout_rate_current=0.0, false_timeout_rate_recommended=0.004),
    rec("phase", "e2e", STEP4, "tekton-wait", censored=14, p50_s=195.0, p95_s=340.0, p99_s=420.0,
        p99_ci_s=[380.0, 510.0], current_timeout_s=300.0, current_source="config", recommended_timeout_s=600.0,
        verdict="too_tight", false_timeout_rate_current=0.089, false_timeout_rate_recommended=0.004),
    rec("phase", "e2e", STEP4, "postgres-ready", p50_s=40.0, p95_s=63.0, p99_s=75.0, p99_ci_s=[70.0, 90.0],
        current_timeout_s=180.0, current_source="config", recommended_timeout_s=120.0, verdict="ok"),
    rec("job", "unit", None, None, p50_s=160.0, p95_s=190.0, p99_s=200.0, p99_ci_s=[195.0, 215.0],
        current_timeout_s=3600.0, current_source=".github/workflows/unit.yml", recommended_timeout_s=300.0,
        verdict="too_loose"),
]


def failures_of(found: list[Incident], start: datetime, planted: bool) -> FailureReport:
    """Signatures and reruns over the history: its Tekton timeouts, a unit test failing this week
    (new), and reruns that passed for every second timeout."""
    unit = [
        Incident(repo="acme/operator", workflow=WORKFLOW, run_id=9000 + k, run_attempt=1, job_id=90_000 + k, job="unit",
                 step_number=3, step="Run go test ./...", phase=None, kind="failure", limit_s=None,
                 evidence="##[error]Process completed with exit code 1.", occurred_at=END - timedelta(days=k + 1))
        for k in range(3)
    ]  # fmt: skip
    message = f"assert {PLANTED} @octocat #12" if planted else "expected phase Completed, got Running"
    lines = [(f"--- FAIL: TestReconcile_Conflict (0.{i.job_id % 90:02d}s)", f"    controller_test.go:{100 + k}: {message}", i.evidence)
             for k, i in enumerate(unit)]  # fmt: skip
    roles = ("error", "error", "evidence")
    excerpts = {
        i.job_id: Excerpt(tuple(ExcerptLine(40 + n, text, role) for n, (text, role) in enumerate(zip(texts, roles, strict=True))), 42)
        for i, texts in zip(unit, lines, strict=True)
    }
    recent = [i for i in [*found, *unit] if i.occurred_at and i.occurred_at >= start]  # the runs of the period
    attempts = [JobAttempt(i.workflow, i.job, i.run_id, 1, "failure", i.kind, i.repo) for i in recent]
    attempts += [JobAttempt(i.workflow, i.job, i.run_id, 2, "success", None, i.repo) for i in recent[::2]]
    return failure_report([*found, *unit], excerpts, attempts, since=start, now=END)


def make_inputs(*, runs: int = 160, planted: bool = False) -> ReportInputs:
    frame, found = synthetic_observations(runs, planted=planted)
    start = END - timedelta(days=7)
    return ReportInputs(
        repo="acme/operator",
        generated_at=END + timedelta(hours=1),
        period_start=start,
        period_end=END,
        observations=frame,
        incidents=[i for i in found if i.occurred_at and i.occurred_at >= start],
        recommendations=RECOMMENDATIONS,
        version="9.9.9",
        failures=failures_of(found, start, planted),
        jobs=synthetic_jobs(frame),
        model_start=END - timedelta(days=30),
        model_end=END,
        model_runs=170,
    )


def scrub(text: str) -> str:
    """Dates and versions out, as coverage.py does for its HTML gold files."""
    text = re.sub(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC", "DATE", text)
    return re.sub(r"we-advisor \d+\.\d+\.\d+(?:[.+-][A-Za-z0-9]+)*", "we-advisor VERSION", text)


def compare_gold(name: str, actual: str, *, gold_dir: Path = GOLD) -> None:
    """``actual`` (scrubbed) equals the reviewed gold file ``name``. On a mismatch, or when there is no
    gold file yet, the test fails and the actual output is written beside it (``*.actual``)."""
    gold = gold_dir / name
    actual = scrub(actual)
    beside = gold.with_name(gold.name + ".actual")
    if os.environ.get("WE_ADVISOR_UPDATE_GOLD") and gold.exists():
        gold.write_text(actual, encoding="utf-8")
    if not gold.exists():
        beside.write_text(actual, encoding="utf-8")
        pytest.fail(f"{name} has no gold file; the actual output is in {beside}: review it and move it to {gold}")
    expected = gold.read_text(encoding="utf-8")
    if expected != actual:
        beside.write_text(actual, encoding="utf-8")
        pytest.fail(f"{name} differs from its gold file; the actual output is in {beside} for review")
    beside.unlink(missing_ok=True)


@pytest.mark.parametrize("update", ["", "1"])
def test_a_missing_gold_file_fails_and_leaves_the_output_for_review(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, update: str
) -> None:
    """No gold file is never a pass, not even with WE_ADVISOR_UPDATE_GOLD: the scrubbed actual output
    is written beside where the gold file belongs, and nothing is written as gold."""
    monkeypatch.setenv("WE_ADVISOR_UPDATE_GOLD", update)
    with pytest.raises(pytest.fail.Exception, match=r"new\.md has no gold file"):
        compare_gold("new.md", "made 2026-01-01 10:00 UTC by we-advisor 1.2.3\n", gold_dir=tmp_path)
    assert (tmp_path / "new.md.actual").read_text(encoding="utf-8") == "made DATE by we-advisor VERSION\n"
    assert not (tmp_path / "new.md").exists()


def test_a_differing_output_fails_and_a_matching_one_clears_the_review_file(tmp_path: Path) -> None:
    """A mismatch fails with the actual output beside the gold file; a later match removes it."""
    (tmp_path / "r.md").write_text("expected\n", encoding="utf-8")
    with pytest.raises(pytest.fail.Exception, match="differs from its gold file"):
        compare_gold("r.md", "actual\n", gold_dir=tmp_path)
    assert (tmp_path / "r.md.actual").read_text(encoding="utf-8") == "actual\n"
    compare_gold("r.md", "expected\n", gold_dir=tmp_path)
    assert not (tmp_path / "r.md.actual").exists()


def test_html_matches_gold() -> None:
    """The HTML of a fixed history equals the reviewed gold file (dates and versions scrubbed)."""
    compare_gold("report.html", render_html(build_context(make_inputs())))


def test_markdown_matches_gold() -> None:
    """The weekly Markdown of a fixed history equals the reviewed gold file."""
    compare_gold("report.md", render_markdown(build_context(make_inputs())))


def test_headline_names_the_limit_that_kills_healthy_runs() -> None:
    """The first action is the tight limit, named with its job and step, with its kill rate now and then."""
    context = build_context(make_inputs())
    first = context["actions"][0]
    assert (first["name"], first["text"], first["to"], first["then"]) == (
        f"tekton-wait (e2e › {STEP4})", "limit 5 min stops 8.9 % of healthy runs", "recommend 10 min", "0.4 %"
    )


def test_weekly_regression_is_flagged() -> None:
    """The ginkgo suite's 1.5× slowdown in the last week is a highlighted regression."""
    context = build_context(make_inputs())
    assert any(r["label"].startswith("ginkgo-suite") for r in context["regressions"])
    change = next(c for c in context["changes"] if c["name"] == "ginkgo-suite")
    assert change["worse"]


def test_gantt_critical_path_covers_the_sequential_steps() -> None:
    """In a job whose steps run one after another, every step is on the critical path."""
    context = build_context(make_inputs())
    gantt = next(g for g in context["gantts"] if g["job"] == "e2e")
    steps = [i for i in gantt["items"] if i["scope"] == "step"]
    assert all(i["critical"] for i in steps)
    assert gantt["longest"]["name"] == STEP4


def test_gantt_takes_the_median_run_and_orders_its_spans_by_step_then_time() -> None:
    """Each job's Gantt chart is its median successful run (by duration, then job id; a run without a duration
    last), its spans ordered by step number (unknown last), a step before its phases, then by start (unknown
    last); a span's start is its offset from the run's (0 where either is unknown, or before the run's)."""
    from analyzer.present.charts import gantts
    from analyzer.present.index import UnitIndex

    t0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    rows: list[dict[str, Any]] = []

    def add(job_id: int, scope: str, duration: float, start: float | None, *, job: str = "e2e", step: str | None = None,
            phase: str | None = None, number: float = float("nan"), outcome: str = "success") -> None:  # fmt: skip
        rows.append({"scope": scope, "repo": "o/r", "workflow": "CI", "job": job, "step": step, "phase": phase,
                     "step_number": number, "run_id": 100 + job_id, "run_attempt": 1, "job_id": job_id,
                     "started_at": None if start is None else t0 + timedelta(seconds=start), "duration_s": duration,
                     "outcome": outcome, "censored": False})  # fmt: skip

    for job_id, duration in ((3, 100.0), (1, 100.0), (2, 300.0), (5, float("nan"))):  # sorted: 1, 3, 2, 5 -> 3
        add(job_id, "job", duration, 0.0)
    add(4, "job", 50.0, 0.0, outcome="failure")  # not a successful run
    add(1, "step", 99.0, 0.0, step="A", number=1)  # another run's span: not drawn
    add(3, "step", 30.0, 50.0, step="B", number=2)
    add(3, "phase", 1.0, 0.0, step="A", phase="o", number=1)  # starts with its step, listed first: after it
    add(3, "step", 40.0, 0.0, step="A", number=1)
    add(3, "phase", 5.0, 10.0, step="A", phase="p", number=1)
    add(3, "phase", 3.0, 60.0, phase="q")  # its step unknown: last
    add(3, "step", 10.0, None, step="C", number=3)  # no start: 0
    add(3, "phase", 2.0, None, step="B", phase="r", number=2)  # no start: after its step's phase that has one
    add(3, "phase", 4.0, 55.0, step="B", phase="s", number=2)
    add(3, "step", 1.0, -5.0, step="D", number=4)  # before the run's start: 0
    add(7, "job", 20.0, None, job="lint")  # a run without a start: every span starts at 0
    add(7, "step", 5.0, 3.0, job="lint", step="L", number=1)
    add(8, "job", 20.0, 0.0, job="build")  # no spans: no chart
    frame = pd.DataFrame(rows)
    frame["started_at"] = pd.to_datetime(frame["started_at"], utc=True).astype("datetime64[ns, UTC]")
    charts = gantts(frame, UnitIndex.of(frame))
    assert [(g["workflow"], g["job"], g["run"], g["runs"], g["duration"]) for g in charts] == [
        ("CI", "e2e", "103#1", 4, 100.0), ("CI", "lint", "107#1", 1, 20.0),
    ]
    assert [(i["scope"], i["name"], i["start"], i["duration"], i["step_number"]) for i in charts[0]["items"]] == [
        ("step", "A", 0.0, 40.0, 1.0), ("phase", "o", 0.0, 1.0, 1.0), ("phase", "p", 10.0, 5.0, 1.0),
        ("step", "B", 50.0, 30.0, 2.0),
        ("phase", "s", 55.0, 4.0, 2.0), ("phase", "r", 0.0, 2.0, 2.0), ("step", "C", 0.0, 10.0, 3.0),
        ("step", "D", 0.0, 1.0, 4.0), ("phase", "q", 60.0, 3.0, None),
    ]  # fmt: skip
    assert [(i["name"], i["start"]) for i in charts[1]["items"]] == [("L", 0.0)]


def test_untrusted_text_is_escaped_in_html() -> None:
    """A <script> from a step name or a log line appears as text, never as markup."""
    html = render_html(build_context(make_inputs(planted=True)))
    assert "<script" not in html.lower()
    assert "<img" not in html.lower()
    assert "&lt;script&gt;window.__pwned" in html


def test_untrusted_text_is_neutralized_in_markdown() -> None:
    """In Markdown, log text cannot ping, link, or inject HTML."""
    md = render_markdown(build_context(make_inputs(planted=True)))
    assert "<script" not in md and "<img" not in md
    assert "@octocat" not in md and "@\u200boctocat" in md
    assert "](javascript:" not in md
    assert "#12" not in md


def test_markdown_is_compact_with_marker_and_mermaid() -> None:
    """Under the 6,000-character aim, marker first, changes before recommendations, a mermaid Gantt."""
    md = render_markdown(build_context(make_inputs()))
    assert len(md) < 6000
    assert md.startswith(MARKER + "\n")
    assert md.index("Since last week") < md.index("Act on these") < md.index("Recommendations")
    assert "```mermaid\ngantt" in md and "<details>" in md


def test_markdown_never_exceeds_githubs_limit() -> None:
    """Even with huge untrusted names and many units, sections are shortened to fit 65,536 characters."""
    context = build_context(make_inputs())
    context["changes"] = [dict(context["changes"][0], label="x" * 5000) for _ in range(400)]
    context["incidents"]["rows"] = [dict(context["incidents"]["rows"][0], evidence="e" * 3000)] * 400
    context["incidents"]["total"] = 400
    md = render_markdown(context, limit=20_000)
    assert len(md) <= 20_000
    assert md.count("```") % 2 == 0 and md.count("<details>") == md.count("</details>")


def test_html_for_10000_runs_stays_under_2_mb() -> None:
    """Charts are aggregated: 10,000 runs (about 120,000 observations) stay well under 2 MB."""
    html = render_html(build_context(make_inputs(runs=10_000)))
    assert len(html.encode()) < 2_000_000


def test_templates_are_package_data() -> None:
    """The templates live inside the package, so the wheel carries them."""
    from importlib import resources

    names = {p.name for p in resources.files("analyzer.present").joinpath("templates").iterdir()}
    assert {"report.html.j2", "charts.html.j2", "report.css"} <= names


def test_undefined_template_variable_fails_loudly() -> None:
    """StrictUndefined: a context missing a key is an error, not an empty string."""
    import jinja2

    context = build_context(make_inputs())
    del context["summary"]
    with pytest.raises(jinja2.UndefinedError):
        render_html(context)


def test_weekly_workflow_and_action_follow_the_contract() -> None:
    """Weekly schedule off minute 0, a PR-number dispatch input, least privilege per job, one concurrency group."""
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe", pure=True)  # YAML 1.2, as GitHub reads workflows: the key `on` stays a string
    root = Path(__file__).resolve().parents[1]
    flow = yaml.load((root / "examples" / "we-advisor-weekly.yml").read_text())
    on = flow["on"]
    minute = on["schedule"][0]["cron"].split()[0]
    assert minute != "0" and not minute.startswith("*")
    assert "pr" in on["workflow_dispatch"]["inputs"]
    assert flow["permissions"] == {}  # nothing by default: each job asks for what it needs
    jobs = {name: job["permissions"] for name, job in flow["jobs"].items()}
    assert jobs == {
        "report": {"actions": "read", "checks": "read", "contents": "read"},  # reads history; writes nowhere
        "apply": {"contents": "write", "pull-requests": "write"},  # the timeouts pull request
        "comment": {"contents": "read", "pull-requests": "write"},  # the weekly comment
    }
    assert flow["concurrency"]["group"]
    action = yaml.load((root / "action.yml").read_text())
    uses = [s.get("uses", "") for s in action["runs"]["steps"]]
    assert action["runs"]["using"] == "composite"
    assert any(u.startswith("actions/cache/restore@") for u in uses) and any(u.startswith("actions/upload-artifact@") for u in uses)
    runs = "\n".join(s.get("run", "") for s in action["runs"]["steps"])
    assert runs.index("we-advisor report") < runs.index("we-advisor comment")
    assert "${{" not in runs  # inputs reach shell scripts through env, never by template injection


def test_critical_path_terminates_on_zero_length_and_touching_spans() -> None:
    """Spans of no length, or ending within the tolerance of each other, cannot make the walk loop."""
    items = [{"start": 10.0, "duration": 0.0}, {"start": 10.5, "duration": 0.0}, {"start": 0.0, "duration": 10.0},
             {"start": 10.5, "duration": 5.0}]
    mark_critical(items)
    assert [i["critical"] for i in items] == [False, False, True, True]


def test_weekly_comment_lists_at_most_five_new_or_growing_failures_within_its_budget() -> None:
    """Twelve new signatures: the comment's table has five and says how many more; the section shrinks
    (or gives way to a note) under a tight limit; fading ones are not listed."""
    inputs = make_inputs()
    assert inputs.failures is not None
    first = inputs.failures.signatures[0]
    many = tuple(replace(first, id=f"sig-{k:010d}", title=f"error: cause number {k}", trend="new" if k % 4 else "fading")
                 for k in range(16))  # fmt: skip
    context = build_context(replace(inputs, failures=replace(inputs.failures, signatures=many)))
    md = render_markdown(context)
    section = md[md.index("### New and growing failures") :].split("\n\n<details>")[0]
    rows = [line for line in section.splitlines() if line.startswith("| error: cause number")]
    assert len(rows) == 5 and "cause number 0 " not in section  # 0, 4, 8, 12 are fading
    assert "_… 7 more in the HTML report_" in section
    assert md.index("### New and growing failures") < md.index("Incidents this week")
    assert len(md) < 6000
    tight = render_markdown(context, limit=2_500)
    assert len(tight) <= 2_500


def test_no_failure_sections_without_failure_data() -> None:
    """A report built without failure data (ReportInputs.failures None) has neither section."""
    context = build_context(replace(make_inputs(), failures=None))
    assert 'id="signatures"' not in render_html(context) and "New and growing failures" not in render_markdown(context)


def test_every_section_states_what_it_looked_at_and_nothing_judged_is_said() -> None:
    """The period, the history and the model's window with their run counts are stated; a report where no
    unit could be judged says so instead of "Nothing to change"."""
    context = build_context(make_inputs())
    body = render_markdown(context)
    assert "This week: 2026-02-23 → 2026-03-02 (7 days), 40 runs" in body
    assert "Limits judged on 2026-01-31 → 2026-03-02 (30 days), 170 runs" in body
    assert "(critical path in red; 2026-01-05 → 2026-03-02 (56 days), 320 runs)" in body
    unjudged = [dict(r, verdict="insufficient_data", recommended_timeout_s=None) for r in RECOMMENDATIONS]
    quiet = build_context(replace(make_inputs(), recommendations=unjudged))
    assert quiet["actions"] == [] and quiet["judged"] == 0
    text = render_markdown(quiet)
    assert "Nothing could be judged yet" in text and "Nothing to change" not in text
    runner_made = [dict(r, settable=False) if r["scope"] == "job" else r for r in RECOMMENDATIONS]  # verdicts kept
    assert all(a["name"] not in ("e2e", "unit") for a in build_context(replace(make_inputs(), recommendations=runner_made))["actions"])


def test_act_on_these_names_the_workflow_when_two_workflows_have_a_job_of_that_name() -> None:
    """A job name two workflows share is ambiguous: the action then says which workflow (which file) to edit;
    a job name only one workflow has stays as short as before."""
    other = rec("job", "unit", None, None, workflow="Nightly", p50_s=160.0, p95_s=190.0, p99_s=200.0,
                p99_ci_s=[195.0, 215.0], current_timeout_s=3600.0, current_source=".github/workflows/nightly.yml",
                recommended_timeout_s=300.0, verdict="too_loose")  # fmt: skip
    context = build_context(replace(make_inputs(), recommendations=[*RECOMMENDATIONS, other]))
    names = [a["name"] for a in context["actions"]]
    assert f"{WORKFLOW} › unit" in names and "Nightly › unit" in names
    assert "e2e" in names and "unit" not in names
    body = render_markdown(context)
    assert "**Nightly › unit**" in body and f"**{WORKFLOW} › unit**" in body
    assert "Nightly › unit" in render_html(context)
    plain = build_context(make_inputs())
    assert "unit" in [a["name"] for a in plain["actions"]]


@pytest.mark.parametrize("unit", ["us", "ns"])
def test_trend_weeks_include_their_start_exclude_their_end_and_skip_unknown_starts(unit: str) -> None:
    """A run that starts exactly at a week's start is that week's; one at its end is the next week's; a run
    of unknown start is in no week; times in another zone count by their UTC instant."""
    from analyzer.present.charts import trend_chart

    weeks = [datetime(2026, 1, 5, tzinfo=UTC) + timedelta(weeks=k) for k in range(3)]
    starts = pd.Series(
        [weeks[0], weeks[1] - timedelta(microseconds=1), weeks[1], pd.NaT, weeks[2] + timedelta(days=6),
         pd.Timestamp("2026-01-12T00:30:00+01:00")],  # 2026-01-11 23:30 UTC: week 0
    )  # fmt: skip
    group = pd.DataFrame({
        "started_at": pd.to_datetime(starts, utc=True).astype(f"datetime64[{unit}, UTC]"),
        "duration_s": [10.0, 20.0, 30.0, 40.0, 50.0, 60.0], "censored": [False] * 6,
    })  # fmt: skip
    chart = trend_chart(group, weeks)
    assert [p["n"] for p in chart["points"]] == [3, 1, 1]
    assert chart["points"][1]["p50"] == 30.0 and chart["points"][2]["p95"] == 50.0


def test_the_report_reads_text_as_categoricals_and_renders_as_from_plain_text(tmp_path: Path) -> None:
    """``report`` reads the observations' text as categoricals (categories in the cache's order, not by
    name): every unit, chart and table comes out as from the same history read as plain text."""
    from analyzer import api
    from analyzer.config import load_settings
    from analyzer.model.units import _factorize
    from analyzer.store import Store
    from tests.loadgen import write_store

    config = tmp_path / "we-advisor.toml"
    config.write_text('repo = "acme/monorepo"\npreset = "kubernaut-e2e"\n', encoding="utf-8")
    settings = load_settings(config)
    write_store(tmp_path / "load.db", 1200, rules=settings.phases)
    with Store(tmp_path / "load.db") as store:
        inputs = api.report_inputs(settings, store, since="28d")
        assert isinstance(inputs.observations["job"].dtype, pd.CategoricalDtype)
        text = ("scope", "workflow", "job", "step", "phase", "outcome", "runner")
        plain = inputs.observations.copy()
        for name in text:  # as the SQL read gives text: objects, None where missing
            column = inputs.observations[name]
            plain[name] = pd.Series(np.where(column.isna(), None, column.astype(object)), index=column.index, dtype=object)
        assert plain["step"].isna().any() and plain["step"].map(lambda v: v is None or isinstance(v, str)).all()
        # the cache's categories are not in name order: the test would not see a sort by category
        assert list(inputs.observations["job"].cat.categories) != sorted(inputs.observations["job"].cat.categories)
    now = inputs.generated_at
    as_codes = build_context(inputs)
    as_text = build_context(replace(inputs, observations=plain, generated_at=now))
    assert render_html(as_codes) == render_html(as_text)
    assert render_markdown(as_codes) == render_markdown(as_text)
    for column in ("workflow", "job", "step"):  # numbered in order of first appearance either way
        codes, names = _factorize(inputs.observations[column].array)
        text_codes, text_names = _factorize(plain[column].to_numpy())
        assert np.array_equal(codes, text_codes) and list(names) == list(text_names)


def test_compiled_templates_render_the_same_and_never_stop_a_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The templates' code kept between processes (``present.html._Compiled``) renders what a fresh compile
    renders; a damaged cache file, an unwritable directory or one that is not the user's own only cost the compile."""
    import jinja2

    from analyzer.cache import CACHE_ENV
    from analyzer.present import html

    context = build_context(make_inputs())
    cache_dir = tmp_path / "cache"
    monkeypatch.setenv(CACHE_ENV, str(cache_dir))
    first = render_html(context)  # compiles, writes the cache
    files = sorted(cache_dir.glob("__we_advisor_*.cache"))
    assert files and all(f.stat().st_size > 100 for f in files)
    loaded: list[bool] = []
    real_load = jinja2.bccache.Bucket.load_bytecode
    monkeypatch.setattr(jinja2.bccache.Bucket, "load_bytecode", lambda self, f: (loaded.append(True), real_load(self, f))[1])
    assert render_html(context) == first and len(loaded) == len(files)  # every template from the cache
    for f in files:
        f.write_bytes(f.read_bytes()[:40] + b"\x00garbage")  # the header intact, the code not
    assert render_html(context) == first
    for f in files:
        f.write_bytes(b"")
    assert render_html(context) == first
    with monkeypatch.context() as m:
        m.setattr(jinja2.FileSystemBytecodeCache, "_get_cache_filename", lambda self, bucket: str(tmp_path / "no" / "x"))
        assert render_html(context) == first  # nowhere to write
    elsewhere = tmp_path / "elsewhere"
    cache_dir.rename(elsewhere)
    cache_dir.symlink_to(elsewhere)  # a link planted where the cache goes: refused
    assert html._bytecode_cache(html._environment()) is None
    assert render_html(context) == first
    cache_dir.unlink()
    monkeypatch.setenv(CACHE_ENV, "off")
    assert html._bytecode_cache(html._environment()) is None and render_html(context) == first
    tagged = html._Compiled(html._environment(), str(tmp_path)).pattern
    with monkeypatch.context() as m:
        m.setitem(html._OPTIONS, "trim_blocks", False)  # other options compile other code: other files
        assert html._Compiled(html._environment(), str(tmp_path)).pattern != tagged
    with monkeypatch.context() as m:  # and so does a filter called otherwise (here: given the context)
        m.setattr(html, "pct", jinja2.pass_context(lambda ctx, value, *a, **k: "?"))
        assert html._Compiled(html._environment(), str(tmp_path)).pattern != tagged


def test_compiled_code_that_no_longer_fits_is_compiled_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cached template whose code was compiled for other filters (its file's name missed what changed)
    fails to render: the report is rendered from a fresh compile, which replaces the file."""
    import jinja2

    from analyzer.cache import CACHE_ENV
    from analyzer.present import html

    context = build_context(make_inputs())
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(html._Compiled, "__init__", lambda self, env, directory, *, fresh=False: (
        jinja2.FileSystemBytecodeCache.__init__(self, directory, pattern="__we_advisor_fixed_%s.cache"),
        setattr(self, "fresh", fresh))[0])
    expected = html._environment(fresh=True)
    expected.bytecode_cache = None
    want = expected.get_template("report.html.j2").render(**context)
    plain = html.pct
    with monkeypatch.context() as m:  # the cache written by code whose pct took the context
        m.setattr(html, "pct", jinja2.pass_context(lambda ctx, value, *a, **k: plain(value, *a, **k)))
        assert render_html(context) == want
    assert render_html(context) == want  # the stale code fails, a fresh compile renders and is written
    loaded: list[bool] = []
    real_load = jinja2.bccache.Bucket.load_bytecode
    monkeypatch.setattr(jinja2.bccache.Bucket, "load_bytecode", lambda self, f: (loaded.append(True), real_load(self, f))[1])
    assert render_html(context) == want and loaded  # from the rewritten cache, without a failure
