"""Active executor: Theorem 1 of seed 000 — a conditional execution synthesized from *any*
:class:`~kernels.model.network.Network` (skip connections included) that computes only the active
neurons over the weights that carry a non-zero value, and reproduces the reference dense sum
(tests/naive.py) bit for bit.  (The fast ``dense`` executor sums GEMM layers in BLAS's order:
``dense`` and ``active`` agree within the dtype's rounding, not bit for bit.)

Definition 1, as implemented (``φ(0) = 0``; the paper's augmented pattern x̄ = [1; x])
-------------------------------------------------------------------------------------------
* A neuron's *inputs* are the units it is connected to by a stored (non-zero) weight, plus the
  constant input 1 of x̄ when its bias is non-zero (a bias is the weight on that constant).
* A neuron is **active** iff at least one of its inputs is non-zero: ``b_j ≠ 0`` or some source unit
  k with ``w_jk ≠ 0`` has ``v_k ≠ 0``.  So a neuron with a non-zero bias is always active.
* An input unit counts as active iff ``x_k ≠ 0`` (layer 0's output configuration); the constant 1
  always.  A **weight is active** iff it is non-zero and connects an active unit to an active neuron
  (the bias of an active neuron is one).  ``ω`` (``active_weights``) counts exactly these, as the
  paper does: a weight from an active neuron whose output is 0 still counts.
* ``computed_weights`` counts the terms the executor actually forms: the non-zero biases of active
  neurons plus the weights whose source output is non-zero (those it multiplies).  For ``φ(0) = 0``
  networks ``computed_weights ≤ active_weights``.

Threshold neurons have ``φ(0) = 1`` and fall outside Definition 1.  The same syntactic rule defines
their activity (so ``active_neurons`` stays comparable), and the executor stays exact: an inactive
threshold neuron's local field is exactly 0, so its output is the constant φ(0) = 1, known from the
input configuration with no operation — but that 1 is non-zero, so its outgoing weights are
multiplied and counted (they are in ``computed_weights``, not in ``active_weights``).

Synthesis (what the executor runs)
----------------------------------
1. Output configuration of layer 0: p tests ``x_k ≠ 0``; every non-zero input scatters ``w·x_k``
   into its successors (outgoing CSC adjacency, built once per network and cached).
2. Layers in order.  The input configuration of layer ℓ is the set of its neurons reached by a
   scatter, plus those with ``b ≠ 0``.  Each such neuron's local field is complete (all its sources
   are earlier), it applies φ, then tests its output (the output-configuration conditioning); if
   non-zero it scatters into later layers — skip connections are just edges to any later layer.
3. Exactness: dense sums ``b_j`` first, then ``w_jk·v_k`` in increasing source id.  Sources are
   processed in increasing id (inputs, then each layer's reached neurons sorted), so every field
   gets the same terms in the same order, minus the products ``w·0``.  In IEEE round-to-nearest,
   adding ±0 changes a partial sum only when that sum is −0; a partial sum that starts at ``+0`` or
   a non-zero bias never is −0, so the fields — and the outputs, signed zeros included — are
   bit-identical to the reference's.  A bias is never stored as −0.0 (:class:`Network` stores
   +0.0 for it): ±0 is zero, so by Definition 1 a zero bias is no input, and a neuron whose
   pre-activation is ±0 because none of its inputs is non-zero is inactive.  (Were a −0.0 bias
   forced into the arrays, outputs would still equal the reference's as numbers; only the sign of
   a zero could differ.)
   Values are rounded to the network's dtype before they are scattered (float32 stays float32).

Cost model (seed 000 §2.2; documented choice)
---------------------------------------------
* ``cmp``: p input tests; ``ACT_CMP`` per computed neuron (ReLU/threshold 1, sign 2, identity 0);
  one output-configuration test per computed neuron that has outgoing weights.
* ``mul``: one per multiplied weight (biases need none).  ``add``: (terms − 1) per computed neuron.
* Bound.  A computed neuron j forms c_j ≥ 1 terms and costs at most c_j + (c_j − 1) + 2 + 1 ≤ 4c_j,
  hence **ops ≤ p + 4·computed_weights ≤ p + 4ω** (the second ≤ where φ(0) = 0) — Theorem 1's
  constant 4; for ReLU-only networks even p + 3ω.  Tests hold every input to both.
  The paper's 4 is reached the same way: a multiplication, an addition, the ReLU comparison and the
  output-configuration test per active weight/neuron.

Faces: :func:`predict` — the timed paths, never counting: one input at a time
(:mod:`kernels.executors.active_push`, the synthesis above over cache-friendly records) or the
batched conditional path (:mod:`kernels.executors.active_batch`), picked by a cost model;
:func:`count` — the counted twin (the loop below, also measuring A and ω); the reference
``active_run`` in tests/naive.py (plain Python, neuron by neuron from the input configuration).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from kernels.executors import active_batch, active_push, dense
from kernels.executors._ops import activate, batch_inputs
from kernels.executors.active_view import view
from kernels.model.network import ACT_CMP, Network


@dataclass(eq=False)
class Plan:
    """What the active executor derives from a network once: the view (outgoing adjacency,
    per-neuron flags), the one-input path's records, the batched path's blocks, and the probe's
    mean operations per input (counted on the first large batch, for :func:`route`)."""

    view: dict
    push: dict
    blocks: dense.Plan
    probe_ops: float | None = None


def make_plan(net: Network) -> Plan:
    """The active executor's plan of ``net`` (its owner keeps it: the Memorizer)."""
    v = view(net)
    return Plan(v, active_push.plan(net, v), dense.make_plan(net))


def _args(net: Network, v: dict):
    return (net.p, net.layer_ptr, net.act, net.bias, net.w_ptr, net.w_src, net.w_val,
            v["out_ptr"], v["out_dst"], v["out_val"], v["layer_of"], v["always"], v["phi0"])


@njit(cache=True, inline="always")
def _order(pend, a0, c, end, state):
    """Put layer [a0, end)'s c queued neurons in increasing id: a linear pass over the layer when
    the queue is dense, else a sort of the queue."""
    if c < 2:
        return
    if c * 16 >= end - a0:
        k = a0
        for j in range(a0, end):
            if state[j] != 0:
                pend[k] = j
                k += 1
    else:
        pend[a0:a0 + c].sort()


@njit(cache=True, inline="always")
def _enqueue(j, layer_of, layer_ptr, pend, cnt, acc, bias):
    """Queue neuron j in its layer's input configuration; its field starts at b_j."""
    ell = layer_of[j]
    pend[layer_ptr[ell - 1] + cnt[ell]] = j
    cnt[ell] += 1
    acc[j] = bias[j]


@njit(cache=True, inline="always")
def _start(always, layer_of, layer_ptr, pend, cnt, acc, bias, state):
    """Neurons in every input configuration: non-zero bias (the constant 1 of x̄), φ(0) ≠ 0."""
    for a in range(always.size):
        j = always[a]
        _enqueue(j, layer_of, layer_ptr, pend, cnt, acc, bias)
        state[j] = 2 if bias[j] != 0 else 1


@njit(cache=True, inline="always")
def _scatter(u, y, out_ptr, out_dst, out_val, state, layer_of, layer_ptr, pend, cnt, acc, bias):
    """Unit u's non-zero output y enters its successors' fields (state 2: active)."""
    for e in range(out_ptr[u], out_ptr[u + 1]):
        k = out_dst[e]
        if state[k] == 0:
            _enqueue(k, layer_of, layer_ptr, pend, cnt, acc, bias)
        state[k] = 2
        acc[k] += out_val[e] * y


@njit(cache=True, inline="always")
def _output(j, act, acc, state, phi0):
    """φ of neuron j's completed field; an inactive neuron outputs φ(0) with no work."""
    if state[j] == 2:
        return activate(act[j], acc[j])
    return phi0[j]


@njit(cache=True, inline="always")
def _reset(L, layer_ptr, pend, cnt, state, units, p):
    """Clear what one input touched, in O(active) rather than O(N)."""
    for ell in range(1, L + 1):
        a0 = layer_ptr[ell - 1]
        for t in range(a0, a0 + cnt[ell]):
            j = pend[t]
            state[j] = 0
            units[p + j] = 0
        cnt[ell] = 0


@njit(cache=True, inline="always")
def _neuron_counts(j, u, state, bias, w_ptr, w_src, units, uact, out_ptr, act, act_cmp):
    """One neuron's counts in :func:`_count_batch`: (mul, add, cmp, computed weights, Definition 1's
    active weights).  Its field is formed from the scattered products (sources with a non-zero
    output) and the bias."""
    live = 0
    from_active = 0
    for e in range(w_ptr[j], w_ptr[j + 1]):
        if units[w_src[e]] != 0:
            live += 1
        if uact[w_src[e]]:
            from_active += 1
    mul = 0
    add = 0
    cmp = 0
    terms = 0
    if state[j] == 2:  # computed
        terms = live + (1 if bias[j] != 0 else 0)
        mul = live
        if terms > 1:
            add = terms - 1
        cmp = act_cmp[act[j]]
        if out_ptr[u + 1] > out_ptr[u]:
            cmp += 1  # the output-configuration test
    return mul, add, cmp, terms, from_active + (1 if bias[j] != 0 else 0)


@njit(cache=True)
def _count_batch(X, p, layer_ptr, act, bias, w_ptr, w_src, w_val, out_ptr, out_dst, out_val,
                 layer_of, always, phi0, act_cmp):
    """Counted twin of :func:`_active_batch` (the same steps, plus counting).  Per input: mul,
    add, cmp, active neurons, active weights (Definition 1), computed weights."""
    m = X.shape[0]
    N = act.size
    L = layer_ptr.size - 1
    counts = np.zeros((m, 6), dtype=np.int64)
    units = np.zeros(p + N, dtype=X.dtype)
    acc = np.zeros(N, dtype=X.dtype)
    state = np.zeros(N, dtype=np.int8)
    uact = np.zeros(p + N, dtype=np.bool_)  # unit is active (inputs: x_k ≠ 0)
    pend = np.empty(N, dtype=np.int64)
    cnt = np.zeros(L + 1, dtype=np.int64)
    for i in range(m):
        mul = 0
        add = 0
        cmp = p  # the p input tests x_k ≠ 0
        n_act = 0
        w_act = 0
        w_cmp = 0
        _start(always, layer_of, layer_ptr, pend, cnt, acc, bias, state)
        for u in range(p):
            y = X[i, u]
            units[u] = y
            uact[u] = y != 0
            if y != 0:
                _scatter(u, y, out_ptr, out_dst, out_val, state, layer_of, layer_ptr, pend, cnt,
                         acc, bias)
        for ell in range(1, L + 1):
            a0 = layer_ptr[ell - 1]
            _order(pend, a0, cnt[ell], layer_ptr[ell], state)
            for t in range(a0, a0 + cnt[ell]):
                j = pend[t]
                u = p + j
                dm, da, dc, dw, wa = _neuron_counts(j, u, state, bias, w_ptr, w_src, units, uact,
                                                    out_ptr, act, act_cmp)
                mul += dm
                add += da
                cmp += dc
                w_cmp += dw
                if state[j] == 2:  # Definition 1: an active neuron and its active weights
                    uact[u] = True
                    n_act += 1
                    w_act += wa
                units[u] = _output(j, act, acc, state, phi0)
                y = units[u]
                if y != 0:
                    _scatter(u, y, out_ptr, out_dst, out_val, state, layer_of, layer_ptr, pend,
                             cnt, acc, bias)
        counts[i, 0] = mul
        counts[i, 1] = add
        counts[i, 2] = cmp
        counts[i, 3] = n_act
        counts[i, 4] = w_act
        counts[i, 5] = w_cmp
        for ell in range(1, L + 1):
            for t in range(layer_ptr[ell - 1], layer_ptr[ell - 1] + cnt[ell]):
                uact[p + pend[t]] = False
        _reset(L, layer_ptr, pend, cnt, state, units, p)
    return counts


# Cost model of the route (ns per input, one thread, development machine): the per-input kernel
# costs about PUSH_NS per counted operation; the batched path about the dense plan's estimate.
PUSH_NS = 2.0
BATCH_MIN = 64  # smaller batches always go one input at a time
PROBE = 8  # inputs counted (once per network) to estimate the operations per input


def route(net: Network, X: np.ndarray, plan: Plan | None = None) -> str:
    """"per-input" or "batched": the cheaper by the cost model above (the probe's mean count is
    kept in the plan, so the choice costs nothing after the first large batch)."""
    if X.shape[0] < BATCH_MIN:
        return "per-input"
    plan = plan or make_plan(net)
    if plan.probe_ops is None:
        plan.probe_ops = float(count(net, X[:PROBE], plan=plan)["total"].mean())
    return "batched" if plan.blocks.est_ns < plan.probe_ops * PUSH_NS else "per-input"


def predict(net: Network, X: np.ndarray, path: str | None = None,
            force: str | None = None, *, plan: Plan | None = None) -> np.ndarray:
    """Active forward pass of a batch ``X`` (m, p) in the network's dtype; returns (m, r).
    ``plan``: :func:`make_plan` of ``net`` (built here when not given); ``path`` = "per-input" or
    "batched" overrides :func:`route`; ``force`` ("gemm"/"csr") fixes the batched path's block
    kinds."""
    X = batch_inputs(net, X)
    plan = plan or make_plan(net)
    path = path or route(net, X, plan)
    if path == "batched":
        return active_batch.predict(net, X, force, pl=plan.blocks)
    if path != "per-input":
        raise ValueError(f"path must be 'per-input' or 'batched'; got {path!r}")
    return active_push.predict(net, X, plan.push)


def predict_one(net: Network, x: np.ndarray, *, plan: Plan | None = None) -> np.ndarray:
    X = batch_inputs(net, np.asarray(x).reshape(1, -1))
    return active_push.predict(net, X, None if plan is None else plan.push)[0]


COUNT_KEYS = ("mul", "add", "cmp", "active_neurons", "active_weights", "computed_weights")


def count(net: Network, X: np.ndarray, *, plan: Plan | None = None) -> dict[str, np.ndarray]:
    """Counted twin: per-input ``mul, add, cmp, total, active_neurons, active_weights`` (Definition
    1, biases included) and ``computed_weights`` (see module docstring)."""
    v = view(net) if plan is None else plan.view
    c = _count_batch(batch_inputs(net, X), *_args(net, v), ACT_CMP)
    out = {k: c[:, i].copy() for i, k in enumerate(COUNT_KEYS)}
    out["total"] = c[:, :3].sum(axis=1)
    return out
