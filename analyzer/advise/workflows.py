"""Current limits in GitHub Actions workflow YAML: job and step ``timeout-minutes``.

Pure: text in, frozen dataclasses out (ruamel.yaml, so positions in the text are known and a
patch can change one number without touching comments, quoting or layout).

- A job without ``timeout-minutes`` runs under GitHub's default of 360 minutes.
- A value written as an expression (``${{ matrix.timeout }}``) is reported as such; when it
  names a matrix variable it is resolved per matrix entry, but it is never overwritten.
- A value that comes through a YAML anchor (``&t 30`` / ``*t``, or a ``<<:`` merge) is shared
  with other places, so it is reported and not overwritten either.
- A job that calls a reusable workflow (``uses:``) cannot have ``timeout-minutes``.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analyzer.errors import InputError

DEFAULT_JOB_TIMEOUT_S = 360 * 60.0

_EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}", re.S)
_MATRIX_REF = re.compile(r"^matrix\.([A-Za-z_][\w-]*)$")
_NUMBER = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*$")


@dataclass(frozen=True, slots=True)
class TimeoutValue:
    """A ``timeout-minutes`` as written: a number, or an expression, and where it sits in the text.

    ``line``/``column`` (0-based) locate the value; they are None when the value is inherited
    through a ``<<:`` merge key. ``shared`` marks a value behind a YAML anchor or alias.
    """

    minutes: float | None
    expression: str | None
    line: int | None
    column: int | None
    shared: bool = False

    @property
    def seconds(self) -> float | None:
        return None if self.minutes is None else self.minutes * 60.0

    @property
    def patchable(self) -> bool:
        return self.minutes is not None and self.line is not None and not self.shared


@dataclass(frozen=True, slots=True)
class StepSpec:
    """One step of a job: the name GitHub shows for it and its ``timeout-minutes``, if any."""

    index: int
    name: str
    named: bool  # an explicit ``name:`` (else derived from ``uses:``/``run:``)
    timeout: TimeoutValue | None


@dataclass(frozen=True, slots=True)
class MatrixEntry:
    """One combination of a job's matrix and the job name GitHub gives it."""

    values: Mapping[str, Any]
    name: str


@dataclass(frozen=True, slots=True)
class JobSpec:
    job_id: str
    name: str  # the ``name:`` template, or the job id
    timeout: TimeoutValue | None
    steps: tuple[StepSpec, ...]
    matrix: tuple[MatrixEntry, ...] = ()
    matrix_dynamic: bool = False  # the matrix comes from an expression: entries unknown
    reusable: bool = False  # ``uses:`` a reusable workflow: no timeout-minutes of its own
    key_line: int = 0
    insert_line: int | None = None  # where a new ``timeout-minutes`` line would go
    insert_indent: int = 0

    def matches(self, job_name: str) -> bool:
        return self.entry_for(job_name) is not None or _name_pattern(self.name).fullmatch(job_name) is not None

    def entry_for(self, job_name: str) -> MatrixEntry | None:
        for entry in self.matrix:
            if entry.name == job_name:
                return entry
        return None

    def step_for(self, step_name: str) -> StepSpec | None:
        for step in self.steps:
            if step.name == step_name:
                return step
        for step in self.steps:
            if _name_pattern(step.name).fullmatch(step_name) or (not step.named and step_name.startswith(step.name)):
                return step
        return None


@dataclass(frozen=True, slots=True)
class WorkflowSpec:
    path: str
    name: str  # ``name:``, else the file path (as GitHub shows it)
    jobs: tuple[JobSpec, ...]
    text: str = field(repr=False)

    def job_for(self, job_name: str) -> JobSpec | None:
        exact = [j for j in self.jobs if j.entry_for(job_name) or j.name == job_name or j.job_id == job_name]
        if exact:
            return exact[0]
        return next((j for j in self.jobs if j.matches(job_name)), None)


@dataclass(frozen=True, slots=True)
class CurrentTimeout:
    """A unit's limit according to the workflow file: seconds (or None), source, expression, notes."""

    timeout_s: float | None
    source: str | None  # "workflow", "workflow-matrix", "default", "expression", or None (no limit)
    expression: str | None = None
    note: str | None = None


def parse_workflow(text: str, path: str = "<workflow>") -> WorkflowSpec:
    """Read the jobs, steps and ``timeout-minutes`` of one workflow file (kept in ``analyzer.cache``: the
    round-trip parse takes ~0.1 s for 1,500 lines; a file that does not parse is not kept)."""
    from analyzer import cache

    code = _deriving_code()
    name = cache.key("workflow", code, path, text) if code is not None else None
    kept = cache.load("workflow", name, _KEPT) if name is not None else None
    if isinstance(kept, WorkflowSpec) and kept.path == path and kept.text == text:
        return kept
    spec = _parse_workflow(text, path)
    if name is not None:
        cache.save("workflow", name, spec)
    return spec


# what a kept WorkflowSpec is built of (its matrix values are plain, or a YAML date)
_KEPT = {
    __name__: {"WorkflowSpec", "JobSpec", "StepSpec", "TimeoutValue", "MatrixEntry"},
    "datetime": {"date", "datetime", "timedelta", "timezone"},
    "ruamel.yaml.timestamp": {"TimeStamp"},
}


@functools.cache
def _deriving_code() -> bytes | None:
    """What a parsed workflow depends on beside its text and path: this module's source and ruamel.yaml's
    (its ``__init__`` holds its version); None when either cannot be read (then nothing is kept)."""
    import importlib.util

    try:
        found = importlib.util.find_spec("ruamel.yaml")
        if found is None or found.origin is None:
            return None
        return Path(__file__).read_bytes() + b"\0" + Path(found.origin).read_bytes()
    except (OSError, ImportError, ValueError):
        return None


def _parse_workflow(text: str, path: str) -> WorkflowSpec:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    yaml = YAML(typ="rt")
    try:
        doc = yaml.load(text)
    except YAMLError as exc:
        raise InputError(f"{path} is not valid YAML: {exc}".splitlines()[0], hint="check the workflow file") from None
    if not isinstance(doc, Mapping):
        raise InputError(f"{path} is not a workflow (no top-level mapping)", hint="pass a .github/workflows/*.yml file")
    raw_jobs = doc.get("jobs")
    jobs: list[JobSpec] = []
    if isinstance(raw_jobs, Mapping):
        for job_id, body in raw_jobs.items():
            if isinstance(body, Mapping):
                jobs.append(_job_spec(str(job_id), body, raw_jobs, text))
    name = doc.get("name")
    return WorkflowSpec(path=path, name=str(name) if isinstance(name, str) and name else path, jobs=tuple(jobs), text=text)


def job_timeout(spec: JobSpec | None, job_name: str) -> CurrentTimeout:
    """The job's current limit: its ``timeout-minutes``, resolved per matrix entry, or the default."""
    if spec is None:
        return CurrentTimeout(None, None, note="job not found in the workflow file")
    if spec.reusable:
        return CurrentTimeout(None, None, note="calls a reusable workflow: the limits are in that workflow")
    if spec.timeout is None:
        return CurrentTimeout(DEFAULT_JOB_TIMEOUT_S, "default", note="no timeout-minutes: GitHub's default of 360 minutes")
    return _resolve(spec.timeout, spec.entry_for(job_name), "workflow")


def step_timeout(spec: JobSpec | None, job_name: str, step_name: str) -> CurrentTimeout:
    """A step's own ``timeout-minutes`` (None when it has none: only its job's limit applies)."""
    if spec is None:
        return CurrentTimeout(None, None)
    step = spec.step_for(step_name)
    if step is None or step.timeout is None:
        return CurrentTimeout(None, None)
    return _resolve(step.timeout, spec.entry_for(job_name), "workflow")


def matrix_values(spec: JobSpec, timeout: TimeoutValue) -> list[tuple[MatrixEntry, float | None]]:
    """For a ``${{ matrix.X }}`` timeout: the minutes of each matrix entry."""
    out: list[tuple[MatrixEntry, float | None]] = []
    for entry in spec.matrix:
        resolved = _resolve(timeout, entry, "workflow")
        out.append((entry, None if resolved.timeout_s is None else resolved.timeout_s / 60.0))
    return out


def find_workflow(specs: Iterable[WorkflowSpec], workflow_name: str) -> WorkflowSpec | None:
    """The workflow file a run's workflow name refers to (by ``name:``, path or file stem)."""
    candidates = list(specs)
    for spec in candidates:
        if spec.name == workflow_name:
            return spec
    for spec in candidates:
        stem = spec.path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
        if workflow_name in (spec.path, stem) or spec.path.endswith("/" + workflow_name):
            return spec
    return None


# -- internals ---------------------------------------------------------------------------------


def _resolve(value: TimeoutValue, entry: MatrixEntry | None, source: str) -> CurrentTimeout:
    if value.minutes is not None:
        return CurrentTimeout(value.minutes * 60.0, source)
    expression = value.expression or ""
    inner = _EXPRESSION.fullmatch(expression.strip())
    ref = _MATRIX_REF.match(inner.group(1)) if inner else None
    if ref and entry is not None:
        number = _as_minutes(entry.values.get(ref.group(1)))
        if number is not None:
            return CurrentTimeout(number * 60.0, "workflow-matrix", expression=expression)
    return CurrentTimeout(None, "expression", expression=expression, note=f"timeout-minutes is an expression: {expression}")


def _as_minutes(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        match = _NUMBER.match(value)
        return float(match.group(1)) if match else None
    return None


def _timeout_value(body: Any, key: str = "timeout-minutes") -> TimeoutValue | None:
    if key not in body:
        return None
    value = body[key]
    try:
        line, column = body.lc.value(key)
    except (KeyError, AttributeError, TypeError):
        line, column = None, None  # inherited through a merge key
    anchor = getattr(getattr(value, "anchor", None), "value", None)
    shared = anchor is not None or line is None
    minutes = _as_minutes(value)
    expression = None
    if minutes is None:
        expression = str(value)
    return TimeoutValue(minutes, expression, line, column, shared)


def _job_spec(job_id: str, body: Any, parent: Any, text: str) -> JobSpec:
    name_value = body.get("name")
    name = str(name_value) if isinstance(name_value, str) and name_value else job_id
    steps: list[StepSpec] = []
    raw_steps = body.get("steps")
    if isinstance(raw_steps, Sequence) and not isinstance(raw_steps, str):
        for index, step in enumerate(raw_steps):
            if isinstance(step, Mapping):
                step_name, named = _step_name(step)
                steps.append(StepSpec(index, step_name, named, _timeout_value(step)))
    entries, dynamic = _matrix_entries(body.get("strategy"))
    matrix = tuple(MatrixEntry(values, _entry_name(job_id, name_value, values)) for values in entries)
    insert_line, indent = _insert_point(body, text)
    try:
        key_line = int(parent.lc.key(job_id)[0])
    except (KeyError, AttributeError, TypeError):
        key_line = 0
    return JobSpec(
        job_id=job_id,
        name=name,
        timeout=_timeout_value(body),
        steps=tuple(steps),
        matrix=matrix,
        matrix_dynamic=dynamic,
        reusable=isinstance(body.get("uses"), str),
        key_line=key_line,
        insert_line=insert_line,
        insert_indent=indent,
    )


def _step_name(step: Mapping[str, Any]) -> tuple[str, bool]:
    name = step.get("name")
    if isinstance(name, str) and name.strip():
        return name.strip(), True
    uses = step.get("uses")
    if isinstance(uses, str):
        return f"Run {uses.strip()}", False
    run = step.get("run")
    if isinstance(run, str):
        first = next((line.strip() for line in run.splitlines() if line.strip()), "")
        return f"Run {first}", False
    return "", False


def _matrix_entries(strategy: object) -> tuple[list[dict[str, Any]], bool]:
    """Expand a ``strategy.matrix`` as GitHub does: product, minus ``exclude``, plus ``include``."""
    if not isinstance(strategy, Mapping):
        return [], False
    matrix = strategy.get("matrix")
    if matrix is None:
        return [], False
    if not isinstance(matrix, Mapping):
        return [], True  # e.g. matrix: ${{ fromJSON(needs.setup.outputs.matrix) }}
    axes: dict[str, list[Any]] = {}
    for key, values in matrix.items():
        if key in ("include", "exclude"):
            continue
        if not isinstance(values, Sequence) or isinstance(values, str):
            return [], True
        axes[str(key)] = [_plain(v) for v in values]
    combos = [dict(zip(axes, combo, strict=True)) for combo in itertools.product(*axes.values())] if axes else []
    for rule in _rules(matrix.get("exclude")):
        combos = [c for c in combos if not all(c.get(k) == v for k, v in rule.items())]
    # an include entry extends every combination whose original values it does not overwrite (its
    # other keys may overwrite values added by earlier entries); if it extends none, it is a new one
    for rule in _rules(matrix.get("include")):
        original = {k: v for k, v in rule.items() if k in axes}
        targets = [c for c in combos if all(c.get(k) == v for k, v in original.items())] if axes else []
        if targets:
            for combo in targets:
                combo.update(rule)
        else:
            combos.append(dict(rule))
    return combos, False


def _rules(value: object) -> list[dict[str, Any]]:
    if not isinstance(value, Sequence) or isinstance(value, str):
        return []
    return [{str(k): _plain(v) for k, v in item.items()} for item in value if isinstance(item, Mapping)]


def _plain(value: object) -> Any:
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, Sequence):
        return [_plain(v) for v in value]
    return value


def _entry_name(job_id: str, name_value: object, values: Mapping[str, Any]) -> str:
    """The job name GitHub shows for one matrix entry."""
    if isinstance(name_value, str) and name_value:
        def substitute(match: re.Match[str]) -> str:
            ref = _MATRIX_REF.match(match.group(1))
            if ref and ref.group(1) in values:
                return _show(values[ref.group(1)])
            return match.group(0)

        return _EXPRESSION.sub(substitute, name_value)
    shown = ", ".join(_show(v) for v in values.values())
    return f"{job_id} ({shown})" if shown else job_id


def _show(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, Mapping | list):
        return "Object" if isinstance(value, Mapping) else "Array"
    return str(value)


def _name_pattern(template: str) -> re.Pattern[str]:
    """A job or step name template as a regex: each ``${{ … }}`` matches anything, plus an optional matrix suffix."""
    parts = _EXPRESSION.split(template)
    regex = "".join(re.escape(p) if i % 2 == 0 else ".*?" for i, p in enumerate(parts))
    return re.compile(regex + r"(?: \(.*\))?", re.S)


def _insert_point(body: Any, text: str) -> tuple[int | None, int]:
    """Where a job's new ``timeout-minutes`` line goes: after a one-line ``runs-on``, else before the first key."""
    try:
        keys = list(body.keys())
        own = [k for k in keys if _has_own_position(body, k)]
        if not own:
            return None, 0
        first_line, first_col = body.lc.key(own[0])
        if body.fa.flow_style():
            return None, 0  # a flow mapping: {runs-on: x}
    except (AttributeError, KeyError, TypeError):
        return None, 0
    lines = text.splitlines()
    if "runs-on" in own:
        line, _ = body.lc.key("runs-on")
        value_line, _ = body.lc.value("runs-on")
        value = body["runs-on"]
        if isinstance(value, str) and value_line == line and line + 1 <= len(lines):
            return int(line) + 1, int(first_col)
    if int(first_line) < len(lines) and lines[int(first_line)][: int(first_col)].strip():
        return None, 0  # the first key shares its line with something else
    return int(first_line), int(first_col)


def _has_own_position(body: Any, key: object) -> bool:
    try:
        body.lc.key(key)
    except (KeyError, AttributeError, TypeError):
        return False
    return True


def choose_specs(
    local: Sequence[tuple[str, str]],
    stored: Iterable[tuple[str, str, str, str]],
    newest: Mapping[str, str],
    *,
    on_warning: Callable[[str], None] | None = None,
) -> list[WorkflowSpec]:
    """The workflow files that say the current ``timeout-minutes``: ``local`` ones (``(path, text)`` of a
    checkout) first, then the ``stored`` ones (``(repo, path, ref, text)``) of other workflows, each
    path at the commit ``newest`` names for it (its newest run's), else the last one stored."""
    specs: list[WorkflowSpec] = []
    for path, text in local:
        try:
            specs.append(parse_workflow(text, path))
        except InputError as exc:
            if on_warning:
                on_warning(exc.message)
    local_names = {s.name for s in specs}
    chosen: dict[str, tuple[str, str]] = {}
    for _repo, path, ref, text in stored:
        if path not in chosen or ref == newest.get(path):
            chosen[path] = (ref, text)
    for path, (_ref, text) in sorted(chosen.items()):
        try:
            spec = parse_workflow(text, path)
        except InputError as exc:
            if on_warning:
                on_warning(exc.message)
            continue
        if spec.name not in local_names:
            specs.append(spec)
    return specs
