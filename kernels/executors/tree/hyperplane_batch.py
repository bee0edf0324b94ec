"""Batched, prefetching, parallel routing for *hyperplane-shaped* trees (the shapes
:func:`kernels.executors.tree.hyperplane.form` recognises) — the batch fast path of executor
``tree`` for them.

The per-query kernel of :mod:`kernels.executors.tree.hyperplane` walks one input at a time over
struct-of-arrays (``child_true``, ``row``, ``H``, ``h0``, ``thr`` … each a separate cache line per
step), so at large n every step waits for several misses in a row.  Here every vertex is one record
of ``w = 3 + 2 + p`` slots, padded to whole 64-byte lines and aligned:

    int slots   [child_true, child_false, meta]       meta = axis + 1 | t_op << 32 | act << 40
    float slots [β, h0, H_1 .. H_p]                    (the same memory, viewed as floats)

— 64-bit slots for float64, 32-bit for float32 (then ``axis + 1`` takes 20 bits, t_op and act 4
each).  Queries go in blocks of ``BLOCK``, level-synchronously: each sweep advances every query of
the block one vertex and prefetches its next record, so the misses of different queries overlap;
then the leaves' rows of the output arrays are prefetched for the whole block and evaluated.
A test computes ``h0 + Σ_k H_k x_k`` in increasing k (or reads ``x_axis``), applies the activation
and :func:`kernels.model.conditional.holds` — the very operations of
:func:`kernels.executors.tree.hyperplane._step`, so
every decision is the same; the leaves are evaluated by
:func:`kernels.executors.tree.hyperplane._leaf_out` from
the form's own CSR arrays, so outputs are bit-identical to the per-query kernel.
"""

from __future__ import annotations

import weakref

import numpy as np
from numba import njit, prange

from kernels.executors._ops import activate, aligned, numba_threads, prefetch, thread_cap
from kernels.executors.tree.hyperplane import HyperplaneForm, _leaf_out
from kernels.model.conditional import holds

BLOCK = 64
_RECORDS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def records(f: HyperplaneForm) -> tuple[np.ndarray, np.ndarray]:
    """(int view, float view) of the vertex records of form ``f`` (cached on the form)."""
    if f in _RECORDS:
        return _RECORDS[f]
    dt = f.H.dtype
    it = np.int64 if dt == np.float64 else np.int32
    V, p = f.child_true.size, f.p
    per = 64 // dt.itemsize
    w = -(-(5 + p) // per) * per
    R = aligned((V, w), it)
    Rf = R.view(dt)
    R[:, 0], R[:, 1] = f.child_true, f.child_false
    inner = np.flatnonzero(f.child_true >= 0)
    i = f.row[inner]
    bits = 20 if it == np.int32 else 32
    meta = (f.axis[i] + 1) | (f.t_op[i].astype(np.int64) << bits) | \
        (f.h_act[i].astype(np.int64) << (bits + 4))
    R[inner, 2] = meta.astype(it)
    Rf[inner, 3], Rf[inner, 4] = f.thr[i], f.h0[i]
    Rf[inner, 5:5 + p] = f.H[i]
    _RECORDS[f] = (R, Rf)
    return R, Rf


def fits(f: HyperplaneForm) -> bool:
    """Whether the record packing can hold this form (axis ids under 2^20 in float32)."""
    return f.H.dtype == np.float64 or f.p < (1 << 20) - 1


@njit(cache=True)
def _range(X, start, end, R, Rf, row, o_ptr, o_src, o_w, o_b, o_act, block, out):
    p = X.shape[1]
    r = out.shape[1]
    w = R.shape[1]
    # flat views indexed with uint64: no negative-index wraparound code in the hot loop
    Rl, Rfl, Xl = R.reshape(-1), Rf.reshape(-1), X.reshape(-1)
    uw, up, half = np.uint64(w), np.uint64(p), np.uint64(w // 2)
    two = w * R.itemsize > 64  # a record of two cache lines
    bits = 32 if R.itemsize == 8 else 20
    mask = (1 << bits) - 1
    cur = np.empty(block, np.uint64)
    for a in range(start, end, block):
        nb = min(block, end - a)
        for t in range(nb):
            cur[t] = 0
        active = nb
        while active:
            active = 0
            xo = np.uint64(a) * up
            for t in range(nb):
                v = cur[t] * uw
                ct = Rl[v]
                if ct >= 0:
                    meta = np.int64(Rl[v + np.uint64(2)])
                    ax = (meta & mask) - 1
                    if ax >= 0:
                        s = Xl[xo + np.uint64(ax)]
                    else:
                        s = Rfl[v + np.uint64(4)]
                        for k in range(p):
                            s += Rfl[v + np.uint64(5 + k)] * Xl[xo + np.uint64(k)]
                        s = activate((meta >> (bits + 4)) & 15, s)
                    nxt = np.uint64(ct if holds((meta >> bits) & 15, s, Rfl[v + np.uint64(3)])
                                    else Rl[v + np.uint64(1)])
                    cur[t] = nxt
                    prefetch(Rl, nxt * uw)
                    if two:
                        prefetch(Rl, nxt * uw + half)
                    active += 1
                xo += up
        # the leaves: their rows of the output arrays prefetched (two rounds: the row's start is
        # itself a load), then evaluated
        for t in range(nb):
            leaf = row[cur[t]]
            cur[t] = leaf
            prefetch(o_ptr, leaf * r)
            prefetch(o_b, leaf * r)
        for t in range(nb):
            q = o_ptr[cur[t] * np.uint64(r)]
            prefetch(o_w, q)
            prefetch(o_src, q)
        for t in range(nb):
            _leaf_out(X[a + t], np.int64(cur[t]), out[a + t], o_ptr, o_src, o_w, o_b, o_act)


@njit(cache=True)
def _serial(X, R, Rf, row, o_ptr, o_src, o_w, o_b, o_act, r, block):
    out = np.empty((X.shape[0], r), dtype=X.dtype)
    # a typed start: the parallel path's compiled _range serves (a literal 0 compiles another)
    _range(X, np.int64(0), X.shape[0], R, Rf, row, o_ptr, o_src, o_w, o_b, o_act, block, out)
    return out


@njit(cache=True, parallel=True)
def _parallel(X, R, Rf, row, o_ptr, o_src, o_w, o_b, o_act, r, block, chunk):
    m = X.shape[0]
    out = np.empty((m, r), dtype=X.dtype)
    for c in prange((m + chunk - 1) // chunk):
        _range(X, c * chunk, min(m, (c + 1) * chunk), R, Rf, row, o_ptr, o_src, o_w, o_b, o_act,
               block, out)
    return out


def predict(f: HyperplaneForm, X, threads: int | None = None) -> np.ndarray:
    """Outputs (m, r) of a batch (X in the form's dtype); ``threads`` caps the threads."""
    X = np.ascontiguousarray(X, dtype=f.H.dtype)
    R, Rf = records(f)
    args = (X, R, Rf, f.row, f.o_ptr, f.o_src, f.o_w, f.o_b, f.o_act, f.r, BLOCK)
    nt = thread_cap(threads)
    if nt > 1 and X.shape[0] >= 16 * BLOCK:
        chunk = max(BLOCK, -(-X.shape[0] // (8 * nt)) // BLOCK * BLOCK)
        with numba_threads(nt):
            return _parallel(*args, chunk)
    return _serial(*args)
