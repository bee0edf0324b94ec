"""The cost model's bounds (seed 000); :mod:`kernels.executors.measure` measures what they bound.

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
"""

from __future__ import annotations

import math
from itertools import combinations, islice

import numpy as np


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


def theorem_bounds(n: int, p: int, r: int) -> dict:
    """Seed 000's bounds at (n, p, r), q = p + 1, as numbers: Theorem 3's floor, Theorem 2's
    active neurons and weights, Corollary 1's scale.  They bound the Theorem 2 construction; the
    report draws them as references for every one (each sweep row's ``theorem``)."""
    q = p + 1
    return {"theorem3_floor": float(theorem3_floor(n, p)),
            "theorem2_active_neurons": float(theorem2_active_neurons_bound(n, q, r)),
            "theorem2_active_weights": float(theorem2_active_weights_bound(n, q, r)),
            "corollary1_ops_scale": float(corollary1_ops_scale(n, q, r))}


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

