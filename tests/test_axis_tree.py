"""``axis-tree``: the build (balance, ties, lattices, leaves of 1 … q points), the fast routing
kernels against the general interpreter (same leaves, outputs and counts), the float32
certificate (and its refusal of a naively rounded tree), exact recall on real datasets."""

from __future__ import annotations

import naive
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import kernels
from kernels.constructions import axis_tree
from kernels.executors import tree
from kernels.executors.tree import axis
from kernels.verify import recall_errors, verify

DTYPES = ("float64", "float32")
COUNT_KEYS = ("mul", "add", "cmp", "total", "active_neurons", "active_weights", "tests")


def build(X, D, dtype="float64", **kw):
    return kernels.build("axis-tree", X, D, dtype=dtype, **kw)


def assert_same_as_interpreter(m, X=None):
    """Fast routing (batch, parallel, one query, reference) == the general interpreter."""
    cn = m.conditional.astype(m.dtype)
    X = np.ascontiguousarray(m.dataset.X if X is None else X, dtype=m.dtype)
    r = axis.axis_router(cn)
    assert r is not None
    Y = tree.interpret(cn, X)
    np.testing.assert_array_equal(axis.predict(r, X, threads=1), Y)
    np.testing.assert_array_equal(axis.predict(r, np.tile(X, (1 + 2048 // len(X), 1)),
                                                       threads=2)[:len(X)], Y)
    # the node sweeps of large trees, serial and parallel
    np.testing.assert_array_equal(axis.predict(r, X, threads=1, sweep="nodes"), Y)
    np.testing.assert_array_equal(axis.predict(r, np.tile(X, (1 + 2048 // len(X), 1)),
                                               threads=2, sweep="nodes")[:len(X)], Y)
    ref, leaf = naive.axis_route(r, X)
    np.testing.assert_array_equal(ref, Y)
    assert r.packed.size == (r.n_vertices if m.dtype == np.float32 and r.p <= 256 else 0)
    if r.packed.size:  # the 16-byte records' kernel too, which float64 and wide trees take
        from dataclasses import replace

        wide = replace(r, packed=r.packed[:0])
        np.testing.assert_array_equal(axis.predict(wide, X, threads=1), Y)
    np.testing.assert_array_equal(leaf, tree.interpret_leaves(cn, X))
    np.testing.assert_array_equal(axis.leaves(r, X), leaf)
    c, c_int = axis.count(r, X), tree.interpret_count(cn, X)
    for k in COUNT_KEYS:
        np.testing.assert_array_equal(c[k], c_int[k], err_msg=k)
    for i in range(min(len(X), 400)):  # the node layout of one query: every leaf kind
        np.testing.assert_array_equal(m.predict_one(X[i]), Y[i])
    return Y, c


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n,p,r", [(1, 3, 1), (2, 2, 2), (300, 1, 1), (2000, 4, 2),
                                   (600, 12, 3)])
def test_gaussian_exact_certified_and_same_as_interpreter(n, p, r, dtype):
    ds = kernels.generate("gaussian", n, p, r, seed=n + p, labels="signed")
    m = build(ds.X, ds.D, dtype)
    s = m.summary()
    assert s["certified"] and s["certificate"]["uncertified_points"] == 0
    Y, c = assert_same_as_interpreter(m)
    assert recall_errors(m, Y)["exact"]
    assert axis_tree.certify(m.conditional, ds.X, ds.D, dtype)["certified"]
    # balanced: depth ⌈log2(n/q)⌉ in float64 (float32 may split a leaf that fails its bound)
    if dtype == "float64":
        assert s["size"]["depth"] == s["bounds"]["depth_optimal"]
    assert c["total"].mean() <= s["bounds"]["axis_tree_ops_target"]


@pytest.mark.parametrize("dtype", DTYPES)
def test_renumbered_build_beyond_the_renumbering_size(dtype):
    """Past ``RENUMBER`` points the build renumbers the points mid-way (the flags a partition
    reads stay local): the tree is still exact, certified, and the same through every path."""
    from kernels.constructions.axis_build import RENUMBER

    ds = kernels.generate("gaussian", RENUMBER + 4099, 3, 2, seed=5, labels="signed")
    m = build(ds.X, ds.D, dtype)
    assert m.summary()["certified"]
    Y, _ = assert_same_as_interpreter(m)
    assert recall_errors(m, Y)["exact"]
    assert axis_tree.certify(m.conditional, ds.X, ds.D, dtype)["certified"]


def test_renumbered_twice():
    """Past RENUMBER·2^RENUMBER_STEP points the ids are renumbered at two sizes (the second
    renumbering composes the first's map): every point is still recalled exactly."""
    from kernels.constructions.axis_build import RENUMBER, RENUMBER_STEP

    ds = kernels.generate("gaussian", (RENUMBER << RENUMBER_STEP) + 999, 2, 1, seed=6)
    m = build(ds.X, ds.D, "float32")
    assert m.summary()["certified"]
    Y = axis.predict(m.router, ds.X.astype(np.float32))
    assert recall_errors(m, Y)["exact"]
    np.testing.assert_array_equal(Y[::997], naive.axis(m.router, ds.X[::997]))


@pytest.mark.parametrize("dtype", DTYPES)
def test_verify_record(dtype):
    ds = kernels.generate("gaussian", 3000, 8, 1, seed=3)
    rec = verify(build(ds.X, ds.D, dtype))
    assert rec["exact"] and rec["info"]["certified"]
    ops = rec["executors"]["tree"]["ops"]["mean"]
    assert rec["bounds"]["ops_lower"] < ops <= rec["bounds"]["axis_tree_ops_target"]


def test_tree_executor_dispatches_to_axis_fast_path():
    ds = kernels.generate("gaussian", 500, 3, 1, seed=4)
    m = build(ds.X, ds.D)
    cn = m.conditional
    np.testing.assert_array_equal(tree.predict(cn, ds.X), naive.tree(cn, ds.X))
    counts, leaf = naive.tree_count(cn, ds.X[:50])
    np.testing.assert_array_equal(tree.leaves(cn, ds.X[:50]), leaf)
    for k in COUNT_KEYS:
        np.testing.assert_array_equal(tree.count(cn, ds.X[:50])[k], counts[k])


def test_not_axis_shaped_is_refused():
    from kernels.model.conditional import hyperplane_network
    oblique = hyperplane_network([1, -1, -1], [2, -1, -1], [[1.0, 1.0]], leaf_g0=[[0.0], [1.0]])
    assert axis.axis_router(oblique) is None
    np.testing.assert_array_equal(tree.predict(oblique, [[1.0, 1.0], [-1.0, 0.0]]), [[0.0], [1.0]])


# ---- ties, lattices, leaf sizes ------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
def test_integer_lattice_with_ties(dtype):
    g = np.arange(10.0)
    X = np.array([(a, b) for a in g for b in g])  # 100 points, every coordinate 10-fold tied
    D = (X[:, :1] * 7 + X[:, 1:] ** 2) % 5 - 2.0
    m = build(X, D, dtype)
    s = m.summary()
    assert s["certified"]
    assert_same_as_interpreter(m)
    assert recall_errors(m, m.predict(X))["exact"]
    # a test never splits a tie: points equal in the tested coordinate share the branch
    cn = m.conditional
    leaf = tree.interpret_leaves(cn, X)
    assert len(np.unique(leaf)) == s["leaves"]
    assert s["size"]["depth"] <= s["bounds"]["depth_optimal"] + 2


def test_ties_in_one_coordinate_do_not_unbalance():
    rng = np.random.default_rng(5)
    n = 4096
    X = np.column_stack([rng.integers(0, 2, n) * (rng.random(n) < 0.1), rng.normal(size=n)])
    D = rng.normal(size=n)
    # constant leaves: the depth shows the splits alone (q = 3 points mostly on the line x_0 = 0
    # cannot be fitted, and 2 very close ones not within the float64 bound)
    m = build(X, D, leaf_size=1)
    assert m.summary()["size"]["depth"] == m.summary()["bounds"]["depth_optimal"]
    assert recall_errors(m, m.predict(X))["exact"]


def test_cube_vertices_all_outputs():
    ds = kernels.generate("cube", 256, 8, 2, seed=0, labels="parity")
    m = build(ds.X, ds.D, "float32")
    assert m.summary()["certified"]
    assert recall_errors(m, assert_same_as_interpreter(m)[0])["exact"]


@pytest.mark.parametrize("n", range(1, 6))
def test_leaves_of_every_size_up_to_q(n):
    """n ≤ q = p + 1 points in general position: one leaf, fitted exactly, no test."""
    rng = np.random.default_rng(n)
    X, D = rng.normal(size=(n, 4)), rng.normal(size=(n, 2))
    m = build(X, D)
    s = m.summary()
    assert s["leaves"] == 1 and s["leaf_points"]["max"] == n
    Y, c = assert_same_as_interpreter(m)
    assert recall_errors(m, Y)["exact"]
    assert (c["tests"] == 0).all()
    assert (c["mul"] == (0 if n == 1 else 2 * 4)).all()  # one point: a constant, no weights


def test_leaf_sizes_and_leaf_size_option():
    ds = kernels.generate("gaussian", 1000, 5, 1, seed=6)
    for q in (1, 2, 3, 6):
        s = build(ds.X, ds.D, leaf_size=q).summary()
        assert s["leaf_size"] == q and s["leaf_points"]["max"] <= q and s["certified"]
    with pytest.raises(ValueError, match="leaf_size"):
        build(ds.X, ds.D, leaf_size=0)


def test_rank_deficient_leaf():
    """Collinear points: an affine map exists iff the outputs are affine along the line."""
    t = np.arange(4.0)
    X = np.column_stack([t, 2 * t + 1, np.zeros(4)])  # 4 = q points on one line
    m = build(X, 3 * t - 1)
    assert m.summary()["leaves"] == 1 and recall_errors(m, m.predict(X))["exact"]
    m = build(X, t ** 2)  # not affine along the line: the leaf must be split
    assert m.summary()["leaves"] > 1 and recall_errors(m, m.predict(X))["exact"]


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 60), st.integers(1, 3), st.integers(0, 2**31 - 1),
       st.sampled_from(DTYPES))
def test_random_small_lattices(n, p, seed, dtype):
    rng = np.random.default_rng(seed)
    X = rng.integers(-3, 4, size=(n, p)).astype(float)
    X = np.unique(X, axis=0)
    D = rng.normal(size=(len(X), 2))
    m = build(X, D, dtype)
    assert m.summary()["certified"]
    Y, _ = assert_same_as_interpreter(m)
    assert recall_errors(m, Y)["exact"]


# ---- certification -------------------------------------------------------------------------------
def _below_float32_resolution():
    """Coordinate 0: 16 values 2^-29 apart, all 1.0 in float32, the largest gap in float64 (in
    standard deviations); coordinate 1: powers of two, exact in float32, tiny relative gaps."""
    k = np.arange(16.0)
    return np.column_stack([1.0 + k * 2.0**-29, 2.0**k]), k % 3


def test_certificate_refutes_naively_rounded_tree():
    X, D = _below_float32_resolution()
    m64 = build(X, D, "float64", leaf_size=1)
    assert m64.summary()["certified"] and m64.conditional.test_var[0] == 0
    cert = axis_tree.certify(m64.conditional, X, D, "float32")
    assert not cert["certified"] and cert["misrouted_points"] > 0 and 0 in cert["failing_vertices"]
    # and running that tree in float32 really is wrong
    naive = axis_tree.AxisTreeMemorizer("axis-tree", m64.dataset, conditional=m64.conditional,
                                        executors=("tree",), dtype="float32")
    assert not recall_errors(naive, naive.predict(X))["exact"]
    # the float32 build chooses certifiable tests instead
    m32 = build(X, D, "float32", leaf_size=1)
    assert m32.summary()["certified"] and m32.conditional.test_var[0] == 1
    assert axis_tree.certify(m32.conditional, X, D, "float32")["certified"]
    assert recall_errors(m32, m32.predict(X))["exact"]


def test_certificate_refutes_ill_conditioned_leaf_in_float32():
    X = np.array([[0.0, 100.0], [1.0, 100.001], [2.0, 100.0]])  # nearly collinear, far out
    D = np.array([1.0, 2.0, 1.0])  # (d = 0 would allow only ε‖D‖∞: no 3-point leaf in float64)
    m64 = build(X, D, "float64")
    assert m64.summary()["leaves"] == 1 and m64.summary()["certified"]
    cert = axis_tree.certify(m64.conditional, X, D, "float32")
    assert not cert["certified"] and cert["uncertified_leaf_points"] > 0
    m32 = build(X, D, "float32")
    assert m32.summary()["certified"] and m32.summary()["leaves"] > 1
    assert recall_errors(m32, m32.predict(X))["exact"]


def test_certificate_proves_the_same_rule_as_verify():
    """One leaf through (x, 1e4) and (x', 1e-3): in float32 the small output is off by ≈ 0.03 —
    far outside its own 1e-4·|d|, inside the rule's tol·(|d| + ‖D‖∞) ≈ 1.  The certificate and
    verify apply the one rule: both say exact, and the output is counted scale-limited."""
    X = np.array([[10.165276355285291], [10.409735239361947]])
    D = np.array([1e4, 1e-3])
    w = (D[1] - D[0]) / (X[1, 0] - X[0, 0])
    cond = axis_tree.to_conditional(1, 1, np.array([-1]), np.array([0.0]), np.array([-1]),
                                    np.array([0]), np.array([[[D[0] - w * X[0, 0], w]]]))
    cert = axis_tree.certify(cond, X, D, "float32")
    one_leaf = axis_tree.AxisTreeMemorizer("axis-tree", kernels.model.data.validate(X, D),
                                           conditional=cond, executors=("tree",),
                                           dtype="float32")
    rec = recall_errors(one_leaf, one_leaf.predict(X))
    assert cert["certified"] and rec["exact"] and rec["scale_limited_points"] == 1
    assert rec["worst"]["index"] == 1 and rec["max_rel_error"] > 1e-4
    # the same leaf with the small output off by more than tol·‖D‖∞: neither certified nor exact
    D_off = np.array([1e4, 1e-3 + 3.0])
    assert not axis_tree.certify(cond, X, D_off, "float32")["certified"]
    bad = axis_tree.AxisTreeMemorizer("axis-tree", kernels.model.data.validate(X, D_off),
                                      conditional=cond, executors=("tree",), dtype="float32")
    assert not recall_errors(bad, bad.predict(X))["exact"]
    m32 = build(X, D, "float32")
    assert m32.summary()["certified"] and recall_errors(m32, m32.predict(X))["exact"]


@pytest.mark.parametrize("dtype", DTYPES)
def test_certified_on_wide_range_outputs_means_every_point_within_its_own_tolerance(dtype):
    rng = np.random.default_rng(3)
    X = rng.standard_normal((300, 3))
    D = 10.0 ** rng.uniform(-6, 6, (300, 2))
    m = build(X, D, dtype)
    Y = m.predict(X).astype(np.float64)
    tol = 1e-9 if dtype == "float64" else 1e-4
    ok = np.abs(Y - D) <= tol * (np.abs(D) + np.abs(D).max())  # the rule, written out
    assert m.summary()["certified"] and ok.all()
    assert axis_tree.certify(m.conditional, X, D, dtype)["certified"]


def test_points_equal_in_float32_are_reported_uncertified():
    X = np.array([[1.0], [1.0 + 2.0**-40], [5.0]])
    D = np.array([0.0, 1.0, 2.0])
    m = build(X, D, "float32", leaf_size=1)
    s = m.summary()
    assert not s["certified"] and s["certificate"]["uncertified_points"] >= 2
    assert not recall_errors(m, m.predict(X))["exact"]
    assert build(X, D, "float64").summary()["certified"]


# ---- real datasets, API, errors ------------------------------------------------------------------
@pytest.mark.parametrize("loader", ["load_digits", "load_breast_cancer", "load_diabetes"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_real_datasets(loader, dtype):
    import sklearn.datasets
    X, y = getattr(sklearn.datasets, loader)(return_X_y=True)
    m = build(X, y.astype(float), dtype)
    rec = verify(m)
    assert rec["exact"] and m.summary()["certified"], rec["executors"]["tree"]
    assert_same_as_interpreter(m, X[:300])


def test_predict_one_validates():
    ds = kernels.generate("gaussian", 100, 3, 1, seed=7)
    m = build(ds.X, ds.D, "float32")
    np.testing.assert_array_equal(m.predict_one(list(ds.X[3])), m.predict(ds.X[3:4])[0])
    with pytest.raises(ValueError, match="non-finite"):
        m.predict_one(np.array([np.nan, 0.0, 0.0], np.float32))
    with pytest.raises(ValueError, match="shape"):
        m.predict_one(np.zeros(4))


def test_predict_one_checked_path_and_wide_features():
    """Rows that are not already C-contiguous 1-D arrays of the dtype take the converting path and
    give the same outputs; p >= 2^16 stores the node features as int32."""
    ds = kernels.generate("gaussian", 500, 4, 2, seed=3)
    m = build(ds.X, ds.D, "float32", leaf_size=2)
    Y = m.predict(ds.X)
    X2 = np.asfortranarray(ds.X.astype(np.float32))
    for i in range(0, 500, 7):
        np.testing.assert_array_equal(m.predict_one(X2[i]), Y[i])  # strided row
        np.testing.assert_array_equal(m.predict_one(ds.X[i]), Y[i])  # float64 row
        np.testing.assert_array_equal(m.predict_one(ds.X[i].tolist()), Y[i])
    with pytest.raises(ValueError, match="shape"):
        m.predict_one(ds.X[:2])
    p = 2**16 + 3  # too wide to build here; the tree's arrays written by hand
    W = np.zeros((3, 1, p + 1))
    W[:, 0, 0] = (10.0, 20.0, 30.0)
    cn = axis_tree.to_conditional(p, 1, feat=np.array([p - 1, -1, p - 2, -1, -1]),
                                  thr=np.array([0.5, 0, 0.5, 0, 0]),
                                  child=np.array([1, -1, 3, -1, -1]),
                                  leaf_of=np.array([-1, 0, -1, 1, 2]), W=W)
    router = axis.axis_router(cn)
    assert router.buf[axis.H_FW] == 4
    X = np.zeros((3, p))
    X[1:, p - 1] = 1
    X[2, p - 2] = 1
    np.testing.assert_array_equal(tree.interpret(cn, X)[:, 0], [10, 20, 30])
    for x, y in zip(X, (10, 20, 30), strict=True):
        assert axis.predict_one(router, x)[0] == y


def test_memory_estimate_refuses_too_large(monkeypatch):
    import kernels.model.data
    monkeypatch.setattr(kernels.model.data, "available_memory", lambda: 1 << 20)
    ds = kernels.generate("gaussian", 5000, 4, 1, seed=0)
    with pytest.raises(ValueError, match="axis-tree .* needs about"):
        build(ds.X, ds.D)
    assert kernels.constructions.estimate_bytes("axis-tree", 1 << 24, 8, 1) < 8 * 2**30


def test_cli_verify(capsys):
    from kernels.cli import main
    assert main(["verify", "axis-tree", "--n", "400", "--p", "3", "--dtype", "float32",
                 "--json"]) == 0
    import json
    rec = json.loads(capsys.readouterr().out)
    assert rec["exact"] and rec["info"]["certified"]


def test_batches_of_trees_past_node_bytes_sweep_nodes(monkeypatch):
    ds = kernels.generate("gaussian", 500, 3, 2, seed=5)
    m = build(ds.X, ds.D, "float32")
    r = m.router
    assert axis.sweeps(r) == "levels"
    Y = axis.predict(r, ds.X)
    monkeypatch.setattr(axis, "NODE_BYTES", r.packed.nbytes - 1)
    assert axis.sweeps(r) == "nodes"
    np.testing.assert_array_equal(axis.predict(r, ds.X), Y)
    with pytest.raises(ValueError, match="sweep must be"):
        axis.predict(r, ds.X, sweep="diagonal")
