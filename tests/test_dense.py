"""The dense executor: the fast path (GEMM/CSR blocks, batch and matrix–vector) = the NumPy
reference within the dtype's rounding (CSR blocks: bit for bit, the same summation order), the
block choice exercised both ways, counted twin = the analytic count of the cost model, on random
networks with skip connections and every activation, in float64 and float32."""

import dataclasses

import naive
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernels.executors import dense
from kernels.memorizer import Memorizer
from kernels.model.data import validate
from kernels.model.network import ACTIVATIONS, Layer, Network
from kernels.random_networks import random_network

ACTS = tuple(ACTIVATIONS)


def random_layers(rng, p, depth, r, *, skip=0.5, sparsity=0.3, acts=ACTS):
    """Random layers: each reads the previous layer and, with probability ``skip``, earlier ones;
    entries are zero with probability ``sparsity``; biases are zero for about a third of the
    neurons; the hidden activations are drawn from ``acts``; the output is linear."""
    widths = [p] + [int(rng.integers(1, 7)) for _ in range(depth)] + [r]
    layers = []
    for ell in range(1, len(widths)):
        src = tuple(s for s in range(ell - 1) if rng.random() < skip) + (ell - 1,)
        fan_in = sum(widths[s] for s in src)
        W = rng.standard_normal((widths[ell], fan_in))
        W[rng.random(W.shape) < sparsity] = 0.0
        b = rng.standard_normal(widths[ell])
        b[rng.random(widths[ell]) < 1 / 3] = 0.0
        act = "identity" if ell == len(widths) - 1 else str(rng.choice(acts))
        layers.append(Layer(W, b, act, src))
    return layers


def inputs(rng, p, m=40):
    X = rng.standard_normal((m, p))
    X[::5] = 0.0  # exact zeros reach the activations' boundary cases (s = bias, s = 0)
    X[1::7, 0] = -0.0
    X[2] *= 1e3
    return X


TOL = {"float64": 1e-10, "float32": 1e-4}


def close(Y, R, dtype):
    """Within the dtype's rounding, relative to the outputs' scale."""
    t = TOL[np.dtype(dtype).name]
    np.testing.assert_allclose(Y, R, rtol=t, atol=t * (1 + np.abs(R).max(initial=0)))


def check(net, X, dtype):
    obj = net.astype(dtype)
    R = naive.dense(obj, X)
    for force in (None, "gemm", "csr"):
        Y = dense.predict(obj, X, force=force)  # len(X) > MATVEC_MAX: the batch path
        Y3 = dense.predict(obj, X[:3], force=force)  # the matrix–vector path
        assert Y.dtype == np.dtype(dtype) and Y.shape == (len(X), net.r)
        if force == "csr":  # the stored order: the reference's bits
            np.testing.assert_array_equal(Y, R)
            np.testing.assert_array_equal(Y3, R[:3])
        close(Y, R, dtype)
        close(Y3, R[:3], dtype)
    close(dense.predict_one(obj, X[-1]), R[-1], dtype)
    c = dense.count(obj, X)
    a = dense.analytic_cost(obj)
    for key in ("mul", "add", "cmp", "total"):
        assert c[key].shape == (len(X),)
        assert (c[key] == a[key]).all(), key
    assert a["total"] == a["mul"] + a["add"] + a["cmp"]


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), p=st.integers(1, 6), depth=st.integers(1, 4),
       r=st.integers(1, 3), dtype=st.sampled_from(["float64", "float32"]))
def test_kernel_equals_reference_and_counts(seed, p, depth, r, dtype):
    rng = np.random.default_rng(seed)
    net = Network.from_layers(p, random_layers(rng, p, depth, r))
    check(net, inputs(rng, p), dtype)


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_every_activation(act, dtype):
    rng = np.random.default_rng(len(act))
    net = Network.from_layers(3, random_layers(rng, 3, 3, 2, acts=(act,)))
    assert set(net.act[:-2].tolist()) == {ACTIVATIONS[act]}
    check(net, inputs(rng, 3), dtype)


def test_skip_connections_are_used():
    """A layer reading the input and an earlier layer directly: the outputs match a hand
    computation, and paper_weights charges the skip."""
    W1 = np.array([[1.0, -1.0], [0.5, 2.0]])
    W2 = np.array([[1.0, 1.0]])
    W3 = np.array([[1.0, 0.0, 2.0, 0.0, -1.0]])  # reads x (2), layer 1 (2), layer 2 (1)
    net = Network.from_layers(2, [Layer(W1, [0.0, -1.0], "relu"),
                                  Layer(W2, [0.5], "threshold"),
                                  Layer(W3, [0.25], "identity", (0, 1, 2))])
    X = np.array([[1.0, 2.0], [3.0, -1.0], [0.0, 0.0]])
    h1 = np.maximum(X @ W1.T + [0.0, -1.0], 0)
    h2 = (h1 @ W2.T + 0.5 >= 0).astype(float)
    y = np.hstack([X, h1, h2]) @ W3.T + 0.25
    np.testing.assert_allclose(dense.predict(net, X), y, rtol=0, atol=1e-15)
    check(net, X, "float64")
    assert net.paper_weights == 2 * 2 + 1 * 2 + 1 * 5


def test_sign_and_threshold_at_zero():
    """sign(0) = 0 (two comparisons), threshold(0) = 1, relu(0) = 0."""
    for act, want in (("sign", 0.0), ("threshold", 1.0), ("relu", 0.0), ("identity", 0.0)):
        net = Network.from_layers(1, [Layer(np.array([[1.0]]), None, act),
                                      Layer(np.array([[1.0]]), None, "identity")])
        assert dense.predict(net, np.zeros((1, 1)))[0, 0] == want
        check(net, np.array([[0.0], [-0.0], [2.0], [-3.0]]), "float64")
    net = Network.from_layers(1, [Layer(np.ones((1, 1)), None, "sign"),
                                  Layer(np.ones((1, 1)), None, "identity")])
    assert dense.analytic_cost(net)["cmp"] == 2


def test_analytic_cost_closed_form():
    """mul = stored weights, add = Σ (terms − 1) with the bias a term when non-zero."""
    W = np.array([[1.0, 2.0, 0.0], [0.0, 0.0, 3.0]])
    net = Network.from_layers(3, [Layer(W, [1.0, 0.0], "relu"),
                                  Layer(np.array([[1.0, 1.0]]), None, "identity")])
    a = dense.analytic_cost(net)
    assert a == {"mul": 5, "add": 2 + 0 + 1, "cmp": 2, "total": 10}


def test_memorizer_dense_path_and_dtype():
    rng = np.random.default_rng(1)
    net = Network.from_layers(4, random_layers(rng, 4, 2, 2))
    X = rng.standard_normal((10, 4))
    ds = validate(X, np.zeros((10, 2)))
    for dt in ("float64", "float32"):
        m = Memorizer("t", ds, network=net, executors=("dense",), dtype=dt)
        Y = m.predict(X)
        assert Y.dtype == np.dtype(dt)
        close(Y, naive.dense(net.astype(dt), X.astype(dt)), dt)
        c = m.count_ops(X, executor="dense")
        assert (c["total"] == dense.analytic_cost(net)["total"]).all()


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_block_choice_both_ways_and_tiles(dtype):
    """The cost model picks GEMM for a dense layer and CSR for a sparse one; both kinds, forced,
    agree with the reference over several column tiles (the last one partial)."""
    rng = np.random.default_rng(0)
    for s, want in ((0.0, dense.GEMM), (0.99, dense.CSR)):
        src = random_network(8, 2, 300, r=2, sparsity=s, skip_prob=1.0, zero_fraction=0.5,
                             seed=1, measure=False).network
        net = src.astype(dtype)
        assert net.reorder  # astype keeps the permission
        assert (dense.make_plan(net).kind == want).all()
        X = rng.standard_normal((70, 8)).astype(dtype)
        R = naive.dense(net, X)
        for force in ("gemm", "csr"):
            pl = dense.make_plan(net, force)
            assert (pl.kind == (dense.GEMM if force == "gemm" else dense.CSR)).all()
            close(dense.forward(pl, net, X, tile=16), R, dtype)
        csr = dense.make_plan(net, "csr")
        np.testing.assert_array_equal(dense.forward(csr, net, X, tile=16), R)
    with pytest.raises(ValueError):
        dense.make_plan(net, "dense")


def test_reference_order_unless_reordering_is_allowed():
    """A network that does not allow reordering (every construction's) runs CSR layers only, in
    the reference's order and bits; allowing it lets dense ReLU layers take BLAS; the permission
    follows ``astype`` through the Memorizer."""
    rng = np.random.default_rng(3)
    layers = [Layer(rng.standard_normal((200, 6)), rng.standard_normal(200), "relu"),
              Layer(rng.standard_normal((2, 200)), None, "identity")]
    net = Network.from_layers(6, layers)
    X = rng.standard_normal((40, 6))
    assert (dense.make_plan(net).kind == dense.CSR).all()
    np.testing.assert_array_equal(dense.predict(net, X), naive.dense(net, X))
    net = dataclasses.replace(net, reorder=True)
    assert (dense.make_plan(net).kind == dense.GEMM).all()
    close(dense.predict(net, X), naive.dense(net, X), "float64")
    ds = validate(X, np.zeros((40, 2)))
    m = Memorizer("t", ds, network=net, executors=("dense",), dtype="float32")
    route = m.route("dense")
    assert route.obj is not net and (route.plan.kind == dense.GEMM).all()
    plain = Network.from_layers(6, layers)
    m2 = Memorizer("t", ds, network=plain, executors=("dense",), dtype="float32")
    assert (m2.route("dense").plan.kind == dense.CSR).all()


def test_plan_is_explicit_and_bad_shape():
    net = random_network(4, 1, 8, seed=0, measure=False).network
    plan = dense.make_plan(net)
    X = np.random.default_rng(0).standard_normal((5, 4))
    np.testing.assert_array_equal(dense.predict(net, X, plan=plan), dense.predict(net, X))
    with pytest.raises(ValueError):
        dense.predict(net, np.zeros((3, 5)))


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int32])
@pytest.mark.parametrize("shape", [(1,), (5, 7), (777, 1000)])
def test_scratch_starts_on_a_page(shape, dtype):
    """The batch paths' per-call buffers start on a page boundary, from Python (scratch) and from
    inside a kernel (page_empty), whatever the heap held before: C arrays of the asked shape."""
    from kernels.executors._ops import PAGE_BYTES, page_empty, scratch

    hold = [np.ones(k, np.uint8) for k in (17, 4000, 70001)]  # move the heap
    a = scratch(shape, dtype)
    b = page_empty(int(np.prod(shape)), np.empty(0, dtype)).reshape(shape)
    for arr in (a, b):
        assert arr.shape == shape and arr.dtype == dtype and arr.flags.c_contiguous
        assert arr.ctypes.data % PAGE_BYTES == 0
        arr[...] = 3  # the whole array is writable memory of its own
        assert (arr == 3).all()
    assert len(hold) == 3
