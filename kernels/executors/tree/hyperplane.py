"""Fast routing for *hyperplane-shaped* conditional networks (seed 000, Corollary 1's if-else tree).

A :class:`~kernels.model.network.ConditionalNetwork` has the hyperplane shape when

* every **internal vertex** either
  (a) runs exactly **one** op ``v = φ(b + Σ_k w_k x_k)`` whose sources are **inputs only**, listed
      in strictly increasing order (any activation φ), and tests **that** variable ``v ⋚ β``
      (any of the six tests, any threshold β) — e.g. ``relu(wᵀx̄) > 0`` or ``wᵀx̄ >= 0``; or
  (b) runs **no** op and tests an **input** ``x_k ⋚ β`` directly (an axis-aligned split);
* every **leaf** runs ops that read **inputs only** (any order, any activation), and each of its
  ``r`` outputs is either one of those leaf ops or an input — constants (bias-only ops), γᵀx̄, or
  φ(γᵀx̄).

:func:`form` detects the shape and builds the flat arrays (:class:`HyperplaneForm`), which the tree
executor's plan keeps; ``kernels.executors.tree`` dispatches here automatically
(:func:`kernels.model.conditional.hyperplane_network` builds such networks from flat arrays,
vectorised).
Internal vertex i keeps a dense row ``H[i] (p,)`` and offset ``h0[i]``; the kernel evaluates ``h0 +
Σ_k H[i,k] x_k`` in increasing k, which is the general interpreter's order (bias first, stored
sources increasing) plus exact zero terms, so every value, hence every decision, is the same (up to
the sign of a zero), and leaf outputs, evaluated from the very same CSR slices as the interpreter's,
are bit-identical. Counts come from a per-vertex cost table derived from the network's ops by the
cost model (each weight a multiplication, terms − 1 additions with a non-zero bias a term,
``ACT_CMP`` comparisons per activation, one comparison per test), so they equal the interpreter's
counts input by input.
Ties follow :func:`kernels.model.conditional.holds`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from kernels.executors._ops import activate
from kernels.executors.tree.costs import COST_COLUMNS, tree_counts, vertex_costs  # noqa: F401
from kernels.model.conditional import checked, holds
from kernels.model.network import ConditionalNetwork


@dataclass(eq=False)
class HyperplaneForm:
    """Flat arrays of a hyperplane-shaped tree (module docstring); vertex ids as in the network."""

    p: int
    r: int
    child_true: np.ndarray  # int64 (V,)
    child_false: np.ndarray  # int64 (V,)
    row: np.ndarray  # int64 (V,): internal -> row of H; leaf -> leaf index
    H: np.ndarray  # float (Vi, p)
    h0: np.ndarray  # float (Vi,)
    h_act: np.ndarray  # int8 (Vi,)
    axis: np.ndarray  # int64 (Vi,): input tested directly, or -1
    t_op: np.ndarray  # int8 (Vi,)
    thr: np.ndarray  # float (Vi,)
    o_ptr: np.ndarray  # int64 (L*r + 1,): output k of leaf l is entry l*r + k
    o_src: np.ndarray  # int64, input ids
    o_w: np.ndarray  # float
    o_b: np.ndarray  # float (L*r,)
    o_act: np.ndarray  # int8 (L*r,)
    cost: np.ndarray  # int32 (V, 6): COST_COLUMNS of each vertex (its ops, plus its test)

    def nbytes(self) -> int:
        return sum(getattr(self, k).nbytes for k in self.__dataclass_fields__
                   if isinstance(getattr(self, k), np.ndarray))


def form(cond: ConditionalNetwork) -> HyperplaneForm | None:
    """The hyperplane form of ``cond``; None without the shape (built now: the tree executor's plan
    keeps it)."""
    return _detect(checked(cond))


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenation of arange(s, s + n) over (starts, lengths)."""
    total = int(lengths.sum())
    ptr = np.concatenate([[0], np.cumsum(lengths)])
    owner = np.repeat(np.arange(lengths.size), lengths)
    return starts[owner] + np.arange(total) - ptr[owner]


def _detect(cond: ConditionalNetwork) -> HyperplaneForm | None:
    p, r, V, K = cond.p, cond.r, cond.n_vertices, cond.n_ops
    dt = cond.op_w.dtype
    internal = cond.child_true >= 0
    nops = np.diff(cond.op_ptr)
    wlen = np.diff(cond.op_w_ptr)
    op_vertex = np.repeat(np.arange(V), nops)
    op_of_w = np.repeat(np.arange(K), wlen)
    if (cond.op_src >= p).any():  # every op of the shape reads inputs only
        return None
    iv = np.flatnonzero(internal)
    if (nops[iv] > 1).any():
        return None
    one, zero = iv[nops[iv] == 1], iv[nops[iv] == 0]
    j = cond.op_ptr[one]
    if (cond.test_var[one] != cond.op_var[j]).any() or (cond.test_var[zero] >= p).any():
        return None
    same = op_of_w[1:] == op_of_w[:-1]
    descending = np.zeros(K, bool)
    descending[op_of_w[1:][same & (cond.op_src[1:] <= cond.op_src[:-1])]] = True
    if descending[j].any():
        return None
    lv = np.flatnonzero(~internal)
    ov = cond.out_var[lv]  # (L, r)
    var_vertex = np.full(cond.n_vars, -1, np.int64)
    var_op = np.zeros(cond.n_vars, np.int64)
    var_vertex[cond.op_var] = op_vertex
    var_op[cond.op_var] = np.arange(K)
    if not ((ov < p) | (var_vertex[ov] == lv[:, None])).all():
        return None

    row = np.empty(V, np.int64)
    row[iv] = np.arange(iv.size)
    row[lv] = np.arange(lv.size)
    Vi = iv.size
    H = np.zeros((Vi, p), dt)
    h0 = np.zeros(Vi, dt)
    h_act = np.zeros(Vi, np.int8)
    axis = np.full(Vi, -1, np.int64)
    h0[row[one]] = cond.op_bias[j]
    h_act[row[one]] = cond.op_act[j]
    axis[row[zero]] = cond.test_var[zero]
    hp_op = np.full(K, -1, np.int64)
    hp_op[j] = row[one]
    wm = hp_op[op_of_w] >= 0
    H[hp_op[op_of_w[wm]], cond.op_src[wm]] = cond.op_w[wm]

    u = ov.ravel()
    is_in = u < p
    jj = var_op[u]
    lengths = np.where(is_in, 1, wlen[jj] if K else 0).astype(np.int64)
    o_ptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    owner = np.repeat(np.arange(u.size), lengths)
    o_src = np.repeat(u, lengths)  # inputs: the input itself, weight 1
    o_w = np.ones(o_src.size, dt)
    from_op = ~is_in[owner]
    if from_op.any():
        gidx = _ranges(cond.op_w_ptr[jj[~is_in]], lengths[~is_in])
        o_src[from_op] = cond.op_src[gidx]
        o_w[from_op] = cond.op_w[gidx]
    o_b = np.where(is_in, 0, cond.op_bias[jj] if K else 0).astype(dt)
    o_act = np.where(is_in, 0, cond.op_act[jj] if K else 0).astype(np.int8)
    return HyperplaneForm(p, r, cond.child_true, cond.child_false, row, H, h0, h_act, axis,
                          cond.test_op[iv].copy(), cond.test_thr[iv].astype(dt), o_ptr, o_src,
                          o_w, o_b, o_act, vertex_costs(cond))


# ---- kernels ------------------------------------------------------------------------------------
@njit(cache=True, inline="always")
def _step(x, v, ct, cf, row, H, h0, h_act, axis, t_op, thr):
    """The child of internal vertex ``v`` that input ``x`` goes to."""
    i = row[v]
    a = axis[i]
    if a >= 0:
        s = x[a]
    else:
        s = h0[i]
        for k in range(H.shape[1]):
            s += H[i, k] * x[k]
        s = activate(h_act[i], s)
    return ct[v] if holds(t_op[i], s, thr[i]) else cf[v]


@njit(cache=True, inline="always")
def _route(x, ct, cf, row, H, h0, h_act, axis, t_op, thr):
    v = 0
    while ct[v] >= 0:
        v = _step(x, v, ct, cf, row, H, h0, h_act, axis, t_op, thr)
    return v


@njit(cache=True, inline="always")
def _leaf_out(x, l, out, o_ptr, o_src, o_w, o_b, o_act):
    r = out.size
    for k in range(r):
        e = l * r + k
        s = o_b[e]
        for t in range(o_ptr[e], o_ptr[e + 1]):
            s += o_w[t] * x[o_src[t]]
        out[k] = activate(o_act[e], s)


@njit(cache=True)
def _predict_batch(X, r, ct, cf, row, H, h0, h_act, axis, t_op, thr, o_ptr, o_src, o_w, o_b,
                   o_act):
    out = np.empty((X.shape[0], r), dtype=X.dtype)
    for i in range(X.shape[0]):
        v = _route(X[i], ct, cf, row, H, h0, h_act, axis, t_op, thr)
        _leaf_out(X[i], row[v], out[i], o_ptr, o_src, o_w, o_b, o_act)
    return out


@njit(cache=True)
def _predict_one(x, r, ct, cf, row, H, h0, h_act, axis, t_op, thr, o_ptr, o_src, o_w, o_b,
                 o_act):
    out = np.empty(r, dtype=x.dtype)
    v = _route(x, ct, cf, row, H, h0, h_act, axis, t_op, thr)
    _leaf_out(x, row[v], out, o_ptr, o_src, o_w, o_b, o_act)
    return out


@njit(cache=True)
def _leaves_batch(X, ct, cf, row, H, h0, h_act, axis, t_op, thr):
    leaf = np.empty(X.shape[0], np.int64)
    for i in range(X.shape[0]):
        leaf[i] = _route(X[i], ct, cf, row, H, h0, h_act, axis, t_op, thr)
    return leaf


@njit(cache=True)
def _count_batch(X, ct, cf, row, H, h0, h_act, axis, t_op, thr, cost):
    """Counted twin of the routing loop: the cost rows of every vertex on the path."""
    counts = np.zeros((X.shape[0], cost.shape[1]), np.int64)
    for i in range(X.shape[0]):
        v = 0
        while True:
            for c in range(cost.shape[1]):
                counts[i, c] += cost[v, c]
            if ct[v] < 0:
                break
            v = _step(X[i], v, ct, cf, row, H, h0, h_act, axis, t_op, thr)
    return counts


# ---- public -------------------------------------------------------------------------------------
def _route_args(f: HyperplaneForm):
    return (f.child_true, f.child_false, f.row, f.H, f.h0, f.h_act, f.axis, f.t_op, f.thr)


def _out_args(f: HyperplaneForm):
    return (f.o_ptr, f.o_src, f.o_w, f.o_b, f.o_act)


def _inputs(f: HyperplaneForm, X) -> np.ndarray:
    return np.ascontiguousarray(np.atleast_2d(X), dtype=f.H.dtype)


def predict(f: HyperplaneForm, X) -> np.ndarray:
    """Outputs (m, r) of a batch routed through the hyperplane form."""
    return _predict_batch(_inputs(f, X), f.r, *_route_args(f), *_out_args(f))


def predict_one(f: HyperplaneForm, x) -> np.ndarray:
    """Output (r,) of one input (the single-query path: no batch allocation)."""
    x = np.ascontiguousarray(x, dtype=f.H.dtype).ravel()
    return _predict_one(x, f.r, *_route_args(f), *_out_args(f))


def leaves(f: HyperplaneForm, X) -> np.ndarray:
    """The leaf (vertex id) each input reaches."""
    return _leaves_batch(_inputs(f, X), *_route_args(f))


def count(f: HyperplaneForm, X) -> dict[str, np.ndarray]:
    """Counted twin: per-input mul, add, cmp, total, active_neurons, active_weights, tests."""
    return tree_counts(_count_batch(_inputs(f, X), *_route_args(f), f.cost))
