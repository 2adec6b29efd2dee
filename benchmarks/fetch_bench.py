"""Fetch benchmark: requests per new run, the cost of a refetch with nothing new, wall time under latency.

Runs ``analyzer.collect.fetch.fetch`` (real PyGithub, real HTTP) against the tests' fake GitHub server on
127.0.0.1 serving a generated history, with the default client policy. Logs come from one run-log
archive per run attempt, which the fake builds as GitHub does.

Targets:
- counted requests per new run attempt <= 2 + 1 per job that did not succeed + its share of listing
  pages (+ 1 per job GitHub has no log for, which no archive holds), for histories of 1, 4 and 16
  jobs per run: the same whatever the number of jobs;
- a refetch when nothing changed: <= 1 request counted against the rate limit;
- wall time of the network phase under injected latency <= 1.3 x requests x latency / concurrency.

    python benchmarks/fetch_bench.py [--runs 40] [--jobs 3] [--latency 0.1] [--concurrency 4] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analyzer.collect.fetch import FetchProgress, fetch  # noqa: E402
from analyzer.config import Settings  # noqa: E402
from analyzer.store import Store  # noqa: E402
from benchmarks.rows import row  # noqa: E402
from tests.fake_github import TOKEN, FakeGitHub, Faults, build_export  # noqa: E402

SINCE = "2026-01-01"
REFETCH_TARGET = 1  # counted requests when nothing changed
LATENCY_TARGET = 1.3  # wall time over requests x latency / concurrency


BUDGET = "budget 2 per attempt + 1 per unsuccessful job + listing pages"
FIXED = 5  # repository, workflow list, run listing, two workflow files


def budget(fake: FakeGitHub, run_ids: list[int]) -> int:
    """Per run attempt 2 (its jobs listing or earlier attempt, one run-log archive) + 1 per job that did not
    succeed (its annotations) + its listing pages, + 1 per job GitHub has no log for; summed over the runs."""
    total = 0
    for run_id in run_ids:
        jobs = fake.data.jobs.get(run_id, [])
        total += 2 * len({j["run_attempt"] for j in jobs}) + (len(jobs) - 1) // 100
        total += sum(j["conclusion"] not in ("success", "skipped", "neutral") for j in jobs)
        total += sum(j["conclusion"] != "skipped" and j["id"] not in fake.data.logs for j in jobs)
    return total


def attempts(fake: FakeGitHub, run_ids: list[int]) -> int:
    return sum(len({j["run_attempt"] for j in fake.data.jobs.get(r, [])}) for r in run_ids)


def per_attempt(jobs_per_run: int, runs: int, scratch: Path) -> dict[str, Any]:
    """A first fetch of ``runs`` runs of ``jobs_per_run`` jobs: counted requests per run attempt, against
    the budget, and without annotations (what must not grow with the jobs)."""
    folder = build_export(scratch / f"export-{jobs_per_run}", runs=runs, jobs_per_run=jobs_per_run, seed=jobs_per_run)
    with FakeGitHub(folder) as fake:
        run_ids = [r["id"] for r in fake.visible_runs()]
        one_fetch(fake, scratch / f"jobs-{jobs_per_run}.db", 4)
        n = attempts(fake, run_ids)
        spent = fake.stats.counted - FIXED - (len(run_ids) - 1) // 100
        notes = fake.stats.kinds["check-runs"]
        return {"jobs_per_run": jobs_per_run, "attempts": n, "counted_per_attempt": spent / n,
                "budget_per_attempt": budget(fake, run_ids) / n, "without_annotations": (spent - notes) / n,
                "log_requests_per_attempt": (fake.stats.kinds["run_logs"] + fake.stats.kinds["job_logs"]) / n}  # fmt: skip


def one_fetch(fake: FakeGitHub, db: Path, concurrency: int) -> dict[str, Any]:
    """Fetch once; wall time of the network phase (until parsing starts) and in total."""
    fake.reset_stats()
    marks: dict[str, float] = {}

    def progress(p: FetchProgress) -> None:
        if p.stage == "parsing":
            marks.setdefault("parsing", time.perf_counter())

    start = time.perf_counter()
    with Store(db) as store:
        summary = fetch(Settings(), store, repo=fake.data.full_name, since=SINCE, api_url=fake.url, token=TOKEN,
                        concurrency=concurrency, on_progress=progress)  # fmt: skip
    end = time.perf_counter()
    return {
        "runs_fetched": summary.runs_fetched,
        "requests": fake.stats.total,
        "api_requests": fake.stats.api,
        "counted": fake.stats.counted,
        "not_modified": fake.stats.not_modified,
        "downloads": fake.stats.blob,
        "network_s": marks.get("parsing", end) - start,
        "total_s": end - start,
    }


def measure(runs: int = 40, jobs: int = 3, latency: float = 0.1, concurrency: int = 4) -> dict[str, Any]:
    """The fetches (first, nothing new, one new run, under latency) and their figures; then first fetches
    of histories with 1, 4 and 16 jobs per run."""
    with tempfile.TemporaryDirectory(prefix="fetch-bench-") as scratch:
        tmp = Path(scratch)
        folder = build_export(tmp / "export", runs=runs, jobs_per_run=jobs)
        results: dict[str, Any] = {"runs": runs, "jobs_per_run": jobs}
        with FakeGitHub(folder) as fake:
            run_ids = [r["id"] for r in fake.visible_runs()]
            # 1. a first fetch of every run, no latency: requests per run against the budget
            first = one_fetch(fake, tmp / "a.db", concurrency)
            target = budget(fake, run_ids) + FIXED
            results["first_fetch"] = {**first, "runs": len(run_ids), "target": target,
                                      "requests_per_run": first["counted"] / len(run_ids),
                                      "target_per_run": target / len(run_ids)}  # fmt: skip
            # 2. nothing new
            results["refetch_nothing_new"] = one_fetch(fake, tmp / "a.db", concurrency)
            # 3. one new run on top of a fetched history (fixed costs included)
            fake.hidden.add(run_ids[0])
            one_fetch(fake, tmp / "b.db", concurrency)
            fake.hidden.clear()
            new = one_fetch(fake, tmp / "b.db", concurrency)
            results["one_new_run"] = {
                **new,
                "target": budget(fake, run_ids[:1]) + FIXED,
                "jobs": len(fake.data.jobs[run_ids[0]]),
            }
            # 4. latency
            fake.faults = Faults(latency=latency)
            timed = one_fetch(fake, tmp / "c.db", concurrency)
            ideal = timed["requests"] * latency / concurrency
            results["latency"] = {**timed, "latency_s": latency, "concurrency": concurrency,
                                  "ideal_s": ideal, "ratio": timed["network_s"] / ideal}  # fmt: skip
        # 5. the same budget for 1, 4 and 16 jobs per run
        results["jobs_per_run_sweep"] = [per_attempt(j, max(6, runs // 4), tmp) for j in (1, 4, 16)]
    return results


def to_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The common rows (benchmarks/rows.py) of a ``measure`` result."""
    first, again, new, timed = (results[k] for k in ("first_fetch", "refetch_nothing_new", "one_new_run", "latency"))
    budget_words = BUDGET
    latency_ms = timed["latency_s"] * 1000
    sweep = results["jobs_per_run_sweep"]
    flat = [s["without_annotations"] for s in sweep]
    rows = []
    for s in sweep:
        rows.append(row(
            "fetch", f"counted requests per new run attempt, {s['jobs_per_run']} job(s) per run ({s['attempts']} attempts)",
            s["counted_per_attempt"], "requests", baseline=BUDGET, baseline_value=s["budget_per_attempt"],
            target="≤ budget", ok=s["counted_per_attempt"] <= s["budget_per_attempt"] + 1e-9,
        ))  # fmt: skip
        rows.append(row(
            "fetch", f"log requests per run attempt, {s['jobs_per_run']} job(s) per run (archive or the one job log)",
            s["log_requests_per_attempt"], "requests",
        ))  # fmt: skip
    rows.append(row(
        "fetch", "counted requests per attempt without annotations: 16 jobs per run over 1 job per run",
        flat[-1] / flat[0], "ratio", target="≤ 1.25 (independent of the jobs)", ok=flat[-1] / flat[0] <= 1.25,
    ))  # fmt: skip
    return [
        *rows,
        row(
            "fetch",
            f"counted requests per new run (first fetch, {first['runs']} runs)",
            first["requests_per_run"],
            "requests",
            baseline=budget_words,
            baseline_value=first["target_per_run"],
            target="≤ budget",
            ok=first["counted"] <= first["target"],
        ),
        row(
            "fetch",
            "refetch, nothing new: counted requests",
            again["counted"],
            "requests",
            target=f"≤ {REFETCH_TARGET} counted",
            ok=again["counted"] <= REFETCH_TARGET,
        ),
        row("fetch", "refetch, nothing new: all requests (304s)", again["requests"], "requests"),
        row(
            "fetch",
            "one new run: counted requests",
            new["counted"],
            "requests",
            baseline=budget_words,
            baseline_value=new["target"],
            target="≤ budget",
            ok=new["counted"] <= new["target"],
        ),
        row("fetch", "one new run: all requests (304s, downloads)", new["requests"], "requests"),
        row("fetch", f"requests under {latency_ms:.0f} ms latency", timed["requests"], "requests"),
        row(
            "fetch",
            f"wall time, {latency_ms:.0f} ms latency, concurrency {timed['concurrency']}",
            timed["network_s"],
            "s",
            baseline="requests × latency / concurrency",
            baseline_value=timed["ideal_s"],
            target=f"≤ {LATENCY_TARGET} × baseline",
            ok=timed["ratio"] <= LATENCY_TARGET,
        ),
        row("fetch", f"wall time with parsing, {latency_ms:.0f} ms latency", timed["total_s"], "s"),
    ]


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Rows for benchmarks/run.py: 40 runs x 3 jobs (quick: 10 runs)."""
    return to_rows(measure(runs=10 if quick else 40))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--jobs", type=int, default=3, help="jobs per run")
    parser.add_argument("--latency", type=float, default=0.1, help="seconds added to every answer")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    results = measure(args.runs, args.jobs, args.latency, args.concurrency)
    rows = to_rows(results)
    width = max(len(r["metric"]) for r in rows)
    print(f"fetch benchmark: {args.runs} runs x {args.jobs} jobs (+ reruns), default client policy")
    print(f"{'measure'.ljust(width)}  {'value':>10}  {'baseline':>10}  {'target':>16}")
    for r in rows:
        value = f"{r['value']:.2f} s" if r["unit"] == "s" else f"{r['value']:g}"
        base = "" if r["baseline_value"] is None else f"{r['baseline_value']:.2f}"
        verdict = "" if r["ok"] is None else ("ok" if r["ok"] else "MISSED")
        print(f"{r['metric'].ljust(width)}  {value:>10}  {base:>10}  {r['target'] or '-':>16}  {verdict}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
