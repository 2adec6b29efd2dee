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

Importing numpy costs more (0.1–0.15 s) than reading a few MB of logs line by line in Python, so
the first logs of a process, up to ``PLAIN_BUDGET`` bytes in all, are read by ``PlainLineTimes``
(the same checks, the same numbers, in plain Python): ``ingest`` of a few logs never imports numpy,
a big log or a corpus pays for the import once and reads the rest with it.
"""

from __future__ import annotations

import math
import re
import sys
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from analyzer.parse.logs.text import TS_RE

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

_WIDTH = 20  # "2026-03-02T10:11:12."
_CLOCK_AT = [11, 12, 14, 15, 17, 18]
_CLOCK = [36000, 3600, 600, 60, 10, 1]
_HALF_DAY = 43200
PLAIN_BUDGET = 4_000_000  # bytes of logs a process reads without numpy (~0.05 s) before it imports it
PLAIN_LINES = 60_000  # ... and lines (the plain reader's cost is per line: 4 MB of empty lines would take 1.2 s)
_plain_read = [0, 0]  # bytes, lines


@dataclass(frozen=True, slots=True)
class Quiet:
    """A step's silences (seconds; None where its lines carry no times)."""

    gap_s: float | None
    silence_s: float | None
    quiet_line: int  # 1-based number of the last ordinary line before the silence (0: none)


class _Times:
    """The lines that carry a time: their number (0-based), where they start, and their time (seconds, on one
    clock from the log's first timed line, which is at ``origin`` epoch seconds); numpy arrays or lists."""

    buf: bytes
    line: Any
    offset: Any
    seconds: Any
    origin: float

    def _bounds(self, first_line: int, last_line: int) -> tuple[int, int]:
        """The timed lines among lines ``first_line``..``last_line`` (1-based): ``a`` to ``b`` (exclusive)."""
        raise NotImplementedError

    def _gap(self, a: int, b: int) -> float:
        """The longest time between consecutive timed lines ``a``..``b - 1`` (at least two), at least 0."""
        raise NotImplementedError

    def _closing(self, k: int) -> bool:
        """Timed line ``k``'s text starts with ``##[`` (after its timestamp)."""
        m = TS_RE.match(self.buf, int(self.offset[k]))
        return m is not None and self.buf.startswith(b"##[", m.end())

    def longest_gap(self, first_line: int, last_line: int) -> float | None:
        """The longest time between consecutive timed lines among lines ``first_line``..``last_line`` (1-based)."""
        a, b = self._bounds(first_line, last_line)
        if b - a < 2:
            return 0.0 if b > a else None
        return self._gap(a, b)

    def quiet(self, spans: Sequence[tuple[int, int, datetime | None]]) -> list[Quiet]:
        """Each step's silences (see the module docstring); ``spans``: (first line, last line, end time),
        lines 1-based, a first line of 0 for a step without lines."""
        out = []
        t = self.seconds
        for first, last, end in spans:
            a, b = self._bounds(first, last) if first > 0 and last >= first else (0, 0)
            if b <= a:
                out.append(Quiet(None, None, 0))
                continue
            gap = self._gap(a, b) if b - a >= 2 else 0.0
            k = b - 1
            while k >= a and self._closing(k):  # the closing block: the runner's "##[…" lines at the end
                k -= 1
            if k < a:
                out.append(Quiet(gap, None, 0))
                continue
            if k < b - 1:
                stop = float(t[k + 1])
            elif end is not None and math.isfinite(self.origin):
                stop = end.astimezone(UTC).timestamp() - self.origin
            else:
                out.append(Quiet(gap, None, 0))
                continue
            out.append(Quiet(gap, max(stop - float(t[k]), 0.0), int(self.line[k]) + 1))
        return out


class LineTimes(_Times):
    """The line times read with numpy (a whole log at once)."""

    def __init__(
        self, buf: bytes, line: NDArray[np.int64], offset: NDArray[np.int64], seconds: NDArray[np.float64], origin: float
    ) -> None:
        self.buf, self.line, self.offset, self.seconds, self.origin = buf, line, offset, seconds, origin

    @classmethod
    def of(cls, buf: bytes, start: int) -> _Times:
        """The line times of ``buf`` (its first line at ``start``): read in plain Python while the process is
        within ``PLAIN_BUDGET`` bytes and ``PLAIN_LINES`` lines and has not imported numpy, else with numpy
        (the same numbers either way)."""
        if "numpy" not in sys.modules and _plain_read[0] + len(buf) <= PLAIN_BUDGET:
            lines = buf.count(b"\n", start) + 1
            if _plain_read[1] + lines <= PLAIN_LINES:
                _plain_read[0] += len(buf)
                _plain_read[1] += lines
                return PlainLineTimes.of(buf, start)
        return cls.read(buf, start)

    @classmethod
    def read(cls, buf: bytes, start: int) -> LineTimes:
        import numpy as np

        data = np.frombuffer(buf, dtype=np.uint8)
        starts = np.concatenate(([start], _newlines(data) + 1))
        starts = starts[starts + _WIDTH <= data.size]
        if not starts.size:
            return cls(buf, np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0), float("nan"))
        heads = np.lib.stride_tricks.sliding_window_view(data, _WIDTH)[starts]  # one copy of 20 bytes a line
        ok = (heads[:, 4] == 45) & (heads[:, 10] == 84) & (heads[:, 13] == 58) & (heads[:, 16] == 58)  # - T : :
        line = np.flatnonzero(ok)
        clock = (heads[line][:, _CLOCK_AT].astype(np.int32) - 48) @ np.array(_CLOCK, dtype=np.int32)
        # the clock runs on across midnight (a log's lines are in time order; a small step back is not a new day)
        days = np.r_[0, np.cumsum(np.diff(clock) < -_HALF_DAY)] if clock.size else clock
        seconds = (clock + 86400 * days).astype(np.float64)
        origin = float("nan")
        if line.size:
            m = TS_RE.match(buf, int(starts[line[0]]))
            first = _stamp(m) if m is not None else None
            origin = float("nan") if first is None else first - float(seconds[0])
        return cls(buf, line.astype(np.int64), starts[line].astype(np.int64), seconds, origin)

    def _bounds(self, first_line: int, last_line: int) -> tuple[int, int]:
        import numpy as np

        a, b = np.searchsorted(self.line, [first_line - 1, last_line])
        return int(a), int(b)

    def _gap(self, a: int, b: int) -> float:
        import numpy as np

        return float(max(np.max(np.diff(self.seconds[a:b])), 0.0))


class PlainLineTimes(_Times):
    """The line times read in plain Python: what ``LineTimes.read`` reads, as lists (``line`` and ``offset``
    ints, ``seconds`` floats), without importing numpy."""

    def __init__(self, buf: bytes, line: list[int], offset: list[int], seconds: list[float], origin: float) -> None:
        self.buf, self.line, self.offset, self.seconds, self.origin = buf, line, offset, seconds, origin

    @classmethod
    def of(cls, buf: bytes, start: int) -> PlainLineTimes:
        end = len(buf) - _WIDTH  # a line starting after it is too short to be looked at
        line: list[int] = []
        offset: list[int] = []
        seconds: list[float] = []
        n = day = 0
        last_clock: int | None = None
        newline = -1
        s = start
        while True:  # s: the line starts LineTimes.read keeps, in its order (``start``, then after each newline)
            if s <= end:
                if buf[s + 4] == 45 and buf[s + 10] == 84 and buf[s + 13] == 58 and buf[s + 16] == 58:  # - T : :
                    clock = (
                        (buf[s + 11] - 48) * 36000 + (buf[s + 12] - 48) * 3600 + (buf[s + 14] - 48) * 600
                        + (buf[s + 15] - 48) * 60 + (buf[s + 17] - 48) * 10 + (buf[s + 18] - 48)
                    )  # fmt: skip
                    if last_clock is not None and clock - last_clock < -_HALF_DAY:
                        day += 1
                    last_clock = clock
                    line.append(n)
                    offset.append(s)
                    seconds.append(float(clock + 86400 * day))
                n += 1
            newline = buf.find(b"\n", newline + 1)
            if newline < 0:
                break
            s = newline + 1
        origin = float("nan")
        if line:
            m = TS_RE.match(buf, offset[0])
            first = _stamp(m) if m is not None else None
            origin = float("nan") if first is None else first - seconds[0]
        return cls(buf, line, offset, seconds, origin)

    def _bounds(self, first_line: int, last_line: int) -> tuple[int, int]:
        return bisect_left(self.line, first_line - 1), bisect_left(self.line, last_line)

    def _gap(self, a: int, b: int) -> float:
        t: list[float] = self.seconds
        return max(max(t[i + 1] - t[i] for i in range(a, b - 1)), 0.0)


def import_numpy() -> None:
    """Import numpy now: for a process about to fork workers that read more than ``PLAIN_BUDGET`` bytes of
    logs among them (one import before the fork, not one in each worker once its plain budget is spent)."""
    import importlib

    importlib.import_module("numpy")


def _newlines(data: NDArray[np.uint8]) -> NDArray[np.intp]:
    """Where the newlines are, a MiB at a time: one comparison of a whole 100 MB log made a 100 MB mask
    (fresh pages, half of this module's time on such a log and its memory peak)."""
    import numpy as np

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
