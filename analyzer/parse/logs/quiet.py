"""Silences in a log: the longest quiet stretch of each step, and the quiet before a step's final lines.

A run that hangs prints nothing until a limit ends it; a slow healthy run keeps printing. Two
facts per step tell them apart (``model.hangs`` decides, across runs):

- ``gap_s``: the longest time between two consecutive timestamped lines of the step (a
  healthy run's quietest stretch);
- ``silence_s``: the time from the step's last ordinary line to its end — to the first line of
  the runner's closing block (``##[error]The operation was canceled.``, ``##[error]The action
  '…' has timed out …``: lines starting with ``##[``) when there is one, else to the step's end
  time — and ``quiet_line``, the number of that last ordinary line (the evidence of a hang).

Every line's time is read at once with numpy: the first 20 bytes after each newline, gathered
into one small array, are checked for the shape of GitHub's ``YYYY-MM-DDTHH:MM:SS`` and its clock
is read (to the second: silences that matter last minutes); the clock runs on across midnight.
That is two passes over the buffer and a few over the lines, so the parser stays near its speed;
the one absolute time needed (the first timed line's) is read exactly, and the closing block is
looked for only at the ends of the steps.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from numpy.typing import NDArray

from analyzer.parse.logs.text import TS_RE

_WIDTH = 20  # "2026-03-02T10:11:12."
_CLOCK_AT = [11, 12, 14, 15, 17, 18]
_CLOCK = np.array([36000, 3600, 600, 60, 10, 1], dtype=np.int32)
_HALF_DAY = 43200


@dataclass(frozen=True, slots=True)
class Quiet:
    """A step's silences (seconds; None where its lines carry no times)."""

    gap_s: float | None
    silence_s: float | None
    quiet_line: int  # 1-based number of the last ordinary line before the silence (0: none)


@dataclass(frozen=True)
class LineTimes:
    """The lines that carry a time: their number (0-based), where they start, and their time (seconds, on one
    clock from the log's first timed line, which is at ``origin`` epoch seconds)."""

    buf: bytes
    line: NDArray[np.int64]
    offset: NDArray[np.int64]
    seconds: NDArray[np.float64]
    origin: float

    @classmethod
    def of(cls, buf: bytes, start: int) -> LineTimes:
        data = np.frombuffer(buf, dtype=np.uint8)
        starts = np.concatenate(([start], _newlines(data) + 1))
        starts = starts[starts + _WIDTH <= data.size]
        if not starts.size:
            return cls(buf, np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0), float("nan"))
        heads = np.lib.stride_tricks.sliding_window_view(data, _WIDTH)[starts]  # one copy of 20 bytes a line
        ok = (heads[:, 4] == 45) & (heads[:, 10] == 84) & (heads[:, 13] == 58) & (heads[:, 16] == 58)  # - T : :
        line = np.flatnonzero(ok)
        clock = (heads[line][:, _CLOCK_AT].astype(np.int32) - 48) @ _CLOCK
        # the clock runs on across midnight (a log's lines are in time order; a small step back is not a new day)
        days = np.r_[0, np.cumsum(np.diff(clock) < -_HALF_DAY)] if clock.size else clock
        seconds = (clock + 86400 * days).astype(np.float64)
        origin = float("nan")
        if line.size:
            m = TS_RE.match(buf, int(starts[line[0]]))
            first = _stamp(m) if m is not None else None
            origin = float("nan") if first is None else first - float(seconds[0])
        return cls(buf, line.astype(np.int64), starts[line].astype(np.int64), seconds, origin)

    def _closing(self, k: int) -> bool:
        """Timed line ``k``'s text starts with ``##[`` (after its timestamp)."""
        m = TS_RE.match(self.buf, int(self.offset[k]))
        return m is not None and self.buf.startswith(b"##[", m.end())

    def longest_gap(self, first_line: int, last_line: int) -> float | None:
        """The longest time between consecutive timed lines among lines ``first_line``..``last_line`` (1-based)."""
        a, b = np.searchsorted(self.line, [first_line - 1, last_line])
        if b - a < 2:
            return 0.0 if b > a else None
        return float(max(np.max(np.diff(self.seconds[a:b])), 0.0))

    def quiet(self, spans: Sequence[tuple[int, int, datetime | None]]) -> list[Quiet]:
        """Each step's silences (see the module docstring); ``spans``: (first line, last line, end time),
        lines 1-based, a first line of 0 for a step without lines."""
        if not spans:
            return []
        first = np.array([f for f, _, _ in spans], dtype=np.int64)
        last = np.array([e for _, e, _ in spans], dtype=np.int64)
        has = (first > 0) & (last >= first)
        a = np.searchsorted(self.line, first - 1)
        b = np.searchsorted(self.line, last)
        count = np.where(has, b - a, 0)
        t = self.seconds
        gaps = np.zeros(len(spans))
        if t.size > 1:
            d = np.maximum(np.diff(t), 0.0)
            for j in np.flatnonzero(count >= 2).tolist():
                gaps[j] = float(d[a[j] : b[j] - 1].max())
        out = []
        for j, (_, _, end) in enumerate(spans):
            if count[j] == 0:
                out.append(Quiet(None, None, 0))
                continue
            gap = float(gaps[j])
            k = int(b[j]) - 1
            while k >= a[j] and self._closing(k):  # the closing block: the runner's "##[…" lines at the end
                k -= 1
            if k < a[j]:
                out.append(Quiet(gap, None, 0))
                continue
            if k < b[j] - 1:
                stop = float(t[k + 1])
            elif end is not None and math.isfinite(self.origin):
                stop = end.astimezone(UTC).timestamp() - self.origin
            else:
                out.append(Quiet(gap, None, 0))
                continue
            out.append(Quiet(gap, max(stop - float(t[k]), 0.0), int(self.line[k]) + 1))
        return out


def _newlines(data: NDArray[np.uint8]) -> NDArray[np.intp]:
    """Where the newlines are, a MiB at a time: one comparison of a whole 100 MB log made a 100 MB mask
    (fresh pages, half of this module's time on such a log and its memory peak)."""
    step = 1 << 20
    found = [np.flatnonzero(data[lo : lo + step] == 10) + lo for lo in range(0, data.size, step)]
    return np.concatenate(found) if found else np.empty(0, dtype=np.intp)


def _stamp(m: re.Match[bytes]) -> float | None:
    """Epoch seconds of a timestamp match (``text.TS_RE``), or None when it is no date."""
    try:
        y, mo, d, h, mi, sec = (int(x) for x in m.group(1, 2, 3, 4, 5, 6))
        base = datetime(y, mo, d, h, mi, sec, tzinfo=UTC).timestamp()
    except ValueError:
        return None
    frac = m.group(7)
    return base + (int(frac) / 10 ** len(frac) if frac else 0.0)
