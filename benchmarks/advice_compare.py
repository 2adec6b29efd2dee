"""Compare limit-advice designs (``advice_design.py`` on ``advice_lab.py``) on the ground-truth histories, bypassing the store.

    python benchmarks/advice_compare.py [--quick] [--only D4,D6] [--markdown FILE]

Each design is applied to the arrays the generator says the tool sees for every settable unit
(durations, censored, outcome; the silence before a limit fired and each run's longest quiet
stretch, for the hang rule) and scored by the truth exactly as ``benchmarks/advice_bench.py``
scores ``recommend``: the true kill rate of the limit after the advice, its slack over the true
p99, issue 12's slack bound, verdicts that contradict their numbers, and units left silent.
The baselines are the same heuristics, also "kill-matched": their multiplier tuned, with
hindsight, until their 95th-percentile true kill rate equals the design's, to compare slack at
an equal kill rate. Then (a) the coverage of the kill-rate intervals at the current limits, and
(d) the bias that hung runs put on the p99 estimate, with and without each hang rule.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.advice_bench import BASELINES, heuristic_limit, kill_matched  # noqa: E402
from benchmarks.advice_design import RECOMMENDED, Design, advise  # noqa: E402
from benchmarks.advice_histories import History, UnitTruth, catalogue, generate  # noqa: E402
from benchmarks.advice_lab import (  # noqa: E402
    TailFit,
    choose_tail,
    fit_tail,
    hung_runs,
    kaplan_meier,
    kill_interval,
    pot_threshold,
    round_limit,
    tool_hung,
)

TODAY = Design("D0 today (approx.)", tails=("lognormal", "weibull"), gof="cdf-gap", rule="quantile", hysteresis="band",
               hangs="tool", km_until="support")
DESIGNS = (
    TODAY,
    replace(TODAY, name="D1 +kill-rate verdict", hysteresis="interval"),
    replace(TODAY, name="D2 +POT/mixture tails", hysteresis="interval", tails=("gpd", "mixture", "lognormal", "weibull"), gof="tail-ks"),
    Design("D3 +rate rule", hangs="tool", km_until="support"),
    Design("D3b D3, KM wherever identified", hangs="tool"),
    Design("D4 +silence hangs"),
    Design("D5 +inner cuts censored", inner_censored=True),
    Design("D6 D5, conservative tail", inner_censored=True, prefer="conservative"),
    Design("D7 D5, budget 1.0 %", inner_censored=True, budget=0.010),
    Design("D8 D5, quantile rule", inner_censored=True, rule="quantile"),
    Design("D9 D5, km-beta CI", inner_censored=True, ci="km-beta"),
    Design("D10 D5, binomial CI", inner_censored=True, ci="binomial"),
    Design("D11 D5, loose 1.5x/+120s", inner_censored=True, loose_factor=1.5, loose_slack_s=120.0),
    Design("D12 D5, loose 1.25x/+60s", inner_censored=True, loose_factor=1.25, loose_slack_s=60.0),
    Design("D13 D12, loose cuts on KM only, tail raises capped", inner_censored=True, loose_factor=1.25, loose_slack_s=60.0,
           loose_needs_km=True, raise_cap=1.4),
    Design("D14 D13, simplest tail", inner_censored=True, loose_factor=1.25, loose_slack_s=60.0, loose_needs_km=True,
           raise_cap=1.4, prefer="simplest"),
    replace(RECOMMENDED, name="D15 D14, quantile rule below 200 runs (recommended)"),
)
BANDS = ((500, 10**9, "≥ 500 runs"), (200, 499, "200–499 runs"), (20, 199, "20–199 runs"))
Key = tuple[str, str, str, str | None, str | None]


@dataclass
class UnitData:
    history: str
    unit: UnitTruth
    arrays: dict[str, NDArray[Any]]
    p99: float
    fits: dict[tuple[str, bool], dict[str, TailFit | None]] = field(default_factory=dict)

    @property
    def runs(self) -> int:
        return int(self.arrays["duration"].size)

    def bound(self) -> float:
        raw = max(1.4 * self.p99, self.p99 + 60.0)
        return round_limit(raw, True) if self.unit.minutes else raw


@dataclass
class Scored:
    data: UnitData
    limit: float | None
    verdict: str
    kill: float
    slack: float
    proposed: bool
    contradictions: list[str]
    fallback: bool

    @property
    def over_bound(self) -> bool:
        return self.limit is not None and self.limit > self.data.bound() + 1e-6


def units_of(histories: Sequence[History]) -> list[UnitData]:
    out = []
    for h in histories:
        for key, unit in h.units.items():
            if unit.settable:
                out.append(UnitData(h.workflow, unit, h.observed[key].arrays(), unit.truth.quantile(0.99)))
    return out


def ended_by_limit(a: dict[str, NDArray[Any]]) -> NDArray[np.bool_]:
    """Runs a limit ended: the unit's own (outcome timeout) or an inner one (a step or phase timeout)."""
    return np.asarray((a["outcome"] == "timeout") | a["inner_cut"], dtype=bool)


def run_design(design: Design, units: Sequence[UnitData]) -> list[Scored]:
    out = []
    for d in units:
        a = d.arrays
        cache = d.fits.setdefault((design.hangs, design.inner_censored), {})
        advice = advise(
            a["duration"], a["censored"], current=d.unit.current_limit_s, minutes=d.unit.minutes, design=design,
            ended_by_limit=ended_by_limit(a), silence=a["silence"], gaps=a["gap"], hung_truth=a["hung"],
            inner_cut=a["inner_cut"], fits=cache,
        )  # fmt: skip
        limit = advice.limit
        kill = d.unit.truth.kill(limit) if limit is not None else math.nan
        out.append(Scored(d, limit, advice.verdict, kill, (limit / d.p99) if limit else math.nan,
                          advice.verdict in ("too_tight", "too_loose", "no_timeout"), advice.contradicts(design.q),
                          advice.fallback))  # fmt: skip
    return out


def baseline(name: str, units: Sequence[UnitData], factor: float | None = None, limits: Sequence[float | None] | None = None) -> list[Scored]:
    """A heuristic's limits (``factor`` replaces its multiplier; ``limits`` gives them outright)."""
    out = []
    for i, d in enumerate(units):
        a = d.arrays
        successes = a["duration"][(a["outcome"] == "success") & ~a["censored"]]
        limit = limits[i] if limits is not None else heuristic_limit(name, successes, d.unit.minutes, factor)
        kill = d.unit.truth.kill(limit) if limit is not None else math.nan
        out.append(Scored(d, limit, "baseline", kill, (limit / d.p99) if limit else math.nan, True, [], False))
    return out


def matched(name: str, units: Sequence[UnitData], p95_kill: float) -> tuple[float, list[Scored]] | None:
    """The heuristic kill-matched (``advice_bench.kill_matched``) to ``p95_kill`` on these units."""
    cases = []
    for d in units:
        a = d.arrays
        cases.append((d.unit.truth, a["duration"][(a["outcome"] == "success") & ~a["censored"]], d.unit.minutes))
    found = kill_matched(name, cases, p95_kill)
    if found is None:
        return None
    k, limits = found
    return k, baseline(name, units, limits=limits)


@dataclass(frozen=True)
class Row:
    name: str
    units: int
    median_kill: float
    p95_kill: float
    max_kill: float
    over: int
    median_slack: float
    slack_minutes: float
    over_bound: int
    over_bound_proposed: int
    silent: int
    contradictions: int
    fallbacks: int


def summarize(name: str, scored: Sequence[Scored]) -> Row:
    limited = [s for s in scored if s.limit is not None and math.isfinite(s.kill)]
    kills = np.asarray([s.kill for s in limited]) if limited else np.asarray([math.nan])
    slack = np.asarray([s.slack for s in limited]) if limited else np.asarray([math.nan])
    minutes = sum(((s.limit or 0.0) - s.data.p99) / 60 for s in limited)
    return Row(
        name, len(limited), float(np.median(kills)), float(np.quantile(kills, 0.95)), float(np.max(kills)),
        int((kills > 0.015).sum()), float(np.median(slack)), minutes, sum(s.over_bound for s in limited),
        sum(s.over_bound and s.proposed for s in limited), sum(s.verdict == "insufficient_data" for s in scored),
        sum(bool(s.contradictions) for s in scored), sum(s.fallback for s in scored),
    )  # fmt: skip


def pct(x: float) -> str:
    return "-" if not math.isfinite(x) else f"{100 * x:.2f} %"


def table(rows: Sequence[Row]) -> str:
    head = ("| design | units | median kill | p95 kill | max kill | > 1.5 % | median L/p99 | Σ slack min | over bound (proposed) "
            "| silent | contradictions | re-measure |")  # fmt: skip
    lines = [head, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        lines.append(
            f"| {r.name} | {r.units} | {pct(r.median_kill)} | {pct(r.p95_kill)} | {pct(r.max_kill)} | {r.over} | "
            f"{r.median_slack:.2f} | {r.slack_minutes:,.0f} | {r.over_bound} ({r.over_bound_proposed}) | {r.silent} | "
            f"{r.contradictions} | {r.fallbacks} |"
        )
    return "\n".join(lines)


def band(scored: Sequence[Scored], lo: int, hi: int) -> list[Scored]:
    return [s for s in scored if lo <= s.data.runs <= hi]


def coverage(units: Sequence[UnitData], level: float = 0.90) -> str:
    """(a) How often the kill-rate interval at the current limit holds the true kill rate, per method."""
    lines = ["| interval method | units | coverage (nominal 90 %) | median width | true > 1.5 % yet upper end ≤ 1 % |",
             "| --- | ---: | ---: | ---: | ---: |"]  # fmt: skip
    for method in ("loglog", "km-beta", "binomial"):
        inside = wrong = n = 0
        w: list[float] = []
        for d in units:
            now = d.unit.current_limit_s
            if now is None or d.runs < 200:
                continue
            a = d.arrays
            keep = ~hung_runs(ended_by_limit(a), a["silence"], a["gap"])
            t, c = a["duration"][keep], (a["censored"] | a["inner_cut"])[keep]
            r = kill_interval(t, c, now, level=level, method=method)
            if not r.known:
                continue
            truth = d.unit.truth.kill(now)
            n += 1
            inside += r.lo - 1e-12 <= truth <= r.hi + 1e-12
            w.append(r.hi - r.lo)
            wrong += truth > 0.015 and r.hi <= 0.01
        widths = float(np.median(w)) if w else math.nan
        lines.append(f"| {method} | {n} | {inside / max(n, 1):.1%} | {pct(widths)} | {wrong} |")
    return "\n".join(lines)


def tail_accuracy(units: Sequence[UnitData]) -> str:
    """(b) Units (≥ 200 runs) whose p99 the Kaplan–Meier curve cannot answer with ≥ 5 runs beyond it: each
    tail model's extrapolated p99 against the truth (hung runs set aside by silence, inner cuts censored)."""
    models = ("gpd", "mixture", "lognormal", "weibull")
    found: dict[str, list[tuple[bool, float]]] = {m: [] for m in (*models, "chosen: best fit", "chosen: simplest")}
    n = 0
    for d in units:
        if d.runs < 200:
            continue
        a = d.arrays
        keep = ~hung_runs(ended_by_limit(a), a["silence"], a["gap"])
        t, c = a["duration"][keep], (a["censored"] | a["inner_cut"])[keep]
        km = kaplan_meier(t, c)
        q = km.quantile(0.99)
        if math.isfinite(q) and km.reaching(q) >= 5:
            continue
        n += 1
        u = pot_threshold(km)
        u = u if math.isfinite(u) else km.quantile(0.5)
        fits = {m: fit_tail(m, t, c, u, km) for m in models}
        for m, fit in fits.items():
            if fit is not None:
                found[m].append((fit.accepted, fit.quantile(0.99) / d.p99))
        for label, prefer in (("chosen: best fit", "best"), ("chosen: simplest", "simplest")):
            chosen = choose_tail([f for f in fits.values() if f is not None], prefer=prefer)
            if chosen is not None:
                found[label].append((True, chosen.quantile(0.99) / d.p99))
    lines = [f"{n} units (≥ 200 runs) whose p99 lies beyond what the Kaplan–Meier curve answers.", "",
             "| model | fitted | accepted (tail KS ≤ 1.36/√n) | accepted: median p99 / true | within ±10 % | more than 10 % low |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]  # fmt: skip
    for label, values in found.items():
        ok = [r for acc, r in values if acc and math.isfinite(r)]
        med = f"{np.median(ok):.3f}" if ok else "-"
        lines.append(f"| {label} | {len(values)} | {len(ok)} | {med} | {sum(abs(r - 1) <= 0.1 for r in ok)} | {sum(r < 0.9 for r in ok)} |")
    return "\n".join(lines)


def hang_bias(units: Sequence[UnitData]) -> str:
    """(d) The p99 estimate (KM where identified, else the largest run) against the truth, by hang treatment."""
    rules: dict[str, Callable[[UnitData], NDArray[np.bool_]]] = {
        "kept (no rule)": lambda d: np.zeros(d.runs, bool),
        "today's rule (> 10 × median, 2 × slowest)": lambda d: tool_hung(d.arrays["duration"], d.arrays["censored"]),
        "silence ≥ min(10 min, 5 × typical quiet)": lambda d: hung_runs(ended_by_limit(d.arrays), d.arrays["silence"], d.arrays["gap"]),
        "oracle (the generator's hung runs)": lambda d: d.arrays["hung"].astype(bool),
    }
    hung_units = [d for d in units if d.arrays["hung"].any() and d.runs >= 200]
    lines = [f"Units with ≥ 200 runs and at least one hung run: {len(hung_units)} "
             f"({sum(int(d.arrays['hung'].sum()) for d in hung_units)} hung runs).", "",
             "| hung runs | median p99 estimate / true p99 | units with p99 beyond the data | hung runs caught | healthy runs dropped |",
             "| --- | ---: | ---: | ---: | ---: |"]  # fmt: skip
    for name, rule in rules.items():
        ratios, beyond, caught, wrong = [], 0, 0, 0
        for d in hung_units:
            drop = rule(d)
            a = d.arrays
            t, c = a["duration"][~drop], (a["censored"] | a["inner_cut"])[~drop]
            q = kaplan_meier(t, c).quantile(0.99)
            if not math.isfinite(q):
                beyond += 1
                q = float(t.max())
            ratios.append(q / d.p99)
            caught += int((drop & a["hung"]).sum())
            wrong += int((drop & ~a["hung"]).sum())
        lines.append(f"| {name} | {np.median(ratios):.3f} | {beyond} | {caught} | {wrong} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", help="comma-separated design name prefixes (e.g. D0,D5)")
    parser.add_argument("--markdown", type=Path, help="write the tables here too")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    specs = catalogue(args.quick)
    histories = [generate(s) for s in specs]
    units = units_of(histories)
    designs = [d for d in DESIGNS if not args.only or any(d.name.split()[0] == p for p in args.only.split(","))]
    out: list[str] = [f"{len(histories)} histories, {sum(h.spec.runs for h in histories):,} runs, {len(units)} settable units "
                      f"({sum(d.runs >= 500 for d in units)} with ≥ 500 runs)."]  # fmt: skip
    results = {}
    for design in designs:
        started = time.perf_counter()
        results[design.name] = run_design(design, units)
        print(f"[compare] {design.name}: {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    base = {name: baseline(name, units) for name in BASELINES}
    for lo, hi, label in BANDS:
        rows = [summarize(name, band(s, lo, hi)) for name, s in results.items()]
        rows += [summarize(name, band(s, lo, hi)) for name, s in base.items()]
        out += ["", f"### {label}", "", table(rows)]
    final = designs[-1].name if designs else None
    for name in (d.name for d in designs):
        if name != final and not name.startswith("D0"):
            continue
        pop = band(results[name], 500, 10**9)
        ours = summarize(name, pop)
        lines = [f"| {name} vs | baseline as defined: p95 kill, Σ slack min | kill-matched multiplier | its Σ slack min at p95 kill {pct(ours.p95_kill)} |",
                 "| --- | --- | ---: | ---: |"]  # fmt: skip
        for b in BASELINES:
            raw = summarize(b, band(base[b], 500, 10**9))
            found = matched(b, [s.data for s in pop], ours.p95_kill)
            if found is None:
                lines.append(f"| {b} | {pct(raw.p95_kill)}, {raw.slack_minutes:,.0f} | - | - |")
            else:
                k, scored = found
                lines.append(f"| {b} | {pct(raw.p95_kill)}, {raw.slack_minutes:,.0f} | {k:.2f} | {summarize(b, scored).slack_minutes:,.0f} |")
        out += ["", f"### slack at an equal kill rate ({name}: Σ slack {ours.slack_minutes:,.0f} min)", "", *lines]
    out += ["", "### (a) kill-rate intervals at the current limits (hung runs set aside by silence, inner cuts censored)", "",
            coverage(units)]  # fmt: skip
    out += ["", "### (b) tail models where the p99 lies beyond the data", "", tail_accuracy(units)]
    out += ["", "### (d) hung runs and the p99 estimate", "", hang_bias(units)]
    text = "\n".join(out)
    print(text)
    if args.markdown:
        args.markdown.write_text(text + "\n", encoding="utf-8")
    print(f"[compare] done in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
