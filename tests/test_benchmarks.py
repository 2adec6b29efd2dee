"""benchmarks/run.py: one command, one row shape, JSON written, failures isolated (timings never asserted
here: they are load-sensitive; the slow test checks the targets)."""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUN = ROOT / "benchmarks" / "run.py"


def load(path: Path, name: str) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bench_run = load(RUN, "bench_run")
rows = load(ROOT / "benchmarks" / "rows.py", "bench_rows")


def run_command(tmp_path: Path, *args: str, timeout: float) -> tuple[int, dict[str, Any], str]:
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, str(RUN), *args, "--json", str(out)], capture_output=True, text=True, timeout=timeout
    )
    return done.returncode, json.loads(out.read_text(encoding="utf-8")), done.stdout


def test_a_row_derives_its_ratio_and_is_checked() -> None:
    """row() computes value / baseline_value; a row with a target but no verdict is refused."""
    made = rows.row(
        "parse", "throughput", 100.0, "MB/s", baseline="grep", baseline_value=400.0, target="≥ 0.125", ok=True
    )
    assert list(made) == list(rows.KEYS)
    assert made["ratio"] == 0.25
    assert rows.row("fetch", "requests", 5, "requests")["ratio"] is None
    with pytest.raises(ValueError, match="a row with a target needs ok"):
        rows.row("fetch", "requests", 5, "requests", target="≤ 1")


def test_row_problems_name_what_is_wrong() -> None:
    """Rows from another module are checked: keys, section, unit, finite numbers."""
    good = rows.row("model", "fit", 0.7, "s")
    assert rows.row_problems(good) == []
    assert rows.row_problems({**good, "unit": "furlongs"}) == [
        "unit must be one of s, ms, MB, MB/s, bytes, requests, ratio, %, count, min, not 'furlongs'"
    ]
    assert rows.row_problems({**good, "value": math.nan}) == ["value must be a finite number, not nan"]
    assert rows.row_problems({"benchmark": "model"})[0].startswith("keys: missing")


def test_quick_run_of_cheap_sections_writes_rows_and_machine(tmp_path: Path) -> None:
    """``run.py --quick --only parse,fetch,bootstrap`` prints a table and writes the JSON document."""
    code, document, stdout = run_command(tmp_path, "--quick", "--only", "parse,fetch,bootstrap", timeout=120)
    assert code in (0, 1)  # 1 only for a missed (load-sensitive) target: no section may fail
    assert [s["name"] for s in document["sections"]] == ["parse", "fetch", "bootstrap"]
    assert [s["error"] for s in document["sections"]] == [None, None, None]
    assert set(document["machine"]) >= {"cpu", "cores", "python", "platform", "load_average", "date", "git_commit"}
    assert document["quick"] is True
    assert {r["benchmark"] for r in document["rows"]} == {"parse", "fetch", "bootstrap"}
    for r in document["rows"]:
        assert rows.row_problems(r) == [], r
        assert r["value"] >= 0
    targeted = [r for r in document["rows"] if r["target"] is not None]
    assert {r["benchmark"] for r in targeted} == {"parse", "fetch", "bootstrap"}
    metrics = {(r["benchmark"], r["metric"]) for r in document["rows"]}
    assert ("parse", "throughput") in metrics
    assert ("fetch", "refetch, nothing new: counted requests") in metrics
    assert all(f"| {name} " in stdout for name in ("parse", "fetch", "bootstrap"))


def test_a_missing_section_module_fails_that_section_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A section whose module is absent is reported as failed with the file it needs."""
    monkeypatch.setattr(bench_run, "HERE", tmp_path)
    assert bench_run.run_section("report", quick=True) == ([], "benchmarks/report_bench.py is missing")


def test_a_section_that_raises_reports_its_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """In the child, an exception from run() becomes the section's error, not a crash of the runner."""
    broken = types.ModuleType("benchmarks.report_bench")

    def run(quick: bool = False) -> list[dict[str, Any]]:
        raise RuntimeError("no runs to render")

    broken.run = run  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "benchmarks.report_bench", broken)
    out = tmp_path / "rows.json"
    assert bench_run.child_main("report", True, out) == 1
    assert json.loads(out.read_text()) == {"error": "RuntimeError: no runs to render"}


def test_unknown_sections_are_refused(tmp_path: Path) -> None:
    """--only with a name that is not a section is a usage error (exit 2) naming the choices."""
    done = subprocess.run(
        [sys.executable, str(RUN), "--only", "parse,speed"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "unknown section(s) speed; choose from parse, ingest, fetch, model, report, bootstrap, failures, advice" in done.stderr


def test_the_benchmarks_readme_documents_the_command() -> None:
    """benchmarks/README.md tells how to rerun everything with one command."""
    assert "python benchmarks/run.py" in (ROOT / "benchmarks" / "README.md").read_text(encoding="utf-8")


@pytest.mark.slow
def test_quick_run_of_every_section_gives_valid_rows(tmp_path: Path) -> None:
    """Every section runs without error and every row is valid. Whether the targets are met is the
    benchmark's own verdict (its exit code), not the suite's: a busy machine must not fail a test."""
    code, document, stdout = run_command(tmp_path, "--quick", timeout=600)
    assert [s["error"] for s in document["sections"]] == [None] * len(rows.SECTIONS), stdout
    assert all(rows.row_problems(r) == [] for r in document["rows"])
    assert code == (0 if all(r["ok"] is not False for r in document["rows"]) else 1)
