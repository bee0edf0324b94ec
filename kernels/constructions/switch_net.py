"""``switch-net`` — the unconditional ReLU network of seed 000, Theorem 2 / Fig. 2: a translation T,
routing switches S_v on the balanced hyperplane partition of :mod:`.partition`, the γ_i neurons and
the final sum.  Executors ``dense`` and ``active`` (Theorem 1 synthesises the conditional run).

Derivation (our gadget; float64 or float32, exact on every dataset point)
-----------------------------------------------------------------------
*T (layer 1, q neurons).*  ``t_0 = relu(1)`` (a bias-only neuron: the constant coordinate of
x̄ = [1; x]) and ``t_k = relu(x_k + b_k)`` with ``b_k = −min_i x_ik`` when that minimum is
negative (else 0).  The routed vector u = T(x̄) is ≥ 0 and u_0 = 1.  If rounding in ``x + b``
merges two points, the inexact coordinates are split instead into ``relu(x_k), relu(−x_k)``
(exact; q grows by one per split coordinate, ``q_route``).  The partition is built on the rows
u_i exactly as the network computes them.

*Switch S_v (two layers).*  Gate layer: ``h⁺ = relu(w_vᵀu)``, ``h⁻ = relu(−w_vᵀu)`` (no bias: a zero
input stays zero).  Output layer, reading u one layer back (the paper's one-layer skip):

    pos side (w_vᵀu > 0):  out_k = relu(u_k − c_v·h⁻)      neg side:  out_k = relu(u_k − c_v·h⁺)

with ``c_v = slack · max_{i∈v,k} u_ik / lo_v`` (``lo_v`` the partition's certified lower bound on
|w_vᵀu_i| in any summation order).  For a dataset vector on the pos side h⁻ = 0 exactly, so
``out = relu(u_k) = u_k`` bit for bit; on the blocked side fl(c_v h⁺) ≥ (1 − eps)·slack·max u > u_k,
so ``out = 0``.  The zero vector gives h± = 0 and out = 0 on both sides.  By induction the
dataset vector u_i reaches its leaf unchanged and every other switch sees exactly zero.

*γ neurons (fused into the last switch).*  A side whose child is the leaf of point i emits r
neurons ``γ_ik = relu(|d_ik|·u_0 − c'_ik·h^∓)``, ``c'_ik = slack·|d_ik| / lo_v``: |d_ik| on the
data vector (u_0 = 1), 0 when blocked or fed zero.  (The paper's γ_iᵀū with γ_i = d_i e_0.)

*Sum.*  ``o_k = relu(Σ_i γ_ik)`` with weight 1 on every non-zero γ (Fig. 2's all-one ReLU; D ≥ 0,
``output="relu"``).  Outputs with negative entries (``output="linear"``, the default then): o_k is
an identity neuron with weights sign(d_ik), which gives d_ik exactly; D ≥ 0 with ``output="relu"``
forced is refused with a ValueError naming the theorem's requirement.

Sizes (n ≥ 2 points, q = q_route, D = depth of the partition = ⌈log2 n⌉; n − 1 switches; the leaf
children number n, the internal children n − 2):

    neurons  N = q + 2(n − 1) + q(n − 2) + r·n + r
    weights  = (p + n_split) + 2·Σ_v nnz(w_v) + 2q(n − 2) + 3·nnz(D)
             ≤ p + n_split + 4q(n − 1) + 3rn
    layers   = 2D + 2  (T, then gate/output per level, then the sum; for n = 1: T, γ, sum)

The sum reads γ neurons of depth-D leaves (one layer back) and of depth-(D − 1) leaves (three
layers back) when n is not a power of two.

Active neurons and weights (Definition 1 as in :mod:`kernels.executors.active`), per dataset point
at depth
δ ≤ D, with s = q for an internal child and r for a leaf child:

    A ≤ q + Σ_levels (2 + s_on + s_off) + r ≤ q + 2D + (D − 1)q + D·max(q, r) + 2r
      (= 2(q + 1)D + 2r when r ≤ q; the paper: 2(q + 1)log2 n + q + r)
    W ≤ T_w + Σ_levels (2 nnz(w_v) + 2 s_on + 2 s_off + r·[off child is a leaf]) + r
      ≤ (2q − 1) + 4qD − 2q + 2D·max(q, r) + 5r    (the paper: 12q(q + 1)log2 n + (r + 2)q + r − 2)

The per-point sums (``path_*``) are computed from the partition; the closed forms are ``derived_*``.

Against the paper.  (Appendix B of arXiv 2303.11247 was not reachable here; the comparison is with
the constants of Theorem 2.)  Per level our switch lights 2 gates + 2q outputs = 2(q + 1) neurons —
the paper's per-level constant — but only ≤ 6q weights against the paper's 12q(q + 1): each output
neuron reads 2 units (u_k and one gate), not a full q-vector.  The paper's additive q + r becomes
2r here (γ and the sum are separate neurons), so A ≤ 2(q + 1)·log2 n + q + r holds for n a power of
two and r ≤ q; for other n a leaf can sit at depth ⌈log2 n⌉ > log2 n and the bound, read with the
real log2 n, can be exceeded by a few neurons (measured: linnerud, n = 20: 54 > 50.2), while it
holds with ⌈log2 n⌉ (``theorem2_active_neurons_ceil_log2``).  The weight bound holds with a wide
margin everywhere.
"""

from __future__ import annotations

import numpy as np

from kernels.constructions import partition as part_mod
from kernels.constructions.options import Range
from kernels.data import Dataset
from kernels.model.memorizer import Memorizer
from kernels.model.network import Network

NAME = "switch-net"
SEED = "seed 000 (Koyuncu, Theorem 2, Fig. 2)"
SUMMARY = ("Theorem 2 ReLU switch network: translation, hyperplane switches, γ neurons, sum; "
           "O(nq) neurons, O(q log n) active per input")
NONNEGATIVE = False  # negative outputs get a linear output layer (module docstring)
EXECUTORS = ("dense", "active")
OPTIONS = {  # validated by kernels.constructions.options before build
    "output": (str, ("relu", "linear"), None,
               "output layer (none: relu if D >= 0, else linear)"),
    "slack": (float, Range(1, 1e6, lo_open=True), 2.0, "switch margin factor (> 1)"),
    "translation_mode": (str, ("auto", "shift", "split"), "auto", "the translation T"),
    "n_random": (int, Range(1, 1024), 8, "random directions per partition vertex"),
}


def _nnz_estimate(n: int, q: int, r: int) -> tuple[int, int]:
    neurons = q + 2 * n + q * n + r * n + r
    weights = q + 2 * q * n + 2 * q * n + 3 * r * n
    return neurons, weights


def estimate_bytes(n: int, p: int, r: int, **options) -> int:
    q = p + 1
    N, nnz = _nnz_estimate(n, q, r)
    return int(part_mod.estimate_bytes(n, q, options.get("n_random", 8)) + 110 * nnz + 48 * N)


def translation(X: np.ndarray, dt: np.dtype, mode: str = "auto"):
    """T's parameters for inputs X (n, p) in dtype dt: returns (U, kind, b) with kind[k] in
    {0 identity, 1 shift by b[k], 2 split}; U (n, q_route) = T(x̄) as the network computes it."""
    X = X.astype(dt)
    n, p = X.shape
    mn = X.min(axis=0) if n else np.zeros(p, dt)
    b = np.where(mn < 0, -mn, 0).astype(dt)
    kind = np.where(mn < 0, 1, 0)
    if mode == "split":
        kind[mn < 0] = 2
    elif mode not in ("auto", "shift"):
        raise ValueError(f"unknown translation {mode!r}; choose from auto, shift, split")

    def apply(kind):
        cols = [np.ones(n, dt)]
        for k in range(p):
            if kind[k] == 2:
                cols += [np.maximum(X[:, k], dt.type(0)), np.maximum(-X[:, k], dt.type(0))]
            else:
                cols.append(np.maximum(b[k] + X[:, k], dt.type(0)))
        return np.stack(cols, axis=1)

    U = apply(kind)
    if mode == "auto" and np.unique(U, axis=0).shape[0] < n:
        s = b[None, :] + X  # TwoSum: the shift is exact iff the rounding error is 0
        bb = s - X
        err = (X - (s - bb)) + (b[None, :] - bb)
        kind[(kind == 1) & (err != 0).any(axis=0)] = 2
        U = apply(kind)
    return U, kind, b


def _layers(part, q: int):
    """Internal vertices grouped by depth (BFS order inside each level)."""
    inner = part.internal
    return [inner[part.depth[inner] == d] for d in range(part.max_depth)]


def _path_bounds(part, q: int, r: int, t_w: int):
    """Per-point structural bounds (every neuron on the routed path active): A_i, W_i."""
    n = part.n
    V = part.pos.size
    parent = np.full(V, -1, np.int64)
    inner = part.internal
    parent[part.pos[inner]] = inner
    parent[part.neg[inner]] = inner
    sib = np.full(V, -1, np.int64)
    sib[part.pos[inner]] = part.neg[inner]
    sib[part.neg[inner]] = part.pos[inner]
    s = np.where(part.pos >= 0, q, r)
    nnz = part.nnz
    A = np.full(n, q + r + (r if n == 1 else 0), np.int64)  # T, the sum (and γ when n = 1)
    W = np.full(n, t_w + r + (r if n == 1 else 0), np.int64)
    cur = part.leaf_of.copy()
    while True:
        up = parent[cur] >= 0
        if not up.any():
            break
        c, pa = cur[up], parent[cur[up]]
        A[up] += 2 + s[c] + s[sib[c]]
        W[up] += 2 * nnz[pa] + 2 * s[c] + 2 * s[sib[c]] + r * (part.pos[sib[c]] < 0)
        cur = np.where(up, parent[cur], cur)
    return A, W


def derived_bounds(D: int, q: int, r: int) -> dict:
    """Closed-form active-neuron and active-weight bounds of our gadget (module docstring)."""
    return {"active_neurons": q + 2 * D + max(D - 1, 0) * q + D * max(q, r) + 2 * r,
            "active_weights": (2 * q - 1) + 4 * q * D - 2 * q * (D > 0) + 2 * D * max(q, r)
            + 5 * r}


def build(ds: Dataset, *, seed: int = 0, dtype="float64", output: str | None = None,
          slack: float = 2.0, translation_mode: str = "auto", n_random: int = 8,
          **_) -> Memorizer:
    dt = np.dtype(dtype)
    n, p, r = ds.n, ds.p, ds.r
    Dm = ds.D
    if output is None:
        output = "relu" if (Dm >= 0).all() else "linear"
    if output not in ("relu", "linear"):
        raise ValueError(f"unknown output {output!r}; choose from relu, linear")
    if output == "relu" and (Dm < 0).any():
        i = int(np.argwhere(Dm < 0)[0][0])
        raise ValueError("switch-net with output='relu' needs non-negative outputs (D >= 0, as "
                         f"Theorem 2 assumes); row {i} has {Dm[i].min():g}; use output='linear'")
    if not slack > 1:
        raise ValueError(f"slack must be > 1 (got {slack})")
    U, tkind, tb = translation(ds.X, dt, translation_mode)
    q = U.shape[1]
    part = part_mod.build(U, seed=seed, dtype=dt, n_random=n_random)
    absD = np.abs(Dm).astype(dt).astype(np.float64)
    sgn = np.sign(Dm)
    rows, cols, vals = [], [], []

    def add(r_, c_, v_):
        rows.append(np.asarray(r_, np.int64).ravel())
        cols.append(np.asarray(c_, np.int64).ravel())
        vals.append(np.broadcast_to(np.asarray(v_, np.float64), np.shape(r_)).ravel())

    # layer 1: T
    bias = [1.0]
    j = 1
    for k in range(p):
        if tkind[k] == 2:
            add([j, j + 1], [k, k], [1.0, -1.0])
            bias += [0.0, 0.0]
            j += 2
        else:
            add([j], [k], [1.0])
            bias.append(float(tb[k]))
            j += 1
    widths = [q]
    nid = q
    base = np.zeros(part.pos.size, np.int64)  # unit id of coordinate 0 of a vertex's vector
    base[0] = p
    gamma_of = np.zeros((n, r), np.int64)  # neuron id of γ_ik
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        c_int = slack * part.umax / part.lo
        c_leaf = slack / part.lo
    for I in _layers(part, q):
        nI = I.size
        g = nid + 2 * np.arange(nI)  # h+ at g, h- at g + 1
        t, k = np.nonzero(part.W[I])
        wv = part.W[I[t], k]
        add(g[t], base[I[t]] + k, wv)
        add(g[t] + 1, base[I[t]] + k, -wv)
        widths.append(2 * nI)
        nid += 2 * nI
        kids = np.stack([part.pos[I], part.neg[I]], axis=1).ravel()
        par = np.repeat(I, 2)
        blocker = p + np.stack([g + 1, g], axis=1).ravel()  # pos child blocked by h-, neg by h+
        internal = part.pos[kids] >= 0
        size = np.where(internal, q, r)
        first = nid + np.concatenate([[0], np.cumsum(size)[:-1]])
        # internal children: q copies of the routed vector
        ic = np.flatnonzero(internal)
        if ic.size:
            o = (first[ic][:, None] + np.arange(q)).ravel()
            src = (base[par[ic]][:, None] + np.arange(q)).ravel()
            add(o, src, 1.0)
            c = c_int[par[ic]]
            if not np.isfinite(c).all():
                raise ValueError("switch-net: a switch constant overflows; the data's scale "
                                 "range is too wide for this dtype")
            add(o, np.repeat(blocker[ic], q), -np.repeat(c, q).astype(dt))
            base[kids[ic]] = p + first[ic]
        # leaf children: the fused γ neurons of their point
        lc = np.flatnonzero(~internal)
        if lc.size:
            pts = part.point[kids[lc]]
            o = first[lc][:, None] + np.arange(r)
            gamma_of[pts] = o
            add(o, np.repeat(base[par[lc]], r).reshape(-1, r), absD[pts])
            cl = (c_leaf[par[lc]][:, None] * absD[pts]).astype(dt)
            if not np.isfinite(cl).all():
                raise ValueError("switch-net: a γ switch constant overflows for this dtype")
            add(o, np.repeat(blocker[lc], r).reshape(-1, r), -cl)
        widths.append(int(size.sum()))
        nid += int(size.sum())
    if n == 1:  # no switch: γ reads the constant coordinate of T
        gamma_of[0] = nid + np.arange(r)
        add(gamma_of[0], np.full(r, p), absD[0])
        widths.append(r)
        nid += r
    add(nid + np.repeat(np.arange(r)[None, :], n, axis=0), p + gamma_of, sgn)
    widths.append(r)
    N = nid + r
    acts = ["relu"] * (len(widths) - 1) + (["relu"] if output == "relu" else ["identity"])
    b_all = np.zeros(N)
    b_all[:q] = bias
    net = Network.from_coo(p, widths, acts, np.concatenate(rows), np.concatenate(cols),
                           np.concatenate(vals), b_all)
    t_w = int(np.count_nonzero(net.w_ptr[1:q + 1] - net.w_ptr[:q])) + int(
        np.count_nonzero(net.bias[:q]))
    A_path, W_path = _path_bounds(part, q, r, t_w)
    nnzD = int(np.count_nonzero(Dm))
    D_ = part.max_depth
    formulas = {
        "neurons": q + 2 * (n - 1) + q * (n - 2) + r * n + r if n > 1 else q + 2 * r,
        "weights": int(np.count_nonzero(net.w_ptr[1:q + 1] - net.w_ptr[:q]))
        + 2 * int(part.nnz.sum()) + 2 * q * max(n - 2, 0) + (3 if n > 1 else 2) * nnzD,
        "weights_max": p + int((tkind == 2).sum()) + 4 * q * (n - 1) + 3 * r * n,
        "depth": 2 * D_ + 2 if n > 1 else 3}
    info = {"q": p + 1, "q_route": q, "output": output, "slack": slack,
            "translation": {"shifted": int((tkind == 1).sum()), "split": int((tkind == 2).sum())},
            "partition": part.summary(), "formulas": formulas}
    m = Memorizer(NAME, ds, network=net, executors=EXECUTORS, dtype=dt, info=info,
                  bounds=_bounds)
    m.partition = part
    m.path_bounds = (A_path, W_path)
    return m


def _bounds(m: Memorizer) -> dict:
    from kernels.executors.dense import analytic_cost
    from kernels.theory import bounds as counting

    n, p, r = m.dataset.n, m.dataset.p, m.dataset.r
    q, qr = m.info["q"], m.info["q_route"]
    D = m.partition.max_depth
    der = derived_bounds(D, qr, r)
    A_path, W_path = m.path_bounds
    return {
        "theorem2_active_neurons": counting.theorem2_active_neurons_bound(n, q, r),
        "theorem2_active_weights": counting.theorem2_active_weights_bound(n, q, r),
        "theorem2_active_neurons_ceil_log2": counting.theorem2_active_neurons_bound(
            2.0 ** part_mod.ceil_log2(n), q, r),
        "derived_active_neurons": der["active_neurons"],
        "derived_active_weights": der["active_weights"],
        "path_active_neurons_max": int(A_path.max()),
        "path_active_weights_max": int(W_path.max()),
        "theorem1_ops_max": counting.theorem1_ops_bound(p, int(W_path.max())),
        "dense_ops": analytic_cost(m.network)["total"],
        "theorem3_floor": counting.theorem3_floor(n, p),
        "depth_levels": D,
    }
