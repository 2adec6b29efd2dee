"""Benchmark: ``stats``, ``recommend`` and ``report`` on generated stores of 10,000 and 100,000 runs.

The store comes from ``tests/loadgen.py`` (≈ 10 observations per run: 100,000 runs are ~1,000,000
observations), generated in a temporary directory; like a store after its first analysis, it holds
the observations' columns cache (``analyzer/store/columns.py``). Every command runs in a fresh
interpreter (``python -m analyzer`` from this working tree) and is measured from outside: wall
time, CPU time and peak RSS (``ru_maxrss`` of the child, through a small intermediate interpreter).
The commands run as an installed package does, from bytecode: a first round, not measured, compiles
every module into a private cache directory (``PYTHONPYCACHEPREFIX``; ``PYTHONDONTWRITEBYTECODE``
cleared), which the measured rounds read. On a machine that sets ``PYTHONDONTWRITEBYTECODE=1`` (as
this one does) and a checkout without ``__pycache__``, every start would compile the package again,
about 0.1 s that no installed copy pays.

**Baseline: the floor**, measured in the same run, interleaved with the commands, in a fresh
interpreter too: importing numpy and reading the same observations (every column of the frame)
from the store's file format into numpy arrays, and nothing else. No analysis of the store can
cost less; a command's ratio says how much more it costs than just reading its input. Every
timing row is ``value`` (absolute) beside ``ratio`` to it; CPU time is reported beside wall time
(on a shared machine the wall time of both grows with the load, CPU time much less).

**Targets**: at 100,000 runs each command ≤ 2 s and ≤ 300 MB; at 10,000 runs ≤ 0.8 s; the HTML
report at most 2 MB. Medians of 3 rounds (quick: 1), the peak RSS is the highest.

**Building the caches first** (rows without a target, measured once each): ``report`` on a copy of the
store whose columns caches (observations and jobs) are dropped, as a reparse leaves it (they are
written again from SQL), and on a copy as a fetch of a week of new runs leaves it (the newest quarter
of the jobs and their observations added after the caches were written: the report adds them to the
caches). The second is what a fetch-then-report loop pays.

    python benchmarks/report_bench.py [--quick] [--repeat N] [--json PATH] [--keep DIR]

``--quick``: 10,000 runs only. ``--repeat``: rounds per store (medians are reported).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.rows import row  # noqa: E402
from tests.loadgen import Measured, measure, write_store  # noqa: E402

SECTION = "report"
TIME_TARGET_S = {10_000: 0.8, 100_000: 2.0}
MEMORY_TARGET_MB = 300.0
HTML_TARGET_BYTES = 2_000_000
CONFIG = 'repo = "acme/monorepo"\npreset = "kubernaut-e2e"\n'
BASELINE = "floor: the same observations read into numpy arrays (fresh process)"

# The floor: the observations as numbers, read from the store's file, with nothing made of them.
_READ_ONLY = """
import sqlite3, sys
import numpy as np
with sqlite3.connect(sys.argv[1]) as conn:
    arrays = [np.frombuffer(data, dtype=np.uint8).copy() for (data,) in conn.execute(
        "SELECT data FROM observation_columns WHERE name != '_meta'")]
print(sum(a.size for a in arrays))
"""


def _commands(workdir: Path, store: Path, config: Path) -> dict[str, list[str]]:
    common = ["--store", str(store), "--config", str(config)]
    return {
        "stats": ["stats", "--format", "json", *common],
        "recommend": ["recommend", "--format", "json", *common],
        "report": ["report", "--html", str(workdir / "report.html"), "--markdown", str(workdir / "weekly.md"), *common],
    }


def bench_store(runs: int, workdir: Path, *, repeat: int = 1, log: Any = None) -> list[dict[str, Any]]:
    """Rows for one generated store of ``runs`` runs."""
    log = log or (lambda text: print(text, file=sys.stderr, flush=True))
    config = workdir / "we-advisor.toml"
    config.write_text(CONFIG, encoding="utf-8")
    store = workdir / f"load-{runs}.db"
    store.unlink(missing_ok=True)
    from analyzer.config import load_settings

    began = time.perf_counter()
    counts = write_store(store, runs, rules=load_settings(config).phases)
    generated = time.perf_counter() - began
    observations = counts["observations"]
    log(f"{runs:,} runs: {observations:,} observations generated in {generated:.1f} s ({store.stat().st_size / 1e6:.0f} MB)")
    commands = _commands(workdir, store, config)
    samples: dict[str, list[Measured]] = {name: [] for name in ["baseline", *commands]}
    compiled = {"PYTHONPYCACHEPREFIX": str(workdir / "pycache"), "PYTHONDONTWRITEBYTECODE": ""}
    for name in commands:  # the warm-up round: writes the bytecode, not measured
        measure(commands[name], cwd=workdir, extra_env=compiled)
    for round_ in range(repeat):
        for name in ["baseline", *commands]:  # interleaved: the baseline sees the same load as the commands
            if name == "baseline":
                result = measure([str(store)], cwd=workdir, python=[sys.executable, "-c", _READ_ONLY], extra_env=compiled)
                if result.stdout.strip() in ("", "0"):
                    raise RuntimeError(f"the store of {runs:,} runs has no observations' columns cache")
            else:
                result = measure(commands[name], cwd=workdir, extra_env=compiled)
            if result.returncode != 0 or "parsing" in result.stderr:
                raise RuntimeError(f"{name} on {runs:,} runs failed ({result.returncode}): {result.stderr[-1500:]}")
            samples[name].append(result)
            log(f"  round {round_ + 1}: {name:<9} {result.wall_s:6.2f} s (CPU {result.cpu_s:5.2f} s), peak {result.peak_mb:5.0f} MB")
    html_bytes = (workdir / "report.html").stat().st_size
    label = f"{runs:,} runs"

    def wall(name: str) -> float:
        return statistics.median(m.wall_s for m in samples[name])

    def cpu(name: str) -> float:
        return statistics.median(m.cpu_s for m in samples[name])

    def peak(name: str) -> float:
        return max(m.peak_mb for m in samples[name])

    rows = [
        row(SECTION, f"generate store, {label} ({observations:,} observations)", generated, "s"),
        row(SECTION, f"floor: read the observations into numpy arrays, {label}", wall("baseline"), "s"),
    ]
    limit = TIME_TARGET_S.get(runs)
    for name in commands:
        metric = "render report (HTML + Markdown)" if name == "report" else name
        rows.append(
            row(SECTION, f"{metric} time, {label} (median of {repeat})", wall(name), "s", baseline=BASELINE,
                baseline_value=wall("baseline"), target=None if limit is None else f"≤ {limit:g} s",
                ok=None if limit is None else wall(name) <= limit)
        )
        rows.append(  # CPU time: what the wall time would be on an idle machine
            row(SECTION, f"{metric} CPU time, {label}", cpu(name), "s", baseline=f"{BASELINE}: CPU time",
                baseline_value=cpu("baseline"))
        )
        big = runs >= 100_000
        rows.append(
            row(SECTION, f"{metric} peak RSS, {label}", peak(name), "MB", baseline=f"{BASELINE}: peak RSS",
                baseline_value=peak("baseline"), target=f"≤ {MEMORY_TARGET_MB:.0f} MB" if big else None,
                ok=peak(name) <= MEMORY_TARGET_MB if big else None)
        )
    rows.append(
        row(SECTION, f"report HTML size, {label}", html_bytes, "bytes", target="≤ 2 MB", ok=html_bytes <= HTML_TARGET_BYTES)
    )
    # Reports that build the columns caches first (no target: the targets are for the store as its first
    # analysis leaves it), measured once each, beside the floor.
    for case, prepare in (("without the columns caches", _without_caches), ("after a fetch added a quarter of the jobs", _after_a_fetch)):
        copy = workdir / f"copy-{runs}.db"
        shutil.copyfile(store, copy)
        prepare(copy)
        first = measure([*commands["report"][:-4], "--store", str(copy), "--config", str(config)], cwd=workdir, extra_env=compiled)
        if first.returncode != 0 or "parsing" in first.stderr:
            raise RuntimeError(f"report on {runs:,} runs {case} failed ({first.returncode}): {first.stderr[-1500:]}")
        copy.unlink()
        log(f"  {case}: {first.wall_s:6.2f} s (CPU {first.cpu_s:5.2f} s), peak {first.peak_mb:5.0f} MB")
        rows += [
            row(SECTION, f"render report {case}, {label}", first.wall_s, "s", baseline=BASELINE, baseline_value=wall("baseline")),
            row(SECTION, f"render report {case} CPU time, {label}", first.cpu_s, "s", baseline=f"{BASELINE}: CPU time",
                baseline_value=cpu("baseline")),
            row(SECTION, f"render report {case} peak RSS, {label}", first.peak_mb, "MB", baseline=f"{BASELINE}: peak RSS",
                baseline_value=peak("baseline")),
        ]  # fmt: skip
    return rows


def _without_caches(path: Path) -> None:
    """The store as a reparse leaves it (every job's rows changed): both columns caches dropped."""
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("DELETE FROM observation_columns")
        conn.execute("DELETE FROM job_columns")


def _after_a_fetch(path: Path) -> None:
    """The store as a fetch of new runs leaves it: the newest quarter of the jobs (by id: a week of the
    four) and their observations taken out, the caches written for the rest, then the rows put back as
    a fetch adds them (new jobs past the cache's last id, observations after every row): the caches are
    kept and the report adds the new rows to them (``columns.top_up``, ``jobcolumns.top_up``). The rows go
    back by SQL, not through ``Store.save_job``/``save_analysis`` (whose keep-or-drop rule
    ``tests/test_fetch.py`` checks with a real fetch)."""
    from analyzer.store import Store

    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        (total,) = conn.execute("SELECT count(*) FROM jobs").fetchone()
        (first,) = conn.execute("SELECT job_id FROM jobs ORDER BY job_id DESC LIMIT 1 OFFSET ?", (total // 4,)).fetchone()
        kept = {table: conn.execute(f"SELECT * FROM {table} WHERE job_id > ? ORDER BY rowid", (first,)).fetchall()
                for table in ("jobs", "observations")}  # fmt: skip
        for table in kept:
            conn.execute(f"DELETE FROM {table} WHERE job_id > ?", (first,))
    with Store(path, create=False) as store:
        store.refresh_observation_columns()
        store.refresh_job_columns()
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        for table, rows in kept.items():
            if rows:
                conn.executemany(f"INSERT INTO {table} VALUES ({','.join('?' * len(rows[0]))})", rows)


def run(quick: bool = False, *, repeat: int | None = None, keep: Path | None = None) -> list[dict[str, Any]]:
    """Rows for 10,000 runs (``quick``, 1 round) or 10,000 and 100,000 runs (3 rounds each)."""
    repeat = repeat or (1 if quick else 3)
    sizes = [10_000] if quick else [10_000, 100_000]
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="report-bench-") as scratch:
        workdir = keep or Path(scratch)
        workdir.mkdir(parents=True, exist_ok=True)
        for runs in sizes:
            rows += bench_store(runs, workdir, repeat=repeat)
    return rows


def _fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "–"
    if unit == "bytes":
        return f"{value:,.0f} bytes"
    if unit == "ratio" or not unit:
        return f"{value:.2f}"
    return f"{value:,.2f} {unit}" if value < 100 else f"{value:,.0f} {unit}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10,000 runs only")
    parser.add_argument("--repeat", type=int, default=None, help="rounds per store (medians; default 3, quick 1)")
    parser.add_argument("--json", type=Path, help="write the rows here")
    parser.add_argument("--keep", type=Path, help="generate the stores and reports here and keep them")
    args = parser.parse_args(argv)
    rows = run(args.quick, repeat=max(1, args.repeat) if args.repeat else None, keep=args.keep)
    print(f"{'metric':<62} {'value':>16} {'× baseline':>11}  {'target':<8} ok")
    for r in rows:
        ok = "–" if r["ok"] is None else "yes" if r["ok"] else "NO"
        ratio = "" if r["ratio"] is None else f"{r['ratio']:.2f}"
        print(f"{r['metric']:<62} {_fmt(r['value'], r['unit']):>16} {ratio:>11}  {r['target'] or '':<8} {ok}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0 if all(r["ok"] is not False for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
