"""The general §2.3 interpreter (seed 000): runs any ConditionalNetwork from the root — the vertex's
neuron ops ``φ(b + Σ β_k v_k)`` (bias first, stored order), then the test ``v ⋚ β`` — with a counted
twin; the fall-back route of :mod:`kernels.executors.tree` when no faster shape is recognised."""

from __future__ import annotations

import numpy as np
from numba import njit

from kernels.executors._ops import activate, field_cost, local_field
from kernels.executors.tree.costs import tree_counts
from kernels.model.conditional import checked, holds
from kernels.model.network import ACT_CMP, ConditionalNetwork


@njit(cache=True, inline="always")
def _walk(x, vals, p, ct, cf, test_var, test_op, test_thr, op_ptr, op_var, op_act, op_bias,
          op_w_ptr, op_src, op_w):
    """Run one input from the root; returns the leaf reached (``vals`` holds the variables)."""
    for k in range(p):
        vals[k] = x[k]
    v = 0
    while True:
        for j in range(op_ptr[v], op_ptr[v + 1]):
            s = local_field(op_bias[j], op_w_ptr[j], op_w_ptr[j + 1], op_w, op_src, vals)
            vals[op_var[j]] = activate(op_act[j], s)
        if ct[v] < 0:
            return v
        if holds(test_op[v], vals[test_var[v]], test_thr[v]):
            v = ct[v]
        else:
            v = cf[v]


@njit(cache=True)
def _predict_batch(X, n_vars, out_var, p, ct, cf, test_var, test_op, test_thr, op_ptr, op_var,
                   op_act, op_bias, op_w_ptr, op_src, op_w):
    r = out_var.shape[1]
    out = np.empty((X.shape[0], r), dtype=X.dtype)
    vals = np.zeros(n_vars, dtype=X.dtype)
    for i in range(X.shape[0]):
        leaf = _walk(X[i], vals, p, ct, cf, test_var, test_op, test_thr, op_ptr, op_var, op_act,
                     op_bias, op_w_ptr, op_src, op_w)
        for k in range(r):
            out[i, k] = vals[out_var[leaf, k]]
    return out


@njit(cache=True)
def _leaves_batch(X, n_vars, p, ct, cf, test_var, test_op, test_thr, op_ptr, op_var, op_act,
                  op_bias, op_w_ptr, op_src, op_w):
    leaf = np.empty(X.shape[0], np.int64)
    vals = np.zeros(n_vars, dtype=X.dtype)
    for i in range(X.shape[0]):
        leaf[i] = _walk(X[i], vals, p, ct, cf, test_var, test_op, test_thr, op_ptr, op_var,
                        op_act, op_bias, op_w_ptr, op_src, op_w)
    return leaf


@njit(cache=True)
def _count_batch(X, n_vars, p, ct, cf, test_var, test_op, test_thr, op_ptr, op_var, op_act,
                 op_bias, op_w_ptr, op_src, op_w, act_cmp):
    """Counted twin of :func:`_walk`: per input (mul, add, cmp, neurons, weights, tests)."""
    counts = np.zeros((X.shape[0], 6), np.int64)
    vals = np.zeros(n_vars, dtype=X.dtype)
    for i in range(X.shape[0]):
        for k in range(p):
            vals[k] = X[i, k]
        mul = add = cmp = neurons = weights = tests = 0
        v = 0
        while True:
            for j in range(op_ptr[v], op_ptr[v + 1]):
                s = local_field(op_bias[j], op_w_ptr[j], op_w_ptr[j + 1], op_w, op_src, vals)
                dm, da = field_cost(op_bias[j], op_w_ptr[j + 1] - op_w_ptr[j])
                mul += dm
                add += da
                cmp += act_cmp[op_act[j]]
                neurons += 1
                weights += op_w_ptr[j + 1] - op_w_ptr[j]
                vals[op_var[j]] = activate(op_act[j], s)
            if ct[v] < 0:
                break
            cmp += 1
            tests += 1
            if holds(test_op[v], vals[test_var[v]], test_thr[v]):
                v = ct[v]
            else:
                v = cf[v]
        counts[i, 0] = mul
        counts[i, 1] = add
        counts[i, 2] = cmp
        counts[i, 3] = neurons
        counts[i, 4] = weights
        counts[i, 5] = tests
    return counts


# ---- public -------------------------------------------------------------------------------------
def _walk_args(cond: ConditionalNetwork):
    return (cond.p, cond.child_true, cond.child_false, cond.test_var, cond.test_op,
            cond.test_thr, cond.op_ptr, cond.op_var, cond.op_act, cond.op_bias, cond.op_w_ptr,
            cond.op_src, cond.op_w)


def _inputs(cond: ConditionalNetwork, X) -> np.ndarray:
    X = np.ascontiguousarray(np.atleast_2d(X), dtype=cond.op_w.dtype)
    if X.ndim != 2 or X.shape[1] != cond.p:
        raise ValueError(f"X must have shape (m, {cond.p}); got {X.shape}")
    return X


def interpret(cond: ConditionalNetwork, X) -> np.ndarray:
    """General interpreter: outputs (m, r) for inputs X (m, p), in the network's dtype."""
    X = _inputs(checked(cond), X)
    return _predict_batch(X, cond.n_vars, cond.out_var, *_walk_args(cond))


def interpret_leaves(cond: ConditionalNetwork, X) -> np.ndarray:
    """General interpreter: the leaf (vertex id) each input reaches."""
    X = _inputs(checked(cond), X)
    return _leaves_batch(X, cond.n_vars, *_walk_args(cond))


def interpret_count(cond: ConditionalNetwork, X) -> dict[str, np.ndarray]:
    """Counted twin of the general interpreter (keys: module docstring)."""
    X = _inputs(checked(cond), X)
    return tree_counts(_count_batch(X, cond.n_vars, *_walk_args(cond), ACT_CMP))
