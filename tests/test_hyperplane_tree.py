"""``hyperplane-tree`` (seed 000, Corollary 1, direct proof): exact recall under ``tree`` on real
and adversarial datasets, operation counts equal to the path formula, within Corollary 1's
constant and above Theorem 3's floor, the fast routing kernel vs the general interpreter, the
tie rule."""

from __future__ import annotations

import json

import numpy as np
import pytest
from seed000_data import ADVERSARIAL, REAL, adversarial, real

import kernels
from kernels.constructions import partition
from kernels.executors import tree
from kernels.executors.tree import hyperplane
from kernels.model.data import generate
from kernels.theory import bounds


def build(X, D, **kw):
    return kernels.build("hyperplane-tree", X, D, **kw)


def check(m):
    X, D = m.dataset.X, m.dataset.D
    n, p = m.dataset.n, m.dataset.p
    Y = m.predict(X)
    assert np.abs(Y - D).max(initial=0) <= 1e-9 * max(1.0, float(np.abs(D).max()))
    c = m.count_ops(X)
    b = m.bounds()
    assert np.array_equal(c["total"], m.path_ops)  # the path formula, exactly
    assert c["total"].max() <= b["corollary1_ops"]
    assert b["corollary1_ops"] == b["corollary1_per_level"] * partition.ceil_log2(n)
    if n > 1:
        assert (c["total"] >= bounds.theorem3_floor(n, p)).all()
    assert hyperplane.form(m.conditional) is not None  # the fast path recognises the shape
    cond = m.conditional.astype(m.dtype)
    assert np.array_equal(tree.interpret(cond, X.astype(m.dtype)), Y)
    ci = tree.interpret_count(cond, X.astype(m.dtype))
    for k in ("mul", "add", "cmp", "total"):
        assert np.array_equal(ci[k], c[k])
    return c


@pytest.mark.parametrize("name", REAL)
def test_real_datasets_exact(name):
    X, D = real(name)
    check(build(X, D))


@pytest.mark.parametrize("name", ADVERSARIAL)
def test_adversarial_datasets_exact(name):
    X, D = adversarial(name)
    m = build(X, D)
    check(m)
    assert m.conditional.n_vertices == m.info["formulas"]["vertices"] == 2 * m.dataset.n - 1


@pytest.mark.parametrize("n,p,r", [(1, 2, 1), (2, 1, 1), (3, 2, 2), (100, 4, 3), (1000, 8, 1)])
def test_sizes_and_bounds(n, p, r):
    ds = generate("gaussian", n, p, r, seed=n, labels="signed")
    m = build(ds.X, ds.D)
    check(m)
    cond = m.conditional
    assert cond.n_vertices == 2 * n - 1 and cond.n_leaves == n
    assert cond.n_ops == (n - 1) + r * n
    assert cond.op_w.size == m.info["formulas"]["weights"] <= p * (n - 1)
    assert cond.depth == partition.ceil_log2(n)


def test_identity_op_routes_the_same_with_fewer_comparisons():
    ds = generate("sphere", 500, 5, 2, seed=2)
    a, b = build(ds.X, ds.D), build(ds.X, ds.D, op="identity")
    check(a)
    check(b)
    ca, cb = a.count_ops(ds.X), b.count_ops(ds.X)
    assert np.array_equal(ca["total"] - cb["total"], ca["tests"])
    Z = np.random.default_rng(0).standard_normal((300, 5))
    assert np.array_equal(a.predict(Z), b.predict(Z))


def test_float32_exact_within_tolerance():
    X, D = real("wine")
    m = build(X, D, dtype="float32")
    assert kernels.verify(m)["exact"]


def test_tie_rule_boundary_goes_to_child_false():
    """An input with w_vᵀx̄ = 0 exactly (an axis split, value computed exactly) takes the false
    edge — the partition's neg side — every time; routing matches Partition.route."""
    X, D = adversarial("lattice")
    m = build(X, D)
    part, cond = m.partition, m.conditional
    Z, at = [], []
    for v in part.internal:
        w = part.W[v]
        nz = np.flatnonzero(w[1:])
        if part.exact[v] and nz.size == 1 and w[0] != 0:
            u = v
            while part.pos[u] >= 0:
                u = part.pos[u]
            z = X[part.point[u]].copy()
            z[nz[0]] = -w[0]
            assert part.values(np.concatenate([[1.0], z])[None], v)[0] == 0
            Z.append(z)
            at.append(v)
    Z = np.array(Z)
    assert len(Z) > 10
    leaves = tree.leaves(cond, Z)
    assert np.array_equal(leaves, tree.leaves(cond, Z))  # deterministic
    assert np.array_equal(leaves, part.route(np.concatenate([np.ones((len(Z), 1)), Z], 1)))
    for z_leaf, v in zip(leaves, at, strict=True):
        u = z_leaf  # the leaf is under neg[v]
        path = []
        while u != v:
            path.append(u)
            u = np.flatnonzero((part.pos == u) | (part.neg == u))[0]
        assert path[-1] == part.neg[v]
    Y = m.predict(Z)
    assert np.array_equal(Y, m.dataset.D[part.point[leaves]])


def test_off_dataset_inputs_route_to_a_leaf_constant():
    X, D = real("diabetes")
    m = build(X, D)
    Z = np.random.default_rng(1).standard_normal((500, X.shape[1])) * X.std(axis=0)
    Y = m.predict(Z)
    lv = tree.leaves(m.conditional, Z)
    assert np.array_equal(Y, m.dataset.D[m.partition.point[lv]])


def test_verify_json_and_cli(capsys):
    from kernels.cli import main

    assert main(["verify", "hyperplane-tree", "--n", "200", "--p", "3", "--json"]) == 0
    rec = json.loads(capsys.readouterr().out)
    t = rec["executors"]["tree"]
    assert rec["exact"] and t["exact"]
    assert t["ops"]["max"] <= rec["bounds"]["corollary1_ops"]
    assert t["ops"]["max"] >= rec["bounds"]["theorem3_floor"] == rec["bounds"]["ops_lower"]
