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

from kernels.constructions._partition_kernels import _check, _median_gaps, _median_pair, _rowdot

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


def gamma(m, eps: float):
    u = eps / 2
    m = np.asarray(m, dtype=np.float64)
    return m * u / (1 - m * u)


def estimate_bytes(n: int, q: int, n_random: int = 8) -> int:
    """Peak memory of :func:`build` (bytes), checked before building."""
    K = n_random + q + 1
    return int(8 * n * (4 * K + 6 * q + 16) + 8 * (2 * n) * (q + 12))


# ---- scoring ------------------------------------------------------------------------------------
def _score(zl, zr, zr2, amax, m, terms, exact, eps, safety):
    """Scores (V, 2K) for the two split options; -inf where not certified."""
    out = []
    for lo, hi, ok in ((zl, zr, np.ones_like(zl, bool)), (zr, zr2, (m % 2 == 1)[:, None])):
        with np.errstate(invalid="ignore", over="ignore"):
            th = 0.5 * lo + 0.5 * hi
            margin = np.minimum(th - lo, hi - th)
            scale = np.abs(th) + amax
            need = safety * gamma(terms, eps)[None, :] * scale
            good = ok & (lo < th) & (th < hi) & np.isfinite(th) & (
                exact[None, :] | (margin > need))
            sc = np.where(good, margin / np.maximum(scale, 1e-300), -np.inf)
        out.append(sc)
    return np.concatenate(out, axis=1)


def _principal(X, rng, iters: int = 12):
    """Top principal direction of the rows of X (power iteration on the centred rows)."""
    Xc = X - X.mean(axis=0)
    v = rng.standard_normal(X.shape[1])
    for _ in range(iters):
        v = Xc.T @ (Xc @ v)
        nrm = np.linalg.norm(v)
        if not nrm > 0:
            return np.zeros(X.shape[1])
        v /= nrm
    return v


def _seq_values(Wr, Pr, dt):
    s = np.zeros(Pr.shape[0], dtype=dt)
    for k in range(Pr.shape[1]):
        s = s + Wr[:, k] * Pr[:, k]
    return s


def _fallback(Pn, rng, dt, eps, safety):
    """Slow path for one vertex: more directions, split positions away from the median."""
    m, q = Pn.shape
    X = Pn[:, 1:].astype(np.float64)
    dirs = [np.eye(q - 1)[k] for k in range(q - 1)] + list(rng.standard_normal((256, q - 1)))
    best = None
    for d in dirs:
        z = X @ d
        order = np.argsort(z, kind="stable")
        zs = z[order]
        th = 0.5 * zs[:-1] + 0.5 * zs[1:]
        ks = np.flatnonzero((zs[:-1] < th) & (th < zs[1:])) + 1
        if not ks.size:
            continue
        k = ks[np.argmin(np.abs(ks - m / 2))]
        w = np.concatenate([[-th[k - 1]], d]).astype(dt)
        s = _seq_values(np.broadcast_to(w, Pn.shape), Pn, dt)
        ex = np.count_nonzero(w) <= 2 and np.count_nonzero(d) == 1 and d.max() == 1
        e = 0.0 if ex else gamma(np.count_nonzero(w), eps) * (np.abs(w) * np.abs(Pn)).sum(1)
        npos = int((s > 0).sum())
        if (s != 0).all() and (np.abs(s) > safety * e).all() and 0 < npos < m:
            cand = (max(npos, m - npos), w, s, ex)
            if best is None or cand[0] < best[0]:
                best = cand
    return best


# ---- build --------------------------------------------------------------------------------------
def build(P, *, seed: int = 0, dtype="float64", n_random: int = 8, safety: float = 4.0,
          principal_min: int = 256, n_axes: int = 4, index=None) -> Partition:
    """Partition the rows of P (n, q; column 0 all ones) down to singletons.

    ``index`` (optional): dataset row numbers used in error messages."""
    dt = np.dtype(dtype)
    eps = float(np.finfo(dt).eps)
    P = np.ascontiguousarray(np.asarray(P, dtype=dt))
    n, q = P.shape
    idx = np.arange(n) if index is None else np.asarray(index)
    if q < 2 or not (P[:, 0] == 1).all():
        raise ValueError("partition: points must be augmented, x̄ = [1; x] (column 0 all ones)")
    _, first, inv = np.unique(P, axis=0, return_index=True, return_inverse=True)
    if first.size < n:
        j = int(np.flatnonzero(first[inv.ravel()] != np.arange(n))[0])
        raise ValueError(f"rows {idx[first[inv.ravel()[j]]]} and {idx[j]} coincide in {dt.name}; "
                         "distinct points are needed")
    rng = np.random.default_rng(seed)
    Pf = P[:, 1:].astype(np.float64)
    p = q - 1
    rowmax = P.max(axis=1).astype(np.float64)
    V = 2 * n - 1
    W = np.zeros((V, q))
    pos = np.full(V, -1, np.int64)
    neg = np.full(V, -1, np.int64)
    depth = np.zeros(V, np.int64)
    size = np.zeros(V, np.int64)
    point = np.full(V, -1, np.int64)
    mu = np.zeros(V)
    lo = np.zeros(V)
    umax = np.zeros(V)
    exact = np.zeros(V, bool)
    kind = np.zeros(V, np.int8)
    perm = np.arange(n)
    # current level: vertex ids and their segments of perm
    ids, starts, ends = np.array([0]), np.array([0]), np.array([n])
    next_id, level = 1, 0
    while ids.size:
        m = ends - starts
        size[ids] = m
        depth[ids] = level
        leaf = m == 1
        point[ids[leaf]] = perm[starts[leaf]]
        ids, starts, ends, m = ids[~leaf], starts[~leaf], ends[~leaf], m[~leaf]
        if not ids.size:
            break
        nv = ids.size
        ptr = np.concatenate([[0], np.cumsum(m)])
        rows = perm[np.repeat(starts - ptr[:-1], m) + np.arange(ptr[-1])]
        owner = np.repeat(np.arange(nv), m)
        umax[ids] = np.maximum.reduceat(rowmax[rows], ptr[:-1])
        X = Pf[rows]
        N = rows.size
        R = rng.standard_normal((n_random, p))
        R /= np.linalg.norm(R, axis=1, keepdims=True)
        # per-vertex axes: the coordinates of largest relative range inside the vertex
        mx = np.maximum.reduceat(X, ptr[:-1], axis=0)
        mn = np.minimum.reduceat(X, ptr[:-1], axis=0)
        rel = (mx - mn) / np.maximum(np.maximum(np.abs(mx), np.abs(mn)), 1e-300)
        na = min(n_axes, p)
        axes = np.argsort(-rel, axis=1, kind="stable")[:, :na]
        K = n_random + na + 2
        ZT = np.empty((K, N))
        AT = np.empty((K, N))
        ZT[:n_random] = R @ X.T
        AT[:n_random] = np.abs(R) @ np.abs(X).T
        ZT[n_random:K - 2] = np.take_along_axis(X, axes[owner], axis=1).T
        AT[n_random:K - 2] = np.abs(ZT[n_random:K - 2])
        g1 = _median_gaps(ZT[:K - 2], AT[:K - 2], ptr)
        terms = np.concatenate([np.full(n_random, q), np.full(na, 2), [q, q]])
        exv = np.concatenate([np.zeros(n_random, bool), np.ones(na, bool), [False, False]])
        sc = _score(*g1, m, terms[:K - 2], exv[:K - 2], eps, safety)
        # vertex-specific candidates: the median pair's difference, the principal direction
        best = np.argmax(np.maximum(sc[:, :K - 2], sc[:, K - 2:]), axis=1)
        zb = ZT[best[owner], np.arange(N)]
        a, b = _median_pair(zb, ptr, g1[0][np.arange(nv), best], g1[1][np.arange(nv), best])
        D = np.zeros((2, nv, p))
        D[0] = X[b] - X[a]
        for j in np.flatnonzero(m >= principal_min):
            D[1, j] = _principal(X[ptr[j]:ptr[j + 1]], rng)
        D /= np.maximum(np.abs(D).max(axis=2, keepdims=True), 1e-300)
        ZT[K - 2:], AT[K - 2:] = _rowdot(X, D, owner)
        g2 = _median_gaps(ZT[K - 2:], AT[K - 2:], ptr)
        ZL, ZR, ZR2, AM = (np.concatenate([x1, x2], axis=1) for x1, x2 in zip(g1, g2, strict=True))
        S = _score(ZL, ZR, ZR2, AM, m, terms, exv, eps, safety)
        dead = ~(D != 0).any(axis=2).T  # (nv, 2): no such direction here
        S[:, [K - 2, K - 1]] = np.where(dead, -np.inf, S[:, [K - 2, K - 1]])
        S[:, [2 * K - 2, 2 * K - 1]] = np.where(dead, -np.inf, S[:, [2 * K - 2, 2 * K - 1]])
        Wl = np.zeros((nv, q))
        side = np.zeros(N, bool)
        pending = np.arange(nv)
        while pending.size:
            choice = np.argmax(S[pending], axis=1)
            has = np.isfinite(S[pending, choice])
            for j in pending[~has]:
                seg = rows[ptr[j]:ptr[j + 1]]
                fb = _fallback(P[seg], rng, dt, eps, safety)
                if fb is None:
                    dd = np.linalg.norm(Pf[seg][:, None] - Pf[seg][None], axis=2)
                    dd[np.diag_indices(seg.size)] = np.inf
                    i1, i2 = np.unravel_index(np.argmin(dd), dd.shape)
                    raise ValueError(f"rows {idx[seg[i1]]} and {idx[seg[i2]]} are too close to "
                                     f"be separated by a hyperplane test in {dt.name}")
                _, w, s, ex = fb
                Wl[j], exact[ids[j]], kind[ids[j]] = w, ex, 4
                side[ptr[j]:ptr[j + 1]] = s > 0
                e = 0.0 if ex else gamma(np.count_nonzero(w), eps) * (
                    np.abs(w) * np.abs(P[seg])).sum(1)
                mu[ids[j]] = np.abs(s).min()
                lo[ids[j]] = (np.abs(s) - 2 * e).min()
            pending, choice = pending[has], choice[has]
            if not pending.size:
                break
            opt, c = choice // K, choice % K
            th = np.where(opt == 0, 0.5 * ZL[pending, c] + 0.5 * ZR[pending, c],
                          0.5 * ZR[pending, c] + 0.5 * ZR2[pending, c])
            vdir = np.zeros((pending.size, p))
            r_ = c < n_random
            vdir[r_] = R[c[r_]]
            isx = (c >= n_random) & (c < K - 2)
            vdir[isx, axes[pending[isx], c[isx] - n_random]] = 1.0
            for t, kk in ((0, K - 2), (1, K - 1)):
                sel = c == kk
                vdir[sel] = D[t, pending[sel]]
            w = np.concatenate([-th[:, None], vdir], axis=1).astype(dt)
            slot = np.full(nv, -1)
            slot[pending] = np.arange(pending.size)
            loc = np.flatnonzero(slot[owner] >= 0)
            o = slot[owner[loc]]
            gam = gamma(np.count_nonzero(w, axis=1), eps)
            s, e = _check(P, rows[loc], o, w, isx, gam)
            bad = (s == 0) | (np.abs(s) <= safety * e)
            npos = np.bincount(o, weights=(s > 0), minlength=pending.size)
            mm = m[pending]
            okv = (np.bincount(o, weights=bad, minlength=pending.size) == 0) & (npos > 0) & (
                npos < mm) & (np.maximum(npos, mm - npos) <= (mm + 1) // 2)
            Wl[pending[okv]] = w[okv]
            exact[ids[pending[okv]]] = isx[okv]
            kind[ids[pending[okv]]] = np.where(c < n_random, 0, np.where(isx, 1, c - K + 4))[okv]
            sel = okv[o]
            side[loc[sel]] = s[sel] > 0
            abs_s = np.abs(s)
            mu_p = np.full(pending.size, np.inf)
            lo_p = np.full(pending.size, np.inf)
            np.minimum.at(mu_p, o, abs_s)
            np.minimum.at(lo_p, o, abs_s - 2 * e)
            mu[ids[pending[okv]]] = mu_p[okv]
            lo[ids[pending[okv]]] = lo_p[okv]
            S[pending[~okv], choice[~okv]] = -np.inf
            pending = pending[~okv]
        W[ids] = Wl
        # children: pos rows first, then neg rows, inside each segment
        order = np.lexsort((~side, owner))
        perm[np.repeat(starts, m) + np.arange(rows.size) - np.repeat(ptr[:-1], m)] = rows[order]
        npos = np.bincount(owner, weights=side, minlength=nv).astype(np.int64)
        kids = next_id + 2 * np.arange(nv)
        pos[ids], neg[ids] = kids, kids + 1
        next_id += 2 * nv
        ids = np.stack([kids, kids + 1], axis=1).ravel()
        starts, ends = (np.stack([starts, starts + npos], axis=1).ravel(),
                        np.stack([starts + npos, ends], axis=1).ravel())
        level += 1
    leaf_of = np.empty(n, np.int64)
    lv = np.flatnonzero(point >= 0)
    leaf_of[point[lv]] = lv
    return Partition(P.astype(np.float64), W, pos, neg, depth, size, point, leaf_of, mu, lo,
                     umax, exact, kind, dt)
