"""Timeout layers: phases nest in steps (or in other phases), steps in jobs.

How units nest is read from median offsets inside their job (``structure``). An inner limit that
cannot fire before its outer one is flagged; an outer limit smaller than the sum of the
recommended inner limits on its critical path (parallel inner spans count once, by their
largest) plus the time not covered by them is flagged, and the recommended outer limit is raised
so the recommended set is consistent (``apply_layers``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from analyzer.advise.policy import PROPOSALS, Policy, loose, round_limit
from analyzer.advise.result import LayerWarning
from analyzer.formatting import human_duration
from analyzer.model import DurationModel, segment_nanmedians
from analyzer.records import UnitKey


@dataclass(frozen=True, slots=True)
class Structure:
    """How units nest, from median offsets inside their job: parent, children, start/end offsets."""

    parent: dict[int, int]
    children: dict[int, list[int]]
    aliases: dict[int, list[int]]  # phases that measure the same span (a rule and a built-in detector)
    start: NDArray[np.float64]  # median start offset from the job's start (s)
    end: NDArray[np.float64]
    median: NDArray[np.float64]

    def sort_key(self, u: int, key: UnitKey) -> tuple[Any, ...]:
        start = float(self.start[u]) if np.isfinite(self.start[u]) else float("inf")
        return (key.workflow, key.job, key.scope != "job", start, key.scope == "phase", key.step or "", key.phase or "")


def structure(frame: pd.DataFrame, model: DurationModel, keys: Sequence[UnitKey]) -> Structure:
    n = len(keys)
    median = model.units_["p50_s"].to_numpy(dtype=float)
    start = np.full(n, np.nan)
    end = np.full(n, np.nan)
    attempt = getattr(model, "attempt_", None)
    if n and {"job_id", "started_at"} <= set(frame.columns) and model.positions_.size and attempt is not None:
        # per fitted row: its start as an offset from its job attempt's first start, and its end;
        # per unit: the medians of both (NaN skipped, as pandas does), without a pandas groupby
        begun = model.started_
        first = np.full(int(attempt.max()) + 1, np.inf)
        if (attempt >= 0).all():
            np.minimum.at(first, attempt, np.where(np.isnan(begun), np.inf, begun))
            first[np.isinf(first)] = np.nan  # no known start in the attempt
            offset = begun - first[attempt]
        else:
            known = attempt >= 0
            np.minimum.at(first, attempt[known], np.where(np.isnan(begun[known]), np.inf, begun[known]))
            first[np.isinf(first)] = np.nan
            offset = np.full(begun.size, np.nan)
            offset[known] = begun[known] - first[attempt[known]]
        ended = frame["duration_s"].to_numpy(dtype=float)[model.positions_]  # a copy: the end made in place
        ended += offset
        # the model's sorted rows are grouped by unit already, unless hung runs were set aside
        s = model.sorted_
        grouped = None if model.hung_.any() else (s.order, s.unit)
        start, end = segment_nanmedians(model.unit_of_row_, [offset, ended], n, grouped)
    median = np.where(np.isfinite(median), median, end - start)
    index = {k: u for u, k in enumerate(keys)}
    # Python floats for the pairwise loops below (numpy scalar arithmetic was most of their time)
    sl: list[float] = start.tolist()
    el: list[float] = end.tolist()
    parent: dict[int, int] = {}
    aliases: dict[int, list[int]] = {}
    siblings: dict[tuple[str, str, str | None], list[int]] = {}
    for u, key in enumerate(keys):
        if key.scope == "phase" and math.isfinite(sl[u]):
            siblings.setdefault((key.workflow, key.job, key.step), []).append(u)
    for u, key in enumerate(keys):
        if key.scope == "job":
            continue
        job = index.get(UnitKey("job", key.workflow, key.job, None, None))
        step = index.get(UnitKey("step", key.workflow, key.job, key.step, None)) if key.scope == "phase" else None
        candidates: list[int] = []
        if key.scope == "phase" and math.isfinite(sl[u]):
            span = el[u] - sl[u]
            tol = max(2.0, 0.05 * span)
            for v in siblings.get((key.workflow, key.job, key.step), []):
                if v == u:
                    continue
                if abs(sl[v] - sl[u]) <= tol and abs(el[v] - el[u]) <= tol:
                    aliases.setdefault(u, []).append(v)  # the same span, measured twice: not a layer
                elif sl[v] <= sl[u] + tol and el[u] <= el[v] + tol and el[v] - sl[v] > 1.25 * span + tol:
                    candidates.append(v)
        if candidates:
            parent[u] = min(candidates, key=lambda v: el[v] - sl[v])
        elif step is not None:
            parent[u] = step
        elif job is not None:
            parent[u] = job
    children: dict[int, list[int]] = {}
    for u, p in parent.items():
        children.setdefault(p, []).append(u)
    return Structure(parent, children, aliases, start, end, median)


def _blocks(children: Sequence[int], start: Sequence[float], end: Sequence[float]) -> list[list[int]]:
    """Children grouped into blocks that run in parallel; blocks run one after another.

    ``start``/``end``: the structure's offsets as Python floats (NaN where unknown).
    """
    inf = math.inf
    ordered = sorted(children, key=lambda c: (start[c] if math.isfinite(start[c]) else inf, c))
    blocks: list[list[int]] = []
    block_end = -inf
    for c in ordered:
        begin = start[c] if math.isfinite(start[c]) else inf
        if blocks and begin < block_end - 1.0:
            blocks[-1].append(c)
            block_end = max(block_end, end[c] if math.isfinite(end[c]) else block_end)
        else:
            blocks.append([c])
            block_end = end[c] if math.isfinite(end[c]) else inf
    return blocks


def apply_layers(
    s: Structure,
    keys: Sequence[UnitKey],
    now: NDArray[np.float64],
    recommended: NDArray[np.float64],
    verdicts: list[str],
    policy: Policy,
    advised: NDArray[np.float64] | None = None,
) -> tuple[list[LayerWarning], dict[int, str]]:
    """Flag limits that do not fit their layers and raise outer recommendations to fit the inner ones.

    An outer limit that is cut (``too_loose``) takes along the kept inner limits that could no
    longer fire before it: each is cut to its own new limit (``advised``: within the kill-rate
    budget like any), since the file is being edited anyway. Then a proposed outer limit (a raise,
    a cut, a limit for a unit without one) is raised to leave room for the recommended inner limits
    on its critical path; a cut that would no longer be worth it keeps the limit in force. An ``ok``
    outer limit is kept (its own kill rate is within the target) and only flagged.
    ``recommended`` and ``verdicts`` are updated in place; returns the warnings and a note per unit
    whose recommendation was changed here.
    """
    warnings: list[LayerWarning] = []
    raised: dict[int, str] = {}
    limited = np.isfinite(now)
    if advised is not None:
        _cut_along(s, keys, now, recommended, verdicts, advised, limited, raised)

    # inner limits (as they are today) that cannot fire before their nearest limited outer layer
    for u in range(len(keys)):
        if not limited[u]:
            continue
        a = s.parent.get(u)
        while a is not None and not limited[a]:
            a = s.parent.get(a)
        if a is None:
            continue
        offset = max(0.0, float(s.start[u] - s.start[a])) if np.isfinite(s.start[u] - s.start[a]) else 0.0
        if offset + now[u] >= now[a]:
            warnings.append(
                LayerWarning(
                    "inner_cannot_fire", keys[a], keys[u], float(now[a]), float(now[u]), None,
                    f"{keys[u].label()}: its limit {human_duration(now[u])} (starting ~{human_duration(offset)} in) "
                    f"cannot fire before the {keys[a].scope} limit {human_duration(now[a])} of {keys[a].label()}",
                )
            )

    need: dict[int, float] = {}
    # Python floats for the recursion below: numpy scalar indexing was most of its time
    start_l: list[float] = s.start.tolist()
    end_l: list[float] = s.end.tolist()
    median_l: list[float] = np.nan_to_num(s.median).tolist()

    def required(u: int) -> float:
        kids = s.children.get(u, [])
        if not kids:
            return 0.0
        blocks = _blocks(kids, start_l, end_l)
        path = sum(max(needed(c) for c in block) for block in blocks)
        covered = sum(max(median_l[c] for c in block) for block in blocks)
        gap = max(0.0, median_l[u] - covered)
        return path + gap

    def needed(u: int) -> float:
        if u in need:
            return need[u]
        inner = required(u)
        value = max(median_l[u], inner)
        if limited[u] and np.isfinite(recommended[u]):
            # the consistent set: an outer limit must leave room for its inner limits
            if inner > 0 and _has_limited_descendant(u, s, limited):
                target = round_limit(max(inner * (1 + policy.margin), inner + policy.margin_min_s), keys[u].scope)
                if now[u] < inner:
                    warnings.append(
                        LayerWarning(
                            "outer_too_small", keys[u], None, float(now[u]), None, inner,
                            f"{keys[u].label()}: limit {human_duration(now[u])} is shorter than its inner limits on the "
                            f"critical path plus the time around them ({human_duration(inner)})",
                        )
                    )
                if verdicts[u] in PROPOSALS and recommended[u] < target:
                    if verdicts[u] == "too_loose" and not loose(float(now[u]), target, policy):
                        verdicts[u], recommended[u] = "ok", now[u]
                        raised[u] = (f"kept: its inner limits need {human_duration(inner)} on the critical path, "
                                     "so a cut would not leave them room")  # fmt: skip
                    else:
                        recommended[u] = target
                        raised[u] = (
                            f"raised to {human_duration(target)} to leave room for its inner limits "
                            f"({human_duration(inner)} on the critical path)"
                        )
            value = float(recommended[u])
        need[u] = value
        return value

    roots = [u for u in range(len(keys)) if u not in s.parent]
    for u in roots:
        needed(u)
    return warnings, raised


def _cut_along(
    s: Structure, keys: Sequence[UnitKey], now: NDArray[np.float64], recommended: NDArray[np.float64], verdicts: list[str],
    advised: NDArray[np.float64], limited: NDArray[np.bool_], notes: dict[int, str],
) -> None:  # fmt: skip
    """Kept inner limits that could not fire before their outer limit's cut are cut to their own new limit."""
    for u in range(len(keys)):
        if verdicts[u] != "too_loose" or not np.isfinite(recommended[u]):
            continue
        stack = list(s.children.get(u, []))
        while stack:
            c = stack.pop()
            stack.extend(s.children.get(c, []))
            if not limited[c] or verdicts[c] != "ok" or not np.isfinite(advised[c]) or advised[c] >= now[c]:
                continue
            offset = float(s.start[c] - s.start[u]) if np.isfinite(s.start[c] - s.start[u]) else 0.0
            if max(0.0, offset) + now[c] >= recommended[u]:
                verdicts[c], recommended[c] = "too_loose", float(advised[c])
                notes[c] = (
                    f"cut with its {keys[u].scope}'s limit ({keys[u].label()}: {human_duration(now[u])} → "
                    f"{human_duration(recommended[u])}), which it could no longer fire before"
                )


def _has_limited_descendant(u: int, s: Structure, limited: NDArray[np.bool_]) -> bool:
    stack = list(s.children.get(u, []))
    while stack:
        c = stack.pop()
        if limited[c]:
            return True
        stack.extend(s.children.get(c, []))
    return False
