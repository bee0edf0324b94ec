"""``sign-cube`` — the sign network that memorizes any Boolean function on {±1}^M (seed 003;
Shalev-Shwartz & Ben-David, *Understanding Machine Learning*, Claim 20.1).

Construction.  For inputs x ∈ {±1}^M and a vertex y ∈ {±1}^M, yᵀx = M iff x = y, and yᵀx ≤ M − 2
otherwise.  So the hidden neuron

    g_y(x) = sign(yᵀx − M + 1)

is +1 at x = y and −1 everywhere else on the cube (its local field is odd, never 0).  With P_k the
dataset vertices whose k-th output is "true" and k_P = |P_k|, the output neuron

    o_k(x) = sign(Σ_{y∈P_k} g_y(x) + k_P − 1)

has local field +1 when x ∈ P_k (one +1, k_P − 1 terms −1) and −1 otherwise (k_P terms −1).

Size.  One hidden neuron per dataset vertex (n ≤ 2^M; the full cube gives the seed's 2^M hidden
neurons), M weights each; r output neurons with |P_k| weights each.  Depth 2.  Dense operations
per input: n·M multiplications, n(M − 1) + n additions (the bias −M + 1), 2n comparisons (sign),
plus the output layer.

Assumptions (refused otherwise, with a one-line error): every input is a vertex of {±1}^M; every
output column is Boolean, with values in {−1, +1} (sign output, as in the seed) or in {0, 1} (the
output neuron is the threshold 1[s ≥ 0] instead of sign, which maps the same local field to 0/1).
"""

from __future__ import annotations

import numpy as np

from kernels.memorizer import Memorizer
from kernels.model.data import Dataset
from kernels.model.network import Layer, Network

NAME = "sign-cube"
SEED = "seed 003 (Shalev-Shwartz & Ben-David, Claim 20.1)"
SUMMARY = "2-layer sign network memorizing any Boolean function on {±1}^M: 2^M+1 neurons"
NONNEGATIVE = False
EXECUTORS = ("dense",)
OPTIONS: dict = {}  # none (validated by kernels.constructions.options)


def estimate_bytes(n: int, p: int, r: int, **_) -> int:
    return 16 * (n * p + n * r) * 4 + 16 * n * p * 3


def _check(ds: Dataset) -> str:
    bad = np.flatnonzero(np.any(np.abs(ds.X) != 1.0, axis=1))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"sign-cube needs inputs in {{±1}}^M; row {i} has a value outside ±1")
    vals = np.unique(ds.D)
    if set(vals) <= {-1.0, 1.0}:
        return "sign"
    if set(vals) <= {0.0, 1.0}:
        return "threshold"
    raise ValueError("sign-cube memorizes Boolean outputs: D must take values in {-1, 1} or in "
                     f"{{0, 1}} (found {vals[:4].tolist()}{'...' if vals.size > 4 else ''})")


def build(ds: Dataset, *, seed: int, dtype) -> Memorizer:
    out_act = _check(ds)
    n, M = ds.X.shape
    hidden = Layer(ds.X, np.full(n, 1.0 - M), "sign")
    positive = ds.D > 0  # (n, r): which vertices make output k true
    W_out = positive.T.astype(np.float64)
    output = Layer(W_out, positive.sum(axis=0) - 1.0, out_act)
    net = Network.from_layers(M, [hidden, output])
    return Memorizer(NAME, ds, network=net, executors=EXECUTORS, dtype=dtype,
                     info={"assumptions": "inputs in {±1}^M, Boolean outputs",
                           "output_activation": out_act, "hidden_neurons": n,
                           "cube_vertices": 2**M if M < 63 else float(2**M)})
