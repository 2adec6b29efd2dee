"""A job log's bytes as lines: candidate lines found by scans, their numbers and their times.

Almost every line of a log is uninteresting, so nothing here loops over lines in Python: a dozen
searches with literal-prefixed compiled patterns over the whole buffer find the candidate lines
(each search skips to the end of the line it hit); line numbers come from ``bytes.count(b"\\n")``
between sorted candidates; timestamps are decoded only for candidate lines (a continuation line's
time is found by a windowed backward search).
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass
from datetime import UTC, datetime

from analyzer.parse.logs.rules import Folded
from analyzer.parse.logs.text import BOM, TS_NL_RE, TS_RE, clean, evidence

_CAP = 8192  # bytes of a line (after its timestamp) looked at when classifying it

# Candidate-line searches over the whole buffer. Each has a literal prefix, which CPython's
# regex engine finds with a fast substring search; the same needles as one alternation are
# ~1.6x slower, and alternations starting with many different characters far worse. A needle that
# is all literal is a bytes object, searched with bytes.find: its two-way search is 2-3x faster
# than the regex engine's on the same literal (a 100 MB log: 0.02-0.05 s against 0.055-0.09 s).
# Runner markers and go test lines start a line's text, right after its timestamp ("...Z "): one
# search with that two-byte prefix replaces a search per marker.
_MARKERS = (
    rb"##\[(?:group\]Run |error\]|section\]Starting: )|Post job cleanup\.|--- (?:PASS|FAIL): |ok  \t|FAIL\t"
    rb"|Current runner version|Cleaning up orphan processes"
)
_ANYWHERE: tuple[re.Pattern[bytes] | bytes, ...] = (
    re.compile(rb"ime(?:d? ?[Oo]ut| of \d)"),  # timed out, Timed out, timeout (>, Ginkgo timeouts, execution time of
    b"deadline exceeded",
    b" seconds",  # Ginkgo: [BeforeSuite] PASSED [N seconds], Ran N of M Specs in X seconds
    re.compile(rb" in \d+(?:\.\d+)?s"),  # pytest summary
)
_SCANS: tuple[re.Pattern[bytes] | bytes, ...] = (re.compile(rb"Z (?:" + _MARKERS + rb")"), *_ANYWHERE)
# A log without timestamps (rare, synthetic) has no "Z " before its markers.
_SCANS_NO_TS: tuple[re.Pattern[bytes] | bytes, ...] = (
    re.compile(rb"##\[(?:group\]Run |error\]|section\]Starting: )"), b"Post job cleanup.",
    re.compile(rb"--- (?:PASS|FAIL): "), re.compile(rb"\t\S+\t\d"), b"Current runner version",
    b"Cleaning up orphan processes", *_ANYWHERE,
)  # fmt: skip
_KUBECTL_SCAN = b"kubectl wait"
_CONDITION_MET_SCAN = b"condition met"


@dataclass(slots=True)
class Line:
    """A candidate line: found by a scan, then numbered, timed and cleaned."""

    off: int  # byte offset of the line start
    end: int  # offset of its newline (or of the buffer end)
    no: int = 0
    at: datetime | None = None
    text: str = ""  # timestamp, ANSI codes and control characters removed
    raw_text_start: int = 0  # offset after the timestamp
    cyan: bool = False  # the runner's echo of a step's script (ESC[36;1m), not an execution
    step: int = -1  # index into the step ranges


class LogIndex:
    """A log buffer and what the parser learns about its lines: numbers, times, candidate lines."""

    def __init__(self, buf: bytes) -> None:
        self.buf = buf
        self.n = len(buf)
        self.start = len(BOM) if buf.startswith(BOM) else 0
        self.line_count = 0  # set by number()
        self._cp_off: list[int] = [self.start]
        self._cp_no: list[int] = [1]
        self._sec_cache: dict[bytes, datetime | None] = {}
        self._times: dict[int, datetime | None] = {}  # line start -> time, for decoded lines
        self._word_hits: dict[tuple[bool, bytes, int, int], dict[int, int]] = {}  # rule words, per step
        self._folded: bytes | None = None  # buf.lower(), made when a case-insensitive rule word needs it
        self.warnings: list[str] = []

    def line_end(self, off: int) -> int:
        e = self.buf.find(b"\n", off)
        return self.n if e < 0 else e

    def line_start(self, off: int) -> int:
        return max(self.start, self.buf.rfind(b"\n", 0, off) + 1)

    def last_line_start(self) -> int:
        end = self.n - 1 if self.buf.endswith(b"\n") else self.n
        return self.line_start(end)

    def _ts(self, m: re.Match[bytes]) -> datetime | None:
        key = m.group(1, 2, 3, 4, 5, 6)
        skey = b"".join(key)
        if skey in self._sec_cache:
            base = self._sec_cache[skey]
        else:
            try:
                y, mo, d, h, mi, s = (int(x) for x in key)
                base = datetime(y, mo, d, h, mi, s, tzinfo=UTC)
            except ValueError:
                base = None
            self._sec_cache[skey] = base
        if base is None:
            return None
        frac = m.group(7)
        if frac:
            return base.replace(microsecond=int((frac + b"00000")[:6]))
        return base

    def own_time(self, off: int) -> tuple[datetime | None, int]:
        """The timestamp a line starts with (or None) and the offset of its text."""
        m = TS_RE.match(self.buf, off)
        if m is None:
            return None, off + (len(BOM) if self.buf.startswith(BOM, off) else 0)
        return self._ts(m), m.end()

    def time_at(self, off: int) -> datetime | None:
        """Time of the line starting at ``off``: its own, or the nearest earlier timestamp."""
        if off in self._times:
            return self._times[off]
        t, _ = self.own_time(off)
        return t if t is not None else self._time_before(off)

    def _time_before(self, off: int) -> datetime | None:
        if off <= self.start:
            return None
        prev = self.line_start(off - 1)
        t, _ = self.own_time(prev)
        if t is not None:
            return t
        limit = prev - 1  # newlines strictly before this one start earlier lines
        width = 4096
        while limit >= self.start:
            lo = max(self.start, limit - width)
            best: datetime | None = None
            for m in TS_NL_RE.finditer(self.buf, lo, min(self.n, limit + 64)):
                if m.start() >= limit:
                    break
                t = self._ts(m)
                if t is not None:
                    best = t
            if best is not None:
                return best
            if lo == self.start:
                t, _ = self.own_time(self.start)
                return t
            limit = lo
            width *= 2
        return None

    def first_time_in(self, a: int, b: int) -> datetime | None:
        """The first valid timestamp of a line starting in [a, b)."""
        m = TS_RE.match(self.buf, a)
        t = self._ts(m) if m else None
        pos = a
        while t is None:
            m = TS_NL_RE.search(self.buf, pos, b)
            if m is None:
                return None
            t, pos = self._ts(m), m.end()
        return t

    def number(self, lines: list[Line]) -> None:
        """Number sorted candidate lines (1-based) in one counting pass; they become checkpoints."""
        prev_off, prev_no = self.start, 1
        for ln in lines:
            prev_no += self.buf.count(b"\n", prev_off, ln.off)
            prev_off = ln.off
            ln.no = prev_no
        ends_open = 0 if self.buf.endswith(b"\n") else 1
        self.line_count = prev_no + self.buf.count(b"\n", prev_off) - 1 + ends_open
        pairs = sorted({self.start: 1, **{ln.off: ln.no for ln in lines}}.items())
        self._cp_off = [o for o, _ in pairs]
        self._cp_no = [k for _, k in pairs]

    def line_no(self, off: int) -> int:
        """Number of the line holding ``off``, counted from the nearest checkpoint before it."""
        off = max(off, self.start)
        i = bisect_right(self._cp_off, off) - 1
        base_off, base_no = self._cp_off[i], self._cp_no[i]
        ls = self.line_start(off)
        no = base_no + self.buf.count(b"\n", base_off, ls)
        if ls != base_off:
            self._cp_off.insert(i + 1, ls)
            self._cp_no.insert(i + 1, no)
        return no

    def offset_of_line(self, no: int) -> int:
        """Offset where line ``no`` starts (walks forward from the nearest known line)."""
        i = bisect_right(self._cp_no, no) - 1
        off, cur = self._cp_off[i], self._cp_no[i]
        while cur < no:
            e = self.buf.find(b"\n", off)
            if e < 0:
                break
            off, cur = e + 1, cur + 1
        return off

    def first_at_or_after(self, t: datetime, lo: int) -> int | None:
        """Start of the first line at or after ``lo`` whose time is >= ``t`` (binary search)."""
        hi = self.n
        if lo >= hi:
            return None
        while lo < hi:
            mid = (lo + hi) // 2
            r = self.buf.rfind(b"\n", lo, mid)
            ls = lo if r < 0 else r + 1
            lt = self.time_at(ls)
            if lt is not None and lt >= t:
                hi = ls
            else:
                e = self.buf.find(b"\n", ls)
                lo = self.n if e < 0 else e + 1
        return lo if lo < self.n else None

    def clean_text(self, line: Line) -> None:
        """Fill in a line's clean text and its time (its own, else inherited)."""
        at, ts_end = self.own_time(line.off)
        line.at = at if at is not None else self._time_before(line.off)
        self._times[line.off] = line.at
        line.raw_text_start = ts_end
        line.cyan = self.buf.startswith(b"\x1b[36;1m", ts_end)
        end = min(line.end, ts_end + _CAP)
        raw = self.buf[ts_end:end].decode("utf-8", "ignore")
        line.text = clean(raw)

    def candidates(self) -> list[Line]:
        found: dict[int, int] = {}
        head = min(self.n, self.start + 65536)
        timestamped = TS_RE.match(self.buf, self.start) or TS_NL_RE.search(self.buf, self.start, head)
        for rx in _SCANS if timestamped else _SCANS_NO_TS:
            self._scan(rx, self.start, found)
        first_wait = self._scan(_KUBECTL_SCAN, self.start, found)
        if first_wait is not None:  # outcome lines matter only after an echoed `kubectl wait`
            self._scan(_CONDITION_MET_SCAN, first_wait, found)
        lines = [Line(off, end) for off, end in sorted(found.items())]
        self.number(lines)
        for ln in lines:
            self.clean_text(ln)
        return lines

    def _scan(self, rx: re.Pattern[bytes] | bytes, pos: int, found: dict[int, int]) -> int | None:
        """Add the lines ``rx`` matches (a pattern, or a literal) from ``pos`` on to ``found`` (line start -> line end).

        Returns the first such line's start. After a hit the search resumes at the next line, so
        a line full of hits costs one visit.
        """
        buf, n, start = self.buf, self.n, self.start
        first: int | None = None
        if isinstance(rx, bytes):
            size = len(rx)

            def span_from(at: int) -> tuple[int, int] | None:
                hit = buf.find(rx, at)
                return None if hit < 0 else (hit, hit + size)
        else:
            search = rx.search

            def span_from(at: int) -> tuple[int, int] | None:
                m = search(buf, at)
                return None if m is None else m.span()

        while pos < n:
            span = span_from(pos)
            if span is None:
                break
            ls = max(start, buf.rfind(b"\n", 0, span[0]) + 1)
            e = buf.find(b"\n", span[1])
            e = n if e < 0 else e
            found[ls] = e
            if first is None:
                first = ls
            pos = e + 1
        return first

    def word_lines(self, word: bytes, lo: int, hi: int) -> dict[int, int]:
        """Start -> end of the lines in ``[lo, hi)`` holding ``word`` (case-insensitively for a
        ``Folded`` word). Cached: rules share words (deployments, Timed, ...), one scan serves all."""
        folded = isinstance(word, Folded)
        key = (folded, bytes(word), lo, hi)
        hits = self._word_hits.get(key)
        if hits is None:
            if folded and self._folded is None:
                self._folded = self.buf.lower()  # ASCII-only, so offsets stay the same
            haystack = self._folded if folded and self._folded is not None else self.buf
            hits = {}
            pos = haystack.find(word, lo, hi)
            while pos >= 0:
                end = self.line_end(pos)
                hits[self.line_start(pos)] = end
                pos = haystack.find(word, end + 1, hi)
            self._word_hits[key] = hits
        return hits

    def evidence_of_line(self, no: int) -> str | None:
        if no <= 0:
            return None
        ln = Line(self.offset_of_line(no), 0)
        ln.end = self.line_end(ln.off)
        self.clean_text(ln)
        return evidence(ln.text)
