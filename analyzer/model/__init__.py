"""Censoring-aware duration models, scikit-learn style (parameters in ``__init__``, ``fit`` sets ``attr_``).

``km`` (Kaplan–Meier, one unit or all at once), ``units`` (grouping rows into units), ``stats``
(the ``stats`` command's percentiles), ``tails`` (parametric tails), ``duration``
(``DurationModel``: quantiles, intervals, tails, trends per unit), ``runners``
(``RunnerQuantileModel``) and ``queue`` (how long jobs waited for a runner). Pure: frames and arrays in, frames and arrays out.
"""

from analyzer.model.duration import DurationModel
from analyzer.model.km import km_cdf_at, km_curve, km_quantiles, segment_nanmedians
from analyzer.model.queue import QueueStats, queue_masks, queue_quantiles, queue_stats
from analyzer.model.rates import KM_SUPPORT
from analyzer.model.relabel import as_hangs, hung_attempts
from analyzer.model.runners import RunnerQuantileModel
from analyzer.model.stats import STATS_QUANTILES, UnitStats, unit_stats, with_queue
from analyzer.model.tails import TAIL_MODELS, Tails
from analyzer.model.units import UNIT_COLUMNS, keys_of, measured, unit_codes, usable

__all__ = [
    "KM_SUPPORT",
    "STATS_QUANTILES",
    "TAIL_MODELS",
    "UNIT_COLUMNS",
    "DurationModel",
    "QueueStats",
    "RunnerQuantileModel",
    "Tails",
    "UnitStats",
    "as_hangs",
    "hung_attempts",
    "keys_of",
    "km_cdf_at",
    "km_curve",
    "km_quantiles",
    "measured",
    "queue_masks",
    "queue_quantiles",
    "queue_stats",
    "segment_nanmedians",
    "unit_codes",
    "unit_stats",
    "usable",
    "with_queue",
]
