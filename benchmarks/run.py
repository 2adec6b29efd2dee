"""Run every benchmark section, print one table, write JSON; exit 1 if a target is missed or a section failed.

    python benchmarks/run.py                       # full run (a few minutes)
    python benchmarks/run.py --quick               # smaller workloads (about a minute)
    python benchmarks/run.py --only parse,fetch --json /tmp/bench.json

Each section (benchmarks/<section>_bench.py, whose ``run(quick)`` returns rows in the shape of
benchmarks/rows.py) runs in a fresh interpreter, so memory peaks and cold starts are its own and a
crash or a missing module fails only that section. Progress goes to stderr, the table to stdout,
and the JSON ({machine, quick, sections, rows}) to benchmarks/results/latest.json by default.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from benchmarks.rows import KEYS, SECTIONS, row_problems  # noqa: E402

DEFAULT_JSON = HERE / "results" / "latest.json"
TIMEOUT_S = {False: 900.0, True: 300.0}  # per section: full, --quick


def machine() -> dict[str, Any]:
    """Where and when the figures were taken."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    commit, dirty = None, None
    try:
        commit = _git("rev-parse", "HEAD")
        dirty = bool(_git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.CalledProcessError):
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_commit": commit,
        "git_dirty": dirty,
    }


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()


def run_section(name: str, quick: bool) -> tuple[list[dict[str, Any]], str | None]:
    """Rows of one section, run in a fresh interpreter, and the error that stopped it (None when it ran)."""
    if not (HERE / f"{name}_bench.py").is_file():
        return [], f"benchmarks/{name}_bench.py is missing"
    with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as scratch:
        out = Path(scratch) / "rows.json"
        argv = [sys.executable, str(Path(__file__).resolve()), "--child", name, "--rows-to", str(out)]
        child = subprocess.Popen([*argv, *(["--quick"] if quick else [])], stdout=sys.stderr, start_new_session=True)
        try:
            code = child.wait(timeout=TIMEOUT_S[quick])
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
            return [], f"no result after {TIMEOUT_S[quick]:.0f} s (killed)"
        except KeyboardInterrupt:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
            raise
        if not out.is_file():
            return [], f"exited with code {code} before reporting (see its output above)"
        answer = json.loads(out.read_text(encoding="utf-8"))
    if answer.get("error"):
        return [], str(answer["error"])
    rows: list[dict[str, Any]] = answer["rows"]
    problems = [
        f"row {i} ({r.get('metric') if isinstance(r, dict) else r!r}): {p}"
        for i, r in enumerate(rows)
        for p in row_problems(r)
    ]
    problems += [f"row {i} belongs to {r['benchmark']!r}" for i, r in enumerate(rows) if r.get("benchmark") != name]
    if not rows:
        problems.append("run() returned no rows")
    if problems:
        return [], "malformed rows: " + "; ".join(problems[:3]) + (
            f" (+{len(problems) - 3} more)" if problems[3:] else ""
        )
    return [{k: r[k] for k in KEYS} for r in rows], None


def child_main(name: str, quick: bool, rows_to: Path) -> int:
    """Inside the fresh interpreter: import ``<name>_bench``, call ``run(quick)``, write rows or the error."""
    answer: dict[str, Any]
    try:
        module = importlib.import_module(f"benchmarks.{name}_bench")
        run = getattr(module, "run", None)
        if not callable(run):
            raise TypeError(f"benchmarks/{name}_bench.py has no run(quick) function")
        answer = {"rows": run(quick=quick)}
    except Exception as exc:
        traceback.print_exc()
        answer = {"error": f"{type(exc).__name__}: {exc}"}
    rows_to.write_text(json.dumps(answer, ensure_ascii=False, default=_not_json), encoding="utf-8")
    return 0 if "rows" in answer else 1


def _not_json(value: object) -> object:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    if abs(value) >= 100 or (unit in ("requests", "bytes") and float(value).is_integer()):
        text = f"{value:,.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    elif abs(value) >= 1:
        text = f"{value:.2f}"
    else:
        text = f"{value:.3f}"
    return f"{text} {unit}".rstrip() if unit and unit != "ratio" else text


def table(rows: list[dict[str, Any]], failures: dict[str, str]) -> str:
    """One Markdown table: section, metric, value, baseline, ratio, target, ok; failed sections too."""
    head = ["section", "metric", "value", "baseline", "ratio", "target", "ok"]
    body = []
    for r in rows:
        baseline = r["baseline"] or "-"
        if r["baseline_value"] is not None:
            baseline += f": {fmt(r['baseline_value'], r['unit'])}"
        ok = "-" if r["ok"] is None else ("ok" if r["ok"] else "**MISSED**")
        body.append([r["benchmark"], r["metric"], fmt(r["value"], r["unit"]), baseline,
                     fmt(r["ratio"]), r["target"] or "-", ok])  # fmt: skip
    for name, error in failures.items():
        body.append([name, "(section failed)", "-", "-", "-", "-", f"**FAILED**: {error}"])
    widths = [max(len(line[i]) for line in [head, *body]) for i in range(len(head))]
    lines = [head, ["-" * w for w in widths], *body]
    return "\n".join("| " + " | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) + " |" for line in lines)


def sections_arg(text: str) -> list[str]:
    names = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [s for s in names if s not in SECTIONS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown section(s) {', '.join(unknown) or '(none)'}; choose from {', '.join(SECTIONS)}"
        )
    return names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller workloads (about a minute in all)")
    parser.add_argument("--only", type=sections_arg, default=list(SECTIONS), metavar="A,B",
                        help=f"run only these sections (of {', '.join(SECTIONS)})")  # fmt: skip
    parser.add_argument(
        "--json",
        type=Path,
        default=DEFAULT_JSON,
        help=f"where to write the JSON (default {DEFAULT_JSON.relative_to(ROOT)})",
    )
    parser.add_argument("--child", choices=SECTIONS, help=argparse.SUPPRESS)
    parser.add_argument("--rows-to", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child_main(args.child, args.quick, args.rows_to)

    info = machine()
    mode = "quick" if args.quick else "full"
    print(f"[bench] {mode} run of {', '.join(args.only)} on {info['cpu']} ({info['cores']} CPUs), "
          f"load {info['load_average']}", file=sys.stderr, flush=True)  # fmt: skip
    rows: list[dict[str, Any]] = []
    failures: dict[str, str] = {}
    sections = []
    started = time.perf_counter()
    for name in args.only:
        print(f"[bench] {name}: started", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        got, error = run_section(name, args.quick)
        spent = time.perf_counter() - t0
        missed = sum(r["ok"] is False for r in got)
        if error is None:
            state = f"{len(got)} rows, {missed} target(s) missed" if missed else f"{len(got)} rows, targets met"
        else:
            failures[name] = error
            state = f"FAILED: {error}"
        print(f"[bench] {name}: finished in {spent:.1f} s: {state}", file=sys.stderr, flush=True)
        rows += got
        sections.append({"name": name, "seconds": round(spent, 1), "error": error, "missed": missed})
    info["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    print(f"[bench] all done in {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)

    print(table(rows, failures))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    document = {"machine": info, "quick": args.quick, "sections": sections, "rows": rows}
    args.json.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"[bench] wrote {args.json}", file=sys.stderr)
    misses = [r for r in rows if r["ok"] is False]
    if misses or failures:
        print(f"[bench] {len(misses)} target(s) missed, {len(failures)} section(s) failed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
