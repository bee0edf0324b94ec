"""The certified balanced hyperplane partition shared by switch-net and hyperplane-tree."""

from __future__ import annotations

import numpy as np
import pytest
from seed000_data import ADVERSARIAL, adversarial

from kernels.constructions import partition


def aug(X):
    return np.concatenate([np.ones((len(X), 1)), np.asarray(X, float)], axis=1)


def check(pt, P):
    n = len(P)
    assert pt.pos.size == 2 * n - 1
    assert np.array_equal(pt.point[pt.route(P)], np.arange(n))
    assert pt.max_depth == partition.ceil_log2(n) and pt.balanced
    for v in pt.internal:  # BFS: children after parents; sizes split in halves
        assert pt.pos[v] > v and pt.neg[v] > v
        m = pt.size[v]
        assert {pt.size[pt.pos[v]], pt.size[pt.neg[v]]} <= {m // 2, (m + 1) // 2}
        assert pt.lo[v] > 0 and pt.mu[v] >= pt.lo[v]
    # every point is strictly on its side at every vertex of its path
    for i in range(0, n, max(1, n // 50)):
        path = pt.path(i)
        for v, child in zip(path[:-1], path[1:], strict=True):
            s = pt.values(P[i:i + 1], v)[0]
            assert (s > 0) == (child == pt.pos[v]) and s != 0


@pytest.mark.parametrize("name", ADVERSARIAL)
def test_adversarial(name):
    X, _ = adversarial(name)
    P = aug(X)
    check(partition.build(P), P)


@pytest.mark.parametrize("n,p", [(1, 1), (2, 1), (7, 2), (100, 1), (1000, 6)])
def test_gaussian(n, p):
    P = aug(np.random.default_rng(n).standard_normal((n, p)))
    check(partition.build(P, seed=3), P)


def test_float32_partition_is_certified_in_float32():
    X = np.random.default_rng(0).standard_normal((400, 3)).astype(np.float32)
    P = aug(X).astype(np.float32)
    pt = partition.build(P, dtype="float32")
    assert pt.dtype == np.float32
    assert np.array_equal(pt.W.astype(np.float32).astype(np.float64), pt.W)
    check(pt, P)


def test_large_build_is_fast_enough():
    P = aug(np.random.default_rng(0).standard_normal((1 << 14, 4)))
    pt = partition.build(P)
    assert pt.max_depth == 14
    assert np.array_equal(pt.point[pt.route(P[:2000])], np.arange(2000))


def test_duplicates_and_inseparable_points_are_clear_errors():
    with pytest.raises(ValueError, match="coincide"):
        partition.build(aug([[1.0, 2.0], [3.0, 4.0], [1.0, 2.0]]))
    a = 1.0
    b = np.nextafter(1.0, 2.0)  # adjacent floats: no threshold strictly between them
    with pytest.raises(ValueError, match="too close"):
        partition.build(aug([[a], [b]]))
    with pytest.raises(ValueError, match="augmented"):
        partition.build(np.array([[2.0, 1.0], [2.0, 3.0]]))


def test_tie_rule_of_route():
    P = aug([[0.0], [1.0]])
    pt = partition.build(P)
    w = pt.W[0]
    boundary = np.array([[1.0, -w[0] / w[1]]])
    assert pt.values(boundary, 0)[0] == 0
    assert pt.route(boundary)[0] == pt.neg[0]
