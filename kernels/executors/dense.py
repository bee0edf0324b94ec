"""Dense executor: every neuron over every stored weight (seed 000 §2.1–2.2).

Three faces of one computation (kept bit-identical where the summation order allows):

* :func:`predict` — the fast path: ``@njit(cache=True)`` kernels over the flat CSR arrays of a
  :class:`~kernels.model.network.Network`; the timed kernels never count.
* :func:`count` — the counted twin: the same loop, returning per-input operation counts.
* :func:`reference` — plain NumPy, neuron by neuron, obviously correct.

Summation order (shared with the ``active`` executor so both give the same bits): the local field of
neuron j starts at its bias b_j and adds w_jk·v_k in increasing unit id k.

Cost model (seed 000 §2.2): one multiplication per stored weight; the terms of a local field
(products, and the bias when b_j ≠ 0) are summed with (terms − 1) additions; the activation costs
``ACT_CMP`` comparisons (ReLU/threshold 1, sign 2, identity 0).  For the dense executor this is the
same for every input: :func:`analytic_cost` gives it in closed form and tests hold the counted twin
to it.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from kernels.executors._ops import activate, counts_dict, field_cost, local_field
from kernels.model.network import ACT_CMP, Network


@njit(cache=True)
def _forward_into(x, units, p, act, bias, w_ptr, w_src, w_val):
    for k in range(p):
        units[k] = x[k]
    for j in range(act.size):
        s = local_field(bias[j], w_ptr[j], w_ptr[j + 1], w_val, w_src, units)
        units[p + j] = activate(act[j], s)


@njit(cache=True)
def _forward_batch(X, p, act, bias, w_ptr, w_src, w_val, r):
    m = X.shape[0]
    N = act.size
    out = np.empty((m, r), dtype=X.dtype)
    units = np.empty(p + N, dtype=X.dtype)
    for i in range(m):
        _forward_into(X[i], units, p, act, bias, w_ptr, w_src, w_val)
        for k in range(r):
            out[i, k] = units[p + N - r + k]
    return out


@njit(cache=True)
def _count_batch(X, p, act, bias, w_ptr, w_src, w_val, act_cmp):
    """Counted twin of :func:`_forward_batch`: per-input (mul, add, cmp)."""
    m = X.shape[0]
    N = act.size
    counts = np.zeros((m, 3), dtype=np.int64)
    units = np.empty(p + N, dtype=X.dtype)
    for i in range(m):
        for k in range(p):
            units[k] = X[i, k]
        mul = 0
        add = 0
        cmp = 0
        for j in range(N):
            s = local_field(bias[j], w_ptr[j], w_ptr[j + 1], w_val, w_src, units)
            dm, da = field_cost(bias[j], w_ptr[j + 1] - w_ptr[j])
            mul += dm
            add += da
            cmp += act_cmp[act[j]]
            units[p + j] = activate(act[j], s)
        counts[i, 0] = mul
        counts[i, 1] = add
        counts[i, 2] = cmp
    return counts


def _args(net: Network):
    return (net.p, net.act, net.bias, net.w_ptr, net.w_src, net.w_val)


def predict(net: Network, X: np.ndarray) -> np.ndarray:
    """Dense forward pass of a batch ``X`` (m, p) in the network's dtype; returns (m, r)."""
    X = np.ascontiguousarray(X, dtype=net.w_val.dtype)
    return _forward_batch(X, *_args(net), net.r)


def predict_one(net: Network, x: np.ndarray) -> np.ndarray:
    """Dense forward pass of one input ``x`` (p,); returns (r,)."""
    return predict(net, np.asarray(x).reshape(1, -1))[0]


def count(net: Network, X: np.ndarray) -> dict[str, np.ndarray]:
    """Counted twin: per-input ``mul, add, cmp, total`` for the dense executor."""
    X = np.ascontiguousarray(X, dtype=net.w_val.dtype)
    return counts_dict(_count_batch(X, *_args(net), ACT_CMP))


def analytic_cost(net: Network) -> dict[str, int]:
    """Closed-form dense cost per input under the cost model (module docstring)."""
    k = np.diff(net.w_ptr) + (net.bias != 0)
    mul = net.n_weights
    add = int(np.maximum(k - 1, 0).sum())
    cmp = int(ACT_CMP[net.act].sum())
    return {"mul": mul, "add": add, "cmp": cmp, "total": mul + add + cmp}
