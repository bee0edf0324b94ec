"""Exact-arithmetic executor: a :class:`~kernels.model.network.Network` whose weights and biases are
Python integers (or :class:`fractions.Fraction`), evaluated with no rounding at all.

Why.  Some constructions (``vardi``: Õ(√n) parameters by bit extraction) need weights with hundreds
of bits — far beyond float64's 53-bit significand — so no float kernel can run them exactly.  This
executor evaluates them in exact rational arithmetic: a float64 input is an exact dyadic rational,
so the whole forward pass is exact and the outputs are rounded to float64 only at the very end.

How.  A float64 batch ``X`` is turned into integers ``X · 2^F`` with one common ``F`` (the largest
number of fractional bits any entry has; exact, via ``float.as_integer_ratio``).  A ReLU/identity
network is positively homogeneous in (inputs, biases) jointly, so evaluating it on ``X · 2^F`` with
every bias multiplied by ``2^F`` gives ``2^F · f(X)``, all in Python integers — when every weight
is an integer, except that weights from the inputs and biases may be dyadic (k/2^E: the inputs'
weights are then multiplied by 2^E and F grows by E).  Otherwise the batch is evaluated in
Fractions.  Units
are NumPy object arrays over the batch, so each neuron costs a few NumPy calls whatever the batch
size; a ReLU copy neuron (one weight 1, no bias, reading a ReLU unit, which is ≥ 0) is an alias of
its source and costs no arithmetic at all.

Units no later neuron reads are released as soon as possible, and batches are cut into chunks of
4096 rows, so memory stays at a few layers × batch of integers.

Speed (measured on this machine, ``vardi`` on sphere data, p = 4, 10 classes): ≈ 0.17 µs per stored
weight per input in the integer path (integers of a few hundred bits) — n = 2^12 (4 823 weights):
0.8 ms per input; n = 2^14 (10 211 weights): 1.7 ms per input, ≈ 27 s to recall all 16 384 points.
That is ~10⁴× slower than the float64 ``dense`` kernel per weight; the Fraction path is slower
still.  Threshold and sign activations are supported (exact comparisons) for completeness.

Cost model: identical to the dense executor (seed 000 §2.2) — every stored weight is one
multiplication, (terms − 1) additions per neuron, ``ACT_CMP`` comparisons per activation — so
:func:`count` returns the dense closed form for every input.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from kernels.executors._ops import activate_np
from kernels.executors.dense import analytic_cost
from kernels.model.exact import ExactNetwork


def scaled_inputs(X: np.ndarray):
    """(integer object array X·2^F, F) with the least common F ≥ 0 that makes every entry exact."""
    ratios = [float(v).as_integer_ratio() for v in X.ravel()]
    F = max((d.bit_length() - 1 for _, d in ratios), default=0)
    out = np.empty(X.size, dtype=object)
    out[:] = [num << (F - (d.bit_length() - 1)) for num, d in ratios]
    return out.reshape(X.shape), F


def make_plan(net: ExactNetwork) -> list[list[int]]:
    """The executor's plan: free[j], the units no neuron after j reads (released once neuron j is
    computed)."""
    n_units = net.p + net.n_neurons
    last = np.full(n_units, -1, dtype=np.int64)
    rows = np.repeat(np.arange(net.n_neurons), np.diff(net.w_ptr))
    np.maximum.at(last, net.w_src, rows)
    last[n_units - net.r:] = net.n_neurons  # outputs are kept
    free: list[list[int]] = [[] for _ in range(net.n_neurons)]
    for u in np.flatnonzero(last >= 0):
        if last[u] < net.n_neurons:
            free[int(last[u])].append(int(u))
    return free


def forward(net: ExactNetwork, X: np.ndarray, chunk: int = 4096, *,
            plan: list[list[int]] | None = None) -> np.ndarray:
    """Exact outputs (m, r) as an object array of ints/Fractions (batches of ``chunk`` rows;
    ``plan``: :func:`make_plan` of ``net``, built here when not given)."""
    X = np.asarray(X, dtype=np.float64)
    free = make_plan(net) if plan is None else plan
    if len(X) > chunk:
        return np.concatenate([forward(net, X[i:i + chunk], chunk, plan=free)
                               for i in range(0, len(X), chunk)])
    m, p = X.shape
    E = net.input_scale
    if E is not None:  # integers: inputs·2^Fx, input weights·2^E, biases·2^(Fx+E)
        Xs, Fx = scaled_inputs(X)
        scale = 1 << (Fx + E)
        biases = [int(v * scale) for v in net.bias]
        w_val = [int(v * (1 << E)) if src < p else v
                 for v, src in zip(net.w_val, net.w_src, strict=True)]
    else:
        Xs = np.empty(X.shape, dtype=object)
        Xs[:] = [[Fraction(v) for v in row] for row in X]
        scale, biases, w_val = 1, list(net.bias), list(net.w_val)
    units: list = [Xs[:, k].copy() for k in range(p)] + [None] * net.n_neurons
    nonneg = [False] * (p + net.n_neurons)  # units known to be >= 0 (ReLU outputs)
    w_ptr, w_src, act = net.w_ptr.tolist(), net.w_src.tolist(), net.act.tolist()
    zero = np.zeros(m, dtype=object)
    for j in range(net.n_neurons):
        a, b, code = w_ptr[j], w_ptr[j + 1], act[j]
        if b - a == 1 and code == 1 and biases[j] == 0 and w_val[a] == 1 and nonneg[w_src[a]]:
            units[p + j] = units[w_src[a]]  # ReLU copy of a non-negative unit: an alias
            nonneg[p + j] = True
        else:
            s = None
            for t in range(a, b):
                w, v = w_val[t], units[w_src[t]]
                if s is None:
                    s = v if w == 1 else v * w
                elif w == 1:
                    s = s + v
                elif w == -1:
                    s = s - v
                else:
                    s = s + v * w
            if s is None:
                s = zero + biases[j]
            elif biases[j] != 0:
                s = s + biases[j]
            units[p + j] = activate_np(code, s)
            nonneg[p + j] = code in (1, 2)
        for u in free[j]:
            units[u] = None
    out = np.empty((m, net.r), dtype=object)
    for k in range(net.r):
        col = units[p + net.n_neurons - net.r + k]
        out[:, k] = [Fraction(v, scale) if scale != 1 else v for v in col]
    return out


def predict(net: ExactNetwork, X: np.ndarray, *, plan: list[list[int]] | None = None) -> np.ndarray:
    """Exact forward pass, outputs rounded once to float64: (m, r)."""
    Y = forward(net, X, plan=plan)
    return np.array([[float(v) for v in row] for row in Y], dtype=np.float64).reshape(Y.shape)


def count(net: ExactNetwork, X: np.ndarray, *, plan=None) -> dict[str, np.ndarray]:
    """Per-input ``mul, add, cmp, total`` under the dense cost model (the same for every input)."""
    c = analytic_cost(net)
    m = np.asarray(X).reshape(-1, net.p).shape[0]
    return {k: np.full(m, c[k], dtype=np.int64) for k in ("mul", "add", "cmp", "total")}
