"""Benchmark: the fixed start-up cost of a command, each in a fresh interpreter.

What a user waits for before any work: ``--version``, ``--help``, ``ingest`` of one small job log
(the first log of ``data/sample``, into a new store) and ``stats`` on the store that made (one job:
the analysis costs nothing, the imports are all of it). Each runs as ``python -m analyzer`` from a
copy of this checkout's ``analyzer`` package, in two ways:

- **source**: the copy has no ``__pycache__`` and ``PYTHONDONTWRITEBYTECODE=1`` (as on the shared
  machine, and for an editable install on one like it): every module of the package is compiled
  on every start; third-party packages use their own caches as installed;
- **compiled**: the copy compiled beforehand (``compileall``), as ``pip install`` leaves a package.

**Baseline: the floor**, ``python -c pass`` (the interpreter and ``site``), measured in the same
run and interleaved with the commands; CPU time (user + system) beside wall time. No targets:
issue 15's targets that start-up decides are the report section's ``stats`` at 10,000 runs and the
ingest section's ratio to grep. Medians of 9 rounds (quick: 3).

    python benchmarks/startup_bench.py [--quick] [--rounds N] [--json PATH] [--against DIR]

``--against DIR``: also measure another checkout's package (``git archive main | tar -x -C DIR``),
interleaved with this one's, for a before → after in one run (its rows say "(DIR)").
"""

from __future__ import annotations

import argparse
import compileall
import gzip
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.rows import row  # noqa: E402
from tests.loadgen import Measured, run_measured  # noqa: E402

SECTION = "startup"
FLOOR = "floor: python -c pass (fresh interpreter)"
MODES = ("source", "compiled")


def _run(command: list[str], *, cwd: Path, root: Path | None) -> Measured:
    """``command`` in a fresh process (``PYTHONPATH``: ``root``, no bytecode written): wall, CPU, peak RSS."""
    env = {**os.environ, "PYTHONIOENCODING": "utf-8", "PYTHONDONTWRITEBYTECODE": "1"}
    for name in ("PYTHONPATH", "PYTHONPYCACHEPREFIX", "WE_ADVISOR_STORE", "GITHUB_TOKEN", "GH_TOKEN"):
        env.pop(name, None)
    if root is not None:
        env["PYTHONPATH"] = str(root)
    return run_measured(command, cwd=cwd, env=env, label=" ".join(command))


def _copies(workdir: Path, checkouts: dict[str, Path]) -> dict[str, Path]:
    """Each checkout's package twice: never compiled, and compiled; by mode and the checkout's label."""
    roots = {}
    for n, (label, checkout) in enumerate(checkouts.items()):
        for mode in MODES:
            root = workdir / f"{mode}-{n}"
            shutil.copytree(checkout / "analyzer", root / "analyzer", ignore=shutil.ignore_patterns("__pycache__"))
            if mode == "compiled":
                compileall.compile_dir(root / "analyzer", quiet=1)
            roots[mode + label] = root
    return roots


def run(quick: bool = False, *, rounds: int | None = None, against: Path | None = None) -> list[dict[str, Any]]:
    """Rows for benchmarks/run.py: each command in each mode, wall and CPU, against the floor."""
    rounds = rounds or (3 if quick else 9)
    python = [sys.executable, "-m", "analyzer"]
    checkouts = {"": ROOT, **({f" ({against})": against} if against is not None else {})}
    modes = [mode + label for label in checkouts for mode in MODES]
    with tempfile.TemporaryDirectory(prefix="startup-bench-") as scratch:
        workdir = Path(scratch)
        roots = _copies(workdir, checkouts)
        sample = sorted((ROOT / "data" / "sample" / "logs").glob("*.txt.gz"))[0]
        log = workdir / "job.txt"
        log.write_bytes(gzip.decompress(sample.read_bytes()))
        store = workdir / "one.db"
        made = _run([*python, "ingest", str(log), "--store", str(store)], cwd=workdir, root=roots["source"])
        if made.returncode != 0:
            raise RuntimeError(f"ingest failed ({made.returncode}): {made.stderr[-1500:]}")
        (workdir / "we-advisor.toml").write_text("", encoding="utf-8")
        commands = {
            "--version": ["--version"],
            "--help": ["--help"],
            f"ingest of one {log.stat().st_size / 1e3:.0f} KB job log": ["ingest", str(log), "--store", str(workdir / "new.db")],
            "stats (a store of one job)": ["stats", "--store", str(store), "--since", "3650d", "--format", "json"],
        }  # fmt: skip
        samples: dict[tuple[str, str], list[Measured]] = {}
        for _ in range(rounds):  # interleaved: the floor sees the same load as the commands
            samples.setdefault(("floor", ""), []).append(_run([sys.executable, "-c", "pass"], cwd=workdir, root=None))
            for name, args in commands.items():
                for mode in modes:
                    for suffix in ("", "-wal", "-shm", ".lock"):
                        (workdir / f"new.db{suffix}").unlink(missing_ok=True)
                    done = _run([*python, *args], cwd=workdir, root=roots[mode])
                    if done.returncode != 0:
                        raise RuntimeError(f"{name} ({mode}) failed ({done.returncode}): {done.stderr[-1500:]}")
                    samples.setdefault((name, mode), []).append(done)

    def median(key: tuple[str, str], field: str) -> float:
        return statistics.median(getattr(m, field) for m in samples[key])

    floor = ("floor", "")
    rows = [
        row(SECTION, f"floor: python -c pass, wall (median of {rounds})", median(floor, "wall_s"), "s"),
        row(SECTION, "floor: python -c pass, CPU time", median(floor, "cpu_s"), "s"),
    ]
    for name in commands:
        for mode in modes:
            key = (name, mode)
            rows.append(row(SECTION, f"{name}, {mode}, wall (median of {rounds})", median(key, "wall_s"), "s",
                            baseline=FLOOR, baseline_value=median(floor, "wall_s")))  # fmt: skip
            rows.append(row(SECTION, f"{name}, {mode}, CPU time", median(key, "cpu_s"), "s",
                            baseline=f"{FLOOR}: CPU time", baseline_value=median(floor, "cpu_s")))  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 rounds instead of 9")
    parser.add_argument("--rounds", type=int, help="rounds (medians are reported)")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    parser.add_argument("--against", type=Path, help="another checkout to measure beside this one")
    args = parser.parse_args(argv)
    rows = run(args.quick, rounds=args.rounds, against=args.against)
    for r in rows:
        ratio = "" if r["ratio"] is None else f"  ({r['ratio']:.2f} × floor)"
        print(f"{r['metric']:<60} {r['value']:7.3f} {r['unit']}{ratio}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
