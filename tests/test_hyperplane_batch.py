"""Batched routing of hyperplane-shaped trees (kernels.executors.tree.hyperplane_batch):
bit-identical to the
per-query kernel and the interpreter, one thread and several, float64 and float32."""

from __future__ import annotations

import numpy as np
import pytest

import kernels
from kernels.executors import tree
from kernels.executors.tree import hyperplane, hyperplane_batch
from kernels.model.conditional import hyperplane_network


def _random_tree(rng, p, depth, dtype):
    """A complete tree of random oblique, axis and activated tests with affine leaves."""
    Vi = 2**depth - 1
    L = 2**depth
    V = Vi + L
    ct = np.full(V, -1)
    cf = np.full(V, -1)
    ct[:Vi] = 2 * np.arange(Vi) + 1
    cf[:Vi] = 2 * np.arange(Vi) + 2
    H = rng.normal(size=(Vi, p)) * (rng.random((Vi, p)) < 0.7)
    return hyperplane_network(ct, cf, H, rng.normal(size=Vi),
                              act=rng.choice(["identity", "relu", "sign"], size=Vi),
                              test=rng.choice(["<", "<=", ">", ">=", "==", "!="], size=Vi),
                              thr=rng.integers(-1, 2, size=Vi).astype(float),
                              leaf_g0=rng.normal(size=(L, 2)), leaf_G=rng.normal(size=(L, 2, p)),
                              dtype=dtype)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("p", [1, 3, 9])
def test_same_as_per_query_kernel_and_interpreter(dtype, p):
    rng = np.random.default_rng(p)
    cond = _random_tree(rng, p, 6, dtype)
    f = tree.fast_form(cond)
    assert f is not None and hyperplane_batch.fits(f)
    X = rng.integers(-2, 3, size=(3000, p)).astype(dtype)  # lattice: ties at thresholds
    X[::3] = rng.normal(size=(1000, p))
    Y = hyperplane.predict(f, X)
    np.testing.assert_array_equal(hyperplane_batch.predict(f, X, threads=1), Y)
    np.testing.assert_array_equal(hyperplane_batch.predict(f, X, threads=2), Y)
    np.testing.assert_array_equal(tree.predict(cond, X), tree.interpret(cond, X))
    np.testing.assert_array_equal(hyperplane_batch.predict(f, X[:5], threads=1), Y[:5])


def test_hyperplane_tree_construction_batches():
    ds = kernels.generate("gaussian", 600, 3, 1, seed=2)
    m = kernels.build("hyperplane-tree", ds.X, ds.D, dtype="float32")
    cond = m.conditional.astype("float32")
    f = tree.fast_form(cond)
    X = ds.X.astype(np.float32)
    np.testing.assert_array_equal(hyperplane_batch.predict(f, X), hyperplane.predict(f, X))
