"""A note on the units whose limit fired and then passed on rerun: the limit is probably too tight,
or runs hang (``model.reruns.limit_reruns`` counts them)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from analyzer.advise.result import RecommendResult
from analyzer.model.reruns import RerunCount, rerun_note
from analyzer.records import UnitKey


def with_rerun_notes(result: RecommendResult, counts: Mapping[UnitKey, RerunCount]) -> RecommendResult:
    """``result`` with ``N of M timeouts passed on rerun: …`` added to the notes of those units."""
    recommendations = []
    for r in result.recommendations:
        count = counts.get(r.key)
        note = rerun_note(count) if count is not None else None
        recommendations.append(replace(r, notes=(*r.notes, note)) if note else r)
    return replace(result, recommendations=tuple(recommendations))
