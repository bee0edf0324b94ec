"""The balanced divide-and-conquer partition of seed 000, Fig. 1: hyperplanes w_v split the
augmented points x̄ = [1; x] (any (n, q) array whose column 0 is 1) in halves, down to singletons.

Shared by ``switch-net`` (Theorem 2, on the translated points u = T(x̄)) and ``hyperplane-tree``
(Corollary 1, on x̄ itself).  Stored as flat arrays over the vertices in BFS order (root 0; the
children of a vertex are ``pos`` = {wᵀx̄ > 0} then ``neg`` = {wᵀx̄ < 0}).

**Balance.**  A vertex of m points sends ⌊m/2⌋ or ⌈m/2⌉ of them to each side, so every leaf lies at
depth ⌊log2 n⌋ or ⌈log2 n⌉ (``balanced``).  Only the fallback (below) may give up balance, and the
record says so.

**Robustness (exact in floating point).**  The value a network computes is ŝ = fl(Σ_k w_k x̄_k),
summed in some order.  For m_w non-zero terms, |ŝ − wᵀx̄| ≤ e = γ_{m_w} Σ_k |w_k x̄_k| with
γ_m = m·u/(1 − m·u), u = eps/2, whatever the order (Higham, Thm 3.1).  A vertex is accepted only
if every one of its points has |ŝ| > ``safety`` · e (ŝ computed left to right, the executors'
order), so every summation order gives the same strict sign; ``lo`` = min(|ŝ| − 2e) is a lower
bound on |value| in any order.  An *axis* split w = [−θ, e_k] is exact: its products are exact and
a sum of two floats has the sign of the true sum, so it needs only θ strictly between the two
median values.

**Choice of w.**  Candidates per vertex: ``n_random`` seeded Gaussian directions (shared by a
level), the ``n_axes`` coordinate axes of largest relative range inside the vertex, the difference
of the two points around the median of the best of those, and the principal direction (vertices of
≥ ``principal_min`` points, by power iteration).  For each, the split sits in the median gap (θ its
midpoint; for odd m both median gaps are tried) and the score is the relative gap
min(θ − z_L, z_R − θ) / (|θ| + max Σ_k|v_k x̄_k|).  The best certified candidate is verified on the
exact left-to-right sums; a failure drops that candidate and the next is tried.  With none left, a
slow fallback tries every axis, 256 more directions and split positions away from the median; if
two points cannot be told apart in the dtype at all, a ValueError names them.

**Tie rule** (for inputs that are not dataset points): :meth:`Partition.route` sends ŝ > 0 to
``pos`` and ŝ ≤ 0 (the boundary included) to ``neg``.

Memory: :func:`estimate_bytes`; work O(n log n · (n_random + n_axes) · p) in NumPy and Numba.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kernels.constructions._partition_split import Level, Options, candidates, split

KINDS = ("random", "axis", "difference", "principal", "fallback")


@dataclass(eq=False)
class Partition:
    """Vertices in BFS order; see the module docstring."""

    P: np.ndarray  # (n, q) points, values of the build dtype (stored float64)
    W: np.ndarray  # (V, q) hyperplanes, zero rows at leaves
    pos: np.ndarray  # (V,) child {wᵀx̄ > 0}, -1 at leaves
    neg: np.ndarray  # (V,) child {wᵀx̄ < 0}
    depth: np.ndarray  # (V,)
    size: np.ndarray  # (V,) points under the vertex
    point: np.ndarray  # (V,) dataset index at a leaf, -1 inside
    leaf_of: np.ndarray  # (n,) leaf vertex of each point
    mu: np.ndarray  # (V,) min |ŝ| over the vertex's points (left-to-right sums)
    lo: np.ndarray  # (V,) certified lower bound on |value| in any summation order
    umax: np.ndarray  # (V,) largest coordinate among the vertex's points
    exact: np.ndarray  # (V,) bool: an exact axis split
    kind: np.ndarray  # (V,) int8 index into KINDS
    dtype: np.dtype

    @property
    def n(self) -> int:
        return self.P.shape[0]

    @property
    def q(self) -> int:
        return self.P.shape[1]

    @property
    def internal(self) -> np.ndarray:
        return np.flatnonzero(self.pos >= 0)

    @property
    def max_depth(self) -> int:
        return int(self.depth.max(initial=0))

    @property
    def balanced(self) -> bool:
        return self.max_depth <= ceil_log2(self.n)

    @property
    def nnz(self) -> np.ndarray:
        """Non-zero weights of each vertex's hyperplane (0 at leaves)."""
        return np.count_nonzero(self.W, axis=1)

    def values(self, X: np.ndarray, v: int) -> np.ndarray:
        """ŝ = fl(Σ_k W[v,k] x̄_k), left to right in the dtype, for points X (m, q)."""
        X = np.asarray(X, dtype=self.dtype)
        w = self.W[v].astype(self.dtype)
        s = np.zeros(X.shape[0], dtype=self.dtype)
        for k in np.flatnonzero(w):
            s = s + w[k] * X[:, k]
        return s

    def route(self, X: np.ndarray) -> np.ndarray:
        """Leaf reached by each row of X (m, q) under the tie rule (ŝ > 0 → pos, else neg)."""
        X = np.asarray(X, dtype=self.dtype)
        at = np.zeros(X.shape[0], dtype=np.int64)
        for _ in range(self.max_depth):
            for v in np.unique(at[self.pos[at] >= 0]):
                rows = np.flatnonzero(at == v)
                s = self.values(X[rows], v)
                at[rows] = np.where(s > 0, self.pos[v], self.neg[v])
        return at

    def path(self, i: int) -> np.ndarray:
        """Vertices from the root to the leaf of point i."""
        parent = np.full(self.pos.size, -1, np.int64)
        inner = self.internal
        parent[self.pos[inner]] = inner
        parent[self.neg[inner]] = inner
        out = [int(self.leaf_of[i])]
        while parent[out[-1]] >= 0:
            out.append(int(parent[out[-1]]))
        return np.array(out[::-1], dtype=np.int64)

    def summary(self) -> dict:
        inner = self.internal
        kinds = np.bincount(self.kind[inner], minlength=len(KINDS))
        ratio = self.mu[inner] / np.maximum(self.umax[inner], 1e-300)
        return {"vertices": int(self.pos.size), "depth": self.max_depth,
                "balanced": self.balanced, "exact_splits": int(self.exact[inner].sum()),
                "split_kinds": {k: int(c) for k, c in zip(KINDS, kinds, strict=True) if c},
                "min_relative_margin": float(ratio.min()) if inner.size else None}


def ceil_log2(n: int) -> int:
    return int(n - 1).bit_length() if n > 1 else 0


def estimate_bytes(n: int, q: int, n_random: int = 8) -> int:
    """Peak memory of :func:`build` (bytes), checked before building."""
    K = n_random + q + 1
    return int(8 * n * (4 * K + 6 * q + 16) + 8 * (2 * n) * (q + 12))


# ---- build --------------------------------------------------------------------------------------
def build(P, *, seed: int = 0, dtype="float64", n_random: int = 8, safety: float = 4.0,
          principal_min: int = 256, n_axes: int = 4, index=None) -> Partition:
    """Partition the rows of P (n, q; column 0 all ones) down to singletons, level by level
    (module docstring): settle the leaves, score every candidate of every vertex, choose and
    verify each vertex's hyperplane, send its points to the two children.

    ``index`` (optional): dataset row numbers used in error messages."""
    dt = np.dtype(dtype)
    P = np.ascontiguousarray(np.asarray(P, dtype=dt))
    n, q = P.shape
    idx = np.arange(n) if index is None else np.asarray(index)
    _check_points(P, idx)
    o = Options(dt, float(np.finfo(dt).eps), safety, n_random, n_axes, principal_min, idx)
    T = _empty(P, dt)
    rng = np.random.default_rng(seed)
    Pf = P[:, 1:].astype(np.float64)
    rowmax = P.max(axis=1).astype(np.float64)
    perm = np.arange(n)  # the points, grouped by vertex: each vertex owns a segment
    ids, starts, ends = np.array([0]), np.array([0]), np.array([n])
    next_id, level = 1, 0
    while ids.size:
        lv = _level(T, perm, ids, starts, ends, level, Pf, rowmax)
        if lv is None:
            break
        side = split(T, lv, candidates(lv, rng, o), P, Pf, rng, o)
        ids, starts, ends = _children(T, perm, lv, side, next_id)
        next_id += 2 * lv.nv
        level += 1
    T.P = P.astype(np.float64)
    leaves = np.flatnonzero(T.point >= 0)
    T.leaf_of[T.point[leaves]] = leaves
    return T


def _check_points(P, idx) -> None:
    """Augmented (column 0 all ones) and distinct in the dtype, else a ValueError naming rows."""
    if P.shape[1] < 2 or not (P[:, 0] == 1).all():
        raise ValueError("partition: points must be augmented, x̄ = [1; x] (column 0 all ones)")
    _, first, inv = np.unique(P, axis=0, return_index=True, return_inverse=True)
    if first.size < P.shape[0]:
        j = int(np.flatnonzero(first[inv.ravel()] != np.arange(P.shape[0]))[0])
        raise ValueError(f"rows {idx[first[inv.ravel()[j]]]} and {idx[j]} coincide in "
                         f"{P.dtype.name}; distinct points are needed")


def _empty(P, dt) -> Partition:
    """A partition of the 2n − 1 vertices with nothing decided (P is replaced at the end)."""
    n, q = P.shape
    V = 2 * n - 1
    return Partition(P, np.zeros((V, q)), np.full(V, -1, np.int64), np.full(V, -1, np.int64),
                     np.zeros(V, np.int64), np.zeros(V, np.int64), np.full(V, -1, np.int64),
                     np.empty(n, np.int64), np.zeros(V), np.zeros(V), np.zeros(V),
                     np.zeros(V, bool), np.zeros(V, np.int8), dt)


def _level(T, perm, ids, starts, ends, level, Pf, rowmax) -> Level | None:
    """Record the level's vertices (size, depth; the point of a leaf) and gather the points of
    its internal ones; None when every vertex is a leaf."""
    m = ends - starts
    T.size[ids] = m
    T.depth[ids] = level
    leaf = m == 1
    T.point[ids[leaf]] = perm[starts[leaf]]
    ids, starts, ends, m = ids[~leaf], starts[~leaf], ends[~leaf], m[~leaf]
    if not ids.size:
        return None
    ptr = np.concatenate([[0], np.cumsum(m)])
    rows = perm[np.repeat(starts - ptr[:-1], m) + np.arange(ptr[-1])]
    T.umax[ids] = np.maximum.reduceat(rowmax[rows], ptr[:-1])
    return Level(ids, starts, ends, m, ptr, rows, np.repeat(np.arange(ids.size), m), Pf[rows])


def _children(T, perm, lv: Level, side, next_id: int):
    """Children of the level's vertices (BFS ids from next_id, pos then neg) and their segments:
    inside each vertex's segment of perm the pos points first, then the neg ones."""
    order = np.lexsort((~side, lv.owner))
    perm[np.repeat(lv.starts, lv.m) + np.arange(lv.rows.size) - np.repeat(lv.ptr[:-1], lv.m)] = (
        lv.rows[order])
    npos = np.bincount(lv.owner, weights=side, minlength=lv.nv).astype(np.int64)
    kids = next_id + 2 * np.arange(lv.nv)
    T.pos[lv.ids], T.neg[lv.ids] = kids, kids + 1
    ids = np.stack([kids, kids + 1], axis=1).ravel()
    starts = np.stack([lv.starts, lv.starts + npos], axis=1).ravel()
    ends = np.stack([lv.starts + npos, lv.ends], axis=1).ravel()
    return ids, starts, ends
