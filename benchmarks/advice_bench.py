"""Advice quality: are ``we-advisor recommend``'s limits right, judged against the true distributions?

    python benchmarks/advice_bench.py [--quick] [--json FILE] [--keep DIR]
    python benchmarks/advice_bench.py --reproduce        # issue 12's "What was observed", one by one

Design note. ``benchmarks/advice_histories.py`` generates histories from known duration
distributions (log-normal, warm/cold bimodal mixtures, Pareto tails, Weibull; hangs, cancels,
reruns, plain failures; limits that fire and limits changed mid-history; 50–2,000 runs) and writes
them as one export folder. The benchmark then uses only the command line, the stable contract:
``python -m analyzer ingest`` (with the folder's we-advisor.toml for the ``[[phases]]`` rules),
``recommend --format json --quantile 0.99 --since 2000-01-01``. Each unit's limit after the
advice (the recommendation, or the current limit where it is kept) is scored by its **true**
kill rate (P(healthy duration > limit), exact or from 400,000 draws) and its **slack** over the
true p99. The same is done for the limits in force and for the heuristics people use, computed
here from the successful runs the generator produced (as ``we-advisor backtest`` defines them):
max + 3σ, 1.5 × slowest, Jenkins' 2.5 × mean, Bazel's size classes (60/300/900/3600 s); job and
step limits round up to whole minutes, as ``timeout-minutes`` must. Also counted: units with at
least ``min_samples`` (and at least 200) runs left ``insufficient_data`` ("silent"), verdicts
that contradict their own numbers, and limits recommended for steps the runner makes.

Targets (issue 12, q = 0.99), over settable units with ≥ 500 runs: median true kill rate ≤ 1.0 %,
95th percentile ≤ 1.5 %, no unit silent; against each baseline, at equal or lower kill rate
(median ≤ max(baseline's, 1 %), p95 ≤ max(baseline's, 1.5 %)) less slack (total slack minutes
lower, median slack ratio not higher). A baseline with less slack as defined beats us only if it
does not stop more healthy runs: one whose median or p95 true kill rate is higher than ours is
compared at ours instead, its multiplier tuned in hindsight until its p95 true kill rate equals
ours, where we must again have less slack (Bazel's classes have no multiplier: such a row fails).
And issue 12's "Done when" on every proposed limit (a
change, or a limit for a unit without one): true kill rate ≤ 1.5 % and limit ≤ max(1.4 × true
p99, true p99 + 60 s), rounded up to a whole minute for ``timeout-minutes``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.advice_export import write_export  # noqa: E402
from benchmarks.advice_histories import RUNNER_STEPS, History, HistorySpec, UnitTruth, catalogue, generate  # noqa: E402
from benchmarks.advice_truth import Truth  # noqa: E402
from benchmarks.rows import row  # noqa: E402

Q = 0.99
MIN_SAMPLES = 20
TARGET_RUNS = 500
SINCE_ALL = "2000-01-01"
BAZEL_S = (60.0, 300.0, 900.0, 3600.0)
BASELINES = ("max+3sd", "1.5x-slowest", "jenkins-2.5x-mean", "bazel-size")
POLICIES = ("we-advisor", "current", *BASELINES)
CHANGES = ("too_tight", "too_loose", "no_timeout")

Key = tuple[str, str, str, str | None, str | None]


# -- the command line ------------------------------------------------------------------------------


def cli(*args: str, store: Path, config: Path | None = None, timeout: float = 900.0, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """``python -m analyzer <args> --store STORE [--config CONFIG]`` with this checkout's package, in ``cwd``."""
    argv = [sys.executable, "-m", "analyzer", *args, "--store", str(store)]
    if config is not None:
        argv += ["--config", str(config)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd)
    if done.returncode != 0:
        raise RuntimeError(f"we-advisor {args[0]} failed ({done.returncode}): {done.stderr.strip()[-800:]}")
    return done


def recommend_json(store: Path, config: Path, *, quantile: float = Q) -> dict[Key, dict[str, Any]]:
    """``recommend --format json`` over the whole history, keyed by (scope, workflow, job, step, phase)."""
    done = cli("recommend", "--format", "json", "--quantile", str(quantile), "--since", SINCE_ALL, store=store, config=config)
    out: dict[Key, dict[str, Any]] = {}
    for r in json.loads(done.stdout)["recommendations"]:
        out[(r["scope"], r["workflow"], r["job"], r["step"], r["phase"])] = r
    return out


def ingest(histories: Sequence[History], folder: Path, store: Path) -> tuple[Path, dict[str, int]]:
    """Write the export folder, ingest it into a fresh store; returns the config path and counts."""
    counts = write_export(histories, folder, min_samples=MIN_SAMPLES)
    config = folder / "we-advisor.toml"
    cli("ingest", str(folder), store=store, config=config)
    return config, counts


# -- baselines ---------------------------------------------------------------------------------------


def round_limit(seconds: float, minutes: bool) -> float:
    """Up to a whole minute for ``timeout-minutes``; phase (tool) limits stay as computed."""
    if not math.isfinite(seconds):
        return seconds
    return float(max(1, math.ceil(seconds / 60 - 1e-9)) * 60) if minutes else seconds


MULTIPLIER_RANGE = {"max+3sd": (-3.0, 30.0), "1.5x-slowest": (0.5, 10.0), "jenkins-2.5x-mean": (0.5, 20.0)}


def heuristic_limit(name: str, successes: NDArray[np.float64], minutes: bool, k: float | None = None) -> float | None:
    """One heuristic of ``we-advisor backtest`` from the successful runs; ``k`` replaces its multiplier
    (max + k·σ, k × slowest, k × mean; Bazel's size classes have none)."""
    if successes.size == 0 or (name == "max+3sd" and successes.size < 2):
        return None
    slowest = float(successes.max())
    if name == "max+3sd":
        value = slowest + (3.0 if k is None else k) * float(successes.std(ddof=1))
    elif name == "1.5x-slowest":
        value = (1.5 if k is None else k) * slowest
    elif name == "jenkins-2.5x-mean":
        value = (2.5 if k is None else k) * float(successes.mean())
    else:
        value = next((t for t in BAZEL_S if t >= slowest), BAZEL_S[-1])
    return round_limit(value, minutes)


def baseline_limits(successes: NDArray[np.float64], minutes: bool) -> dict[str, float | None]:
    """Every heuristic as defined."""
    return {name: heuristic_limit(name, successes, minutes) for name in BASELINES}


Case = tuple[Truth, NDArray[np.float64], bool]  # a unit's truth, its successful runs, whether it takes timeout-minutes


def kill_matched(name: str, cases: Sequence[Case], p95_kill: float) -> tuple[float, list[float | None]] | None:
    """The heuristic's multiplier set, with hindsight on these very units, so that its 95th-percentile true
    kill rate equals ``p95_kill``; and its limits. None for Bazel's size classes (no multiplier)."""
    if name not in MULTIPLIER_RANGE:
        return None
    lo, hi = MULTIPLIER_RANGE[name]

    def limits(k: float) -> list[float | None]:
        return [heuristic_limit(name, successes, minutes, k) for _, successes, minutes in cases]

    def p95(k: float) -> float:
        kills = [truth.kill(x) for (truth, _, _), x in zip(cases, limits(k), strict=True) if x is not None]
        return float(np.quantile(kills, 0.95)) if kills else 0.0

    for _ in range(40):  # the p95 kill rate falls as the multiplier grows
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if p95(mid) > p95_kill else (lo, mid)
    return hi, limits(hi)


# -- scoring -----------------------------------------------------------------------------------------


def contradictions(r: dict[str, Any], quantile: float = Q) -> list[str]:
    """Ways a recommendation's verdict disagrees with its own numbers (empty: consistent)."""
    target = 1 - quantile
    tolerance = 1.5 * target
    verdict = r["verdict"]
    now, rec = r["false_timeout_rate_current"], r["false_timeout_rate_recommended"]
    out = []
    if verdict == "ok" and now is not None and now > tolerance:
        out.append(f"ok beside an estimated kill rate of {now:.1%} (tolerance {tolerance:.1%})")
    if verdict == "too_tight" and now is not None and now <= target:
        out.append(f"too_tight beside an estimated kill rate of {now:.1%}, within the {target:.0%} target")
    if verdict == "too_tight" and now is not None and rec is not None and rec >= now:
        out.append(f"a raise that does not lower the estimated kill rate ({now:.1%} → {rec:.1%})")
    # "raise to at least X, re-measure" says itself that X is a step towards a limit the data cannot place yet
    remeasure = bool(r.get("remeasure")) or any("re-measure" in n for n in r["notes"])
    if verdict in CHANGES and rec is not None and rec > tolerance and not remeasure:
        out.append(f"recommends a limit it estimates to stop {rec:.1%} of runs")
    hi = (r.get("p99_ci_s") or [None, None])[1]
    limit = r["recommended_timeout_s"]
    if abs(quantile - 0.99) < 1e-9 and verdict in CHANGES and hi is not None and limit is not None and limit < hi - 0.5 and not remeasure:
        out.append(f"recommends {limit:g} s below the upper end of its own p99 interval ({hi:g} s)")
    return out


@dataclass
class UnitScore:
    """One unit of one history: the truth, what ``recommend`` said, and every policy's limit scored."""

    history: str
    unit: UnitTruth
    runs: int
    true_p99: float
    verdict: str | None
    runner_made: bool
    limits: dict[str, float | None] = field(default_factory=dict)
    kill: dict[str, float] = field(default_factory=dict)
    slack: dict[str, float] = field(default_factory=dict)  # limit / true p99
    contradictions: list[str] = field(default_factory=list)
    successes: NDArray[np.float64] = field(default_factory=lambda: np.empty(0))  # the runs the heuristics see
    proposed: bool = False  # a change or a limit for a unit without one
    recommended_s: float | None = None
    current_s: float | None = None
    kept_with_note: bool = False  # ok, kept while its kill-rate interval contains the target ("kept: …")

    @property
    def label(self) -> str:
        u = self.unit
        return f"{self.history}: " + " / ".join(x for x in (u.scope, u.step, u.phase) if x)

    @property
    def silent(self) -> bool:
        return self.verdict == "insufficient_data" and self.runs >= MIN_SAMPLES

    def bound(self) -> float:
        """Issue 12's slack bound: max(1.4 × true p99, true p99 + 60 s), up to a whole minute for timeout-minutes."""
        raw = max(1.4 * self.true_p99, self.true_p99 + 60.0)
        return round_limit(raw, self.unit.minutes)

    def over_bound(self, policy: str = "we-advisor") -> bool:
        limit = self.limits.get(policy)
        return limit is not None and limit > self.bound() + 1e-6


def score(histories: Sequence[History], recs: dict[Key, dict[str, Any]]) -> list[UnitScore]:
    out: list[UnitScore] = []
    for h in histories:
        for key, unit in h.units.items():
            obs = h.observed[key].arrays()
            r = recs.get(key)
            runs = int(r["samples"]) if r else int(obs["duration"].size)
            p99 = unit.truth.quantile(Q)
            s = UnitScore(h.workflow, unit, runs, p99, r["verdict"] if r else None, unit.step in RUNNER_STEPS and unit.scope == "step")
            s.successes = obs["duration"][(obs["outcome"] == "success") & ~obs["censored"]]
            s.limits = {"current": unit.current_limit_s, **baseline_limits(s.successes, unit.minutes)}
            if r is not None:
                s.recommended_s = r["recommended_timeout_s"]
                s.current_s = r["current_timeout_s"]
                s.limits["we-advisor"] = r["recommended_timeout_s"]
                s.contradictions = contradictions(r)
                s.proposed = r["verdict"] in CHANGES and r["recommended_timeout_s"] is not None
                s.kept_with_note = r["verdict"] == "ok" and any(n.startswith("kept:") for n in r["notes"])
            else:
                s.limits["we-advisor"] = None
            for policy, limit in s.limits.items():
                if limit is not None:
                    s.kill[policy] = unit.truth.kill(limit)
                    s.slack[policy] = limit / p99
            out.append(s)
    return out


@dataclass(frozen=True)
class Summary:
    """One policy over a population of units."""

    policy: str
    units: int  # units of the population this policy set a limit for
    median_kill: float
    p95_kill: float
    max_kill: float
    over_tolerance: int  # units with a true kill rate over 1.5 %
    median_slack: float  # limit / true p99
    slack_minutes: float  # Σ (limit − true p99), in minutes
    over_bound: int


def summarize(scores: Sequence[UnitScore], policy: str) -> Summary:
    chosen = [s for s in scores if policy in s.kill]
    kills = np.asarray([s.kill[policy] for s in chosen]) if chosen else np.asarray([np.nan])
    slack = np.asarray([s.slack[policy] for s in chosen]) if chosen else np.asarray([np.nan])
    minutes = sum((float(s.limits[policy] or 0.0) - s.true_p99) / 60 for s in chosen)
    return Summary(
        policy, len(chosen), float(np.median(kills)), float(np.quantile(kills, 0.95)), float(np.max(kills)),
        int((kills > 0.015).sum()), float(np.median(slack)), minutes, sum(s.over_bound(policy) for s in chosen),
    )  # fmt: skip


def stops_more(ours: Summary, other: Summary) -> bool:
    """The baseline stops more healthy runs than we do (its median or its 95th-percentile true kill rate is
    higher): its slack is then bought with kill rate, and it is compared at *our* kill rate instead."""
    return other.median_kill > ours.median_kill + 1e-12 or other.p95_kill > ours.p95_kill + 1e-12


def dominates(ours: Summary, other: Summary) -> bool:
    """At equal or lower kill rate (or within the targets: median 1 %, p95 1.5 %), less slack: Σ slack
    minutes lower and the median slack ratio not higher."""
    kill_ok = ours.median_kill <= max(other.median_kill, 1 - Q) and ours.p95_kill <= max(other.p95_kill, 1.5 * (1 - Q))
    return kill_ok and ours.slack_minutes < other.slack_minutes and ours.median_slack <= other.median_slack


@dataclass(frozen=True)
class Matched:
    """A heuristic with its multiplier tuned in hindsight to our 95th-percentile true kill rate."""

    k: float
    slack_minutes: float  # Σ (limit − true p99), in minutes
    median_slack: float  # limit / true p99
    median_kill: float
    p95_kill: float


def matched_slack(name: str, pop: Sequence[UnitScore], p95_kill: float) -> Matched | None:
    """The heuristic kill-matched to ``p95_kill`` on ``pop``: its multiplier, slack and kill rates."""
    found = kill_matched(name, [(s.unit.truth, s.successes, s.unit.minutes) for s in pop], p95_kill)
    if found is None:
        return None
    k, limits = found
    pairs = [(s, x) for s, x in zip(pop, limits, strict=True) if x is not None]
    kills = np.asarray([s.unit.truth.kill(x) for s, x in pairs]) if pairs else np.asarray([np.nan])
    ratios = np.asarray([x / s.true_p99 for s, x in pairs]) if pairs else np.asarray([np.nan])
    minutes = sum((x - s.true_p99) / 60 for s, x in pairs)
    return Matched(k, minutes, float(np.median(ratios)), float(np.median(kills)), float(np.quantile(kills, 0.95)))


def less_slack_at_equal_kill(ours: Summary, theirs: Summary, matched: Matched | None) -> tuple[bool, str]:
    """Issue 12's comparison with one baseline: at an equal or lower kill rate, less slack.

    As defined first (``dominates``: our kill rates no higher than the baseline's or within the
    targets, and less slack). A baseline that has less slack there beats us only if it does not
    stop more healthy runs: one whose median or 95th-percentile true kill rate is higher than ours
    bought its slack with kill rate, so it is compared at ours instead — its multiplier tuned in
    hindsight until its p95 true kill rate equals ours (``matched``), where we must again have the
    lower Σ slack and a median slack ratio no higher. One that stops more and has no multiplier to
    tune (Bazel's classes) cannot be compared at our kill rate: the row fails. Returns (ok, how)."""
    if dominates(ours, theirs):
        return True, "as defined"
    if not stops_more(ours, theirs):
        return False, "as defined (it stops no more healthy runs than we do)"
    if matched is None:
        return False, "it stops more healthy runs and has no multiplier to tune"
    ok = ours.slack_minutes < matched.slack_minutes and ours.median_slack <= matched.median_slack
    return ok, (f"it stops more healthy runs as defined, so at our p95 kill rate: k = {matched.k:.2f}, "
                f"{matched.slack_minutes:,.0f} min, median ratio {matched.median_slack:.2f}")  # fmt: skip


def population(scores: Sequence[UnitScore], min_runs: int = TARGET_RUNS) -> list[UnitScore]:
    """Settable units with at least ``min_runs`` runs (the targets' population)."""
    return [s for s in scores if s.unit.settable and s.runs >= min_runs]


# -- the run -----------------------------------------------------------------------------------------


@dataclass
class Outcome:
    histories: list[History]
    scores: list[UnitScore]
    counts: dict[str, int]
    seconds: dict[str, float]
    unmatched: int


def evaluate(specs: Sequence[HistorySpec], work: Path) -> Outcome:
    t0 = time.perf_counter()
    histories = [generate(s) for s in specs]
    t1 = time.perf_counter()
    store = work / "store.db"
    config, counts = ingest(histories, work / "export", store)
    t2 = time.perf_counter()
    recs = recommend_json(store, config)
    t3 = time.perf_counter()
    scores = score(histories, recs)
    known = {k for h in histories for k in h.units}
    unmatched = sum(1 for k in recs if k not in known)
    return Outcome(histories, scores, counts, {"generate": t1 - t0, "ingest": t2 - t1, "recommend": t3 - t2}, unmatched)


def _pct(x: float) -> str:
    return f"{100 * x:.2f} %"


def policy_table(scores: Sequence[UnitScore]) -> str:
    """Markdown: one row per policy over the target population."""
    pop = population(scores)
    head = "| policy | units | median true kill | p95 true kill | max | units > 1.5 % | median limit / true p99 | slack (Σ min over p99) | over slack bound |"
    lines = [head, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for policy in POLICIES:
        m = summarize(pop, policy)
        lines.append(
            f"| {policy} | {m.units} | {_pct(m.median_kill)} | {_pct(m.p95_kill)} | {_pct(m.max_kill)} | {m.over_tolerance} | "
            f"{m.median_slack:.2f} | {m.slack_minutes:,.0f} | {m.over_bound} |"
        )
    return "\n".join(lines)


def findings(scores: Sequence[UnitScore]) -> dict[str, int]:
    """The counts that must be zero (on every unit, whatever its size)."""
    settable = [s for s in scores if s.unit.settable]
    proposed = [s for s in settable if s.proposed]
    return {
        "silent units (≥ min_samples runs)": sum(s.silent for s in scores),
        "silent units (≥ 200 runs)": sum(s.silent and s.runs >= 200 for s in scores),
        "silent units (≥ 500 runs)": sum(s.silent and s.runs >= TARGET_RUNS for s in scores),
        "verdicts contradicting their numbers": sum(bool(s.contradictions) for s in scores),
        "limits recommended for runner-made steps": sum(s.runner_made and s.recommended_s is not None for s in scores),
        "proposed limits over 1.5 % true kill (≥ 200 runs)": sum(s.kill.get("we-advisor", 0) > 0.015 for s in proposed if s.runs >= 200),
        "proposed limits over the slack bound (≥ 200 runs)": sum(s.over_bound() for s in proposed if s.runs >= 200),
        "kept limits claimed within the target, over 1.5 % true kill (≥ 200 runs)": sum(
            s.kill.get("we-advisor", 0) > 0.015 for s in settable if s.verdict == "ok" and not s.kept_with_note and s.runs >= 200
        ),
    }


def kept_with_note(scores: Sequence[UnitScore]) -> tuple[int, int, int]:
    """Kept limits whose kill-rate interval contains the target (issue 12's rule 1: "in between → keep, with a
    note"), units with ≥ 200 runs: how many, how many of them truly stop over 1.5 %, and all kept limits. Told,
    not a target: the data behind them cannot tell a limit at 0.4 % from one at 1.9 % (a 95 % bound misses 1 in
    20), and a rule that raised them would call limits whose own estimate is 0.1–0.4 % too tight."""
    kept = [s for s in scores if s.unit.settable and s.verdict == "ok" and s.runs >= 200]
    noted = [s for s in kept if s.kept_with_note]
    return len(noted), sum(s.kill.get("we-advisor", 0) > 0.015 for s in noted), len(kept)


def rows_of(out: Outcome, quick: bool) -> list[dict[str, Any]]:
    b = "advice"
    pop = population(out.scores)
    ours = summarize(pop, "we-advisor")
    n_runs = sum(h.spec.runs for h in out.histories)
    rows = [
        row(b, f"histories ({'quick' if quick else 'full'}): {len(out.histories)}, {n_runs:,} runs, {out.counts['jobs']:,} job attempts",
            len(out.histories), "count"),
        row(b, "settable units with ≥ 500 runs (the targets' population)", len(pop), "count"),
        row(b, "we-advisor: median true kill rate, q = 0.99, ≥ 500 runs", 100 * ours.median_kill, "%", target="≤ 1.0 %",
            ok=ours.median_kill <= 0.01),
        row(b, "we-advisor: 95th percentile true kill rate, ≥ 500 runs", 100 * ours.p95_kill, "%", target="≤ 1.5 %",
            ok=ours.p95_kill <= 0.015),
        row(b, "we-advisor: silent units, ≥ 500 runs", sum(s.silent for s in pop), "count", target="0",
            ok=not any(s.silent for s in pop)),
        row(b, "we-advisor: median limit / true p99, ≥ 500 runs", ours.median_slack, "ratio"),
    ]  # fmt: skip
    for name in BASELINES:
        theirs = summarize(pop, name)
        matched = matched_slack(name, [s for s in pop if "we-advisor" in s.kill], ours.p95_kill)
        ok, how = less_slack_at_equal_kill(ours, theirs, matched)
        rows.append(
            row(b, f"slack Σ minutes over true p99: we-advisor vs {name} as defined (their median/p95 kill "
                f"{_pct(theirs.median_kill)}/{_pct(theirs.p95_kill)}, median ratio {theirs.median_slack:.2f}; ours "
                f"{_pct(ours.median_kill)}/{_pct(ours.p95_kill)}, {ours.median_slack:.2f}); judged {how}",
                ours.slack_minutes, "min", baseline=f"{name}, slack Σ minutes", baseline_value=theirs.slack_minutes,
                target="less slack at equal or lower kill rate", ok=ok)
        )  # fmt: skip
        if matched is not None:
            rows.append(
                row(b, f"slack Σ minutes: we-advisor vs {name} with its multiplier tuned in hindsight to our p95 kill "
                    f"rate (k = {matched.k:.2f}, median ratio {matched.median_slack:.2f})", ours.slack_minutes, "min",
                    baseline=f"{name}, kill-matched, slack Σ minutes", baseline_value=matched.slack_minutes,
                    target="less slack at an equal kill rate", ok=ours.slack_minutes < matched.slack_minutes)
            )  # fmt: skip
    current = summarize(pop, "current")
    rows.append(row(b, "limits in force: median / p95 true kill rate (%) ", 100 * current.median_kill, "%",
                    baseline="p95", baseline_value=100 * current.p95_kill))  # fmt: skip
    for metric, count in findings(out.scores).items():
        rows.append(row(b, metric, count, "count", target="0", ok=count == 0))
    noted, over, kept = kept_with_note(out.scores)
    rows.append(row(b, f"kept limits with a note (interval contains the target; {noted} of {kept} kept, ≥ 200 runs) "
                       "over 1.5 % true kill", over, "count"))  # fmt: skip
    rows.append(row(b, "units in recommend's output not in the truth (parse artifacts)", out.unmatched, "count"))
    for stage, seconds in out.seconds.items():
        rows.append(row(b, f"time: {stage}", seconds, "s"))
    return rows


def held_out(specs: Sequence[HistorySpec], seed: int) -> list[HistorySpec]:
    """The same histories drawn again with other seeds (``seed`` 0: unchanged), to check that a rule
    was not tuned to the benchmark's own draws."""
    return [replace(s, seed=s.seed + 7919 * seed) for s in specs]


def run(quick: bool = False) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="advice-bench-") as tmp:
        out = evaluate(catalogue(quick), Path(tmp))
    return rows_of(out, quick)


def details(out: Outcome) -> str:
    """Per unit of the target population, and every silent or contradicting unit: what was said and the truth."""
    lines = ["| unit | runs | verdict | current | recommended | true p99 | true kill | slack bound | notes |",
             "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | --- |"]  # fmt: skip
    for s in out.scores:
        if not (s.unit.settable and s.runs >= 200) and not s.contradictions and not (s.runner_made and s.recommended_s):
            continue
        kill = s.kill.get("we-advisor")
        flags = [*s.contradictions]
        if s.silent:
            flags.append("silent")
        if s.proposed and s.over_bound():
            flags.append("over the slack bound")
        lines.append(
            f"| {s.label} | {s.runs} | {s.verdict} | {_fmt_s(s.current_s)} | {_fmt_s(s.recommended_s)} | {s.true_p99:.0f} s | "
            f"{'-' if kill is None else _pct(kill)} | {s.bound():.0f} s | {'; '.join(flags)} |"
        )
    return "\n".join(lines)


def _fmt_s(x: float | None) -> str:
    return "-" if x is None else f"{x:.0f} s"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="the issue's histories and two of the grid")
    parser.add_argument("--json", type=Path, help="write the rows here")
    parser.add_argument("--keep", type=Path, help="keep the export folder and store in this directory")
    parser.add_argument("--details", action="store_true", help="print every unit with ≥ 200 runs")
    parser.add_argument("--reproduce", action="store_true", help="issue 12's observations, one by one")
    parser.add_argument("--seed", type=int, default=0,
                        help="held-out histories: every history's seed shifted by SEED × 7919 (0: the benchmark's own)")  # fmt: skip
    args = parser.parse_args(argv)
    if args.reproduce:
        from benchmarks.advice_reproduce import reproduce

        print(reproduce(5 if not args.quick else 2))
        return 0
    work = args.keep or Path(tempfile.mkdtemp(prefix="advice-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    out = evaluate(held_out(catalogue(args.quick), args.seed), work)
    print(policy_table(out.scores))
    print()
    for metric, count in findings(out.scores).items():
        print(f"- {metric}: {count}")
    noted, over, kept = kept_with_note(out.scores)
    print(f"- kept limits with a note (interval contains the target): {noted} of {kept}, {over} over 1.5 % true kill")
    if args.details:
        print()
        print(details(out))
    rows = rows_of(out, args.quick)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"\n{len(out.histories)} histories, {out.counts['jobs']:,} job attempts; "
          + ", ".join(f"{k} {v:.1f} s" for k, v in out.seconds.items()), file=sys.stderr)  # fmt: skip
    return 0 if all(r["ok"] is not False for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
