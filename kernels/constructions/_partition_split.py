"""One BFS level of :mod:`.partition`: the candidate directions of every vertex, their median-gap
scores, and the choice of each vertex's hyperplane, verified on the exact left-to-right sums (with
the slow fallback).  The derivation: :mod:`.partition`'s docstring ("Robustness", "Choice of w").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kernels.constructions._partition_kernels import _check, _median_gaps, _median_pair, _rowdot


def gamma(m, eps: float):
    """γ_m = m·u/(1 − m·u), u = eps/2 (Higham, Thm 3.1): the relative error bound of m terms."""
    u = eps / 2
    m = np.asarray(m, dtype=np.float64)
    return m * u / (1 - m * u)


@dataclass(frozen=True)
class Options:
    """The build's settings, as :func:`.partition.build` takes them."""

    dt: np.dtype
    eps: float  # machine epsilon of dt
    safety: float
    n_random: int
    n_axes: int
    principal_min: int
    idx: np.ndarray  # dataset row numbers, for error messages


@dataclass
class Level:
    """The internal vertices of one BFS level and their points, vertex by vertex."""

    ids: np.ndarray  # (nv,) vertex ids
    starts: np.ndarray  # (nv,) segment [starts, ends) of the point permutation
    ends: np.ndarray
    m: np.ndarray  # (nv,) points under each vertex
    ptr: np.ndarray  # (nv + 1,) offsets of the vertices in rows
    rows: np.ndarray  # (N,) point indices, vertex by vertex
    owner: np.ndarray  # (N,) vertex slot of each row
    X: np.ndarray  # (N, p) their coordinates in float64 (x without the leading 1)

    @property
    def nv(self) -> int:
        return self.ids.size


@dataclass
class Candidates:
    """K candidate directions per vertex (n_random shared, na axes, difference, principal) and
    the scores (nv, 2K) of their two median splits (option 0: the lower median gap, 1: the
    upper one, odd m only); -inf where not certified."""

    R: np.ndarray  # (n_random, p) the level's random unit directions
    axes: np.ndarray  # (nv, na) each vertex's axes
    D: np.ndarray  # (2, nv, p) difference and principal directions
    K: int
    ZL: np.ndarray  # (nv, K) k-th smallest projection
    ZR: np.ndarray  # (nv, K) (k+1)-th
    ZR2: np.ndarray  # (nv, K) (k+2)-th (odd m)
    S: np.ndarray  # (nv, 2K) scores


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


# ---- candidates ---------------------------------------------------------------------------------
def _shared_directions(lv: Level, rng, o: Options):
    """The level's random directions and each vertex's axes of largest relative range, with their
    projections ZT and absolute products AT (rows 0..K−3; rows K−2, K−1 are filled later)."""
    X, ptr = lv.X, lv.ptr
    p = X.shape[1]
    R = rng.standard_normal((o.n_random, p))
    R /= np.linalg.norm(R, axis=1, keepdims=True)
    mx = np.maximum.reduceat(X, ptr[:-1], axis=0)
    mn = np.minimum.reduceat(X, ptr[:-1], axis=0)
    rel = (mx - mn) / np.maximum(np.maximum(np.abs(mx), np.abs(mn)), 1e-300)
    na = min(o.n_axes, p)
    axes = np.argsort(-rel, axis=1, kind="stable")[:, :na]
    K = o.n_random + na + 2
    ZT = np.empty((K, X.shape[0]))
    AT = np.empty((K, X.shape[0]))
    ZT[:o.n_random] = R @ X.T
    AT[:o.n_random] = np.abs(R) @ np.abs(X).T
    ZT[o.n_random:K - 2] = np.take_along_axis(X, axes[lv.owner], axis=1).T
    AT[o.n_random:K - 2] = np.abs(ZT[o.n_random:K - 2])
    return R, axes, ZT, AT


def _vertex_directions(lv: Level, ZT, g1, sc, rng, o: Options) -> np.ndarray:
    """D (2, nv, p): the difference of the two points around the median of the best shared
    candidate, and the principal direction (vertices of ≥ principal_min points); max-normalised."""
    nv, N, K2 = lv.nv, lv.rows.size, sc.shape[1] // 2
    best = np.argmax(np.maximum(sc[:, :K2], sc[:, K2:]), axis=1)
    zb = ZT[best[lv.owner], np.arange(N)]
    a, b = _median_pair(zb, lv.ptr, g1[0][np.arange(nv), best], g1[1][np.arange(nv), best])
    D = np.zeros((2, nv, lv.X.shape[1]))
    D[0] = lv.X[b] - lv.X[a]
    for j in np.flatnonzero(lv.m >= o.principal_min):
        D[1, j] = _principal(lv.X[lv.ptr[j]:lv.ptr[j + 1]], rng)
    D /= np.maximum(np.abs(D).max(axis=2, keepdims=True), 1e-300)
    return D


def candidates(lv: Level, rng, o: Options) -> Candidates:
    """Every candidate of every vertex of the level, scored on its median gaps."""
    q = lv.X.shape[1] + 1
    R, axes, ZT, AT = _shared_directions(lv, rng, o)
    K, na = ZT.shape[0], axes.shape[1]
    g1 = _median_gaps(ZT[:K - 2], AT[:K - 2], lv.ptr)
    terms = np.concatenate([np.full(o.n_random, q), np.full(na, 2), [q, q]])
    exv = np.concatenate([np.zeros(o.n_random, bool), np.ones(na, bool), [False, False]])
    sc = _score(*g1, lv.m, terms[:K - 2], exv[:K - 2], o.eps, o.safety)
    D = _vertex_directions(lv, ZT, g1, sc, rng, o)
    ZT[K - 2:], AT[K - 2:] = _rowdot(lv.X, D, lv.owner)
    g2 = _median_gaps(ZT[K - 2:], AT[K - 2:], lv.ptr)
    ZL, ZR, ZR2, AM = (np.concatenate([x1, x2], axis=1) for x1, x2 in zip(g1, g2, strict=True))
    S = _score(ZL, ZR, ZR2, AM, lv.m, terms, exv, o.eps, o.safety)
    dead = ~(D != 0).any(axis=2).T  # (nv, 2): no such direction here
    S[:, [K - 2, K - 1]] = np.where(dead, -np.inf, S[:, [K - 2, K - 1]])
    S[:, [2 * K - 2, 2 * K - 1]] = np.where(dead, -np.inf, S[:, [2 * K - 2, 2 * K - 1]])
    return Candidates(R, axes, D, K, ZL, ZR, ZR2, S)


# ---- the choice, verified -----------------------------------------------------------------------
def _hyperplanes(cd: Candidates, pending, choice, o: Options):
    """w = [−θ; v] of each pending vertex's chosen candidate (θ the midpoint of its gap), whether
    it is an exact axis split, and the candidate index c."""
    K = cd.K
    opt, c = choice // K, choice % K
    th = np.where(opt == 0, 0.5 * cd.ZL[pending, c] + 0.5 * cd.ZR[pending, c],
                  0.5 * cd.ZR[pending, c] + 0.5 * cd.ZR2[pending, c])
    vdir = np.zeros((pending.size, cd.R.shape[1]))
    r_ = c < o.n_random
    vdir[r_] = cd.R[c[r_]]
    isx = (c >= o.n_random) & (c < K - 2)
    vdir[isx, cd.axes[pending[isx], c[isx] - o.n_random]] = 1.0
    for t, kk in ((0, K - 2), (1, K - 1)):
        sel = c == kk
        vdir[sel] = cd.D[t, pending[sel]]
    return np.concatenate([-th[:, None], vdir], axis=1).astype(o.dt), isx, c


def _verify(T, lv: Level, cd: Candidates, pending, choice, P, o: Options, Wl, side):
    """Check the chosen hyperplanes on the exact left-to-right sums (strict sign beyond
    safety·e at every point, halves balanced); record those that pass.  Returns the pass mask."""
    w, isx, c = _hyperplanes(cd, pending, choice, o)
    slot = np.full(lv.nv, -1)
    slot[pending] = np.arange(pending.size)
    loc = np.flatnonzero(slot[lv.owner] >= 0)
    ov = slot[lv.owner[loc]]
    gam = gamma(np.count_nonzero(w, axis=1), o.eps)
    s, e = _check(P, lv.rows[loc], ov, w, isx, gam)
    bad = (s == 0) | (np.abs(s) <= o.safety * e)
    npos = np.bincount(ov, weights=(s > 0), minlength=pending.size)
    mm = lv.m[pending]
    okv = (np.bincount(ov, weights=bad, minlength=pending.size) == 0) & (npos > 0) & (
        npos < mm) & (np.maximum(npos, mm - npos) <= (mm + 1) // 2)
    ok_ids = lv.ids[pending[okv]]
    Wl[pending[okv]] = w[okv]
    T.exact[ok_ids] = isx[okv]
    T.kind[ok_ids] = np.where(c < o.n_random, 0, np.where(isx, 1, c - cd.K + 4))[okv]
    sel = okv[ov]
    side[loc[sel]] = s[sel] > 0
    abs_s = np.abs(s)
    mu_p = np.full(pending.size, np.inf)
    lo_p = np.full(pending.size, np.inf)
    np.minimum.at(mu_p, ov, abs_s)
    np.minimum.at(lo_p, ov, abs_s - 2 * e)
    T.mu[ok_ids] = mu_p[okv]
    T.lo[ok_ids] = lo_p[okv]
    return okv


def _fallback_vertex(T, lv: Level, j: int, P, Pf, rng, o: Options, Wl, side) -> None:
    """Vertex slot j has no certified candidate left: the slow fallback, or a ValueError naming
    the two closest points when none separates them in the dtype."""
    seg = lv.rows[lv.ptr[j]:lv.ptr[j + 1]]
    fb = _fallback(P[seg], rng, o.dt, o.eps, o.safety)
    if fb is None:
        dd = np.linalg.norm(Pf[seg][:, None] - Pf[seg][None], axis=2)
        dd[np.diag_indices(seg.size)] = np.inf
        i1, i2 = np.unravel_index(np.argmin(dd), dd.shape)
        raise ValueError(f"rows {o.idx[seg[i1]]} and {o.idx[seg[i2]]} are too close to "
                         f"be separated by a hyperplane test in {o.dt.name}")
    _, w, s, ex = fb
    v = lv.ids[j]
    Wl[j], T.exact[v], T.kind[v] = w, ex, 4
    side[lv.ptr[j]:lv.ptr[j + 1]] = s > 0
    e = 0.0 if ex else gamma(np.count_nonzero(w), o.eps) * (np.abs(w) * np.abs(P[seg])).sum(1)
    T.mu[v] = np.abs(s).min()
    T.lo[v] = (np.abs(s) - 2 * e).min()


def split(T, lv: Level, cd: Candidates, P, Pf, rng, o: Options) -> np.ndarray:
    """Give every vertex of the level its hyperplane: the best-scoring candidate that passes
    :func:`_verify`, the next one on failure, the fallback when none is left.  Writes T.W and
    the vertex records; returns the side (True: pos) of every row."""
    S = cd.S
    Wl = np.zeros((lv.nv, P.shape[1]))
    side = np.zeros(lv.rows.size, bool)
    pending = np.arange(lv.nv)
    while pending.size:
        choice = np.argmax(S[pending], axis=1)
        has = np.isfinite(S[pending, choice])
        for j in pending[~has]:
            _fallback_vertex(T, lv, j, P, Pf, rng, o, Wl, side)
        pending, choice = pending[has], choice[has]
        if not pending.size:
            break
        okv = _verify(T, lv, cd, pending, choice, P, o, Wl, side)
        S[pending[~okv], choice[~okv]] = -np.inf
        pending = pending[~okv]
    T.W[lv.ids] = Wl
    return side
