r"""``rajput`` — the deep threshold network of Rajput, Sreenivasan, Papailiopoulos & Karbasi, "An
exponential improvement on the memorization capacity of deep threshold networks", NeurIPS 2021
(seed 002, arXiv 2106.07724): Õ(1/δ + √n) neurons for δ-separated data, real weights only in the
first layer.

Labels are classes: every output column holds integers {0, …, C−1}; a real-valued output is refused.
Notation: n points x_i ∈ R^p, r output columns, B_c = max(1, ⌈log2 C_c⌉) label bits of column c.

Step 0 — normalisation (Assumption 2).  x̃ = (x − μ)/R with μ the mean and R = max‖x_i − μ‖, so
‖x̃‖ ≤ 1; δ = min_{i≠j} ‖x̃_i − x̃_j‖ is the normalised separation the paper assumes, and it is
reported (``info["delta"]``, with the raw distance and R).  The affine map is folded into layer 1.

Step 1 — unique binary codes, layer 1 (width m1, real weights).  Lift a_i = (x̃_i, 1); draw
w = (g, g0) ~ N(0, I_{p+1}) and take the threshold unit 1[g·x̃ + g0 ≥ 0].  A hyperplane through the
origin with isotropic normal separates two vectors at angle θ with probability θ/π, and the lift
keeps angles ≥ δ/2, so one draw separates a pair with probability ≥ δ/2π; the union bound over
C(n,2) pairs makes all codes z¹_i ∈ {0,1}^{m1} distinct once C(n,2)(1 − δ/2π)^m < 1, i.e.
m = O(log n/δ) (reported as ``hidden1_paper``).  Here the count is *chosen so that codes are
unique*: hyperplanes are drawn one at a time until every point has its own code (the least such
prefix of the random sequence; ``hidden1=m`` fixes the count instead and refuses codes that are
not unique).  Draws that do not cut the data (constant bit) are dropped; the bias of each kept
hyperplane is moved to the middle of the gap between its two sides (same codes), so no data field
lies within its margin μ_j, which the build checks against the float rounding of the layer.
In raw coordinates the weights are g/R and the bias g0 − g·μ/R − shift.  Refusal: the lifted
points have norm ≥ 1, so one draw separates the closest pair with probability ≤ δ/2; data with
max_hidden1·δ/2 < 1% is refused at once, data whose codes still collide after max_hidden1 draws
when they are spent (a one-line ``ValueError`` naming δ and the paper's count).  (The angle bound:
the gnomonic map a ↦ a/|a| stretches lengths in the unit disc by at most 1 + ‖x̃‖² ≤ 2.)

Step 2 — compression by a random linear code to m2 = O(log n) bits (integer weights).  Rows
b_t ~ Bernoulli(1/2)^{m1} (b_t ≠ 0); z²_t = ⟨b_t, z¹⟩ mod 2.  Two distinct codes differ on a
non-empty set S and a random b_t separates them iff |b_t ∩ S| is odd, probability 1/2, so
m2 = ⌈log2 C(n,2)⌉ + O(1) rows keep all codes distinct; rows are added until they do (the least
count; ``hidden2`` fixes it).  If that count reaches m1 the compression would not compress and z¹
is used as is (``info["compressed"] = False``).  Each parity of k_t = |b_t| bits is built from
threshold units (``xor``):

* ``"tree"`` (the paper's sparse XOR layers; default): a balanced tree of two-input XORs,
  XOR(a,b) = 1[a + b − 2·AND(a,b) − 1 ≥ 0], AND(a,b) = 1[a + b − 2 ≥ 0] — 2(k_t − 1) neurons,
  5(k_t − 1) weights ∈ {1, −2}, depth 2⌈log2 k_t⌉;
* ``"counter"``: the binary digits of S = Σ bits top-down, d_T = 1[S − 2^T ≥ 0],
  d_t = 1[S − Σ_{t'>t} 2^{t'} d_{t'} − 2^t ≥ 0], T = ⌊log2 k_t⌋, parity = d_0 — ⌊log2 k_t⌋ + 1
  neurons, (T+1)k_t + T(T+1)/2 weights up to 2^T ≤ k_t, depth T + 1.  Fewer neurons (the 1/δ
  term drops from m1·m2 to m1 + m2 log m1), larger integer weights.

Step 3 — prefix partition and lift to disjoint coordinates (integer weights).  Sort the codes z²
and split them by a binary trie on bits 0, 1, 2, …: a node with more than s codes is split on its
next bit.  The leaves S_1 … S_K (K ≈ n/s) have at most s codes each, each characterised by its own
prefix c_j of length ℓ_j, and they partition the data.  Per subset that holds a positive label bit:

* detector s_j = 1[Σ_{t<ℓ_j} (2c_{jt} − 1) z²_t − |c_j|₁ ≥ 0]: the field is −(number of mismatches),
  so s_j = 1 iff z² has prefix c_j (1 neuron, ℓ_j weights ±1, bias ≥ −m2);
* chunk j of z³: s_j itself and the copies z³_{jt} = z²_t AND s_j = 1[z²_t + s_j − 2 ≥ 0] for the
  suffix bits t ∈ F_j on which the members of S_j differ (bits shared by all members carry no
  information; the paper copies the whole code).  |F_j| ≤ m2 − ℓ_j neurons, 2 weights each.
For a data point in S_j chunk j equals (1, z²_F) and every other chunk is 0: the chunks have
disjoint supports.

Step 4 — memorizing neurons (integer weights) and the sum.  For label bit b of column c, let the
members of S_j whose bit is 1 be numbered q = 0, 1, …; neuron f_{c,b,q} takes the q-th of each
subset (at most one per subset, so K points per neuron, as in the paper):
    f = 1[−1 + Σ_j ((1 − h_j) s_j + Σ_{t∈F_j} (2c_t − 1) z³_{jt}) ≥ 0],
with c = z² of the target of S_j and h_j = Σ_{t∈F_j} c_t.  For a point of S_j the field is
−Σ_{t∈F_j} |z²_t − c_t|, which is 0 only at the target (codes are distinct and agree outside F_j);
for a point of a subset without a target it is −1.  So exactly one f_{c,b,q} fires iff the bit is
1.  Bit gate 1[Σ_q f_{c,b,q} − 1 ≥ 0] (the paper's final summing neuron; one bit network per label
bit, Corollary 1, sharing steps 1–3); linear output y_c = Σ_b 2^b·bit_{c,b}.  Q_{c,b} = max_j
(#targets in S_j) ≤ s neurons per bit.  The cap s (``subset_size``) defaults to the value that
minimises the neuron count over a geometric grid around √(n·m2/B); about √(n log n/B).

Sizes (threshold network; the formulas are checked against the built network in the tests):
    neurons  = m1 + X + K + Σ_j |F_j| + Σ_{c,b} Q_{c,b} + Σ_c B_c + r   (K, j: the subsets that
               hold a target),
               X = Σ_t 2(k_t − 1) (tree) or Σ_t (⌊log2 k_t⌋ + 1) (counter), k_t ≥ 2;
    weights  = p·m1 + W_X + Σ_j ℓ_j + 2Σ_j |F_j| + Σ_{targets} (|F_j| + [h ≠ 1]) + Σ Q + Σ_c B_c,
               W_X = Σ_t 5(k_t − 1) (tree) or Σ_t ((T_t+1)k_t + T_t(T_t+1)/2) (counter);
    depth    ≤ 6 + D_X,  D_X = max_t 2⌈log2 k_t⌉ (tree) or max_t ⌊log2 k_t⌋ + 1 (counter)
               = O(log(log n/δ)) (the paper's depth);
    largest weight after layer 1: max(m2, 2^{B−1}, 2) (tree) = O(log n), or ≤ m1 (counter).
Asymptotically m1 = O(log n/δ), m2 = O(log n), X = O(log² n/δ) (tree; the paper's Theorem 1 term)
or O(log n · log(log n/δ)) (counter), and the lift + memorizers O(√(n B log n)) (Theorem 1 has
√n log² n).  Note that δ shrinks with n for generated data (on S^{p−1} the closest pair is at
n^{−2/(p−1)}), so the 1/δ term can dominate the √n term.

ReLU variant (``activation="relu"``; see :mod:`._rajput_circuit`): every threshold with an
integer field s is relu(s + 1) − relu(s) (exact for integers, margin 1); a first-layer threshold
with real field s and margin μ is the clamp 1 − relu(1 − relu(2s/μ)) (exact on the data).  Twice
the hidden neurons, one more layer, outputs bit-identical to the threshold network's.

Options: ``activation`` ("threshold" | "relu"), ``xor`` ("tree" | "counter"), ``hidden1``,
``hidden2`` (fixed counts, default chosen), ``subset_size`` (cap s), ``max_hidden1`` (refuse data
needing more first-layer hyperplanes; default 100 000).
"""

from __future__ import annotations

import numpy as np

from kernels.constructions._rajput_circuit import FIRST, INT, OUT, Circuit
from kernels.constructions._rajput_codes import (
    choose_partition,
    downstream,
    first_layer,
    linear_code,
    normalise,
    paper_hidden1,
)
from kernels.constructions.options import Range
from kernels.memorizer import Memorizer
from kernels.model.data import Dataset, class_labels

NAME = "rajput"
SEED = "seed 002 (Rajput, Sreenivasan, Papailiopoulos & Karbasi, NeurIPS 2021)"
SUMMARY = ("deep threshold net: Gaussian codes, XOR linear code, prefix lift, integer memorizers: "
           "Õ(1/δ + √n) neurons; classes")
NONNEGATIVE = True
EXECUTORS = ("dense", "active")

ACTIVATIONS = ("threshold", "relu")
XORS = ("tree", "counter")
OPTIONS = {  # checked, and every default filled in, by the registry before build
    "activation": (str, ACTIVATIONS, "threshold", "hidden activation"),
    "xor": (str, XORS, "tree", "XOR gadget"),
    "hidden1": (int, Range(1, 10**7), None, "first-layer width (none: from δ)"),
    "hidden2": (int, Range(1, 10**6), None, "code length (none: chosen)"),
    "subset_size": (int, Range(1), None, "points per partition subset (none: chosen)"),
    "max_hidden1": (int, Range(1, 10**7), 100_000, "cap on the first-layer width"),
}


def estimate_bytes(n: int, p: int, r: int, *, xor: str, max_hidden1: int, hidden1: int | None,
                   hidden2: int | None, **_) -> int:
    """Memory of a build, before the data are seen.  The data-dependent size is m1 = O(log n/δ):
    it is guessed as log2(n)·n^{2/(p−1)} (the closest of n random points on S^{p−1} is at
    ~n^{−2/(p−1)}), capped at ``max_hidden1``.  Bytes: the codes (n × m1 uint8, a copy and the
    packed bits: 3·n·m1), the blocked field matrix and its temporaries (≤ 4M float64 each, three
    of them), and ≈ 100 bytes per stored weight of the circuit (triplets, CSR, layers): p·m1 +
    XOR weights (2.5·m1·m2 tree, ½·m1·m2·log2 m1 counter) + memorizers ≈ n·(m2 + 4) per column,
    m2 ≈ 2 log2 n + 4.  Measured (tracemalloc peak, sphere and Gaussian data, p = 4…16, n ≤ 2^14)
    this is 1–5× the true peak (4–5× at p = 4, where the guess overshoots m1; ≈ 9× at p = 2,
    where the cap binds); the build checks again with the real m1 before it allocates the codes.
    (The previous a-priori formula, 24·n·64·log2(n)², was ≈ 30× the peak at n = 2^14.)"""
    L = float(np.log2(max(n, 2)))
    m1 = float(max_hidden1) if p < 2 else min(float(max_hidden1), L * n ** (2.0 / (p - 1)))
    m2 = 2 * L + 4
    if hidden1 is not None:  # fixed widths: exact, not guessed
        m1 = float(hidden1)
    if hidden2 is not None:
        m2 = float(hidden2)
    xw = 0.5 * m1 * m2 * np.log2(max(m1, 2.0)) if xor == "counter" else 2.5 * m1 * m2
    nnz = p * m1 + xw + n * (m2 + 4) * r
    return int(3 * n * m1 + 24 * min(n * m1, 4e6) + 100 * nnz + 48 * n * (p + r) + 1e6)


def _labels(ds: Dataset) -> tuple[np.ndarray, list[int]]:
    Y = class_labels(ds, NAME)
    bits = [max(1, int(Y[:, c].max()).bit_length()) for c in range(ds.r)]
    return Y, bits


def build(ds: Dataset, *, seed: int, dtype, activation: str, xor: str, hidden1: int | None,
          hidden2: int | None, subset_size: int | None, max_hidden1: int) -> Memorizer:
    """Steps 0–3 of the module docstring on the data (normalisation, unique codes, linear code,
    prefix partition), then the circuit: first layer, XOR compression, lift, memorizers, sum."""
    dtype = np.dtype(dtype).name
    Y, bits = _labels(ds)
    X = ds.X
    p = X.shape[1]
    mu, R, delta, delta_raw = normalise(X)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 2106_07724]))

    # steps 1-3 on the data
    L1 = first_layer(X, mu, R, rng, fixed=hidden1, cap=int(max_hidden1), delta=delta, dtype=dtype)
    m1 = L1.W.shape[0]
    code = linear_code(L1.Z, rng, fixed=hidden2, cap=max(64, 4 * m1))
    cap, subsets, targets = choose_partition(code.Z, Y, bits, subset_size)
    _, used = downstream(subsets, targets)
    uj = np.flatnonzero(used)

    # the circuit
    C = Circuit(p)
    z2, n_xor = _code_layers(C, L1, code, xor)
    det_of, copy_ids, n_copies = _lift(C, z2, subsets, uj)
    bit_ids, mem_total, targets_total = _memorizers(C, targets, subsets, code.Z, det_of, copy_ids)
    _outputs(C, bits, bit_ids, ds.r)
    net = C.to_network(activation)

    rows_k = np.array([r.size for r in code.rows]) if code.compressed else np.zeros(0, np.int64)
    stage = {"first": m1, "xor": n_xor, "detectors": int(uj.size), "copies": n_copies,
             "memorizers": mem_total, "bits": len(bit_ids), "outputs": ds.r}
    info = {"activation": activation, "xor": xor, "delta": delta, "delta_raw": delta_raw,
            "radius": R, "hidden1": m1, "hyperplanes_drawn": L1.drawn,
            "hidden1_paper": paper_hidden1(ds.n, delta),
            "first_layer_margin_min": float(L1.margin.min()),
            "code_bits": code.Z.shape[1], "compressed": code.compressed,
            **_network_info(net, rows_k, xor, cap, subsets, uj, Y, bits, targets_total, stage),
            "theorem1_terms": _theorem1_terms(ds.n, delta, sum(bits)),
            "assumptions": "class labels; δ-separated data (δ reported; refused when codes need "
                           "more than max_hidden1 hyperplanes)"}
    m = Memorizer(NAME, ds, network=net, executors=EXECUTORS, dtype=dtype, info=info,
                  bounds=_bounds)
    m.plan = {"code_rows": rows_k, "subsets": subsets, "used": used, "targets": targets,
              "Z2": code.Z, "W1": L1.W, "p": p, "r": ds.r, "bits": bits, "xor": xor,
              "edges": C.edge_counts(), "activation": activation}
    return m


def _code_layers(C: Circuit, L1, code, xor: str):
    """Steps 1–2 in the circuit: the Gaussian first layer z¹ (real weights), then the parities
    z² of the code rows (``xor`` gadget), or z¹ itself when the code does not compress.
    Returns (the gates of z², neurons of the XOR gadgets)."""
    m1, p = L1.W.shape
    z1 = C.add(FIRST, m1, np.repeat(np.arange(m1), p), np.tile(np.arange(p), m1),
               L1.W.ravel(), L1.b, margin=L1.margin)
    n_first = C.n_gates
    if code.compressed:
        gadget = C.xor_tree if xor == "tree" else C.xor_counter
        z2 = gadget([z1[r] for r in code.rows])
    else:
        z2 = z1.copy()
    return z2, C.n_gates - n_first


def _lift(C: Circuit, z2, subsets, uj):
    """Step 3: the detector s_j of every used subset j (prefix c_j) and the copies
    z³_jt = z²_t AND s_j of its free bits.  Returns ({j: detector gate}, {j: copy gates},
    number of copies)."""
    det_rows = np.concatenate([np.full(subsets[j].prefix.size, k) for k, j in enumerate(uj)]
                              + [np.zeros(0, np.int64)]).astype(np.int64)
    det_cols = np.concatenate([z2[:subsets[j].prefix.size] for j in uj] + [np.zeros(0, np.int64)])
    det_vals = np.concatenate([2.0 * subsets[j].prefix - 1 for j in uj] + [np.zeros(0)])
    det_bias = np.array([-float(subsets[j].prefix.sum()) for j in uj])
    det = C.add(INT, uj.size, det_rows, det_cols, det_vals, det_bias)
    copy_ids = {}
    nf = [subsets[j].free.size for j in uj]
    tot = int(sum(nf))
    if tot:
        owner = np.repeat(np.arange(uj.size), nf)
        t_all = np.concatenate([subsets[j].free for j in uj])
        ids = C.add(INT, tot, np.repeat(np.arange(tot), 2),
                    np.column_stack([z2[t_all], det[owner]]).ravel(), np.ones(2 * tot), -2.0)
        starts = np.concatenate([[0], np.cumsum(nf)])
        for k, j in enumerate(uj):
            copy_ids[j] = ids[starts[k]:starts[k + 1]]
    return dict(zip(uj.tolist(), det.tolist(), strict=True)), copy_ids, tot


def _memorizers(C: Circuit, targets, subsets, Z2, det_of, copy_ids):
    """Step 4: per label bit (c, b) the memorizing neurons f_{c,b,q} (the q-th target of every
    subset) and the bit gate 1[Σ_q f − 1 ≥ 0].  Returns ({(c, b): bit gate}, memorizers,
    targets)."""
    bit_ids = {}
    mem_total = 0
    targets_total = 0
    for (c, b), per in targets.items():
        Q = max(t.size for t in per)
        rows_l, cols_l, vals_l = [], [], []
        for j, tg in enumerate(per):
            if tg.size == 0:
                continue
            F = subsets[j].free
            cz = Z2[np.ix_(tg, F)].astype(np.float64)  # (targets, |F|)
            h = cz.sum(axis=1)
            q = np.arange(tg.size)
            rows_l += [q, np.repeat(q, F.size)]
            cols_l += [np.full(tg.size, det_of[j]), np.tile(copy_ids.get(j, np.zeros(0, np.int64)),
                                                            tg.size)]
            vals_l += [1.0 - h, (2 * cz - 1).ravel()]
            targets_total += tg.size
        if Q:
            mem = C.add(INT, Q, np.concatenate(rows_l), np.concatenate(cols_l),
                        np.concatenate(vals_l), -1.0)
        else:
            mem = np.zeros(0, np.int64)
        mem_total += Q
        bit_ids[(c, b)] = C.gate(mem, np.ones(mem.size), -1.0)
    return bit_ids, mem_total, targets_total


def _outputs(C: Circuit, bits, bit_ids, r: int) -> None:
    """The linear outputs y_c = Σ_b 2^b·bit_{c,b}."""
    out_rows, out_cols, out_vals = [], [], []
    for c, B in enumerate(bits):
        for b in range(B):
            out_rows.append(c)
            out_cols.append(bit_ids[(c, b)])
            out_vals.append(float(2**b))
    C.add(OUT, r, out_rows, out_cols, out_vals, 0.0)


def _network_info(net, rows_k, xor, cap, subsets, uj, Y, bits, targets_total, stage) -> dict:
    """The part of ``info`` that describes the built network (for summary() and the tests)."""
    k2 = rows_k[rows_k >= 2]
    if xor == "tree":
        d_x = int(max((2 * int(np.ceil(np.log2(k))) for k in k2), default=0))
    else:
        d_x = int(max((int(k).bit_length() for k in k2), default=0))
    first_units = net.layer_ptr[1]  # layer 1 holds the real Gaussian weights
    int_w = np.abs(net.w_val[net.w_ptr[first_units]:])
    int_b = np.abs(net.bias[first_units:])
    max_int = float(max(int_w.max(initial=0), int_b.max(initial=0)))
    return {
        "xor_row_sizes": {"min": int(rows_k.min(initial=0)), "max": int(rows_k.max(initial=0))},
        "xor_depth": d_x,
        "subset_size": cap, "subsets": len(subsets), "subsets_used": int(uj.size),
        "max_subset": int(max(s.members.size for s in subsets)),
        "label_bits": bits, "classes": [int(Y[:, c].max()) + 1 for c in range(Y.shape[1])],
        "targets": targets_total,
        "stage_neurons": stage,
        "max_int_weight": max_int, "weight_bits": int(max_int).bit_length() + 1,
    }


def _theorem1_terms(n: int, delta: float, B_total: int) -> dict:
    """Theorem 1's two terms without its constants (which one dominates at this n and δ)."""
    log2n = np.log2(max(n, 2))
    return {"log2(n)^2/delta": float(log2n**2 / delta) if delta > 0 else None,
            "sqrt(n)*log2(n)^2*B": float(np.sqrt(n) * log2n**2 * B_total)}


def _bounds(m: Memorizer) -> dict:
    n, p = m.dataset.n, m.dataset.p
    return {"vc_neurons_floor": float(min(np.sqrt(n), n / p))}


def derived_sizes(plan: dict) -> dict:
    """Neurons, weights and the depth bound of the threshold network from the plan's quantities
    (the formulas of the module docstring), and the ReLU network's from the threshold one's."""
    k = plan["code_rows"]
    k = k[k >= 2]
    T = np.array([int(v).bit_length() - 1 for v in k], dtype=np.int64)
    if plan["xor"] == "tree":
        X, WX = int(2 * (k - 1).sum()), int(5 * (k - 1).sum())
        DX = int(max((2 * int(np.ceil(np.log2(v))) for v in k), default=0))
    else:
        X = int((T + 1).sum())
        WX = int(((T + 1) * k + T * (T + 1) // 2).sum())
        DX = int((T + 1).max(initial=0))
    subsets, used, Z2 = plan["subsets"], plan["used"], plan["Z2"]
    uj = np.flatnonzero(used)
    F = sum(subsets[j].free.size for j in uj)
    ell = sum(subsets[j].prefix.size for j in uj)
    Qsum, mem_w = 0, 0
    for per in plan["targets"].values():
        Qsum += max(t.size for t in per)
        for j, tg in enumerate(per):
            if tg.size:
                h = Z2[np.ix_(tg, subsets[j].free)].sum(axis=1)
                mem_w += int(tg.size * subsets[j].free.size + np.count_nonzero(h != 1))
    m1 = plan["W1"].shape[0]
    B, r = sum(plan["bits"]), plan["r"]
    neurons = m1 + X + uj.size + F + Qsum + B + r
    weights = (int(np.count_nonzero(plan["W1"])) + WX + ell + 2 * F + mem_w + Qsum + B)
    e = plan["edges"]
    relu_weights = (e["input_first"] + m1 + 2 * e["first_int"] + e["first_out"]
                    + 4 * e["int_int"] + 2 * e["int_out"])
    return {"neurons": int(neurons), "weights": int(weights), "depth_max": 6 + DX,
            "relu_neurons": int(2 * (neurons - r) + r), "relu_weights": int(relu_weights)}
