"""Fast routing for axis-shaped conditional networks (tests ``x_k < β`` on inputs, one affine
output neuron per leaf and output) — the ``axis-tree`` fast path of executor ``tree``.

Layout (:class:`AxisRouter`, derived once from a :class:`~kernels.model.network.ConditionalNetwork`
and cached on it).  Vertices stay in BFS order, one 16-byte record each in a 64-byte aligned int32
array: ``[feature, child, β, leaf id]`` with β a float32, or ``[feature, child, β]`` with β a
float64 (leaf ids then in a separate array).  A test ``x_k < β`` sends x to ``child + (0 if x[k] < β
else 1)``: ``child_true``, or ``child_false`` right after it (the complement, NaN included, exactly
as :func:`kernels.model.conditional.holds`).  A leaf i stores child i − 1 and β = −inf, so ``x <
−inf`` is false and a query that reached a leaf stays there: routing a batch is ``depth``
branch-free sweeps.  Each leaf owns one 64-byte aligned row of ``Wp``: ``r × [b, w_1..w_p]``, then
the r activation codes, then padding; output o is b + w_1·x_1 + … + w_p·x_p in that order — the
interpreter's order (bias, then sources ascending); the dense zeros add exact zeros.

Kernels (each with the same outputs as the reference ``tests/naive.py:axis_route``):

* batch — blocks of ``BLOCK`` queries routed level-synchronously: every sweep advances all queries
  of the block one level, so their record loads are independent, and each next record is
  prefetched (``llvm.prefetch``) a whole sweep before it is read; then the block's leaf rows are
  prefetched and evaluated.  Hot loops index with uint64 (no negative-index wraparound code).
  ``prange`` over chunks of blocks when more than one thread is allowed;
* one query — a plain loop, for the smallest dispatch cost (:func:`predict_one`);
* counted twin — the cost rows of :func:`kernels.executors.tree.hyperplane.vertex_costs` (the
interpreter's cost
  model) summed along the path, so counts equal the interpreter's input by input.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit, prange

from kernels.executors._ops import activate, aligned, numba_threads, prefetch, thread_cap
from kernels.executors.tree.hyperplane import tree_counts, vertex_costs
from kernels.model.network import TESTS, ConditionalNetwork

BLOCK = 128
LT = TESTS["<"]


@dataclass(eq=False)
class AxisRouter:
    """Compact routing arrays (see module docstring)."""

    p: int
    r: int
    rec: np.ndarray  # int32 (4V,), 64-byte aligned: feature, child, β (, leaf id in float32)
    thr: np.ndarray  # float32 (4V,) or float64 (2V,) view of rec
    leaf_id: np.ndarray  # int32 (V,), -1 at internal vertices
    Wp: np.ndarray  # (L, ws), 64-byte aligned rows: r × [b, w_1..w_p], r activation codes, pad
    cost: np.ndarray  # (V, 6): the interpreter's cost row of each vertex (routing.vertex_costs)
    depth: int

    @property
    def dtype(self) -> np.dtype:
        return self.Wp.dtype

    @property
    def n_vertices(self) -> int:
        return self.leaf_id.size

    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.rec, self.leaf_id, self.Wp))


def _records(feat, child, thr, leaf_id, dtype) -> tuple[np.ndarray, np.ndarray]:
    rec = aligned((feat.size, 4), np.int32)
    rec[:, 0] = feat
    rec[:, 1] = child
    if dtype == np.float32:
        rec.view(np.float32)[:, 2] = thr
        rec[:, 3] = leaf_id
        return rec.ravel(), rec.view(np.float32).ravel()
    rec.view(np.float64)[:, 1] = thr
    return rec.ravel(), rec.view(np.float64).ravel()


def axis_router(cn: ConditionalNetwork) -> AxisRouter | None:
    """The router of ``cn`` if it is axis-shaped, else None (built now: the tree executor's plan
    keeps it)."""
    return _derive(cn)


def _derive(cn: ConditionalNetwork) -> AxisRouter | None:
    p, r, V = cn.p, cn.r, cn.n_vertices
    if V >= 2**31 - 1 or p >= 2**31:
        return None
    internal = cn.child_true >= 0
    leaves = np.flatnonzero(~internal)
    nops = np.diff(cn.op_ptr)
    if nops[internal].any() or (nops[leaves] != r).any():
        return None
    tv, op = cn.test_var[internal], cn.test_op[internal]
    ct, cf = cn.child_true[internal], cn.child_false[internal]
    if ((tv < 0) | (tv >= p)).any():
        return None
    if ((op != LT) | (cf != ct + 1)).any():
        return None
    K = cn.n_ops
    nnz = np.diff(cn.op_w_ptr)
    op_of_nz = np.repeat(np.arange(K), nnz)
    if cn.op_src.size and (cn.op_src >= p).any():
        return None
    if cn.op_src.size > 1:  # sources strictly ascending within each op (the summation order)
        same = op_of_nz[1:] == op_of_nz[:-1]
        if (cn.op_src[1:][same] <= cn.op_src[:-1][same]).any():
            return None
    var_to_op = np.full(cn.n_vars, -1, dtype=np.int64)
    var_to_op[cn.op_var] = np.arange(K)
    out = cn.out_var[leaves]
    if ((out < p) | (out >= cn.n_vars)).any():
        return None
    o_op = var_to_op[out]  # (L, r)
    lo, hi = cn.op_ptr[leaves][:, None], cn.op_ptr[leaves + 1][:, None]
    if ((o_op < lo) | (o_op >= hi)).any() or np.bincount(o_op.ravel(), minlength=K).max() > 1:
        return None
    dt = cn.op_w.dtype
    L = leaves.size
    slot = np.empty(K, np.int64)  # op -> (leaf, output) of its [b, w] block, flattened
    slot[o_op.ravel()] = np.arange(L * r)
    per = 64 // dt.itemsize
    ws = -(-r * (p + 2) // per) * per
    Wp = aligned((L, ws), dt)
    blocks = Wp[:, :r * (p + 1)].reshape(L, r, p + 1)  # a view
    blocks[slot // r, slot % r, 0] = cn.op_bias
    blocks[slot[op_of_nz] // r, slot[op_of_nz] % r, cn.op_src + 1] = cn.op_w
    Wp[:, r * (p + 1):r * (p + 2)] = cn.op_act[o_op]
    feat = np.zeros(V, np.int64)
    feat[internal] = tv
    child = np.arange(V, dtype=np.int64) - 1
    child[internal] = ct
    thr = np.full(V, -np.inf)
    thr[internal] = cn.test_thr[internal]
    leaf_id = np.full(V, -1, np.int32)
    leaf_id[leaves] = np.arange(L, dtype=np.int32)
    rec, tview = _records(feat, child, thr.astype(dt), leaf_id, dt)
    return AxisRouter(p, r, rec, tview, leaf_id, Wp, vertex_costs(cn), _depth(cn.child_true))


def _depth(child_true: np.ndarray) -> int:
    """Edges on the longest root-to-leaf path, level by level (children of v: ct[v], ct[v]+1)."""
    frontier, d = np.zeros(1, np.int64), 0
    while True:
        kids = child_true[frontier]
        kids = kids[kids >= 0]
        if not kids.size:
            return d
        frontier = np.concatenate([kids, kids + 1])
        d += 1


# ---- kernels -------------------------------------------------------------------------------------
# uint64 indices: a child of -1 (a leaf at the root) wraps to 2^64 - 1, and back to 0 plus 1.
U0, U1, U3, U4 = (np.uint64(k) for k in (0, 1, 3, 4))


@njit(cache=True, inline="always")
def _leaf_source(rec, thr, leaf_id):
    """Where leaf ids live: slot 3 of the record (float32), or the leaf_id array (float64)."""
    if thr.itemsize == 4:
        return rec, U4, U3
    return leaf_id, U1, U0


@njit(cache=True, inline="always")
def _leaf_eval(Xf, xo, Wf, w0, p, r, out, oo):
    """out[oo + o] = φ_o(b + Σ_k w_k x_k), k ascending, for the leaf row starting at Wf[w0]."""
    wa = w0 + r * (p + U1)
    for o in range(r):
        s = Wf[w0]
        for k in range(p):
            s += Wf[w0 + U1 + k] * Xf[xo + k]
        out[oo + o] = activate(np.int64(Wf[wa + o]), s)
        w0 += p + U1


@njit(cache=True)
def _block(Xf, a, nb, p, rec, thr, depth, leaf_id, Wf, ws, r, cur, out):
    """Route queries a .. a+nb-1 level-synchronously (prefetching every next record), then
    prefetch their leaf rows and evaluate them."""
    ts = np.uint64(thr.size * 4 // rec.size)  # 4 (float32 β) or 2 (float64 β)
    to = ts >> U1
    for t in range(nb):
        cur[t] = U0
    for _ in range(depth):
        xo = a * p
        for t in range(nb):
            i = cur[t]
            f = np.uint64(rec[i * U4])
            c = np.uint64(rec[i * U4 + U1])
            j = c + (U0 if Xf[xo + f] < thr[i * ts + to] else U1)
            cur[t] = j
            prefetch(rec, j * U4)
            xo += p
    lsrc, ls, lo = _leaf_source(rec, thr, leaf_id)
    for t in range(nb):
        w0 = np.uint64(lsrc[cur[t] * ls + lo]) * ws
        cur[t] = w0
        prefetch(Wf, w0)
    xo = a * p
    for t in range(nb):
        _leaf_eval(Xf, xo, Wf, cur[t], p, r, out, (a + np.uint64(t)) * r)
        xo += p


@njit(cache=True)
def _predict_range(X, rec, thr, depth, leaf_id, Wp, r, block, start, end, out):
    p = np.uint64(X.shape[1])
    Xf = X.reshape(-1)
    Wf = Wp.reshape(-1)
    ws = np.uint64(Wp.shape[1])
    cur = np.empty(block, np.uint64)
    for a in range(start, end, block):
        nb = min(block, end - a)
        _block(Xf, np.uint64(a), nb, p, rec, thr, depth, leaf_id, Wf, ws, np.uint64(r), cur, out)


@njit(cache=True)
def _predict_serial(X, rec, thr, depth, leaf_id, Wp, r, block):
    out = np.empty(X.shape[0] * r, dtype=Wp.dtype)
    _predict_range(X, rec, thr, depth, leaf_id, Wp, r, block, 0, X.shape[0], out)
    return out.reshape(X.shape[0], r)


@njit(cache=True, parallel=True)
def _predict_parallel(X, rec, thr, depth, leaf_id, Wp, r, block, chunk):
    m = X.shape[0]
    out = np.empty(m * r, dtype=Wp.dtype)
    for c in prange((m + chunk - 1) // chunk):
        _predict_range(X, rec, thr, depth, leaf_id, Wp, r, block, c * chunk,
                       min(m, (c + 1) * chunk), out)
    return out.reshape(m, r)


@njit(cache=True)
def _one(x, p, rec, leaf_id, Wp, out):
    """One query into ``out``; returns 0, or 1 if x has a non-finite entry, 2 if not p entries.
    (β is read through a view of the records: one argument less to dispatch.)"""
    thr = rec.view(Wp.dtype)
    if x.size != p:
        return 2
    for k in range(p):
        if not np.isfinite(x[k]):
            return 1
    ts = np.uint64(thr.size * 4 // rec.size)
    to = ts >> U1
    i = U0
    while True:
        c = np.uint64(rec[i * U4 + U1])
        if c + U1 <= i:  # a leaf: its child slot holds i - 1
            break
        i = c + (U0 if x[np.uint64(rec[i * U4])] < thr[i * ts + to] else U1)
    lsrc, ls, lo = _leaf_source(rec, thr, leaf_id)
    ws = np.uint64(Wp.shape[1])
    _leaf_eval(x, U0, Wp.reshape(-1), np.uint64(lsrc[i * ls + lo]) * ws, np.uint64(p),
               np.uint64(out.size), out, U0)
    return 0


@njit(cache=True)
def _count(X, rec, thr, cost):
    ts = thr.size * 4 // rec.size
    to = ts >> 1
    m = X.shape[0]
    counts = np.zeros((m, cost.shape[1]), np.int64)
    for q in range(m):
        i = 0
        while True:
            for c in range(cost.shape[1]):
                counts[q, c] += cost[i, c]
            c = rec[4 * i + 1]
            if c < i:
                break
            i = c + (0 if X[q, rec[4 * i]] < thr[ts * i + to] else 1)
    return counts


@njit(cache=True)
def _leaves(X, rec, thr, depth):
    ts = thr.size * 4 // rec.size
    to = ts >> 1
    node = np.empty(X.shape[0], np.int64)
    for q in range(X.shape[0]):
        i = 0
        for _ in range(depth):
            i = rec[4 * i + 1] + (0 if X[q, rec[4 * i]] < thr[ts * i + to] else 1)
        node[q] = i
    return node


# ---- public wrappers -----------------------------------------------------------------------------
def _queries(router: AxisRouter, X) -> np.ndarray:
    X = np.ascontiguousarray(X, dtype=router.dtype)
    if X.ndim != 2 or X.shape[1] != router.p:
        raise ValueError(f"X must have shape (m, {router.p}); got {X.shape}")
    return X


def predict(router: AxisRouter, X, threads: int | None = None) -> np.ndarray:
    """Outputs (m, r) of a batch; ``threads`` caps the threads (default: Numba's setting)."""
    X = _queries(router, X)
    args = (router.rec, router.thr, router.depth, router.leaf_id, router.Wp, router.r, BLOCK)
    nt = thread_cap(threads)
    if nt > 1 and X.shape[0] >= 8 * BLOCK:
        chunk = max(BLOCK, -(-X.shape[0] // (8 * nt)) // BLOCK * BLOCK)
        with numba_threads(nt):
            return _predict_parallel(X, *args, chunk)
    return _predict_serial(X, *args)


def predict_one(router: AxisRouter, x) -> np.ndarray:
    """Output (r,) of one query ``x`` (p,) — the lowest-overhead path (shape and finiteness are
    checked inside the kernel; anything but an ndarray of the router's dtype is converted)."""
    dt = router.Wp.dtype
    if type(x) is not np.ndarray or x.dtype is not dt:
        x = np.asarray(x, dtype=dt)
    out = np.empty(router.r, dt)
    code = _one(x, router.p, router.rec, router.leaf_id, router.Wp, out)
    if code:
        raise ValueError("x has a non-finite value (NaN or inf)" if code == 1 else
                         f"x must have shape ({router.p},); got {np.shape(x)}")
    return out


def count(router: AxisRouter, X) -> dict[str, np.ndarray]:
    """Counted twin: the interpreter's per-input counts
    (``kernels.executors.tree.hyperplane.tree_counts`` keys)."""
    X = _queries(router, X)
    return tree_counts(_count(X, router.rec, router.thr, router.cost))


def leaves(router: AxisRouter, X) -> np.ndarray:
    """The leaf (vertex id) each query reaches."""
    return _leaves(_queries(router, X), router.rec, router.thr, router.depth)
