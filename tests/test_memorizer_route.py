"""``Memorizer.predict``'s fast route: one row takes the executor's single-input path and equals
the batch's row; routes are resolved once and follow a replaced network; bad input still fails."""

import numpy as np
import pytest

from kernels.memorizer import Memorizer
from kernels.model.data import validate
from kernels.random_networks import random_network


def memorizer(dtype="float64", seed=0):
    net = random_network(5, 2, 30, r=2, sparsity=0.5, zero_fraction=0.5, seed=seed,
                         measure=False).network
    X = np.random.default_rng(seed).standard_normal((40, 5))
    from kernels.executors import dense

    return Memorizer("t", validate(X, dense.predict(net, X)), network=net,
                     executors=("dense", "active"), dtype=dtype), X


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_one_row_equals_batch_row(dtype):
    m, X = memorizer(dtype)
    Xd = np.ascontiguousarray(X, dtype=dtype)
    for e in ("dense", "active"):
        Y = m.predict(Xd, executor=e)
        for i in (0, 7, 39):
            y = m.predict(Xd[i:i + 1], executor=e)
            assert y.shape == (1, 2) and y.dtype == np.dtype(dtype)
            t = 1e-10 if dtype == "float64" else 1e-4
            np.testing.assert_allclose(y[0], Y[i], rtol=t, atol=t)
            np.testing.assert_array_equal(m.predict_one(X[i], executor=e), y[0])
        np.testing.assert_array_equal(m.predict(list(X[3]), executor=e), m.predict(Xd[3:4], e))


def test_route_is_cached_and_follows_a_new_network():
    m, X = memorizer()
    r1 = m.route("dense")
    assert m.route("dense") is r1 and m.route(None) is r1
    other, _ = memorizer(seed=1)
    m.network = other.network
    assert m.route("dense") is not r1
    np.testing.assert_array_equal(m.predict(X, executor="dense"),
                                  other.predict(X, executor="dense"))


def test_bad_inputs_still_fail():
    m, X = memorizer()
    bad = np.ascontiguousarray(X[:1])
    bad[0, 2] = np.nan
    big = X.copy()
    big[30, 1] = np.inf
    for Z in (bad, big, X[:, :4]):
        with pytest.raises(ValueError):
            m.predict(Z, executor="dense")
    with pytest.raises(TypeError, match="strings"):  # a wrong type, not a wrong value
        m.predict(np.array([["a"] * 5]), executor="dense")
    with pytest.raises(ValueError):
        m.predict(X, executor="tree")
    huge = np.full((1, 5), 1e308)  # its sum overflows, yet every entry is finite: accepted
    for e in ("dense", "active"):
        assert m.predict(huge, executor=e).shape == (1, 2)


def test_a_planned_memorizer_pickles_and_recalls_the_same():
    """asv's setup_cache pickles built memorizers: the resolved routes (which hold modules) are
    left out and resolved again."""
    import pickle

    import kernels

    ds = kernels.generate("gaussian", n=64, p=4, r=1, seed=0)
    for name in ("axis-tree", "switch-net", "hyperplane-tree"):
        m = kernels.build(name, ds.X, ds.D, seed=0)
        for e in m.executors:
            m.predict(ds.X, executor=e)  # every route resolved
        again = pickle.loads(pickle.dumps(m))
        for e in m.executors:
            assert np.array_equal(again.predict(ds.X, executor=e), m.predict(ds.X, executor=e))
