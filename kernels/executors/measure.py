"""Definition 1 measured: :func:`active_sets` gives A(x; f) and W(x; f) of Definition 1 per input by
plain NumPy from the dense unit values — independent of the ``active`` kernel, so tests can hold its
counted twin to it.  Definition 1 is read as in ``kernels.executors.active`` (a non-zero bias is a
weight from the constant input 1 of x̄ = [1; x]; an input unit is active iff it is non-zero).
"""

from __future__ import annotations

import numpy as np

from kernels.executors.dense import _forward_into
from kernels.model.network import Network


def unit_values(net: Network, X) -> np.ndarray:
    """All unit values (m, p + N) for inputs X, computed by the dense kernel (bit-identical to
    ``kernels.executors.dense.predict``)."""
    X = np.ascontiguousarray(X, dtype=net.w_val.dtype)
    U = np.empty((X.shape[0], net.p + net.n_neurons), dtype=X.dtype)
    for i in range(X.shape[0]):
        _forward_into(X[i], U[i], net.p, net.act, net.bias, net.w_ptr, net.w_src, net.w_val)
    return U


def _per_neuron_sums(net: Network, E: np.ndarray) -> np.ndarray:
    """E (m, nnz) 0/1 per incoming weight -> (m, N) sums over each neuron's incoming weights."""
    cs = np.zeros((E.shape[0], E.shape[1] + 1), dtype=np.int64)
    np.cumsum(E, axis=1, out=cs[:, 1:])
    return cs[:, net.w_ptr[1:]] - cs[:, net.w_ptr[:-1]]


def active_neuron_mask(net: Network, units: np.ndarray) -> np.ndarray:
    """(m, N) Definition 1 activity from unit values: b_j ≠ 0 or a non-zero connected source."""
    nz = units != 0
    return (_per_neuron_sums(net, nz[:, net.w_src]) > 0) | (net.bias != 0)[None, :]


def active_sets(net: Network, X, *, weights: bool = False, chunk: int = 1 << 24) -> dict:
    """Definition 1 per input, by plain NumPy from the dense unit values.

    Returns ``neurons`` (m, N) bool — the set A(x; f) — and per-input counts ``active_neurons``
    (|A|), ``active_weights`` (W(x; f): non-zero weights, biases included, from an active unit to an
    active neuron), ``computed_weights`` (what the active executor forms: biases of active neurons
    and weights whose source output is non-zero).  With
    ``weights=True`` also ``weights`` (m, nnz) bool over the stored weights and ``biases`` (m, N).
    """
    X = np.asarray(X)
    m = X.shape[0]
    nnz = max(1, net.n_weights)
    step = max(1, chunk // nnz)
    has_b = net.bias != 0
    indeg = np.diff(net.w_ptr)
    out = {"neurons": np.zeros((m, net.n_neurons), dtype=bool),
           "active_neurons": np.zeros(m, dtype=np.int64),
           "active_weights": np.zeros(m, dtype=np.int64),
           "computed_weights": np.zeros(m, dtype=np.int64)}
    if weights:
        out["weights"] = np.zeros((m, net.n_weights), dtype=bool)
        out["biases"] = np.zeros((m, net.n_neurons), dtype=bool)
    for a in range(0, m, step):
        U = unit_values(net, X[a:a + step])
        nz = U != 0
        A = active_neuron_mask(net, U)
        unit_active = np.concatenate([nz[:, :net.p], A], axis=1)
        src_active = unit_active[:, net.w_src]  # (b, nnz)
        tgt = np.repeat(np.arange(net.n_neurons), indeg)
        W_edge = src_active & A[:, tgt]
        W = W_edge.sum(axis=1) + (A & has_b).sum(axis=1)
        live = _per_neuron_sums(net, nz[:, net.w_src])
        comp = np.where(A, live + has_b, 0).sum(axis=1)
        out["neurons"][a:a + step] = A
        out["active_neurons"][a:a + step] = A.sum(axis=1)
        out["active_weights"][a:a + step] = W
        out["computed_weights"][a:a + step] = comp
        if weights:
            out["weights"][a:a + step] = W_edge
            out["biases"][a:a + step] = A & has_b
    return out
