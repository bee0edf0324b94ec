"""The data-side steps of ``rajput`` (see :mod:`kernels.constructions.rajput` for the derivation):
normalisation and δ, the Gaussian first layer with the count that makes codes unique, the random
linear code (XOR rows) with the count that keeps them unique, and the prefix partition."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kernels.model.data import check_memory, min_separation

EPS = {"float64": np.finfo(np.float64).eps, "float32": np.finfo(np.float32).eps}


def normalise(X: np.ndarray) -> tuple[np.ndarray, float, float, float]:
    """Centre and scale so that max ‖x̃‖ = 1 (Assumption 2); returns (μ, R, δ, δ_raw)."""
    mu = X.mean(axis=0)
    R = float(np.sqrt(((X - mu) ** 2).sum(axis=1).max())) if len(X) else 0.0
    if R == 0.0:
        R = 1.0
    d_raw = min_distance(X)
    return mu, R, d_raw / R, d_raw


def min_distance(X: np.ndarray) -> float:
    """δ of raw data: a k-d tree for small p (exact, O(n log n)), else the blocked O(n²) scan."""
    n, p = X.shape
    if n < 2:
        return float("inf")
    if p <= 16 and n > 2000:
        try:
            from scipy.spatial import cKDTree
        except ImportError:  # scipy is optional
            return min_separation(X)
        d, _ = cKDTree(X).query(X, k=2)
        return float(d[:, 1].min())
    return min_separation(X)


def paper_hidden1(n: int, delta: float) -> float:
    """The union-bound count of Step 1: the least m with C(n,2)(1 − δ/2π)^m < 1."""
    if n < 2:
        return 1.0
    if not np.isfinite(delta) or delta <= 0:
        return float("inf")
    q = delta / (2 * np.pi)
    if q >= 1:
        return 1.0
    return float(np.floor(np.log(n * (n - 1) / 2) / -np.log1p(-q)) + 1)


def _refine(gid: np.ndarray, bit: np.ndarray):
    """Split groups by one more bit; returns (new group ids, mask of points still colliding)."""
    _, inv, cnt = np.unique(gid * 2 + bit, return_inverse=True, return_counts=True)
    inv = inv.reshape(-1)
    return inv, cnt[inv] >= 2


@dataclass
class FirstLayer:
    W: np.ndarray  # (m1, p) raw-coordinate weights
    b: np.ndarray  # (m1,) recentred biases
    margin: np.ndarray  # (m1,) half-gaps: no data field lies in (−μ, μ)
    Z: np.ndarray  # (n, m1) uint8 codes
    drawn: int  # hyperplanes drawn (constant ones dropped)


def first_layer(X, mu, R, rng, *, fixed: int | None, cap: int, delta: float, dtype: str,
                chunk: int = 128) -> FirstLayer:
    """Draw Gaussian hyperplanes w = (g, g0) ~ N(0, I_{p+1}) on the lifted points (x̃, 1) until every
    point has its own code (or exactly ``fixed`` of them); see the module docstring of rajput."""
    n, p = X.shape
    if n == 1:  # one point: one hyperplane with the point on its positive side
        W = np.zeros((1, p))
        W[0, 0] = 1.0
        b = np.array([1.0 - float(X[0, 0])])
        return FirstLayer(W, b, np.ones(1), np.ones((1, 1), dtype=np.uint8), 1)
    # The lifted points have norm ≥ 1, so their angle is ≤ πδ/2 and one Gaussian hyperplane
    # separates the closest pair with probability ≤ δ/2: refuse at once when ``target`` draws
    # would succeed with probability below 1%.
    target = fixed if fixed is not None else cap
    if target * delta / 2 < 0.01:
        raise ValueError(
            f"rajput: the data is not δ-separated enough: δ = {delta:.3g} (normalised minimum "
            f"distance); {target} Gaussian hyperplanes ({'hidden1' if fixed else 'max_hidden1'}) "
            f"separate the closest pair with probability ≤ {target * delta / 2:.2g} (the paper's "
            f"count for this δ is {paper_hidden1(n, delta):.3g})")
    W, b, drawn, left = _draw(X, mu, R, rng, fixed, target, chunk)
    if left:
        if fixed is not None:
            raise ValueError(
                f"rajput: {fixed} Gaussian hyperplanes do not give the {n} points unique codes "
                f"({left} points still collide; δ = {delta:.3g}, the paper's count is "
                f"{paper_hidden1(n, delta):.0f}); raise hidden1 or leave it None")
        raise ValueError(
            f"rajput: the data is not δ-separated enough: δ = {delta:.3g} (normalised minimum "
            f"distance); {cap} Gaussian hyperplanes (max_hidden1) leave {left} points with "
            f"shared codes (the paper's count for this δ is {paper_hidden1(n, delta):.3g})")
    check_memory(n * W.shape[0] * 10.0, f"rajput's first layer ({n} points × {W.shape[0]} codes)")
    return _recentre(X, W, b, drawn, delta, dtype)


def _draw(X, mu, R, rng, fixed, target: int, chunk: int):
    """Hyperplanes in raw coordinates (W = g/R, b = g0 − W·μ), drawn in chunks until no two
    points share a code (the least such prefix) or, with ``fixed``, exactly ``target`` of them.
    Returns (W, b, drawn, points still colliding)."""
    n, p = X.shape
    Ws, bs = [], []
    drawn = 0
    act = np.arange(n)
    gid = np.zeros(n, dtype=np.int64)
    while drawn < target and (fixed is not None or act.size):
        c = min(chunk, target - drawn)
        G = rng.standard_normal((c, p + 1))
        W = G[:, :p] / R
        b = G[:, p] - W @ mu
        Ws.append(W)
        bs.append(b)
        if act.size == 0:
            drawn += c
            continue
        S = X[act] @ W.T + b  # fields of the still-colliding points
        pos = np.arange(act.size)
        used = c
        for j in range(c):
            gid, keep = _refine(gid, (S[pos, j] >= 0).astype(np.int64))
            pos, gid = pos[keep], gid[keep]
            if pos.size == 0 and fixed is None:
                used = j + 1
                break
        act = act[pos]
        if fixed is None and act.size == 0:
            Ws[-1], bs[-1] = W[:used], b[:used]
            drawn += used
        else:
            drawn += c
    W = np.concatenate(Ws) if Ws else np.zeros((0, p))
    b = np.concatenate(bs) if bs else np.zeros(0)
    return W, b, drawn, act.size


def _recentre(X, W, b, drawn: int, delta: float, dtype: str) -> FirstLayer:
    """Codes, the gap of every hyperplane on the data (row blocks), drop the hyperplanes that do
    not cut the data, move each bias to the middle of its gap, and check the margin against the
    rounding of the layer."""
    n, p = X.shape
    m = W.shape[0]
    Z = np.empty((n, m), dtype=np.uint8)
    lo = np.full(m, -np.inf)  # largest negative field
    hi = np.full(m, np.inf)  # smallest non-negative field
    block = max(1, 4_000_000 // max(m, 1))
    for s in range(0, n, block):
        FT = W @ X[s:s + block].T + b[:, None]  # (m, block): reductions run along rows
        neg = FT < 0
        Z[s:s + block] = (~neg).T
        lo = np.maximum(lo, np.where(neg, FT, -np.inf).max(axis=1))
        hi = np.minimum(hi, np.where(neg, np.inf, FT).min(axis=1))
    scale = np.abs(W) @ np.abs(X).max(axis=0)  # ≥ Σ_k |w_k x_k| for every data point
    both = np.isfinite(lo) & np.isfinite(hi)  # the hyperplanes that cut the data; drop the rest
    W, b, lo, hi, scale, Z = W[both], b[both], lo[both], hi[both], scale[both], Z[:, both]
    if len(np.unique(_pack(Z), axis=0)) != n:  # rounding moved a point onto a hyperplane
        raise ValueError("rajput: the first-layer codes are not unique after rounding; "
                         "try another seed")
    shift = (lo + hi) / 2
    b = b - shift
    margin = (hi - lo) / 2
    scale = scale + np.abs(b)
    # the kernel sums p + 1 terms: its rounding error is below (p + 1)·eps·scale; keep a 16x guard
    need = 16 * (p + 1) * EPS[dtype] * np.maximum(scale, 1e-300)
    bad = margin <= need
    if bad.any():
        j = int(np.flatnonzero(bad)[0])
        raise ValueError(f"rajput: the data is not δ-separated enough for {dtype}: "
                         f"δ = {delta:.3g}, a first-layer margin is {margin[j]:.3g} against "
                         f"rounding {need[j]:.3g}; use float64 or better-separated data")
    return FirstLayer(W, b, margin, Z, drawn)


def _pack(Z: np.ndarray) -> np.ndarray:
    """Rows of 0/1 as packed uint64 words (for parities by popcount)."""
    n, m = Z.shape
    words = (m + 63) // 64
    P = np.packbits(Z, axis=1, bitorder="little")  # Z holds 0/1
    out = np.zeros((n, words * 8), dtype=np.uint8)
    out[:, :P.shape[1]] = P
    return out.view(np.uint64)


def _parity(Zp: np.ndarray, bp: np.ndarray) -> np.ndarray:
    return (np.bitwise_count(Zp & bp).sum(axis=1, dtype=np.int64) & 1).astype(np.int64)


@dataclass
class Code:
    rows: list  # per compressed bit, the first-layer indices it XORs
    Z: np.ndarray  # (n, m2) uint8 compressed codes
    compressed: bool  # False: the first-layer code is used as is (m2 would be ≥ m1)


def linear_code(Z1: np.ndarray, rng, *, fixed: int | None, cap: int) -> Code:
    """Random parity rows b ~ Bernoulli(1/2)^{m1} (b ≠ 0) until the compressed codes ⟨z, b⟩⊕ are
    unique (or exactly ``fixed`` of them)."""
    n, m1 = Z1.shape
    Zp = _pack(Z1)
    rows = []
    act = np.arange(n) if n > 1 else np.zeros(0, np.int64)
    gid = np.zeros(act.size, dtype=np.int64)
    target = fixed if fixed is not None else cap
    while len(rows) < target and (fixed is not None or act.size or not rows):
        sel = rng.integers(0, 2, m1).astype(np.uint8)
        if not sel.any():
            continue
        bp = _pack(sel[None, :])[0]
        rows.append(np.flatnonzero(sel))
        if act.size:
            gid, keep = _refine(gid, _parity(Zp[act], bp))
            act, gid = act[keep], gid[keep]
    if act.size:
        if fixed is not None:
            raise ValueError(f"rajput: {fixed} XOR rows do not keep the {n} codes unique "
                             f"({act.size} points collide); raise hidden2 or leave it None")
        raise ValueError(f"rajput: {cap} XOR rows do not keep the {n} codes unique")
    if fixed is None and len(rows) >= m1:
        return Code([np.array([j]) for j in range(m1)], Z1.copy(), False)
    Z2 = np.empty((n, len(rows)), dtype=np.uint8)
    for t, r in enumerate(rows):
        sel = np.zeros(m1, dtype=np.uint8)
        sel[r] = 1
        Z2[:, t] = _parity(Zp, _pack(sel[None, :])[0])
    return Code(rows, Z2, True)


@dataclass
class Subset:
    members: np.ndarray  # point indices
    prefix: np.ndarray  # the shared bits z_0 .. z_{ℓ-1}
    free: np.ndarray  # suffix positions t ≥ ℓ where the members differ


def lex_order(Z: np.ndarray) -> np.ndarray:
    """Point indices in lexicographic order of their codes (bit 0 first)."""
    return np.lexsort(Z.T[::-1]) if Z.shape[1] else np.arange(len(Z))


def prefix_partition(Z: np.ndarray, cap: int, order: np.ndarray | None = None) -> list[Subset]:
    """Split the codes by a binary trie on bits 0, 1, 2, …: a node with more than ``cap`` codes is
    split on its next bit.  The leaves are subsets of at most ``cap`` codes, each the set of data
    codes with its own prefix, in lexicographic order."""
    n, m = Z.shape
    order = lex_order(Z) if order is None else order
    Zs = Z[order]
    out = []
    stack = [(0, n, 0)]
    while stack:
        a, b, ell = stack.pop()
        if b - a <= cap or ell >= m:
            block = Zs[a:b]
            free = ell + np.flatnonzero((block[:, ell:] != block[:1, ell:]).any(axis=0))
            out.append((a, Subset(order[a:b], Zs[a, :ell].copy(), free)))
            continue
        k = a + int(np.searchsorted(Zs[a:b, ell], 1))
        if b > k:
            stack.append((k, b, ell + 1))
        if k > a:
            stack.append((a, k, ell + 1))
    out.sort(key=lambda t: t[0])
    return [s for _, s in out]


def _targets(Y, bits, subsets):
    """Per (column, bit): for every subset the member indices whose label bit is 1."""
    out = {}
    for c, B in enumerate(bits):
        for b in range(B):
            on = ((Y[:, c] >> b) & 1).astype(bool)
            out[(c, b)] = [s.members[on[s.members]] for s in subsets]
    return out


def downstream(subsets, targets):
    """Neurons of steps 3–4 (detectors, copies, memorizers) for one partition."""
    used = np.zeros(len(subsets), dtype=bool)
    q = 0
    for per in targets.values():
        cnt = np.array([t.size for t in per])
        used |= cnt > 0
        q += int(cnt.max(initial=0))
    return int(sum(1 + s.free.size for s, u in zip(subsets, used, strict=True) if u)) + q, used


def choose_partition(Z2, Y, bits, cap):
    """Step 3's prefix partition with cap s (``cap``), or the s of a geometric grid around
    √(n·m2/B) that needs the fewest downstream neurons; returns (s, subsets, targets)."""
    n, m2 = Z2.shape
    order = lex_order(Z2)
    if cap is not None:
        subsets = prefix_partition(Z2, int(cap), order)
        return int(cap), subsets, _targets(Y, bits, subsets)
    B = sum(bits)
    lo = max(1.0, np.sqrt(n / B) / 2)
    hi = max(lo, min(float(n), 2 * np.sqrt(n * (m2 + 1) / B)))
    grid = sorted({int(round(lo * 2 ** (k / 2))) for k in range(64) if lo * 2 ** (k / 2) <= hi}
                  | {int(round(hi))})
    best = None
    for s in grid:
        subsets = prefix_partition(Z2, s, order)
        targets = _targets(Y, bits, subsets)
        cost = downstream(subsets, targets)[0]
        if best is None or cost < best[0]:
            best = (cost, s, subsets, targets)
    return best[1], best[2], best[3]
