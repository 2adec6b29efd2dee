"""Log-parsing throughput and memory benchmark for analyzer.parse.logs.

Builds a corpus of job logs (>= 200 MB; ~20 MB with --quick) in a temporary directory by
replicating the real logs in ../shared/realdata (synthetic logs when that is absent), plus a few
large job logs made by concatenating them. Then, in the same run and interleaved, it times

* ``parse_job_log`` over every job log (with the bundled kubernaut-e2e phase rules), and
* ``grep -cE`` over the same files with an equivalent alternation (``grep_equivalent`` below:
  the same searches the parser makes -- its built-in ones, ``GREP_EQUIVALENT``, and the words it
  looks for to apply the phase rules), and with ``GREP_EQUIVALENT`` alone for reference,

and measures the peak RSS of a fresh process that parses the largest log.

    python benchmarks/parse_bench.py [--quick] [--json results.json] [--repeat 3] [--keep DIR]

Targets: parse MB/s >= 1/8 of grep's; peak RSS <= largest log + 100 MB.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analyzer.config import PhaseRule, load_preset  # noqa: E402
from analyzer.errors import LogParseError  # noqa: E402
from analyzer.parse.logs import parse_job_log, rule_words  # noqa: E402
from analyzer.parse.logs.rules import Folded  # noqa: E402
from benchmarks.rows import row  # noqa: E402

REALDATA = ROOT.parent / "shared" / "realdata"
MB = 1_000_000
BIG_LOG_MB = 24  # size of each concatenated large job log
BIG_LOGS = 3
RATIO_TARGET = 0.125  # parse MB/s over grep MB/s
HEADROOM_MB = 100  # peak RSS over the largest log

# The searches the parser makes over a whole log (analyzer/parse/logs/index.py: its candidate-line
# scans), as one extended regex for `grep -cE`. Keep it in step with those scans.
GREP_EQUIVALENT = (
    r"Z (##\[(group\]Run |error\]|section\]Starting: )|Post job cleanup\.|--- (PASS|FAIL): |ok  	|FAIL	"
    r"|Current runner version|Cleaning up orphan processes)|ime(d? ?[Oo]ut| of [0-9])|deadline exceeded"
    r"| seconds| in [0-9]+(\.[0-9]+)?s|kubectl wait|condition met|Complete job name: "
)


def grep_equivalent(rules: list[PhaseRule] | tuple[PhaseRule, ...] = ()) -> str:
    """``GREP_EQUIVALENT`` plus the words the parser searches for to apply ``rules`` (a
    case-insensitive word as bracket expressions).

    A rule regex without such words adds nothing: the parser decodes its steps instead, which
    has no grep equivalent.
    """
    words: set[str] = set()
    for word in rule_words(rules):
        text = re.escape(word.decode("utf-8", "replace"))
        if isinstance(word, Folded):
            text = "".join(f"[{c.upper()}{c}]" if c.isalpha() else c for c in text)
        words.add(text)
    return "|".join([GREP_EQUIVALENT, *sorted(words)])


def real_logs() -> list[tuple[str, bytes]]:
    """Real job logs (sorted, deterministic) that the parser accepts."""
    found: list[tuple[str, bytes]] = []
    if not REALDATA.is_dir():
        return found
    for path in sorted(REALDATA.rglob("*")):
        if not path.is_file() or path.suffix not in (".txt", ".log", ".md", ".zip") or "pygithub" in path.parts:
            continue
        data = path.read_bytes()
        if data.startswith(b"PK\x03\x04"):
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                members = [(f"{path.name}!{m}", archive.read(m)) for m in archive.namelist() if m.endswith(".txt")]
        else:
            members = [(str(path.relative_to(REALDATA)), data)]
        for name, content in members:
            try:
                parse_job_log(content)
            except LogParseError:
                continue
            found.append((name, content))
    return found


def synthetic_logs() -> list[tuple[str, bytes]]:
    """Fallback corpus: generated E2E-like job logs (Ginkgo, kubectl waits, go test, pytest)."""
    logs = []
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    for k in range(40):
        rows = ["Current runner version: '2.330.0'", "Complete job name: e2e", "##[group]Run make test-e2e"]
        for i in range(3000):
            rows.append(f"step {i} of the suite: deploying component {i % 17} and waiting for it to settle")
            if i % 500 == 0:
                rows += [
                    "+ kubectl wait --for=condition=ready pod -l app=db --timeout=300s",
                    "pod/db-77ccd99cdc-vc8h8 condition met",
                    "--- PASS: TestThing (1.23s)",
                    "ok  \tgithub.com/acme/x\t3.2s",
                ]
        rows += [
            "[SynchronizedBeforeSuite] PASSED [562.722 seconds]",
            "Ran 30 of 30 Specs in 703.894 seconds",
            "===== 5 passed in 12.34s =====",
            "##[error]Process completed with exit code 1.",
            "Post job cleanup.",
            "Cleaning up orphan processes",
        ]
        lines = []
        for i, text in enumerate(rows):
            t = t0 + timedelta(seconds=i * 0.25 + k)
            lines.append(t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond:06d}0Z {text}")
        logs.append((f"synthetic-{k}.txt", ("\n".join(lines) + "\n").encode()))
    return logs


def build_corpus(directory: Path, target_mb: int) -> tuple[list[Path], str]:
    """Replicate the logs into ``directory`` until ``target_mb``; returns the files and the source."""
    logs = real_logs()
    source = "realdata"
    if not logs:
        logs, source = synthetic_logs(), "synthetic"
    files: list[Path] = []
    total = 0
    big_mb = min(BIG_LOG_MB, max(1, target_mb // 8))
    for b in range(BIG_LOGS):  # large job logs: concatenations (the memory figure uses the largest)
        chunks, size, i = [], 0, b
        while size < big_mb * MB:
            chunks.append(logs[i % len(logs)][1])
            size += len(chunks[-1])
            i += 7
        path = directory / f"big-{b}.txt"
        path.write_bytes(b"".join(chunks))
        files.append(path)
        total += size
    copy = 0
    while total < target_mb * MB:
        for _name, data in logs:
            path = directory / f"{copy:03d}-{len(files):05d}.txt"
            path.write_bytes(data)
            files.append(path)
            total += len(data)
            if total >= target_mb * MB:
                break
        copy += 1
    return files, source


def time_parse(files: list[Path], rules: tuple[object, ...]) -> tuple[float, int]:
    """Seconds spent in parse_job_log over all files (reading excluded) and the bytes parsed."""
    spent, size = 0.0, 0
    for path in files:
        data = path.read_bytes()
        started = time.perf_counter()
        parse_job_log(data, rules=rules)  # type: ignore[arg-type]
        spent += time.perf_counter() - started
        size += len(data)
    return spent, size


def time_grep(files: list[Path], pattern: str) -> float:
    """Seconds for ``grep -cE pattern`` over the same files (in batches of 500)."""
    started = time.perf_counter()
    for i in range(0, len(files), 500):
        batch = [str(p) for p in files[i : i + 500]]
        result = subprocess.run(["grep", "-cE", pattern, *batch], capture_output=True, check=False)
        if result.returncode > 1:
            raise SystemExit(f"grep failed: {result.stderr.decode(errors='replace')}")
    return time.perf_counter() - started


_PEAK_SCRIPT = """
import resource, sys, tracemalloc
sys.path.insert(0, sys.argv[2])
from analyzer.config import load_preset
from analyzer.parse.logs import parse_job_log

def hwm_mb():
    # VmHWM is reset by exec; ru_maxrss is not (it would report the parent's size after a fork)
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024 / 1e6
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024) / 1e6

rules = load_preset("kubernaut-e2e").phases
parse_job_log(b"2026-01-01T00:00:00.0000000Z warm-up", rules=rules)
base = hwm_mb()
data = open(sys.argv[1], "rb").read()
parse_job_log(data, rules=rules)
peak = hwm_mb()
tracemalloc.start()
parse_job_log(data, rules=rules)
traced = tracemalloc.get_traced_memory()[1] / 1e6
print(base, peak, traced)
"""


def peak_rss(path: Path) -> tuple[float, float, float]:
    """Baseline and peak RSS (MB) of a fresh interpreter that reads and parses ``path``, and the
    peak of the parse's own allocations (tracemalloc)."""
    out = subprocess.run(
        [sys.executable, "-c", _PEAK_SCRIPT, str(path), str(ROOT)], capture_output=True, check=True, text=True
    ).stdout.split()
    return float(out[0]), float(out[1]), float(out[2])


def measure(target_mb: int = 200, repeat: int = 3, keep: Path | None = None) -> dict[str, Any]:
    """Build the corpus, time parse and grep interleaved ``repeat`` times, measure peak RSS."""
    rules = load_preset("kubernaut-e2e").phases
    pattern = grep_equivalent(rules)
    directory = keep or Path(tempfile.mkdtemp(prefix="we-advisor-parse-bench-"))
    directory.mkdir(parents=True, exist_ok=True)
    try:
        files, source = build_corpus(directory, target_mb)
        largest = max(files, key=lambda p: p.stat().st_size)
        largest_mb = largest.stat().st_size / MB
        parse_s, grep_s, builtin_s = [], [], []
        size = 0
        for _ in range(max(1, repeat)):  # interleaved, so all see the same machine load
            spent, size = time_parse(files, rules)
            parse_s.append(spent)
            grep_s.append(time_grep(files, pattern))
            builtin_s.append(time_grep(files, GREP_EQUIVALENT))
        base_mb, peak_mb, traced_mb = peak_rss(largest)
    finally:
        if keep is None:
            shutil.rmtree(directory, ignore_errors=True)

    parse_mbps = size / MB / statistics.median(parse_s)
    grep_mbps = size / MB / statistics.median(grep_s)
    builtin_mbps = size / MB / statistics.median(builtin_s)
    return {
        "corpus_source": source,
        "files": len(files),
        "corpus_mb": round(size / MB, 1),
        "corpus_bytes": size,
        "rules": len(rules),
        "repeat": repeat,
        "parse_s": [round(s, 3) for s in parse_s],
        "grep_s": [round(s, 3) for s in grep_s],
        "grep_builtin_s": [round(s, 3) for s in builtin_s],
        "parse_mb_per_s": round(parse_mbps, 1),
        "grep_mb_per_s": round(grep_mbps, 1),
        "grep_builtin_mb_per_s": round(builtin_mbps, 1),
        "ratio_parse_to_grep": round(parse_mbps / grep_mbps, 3),
        "ratio_target": RATIO_TARGET,
        "largest_log_mb": round(largest_mb, 1),
        "baseline_rss_mb": round(base_mb, 1),
        "peak_rss_mb": round(peak_mb, 1),
        "parse_alloc_peak_mb": round(traced_mb, 1),
        "peak_target_mb": round(largest_mb + HEADROOM_MB, 1),
        "python": platform.python_version(),
        "machine": f"{platform.machine()} {os.cpu_count()} CPUs",
        "locale": os.environ.get("LC_ALL") or os.environ.get("LANG") or "",
    }


def to_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The common rows (benchmarks/rows.py) of a ``measure`` result."""
    grep = f"grep -cE, the parser's searches and rule words, same {result['files']} files"
    largest = result["largest_log_mb"]
    return [
        row("parse", f"corpus ({result['files']} job logs, {result['corpus_source']})", result["corpus_mb"], "MB"),
        row(
            "parse",
            "throughput",
            result["parse_mb_per_s"],
            "MB/s",
            baseline=grep,
            baseline_value=result["grep_mb_per_s"],
            target=f"≥ {RATIO_TARGET} × grep",
            ok=result["ratio_parse_to_grep"] >= RATIO_TARGET,
        ),
        row(
            "parse",
            "throughput, against grep without the rule words",
            result["parse_mb_per_s"],
            "MB/s",
            baseline="grep -cE GREP_EQUIVALENT (built-in searches only)",
            baseline_value=result["grep_builtin_mb_per_s"],
        ),
        row(
            "parse",
            "peak RSS, largest log",
            result["peak_rss_mb"],
            "MB",
            baseline="largest job log",
            baseline_value=largest,
            target=f"≤ largest log + {HEADROOM_MB} MB",
            ok=result["peak_rss_mb"] <= largest + HEADROOM_MB,
        ),
        row("parse", "RSS after imports", result["baseline_rss_mb"], "MB"),
        row("parse", "parse allocation peak", result["parse_alloc_peak_mb"], "MB"),
    ]


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Rows for benchmarks/run.py: >= 200 MB and 3 rounds (quick: ~20 MB, 1 round)."""
    return to_rows(measure(target_mb=20 if quick else 200, repeat=1 if quick else 3))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="~20 MB corpus instead of >= 200 MB")
    parser.add_argument("--json", type=Path, help="write the results as JSON to this file")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved timing rounds (median is reported)")
    parser.add_argument("--keep", type=Path, help="build the corpus in this directory and keep it")
    args = parser.parse_args()
    result = measure(target_mb=20 if args.quick else 200, repeat=args.repeat, keep=args.keep)
    median_parse, median_grep = statistics.median(result["parse_s"]), statistics.median(result["grep_s"])
    largest = result["largest_log_mb"]
    lines = [
        ("corpus", f"{result['corpus_mb']} MB in {result['files']} job logs ({result['corpus_source']})"),
        ("parse_job_log", f"{result['parse_mb_per_s']:8.1f} MB/s  (median of {args.repeat}: {median_parse:.2f} s)"),
        ("grep -cE", f"{result['grep_mb_per_s']:8.1f} MB/s  (median of {args.repeat}: {median_grep:.2f} s)"),
        ("  no rule words", f"{result['grep_builtin_mb_per_s']:8.1f} MB/s  (GREP_EQUIVALENT alone)"),
        ("parse / grep", f"{result['ratio_parse_to_grep']:8.3f}     (target >= {RATIO_TARGET})"),
        ("largest log", f"{largest:8.1f} MB"),
        (
            "peak RSS",
            f"{result['peak_rss_mb']:8.1f} MB  (baseline {result['baseline_rss_mb']:.1f} MB; "
            f"target <= {result['peak_target_mb']:.1f} MB)",
        ),
        ("parse allocs", f"{result['parse_alloc_peak_mb']:8.1f} MB  (tracemalloc peak while parsing the largest log)"),
    ]
    for label, value in lines:
        print(f"{label:<14} {value}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
