"""Failure signatures: quality against labelled sets, and speed/memory for 10,000 failed jobs.

    python benchmarks/failures_bench.py [--quick]      # prints the rows as JSON lines

Quality: adjusted Rand index of ``analyzer.model.signatures.cluster_excerpts`` against the labels of
(a) a generated history held out from tuning (seed 2; the threshold was chosen on seed 1) and
(b) the hand-labelled real logs of tests/failure_labels.tsv (when ../shared/realdata exists),
next to the baseline: exact match of the normalized first error line of the same excerpts.

Speed: ``find_signatures`` over 10,000 generated failed jobs (2,000 with --quick), wall and CPU
time, median of 3 runs, beside the exact-match baseline timed in the same run; the peak RSS
(VmHWM) of this fresh process, target ≤ 500 MB.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sklearn.metrics import adjusted_rand_score  # noqa: E402

from analyzer.model.signatures import baseline_labels, cluster_excerpts, find_signatures, signature_key  # noqa: E402
from benchmarks.rows import row  # noqa: E402
from tests.failure_histories import CAUSES, generated_failures, realdata_failures  # noqa: E402

SECTION = "failures"
ROUNDS = 3
WALL_TARGET_S = 10.0
RSS_TARGET_MB = 500.0


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def quality_rows() -> list[dict[str, Any]]:
    sets = [("generated, held out", generated_failures(seed=2))]
    real = realdata_failures()
    if real:
        sets.append(("real logs (tests/failure_labels.tsv)", real))
    rows = []
    for name, cases in sets:
        truth = [c.label for c in cases]
        method = adjusted_rand_score(truth, cluster_excerpts([c.excerpt for c in cases]))
        base = adjusted_rand_score(truth, baseline_labels([c.excerpt for c in cases]))
        metric = f"ARI, {name}: {len(cases)} jobs, {len(set(truth))} causes"
        rows.append(row(SECTION, metric, method, "ratio", baseline="exact normalized first error line",
                        baseline_value=base, target="> baseline", ok=method > base))  # fmt: skip
    return rows


def speed_rows(quick: bool) -> list[dict[str, Any]]:
    per_cause = (2_000 if quick else 10_000) // len(CAUSES) + 1
    cases = generated_failures(seed=5, runs_per_cause=per_cause)
    failures = [c.failure(job_id=k + 1) for k, c in enumerate(cases)]
    excerpts = [c.excerpt for c in cases]
    distinct = len({signature_key(e) for e in excerpts})
    walls, cpus, base_walls = [], [], []
    found = []
    for _ in range(ROUNDS):
        t0, c0 = time.perf_counter(), time.process_time()
        found = find_signatures(failures)
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
        t0 = time.perf_counter()
        baseline_labels(excerpts)
        base_walls.append(time.perf_counter() - t0)
    wall, cpu, base = statistics.median(walls), statistics.median(cpus), statistics.median(base_walls)
    truth = [c.label for c in cases]
    labels = cluster_excerpts(excerpts)
    n = len(failures)
    target = WALL_TARGET_S * n / 10_000
    return [
        row(SECTION, f"signatures for {n:,} failed jobs ({distinct:,} distinct excerpts): wall", wall, "s",
            baseline="exact-match baseline, same jobs", baseline_value=base, target=f"≤ {target:.0f} s", ok=wall <= target),
        row(SECTION, f"signatures for {n:,} failed jobs: CPU", cpu, "s"),
        row(SECTION, f"ARI at {n:,} jobs ({len(found)} signatures, {len(CAUSES)} causes)",
            adjusted_rand_score(truth, labels), "ratio", baseline="exact normalized first error line",
            baseline_value=adjusted_rand_score(truth, baseline_labels(excerpts)), target="> baseline",
            ok=adjusted_rand_score(truth, labels) > adjusted_rand_score(truth, baseline_labels(excerpts))),
        row(SECTION, "peak RSS of the section (VmHWM)", peak_rss_mb(), "MB", target=f"≤ {RSS_TARGET_MB:.0f} MB",
            ok=peak_rss_mb() <= RSS_TARGET_MB),
    ]  # fmt: skip


def run(quick: bool = False) -> list[dict[str, Any]]:
    return quality_rows() + speed_rows(quick)


if __name__ == "__main__":
    for r in run(quick="--quick" in sys.argv):
        print(json.dumps(r, ensure_ascii=False))
