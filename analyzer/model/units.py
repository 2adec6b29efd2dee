"""Units of an observations frame: (scope, workflow, job, step, phase) as integer codes, fast.

The rows that measure a duration (every outcome but ``skipped``) are grouped into units once, as
arrays, so every estimator after that works on integer codes rather than strings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from analyzer.records import UnitKey

UNIT_COLUMNS = ["scope", "workflow", "job", "step", "phase"]


def measured(frame: pd.DataFrame) -> NDArray[np.bool_]:
    """Per row: whether it measures a duration (every outcome but ``skipped``)."""
    if "outcome" not in frame:
        return np.ones(len(frame), dtype=bool)
    return np.asarray(_values(frame["outcome"]) != "skipped", dtype=bool)


def usable(frame: pd.DataFrame) -> pd.DataFrame:
    """The observations that measure a duration: everything but skipped units (the frame itself
    when nothing is skipped)."""
    keep = measured(frame)
    return frame if keep.all() else frame[keep]


def _none_if_nan(value: object) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return str(value)


def _factorize(values: object) -> tuple[NDArray[np.int64], list[object]]:
    """Codes (-1 for a missing value) and the values they stand for, numbered in order of first
    appearance as ``pd.factorize`` numbers them; of a categorical column (the columns cache's text, see
    ``Store.observations_frame``) from its codes."""
    if isinstance(values, pd.Categorical):
        codes = np.asarray(values.codes, dtype=np.int64)
        # each category's first row (the last write of a reversed assignment wins), then the categories
        # in use numbered in that order: pd.factorize's numbering, without hashing a string
        first = np.full(len(values.categories) + 1, codes.size, dtype=np.int64)
        first[codes[::-1] + 1] = np.arange(codes.size - 1, -1, -1, dtype=np.int64)
        present = np.flatnonzero(first[1:] < codes.size)
        present = present[np.argsort(first[1:][present], kind="stable")]
        renumber = np.full(len(values.categories) + 1, -1, dtype=np.int64)
        renumber[present + 1] = np.arange(present.size, dtype=np.int64)
        return renumber[codes + 1], [values.categories[int(i)] for i in present]
    codes, uniques = pd.factorize(values, use_na_sentinel=True)  # type: ignore[call-overload]
    return np.asarray(codes, dtype=np.int64), list(uniques)


def _values(series: pd.Series) -> Any:
    """A column's values: a ``pd.Categorical`` as it is (its codes are used), else a numpy array."""
    return series.array if isinstance(series.dtype, pd.CategoricalDtype) else series.to_numpy()


@dataclass(frozen=True, slots=True)
class Rows:
    """The columns the estimator needs, as arrays, for the rows it fits."""

    position: NDArray[np.intp]  # row position in the frame given to fit
    unit: NDArray[np.intp]
    keys: pd.DataFrame  # one row per unit: scope, workflow, job, step, phase
    t: NDArray[np.float64]
    censored: NDArray[np.bool_]
    started: NDArray[np.float64]  # epoch seconds (NaN when unknown)
    runner: NDArray[np.int64]  # code into runner_names (-1 when unknown)
    runner_names: list[str]
    attempt: NDArray[np.int64] | None  # job attempt code (-1 when unknown); None without ``job_id``


def utc_ns(series: pd.Series) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
    """Nanoseconds since the epoch (UTC) per row, as ``pd.to_datetime(series, utc=True)``, and where unknown.

    A zone-aware column is stored in UTC already, so it skips ``pd.to_datetime``, whose format
    and cache checks iterate over the values in Python (10 ms for a thousand rows).
    """
    values = series if isinstance(series.dtype, pd.DatetimeTZDtype) else pd.to_datetime(series, utc=True)
    return values.to_numpy(dtype="datetime64[ns]").astype(np.int64), values.isna().to_numpy()


def _epoch_seconds(series: pd.Series) -> NDArray[np.float64]:
    ns, missing = utc_ns(series)
    return np.where(missing, np.nan, ns.astype(np.float64) / 1e9)


def unit_rows(frame: pd.DataFrame, window_days: float | None) -> Rows:
    """Unit codes and arrays for the usable rows (not skipped, inside the window).

    Workflow, job and runner are constant within a job attempt (true of every store), so when
    the frame has ``job_id`` they are factorized once per attempt rather than once per row: the
    string hashing of 10⁶ rows is most of what a plain pandas groupby costs.
    """
    n = len(frame)
    keep = np.ones(n, dtype=bool)
    keep &= measured(frame)
    started = _epoch_seconds(frame["started_at"]) if "started_at" in frame else np.full(n, np.nan)
    if window_days is not None and np.isfinite(started).any():
        keep &= ~(started < np.nanmax(started) - float(window_days) * 86400.0)
    position = np.flatnonzero(keep).astype(np.intp)
    everything = position.size == n

    def column(name: str) -> Any:
        values = _values(frame[name])
        return values if everything else values[position]

    scope = column("scope")
    is_job, is_phase = np.asarray(scope == "job", dtype=bool), np.asarray(scope == "phase", dtype=bool)
    # the store knows three scopes; anything else counts as a step
    scope_names: list[object] = ["job", "step", "phase"]
    attempt = _factorize(column("job_id"))[0] if "job_id" in frame else None
    per_attempt = ["workflow", "job"] + (["runner"] if "runner" in frame else [])
    names: dict[str, list[object]] = {}
    # a per-attempt column's codes, per attempt (spread to the rows as they are used: 8 MB a column at 10⁶ rows)
    attempt_codes: dict[str, NDArray[np.int64]] = {}
    if attempt is not None and not frame["job_id"].isna().any():
        first = np.full(int(attempt.max()) + 1 if attempt.size else 0, 0, dtype=np.intp)
        first[attempt[::-1]] = np.arange(attempt.size, dtype=np.intp)[::-1]
        for name in per_attempt:
            attempt_codes[name], names[name] = _factorize(_values(frame[name])[position[first]])

    def codes_of(name: str) -> NDArray[np.int64]:
        if name in attempt_codes:
            assert attempt is not None
            return attempt_codes[name][attempt]
        codes, names[name] = _factorize(column(name))
        return codes

    # the unit key, in mixed radix: scope, then each part's code + 1 (0: none); its parts are read back
    # from it at each unit's first row, so no part's codes outlive their turn (the fit's peak of memory)
    combined = np.where(is_job, 0, np.where(is_phase, 2, 1)).astype(np.int64)
    span = len(scope_names)  # combined < span
    sizes: list[int] = []
    for name in ("workflow", "job", "step", "phase"):
        codes = codes_of(name)
        if name == "step":
            codes[is_job] = -1
        elif name == "phase":
            codes[~is_phase] = -1
        size = len(names[name]) + 1
        sizes.append(size)
        combined *= size
        combined += codes
        combined += 1
        span *= size
        del codes
    unit, first_rows = _factorize_first(combined, span)
    head = combined[first_rows]
    del combined
    parts: dict[str, NDArray[np.int64]] = {}
    for name, size in zip(("phase", "step", "job", "workflow"), reversed(sizes), strict=True):
        head, parts[name] = np.divmod(head, size)
        parts[name] -= 1
    scope_code = head

    def labels(name: str) -> pd.Series:
        values = names[name]
        # object columns, explicitly: None stays None (pandas 3 would infer its ``str`` dtype, NaN for None)
        return pd.Series([None if c < 0 else _none_if_nan(values[c]) for c in parts[name].tolist()], dtype=object)

    keys = pd.DataFrame(
        {
            "scope": pd.Series([str(scope_names[c]) for c in scope_code.tolist()], dtype=object),
            "workflow": labels("workflow"),
            "job": labels("job"),
            "step": labels("step"),
            "phase": labels("phase"),
        }
    )
    t = np.asarray(column("duration_s"), dtype=np.float64)
    t = np.where(np.isfinite(t), np.maximum(t, 0.0), 0.0)
    censored = np.asarray(column("censored"), dtype=bool)
    if "runner" in per_attempt:
        runner_codes, runner_names = codes_of("runner"), names["runner"]
    else:
        runner_codes, runner_names = np.full(position.size, -1, np.int64), []
    started_rows = started if everything else started[position]
    runner_labels = [str(r) for r in runner_names]
    return Rows(position, unit, keys, t, censored, started_rows, runner_codes, runner_labels, attempt)


def _factorize_first(values: NDArray[np.int64], span: int | None = None) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """Dense codes in order of first appearance (as ``pd.factorize``), and the first row of each code.

    ``span``: the values are known to lie in [0, span). When that range is small, a table
    indexed by value replaces the hash table.
    """
    n = values.size
    if span is not None and span <= max(n, 1 << 16):
        first_at = np.full(span, n, dtype=np.intp)
        first_at[values[::-1]] = np.arange(n, dtype=np.intp)[::-1]  # the last write is the first row
        present = np.flatnonzero(first_at < n)
        first = np.sort(first_at[present])  # the first rows, in order of appearance
        code_of = np.empty(span, dtype=np.intp)
        code_of[values[first]] = np.arange(first.size, dtype=np.intp)
        return code_of[values], first.astype(np.intp)
    codes, uniques = pd.factorize(values)
    codes = np.asarray(codes, dtype=np.intp)
    first = np.zeros(len(uniques), dtype=np.intp)
    first[codes[::-1]] = np.arange(codes.size, dtype=np.intp)[::-1]
    return codes, first


def unit_codes(frame: pd.DataFrame) -> tuple[NDArray[np.intp], pd.DataFrame]:
    """A unit number per row of ``frame`` (-1 for skipped rows) and the key table of the units.

    Keys are (scope, workflow, job, step, phase) with ``step`` null for job units and ``phase``
    null for job and step units, as in ``stats``.
    """
    rows = unit_rows(frame, None)
    out = np.full(len(frame), -1, dtype=np.intp)
    out[rows.position] = rows.unit
    return out, rows.keys


def keys_of(units: pd.DataFrame) -> list[UnitKey]:
    """The ``UnitKey`` of each row of a unit table (``unit_codes``' keys, ``DurationModel.units_``)."""
    columns = [units[name].tolist() for name in UNIT_COLUMNS]
    return [UnitKey.of(*values) for values in zip(*columns, strict=True)]
