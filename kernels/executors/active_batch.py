"""Batched conditional execution for the active executor (seed 000 §6 names the misalignment of
conditional networks with batching as open work).

The batch is split in column tiles of the units × inputs array ``U`` (the layer blocks of
:mod:`kernels.executors.dense`) and evaluated layer by layer.  After a layer, every unit row of
the tile knows *which inputs it is active in* — here: where its output is non-zero, the output
configuration of Definition 1 — as a count ``nzc`` and, when few, the list ``nzi`` of them.
A layer then runs as

* **CSR layers** (sparse weight blocks): per neuron, per stored weight from source row k,
  a row silent in the whole tile is skipped, a row active in few inputs (``count · GATHER < tile``)
  goes through a *sparse gather* over its list, a row active in most inputs through the full axpy
  over the tile (the CSR product over the active union);
* **GEMM layers** (dense weight blocks): BLAS over the tile, as in the dense executor.

The per-layer block kind is the dense executor's cost model; ``GATHER`` (cost of one gathered
term over one streamed term) is measured on the development machine.  Skipping a zero term changes
no bit (a partial sum that starts at +0 or at a non-zero bias is never −0; no bias is stored as
−0.0), so CSR layers give the reference's bits; GEMM layers agree within rounding.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from kernels.executors import dense
from kernels.executors._ops import page_empty, scratch
from kernels.executors.dense import GEMM, act_row
from kernels.model.network import Network

GATHER = 16  # one gathered term costs about this many streamed ones (measured: 3, 8, 16, 32)


@njit(cache=True, inline="always")
def _list(x, c, n, idx):
    """The inputs where a row is active, listed when they are few (``c · GATHER < n``)."""
    if c * GATHER < n:
        q = 0
        for i in range(n):  # branch-free compaction
            idx[q] = i
            q += x[i] != 0


@njit(cache=True, inline="always")
def _mark(U, row, c0, n, nzc, nzi, t):
    """Count row's non-zero entries in the tile and list them when they are few."""
    x = U[row, c0:c0 + n]
    c = 0
    for i in range(n):
        c += x[i] != 0
    nzc[row, t] = c
    _list(x, c, n, nzi[row, c0:c0 + n])


@njit(cache=True)
def _mark_rows(U, lo, hi, c0, n, nzc, nzi, t):
    for row in range(lo, hi):
        _mark(U, row, c0, n, nzc, nzi, t)


@njit(cache=True)
def _csr_active(U, p, a, b, act, bias, w_ptr, w_src, w_val, c0, n, nzc, nzi, t, acc):
    """Layer [a, b) on tile columns [c0, c0+n): silent rows skipped, sparse rows gathered, dense
    rows streamed; sums in the stored order (module docstring)."""
    for j in range(a, b):
        bj = bias[j]
        for i in range(n):
            acc[i] = bj
        for e in range(w_ptr[j], w_ptr[j + 1]):
            k = w_src[e]
            c = nzc[k, t]
            w = w_val[e]
            x = U[k, c0:c0 + n]
            if c * GATHER >= n:
                for i in range(n):
                    acc[i] += w * x[i]
            elif c > 0:
                idx = nzi[k, c0:c0 + c]
                for q in range(c):
                    i = idx[q]
                    acc[i] += w * x[i]
        act_row(act[j], acc, 0, n)
        y = U[p + j, c0:c0 + n]
        c = 0
        for i in range(n):  # the output, and how many inputs it is active in
            y[i] = acc[i]
            c += acc[i] != 0
        nzc[p + j, t] = c
        _list(y, c, n, nzi[p + j, c0:c0 + n])


def predict(net: Network, X: np.ndarray, force: str | None = None,
            tile: int | None = None, *, pl: dense.Plan | None = None) -> np.ndarray:
    """Outputs (m, r) of a C-contiguous batch in the network's dtype (module docstring); ``force``
    = "gemm" or "csr" fixes every layer's block kind (tests exercise both); ``tile`` overrides the
    columns per tile.  ``pl`` (the blocks plan) comes from the active executor's plan; it is built
    here when not given."""
    if pl is None or force is not None:
        pl = dense.make_plan(net, force)
    m, p, N, r = X.shape[0], pl.p, pl.n_neurons, pl.r  # the plan holds the network's shape
    if not pl.kind.any():  # CSR only: every layer per tile, the tile's units stay in cache
        T = tile or dense.network_tile(m, p + N, X.itemsize)
        return _active_network(X, p, net.layer_ptr, net.act, net.bias, net.w_ptr,
                               net.w_src, net.w_val, r, T)
    T = tile or pl.tile(m)
    n_tiles = -(-m // T)
    U = scratch((p + N, m), X.dtype)  # page-aligned, as in dense.forward (4 KiB aliasing)
    U[:p] = X.T
    nzc = np.zeros((p + N, n_tiles), np.int64)
    nzi = scratch((p + N, m), np.int32)
    acc = scratch(T, X.dtype)
    for t in range(n_tiles):
        _mark_rows(U, 0, p, t * T, min(T, m - t * T), nzc, nzi, t)
    for ell in range(pl.lo.size):
        a, b = int(pl.a[ell]), int(pl.b[ell])
        if pl.kind[ell] == GEMM:
            with dense.blas_threads(pl):
                dense.gemm_layer(pl, ell, U)
            dense.bias_act(U, p, a, b, net.act, net.bias, 0, m)
        for t in range(n_tiles):
            c0, n = t * T, min(T, m - t * T)
            if pl.kind[ell] == GEMM:
                _mark_rows(U, p + a, p + b, c0, n, nzc, nzi, t)
            else:
                _csr_active(U, p, a, b, net.act, net.bias, net.w_ptr, net.w_src,
                            net.w_val, c0, n, nzc, nzi, t, acc)
    return np.ascontiguousarray(U[p + N - r:].T)


@njit(cache=True)
def _active_network(X, p, lp, act, bias, w_ptr, w_src, w_val, r, tile):
    """A network of CSR layers, tile by tile through all its layers (module docstring)."""
    m = X.shape[0]
    N = act.size
    out = np.empty((m, r), dtype=X.dtype)
    U = page_empty((p + N) * tile, X).reshape((p + N, tile))  # see dense.forward
    nzc = np.zeros((p + N, 1), np.int64)
    nzi = page_empty((p + N) * tile, np.empty(0, np.int32)).reshape((p + N, tile))
    acc = page_empty(tile, X)
    zero = np.int64(0)
    for c0 in range(0, m, tile):
        n = min(tile, m - c0)
        for k in range(p):
            for i in range(n):
                U[k, i] = X[c0 + i, k]
        # typed zeros: the batched path's compiled kernels serve (literal 0s compile others)
        _mark_rows(U, zero, p, zero, n, nzc, nzi, zero)
        for ell in range(lp.size - 1):
            _csr_active(U, p, lp[ell], lp[ell + 1], act, bias, w_ptr, w_src, w_val, zero, n,
                        nzc, nzi, zero, acc)
        for i in range(n):
            for k in range(r):
                out[c0 + i, k] = U[p + N - r + k, i]
    return out
