"""``zhang`` — n ReLU neurons on one shared projection (seed 004: the lecture chapter's
constructive proof, after Zhang et al., *Understanding deep learning requires rethinking
generalization*, ICLR 2017).

Construction.  Pick a direction w with pairwise distinct projections z_i = wᵀx_i, re-index so
that z_0 < z_1 < … < z_{n-1} and put one kink in every gap:

    b_0 = z_0 − (z_{n-1} − z_0),    b_i = z_{i-1} + θ·g_i    (g_i = z_i − z_{i-1}, i ≥ 1).

Hidden neuron i is h_i(x) = relu(wᵀx − b_i) (weights w, bias −b_i); output k is linear,
f_k(x) = Σ_i α_ik h_i(x) (identity activation, no bias), so negative outputs need nothing
special and the r outputs share the hidden layer.  A_ij = relu(z_i − b_j) is lower triangular
with a positive diagonal (z_i > b_j iff j ≤ i), so Aα = y has one solution, found in O(n)
without forming A: on [b_i, b_{i+1}] f is linear with slope σ_i = Σ_{j≤i} α_j, hence

    f(z_i) − f(z_{i-1}) = σ_{i-1}·g_i + α_i·(z_i − b_i),   so
    α_0 = y_0 / (z_0 − b_0),   α_i = (y_i − y_{i-1} − σ_{i-1}·g_i) / (z_i − b_i),
    σ_i = σ_{i-1} + α_i.

With θ = 0 (kink on the previous point) σ_i = (y_i − y_{i-1})/g_i: f is the piecewise-linear
interpolant of the points (z_i, y_i) and the α_i are its slope differences.  θ > 0 (default
1/8) keeps every kink away from the data so that relu(z_i − b_j) is exactly 0 in floating point
for j > i; a slope then leaks into the next with factor −θ/(1−θ) (−1/7: a contraction).

Numerics — where exactness is lost, and what is done about it:

* The order must survive rounding: each neuron computes fl(−b_j + Σ_k w_k x_k), with error at
  most γ_{p+1}(|b_j| + Σ_k |w_k x_k|).  The direction is chosen among the principal directions
  and seeded random ones: the *relative gap* min_i g_i / max_i Σ_k |w_k x_ik| must certify the
  triangular structure (min(θ, 1−θ)·min g > 2γ_{p+1}·max(Σ_k |w_k x_ik|, |b|)); among certified
  directions the one with the lowest error floor (below) wins.
* Cancellation: f(z_i) sums terms α_j(z_i − b_j) far larger than y_i when a tiny gap makes a
  steep slope (slopes are Δy/g).  The O(n) solve runs in ``np.longdouble`` and leaves an error
  of about eps·Σ_j |α_j| (z_i − b_j) (``cancellation`` × eps).  By default (``solve="auto"`` or
  ``"emulated"``; ``"closed"`` only on request — no size switches it silently) the output weights
  are fitted by *emulation*: the dense executor's arithmetic (its summation order, in the target
  dtype) is replayed point by point in sorted order, and α_i is chosen among neighbouring floats
  so that the executor's own rounded sum hits y_i.  Every rounding of earlier terms is absorbed;
  what is left is the rounding of the last addition, ≈ eps·|f_{i-1}(z_i)| (the previous segment
  extrapolated over one gap) — reported as ``fit_max_abs_error``, which is the executor's error
  bit for bit.  The fit costs n²(p + r)/2 operations (n = 65,536, p = 8: 14 s here).
* **Exact in one summation order only.**  The emulated fit is exact *in the dense executor's
  order*.  Slopes are Δy/g, up to ~Δy·n²/L for the smallest gap of n random projections over a
  range L, so another order's rounding of the projection (eps·|z|) and of the partial sums (eps
  times terms ~ slope·L) is multiplied by them: evaluated by NumPy/BLAS matmul (``verify``'s
  ``portable``) the same weights miss the rule from n ≈ 1,000 in float64 (n = 16,384, p = 8: max
  error 2.9e-8 against tol 1e-9) and at every n measured in float32.  No placement of the kinks
  changes that: it is the slope, not the kink, that amplifies (kinks in the middle of each gap
  were measured worse).
* Memory: :func:`estimate_bytes`, which the registry checks against the memory available before
  anything is built (a size beyond it is refused with the reason).

Size: n hidden neurons, n·p + n·r weights, depth 2; dense cost per input n(p+r)
multiplications.  Assumes distinct inputs (validated) whose projections on some direction are
distinct in the target dtype (refused otherwise).  Any real outputs.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from kernels.constructions.options import Range
from kernels.memorizer import Memorizer
from kernels.model.data import Dataset
from kernels.model.network import Layer, Network, check_dtype

NAME = "zhang"
SEED = "seed 004 (Zhang et al. 2017, lecture chapter 1)"
SUMMARY = "1 hidden layer of n ReLUs on a shared projection, triangular solve: n neurons"
NONNEGATIVE = False
EXECUTORS = ("dense",)

THETA = 0.125  # kink position inside each gap (fraction of the gap after the left point)
OPTIONS = {  # checked, and every default filled in, by the registry before build
    "theta": (float, Range(0, 1, hi_open=True), THETA,
              "kink position inside each gap, as a fraction of the gap"),
    "tries": (int, Range(1, 1024), 32, "random projection directions tried"),
    "solve": (str, ("auto", "closed", "emulated"), "auto",
              "output-weight solve (auto = emulated at every size; closed only on request)"),
}


def estimate_bytes(n: int, p: int, r: int, **_) -> int:
    # dense hidden W, CSR (value + source), COO triplets while building, output weights, data copies
    return int(12 * (6 * n * p + 6 * n * r + 4 * n * (p + r) + 24 * n))  # measured: 1.1–1.7× peak


def _gamma(k: int, dt: np.dtype) -> float:
    u = float(np.finfo(dt).eps) / 2
    return k * u / (1 - k * u)


def _layout(X: np.ndarray, Y: np.ndarray, w: np.ndarray, dt: np.dtype, theta: float) -> dict:
    """Order, projections and kinks for direction ``w`` (already rounded to ``dt``), with

    * ``relative_gap`` min g / max_i Σ_k |w_k x_ik| and ``certified``: the worst-case rounding bound
      2γ_{p+1}·max(Σ_k |w_k x_ik|, |b|) is below every kink's distance to its two points;
    * ``adjacent_ok``: replayed in ``dt`` with the executor's order, h_i(x_i) > 0 and
      h_{i+1}(x_i) = 0 for every i — the triangular structure where it is tightest;
    * ``floor``: max_i |y_{i-1}| + |y_{i-1} − y_{i-2}|·g_i/g_{i-1}, an O(n) proxy of the emulated
      fit's error (the previous segment extrapolated over one gap).
    """
    n, p = X.shape
    Xs = np.ascontiguousarray(X.astype(dt))
    z = Xs.astype(np.longdouble) @ w.astype(np.longdouble)  # exact-ish projections of dt data
    order = np.argsort(z, kind="stable")
    Xs, z = np.ascontiguousarray(Xs[order]), z[order]
    scale = float((np.abs(Xs).astype(np.float64) @ np.abs(w)).max(initial=0.0)) or 1.0
    lead = (z[-1] - z[0]) if n > 1 else max(abs(z[0]), np.longdouble(1))
    g = z[1:] - z[:-1]
    gmin = float(g.min()) if n > 1 else np.inf
    bound = 2 * _gamma(p + 1, dt) * max(scale, float(np.abs(z).max() + lead))
    # kink offset θ·g, moved towards the middle of gaps too small for it to clear the rounding
    off = np.minimum(g / 2, np.maximum(theta * g, bound / 4)) if theta > 0 else 0 * g
    b = np.empty(n, dtype=np.longdouble)
    b[0] = z[0] - lead
    b[1:] = z[:-1] + off
    bias = (-b).astype(dt)
    acc = bias.copy()  # h_j(x_i) for j = i, then j = i + 1, in the executor's order and dtype
    nxt = np.append(bias[1:], bias[-1:])
    for k in range(p):
        if w[k] != 0:
            wk = dt.type(w[k])
            acc = acc + wk * Xs[:, k]
            nxt = nxt + wk * Xs[:, k]
    adjacent_ok = bool((acc > 0).all() and (nxt[:-1] <= 0).all()) and gmin > 0
    Ys = Y[order]
    if n > 2 and gmin > 0:
        dy = np.abs(Ys[1:-1] - Ys[:-2]).max(axis=1)
        floor = float((np.abs(Ys[1:-1]).max(axis=1) + dy * (g[1:] / g[:-1]).astype(float)).max())
    else:
        floor = float(np.abs(Y).max(initial=0.0))
    safe = float(np.minimum(off, g - off).min()) if n > 1 else np.inf
    return {"order": order, "Xs": Xs, "Ys": Ys, "z": z, "bias": bias, "min_gap": gmin,
            "scale": scale, "relative_gap": gmin / scale, "rounding_bound": bound,
            "certified": bool(n == 1 or safe > bound), "adjacent_ok": adjacent_ok,
            "floor": floor}


def choose_direction(X: np.ndarray, Y: np.ndarray, dt: np.dtype, seed: int, tries: int = 32,
                     theta: float = 0.125) -> dict:
    """Pick the projection direction (rounded to ``dt``) among the principal directions and
    ``tries`` seeded random ones: among those whose triangular structure holds (certified, or
    checked exactly on adjacent pairs) the lowest error floor wins; if none holds, the largest
    relative gap.  Returns the chosen :func:`_layout` with ``w``, ``label`` and ``tried``."""
    n, p = X.shape
    rng = np.random.default_rng(seed)
    cands, labels = [], []
    if n >= 2 and p > 1:
        Xc = X - X.mean(axis=0)
        sub = Xc if n <= 4096 else Xc[rng.choice(n, 4096, replace=False)]
        _, _, Vt = np.linalg.svd(sub, full_matrices=False)
        for k in range(min(3, len(Vt))):  # n < p gives only n rows
            cands.append(Vt[k])
            labels.append(f"principal {k}")
    for k in range(tries if p > 1 else 0):
        cands.append(rng.standard_normal(p))
        labels.append(f"random {k}")
    if p == 1:
        cands, labels = [np.ones(1)], ["axis 0"]
    best, best_key = None, None
    for w, lab in zip(cands, labels, strict=True):
        w = (w / np.linalg.norm(w)).astype(dt).astype(np.float64)
        lay = _layout(X, Y, w, dt, theta)
        ok = lay["certified"] or lay["adjacent_ok"]
        key = (ok, -lay["floor"] if ok else lay["relative_gap"])
        if best_key is None or key > best_key:
            best_key, best = key, dict(lay, w=w, label=lab)
    best["tried"] = len(cands)
    return best


@njit(cache=True)
def _emulate_fit(Xs, w, bias, Y, alpha0):
    """Fit the output weights against the dense executor's own arithmetic (module docstring).

    ``Xs`` (n, p) inputs in sorted order and ``w``, ``bias`` in the target dtype; ``Y`` (n, r) and
    ``alpha0`` (n, r, the O(n) solve) in float64.  Returns (alpha in the target dtype, per-point
    max |error| as the executor will compute it, max Σ_j |α_j h_j| / max(1, |y|), triangular ok).
    """
    n, p = Xs.shape
    r = Y.shape[1]
    alpha = np.zeros((n, r), dtype=Xs.dtype)
    err = np.zeros(n)
    h = np.zeros(n + 1, dtype=Xs.dtype)
    cell = np.zeros(3, dtype=Xs.dtype)  # casts to the target dtype: 0, +inf, -inf
    cell[1] = np.inf
    cell[2] = -np.inf
    zero, pinf, ninf = cell[0], cell[1], cell[2]
    cancel = 0.0
    tri_ok = True
    for i in range(n):
        top = min(i + 2, n)
        for j in range(top):  # neurons 0..i are active at x_i; neuron i+1 must be exactly 0
            s = bias[j]
            for k in range(p):
                if w[k] != 0:
                    s += w[k] * Xs[i, k]
            h[j] = s if s > 0 else zero
        if top > i + 1 and h[i + 1] != 0:
            tri_ok = False
        if h[i] == 0:
            tri_ok = False
        hi = h[i]
        for c in range(r):
            S = zero
            mag = 0.0
            for j in range(i):  # the executor's order: increasing neuron id, from bias 0
                S += alpha[j, c] * h[j]
                mag += abs(float(alpha[j, c]) * float(h[j]))
            y = Y[i, c]
            t = alpha0[i, c] if hi == 0 else (y - float(S)) / float(hi)
            if not np.isfinite(t):
                t = alpha0[i, c]
            cell[0] = t
            a = cell[0]
            best = a
            best_e = abs(float(S + a * hi) - y)
            up = a
            dn = a
            for _ in range(4):  # a few floats either side
                up = np.nextafter(up, pinf)
                dn = np.nextafter(dn, ninf)
                e = abs(float(S + up * hi) - y)
                if e < best_e:
                    best, best_e = up, e
                e = abs(float(S + dn * hi) - y)
                if e < best_e:
                    best, best_e = dn, e
            alpha[i, c] = best
            err[i] = max(err[i], best_e)
            mag += abs(float(best) * float(hi))
            cancel = max(cancel, mag / max(1.0, abs(y)))
    return alpha, err, cancel, tri_ok


def _closed_solve(z: np.ndarray, b: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """The O(n) recurrence (module docstring) in ``np.longdouble``; z, b sorted, Y (n, r)."""
    ld = np.longdouble
    z, b, Y = z.astype(ld), b.astype(ld), Y.astype(ld)
    n, r = Y.shape
    alpha = np.empty((n, r), dtype=ld)
    alpha[0] = Y[0] / (z[0] - b[0])
    sigma = alpha[0].copy()
    for i in range(1, n):
        alpha[i] = (Y[i] - Y[i - 1] - sigma * (z[i] - z[i - 1])) / (z[i] - b[i])
        sigma += alpha[i]
    return alpha


def build(ds: Dataset, *, seed: int, dtype, theta: float, tries: int, solve: str) -> Memorizer:
    dt = check_dtype(dtype)
    n, p = ds.X.shape
    pick = choose_direction(ds.X, ds.D, dt, seed, tries, theta)
    w, gmin, scale = pick["w"], pick["min_gap"], pick["scale"]
    if n > 1 and not gmin > 0:
        extra = " in float32" if dt == np.float32 else ""
        raise ValueError(f"zhang needs a direction on which the {n} projections are distinct"
                         f"{extra}; none of {pick['tried']} directions separates them")
    Xs, Ys, z, bias = pick["Xs"], pick["Ys"], pick["z"], pick["bias"]
    b_used = -bias.astype(np.longdouble)
    alpha_ld = _closed_solve(z, b_used, Ys)
    bound, certified = pick["rounding_bound"], pick["certified"]
    mode = "emulated" if solve == "auto" else solve
    info = {"projection": pick["label"], "directions_tried": pick["tried"],
            "min_gap": gmin if n > 1 else None, "projection_scale": scale,
            "relative_gap": pick["relative_gap"] if n > 1 else None, "rounding_bound": bound,
            "triangular_certified": certified, "adjacent_pairs_ok": pick["adjacent_ok"],
            "theta": theta, "solve": mode}
    if mode == "emulated":
        alpha, err, cancel, tri_ok = _emulate_fit(Xs, w.astype(dt), bias,
                                                  np.ascontiguousarray(Ys, dtype=np.float64),
                                                  np.asarray(alpha_ld, dtype=np.float64))
        alpha = alpha.astype(np.float64)
        info.update(fit_max_abs_error=float(err.max(initial=0.0)), triangular_exact=bool(tri_ok),
                    cancellation=float(cancel))
    else:
        alpha = np.asarray(alpha_ld, dtype=dt).astype(np.float64)
        # Σ_j |α_j| (z_i − b_j) over j ≤ i by prefix sums: the cancellation each point suffers
        aa = np.abs(alpha_ld)
        pre = np.cumsum(aa, axis=0) * z[:, None] - np.cumsum(aa * b_used[:, None], axis=0)
        den = np.maximum(1.0, np.abs(Ys))
        info["cancellation"] = float((pre / den).max())
    info["max_abs_alpha"] = float(np.abs(alpha).max(initial=0.0))
    info["naive_error_bound"] = float(np.finfo(dt).eps) * info["cancellation"]
    hidden = Layer(np.repeat(w[None, :], n, axis=0), bias.astype(np.float64), "relu")
    output = Layer(alpha.T, None, "identity")
    net = Network.from_layers(p, [hidden, output])
    # the Memorizer keeps the dataset in its original order; the network does not care
    return Memorizer(NAME, ds, network=net, executors=EXECUTORS, dtype=dt, info={
        "assumptions": "distinct projections on one direction (any real outputs)",
        "hidden_neurons": n, "zhang": info})
