"""Ground-truth CI histories for the advice-quality benchmark: known duration distributions, real export folders.

Design (what the benchmark and ``tests/test_advice_quality.py`` rest on):

- **Segments.** A job is a chain of segments, each drawn from a known ``advice_truth.Dist`` (a finite
  mixture of scipy distributions, so its survival function and quantiles are exact): the runner-made
  "Set up job", a ``uses:`` checkout, a ``run:`` step "Prepare", the step "Run tests" (a
  ``kubectl wait --timeout=…`` phase, a ``[[phases]]`` rule phase with ``timeout_s``, then the
  test suite proper), the runner-made post step and "Complete job" (container jobs also get
  "Initialize containers" / "Stop containers").
- **Truth.** A unit's *healthy* duration is what it lasts when no limit fires and the run does
  not hang. For a single segment (steps, phases) that is its ``Dist``, exactly; for the sums (the
  test step, the job) it is a Monte Carlo of the same draws (400,000 by default: the standard
  error of a 1 % kill rate is 0.016 %). ``Truth.kill(L)`` = P(healthy duration > L).
- **History.** Runs spread evenly over ``days``; each attempt draws its segments, then lives
  through the limits in force at its time (a limit can change at ``change_at``: an earlier 300 s
  wait, a raised ``timeout-minutes``), concurrency cancels (at an exponential time independent of
  the run's length, as a new push arrives: independent censoring), hangs
  (the suite goes silent and the step or job limit ends it), plain failures, and reruns of
  attempts that did not succeed. Limits may be given in seconds or as a target kill rate
  (``Kill(0.02)``: the whole-minute, or 10-second, value whose true kill rate is nearest 2 %).
- **Export.** ``advice_export.write_export`` writes what ``we-advisor ingest`` reads (the layout of
  ``data/sample/``): runs.json, attempts/, jobs/ (REST shapes), logs/*.txt.gz (minimal logs in
  GitHub's timestamp / ``##[group]`` format with the real timeout lines), annotations/ (job
  timeouts, cancels, step timeouts), workflow-files/ (``timeout-minutes`` of the job and steps as
  they are *now*) and we-advisor.toml (the ``[[phases]]`` rules).
- **Observations.** ``History.observed`` holds, per unit, what the tool should see (duration,
  censored, outcome) next to the truth (hung, the limit in force, the silence before the end),
  so estimators can be studied on arrays without the store (``benchmarks/advice_lab.py``).

Nothing here imports ``analyzer``: the benchmark talks to we-advisor only through its command line.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray

from benchmarks.advice_truth import Dist, Truth, bimodal, heavy, lognormal, weibull

REPO = "bench/advice"
JOB = "test"
TESTS_STEP = "Run tests"
PREPARE_STEP = "Prepare"
CHECKOUT_STEP = "Run actions/checkout@v4"
WAIT_PHASE = "kubectl-wait:deployment/app"
RUNNER_STEPS = ("Set up job", "Initialize containers", "Post Run actions/checkout@v4", "Stop containers", "Complete job")
DEFAULT_JOB_LIMIT_S = 360 * 60.0
END = datetime(2026, 11, 23, tzinfo=UTC)
TICK = 10_000_000  # log timestamps: 10⁻⁷ s, as GitHub writes them
TRUTH_DRAWS = 400_000
_TEST_PREAMBLE_S = 0.04  # "Run tests": its group lines before the wait, and the gaps between parts
_TEST_GAP_S = 0.01


# -- limits and specs ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Kill:
    """A limit chosen so that it truly stops about ``rate`` of healthy runs (rounded as people write it)."""

    rate: float


LimitSpec = float | Kill | None  # seconds, a target kill rate, or no limit


@dataclass(frozen=True)
class HistorySpec:
    """One workflow (one job, ``test``) and how its history is generated.

    Limits are (before, after) ``change_at`` (a share of the history); equal values mean no change.
    Job and step limits are whole minutes (``timeout-minutes``), phase limits whole seconds.
    """

    name: str
    runs: int
    seed: int
    rest: Dist  # the test suite proper, after the two phases
    prepare: Dist = field(default_factory=lambda: lognormal(25.0, 0.3))
    wait: Dist | None = field(default_factory=lambda: lognormal(40.0, 0.4))
    warmup: Dist | None = field(default_factory=lambda: lognormal(20.0, 0.5))
    job_limit: tuple[LimitSpec, LimitSpec] = (None, None)  # None: GitHub's default of 360 minutes
    step_limit: tuple[LimitSpec, LimitSpec] = (None, None)  # "Run tests" timeout-minutes
    prepare_limit: LimitSpec = None
    wait_limit: tuple[LimitSpec, LimitSpec] = (300.0, 300.0)  # kubectl wait --timeout
    warmup_limit: LimitSpec = 300.0  # [[phases]] timeout_s (the config holds only the current value)
    change_at: float = 0.5
    cancel: float = 0.03  # share of first attempts a concurrency cancel stops (at a time independent of the run)
    hang: float = 0.0  # the suite goes silent until a limit ends it
    fail: float = 0.02  # plain test failures, at a uniform point of the suite
    rerun: float = 0.5  # attempts that did not succeed and are run again
    container: bool = False  # adds the runner's "Initialize containers" / "Stop containers"
    days: float = 84.0
    note: str = ""

    @property
    def slug(self) -> str:
        return "".join(c if c.isalnum() or c in "-_" else "-" for c in self.name)


SETUP = lognormal(1.3, 0.25)
CHECKOUT = lognormal(2.2, 0.35)
INIT_CONTAINERS = lognormal(12.0, 0.35)
POST = lognormal(0.35, 0.3)
STOP_CONTAINERS = lognormal(1.0, 0.3)
COMPLETE = lognormal(0.08, 0.3)


# -- the generated history -------------------------------------------------------------------------


@dataclass(frozen=True)
class UnitTruth:
    """One unit of a history: its key as ``recommend`` names it, the truth, and its limit now."""

    scope: str
    workflow: str
    job: str
    step: str | None
    phase: str | None
    truth: Truth
    current_limit_s: float | None
    settable: bool  # a limit can be written for it (job/step timeout-minutes, a phase timeout)
    where: str  # where that limit lives

    @property
    def key(self) -> tuple[str, str, str, str | None, str | None]:
        return (self.scope, self.workflow, self.job, self.step, self.phase)

    @property
    def minutes(self) -> bool:
        return self.scope in ("job", "step")


@dataclass
class Observed:
    """What the tool should see of one unit, one entry per observation, with the truth beside it."""

    duration: list[float] = field(default_factory=list)
    censored: list[bool] = field(default_factory=list)
    outcome: list[str] = field(default_factory=list)
    hung: list[bool] = field(default_factory=list)
    limit: list[float] = field(default_factory=list)  # the unit's own limit in force (nan: none)
    silence: list[float] = field(default_factory=list)  # seconds without output before it ended
    gap: list[float] = field(default_factory=list)  # the longest silence between two of its lines
    inner_cut: list[bool] = field(default_factory=list)  # ended by an inner limit (a phase or step timeout)
    started: list[float] = field(default_factory=list)  # epoch seconds

    def arrays(self) -> dict[str, NDArray[Any]]:
        return {
            "duration": np.asarray(self.duration, float),
            "censored": np.asarray(self.censored, bool),
            "outcome": np.asarray(self.outcome, object),
            "hung": np.asarray(self.hung, bool),
            "limit": np.asarray(self.limit, float),
            "silence": np.asarray(self.silence, float),
            "gap": np.asarray(self.gap, float),
            "inner_cut": np.asarray(self.inner_cut, bool),
            "started": np.asarray(self.started, float),
        }


@dataclass
class Step:
    name: str
    number: int
    start: int  # ticks
    end: int
    lines: list[tuple[int, str]]
    conclusion: str = "success"


@dataclass
class Attempt:
    run_index: int
    number: int
    created: int
    start: int
    end: int
    conclusion: str
    cause: str | None
    steps: list[Step]
    annotations: list[str]
    run_id: int = 0
    job_id: int = 0


@dataclass
class History:
    spec: HistorySpec
    units: dict[tuple[str, str, str, str | None, str | None], UnitTruth]
    observed: dict[tuple[str, str, str, str | None, str | None], Observed]
    attempts: list[Attempt]
    limits: dict[str, tuple[float | None, float | None]]  # resolved (before, after) per limit name
    run_created: list[int]

    @property
    def workflow(self) -> str:
        return self.spec.name


def _ticks(seconds: float) -> int:
    return round(seconds * TICK)


def _longest_gap(lines: Sequence[tuple[int, str]]) -> float:
    if len(lines) < 2:
        return 0.0
    t = np.fromiter((x for x, _ in lines), dtype=np.int64, count=len(lines))
    return float(np.max(np.diff(t))) / TICK


def _resolve(spec: LimitSpec, truth: Truth, minutes: bool) -> float | None:
    """Seconds for a limit spec: a ``Kill`` target becomes the whole minute (or 10 s) nearest that kill rate."""
    if spec is None or isinstance(spec, float | int):
        return None if spec is None else float(spec)
    step = 60.0 if minutes else 10.0
    guess = truth.quantile(1 - spec.rate)
    candidates = [max(step, step * k) for k in range(max(1, math.floor(guess / step) - 2), math.ceil(guess / step) + 3)]
    return min(candidates, key=lambda c: abs(truth.kill(c) - spec.rate))


def _truths(spec: HistorySpec, draws: int) -> dict[str, Truth]:
    """Per part of the job: the exact truth of single segments, Monte Carlo of the test step and the job."""
    rng = np.random.default_rng([spec.seed, 99])
    zero = np.zeros(draws)
    wait = spec.wait.sample(rng, draws) if spec.wait else zero
    warm = spec.warmup.sample(rng, draws) if spec.warmup else zero
    tests = _TEST_PREAMBLE_S + wait + warm + spec.rest.sample(rng, draws) + 2 * _TEST_GAP_S
    job = tests + SETUP.sample(rng, draws) + CHECKOUT.sample(rng, draws) + spec.prepare.sample(rng, draws)
    job += POST.sample(rng, draws) + COMPLETE.sample(rng, draws)
    if spec.container:
        job += INIT_CONTAINERS.sample(rng, draws) + STOP_CONTAINERS.sample(rng, draws)
    out = {
        "job": Truth(draws=job),
        TESTS_STEP: Truth(draws=tests),
        PREPARE_STEP: Truth(spec.prepare),
        CHECKOUT_STEP: Truth(CHECKOUT),
        "Set up job": Truth(SETUP),
        "Post Run actions/checkout@v4": Truth(POST),
        "Complete job": Truth(COMPLETE),
    }
    if spec.container:
        out["Initialize containers"] = Truth(INIT_CONTAINERS)
        out["Stop containers"] = Truth(STOP_CONTAINERS)
    if spec.wait:
        out[WAIT_PHASE] = Truth(spec.wait)
    if spec.warmup:
        out[warmup_phase(spec)] = Truth(spec.warmup)
    return out


def _cancel_mean(job: Truth, share: float) -> float:
    """Mean of the exponential time to a cancel (the next push) such that it stops ``share`` of the runs.

    The cancel time does not depend on how long the run would take (independent censoring, as a
    push arriving is); a run is cancelled when it comes before the run's end.
    """
    if share <= 0 or job.draws is None:
        return math.inf
    t = job.draws[:: max(1, job.draws.size // 20_000)]
    lo, hi = float(np.min(t)) * 1e-3, float(np.max(t)) * 1e4
    for _ in range(60):
        mid = math.sqrt(lo * hi)
        if float(np.mean(-np.expm1(-t / mid))) > share:
            lo = mid
        else:
            hi = mid
    return math.sqrt(lo * hi)


def warmup_phase(spec: HistorySpec) -> str:
    return f"warmup-{spec.slug}"


def generate(spec: HistorySpec, *, truth_draws: int = TRUTH_DRAWS) -> History:
    """Simulate one history (deterministic for a spec)."""
    truths = _truths(spec, truth_draws)
    limits: dict[str, tuple[float | None, float | None]] = {
        "job": (_resolve(spec.job_limit[0], truths["job"], True), _resolve(spec.job_limit[1], truths["job"], True)),
        "step": (_resolve(spec.step_limit[0], truths[TESTS_STEP], True), _resolve(spec.step_limit[1], truths[TESTS_STEP], True)),
        "prepare": (_resolve(spec.prepare_limit, truths[PREPARE_STEP], True),) * 2,
    }
    if spec.wait:
        limits["wait"] = (_resolve(spec.wait_limit[0], truths[WAIT_PHASE], False), _resolve(spec.wait_limit[1], truths[WAIT_PHASE], False))
    if spec.warmup:
        limits["warmup"] = (_resolve(spec.warmup_limit, truths[warmup_phase(spec)], False),) * 2
    units = _unit_truths(spec, truths, limits)
    sim = _Simulator(spec, limits, units, _cancel_mean(truths["job"], spec.cancel))
    sim.run()
    return History(spec, units, sim.observed, sim.attempts, limits, sim.run_created)


def _unit_truths(spec: HistorySpec, truths: dict[str, Truth], limits: dict[str, tuple[float | None, float | None]]) -> dict[
    tuple[str, str, str, str | None, str | None], UnitTruth
]:
    wf = spec.name
    out: dict[tuple[str, str, str, str | None, str | None], UnitTruth] = {}

    def add(scope: str, step: str | None, phase: str | None, truth: Truth, now: float | None, settable: bool, where: str) -> None:
        u = UnitTruth(scope, wf, JOB, step, phase, truth, now, settable, where)
        out[u.key] = u

    job_now = limits["job"][1]
    add("job", None, None, truths["job"], job_now if job_now is not None else DEFAULT_JOB_LIMIT_S, True, "jobs.test.timeout-minutes")
    for name in RUNNER_STEPS:
        if name in truths:
            add("step", name, None, truths[name], None, False, "made by the runner: no timeout-minutes")
    add("step", CHECKOUT_STEP, None, truths[CHECKOUT_STEP], None, True, "jobs.test.steps[uses: actions/checkout@v4].timeout-minutes")
    add("step", PREPARE_STEP, None, truths[PREPARE_STEP], limits["prepare"][1], True, "jobs.test.steps[Prepare].timeout-minutes")
    add("step", TESTS_STEP, None, truths[TESTS_STEP], limits["step"][1], True, "jobs.test.steps[Run tests].timeout-minutes")
    if spec.wait:
        add("phase", TESTS_STEP, WAIT_PHASE, truths[WAIT_PHASE], limits["wait"][1], True, "kubectl wait --timeout (in the test script)")
    if spec.warmup:
        name = warmup_phase(spec)
        add("phase", TESTS_STEP, name, truths[name], limits["warmup"][1], True, f"[[phases]] {name} timeout_s")
    return out


class _Simulator:
    """Plays every attempt of a history forward in time: segments, lines, limits, cuts."""

    def __init__(self, spec: HistorySpec, limits: dict[str, tuple[float | None, float | None]], units: dict[Any, UnitTruth],
                 cancel_mean: float) -> None:  # fmt: skip
        self.spec = spec
        self.cancel_mean = cancel_mean
        self.limits = limits
        self.rng = np.random.default_rng([spec.seed, 1])
        self.observed: dict[tuple[str, str, str, str | None, str | None], Observed] = {k: Observed() for k in units}
        self.attempts: list[Attempt] = []
        self.run_created: list[int] = []
        cap = 2 * spec.runs + 8
        r = self.rng
        self.draws = {
            "setup": SETUP.sample(r, cap), "checkout": CHECKOUT.sample(r, cap), "prepare": spec.prepare.sample(r, cap),
            "wait": spec.wait.sample(r, cap) if spec.wait else np.zeros(cap),
            "warmup": spec.warmup.sample(r, cap) if spec.warmup else np.zeros(cap),
            "rest": spec.rest.sample(r, cap), "post": POST.sample(r, cap), "complete": COMPLETE.sample(r, cap),
            "init": INIT_CONTAINERS.sample(r, cap), "stop": STOP_CONTAINERS.sample(r, cap),
        }  # fmt: skip
        self.used = 0
        self._inner_cut = False
        self._pending: list[tuple[str, int, int, str, float]] = []  # phase, start, end, outcome, limit

    def key(self, scope: str, step: str | None = None, phase: str | None = None) -> tuple[str, str, str, str | None, str | None]:
        return (scope, self.spec.name, JOB, step, phase)

    def run(self) -> None:
        spec = self.spec
        end = _ticks(END.timestamp())
        span = _ticks(spec.days * 86400)
        first = end - span
        gaps = np.sort(self.rng.uniform(0, 1, spec.runs))
        for i, share in enumerate(gaps):
            created = first + int(share * span)
            created -= created % TICK  # runs start on whole seconds (API times are whole seconds)
            self.run_created.append(created)
            after = share >= spec.change_at
            number = 1
            t = created + 3 * TICK
            while True:
                attempt = self.attempt(i, number, created, t, after, rerun=number > 1)
                self.attempts.append(attempt)
                if attempt.conclusion == "success" or number >= 3 or self.rng.random() >= spec.rerun:
                    break
                number += 1
                t = attempt.end + _ticks(float(self.rng.uniform(60, 900)))
                t -= t % TICK

    def limit(self, name: str, after: bool) -> float | None:
        pair = self.limits.get(name)
        return None if pair is None else pair[1 if after else 0]

    def attempt(self, run_index: int, number: int, created: int, start: int, after: bool, *, rerun: bool) -> Attempt:
        spec, rng, d, k = self.spec, self.rng, self.draws, self.used
        self.used += 1
        self._inner_cut = False
        self._pending = []
        job_limit = self.limit("job", after) or DEFAULT_JOB_LIMIT_S
        job_cut = start + _ticks(job_limit)
        cancel_at = None
        if not rerun and math.isfinite(self.cancel_mean):
            cancel_at = start + _ticks(float(rng.exponential(self.cancel_mean)))
        fate = rng.random()
        hang = fate < spec.hang
        fail = not hang and fate < spec.hang + spec.fail
        steps: list[Step] = []
        cause: str | None = None
        failed = False
        t = start
        epoch = start / TICK

        # Set up job (runner-made)
        lines = [(t + _ticks(0.2), "Current runner version: '2.329.0'"), (t + _ticks(0.3), "##[group]Operating System"),
                 (t + _ticks(0.31), "Ubuntu"), (t + _ticks(0.32), "##[endgroup]"),
                 (t + _ticks(0.4), f"Complete job name: {JOB}")]  # fmt: skip
        end = t + _ticks(max(0.45, float(d["setup"][k])))
        lines[0] = (t, lines[0][1])
        steps.append(Step("Set up job", 1, t, end, lines))
        self.observe("step", "Set up job", None, (end - t) / TICK, "success", epoch=epoch)
        t = end
        mains: list[tuple[str, Callable[[int], tuple[int, list[tuple[int, str]], str, float]], float | None]] = []
        if spec.container:
            mains.append(("Initialize containers", lambda s: self.plain(s, float(d["init"][k]), "##[group]Checking docker version"), None))
        mains.append((CHECKOUT_STEP, lambda s: self.plain(s, float(d["checkout"][k]), "##[group]Run actions/checkout@v4"), None))
        mains.append((PREPARE_STEP, lambda s: self.plain(s, float(d["prepare"][k]), "##[group]Run ./scripts/prepare.sh"), self.limit("prepare", after)))
        mains.append((TESTS_STEP, lambda s: self.tests(s, k, after, hang, fail, epoch), self.limit("step", after)))
        number_ = 2
        for name, build, step_limit in mains:
            if cause is not None or failed:
                steps.append(Step(name, number_, t, t, [], "skipped"))
                number_ += 1
                continue
            natural_end, lines, outcome, _ = build(t)
            cuts = [(job_cut, "job_timeout")]
            if step_limit is not None:
                cuts.append((t + _ticks(step_limit), "step_timeout"))
            if cancel_at is not None:
                cuts.append((cancel_at, "cancelled"))
            cut_at, cut_cause = min(cuts)
            step = Step(name, number_, t, natural_end, lines, outcome)
            inner = outcome == "failure" and name == TESTS_STEP and self._inner_cut
            if cut_at < natural_end:
                kept = [(ts, text) for ts, text in lines if ts < cut_at]
                silence = (cut_at - (kept[-1][0] if kept else t)) / TICK
                if cut_cause == "step_timeout":
                    kept.append((cut_at, f"##[error]The action '{name}' has timed out after {round((step_limit or 0) / 60)} minutes."))
                    step.conclusion = "failure"
                else:
                    kept.append((cut_at, "##[error]The operation was canceled."))
                    step.conclusion = "cancelled"
                step.lines, step.end = kept, cut_at + _ticks(0.001)
                cause = cut_cause
                seen = "timeout" if cut_cause in ("step_timeout", "job_timeout") else "cancelled"
                self.observe("step", name, None, (step.end - t) / TICK, seen, hung=hang and name == TESTS_STEP,
                             limit=step_limit, silence=silence, epoch=epoch, gap=_longest_gap(kept))  # fmt: skip
                if name == TESTS_STEP:
                    self._phases_cut(t, cut_at)
            else:
                failed = outcome == "failure"
                self.observe("step", name, None, (natural_end - t) / TICK, outcome, limit=step_limit, inner=inner, epoch=epoch,
                             gap=_longest_gap(lines))  # fmt: skip
                if name == TESTS_STEP:
                    self._phases_cut(t, None)
            steps.append(step)
            t = step.end
            number_ += 1
        post_number = 2 * number_ - 1
        if cause in ("job_timeout", "cancelled"):
            steps.append(Step("Post Run actions/checkout@v4", post_number, t, t, [], "skipped"))
        else:
            end = t + _ticks(max(0.02, float(d["post"][k])))
            steps.append(Step("Post Run actions/checkout@v4", post_number, t, end,
                               [(t, "Post job cleanup."), (t + _ticks(0.01), "[command]/usr/bin/git version")]))  # fmt: skip
            self.observe("step", "Post Run actions/checkout@v4", None, (end - t) / TICK, "success", epoch=epoch)
            t = end
        if spec.container:
            end = t + _ticks(max(0.02, float(d["stop"][k])))
            steps.append(Step("Stop containers", post_number + 1, t, end, [(t, "Stop and remove container: 1f2e3d")]))
            self.observe("step", "Stop containers", None, (end - t) / TICK, "success", epoch=epoch)
            t = end
        end = t + _ticks(max(0.01, float(d["complete"][k])))
        steps.append(Step("Complete job", post_number + 2, t, end, [(t, "Cleaning up orphan processes")]))
        self.observe("step", "Complete job", None, (end - t) / TICK, "success", epoch=epoch)
        annotations: list[str] = []
        if cause == "job_timeout":
            conclusion = "cancelled"
            annotations = [f"The job has exceeded the maximum execution time of {round(job_limit / 60)}m0s", "The operation was canceled."]
        elif cause == "cancelled":
            conclusion = "cancelled"
            annotations = [f"Canceling since a higher priority waiting request for '{spec.slug}-refs/heads/main' exists",
                           "The operation was canceled."]  # fmt: skip
        elif cause == "step_timeout":
            conclusion = "failure"
            limit_min = round((self.limit("step", after) or 0) / 60)
            timed = next(s for s in steps if s.conclusion == "failure")
            if timed.name == PREPARE_STEP:
                limit_min = round((self.limit("prepare", after) or 0) / 60)
            annotations = [f"The action '{timed.name}' has timed out after {limit_min} minutes."]
        elif failed:
            conclusion = "failure"
            annotations = ["Process completed with exit code 1."]
        else:
            conclusion = "success"
        job_seen = {"job_timeout": "timeout", "cancelled": "cancelled"}.get(cause or "", "failure" if conclusion == "failure" else "success")
        last_lines = [ln for s in steps for ln in s.lines]
        silence = float("nan")
        if cause in ("job_timeout", "step_timeout", "cancelled"):
            cut_step = next(s for s in steps if s.conclusion in ("failure", "cancelled"))
            body = cut_step.lines[:-1]
            silence = (cut_step.lines[-1][0] - (body[-1][0] if body else cut_step.start)) / TICK
        self.observe("job", None, None, (t - start) / TICK, job_seen, hung=hang, limit=job_limit, silence=silence,
                     inner=cause == "step_timeout" or (failed and self._inner_cut), epoch=epoch,
                     gap=_longest_gap(last_lines))  # fmt: skip
        assert last_lines
        return Attempt(run_index, number, created, start, t, conclusion, cause, steps, annotations)

    def plain(self, start: int, seconds: float, header: str) -> tuple[int, list[tuple[int, str]], str, float]:
        end = start + _ticks(max(0.05, seconds))
        lines = [(start, header), (start + _ticks(0.002), "##[endgroup]")]
        # a line about every 30 s, so a healthy step is never silent for long
        t = start + _ticks(0.01)
        while True:
            t += _ticks(float(self.rng.uniform(10, 50)))
            if t >= end - _ticks(0.005):
                break
            lines.append((t, "working ..."))
        lines.append((end - _ticks(0.004), "done"))
        return end, lines, "success", float("nan")

    def tests(self, start: int, k: int, after: bool, hang: bool, fail: bool, epoch: float) -> tuple[int, list[tuple[int, str]], str, float]:
        """The test step's lines as they would run with no step/job limit or cancel (hang: no end)."""
        spec, d, rng = self.spec, self.draws, self.rng
        lines = [(start, "##[group]Run make e2e"), (start + _ticks(0.01), "make e2e"), (start + _ticks(0.02), "##[endgroup]")]
        t = start + _ticks(_TEST_PREAMBLE_S)
        if spec.wait:
            limit = self.limit("wait", after)
            assert limit is not None
            lines.append((t, f"+ kubectl wait -n app --for=condition=available deployment/app --timeout={limit:g}s"))
            took = float(d["wait"][k])
            if took >= limit:
                end = t + _ticks(limit + 0.03)
                lines.append((end, "error: timed out waiting for the condition on deployments/app"))
                self._pending.append((WAIT_PHASE, t, end, "timeout", limit))
                return self._fail(lines, end)
            end = t + _ticks(took)
            lines.append((end, "deployment.apps/app condition met"))
            self._pending.append((WAIT_PHASE, t, end, "success", limit))
            t = end + _ticks(_TEST_GAP_S)
        if spec.warmup:
            limit = self.limit("warmup", after)
            assert limit is not None
            name = warmup_phase(spec)
            lines.append((t, f"warmup {spec.slug} start"))
            took = float(d["warmup"][k])
            if took >= limit:
                end = t + _ticks(limit + 0.02)
                lines.append((end, f"Timed out after {limit:.3f}s waiting for warmup {spec.slug}"))
                self._pending.append((name, t, end, "timeout", limit))
                return self._fail(lines, end)
            end = t + _ticks(took)
            lines.append((end, f"warmup {spec.slug} done"))
            self._pending.append((name, t, end, "success", limit))
            t = end + _ticks(_TEST_GAP_S)
        rest = float(d["rest"][k])
        suite_end = t + _ticks(rest)
        stop = suite_end
        if hang or fail:
            stop = t + _ticks(float(rng.uniform(0.05, 0.9)) * rest)
        lines.append((t, "running the suite"))
        u = t
        while True:
            u += _ticks(float(rng.uniform(10, 50)))
            if u >= stop - _ticks(0.005):
                break
            lines.append((u, "progress: specs running"))
        if hang:
            lines.append((stop - _ticks(0.004), "progress: waiting for the controller"))
            return 2**62, lines, "success", float("nan")  # never ends on its own
        if fail:
            lines.append((stop, "FAIL: a spec failed"))
            lines.append((stop + _ticks(0.005), "##[error]Process completed with exit code 1."))
            return stop + _ticks(0.01), lines, "failure", float("nan")
        lines.append((suite_end - _ticks(0.004), "suite passed"))
        return suite_end + _ticks(_TEST_GAP_S), lines, "success", float("nan")

    def _fail(self, lines: list[tuple[int, str]], at: int) -> tuple[int, list[tuple[int, str]], str, float]:
        lines.append((at + _ticks(0.005), "##[error]Process completed with exit code 1."))
        self._inner_cut = True
        return at + _ticks(0.01), lines, "failure", float("nan")

    def _phases_cut(self, step_start: int, cut_at: int | None) -> None:
        """Record the phases of the test step that the parser will see, given a step cut (None: none)."""
        epoch = step_start / TICK
        for name, begin, end, outcome, limit in self._pending:
            if cut_at is not None and begin >= cut_at:
                continue
            if cut_at is not None and end >= cut_at:
                if name == WAIT_PHASE:
                    continue  # no "condition met" nor "timed out" line: the detector sees no wait
                self.observe("phase", TESTS_STEP, name, (cut_at - begin) / TICK, "cancelled", limit=limit, epoch=epoch)
                continue
            self.observe("phase", TESTS_STEP, name, (end - begin) / TICK, outcome, limit=limit, epoch=epoch)

    def observe(self, scope: str, step: str | None, phase: str | None, seconds: float, outcome: str, *, hung: bool = False,
                limit: float | None = None, silence: float = float("nan"), inner: bool = False, epoch: float = 0.0,
                gap: float = float("nan")) -> None:  # fmt: skip
        obs = self.observed.get(self.key(scope, step, phase))
        if obs is None:
            return
        obs.duration.append(seconds)
        obs.censored.append(outcome in ("timeout", "cancelled"))
        obs.outcome.append(outcome)
        obs.hung.append(hung)
        obs.limit.append(float("nan") if limit is None else float(limit))
        obs.silence.append(silence)
        obs.gap.append(gap)
        obs.inner_cut.append(inner)
        obs.started.append(epoch)


# -- the catalogue ---------------------------------------------------------------------------------


def issue_scenarios() -> list[HistorySpec]:
    """The histories of issue 12's "What was observed" (calibrated against the truth, see the notes)."""
    return [
        HistorySpec(
            "e2e-540", runs=540, seed=540, rest=bimodal(480, 1000, 0.2, 0.2), wait=bimodal(70, 310, 0.3, 0.2),
            job_limit=(1800.0, 1800.0), wait_limit=(300.0, 600.0), change_at=0.45, cancel=0.03, hang=0.025,
            note="observation 1: a bimodal E2E job (warm runs, cold image pulls) with 540 runs, ~3 % stopped at its "
            "30-minute limit (hangs, and 0.7 % of healthy runs), the Tekton-like wait censored at an earlier 300 s "
            "limit (raised to 600 s after 45 % of the history)",
        ),
        HistorySpec(
            "step-2pct", runs=600, seed=602, rest=lognormal(190, 0.5), job_limit=(1800.0, 1800.0),
            step_limit=(600.0, 600.0), cancel=0.03,
            note="observation 2: a 10-minute step limit that truly stops 2.0 % of healthy runs (true p99 11.3 min)",
        ),
        HistorySpec(
            "hangs-540", runs=540, seed=541, rest=lognormal(600, 0.3), job_limit=(1800.0, 1800.0), cancel=0.02,
            hang=0.02,
            note="observation 4: 2 % of runs hang until the 30-minute job limit; the healthy job p99 is 1,307 s",
        ),
    ]


FAMILIES: dict[str, Callable[[], Dist]] = {
    "lognormal": lambda: lognormal(360, 0.35),
    "bimodal": lambda: bimodal(300, 720, 0.2),
    "heavy": lambda: heavy(200, 150, 3.0),
    "weibull": lambda: weibull(400, 2.2),
    "short": lambda: lognormal(90, 0.5),
}


def grid(runs_scale: float = 1.0) -> list[HistorySpec]:
    """Every family under five situations: a loose and a tight job limit, limits changed mid-history,
    heavy censoring by cancels, a small history, hangs."""
    out: list[HistorySpec] = []
    for f_index, (family, rest) in enumerate(FAMILIES.items()):
        seed = 1000 * (f_index + 1)
        prepare = bimodal(30, 150, 0.3) if family in ("bimodal", "short") else lognormal(25, 0.3)
        wait = bimodal(40, 160, 0.25) if family in ("bimodal", "heavy") else lognormal(40, 0.45)

        def n(runs: int) -> int:
            return max(50, round(runs * runs_scale))

        out += [
            HistorySpec(f"{family}-loose", n(500), seed + 1, rest(), prepare=prepare, wait=wait,
                        step_limit=(Kill(0.003), Kill(0.003)), cancel=0.05,
                        note="job under GitHub's 360-minute default, a step limit that is fine"),
            HistorySpec(f"{family}-tight", n(1000), seed + 2, rest(), prepare=prepare, wait=wait,
                        job_limit=(Kill(0.01), Kill(0.01)), step_limit=(Kill(0.05), Kill(0.05)),
                        wait_limit=(Kill(0.02), Kill(0.02)), cancel=0.03, hang=0.005, container=family == "weibull",
                        note="step limit stops 5 %, job 1 %, wait 2 %"),
            HistorySpec(f"{family}-changed", n(2000), seed + 3, rest(), prepare=prepare, wait=wait,
                        job_limit=(Kill(0.03), Kill(0.002)), step_limit=(Kill(0.10), Kill(0.005)),
                        prepare_limit=Kill(0.01), wait_limit=(Kill(0.15), Kill(0.001)), warmup_limit=Kill(0.01),
                        change_at=0.4, cancel=0.08, hang=0.01,
                        note="tight limits raised after 40 % of the history; 8 % cancels, 1 % hangs"),
            HistorySpec(f"{family}-censored", n(300), seed + 4, rest(), prepare=prepare, wait=wait,
                        job_limit=(Kill(0.005), Kill(0.005)), step_limit=(Kill(0.02), Kill(0.02)), cancel=0.2,
                        note="20 % cancels, a step limit that stops 2 %"),
            HistorySpec(f"{family}-small", n(60), seed + 5, rest(), prepare=prepare, wait=wait,
                        job_limit=(Kill(0.01), Kill(0.01)), cancel=0.05, note="60 runs"),
        ]  # fmt: skip
    return out


def catalogue(quick: bool = False) -> list[HistorySpec]:
    """The benchmark's histories: the issue's three and the grid (``quick``: the issue's and two of the grid)."""
    if quick:
        chosen = {"bimodal-tight", "heavy-changed"}
        return issue_scenarios() + [replace(s, runs=min(s.runs, 500)) for s in grid() if s.name in chosen]
    return issue_scenarios() + grid()
