"""The threaded setup runner: each task of a plan starts as soon as what it needs succeeded.

``run_plan`` runs a plan with one thread per running task, each command in its own process group
(``processes``). A task past its limit is ended, then its ``diagnose`` commands run and their
output is kept. Tasks that need a failed task are skipped with the reason; the others run on
(unless ``fail_fast``). SIGINT/SIGTERM end every child. Every attempt's start and end is appended
to an events file (``events``), which ``we-advisor ingest`` reads back.
"""

from __future__ import annotations

import os
import queue
import secrets
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from analyzer.bootstrap.events import EventLog
from analyzer.bootstrap.plan import Command, Limit, Plan, Task, display, load_plan_and_limits, resolve_limits
from analyzer.bootstrap.processes import Child
from analyzer.errors import ConfigError
from analyzer.formatting import human_duration, plain_seconds, render_table

DEFAULT_TICK_S = 30.0
_OUTPUT_TAIL = 40  # lines of a task's own output kept in its result
_DIAGNOSE_LINES = 400  # lines of one diagnose command's output kept in the result


@dataclass(frozen=True, slots=True)
class Attempt:
    """One run of a task's command."""

    number: int
    outcome: str  # success | failure | timeout | cancelled
    started_at: datetime
    duration_s: float
    returncode: int | None
    reason: str | None = None  # why it did not succeed, in words ("timed out after 30 s")


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One ``diagnose`` command run after a failed attempt, and its output."""

    command: str
    attempt: int
    outcome: str
    returncode: int | None
    lines: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TaskResult:
    """How one task of the plan went: its attempts, their output's last lines, its diagnostics."""

    name: str
    outcome: str  # success | failure | timeout | cancelled | skipped
    limit: Limit
    attempts: tuple[Attempt, ...] = ()
    reason: str | None = None
    output_tail: tuple[str, ...] = ()
    diagnostics: tuple[Diagnostic, ...] = ()

    @property
    def duration_s(self) -> float | None:
        """From the first attempt's start to the last attempt's end (None when it never started)."""
        if not self.attempts:
            return None
        first, last = self.attempts[0], self.attempts[-1]
        return (last.started_at - first.started_at).total_seconds() + last.duration_s


@dataclass(frozen=True, slots=True)
class RunResult:
    plan: str
    execution: str
    results: tuple[TaskResult, ...]
    wall_s: float
    interrupted: int | None = None  # the signal that stopped the run
    events: Path | None = None

    @property
    def ok(self) -> bool:
        return self.interrupted is None and all(r.outcome == "success" for r in self.results)

    @property
    def exit_code(self) -> int:
        if self.interrupted is not None:
            return 128 + self.interrupted
        return 0 if self.ok else 1

    def result(self, name: str) -> TaskResult:
        return next(r for r in self.results if r.name == name)

    def summary(self) -> str:
        """The closing table (task, outcome, attempts, duration, limit, note) and kept diagnostics."""
        counts: dict[str, int] = {}
        for r in self.results:
            counts[r.outcome] = counts.get(r.outcome, 0) + 1
        others = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()) if k != "success")
        head = f"bootstrap {self.plan}: {counts.get('success', 0)} of {len(self.results)} task(s) succeeded"
        head += f" in {human_duration(self.wall_s)}" + (f" ({others})" if others else "")
        if self.interrupted is not None:
            head += f"; interrupted by {signal.Signals(self.interrupted).name}"
        rows = [
            [
                r.name,
                r.outcome,
                len(r.attempts) or "-",
                human_duration(r.duration_s),
                f"{human_duration(r.limit.seconds)} ({r.limit.source})",
                r.reason or r.limit.note or "",
            ]
            for r in self.results
        ]
        lines = [head, render_table(["task", "outcome", "attempts", "duration", "limit", "note"], rows, right=[2, 3])]
        for r in self.results:
            for d in r.diagnostics:
                status = f"exit {d.returncode}" if d.outcome in ("success", "failure") else d.outcome
                lines.append(f"diagnostics of {r.name} (attempt {d.attempt}): $ {d.command}  [{status}]")
                lines.extend(f"  | {line}" for line in d.lines[-60:])
                if len(d.lines) > 60:
                    lines.append(f"  | … {len(d.lines) - 60} earlier line(s) kept in the result")
        if self.events is not None:
            lines.append(f"events appended to {self.events}")
        return "\n".join(lines)


class _Printer:
    """Task output to ``out`` as ``[task] line``; status lines to ``err``. Whole lines, one lock.

    Under GitHub Actions each task's output is held back and written at its end inside
    ``::group::``/``::endgroup::``, because parallel output cannot be grouped while it interleaves.
    """

    def __init__(self, out: TextIO, err: TextIO, github_actions: bool) -> None:
        self.out, self.err, self.github = out, err, github_actions
        self._lock = threading.Lock()
        self._held: dict[str, list[str]] = {}

    def line(self, task: str, text: str, label: str | None = None) -> None:
        rendered = f"[{label or task}] {text}\n"
        with self._lock:
            if self.github:
                self._held.setdefault(task, []).append(rendered)
            else:
                self._write(self.out, rendered)

    def status(self, text: str) -> None:
        with self._lock:
            self._write(self.err, f"bootstrap: {text}\n")

    def close_group(self, task: str, title: str, error: str | None) -> None:
        if not self.github:
            return
        with self._lock:
            held = self._held.pop(task, [])
            self._write(self.out, f"::group::{title}\n" + "".join(held) + "::endgroup::\n")
            if error:
                self._write(self.out, f"::error title=bootstrap {task}::{error}\n")

    @staticmethod
    def _write(stream: TextIO, text: str) -> None:
        try:
            stream.write(text)
            stream.flush()
        except (BrokenPipeError, ValueError):  # a closed pipe must not stop the run
            pass


_VERB = {"failure": "failed", "timeout": "timed out", "cancelled": "was cancelled", "skipped": "was skipped"}


class _TaskRun:
    """One task in its own thread: attempts, limit, diagnostics; posts ("done", TaskResult) at the end."""

    def __init__(self, runner: _Runner, task: Task, limit: Limit) -> None:
        self.task, self.limit, self.runner = task, limit, runner
        self.cancel_reason: str | None = None
        self.stage = "running"  # or "diagnosing"
        self.stage_t0 = time.monotonic()
        self.next_tick = self.stage_t0 + runner.tick_s
        self._force = False
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._child: Child | None = None
        self._tail: deque[str] = deque(maxlen=_OUTPUT_TAIL)
        self.thread = threading.Thread(target=self._main, name=f"bootstrap-{task.name}", daemon=True)
        self._env = {**os.environ, **dict(task.env)}

    def cancel(self, reason: str, *, force: bool = False) -> None:
        with self._lock:
            if self.cancel_reason is None:
                self.cancel_reason = reason
            self._force = self._force or force
            child = self._child
        self._wake.set()
        if force and child is not None:
            child.kill()

    def _main(self) -> None:
        try:
            result = self._execute()
        except BaseException as exc:  # a bug here must not leave the main loop waiting forever
            result = TaskResult(self.task.name, "failure", self.limit, reason=f"runner error: {exc!r}")
        self.runner.post("done", result)

    def _execute(self) -> TaskResult:
        task, printer = self.task, self.runner.printer
        attempts: list[Attempt] = []
        diagnostics: list[Diagnostic] = []
        total = task.retries + 1
        for number in range(1, total + 1):
            if self.cancel_reason is not None:
                break
            attempt = self._attempt(number, total)
            attempts.append(attempt)
            if attempt.outcome in ("success", "cancelled"):
                break
            if number == total:  # definitive: let the runner skip dependents / fail fast before we diagnose
                self.runner.post("failing", (task.name, attempt.outcome))
            if task.diagnose and self.cancel_reason is None:
                diagnostics.extend(self._diagnose(number))
            if number < total and self.cancel_reason is None:
                printer.status(f"{task.name} {_VERB[attempt.outcome]}; retrying (attempt {number + 1} of {total})")
        if attempts:
            last = attempts[-1]
            outcome, reason = last.outcome, last.reason
        else:
            outcome, reason = "cancelled", self.cancel_reason
        return TaskResult(
            task.name, outcome, self.limit, tuple(attempts), reason, tuple(self._tail), tuple(diagnostics)
        )

    def _attempt(self, number: int, total: int) -> Attempt:
        task, printer, events = self.task, self.runner.printer, self.runner.events
        limit = self.limit.seconds
        # the wall-clock start is read before the monotonic one that times the attempt, so start + duration
        # is never later than the moment the command ended (a thread preempted between the two reads would
        # otherwise push an attempt's end past the start of a task that needed it)
        started = datetime.now(UTC)
        self.stage, self.stage_t0 = "running", time.monotonic()
        self.next_tick = self.stage_t0 + self.runner.tick_s
        events.write("start", task.name, start=started, limit_s=limit, attempt=number)
        tries = f", attempt {number} of {total}" if total > 1 else ""
        printer.status(f"{task.name} started (limit {plain_seconds(limit)} s{tries})")

        def on_line(text: str) -> None:
            self._tail.append(text)
            printer.line(task.name, text)

        outcome, returncode, reason, duration = self._run(task.run, self.stage_t0, limit, on_line)
        events.write(
            "end",
            task.name,
            start=started,
            end=started + timedelta(seconds=duration),
            duration_s=duration,
            outcome=outcome,
            limit_s=limit,
            attempt=number,
            reason=reason,
        )
        if outcome == "timeout":
            printer.status(f"{task.name} {reason}; its process group ended {human_duration(duration)} after the start")
        else:
            verb = {"success": "succeeded", **_VERB}[outcome]
            printer.status(f"{task.name} {verb} in {human_duration(duration)}" + (f" ({reason})" if reason else ""))
        return Attempt(number, outcome, started, duration, returncode, reason)

    def _run(
        self, argv: Command, started: float, limit: float, on_line: Callable[[str], None]
    ) -> tuple[str, int | None, str | None, float]:
        """Run one command until it exits, its limit passes or the task is cancelled.

        Returns outcome, exit code, reason and duration (from ``started`` until the command itself
        ended; ending leftovers in its group and draining its output come after).
        """
        grace = self.runner.plan.grace_s
        self._wake.clear()
        try:
            child = Child(argv, env=self._env, cwd=self.task.cwd, on_line=on_line, wake=self._wake)
        except OSError as exc:
            why = f"cannot start {argv[0]}: {exc.strerror or exc}"
            on_line(why)
            return "failure", None, why, time.monotonic() - started
        with self._lock:
            self._child = child
        try:
            outcome, reason = self._watch(child, started + limit, limit, grace)
        finally:
            child.finish(grace)
            with self._lock:
                self._child = None
        code = child.popen.returncode
        if outcome == "failure":
            reason = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
        return outcome, code, reason, (child.ended_at or time.monotonic()) - started

    def _watch(self, child: Child, deadline: float, limit: float, grace: float) -> tuple[str, str | None]:
        while True:
            if child.exited.is_set():
                return ("success" if child.popen.returncode == 0 else "failure"), None
            if self.cancel_reason is not None:
                child.end(grace, force=self._force)
                return "cancelled", self.cancel_reason
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.runner.printer.status(
                    f"{self.task.name} passed its limit of {plain_seconds(limit)} s: ending its process group"
                )
                child.end(grace)
                return "timeout", f"timed out after {plain_seconds(limit)} s"
            self._wake.wait(remaining)

    def _diagnose(self, attempt: int) -> list[Diagnostic]:
        out = []
        self.stage = "diagnosing"
        for command in self.task.diagnose:
            if self.cancel_reason is not None:
                break
            self.stage_t0 = time.monotonic()
            self.next_tick = self.stage_t0 + self.runner.tick_s
            label = f"{self.task.name} diagnose"
            lines: deque[str] = deque(maxlen=_DIAGNOSE_LINES)
            self.runner.printer.line(self.task.name, f"$ {display(command)}", label)

            def on_line(text: str, lines: deque[str] = lines, label: str = label) -> None:
                lines.append(text)
                self.runner.printer.line(self.task.name, text, label)

            outcome, code, _, _ = self._run(command, self.stage_t0, self.runner.plan.diagnose_timeout_s, on_line)
            out.append(Diagnostic(display(command), attempt, outcome, code, tuple(lines)))
        return out


class _Runner:
    """The scheduler: starts tasks whose needs succeeded, skips dependents of failures, ticks, stops."""

    def __init__(
        self,
        plan: Plan,
        limits: Mapping[str, Limit],
        *,
        events: EventLog,
        printer: _Printer,
        fail_fast: bool,
        tick_s: float,
    ) -> None:
        self.plan, self.limits, self.events, self.printer = plan, limits, events, printer
        self.fail_fast, self.tick_s = fail_fast, tick_s
        self._queue: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self._dependents = plan.dependents()
        self._pending = [t.name for t in plan.tasks]
        self._running: dict[str, _TaskRun] = {}
        self._results: dict[str, TaskResult] = {}
        self._stopping = False
        self.interrupted: int | None = None

    def post(self, kind: str, payload: Any) -> None:
        """Called from task threads and signal handlers (SimpleQueue.put is reentrant)."""
        self._queue.put((kind, payload))

    def run(self) -> dict[str, TaskResult]:
        try:
            for task in self.plan.tasks:
                if not task.needs:
                    self._start(task.name)
            while self._running:
                wake_at = min(h.next_tick for h in self._running.values())
                try:
                    kind, payload = self._queue.get(timeout=max(0.0, wake_at - time.monotonic()))
                except queue.Empty:
                    self._tick()
                    continue
                if kind == "done":
                    self._done(payload)
                elif kind == "failing":
                    self._failing(*payload)
                elif kind == "signal":
                    self._interrupt(payload)
        finally:
            for handle in self._running.values():  # only after a bug in this loop: leave no child behind
                handle.cancel("runner stopped", force=True)
        for name in list(self._pending):
            self._skip(name, "never became ready")
        return {t.name: self._results[t.name] for t in self.plan.tasks}

    def _start(self, name: str) -> None:
        self._pending.remove(name)
        handle = _TaskRun(self, self.plan.task(name), self.limits[name])
        self._running[name] = handle
        handle.thread.start()

    def _tick(self) -> None:
        now = time.monotonic()
        for name, handle in self._running.items():
            if handle.next_tick > now:
                continue
            elapsed = now - handle.stage_t0
            if handle.stage == "running":
                self.printer.status(
                    f"still waiting for {name} ({plain_seconds(elapsed)} s elapsed, limit {plain_seconds(handle.limit.seconds)} s)"
                )
            else:
                self.printer.status(f"still diagnosing {name} ({plain_seconds(elapsed)} s elapsed)")
            while handle.next_tick <= now:
                handle.next_tick += self.tick_s

    def _done(self, result: TaskResult) -> None:
        self._results[result.name] = result
        self._running.pop(result.name, None)
        error = None
        if result.outcome in ("failure", "timeout"):
            error = f"{result.name} {_VERB[result.outcome]}" + (f": {result.reason}" if result.reason else "")
        title = f"{result.name}: {result.outcome} in {human_duration(result.duration_s)}"
        self.printer.close_group(result.name, title, error)
        if result.outcome == "success":
            for dependent in self._dependents[result.name]:
                needs = self.plan.task(dependent).needs
                if dependent in self._pending and all(
                    n in self._results and self._results[n].outcome == "success" for n in needs
                ):
                    self._start(dependent)
        else:
            self._failing(result.name, result.outcome)

    def _failing(self, name: str, outcome: str) -> None:
        self._skip_dependents(name, f"{name} {_VERB[outcome]}")
        if self.fail_fast and outcome in ("failure", "timeout") and not self._stopping:
            self._stopping = True
            why = f"{name} {_VERB[outcome]}"
            for other, handle in self._running.items():
                if other != name:
                    handle.cancel(f"cancelled by --fail-fast: {why}")
            for pending in list(self._pending):
                self._skip(pending, f"not started: --fail-fast after {why}")

    def _skip_dependents(self, name: str, cause: str) -> None:
        todo = [(d, name) for d in self._dependents[name]]
        while todo:
            dependent, via = todo.pop(0)
            if dependent not in self._pending:
                continue
            reason = (
                f"needs {via}, which {cause.removeprefix(via + ' ')}"
                if via == name
                else f"needs {via}, which was skipped ({cause})"
            )
            self._skip(dependent, reason)
            todo.extend((d, dependent) for d in self._dependents[dependent])

    def _skip(self, name: str, reason: str) -> None:
        self._pending.remove(name)
        limit = self.limits[name]
        self._results[name] = TaskResult(name, "skipped", limit, reason=reason)
        self.events.write(
            "end", name, start=None, end=datetime.now(UTC), outcome="skipped", limit_s=limit.seconds, reason=reason
        )
        self.printer.status(f"{name} skipped: {reason}")

    def _interrupt(self, signum: int) -> None:
        name = signal.Signals(signum).name
        if self.interrupted is not None:
            self.printer.status(f"{name} again: killing every task now")
            for handle in self._running.values():
                handle.cancel(f"interrupted by {name}", force=True)
            return
        self.interrupted = signum
        self._stopping = True
        self.printer.status(
            f"{name} received: ending {len(self._running)} running task(s) (send it again to kill them at once)"
        )
        for handle in self._running.values():
            handle.cancel(f"interrupted by {name}")
        for pending in list(self._pending):
            self._skip(pending, f"not started: run interrupted by {name}")


@contextmanager
def _signals_to(runner: _Runner, enabled: bool) -> Iterator[None]:
    """While the run lasts, SIGINT and SIGTERM become messages to the scheduler (main thread only)."""
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        runner.post("signal", signum)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def run_plan(
    plan: Plan,
    limits: Mapping[str, Limit] | None = None,
    *,
    events: Path | None = None,
    fail_fast: bool = False,
    tick_s: float = DEFAULT_TICK_S,
    out: TextIO | None = None,
    err: TextIO | None = None,
    github_actions: bool | None = None,
    handle_signals: bool = True,
) -> RunResult:
    """Run a plan: each task as soon as everything it needs succeeded. Never raises for a task's failure.

    Task output goes to ``out`` (default stdout), status and ticker lines to ``err`` (stderr).
    """
    if tick_s <= 0:
        raise ConfigError(f"--tick {tick_s:g} must be positive", hint="seconds between 'still waiting' lines, e.g. 30")
    limits = limits if limits is not None else resolve_limits(plan)
    if github_actions is None:
        github_actions = os.environ.get("GITHUB_ACTIONS") == "true"
    execution = f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
    log = EventLog(events, plan.name, execution)
    printer = _Printer(out or sys.stdout, err or sys.stderr, github_actions)
    runner = _Runner(plan, limits, events=log, printer=printer, fail_fast=fail_fast, tick_s=tick_s)
    t0 = time.monotonic()
    try:
        with _signals_to(runner, handle_signals):
            results = runner.run()
    finally:
        log.close()
    return RunResult(
        plan=plan.name,
        execution=execution,
        results=tuple(results.values()),
        wall_s=time.monotonic() - t0,
        interrupted=runner.interrupted,
        events=events,
    )


def run_file(
    plan_path: Path,
    *,
    timeouts: Path | None = None,
    events: Path | None = None,
    fail_fast: bool = False,
    default_timeout_s: float | None = None,
    tick_s: float = DEFAULT_TICK_S,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> RunResult:
    """``we-advisor bootstrap run``: load the plan and the recommendations, resolve limits, run."""
    plan, limits = load_plan_and_limits(plan_path, timeouts=timeouts, default_timeout_s=default_timeout_s)
    return run_plan(plan, limits, events=events, fail_fast=fail_fast, tick_s=tick_s, out=out, err=err)
