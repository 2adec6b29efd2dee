"""The rows of each unit of a report's observations, found once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from analyzer.model import keys_of, unit_codes
from analyzer.records import UnitKey


def as_ns(when: datetime) -> int:
    """A time as ``UnitIndex.started`` holds it (UTC nanoseconds)."""
    return int(pd.Timestamp(when).value)


@dataclass(frozen=True)
class UnitIndex:
    """The rows of each unit of a (usable) frame, found once.

    Grouping 10⁶ rows by five string columns — and then filtering the whole frame again per
    unit — was most of the time of a large report; unit codes (``model.unit_codes``) and the
    row positions of each unit make every per-unit view a ``take``.
    """

    keys: list[UnitKey]  # per unit, in order of first appearance (as ``groupby(sort=False)``)
    rows: list[np.ndarray[Any, Any]]  # per unit: its row positions, in frame order
    code: np.ndarray[Any, Any]  # per row: its unit
    started: np.ndarray[Any, Any]  # per row: UTC nanoseconds (NaT: the smallest int64)
    is_job: np.ndarray[Any, Any]

    @classmethod
    def of(cls, frame: pd.DataFrame) -> UnitIndex:
        if frame.empty:
            empty = np.empty(0, dtype=np.intp)
            return cls([], [], empty, empty.astype(np.int64), empty.astype(bool))
        code, table = unit_codes(frame)
        keys = keys_of(table)
        order = np.argsort(code, kind="stable")
        bounds = np.searchsorted(code[order], np.arange(len(keys) + 1))
        rows = [order[bounds[u] : bounds[u + 1]] for u in range(len(keys))]
        started = frame["started_at"].to_numpy(dtype="datetime64[ns]").astype(np.int64)
        return cls(keys, rows, code, started, (frame["scope"] == "job").to_numpy())
