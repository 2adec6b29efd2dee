"""Log text as the runner writes it: timestamps (ticks of 100 ns), lines written forward in time."""

from __future__ import annotations

import math
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from analyzer.demo.sample.scenario import TICK

# --------------------------------------------------------------------------------------------- time


def to_ticks(seconds: float) -> int:
    return round(seconds * TICK)


def _dt(t: int) -> datetime:
    return datetime.fromtimestamp(t // TICK, UTC)


def log_stamp(t: int) -> str:
    """A log timestamp: ``2026-11-23T10:00:00.1234567Z``."""
    return f"{_dt(t):%Y-%m-%dT%H:%M:%S}.{t % TICK:07d}Z"


def api_time(t: int) -> str:
    """An API timestamp, truncated to whole seconds: ``2026-11-23T10:00:00Z``."""
    return f"{_dt(t):%Y-%m-%dT%H:%M:%S}Z"


def _ginkgo(t: int) -> str:
    return f"{_dt(t):%m/%d/%y %H:%M:%S}.{t % TICK // 10_000:03d}"


def go_duration_text(t: int) -> str:
    """Go's ``time.Duration`` text for a span of ticks, e.g. ``11m2.819261667s``."""
    minutes, rest = divmod(t, 60 * TICK)
    seconds = f"{rest // TICK}.{rest % TICK:07d}{(t * 7) % 100:02d}s"
    return f"{minutes}m{seconds}" if minutes else seconds


# ---------------------------------------------------------------------------------------- log text


class Log:
    """Timestamped lines of one step, written forward in time."""

    def __init__(self, rng: random.Random, start: int) -> None:
        self.rng = rng
        self.start = start
        self.t = start
        self.lines: list[tuple[int, str]] = []

    def put(self, text: str, gap_s: float | None = None) -> None:
        """Append a line ``gap_s`` after the previous one (default: a few milliseconds).

        ``{at}`` in the text becomes the line's own time in Ginkgo's format (``@ 11/23/26 10:00:00.123``).
        """
        self.t += to_ticks(gap_s) if gap_s is not None else self.rng.randint(300, 20_000)
        self.lines.append((self.t, text.replace("{at}", _ginkgo(self.t))))

    def many(self, texts: list[str] | tuple[str, ...]) -> None:
        for text in texts:
            self.put(text)

    def wait(self, seconds: float) -> None:
        self.t += to_ticks(seconds)

    def hex(self, n: int) -> str:
        return f"{self.rng.getrandbits(4 * n):0{n}x}"

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))


def draw_lognormal(rng: random.Random, median: float, sigma: float) -> float:
    return median * math.exp(rng.gauss(0.0, sigma))


@dataclass
class Seg:
    """One step as run: its lines, when it ended, and how."""

    name: str
    number: int
    start: int
    end: int
    lines: list[tuple[int, str]]
    conclusion: str = "success"


@dataclass
class Ctx:
    """Everything a job's log needs to know about its run."""

    event: str
    sha: str
    merge_sha: str
    pr: int | None
    branch: str
    slowdown: float = 1.0  # Tekton image pulls: > 1 in the slow week
    scenario: str = ""  # forced rare incident: job_timeout, step_timeout, runner_lost
    cancel_at: int | None = None  # concurrency cancel (E2E, pull_request, attempt 1)


@dataclass
class JobOut:
    name: str
    start: int
    end: int
    conclusion: str
    segs: list[Seg]
    incident: str | None
    annotations: list[str]
    tekton_timeout: bool = False
