"""The cost model's bounds (seed 000) and the measured quantities they bound.

Bound formulas (array-friendly; ``log2`` is the real base-2 logarithm):

* Theorem 1 — the synthesized conditional network performs ≤ ``p + 4ω`` operations on an input with
  ω active weights: :func:`theorem1_ops_bound`.  (``kernels.executors.active`` documents how its
  accounting meets this constant: a multiplication, an addition, the activation comparison and one
  output-configuration test per active weight.)
* Theorem 2 — the switch network has, for every dataset input,
  A ≤ 2(q+1)·log2 n + q + r (:func:`theorem2_active_neurons_bound`; ``ceil_log2=True`` reads
  ⌈log2 n⌉, the tree depth for n not a power of two) and
  W ≤ 12q(q+1)·log2 n + (r+2)q + r − 2 (:func:`theorem2_active_weights_bound`), q = p + 1.
  memcap's own switch network meets the closed forms of :func:`switch_net_active_bounds`
  (derived in :mod:`kernels.constructions.switch_net`), within Theorem 2's with ⌈log2 n⌉ for
  every r.
* Corollary 1 — O(rq + q²·log2 n) operations; :func:`corollary1_ops_scale` is that expression with
  no constant (a scale to plot against, not a bound).
* Theorem 3 — any conditional network that memorizes a dataset satisfying the rank condition
  (:func:`rank_condition`) needs ≥ log2(n/p) operations on some input: :func:`theorem3_floor`.

Measured quantities: :func:`active_sets` gives A(x; f) and W(x; f) of Definition 1 per input by
plain NumPy from the dense unit values — independent of the ``active`` kernel, so tests can hold its
counted twin to it.  Definition 1 is read as in ``kernels.executors.active`` (a non-zero bias is a
weight from the constant input 1 of x̄ = [1; x]; an input unit is active iff it is non-zero).
"""

from __future__ import annotations

import math
from itertools import combinations, islice

import numpy as np

from kernels.model.network import Network


def _out(v):
    v = np.asarray(v, dtype=np.float64)
    return float(v) if v.ndim == 0 else v


def theorem1_ops_bound(p, omega):
    """Theorem 1: p + 4ω operations for an input with ω active weights."""
    return _out(np.asarray(p, dtype=np.float64) + 4.0 * np.asarray(omega, dtype=np.float64))


def theorem2_active_neurons_bound(n, q, r, *, ceil_log2: bool = False):
    """Theorem 2: A(x_i; f) ≤ 2(q + 1)·log2 n + q + r (log2 n rounded up with ``ceil_log2``)."""
    n, q, r = (np.asarray(a, dtype=np.float64) for a in (n, q, r))
    lg = np.log2(n)
    if ceil_log2:
        lg = np.ceil(lg - 1e-12)  # exact for powers of two (log2 of 2^k is exact anyway)
    return _out(2.0 * (q + 1.0) * lg + q + r)


def theorem2_active_weights_bound(n, q, r):
    """Theorem 2: W(x_i; f) ≤ 12q(q + 1)·log2 n + (r + 2)q + r − 2."""
    n, q, r = (np.asarray(a, dtype=np.float64) for a in (n, q, r))
    return _out(12.0 * q * (q + 1.0) * np.log2(n) + (r + 2.0) * q + r - 2.0)


def switch_net_active_bounds(D: int, q: int, r: int, leaf_levels: int = 2) -> dict:
    """Closed-form active-neuron and active-weight bounds of ``switch-net`` on a partition of depth
    D ≥ 0 whose leaves lie on ``leaf_levels`` levels (≤ 2 when balanced), q = q_route:
    A ≤ 2(q + 1)D + r + 1, W ≤ (2q − 1) + 2qD + 2q(D − 1) + (2 + r) + 2q(D − L) + L·max(2q, 2 + r)
    (n = 1, D = 0: A = q + r, W ≤ 2q − 1 + r)."""
    if D == 0:
        return {"active_neurons": q + r, "active_weights": 2 * q - 1 + r}
    L = min(max(leaf_levels, 1), D)
    return {"active_neurons": 2 * (q + 1) * D + r + 1,
            "active_weights": (2 * q - 1) + 2 * q * D + 2 * q * (D - 1) + (2 + r)
            + 2 * q * (D - L) + L * max(2 * q, 2 + r)}


def corollary1_ops_scale(n, q, r):
    """Corollary 1's O(rq + q²·log2 n), without a constant."""
    n, q, r = (np.asarray(a, dtype=np.float64) for a in (n, q, r))
    return _out(r * q + q * q * np.log2(n))


def theorem3_floor(n, p):
    """Theorem 3: at least log2(n / p) operations per input (clipped at 0)."""
    n, p = np.asarray(n, dtype=np.float64), np.asarray(p, dtype=np.float64)
    return _out(np.maximum(0.0, np.log2(n / p)))


# ---- Theorem 3's rank condition -----------------------------------------------------------------

def rank_condition(X, D, *, output: int = 0, augmented: bool = False,
                   exhaustive_max: int = 20_000, samples: int = 2_000, seed: int = 0,
                   rtol: float | None = None, batch: int = 4096) -> dict:
    """Theorem 3's condition: for every subset {i_1, …, i_{p+1}} the (p+1)×(p+1) matrix
    [[x_i1 … x_ip+1], [d_i1 … d_ip+1]] has rank p + 1.

    Theorem 3 is stated for scalar outputs; for r > 1 column ``output`` of D is used (the paper's
    remark: memorizing vectors implies memorizing one component).  The paper's conditional
    networks have no biases; networks with biases are the paper's networks on x̄ = [1; x], so
    ``augmented=True`` checks the condition for x̄ (subsets of p + 2 points; the floor then reads
    log2(n / (p + 1))).  Every subset is checked when
    C(n, p+1) ≤ ``exhaustive_max``, otherwise ``samples`` random subsets (seeded) — then ``holds``
    means "no violation found".  Rows of the stacked matrix are scaled by their largest magnitude
    over the dataset (rank is invariant under row scaling) and the rank is numerical, with
    ``np.linalg.matrix_rank``'s tolerance unless ``rtol`` (relative to the largest singular value)
    is given.  Returns ``holds, checked_subsets, total_subsets, exhaustive, first_violation``
    (sorted indices, or None) and ``violation_rank``.
    """
    X = np.asarray(X, dtype=np.float64)
    D = np.asarray(D, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError("X must be 2-D (n, p)")
    if augmented:
        X = np.concatenate([np.ones((X.shape[0], 1)), X], axis=1)
    n, p = X.shape
    d = D.reshape(n, -1)[:, output] if D.size else np.zeros(n)
    M = np.concatenate([X, d[:, None]], axis=1)  # row i is column i of the paper's matrix
    scale = np.abs(M).max(axis=0)
    M = M / np.where(scale > 0, scale, 1.0)
    k = p + 1
    total = math.comb(n, k) if n >= k else 0
    res = {"holds": True, "checked_subsets": 0, "total_subsets": total, "exhaustive": True,
           "first_violation": None, "violation_rank": None, "output": output,
           "augmented": augmented}
    if total == 0:
        return res
    if total <= exhaustive_max:
        def every():
            it = combinations(range(n), k)
            while (block := list(islice(it, batch))):
                yield np.array(block, dtype=np.int64)

        chunks = every()
    else:
        res["exhaustive"] = False
        rng = np.random.default_rng(seed)

        def sampled():
            left = samples
            while left > 0:
                b = min(batch, left)
                left -= b
                yield np.sort(np.argsort(rng.random((b, n)), axis=1)[:, :k], axis=1)

        chunks = sampled()
    for idx in chunks:
        A = M[idx]  # (b, k, k): the transpose of the paper's matrix; same rank
        if rtol is None:
            ranks = np.linalg.matrix_rank(A)
        else:
            s = np.linalg.svd(A, compute_uv=False)
            ranks = (s > rtol * s[:, :1]).sum(axis=1)
        bad = np.flatnonzero(np.atleast_1d(ranks) < k)
        if bad.size:
            res["checked_subsets"] += int(bad[0]) + 1
            res.update(holds=False, first_violation=[int(i) for i in idx[bad[0]]],
                       violation_rank=int(np.atleast_1d(ranks)[bad[0]]))
            return res
        res["checked_subsets"] += len(idx)
    return res


# ---- Definition 1, measured ---------------------------------------------------------------------

def unit_values(net: Network, X) -> np.ndarray:
    """All unit values (m, p + N) for inputs X, computed by the dense kernel (bit-identical to
    ``kernels.executors.dense.predict``)."""
    from kernels.executors.dense import _forward_into

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
