"""Graph components and average-linkage clusters in numpy, for the failure signatures.

They were scipy's (``scipy.sparse.csgraph.connected_components``, ``scipy.cluster.hierarchy.linkage``
with ``fcluster``); importing those two modules cost ``report`` about 0.22 s of CPU, a sixth of it
at 10,000 runs. ``tests/test_linkage.py`` checks both against scipy on random and tied inputs.

- :func:`components`: connected components of an undirected graph given as edge lists, by
  hooking roots under the smaller label and pointer jumping until every edge's ends agree.
- :func:`average_clusters`: the flat clusters of average linkage (UPGMA) cut at a distance,
  by the nearest-neighbour chain algorithm on a dense distance matrix: follow nearest
  neighbours from a cluster until two are each other's nearest (on a tie the previous link of
  the chain is kept), merge them into the one with the larger index, the merged cluster's
  distance to every other being ``(n_a·d_a + n_b·d_b) / (n_a + n_b)``. Average linkage is
  reducible, so the chain finds the same merges as merging the closest pair each time. A
  flat cluster at ``t`` is a subtree whose highest merge is at most ``t`` (``fcluster``'s
  ``criterion="distance"``: no two members further apart than ``t`` in the tree).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def components(n: int, rows: NDArray[np.integer], cols: NDArray[np.integer]) -> NDArray[np.int64]:
    """A component number per node (0, 1, …: components in order of their smallest node).

    Each pass hooks the root of every edge's larger label under the smaller one, then jumps every
    node to its root: the passes grow with the logarithm of the components' sizes, not with their
    diameter (a chain of 10⁵ nodes takes ~0.02 s)."""
    label = np.arange(n, dtype=np.int64)
    if rows.size:
        r, c = rows.astype(np.int64), cols.astype(np.int64)
        while True:
            lr, lc = label[r], label[c]
            if np.array_equal(lr, lc):
                break
            low = np.minimum(lr, lc)
            np.minimum.at(label, lr, low)  # the roots (labels are roots after the jumps below)
            np.minimum.at(label, lc, low)
            while True:  # pointer jumping: every node to its label's label, down to a root
                jumped = label[label]
                if np.array_equal(jumped, label):
                    break
                label = jumped
    _, number = np.unique(label, return_inverse=True)
    return np.asarray(number, dtype=np.int64).ravel()


def average_clusters(distance: NDArray[np.float64], threshold: float) -> NDArray[np.int64]:
    """Flat clusters (0, 1, …, in order of their first member) of average linkage on a symmetric
    ``distance`` matrix (n × n; the diagonal is ignored), cut at ``threshold``."""
    n = distance.shape[0]
    if n <= 1:
        return np.zeros(n, dtype=np.int64)
    d = np.array(distance, dtype=np.float64, copy=True)
    if not np.isfinite(d).all() or not np.array_equal(d, d.T):
        raise ValueError("distances must be finite and symmetric")  # (scipy's linkage refuses them too)
    np.fill_diagonal(d, np.inf)
    size = np.ones(n, dtype=np.float64)
    parent = np.arange(n, dtype=np.int64)  # union-find over the merges that stay under the cut
    highest = np.zeros(n)  # per live cluster: the highest merge inside it
    chain: list[int] = []
    live = n
    while live > 1:
        if not chain:
            chain.append(int(np.flatnonzero(size > 0)[0]))
        a = chain[-1]
        row = d[a]
        b = int(np.argmin(row))
        if len(chain) > 1 and row[chain[-2]] <= row[b]:
            b = chain[-2]  # a tie keeps the chain's previous link: the pair is reciprocal
        if len(chain) < 2 or b != chain[-2]:
            chain.append(b)
            continue
        del chain[-2:]
        x, y = (a, b) if a < b else (b, a)
        height = float(d[x, y])
        nx, ny = size[x], size[y]
        merged = (nx * d[x] + ny * d[y]) / (nx + ny)
        merged[size == 0] = np.inf
        merged[x] = merged[y] = np.inf
        d[y, :] = merged
        d[:, y] = merged
        d[x, :] = np.inf
        d[:, x] = np.inf
        size[y], size[x] = nx + ny, 0.0
        top = max(height, highest[x], highest[y])
        highest[y] = top
        if top <= threshold:
            parent[_root(parent, x)] = _root(parent, y)
        live -= 1
    roots = np.array([_root(parent, i) for i in range(n)], dtype=np.int64)
    _, first, inverse = np.unique(roots, return_index=True, return_inverse=True)
    rank = np.empty(first.size, dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(first.size)
    return np.asarray(rank[inverse], dtype=np.int64).ravel()


def _root(parent: NDArray[np.int64], i: int) -> int:
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = int(parent[i])
    return i
