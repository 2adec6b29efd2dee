"""The failure signatures' features without scikit-learn: ``binary_counts`` and ``normalize_l2`` build
the same sparse matrices as ``CountVectorizer`` and ``normalize``, array for array."""

from __future__ import annotations

import random

import numpy as np
import pytest
from scipy.sparse import csr_matrix

from analyzer.model import signatures as sg


def _same(a: csr_matrix, b: csr_matrix) -> bool:
    return (
        a.shape == b.shape
        and a.data.dtype == b.data.dtype
        and np.array_equal(a.indptr, b.indptr)
        and np.array_equal(a.indices, b.indices)
        and np.array_equal(a.data, b.data)
    )


def _lines(seed: int) -> list[str]:
    rng = random.Random(seed)
    words = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz_") for _ in range(rng.randint(2, 9))) for _ in range(300)]
    words += ["<N>", "<DUR>", "::", "=", "(", ")", "Error:", "FAIL", "--- FAIL: TestX"]
    lines = [" ".join(rng.choice(words) for _ in range(rng.randint(1, 25))) for _ in range(rng.randint(1, 1500))]
    return list(dict.fromkeys(lines + list(sg._generic_lines()[: rng.randint(0, 20)])))


@pytest.mark.parametrize("seed", range(4))
def test_counts_and_normalization_equal_scikit_learn(seed: int) -> None:
    text = pytest.importorskip("sklearn.feature_extraction.text")
    preprocessing = pytest.importorskip("sklearn.preprocessing")
    docs = _lines(seed)
    vectorizer = text.CountVectorizer(analyzer=sg._analyze, binary=True, dtype=np.float32)
    expected = csr_matrix(vectorizer.fit_transform(docs))
    expected_generic = csr_matrix(vectorizer.transform(sg._generic_lines()))
    vocabulary, counts = sg.binary_counts(docs)
    _, generic = sg.binary_counts(sg._generic_lines(), vocabulary)
    assert vocabulary == vectorizer.vocabulary_
    assert _same(counts, expected) and _same(generic, expected_generic)
    weights = np.arange(1, counts.shape[0] + 1, dtype=np.float32)[:, None] / np.float32(7.0)
    scaled = csr_matrix(counts.multiply(weights))
    theirs = csr_matrix(preprocessing.normalize(scaled.copy(), norm="l2", copy=False), dtype=np.float32)
    assert _same(sg.normalize_l2(scaled.copy()), theirs)
