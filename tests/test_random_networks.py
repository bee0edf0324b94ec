"""The seeded random-network generator of the sparsity axis."""

import numpy as np
import pytest

from kernels.executors import measure
from kernels.random_networks import random_network


def arrays(net):
    return (net.layer_ptr, net.act, net.bias, net.w_ptr, net.w_src, net.w_val)


def test_seeded_and_reproducible():
    a = random_network(5, 3, 20, sparsity=0.5, skip_prob=0.5, zero_fraction=0.5, seed=7)
    b = random_network(5, 3, 20, sparsity=0.5, skip_prob=0.5, zero_fraction=0.5, seed=7)
    c = random_network(5, 3, 20, sparsity=0.5, skip_prob=0.5, zero_fraction=0.5, seed=8)
    assert all(np.array_equal(x, y) for x, y in zip(arrays(a.network), arrays(b.network),
                                                    strict=True))
    assert a.measured == b.measured
    assert not np.array_equal(a.network.w_val[:10], c.network.w_val[:10])


@pytest.mark.parametrize("s", [0.0, 0.5, 0.9, 0.99])
def test_weight_sparsity(s):
    net = random_network(50, 2, 200, sparsity=s, seed=1, measure=False).network
    full = 50 * 200 + 200 * 200 + 200 * 1
    assert net.n_weights / full == pytest.approx(1 - s, abs=0.02 + 0.1 * (1 - s))


def test_skip_connections():
    none = random_network(4, 4, 8, skip_prob=0.0, seed=0, measure=False).network
    every = random_network(4, 4, 8, skip_prob=1.0, seed=0, measure=False).network
    for net, skips in ((none, False), (every, True)):
        lay = net.layer_of_unit
        rows = np.repeat(np.arange(net.n_neurons), np.diff(net.w_ptr))
        gap = lay[net.p + rows] - lay[net.w_src]
        assert (gap >= 1).all()
        assert (gap > 1).any() == skips
    # with skip_prob = 1 the output layer reads the input layer too
    out_rows = np.arange(every.w_ptr[-2], every.w_ptr[-1])
    assert (every.w_src[out_rows] < every.p).any()


@pytest.mark.slow
def test_zero_fraction_sets_activation_sparsity():
    for z in (0.25, 0.5, 0.9):
        rn = random_network(16, 3, 300, zero_fraction=z, seed=3, n_calibration=400)
        assert rn.measured["zero_output"] == pytest.approx(z, abs=0.02)
    # Definition 1: a biased neuron is active on every input; zeros make bias-free ones inactive
    dense_net = random_network(8, 3, 100, zero_fraction=0.5, seed=2).measured
    assert dense_net["inactive"] == 0.0
    rn = random_network(8, 3, 100, sparsity=0.95, zero_fraction=0.9, bias_fraction=0.5, seed=2)
    net = rn.network
    A = measure.active_sets(net, np.random.default_rng(0).standard_normal((50, 8)))["neurons"]
    assert A[:, net.bias != 0].all() and not A[:, net.bias == 0].all()
    lo = random_network(8, 3, 100, sparsity=0.95, zero_fraction=0.3, seed=2).measured
    hi = random_network(8, 3, 100, sparsity=0.95, zero_fraction=0.95, seed=2).measured
    assert hi["inactive"] > lo["inactive"] and hi["active_ops_mean"] < lo["active_ops_mean"]
    assert hi["active_ops_mean"] * 3 < hi["dense_ops"]


def test_no_negative_zero_biases_and_validation():
    net = random_network(3, 2, 30, zero_fraction=0.0, seed=0, measure=False).network
    assert not (np.signbit(net.bias) & (net.bias == 0)).any()
    with pytest.raises(ValueError):
        random_network(3, 2, 4, sparsity=1.0)
    with pytest.raises(ValueError):
        random_network(3, 2, 4, activation="tanh")
    with pytest.raises(ValueError):
        random_network(3, 2, 4, X_cal=np.zeros((5, 2)))


def test_public_random_network_predict_and_count_ops():
    """``kernels.random_network``: dense and active from Python, without private imports; outputs
    agree with the reference, counts are the counted twins'."""
    import naive

    import kernels
    from kernels.executors import active, dense

    rn = kernels.random_network(6, 3, 40, r=2, sparsity=0.9, zero_fraction=0.8, skip_prob=0.5,
                                seed=5)
    X = np.random.default_rng(0).standard_normal((50, 6))
    ref = naive.dense(rn.network, X)
    for e in ("dense", "active"):
        Y = rn.predict(X, executor=e)
        assert Y.shape == (50, 2) and Y.dtype == np.float64
        np.testing.assert_allclose(Y, ref, rtol=1e-10, atol=1e-10)
        Y32 = rn.predict(X, executor=e, dtype="float32")
        assert Y32.dtype == np.float32
        np.testing.assert_allclose(Y32, ref, rtol=1e-4, atol=1e-4)
    cd, ca = rn.count_ops(X), rn.count_ops(X, executor="active")
    assert (cd["total"] == dense.analytic_cost(rn.network)["total"]).all()
    ref_counts = active.count(rn.network, X)
    assert all(np.array_equal(ca[k], ref_counts[k]) for k in ref_counts)
    assert ca["total"].mean() < cd["total"].mean()
    np.testing.assert_array_equal(rn.predict(X[0], executor="active"), rn.predict(X[:1], "active"))
    with pytest.raises(ValueError):
        rn.predict(X, executor="tree")
    with pytest.raises(ValueError):
        rn.predict(X[:, :5])
    with pytest.raises(ValueError):
        rn.count_ops(np.full((2, 6), np.nan), executor="active")
