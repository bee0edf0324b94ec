"""``axis-tree`` — median tests on single coordinates, leaves of ≤ q = p + 1 points each mapped
exactly by one affine neuron per output: a conditional network (seed 000 §2.3) near the Theorem 3
floor.

A test ``x_k < β`` on an input is a legal edge of the paper's conditional network and costs one
comparison; an affine neuron ``b + wᵀx`` (identity activation, so negative outputs are fine) maps
up to p + 1 points in general position exactly.  Balanced median splits reach leaves of ≤ q points
after ⌈log2(n/q)⌉ tests, so recall costs about log2(n/q) + 2pr operations per input (p
multiplications and p additions per output), within an additive O(qr) of Theorem 3's
log2(n/p) — the gap Corollary 1's O(q log n + qr) leaves open.

The build is :func:`kernels.constructions.axis_build.build_tree` (Numba, O(p·n·log n), no Python
per vertex); see its docstring for the split rule (ties and lattices), the exact leaf solve and the
certification.  The result is an ordinary :class:`~kernels.model.network.ConditionalNetwork` (tests
``<`` on inputs, identity leaf ops over inputs), so executor ``tree`` — the general interpreter —
runs it; :mod:`kernels.executors.tree.axis` is its fast path (batched, parallel, single-query).

Certified recall: the build proves, for every dataset point, that every test on its path branches
the same way in the storage precision as in exact arithmetic and that each of its leaf outputs
meets the exactness rule *for that point*, |f̂_k(x_i) − d_ik| ≤ tol·(|d_ik| + ‖D‖∞) (a rigorous
rounding-error bound, compared by :func:`kernels.theory.verify.within`, the rule ``verify`` uses).
``summary()["certified"]`` says whether that proof went through; a point that no test of the
storage precision can separate from another (equal after rounding to float32) is counted as
uncertified, never hidden.  :func:`certify` re-proves it independently for any axis-shaped network
(tests hold the two to the same verdict, and show it refuting a naively rounded tree).

Options: ``leaf_size`` (q, default p + 1; smaller means deeper trees and fewer points per leaf).
"""

from __future__ import annotations

import functools
import math

import numpy as np

from kernels.constructions.axis_build import build_tree, certify_points
from kernels.constructions.options import Range
from kernels.executors.tree import axis
from kernels.memorizer import Memorizer, check_inputs
from kernels.model.data import Dataset
from kernels.model.network import ConditionalNetwork, check_dtype
from kernels.theory.verify import check_range, rule

NAME = "axis-tree"
SEED = "beyond seed 000 (Theorem 3 floor; Corollary 1's tree with axis tests)"
SUMMARY = "median tests x_k < b, exact affine leaves of <= p+1 points: ~log2(n/q)+2pr ops"
NONNEGATIVE = False
EXECUTORS = ("tree",)
OPTIONS = {  # checked, and every default filled in, by the registry before build
    "leaf_size": (int, Range(1), None, "points per leaf (none: p + 1)"),
}


def _leaf_size(p: int, leaf_size) -> int:
    """q: ``leaf_size`` (checked >= 1 against OPTIONS) capped at p + 1, or p + 1."""
    return p + 1 if leaf_size is None else max(1, min(int(leaf_size), p + 1))


def estimate_bytes(n: int, p: int, r: int, *, leaf_size) -> int:
    """Peak bytes of the build and of the network it returns (estimated before allocating)."""
    q = _leaf_size(p, leaf_size)
    L = 2 * n // q + 16  # leaves hold more than q/2 points but for a few refined ones
    V = 2 * L
    lists = 12 * p * n + 13 * n  # index lists, sorted values, side flags, partition buffers
    lists += 8 * (p + 1) * (q + p + 1)  # the leaf solve's At (p+1, q) and H (p+1, p+1)
    tree = 2 * V * 22 + L * (r * (p + 1) * 8 + 9)  # vertex arrays (capacity 2V), leaf maps
    network = V * (41 + 8 * r) + L * r * (25 + 16 * p) + L * r * p * 16  # + to_conditional temps
    router = V * 48 + L * (r * (p + 2) * 8 + 64)  # records, leaf ids, cost rows, leaf rows
    return int(1.25 * max(lists + tree, tree + network + router))


class AxisTreeMemorizer(Memorizer):
    """A Memorizer with the axis tree's single-query fast path."""

    @functools.cached_property
    def router(self) -> axis.AxisRouter:
        """The fast-path arrays of the network in this memorizer's dtype (the tree executor's
        plan, built once)."""
        return self.route("tree").plan.axis

    def predict_one(self, x, executor: str | None = None) -> np.ndarray:
        """Output (r,) of one input ``x`` (p,) — the lowest-overhead recall: a 1-D ndarray of the
        memorizer's dtype goes straight to the router's compiled kernel (which checks its length
        and finiteness), with one output allocation and no other Python call; anything else
        passes the shared input rule first."""
        router = self.router
        if (executor is None and type(x) is _ndarray and x.dtype is router.Wp.dtype
                and x.ndim == 1):
            out = _empty(router.r, x.dtype)
            if router.entry(x, router.buf, out):
                axis.refuse_one(router, x)
            return out
        if executor is not None and executor != "tree":
            return super().predict_one(x, executor)
        return axis.predict_one(router, check_inputs(x, router.p, self.dtype, one=True)[0])


_ndarray = np.ndarray
_empty = np.empty


def to_conditional(p: int, r: int, feat, thr, child, leaf_of, W) -> ConditionalNetwork:
    """The §2.3 arrays of a built tree: tests ``x_k < β`` (true: ``child``, false: ``child + 1``),
    one identity op per leaf and output over the inputs, zero weights not stored."""
    V = feat.size
    internal = feat >= 0
    leaves = np.flatnonzero(~internal)
    Lc = leaves.size
    assert (leaf_of[leaves] == np.arange(Lc)).all(), "leaves must be numbered in BFS order"
    nops = np.zeros(V, np.int64)
    nops[leaves] = r
    K = Lc * r
    w = W[:, :, 1:].reshape(K, p)
    nz = w != 0
    out_var = np.full((V, r), -1, np.int64)
    out_var[leaves] = p + np.arange(K).reshape(Lc, r)
    return ConditionalNetwork(
        p=p, r=r, n_vars=p + K,
        test_var=np.where(internal, feat, -1).astype(np.int64),
        test_op=np.zeros(V, np.int8),
        test_thr=np.where(internal, thr, 0.0),
        child_true=np.where(internal, child, -1).astype(np.int64),
        child_false=np.where(internal, child + 1, -1).astype(np.int64),
        op_ptr=np.concatenate([[0], np.cumsum(nops)]).astype(np.int64),
        out_var=out_var,
        op_var=p + np.arange(K, dtype=np.int64),
        op_act=np.zeros(K, np.int8),
        op_bias=W[:, :, 0].reshape(K).copy(),
        op_w_ptr=np.concatenate([[0], np.cumsum(nz.sum(axis=1))]).astype(np.int64),
        op_src=np.nonzero(nz)[1].astype(np.int64),
        op_w=w[nz])


def certify(cond: ConditionalNetwork, X, D, dtype) -> dict:
    """Prove (or refute) exact recall of (X, D) by the axis-shaped ``cond`` run in ``dtype``.

    For every point: every test on its exact path must branch the same way in ``dtype`` (input and
    threshold rounded to ``dtype``) as in exact arithmetic, and its leaf output, evaluated in
    ``dtype``, must be provably within the exactness rule tol·(|d_ik| + ‖D‖∞) for that point and
    output (:func:`kernels.theory.verify.within`)."""
    dt = check_dtype(dtype)
    exact = axis.axis_router(cond)
    if exact is None:
        raise ValueError("certify needs an axis-shaped conditional network")
    X = np.ascontiguousarray(X, dtype=np.float64)
    D = np.ascontiguousarray(np.asarray(D, dtype=np.float64).reshape(len(X), -1))
    tol, scale = rule(dt, D)
    thr = np.where(cond.child_true >= 0, cond.test_thr, -np.inf)
    status, where = certify_points(X, D, exact.rec, thr, thr.astype(dt).astype(np.float64),
                                   exact.leaf_id, exact.Wp, dt == np.float32, tol, scale)
    mis = np.flatnonzero(status == 1)
    return {"certified": bool((status == 0).all()), "dtype": dt.name,
            "misrouted_points": int(mis.size), "failing_vertices": np.unique(where[mis]).tolist(),
            "uncertified_leaf_points": int(np.count_nonzero(status == 2)),
            "tolerance": tol, "scale": scale, "points": int(len(X))}


def _bounds(m: Memorizer) -> dict:
    n, r = m.dataset.n, m.dataset.r
    q = m.info["leaf_size"]
    est = math.log2(max(n / q, 1.0)) + 2 * q * r
    return {"axis_tree_ops": est, "axis_tree_ops_target": est + 8,
            "depth_optimal": math.ceil(math.log2(max(n / q, 1.0)))}


def build(ds: Dataset, *, seed: int, dtype, leaf_size) -> Memorizer:
    dt = check_dtype(dtype)
    X, D = ds.X, ds.D
    n, p = X.shape
    q = _leaf_size(p, leaf_size)
    check_range(D, dt, NAME)
    tol, scale = rule(dt, D)
    f32 = dt == np.float32
    # The index lists and their sorted keys: in float32 the keys are the float32 roundings (half
    # the memory; every test the build may choose lies strictly between two float32 keys, where
    # the rounded and the exact comparison agree: axis_build's docstring).
    L = np.empty((p, n), np.int32 if n < 2**31 else np.int64)
    V = np.empty((p, n), np.float32 if f32 else np.float64)
    inv_scale = np.ones(p)
    for k in range(p):
        col = np.ascontiguousarray(X[:, k])
        sd = float(col.std())
        if sd > 0:
            inv_scale[k] = 1.0 / sd
        if f32:
            col = col.astype(np.float32)
        order = np.argsort(col)
        L[k] = order
        V[k] = col[order]
        del col, order
    T, thr, W = build_tree(X, D, L, V, q, f32, tol, scale, inv_scale)
    del L, V
    T, thr, W = T.copy(), thr.copy(), W.copy()  # the build's spare capacity is freed
    feat, child, leaf_of = T[:, 2], T[:, 3], T[:, 4]
    is_leaf = leaf_of >= 0
    lcount = (T[:, 1] - T[:, 0])[is_leaf]
    bad = T[is_leaf, 5] != 1
    cond = to_conditional(p, ds.r, feat, thr, child, leaf_of, W)
    del T, thr, W, feat, child, leaf_of, is_leaf  # before the router is derived
    cert = {"certified": bool(not bad.any()), "dtype": dt.name, "tolerance": tol, "scale": scale,
            "uncertified_leaves": int(bad.sum()), "uncertified_points": int(lcount[bad].sum()),
            "proof": "at build time: every point at every test on its path (exact and "
                     f"{dt.name} branch agree), and at its leaf (a rounding-error bound within "
                     "tol·(|d_ik| + ‖D‖∞) for each output)"}
    info = {"leaf_size": q, "leaves": int(lcount.size),
            "leaf_points": {"min": int(lcount.min()), "mean": float(lcount.mean()),
                            "max": int(lcount.max())},
            "certified": cert["certified"], "certificate": cert}
    m = AxisTreeMemorizer(NAME, ds, conditional=cond, executors=EXECUTORS, dtype=dt, info=info,
                          bounds=_bounds)
    m.route("tree")  # planned now: a built memorizer is ready to recall
    return m
