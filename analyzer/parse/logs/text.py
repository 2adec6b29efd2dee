"""The text of a log line: input checks, timestamps' shape, ANSI codes, evidence, durations, the job name.

Pure helpers shared by every part of the parser; nothing here knows about steps or phases.
"""

from __future__ import annotations

import re

from analyzer.errors import LogParseError

BOM = b"\xef\xbb\xbf"
_EVIDENCE_MAX = 500
_HINT_NOT_LOG = "pass a job log as GitHub serves it (lines starting with 2024-01-02T03:04:05.1234567Z)"

_TS_BODY = rb"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?Z(?: |(?=[\r\n])|\Z)"
TS_RE = re.compile(rb"(?:\xef\xbb\xbf)?" + _TS_BODY)
TS_NL_RE = re.compile(rb"\n(?:\xef\xbb\xbf)?" + _TS_BODY)
# a workflow command at the start of a line (a log without timestamps); one quoted inside prose (a
# README, a TSV of notes about logs) does not make a log
_MARKER_ANY_RE = re.compile(
    rb"(?m)^(?:\xef\xbb\xbf)?[ \t]*(?:##\[(?:group|endgroup|error|warning|notice|section|command|debug)\]|::(?:end)?group::)"
)

_ANSI_RE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_]|)")
CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
TS_STRIP_RE = re.compile(r"(?m)^\ufeff?(?:\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?Z(?: |(?=[\r\n])|$))?")

_DUR_TOKEN_RE = re.compile(r"(\d+(?:\.\d+)?|\.\d+)\s*([a-zA-Zµμ]+)")
_UNITS = {
    "ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3,
    "s": 1.0, "sec": 1.0, "secs": 1.0, "second": 1.0, "seconds": 1.0,
    "m": 60.0, "min": 60.0, "mins": 60.0, "minute": 60.0, "minutes": 60.0,
    "h": 3600.0, "hr": 3600.0, "hrs": 3600.0, "hour": 3600.0, "hours": 3600.0,
    "d": 86400.0, "day": 86400.0, "days": 86400.0,
}  # fmt: skip


def parse_duration(text: str) -> float | None:
    """Seconds in a duration as logs write it, or ``None`` when ``text`` is not one.

    Go durations (``30m0s``, ``1h2m3s``, ``180.000s``, ``500ms``) and words (``360 minutes``,
    ``5 min``, ``2.5 minutes``, ``1 hour 5 minutes``); surrounding parentheses and a final period
    are ignored. A bare number has no unit and gives ``None``.
    """
    s = text.strip().strip("()").strip().rstrip(".").strip()
    if not s or len(s) > 100:
        return None
    total = 0.0
    pos = 0
    for m in _DUR_TOKEN_RE.finditer(s):
        if s[pos : m.start()].strip(" ,"):
            return None
        unit = _UNITS.get(m.group(2).lower())
        if unit is None:
            return None
        total += float(m.group(1)) * unit
        pos = m.end()
    if pos == 0 or s[pos:].strip():
        return None
    return total


def strip_ansi(text: str) -> str:
    """``text`` without ANSI escape sequences (colours, cursor moves, OSC titles, stray ESC)."""
    return _ANSI_RE.sub("", text) if "\x1b" in text else text


def job_name_from_log(data: bytes | str) -> str | None:
    """The job name from the set-up section's ``Complete job name: X`` line, else ``None``.

    Never raises: anything that is not a log simply has no job name.
    """
    buf = data.encode("utf-8", "replace") if isinstance(data, str) else bytes(data)
    return read_job_name(buf)


def check_log(data: bytes | str) -> None:
    """The input checks of :func:`parse_job_log` without the parse: raises LogParseError if
    ``data`` is not a GitHub Actions log (empty, binary, not UTF-8, no timestamps or markers)."""
    check_looks_like_log(prepare(data, what="the log"))


def is_utf8(data: bytes) -> bool:
    """Whether ``data`` is valid UTF-8 (checked chunk by chunk, without decoding ASCII chunks)."""
    try:
        _validate_utf8(data, "")
    except LogParseError:
        return False
    return True


# The last bytes object that passed ``prepare``'s checks, held so that its identity cannot be reused:
# ``ingest`` checks a log when it reads it and parses the same object when it saves it, and the
# checks of a 100 MB log cost about what grep spends on the whole file. One check serves one
# parse: the parse lets go of it (a library caller's last log is not kept alive here).
_PASSED: list[bytes] = []


def prepare(data: bytes | str, *, what: str, allow_empty: bool = False) -> bytes:
    passed = _PASSED[:1]
    if passed and data is passed[0]:
        _PASSED.clear()
        return passed[0]
    if isinstance(data, str):
        try:
            buf = data.encode("utf-8")
        except UnicodeEncodeError:
            raise LogParseError(f"{what} is not UTF-8 text", hint=_HINT_NOT_LOG) from None
    elif isinstance(data, bytes | bytearray | memoryview):
        buf = bytes(data)
    else:
        raise TypeError(f"expected bytes or str, not {type(data).__name__}")
    if not allow_empty and _blank(buf):
        raise LogParseError(f"{what} is empty", hint=_HINT_NOT_LOG)
    # Binary: a NUL early on (git's heuristic) or many of them. Real logs can echo a stray NUL.
    first_nul = buf.find(b"\x00")
    if first_nul >= 0 and (first_nul < 8192 or buf.count(b"\x00", first_nul) > len(buf) // 1000):
        raise LogParseError(f"{what} is binary data, not text", hint=_HINT_NOT_LOG)
    _validate_utf8(buf, what)
    if not allow_empty and buf is data:
        _PASSED[:] = [buf]
    return buf


def _blank(buf: bytes) -> bool:
    """Only whitespace and BOMs (checks a prefix first: a log is rarely blank for long)."""
    head = buf[:4096].replace(BOM, b"").strip()
    return not head and not buf.replace(BOM, b"").strip()


def _validate_utf8(buf: bytes, what: str) -> None:
    """Strict UTF-8 check that decodes only the chunks holding non-ASCII bytes."""
    n = len(buf)
    i = 0
    chunk = 16384
    while i < n:
        j = min(n, i + chunk)
        if buf[i:j].isascii():
            i = j
            continue
        # Bytes before i are ASCII or end a validated line, so i starts a character; a line
        # break cannot be inside a multi-byte character, so [i, next newline] decodes alone.
        e = buf.find(b"\n", j)
        e = n if e < 0 else e + 1
        try:
            buf[i:e].decode("utf-8")
        except UnicodeDecodeError:
            raise LogParseError(f"{what} is not UTF-8 text", hint=_HINT_NOT_LOG) from None
        i = e


def check_looks_like_log(buf: bytes) -> None:
    start = len(BOM) if buf.startswith(BOM) else 0
    if TS_RE.match(buf, start) or TS_NL_RE.search(buf) or _MARKER_ANY_RE.search(buf):
        return
    raise LogParseError("does not look like a GitHub Actions job log", hint=_HINT_NOT_LOG)


def read_job_name(buf: bytes) -> str | None:
    limit = min(len(buf), 4 << 20)
    i = buf.find(b"Complete job name: ", 0, limit)
    if i < 0 or buf.find(b"##[group]Run ", 0, i) >= 0:
        return None
    e = buf.find(b"\n", i)
    e = len(buf) if e < 0 else e
    raw = buf[i + len(b"Complete job name: ") : min(e, i + 1024)]
    name = CONTROL_RE.sub("", strip_ansi(raw.decode("utf-8", "replace"))).strip()
    return name or None


def clean(raw: str) -> str:
    raw = raw.rstrip("\r\n")
    if "\x1b" in raw:
        raw = _ANSI_RE.sub("", raw)
    if "\ufeff" in raw:
        raw = raw.replace("\ufeff", "")
    return raw


def evidence(text: str) -> str:
    return CONTROL_RE.sub("", text).strip()[:_EVIDENCE_MAX]
