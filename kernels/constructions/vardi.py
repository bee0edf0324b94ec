r"""``vardi`` — Õ(√n) parameters by bit extraction: Vardi, Yehudai & Shamir, "On the optimal
memorization power of ReLU networks", ICLR 2022 (seed 001, arXiv 2110.03187), with its depth-L
(Õ(n/L) parameters) and bit-budget (Õ(n/B) parameters) trade-offs.

Labels are classes: every output column j holds integers {0, …, C_j − 1}; a real-valued output is
refused.  Several outputs replicate the label field of every record (one field per column).

Notation: n points x_i ∈ R^p; c_j = bitlen(C_j − 1) label bits of column j (0 for an all-zero
column, whose output is the constant 0); s records per group, G = ⌈n/s⌉ groups; σ = ReLU.

Stage I — projection to one dimension (layer 1, one neuron, p weights).
    t(x) = σ(w·x + c0),  w = W/2^E (W ∈ Z^p: dyadic weights),  c0 ∈ Z.
A direction u ~ N(0, I_p) is drawn (the best of ``tries`` by spread/gap, γ its smallest gap of
u·x_i); E = ⌈log2(4·max_i ‖x_i‖_1)⌉, so rounding W = rint(λu·2^E) moves every t by ≤ ⅛ whatever
the scale of the data; λ grows geometrically from (4 + ¼)/γ until consecutive projected data are
≥ 4 apart *exactly* (checked in integer arithmetic on the float64 data); c0 puts the smallest at
≥ 8.  Keys v_i = round(t_i) are integers ≥ 8 with |v_i − t_i| ≤ ½, so for i ≠ k, |v_k − t_i| ≥ 3½.
b = bitlen(max v) key bits; b ≈ log2(4·spread/γ) = O(log(n/δ)) for δ-separated data in a ball
(a random direction keeps gaps ≳ δ/n²: the paper's ⌈log R⌉, R = poly(n, r, 1/δ)).

Stage II — group lookup: t ↦ the group's register U_g (2 layers, ≈2G neurons, ≈4G weights).
Sort the data by t and cut them into G consecutive groups of ≤ s.  Between group g (largest t_hi)
and g+1 put the integer boundary β_g = ⌈t_hi⌉ + 2 (t_hi ≤ β_g − 2, t_lo ≥ β_g + 1 since gaps ≥ 4).
  * exact mode (``bits=None``): a_g = σ(t − β_g + 1), e_g = σ(t − β_g); step_g = a_g − e_g is
    exactly 0 for t ≤ β_g − 1 and exactly 1 for t ≥ β_g in rational arithmetic.
  * float mode (``bits=B``): a_g = σ(t − β_g + 1), m_g = σ(1 − a_g); step_g = 1 − m_g — a clamp
    whose outputs are exactly 0/1 in floating point too (a_g is 0, or ≥ 2 − ε, at the data).
    It needs one more layer, and that layer is diagonal (m_g reads a_g only): G stored weights,
    but G² in ``paper_weights``' dense count — hence the pair in exact mode, whose dense count
    stays Õ(√n).
U(t) = U_1 + Σ_g (U_{g+1} − U_g)·step_g, one neuron: layer 3 (exact) / 4 (float).  Its weights
are the register differences, up to m bits each.
Register U_g encodes the group's s records, first in the top bits: record k = key v (b bits), then
label_j (c_j bits) for every column j; ρ = b + Σ c_j bits per record, m = s·ρ bits in all; missing
records (a last short group) are 0 (key 0 never matches: every t ≥ 8).

Stage III — the deep, narrow bit-extraction chain (2 layers per bit, 2m + 2 layers).
Bit i of U (from the top), threshold T_i = 2^{m−1−i}, U_0 = U:
    g_i = σ(T_i − U_i),  h_i = σ(1 − g_i) = [U_i ≥ T_i] ∈ {0, 1} exactly (U_i is an integer),
    U_{i+1} = σ(U_i − T_i h_i)      (a neuron beside g_{i+1}; g_{i+1} inlines U_{i+1}).
Record k starts at bit i0 = kρ; with e = m − i0 − b bits below its key, U_{i0} = v·2^e + rest,
0 ≤ rest < 2^e, so the key test needs no extraction:
    z = U_{i0} − 2^e·t − 2^{e−1};  d1 = σ(z), d2 = σ(−z);  q = σ(2^{e+1} − d1 − d2);
    mis = σ(1 − q).
Match (v = round t): |z| ≤ 2^e(1 + ε) ⇒ q ≥ 2^e(1 − ε) ≥ 1 ⇒ mis = 0.  Any other key:
|v − t| ≥ 3½ − ε ⇒ |z| ≥ 2^e(3 − ε) ⇒ q = 0 ⇒ mis = 1.  (ε bounds the float error of t.)
The key's b bits are then stripped (extracted, unused).  Label bits of column j are accumulated
top bit first into a = C_j·(1 − mis) + label (nodes σ(·), ≥ 0), and prod = σ(a − C_j) is the label
on a match and 0 otherwise (label < C_j).  y_j sums prod over the records: exactly one record of
the input's group matches at a data point, so y_j(x_i) = d_ij.  Outputs: identity neurons.
Every value read more than one layer later is carried by ReLU copies (the network has no skip
connections: t, U, mis, a and y are carried); all carried values are ≥ 0.
Weights of the chain: T_i, 2^e, 2^{e+1} ≤ 2^m — the "large bit complexity" of the paper: the
largest weight has ≈ m = s·ρ bits.

Sizes (exact; :func:`formula_sizes`, checked against the built network in the tests).  With
λ0 = 3 (exact) or 4 (float), J = columns with c_j > 0, a_j = Σ_{j'>j} c_j' and o = b + Σ_{j<last J}
c_j (bits before the last label field):
    depth   = λ0 + 2 + 2m
    weights = p_nz + 2(G−1) + κ(G−1)                  [Stages I, II; κ = 2 exact, 1 float]
              + (2m − 1) + m + 2(m − 2) + m            [g, h, U, U copies]
              + 9s − 2 + (λ0 − 1 + 2(s−1)ρ) + s(2o − 1) [tests, t copies, mis copies]
              + s Σ_J (3c_j − 1)                        [label accumulators and their copies]
              + Σ_J [2(s−2) + 2ρ(s−1) − (s−2) + 4a_j + 2]  [y sums, y copies, outputs]
    neurons = 2 + 2(G−1) + 4m − 2 + 4s + (λ0 − 1 + 2(s−1)ρ) + s(2o − 1)
              + s Σ_J (2c_j − 1) + Σ_J [(s−2) + 2ρ(s−1) − (s−2) + 4a_j] + r
So weights ≈ 4n/s + (10 + 2r)·sρ (per extracted bit: 6 for g, h, U and its copy, 2 for t's
copies, 2 per output for y's, ≈ 1 for mis and the label accumulators), minimised at
s* ≈ √(4n/((10 + 2r)ρ)): weights ≈ 4√((10 + 2r)·n·ρ) = Õ(√n) (ρ = O(log n)); e.g. n = 2^14,
p = 4, 10 classes: ρ = 33, s = 13, 10 211 weights.  s is chosen by minimising the exact formula
over all s (ties: the smaller s).
s = 1 ("direct" lookup, no chain): the groups are the maximal runs of equal label vectors; the
outputs read the steps directly: depth 3 (exact) / 4 (float), weights p_nz + 2(G−1) +
κ·Σ_j #{boundaries where column j changes}.

Trade-offs (the paper's Theorems; ``depth=L`` and ``bits=B`` constrain the same s):
  * depth L: the chain has 2sρ + O(1) layers, so s ≤ (L − λ0 − 2)/(2ρ) and weights ≈ 4n/s =
    Õ(n/L) — optimal up to logs by the Bartlett et al. VC bound; for L ≥ depth(s*) nothing changes.
    L < 3 (4 in float mode) cannot memorize anything non-constant and is refused.
  * bits B (float mode): every weight and bias must have ≤ B bits, so the register holds
    m = sρ ≤ B bits: s ≤ B/ρ and weights ≈ 4nρ/B = Õ(n/B) — the bit-complexity theorem.  B < the
    projection's bits (≈ b) is refused: the data are not separated enough for that budget.
    With B ≤ 49 (and the float error of t below ⅛) the network is also exact in the Numba float64
    kernels (``dense``/``active``): every integer met is < 2^50 and the non-integer t enters only
    through the margins above.  The float64 budget buys little: ρ ≈ b + Σc_j is already 20–40 bits,
    so s ≤ 2 — which is the paper's point: sublinear memorization needs many bits per weight.

Executors: ``exact`` (kernels.executors.exact: Python integers, any size; ≈ 0.17 µs per weight per
input, so ≈ 1.7 ms per input at n = 2^14) always; ``dense`` and ``active`` for ``bits=B``
networks that are float64-exact as above.  ``info`` reports s, G, b, ρ, the register bits m, the
bit width of the largest weight or bias (``weight_bits``) and the formula sizes.
"""

from __future__ import annotations

import math
import sys
from fractions import Fraction

import numpy as np

from kernels.constructions.bit_extraction import Circuit, extraction_chain, registers
from kernels.constructions.options import Range
from kernels.executors.exact import scaled_inputs
from kernels.memorizer import Memorizer
from kernels.model.data import Dataset, class_labels
from kernels.model.exact import value_bits
from kernels.model.network import check_dtype

NAME = "vardi"
SEED = "seed 001 (Vardi, Yehudai & Shamir, ICLR 2022)"
SUMMARY = ("projection + group lookup + deep bit-extraction chain: Õ(√n) weights of Õ(√n) bits; "
           "depth-L and bit-budget variants; classes")
NONNEGATIVE = True
EXECUTORS = ("exact", "dense", "active")
OPTIONS = {  # checked, and every default filled in, by the registry before build
    "bits": (int, Range(2), None,
             "float mode: at most this many bits per weight (none: exact integers)"),
    "depth": (int, Range(1), None, "at most this many layers"),
    "group_size": (int, Range(1), None, "records per group (none: chosen)"),
    "tries": (int, Range(1, 1024), 8, "random projection directions tried"),
}

MIN_GAP = 4  # projected data are at least this far apart
MIN_T = 8  # smallest projected datum
FLOAT_BITS = 49  # float64-exact budget (see the module docstring)


def check_group_size(n: int, group_size: int | None) -> None:
    """Refuse, from the numbers alone, a group of more records than there are points."""
    if group_size is not None and group_size > n:
        raise ValueError(f"vardi: group_size={group_size} exceeds the n={n} points (a group holds "
                         "at most n records)")


def estimate_bytes(n: int, p: int, r: int, *, group_size: int | None, **_) -> int:
    """Bytes of a build; a chosen ``group_size`` s adds its registers' circuit (≈ 4·s·ρ neurons
    of Python objects, ρ ≲ log2 n + 64 bits a record)."""
    check_group_size(n, group_size)
    s = group_size or 1
    return int(8 * n * (p + r) * 16 + 4000 * math.sqrt(n * (1 + r)) * math.log2(n + 2) + 1e6
               + 2000 * s * (math.log2(n + 2) + 64) * r)


# ---- labels ------------------------------------------------------------------------------------
def _labels(ds: Dataset):
    Y = class_labels(ds, NAME)
    top = Y.max(axis=0)
    return Y, [int(v).bit_length() for v in top], [int(v) + 1 for v in top]


# ---- Stage I -------------------------------------------------------------------------------------
def project(X: np.ndarray, seed: int = 0, tries: int = 8) -> dict:
    """Direction w = W/2^E (W integer, dyadic weights) and integer offset c0 with exact projected
    gaps ≥ MIN_GAP (module docstring)."""
    n, p = X.shape
    rng = np.random.default_rng(seed)
    best = None
    for _ in range(max(1, tries)):
        u = rng.standard_normal(p)
        z = np.sort(X @ u)
        gap = float(np.diff(z).min()) if n > 1 else 1.0
        if gap <= 0:
            continue
        score = (z[-1] - z[0]) / gap
        if best is None or score < best[0]:
            best = (score, u, gap)
    if best is None:
        raise ValueError("vardi: no direction separates the projected points (near-duplicate "
                         "inputs); the data are not separated enough")
    _, u, gap = best
    Xi, Fx = scaled_inputs(X)
    M1 = float(np.abs(X).sum(axis=1).max())
    E = math.ceil(math.log2(4 * M1)) if M1 > 0 else 0  # rounding W/2^E moves t by <= 1/8
    gm, ge = math.frexp(gap)  # λ = (MIN_GAP + ¼)/gap as lm·2^−ge: no overflow for subnormal gaps
    lm = (MIN_GAP + 0.25) / gm
    for _ in range(100):
        W = [int(np.rint(math.ldexp(lm * v, E - ge))) for v in u]
        T = Xi.dot(np.array(W, dtype=object))  # exact projections · 2^(Fx + E)
        F = Fx + E
        if F < 0:
            T = np.array([int(v) << -F for v in T], dtype=object)
            F = 0
        Ts = sorted(T)
        if all(b - a >= MIN_GAP << F for a, b in zip(Ts, Ts[1:], strict=False)):
            break
        lm *= 1.05
    else:
        raise ValueError("vardi: could not find a projection with separated values")
    w = [Fraction(v, 1 << E) if E > 0 else v << -E for v in W]
    w = [int(v) if isinstance(v, Fraction) and v.denominator == 1 else v for v in w]
    if max(abs(v) for v in w) > sys.float_info.max:  # subnormal-scale gaps: weights ≈ 1/gap
        raise ValueError(f"vardi: the projection weights overflow float64 (the projected gaps "
                         f"are {gap:.3g}); scale the inputs up")
    c0 = MIN_T - (int(min(T)) >> F)
    Tt = np.array([int(v) + (c0 << F) for v in T], dtype=object)  # t·2^F exactly
    keys = np.array([(2 * v + (1 << F)) >> (F + 1) for v in Tt], dtype=object)  # round(t)
    order = np.array(sorted(range(n), key=lambda i: Tt[i]), dtype=np.int64)
    S = float(np.max(np.abs(X) @ np.abs(np.array([float(v) for v in w])))) + abs(c0)
    return {"w": w, "c0": int(c0), "F": F, "t_scaled": Tt, "keys": keys, "order": order,
            "key_bits": int(max(keys)).bit_length(), "gap_u": gap,
            "lambda": float(np.ldexp(lm, -ge)),
            "input_scale_exp": E, "t_err": (2 * p + 1) * S * 2.0**-53}


def _ceil_t(v: int, F: int) -> int:
    return -((-v) >> F)


# ---- sizes ---------------------------------------------------------------------------------------
def formula_sizes(*, p_nz: int, G: int, s: int, b: int, cbits: list[int], r: int, float_mode: bool,
                  changes: list[int] | None = None) -> dict:
    """Neurons, weights and depth of the built network from its parameters (module docstring).
    ``changes[j]`` (direct mode, s = 1): the number of group boundaries where column j changes."""
    lam0 = 4 if float_mode else 3
    kappa = 1 if float_mode else 2
    if s == 1:
        if G == 1:
            return {"neurons": r, "weights": 0, "depth": 1}
        return {"neurons": 1 + 2 * (G - 1) + r,
                "weights": p_nz + 2 * (G - 1) + kappa * sum(changes),
                "depth": lam0}
    J = [j for j, c in enumerate(cbits) if c > 0]
    rho = b + sum(cbits)
    m = s * rho
    after = {j: sum(cbits[j + 1:]) for j in J}
    o = rho - cbits[J[-1]]
    t_copies = lam0 - 1 + 2 * (s - 1) * rho
    y_copies = sum(2 * rho * (s - 1) - (s - 2) + 4 * after[j] for j in J)
    weights = (p_nz + 2 * (G - 1) + kappa * (G - 1)
               + (2 * m - 1) + m + 2 * (m - 2) + m
               + 9 * s - 2 + t_copies + s * (2 * o - 1)
               + s * sum(3 * cbits[j] - 1 for j in J)
               + sum(2 * (s - 2) + 2 for _ in J) + y_copies)
    neurons = (2 + 2 * (G - 1) + 4 * m - 2 + 4 * s + t_copies + s * (2 * o - 1)
               + s * sum(2 * cbits[j] - 1 for j in J) + len(J) * (s - 2) + y_copies + r)
    return {"neurons": neurons, "weights": weights, "depth": lam0 + 2 + 2 * m}


def _runs(Ys: np.ndarray) -> list[np.ndarray]:
    """Maximal runs of equal label rows in sorted order (the direct mode's groups)."""
    if len(Ys) == 0:
        return []
    change = np.flatnonzero(np.any(Ys[1:] != Ys[:-1], axis=1)) + 1
    return np.split(np.arange(len(Ys)), change)


def choose(n: int, *, p_nz: int, b: int, cbits: list[int], r: int, float_mode: bool,
           changes: list[int], G_direct: int, proj_bits: int, bits: int | None,
           depth: int | None, group_size: int | None) -> tuple[int, dict]:
    """The records per group s (1 = direct lookup) minimising the weights under the constraints."""
    rho = b + sum(cbits)
    if bits is not None and proj_bits > bits:
        raise ValueError(f"vardi with bits={bits}: the data are not separated enough for that "
                         f"budget — the projection and its keys need {proj_bits}-bit weights")
    direct = formula_sizes(p_nz=p_nz, G=G_direct, s=1, b=b, cbits=cbits, r=r,
                           float_mode=float_mode, changes=changes)
    cands = [(1, direct)]
    if any(cbits) and n > 1:
        for s in range(2, n + 1) if group_size is None else range(max(2, group_size),
                                                                  group_size + 1):
            f = formula_sizes(p_nz=p_nz, G=-(-n // s), s=s, b=b, cbits=cbits, r=r,
                              float_mode=float_mode)
            if (bits is not None and s * rho > bits) or (depth is not None and f["depth"] > depth):
                break  # both grow with s
            cands.append((s, f))
    if depth is not None:
        cands = [c for c in cands if c[1]["depth"] <= depth]
        if not cands:
            raise ValueError(f"vardi with depth={depth}: too shallow — the smallest network "
                             f"has depth {direct['depth']}")
    if group_size is not None:
        cands = [c for c in cands if c[0] == group_size]
        if not cands:
            raise ValueError(f"vardi: group_size={group_size} does not fit the requested "
                             f"bits/depth (records need {rho} bits, {2 * rho} layers each)")
    return min(cands, key=lambda c: (c[1]["weights"], c[0]))


# ---- build ---------------------------------------------------------------------------------------
def build(ds: Dataset, *, seed: int, dtype, bits: int | None, depth: int | None,
          group_size: int | None, tries: int) -> Memorizer:
    """Stage I (projection t), the choice of s (the exact size formula under the depth/bit
    budgets), Stage II (group steps), then the outputs: read from the steps (s = 1) or from
    Stage III's bit-extraction chain over the group registers (module docstring)."""
    if check_dtype(dtype) != np.float64:
        raise ValueError("vardi runs in exact integers or float64 (bits=B); float32 is not "
                         "supported")
    check_group_size(ds.n, group_size)
    float_mode = bits is not None
    Y, cbits, classes = _labels(ds)
    n, p = ds.X.shape
    pr = project(ds.X, seed, tries)
    Ys = Y[pr["order"]]
    runs = _runs(Ys)
    s, plan, proj_bits = _choose_group_size(pr, Ys, runs, cbits, bits=bits, depth=depth,
                                            group_size=group_size)
    rho = pr["key_bits"] + sum(cbits)
    groups = runs if s == 1 else np.array_split(np.arange(n), -(-n // s))
    c = Circuit(p)
    t, steps = _group_steps(c, pr, groups, float_mode)
    if s == 1:
        for j in range(ds.r):
            c.output(*_lookup(steps, [int(Ys[g[0], j]) for g in groups], float_mode))
    else:
        regs = registers(groups, pr["order"], pr["keys"], Y, s, pr["key_bits"], cbits)
        _extraction_outputs(c, t, steps, regs, pr["key_bits"],
                            s=s, cbits=cbits, classes=classes, float_mode=float_mode)
    enet = c.layout().network
    wbits = enet.weight_bits()
    if bits is not None and wbits > bits:  # pragma: no cover - guarded by choose()
        raise AssertionError(f"vardi: a weight has {wbits} bits > bits={bits}")
    executors, net, why = _executors(enet, wbits, pr["t_err"], float_mode)
    info = {
        "mode": "float" if float_mode else "exact", "bits_requested": bits,
        "depth_requested": depth, "group_size": s, "groups": len(groups),
        "lookup": "direct" if s == 1 else "bit-extraction",
        "key_bits": pr["key_bits"], "label_bits": cbits, "classes": classes, "record_bits": rho,
        "register_bits": s * rho if s > 1 else 0,
        "weight_bits": wbits, "projection_bits": proj_bits,
        "projection_gap": pr["gap_u"], "projection_scale": pr["lambda"],
        "projection_float_error": pr["t_err"],
        "dense_unavailable": why,
        "formula": plan,
        "assumptions": "class labels (non-negative integers); distinct inputs, separated enough "
                       "that an integer projection with gaps >= 4 exists",
    }
    return Memorizer(NAME, ds, network=net, exact_network=enet, executors=executors,
                     dtype="float64", info=info, bounds=_bounds)


def _choose_group_size(pr: dict, Ys, runs, cbits, *, bits, depth, group_size):
    """s and its size formula (:func:`choose`) for the projected, sorted labels Ys; also the bit
    width of the projection's weights and of the largest boundary."""
    w, c0, F, Tt, order = pr["w"], pr["c0"], pr["F"], pr["t_scaled"], pr["order"]
    n, r = Ys.shape
    starts = [int(g[0]) for g in runs[1:]]
    changes = [int(sum(Ys[i, j] != Ys[i - 1, j] for i in starts)) for j in range(r)]
    top_t = _ceil_t(int(Tt[order[-1]]), F) + 3
    proj_bits = max(value_bits(v) for v in (*w, c0, top_t))
    s, plan = choose(n, p_nz=sum(1 for v in w if v != 0), b=pr["key_bits"], cbits=cbits, r=r,
                     float_mode=bits is not None, changes=changes, G_direct=len(runs),
                     proj_bits=proj_bits, bits=bits, depth=depth, group_size=group_size)
    return s, plan, proj_bits


def _group_steps(c: Circuit, pr: dict, groups, float_mode: bool):
    """Stage I's neuron t = σ(w·x + c0) and Stage II's steps: per boundary β_g the (node, sign)
    terms of ±step_g (a_g − e_g exact; 1 − m_g float)."""
    F, Tt, order = pr["F"], pr["t_scaled"], pr["order"]
    beta = [_ceil_t(int(Tt[order[g[-1]]]), F) + 2 for g in groups[:-1]]
    t = c.relu(dict(enumerate(pr["w"])), pr["c0"])
    steps = []
    for bg in beta:
        a = c.relu({t: 1}, 1 - bg)
        steps.append([(c.relu({a: -1}, 1), -1)] if float_mode  # step = 1 − m_g
                     else [(a, 1), (c.relu({t: 1}, -bg), -1)])  # step = a_g − e_g
    return t, steps


def _lookup(steps, values: list[int], float_mode: bool) -> tuple[dict, int]:
    """Terms and bias of V(t) = values[g] on group g (Stage II)."""
    terms = {node: sign * (values[g + 1] - values[g])
             for g, st in enumerate(steps) for node, sign in st}
    return terms, values[-1] if float_mode else values[0]


def _extraction_outputs(c: Circuit, t, steps, regs, key_bits: int, *, s, cbits, classes,
                        float_mode: bool) -> None:
    """U(t) from the registers (Stage II), then Stage III's chain and one output per column."""
    terms, bias = _lookup(steps, regs, float_mode)
    U0 = c.relu(terms, bias, min_level=4 if float_mode else 3)
    cols = extraction_chain(c, t, U0, s=s, key_bits=key_bits, label_bits=cbits, classes=classes)
    for y, last in cols:
        c.output({} if last is None else ({last: 1} if y is None else {y: 1, last: 1}))


def _executors(enet, wbits: int, t_err: float, float_mode: bool):
    """(executors, float network or None, why dense is unavailable or None)."""
    executors, net, why = ("exact",), None, f"bits=None: weights of up to {wbits} bits"
    if float_mode:
        if wbits > FLOAT_BITS:
            why = f"weights of {wbits} bits > {FLOAT_BITS}"
        elif t_err > 0.125:
            why = f"float error of the projection {t_err:.3g} > 1/8"
        else:
            net, why = enet.to_float(), None
            executors = ("dense", "active", "exact")
    return executors, net, why


def _bounds(m: Memorizer) -> dict:
    n = m.dataset.n
    out = {"vc_weights_floor": float(math.sqrt(n))}
    if m.info.get("depth_requested"):
        out["depth_weights_floor"] = float(n / m.info["depth_requested"])
    if m.info.get("bits_requested"):
        out["bits_weights_floor"] = float(n / m.info["bits_requested"])
    return out
