"""The threaded setup runner: a plan of tasks (a DAG) where each task starts as soon as its needs succeeded.

A plan is a TOML file of ``[[task]]`` entries (``name``, ``run``, ``needs``, ``timeout_s``,
``diagnose``, ``retries``, ``env``, ``cwd``). ``run_plan`` runs it with one thread per running task;
every command runs in its own session, so its whole process group (grandchildren included) can be
ended: SIGTERM, a grace period, SIGKILL. A task past its limit is ended that way, then its
``diagnose`` commands run and their output is kept. Tasks that need a failed task are skipped with
the reason; the others run on (unless ``fail_fast``). SIGINT/SIGTERM end every child.

Every attempt's start and end is appended to an events file (JSON lines, flushed per line, so a
killed run leaves valid lines). ``we-advisor ingest`` reads such a file back: one run and job
("bootstrap") per plan execution, one phase observation per attempt (a timeout is right-censored
at its limit). ``forecast_plan`` turns those observations into a predicted wall time by Monte
Carlo over each task's Kaplan–Meier duration distribution.
"""

from __future__ import annotations

import difflib
import json
import os
import queue
import re
import secrets
import shlex
import signal
import subprocess
import sys
import threading
import time
import tomllib
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any, Literal, TextIO

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from analyzer.config import PhaseRule
from analyzer.errors import ConfigError, InputError
from analyzer.formatting import human_duration, plain_seconds, render_table
from analyzer.model import km_curve
from analyzer.parse.events import BOOTSTRAP_JOB
from analyzer.records import iso
from analyzer.store import Store

DEFAULT_TIMEOUT_S = 600.0
DEFAULT_GRACE_S = 5.0
DEFAULT_DIAGNOSE_TIMEOUT_S = 60.0
DEFAULT_TICK_S = 30.0

_PLAN_KEYS = ("name", "default_timeout_s", "grace_s", "diagnose_timeout_s", "task")
_TASK_KEYS = ("name", "run", "needs", "timeout_s", "diagnose", "retries", "env", "cwd")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_OUTPUT_TAIL = 40  # lines of a task's own output kept in its result
_DIAGNOSE_LINES = 400  # lines of one diagnose command's output kept in the result

Command = tuple[str, ...]


# -- the plan --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Task:
    """One ``[[task]]``: a command, what it needs, its limit and what to run when it fails."""

    name: str
    run: Command  # an argument list; a string in the plan becomes ("sh", "-c", text)
    needs: tuple[str, ...] = ()
    timeout_s: float | Literal["auto"] | None = None  # None: the default limit
    diagnose: tuple[Command, ...] = ()
    retries: int = 0
    env: tuple[tuple[str, str], ...] = ()
    cwd: Path | None = None


@dataclass(frozen=True, slots=True)
class Plan:
    """A validated plan: unique names, known needs, no cycles. Tasks keep the file's order."""

    name: str
    tasks: tuple[Task, ...]
    source: str = "<plan>"
    default_timeout_s: float | None = None
    grace_s: float = DEFAULT_GRACE_S
    diagnose_timeout_s: float = DEFAULT_DIAGNOSE_TIMEOUT_S

    def task(self, name: str) -> Task:
        return next(t for t in self.tasks if t.name == name)

    def dependents(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {t.name: [] for t in self.tasks}
        for task in self.tasks:
            for need in task.needs:
                out[need].append(task.name)
        return out

    def topological(self) -> list[Task]:
        """Tasks in an order where every task comes after what it needs (file order otherwise)."""
        done: set[str] = set()
        order: list[Task] = []
        while len(order) < len(self.tasks):
            ready = [t for t in self.tasks if t.name not in done and all(n in done for n in t.needs)]
            if not ready:
                raise ConfigError(f"{self.source}: the tasks' needs do not form a DAG", hint="check needs")
            for task in ready:
                order.append(task)
                done.add(task.name)
        return order


def load_plan(path: Path) -> Plan:
    """Read and validate a plan file; any problem is a one-line ConfigError with a hint."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"plan file {path} does not exist", hint="pass a plan TOML file, e.g. examples/e2e-setup.toml"
        ) from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8 text", hint="save the plan as UTF-8 TOML") from None
    except OSError as exc:
        raise ConfigError(f"cannot read plan {path}: {exc.strerror}", hint="check the path") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}", hint="check the line named above") from None
    return plan_from_mapping(data, source=str(path), base_dir=path.parent, default_name=path.stem)


def plan_from_mapping(
    data: Mapping[str, Any], *, source: str = "<plan>", base_dir: Path | None = None, default_name: str = "plan"
) -> Plan:
    """Validate a parsed plan: keys, values, unique names, known needs, no cycle."""
    unknown = sorted(set(data) - set(_PLAN_KEYS))
    if unknown:
        raise ConfigError(
            f"{source}: unknown key {unknown[0]!r}", hint=f"known keys: {', '.join(_PLAN_KEYS)} (tasks go in [[task]])"
        )
    name = data.get("name", default_name)
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{source}: name must be a non-empty string", hint='e.g. name = "e2e-setup"')
    default_timeout = _positive(data, "default_timeout_s", source, "the plan", None)
    grace = _positive(data, "grace_s", source, "the plan", DEFAULT_GRACE_S, allow_zero=True)
    diagnose_timeout = _positive(data, "diagnose_timeout_s", source, "the plan", DEFAULT_DIAGNOSE_TIMEOUT_S)
    tables = data.get("task", [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise ConfigError(f"{source}: task must be an array of tables", hint="write [[task]] sections")
    if not tables:
        raise ConfigError(
            f"{source}: the plan has no tasks", hint="add [[task]] sections with a name and a run command"
        )
    tasks = [_task(t, i, source, base_dir) for i, t in enumerate(tables, 1)]
    seen: set[str] = set()
    for task in tasks:
        if task.name in seen:
            raise ConfigError(f"{source}: task {task.name!r} is defined twice", hint="give each [[task]] a unique name")
        seen.add(task.name)
    for task in tasks:
        for need in task.needs:
            if need not in seen:
                close = difflib.get_close_matches(need, sorted(seen), n=1)
                hint = f"did you mean {close[0]!r}?" if close else f"known tasks: {', '.join(t.name for t in tasks)}"
                raise ConfigError(f"{source}: task {task.name!r} needs unknown task {need!r}", hint=hint)
    cycle = _find_cycle(tasks)
    if cycle:
        raise ConfigError(
            f"{source}: dependency cycle: {' -> '.join(cycle)}",
            hint="each arrow means 'needs'; remove one of these needs",
        )
    return Plan(
        name=name.strip(),
        tasks=tuple(tasks),
        source=source,
        default_timeout_s=default_timeout,
        grace_s=grace if grace is not None else DEFAULT_GRACE_S,
        diagnose_timeout_s=diagnose_timeout if diagnose_timeout is not None else DEFAULT_DIAGNOSE_TIMEOUT_S,
    )


def _positive(
    data: Mapping[str, Any], key: str, source: str, where: str, default: float | None, *, allow_zero: bool = False
) -> float | None:
    if key not in data:
        return default
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0 or (value == 0 and not allow_zero):
        raise ConfigError(
            f"{source}: {where} {key} must be a {'non-negative' if allow_zero else 'positive'} number of seconds",
            hint=f"e.g. {key} = 30",
        )
    return float(value)


def _command(value: Any) -> Command | None:
    """A string (run through ``sh -c``) or a non-empty list of strings; None if neither."""
    if isinstance(value, str) and value.strip():
        return ("sh", "-c", value)
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value) and value[0]:
        return tuple(value)
    return None


def _task(table: Mapping[str, Any], index: int, source: str, base_dir: Path | None) -> Task:
    name = table.get("name")
    if name is None:
        raise ConfigError(f"{source}: task #{index} has no name", hint='add name = "..." to every [[task]]')
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ConfigError(
            f"{source}: task #{index} name {name!r} is not a simple name",
            hint="use letters, digits, '-', '_' and '.', e.g. name = \"tekton\"",
        )
    where = f"task {name!r}"
    unknown = sorted(set(table) - set(_TASK_KEYS))
    if unknown:
        raise ConfigError(
            f"{source}: {where} has unknown key {unknown[0]!r}", hint=f"known keys: {', '.join(_TASK_KEYS)}"
        )
    if "run" not in table:
        raise ConfigError(f"{source}: {where} has no run command", hint='add run = "..." or run = ["cmd", "arg"]')
    run = _command(table["run"])
    if run is None:
        raise ConfigError(
            f"{source}: {where} run must be a command string or a non-empty list of strings",
            hint='e.g. run = ["kubectl", "apply", "-f", "tekton.yaml"] or run = "make deploy"',
        )
    needs = table.get("needs", [])
    if isinstance(needs, str):
        needs = [needs]
    if not isinstance(needs, list) or not all(isinstance(n, str) for n in needs):
        raise ConfigError(f"{source}: {where} needs must be a list of task names", hint='e.g. needs = ["kind"]')
    timeout = table.get("timeout_s")
    if (
        timeout is not None
        and timeout != "auto"
        and (isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0)
    ):
        raise ConfigError(
            f'{source}: {where} timeout_s must be a positive number of seconds or "auto"',
            hint='e.g. timeout_s = 300, or timeout_s = "auto" with --timeouts recommendations.json',
        )
    raw_diagnose = table.get("diagnose", [])
    if isinstance(raw_diagnose, str):
        raw_diagnose = [raw_diagnose]
    diagnose = [_command(d) for d in raw_diagnose] if isinstance(raw_diagnose, list) else [None]
    if not all(diagnose):
        raise ConfigError(
            f"{source}: {where} diagnose must be a list of commands (strings or lists of strings)",
            hint='e.g. diagnose = ["kubectl get pods -A -o wide"]',
        )
    retries = table.get("retries", 0)
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ConfigError(f"{source}: {where} retries must be a whole number >= 0", hint="e.g. retries = 1")
    env = table.get("env", {})
    if not isinstance(env, dict) or not all(
        isinstance(v, str | int | float) and not isinstance(v, bool) for v in env.values()
    ):
        raise ConfigError(
            f"{source}: {where} env must be a table of strings", hint='e.g. env = { KUBECONFIG = "/tmp/kubeconfig" }'
        )
    cwd = table.get("cwd")
    if cwd is not None and (not isinstance(cwd, str) or not cwd):
        raise ConfigError(
            f"{source}: {where} cwd must be a path string", hint='e.g. cwd = "deploy" (relative to the plan)'
        )
    cwd_path = None
    if cwd is not None:
        cwd_path = Path(cwd).expanduser()
        if not cwd_path.is_absolute() and base_dir is not None:
            cwd_path = base_dir / cwd_path
    return Task(
        name=name,
        run=run,
        needs=tuple(dict.fromkeys(needs)),
        timeout_s=timeout if timeout in (None, "auto") else float(timeout),
        diagnose=tuple(d for d in diagnose if d is not None),
        retries=retries,
        env=tuple((str(k), str(v)) for k, v in env.items()),
        cwd=cwd_path,
    )


def _find_cycle(tasks: Sequence[Task]) -> list[str] | None:
    """A dependency cycle as a path that ends where it starts (``a -> b -> a``), or None."""
    needs = {t.name: t.needs for t in tasks}
    state: dict[str, int] = {}  # 1 on the current path, 2 finished
    path: list[str] = []

    def visit(name: str) -> list[str] | None:
        state[name] = 1
        path.append(name)
        for need in needs[name]:
            if state.get(need) == 1:
                return [*path[path.index(need) :], need]
            if need not in state:
                found = visit(need)
                if found:
                    return found
        path.pop()
        state[name] = 2
        return None

    for task in tasks:
        if task.name not in state:
            found = visit(task.name)
            if found:
                return found
    return None


def display(command: Command) -> str:
    """A command as a person would type it."""
    if len(command) == 3 and command[:2] == ("sh", "-c"):
        return command[2]
    return shlex.join(command)


# -- limits ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Limit:
    """The time limit of one task and where it came from: ``plan``, ``recommend`` or ``default``."""

    seconds: float
    source: str
    note: str | None = None


def load_recommendations(path: Path) -> list[dict[str, Any]]:
    """The ``recommendations`` of a file written by ``we-advisor recommend --format json``."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(
            f"timeouts file {path} does not exist",
            hint="write one with `we-advisor recommend --format json --output FILE.json`",
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(
            f"{path} is not valid JSON: {exc}", hint="pass the output of `we-advisor recommend --format json`"
        ) from None
    items = data.get("recommendations") if isinstance(data, dict) else None
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise InputError(
            f"{path} is not a recommendations file",
            hint="expected {generated_at, quantile, recommendations: [...]} from `we-advisor recommend --format json`",
        )
    return items


def resolve_limits(
    plan: Plan,
    *,
    recommendations: Sequence[Mapping[str, Any]] | None = None,
    default_timeout_s: float | None = None,
) -> dict[str, Limit]:
    """Each task's limit: its own ``timeout_s``; for ``"auto"`` the recommendation for the unit whose
    phase is the task's name (preferring this plan's bootstrap phases); else the default."""
    if default_timeout_s is not None and default_timeout_s <= 0:
        raise ConfigError(f"--default-timeout {default_timeout_s:g} must be positive", hint="seconds, e.g. 600")
    default = default_timeout_s or plan.default_timeout_s or DEFAULT_TIMEOUT_S
    limits: dict[str, Limit] = {}
    for task in plan.tasks:
        if isinstance(task.timeout_s, float):
            limits[task.name] = Limit(task.timeout_s, "plan")
        elif task.timeout_s is None:
            limits[task.name] = Limit(default, "default")
        elif recommendations is None:
            limits[task.name] = Limit(default, "default", "auto: no --timeouts file")
        else:
            found = _recommendation(recommendations, plan.name, task.name)
            if found is None:
                limits[task.name] = Limit(default, "default", "auto: no recommendation")
            else:
                limits[task.name] = Limit(found, "recommend")
    return limits


def _recommendation(items: Sequence[Mapping[str, Any]], plan: str, task: str) -> float | None:
    matches = []
    for item in items:
        value = item.get("recommended_timeout_s")
        if item.get("phase") != task or isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            continue
        rank = (item.get("workflow") == plan, item.get("job") == BOOTSTRAP_JOB, item.get("scope") == "phase")
        matches.append((rank, float(value)))
    if not matches:
        return None
    best = max(m[0] for m in matches)
    return next(v for r, v in matches if r == best)


# -- events ----------------------------------------------------------------------------------


class _EventLog:
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


# -- processes -------------------------------------------------------------------------------


def _signal_group(pgid: int, sig: int) -> bool:
    """Send ``sig`` to a process group; False when the group no longer exists."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _group_alive(pgid: int) -> bool:
    """Whether any process of the group still runs (zombies nobody reaps do not count)."""
    if not _signal_group(pgid, 0):
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


def _wait_group_gone(pgid: int, until: float) -> bool:
    while _group_alive(pgid):
        if time.monotonic() >= until:
            return False
        time.sleep(0.01)
    return True


class _Child:
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
        if not force and _signal_group(self.pgid, signal.SIGTERM):
            until = time.monotonic() + grace
            self.exited.wait(grace)
            if _wait_group_gone(self.pgid, until):
                return
        self.kill()

    def kill(self) -> None:
        _signal_group(self.pgid, signal.SIGKILL)
        self.exited.wait(5.0)
        _wait_group_gone(self.pgid, time.monotonic() + 2.0)

    def finish(self, grace: float) -> None:
        """After the command exited: end what it left running in its group, then drain its output."""
        self.exited.wait()
        if _group_alive(self.pgid):
            self.end(grace)
        self._reader.join(timeout=grace + 1.0)


# -- running ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Attempt:
    number: int
    outcome: str  # success | failure | timeout | cancelled
    started_at: datetime
    duration_s: float
    returncode: int | None
    reason: str | None = None


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
        self._child: _Child | None = None
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
        self.stage, self.stage_t0 = "running", time.monotonic()
        self.next_tick = self.stage_t0 + self.runner.tick_s
        started = datetime.now(UTC)
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
            child = _Child(argv, env=self._env, cwd=self.task.cwd, on_line=on_line, wake=self._wake)
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

    def _watch(self, child: _Child, deadline: float, limit: float, grace: float) -> tuple[str, str | None]:
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
        events: _EventLog,
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
    log = _EventLog(events, plan.name, execution)
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
    plan = load_plan(plan_path)
    recommendations = load_recommendations(timeouts) if timeouts is not None else None
    limits = resolve_limits(plan, recommendations=recommendations, default_timeout_s=default_timeout_s)
    return run_plan(plan, limits, events=events, fail_fast=fail_fast, tick_s=tick_s, out=out, err=err)


# -- forecasting -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TaskForecast:
    name: str
    needs: tuple[str, ...]
    samples: int
    censored: int
    p50_s: float
    p95_s: float
    limit: Limit
    data: str  # "history" or "no data" (the limit stands in for the duration: an upper bound)
    tail_mass: float  # share of the distribution beyond the last observed finish (censored tail)


@dataclass(frozen=True, slots=True)
class Forecast:
    plan: str
    runs: int
    tasks: tuple[TaskForecast, ...]
    critical_path: tuple[str, ...]
    critical_path_s: float
    sequential_p50_s: float
    sequential_p95_s: float
    parallel_p50_s: float
    parallel_p95_s: float
    notes: tuple[str, ...]

    @property
    def savings_p50_s(self) -> float:
        return self.sequential_p50_s - self.parallel_p50_s


# Outcomes that measure how long a task takes to succeed: finished ones, and censored ones (it
# took at least that long). A failure says how long it took to fail, which predicts nothing here.
_FORECAST_OUTCOMES = ("success", "timeout", "cancelled", "runner_lost")


def sample_durations(
    durations: Sequence[float] | NDArray[np.float64],
    censored: Sequence[bool] | NDArray[np.bool_],
    limit: float,
    runs: int,
    rng: np.random.Generator,
) -> tuple[NDArray[np.float64], float]:
    """Draw ``runs`` durations from the Kaplan–Meier curve; returns them and the censored tail mass.

    KM leaves mass S(t_max) > 0 when the slowest observations were censored: the data only say
    "longer than t_max". That tail is drawn uniformly between t_max and the task's limit (the runner
    ends a task there), or placed at t_max (a lower bound) when the limit is not above it.
    """
    times, survival = km_curve(durations, censored)
    cdf = 1.0 - survival
    u = rng.random(runs)
    index = np.searchsorted(cdf, u, side="right")
    inside = index < times.size
    out = np.empty(runs)
    out[inside] = times[index[inside]]
    t_max = float(times[-1])
    tail = ~inside
    if limit > t_max:
        out[tail] = rng.uniform(t_max, limit, int(tail.sum()))
    else:
        out[tail] = t_max
    return out, float(survival[-1])


def forecast_plan(
    plan: Plan,
    frame: pd.DataFrame,
    limits: Mapping[str, Limit] | None = None,
    *,
    runs: int = 2000,
    seed: int = 0,
) -> Forecast:
    """Predicted wall time (p50, p95), sequential and in parallel, by Monte Carlo over each task's
    measured duration distribution; the critical path on median durations."""
    if runs < 1:
        raise ConfigError(f"--runs {runs} must be at least 1", hint="e.g. --runs 2000")
    limits = limits if limits is not None else resolve_limits(plan)
    rng = np.random.default_rng(seed)
    if not frame.empty:
        frame = frame[
            (frame["scope"] == "phase")
            & (frame["workflow"] == plan.name)
            & (frame["job"] == BOOTSTRAP_JOB)
            & frame["outcome"].isin(_FORECAST_OUTCOMES)
        ]
    draws: dict[str, NDArray[np.float64]] = {}
    tasks: list[TaskForecast] = []
    notes: list[str] = []
    for task in plan.tasks:
        limit = limits[task.name]
        rows = frame[frame["phase"] == task.name] if not frame.empty else frame
        if rows.empty:
            sample, tail, data = np.full(runs, limit.seconds), 0.0, "no data"
        else:
            durations = rows["duration_s"].to_numpy(dtype=float)
            censored = rows["censored"].to_numpy(dtype=bool)
            sample, tail = sample_durations(durations, censored, limit.seconds, runs, rng)
            data = "history"
            if tail > 0:
                t_max = float(durations.max())
                where = (
                    f"drawn uniformly between {plain_seconds(t_max)} s and its limit {plain_seconds(limit.seconds)} s"
                    if limit.seconds > t_max
                    else f"placed at {plain_seconds(t_max)} s (a lower bound)"
                )
                notes.append(
                    f"{task.name}: {tail:.0%} of its distribution lies beyond the last observed finish; {where}"
                )
        draws[task.name] = sample
        tasks.append(
            TaskForecast(
                name=task.name,
                needs=task.needs,
                samples=len(rows),
                censored=int(rows["censored"].sum()) if not rows.empty else 0,
                p50_s=float(np.quantile(sample, 0.5)),
                p95_s=float(np.quantile(sample, 0.95)),
                limit=limit,
                data=data,
                tail_mass=tail,
            )
        )
    missing = [t.name for t in tasks if t.data == "no data"]
    if missing:
        notes.append(
            f"no history for {', '.join(missing)}: the limit stands in for the duration (an upper bound); "
            "run the plan with --events and ingest the file"
        )
    order = plan.topological()
    finish: dict[str, NDArray[np.float64]] = {}
    for task in order:
        start = np.max([finish[n] for n in task.needs], axis=0) if task.needs else np.zeros(runs)
        finish[task.name] = start + draws[task.name]
    parallel = np.max(list(finish.values()), axis=0)
    sequential = np.sum(list(draws.values()), axis=0)
    path, length = _critical_path(order, {t.name: t.p50_s for t in tasks})
    return Forecast(
        plan=plan.name,
        runs=runs,
        tasks=tuple(tasks),
        critical_path=tuple(path),
        critical_path_s=length,
        sequential_p50_s=float(np.quantile(sequential, 0.5)),
        sequential_p95_s=float(np.quantile(sequential, 0.95)),
        parallel_p50_s=float(np.quantile(parallel, 0.5)),
        parallel_p95_s=float(np.quantile(parallel, 0.95)),
        notes=tuple(notes),
    )


def _critical_path(order: Sequence[Task], duration: Mapping[str, float]) -> tuple[list[str], float]:
    """The longest chain of needs by ``duration`` (``order`` is topological)."""
    finish: dict[str, float] = {}
    via: dict[str, str | None] = {}
    for task in order:
        before = max(task.needs, key=lambda n: finish[n], default=None)
        finish[task.name] = (finish[before] if before else 0.0) + duration[task.name]
        via[task.name] = before
    last = max(finish, key=lambda n: finish[n])
    length = finish[last]
    path = [last]
    while (before := via[path[-1]]) is not None:
        path.append(before)
    return path[::-1], length


def forecast_file(
    plan_path: Path,
    *,
    store_path: Path,
    rules: Sequence[PhaseRule] = (),
    timeouts: Path | None = None,
    default_timeout_s: float | None = None,
    runs: int = 2000,
) -> Forecast:
    """``we-advisor bootstrap plan``: the plan's history from the store (if there is one), forecast."""
    plan = load_plan(plan_path)
    recommendations = load_recommendations(timeouts) if timeouts is not None else None
    limits = resolve_limits(plan, recommendations=recommendations, default_timeout_s=default_timeout_s)
    if not store_path.exists():
        forecast = forecast_plan(plan, pd.DataFrame(), limits, runs=runs)
        note = f"no store at {store_path}: no history at all"
        return replace(forecast, notes=(note, *forecast.notes))
    from analyzer.parse.reparse import reparse

    with Store(store_path, create=False) as store:
        reparse(store, rules)
        frame = store.observations_frame(workflow=plan.name)
    return forecast_plan(plan, frame, limits, runs=runs)


def forecast_dict(forecast: Forecast) -> dict[str, Any]:
    """The JSON shape of ``bootstrap plan --format json``."""
    return {
        "plan": forecast.plan,
        "runs": forecast.runs,
        "critical_path": list(forecast.critical_path),
        "critical_path_s": round(forecast.critical_path_s, 3),
        "sequential": {"p50_s": round(forecast.sequential_p50_s, 3), "p95_s": round(forecast.sequential_p95_s, 3)},
        "parallel": {"p50_s": round(forecast.parallel_p50_s, 3), "p95_s": round(forecast.parallel_p95_s, 3)},
        "savings_p50_s": round(forecast.savings_p50_s, 3),
        "tasks": [
            {
                "task": t.name,
                "needs": list(t.needs),
                "samples": t.samples,
                "censored": t.censored,
                "p50_s": round(t.p50_s, 3),
                "p95_s": round(t.p95_s, 3),
                "limit_s": t.limit.seconds,
                "limit_source": t.limit.source,
                "data": t.data,
                "tail_mass": round(t.tail_mass, 4),
            }
            for t in forecast.tasks
        ],
        "notes": list(forecast.notes),
    }


def render_forecast(forecast: Forecast) -> str:
    """The table of ``bootstrap plan``."""
    rows = [
        [
            t.name,
            ", ".join(t.needs) or "-",
            t.samples,
            t.censored,
            human_duration(t.p50_s),
            human_duration(t.p95_s),
            f"{human_duration(t.limit.seconds)} ({t.limit.source})",
            t.data,
        ]
        for t in forecast.tasks
    ]
    table = render_table(["task", "needs", "n", "cens", "p50", "p95", "limit", "data"], rows, right=[2, 3, 4, 5])
    saved = forecast.savings_p50_s
    share = f" ({saved / forecast.sequential_p50_s:.0%})" if forecast.sequential_p50_s > 0 else ""
    totals = render_table(
        ["wall time", "p50", "p95"],
        [
            ["sequential", human_duration(forecast.sequential_p50_s), human_duration(forecast.sequential_p95_s)],
            ["parallel", human_duration(forecast.parallel_p50_s), human_duration(forecast.parallel_p95_s)],
        ],
        right=[1, 2],
    )
    lines = [
        f"plan {forecast.plan}: {len(forecast.tasks)} task(s), {forecast.runs} Monte Carlo runs",
        table,
        "",
        f"critical path (median durations): {' -> '.join(forecast.critical_path)} = {human_duration(forecast.critical_path_s)}",
        "",
        totals,
        f"expected savings of running in parallel: {human_duration(saved)}{share} (p50)",
    ]
    lines += [f"note: {n}" for n in forecast.notes]
    return "\n".join(lines)
