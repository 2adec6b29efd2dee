"""The bundled sample history: deterministic, committed as generated, GitHub-shaped and realistic."""

from __future__ import annotations

import gzip
import json
import re
import statistics
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from analyzer.config import PhaseRule, load_preset
from analyzer.demo.sample import DEFAULT_END, E2E_WORKFLOW, TEKTON_TIMEOUT_LINE, generate_sample

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "data" / "sample"
SHARED = ROOT.parent / "shared"
STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d{7})Z (.*)$")


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sample") / "sample"
    generate_sample(out)
    return out


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _api_time(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


@dataclass
class Line:
    t: datetime
    text: str


def _log(root: Path, job_id: int) -> list[Line]:
    data = gzip.decompress((root / "logs" / f"{job_id}.txt.gz").read_bytes()).decode("utf-8")
    assert data.startswith("\ufeff") and "\r" not in data
    lines = []
    for raw in data[1:].splitlines():
        m = STAMP.match(raw)
        assert m, raw
        t = datetime.strptime(m[1], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC) + timedelta(microseconds=int(m[2]) / 10)
        lines.append(Line(t, m[3]))
    return lines


def _jobs(root: Path) -> Iterator[dict]:
    for path in sorted((root / "jobs").glob("*.json")):
        yield from json.loads(path.read_text())["jobs"]


def _step_lines(job: dict, lines: list[Line]) -> dict[str, list[Line]]:
    """Split a job log into its steps the way the runner writes it: set-up lines, then one
    ``##[group]Run ...`` header per main step, ``Post job cleanup.`` for the post step, and
    ``Cleaning up orphan processes`` for "Complete job"."""
    ran = [s for s in job["steps"] if s["conclusion"] != "skipped"]
    names = iter(s["name"] for s in ran)
    current = next(names)
    out: dict[str, list[Line]] = {current: []}
    for line in lines:
        starts_step = (
            line.text.startswith("##[group]Run ")
            or line.text == "Post job cleanup."
            or line.text == "Cleaning up orphan processes"
        )
        if starts_step and out[current]:
            current = next(names)
            out[current] = []
        out[current].append(line)
    return out


# ------------------------------------------------------------------------------------ determinism


def test_generation_is_byte_identical(tmp_path: Path) -> None:
    """Same arguments, same bytes: no wall clock, no unordered iteration, gzip mtime 0."""
    a, b = tmp_path / "a", tmp_path / "b"
    first = generate_sample(a)
    second = generate_sample(b)
    assert _tree(a) == _tree(b)
    assert first.runs == second.runs and first.bytes == second.bytes


def test_other_seed_differs(tmp_path: Path) -> None:
    summary = generate_sample(tmp_path / "s", seed=3, weeks=1)
    assert summary.runs > 0
    assert _tree(tmp_path / "s")["runs.json"] != (COMMITTED / "runs.json").read_bytes()


def test_committed_sample_is_a_fresh_generation(sample: Path) -> None:
    """data/sample/ must never be edited by hand: regenerate with scripts/generate_sample.py.

    Gzipped logs are compared by content: another zlib build may pack the same text differently.
    """
    if not COMMITTED.is_dir():
        pytest.fail("data/sample/ is missing: run python scripts/generate_sample.py")
    fresh, committed = _tree(sample), _tree(COMMITTED)
    assert sorted(fresh) == sorted(committed), "file list differs: rerun scripts/generate_sample.py"
    for rel, data in fresh.items():
        if rel.endswith(".gz"):
            assert gzip.decompress(data) == gzip.decompress(committed[rel]), rel
        else:
            assert data == committed[rel], f"{rel} differs: rerun scripts/generate_sample.py"


# ------------------------------------------------------------------------------------------ shapes


def test_layout_and_rest_shapes(sample: Path) -> None:
    repo = json.loads((sample / "repo.json").read_text())
    assert repo["full_name"] == "demo/kubernaut" and repo["default_branch"] == "main"
    workflows = json.loads((sample / "workflows.json").read_text())
    assert workflows["total_count"] == 2
    paths = {w["path"] for w in workflows["workflows"]}
    assert paths == {".github/workflows/e2e-workflowexecution.yml", ".github/workflows/unit.yml"}
    for path in paths:
        assert (sample / "workflow-files" / path).is_file()
    e2e_yaml = (sample / "workflow-files/.github/workflows/e2e-workflowexecution.yml").read_text()
    assert "timeout-minutes: 30" in e2e_yaml and "timeout-minutes: 25" in e2e_yaml
    unit_yaml = (sample / "workflow-files/.github/workflows/unit.yml").read_text()
    assert not re.search(r"^\s+timeout-minutes:", unit_yaml, re.M), "unit runs under the 360 min default"
    config = (sample / "we-advisor.toml").read_text()
    assert 'repo = "demo/kubernaut"' in config and 'preset = "kubernaut-e2e"' in config
    assert (sample / "README.md").read_text().startswith("# Sample CI history")

    runs = json.loads((sample / "runs.json").read_text())
    assert runs["total_count"] == len(runs["workflow_runs"])
    ids = [r["id"] for r in runs["workflow_runs"]]
    assert ids == sorted(ids, reverse=True), "newest first"
    created = [r["created_at"] for r in runs["workflow_runs"]]
    assert created == sorted(created, reverse=True)
    for run in runs["workflow_runs"]:
        for key in ("id", "name", "path", "workflow_id", "run_number", "run_attempt", "event", "status", "conclusion",
                    "head_branch", "head_sha", "created_at", "updated_at", "run_started_at", "html_url", "jobs_url",
                    "logs_url", "previous_attempt_url", "pull_requests", "repository"):
            assert key in run, key
        assert run["status"] == "completed"
        assert run["event"] in ("push", "pull_request")
        assert (run["event"] == "pull_request") == bool(run["pull_requests"])
        assert run["created_at"] <= run["run_started_at"] <= run["updated_at"]


def test_every_job_has_log_attempts_and_annotations(sample: Path) -> None:
    runs = {r["id"]: r for r in json.loads((sample / "runs.json").read_text())["workflow_runs"]}
    assert sorted(p.stem for p in (sample / "jobs").glob("*.json")) == sorted(str(i) for i in runs)
    logs = {p.name for p in (sample / "logs").iterdir()}
    notes = {p.name for p in (sample / "annotations").iterdir()}
    seen_jobs = set()
    for run_id, run in runs.items():
        jobs = json.loads((sample / "jobs" / f"{run_id}.json").read_text())
        assert jobs["total_count"] == len(jobs["jobs"])
        assert sorted(j["run_attempt"] for j in jobs["jobs"]) == list(range(1, run["run_attempt"] + 1))
        for n in range(1, run["run_attempt"]):
            attempt = json.loads((sample / "attempts" / f"{run_id}-{n}.json").read_text())
            assert (attempt["id"], attempt["run_attempt"]) == (run_id, n)
            assert attempt["run_started_at"] < run["run_started_at"]
            job = next(j for j in jobs["jobs"] if j["run_attempt"] == n)
            assert job["conclusion"] == attempt["conclusion"] != "success"
        latest = next(j for j in jobs["jobs"] if j["run_attempt"] == run["run_attempt"])
        assert latest["conclusion"] == run["conclusion"]
        for job in jobs["jobs"]:
            assert job["run_id"] == run_id and job["workflow_name"] == run["name"]
            assert f"{job['id']}.txt.gz" in logs
            seen_jobs.add(job["id"])
            if job["conclusion"] != "success":
                assert f"{job['id']}.json" in notes
                annotations = json.loads((sample / "annotations" / f"{job['id']}.json").read_text())
                assert annotations and all(a["annotation_level"] == "failure" for a in annotations)
    assert len(logs) == len(seen_jobs)
    assert not list((sample / "attempts").glob(f"{max(runs)}-{runs[max(runs)]['run_attempt']}.json"))


def test_step_times_agree_with_job_times_and_log(sample: Path) -> None:
    for job in _jobs(sample):
        start, end = _api_time(job["started_at"]), _api_time(job["completed_at"])
        assert _api_time(job["created_at"]) <= start <= end
        numbers = [s["number"] for s in job["steps"]]
        assert numbers == sorted(numbers) and job["steps"][0]["name"] == "Set up job"
        assert job["steps"][-1]["name"] == "Complete job"
        for step in job["steps"]:
            s, e = _api_time(step["started_at"]), _api_time(step["completed_at"])
            assert start <= s <= e <= end, (job["id"], step["name"])
        lines = _log(sample, job["id"])
        assert lines[0].text.startswith("Current runner version")
        assert any(line.text == f"Complete job name: {job['name']}" for line in lines)
        assert [x.t for x in lines] == sorted(x.t for x in lines)
        assert start <= lines[0].t and lines[-1].t < end + timedelta(seconds=1)
        steps = {st["name"]: st for st in job["steps"]}
        for name, chunk in _step_lines(job, lines).items():
            s, e = _api_time(steps[name]["started_at"]), _api_time(steps[name]["completed_at"])
            assert all(s <= x.t < e + timedelta(seconds=1) for x in chunk), (job["id"], name)


# -------------------------------------------------------------------------------------- the story


def _e2e(sample: Path) -> list[tuple[dict, list[Line]]]:
    return [(j, _log(sample, j["id"])) for j in _jobs(sample) if j["workflow_name"] == E2E_WORKFLOW]


def test_tekton_timeout_rate(sample: Path) -> None:
    e2e = _e2e(sample)
    hit = [j for j, lines in e2e if any(x.text == TEKTON_TIMEOUT_LINE for x in lines)]
    assert 0.08 <= len(hit) / len(e2e) <= 0.12, f"{len(hit)}/{len(e2e)}"
    for job, lines in e2e:
        if job in hit:
            texts = [x.text for x in lines]
            i = texts.index(TEKTON_TIMEOUT_LINE)
            cmd = next(k for k in range(i, -1, -1) if texts[k].startswith("+ kubectl wait") and "tekton-pipelines-controller" in texts[k])
            assert texts[cmd].endswith("--timeout=300s")
            waited = (lines[i].t - lines[cmd].t).total_seconds()
            assert 300 <= waited < 301
            assert any("[FAILED] in [SynchronizedBeforeSuite]" in t for t in texts[i:])
            assert "##[error]Process completed with exit code 1." in texts[i:]
            assert job["conclusion"] == "failure"


def test_incident_kinds_present(sample: Path) -> None:
    messages: dict[str, int] = {}
    for path in (sample / "annotations").glob("*.json"):
        for note in json.loads(path.read_text()):
            key = re.sub(r"'E2E-refs/pull/\d+/merge'", "'E2E-refs/pull/N/merge'", note["message"])
            messages[key] = messages.get(key, 0) + 1
    assert messages.get("The job has exceeded the maximum execution time of 30m0s", 0) >= 2
    assert messages.get("The action 'Run E2E tests' has timed out after 25 minutes.", 0) >= 1
    assert messages.get("Canceling since a higher priority waiting request for 'E2E-refs/pull/N/merge' exists", 0) >= 2
    assert any(m.startswith("The runner has received a shutdown signal") for m in messages)

    jobs = list(_jobs(sample))
    attempts = [j["run_attempt"] for j in jobs]
    assert attempts.count(2) >= 5 and attempts.count(3) >= 1
    texts = {j["id"]: [x.text for x in _log(sample, j["id"])] for j in jobs if j["conclusion"] != "success"}
    assert any(any(t.startswith("[FAILED] Timed out after 180.0") for t in ts) for ts in texts.values())
    assert any("panic: test timed out after 10m0s" in ts for ts in texts.values())
    assert any(any(t.startswith("##[error]The runner has received a shutdown signal.") for t in ts) for ts in texts.values())
    unit = next(j for j in jobs if j["workflow_name"] == "Unit tests" and j["conclusion"] == "success")
    unit_text = [x.text for x in _log(sample, unit["id"])]
    assert any(re.fullmatch(r"--- PASS: TestBuildPipelineRun \(\d+\.\d\ds\)", t) for t in unit_text)
    assert any(re.fullmatch(r"ok  \tgithub\.com/demo/kubernaut/pkg/\S+\t\d+\.\d+s", t) for t in unit_text)


def test_job_killed_by_its_limit_stops_at_the_limit(sample: Path) -> None:
    timeouts = 0
    for job, lines in _e2e(sample):
        notes = sample / "annotations" / f"{job['id']}.json"
        if not notes.is_file():
            continue
        messages = [n["message"] for n in json.loads(notes.read_text())]
        if "The job has exceeded the maximum execution time of 30m0s" in messages:
            timeouts += 1
            assert job["conclusion"] == "cancelled"
            assert lines[-1].text == "##[error]The operation was canceled."
            started = _api_time(job["started_at"])
            assert timedelta(minutes=30) <= lines[-1].t - started < timedelta(minutes=30, seconds=1)
            assert _api_time(job["completed_at"]) - started == timedelta(minutes=30)
        if "The action 'Run E2E tests' has timed out after 25 minutes." in messages:
            step = next(s for s in job["steps"] if s["name"] == "Run E2E tests")
            cut = next(x for x in lines if x.text.startswith("##[error]The action 'Run E2E tests' has timed out"))
            span = cut.t - _api_time(step["started_at"])
            assert timedelta(minutes=25) <= span < timedelta(minutes=25, seconds=1)
            assert job["conclusion"] == "failure"
    assert timeouts >= 2


def test_setup_takes_about_six_and_a_half_minutes(sample: Path) -> None:
    passed = []
    for _job, lines in _e2e(sample):
        for line in lines:
            m = re.match(r"\[SynchronizedBeforeSuite\] PASSED \[([\d.]+) seconds\]", line.text)
            if m:
                passed.append(float(m[1]))
    assert len(passed) > 100
    assert 330 <= statistics.median(passed) <= 480
    assert max(passed) > 1.3 * statistics.median(passed), "heavy tail"


# ------------------------------------------------------------------------------------------ preset


def _phases(rules: tuple[PhaseRule, ...], lines: list[Line]) -> dict[str, tuple[float, bool]]:
    """Minimal rule semantics: start opens; first later end closes, else the next phase start or the last line."""
    out: dict[str, tuple[float, bool]] = {}
    open_: tuple[PhaseRule, Line] | None = None
    for i, line in enumerate(lines):
        if open_ is not None:
            rule, start = open_
            if rule.end_re is not None and rule.end_re.search(line.text):
                out[rule.name] = ((line.t - start.t).total_seconds(), "timed out" in line.text or "Timed out" in line.text)
                open_ = None
                continue
        for rule in rules:
            if rule.start_re.search(line.text):
                if open_ is not None:
                    out[open_[0].name] = ((line.t - open_[1].t).total_seconds(), False)
                open_ = (rule, line)
                break
        if i == len(lines) - 1 and open_ is not None:
            out[open_[0].name] = ((line.t - open_[1].t).total_seconds(), False)
    return out


def test_preset_loads_and_every_rule_matches_the_sample(sample: Path) -> None:
    settings = load_preset("kubernaut-e2e")
    names = [r.name for r in settings.phases]
    for expected in ("kind-cluster", "tekton-install", "tekton-controller-wait", "tekton-webhook-wait", "postgresql",
                     "redis", "datastorage-build", "datastorage-wait", "audit-migrations", "controller-build",
                     "controller-wait"):
        assert expected in names
    limits = {r.name: r.timeout_s for r in settings.phases}
    assert limits["tekton-controller-wait"] == 300 and limits["controller-wait"] == 180
    assert all(r.step_re is not None and r.step_re.search("Run E2E tests") for r in settings.phases)
    assert all(t.file.startswith("test/") for t in settings.timeouts)
    assert {t.phase for t in settings.timeouts} >= {"tekton-controller-wait", "controller-wait"}

    starts = {r.name: 0 for r in settings.phases}
    ends = dict(starts)
    for _job, lines in _e2e(sample)[:60]:
        for line in lines:
            for rule in settings.phases:
                starts[rule.name] += bool(rule.start_re.search(line.text))
                ends[rule.name] += bool(rule.end_re and rule.end_re.search(line.text))
    assert all(starts.values()), starts
    assert all(ends[r.name] for r in settings.phases if r.end), ends
    # a start pattern must match one line per run, or phases would restart mid-way
    for job, lines in _e2e(sample)[:60]:
        for rule in settings.phases:
            assert sum(bool(rule.start_re.search(x.text)) for x in lines) <= 1, (job["id"], rule.name)


def test_slow_week_shows_in_the_tekton_wait(sample: Path) -> None:
    """Week 4 pulls Tekton images more slowly: something for week-over-week change detection."""
    rules = load_preset("kubernaut-e2e").phases
    start = DEFAULT_END - timedelta(weeks=6)
    by_week: dict[int, list[float]] = {}
    censored = 0
    for job, lines in _e2e(sample):
        phase = _phases(rules, lines).get("tekton-controller-wait")
        if phase is None:
            continue
        seconds, cut = phase
        censored += cut
        week = (_api_time(job["started_at"]) - start).days // 7
        by_week.setdefault(week, []).append(seconds)
    assert censored >= 10
    slow = statistics.median(by_week[3])
    others = statistics.median([s for w, v in by_week.items() if w != 3 for s in v])
    assert slow > 1.25 * others, (slow, others)


def test_preset_matches_the_real_kubernaut_lines() -> None:
    """The rules also fit the console lines the seed project pasted into its handoff documents."""
    docs = SHARED / "realdata" / "kubernaut-docs"
    seed_dir = SHARED / "seed"
    if not docs.is_dir() or not seed_dir.is_dir():
        pytest.skip("../shared is absent")
    text = "\n".join(p.read_text(encoding="utf-8") for p in sorted(docs.glob("*.txt")))
    lines = text.splitlines()
    rules = {r.name: r for r in load_preset("kubernaut-e2e").phases}

    def starts(name: str) -> list[str]:
        return [x for x in lines if rules[name].start_re.search(x)]

    def ends(name: str) -> list[str]:
        end = rules[name].end_re
        assert end is not None
        return [x for x in lines if end.search(x)]

    assert any("Starting Kind cluster setup" in x for x in starts("kind-cluster"))
    assert any("Creating Kind cluster + CRDs" in x for x in starts("kind-cluster"))
    assert any("Cluster ready (2 nodes" in x for x in ends("kind-cluster"))
    assert any("PostgreSQL pod ready" in x for x in ends("postgresql"))
    assert any("Redis pod ready" in x for x in ends("redis"))
    assert any("Building DataStorage image" in x for x in starts("datastorage-build"))
    assert any("Load succeeded" in x for x in ends("datastorage-build"))
    assert any("Waiting for Data Storage to be ready" in x for x in starts("datastorage-wait"))
    assert any("Waiting for DataStorage pod to be ready" in x for x in starts("datastorage-wait"))
    assert any("DataStorage ready (Pod started" in x for x in ends("datastorage-wait"))
    assert any("[TIMEDOUT] A suite timeout occurred" in x for x in ends("datastorage-wait"))
    assert any("Migrations applied successfully" in x for x in ends("audit-migrations"))
    assert any("Building E2E image: kubernaut/workflowexecution-controller" in x for x in starts("controller-build"))
    assert any("Waiting for WorkflowExecution controller pod to be ready" in x for x in starts("controller-wait"))
    assert "[FAILED] Timed out after 180.000s." in ends("controller-wait")
    # other services' waits in those documents must not open WorkflowExecution phases
    assert not starts("controller-wait")[1:]
    assert not [x for x in lines if rules["postgresql"].start_re.search(x) and "Audit Infrastructure" in x]

    seed = "\n".join(p.read_text(encoding="utf-8") for p in sorted(seed_dir.glob("*.txt")))
    assert any(rules["tekton-install"].start_re.search(x) for x in seed.splitlines())
    assert any(rules["postgresql"].start_re.search(x) for x in seed.splitlines())
    for timeout in load_preset("kubernaut-e2e").timeouts:
        found = re.findall(timeout.pattern, seed)
        assert found and all(v.isdigit() for v in found), timeout


def test_size_on_disk() -> None:
    if not COMMITTED.is_dir():
        pytest.fail("data/sample/ is missing: run python scripts/generate_sample.py")
    total = sum(p.stat().st_size for p in COMMITTED.rglob("*") if p.is_file())
    assert total < 5_000_000
    for path in (COMMITTED / "logs").iterdir():
        lines = gzip.decompress(path.read_bytes()).count(b"\n")
        assert 20 <= lines <= 500, path.name
