"""The active executor's timed per-input kernel (Theorem 1 of seed 000), laid out so that its time
follows its counted operations.

The synthesis is :mod:`kernels.executors.active`'s (read its docstring): inputs scatter into their
successors, layers run in order, each reached neuron completes its field, applies φ, and scatters a
non-zero output.  What differs is only where the bytes live — the counted twin and the reference
still read the plain arrays of ``active_view.view``:

* per neuron one record (field/output ``acc``, ``stamp``, bias, out-edge range, activation): a
  scatter and the later evaluation touch one cache line, not eight arrays;
* per out-edge one record (target, its layer, weight), contiguous per source;
* stamps replace resets: a neuron is reached in the current input iff its stamp is ≥ 2e (e the
  input's epoch; 2e + 1: it has an input, i.e. it is active), so nothing of width N is cleared per
  input; the records live in a workspace kept on the network, one per thread, allocated once;
* a neuron first reached by a scatter has b = +0 (every neuron with b ≠ 0 or φ(0) ≠ 0 is queued
  at the start; no bias is stored as −0.0), so its field starts at +0, the reference's first
  term; a queued neuron without input keeps its field b = +0 and φ(+0) = φ(0) needs no branch.

Each layer's queue is put in increasing id (a scan of the stamps over the queue's span when that
is short, an insertion sort when the queue is short, else a sort) so every field is summed in the
reference's order: outputs are bit-identical to ``tests/naive.py``'s ``active``.
"""

from __future__ import annotations

import threading

import numpy as np
from numba import njit

from kernels.executors._ops import PAGE_BYTES, activate, aligned, prefetch, scratch
from kernels.executors.active_view import view
from kernels.model.network import Network


def _dtypes(dt: np.dtype):
    """32-byte neuron records (one cache line holds two; the array is line-aligned), the neuron's
    layer among them, and packed 12- or 8-byte edge records (target, weight): a dense layer's
    edges are the one-input path's traffic, and at 16 bytes those of a 256-wide, 3-layer float64
    network (2.1 MB) passed this machine's 2 MiB L2 (its one-input latency, three processes
    each: 137.6-147.5 us at 16 bytes, 129.5-143.9 us at 12)."""
    f = np.dtype(dt).itemsize
    rec = np.dtype({"names": ["acc", "bias", "stamp", "lo", "hi", "act", "lay"],
                    "formats": [dt, dt, np.int32, np.int32, np.int32, np.int8, np.int16],
                    "offsets": [0, f, 2 * f, 2 * f + 4, 2 * f + 8, 2 * f + 12, 2 * f + 14],
                    "itemsize": 32})
    edge = np.dtype([("dst", np.int32), ("val", dt)], align=False)
    return rec, edge


def plan(net: Network, v: dict | None = None) -> dict:
    """The record template, the edge records and a per-thread workspace slot, built from the
    active view ``v`` of ``net`` (built here when not given); the active executor's plan keeps
    it."""
    v = view(net) if v is None else v
    if net.depth > np.iinfo(np.int16).max:
        raise ValueError(f"the one-input path keeps a neuron's layer in 16 bits; this network "
                         f"has {net.depth} layers")
    rec_t, edge_t = _dtypes(net.w_val.dtype)
    p = net.p
    rec = aligned(net.n_neurons * 32, np.uint8).view(rec_t)
    rec["bias"], rec["stamp"] = net.bias, -1
    rec["lo"], rec["hi"] = v["out_ptr"][p:-1], v["out_ptr"][p + 1:]
    rec["act"], rec["lay"] = net.act, v["layer_of"]
    edge = aligned(v["out_dst"].size * edge_t.itemsize, np.uint8, PAGE_BYTES).view(edge_t)
    edge["dst"], edge["val"] = v["out_dst"], v["out_val"]
    return {"rec": rec, "edge": edge, "in_ptr": v["out_ptr"][:p + 1].copy(),
            "always": v["always"], "layer_ptr": net.layer_ptr, "r": net.r,
            "threads": threading.local()}


def workspace(net: Network, pl: dict) -> tuple:
    """This thread's (records, queue, per-layer counts, epoch) for plan ``pl`` (kept in it)."""
    ws = getattr(pl["threads"], "ws", None)
    if ws is None:
        # page-aligned, as the batch paths' buffers (dense.forward): where the heap put them set
        # which reads wait on which writes (4 KiB aliasing), differently in every process
        rec = aligned(pl["rec"].nbytes, np.uint8, PAGE_BYTES).view(pl["rec"].dtype)
        rec[:] = pl["rec"]
        ws = pl["threads"].ws = (rec, scratch(net.n_neurons, np.int64),
                                 np.zeros(net.depth + 1, np.int64), np.zeros(1, np.int64))
    return ws


@njit(cache=True, inline="always")
def _scatter(lo, hi, y, edge, rec, lp, pend, cnt, e2):
    """A non-zero output y enters its successors' fields; a first reach queues the target with
    its field at +0 (its bias is +0, see the module docstring)."""
    for q in range(lo, hi):
        ed = edge[q]
        d = rec[ed.dst]
        if d.stamp < e2:
            ell = d.lay
            pend[lp[ell - 1] + cnt[ell]] = ed.dst
            cnt[ell] += 1
            d.acc = 0
            prefetch(edge, d.lo)  # its out-edges, read when its layer runs
        d.stamp = e2 + 1
        d.acc += ed.val * y


@njit(cache=True, inline="always")
def _order(pend, a0, c, rec, e2):
    """The layer's c queued ids in increasing order: a scan of the stamps over their span when it
    is short (scatters from a few sources interleave a few sorted runs: the common case), else an
    insertion sort when the queue is short, else a sort."""
    if c < 2:
        return
    lo = hi = pend[a0]
    for t in range(a0 + 1, a0 + c):
        lo = min(lo, pend[t])
        hi = max(hi, pend[t])
    if hi - lo < 4 * c:  # every reached id in [lo, hi] is queued: read them in order
        k = a0  # branch-free: fewer than c reached ids lie below any j < hi, so k < a0 + c
        for j in range(lo, hi + 1):
            pend[k] = j
            k += rec[j].stamp >= e2
    elif c <= 64:
        for s in range(a0 + 1, a0 + c):
            v = pend[s]
            t = s - 1
            while t >= a0 and pend[t] > v:
                pend[t + 1] = pend[t]
                t -= 1
            pend[t + 1] = v
    else:
        pend[a0:a0 + c].sort()


@njit(cache=True, inline="always")
def _value(u, x, p, rec, e2, z):
    """Unit u's output in the current input (an unreached neuron outputs z = +0)."""
    if u < p:
        return x[u]
    d = rec[u - p]
    return d.acc if d.stamp >= e2 else z


@njit(cache=True, inline="always")
def _start(always, rec, lp, pend, cnt, e2):
    """Neurons in every input configuration (b ≠ 0, φ(0) ≠ 0 or a −0.0 bias), in id order."""
    ell = 1
    for a in range(always.size):
        j = always[a]
        while j >= lp[ell]:
            ell += 1
        pend[lp[ell - 1] + cnt[ell]] = j
        cnt[ell] += 1
        d = rec[j]
        d.acc = d.bias
        d.stamp = e2 + 1 if d.bias != 0 else e2


@njit(cache=True)
def _run(X, rec, edge, in_ptr, always, lp, r, pend, cnt, epoch):
    m, p = X.shape
    N = rec.size
    out = np.empty((m, r), X.dtype)
    z = np.zeros(1, X.dtype)[0]
    for i in range(m):
        x = X[i]
        epoch[0] += 1
        e2 = 2 * epoch[0]
        cnt[:] = 0
        _start(always, rec, lp, pend, cnt, e2)
        for u in range(p):
            if x[u] != 0:
                _scatter(in_ptr[u], in_ptr[u + 1], x[u], edge, rec, lp, pend, cnt, e2)
        for ell in range(1, lp.size):
            a0 = lp[ell - 1]
            _order(pend, a0, cnt[ell], rec, e2)
            # φ, the output-configuration test, then the scatter, neuron by neuron: every
            # target lies in a later layer, so no field of this layer changes meanwhile
            for t in range(a0, a0 + cnt[ell]):
                d = rec[pend[t]]
                d.acc = activate(d.act, d.acc)
                y = d.acc  # read back: rounded to the network's dtype
                if y != 0:
                    _scatter(d.lo, d.hi, y, edge, rec, lp, pend, cnt, e2)
        for k in range(r):
            out[i, k] = _value(p + N - r + k, x, p, rec, e2, z)
    return out


def predict(net: Network, X: np.ndarray, pl: dict | None = None) -> np.ndarray:
    """Outputs (m, r) of a C-contiguous batch in the network's dtype, one input at a time
    (``pl``: :func:`plan` of ``net``, built here when not given)."""
    pl = plan(net) if pl is None else pl
    rec, pend, cnt, epoch = workspace(net, pl)
    if epoch[0] + len(X) >= (1 << 30):  # int32 stamps never wrap
        rec["stamp"], epoch[0] = -1, 0
    return _run(X, rec, pl["edge"], pl["in_ptr"], pl["always"], pl["layer_ptr"], pl["r"], pend,
                cnt, epoch)
