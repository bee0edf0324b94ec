"""``hyperplane-tree`` — Corollary 1 of seed 000 by its direct proof: the balanced hyperplane
partition of Fig. 1 (:mod:`.partition`, on x̄ = [1; x] itself) run as if-else tests, a
:class:`~kernels.model.network.ConditionalNetwork` in BFS order.  Executor ``tree`` (its fast
routing kernel recognises this shape, :mod:`kernels.executors.tree.hyperplane`).

Shape.  Internal vertex v: one op ``v = relu(w_v0 + Σ_k w_vk x_k)`` over the inputs (bias = w_v0,
zero weights not stored) and the test ``v > 0`` — ``child_true`` is the partition's pos side
{w_vᵀx̄ > 0}, ``child_false`` its neg side.  (``op="identity"`` stores ``v = w_vᵀx̄`` instead: same
routing, one comparison less per level.)  Leaf of point i: r bias-only identity ops, the constants
d_i1 … d_ir (they cost nothing under the cost model), so recall is exact for every output sign.

Exactness.  Every dataset point has |ŝ| > safety·e at every vertex of its path (the partition's
certificate), so whatever order an executor sums in, the test sees the same strict sign and the
point reaches its own leaf.

**Tie rule** (off-dataset inputs).  Tests are evaluated literally in the network's dtype
(:func:`kernels.model.conditional.holds`): an input with computed w_vᵀx̄ ≤ 0 — the boundary w_vᵀx̄ = 0
included, −0.0 too — goes to ``child_false``; only a strictly positive value goes to ``child_true``.
Routing is deterministic: one path, one leaf, its constants.

Sizes (n points, D = depth = ⌈log2 n⌉): 2n − 1 vertices, n − 1 hyperplane ops with Σ_v nnz(w_v1:)
weights (≤ p(n − 1)) and r·n constants.

Operations per input (tree cost model: a multiplication per weight, terms − 1 additions with a
non-zero bias a term, one comparison for the ReLU, one for the test):

    ops(x_i) = Σ_{v on the path} (2·nnz(w_v,1:) + [w_v0 ≠ 0] − 1 + 2) ≤ 2q·D   (q = p + 1)

so Corollary 1 holds with the constant 2 on q·log n and none on rq (the leaves are constants):
``corollary1_ops = 2q·⌈log2 n⌉`` (``identity`` ops: (2q − 1)·⌈log2 n⌉).  Theorem 3's floor
log2(n/p) is below that for every n.
"""

from __future__ import annotations

import numpy as np

from kernels.constructions import partition
from kernels.constructions.options import Range
from kernels.memorizer import Memorizer
from kernels.model.conditional import hyperplane_network
from kernels.model.data import Dataset
from kernels.theory import bounds
from kernels.theory.verify import check_range

NAME = "hyperplane-tree"
SEED = "seed 000 (Koyuncu, Corollary 1, direct proof)"
SUMMARY = ("Corollary 1 if-else tree over the Fig. 1 hyperplane partition: 2n-1 vertices, "
           "<= 2q*ceil(log2 n) ops per input")
NONNEGATIVE = False
EXECUTORS = ("tree",)
OPTIONS = {  # checked, and every default filled in, by the registry before build
    "op": (str, ("relu", "identity"), "relu", "vertex neuron"),
    "n_random": (int, Range(1, 1024), 8, "random directions per partition vertex"),
}


def estimate_bytes(n: int, p: int, r: int, *, n_random: int, **_) -> int:
    q = p + 1
    return int(partition.estimate_bytes(n, q, n_random)
               + 12 * n * (6 * q + 4 * r + 24))


def path_ops(part, op: str = "relu") -> np.ndarray:
    """Exact tree operations for each dataset point (its path's vertex costs)."""
    Wx = part.W[:, 1:]
    nz = np.count_nonzero(Wx, axis=1)
    terms = nz + (part.W[:, 0] != 0)
    cost = nz + np.maximum(terms - 1, 0) + (1 if op == "relu" else 0) + 1
    cost[part.pos < 0] = 0
    out = np.zeros(part.n, np.int64)
    parent = np.full(part.pos.size, -1, np.int64)
    inner = part.internal
    parent[part.pos[inner]] = inner
    parent[part.neg[inner]] = inner
    cur = part.leaf_of.copy()
    while (parent[cur] >= 0).any():
        up = parent[cur] >= 0
        cur = np.where(up, parent[cur], cur)
        out[up] += cost[cur[up]]
    return out


def build(ds: Dataset, *, seed: int, dtype, op: str, n_random: int) -> Memorizer:
    dt = np.dtype(dtype)
    check_range(ds.D, dt, NAME)  # leaf outputs are stored in dt
    n, p, r = ds.n, ds.p, ds.r
    X = ds.X.astype(dt)
    P = np.concatenate([np.ones((n, 1), dt), X], axis=1)
    part = partition.build(P, seed=seed, dtype=dt, n_random=n_random)
    inner = part.internal
    leaves = np.flatnonzero(part.pos < 0)
    cond = hyperplane_network(part.pos, part.neg, part.W[inner, 1:], part.W[inner, 0], act=op,
                              test=">", thr=0.0, leaf_g0=ds.D[part.point[leaves]],
                              dtype=dt)
    ops = path_ops(part, op)
    q = p + 1
    info = {"q": q, "op": op, "test": ">", "tie_rule": "w·x̄ <= 0 (boundary included) -> "
            "child_false; only w·x̄ > 0 -> child_true",
            "partition": part.summary(),
            "formulas": {"vertices": 2 * n - 1, "ops_nodes": n - 1 + r * n,
                         "weights": int(np.count_nonzero(part.W[inner, 1:])),
                         "depth": part.max_depth}}
    m = Memorizer(NAME, ds, conditional=cond, executors=EXECUTORS, dtype=dt, info=info,
                  bounds=_bounds)
    m.partition = part
    m.path_ops = ops
    return m


def _bounds(m: Memorizer) -> dict:
    n, p, r = m.dataset.n, m.dataset.p, m.dataset.r
    q = p + 1
    D = m.partition.max_depth
    per_level = 2 * q if m.info["op"] == "relu" else 2 * q - 1
    return {"corollary1_ops": per_level * D,
            "corollary1_per_level": per_level,
            "corollary1_ops_scale": bounds.corollary1_ops_scale(n, q, r),
            "path_ops_max": int(m.path_ops.max(initial=0)),
            "theorem3_floor": bounds.theorem3_floor(n, p),
            "depth_levels": D}
