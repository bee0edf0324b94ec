"""Bound formulas on hand-computed values, Theorem 3's rank-condition checker, and Definition 1
measured by ``measure.active_sets``."""

import math

import numpy as np
import pytest

import kernels
from kernels.executors import measure
from kernels.model.network import Layer, Network
from kernels.theory import bounds
from kernels.verify import verify


def test_theorem1_bound():
    assert bounds.theorem1_ops_bound(3, 5) == 23.0
    assert np.array_equal(bounds.theorem1_ops_bound(2, np.array([0, 1, 10])), [2.0, 6.0, 42.0])


def test_theorem2_bounds_by_hand():
    # n = 8 (log2 n = 3), q = 3, r = 2
    assert bounds.theorem2_active_neurons_bound(8, 3, 2) == 2 * 4 * 3 + 3 + 2 == 29
    assert bounds.theorem2_active_weights_bound(8, 3, 2) == 12 * 3 * 4 * 3 + 4 * 3 + 2 - 2 == 444
    # n = 1: log2 n = 0
    assert bounds.theorem2_active_neurons_bound(1, 5, 1) == 6.0
    assert bounds.theorem2_active_weights_bound(1, 5, 1) == 3 * 5 + 1 - 2 == 14
    got = bounds.theorem2_active_neurons_bound(np.array([2, 4, 1024]), 2, 1)
    assert np.allclose(got, [2 * 3 * 1 + 3, 2 * 3 * 2 + 3, 2 * 3 * 10 + 3])


def test_theorem2_ceil_log2_and_switch_net_closed_forms():
    # n = 20: log2 n ≈ 4.32, ⌈log2 n⌉ = 5; q = 3, r = 8
    assert bounds.theorem2_active_neurons_bound(20, 3, 8, ceil_log2=True) == 2 * 4 * 5 + 11
    assert bounds.theorem2_active_neurons_bound(20, 3, 8) < 2 * 4 * 5 + 11
    assert bounds.theorem2_active_neurons_bound(1024, 3, 8, ceil_log2=True) == 2 * 4 * 10 + 11
    # switch-net: A ≤ 2(q + 1)D + r + 1, within Theorem 2's (⌈log2 n⌉) for every r: q − 1 to spare
    for q in (2, 3, 9):
        for r in (1, q, q + 1, 5 * q, 100):
            for D in (1, 2, 6, 17):
                b = bounds.switch_net_active_bounds(D, q, r)
                assert b["active_neurons"] == 2 * (q + 1) * D + r + 1
                assert b["active_neurons"] + q - 1 == bounds.theorem2_active_neurons_bound(
                    2**D, q, r, ceil_log2=True)
                assert b["active_weights"] <= bounds.theorem2_active_weights_bound(2**D, q, r)
    b = bounds.switch_net_active_bounds(3, 2, 10, leaf_levels=2)
    assert b["active_weights"] == 3 + 12 + 8 + 12 + 4 + 2 * 12
    assert bounds.switch_net_active_bounds(0, 4, 3) == {"active_neurons": 7,
                                                          "active_weights": 7 + 3}


def test_corollary1_scale_and_theorem3_floor():
    assert bounds.corollary1_ops_scale(8, 3, 2) == 2 * 3 + 9 * 3 == 33
    assert bounds.theorem3_floor(8, 2) == 2.0
    assert bounds.theorem3_floor(1, 4) == 0.0  # clipped
    assert bounds.theorem3_floor(1000, 10) == pytest.approx(math.log2(100))
    assert np.allclose(bounds.theorem3_floor(np.array([4, 16, 2]), 4), [0.0, 2.0, 0.0])


def test_verify_reports_theorem3_floor():
    X = np.array([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]])
    m = kernels.build("sign-cube", X, np.array([1.0, -1.0, -1.0, 1.0]))
    assert verify(m)["bounds"]["ops_lower"] == bounds.theorem3_floor(4, 2) == 1.0


# ---- rank condition ------------------------------------------------------------------------------

def test_rank_condition_holds_generic_exhaustive():
    rng = np.random.default_rng(0)
    X, D = rng.standard_normal((9, 2)), rng.random(9)
    res = bounds.rank_condition(X, D)
    assert res["holds"] and res["exhaustive"]
    assert res["checked_subsets"] == res["total_subsets"] == math.comb(9, 3)
    assert res["first_violation"] is None


def test_rank_condition_fails_for_linear_outputs():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((10, 3))
    res = bounds.rank_condition(X, X @ np.array([1.0, -2.0, 0.5]))
    assert not res["holds"] and res["exhaustive"]
    assert res["first_violation"] == [0, 1, 2, 3] and res["violation_rank"] == 3
    # affine outputs satisfy the paper's (bias-free) condition, but not the augmented one
    D = X @ np.array([1.0, -2.0, 0.5]) + 3.0
    assert bounds.rank_condition(X, D)["holds"]
    aug = bounds.rank_condition(X, D, augmented=True)
    assert not aug["holds"] and aug["augmented"]


def test_rank_condition_fails_on_one_bad_pair():
    """Two points whose columns [x; d] are proportional (x6 = 2·x5, d6 = 2·d5): exactly the
    subsets holding both violate (p = 2)."""
    rng = np.random.default_rng(2)
    X = rng.standard_normal((7, 2))
    D = rng.random(7)
    X[6], D[6] = 2.0 * X[5], 2.0 * D[5]
    res = bounds.rank_condition(X, D)
    assert not res["holds"] and res["first_violation"] == [0, 5, 6]
    assert res["checked_subsets"] == math.comb(6, 2)  # the last subset that starts with 0
    assert res["violation_rank"] == 2


def test_rank_condition_sampled_and_scale_invariant():
    rng = np.random.default_rng(3)
    X, D = rng.standard_normal((200, 3)) * 1e6, rng.random((200, 2)) * 1e9
    res = bounds.rank_condition(X, D, exhaustive_max=1000, samples=500, output=1)
    assert res["holds"] and not res["exhaustive"] and res["checked_subsets"] == 500
    # a repeated point with the same label: every subset holding both copies is rank-deficient
    Xd, Dd = np.vstack([X[:8], X[3:4]]), np.concatenate([D[:8, 0], D[3:4, 0]])
    small = bounds.rank_condition(Xd, Dd)
    assert not small["holds"] and small["first_violation"] == [0, 1, 3, 8]


def test_rank_condition_vacuous_when_too_few_points():
    res = bounds.rank_condition(np.eye(3)[:2], np.ones(2))
    assert res["holds"] and res["total_subsets"] == 0


# ---- Definition 1 -------------------------------------------------------------------------------

def test_active_sets_chain_and_skip():
    """x -> h1 = relu(x1), h2 = relu(-x1); skip: o = x2 + h1 + h2 (reads layers 0 and 1)."""
    net = Network.from_layers(2, [Layer(np.array([[1.0, 0.0], [-1.0, 0.0]]), None, "relu"),
                                  Layer(np.array([[0.0, 1.0, 1.0, 1.0]]), None, "identity",
                                        (0, 1))])
    # stored weights (CSR): h1<-x1, h2<-x1, o<-x2, o<-h1, o<-h2 (zeros are not stored)
    X = np.array([[2.0, 0.0], [0.0, 3.0], [0.0, 0.0], [-1.0, 1.0]])
    s = measure.active_sets(net, X, weights=True)
    assert s["neurons"].tolist() == [[True, True, True], [False, False, True],
                                     [False, False, False], [True, True, True]]
    assert s["active_neurons"].tolist() == [3, 1, 0, 3]
    # x=(2,0): h1<-x1, h2<-x1, o<-h1, o<-h2 (h2 is active with output 0); o<-x2 is not (x2 = 0)
    assert s["weights"][0].tolist() == [True, True, False, True, True]
    assert s["active_weights"].tolist() == [4, 1, 0, 5]
    assert s["computed_weights"].tolist() == [3, 1, 0, 4]
    from kernels.executors import active
    c = active.count(net, X)
    for key in ("active_neurons", "active_weights", "computed_weights"):
        assert np.array_equal(c[key], s[key])


def test_active_sets_chunking_matches():
    from kernels.random_networks import random_network

    net = random_network(4, 3, 10, sparsity=0.5, skip_prob=0.5, zero_fraction=0.6,
                         bias_fraction=0.3, seed=1).network
    X = np.random.default_rng(0).standard_normal((40, 4))
    a = measure.active_sets(net, X)
    b = measure.active_sets(net, X, chunk=1)
    for key in a:
        assert np.array_equal(a[key], b[key])
