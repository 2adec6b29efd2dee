"""Writing the runner's events: one JSON line per attempt's start and end, flushed per line, so a
killed run leaves valid lines. The format is read back by ``analyzer.parse.events``."""

from __future__ import annotations

import json
import threading
from datetime import datetime
from pathlib import Path
from typing import TextIO

from analyzer.errors import ConfigError
from analyzer.records import iso


class EventLog:
    """Appends event lines to a file, one ``write`` and ``flush`` per line (thread-safe)."""

    def __init__(self, path: Path | None, plan: str, execution: str) -> None:
        self.path, self.plan, self.execution = path, plan, execution
        self._lock = threading.Lock()
        self._fh: TextIO | None = None
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._fh = path.open("a", encoding="utf-8")
            except OSError as exc:
                raise ConfigError(
                    f"cannot write events to {path}: {exc.strerror}", hint="check the --events path"
                ) from None

    def write(
        self,
        event: str,
        task: str,
        *,
        start: datetime | None,
        end: datetime | None = None,
        duration_s: float | None = None,
        outcome: str | None = None,
        limit_s: float | None = None,
        attempt: int | None = None,
        reason: str | None = None,
    ) -> None:
        if self._fh is None:
            return
        record = {
            "event": event,
            "plan": self.plan,
            "task": task,
            "start": iso(start),
            "end": iso(end),
            "duration_s": None if duration_s is None else round(duration_s, 4),
            "outcome": outcome,
            "limit_s": limit_s,
            "attempt": attempt,
            "execution": self.execution,
            "reason": reason,
        }
        line = json.dumps(record, ensure_ascii=False) + "\n"
        with self._lock:
            self._fh.write(line)
            self._fh.flush()

    def close(self) -> None:
        with self._lock:
            if self._fh is not None:
                self._fh.close()
                self._fh = None
