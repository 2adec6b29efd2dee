"""Censoring-aware duration models, scikit-learn style (parameters in ``__init__``, ``fit`` sets ``attr_``).

``km`` (Kaplan–Meier, one unit or all at once), ``units`` (grouping rows into units), ``stats``
(the ``stats`` command's percentiles), ``tails`` (parametric tails), ``duration``
(``DurationModel``: quantiles, intervals, tails, trends per unit), ``runners``
(``RunnerQuantileModel``) and ``queue`` (how long jobs waited for a runner). Pure: frames and arrays in, frames and arrays out.

Each name is imported from its module when first used (PEP 562): a command loads only the modules
it runs (``stats`` takes ``stats``, ``km``, ``units`` and ``queue``, not the estimator and its tails).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from analyzer.model.duration import DurationModel
    from analyzer.model.km import km_cdf_at, km_curve, km_quantiles, segment_nanmedians
    from analyzer.model.queue import QueueStats, queue_masks, queue_quantiles, queue_stats
    from analyzer.model.rates import KM_SUPPORT
    from analyzer.model.relabel import as_hangs, hung_attempts
    from analyzer.model.runners import RunnerQuantileModel
    from analyzer.model.stats import STATS_COLUMNS, STATS_QUANTILES, UnitStats, unit_stats, with_queue
    from analyzer.model.tails import TAIL_MODELS, Tails
    from analyzer.model.units import UNIT_COLUMNS, keys_of, measured, unit_codes, usable

_MODULES = {
    "DurationModel": "analyzer.model.duration",
    "km_cdf_at": "analyzer.model.km",
    "km_curve": "analyzer.model.km",
    "km_quantiles": "analyzer.model.km",
    "segment_nanmedians": "analyzer.model.km",
    "QueueStats": "analyzer.model.queue",
    "queue_masks": "analyzer.model.queue",
    "queue_quantiles": "analyzer.model.queue",
    "queue_stats": "analyzer.model.queue",
    "KM_SUPPORT": "analyzer.model.rates",
    "as_hangs": "analyzer.model.relabel",
    "hung_attempts": "analyzer.model.relabel",
    "RunnerQuantileModel": "analyzer.model.runners",
    "STATS_COLUMNS": "analyzer.model.stats",
    "STATS_QUANTILES": "analyzer.model.stats",
    "UnitStats": "analyzer.model.stats",
    "unit_stats": "analyzer.model.stats",
    "with_queue": "analyzer.model.stats",
    "TAIL_MODELS": "analyzer.model.tails",
    "Tails": "analyzer.model.tails",
    "UNIT_COLUMNS": "analyzer.model.units",
    "keys_of": "analyzer.model.units",
    "measured": "analyzer.model.units",
    "unit_codes": "analyzer.model.units",
    "usable": "analyzer.model.units",
}


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "KM_SUPPORT",
    "STATS_COLUMNS",
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
