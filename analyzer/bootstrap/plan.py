"""A setup plan: a TOML file of ``[[task]]`` entries (``name``, ``run``, ``needs``, ``timeout_s``,
``diagnose``, ``retries``, ``env``, ``cwd``) forming a DAG, and each task's time limit.

A task's limit is its own ``timeout_s``; ``timeout_s = "auto"`` takes the recommendation for the
unit whose phase is the task's name from a ``recommend --format json`` file; else the default.
"""

from __future__ import annotations

import difflib
import json
import re
import shlex
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from analyzer.errors import ConfigError, InputError
from analyzer.parse.events import BOOTSTRAP_JOB

DEFAULT_TIMEOUT_S = 600.0
DEFAULT_GRACE_S = 5.0
DEFAULT_DIAGNOSE_TIMEOUT_S = 60.0

_PLAN_KEYS = ("name", "default_timeout_s", "grace_s", "diagnose_timeout_s", "task")
_TASK_KEYS = ("name", "run", "needs", "timeout_s", "diagnose", "retries", "env", "cwd")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

Command = tuple[str, ...]


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
    needs = _as_list(table.get("needs", []))
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
    raw_diagnose = _as_list(table.get("diagnose", []))
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


def _as_list(value: Any) -> Any:
    """A single string where a list is allowed stands for a list of one."""
    return [value] if isinstance(value, str) else value


def display(command: Command) -> str:
    """A command as a person would type it."""
    if len(command) == 3 and command[:2] == ("sh", "-c"):
        return command[2]
    return shlex.join(command)


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


def load_plan_and_limits(
    path: Path, *, timeouts: Path | None = None, default_timeout_s: float | None = None
) -> tuple[Plan, dict[str, Limit]]:
    """The plan at ``path`` and its tasks' limits (``timeouts``: a ``recommend --format json`` file)."""
    plan = load_plan(path)
    recommendations = load_recommendations(timeouts) if timeouts is not None else None
    return plan, resolve_limits(plan, recommendations=recommendations, default_timeout_s=default_timeout_s)
