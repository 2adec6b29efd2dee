"""Ingest benchmark: ``we-advisor ingest`` against ``grep -cE`` on the same bytes, and the log codec.

Three measurements, each in the same run as its baseline:

* **codec** — every real job log of ``../shared/realdata`` (synthetic logs on a fresh clone)
  compressed and decompressed with zstandard level 1 (the store's codec), zlib level 1 and zlib
  level 6 (the codec before): ratio and MB/s, median of 5;
* **one 100 MB log** (quick: 20 MB), made by concatenating real logs: ``python -m analyzer ingest
  FILE --store NEW`` in a fresh interpreter (start-up, imports from compiled bytecode as an installed
  wheel has it, reading, checking, parsing, compressing, writing, all of it), wall and CPU time, interleaved with ``grep -cE`` of the
  taxonomy pattern (the searches the parser makes, ``parse_bench.grep_equivalent`` for the rules
  ingest uses: none by default) over the same file, median of 5 (quick: 3);
* **the real corpus**: the 200 MB corpus of ``parse_bench`` (2,019 files; quick: 20 MB), each copy
  made distinct by one line at its end (ingest skips content it has seen), ingested as one folder,
  against ``grep -cE`` over the same files, median of 3 (quick: 1).

Targets: ingest ≤ 6 × grep, for the 100 MB log and for the corpus (wall time; CPU time beside).

    python benchmarks/ingest_bench.py [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import zstandard  # noqa: E402

from benchmarks.parse_bench import MB, build_corpus, grep_equivalent, real_logs, synthetic_logs  # noqa: E402
from benchmarks.rows import row  # noqa: E402
from tests.loadgen import measure  # noqa: E402

SECTION = "ingest"
TARGET = 6.0  # ingest over grep, wall time


def codec_rows(rounds: int = 5) -> list[dict[str, Any]]:
    """zstandard 1 against zlib 1 and 6 on the real logs: compression ratio, MB/s each way."""
    logs = [data for _, data in real_logs()] or [data for _, data in synthetic_logs()]
    size = sum(map(len, logs))
    zstd_c, zstd_d = zstandard.ZstdCompressor(level=1), zstandard.ZstdDecompressor()
    codecs = {
        "zstandard level 1 (the store's codec)": (zstd_c.compress, zstd_d.decompress),
        "zlib level 1": (lambda d: zlib.compress(d, 1), zlib.decompress),
        "zlib level 6 (the codec before)": (lambda d: zlib.compress(d, 6), zlib.decompress),
    }
    out = []
    for name, (pack, unpack) in codecs.items():
        packs, unpacks, packed = [], [], 0
        for _ in range(rounds):
            began = time.process_time()
            blobs = [pack(d) for d in logs]
            packs.append(time.process_time() - began)
            began = time.process_time()
            for blob in blobs:
                unpack(blob)
            unpacks.append(time.process_time() - began)
            packed = sum(map(len, blobs))
        corpus = f"{len(logs)} real job logs, {size / MB:.0f} MB"
        out += [
            row(SECTION, f"codec {name}: ratio ({corpus})", size / packed, "ratio"),
            row(SECTION, f"codec {name}: compress (CPU, median of {rounds})", size / MB / statistics.median(packs), "MB/s"),
            row(SECTION, f"codec {name}: decompress (CPU)", size / MB / statistics.median(unpacks), "MB/s"),
        ]
    return out


def big_log(directory: Path, megabytes: int) -> Path:
    """One job log of ``megabytes`` MB: real logs concatenated (as parse_bench's large logs)."""
    logs = [data for _, data in real_logs()] or [data for _, data in synthetic_logs()]
    chunks, size, i = [], 0, 0
    while size < megabytes * MB:
        chunks.append(logs[i % len(logs)])
        size += len(chunks[-1])
        i += 7
    path = directory / "big.txt"
    path.write_bytes(b"".join(chunks))
    return path


def distinct_corpus(directory: Path, megabytes: int) -> list[Path]:
    """parse_bench's corpus, each file made distinct by a last line of its own."""
    files, _ = build_corpus(directory, megabytes)
    for n, path in enumerate(files):
        with path.open("ab") as handle:
            handle.write(f"2026-01-01T00:00:00.0000000Z corpus copy {n}\n".encode())
    return files


def grep_seconds(files: list[Path], pattern: str) -> tuple[float, float]:
    """Wall and CPU seconds of ``grep -cE pattern`` over ``files`` (output to a pipe: GNU grep stops at the
    first match when it writes to /dev/null)."""
    wall = cpu = 0.0
    for i in range(0, len(files), 500):
        done = measure([*(str(p) for p in files[i : i + 500])], cwd=files[0].parent, python=["grep", "-cE", pattern])
        if done.returncode > 1:
            raise RuntimeError(f"grep failed: {done.stderr[-500:]}")
        wall, cpu = wall + done.wall_s, cpu + done.cpu_s
    return wall, cpu


def compiled(workdir: Path) -> dict[str, str]:
    """The environment of a measured ingest: bytecode compiled once into a private cache (as an installed
    wheel has it), also on a machine that sets ``PYTHONDONTWRITEBYTECODE`` (as report_bench does)."""
    return {"PYTHONPYCACHEPREFIX": str(workdir / "pycache"), "PYTHONDONTWRITEBYTECODE": ""}


def warm_up(workdir: Path) -> None:
    """One ingest of a small log, not measured: writes the bytecode the measured rounds read."""
    log = workdir / "warm-up.txt"
    log.write_bytes(b"2026-01-01T00:00:00.0000000Z ##[group]Run true\n2026-01-01T00:00:01.0000000Z ##[endgroup]\n")
    done = measure(["ingest", str(log), "--store", str(workdir / "warm-up.db")], cwd=workdir, extra_env=compiled(workdir))
    if done.returncode != 0:
        raise RuntimeError(f"ingest failed ({done.returncode}): {done.stderr[-1500:]}")


def ingest_seconds(target: Path, workdir: Path, n: int) -> tuple[float, float, float]:
    """Wall, CPU seconds and peak MB of ``python -m analyzer ingest TARGET`` into a new store."""
    store = workdir / f"ingest-{n}.db"
    done = measure(["ingest", str(target), "--store", str(store)], cwd=workdir, extra_env=compiled(workdir))
    if done.returncode != 0:
        raise RuntimeError(f"ingest failed ({done.returncode}): {done.stderr[-1500:]}")
    for suffix in ("", "-wal", "-shm", ".lock"):
        store.with_name(store.name + suffix).unlink(missing_ok=True)
    return done.wall_s, done.cpu_s, done.peak_mb


def compare(label: str, target: Path, files: list[Path], workdir: Path, rounds: int) -> list[dict[str, Any]]:
    """Ingest of ``target`` against grep over ``files`` (the same bytes), interleaved, medians."""
    pattern = grep_equivalent(())
    grep_wall, grep_cpu, ours_wall, ours_cpu, peaks = [], [], [], [], []
    for n in range(rounds):
        wall, cpu = grep_seconds(files, pattern)
        grep_wall.append(wall)
        grep_cpu.append(cpu)
        wall, cpu, peak = ingest_seconds(target, workdir, n)
        ours_wall.append(wall)
        ours_cpu.append(cpu)
        peaks.append(peak)
        print(f"  {label} round {n + 1}: ingest {wall:.2f} s (CPU {cpu:.2f}), grep {grep_wall[-1]:.2f} s "
              f"(CPU {grep_cpu[-1]:.2f})", file=sys.stderr, flush=True)  # fmt: skip
    wall, cpu, g_wall, g_cpu = (statistics.median(x) for x in (ours_wall, ours_cpu, grep_wall, grep_cpu))
    spread = [w / g for w, g in zip(ours_wall, grep_wall, strict=True)]
    grep = f"grep -cE (taxonomy pattern), same {len(files)} file(s)"
    return [
        row(SECTION, f"ingest {label}, wall (median of {rounds})", wall, "s", baseline=grep, baseline_value=g_wall,
            target=f"≤ {TARGET:g} × grep", ok=wall <= TARGET * g_wall),
        row(SECTION, f"ingest {label}, CPU time", cpu, "s", baseline=f"{grep}: CPU time", baseline_value=g_cpu),
        row(SECTION, f"ingest {label}, ratio to grep per round: highest", max(spread), "ratio"),
        row(SECTION, f"ingest {label}, peak RSS", max(peaks), "MB"),
    ]  # fmt: skip


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Rows for benchmarks/run.py: the codec, a 100 MB log (5 rounds) and the 200 MB corpus (3 rounds);
    quick: 20 MB and 20 MB, 3 and 1 rounds."""
    rows = codec_rows(3 if quick else 5)
    with tempfile.TemporaryDirectory(prefix="ingest-bench-") as scratch:
        workdir = Path(scratch)
        warm_up(workdir)
        size = 20 if quick else 100
        (workdir / "one").mkdir()
        log = big_log(workdir / "one", size)
        rows += compare(f"of a {log.stat().st_size / MB:.0f} MB log", log, [log], workdir, 3 if quick else 5)
        shutil.rmtree(workdir / "one")
        corpus = workdir / "corpus"
        corpus.mkdir()
        files = distinct_corpus(corpus, 20 if quick else 200)
        total = sum(p.stat().st_size for p in files) / MB
        rows += compare(f"of the corpus ({len(files)} logs, {total:.0f} MB)", corpus, files, workdir, 1 if quick else 3)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="20 MB log and corpus, fewer rounds")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args(argv)
    rows = run(args.quick)
    for r in rows:
        ratio = "" if r["ratio"] is None else f"  {r['ratio']:.2f} × baseline"
        ok = "" if r["ok"] is None else ("  ok" if r["ok"] else "  MISSED")
        print(f"{r['metric']:<72} {r['value']:10.3f} {r['unit']}{ratio}{ok}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0 if all(r["ok"] is not False for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
