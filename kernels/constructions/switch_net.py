"""``switch-net`` — the unconditional ReLU network of seed 000, Theorem 2 / Fig. 2: a translation T,
routing switches S_v on the balanced hyperplane partition of :mod:`.partition`, the γ_i neurons and
the final sum.  Executors ``dense`` and ``active`` (Theorem 1 synthesises the conditional run).

Derivation (our gadget; float64 or float32, exact on every dataset point)
-----------------------------------------------------------------------
*Step 1, T (layer 1, q neurons).*  ``t_0 = relu(1)`` (a bias-only neuron: the constant coordinate
of x̄ = [1; x]) and ``t_k = relu(x_k + b_k)`` with ``b_k = −min_i x_ik`` when that minimum is
negative (else 0).  The routed vector u = T(x̄) is ≥ 0 and u_0 = 1.  If rounding in ``x + b``
merges two points, the inexact coordinates are split instead into ``relu(x_k), relu(−x_k)``
(exact; q grows by one per split coordinate, ``q_route``).  The partition is built on the rows
u_i exactly as the network computes them.

*Step 2, switch S_v (two layers per tree level).*  Gate layer: ``h⁺ = relu(w_vᵀu)``,
``h⁻ = relu(−w_vᵀu)`` (no bias: a zero input stays zero).  Output layer, reading u one layer back
(the paper's one-layer skip), one block per child:

    internal child, q neurons:  pos side out_k = relu(u_k − c_v·h⁻),  neg side relu(u_k − c_v·h⁺)
    leaf child of point i, 1 neuron:  ι_i = relu(u_0 − c'_v·h^∓)

with ``c_v = slack · max_{i∈v,k} u_ik / lo_v``, ``c'_v = slack / lo_v`` (``lo_v`` the partition's
certified lower bound on |w_vᵀu_i| in any summation order).  For a dataset vector on the pos side
h⁻ = 0 exactly, so ``out = relu(u_k) = u_k`` bit for bit; on the blocked side
fl(c_v h⁺) ≥ (1 − eps)²·slack·max u > u_k, so ``out = 0`` (likewise ι with u_0 = 1).  The zero
vector gives h± = 0 and out = 0 on both sides.  By induction the dataset vector u_i reaches its
leaf unchanged, ι_i = 1, and every other switch and indicator sees exactly zero.  A constant that
overflows the dtype (margins lo_v near the subnormal range) is refused with a ValueError.

*Step 3, γ neurons and the sum (one layer).*  The paper's γ_i neuron reads the leaf vector ū with
weights γ_i = d_i e_0, i.e. only its constant coordinate, which is ι_i; its ReLU is the identity
on the data (ι_i ∈ {0, 1}, d_i ≥ 0), so the γ neurons fold into the sum:
``o_k = relu(Σ_i d_ik·ι_i)`` (Fig. 2's sum; D ≥ 0, ``output="relu"``).  On a dataset point one
term is d_ik·1 and the others are exact zeros, so o_k = d_ik exactly (fl(d_ik) in float32, within
the dtype's rounding).  Outputs with negative entries (``output="linear"``, the default then): o_k
is an identity neuron with the same weights; ``output="relu"`` with a negative d is refused with a
ValueError naming the theorem's requirement.

Sizes (n ≥ 2 points, q = q_route, D = depth of the partition = ⌈log2 n⌉; n − 1 switches; the leaf
children number n, the internal children n − 2):

    neurons  N = q + 2(n − 1) + q(n − 2) + n + r
    weights  = (p + n_split) + 2·Σ_v nnz(w_v) + 2q(n − 2) + 2n + nnz(D)
             ≤ p + n_split + 4q(n − 1) + 2n + rn
    layers   = 2D + 2  (T, then gate/output per level, then the sum; for n = 1: T, sum)

The sum reads indicators of depth-D leaves (one layer back) and of depth-(D − 1) leaves (three
layers back) when n is not a power of two.

Theorem 2's active-neuron bound, for every r (Definition 1 as in
:mod:`kernels.executors.active`).  A dataset point at leaf depth δ ≤ D activates T (q), at each
level of its path the two gates and both children's blocks — the routed child's (it reads u) and
the blocked one's (it reads the non-zero gate, though it outputs 0) — and the r sums; nothing
below a blocked child (it reads zeros).  A child block has s = q neurons (internal) or s = 1
(leaf); on the last level the routed child is the leaf:

    A ≤ q + (δ − 1)(2 + 2q) + (2 + 1 + q) + r = 2(q + 1)δ + r + 1
      ≤ 2(q + 1)D + r + 1 ≤ 2(q + 1)⌈log2 n⌉ + q + r          (q = p + 1 ≥ 2, D = ⌈log2 n⌉)

— Theorem 2's bound with ⌈log2 n⌉, independent of r, with q − 1 to spare.  (An earlier layout fused
r γ neurons into every leaf child: a blocked leaf sibling then lit r neurons and A reached
2(q + 1)D − q + 3r, above the bound whenever r > q.)  Read with the real log2 n, the bound holds
for n a power of two; otherwise a leaf at depth ⌈log2 n⌉ > log2 n can exceed it by a few neurons
(``theorem2_active_neurons_ceil_log2`` is the version that always holds).

Active weights: T's ≤ 2q − 1 (weights and biases), per level 2·nnz(w_v) ≤ 2q gate weights, 2s per
child block, and r sum weights per lit leaf indicator; leaves lie on L ≤ 2 levels (balanced), so

    W ≤ (2q − 1) + 2qD + 2q(D − 1) + (2 + r) + 2q(D − L) + L·max(2q, 2 + r)

against the paper's 12q(q + 1)·log2 n + (r + 2)q + r − 2 (each of our output neurons reads 2 units,
not a full q-vector).  The per-point sums (``path_*``) are computed from the partition; the closed
forms (:func:`kernels.theory.bounds.switch_net_active_bounds`) are ``derived_*``.
"""

from __future__ import annotations

import numpy as np

from kernels.constructions import partition
from kernels.constructions.options import Range
from kernels.executors.dense import analytic_cost
from kernels.memorizer import Memorizer
from kernels.model.data import Dataset
from kernels.model.network import Network
from kernels.theory import bounds
from kernels.theory.verify import check_range

NAME = "switch-net"
SEED = "seed 000 (Koyuncu, Theorem 2, Fig. 2)"
SUMMARY = ("Theorem 2 ReLU switch network: translation, hyperplane switches, γ neurons, sum; "
           "O(nq) neurons, O(q log n) active per input")
NONNEGATIVE = False  # negative outputs get a linear output layer (module docstring)
EXECUTORS = ("dense", "active")
OPTIONS = {  # checked, and every default filled in, by the registry before build
    "output": (str, ("relu", "linear"), None,
               "output layer (none: relu if D >= 0, else linear)"),
    "slack": (float, Range(1, lo_open=True), 2.0, "switch margin factor (> 1)"),
    "translation_mode": (str, ("auto", "shift", "split"), "auto", "the translation T"),
    "n_random": (int, Range(1, 1024), 8, "random directions per partition vertex"),
}


def _nnz_estimate(n: int, q: int, r: int) -> tuple[int, int]:
    neurons = q + 2 * n + q * n + n + r
    weights = q + 2 * q * n + 2 * q * n + 2 * n + r * n
    return neurons, weights


def estimate_bytes(n: int, p: int, r: int, *, n_random: int, **_) -> int:
    q = p + 1
    N, nnz = _nnz_estimate(n, q, r)
    return int(partition.estimate_bytes(n, q, n_random) + 110 * nnz + 48 * N)


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


class _Coo:
    """The weights of the network under construction: (neuron, source unit, value) blocks."""

    def __init__(self):
        self.rows, self.cols, self.vals = [], [], []

    def add(self, r_, c_, v_):
        self.rows.append(np.asarray(r_, np.int64).ravel())
        self.cols.append(np.asarray(c_, np.int64).ravel())
        self.vals.append(np.broadcast_to(np.asarray(v_, np.float64), np.shape(r_)).ravel())

    def arrays(self):
        return (np.concatenate(self.rows), np.concatenate(self.cols),
                np.concatenate(self.vals))


def _layers(part):
    """Internal vertices grouped by depth (BFS order inside each level)."""
    inner = part.internal
    return [inner[part.depth[inner] == d] for d in range(part.max_depth)]


def _output_mode(D: np.ndarray, output: str | None) -> str:
    if output is None:
        output = "relu" if (D >= 0).all() else "linear"
    if output == "relu" and (D < 0).any():
        i = int(np.argwhere(D < 0)[0][0])
        raise ValueError("switch-net with output='relu' needs non-negative outputs (D >= 0, as "
                         f"Theorem 2 assumes); row {i} has {D[i].min():g}; use output='linear'")
    return output


def _translation_layer(coo: _Coo, p: int, tkind, tb) -> list[float]:
    """Step 1: T's weights; returns its biases (t_0 = relu(1) first)."""
    bias = [1.0]
    j = 1
    for k in range(p):
        if tkind[k] == 2:
            coo.add([j, j + 1], [k, k], [1.0, -1.0])
            bias += [0.0, 0.0]
            j += 2
        else:
            coo.add([j], [k], [1.0])
            bias.append(float(tb[k]))
            j += 1
    return bias


def _blocking_constants(part, slack: float, dt: np.dtype):
    """c_v (internal children) and c'_v (leaf indicators) per vertex, in dtype ``dt``."""
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        c_int = (slack * part.umax / part.lo).astype(dt)
        c_leaf = (slack / part.lo).astype(dt)
    inner = part.internal
    if not (np.isfinite(c_int[inner]).all() and np.isfinite(c_leaf[inner]).all()):
        raise ValueError(f"switch-net: a switch constant slack·max u / lo overflows {dt.name}: "
                         "the separating margins are too small (near the subnormal range)")
    return c_int, c_leaf


def _switch_layers(coo: _Coo, part, p: int, q: int, slack: float, dt: np.dtype):
    """Step 2: per level, the gates h± of its vertices, then each child's block (q copies of the
    routed vector, or the leaf indicator ι).  Returns (widths, next neuron id, unit of each
    point's indicator)."""
    c_int, c_leaf = _blocking_constants(part, slack, dt)
    base = np.zeros(part.pos.size, np.int64)  # unit id of coordinate 0 of a vertex's vector
    base[0] = p
    leaf_unit = np.full(part.n, p, np.int64)  # n = 1: T's constant t_0
    widths, nid = [], q
    for I in _layers(part):
        g = nid + 2 * np.arange(I.size)  # h+ at g, h- at g + 1
        t, k = np.nonzero(part.W[I])
        wv = part.W[I[t], k]
        coo.add(g[t], base[I[t]] + k, wv)
        coo.add(g[t] + 1, base[I[t]] + k, -wv)
        widths.append(2 * I.size)
        nid += 2 * I.size
        kids = np.stack([part.pos[I], part.neg[I]], axis=1).ravel()
        par = np.repeat(I, 2)
        blocker = p + np.stack([g + 1, g], axis=1).ravel()  # pos child blocked by h-, neg by h+
        internal = part.pos[kids] >= 0
        size = np.where(internal, q, 1)
        first = nid + np.concatenate([[0], np.cumsum(size)[:-1]])
        child = np.repeat(np.arange(kids.size), size)
        neuron = nid + np.arange(int(size.sum()))
        coord = neuron - first[child]  # coordinate k of the routed vector (0 for ι)
        coo.add(neuron, base[par[child]] + coord, 1.0)
        c = np.where(internal, c_int[par], c_leaf[par])
        coo.add(neuron, blocker[child], -c[child])
        base[kids[internal]] = p + first[internal]
        leaf_unit[part.point[kids[~internal]]] = p + first[~internal]
        widths.append(int(size.sum()))
        nid += int(size.sum())
    return widths, nid, leaf_unit


def _formulas(part, net: Network, D: np.ndarray) -> dict:
    """The module docstring's sizes, to hold the built network to."""
    n, r = D.shape
    q = part.q
    t_w = int(net.w_ptr[q])  # T's neurons come first
    if n == 1:
        return {"neurons": q + r, "weights": t_w + int(np.count_nonzero(D)),
                "weights_max": t_w + r, "depth": 2}
    return {"neurons": q + 2 * (n - 1) + q * (n - 2) + n + r,
            "weights": t_w + 2 * int(part.nnz.sum()) + 2 * q * (n - 2) + 2 * n
            + int(np.count_nonzero(D)),
            "weights_max": t_w + 4 * q * (n - 1) + 2 * n + r * n,
            "depth": 2 * part.max_depth + 2}


def build(ds: Dataset, *, seed: int, dtype, output: str | None, slack: float,
          translation_mode: str, n_random: int) -> Memorizer:
    dt = np.dtype(dtype)
    p, r = ds.p, ds.r
    output = _output_mode(ds.D, output)
    check_range(ds.D, dt, NAME)
    U, tkind, tb = translation(ds.X, dt, translation_mode)
    q = U.shape[1]
    part = partition.build(U, seed=seed, dtype=dt, n_random=n_random)
    coo = _Coo()
    bias = _translation_layer(coo, p, tkind, tb)                              # step 1
    widths, nid, leaf_unit = _switch_layers(coo, part, p, q, slack, dt)      # step 2
    i, k = np.nonzero(ds.D)                                                   # step 3
    coo.add(nid + k, leaf_unit[i], ds.D[i, k])
    widths = [q, *widths, r]
    acts = ["relu"] * (len(widths) - 1) + (["relu"] if output == "relu" else ["identity"])
    b_all = np.zeros(nid + r)
    b_all[:q] = bias
    net = Network.from_coo(p, widths, acts, *coo.arrays(), b_all)
    t_w = int(net.w_ptr[q]) + int(np.count_nonzero(net.bias[:q]))
    info = {"q": p + 1, "q_route": q, "output": output, "slack": slack,
            "translation": {"shifted": int((tkind == 1).sum()), "split": int((tkind == 2).sum())},
            "partition": part.summary(), "formulas": _formulas(part, net, ds.D)}
    m = Memorizer(NAME, ds, network=net, executors=EXECUTORS, dtype=dt, info=info,
                  bounds=_bounds)
    m.partition = part
    m.path_bounds = _path_bounds(part, q, r, t_w)
    return m


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
    leaf = (part.pos < 0).astype(np.int64)
    s = np.where(leaf, 1, q)
    nnz = part.nnz
    A = np.full(n, q + r, np.int64)  # T and the sums
    W = np.full(n, t_w + (r if n == 1 else 0), np.int64)  # n = 1: the sums read t_0
    cur = part.leaf_of.copy()
    while True:
        up = parent[cur] >= 0
        if not up.any():
            break
        c, pa = cur[up], parent[cur[up]]
        A[up] += 2 + s[c] + s[sib[c]]
        W[up] += 2 * nnz[pa] + 2 * s[c] + 2 * s[sib[c]] + r * (leaf[c] + leaf[sib[c]])
        cur = np.where(up, parent[cur], cur)
    return A, W


def _theorem2_check(n: int, q: int, q_route: int, r: int, D: int, A_max: int) -> dict:
    """Theorem 2's active-neuron bound 2(q + 1)⌈log2 n⌉ + q + r against the largest A of the
    per-point formula: "holds", "fails", or — when the translation split coordinates
    (q_route > q = p + 1: T no longer maps x̄ to q coordinates, the theorem's premise) — "outside
    the premise" with the cause; our derived 2(q_route + 1)D + r + 1 bounds A there."""
    bound = float(bounds.theorem2_active_neurons_bound(n, q, r, ceil_log2=True))
    if q_route > q:
        return {"theorem2_premise": False, "theorem2_check": (
            f"outside the premise: the translation split {q_route - q} coordinate(s) that "
            f"rounding in x + b would merge, so {q_route} coordinates are routed, not "
            f"q = p + 1 = {q}; A ≤ 2(q_route + 1)D + r + 1 = {2 * (q_route + 1) * D + r + 1} "
            f"(measured max {A_max}) against Theorem 2's {bound:g}")}
    return {"theorem2_premise": True,
            "theorem2_check": "holds" if A_max <= bound else f"fails ({A_max} > {bound:g})"}


def _bounds(m: Memorizer) -> dict:
    n, p, r = m.dataset.n, m.dataset.p, m.dataset.r
    q, qr = m.info["q"], m.info["q_route"]
    part = m.partition
    D = part.max_depth
    leaves = part.depth[part.pos < 0]
    der = bounds.switch_net_active_bounds(D, qr, r, int(D - leaves.min() + 1) if D else 0)
    A_path, W_path = m.path_bounds
    return {**_theorem2_check(n, q, qr, r, D, int(A_path.max())),
        "theorem2_active_neurons": bounds.theorem2_active_neurons_bound(n, q, r),
        "theorem2_active_weights": bounds.theorem2_active_weights_bound(n, q, r),
        "theorem2_active_neurons_ceil_log2": bounds.theorem2_active_neurons_bound(
            n, q, r, ceil_log2=True),
        "derived_active_neurons": der["active_neurons"],
        "derived_active_weights": der["active_weights"],
        "path_active_neurons_max": int(A_path.max()),
        "path_active_weights_max": int(W_path.max()),
        "theorem1_ops_max": bounds.theorem1_ops_bound(p, int(W_path.max())),
        "dense_ops": analytic_cost(m.network)["total"],
        "theorem3_floor": bounds.theorem3_floor(n, p),
        "depth_levels": D,
    }
