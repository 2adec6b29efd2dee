"""Patches: rewrite the ``timeout-minutes`` of a checkout's workflow YAML and the source limits named
by ``[[timeouts]]`` rules, changing only the numbers (quotes, comments and layout stay).

``plan_*`` are pure (text in, edits out); ``read_workflow_dir``, ``read_text_exact`` and
``patch_checkout`` read and write the checkout.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from analyzer.advise.policy import CHANGE, MINUTE_SCOPES
from analyzer.advise.result import Recommendation, RecommendResult
from analyzer.advise.workflows import JobSpec, TimeoutValue, WorkflowSpec, find_workflow, parse_workflow
from analyzer.config import TimeoutRule
from analyzer.errors import InputError
from analyzer.formatting import human_duration
from analyzer.records import UnitKey


@dataclass(frozen=True, slots=True)
class FileEdit:
    path: str
    before: str
    after: str

    def diff(self) -> str:
        return "".join(
            difflib.unified_diff(
                self.before.splitlines(keepends=True), self.after.splitlines(keepends=True),
                fromfile=f"a/{self.path}", tofile=f"b/{self.path}",
            )
        )


@dataclass(frozen=True, slots=True)
class PatchPlan:
    edits: tuple[FileEdit, ...]
    notes: tuple[str, ...]

    def diff(self) -> str:
        return "".join(e.diff() for e in self.edits if e.before != e.after)

    def __add__(self, other: PatchPlan) -> PatchPlan:
        return PatchPlan(self.edits + other.edits, self.notes + other.notes)


_NUMBER_AT = re.compile(r"""(["']?)(\d+(?:\.\d+)?)(["']?)""")


def plan_workflow_patches(result: RecommendResult, workflows: Sequence[WorkflowSpec]) -> PatchPlan:
    """Rewrite job and step ``timeout-minutes`` that should change; add them to jobs under the default.

    Only the number changes (quotes, comments and layout stay); values written as expressions or
    shared through YAML anchors are reported with the recommendation per matrix entry instead.
    """
    notes: list[str] = []
    values: dict[tuple[str, int, int], list[tuple[int, Recommendation]]] = {}
    inserts: dict[tuple[str, int, int], list[tuple[int, Recommendation]]] = {}
    expressions: dict[tuple[str, str, str | None], list[Recommendation]] = {}
    for r in result.recommendations:
        if r.scope not in MINUTE_SCOPES or r.verdict not in CHANGE or r.recommended_timeout_s is None:
            continue
        spec = find_workflow(workflows, r.workflow)
        job = spec.job_for(r.job) if spec else None
        if spec is None or job is None:
            notes.append(f"{r.key.label()}: workflow file for {r.workflow!r} not found; set timeout-minutes: {_minutes(r)} by hand")
            continue
        value = job.timeout if r.scope == "job" else _step_value(job, r.step)
        minutes = _minutes(r)
        if value is None:
            if r.scope == "job" and r.current_source == "default" and job.insert_line is not None and not job.reusable:
                inserts.setdefault((spec.path, job.insert_line, job.insert_indent), []).append((minutes, r))
            else:
                notes.append(f"{r.key.label()}: no timeout-minutes to change in {spec.path}; recommended {minutes}")
        elif value.expression is not None:
            expressions.setdefault((spec.path, job.job_id, r.step), []).append(r)
        elif not value.patchable:
            notes.append(
                f"{r.key.label()}: timeout-minutes in {spec.path} comes through a YAML anchor or merge and is shared; "
                f"not changed (recommended {minutes})"
            )
        else:
            assert value.line is not None and value.column is not None
            values.setdefault((spec.path, value.line, value.column), []).append((minutes, r))
    for (path, job_id, step), recs in expressions.items():
        where = f"jobs.{job_id}" + (f" step {step!r}" if step else "")
        per_entry = ", ".join(f"{r.job} → {_minutes(r)}" for r in recs)
        notes.append(f"{path} {where}: timeout-minutes is {recs[0].expression}; not overwritten. Recommended per matrix entry: {per_entry}")
    texts = {spec.path: spec.text for spec in workflows}
    edits: list[FileEdit] = []
    for path in sorted({k[0] for k in values} | {k[0] for k in inserts}):
        lines = texts[path].splitlines(keepends=True)
        for (p, line, column), choices in sorted(values.items()):
            if p != path:
                continue
            minutes = max(m for m, _ in choices)
            if len({m for m, _ in choices}) > 1:
                notes.append(f"{path}:{line + 1}: one value serves {len(choices)} units; the largest recommendation ({minutes}) is used")
            new_line = _replace_number(lines[line], column, minutes)
            if new_line is None:
                notes.append(f"{path}:{line + 1}: could not find the number to change")
            else:
                lines[line] = new_line
        for (p, line, indent), choices in sorted(inserts.items(), reverse=True):
            if p != path:
                continue
            minutes = max(m for m, _ in choices)
            newline = "\r\n" if lines and lines[0].endswith("\r\n") else "\n"
            if line > 0 and line <= len(lines) and not lines[line - 1].endswith(("\n", "\r")):
                lines[line - 1] += newline
            lines.insert(line, " " * indent + f"timeout-minutes: {minutes}" + newline)
        edits.append(FileEdit(path, texts[path], "".join(lines)))
    return PatchPlan(tuple(edits), tuple(notes))


def plan_source_patches(
    result: RecommendResult, rules: Sequence[TimeoutRule], files: Mapping[str, str | None]
) -> PatchPlan:
    """Rewrite source limits declared by ``[[timeouts]]`` rules (the first group of ``pattern``).

    Only occurrences whose value equals the current limit are changed when the current limit is
    known, so one broad pattern (``--timeout=(\\d+)s``) does not rewrite unrelated waits.
    """
    notes: list[str] = []
    edited: dict[str, str] = {}
    for rule in rules:
        targets = [
            r for r in result.recommendations
            if r.verdict in CHANGE and r.recommended_timeout_s is not None and rule_matches(rule, r.key)
        ]
        if not targets:
            continue
        target = max(targets, key=lambda r: r.recommended_timeout_s or 0.0)
        text = edited.get(rule.file, files.get(rule.file))
        if text is None:
            notes.append(f"{rule.file}: not found under the patch directory ([[timeouts]] for {target.key.label()})")
            continue
        seconds = float(target.recommended_timeout_s or 0.0)
        new_value = _in_unit(seconds, rule.unit)
        current = target.current_timeout_s
        new_text, changed, skipped = _rewrite(text, re.compile(rule.pattern), rule.unit, current, new_value)
        if changed:
            edited[rule.file] = new_text
        if not changed:
            notes.append(f"{rule.file}: no occurrence of {rule.pattern!r} with the current value {human_duration(current)}")
        elif skipped:
            notes.append(f"{rule.file}: {skipped} occurrence(s) of {rule.pattern!r} with other values left alone")
    edits = tuple(FileEdit(path, files[path] or "", text) for path, text in sorted(edited.items()))
    return PatchPlan(edits, tuple(notes))


def _rewrite(
    text: str, pattern: re.Pattern[str], unit: str, current: float | None, new_value: str
) -> tuple[str, int, int]:
    """Replace group 1 of each match whose value is the current limit; count changed and skipped."""
    changed = skipped = 0
    scale = {"s": 1.0, "m": 60.0, "ms": 0.001}[unit]

    def swap(match: re.Match[str]) -> str:
        nonlocal changed, skipped
        try:
            value_s = float(match.group(1)) * scale
        except ValueError:
            skipped += 1
            return match.group(0)
        if current is not None and abs(value_s - current) > 0.5:
            skipped += 1
            return match.group(0)
        changed += 1
        offset = match.start(0)
        whole = match.group(0)
        return whole[: match.start(1) - offset] + new_value + whole[match.end(1) - offset :]

    return pattern.sub(swap, text), changed, skipped


def rule_matches(rule: TimeoutRule, r: UnitKey) -> bool:
    """Whether the ``[[timeouts]]`` rule names unit ``r``: its phase (and, when given, job and step
    regexes), else a step (step regex, optional job regex), else a job (job regex)."""
    if rule.phase is not None:
        if r.phase != rule.phase:
            return False
    elif rule.step is not None:
        if r.scope != "step" or r.step is None or not re.search(rule.step, r.step):
            return False
    elif rule.job is not None:
        if r.scope != "job":
            return False
    else:
        return False
    if rule.job is not None and not re.search(rule.job, r.job):
        return False
    return not (rule.step is not None and rule.phase is not None and (r.step is None or not re.search(rule.step, r.step)))


def _in_unit(seconds: float, unit: str) -> str:
    if unit == "m":
        return str(math.ceil(seconds / 60 - 1e-9))
    if unit == "ms":
        return str(round(seconds * 1000))
    return str(round(seconds)) if float(seconds).is_integer() else f"{seconds:g}"


def _minutes(r: Recommendation) -> int:
    return max(1, math.ceil((r.recommended_timeout_s or 60.0) / 60 - 1e-9))


def _step_value(job: JobSpec, step: str | None) -> TimeoutValue | None:
    found = job.step_for(step or "")
    return None if found is None else found.timeout


def _replace_number(line: str, column: int, minutes: int) -> str | None:
    match = _NUMBER_AT.match(line, column)
    if match is None or match.group(1) != match.group(3):
        return None
    return line[: match.start(2)] + str(minutes) + line[match.end(2) :]


# -- the checkout ------------------------------------------------------------------------------


def read_workflow_dir(directory: Path) -> list[tuple[str, str]]:
    """``(relative path, text)`` of the workflow YAML files under a checkout (or a folder of them)."""
    if not directory.is_dir():
        raise InputError(f"{directory} is not a directory", hint="pass a repository checkout to --patch")
    base = directory / ".github" / "workflows"
    folder = base if base.is_dir() else directory
    out = []
    for path in sorted([*folder.glob("*.yml"), *folder.glob("*.yaml")]):
        out.append((path.relative_to(directory).as_posix(), read_text_exact(path)))
    return out


def read_text_exact(path: Path) -> str:
    """A text file as it is, line endings included (so a patch changes only what it means to)."""
    try:
        with path.open(encoding="utf-8", newline="") as fh:
            return fh.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {path}: {exc}", hint="check the path and that it is UTF-8 text") from None


def patch_checkout(
    result: RecommendResult, directory: Path, rules: Sequence[TimeoutRule], *, write: bool = True
) -> PatchPlan:
    """Rewrite ``timeout-minutes`` under ``directory`` and the ``[[timeouts]]`` source limits.

    Returns the ``PatchPlan`` (its ``diff()`` is the unified diff); files are written only when
    ``write`` and only where something changed, each through a temporary file beside it.
    """
    specs = []
    notes: list[str] = []
    for path, text in read_workflow_dir(directory):
        try:
            specs.append(parse_workflow(text, path))
        except InputError as exc:
            notes.append(exc.message)
    sources: dict[str, str | None] = {}
    for rule in rules:
        candidate = directory / rule.file
        sources[rule.file] = read_text_exact(candidate) if candidate.is_file() else None
    plan = plan_workflow_patches(result, specs) + plan_source_patches(result, rules, sources)
    if write:
        for edit in plan.edits:
            if edit.after != edit.before:
                target = directory / edit.path
                temporary = target.with_name(target.name + ".we-advisor.tmp")
                with temporary.open("w", encoding="utf-8", newline="") as fh:
                    fh.write(edit.after)
                temporary.replace(target)
    return replace(plan, notes=plan.notes + tuple(notes)) if notes else plan
