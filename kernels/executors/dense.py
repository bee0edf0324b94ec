"""Dense executor: every neuron over every stored weight (seed 000 §2.1–2.2).

Three faces of one computation:

* :func:`predict` — the fast path: per layer a tiled CSR product vectorised over the batch, in
  the reference's summation order (same bits), or — where the network allows reordering
  (``Network.reorder``: the random networks of the sparsity axis) and the block is dense
  enough — a GEMM through BLAS, within the dtype's rounding; chosen once per network by the cost
  model of :mod:`kernels.executors.blocks` (the plan, :func:`make_plan`).  Up to
  ``blocks.MATVEC_MAX`` inputs take the
  matrix–vector path.  Constructions fit their weights to the reference's rounding, so their
  networks keep its order and their exact recalls.  The timed path never counts.
* :func:`count` — the counted twin: one neuron at a time over the flat CSR arrays, returning
  per-input operation counts (it defines them).
* the reference ``dense`` in tests/naive.py — plain NumPy, neuron by neuron.
* :func:`predict_portable` — the *portable* evaluation: the same stored weights, layer by layer as
  a NumPy/BLAS matrix product, a second summation order independent of the reference's.  A
  network exact only in the reference's order (its weights fitted to that order's rounding) is not
  exact here; ``verify`` reports both (``executors.dense.portable``).

Reference summation order (also the active executor's): the local field of neuron j starts at its
bias b_j and adds w_jk·v_k in increasing unit id k.  Bit-identity between ``dense`` and ``active``
is not promised: GEMM layers sum in another order; both agree with the reference within rounding.

Cost model (seed 000 §2.2): one multiplication per stored weight; the terms of a local field
(products, and the bias when b_j ≠ 0) are summed with (terms − 1) additions; the activation costs
``ACT_CMP`` comparisons (ReLU/threshold 1, sign 2, identity 0).  For the dense executor this is the
same for every input: :func:`analytic_cost` gives it in closed form and tests hold the counted twin
to it.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from kernels.executors import blocks
from kernels.executors._ops import (
    activate,
    activate_np,
    batch_inputs,
    counts_dict,
    field_cost,
    local_field,
)
from kernels.model.network import ACT_CMP, Network


@njit(cache=True)
def _forward_into(x, units, p, act, bias, w_ptr, w_src, w_val):
    """All unit values of one input in the reference's order (kernels.executors.measure reads
    them)."""
    for k in range(p):
        units[k] = x[k]
    for j in range(act.size):
        s = local_field(bias[j], w_ptr[j], w_ptr[j + 1], w_val, w_src, units)
        units[p + j] = activate(act[j], s)


@njit(cache=True)
def _count_batch(X, p, act, bias, w_ptr, w_src, w_val, act_cmp):
    """Counted twin: per-input (mul, add, cmp), one neuron at a time in the reference's order."""
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


def make_plan(net: Network) -> blocks.Plan:
    """The dense executor's plan of ``net``: per layer GEMM or CSR (:mod:`.blocks`)."""
    return blocks.plan(net)


def predict(net: Network, X: np.ndarray, force: str | None = None, *,
            plan: blocks.Plan | None = None) -> np.ndarray:
    """Dense forward pass of a batch ``X`` (m, p) in the network's dtype; returns (m, r).
    ``plan``: :func:`make_plan` of ``net`` (built here when not given); ``force`` = "gemm" or "csr"
    overrides the per-layer block choice (tests use both)."""
    if plan is None or force is not None:
        plan = blocks.plan(net, force)
    return blocks.forward(plan, net, batch_inputs(net, X))


def predict_one(net: Network, x: np.ndarray, *, plan: blocks.Plan | None = None) -> np.ndarray:
    """Dense forward pass of one input ``x`` (p,) by the matrix–vector path; returns (r,)."""
    X = batch_inputs(net, np.asarray(x).reshape(1, -1))
    return blocks.matvec(plan or blocks.plan(net), net, X)[0]


PORTABLE_BYTES = 64 << 20  # unit values of one chunk of inputs (predict_portable)


def portable_bytes(net: Network) -> int:
    """Bytes of the dense per-layer weight matrices :func:`predict_portable` allocates."""
    total = 0
    for lo, hi in zip(net.layer_ptr[:-1], net.layer_ptr[1:], strict=True):
        src = net.w_src[net.w_ptr[lo]:net.w_ptr[hi]]
        total += int(hi - lo) * int(np.unique(src).size) * net.w_val.dtype.itemsize
    return total


def predict_portable(net: Network, X: np.ndarray) -> np.ndarray:
    """The stored weights evaluated in a second, independent summation order: per layer
    ``φ(V[:, sources] @ Wᵀ + b)`` by NumPy matmul (BLAS), in the network's dtype; (m, r).  Inputs
    go in chunks whose unit values fit ``PORTABLE_BYTES``."""
    X = batch_inputs(net, X)
    dt, p, N = net.w_val.dtype, net.p, net.n_neurons
    layers = []
    for lo, hi in zip(net.layer_ptr[:-1], net.layer_ptr[1:], strict=True):
        a, b = net.w_ptr[lo], net.w_ptr[hi]
        src = net.w_src[a:b]
        cols, where = np.unique(src, return_inverse=True)
        W = np.zeros((int(hi - lo), cols.size), dtype=dt)
        rows = np.repeat(np.arange(int(hi - lo)), np.diff(net.w_ptr[lo:hi + 1]))
        W[rows, where] = net.w_val[a:b]
        layers.append((int(lo), int(hi), cols, np.ascontiguousarray(W.T), net.bias[lo:hi],
                       net.act[lo:hi]))
    step = max(1, PORTABLE_BYTES // max(1, (p + N) * dt.itemsize))
    out = np.empty((X.shape[0], net.r), dtype=dt)
    for c in range(0, X.shape[0], step):
        units = np.zeros((min(step, X.shape[0] - c), p + N), dtype=dt)
        units[:, :p] = X[c:c + step]
        for lo, hi, cols, Wt, bias, act in layers:
            with np.errstate(over="ignore", invalid="ignore"):  # non-finite: judged by the rule
                s = units[:, cols] @ Wt + bias
            for code in np.unique(act):
                sel = act == code
                s[:, sel] = activate_np(int(code), s[:, sel])
            units[:, p + lo:p + hi] = s
        out[c:c + step] = units[:, p + N - net.r:]
    return out


def count(net: Network, X: np.ndarray, *, plan=None) -> dict[str, np.ndarray]:
    """Counted twin: per-input ``mul, add, cmp, total`` for the dense executor (it needs no plan:
    one neuron at a time in the reference's order)."""
    X = batch_inputs(net, X)
    return counts_dict(_count_batch(X, net.p, net.act, net.bias, net.w_ptr, net.w_src, net.w_val,
                                    ACT_CMP))


def analytic_cost(net: Network) -> dict[str, int]:
    """Closed-form dense cost per input under the cost model (module docstring)."""
    k = np.diff(net.w_ptr) + (net.bias != 0)
    mul = net.n_weights
    add = int(np.maximum(k - 1, 0).sum())
    cmp = int(ACT_CMP[net.act].sum())
    return {"mul": mul, "add": add, "cmp": cmp, "total": mul + add + cmp}
