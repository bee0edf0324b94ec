"""Numba build of the ``axis-tree``: median tests on single coordinates, leaves of ≤ q points,
every leaf an exact affine map, every test and leaf certified in the storage precision.

One ``@njit`` loop over a FIFO queue of vertices (so the vertices come out in BFS order, the two
children of a vertex adjacent), no Python per vertex.  The points of a vertex are the range
``[s, e)`` of ``p`` index lists, list ``k`` sorted by coordinate ``k`` (one ``argsort`` per
coordinate up front); a split on coordinate ``k`` at rank ``j`` sends the first ``j`` entries of
list ``k`` left and stably partitions the other lists in place, O(p·m) per vertex, so the whole
build is O(p·n·log n) after the sorts.

Split choice.  A vertex of m points needs ``need = ⌈log2⌈m/q⌉⌉`` more levels; every rank j with
``max(j, m − j) ≤ q·2^(need−1)`` keeps that optimum.  Among those ranks, first within ±m/16 of
the median, then in the whole optimal window, the (coordinate, rank) with the largest gap between
the two sides (in units of the coordinate's standard deviation) wins; only ranks where the value
strictly changes are candidates, so ties never straddle a test.  If no rank in the window changes
value (a lattice, heavy ties), the most balanced changing rank is taken: the data force that
imbalance.

Thresholds and certification.  The test is ``x_k < β`` (true: left child).  In float64, β is the
midpoint of the two values beside the gap (or the upper value when the midpoint rounds down onto the
lower one).  In float32 the gap is measured between the float32 roundings a < b of those values and
β is a float32 number with a < β < b; since rounding is monotone and β is representable, every
point then takes the same branch in float32 as in exact arithmetic (x ≥ β ⇒ fl32(x) ≥ β, and
x < β ⇐ fl32(x) < β).  So a float32 build keeps only the float32 keys in its sorted lists (half
the memory of float64 keys).  While partitioning, every point of the vertex is tested against β
with the keys the lists hold (and in float32 arithmetic) and a rank that fails is discarded for
the next best; :func:`certify_points` re-proves every branch from the float64 inputs.

Leaves.  A vertex with ≤ q points gets, per output, the least-norm affine map through its points
(Householder QR with column pivoting of the centred [1, x − c]ᵀ; pivoting drops affinely dependent
points, which must then be fitted by the others).  It is accepted only if, for every point and
output, the rigorous bound |f̂(x) − d| ≤ (|f(x) − d| + (γ64 + γdt)(|b| + Σ|w_k x_k|) + m(η64 +
ηdt))·(1 + 1e-6) (:func:`_error_bound`: f from the weights and inputs rounded to the storage dtype,
m non-zero terms, γ_m = m·u/(1 − m·u), η half the smallest subnormal, for underflowing products)
meets the exactness rule *for that point*, tol·(|d| + ‖D‖∞) (:func:`kernels.theory.verify.within`).
Otherwise the vertex is split further (down to single points, whose map is the constant d).
Points that no test of the storage precision can separate (equal after rounding to float32, e.g.
subnormal float64 inputs) end in a leaf marked uncertified.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from kernels.theory.verify import within

U64 = 2.0 ** -53
U32 = 2.0 ** -24
ETA64 = 2.0 ** -1075  # half the smallest subnormal: the absolute error of an underflowing product
ETA32 = 2.0 ** -150


@njit(cache=True)
def _key(v, f32):
    return np.float64(np.float32(v)) if f32 else v


@njit(cache=True)
def _ceil_log2(x):
    d = 0
    v = 1
    while v < x:
        v <<= 1
        d += 1
    return d


@njit(cache=True)
def _threshold(a, b, f32):
    """A β with a < β ≤ b (float64) or a < β < b, β float32-representable (float32); nan if none."""
    t = a + (b - a) * 0.5
    if f32:
        t = np.float64(np.float32(t))
        return t if a < t < b else np.nan
    return t if a < t <= b else b


@njit(cache=True)
def _scan(V, s, a, b, k, f32, inv_scale, mid, balanced, best):
    """Best rank in [a, b] for coordinate k; updates best = [closeness, gap, k, j, β] in place
    (closeness to the median counts first only when ``balanced``)."""
    prev = _key(V[k, s + a - 1], f32)
    for j in range(a, b + 1):
        cur = _key(V[k, s + j], f32)
        if cur > prev:
            close = -abs(j - mid) if balanced else 0
            gap = (cur - prev) * inv_scale[k]
            if best[2] < 0 or close > best[0] or (close == best[0] and gap > best[1]):
                beta = _threshold(prev, cur, f32)
                if beta == beta:
                    best[0] = close
                    best[1] = gap
                    best[2] = k
                    best[3] = j
                    best[4] = beta
        prev = cur


@njit(cache=True)
def _choose_split(V, s, e, q, f32, inv_scale, banned):
    """(k, j, beta) of the best split of vertex [s, e); k = -1 when no test separates its points."""
    m = e - s
    p = V.shape[0]
    mid = m // 2
    need = _ceil_log2((m + q - 1) // q)
    lo, hi = 1, m - 1
    if need >= 1:
        half = q << (need - 1)
        lo = max(1, m - half)
        hi = min(m - 1, half)
    w = max(1, m >> 4)
    best = np.empty(5)
    for attempt in range(3):
        if attempt == 0:
            a, b, balanced = max(lo, mid - w), min(hi, mid + w), False
        elif attempt == 1:
            a, b, balanced = lo, hi, False
        else:
            a, b, balanced = 1, m - 1, True
        if a > b:
            continue
        best[2] = -1.0
        for k in range(p):
            if not banned[k]:
                _scan(V, s, a, b, k, f32, inv_scale, mid, balanced, best)
        if best[2] >= 0:
            return int(best[2]), int(best[3]), best[4]
    return -1, 0, 0.0


@njit(cache=True)
def _split(L, V, s, e, k, j, beta, f32, flag, side, buf, vbuf):
    """Mark sides, check every point's branch (the keys the lists hold, and in float32), then
    partition the other lists stably in place: gather each entry's side first (independent
    loads), then one branch-free pass (left entries in place, right ones to ``buf``/``vbuf``),
    then the right ones back.  Unsigned indices: no wraparound code in the hot loops."""
    p = L.shape[0]
    s, m, j = np.uint64(s), np.uint64(e - s), np.uint64(j)
    Lk, Vk = L[k], V[k]
    for t in range(m):
        x = Vk[s + t]
        left = t < j
        flag[Lk[s + t]] = left
        if (x < beta) != left:
            return False
        if f32 and (np.float32(x) < np.float32(beta)) != left:
            return False
    for kk in range(p):
        if kk == k:
            continue
        Li, Vi = L[kk], V[kk]
        for t in range(m):
            side[t] = flag[Li[s + t]]
        a = s
        b = np.uint64(0)
        for t in range(m):
            f = np.uint64(side[t])
            i = Li[s + t]
            v = Vi[s + t]
            Li[a] = i
            Vi[a] = v
            buf[b] = i
            vbuf[b] = v
            a += f
            b += np.uint64(1) - f
        for t in range(b):
            Li[a + t] = buf[t]
            Vi[a + t] = vbuf[t]
    return True


@njit(cache=True)
def _solve_leaf(X, D, ids, m, f32, tol, scale, At, H, beta, y, c, W):
    """Least-norm exact affine fit of the m points ``ids[:m]`` (reordered: pivots first); writes
    W (r, p+1) = [b, w]; returns True if every point is certified exact (the rule with ``tol`` and
    ``scale``) in the storage precision.  ``At, H, beta, y, c`` are work arrays."""
    p = X.shape[1]
    r = D.shape[1]
    n1 = p + 1
    if m == 1:  # the constant d (the QR below computes 2d − d: overflow near 1e308)
        W[:, 1:] = 0.0
        W[:, 0] = D[ids[0]]
        return _leaf_certified(X, D, ids, m, f32, tol, scale, W)
    c[:] = 0.0
    for i in range(m):
        for k in range(p):
            c[k] += X[ids[i], k]
    for k in range(p):
        c[k] /= m
    for i in range(m):
        At[0, i] = 1.0
        for k in range(p):
            At[k + 1, i] = X[ids[i], k] - c[k]
    rank = 0
    ref = 0.0
    for j in range(min(n1, m)):
        bi, bn = j, -1.0
        for i in range(j, m):
            s2 = 0.0
            for t in range(j, n1):
                s2 += At[t, i] * At[t, i]
            if s2 > bn:
                bi, bn = i, s2
        nrm = np.sqrt(bn)
        if j == 0:
            ref = nrm
        if nrm <= 1e-10 * ref:
            break
        if bi != j:
            for t in range(n1):
                At[t, j], At[t, bi] = At[t, bi], At[t, j]
            ids[j], ids[bi] = ids[bi], ids[j]
        x0 = At[j, j]
        alpha = -nrm if x0 >= 0 else nrm
        vn2 = 0.0
        for t in range(j, n1):
            H[t, j] = At[t, j]
            vn2 += At[t, j] * At[t, j]
        H[j, j] = x0 - alpha
        vn2 += H[j, j] * H[j, j] - x0 * x0
        beta[j] = 2.0 / vn2 if vn2 > 0 else 0.0
        for i in range(j + 1, m):
            sv = 0.0
            for t in range(j, n1):
                sv += H[t, j] * At[t, i]
            sv *= beta[j]
            for t in range(j, n1):
                At[t, i] -= sv * H[t, j]
        At[j, j] = alpha
        rank += 1
    for o in range(r):
        # Rᵀ z = d (first `rank` pivoted points), then w' = Q [z; 0]
        for t in range(n1):
            y[t] = 0.0
        for i in range(rank):
            acc = D[ids[i], o]
            for t in range(i):
                acc -= At[t, i] * y[t]
            y[i] = acc / At[i, i]
        for j in range(rank - 1, -1, -1):
            sv = 0.0
            for t in range(j, n1):
                sv += H[t, j] * y[t]
            sv *= beta[j]
            for t in range(j, n1):
                y[t] -= sv * H[t, j]
        b = y[0]
        for k in range(p):
            W[o, k + 1] = y[k + 1]
            b -= y[k + 1] * c[k]
        W[o, 0] = b
    return _leaf_certified(X, D, ids, m, f32, tol, scale, W)


@njit(cache=True)
def _leaf_certified(X, D, ids, m, f32, tol, scale, W):
    """Every point and output of the leaf provably within the rule (:func:`_error_bound`)?"""
    for i in range(m):
        for o in range(W.shape[0]):
            d = D[ids[i], o]
            if not within(_error_bound(X[ids[i]], d, W[o], f32), d, tol, scale):
                return False
    return True


@njit(cache=True)
def _error_bound(x, d, w, f32):
    """Rigorous bound on |f̂(x) − d|, f̂ = w0 + Σ w_k x_k evaluated in the storage precision (in
    any order, FMA or not; the module docstring's formula)."""
    p = x.size
    b = _key(w[0], f32)
    val = b
    S = abs(b)
    m = 1
    for k in range(p):
        wk, xk = _key(w[k + 1], f32), _key(x[k], f32)
        if wk != 0 and xk != 0:
            t = wk * xk  # exact in float64 when both are float32 (or underflows: η below)
            val += t
            S += abs(t)
            m += 1
    udt = U32 if f32 else U64
    g64 = m * U64 / (1 - m * U64)
    gdt = m * udt / (1 - m * udt)
    eta = m * (ETA64 + (ETA32 if f32 else ETA64))
    return (abs(val - d) + (g64 + gdt) * S + eta) * (1 + 1e-6)


@njit(cache=True)
def certify_points(X, D, rec, thr64, thrdt, leaf_id, Wp, f32, tol, scale):
    """Per point: 0 certified, 1 a test on its path branches differently in the storage precision
    than in exact arithmetic, 2 an output of its leaf is not provably within the exactness rule
    (:func:`kernels.theory.verify.within` with ``tol``, ``scale``); and the vertex
    of the first disagreeing test (-1 if none).  ``rec``, ``leaf_id`` and the leaf rows ``Wp`` are
    an axis router's (:mod:`kernels.executors.tree.axis`), ``thr64`` the exact thresholds and
    ``thrdt`` the stored ones (by vertex)."""
    p = X.shape[1]
    r = D.shape[1]
    n = X.shape[0]
    status = np.zeros(n, np.int8)
    where = np.full(n, -1, np.int64)
    for q in range(n):
        i = 0
        while True:
            c = rec[4 * i + 1]
            if c < i:
                break
            x = X[q, rec[4 * i]]
            exact = x < thr64[i]
            stored = (np.float32(x) < np.float32(thrdt[i])) if f32 else (x < thrdt[i])
            if exact != stored:
                status[q] = 1
                where[q] = i
                break
            i = c + (0 if exact else 1)
        if status[q] == 0:
            lf = leaf_id[i]
            for o in range(r):
                w = Wp[lf, o * (p + 1):(o + 1) * (p + 1)]
                identity = Wp[lf, r * (p + 1) + o] == 0  # only identity outputs are certified
                if not identity or not within(_error_bound(X[q], D[q, o], w, f32), D[q, o],
                                              tol, scale):
                    status[q] = 2
    return status, where


@njit(cache=True)
def _grow1(a, cap):
    out = np.empty(cap, dtype=a.dtype)
    out[:a.size] = a
    return out


@njit(cache=True)
def _split_vertex(L, V, s, e, q, f32, inv_scale, banned, flag, side, buf, vbuf):
    """Choose and apply the split of vertex [s, e): (k, j, β), the next best coordinate when a
    split fails its check; k = −1 when no test separates the points."""
    banned[:] = False
    for _ in range(L.shape[0]):
        k, j, beta = _choose_split(V, s, e, q, f32, inv_scale, banned)
        if k < 0 or _split(L, V, s, e, k, j, beta, f32, flag, side, buf, vbuf):
            return k, j, beta
        banned[k] = True
    return -1, 0, 0.0


RENUMBER = 1 << 15  # renumber the points once the vertices hold at most this many
RENUMBER_STEP = 5  # ... and before that each time they shrink 2^5-fold below 2^(15 + 5k)


@njit(cache=True)
def _renumber(L, new_id, point, scratch):
    """Renumber the points by their position in list 0, in every list: from then on the ids of a
    vertex's points lie in the range of positions its ancestor had at this moment, so the side
    flags a partition reads (``flag[id]``) are a few cache lines, not the whole array.  Returns
    ``point`` (the point of each id; empty before the first renumbering) for the new ids."""
    n = L.shape[1]
    for t in range(n):
        new_id[L[0, t]] = t
    if point.size:
        if scratch.size < n:
            scratch = np.empty(n, point.dtype)
        for t in range(n):
            scratch[t] = point[L[0, t]]
        point[:] = scratch[:n]
    else:
        point = L[0].copy()
    for k in range(L.shape[0]):
        for t in range(n):
            L[k, t] = new_id[L[k, t]]
    return point


@njit(cache=True)
def build_tree(X, D, L, V, q, f32, tol, scale, inv_scale):
    """The tree over ``X`` (n, p), ``D`` (n, r) with index lists ``L`` (p, n) and their sorted
    keys ``V[k] = X[L[k], k]`` (float64, or their float32 roundings for a float32 build; both
    partitioned in place).

    Returns (T, thr, W): per vertex in BFS order ``T[v] = [start, end, feature, child, leaf,
    certified]`` (its points fill positions ``start:end`` of every list; feature, child and leaf
    are −1 where they do not apply; the second child is child + 1) and the threshold β; per leaf
    the maps ``W[leaf] (r, p+1) = [b, w]``.
    """
    n, p = X.shape
    r = D.shape[1]
    T = np.full((2 * (n // max(1, q - 1)) + 16, 6), -1, L.dtype)  # int32 when n < 2^31; grows
    thr = np.zeros(T.shape[0])
    W = np.zeros((n // max(1, q - 1) + 16, r, p + 1))  # leaves hold about q − 1 points; grows
    flag = np.zeros(n, np.uint8)
    side = np.empty(n, np.uint8)
    buf = np.empty(n, L.dtype)
    vbuf = np.empty(n, V.dtype)
    ids = np.empty(q, np.int64)
    At = np.empty((p + 1, q))
    H = np.zeros((p + 1, p + 1))
    bet = np.zeros(p + 1)
    y = np.zeros(p + 1)
    c = np.zeros(p)
    banned = np.zeros(p, np.bool_)
    point = np.empty(0, L.dtype)  # the point of each id once the ids are renumbered
    renumbered = False
    limit = RENUMBER
    while limit << RENUMBER_STEP < n:
        limit <<= RENUMBER_STEP
    T[0, 0], T[0, 1] = 0, n
    nv, nl, v = 1, 0, 0
    while v < nv:
        s, e = T[v, 0], T[v, 1]
        m = e - s
        if m <= limit < n and limit >= RENUMBER:
            point = _renumber(L, buf, point, vbuf.view(L.dtype))
            renumbered = True
            limit >>= RENUMBER_STEP
        if nl == W.shape[0]:
            W2 = np.zeros((nl + nl // 2 + 16, r, p + 1))
            W2[:nl] = W
            W = W2
        leaf = False
        ok = False
        if m <= q:
            for i in range(m):
                ids[i] = point[L[0, s + i]] if renumbered else L[0, s + i]
            ok = _solve_leaf(X, D, ids, m, f32, tol, scale, At, H, bet, y, c, W[nl])
            leaf = ok or m == 1
        if not leaf:
            k, j, beta = _split_vertex(L, V, s, e, q, f32, inv_scale, banned, flag, side, buf,
                                       vbuf)
            if k < 0:  # nothing separates these points in this precision: uncertified leaf
                leaf = True
                if m > q:  # (the map of the first point; no map fits them all anyway)
                    W[nl] = 0.0
                    W[nl, :, 0] = D[point[L[0, s]] if renumbered else L[0, s]]
            else:
                if nv + 2 > T.shape[0]:
                    T2 = np.full((T.shape[0] + T.shape[0] // 2, 6), -1, T.dtype)
                    T2[:nv] = T[:nv]
                    T = T2
                    thr = _grow1(thr, T.shape[0])
                T[v, 2] = k
                T[v, 3] = nv
                thr[v] = beta
                T[nv, 0], T[nv, 1] = s, s + j
                T[nv + 1, 0], T[nv + 1, 1] = s + j, e
                nv += 2
        if leaf:
            T[v, 4] = nl
            T[v, 5] = ok
            nl += 1
        v += 1
    return T[:nv], thr[:nv], W[:nl]  # views: the caller frees the work lists first
