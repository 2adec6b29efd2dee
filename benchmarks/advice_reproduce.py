"""Issue 12's "What was observed", reproduced one by one on generated histories and on the demo.

    python benchmarks/advice_reproduce.py [--seeds 5]

Each observation is tried on the issue's history (``advice_histories.issue_scenarios``) under
several seeds, all in one store (one ingest), through the command line; the demo part runs
``we-advisor demo`` in a scratch folder. Prints Markdown: what was looked at and what was found.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.advice_bench import UnitScore, cli, contradictions, ingest, recommend_json, score  # noqa: E402
from benchmarks.advice_histories import RUNNER_STEPS, History, generate, issue_scenarios  # noqa: E402

SAMPLE_CONFIG = ROOT / "data" / "sample" / "we-advisor.toml"


def _seeded(seeds: int) -> list[History]:
    out = []
    for spec in issue_scenarios():
        for k in range(seeds):
            out.append(generate(replace(spec, name=f"{spec.name}-s{k}", seed=spec.seed * 100 + k), truth_draws=200_000))
    return out


def _demo(work: Path) -> dict[str, Any]:
    store = work / "demo.db"
    cli("demo", store=store, cwd=work)
    done = cli("recommend", "--format", "json", "--since", "2000-01-01", store=store, config=SAMPLE_CONFIG, cwd=work)
    recs = json.loads(done.stdout)["recommendations"]
    return {
        "units": len(recs),
        "contradictions": [(f"{r['job']} / {r['step'] or ''} / {r['phase'] or ''}", c) for r in recs for c in contradictions(r)],
        "runner_made": [f"{r['job']} / {r['step']}" for r in recs
                        if r["scope"] == "step" and r["step"] in RUNNER_STEPS and r["recommended_timeout_s"] is not None],
    }  # fmt: skip


def reproduce(seeds: int = 5) -> str:
    lines: list[str] = []
    with tempfile.TemporaryDirectory(prefix="advice-repro-") as tmp:
        work = Path(tmp)
        histories = _seeded(seeds)
        config, counts = ingest(histories, work / "export", work / "store.db")
        recs = recommend_json(work / "store.db", config)
        scores = score(histories, recs)
        backtest = json.loads(cli("backtest", "--format", "json", store=work / "store.db", config=config).stdout)
        demo = _demo(work)
    lines.append(f"{len(histories)} histories ({seeds} seeds of each of the issue's three), {counts['jobs']:,} job attempts, "
                 "through `ingest` and `recommend --format json --quantile 0.99`; and `we-advisor demo`.")  # fmt: skip

    def unit(name: str, step: str | None, phase: str | None) -> list[UnitScore]:
        return [s for s in scores if s.history.startswith(name + "-s") and s.unit.step == step and s.unit.phase == phase]

    # 1. silent where it matters
    lines += ["", "**1. Silent where it matters** (e2e-540: bimodal job, ~3 % stopped at its 30-minute limit; the wait censored at an earlier 300 s limit)", ""]
    for label, step_name, phase in (("job", None, None), ("test step", "Run tests", None), ("wait phase", "Run tests", "kubectl-wait:deployment/app")):
        found = unit("e2e-540", step_name, phase)
        verdicts = Counter(s.verdict for s in found)
        runs = ", ".join(str(s.runs) for s in found)
        lines.append(f"- {label}: verdicts {dict(verdicts)} (runs {runs})")
    silent = sum(s.silent for s in scores if s.history.startswith("e2e-540"))
    lines.append(f"- reproduced: {'yes' if silent else 'no'} — {silent} unit(s) with ≥ 200 runs left insufficient_data")
    # 2. verdicts that contradict their numbers
    step = unit("step-2pct", "Run tests", None)
    lines += ["", "**2. Verdicts that contradict their numbers**", ""]
    estimates = ", ".join(f"{recs[s.unit.key]['false_timeout_rate_current'] or 0:.1%}" for s in step)
    lines.append(f"- step-2pct (10-minute step limit, true kill 2.0 %, true p99 11.3 min): verdicts {dict(Counter(s.verdict for s in step))}; "
                 f"estimated kill now {estimates}")  # fmt: skip
    kept = [s for s in step if s.verdict == "ok"]
    lines.append(f"- the 2 % step limit kept as ok at 10 min: {len(kept)} of {len(step)} seeds")
    bad = [(s.label, c) for s in scores for c in s.contradictions]
    lines.append(f"- contradictions in these histories: {len(bad)}" + "".join(f"\n  - {a}: {c}" for a, c in bad[:8]))
    lines.append(f"- in the demo ({demo['units']} units): {len(demo['contradictions'])}"
                 + "".join(f"\n  - {a}: {c}" for a, c in demo["contradictions"]))  # fmt: skip
    # 3. limits nobody can set
    runner = [s.label for s in scores if s.runner_made and s.recommended_s is not None]
    lines += ["", "**3. Limits nobody can set**", ""]
    lines.append(f"- runner-made steps given a limit: {len(runner)} of {sum(s.runner_made for s in scores)} here; "
                 f"{len(demo['runner_made'])} in the demo ({', '.join(demo['runner_made'])})")  # fmt: skip
    # 4. hangs counted as slow healthy runs
    lines += ["", "**4. Hangs counted as slow healthy runs** (hangs-540: 2 % of runs hang until the 30-minute job limit)", ""]
    for s in unit("hangs-540", None, None):
        r = recs[s.unit.key]
        est = r["p99_s"] if r["p99_s"] is not None else r["quantile_lower_bound_s"]
        lines.append(f"- {s.history}: true healthy p99 {s.true_p99:.0f} s; recommend's p99 {'≥' if r['p99_s'] is None else ''}"
                     f"{est:.0f} s, upper bound {r['upper_bound_s'] or float('nan'):.0f} s, hung set aside {r['hung']}, "
                     f"verdict {r['verdict']} → {r['recommended_timeout_s']} s (true kill {s.kill.get('we-advisor', 0):.2%})")  # fmt: skip
    # 5. backtest
    totals = {p["policy"]: p for p in backtest["policies"]}
    lines += ["", "**5. Backtest is not a clear win** (`we-advisor backtest` on the same store, default split)", ""]
    for name in ("we-advisor", "max+3sd", "1.5x-slowest", "jenkins-elastic", "bazel-size", "current"):
        p = totals.get(name)
        if p:
            lines.append(f"- {name}: {p['healthy_killed']} of {p['healthy_runs']:,} healthy runs stopped, "
                         f"{p['units_over_target']} unit(s) over 1 %, median slack {p['median_slack_s'] or 0:.0f} s")  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args(argv)
    print(reproduce(args.seeds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
