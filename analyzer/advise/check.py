"""The timeout guard for pull requests: which limits a pull request changes, and the evidence on each.

Pure. ``find_changes`` reads the base and head text of the files a pull request changes: a
workflow's ``timeout-minutes`` (job and step; read by ``advise.workflows``, matrix expressions
resolved per entry) and the source limits the ``[[timeouts]]`` rules name (their ``pattern``'s
first group, the rules matched to units as ``recommend --patch`` matches them). Only limits that
existed before are weighed: a new job or a new workflow has no history yet. ``weigh_changes``
puts each changed unit's measured percentiles, the share of its runs the old and the new value
stop (with the data's interval) and the recommendation for the new value side by side.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import zip_longest

import numpy as np
import pandas as pd

from analyzer.advise.limits import CurrentLimit
from analyzer.advise.patch import rule_matches
from analyzer.advise.policy import MINUTE_SCOPES, Policy
from analyzer.advise.recommend import recommend_limits
from analyzer.advise.workflows import (
    DEFAULT_JOB_TIMEOUT_S,
    JobSpec,
    StepSpec,
    TimeoutValue,
    find_workflow,
    job_timeout,
    parse_workflow,
    step_timeout,
)
from analyzer.collect.pulls import ChangedFile
from analyzer.config import TimeoutRule
from analyzer.errors import InputError
from analyzer.model import DurationModel, keys_of
from analyzer.model.killrate import KillRate, kill_rates
from analyzer.records import UnitKey

WORKFLOW_DIR = ".github/workflows/"
_SCALE = {"s": 1.0, "m": 60.0, "ms": 0.001}


def is_workflow_path(path: str) -> bool:
    """A workflow file as GitHub finds them: ``.github/workflows/*.yml`` or ``*.yaml``."""
    return path.startswith(WORKFLOW_DIR) and path.endswith((".yml", ".yaml"))


@dataclass(frozen=True, slots=True)
class UnitLimit:
    """A measured unit a change applies to, with its limit before and after (None: none of its own)."""

    key: UnitKey
    before_s: float | None
    after_s: float | None


@dataclass(frozen=True, slots=True)
class LimitChange:
    """One limit a pull request changes, as written in the file, and the units it limits."""

    path: str
    line: int | None  # 1-based, in the head
    where: str  # jobs.e2e | jobs.e2e step 'Run tests' | [[timeouts]] phase 'tekton-wait'
    before: str
    after: str
    units: tuple[UnitLimit, ...]


@dataclass(frozen=True, slots=True)
class UnitEvidence:
    """What the history says about one unit under a change: its percentiles, the share of its runs
    each value stops, and the limit recommended when the new value is the one in force."""

    key: UnitKey
    before_s: float | None
    after_s: float | None
    samples: int = 0
    censored: int = 0
    p50_s: float | None = None
    p95_s: float | None = None
    p99_s: float | None = None
    stops_before: KillRate | None = None
    stops_after: KillRate | None = None
    recommended_s: float | None = None  # recommend's limit with the new value in force
    verdict: str | None = None  # recommend's verdict on the new value; None: no runs in the window
    evidence_s: float | None = None  # recommend's limit for the unit without one: what the data alone ask for


@dataclass(frozen=True, slots=True)
class WeighedChange:
    change: LimitChange
    units: tuple[UnitEvidence, ...]


@dataclass(frozen=True, slots=True)
class PullCheck:
    """``check --pr``: what the pull request changes and the evidence, with the window it rests on."""

    repo: str
    pr: int
    head_sha: str
    changes: tuple[WeighedChange, ...]
    files_read: int  # changed workflow and [[timeouts]] files, read at base and head
    files_changed: int  # every file the pull request changes
    window: tuple[datetime | None, datetime | None]
    runs: int  # job runs in the window (of the workflows weighed)
    quantile: float
    confidence: float


# -- what changes ---------------------------------------------------------------------------


def find_changes(
    files: Sequence[ChangedFile], rules: Sequence[TimeoutRule], keys: Sequence[UnitKey],
    *, on_warning: Callable[[str], None] | None = None,
) -> list[LimitChange]:  # fmt: skip
    """The limits ``files`` change (workflow ``timeout-minutes``, ``[[timeouts]]`` source limits), each
    with the ``keys`` (measured units) it limits. A workflow that fails to parse in the head is an error."""
    out: list[LimitChange] = []
    for f in files:
        if is_workflow_path(f.path):
            out += _workflow_changes(f, keys, on_warning)
        for rule in rules:
            if rule.file in (f.path, f.previous):
                out += _source_changes(f, rule, keys)
    return out


def _workflow_changes(f: ChangedFile, keys: Sequence[UnitKey], on_warning: Callable[[str], None] | None) -> list[LimitChange]:
    if f.after is None:
        return []  # removed: nothing left to limit
    try:
        head = parse_workflow(f.after, f.path)
    except InputError as exc:
        raise InputError(
            f"the pull request's head: {exc.message}",
            hint="fix the workflow file (GitHub cannot run it either); the check runs again on the next push",
        ) from None
    if f.before is None:
        return []  # a new workflow: no history to weigh its limits against
    try:
        base = parse_workflow(f.before, f.previous or f.path)
    except InputError as exc:
        if on_warning is not None:
            on_warning(f"the pull request's base: {exc.message}; its limits are not compared")
        return []
    mine = [k for k in keys if k.scope in MINUTE_SCOPES and (find_workflow([head], k.workflow) or find_workflow([base], k.workflow))]
    old_jobs = {job.job_id: job for job in base.jobs}
    out: list[LimitChange] = []
    for job in head.jobs:
        old = old_jobs.get(job.job_id)
        if old is None or job.reusable or old.reusable:
            continue  # a new job has no history; a reusable workflow's call has no limit of its own
        of_job = [k for k in mine if head.job_for(k.job) is job or base.job_for(k.job) is old]
        units = [
            UnitLimit(k, b, a) for k in of_job if k.scope == "job"
            for b, a in [(job_timeout(old, k.job).timeout_s, job_timeout(job, k.job).timeout_s)] if b != a
        ]  # fmt: skip
        if _written(old.timeout) != _written(job.timeout) or units:
            out.append(LimitChange(f.path, _line(job.timeout, job.key_line), f"jobs.{job.job_id}",
                                   _shown(old.timeout, job=True), _shown(job.timeout, job=True), tuple(units)))  # fmt: skip
        for step in job.steps:
            before = _same_step(old, step)
            if before is None:
                continue  # a new step: no history
            units = [
                UnitLimit(k, b, a) for k in of_job if k.scope == "step" and job.step_for(k.step or "") is step
                for b, a in [(step_timeout(old, k.job, k.step or "").timeout_s, step_timeout(job, k.job, k.step or "").timeout_s)]
                if b != a
            ]  # fmt: skip
            if _written(before.timeout) != _written(step.timeout) or units:
                out.append(LimitChange(f.path, _line(step.timeout, job.key_line), f"jobs.{job.job_id} step {step.name!r}",
                                       _shown(before.timeout), _shown(step.timeout), tuple(units)))  # fmt: skip
    return out


def _same_step(old: JobSpec, step: StepSpec) -> StepSpec | None:
    """The step of the base job that ``step`` is: the same name, else the same place with the same derived name."""
    named = next((s for s in old.steps if s.name == step.name), None)
    if named is not None:
        return named
    return old.steps[step.index] if step.index < len(old.steps) and not old.steps[step.index].named and not step.named else None


def _written(value: TimeoutValue | None) -> tuple[float | None, str | None] | None:
    return None if value is None else (value.minutes, value.expression)


def _shown(value: TimeoutValue | None, *, job: bool = False) -> str:
    if value is None:
        return f"none (GitHub's default, {DEFAULT_JOB_TIMEOUT_S / 60:.0f} min)" if job else "none (the job's limit)"
    if value.minutes is not None:
        return f"{value.minutes:g} min"
    return str(value.expression)


def _line(value: TimeoutValue | None, fallback: int) -> int:
    return (value.line if value is not None and value.line is not None else fallback) + 1


@dataclass(frozen=True, slots=True)
class _Found:
    line: int
    seconds: float
    text: str


def _source_changes(f: ChangedFile, rule: TimeoutRule, keys: Sequence[UnitKey]) -> list[LimitChange]:
    """The values of ``rule.pattern`` that differ between base and head, paired in the order they appear."""
    pattern = re.compile(rule.pattern)
    before, after = _found(f.before, pattern, rule.unit), _found(f.after, pattern, rule.unit)
    in_after, in_before = Counter(x.seconds for x in after), Counter(x.seconds for x in before)
    removed = [x for x in before if not _take(in_after, x.seconds)]
    added = [x for x in after if not _take(in_before, x.seconds)]
    units = [k for k in keys if rule_matches(rule, k)]
    where = "[[timeouts]] " + (f"phase {rule.phase!r}" if rule.phase else f"step {rule.step!r}" if rule.step else f"job {rule.job!r}")
    out = []
    for old, new in zip_longest(removed, added):
        limits = tuple(UnitLimit(k, old.seconds if old else None, new.seconds if new else None) for k in units)
        out.append(LimitChange(f.path, new.line if new else None, where, old.text if old else "none",
                               new.text if new else "removed", limits))  # fmt: skip
    return out


def _found(text: str | None, pattern: re.Pattern[str], unit: str) -> list[_Found]:
    out = []
    for match in pattern.finditer(text or ""):
        try:
            seconds = float(match.group(1)) * _SCALE[unit]
        except (TypeError, ValueError):
            continue
        line = (text or "").count("\n", 0, match.start()) + 1
        out.append(_Found(line, seconds, " ".join(match.group(0).split())[:80]))
    return out


def _take(counts: Counter[float], value: float) -> bool:
    if counts[value] > 0:
        counts[value] -= 1
        return True
    return False


# -- the evidence ---------------------------------------------------------------------------


def weigh_changes(
    changes: Sequence[LimitChange], frame: pd.DataFrame, current: Mapping[UnitKey, CurrentLimit], policy: Policy
) -> tuple[tuple[WeighedChange, ...], int]:
    """Each change's evidence from ``frame`` (observations in the window), and the job runs it rests on.

    The model is fitted on the workflows the changed units belong to; ``recommend`` then judges
    every unit with the new values in force (``current`` for the others), so the recommended
    limit and the verdict are those the change would get next week, and once more with no limit
    on the changed units: the limit the data alone ask for.
    """
    wanted = {u.key for c in changes for u in c.units}
    sub = frame[frame["workflow"].isin({k.workflow for k in wanted})] if wanted and len(frame) else frame.iloc[0:0]
    if sub.empty:
        return tuple(WeighedChange(c, tuple(UnitEvidence(u.key, u.before_s, u.after_s) for u in c.units)) for c in changes), 0
    model = DurationModel(quantile=policy.quantile, confidence=policy.confidence, min_samples=policy.min_samples).fit(sub)
    keys = keys_of(model.units_)
    index = {k: u for u, k in enumerate(keys)}
    limits, unlimited = dict(current), dict(current)
    for change in changes:
        for unit in change.units:
            limits[unit.key] = CurrentLimit(unit.after_s, "pull request" if unit.after_s is not None else None)
            unlimited[unit.key] = CurrentLimit(None, None)
    recommended = {r.key: r for r in recommend_limits(sub, limits, policy, model=model).recommendations}
    alone = {r.key: r.recommended_timeout_s for r in recommend_limits(sub, unlimited, policy, model=model).recommendations}
    out = []
    for change in changes:
        before, after = np.full(len(keys), np.nan), np.full(len(keys), np.nan)
        for unit in change.units:
            if unit.key in index:
                before[index[unit.key]] = math.nan if unit.before_s is None else unit.before_s
                after[index[unit.key]] = math.nan if unit.after_s is None else unit.after_s
        rates_before = kill_rates(model, before)
        rates_after = kill_rates(model, after)
        rows = []
        for unit in change.units:
            r, u = recommended.get(unit.key), index.get(unit.key)
            if r is None or u is None:
                rows.append(UnitEvidence(unit.key, unit.before_s, unit.after_s))
                continue
            rows.append(UnitEvidence(
                unit.key, unit.before_s, unit.after_s, samples=r.samples, censored=r.censored, p50_s=r.p50_s,
                p95_s=r.p95_s, p99_s=r.p99_s, stops_before=rates_before[u], stops_after=rates_after[u],
                recommended_s=r.recommended_timeout_s, verdict=r.verdict, evidence_s=alone.get(unit.key),
            ))  # fmt: skip
        out.append(WeighedChange(change, tuple(rows)))
    return tuple(out), int(sub.loc[sub["scope"] == "job", "job_id"].nunique())
