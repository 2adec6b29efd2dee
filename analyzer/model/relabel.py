"""Incidents of hung runs told as such: a timeout after a long silence becomes an incident of kind ``hang``.

The duration model decides which runs hung (``model.hangs``, ``DurationModel.hung_``); the incidents
the parser stored name the limit that ended them. ``as_hangs`` joins the two, so the incidents and
the model count the same runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import pandas as pd

from analyzer.model.duration import DurationModel
from analyzer.records import TIMEOUT_KINDS, Incident


def hung_attempts(frame: pd.DataFrame, model: DurationModel | None = None) -> set[int]:
    """The job attempts (``job_id``) of an observations frame in which a unit hung, as the duration model
    sets them apart (``DurationModel.hung_``: the silence rule, and for rows without a log's silences the
    long-stop rule), so the incidents and the model count the same runs.

    ``model``: a model already fitted on this very frame (``recommend``'s, for ``report``); its ``hung_``
    is used when it was fitted with the window and hang rule this function fits with (a second fit
    of 10⁶ rows otherwise)."""
    if frame.empty or "job_id" not in frame:
        return set()
    own = DurationModel(tail="never", by_runner=False)
    same_rule = model is not None and (model.window_days, model.hung_factor) == (own.window_days, own.hung_factor)
    if model is None or not same_rule:
        model = own.fit(frame)
    hung = np.asarray(model.hung_)
    return {int(j) for j in pd.unique(frame["job_id"].to_numpy()[model.positions_[hung]])}


def as_hangs(incidents: Sequence[Incident], attempts: set[int]) -> list[Incident]:
    """The incidents, those of hung attempts as kind ``hang``: the limit that ended them as ``ended_by``,
    the last line before the silence as evidence (the limit's own line where that is unknown)."""
    out = []
    for i in incidents:
        if i.job_id in attempts and i.kind in TIMEOUT_KINDS:
            i = replace(i, kind="hang", ended_by=i.kind, evidence=i.last_output or i.evidence)
        out.append(i)
    return out
