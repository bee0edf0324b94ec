"""The ``tree`` executor: general interpreter vs fast routing kernel vs references (same outputs,
same counts), Algorithm 1 of seed 000, the tie rule, and the builder's validation."""

from __future__ import annotations

import dataclasses

import naive
import numpy as np
import pytest

from kernels.executors import tree
from kernels.executors.tree import hyperplane
from kernels.executors.tree.builder import TreeBuilder
from kernels.memorizer import Memorizer
from kernels.model import data
from kernels.model.conditional import hyperplane_network, validate

ACTS = ("identity", "relu", "threshold", "sign")
TESTS = ("<", "<=", ">", ">=", "==", "!=")
COUNT_KEYS = ("mul", "add", "cmp", "total", "active_neurons", "active_weights", "tests")


def _weights(rng, k, lattice):
    if lattice:
        return rng.choice([-2.0, -1.0, 1.0, 2.0], size=k)
    return rng.normal(size=k)


def random_hyperplane_tree(rng, p, r, *, max_depth=6, p_split=0.7, lattice=False):
    """A random, usually unbalanced tree of the hyperplane shape (kernels.executors.tree.hyperplane
    docstring)."""
    B = TreeBuilder(p, r)
    stack = [(B.root, 0)]
    while stack:
        v, d = stack.pop()
        if d < max_depth and (d == 0 or rng.random() < p_split):
            test = TESTS[rng.integers(len(TESTS))]
            thr = float(rng.integers(-1, 2)) if lattice else float(rng.normal() * 0.5)
            if rng.random() < 0.25:  # axis-aligned: no op, test an input
                var = B.input(int(rng.integers(p)))
            else:
                src = np.sort(rng.choice(p, size=int(rng.integers(1, p + 1)), replace=False))
                bias = float(rng.integers(-2, 3)) if lattice else float(rng.normal())
                act = ACTS[rng.integers(len(ACTS))]
                var = B.op(v, src, _weights(rng, src.size, lattice), bias, act)
            t, f = B.split(v, var, test, thr)
            stack += [(t, d + 1), (f, d + 1)]
        else:
            outs = []
            for _ in range(r):
                kind = rng.integers(4)
                if kind == 0:
                    outs.append(B.const(v, float(rng.normal())))
                elif kind == 1:
                    outs.append(B.input(int(rng.integers(p))))
                else:  # affine or φ(affine), sources in any order
                    src = rng.permutation(p)[: int(rng.integers(1, p + 1))]
                    act = "identity" if kind == 2 else ACTS[rng.integers(len(ACTS))]
                    outs.append(B.op(v, src, _weights(rng, src.size, lattice),
                                     float(rng.normal()), act))
            B.leaf(v, outs)
    return B.build()


def random_general_tree(rng, p, r, *, max_depth=5, p_split=0.7):
    """A random tree whose ops read ancestors' variables (not the hyperplane shape)."""
    B = TreeBuilder(p, r)
    stack = [(B.root, 0, list(range(p)))]
    while stack:
        v, d, avail = stack.pop()
        avail = list(avail)
        for _ in range(int(rng.integers(0, 4))):
            src = rng.choice(avail, size=int(rng.integers(1, min(len(avail), 4) + 1)),
                             replace=False)
            avail.append(B.op(v, src, rng.normal(size=src.size), float(rng.normal()),
                              ACTS[rng.integers(len(ACTS))]))
        if d < max_depth and (d == 0 or rng.random() < p_split):
            var = int(rng.choice(avail))
            t, f = B.split(v, var, TESTS[rng.integers(len(TESTS))], float(rng.normal() * 0.3))
            stack += [(t, d + 1, avail), (f, d + 1, avail)]
        else:
            B.leaf(v, rng.choice(avail, size=r))
    return B.build()


def _inputs(rng, m, p, lattice, dtype):
    X = rng.integers(-2, 3, size=(m, p)) if lattice else rng.normal(size=(m, p))
    return X.astype(dtype)


def assert_counts_equal(a, b):
    for k in COUNT_KEYS:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def check_all_faces(cond, X):
    """Interpreter, fast path (when present) and both references agree exactly."""
    Y = tree.interpret(cond, X)
    L = tree.interpret_leaves(cond, X)
    C = tree.interpret_count(cond, X)
    np.testing.assert_array_equal(naive.tree(cond, X), Y)
    Cr, Lr = naive.tree_count(cond, X)
    assert_counts_equal(Cr, C)
    np.testing.assert_array_equal(Lr, L)
    np.testing.assert_array_equal(C["total"], C["mul"] + C["add"] + C["cmp"])
    np.testing.assert_array_equal(tree.predict(cond, X), Y)
    np.testing.assert_array_equal(tree.leaves(cond, X), L)
    assert_counts_equal(tree.count(cond, X), C)
    for i in range(min(len(X), 5)):
        np.testing.assert_array_equal(tree.predict_one(cond, X[i]), Y[i])
    f = tree.fast_form(cond)
    if f is not None:
        np.testing.assert_array_equal(hyperplane.predict(f, X), Y)
        assert_counts_equal(hyperplane.count(f, X), C)
        Yr, Lf, Cf = naive.hyperplane_route(f, X)
        np.testing.assert_array_equal(Yr, Y)
        np.testing.assert_array_equal(Lf, L)
        assert_counts_equal(hyperplane.tree_counts(Cf), C)
    assert Y.dtype == X.dtype
    return Y, L, C


# ---- random hyperplane trees: all faces agree ---------------------------------------------------
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("lattice", [False, True])
@pytest.mark.parametrize("seed", range(8))
def test_hyperplane_trees_all_faces_agree(seed, lattice, dtype):
    rng = np.random.default_rng(seed)
    p, r = int(rng.integers(1, 6)), int(rng.integers(1, 4))
    cond = random_hyperplane_tree(rng, p, r, max_depth=int(rng.integers(1, 9)), lattice=lattice)
    cond = cond.astype(dtype)
    assert tree.fast_form(cond) is not None
    X = _inputs(rng, 300, p, lattice, dtype)
    _, L, C = check_all_faces(cond, X)
    assert C["tests"].max() <= cond.depth
    assert np.isin(L, np.flatnonzero(cond.child_true < 0)).all()


def test_unbalanced_deep_tree():
    """A caterpillar: every right child is a leaf, depth 40."""
    rng = np.random.default_rng(1)
    p = 3
    B = TreeBuilder(p, 1)
    v = B.root
    for d in range(40):
        var = B.op(v, [0, 1, 2], rng.normal(size=3), float(d) * 0.1, "relu")
        v, leaf = B.split(v, var, ">", 0.0)
        B.leaf(leaf, [B.const(leaf, float(d))])
    B.leaf(v, [B.op(v, [2, 0], [1.0, -1.0])])
    cond = B.build()
    assert cond.depth == 40 and tree.fast_form(cond) is not None
    _, _, C = check_all_faces(cond, rng.normal(size=(500, p)) * 3)
    assert C["tests"].min() >= 1


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("seed", range(6))
def test_general_trees_interpreter_vs_reference(seed, dtype):
    rng = np.random.default_rng(100 + seed)
    p, r = int(rng.integers(1, 5)), int(rng.integers(1, 3))
    cond = random_general_tree(rng, p, r).astype(dtype)
    X = _inputs(rng, 200, p, False, dtype)
    check_all_faces(cond, X)


def test_switch_net_shapes_take_the_fast_path():
    """The shapes the hyperplane-tree construction emits: relu(wᵀx̄) > 0 or wᵀx̄ >= 0 splits,
    leaves of constants (bias-only ops) and γᵀx̄ ops."""
    rng = np.random.default_rng(5)
    p, r = 4, 2
    B = TreeBuilder(p, r)
    v1 = B.op(B.root, B.inputs(), rng.normal(size=p), 0.3, "relu")
    a, b = B.split(B.root, v1, ">", 0.0)
    v2 = B.op(a, B.inputs(), rng.normal(size=p), -0.1, "identity")
    c, d = B.split(a, v2, ">=", 0.0)
    for leaf in (c, d):
        B.leaf(leaf, [B.const(leaf, rng.random()), B.op(leaf, B.inputs(), rng.normal(size=p),
                                                        0.5)])
    B.leaf(b, [B.const(b, 1.0), B.const(b, 0.0)])
    cond = B.build()
    f = tree.fast_form(cond)
    assert f is not None and f.H.shape == (2, p)
    plan = tree.make_plan(cond)
    assert plan.axis is None and plan.form.H.shape == f.H.shape  # the plan keeps the form
    check_all_faces(cond, rng.normal(size=(400, p)))
    assert tree.count(cond, np.zeros((1, p)))["total"][0] >= 1


@pytest.mark.parametrize("case", ["reads_variable", "two_ops", "descending", "leaf_reads_path"])
def test_other_shapes_fall_back_to_the_interpreter(case):
    rng = np.random.default_rng(9)
    p = 3
    B = TreeBuilder(p, 1)
    src = [2, 0] if case == "descending" else [0, 1]
    v = B.op(B.root, src, [1.0, -1.0], 0.0, "relu")
    if case == "two_ops":
        B.op(B.root, [1], [2.0])
    if case == "reads_variable":
        v = B.op(B.root, [v, 2], [1.0, 1.0])
    t, f = B.split(B.root, v, ">", 0.0)
    B.leaf(t, [v] if case == "leaf_reads_path" else [B.const(t, 1.0)])
    B.leaf(f, [B.op(f, [1], [3.0])])
    cond = B.build()
    assert tree.fast_form(cond) is None
    check_all_faces(cond, rng.normal(size=(100, p)))


def _random_structure(rng, n_internal):
    """BFS child arrays of a random unbalanced full binary tree with n_internal splits."""
    ct, cf, frontier = [-1], [-1], [0]
    for _ in range(n_internal):
        v = frontier.pop(int(rng.integers(len(frontier))))
        ct[v], cf[v] = len(ct), len(ct) + 1
        ct += [-1, -1]
        cf += [-1, -1]
        frontier += [len(ct) - 2, len(ct) - 1]
    # relabel in BFS order
    order = [0]
    for v in order:
        if ct[v] >= 0:
            order += [ct[v], cf[v]]
    new = np.empty(len(order), np.int64)
    new[order] = np.arange(len(order))
    ct, cf = np.array(ct)[order], np.array(cf)[order]
    return np.where(ct >= 0, new[ct], -1), np.where(cf >= 0, new[cf], -1)


@pytest.mark.parametrize("affine_leaves", [False, True])
@pytest.mark.parametrize("drop_zeros", [True, False])
def test_hyperplane_network_builder(affine_leaves, drop_zeros):
    rng = np.random.default_rng(11)
    p, r = 4, 2
    ct, cf = _random_structure(rng, 60)
    Vi, L = int((ct >= 0).sum()), int((ct < 0).sum())
    H = rng.normal(size=(Vi, p)) * (rng.random((Vi, p)) < 0.7)
    h0 = rng.normal(size=Vi)
    g0 = rng.random((L, r))
    G = rng.normal(size=(L, r, p)) * (rng.random((L, r, p)) < 0.5) if affine_leaves else None
    test = np.array([">", ">="])[rng.integers(2, size=Vi)]
    act = np.array(["relu", "identity"])[rng.integers(2, size=Vi)]
    cond = hyperplane_network(ct, cf, H, h0, act=act, test=test, thr=0.0, leaf_g0=g0,
                                      leaf_G=G, drop_zeros=drop_zeros)
    f = tree.fast_form(cond)
    assert f is not None
    np.testing.assert_array_equal(f.H, H)
    X = rng.normal(size=(300, p))
    Y, L_, C = check_all_faces(cond, X)
    leaf_index = np.cumsum(ct < 0) - 1
    for i in range(50):  # direct evaluation of the definition
        v = 0
        while ct[v] >= 0:
            j = int(np.cumsum(ct >= 0)[v] - 1)
            s = h0[j] + H[j] @ X[i]
            s = max(s, 0.0) if act[j] == "relu" else s
            v = ct[v] if (s > 0 if test[j] == ">" else s >= 0) else cf[v]
        assert L_[i] == v
        want = g0[leaf_index[v]] + (G[leaf_index[v]] @ X[i] if affine_leaves else 0)
        np.testing.assert_allclose(Y[i], want, rtol=1e-12, atol=1e-12)
    nnz_internal = np.count_nonzero(H) if drop_zeros else H.size
    assert cond.op_w.size == nnz_internal + (
        0 if G is None else (np.count_nonzero(G) if drop_zeros else G.size))


# ---- the tie rule -------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_tie_rule_on_boundaries(dtype):
    """v exactly at the threshold: true child iff the test includes equality."""
    expect = {"<": False, "<=": True, ">": False, ">=": True, "==": True, "!=": False}
    X = np.array([[1.0, 1.0], [2.0, 0.0], [0.5, 1.5], [-1.0, 3.0]], dtype=dtype)  # x0 + x1 == 2
    for test, goes_true in expect.items():
        for fast in (True, False):
            B = TreeBuilder(2, 1)
            v = B.op(B.root, [0, 1], [1.0, 1.0], -2.0, "relu" if fast else "identity")
            if not fast:
                v = B.op(B.root, [v], [1.0])  # reads a variable: the interpreter runs
            t, f = B.split(B.root, v, test, 0.0)
            B.leaf(t, [B.const(t, 1.0)])
            B.leaf(f, [B.const(f, 0.0)])
            cond = B.build().astype(dtype)
            assert (tree.fast_form(cond) is not None) == fast
            Y, _, _ = check_all_faces(cond, X)
            assert (Y[:, 0] == 1.0).all() == goes_true and (Y[:, 0] == 0.0).all() != goes_true


def test_lattice_ties_are_hit_and_agree():
    """Integer inputs, weights and thresholds: many values land exactly on a boundary."""
    rng = np.random.default_rng(3)
    p = 3
    B = TreeBuilder(p, 1)
    v = B.op(B.root, B.inputs(), [1.0, -1.0, 2.0], 0.0, "identity")
    t, f = B.split(B.root, v, ">=", 0.0)
    B.leaf(t, [B.const(t, 1.0)])
    B.leaf(f, [B.const(f, 0.0)])
    cond = B.build()
    X = rng.integers(-2, 3, size=(400, p)).astype(float)
    on = X @ np.array([1.0, -1.0, 2.0]) == 0
    assert on.sum() > 20
    Y, _, _ = check_all_faces(cond, X)
    assert (Y[on, 0] == 1.0).all()


def test_single_leaf_and_empty_batch():
    B = TreeBuilder(3, 2)
    B.leaf(B.root, [B.const(B.root, 2.0), B.op(B.root, [2, 0], [1.0, 2.0], 0.5)])
    cond = B.build()
    assert tree.fast_form(cond) is not None
    _, _, C = check_all_faces(cond, np.arange(12.0).reshape(4, 3))
    assert C["tests"].max() == 0 and C["total"][0] == 4  # 2 mul + 2 add; the constant is free
    assert tree.predict(cond, np.zeros((0, 3))).shape == (0, 2)
    assert tree.count(cond, np.zeros((0, 3)))["total"].shape == (0,)
    with pytest.raises(ValueError, match="shape"):
        tree.predict(cond, np.zeros((2, 4)))


# ---- Algorithm 1 (seed 000 §2.3) ----------------------------------------------------------------
def _algorithm1_direct(u, W1, W2, W3, W4, W5):
    relu = lambda s: np.maximum(s, 0.0)  # noqa: E731
    if u[0] > 3:
        z = relu(W2 @ relu(W1 @ u))
        if z[2] == 5:
            return relu(W4 @ z), "B"
        return relu(W5 @ z), "C"
    return relu(W3 @ u), "A"


def test_algorithm1():
    rng = np.random.default_rng(2023)
    p, a, b, r = 5, 6, 4, 3
    nz = [-3.0, -2.0, -1.0, 1.0, 2.0, 3.0]
    W1, W2 = rng.choice(nz, (a, p)), rng.choice(nz, (b, a))
    W3, W4, W5 = rng.choice(nz, (r, p)), rng.choice(nz, (r, b)), rng.choice(nz, (r, b))
    # z_3 = relu(h_a) and h_a = relu(W1[a-1]·u) with W1[a-1, p-1] = 1: a family with z_3 = 5
    W2[2] = 0.0
    W2[2, a - 1] = 1.0
    W1[a - 1, p - 1] = 1.0

    B = TreeBuilder(p, r)
    yes, no = B.split(B.root, B.input(0), ">", 3.0)  # line 1: if u_1 > 3
    h = B.dense(yes, W1, B.inputs(), drop_zeros=False)  # line 2: z = φ(W2 φ(W1 u))
    z = B.dense(yes, W2, h, drop_zeros=False)
    eq, ne = B.split(yes, z[2], "==", 5.0)  # line 3: if z_3 = 5
    B.leaf(eq, B.dense(eq, W4, z, drop_zeros=False))  # line 4
    B.leaf(ne, B.dense(ne, W5, z, drop_zeros=False))  # line 6
    B.leaf(no, B.dense(no, W3, B.inputs(), drop_zeros=False))  # line 9
    cond = B.build()
    assert tree.fast_form(cond) is None  # ops read earlier variables: the interpreter runs

    fam = rng.integers(-3, 4, size=(40, p)).astype(float)
    fam[:, 0] = rng.integers(4, 10, size=40)
    fam[:, p - 1] = 5.0 - fam[:, : p - 1] @ W1[a - 1, : p - 1]
    X = np.vstack([rng.normal(size=(200, p)) * 4,  # both sides of u_1 > 3, z_3 ≠ 5
                   rng.integers(-3, 10, size=(200, p)).astype(float),  # lattice
                   fam,  # z_3 = 5 exactly
                   np.c_[np.full(5, 3.0), rng.normal(size=(5, p - 1))]])  # u_1 = 3: else branch
    Y, L, C = check_all_faces(cond, X)

    dims = {"A": [(r, p)], "B": [(a, p), (b, a), (r, b)], "C": [(a, p), (b, a), (r, b)]}
    ntests = {"A": 1, "B": 2, "C": 2}
    leaf_of = {"A": B.vertex_map[no], "B": B.vertex_map[eq], "C": B.vertex_map[ne]}
    seen = set()
    for i, u in enumerate(X):
        o, path = _algorithm1_direct(u, W1, W2, W3, W4, W5)
        seen.add(path)
        np.testing.assert_allclose(Y[i], o, rtol=1e-12, atol=1e-9)
        if (u == np.round(u)).all():
            np.testing.assert_array_equal(Y[i], o)  # integer data: exact arithmetic
        assert L[i] == leaf_of[path]
        # hand count: Σ dim W multiplications, Σ rows·(cols−1) additions, one comparison per ReLU
        # and per conditioning; so total = 2 Σ dim W + conditionings
        dim = sum(m * n for m, n in dims[path])
        rows = sum(m for m, _ in dims[path])
        hand = {"mul": dim, "add": sum(m * (n - 1) for m, n in dims[path]),
                "cmp": ntests[path] + rows, "total": 2 * dim + ntests[path],
                "active_neurons": rows, "active_weights": dim, "tests": ntests[path]}
        assert {k: int(C[k][i]) for k in hand} == hand, path
    assert seen == {"A", "B", "C"}
    assert (L[-5:] == leaf_of["A"]).all() and (L[400:440] == leaf_of["B"]).all()


# ---- Memorizer integration ----------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_memorizer_tree_executor(dtype):
    rng = np.random.default_rng(4)
    cond = random_hyperplane_tree(rng, 3, 2, max_depth=5)
    X = rng.normal(size=(50, 3))
    ds = data.validate(X, tree.interpret(cond, X))
    m = Memorizer("hand", ds, conditional=cond, executors=("tree",), dtype=dtype)
    Y = m.predict(X, executor="tree")
    assert Y.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(Y, tree.interpret(cond.astype(dtype), X.astype(dtype)))
    c = m.count_ops(X, executor="tree")
    assert_counts_equal(c, tree.interpret_count(cond.astype(dtype), X.astype(dtype)))


# ---- validation ---------------------------------------------------------------------------------
def _small():
    B = TreeBuilder(2, 1)
    v = B.op(B.root, [0, 1], [1.0, 1.0])
    t, f = B.split(B.root, v, ">", 0.0)
    w = B.op(t, [v], [2.0])
    B.leaf(t, [w])
    B.leaf(f, [B.const(f, 1.0)])
    return B.build()


def _mutate(cond, **kw):
    kw = {k: np.array(v) for k, v in kw.items()}
    return dataclasses.replace(cond, **kw)


def test_builder_errors():
    B = TreeBuilder(2, 1)
    with pytest.raises(ValueError, match="undefined"):
        B.op(B.root, [7], [1.0])
    with pytest.raises(ValueError, match="unknown test"):
        B.split(B.root, 0, "=>", 0.0)
    with pytest.raises(ValueError, match="unknown activation"):
        B.op(B.root, [0], [1.0], act="tanh")
    t, f = B.split(B.root, 0, ">", 0.0)
    x = B.op(t, [0], [1.0])
    with pytest.raises(ValueError, match="not on the root-to-vertex path"):
        B.op(f, [x], [1.0])  # defined in the sibling branch
    with pytest.raises(ValueError, match="not on the root-to-vertex path"):
        B.leaf(f, [x])
    with pytest.raises(ValueError, match="r = 1"):
        B.leaf(t, [x, x])
    with pytest.raises(ValueError, match="closed"):
        B.op(B.root, [0], [1.0])
    B.leaf(t, [x])
    with pytest.raises(ValueError, match="neither a test nor outputs"):
        B.build()  # f is open: not a full binary tree
    B.leaf(f, [1])
    validate(B.build())


def test_validate_raw_arrays():
    good = _small()  # root: op 2 = x0 + x1, test; leaf 1: op 3 = 2·v2; leaf 2: const 4
    validate(good)
    with pytest.raises(ValueError, match="not a full binary tree"):
        validate(_mutate(good, child_false=[-1, -1, -1]))
    with pytest.raises(ValueError, match="not a full binary tree"):
        validate(_mutate(good, child_true=[1, -1, -1], child_false=[1, -1, -1]))
    with pytest.raises(ValueError, match="neither an input nor defined"):
        validate(_mutate(good, op_src=[0, 1, 4]))  # leaf 1 reads the other leaf's constant
    with pytest.raises(ValueError, match="neither an input nor defined"):
        validate(_mutate(good, op_src=[0, 2, 2]))  # the root op reads itself
    with pytest.raises(ValueError, match="test at vertex 0"):
        validate(_mutate(good, test_var=[3, -1, -1]))  # tests a variable defined below
    with pytest.raises(ValueError, match="missing outputs"):
        validate(_mutate(good, out_var=[[-1], [3], [-1]]))
    with pytest.raises(ValueError, match="missing outputs"):
        validate(_mutate(good, out_var=[[-1], [4], [4]]))  # leaf 1 names leaf 2's variable
    with pytest.raises(ValueError, match="defined twice"):
        validate(_mutate(good, op_var=[2, 3, 3]))
    with pytest.raises(ValueError, match="non-finite"):
        validate(_mutate(good, test_thr=[np.nan, 0.0, 0.0]))
    with pytest.raises(ValueError, match="missing outputs"):
        tree.predict(_mutate(good, out_var=[[-1], [3], [-1]]), np.zeros((1, 2)))
