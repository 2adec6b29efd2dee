#!/usr/bin/env python3
"""Regenerate the bundled sample history (data/sample/) deterministically.

    python scripts/generate_sample.py                 # data/sample, seed 7, 6 weeks
    python scripts/generate_sample.py --out /tmp/s --seed 3 --weeks 2

The output is byte-for-byte reproducible; tests/test_sample.py checks that the committed
data/sample/ equals a fresh generation, so edit analyzer/demo/sample/ and rerun this, never the files.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analyzer.demo.sample import generate_sample  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "data" / "sample", help="output directory (replaced)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    parser.add_argument("--weeks", type=int, default=6, help="weeks of history ending 2026-11-23 (default 6)")
    args = parser.parse_args(argv)
    if args.weeks < 1:
        parser.error("--weeks must be at least 1")
    summary = generate_sample(args.out, seed=args.seed, weeks=args.weeks)
    incidents = ", ".join(f"{kind} {count}" for kind, count in summary.incidents.items())
    print(
        f"wrote {summary.out_dir}: {summary.runs} runs, {summary.run_attempts} attempts, {summary.jobs} jobs, "
        f"{summary.files} files, {summary.bytes / 1e6:.2f} MB\n"
        f"incidents: {incidents}\n"
        f"tekton controller wait over 300 s: {summary.tekton_timeouts}/{summary.e2e_jobs} E2E jobs "
        f"({summary.tekton_timeout_rate:.1%})",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
