"""Gradient-boosted quantile regression in numpy: scikit-learn's ``HistGradientBoostingRegressor``
with ``loss="quantile"``, reproduced step for step for the runner split's few hundred rows.

Importing scikit-learn's ensemble costs about 1.5 s of CPU and 100 MB (scipy's import among it)
for a fit of a few milliseconds; this module does the same arithmetic without it. It follows
scikit-learn 1.9's code (``ensemble/_hist_gradient_boosting``: ``binning``, ``grower``,
``splitting.pyx``, ``_predictor.pyx``, ``gradient_boosting``) for the case the runner split uses —
no sample weights, no early stopping, no monotonic or interaction constraints, no L2 penalty,
no feature subsampling, at most 255 distinct values a feature (so every distinct value is its own
bin), fewer than 200,000 rows (scikit-learn bins a random subsample beyond that): the bins,
the histograms (float32 gradients summed in float64: exact, so the order of summation does not
matter), the split scans in both directions with their ties, the categorical sort (glibc's merge
sort, as ``qsort`` is on Linux with glibc ≤ 2.36), the best-first growth with its heap, the
leaves' values refitted as quantiles of the residuals, and the prediction from raw values.
``tests/test_boosting.py`` checks the predictions equal scikit-learn's, bit for bit, on many
random problems.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

MISSING_BIN = 255  # scikit-learn's n_bins - 1 with max_bins = 255
MAX_BINS = 255
MIN_CAT_SUPPORT = 10.0
MIN_HESSIAN_TO_SPLIT = 1e-3

Floats = NDArray[np.float64]


@dataclass
class _Split:
    gain: float = -1.0
    feature: int = 0
    bin_idx: int = 0
    missing_go_to_left: bool = False
    sum_gradient_left: float = 0.0
    sum_hessian_left: float = 0.0
    sum_gradient_right: float = 0.0
    sum_hessian_right: float = 0.0
    value_left: float = 0.0
    value_right: float = 0.0
    is_categorical: bool = False
    left_bins: frozenset[int] = frozenset()


@dataclass(eq=False)
class _Node:
    samples: NDArray[np.intp]
    sum_gradients: float
    sum_hessians: float
    value: float
    split: _Split | None = None
    histograms: list[tuple[Any, Any]] | None = None
    left: _Node | None = None
    right: _Node | None = None
    is_leaf: bool = False
    threshold: float = 0.0  # in raw units, for prediction
    left_categories: frozenset[int] = field(default_factory=frozenset)

    def __lt__(self, other: _Node) -> bool:  # scikit-learn's TreeNode: the larger gain first
        assert self.split is not None and other.split is not None
        return self.split.gain > other.split.gain


def _node_value(sum_gradient: float, sum_hessian: float) -> float:
    return -sum_gradient / (sum_hessian + 0.0 + 1e-15)


def _gain(g_left: float, h_left: float, g_right: float, h_right: float, loss_current: float) -> float:
    gain = loss_current
    gain -= g_left * _node_value(g_left, h_left)
    gain -= g_right * _node_value(g_right, h_right)
    return gain


def _merge_sort(items: list[tuple[int, float]]) -> list[tuple[int, float]]:
    """glibc's ``msort``: top-down, the second run's element first on ties (the comparator never says equal)."""
    if len(items) <= 1:
        return items
    n1 = len(items) // 2
    a, b = _merge_sort(items[:n1]), _merge_sort(items[n1:])
    out: list[tuple[int, float]] = []
    i = j = 0
    while i < len(a) and j < len(b):
        if a[i][1] < b[j][1]:  # cmp(a, b) = -1 if a < b else 1; a is taken when cmp <= 0
            out.append(a[i])
            i += 1
        else:
            out.append(b[j])
            j += 1
    return out + a[i:] + b[j:]


class _Grower:
    def __init__(
        self,
        binned: NDArray[np.uint8],
        gradients: NDArray[np.float32],
        *,
        n_bins_non_missing: list[int],
        has_missing: list[bool],
        is_categorical: list[bool],
        max_leaf_nodes: int,
        min_samples_leaf: int,
        columns: list[NDArray[np.intp]] | None = None,
    ) -> None:
        self.binned = binned
        # each feature's bins (``columns``: the same, made once for every tree of a fit)
        self.columns = columns or [np.ascontiguousarray(binned[:, f], dtype=np.intp) for f in range(binned.shape[1])]
        self.gradients = gradients.astype(np.float64)
        self.n_bins_non_missing = n_bins_non_missing
        self.has_missing = has_missing
        self.is_categorical = is_categorical
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.splittable: list[_Node] = []
        self.leaves: list[_Node] = []
        n = binned.shape[0]
        self.root = _Node(np.arange(n), float(self.gradients.sum()), float(np.float32(1.0) * np.float32(n)), 0.0)
        if n < 2 * min_samples_leaf or self.root.sum_hessians < MIN_HESSIAN_TO_SPLIT:
            self._finalize(self.root)
        else:
            self.root.histograms = self._histograms(self.root.samples)
            self._split_and_push(self.root)

    def grow(self) -> _Node:
        while self.splittable:
            self._split_next()
        return self.root

    def _finalize(self, node: _Node) -> None:
        node.is_leaf = True
        self.leaves.append(node)

    def _histograms(self, samples: NDArray[np.intp]) -> list[tuple[Any, Any]]:
        out = []
        g = self.gradients[samples]
        for f in range(self.binned.shape[1]):
            column = self.columns[f][samples]
            out.append((np.bincount(column, weights=g, minlength=256), np.bincount(column, minlength=256)))
        return out

    def _split_and_push(self, node: _Node) -> None:
        node.split = self._find_split(node)
        if node.split.gain <= 0:
            self._finalize(node)
        else:
            heapq.heappush(self.splittable, node)

    def _find_split(self, node: _Node) -> _Split:
        hists = node.histograms
        assert hists is not None
        n = int(node.samples.size)
        loss_current = node.sum_gradients * node.value
        best: _Split | None = None
        for f, (sums, counts) in enumerate(hists):
            info = _Split(feature=f, is_categorical=self.is_categorical[f])
            # the scans read the bins of values (and the missing values' bin) only, as Python numbers (the same
            # values), converted once: not all 256 bins of the histograms
            k = self.n_bins_non_missing[f]
            if self.is_categorical[f]:
                bins = [*range(k), MISSING_BIN]
                by_sum = dict(zip(bins, sums[bins].tolist(), strict=True))
                self._scan_categories(info, by_sum, dict(zip(bins, counts[bins].tolist(), strict=True)), n, node, loss_current)
            else:
                sums_k, counts_k = sums[:k].tolist(), counts[:k].tolist()
                self._scan_left_to_right(info, sums_k, counts_k, n, node, loss_current)
                if self.has_missing[f]:
                    self._scan_right_to_left(info, sums_k, counts_k, n, node, loss_current)
            if best is None or info.gain > best.gain:
                best = info
        assert best is not None
        return best

    def _record(self, info: _Split, gain: float, g_left: float, h_left: float, node: _Node) -> None:
        info.gain = gain
        info.sum_gradient_left, info.sum_hessian_left = g_left, h_left
        info.sum_gradient_right = node.sum_gradients - g_left
        info.sum_hessian_right = node.sum_hessians - h_left
        info.value_left = _node_value(info.sum_gradient_left, info.sum_hessian_left)
        info.value_right = _node_value(info.sum_gradient_right, info.sum_hessian_right)

    def _scan_left_to_right(
        self, info: _Split, sums: list[float], counts: list[int], n: int, node: _Node, loss_current: float
    ) -> None:
        f = info.feature
        end = self.n_bins_non_missing[f] - 1 + int(self.has_missing[f])
        g_left = h_left = 0.0
        n_left = 0
        best_gain, found = -1.0, None
        for b in range(end):
            n_left += counts[b]
            n_right = n - n_left
            h_left += counts[b]
            h_right = node.sum_hessians - h_left
            g_left += sums[b]
            g_right = node.sum_gradients - g_left
            if n_left < self.min_samples_leaf:
                continue
            if n_right < self.min_samples_leaf:
                break
            if h_left < MIN_HESSIAN_TO_SPLIT:
                continue
            if h_right < MIN_HESSIAN_TO_SPLIT:
                break
            gain = _gain(g_left, h_left, g_right, h_right, loss_current)
            if gain > best_gain and gain > 0.0:
                best_gain, found = gain, (b, g_left, h_left)
        if found is not None:
            b, g_left, h_left = found
            self._record(info, best_gain, g_left, h_left, node)
            info.bin_idx, info.missing_go_to_left = b, False

    def _scan_right_to_left(
        self, info: _Split, sums: list[float], counts: list[int], n: int, node: _Node, loss_current: float
    ) -> None:
        f = info.feature
        g_right = h_right = 0.0
        n_right = 0
        best_gain, found = info.gain, None
        for b in range(self.n_bins_non_missing[f] - 2, -1, -1):
            n_right += counts[b + 1]
            n_left = n - n_right
            h_right += counts[b + 1]
            h_left = node.sum_hessians - h_right
            g_right += sums[b + 1]
            g_left = node.sum_gradients - g_right
            if n_right < self.min_samples_leaf:
                continue
            if n_left < self.min_samples_leaf:
                break
            if h_right < MIN_HESSIAN_TO_SPLIT:
                continue
            if h_left < MIN_HESSIAN_TO_SPLIT:
                break
            gain = _gain(g_left, h_left, g_right, h_right, loss_current)
            if gain > best_gain and gain > 0.0:
                best_gain, found = gain, (b, g_left, h_left)
        if found is not None:
            b, g_left, h_left = found
            self._record(info, best_gain, g_left, h_left, node)
            info.bin_idx, info.missing_go_to_left = b, True

    def _scan_categories(
        self, info: _Split, sums: Mapping[int, float], counts: Mapping[int, int], n: int, node: _Node, loss_current: float
    ) -> None:
        f = info.feature
        support = n / node.sum_hessians
        bins = list(range(self.n_bins_non_missing[f])) + ([MISSING_BIN] if self.has_missing[f] else [])
        used = [(b, sums[b] / (counts[b] + MIN_CAT_SUPPORT)) for b in bins if counts[b] * support >= MIN_CAT_SUPPORT]
        if len(used) <= 1:
            return
        ordered = _merge_sort(used)
        k = len(ordered)
        best_gain, found = -1.0, None
        for direction in (1, -1):
            middle = (k + 1) // 2 if direction == 1 else (k + 1) // 2 - 1
            g_left = h_left = 0.0
            n_left = 0
            for i in range(middle):
                index = i if direction == 1 else k - 1 - i
                b = ordered[index][0]
                n_left += counts[b]
                n_right = n - n_left
                h_left += counts[b]
                h_right = node.sum_hessians - h_left
                g_left += sums[b]
                g_right = node.sum_gradients - g_left
                if n_left < self.min_samples_leaf or h_left < MIN_HESSIAN_TO_SPLIT:
                    continue
                if n_right < self.min_samples_leaf or h_right < MIN_HESSIAN_TO_SPLIT:
                    break
                gain = _gain(g_left, h_left, g_right, h_right, loss_current)
                if gain > best_gain and gain > 0.0:
                    best_gain, found = gain, (index, g_left, h_left, direction)
        if found is not None:
            index, g_left, h_left, direction = found
            self._record(info, best_gain, g_left, h_left, node)
            chosen = ordered[: index + 1] if direction == 1 else ordered[index:]
            info.bin_idx = 0
            info.left_bins = frozenset(b for b, _ in chosen)
            if self.has_missing[f]:
                info.missing_go_to_left = MISSING_BIN in info.left_bins

    def _split_next(self) -> None:
        node = heapq.heappop(self.splittable)
        split = node.split
        assert split is not None
        column = self.columns[split.feature][node.samples]
        if split.is_categorical:  # (a table of the bins, not np.isin: a tenth of the time on a node's few rows)
            table = np.zeros(MISSING_BIN + 1, dtype=bool)
            table[list(split.left_bins)] = True
            goes_left = table[column]
        else:
            goes_left = column <= split.bin_idx
            if split.missing_go_to_left:
                goes_left |= column == MISSING_BIN
        left = _Node(node.samples[goes_left], split.sum_gradient_left, split.sum_hessian_left, split.value_left)
        right = _Node(node.samples[~goes_left], split.sum_gradient_right, split.sum_hessian_right, split.value_right)
        node.left, node.right = left, right
        n_leaves = len(self.leaves) + len(self.splittable) + 2
        if not self.has_missing[split.feature]:
            split.missing_go_to_left = left.samples.size > right.samples.size
        if n_leaves == self.max_leaf_nodes:
            self._finalize(left)
            self._finalize(right)
            while self.splittable:
                self._finalize(self.splittable.pop())
            return
        if left.samples.size < 2 * self.min_samples_leaf:
            self._finalize(left)
        if right.samples.size < 2 * self.min_samples_leaf:
            self._finalize(right)
        if not (left.is_leaf and right.is_leaf):
            # the smaller child counted, the larger one the parent minus it: as scikit-learn does, and
            # exact here (float32 gradients summed in float64 lose nothing, so either way gives the same sums)
            small, large = (left, right) if left.samples.size < right.samples.size else (right, left)
            small.histograms = self._histograms(small.samples)
            assert node.histograms is not None
            large.histograms = [(ps - ss, pc - sc) for (ps, pc), (ss, sc) in zip(node.histograms, small.histograms, strict=True)]
        node.histograms = None
        if not left.is_leaf:
            self._split_and_push(left)
        if not right.is_leaf:
            self._split_and_push(right)


def _predict_tree(node: _Node, X: Floats, rows: NDArray[np.intp], out: Floats) -> None:
    if node.is_leaf:
        out[rows] = node.value
        return
    split = node.split
    assert split is not None and node.left is not None and node.right is not None
    values = X[rows, split.feature]
    missing = np.isnan(values)
    if split.is_categorical:  # a few categories: compared one by one (np.isin sorts; NaN equals none either way)
        left = np.zeros(values.size, dtype=bool)
        for category in node.left_categories:
            left |= values == category
    else:
        with np.errstate(invalid="ignore"):
            left = values <= node.threshold
    left = np.where(missing, split.missing_go_to_left, left)
    _predict_tree(node.left, X, rows[left], out)
    _predict_tree(node.right, X, rows[~left], out)


def _percentiles(values: Floats, sizes: NDArray[np.intp], percent: float) -> Floats:
    """``np.percentile(part, percent)`` of every consecutive part of ``values`` (``sizes`` long, none empty,
    no NaN) with numpy's arithmetic (``method="linear"``: the virtual index ``(n - 1) q``, its floor and
    the next, ``_lerp``'s two formulas either side of a half), so each is the same float; without
    ``np.percentile``'s per-call cost, a third of the runner split's fit. ``values`` is reordered."""
    q = np.true_divide(percent, 100)
    virtual = (sizes - 1) * q
    previous = np.floor(virtual)
    above = virtual >= sizes - 1
    gamma = virtual - np.where(above, -1.0, previous)  # numpy's previous index is -1 there
    lower = np.where(above, sizes - 1, previous).astype(np.intp).tolist()
    upper = np.where(above, sizes - 1, previous + 1).astype(np.intp).tolist()
    a, b = np.empty(sizes.size), np.empty(sizes.size)
    start = 0
    for k, size in enumerate(sizes.tolist()):
        part = values[start : start + size]
        part.partition((lower[k], upper[k]))  # in place: the order statistics at both places
        a[k], b[k] = part[lower[k]], part[upper[k]]
        start += size
    difference = b - a
    out: Floats = np.where(gamma >= 0.5, b - difference * (1 - gamma), a + difference * gamma)
    return out


class QuantileBoosting:
    """``HistGradientBoostingRegressor(loss="quantile", early_stopping=False, …)`` for dense float
    features, the categorical ones coded 0, 1, 2, … (see the module's docstring for the scope)."""

    def __init__(
        self,
        *,
        quantile: float,
        max_iter: int,
        learning_rate: float,
        max_leaf_nodes: int,
        min_samples_leaf: int = 20,
        categorical_features: tuple[int, ...] = (),
    ) -> None:
        self.quantile = quantile
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.categorical_features = categorical_features

    def fit(self, X: Floats, y: Floats) -> QuantileBoosting:
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        n, n_features = X.shape
        if n == 0:
            raise ValueError("no samples to fit")
        if n > 200_000:
            raise ValueError("more rows than scikit-learn bins without subsampling")
        self.categories_: dict[int, Floats] = {}
        self.thresholds_: list[Floats] = []
        binned = np.empty((n, n_features), dtype=np.uint8)
        n_bins_non_missing: list[int] = []
        is_categorical = [f in self.categorical_features for f in range(n_features)]
        for f in range(n_features):
            column = X[:, f]
            missing = np.isnan(column)
            distinct = np.unique(column[~missing])
            if is_categorical[f]:
                # scikit-learn's OrdinalEncoder: each category becomes its rank among the fitted ones
                if distinct.size > MAX_BINS:
                    raise ValueError("too many categories")
                self.categories_[f] = distinct
                thresholds = np.arange(distinct.size, dtype=np.float64)
                codes = np.searchsorted(distinct, column)
                binned[:, f] = np.where(missing, MISSING_BIN, codes)
                n_bins_non_missing.append(int(distinct.size))
            else:
                if distinct.size == 0:
                    raise ValueError("a feature without values")  # scikit-learn's binning fails there too
                if distinct.size > MAX_BINS:
                    raise ValueError("more distinct values than bins")
                thresholds = (distinct[:-1] + distinct[1:]) / 2
                binned[:, f] = np.where(missing, MISSING_BIN, np.searchsorted(thresholds, column, side="left"))
                n_bins_non_missing.append(int(thresholds.size) + 1)
            self.thresholds_.append(thresholds)
        has_missing = [bool((binned[:, f] == MISSING_BIN).any()) for f in range(n_features)]
        baseline = float(np.percentile(y, 100 * self.quantile))
        self.baseline_ = baseline
        raw = np.full(n, baseline)
        minus_q, one_minus_q = np.float32(-self.quantile), np.float32(1.0 - self.quantile)
        self.trees_: list[_Node] = []
        columns = [np.ascontiguousarray(binned[:, f], dtype=np.intp) for f in range(n_features)]
        for _ in range(self.max_iter):
            gradients = np.where(y >= raw, minus_q, one_minus_q).astype(np.float32)
            grower = _Grower(
                binned, gradients, n_bins_non_missing=n_bins_non_missing, has_missing=has_missing,
                is_categorical=is_categorical, max_leaf_nodes=self.max_leaf_nodes, min_samples_leaf=self.min_samples_leaf,
                columns=columns,
            )  # fmt: skip
            root = grower.grow()
            rows = np.concatenate([leaf.samples for leaf in grower.leaves])
            sizes = np.array([leaf.samples.size for leaf in grower.leaves])
            values = self.learning_rate * _percentiles(y[rows] - raw[rows], sizes, 100 * self.quantile)
            for leaf, value in zip(grower.leaves, values.tolist(), strict=True):
                leaf.value = value
            raw[rows] += np.repeat(values, sizes)
            self._thresholds_in_raw_units(root, n_bins_non_missing)
            self.trees_.append(root)
        return self

    def _thresholds_in_raw_units(self, node: _Node, n_bins_non_missing: list[int]) -> None:
        if node.is_leaf:
            return
        split = node.split
        assert split is not None and node.left is not None and node.right is not None
        if split.is_categorical:
            node.left_categories = frozenset(int(b) for b in split.left_bins if b != MISSING_BIN)
        elif split.bin_idx == n_bins_non_missing[split.feature] - 1:
            node.threshold = np.inf
        else:
            node.threshold = float(self.thresholds_[split.feature][split.bin_idx])
        self._thresholds_in_raw_units(node.left, n_bins_non_missing)
        self._thresholds_in_raw_units(node.right, n_bins_non_missing)

    def predict(self, X: Any) -> Floats:
        X = np.array(X, dtype=np.float64)
        for f, categories in self.categories_.items():
            # the rank among the fitted categories; an unknown category is missing, as in scikit-learn
            column = X[:, f]
            where = np.searchsorted(categories, column)
            inside = where < categories.size
            known = inside & (categories[np.minimum(where, categories.size - 1)] == column) if categories.size else inside
            X[:, f] = np.where(known, where, np.nan)
        raw = np.full(X.shape[0], self.baseline_)
        rows = np.arange(X.shape[0])
        tree_values = np.empty(X.shape[0])
        for tree in self.trees_:
            _predict_tree(tree, X, rows, tree_values)
            raw += tree_values
        return raw
