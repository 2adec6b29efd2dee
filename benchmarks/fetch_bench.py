"""Fetch benchmark: requests per new run, the cost of a refetch with nothing new, wall time under latency.

Runs ``analyzer.fetch.fetch`` (real PyGithub, real HTTP) against the tests' fake GitHub server on
127.0.0.1 serving a generated history, with the default client policy.

Targets (issue 3):
- requests per new run <= 2 + 2 x jobs + 1 per job that did not succeed;
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

from analyzer.config import Settings  # noqa: E402
from analyzer.fetch import FetchProgress, fetch  # noqa: E402
from analyzer.store import Store  # noqa: E402
from tests.fake_github import TOKEN, FakeGitHub, Faults, build_export  # noqa: E402

SINCE = "2026-01-01"


def budget(fake: FakeGitHub, run_ids: list[int]) -> int:
    """2 + 2 x jobs + 1 per job that did not succeed, summed over the runs."""
    total = 0
    for run_id in run_ids:
        jobs = fake.data.jobs.get(run_id, [])
        total += 2 + 2 * len(jobs) + sum(j["conclusion"] not in ("success", "skipped", "neutral") for j in jobs)
    return total


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--jobs", type=int, default=3, help="jobs per run")
    parser.add_argument("--latency", type=float, default=0.1, help="seconds added to every answer")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="fetch-bench-") as scratch:
        tmp = Path(scratch)
        folder = build_export(tmp / "export", runs=args.runs, jobs_per_run=args.jobs)
        rows: list[tuple[str, str, str, str]] = []
        results: dict[str, Any] = {}
        with FakeGitHub(folder) as fake:
            run_ids = [r["id"] for r in fake.visible_runs()]
            # 1. a first fetch of every run, no latency: requests per run against the budget
            first = one_fetch(fake, tmp / "a.db", args.concurrency)
            target = budget(fake, run_ids)
            results["first_fetch"] = {**first, "runs": len(run_ids), "target": target,
                                      "requests_per_run": first["requests"] / len(run_ids),
                                      "target_per_run": target / len(run_ids)}  # fmt: skip
            rows.append(("requests per new run (first fetch, all runs)",
                         f"{first['requests'] / len(run_ids):.2f}", f"<= {target / len(run_ids):.2f}",
                         _ok(first["requests"] <= target)))  # fmt: skip
            # 2. nothing new
            again = one_fetch(fake, tmp / "a.db", args.concurrency)
            results["refetch_nothing_new"] = again
            rows.append(("refetch, nothing new: counted requests", str(again["counted"]), "<= 1",
                         _ok(again["counted"] <= 1)))  # fmt: skip
            rows.append(("refetch, nothing new: all requests (304s)", str(again["requests"]), "-", ""))
            # 3. one new run on top of a fetched history (fixed costs included)
            fake.hidden.add(run_ids[0])
            one_fetch(fake, tmp / "b.db", args.concurrency)
            fake.hidden.clear()
            new = one_fetch(fake, tmp / "b.db", args.concurrency)
            target_one = budget(fake, run_ids[:1])
            results["one_new_run"] = {**new, "target": target_one, "jobs": len(fake.data.jobs[run_ids[0]])}
            rows.append(("one new run: counted requests", str(new["counted"]), f"<= {target_one}",
                         _ok(new["counted"] <= target_one)))  # fmt: skip
            rows.append(("one new run: all requests (304s, downloads)", str(new["requests"]), f"({target_one})", ""))
            # 4. latency
            fake.faults = Faults(latency=args.latency)
            timed = one_fetch(fake, tmp / "c.db", args.concurrency)
            ideal = timed["requests"] * args.latency / args.concurrency
            ratio = timed["network_s"] / ideal
            results["latency"] = {**timed, "latency_s": args.latency, "concurrency": args.concurrency,
                                  "ideal_s": ideal, "ratio": ratio}  # fmt: skip
            rows.append((f"wall time, {args.latency * 1000:.0f} ms latency, concurrency {args.concurrency}",
                         f"{timed['network_s']:.2f} s", f"ideal {ideal:.2f} s", ""))  # fmt: skip
            rows.append(("  ratio to requests x latency / concurrency", f"{ratio:.2f}x", "<= 1.30x", _ok(ratio <= 1.3)))
            rows.append(("  total with parsing", f"{timed['total_s']:.2f} s", "-", ""))

    width = max(len(r[0]) for r in rows)
    print(f"fetch benchmark: {args.runs} runs x {args.jobs} jobs (+ reruns), default client policy")
    print(f"{'measure'.ljust(width)}  {'value':>10}  {'target':>12}")
    for name, value, goal, verdict in rows:
        print(f"{name.ljust(width)}  {value:>10}  {goal:>12}  {verdict}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")


def _ok(good: bool) -> str:
    return "ok" if good else "MISSED"


if __name__ == "__main__":
    main()
