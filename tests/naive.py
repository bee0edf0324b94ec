"""Every reference implementation, in one place: slow, obviously correct, plain NumPy/Python.

Tests hold each fast kernel and its counted twin to these.  Convention: ``dense``, ``active``,
``tree``, ``hyperplane``, ``axis`` return the outputs (m, r); the ``*_count`` / ``*_route`` variants
add what the executor counts or where each input went.
"""

from __future__ import annotations

import numpy as np

from kernels.executors._ops import activate, activate_np
from kernels.executors.active import COUNT_KEYS
from kernels.executors.tree import costs
from kernels.executors.tree.axis import AxisRouter
from kernels.executors.tree.hyperplane import HyperplaneForm
from kernels.model.conditional import holds, validate
from kernels.model.network import ACT_CMP, ConditionalNetwork, Network


# ---- dense (seed 000 §2.1–2.2): neuron by neuron, vectorised over the batch ---------------------
def dense(net: Network, X) -> np.ndarray:
    """Plain NumPy reference: neuron by neuron, vectorised over the batch."""
    X = np.asarray(X, dtype=net.w_val.dtype)
    m = X.shape[0]
    units = np.empty((m, net.p + net.n_neurons), dtype=X.dtype)
    units[:, :net.p] = X
    for j in range(net.n_neurons):
        a, b = net.w_ptr[j], net.w_ptr[j + 1]
        s = np.full(m, net.bias[j], dtype=X.dtype)
        for t in range(a, b):  # same order as the kernel
            s = s + net.w_val[t] * units[:, net.w_src[t]]
        units[:, net.p + j] = activate_np(int(net.act[j]), s)
    return units[:, net.p + net.n_neurons - net.r:]


# ---- active (Theorem 1): neuron by neuron from the input configuration -----------------------
def dense_weights(net: Network) -> np.ndarray:
    """The network's weights as one dense matrix W (N, p + N): W[j, u] is the weight from unit u
    into neuron j (0 where none is stored).  Plain NumPy from the CSR arrays."""
    W = np.zeros((net.n_neurons, net.p + net.n_neurons), dtype=net.w_val.dtype)
    for j in range(net.n_neurons):
        for t in range(int(net.w_ptr[j]), int(net.w_ptr[j + 1])):
            W[j, int(net.w_src[t])] = net.w_val[t]
    return W


def active_run(net: Network, X):
    """Plain Python, independent of the executor's own adjacency (``active.view``): the adjacency
    is rebuilt from the dense weight matrix, Definition 1 applied literally — a neuron is active
    iff its bias is non-zero or a unit it has a non-zero weight from outputs a non-zero value (±0
    is zero, so a −0.0 bias or pre-activation makes nothing active).  Active neurons sum their bias
    and their live terms in increasing source id; inactive ones output φ(0).  Returns the outputs
    (m, r) and the executor's count dict."""
    X = np.ascontiguousarray(X, dtype=net.w_val.dtype)
    dt = net.w_val.dtype
    p, N = net.p, net.n_neurons
    W = dense_weights(net)
    bias = [float(b) for b in net.bias]
    srcs_of = [[(int(k), W[j, k]) for k in np.flatnonzero(W[j])] for j in range(N)]
    has_out = [bool(np.any(W[:, p + j] != 0)) for j in range(N)]
    Y = np.empty((X.shape[0], net.r), dtype=dt)
    C = {k: np.zeros(X.shape[0], dtype=np.int64) for k in COUNT_KEYS}
    for i, x in enumerate(X):
        val = np.zeros(p + N, dtype=dt)
        val[:p] = x
        nonzero = {k for k in range(p) if x[k] != 0}  # output configuration of layer 0
        active_units = set(nonzero)
        mul = add = n_act = w_act = w_cmp = 0
        cmp = p
        for j in range(N):
            code = int(net.act[j])
            live = [(k, w) for k, w in srcs_of[j] if k in nonzero]  # input configuration
            active = bias[j] != 0 or bool(live)
            if active:
                s = dt.type(net.bias[j])
                for k, w in live:
                    s = dt.type(s + w * val[k])
                y = activate.py_func(code, s)
                terms = len(live) + (bias[j] != 0)
                mul += len(live)
                add += max(terms - 1, 0)
                cmp += int(ACT_CMP[code]) + int(has_out[j])
                w_cmp += terms
                n_act += 1
                w_act += int(bias[j] != 0) + sum(k in active_units for k, _ in srcs_of[j])
                active_units.add(p + j)
            else:
                y = activate.py_func(code, dt.type(0))
            val[p + j] = y
            if y != 0:
                nonzero.add(p + j)
        Y[i] = val[p + N - net.r:]
        for key, c in zip(COUNT_KEYS,
                          (mul, add, cmp, n_act, w_act, w_cmp), strict=True):
            C[key][i] = c
    C["total"] = C["mul"] + C["add"] + C["cmp"]
    return Y, C


def active(net: Network, X) -> np.ndarray:
    """Outputs (m, r) of the active-set reference."""
    return active_run(net, X)[0]


def active_count(net: Network, X) -> dict[str, np.ndarray]:
    """The active executor's count dict, measured neuron by neuron."""
    return active_run(net, X)[1]


# ---- tree (§2.3): plain Python, one input at a time, scalar by scalar ------------------------
_activate_py = activate.py_func
_holds_py = holds.py_func


def _reference_walk(cond: ConditionalNetwork, x: np.ndarray):
    vals = dict(enumerate(x))
    c = [0] * 6  # mul, add, cmp, neurons, weights, tests
    v = 0
    while True:
        for j in range(cond.op_ptr[v], cond.op_ptr[v + 1]):
            a, b = cond.op_w_ptr[j], cond.op_w_ptr[j + 1]
            s = cond.op_bias[j]
            for t in range(a, b):
                s = s + cond.op_w[t] * vals[int(cond.op_src[t])]
            vals[int(cond.op_var[j])] = _activate_py(int(cond.op_act[j]), s)
            terms = (b - a) + (cond.op_bias[j] != 0)
            c[0] += b - a
            c[1] += max(terms - 1, 0)
            c[2] += int(ACT_CMP[cond.op_act[j]])
            c[3] += 1
            c[4] += b - a
        if cond.child_true[v] < 0:
            return v, [vals[int(u)] for u in cond.out_var[v]], c
        c[2] += 1
        c[5] += 1
        go = _holds_py(int(cond.test_op[v]), vals[int(cond.test_var[v])], cond.test_thr[v])
        v = int(cond.child_true[v] if go else cond.child_false[v])


def tree(cond: ConditionalNetwork, X) -> np.ndarray:
    """Plain-Python reference outputs (m, r)."""
    validate(cond)
    X = np.atleast_2d(np.asarray(X, dtype=cond.op_w.dtype))
    out = np.empty((X.shape[0], cond.r), X.dtype)
    for i in range(X.shape[0]):
        out[i] = _reference_walk(cond, X[i])[1]
    return out


def tree_count(cond: ConditionalNetwork, X) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Plain-Python reference counts (the executor's dict) and the leaf of each input."""
    validate(cond)
    X = np.atleast_2d(np.asarray(X, dtype=cond.op_w.dtype))
    runs = [_reference_walk(cond, X[i]) for i in range(X.shape[0])]
    c = np.array([w[2] for w in runs], np.int64).reshape(-1, 6)
    return costs.tree_counts(c), np.array([w[0] for w in runs], np.int64)


# ---- hyperplane-shaped trees: level-synchronous NumPy, same summation order ------------------
_TEST_UFUNCS = (np.less, np.less_equal, np.greater, np.greater_equal, np.equal, np.not_equal)


def _by_code(codes, fn, s, *extra):
    out = np.empty(s.shape, dtype=bool if extra else s.dtype)
    for c in np.unique(codes):
        m = codes == c
        out[m] = fn(int(c), s[m], *(e[m] for e in extra))
    return out


def hyperplane_route(f: HyperplaneForm, X) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(outputs (m, r), leaves (m,), counts (m, 6)) by batch routing in plain NumPy."""
    X = np.ascontiguousarray(X, dtype=f.H.dtype)
    m = X.shape[0]
    cur = np.zeros(m, np.int64)
    counts = np.zeros((m, 6), np.int64)
    todo = np.arange(m)
    while todo.size:
        v = cur[todo]
        counts[todo] += f.cost[v]
        inner = f.child_true[v] >= 0
        todo, v = todo[inner], v[inner]
        i = f.row[v]
        s = f.h0[i].copy()
        for k in range(f.p):
            s = s + f.H[i, k] * X[todo, k]
        s = _by_code(f.h_act[i], activate_np, s)
        ax = f.axis[i] >= 0
        s[ax] = X[todo[ax], f.axis[i][ax]]
        go = _by_code(f.t_op[i], lambda c, a, b: _TEST_UFUNCS[c](a, b), s, f.thr[i])
        cur[todo] = np.where(go, f.child_true[v], f.child_false[v])
    out = np.empty((m, f.r), X.dtype)
    for k in range(f.r):
        e = f.row[cur] * f.r + k
        s = f.o_b[e].copy()
        n = f.o_ptr[e + 1] - f.o_ptr[e]
        for t in range(int(n.max(initial=0))):
            has = n > t
            pos = f.o_ptr[e[has]] + t
            s[has] = s[has] + f.o_w[pos] * X[np.flatnonzero(has), f.o_src[pos]]
        out[:, k] = _by_code(f.o_act[e], activate_np, s)
    return out, cur, counts


def hyperplane(f: HyperplaneForm, X) -> np.ndarray:
    """Outputs (m, r) of the level-synchronous hyperplane reference."""
    return hyperplane_route(f, X)[0]


# ---- axis-shaped trees ----------------------------------------------------------------------
def axis_route(router: AxisRouter, X) -> tuple[np.ndarray, np.ndarray]:
    """(outputs (m, r), leaf vertices (m,)) in plain NumPy: the batch routed level by level, then
    the leaf maps in the kernels' order."""
    X = np.ascontiguousarray(X, dtype=router.dtype)
    p, r = router.p, router.r
    rec = router.rec.reshape(-1, 4)
    thr = router.thr.reshape(rec.shape[0], -1)[:, -1 if router.dtype == np.float64 else 2]
    node = np.zeros(len(X), np.int64)
    rows = np.arange(len(X))
    for _ in range(router.depth):
        node = rec[node, 1] + np.where(X[rows, rec[node, 0]] < thr[node], 0, 1)
    row = router.Wp[router.leaf_id[node]]
    lw = row[:, :r * (p + 1)].reshape(len(X), r, p + 1)
    codes = row[:, r * (p + 1):r * (p + 2)].astype(np.int64)
    Y = lw[:, :, 0].copy()
    for k in range(p):
        Y = Y + lw[:, :, k + 1] * X[:, k:k + 1]
    for c in np.unique(codes):
        Y[codes == c] = activate_np(int(c), Y[codes == c])
    return Y, node


def axis(router: AxisRouter, X) -> np.ndarray:
    """Outputs (m, r) of the axis-tree reference."""
    return axis_route(router, X)[0]
