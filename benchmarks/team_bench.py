"""Team benchmark: an organization crawled by four workers, the analysis on PostgreSQL, the Parquet export.

A private PostgreSQL server (``tests/postgres.py``) on 127.0.0.1 serves as the team store; the
section fails where PostgreSQL is not installed.

- **Workers**: ``fetch --org`` of four repositories on the fake organization (``tests/fake_org.py``,
  every answer 100 ms late), once by one worker doing them in sequence (``--workers 1``, one token)
  and once by four (``--workers 4``, a token each from ``GITHUB_TOKENS``), each into an empty
  database, whole commands in fresh processes, interleaved, medians. Target: four workers ≤ 0.35 × one.
- **Analysis**: ``stats`` and ``recommend`` on the 100,000-run store of ``tests/loadgen.py``
  (≈ 1,000,000 observations), once from its SQLite file and once from PostgreSQL (the same rows,
  copied with ``COPY``), interleaved, medians. Target: PostgreSQL ≤ 2 × SQLite.
- **Export**: ``export --format parquet`` of that store (≈ 1,000,000 observations and the runs, jobs
  and steps around them) into an empty folder. Target: ≤ 5 s. Baseline: reading the observations
  into pandas (``stats`` pays that too).

``--quick``: 10,000 runs and smaller repositories (the ratios are then dominated by start-up).

    python benchmarks/team_bench.py [--quick] [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.rows import row  # noqa: E402
from tests.fake_github import SINCE  # noqa: E402
from tests.fake_org import FakeOrg, build_org  # noqa: E402
from tests.loadgen import Measured, measure, write_store  # noqa: E402
from tests.postgres import PostgresServer, missing_reason  # noqa: E402

SECTION = "team"
WORKERS_TARGET = 0.35
BACKEND_TARGET = 2.0
EXPORT_TARGET_S = 5.0
LATENCY_S = 0.1
TOKENS = tuple(f"bench-token-{i}-0123456789abcdef" for i in range(4))
CONFIG = 'repo = "acme/monorepo"\npreset = "kubernaut-e2e"\n'
TABLES = ("meta", "runs", "jobs", "steps", "annotations", "logs", "observations", "incidents", "parse_state",
          "sources", "workflow_files", "fetched_runs", "fetched_annotations", "http_cache")  # fmt: skip


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def crawl(org: FakeOrg, url: str, workers: int, scratch: Path) -> tuple[float, float]:
    """Wall and CPU time (the command and its workers) of ``fetch --org acme --workers N`` into the
    empty database at ``url``."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GITHUB_TOKEN": TOKENS[0], "GH_TOKEN": "",
           "GITHUB_TOKENS": ",".join(TOKENS[:workers]), "WE_ADVISOR_STORE": url}  # fmt: skip
    args = ["fetch", "--org", "acme", "--since", SINCE, "--api-url", org.url, "--workers", str(workers)]
    began = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "analyzer", *args], env=env, cwd=scratch, capture_output=True,
                          text=True, check=False)  # fmt: skip
    wall = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"fetch --org with {workers} worker(s) failed: {done.stderr[-1500:]}")
    return wall, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def worker_rows(server: PostgresServer, scratch: Path, quick: bool, repeat: int) -> list[dict[str, Any]]:
    runs = 16 if quick else 60
    folders = build_org(scratch / "org", "acme", 4, runs=runs, jobs_per_run=3)
    ones: list[tuple[float, float]] = []
    fours: list[tuple[float, float]] = []
    with FakeOrg("acme", folders, tokens=TOKENS, latency=LATENCY_S) as org:
        for round_ in range(repeat):  # interleaved: both see the same load
            ones.append(crawl(org, server.database("seq"), 1, scratch))
            log(f"  round {round_ + 1}: 1 worker, 4 repositories in sequence: {ones[-1][0]:.1f} s (CPU {ones[-1][1]:.1f} s)")
            fours.append(crawl(org, server.database("par"), 4, scratch))
            log(f"  round {round_ + 1}: 4 workers: {fours[-1][0]:.1f} s (CPU {fours[-1][1]:.1f} s)")
    one, one_cpu = (statistics.median(m[i] for m in ones) for i in (0, 1))
    four, four_cpu = (statistics.median(m[i] for m in fours) for i in (0, 1))
    label = f"4 repositories x {runs} runs x 3 jobs, {LATENCY_S * 1000:.0f} ms latency, median of {repeat}"
    cores = os.cpu_count() or 1
    return [
        row(SECTION, f"fetch --org, 4 workers ({label})", four, "s", baseline="1 worker, the 4 in sequence",
            baseline_value=one, target=f"≤ {WORKERS_TARGET} × 1 worker", ok=four <= WORKERS_TARGET * one),
        row(SECTION, "fetch --org, 4 workers: CPU time (workers and command)", four_cpu, "s",
            baseline="1 worker: CPU time", baseline_value=one_cpu),
        row(SECTION, f"fetch --org, 4 workers: the CPU floor on {cores} cores (CPU time / cores)", four_cpu / cores,
            "s", baseline="4 workers: wall time", baseline_value=four),
    ]  # fmt: skip


def copy_to_postgres(sqlite_path: Path, url: str) -> None:
    """Every row of the SQLite store into the (we-advisor-initialized) database at ``url``, by COPY."""
    import psycopg

    from analyzer.store import Store

    Store(url).close()  # the schema
    with sqlite3.connect(sqlite_path) as source, psycopg.connect(url, autocommit=False) as target:
        for table in TABLES:
            columns = [r[1] for r in source.execute(f"PRAGMA table_info({table})")]
            target.execute(f"DELETE FROM {table}")
            with target.cursor().copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for values in source.execute(f"SELECT {', '.join(columns)} FROM {table}"):
                    copy.write_row(values)
        target.commit()
        target.execute("ANALYZE")


def analysis_rows(server: PostgresServer, scratch: Path, quick: bool, repeat: int) -> list[dict[str, Any]]:
    from analyzer.config import load_settings

    runs = 10_000 if quick else 100_000
    config = scratch / "we-advisor.toml"
    config.write_text(CONFIG, encoding="utf-8")
    db = scratch / f"load-{runs}.db"
    counts = write_store(db, runs, rules=load_settings(config).phases)
    url = server.database("load")
    began = time.perf_counter()
    copy_to_postgres(db, url)
    log(f"  {runs:,} runs ({counts['observations']:,} observations) copied to PostgreSQL in {time.perf_counter() - began:.0f} s")
    stores = {"sqlite": str(db), "postgresql": url}
    samples: dict[tuple[str, str], list[Measured]] = {}
    outputs: dict[tuple[str, str], str] = {}
    for store in stores.values():  # the warm-up round, not measured: each store writes its columns cache
        measure(["stats", "--format", "json", "--store", store, "--config", str(config)], cwd=scratch)  # (8 s on PostgreSQL)
    for round_ in range(repeat):
        for command in ("stats", "recommend"):
            for backend, store in stores.items():  # interleaved: both see the same load
                result = measure([command, "--format", "json", "--store", store, "--config", str(config)], cwd=scratch)
                if result.returncode != 0 or "parsing" in result.stderr:
                    raise RuntimeError(f"{command} on {backend} failed: {result.stderr[-1500:]}")
                samples.setdefault((command, backend), []).append(result)
                outputs[(command, backend)] = json.dumps(_without_time(json.loads(result.stdout)))
                log(f"  round {round_ + 1}: {command:<9} {backend:<10} {result.wall_s:6.2f} s (CPU {result.cpu_s:5.2f} s)")
    rows = []
    label = f"{runs:,} runs"
    for command in ("stats", "recommend"):
        if not _close(json.loads(outputs[(command, "sqlite")]), json.loads(outputs[(command, "postgresql")])):
            raise RuntimeError(f"{command} answers differently on the two backends")
        pg = statistics.median(m.wall_s for m in samples[(command, "postgresql")])
        lite = statistics.median(m.wall_s for m in samples[(command, "sqlite")])
        rows.append(row(SECTION, f"{command} on PostgreSQL, {label}", pg, "s", baseline="the same on SQLite",
                        baseline_value=lite, target=f"≤ {BACKEND_TARGET:.0f} × SQLite", ok=pg <= BACKEND_TARGET * lite))  # fmt: skip
        cpu = statistics.median(m.cpu_s for m in samples[(command, "postgresql")])
        rows.append(row(SECTION, f"{command} on PostgreSQL, CPU time of the command, {label}", cpu, "s",
                        baseline="the same on SQLite", baseline_value=statistics.median(
                            m.cpu_s for m in samples[(command, "sqlite")])))  # fmt: skip
    rows += export_rows(db, scratch, counts["observations"], label)
    return rows


def _close(a: Any, b: Any) -> bool:
    """The same answer, floats equal to 1e-9 (a store copied by COPY holds its rows in another
    physical order, and some sums then differ in their last bits)."""
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _without_time(answer: Any) -> Any:
    if isinstance(answer, dict):
        answer.pop("generated_at", None)
    return answer


_READ_ONLY = """
import sys
from analyzer.store import Store
with Store(sys.argv[1]) as store:
    print(len(store.observations_frame()))
"""


def export_rows(db: Path, scratch: Path, observations: int, label: str) -> list[dict[str, Any]]:
    out = scratch / "warehouse"
    baseline = measure([str(db)], cwd=scratch, python=[sys.executable, "-c", _READ_ONLY])
    result = measure(["export", "--format", "parquet", str(out), "--store", str(db)], cwd=scratch)
    if result.returncode != 0:
        raise RuntimeError(f"export failed: {result.stderr[-1500:]}")
    again = measure(["export", "--format", "parquet", str(out), "--store", str(db)], cwd=scratch)
    size = sum(p.stat().st_size for p in out.rglob("*.parquet"))
    log(f"  export: {result.wall_s:.2f} s (CPU {result.cpu_s:.2f} s), again {again.wall_s:.2f} s (CPU {again.cpu_s:.2f} s), "
        f"{size / 1e6:.1f} MB of Parquet")
    return [
        row(SECTION, f"export --format parquet, {observations:,} observations ({label})", result.wall_s, "s",
            baseline="read the observations into pandas (fresh process)", baseline_value=baseline.wall_s,
            target=f"≤ {EXPORT_TARGET_S:.0f} s", ok=result.wall_s <= EXPORT_TARGET_S),
        row(SECTION, f"export --format parquet: CPU time of the command ({label})", result.cpu_s, "s",
            baseline="export: wall time", baseline_value=result.wall_s),
        row(SECTION, f"export again, nothing changed ({label})", again.wall_s, "s",
            baseline="the first export", baseline_value=result.wall_s),
        row(SECTION, f"export again: CPU time of the command ({label})", again.cpu_s, "s",
            baseline="the first export: CPU time", baseline_value=result.cpu_s),
        row(SECTION, f"Parquet written ({label})", size, "bytes"),
    ]  # fmt: skip


def run(quick: bool = False, *, repeat: int | None = None) -> list[dict[str, Any]]:
    reason = missing_reason()
    if reason is not None:
        raise RuntimeError(f"no PostgreSQL server can be started here: {reason}")
    rounds = repeat or (1 if quick else 3)
    server = PostgresServer().start()
    try:
        with tempfile.TemporaryDirectory(prefix="team-bench-") as scratch:
            folder = Path(scratch)
            rows = worker_rows(server, folder, quick, rounds)
            rows += analysis_rows(server, folder, quick, rounds)
    finally:
        server.stop()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeat", type=int)
    args = parser.parse_args()
    for r in run(args.quick, repeat=args.repeat):
        print(json.dumps(r))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
