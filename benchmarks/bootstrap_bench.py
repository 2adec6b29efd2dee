"""Runner overhead of ``we-advisor bootstrap run``: wall time minus critical path, 20-task DAG of short sleeps.

    python benchmarks/bootstrap_bench.py [--repeat 5] [--json results.json]

Two figures per repetition:

- overhead: wall time - the critical path of the *nominal* sleeps. Everything the runner adds on the
  longest chain: process start and exit, the waiter and reader threads, dispatch of dependents,
  event lines. Target: <= 50 ms.
- dispatch: wall time - the critical path of the *measured* task durations (Popen to exit), so
  process start-up is excluded: what the scheduler itself adds between one task and the next.

And the forecast: after two runs of ``examples/e2e-setup.toml`` were ingested, ``bootstrap plan``'s
parallel p50 against the median wall time of the next runs. Target: within 20 %.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analyzer.bootstrap.plan import Plan, Task, load_plan, resolve_limits  # noqa: E402
from analyzer.bootstrap.runner import run_plan  # noqa: E402
from benchmarks.rows import row  # noqa: E402

TARGET_MS = 50.0
FORECAST_TARGET = 0.2
EXAMPLE = ROOT / "examples" / "e2e-setup.toml"


def build_plan(tasks: int = 20, seed: int = 7) -> tuple[Plan, dict[str, float]]:
    """A layered random DAG: 5 levels of 4 tasks, each needing 1-3 tasks of earlier levels."""
    rng = random.Random(seed)
    names = [f"t{i:02d}" for i in range(tasks)]
    durations = {n: rng.choice([0.05, 0.1, 0.15, 0.2]) for n in names}
    per_level = 4
    out = []
    for i, name in enumerate(names):
        level = i // per_level
        earlier = names[: level * per_level]
        needs = tuple(sorted(rng.sample(earlier, min(len(earlier), rng.randint(1, 3))))) if earlier else ()
        out.append(Task(name=name, run=("sleep", str(durations[name])), needs=needs, timeout_s=60.0))
    return Plan(name="bench", tasks=tuple(out)), durations


def critical_path(plan: Plan, durations: dict[str, float]) -> float:
    return sum(durations[name] for name in critical_chain(plan, durations))


def critical_chain(plan: Plan, durations: dict[str, float]) -> list[str]:
    """The tasks of the longest chain, first to last."""
    finish: dict[str, float] = {}
    via: dict[str, str | None] = {}
    for task in plan.topological():
        before = max(task.needs, key=lambda n: finish[n], default=None)
        finish[task.name] = (finish[before] if before else 0.0) + durations[task.name]
        via[task.name] = before
    chain: list[str] = []
    name: str | None = max(finish, key=lambda n: finish[n])
    while name is not None:
        chain.append(name)
        name = via[name]
    return chain[::-1]


def plain_chain(plan: Plan, chain: list[str]) -> float:
    """Seconds to run the chain's commands one after another with subprocess.run: no runner at all."""
    started = time.perf_counter()
    for name in chain:
        subprocess.run(list(plan.task(name).run), stdin=subprocess.DEVNULL, capture_output=True, check=True)
    return time.perf_counter() - started


def measure(repeat: int) -> dict[str, Any]:
    plan, nominal = build_plan()
    nominal_cp = critical_path(plan, nominal)
    chain = critical_chain(plan, nominal)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        events = Path(tmp) / "events.jsonl"
        for _ in range(repeat):
            t0 = time.perf_counter()
            result = run_plan(
                plan, resolve_limits(plan), events=events, out=io.StringIO(), err=io.StringIO(), handle_signals=False
            )
            wall = time.perf_counter() - t0
            assert result.ok, result.summary()
            measured = {r.name: r.attempts[0].duration_s for r in result.results}
            chain_s = plain_chain(plan, chain)  # after the plan, so the first plan run is the cold one
            rows.append(
                {
                    "wall_s": wall,
                    "chain_overhead_ms": (chain_s - nominal_cp) * 1000,
                    "overhead_ms": (wall - nominal_cp) * 1000,
                    "dispatch_ms": (wall - critical_path(plan, measured)) * 1000,
                }
            )
    overhead = [float(r["overhead_ms"]) for r in rows]
    dispatch = [float(r["dispatch_ms"]) for r in rows]
    return {
        "tasks": len(plan.tasks),
        "critical_path_s": nominal_cp,
        "sum_s": sum(nominal.values()),
        "repeat": repeat,
        "wall_s_median": statistics.median(float(r["wall_s"]) for r in rows),
        "overhead_ms_median": statistics.median(overhead),
        "overhead_ms_max": max(overhead),
        "dispatch_ms_median": statistics.median(dispatch),
        "dispatch_ms_max": max(dispatch),
        "critical_chain": chain,
        "chain_overhead_ms_median": statistics.median(float(r["chain_overhead_ms"]) for r in rows),
        "target_ms": TARGET_MS,
        "ok": statistics.median(overhead) <= TARGET_MS,
        "runs": rows,
    }


def measure_cold(processes: int) -> list[float]:
    """Overhead (ms) of the first run in each of ``processes`` fresh interpreters (imports done, nothing warm)."""
    out = []
    for _ in range(processes):
        done = subprocess.run([sys.executable, __file__, "--cold-one"], capture_output=True, text=True, check=True)
        out.append(float(json.loads(done.stdout)["overhead_ms"]))
    return out


def measure_forecast(repeat: int) -> tuple[float, float]:
    """(``bootstrap plan``'s parallel p50 after two ingested runs, median wall time of ``repeat`` more runs)."""
    cli = [sys.executable, "-m", "analyzer"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # this working tree's package, installed or not
    with tempfile.TemporaryDirectory() as tmp:
        events, store = Path(tmp) / "events.jsonl", Path(tmp) / "store.db"
        for _ in range(2):
            subprocess.run([*cli, "bootstrap", "run", str(EXAMPLE), "--events", str(events)], cwd=tmp, env=env,
                           capture_output=True, check=True)  # fmt: skip
        subprocess.run([*cli, "ingest", str(events), "--store", str(store)], cwd=tmp, env=env, capture_output=True, check=True)
        done = subprocess.run([*cli, "bootstrap", "plan", str(EXAMPLE), "--store", str(store), "--format", "json"],
                              cwd=tmp, env=env, capture_output=True, text=True, check=True)  # fmt: skip
        predicted = float(json.loads(done.stdout)["parallel"]["p50_s"])
        plan = load_plan(EXAMPLE)
        walls = []
        for _ in range(repeat):
            result = run_plan(plan, resolve_limits(plan), out=io.StringIO(), err=io.StringIO(), handle_signals=False)
            assert result.ok, result.summary()
            walls.append(result.wall_s)
    return predicted, statistics.median(walls)


def to_rows(data: dict[str, Any], cold: list[float], forecast: tuple[float, float] | None = None) -> list[dict[str, Any]]:
    """The common rows (benchmarks/rows.py) of a ``measure`` result."""
    critical_ms = data["critical_path_s"] * 1000
    nominal = "critical path of the nominal sleeps"
    target = f"≤ {TARGET_MS:g} ms"
    return [
        row(
            "bootstrap",
            f"overhead, {data['tasks']}-task DAG, median of {data['repeat']}",
            data["overhead_ms_median"],
            "ms",
            baseline=nominal,
            baseline_value=critical_ms,
            target=target,
            ok=data["overhead_ms_median"] <= TARGET_MS,
        ),
        row(
            "bootstrap",
            f"overhead, first run in a fresh process, median of {len(cold)}",
            statistics.median(cold),
            "ms",
            baseline=nominal,
            baseline_value=critical_ms,
            target=target,
            ok=statistics.median(cold) <= TARGET_MS,
        ),
        row("bootstrap", f"overhead, first run in a fresh process, max of {len(cold)}", max(cold), "ms"),
        row("bootstrap", f"overhead, max of {data['repeat']}", data["overhead_ms_max"], "ms"),
        row(
            "bootstrap",
            f"no runner: the {len(data['critical_chain'])} critical-path commands in a row, overhead, median",
            data["chain_overhead_ms_median"],
            "ms",
        ),
        row("bootstrap", "dispatch (wall - measured critical path), median", data["dispatch_ms_median"], "ms"),
        *_forecast_rows(forecast),
    ]


def _forecast_rows(forecast: tuple[float, float] | None) -> list[dict[str, Any]]:
    if forecast is None:
        return []
    predicted, measured = forecast
    error = abs(predicted - measured) / measured
    return [
        row("bootstrap", "e2e-setup example: `bootstrap plan` parallel p50", predicted, "s",
            baseline="median wall time of the next runs", baseline_value=measured),
        row("bootstrap", "e2e-setup example: forecast error |plan - measured| / measured", error, "ratio",
            target=f"≤ {FORECAST_TARGET:g}", ok=error <= FORECAST_TARGET),
    ]


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Rows for benchmarks/run.py: 10 runs of the plan in one process and 5 first runs in fresh ones (quick: 3 and 3)."""
    return to_rows(measure(3 if quick else 10), measure_cold(3 if quick else 5), measure_forecast(3 if quick else 5))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--cold-one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.cold_one:  # one run in this fresh interpreter, for measure_cold
        print(json.dumps(measure(1)["runs"][0]))
        return 0
    data = measure(args.repeat)
    print(f"20-task DAG: critical path {data['critical_path_s']:.2f} s, sum of tasks {data['sum_s']:.2f} s")
    print(f"{'run':>3}  {'wall':>7}  {'overhead':>9}  {'dispatch':>9}  {'no runner':>9}")
    for i, run_ in enumerate(data["runs"], 1):
        print(
            f"{i:>3}  {run_['wall_s']:6.3f}s  {run_['overhead_ms']:7.1f}ms  {run_['dispatch_ms']:7.1f}ms  {run_['chain_overhead_ms']:7.1f}ms"
        )
    verdict = "ok" if data["ok"] else "OVER TARGET"
    print(
        f"median overhead {data['overhead_ms_median']:.1f} ms (max {data['overhead_ms_max']:.1f}), "
        f"dispatch {data['dispatch_ms_median']:.1f} ms; target <= {TARGET_MS:.0f} ms: {verdict}"
    )
    if args.json:
        args.json.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return 0 if data["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
