"""``RunnerQuantileModel``: does a slow tail belong to one kind of runner?"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd

from analyzer.model.base import ParamsMixin
from analyzer.model.boosting import QuantileBoosting
from analyzer.model.units import measured, utc_ns


class RunnerQuantileModel(ParamsMixin):
    """Does a slow tail belong to one kind of runner? Conditional quantiles for one unit.

    Gradient-boosted quantile regression (``boosting.QuantileBoosting``: scikit-learn's
    ``HistGradientBoostingRegressor(loss="quantile")`` reproduced in numpy) on the runner label (categorical), the
    weekday and the hour of day, so that a label which is slow only because it runs at busy
    hours is not blamed for them. Quantile regression knows nothing of censoring, so it is fitted
    on the runs that finished on their own; ``censored_`` says per label how many were left out,
    and because those ran *at least* as long as observed, a label with any is reported as a
    lower bound (``lower_bound_``). Fitted attributes: ``labels_``, ``quantiles_`` (label → mean
    predicted conditional quantile over the label's runs), ``samples_``, ``censored_``,
    ``lower_bound_``, ``ratio_`` (slowest label over fastest), ``estimator_``.
    """

    def __init__(
        self,
        *,
        quantile: float = 0.9,
        min_samples: int = 20,
        max_iter: int = 30,
        learning_rate: float = 0.2,
        max_leaf_nodes: int = 8,
        random_state: int = 0,
    ) -> None:
        self.quantile = quantile
        self.min_samples = min_samples
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes  # three low-cardinality features: small trees suffice
        self.random_state = random_state  # kept for get_params; nothing in the fit is random (no subsampling)

    def fit(self, X: pd.DataFrame, y: object = None) -> RunnerQuantileModel:
        # a few hundred rows: plain numpy, not pandas string methods (a per-call cost that dwarfed the work)
        keep = measured(X)
        raw = X["runner"].to_numpy(dtype=object)[keep]
        raw_codes, uniques = pd.factorize(raw, use_na_sentinel=True)
        text = np.asarray([str(u) for u in uniques] + ["-"], dtype=object)[raw_codes]  # missing: "-"
        counts = Counter(text.tolist())
        labels = sorted(str(k) for k, v in counts.items() if v >= self.min_samples)
        if len(labels) < 2:
            raise ValueError("need at least two runner labels with min_samples runs each")
        lookup = {label: i for i, label in enumerate(labels)}
        label_code = np.asarray([lookup.get(x, -1) for x in text.tolist()], dtype=np.int64)
        inside = label_code >= 0
        code = label_code[inside].astype(np.float64)
        ns, missing = utc_ns(X["started_at"])
        ns, missing = ns[keep][inside], missing[keep][inside]
        # UTC weekday (1970-01-01 was a Thursday, weekday 3) and hour, NaN where the start is unknown
        weekday = np.where(missing, np.nan, ((ns // 86_400_000_000_000) + 3) % 7)
        hour = np.where(missing, np.nan, (ns // 3_600_000_000_000) % 24)
        features = np.column_stack([code, weekday.astype(np.float64), hour.astype(np.float64)])
        target = X["duration_s"].to_numpy(dtype=np.float64)[keep][inside]
        censored = X["censored"].to_numpy(dtype=bool)[keep][inside]
        model = QuantileBoosting(
            quantile=self.quantile,
            max_iter=self.max_iter,
            learning_rate=self.learning_rate,
            max_leaf_nodes=self.max_leaf_nodes,
            categorical_features=(0,),
        )
        model.fit(features[~censored], target[~censored])
        predicted = model.predict(features)
        self.estimator_ = model
        self.labels_ = labels
        self.quantiles_ = {label: float(predicted[code == i].mean()) for i, label in enumerate(labels)}
        self.samples_ = {label: int((code == i).sum()) for i, label in enumerate(labels)}
        self.censored_ = {label: int((censored & (code == i)).sum()) for i, label in enumerate(labels)}
        self.lower_bound_ = {label: self.censored_[label] > 0 for label in labels}
        values = list(self.quantiles_.values())
        self.ratio_ = max(values) / min(values) if min(values) > 0 else float("inf")
        return self
