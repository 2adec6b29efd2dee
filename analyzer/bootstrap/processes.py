"""Commands in their own session, so a whole process group (grandchildren included) can be ended:
SIGTERM, a grace period, SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from analyzer.bootstrap.plan import Command


def signal_group(pgid: int, sig: int) -> bool:
    """Send ``sig`` to a process group; False when the group no longer exists."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def group_alive(pgid: int) -> bool:
    """Whether any process of the group still runs (zombies nobody reaps do not count)."""
    if not signal_group(pgid, 0):
        return False
    proc = Path("/proc")
    if not (proc / "self" / "stat").exists():
        return True
    for entry in os.scandir(proc):
        if not entry.name.isdigit():
            continue
        try:
            stat = (proc / entry.name / "stat").read_bytes()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()  # state ppid pgrp ...
        if len(fields) > 2 and fields[2] == str(pgid).encode() and fields[0] not in (b"Z", b"X"):
            return True
    return False


def wait_group_gone(pgid: int, until: float) -> bool:
    while group_alive(pgid):
        if time.monotonic() >= until:
            return False
        time.sleep(0.01)
    return True


class Child:
    """One command in its own session (so its own process group), its output pumped line by line."""

    def __init__(
        self,
        argv: Command,
        *,
        env: Mapping[str, str],
        cwd: Path | None,
        on_line: Callable[[str], None],
        wake: threading.Event,
    ) -> None:
        self.popen = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=dict(env),
            cwd=cwd,
            start_new_session=True,
        )
        self.pgid = self.popen.pid  # a session leader leads its own process group
        self.exited = threading.Event()
        self.ended_at: float | None = None
        self._reader = threading.Thread(target=self._pump, args=(on_line,), daemon=True)
        self._waiter = threading.Thread(target=self._wait, args=(wake,), daemon=True)
        self._reader.start()
        self._waiter.start()

    def _pump(self, on_line: Callable[[str], None]) -> None:
        stream = self.popen.stdout
        assert stream is not None
        with stream:
            for raw in stream:
                on_line(raw.decode("utf-8", "replace").rstrip("\r\n"))

    def _wait(self, wake: threading.Event) -> None:
        self.popen.wait()
        self.ended_at = time.monotonic()
        self.exited.set()
        wake.set()

    def end(self, grace: float, *, force: bool = False) -> None:
        """End the whole group: SIGTERM, up to ``grace`` seconds, then SIGKILL."""
        if not force and signal_group(self.pgid, signal.SIGTERM):
            until = time.monotonic() + grace
            self.exited.wait(grace)
            if wait_group_gone(self.pgid, until):
                return
        self.kill()

    def kill(self) -> None:
        signal_group(self.pgid, signal.SIGKILL)
        self.exited.wait(5.0)
        wait_group_gone(self.pgid, time.monotonic() + 2.0)

    def finish(self, grace: float) -> None:
        """After the command exited: end what it left running in its group, then drain its output."""
        self.exited.wait()
        if group_alive(self.pgid):
            self.end(grace)
        self._reader.join(timeout=grace + 1.0)
