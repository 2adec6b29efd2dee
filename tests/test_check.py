"""``we-advisor check --pr N``: the limits a pull request changes, weighed against the history, in one comment.

The pull request lives on the fake GitHub (``tests/fake_pulls.py``: its files at its base and head
commits); the history is a real store with known durations: an E2E job, its test step and a Tekton
wait phase whose 300 s limit (a ``--timeout=300s`` in a Go helper, named by ``[[timeouts]]``) stops
about 5 % of the runs.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from analyzer.advise.check import find_changes, weigh_changes
from analyzer.advise.limits import CurrentLimit
from analyzer.advise.policy import Policy
from analyzer.cli import app
from analyzer.collect.pulls import ChangedFile
from analyzer.config import TimeoutRule
from analyzer.errors import InputError
from analyzer.model import DurationModel, keys_of
from analyzer.parse.logs import PARSER_VERSION
from analyzer.parse.observe import rules_fingerprint
from analyzer.present.evidence import CHECK_MARKER
from analyzer.present.markdown import MARKER
from analyzer.present.text import dur, pct
from analyzer.records import Job, Observation, Run, UnitKey
from analyzer.store import Store
from tests.fake_github import ACTIONS_BOT, EMPTY_REPO, TOKEN, FakeGitHub

REPO = EMPTY_REPO
WORKFLOW = ".github/workflows/e2e.yml"
HELPER = "test/infra/helper.go"
RULE = TimeoutRule(file=HELPER, pattern=r"--timeout=(\d+)s", phase="tekton-wait")
CONFIG = f"repo = \"{REPO}\"\n[[timeouts]]\nphase = \"tekton-wait\"\nfile = \"{HELPER}\"\npattern = '--timeout=(\\d+)s'\n"
JOB, STEP, PHASE = (UnitKey("job", "E2E", "e2e", None, None), UnitKey("step", "E2E", "e2e", "Run tests", None),
                    UnitKey("phase", "E2E", "e2e", "Run tests", "tekton-wait"))  # fmt: skip


def workflow(job_minutes: int | str | None = 30, step_minutes: int | None = None, *, extra: str = "") -> str:
    job_line = f"    timeout-minutes: {job_minutes}\n" if job_minutes is not None else ""
    step_line = f"        timeout-minutes: {step_minutes}\n" if step_minutes is not None else ""
    return (
        "name: E2E\non: [push]\njobs:\n  e2e:\n    runs-on: ubuntu-latest\n" + job_line + "    steps:\n"
        "      - uses: actions/checkout@v4\n      - name: Run tests\n" + step_line + "        run: make e2e\n" + extra
    )


def helper(seconds: int, *, more: str = "") -> str:
    return f'package infra\n\nfunc wait() {{\n\tkubectl("wait", "--timeout={seconds}s")\n{more}}}\n'


def history(path: Path, runs: int = 160, seed: int = 3) -> Path:
    """``runs`` runs of the E2E job over 30 days: job ≈ 10 min, its test step, the Tekton wait ≈ 200 s
    (log-normal, σ 0.25) stopped at 300 s by the limit in force (censored there)."""
    rng = np.random.default_rng(seed)
    end = datetime(2026, 11, 20, tzinfo=UTC)
    with Store(path) as db:
        for n in range(runs):
            start = end - timedelta(hours=4.5 * (runs - n))
            wait = float(np.exp(np.log(200.0) + 0.25 * rng.standard_normal()))
            stopped = wait > 300.0
            test = min(wait, 300.0) + float(rng.uniform(200, 320))
            total = test + 45.0
            db.save_run(Run(repo=REPO, run_id=n + 1, run_attempt=1, workflow_name="E2E", created_at=start,
                            workflow_path=WORKFLOW))  # fmt: skip
            job = Job(repo=REPO, job_id=1000 + n, run_id=n + 1, run_attempt=1, workflow_name="E2E", name="e2e",
                      conclusion="failure" if stopped else "success", started_at=start)  # fmt: skip
            db.save_job(job)
            outcome = "failure" if stopped else "success"
            observations = [
                Observation.of_job(job, "job", started_at=start, duration_s=total, outcome=outcome, censored=False),
                Observation.of_job(job, "step", step="Run tests", started_at=start, duration_s=test, outcome=outcome,
                                   censored=False, step_number=2),
                Observation.of_job(job, "phase", step="Run tests", phase="tekton-wait", started_at=start,
                                   duration_s=min(wait, 300.0), outcome="timeout" if stopped else "success",
                                   censored=stopped, limit_s=300.0 if stopped else None, step_number=2),
            ]  # fmt: skip
            db.save_analysis(job.job_id, observations, None, parser_version=PARSER_VERSION, rules_hash=rules_fingerprint(()))
    return path


def run_cli(*args: str, token: str = TOKEN) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env={"GITHUB_TOKEN": token, "GH_TOKEN": "", "GITHUB_API_URL": ""})
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def world(tmp_path: Path) -> tuple[Path, str]:
    db = history(tmp_path / "s.db")
    config = tmp_path / "we-advisor.toml"
    config.write_text(CONFIG, encoding="utf-8")
    return db, str(config)


BASE = {WORKFLOW: workflow(30), HELPER: helper(300), "README.md": "hello\n"}


def check(fake: FakeGitHub, pr: int, world: tuple[Path, str], *extra: str) -> tuple[int, str, str]:
    db, config = world
    return run_cli("check", "--pr", str(pr), "--api-url", fake.url, "--store", str(db), "--config", config, "--since", "3000d", *extra)


def ours(fake: FakeGitHub, pr: int, marker: str = CHECK_MARKER) -> list[dict[str, object]]:
    return [c for c in fake.comments.get(pr, []) if c["user"]["login"] == ACTIONS_BOT and marker in str(c["body"])]


# -- end to end ------------------------------------------------------------------------------


def test_a_raised_source_timeout_gets_one_evidence_comment(world: tuple[Path, str]) -> None:
    """--timeout=300s → 600s in the Go helper: one comment with the phase's runs, p50/p95/p99, the share of
    runs each value stops (with intervals) and the recommended limit, all equal to the model's numbers; a
    second run leaves the one comment as it is; the weekly report's comment beside it is untouched."""
    with FakeGitHub() as fake:
        fake.add_pull(5, base=BASE, head={HELPER: helper(600), "README.md": "hello again\n"})
        fake.add_comment(5, ACTIONS_BOT, f"{MARKER}\nthe weekly report")
        code, out, err = check(fake, 5, world)
        assert code == 0, err
        assert out == ""
        assert err.splitlines()[0] == "evidence: --since 3000d (3000 days ending 2026-11-19): 160 of 160 jobs"
        assert err.splitlines()[1] == f"check: 1 timeout change(s) in {REPO}#5 (1 row(s) of evidence; 1 of its 2 changed file(s) are workflows or [[timeouts]] files)"
        assert f"comment created on {REPO}#5 (--pr)" in err
        [posted] = ours(fake, 5)
        body = str(posted["body"])
        assert body.startswith(CHECK_MARKER)
        [row] = [line for line in body.splitlines() if "tekton-wait" in line and line.startswith("| test/infra/helper.go:4")]
        cells = [c.strip() for c in row.strip("|").split("|")]
        frame = Store(world[0]).observations_frame()
        model = DurationModel(quantile=0.99, confidence=Policy().confidence).fit(frame)
        u = keys_of(model.units_).index(PHASE)
        unit = model.units_.iloc[u]
        assert cells[0] == "test/infra/helper.go:4 \\[\\[timeouts\\]\\] phase 'tekton-wait': --timeout=300s → --timeout=600s"
        assert cells[2] == f"{int(unit['samples'])} ({int(unit['censored'])})" and int(unit["censored"]) > 0
        assert cells[3:6] == [dur(unit["p50_s"]), dur(unit["p95_s"] if np.isfinite(unit["p95_s"]) else None),
                              dur(unit["p99_s"] if np.isfinite(unit["p99_s"]) else None)]  # fmt: skip
        rate_300 = model.kill_rate(np.where(np.arange(len(model.units_)) == u, 300.0, np.nan))[0][u]
        assert 0.02 < rate_300 < 0.12
        assert cells[6].startswith(f"{pct(rate_300)} (")  # the old limit stops ~5 % of the runs
        # past the longest run, which the old limit stopped: a tail's extrapolation, with the tail's interval, as
        # recommend's (one estimator: model.rates)
        rates = model.rates(np.array([u]), np.array([600.0]), in_force=True)
        assert cells[7] == f"{pct(rates.point[0])} ({rates.family[0]} tail estimate; {pct(rates.lo[0])}–{pct(rates.hi[0])})"
        assert cells[7].startswith(("0", "<0.01"))
        # 300 s stops ~5 % (too tight); 600 s is inside the policy's band: kept, beside what the data alone ask for
        assert cells[8].startswith("**ok**: 10 min fits (the data alone: ") and "7 min" in cells[8]
        assert len(fake.comments[5]) == 2  # the weekly report and the evidence, each once
        writes = len(fake.writes)
        code, _, err = check(fake, 5, world)
        assert code == 0 and f"comment unchanged on {REPO}#5" in err, err
        assert len(fake.writes) == writes and len(ours(fake, 5)) == 1
        assert TOKEN not in out + err


def test_when_the_change_is_gone_the_comment_says_so_and_no_change_means_no_comment(world: tuple[Path, str]) -> None:
    """The pull request reverts its limit change: the evidence comment is edited to say so (not deleted,
    not left stale). A pull request that never changed a limit gets no comment and no write at all."""
    with FakeGitHub() as fake:
        fake.add_pull(6, base=BASE, head={WORKFLOW: workflow(60)})
        code, _, err = check(fake, 6, world)
        assert code == 0 and "comment created" in err, err
        [first] = ours(fake, 6)
        assert "jobs.e2e: 30 min → 60 min" in str(first["body"])
        fake.add_pull(6, base=BASE, head={"README.md": "only docs\n"})  # the author pushed a revert
        code, _, err = check(fake, 6, world)
        assert code == 0, err
        assert err.splitlines()[1].startswith(f"check: 0 timeout change(s) in {REPO}#6")
        assert f"comment updated on {REPO}#6 (no timeout changes any more)" in err
        [edited] = ours(fake, 6)
        assert edited["id"] == first["id"] and "no longer changes a timeout" in str(edited["body"])
        fake.add_pull(7, base=BASE, head={"README.md": "docs\n", HELPER: helper(300, more="\t// a comment\n")})
        code, out, err = check(fake, 7, world)
        assert (code, out) == (0, "")
        assert err.splitlines()[2] == "no timeout changes in this pull request: nothing to comment"
        assert fake.comments.get(7, []) == [] and [m for m, path, _ in fake.writes if "/7/" in path] == []


def test_dry_run_prints_the_evidence_and_writes_nothing(world: tuple[Path, str]) -> None:
    with FakeGitHub() as fake:
        fake.add_pull(8, base=BASE, head={WORKFLOW: workflow(30, step_minutes=12)})
        code, out, err = check(fake, 8, world, "--dry-run")
        assert code == 0, err
        assert out.startswith(CHECK_MARKER) and "jobs.e2e step 'Run tests': none \\(the job's limit\\) → 12 min" in out
        assert "dry run: nothing sent" in err
        assert fake.writes == [] and fake.comments.get(8, []) == []


# -- what counts as a change -----------------------------------------------------------------

KEYS = [JOB, STEP, PHASE]


def changed(before: str | None, after: str | None, path: str = WORKFLOW, previous: str | None = None) -> ChangedFile:
    status = "added" if before is None else "removed" if after is None else "renamed" if previous else "modified"
    return ChangedFile(path, status, before, after, previous)


def test_workflow_timeout_changes_are_found_per_job_and_step() -> None:
    found = find_changes([changed(workflow(30), workflow(45, step_minutes=20))], [], KEYS)
    assert [(c.where, c.before, c.after, c.line) for c in found] == [
        ("jobs.e2e", "30 min", "45 min", 6),
        ("jobs.e2e step 'Run tests'", "none (the job's limit)", "20 min", 10),
    ]
    assert [(u.key, u.before_s, u.after_s) for c in found for u in c.units] == [(JOB, 1800.0, 2700.0), (STEP, None, 1200.0)]
    removed = find_changes([changed(workflow(30), workflow(None))], [], KEYS)
    assert [(c.before, c.after) for c in removed] == [("30 min", "none (GitHub's default, 360 min)")]
    assert [(u.before_s, u.after_s) for u in removed[0].units] == [(1800.0, 21600.0)]


def test_unchanged_new_and_moved_workflows() -> None:
    """Layout and comments changing is no change; a new job or workflow has no history; a moved file is
    compared with its old path."""
    assert find_changes([changed(workflow(30), workflow(30).replace("make e2e", "make e2e  # fast"))], [], KEYS) == []
    extra = "  lint:\n    runs-on: ubuntu-latest\n    timeout-minutes: 5\n    steps:\n      - run: make lint\n"
    assert find_changes([changed(workflow(30), workflow(30, extra=extra))], [], KEYS) == []
    assert find_changes([changed(None, workflow(30), ".github/workflows/new.yml")], [], KEYS) == []
    moved = find_changes([changed(workflow(30), workflow(40), ".github/workflows/e2e-tests.yml", WORKFLOW)], [], KEYS)
    assert [(c.path, c.before, c.after) for c in moved] == [(".github/workflows/e2e-tests.yml", "30 min", "40 min")]


def test_a_matrix_expression_is_resolved_per_entry() -> None:
    """timeout-minutes: ${{ matrix.t }} and one entry's value changes: that entry's unit changes, the other not."""
    def matrix(fast: int, slow: int) -> str:
        return ("name: E2E\non: [push]\njobs:\n  e2e:\n    name: e2e ${{ matrix.kind }}\n    runs-on: ubuntu-latest\n"
                "    timeout-minutes: ${{ matrix.t }}\n    strategy:\n      matrix:\n        include:\n"
                f"          - {{kind: fast, t: {fast}}}\n          - {{kind: slow, t: {slow}}}\n    steps:\n      - run: make\n")  # fmt: skip
    keys = [UnitKey("job", "E2E", "e2e fast", None, None), UnitKey("job", "E2E", "e2e slow", None, None)]
    [found] = find_changes([changed(matrix(10, 30), matrix(10, 45))], [], keys)
    assert (found.before, found.after) == ("${{ matrix.t }}", "${{ matrix.t }}")
    assert [(u.key.job, u.before_s, u.after_s) for u in found.units] == [("e2e slow", 1800.0, 2700.0)]


def test_source_limits_are_paired_in_order() -> None:
    two = 'a("--timeout=300s")\nb("--timeout=120s")\n'
    found = find_changes([changed(two, two.replace("120s", "240s"), HELPER)], [RULE], KEYS)
    assert [(c.before, c.after, c.line) for c in found] == [("--timeout=120s", "--timeout=240s", 2)]
    assert [(u.key, u.before_s, u.after_s) for u in found[0].units] == [(PHASE, 120.0, 240.0)]
    added = find_changes([changed(two, two + 'c("--timeout=900s")\n', HELPER)], [RULE], KEYS)
    assert [(c.before, c.after) for c in added] == [("none", "--timeout=900s")]
    minutes = TimeoutRule(file=HELPER, pattern=r"timeout: (\d+)m", phase="tekton-wait", unit="m")
    found = find_changes([changed("timeout: 5m\n", "timeout: 10m\n", HELPER)], [minutes], KEYS)
    assert [(u.before_s, u.after_s) for u in found[0].units] == [(300.0, 600.0)]


def test_a_head_workflow_that_does_not_parse_is_an_error_and_a_broken_base_a_warning() -> None:
    with pytest.raises(InputError) as info:
        find_changes([changed(workflow(30), "jobs: [unclosed\n")], [], KEYS)
    assert info.value.message.startswith(f"the pull request's head: {WORKFLOW} is not valid YAML")
    assert "fix the workflow file" in info.value.hint
    warnings: list[str] = []
    assert find_changes([changed("jobs: [unclosed\n", workflow(30))], [], KEYS, on_warning=warnings.append) == []
    assert warnings and warnings[0].startswith("the pull request's base:")


def test_the_evidence_is_the_models(tmp_path: Path) -> None:
    """weigh_changes' numbers are DurationModel's, the estimator recommend judges by (model.rates): the kill
    rates at both values with the intervals around them, what each rests on, a lower rate for the higher value."""
    frame = Store(history(tmp_path / "s.db")).observations_frame()
    [source] = find_changes([changed(helper(300), helper(600), HELPER)], [RULE], KEYS)
    [step] = find_changes([changed(workflow(30), workflow(30, step_minutes=15))], [], KEYS)
    current = {PHASE: CurrentLimit(300.0, "config")}
    (phase_change, step_change), runs = weigh_changes([source, step], frame, current, Policy())
    assert runs == 160
    [e] = phase_change.units
    model = DurationModel(quantile=0.99, confidence=Policy().confidence).fit(frame)

    def rate_of(key: UnitKey, limit: float) -> tuple[float, float, float, str | None]:
        r = model.rates(np.array([keys_of(model.units_).index(key)]), np.array([limit]))
        return float(r.point[0]), float(r.lo[0]), float(r.hi[0]), r.label(0)

    assert e.stops_before is not None and e.stops_after is not None
    before, after = e.stops_before, e.stops_after
    assert (before.rate, before.low, before.high, before.basis) == pytest.approx(rate_of(PHASE, 300.0))
    assert (after.rate, after.low, after.high, after.basis) == pytest.approx(rate_of(PHASE, 600.0))
    assert before.low < before.rate < before.high and before.basis == "km"
    assert after.rate < before.rate and after.high <= before.high and after.basis.startswith("tail:")
    assert (e.samples, e.verdict, e.recommended_s) == (160, "ok", 600.0)
    assert e.evidence_s is not None and 300 < e.evidence_s < 600  # what the data alone ask for: above the old limit
    [s] = step_change.units
    assert s.stops_before is None and s.stops_after is not None and s.before_s is None
    assert (s.stops_after.rate, s.stops_after.low, s.stops_after.high) == pytest.approx(rate_of(STEP, 900.0)[:3])
    assert s.stops_after.low <= s.stops_after.rate <= s.stops_after.high


def test_text_from_the_pull_request_is_inert_in_the_comment(world: tuple[Path, str]) -> None:
    """A step name and a workflow file name from the pull request carrying markup, a mention and a reference
    arrive escaped: no tag, no live @mention or #reference, the table intact."""
    evil = "<img src=x onerror=alert(1)> @octocat #12 | `x`"
    path = ".github/workflows/e2e @octocat.yml"
    before = workflow(30, step_minutes=10).replace("name: Run tests", f'name: "{evil}"')
    with FakeGitHub() as fake:
        fake.add_pull(9, base={path: before}, head={path: before.replace("timeout-minutes: 10", "timeout-minutes: 20")})
        code, out, err = check(fake, 9, world, "--dry-run")
        assert code == 0, err
    assert "<img" not in out and "&lt;img" in out
    assert "@octocat" not in out and "@\u200boctocat" in out
    assert "#12" not in out
    row = next(line for line in out.splitlines() if "jobs.e2e step" in line)
    assert len(re.split(r"(?<!\\)\|", row.strip())) - 2 == 9  # nine cells: the step name's | is escaped
