"""Jobs, attempts and six weeks of runs: which run fails how, which is rerun, which is cancelled."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from analyzer.demo.sample.scenario import (
    CANCELED_LINE,
    COMMIT_MESSAGES,
    E2E_JOB,
    E2E_STEP,
    E2E_WORKFLOW,
    JOB_LIMIT_S,
    OWNER,
    PR_TOPICS,
    SHUTDOWN_LINE,
    STEP_LIMIT_S,
    TEKTON_TIMEOUT_LINE,
    TICK,
    UNIT_JOB,
    UNIT_STEP,
    UNIT_WORKFLOW,
    USERS,
)
from analyzer.demo.sample.setup import (
    ACTIONS,
    log_checkout,
    log_install_kind,
    log_post_checkout,
    log_setup_go,
    log_setup_job,
)
from analyzer.demo.sample.suites import E2EResult, log_e2e_step, log_unit_step
from analyzer.demo.sample.text import Ctx, JobOut, Log, Seg, draw_lognormal, to_ticks

# ------------------------------------------------------------------------------------ job assembly


_Builder = Callable[[Log], str]  # writes one main step's lines; returns success | failure


def _job(
    rng: random.Random,
    start: int,
    job_name: str,
    mains: list[tuple[str, _Builder, float | None]],
    *,
    job_limit_s: float | None,
    cancel_at: int | None,
    lost_at: Callable[[int], int] | None,
    concurrency_group: str,
) -> tuple[list[Seg], str, str | None, list[str]]:
    """Run the main steps forward in time, cut at the first limit or cancel, then the post steps.

    Returns the steps, the job conclusion, the cause that ended it (or None) and the annotations.
    """
    segs: list[Seg] = []
    log = Log(rng, start)
    log_setup_job(log, job_name, ACTIONS)
    log.wait(rng.uniform(0.02, 0.06))
    segs.append(Seg("Set up job", 1, start, log.t, log.lines))
    job_end_limit = start + to_ticks(job_limit_s) if job_limit_s else None
    cause: str | None = None
    conclusion = "success"
    t = log.t
    for number, (name, build, step_limit_s) in enumerate(mains, start=2):
        if cause is not None or conclusion != "success":
            segs.append(Seg(name, number, t, t, [], "skipped"))
            continue
        log = Log(rng, t)
        outcome = build(log)
        log.wait(rng.uniform(0.005, 0.05))
        seg = Seg(name, number, t, log.t, log.lines, outcome)
        cuts: list[tuple[int, str]] = []
        if job_end_limit is not None:
            cuts.append((job_end_limit, "job_timeout"))
        if step_limit_s is not None:
            cuts.append((t + to_ticks(step_limit_s), "step_timeout"))
        if cancel_at is not None:
            cuts.append((cancel_at, "cancelled"))
        if lost_at is not None and step_limit_s is not None:
            cuts.append((lost_at(t), "runner_lost"))
        cut_at, cut_cause = min(cuts) if cuts else (seg.end + 1, "")
        if cut_at < seg.end:
            kept = [(ts, text) for ts, text in seg.lines if ts < cut_at]
            if cut_cause == "step_timeout":
                kept.append((cut_at, f"##[error]The action '{name}' has timed out after {round(step_limit_s or 0) // 60} minutes."))
                seg.conclusion = "failure"
            elif cut_cause == "runner_lost":
                kept.append((cut_at, SHUTDOWN_LINE))
                kept.append((cut_at + to_ticks(rng.uniform(1.2, 2.5)), CANCELED_LINE))
                seg.conclusion = "cancelled"
            else:
                kept.append((cut_at, CANCELED_LINE))
                seg.conclusion = "cancelled"
            seg.lines = kept
            seg.end = kept[-1][0] + to_ticks(0.001)
            cause = cut_cause
        conclusion = "failure" if seg.conclusion != "success" else "success"
        segs.append(seg)
        t = seg.end
    # post steps: always() post of actions/checkout, then "Complete job"
    post_number = 2 * (len(mains) + 1)
    if cause in ("job_timeout", "runner_lost"):
        segs.append(Seg("Post Run actions/checkout@v4", post_number, t, t, [], "skipped"))
        log = Log(rng, t)
        if cause == "runner_lost":
            log.put("Cleaning up orphan processes", gap_s=rng.uniform(0.03, 0.08))
        segs.append(Seg("Complete job", post_number + 1, t, log.t, log.lines))
    else:
        log = Log(rng, t)
        log_post_checkout(log)
        log.wait(rng.uniform(0.002, 0.01))
        segs.append(Seg("Post Run actions/checkout@v4", post_number, t, log.t, log.lines))
        t = log.t
        log = Log(rng, t)
        log.put("Cleaning up orphan processes", gap_s=rng.uniform(0.005, 0.03))
        segs.append(Seg("Complete job", post_number + 1, t, log.t, log.lines))
    annotations: list[str] = []
    if cause == "job_timeout":
        conclusion = "cancelled"
        annotations = [f"The job has exceeded the maximum execution time of {round(job_limit_s or 0) // 60}m0s", CANCELED_LINE[9:]]
    elif cause == "cancelled":
        conclusion = "cancelled"
        annotations = [f"Canceling since a higher priority waiting request for '{concurrency_group}' exists", CANCELED_LINE[9:]]
    elif cause == "runner_lost":
        conclusion = "failure"
        annotations = [SHUTDOWN_LINE[9:], CANCELED_LINE[9:]]
    elif cause == "step_timeout":
        conclusion = "failure"
        failed = next(s for s in segs if s.conclusion == "failure")
        annotations = [f"The action '{failed.name}' has timed out after {STEP_LIMIT_S // 60} minutes."]
    elif conclusion == "failure":
        annotations = ["Process completed with exit code 1."]
    return segs, conclusion, cause, annotations


def _setup_steps(ctx: Ctx) -> tuple[Callable[[Log], str], Callable[[Log], str]]:
    """The checkout and setup-go steps every job starts with (they always succeed)."""

    def checkout(log: Log) -> str:
        log_checkout(log, ctx)
        return "success"

    def setup_go(log: Log) -> str:
        log_setup_go(log)
        return "success"

    return checkout, setup_go


def _simulate_e2e(rng: random.Random, start: int, ctx: Ctx) -> JobOut:
    result: list[E2EResult] = []

    def e2e(log: Log) -> str:
        r = log_e2e_step(log, ctx, hang=ctx.scenario in ("job_timeout", "step_timeout"))
        result.append(r)
        return r.outcome

    def install(log: Log) -> str:
        log_install_kind(log, slow=ctx.scenario == "job_timeout")
        return "success"

    checkout, setup_go = _setup_steps(ctx)
    lost = None
    if ctx.scenario == "runner_lost":
        lost_after = rng.uniform(120, 500)

        def lost(step_start: int) -> int:
            return step_start + to_ticks(lost_after)

    group = f"E2E-refs/pull/{ctx.pr}/merge" if ctx.pr is not None else "E2E-refs/heads/main"
    segs, conclusion, cause, notes = _job(
        rng,
        start,
        E2E_JOB,
        [
            ("Run actions/checkout@v4", checkout, None),
            ("Run actions/setup-go@v5", setup_go, None),
            ("Install Kind and kubectl", install, None),
            (E2E_STEP, e2e, STEP_LIMIT_S),
        ],
        job_limit_s=JOB_LIMIT_S,
        cancel_at=ctx.cancel_at,
        lost_at=lost,
        concurrency_group=group,
    )
    natural = result[0] if result else E2EResult("success", None, False)
    incident = cause or natural.incident
    tekton = natural.tekton_timeout and any(TEKTON_TIMEOUT_LINE in text for s in segs for _, text in s.lines)
    return JobOut(E2E_JOB, start, segs[-1].end, conclusion, segs, incident, notes, tekton)


def _simulate_unit(rng: random.Random, start: int, ctx: Ctx) -> JobOut:
    natural: list[str | None] = []

    def go_test(log: Log) -> str:
        outcome, incident = log_unit_step(log)
        natural.append(incident)
        return outcome

    checkout, setup_go = _setup_steps(ctx)
    segs, conclusion, cause, notes = _job(
        rng,
        start,
        UNIT_JOB,
        [("Run actions/checkout@v4", checkout, None), ("Run actions/setup-go@v5", setup_go, None), (UNIT_STEP, go_test, None)],
        job_limit_s=None,
        cancel_at=None,
        lost_at=None,
        concurrency_group="",
    )
    return JobOut(UNIT_JOB, start, segs[-1].end, conclusion, segs, cause or (natural[0] if natural else None), notes)


# ---------------------------------------------------------------------------------------- history


@dataclass
class Attempt:
    number: int
    created: int  # when this attempt was queued (run_started_at)
    job: JobOut
    job_created: int
    job_id: int = 0
    runner_id: int = 0


@dataclass
class RunSpec:
    workflow: str
    created: int
    ctx: Ctx
    event: str
    branch: str
    title: str
    actor: tuple[str, int]
    run_id: int = 0
    run_number: int = 0
    attempts: list[Attempt] = field(default_factory=list)


@dataclass
class _Event:
    t: int
    event: str  # push | pull_request
    pr: int | None
    branch: str
    title: str
    actor: tuple[str, int]
    cancels_previous: bool = False


def _events(rng: random.Random, start: datetime, days: int) -> list[_Event]:
    events: list[_Event] = []
    open_prs: list[tuple[int, str, str, tuple[str, int]]] = []
    next_pr = 412
    for day in range(days):
        date = start + timedelta(days=day)
        count = rng.randint(4, 7) if date.weekday() < 5 else rng.randint(0, 2)
        hours = sorted(rng.uniform(7.5, 19.5) for _ in range(count))
        for hour in hours:
            t = to_ticks((date + timedelta(hours=hour)).timestamp()) // TICK * TICK
            if open_prs and rng.random() < 0.35:
                number, branch, title, actor = open_prs.pop(rng.randrange(len(open_prs)))
                events.append(_Event(t, "push", None, "main", f"Merge pull request #{number} from {OWNER}/{branch}", actor))
                continue
            if not open_prs and rng.random() < 0.3:
                events.append(_Event(t, "push", None, "main", rng.choice(COMMIT_MESSAGES), rng.choice(USERS)))
                continue
            if not open_prs or rng.random() < 0.45:
                topic, subject = PR_TOPICS[(next_pr - 412) % len(PR_TOPICS)]
                kind = rng.choice(("feat", "fix", "refactor", "test"))
                pr = (next_pr, f"{kind}/{topic}", subject, rng.choice(USERS))
                next_pr += 1
                open_prs.append(pr)
            else:
                pr = open_prs[rng.randrange(len(open_prs))]
            number, branch, title, actor = pr
            events.append(_Event(t, "pull_request", number, branch, title, actor))
            if rng.random() < 0.06:  # a quick follow-up push: concurrency cancels the running E2E
                follow = t + to_ticks(rng.uniform(150, 480)) // TICK * TICK
                events.append(_Event(follow, "pull_request", number, branch, title, actor, cancels_previous=True))
    events.sort(key=lambda e: e.t)
    return events


def plan_history(rng: random.Random, end: datetime, weeks: int) -> list[RunSpec]:
    start = end - timedelta(weeks=weeks)
    end_t = to_ticks(end.timestamp())
    slow_from, slow_to = (start + timedelta(weeks=3), start + timedelta(weeks=4)) if weeks >= 4 else (end, end)
    runs: list[RunSpec] = []
    last_e2e: dict[int, RunSpec] = {}
    for ev in _events(rng, start, weeks * 7):
        sha = f"{rng.getrandbits(160):040x}"
        merge_sha = f"{rng.getrandbits(160):040x}"
        in_slow_week = to_ticks(slow_from.timestamp()) <= ev.t < to_ticks(slow_to.timestamp())
        for workflow in (E2E_WORKFLOW, UNIT_WORKFLOW):
            ctx = Ctx(ev.event, sha, merge_sha, ev.pr, ev.branch, slowdown=1.45 if in_slow_week else 1.0)
            created = ev.t + (0 if workflow == E2E_WORKFLOW else TICK * rng.randint(0, 1))
            spec = RunSpec(workflow, created, ctx, ev.event, ev.branch, ev.title, ev.actor)
            runs.append(spec)
            if workflow == E2E_WORKFLOW and ev.pr is not None:
                previous = last_e2e.get(ev.pr)
                if ev.cancels_previous and previous is not None:
                    previous.ctx.cancel_at = ev.t + to_ticks(rng.uniform(1.5, 4.0))
                last_e2e[ev.pr] = spec
    # the rare incidents, placed on runs that are not cancelled anyway
    last_day = end_t - to_ticks(86_400)
    candidates = [r for r in runs if r.workflow == E2E_WORKFLOW and r.ctx.cancel_at is None and r.created < last_day]
    scale = max(1, round(weeks / 2))
    wanted = ["job_timeout"] * scale + ["step_timeout"] * max(1, scale - 1) + ["runner_lost"]
    for spec, scenario in zip(rng.sample(candidates, min(len(wanted), len(candidates))), wanted, strict=False):
        spec.ctx.scenario = scenario
    for spec in runs:
        _simulate_attempts(rng, spec, end_t)
    return runs


def _simulate_attempts(rng: random.Random, spec: RunSpec, end_t: int) -> None:
    queued = spec.created
    ctx = spec.ctx
    for number in (1, 2, 3):
        job_created = queued + TICK * rng.randint(1, 3)
        delay = draw_lognormal(rng, 5, 0.6) + (rng.uniform(60, 240) if rng.random() < 0.03 else 0.0)
        start = job_created + to_ticks(delay)
        simulate = _simulate_e2e if spec.workflow == E2E_WORKFLOW else _simulate_unit
        job = simulate(rng, start, ctx)
        if job.end + to_ticks(5) >= end_t:  # would still be running at the snapshot: not part of the history
            break
        spec.attempts.append(Attempt(number, queued, job, job_created))
        if job.conclusion == "success" or job.incident == "cancelled" or number == 3:
            break
        rerun_p = 0.9 if job.incident == "runner_lost" else (0.6 if number == 1 else 0.45)
        if rng.random() >= rerun_p:
            break
        queued = (job.end + to_ticks(draw_lognormal(rng, 900, 0.8))) // TICK * TICK
        ctx = Ctx(ctx.event, ctx.sha, ctx.merge_sha, ctx.pr, ctx.branch, slowdown=ctx.slowdown)
