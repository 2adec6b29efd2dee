"""Hung runs: stopped by a limit after a long silence in the log, set apart from slow healthy runs.

A run that hangs (a deadlock, a wait on something that never comes) prints nothing until a limit
ends it. Kept among the healthy runs it says "lasted at least as long as the limit", which pushes
every upper quantile beyond the data and the recommended limit up; the target (at most 1 − q of
healthy runs stopped) is about healthy runs. The rule, from the log itself: a run ended by a
limit — the unit's own (outcome ``timeout``) or an inner one (a step's ``timeout-minutes`` ending
its job, a tool's timeout failing its step: ``censored`` with outcome ``failure``) — after no
output for at least min(``SILENCE_S``, ``GAP_FACTOR`` × the median longest silence of the unit's
runs that no limit ended) is hung. The silence and the longest quiet stretch of each run come from
the parser (``silence_s``, ``gap_s``); rows without them are never called hung by this rule.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from analyzer.model.km import segment_nanmedians

SILENCE_S = 600.0  # ten minutes without a line before a limit fired: hung whatever the unit
GAP_FACTOR = 5.0  # ... or five times the longest quiet stretch of a typical run of the unit


def ended_by_limit(outcome: NDArray[np.object_], censored: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """Per row: a limit ended it (its own: ``timeout``; an inner one: censored with outcome ``failure``)."""
    return np.asarray((outcome == "timeout") | (censored & (outcome == "failure")), dtype=bool)


def hang_thresholds(
    unit: NDArray[np.intp], fired: NDArray[np.bool_], gap: NDArray[np.float64], n_units: int
) -> NDArray[np.float64]:
    """Per unit: the silence that makes a run ended by a limit hung (seconds)."""
    (typical,) = segment_nanmedians(unit, [np.where(fired, np.nan, gap)], n_units)
    return np.asarray(np.fmin(SILENCE_S, GAP_FACTOR * typical), dtype=np.float64)


def hung_rows(
    unit: NDArray[np.intp],
    outcome: NDArray[np.object_],
    censored: NDArray[np.bool_],
    silence: NDArray[np.float64],
    gap: NDArray[np.float64],
    n_units: int,
) -> NDArray[np.bool_]:
    """Per row: hung (see the module docstring)."""
    fired = ended_by_limit(outcome, censored)
    if not fired.any() or not np.isfinite(silence).any():
        return np.zeros(unit.size, dtype=bool)
    threshold = hang_thresholds(unit, fired, gap, n_units)
    with np.errstate(invalid="ignore"):
        return np.asarray(fired & np.isfinite(silence) & (silence >= threshold[unit]), dtype=bool)
