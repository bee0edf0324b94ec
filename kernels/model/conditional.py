"""The rules of §2.3 conditional networks: :func:`validate`, the one check every
:class:`~kernels.model.network.ConditionalNetwork` passes before an executor runs it
(:func:`checked` runs
it once per object), the test semantics :func:`holds` (the tie rule), and
:func:`hyperplane_network`, a vectorised builder for large hyperplane-shaped trees.  To write a
network by hand, vertex by vertex, use :class:`kernels.executors.tree.builder.TreeBuilder`.

The rules (seed 000 §2.3), checked by :func:`validate` with a one-line ``ValueError`` naming the
vertex, operation and variable at fault:

* the vertices form a rooted **full binary tree** (0 or 2 children each), stored in BFS order:
  root 0, every other vertex has exactly one parent, a parent comes before its children and levels
  never decrease along the index;
* every neuron operation ``v_new ← φ(b + Σ β_k v_k)`` defines a fresh variable (ids ``p ..
  n_vars-1``, each defined once), and each ``v_k`` it reads is an **input** (id ``< p``) or a
  variable **defined earlier on the root-to-vertex path** — at an ancestor, or earlier at the same
  vertex;
* every internal vertex tests one such variable ``v ⋚ β`` (``<, <=, >, >=, ==, !=``; the edge to
  ``child_true`` is the test, the edge to ``child_false`` its complement), after the vertex's
  operations have run;
* every **leaf defines the outputs**: ``r`` variables available there (``out_var`` is −1 at internal
  vertices);
* weights, biases and thresholds are finite.

**Tie rule** (:func:`holds`, shared by every executor and reference): a test is evaluated literally,
in the network's dtype, on the value the vertex computed — no tolerance, no rounding.  A value
exactly on the boundary therefore goes to ``child_true`` when the test includes equality (``<=``,
``>=``, ``==``) and to ``child_false`` when it does not (``<``, ``>``, ``!=``): ``v > 0`` sends
``v = 0`` to the false child, ``v >= 0`` sends it to the true child.  ``-0.0`` equals ``0.0``.  In
float32 the thresholds are rounded to float32 together with the weights (``astype``), and the
boundary is the float32 one.  Inputs are finite (validated), so no NaN reaches a test.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from kernels.model.network import ACTIVATIONS, TESTS, ConditionalNetwork, act_code, check_dtype


@njit(cache=True, inline="always")
def holds(code, v, thr):
    """Does ``v ⋚ thr`` hold, for test ``code`` (TESTS: 0 <, 1 <=, 2 >, 3 >=, 4 ==, 5 !=)?"""
    if code == 0:
        return v < thr
    if code == 1:
        return v <= thr
    if code == 2:
        return v > thr
    if code == 3:
        return v >= thr
    if code == 4:
        return v == thr
    return v != thr


def test_code(test: str) -> int:
    if isinstance(test, str) and test in TESTS:
        return TESTS[test]
    raise ValueError(f"unknown test {test!r}; choose from {', '.join(TESTS)}")


# ---- validation of raw arrays -------------------------------------------------------------------
@njit(cache=True)
def _check_vars(p, n_vars, ct, cf, test_var, op_ptr, op_var, op_w_ptr, op_src, out_var):
    """Depth-first walk that keeps the set of variables defined on the current root-to-vertex path.

    Returns (kind, vertex, position, variable) of the first violation — kind 1: an op reads an
    unavailable variable (position = op index), 2: a test does, 3: a leaf output (position = k) —
    or kind 0 when every read is of an input or of a variable defined earlier on the path."""
    defined = np.zeros(n_vars, np.bool_)
    defined[:p] = True
    stack = np.empty(2 * ct.size + 2, np.int64)
    top = 0
    stack[0] = 0
    while top >= 0:
        x = stack[top]
        top -= 1
        v = -x - 1 if x < 0 else x
        if x >= 0:
            for j in range(op_ptr[v], op_ptr[v + 1]):
                for t in range(op_w_ptr[j], op_w_ptr[j + 1]):
                    u = op_src[t]
                    if u < 0 or u >= n_vars or not defined[u]:
                        return 1, v, j, u
                defined[op_var[j]] = True
            if ct[v] >= 0:
                u = test_var[v]
                if u < 0 or u >= n_vars or not defined[u]:
                    return 2, v, -1, u
                top += 1
                stack[top] = -v - 1  # exit marker: undefine v's variables afterwards
                top += 1
                stack[top] = cf[v]
                top += 1
                stack[top] = ct[v]
                continue
            for k in range(out_var.shape[1]):
                u = out_var[v, k]
                if u < 0 or u >= n_vars or not defined[u]:
                    return 3, v, k, u
        for j in range(op_ptr[v], op_ptr[v + 1]):
            defined[op_var[j]] = False
    return 0, -1, -1, -1


@njit(cache=True)
def _levels(child_true, child_false):
    """Edges from the root, for arrays where parents come before their children."""
    level = np.zeros(child_true.size, np.int64)
    for v in range(child_true.size):
        if child_true[v] >= 0:
            level[child_true[v]] = level[v] + 1
            level[child_false[v]] = level[v] + 1
    return level


def _fail(msg: str):
    raise ValueError(msg)


def checked(cond: ConditionalNetwork) -> ConditionalNetwork:
    """``cond`` after :func:`validate` (an executor's plan checks once; a direct call each time)."""
    validate(cond)
    return cond


def validate(cond: ConditionalNetwork) -> ConditionalNetwork:
    """Check the §2.3 rules (module docstring) on raw arrays; returns ``cond`` or raises."""
    p, r, V, K = cond.p, cond.r, cond.n_vertices, cond.n_ops
    if p < 1 or r < 1 or V < 1:
        _fail("a conditional network needs p >= 1, r >= 1 and at least one vertex")
    for name in ("test_var", "test_op", "test_thr", "child_true", "child_false"):
        if getattr(cond, name).shape != (V,):
            _fail(f"{name} must have shape ({V},)")
    if cond.op_ptr.shape != (V + 1,) or cond.out_var.shape != (V, r):
        _fail(f"op_ptr must have shape ({V + 1},) and out_var ({V}, {r})")
    if cond.op_ptr[0] != 0 or cond.op_ptr[-1] != K or (np.diff(cond.op_ptr) < 0).any():
        _fail("op_ptr must rise from 0 to the number of ops")
    for name in ("op_act", "op_bias"):
        if getattr(cond, name).shape != (K,):
            _fail(f"{name} must have shape ({K},)")
    nnz = cond.op_src.size
    if (cond.op_w_ptr.shape != (K + 1,) or cond.op_w_ptr[0] != 0 or cond.op_w_ptr[-1] != nnz
            or (np.diff(cond.op_w_ptr) < 0).any() or cond.op_w.shape != (nnz,)):
        _fail("op_w_ptr must rise from 0 to the number of weights, one per op_src/op_w entry")
    ct, cf = cond.child_true, cond.child_false
    internal = ct >= 0
    bad = np.flatnonzero(internal != (cf >= 0))
    if bad.size:
        _fail(f"not a full binary tree: vertex {bad[0]} has exactly one child")
    if internal.any():
        kids = np.concatenate([ct[internal], cf[internal]])
        if kids.max() >= V:
            _fail("a child index is out of range")
        if (kids == 0).any():
            _fail("not a full binary tree: the root is somebody's child")
        counts = np.bincount(kids, minlength=V)
        if (counts[1:] != 1).any():
            v = 1 + int(np.flatnonzero(counts[1:] != 1)[0])
            _fail(f"not a full binary tree: vertex {v} has {counts[v]} parents")
        parents = np.flatnonzero(internal)
        if (ct[parents] <= parents).any() or (cf[parents] <= parents).any():
            _fail("vertices are not in BFS order: a child comes before its parent")
    elif V != 1:
        _fail("not a full binary tree: vertices other than the root are unreachable")
    level = _levels(ct, cf)
    if (np.diff(level) < 0).any():
        _fail("vertices are not in BFS order: levels decrease along the index")
    if (cond.test_op[internal] < 0).any() or (cond.test_op[internal] >= len(TESTS)).any():
        _fail("unknown test code")
    if (cond.op_act < 0).any() or (cond.op_act >= len(ACTIVATIONS)).any():
        _fail("unknown activation code")
    if (cond.test_var[~internal] != -1).any() or (cond.out_var[internal] != -1).any():
        _fail("leaves carry no test (test_var = -1) and internal vertices no outputs (-1)")
    for name in ("test_thr", "op_bias", "op_w"):
        if not np.isfinite(getattr(cond, name)).all():
            _fail(f"{name} has a non-finite value")
    # variables: each op defines a fresh id in [p, n_vars)
    ov = cond.op_var
    if K and (ov.min() < p or ov.max() >= cond.n_vars):
        _fail(f"op_var must lie in [p, n_vars) = [{p}, {cond.n_vars})")
    if K and np.bincount(ov, minlength=cond.n_vars).max() > 1:
        _fail("a variable is defined twice")
    kind, v, j, u = _check_vars(p, cond.n_vars, ct, cf, cond.test_var, cond.op_ptr, ov,
                                cond.op_w_ptr, cond.op_src, cond.out_var)
    if kind == 1:
        _fail(f"vertex {v}, op {j} (variable {ov[j]}) reads variable {u}, which is neither an "
              "input nor defined earlier on its root-to-vertex path")
    if kind == 2:
        _fail(f"the test at vertex {v} reads variable {u}, which is neither an input nor defined "
              "on its root-to-vertex path")
    if kind == 3:
        _fail(f"leaf {v} is missing outputs: it names {cond.out_var[v].tolist()}, which must be "
              "inputs or variables defined on its root-to-leaf path")
    return cond


def _codes(values, fn, n: int) -> np.ndarray:
    """Codes (int8, (n,)) of a scalar or per-vertex array of names, each name looked up once."""
    arr = np.asarray(values)
    if arr.ndim == 0:
        return np.full(n, fn(arr.item()), np.int8)
    names, inv = np.unique(arr, return_inverse=True)
    codes = np.array([fn(str(x)) for x in names], np.int8)[inv.ravel()]
    if codes.shape != (n,):
        raise ValueError(f"expected one entry per internal vertex ({n}); got {arr.shape}")
    return codes


def hyperplane_network(child_true, child_false, H, h0=None, *, act="relu", test=">", thr=0.0,
                       leaf_g0, leaf_G=None, leaf_act="identity", dtype="float64",
                       drop_zeros: bool = True) -> ConditionalNetwork:
    """Build a hyperplane-shaped (:mod:`kernels.executors.tree.hyperplane`) ConditionalNetwork from
    flat arrays, vectorised (no Python loop over vertices), validated.

    ``child_true, child_false`` (V,): the tree in BFS order, −1 at leaves.  ``H`` (Vi, p) and
    ``h0`` (Vi,): internal vertex i (in index order) runs ``v = act(h0_i + H_i·x)`` and tests
    ``v test thr`` (``act``, ``test``, ``thr``: scalars or (Vi,) arrays).  ``leaf_g0`` (L, r) and
    optional ``leaf_G`` (L, r, p): output k of leaf l (in index order) is
    ``leaf_act(g0_lk + G_lk·x)``, a bias-only op when ``leaf_G`` is None.  Zero weights are not
    stored unless ``drop_zeros=False``; sources are stored in increasing order."""
    dt = check_dtype(dtype)
    ct = np.asarray(child_true, np.int64)
    cf = np.asarray(child_false, np.int64)
    V = ct.size
    iv, lv = np.flatnonzero(ct >= 0), np.flatnonzero(ct < 0)
    H = np.atleast_2d(np.asarray(H, np.float64))
    Vi, p = iv.size, H.shape[1]
    g0 = np.asarray(leaf_g0, np.float64)
    g0 = g0.reshape(-1, 1) if g0.ndim == 1 else g0
    if g0.ndim != 2 or g0.shape[0] != lv.size or g0.shape[1] < 1:
        raise ValueError(f"leaf_g0 must have shape ({lv.size}, r); got {g0.shape}")
    r = g0.shape[1]
    if H.shape[0] != Vi:
        raise ValueError(f"H must have one row per internal vertex ({Vi}); got {H.shape[0]}")
    G = np.zeros((lv.size, r, p)) if leaf_G is None else np.asarray(leaf_G, np.float64)
    if G.shape != (lv.size, r, p):
        raise ValueError(f"leaf_G must have shape ({lv.size}, {r}, {p}); got {G.shape}")
    b = np.zeros(Vi) if h0 is None else np.broadcast_to(np.asarray(h0, np.float64), (Vi,))
    # ops in vertex order: one per internal vertex, r per leaf; weights as (op, source) triplets
    nops = np.where(ct >= 0, 1, r)
    op_ptr = np.concatenate([[0], np.cumsum(nops)]).astype(np.int64)
    K = int(op_ptr[-1])
    is_leaf_op = np.repeat(ct < 0, nops)
    bias = np.zeros(K)
    bias[~is_leaf_op] = b
    bias[is_leaf_op] = g0.ravel()
    acts = np.empty(K, np.int8)
    acts[~is_leaf_op] = _codes(act, act_code, Vi)
    acts[is_leaf_op] = act_code(leaf_act)
    i, src = np.nonzero(H != 0) if drop_zeros else np.indices(H.shape).reshape(2, -1)
    ops, srcs, ws = [op_ptr[iv][i]], [src], [H[i, src]]
    if leaf_G is not None:
        Gf = G.reshape(-1, p)
        e, src = np.nonzero(Gf != 0) if drop_zeros else np.indices(Gf.shape).reshape(2, -1)
        ops.append(np.flatnonzero(is_leaf_op)[e])
        srcs.append(src)
        ws.append(Gf[e, src])
    # each part lists its ops in increasing order, sources increasing within an op: scatter
    counts = sum(np.bincount(o, minlength=K) for o in ops)
    op_w_ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    op_src = np.empty(int(op_w_ptr[-1]), np.int64)
    op_w = np.empty(op_src.size, dt)
    for o, sr, ww in zip(ops, srcs, ws, strict=True):
        run = np.concatenate([[True], o[1:] != o[:-1]]) if o.size else np.zeros(0, bool)
        first = np.maximum.accumulate(np.where(run, np.arange(o.size), 0))
        dest = op_w_ptr[o] + np.arange(o.size) - first
        op_src[dest], op_w[dest] = sr, ww
    op_var = p + np.arange(K, dtype=np.int64)
    test_var = np.full(V, -1, np.int64)
    test_var[iv] = op_var[op_ptr[iv]]
    test_op = np.zeros(V, np.int8)
    test_op[iv] = _codes(test, test_code, Vi)
    test_thr = np.zeros(V)
    test_thr[iv] = np.broadcast_to(np.asarray(thr, np.float64), (Vi,))
    out_var = np.full((V, r), -1, np.int64)
    out_var[lv] = op_var[is_leaf_op].reshape(lv.size, r)
    cond = ConditionalNetwork(
        p=p, r=r, n_vars=p + K, test_var=test_var, test_op=test_op, test_thr=test_thr.astype(dt),
        child_true=ct, child_false=cf, op_ptr=op_ptr, out_var=out_var, op_var=op_var,
        op_act=acts, op_bias=bias.astype(dt),
        op_w_ptr=op_w_ptr, op_src=op_src, op_w=op_w)
    return validate(cond)
