"""The one row shape every benchmark section returns; ``benchmarks/run.py`` prints and stores the rows.

A row is a plain dict (it goes straight into JSON) with exactly these keys::

    benchmark       section: "parse", "ingest", "fetch", "model", "report", "bootstrap", "failures", "advice", "team", "startup"
    metric          what was measured, e.g. "throughput"
    value           float, in ``unit``
    unit            "s", "ms", "MB", "MB/s", "bytes", "requests", "ratio", "%", "count" or "min"
    baseline        what ``value`` is compared with (str), or None
    baseline_value  that baseline measured in the same run (float), or None
    ratio           value / baseline_value, or None
    target          the target in words, e.g. "≥ 0.125 × grep", or None
    ok              whether the target is met; None when there is no target

Timings are noisy on shared machines, so a timing row carries a baseline measured in the same
run (grep, pandas, the ideal under latency, the critical path) and its target is on the ratio
where the issue states one.
"""

from __future__ import annotations

import math
from typing import Any

KEYS = ("benchmark", "metric", "value", "unit", "baseline", "baseline_value", "ratio", "target", "ok")
UNITS = ("s", "ms", "MB", "MB/s", "bytes", "requests", "ratio", "%", "count", "min")
SECTIONS = ("parse", "ingest", "fetch", "model", "report", "bootstrap", "failures", "advice", "team", "startup")


def row(
    benchmark: str,
    metric: str,
    value: float,
    unit: str,
    *,
    baseline: str | None = None,
    baseline_value: float | None = None,
    target: str | None = None,
    ok: bool | None = None,
) -> dict[str, Any]:
    """One row; ``ratio`` is derived from ``value`` and ``baseline_value``."""
    ratio = value / baseline_value if baseline_value else None
    out = {
        "benchmark": benchmark,
        "metric": metric,
        "value": float(value),
        "unit": unit,
        "baseline": baseline,
        "baseline_value": None if baseline_value is None else float(baseline_value),
        "ratio": ratio,
        "target": target,
        "ok": None if ok is None else bool(ok),
    }
    problems = row_problems(out)
    if problems:
        raise ValueError(f"bad benchmark row {metric!r}: {'; '.join(problems)}")
    return out


def row_problems(candidate: object) -> list[str]:
    """What is wrong with ``candidate`` as a row (empty when it is a valid row)."""
    if not isinstance(candidate, dict):
        return [f"not a dict: {type(candidate).__name__}"]
    problems = []
    keys = tuple(candidate)
    if set(keys) != set(KEYS):
        missing, extra = sorted(set(KEYS) - set(keys)), sorted(set(keys) - set(KEYS))
        problems.append(f"keys: missing {missing}, unexpected {extra}")
        return problems

    def number(key: str, optional: bool) -> None:
        v = candidate[key]
        if v is None and optional:
            return
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            problems.append(f"{key} must be a finite number{' or null' if optional else ''}, not {v!r}")

    def text(key: str, optional: bool) -> None:
        v = candidate[key]
        if not (isinstance(v, str) and v) and not (optional and v is None):
            problems.append(f"{key} must be a non-empty string{' or null' if optional else ''}, not {v!r}")

    if candidate["benchmark"] not in SECTIONS:
        problems.append(f"benchmark must be one of {', '.join(SECTIONS)}, not {candidate['benchmark']!r}")
    text("metric", False)
    number("value", False)
    if candidate["unit"] not in UNITS:
        problems.append(f"unit must be one of {', '.join(UNITS)}, not {candidate['unit']!r}")
    text("baseline", True)
    number("baseline_value", True)
    number("ratio", True)
    text("target", True)
    if candidate["ok"] is not None and not isinstance(candidate["ok"], bool):
        problems.append(f"ok must be true, false or null, not {candidate['ok']!r}")
    if candidate["target"] is None and candidate["ok"] is not None:
        problems.append("ok must be null when there is no target")
    if candidate["target"] is not None and candidate["ok"] is None:
        problems.append("a row with a target needs ok")
    return problems
