"""analyzer.model.linkage against scipy (a test dependency), on random, tied and structured inputs."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from analyzer.model.linkage import average_clusters, components


def _first_appearance(labels: np.ndarray) -> list[int]:
    seen: dict[int, int] = {}
    return [seen.setdefault(int(v), len(seen)) for v in labels]


def _scipy_clusters(distance: np.ndarray, threshold: float) -> list[int]:
    condensed = distance[np.triu_indices(distance.shape[0], k=1)]
    return _first_appearance(fcluster(linkage(condensed, method="average"), t=threshold, criterion="distance"))


def _cosine_distances(rng: np.random.Generator, n: int, dims: int, *, round_to: int | None = None) -> np.ndarray:
    centres = rng.normal(size=(max(1, n // 6), dims))
    points = centres[rng.integers(0, len(centres), n)] + rng.normal(scale=rng.uniform(0.1, 1.5), size=(n, dims))
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    distance = np.clip(1.0 - points @ points.T, 0.0, 2.0)
    distance = (distance + distance.T) / 2
    if round_to is not None:  # many exact ties
        distance = np.round(distance, round_to)
    np.fill_diagonal(distance, 0.0)
    return distance


@pytest.mark.parametrize("seed", range(40))
def test_average_clusters_are_scipys_flat_clusters(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 160))
    distance = _cosine_distances(rng, n, int(rng.integers(2, 30)), round_to=[None, 1, 2, 3][seed % 4])
    if seed % 3 == 0:  # as the signatures do: pairs that failed different tests are 1.0 apart
        conflict = np.triu(rng.random((n, n)) < 0.05, k=1)
        distance[conflict | conflict.T] = 1.0
    if seed % 5 == 0:  # duplicates: distance 0
        distance[: n // 3, : n // 3] = 0.0
    for threshold in (0.0, 0.1, 0.35, 0.55, 0.9, 1.0, 2.0):
        assert average_clusters(distance, threshold).tolist() == _scipy_clusters(distance, threshold), threshold


def test_average_clusters_small_cases() -> None:
    assert average_clusters(np.zeros((0, 0)), 0.5).tolist() == []
    assert average_clusters(np.zeros((1, 1)), 0.5).tolist() == [0]
    two = np.array([[0.0, 0.4], [0.4, 0.0]])
    assert average_clusters(two, 0.5).tolist() == [0, 0]
    assert average_clusters(two, 0.3).tolist() == [0, 1]
    # a chain a–b 0.2, b–c 0.5, a–c 0.9: {a, b} at 0.2, then c joins at (0.9 + 0.5) / 2 = 0.7
    chain = np.array([[0.0, 0.2, 0.9], [0.2, 0.0, 0.5], [0.9, 0.5, 0.0]])
    assert average_clusters(chain, 0.6).tolist() == [0, 0, 1]
    assert average_clusters(chain, 0.7).tolist() == [0, 0, 0]


@pytest.mark.parametrize("seed", range(20))
def test_components_are_scipys(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    n = int(rng.integers(1, 400))
    edges = int(rng.integers(0, 2 * n))
    rows, cols = rng.integers(0, n, edges), rng.integers(0, n, edges)
    graph = csr_matrix((np.ones(edges, dtype=np.int8), (rows, cols)), shape=(n, n))
    _, theirs = connected_components(graph, directed=False)
    ours = components(n, rows, cols)
    assert _first_appearance(ours) == _first_appearance(theirs)
    assert ours.tolist() == _first_appearance(ours)  # numbered in order of each component's smallest node


def test_components_of_a_long_chain_take_few_passes() -> None:
    """A path of 100,000 nodes numbered at random, a band around it and the path cut in two: the
    components of graphs whose diameter is as large as it gets (hooking roots finds them in a few dozen
    passes; propagating labels node by node took tens of seconds here)."""
    rng = np.random.default_rng(1)
    n = 100_000
    nodes = rng.permutation(n)
    rows, cols = nodes[:-1], nodes[1:]
    assert components(n, rows, cols).tolist() == [0] * n
    band = np.concatenate([nodes[:-k] for k in (1, 2, 3)]), np.concatenate([nodes[k:] for k in (1, 2, 3)])
    assert set(components(n, *band).tolist()) == {0}
    halves = np.concatenate([nodes[: n // 2 - 1], nodes[n // 2 : -1]]), np.concatenate([nodes[1 : n // 2], nodes[n // 2 + 1 :]])
    numbered = components(n, *halves)
    assert set(numbered.tolist()) == {0, 1} and numbered[nodes[0]] != numbered[nodes[-1]]


def test_average_clusters_refuse_what_scipy_refuses() -> None:
    with pytest.raises(ValueError):
        average_clusters(np.array([[0.0, np.nan], [np.nan, 0.0]]), 0.5)
    with pytest.raises(ValueError):
        average_clusters(np.array([[0.0, 0.2], [0.3, 0.0]]), 0.5)
