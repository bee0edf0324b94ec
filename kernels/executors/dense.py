"""Dense executor: every neuron over every stored weight (seed 000 §2.1–2.2).

Three faces of one computation:

* :func:`predict` — the fast path: per layer a tiled CSR product vectorised over the batch, in
  the reference's summation order (same bits), or — where the network allows reordering
  (``Network.reorder``: the random networks of the sparsity axis) and the block is dense
  enough — a GEMM through BLAS, within the dtype's rounding; chosen once per network by the cost
  model below (the plan, :func:`make_plan`).  Up to ``MATVEC_MAX`` inputs take the
  matrix–vector path.  Constructions fit their weights to the reference's rounding, so their
  networks keep its order and their exact recalls.  The timed path never counts.
* :func:`count` — the counted twin: one neuron at a time over the flat CSR arrays, returning
  per-input operation counts (it defines them).
* the reference ``dense`` in tests/naive.py — plain NumPy, neuron by neuron.
* :func:`predict_portable` — the *portable* evaluation: the same stored weights, layer by layer as
  a NumPy/BLAS matrix product, a second summation order independent of the reference's.  A
  network exact only in the reference's order (its weights fitted to that order's rounding) is not
  exact here; ``verify`` reports both (``executors.dense.portable``).

Reference summation order (also the active executor's): the local field of neuron j starts at its
bias b_j and adds w_jk·v_k in increasing unit id k.  Bit-identity between ``dense`` and ``active``
is not promised: GEMM layers sum in another order; both agree with the reference within rounding.

Cost model (seed 000 §2.2): one multiplication per stored weight; the terms of a local field
(products, and the bias when b_j ≠ 0) are summed with (terms − 1) additions; the activation costs
``ACT_CMP`` comparisons (ReLU/threshold 1, sign 2, identity 0).  For the dense executor this is the
same for every input: :func:`analytic_cost` gives it in closed form and tests hold the counted twin
to it.

Layer blocks: the fast path (shared with the batched active path, :mod:`.active_batch`)
----------------------------------------------------------------------------------------

A layer ℓ (neurons ``a .. b-1``) reads units of earlier layers (skip connections, seed 000 eq. 1);
its *hull* is the contiguous unit range ``[lo, p + a)`` from the first unit it reads to its own
first unit.  Units live in a **units × inputs** array ``U`` (one row per unit, one column per
input), so a layer is one product ``U[p+a : p+b] = φ(W · U[lo : p+a] + b)`` and every row of ``U``
is contiguous over the batch.  Per layer the :class:`Plan` picks, once per network, either

* ``GEMM`` — the block as a dense matrix through BLAS (NumPy's ``matmul``); or
* ``CSR`` — the stored CSR rows (``w_ptr, w_src, w_val``), an ``@njit`` axpy over the batch per
  non-zero weight: each input's field is summed bias first, then in stored order, exactly the
  reference's order (tests/naive.py), so CSR layers give the reference's bits.

**GEMM only where the network allows reordering** (its field ``Network.reorder``; the random
networks of the sparsity axis set it).  BLAS sums in its own order (blocked, fused multiply-adds),
and constructions fit their weights to the reference's rounding — ``zhang`` replays the executor's
arithmetic to place each output exactly, ``bubeck``'s float32 margins are a few ulps — so a GEMM
would turn exact recalls into misses.  Every other network runs CSR layers only: the reference's
order and bits, still vectorised over the batch.

A threshold or sign layer is discontinuous at 0: a field that sums to exactly 0 in the reference's
order may round to ±ε in another and flip the output (calibrated biases and 0/1 inputs make such
ties common), so those layers always run CSR, in the reference's order.  For identity and ReLU
layers the choice is a cost model with constants measured on the development machine (one thread):
``GEMM`` costs ``width · hull / GEMM_RATE``, ``CSR`` costs ``(nnz + width) / CSR_RATE`` per input;
single inputs use the matrix–vector rates (the dense block is read once per input there, so it must
be much denser to win).  A dense block is only built where it could be chosen.

The batch is processed in column tiles sized so that a layer's hull fits in L2 (``tile``).  BLAS
runs with Numba's thread count (the harness's one thread setting) where ``threadpoolctl`` is
importable (it comes with the peers' scikit-learn); without it BLAS keeps its own setting.
"""

from __future__ import annotations

from contextlib import contextmanager, nullcontext
from dataclasses import dataclass

import numba
import numpy as np
from numba import njit

from kernels.executors._ops import (
    PAGE_BYTES,
    activate,
    activate_np,
    aligned,
    batch_inputs,
    counts_dict,
    field_cost,
    local_field,
    page_empty,
    scratch,
)
from kernels.model.network import ACT_CMP, Network

GEMM, CSR = 1, 0
# Multiply-adds per ns, one thread, measured on the development machine (2-core Xeon, float64,
# random ReLU layers of 256 units, batch 2048): BLAS dgemm vs the tiled CSR axpy kernel below.
GEMM_RATE, CSR_RATE = 28.0, 4.0
# One input: the transposed dense block as vectorised axpys vs a CSR field (a dependent chain).
GEMV_RATE, CSRV_RATE = 16.0, 1.8
L2_BYTES = 1 << 20  # the working set a tile aims for
TILE_FLOOR, TILE_BYTES = 256, 32 << 20  # whole-network tiles: ≥ 256 columns within 32 MiB
MATVEC_MAX = 8  # batches up to this size take the matrix–vector path


@dataclass(eq=False)
class Plan:
    """Per layer: hull start ``lo``, neurons ``a .. b``, block kind for batches and for single
    inputs, and the transposed dense block ``MT`` (hull × width) where a GEMM/GEMV may run."""

    p: int
    r: int
    n_neurons: int
    lo: np.ndarray  # int64 (L,)
    a: np.ndarray  # int64 (L,)
    b: np.ndarray  # int64 (L,)
    kind: np.ndarray  # int8 (L,), batches: GEMM or CSR
    kind1: np.ndarray  # int8 (L,), single inputs
    mt_flat: np.ndarray  # the dense blocks MT, concatenated (row-major hull × width)
    mt_off: np.ndarray  # int64 (L+1,)
    est_ns: float  # the cost model's time per input of a batch

    def mt(self, ell: int) -> np.ndarray:
        hull, width = self.p + self.a[ell] - self.lo[ell], self.b[ell] - self.a[ell]
        return self.mt_flat[self.mt_off[ell]:self.mt_off[ell + 1]].reshape(hull, width)

    def tile(self, m: int) -> int:
        """Columns per tile: the widest hull × tile × itemsize ≈ L2_BYTES (≥ 16, ≤ m)."""
        hull = int((self.p + self.a - self.lo).max())
        t = max(16, L2_BYTES // (self.mt_flat.itemsize * max(hull, 1)))
        return int(min(m, 1 << int(np.log2(t))))


def make_plan(net: Network, force: str | None = None) -> Plan:
    """The dense executor's plan of ``net``: per layer GEMM or CSR (module docstring), built now
    (its owner keeps it: the Memorizer, or the active executor's plan); ``force`` = "gemm" or
    "csr" overrides the cost model and ``net.reorder`` for every identity/ReLU layer (tests use
    both)."""
    if force not in (None, "gemm", "csr"):
        raise ValueError(f"force must be None, 'gemm' or 'csr'; got {force!r}")
    L, p = net.depth, net.p
    lp = net.layer_ptr
    lo, kind, kind1 = np.zeros(L, np.int64), np.zeros(L, np.int8), np.zeros(L, np.int8)
    blocks, off, est = [], [0], 0.0
    for ell in range(L):
        a, b = int(lp[ell]), int(lp[ell + 1])
        src = net.w_src[net.w_ptr[a]:net.w_ptr[b]]
        lo[ell] = int(src.min()) if src.size else p + a
        width, hull, nnz = b - a, p + a - int(lo[ell]), src.size
        dense_cost = width * hull
        csr_cost = nnz + width
        if not np.isin(net.act[a:b], (0, 1)).all():
            pass  # threshold/sign: discontinuous at 0, the reference's order (docstring)
        elif force is not None:
            kind[ell] = kind1[ell] = GEMM if force == "gemm" else CSR
        elif net.reorder:
            kind[ell] = GEMM if dense_cost / GEMM_RATE < csr_cost / CSR_RATE else CSR
            kind1[ell] = GEMM if dense_cost / GEMV_RATE < csr_cost / CSRV_RATE else CSR
        est += dense_cost / GEMM_RATE if kind[ell] == GEMM else csr_cost / CSR_RATE
        if kind[ell] == GEMM or kind1[ell] == GEMM:
            MT = np.zeros((hull, width), dtype=net.w_val.dtype)
            rows = np.repeat(np.arange(width), np.diff(net.w_ptr[a:b + 1]))
            MT[src - lo[ell], rows] = net.w_val[net.w_ptr[a]:net.w_ptr[b]]
            blocks.append(MT.ravel())
        off.append(off[-1] + (MT.size if kind[ell] == GEMM or kind1[ell] == GEMM else 0))
    # the blocks on a page boundary, as the per-call buffers (forward): the matrix-vector path
    # streams them while it writes its unit vector, and from the heap the single-input latency
    # of random-sparse (sparsity 0) read 26-29 or 31-33 µs by build
    flat = aligned(off[-1], net.w_val.dtype, PAGE_BYTES, zero=False)
    if blocks:
        np.concatenate(blocks, out=flat)
    return Plan(p, net.r, net.n_neurons, lo, lp[:-1].copy(), lp[1:].copy(), kind, kind1, flat,
                np.array(off, np.int64), est)


# ---- kernels ------------------------------------------------------------------------------------
@njit(cache=True, inline="always")
def act_row(code, y, c0, c1):
    """y[c0:c1] = φ(y[c0:c1]), the branch on ``code`` hoisted out of the loop."""
    if code == 1:
        for i in range(c0, c1):
            y[i] = activate(1, y[i])
    elif code == 2:
        for i in range(c0, c1):
            y[i] = activate(2, y[i])
    elif code == 3:
        for i in range(c0, c1):
            y[i] = activate(3, y[i])


@njit(cache=True)
def csr_layer(U, p, a, b, act, bias, w_ptr, w_src, w_val, c0, c1, acc):
    """U[p+j, c0:c1] = φ(b_j + Σ_t w_t · U[src_t, c0:c1]) for j in [a, b): the stored order,
    summed in ``acc`` (a separate buffer, so the axpy vectorises)."""
    n = c1 - c0
    for j in range(a, b):
        bj = bias[j]
        for i in range(n):
            acc[i] = bj
        for t in range(w_ptr[j], w_ptr[j + 1]):
            w = w_val[t]
            x = U[w_src[t], c0:c1]
            for i in range(n):
                acc[i] += w * x[i]
        act_row(act[j], acc, 0, n)
        U[p + j, c0:c1] = acc[:n]


@njit(cache=True)
def bias_act(U, p, a, b, act, bias, c0, c1):
    """U[p+j, c0:c1] = φ(U[p+j, c0:c1] + b_j) after a GEMM wrote the products."""
    for j in range(a, b):
        y = U[p + j]
        bj = bias[j]
        for i in range(c0, c1):
            y[i] += bj
        act_row(act[j], y, c0, c1)


@njit(cache=True)
def _matvec(X, p, lo, a, b, kind1, mt_flat, mt_off, act, bias, w_ptr, w_src, w_val, r):
    """Inputs one at a time (the matrix–vector path): a dense block as axpys over its transposed
    rows (vectorised, no reassociation), a CSR layer as the stored-order field."""
    m = X.shape[0]
    N = act.size
    out = np.empty((m, r), dtype=X.dtype)
    u = page_empty(p + N, X)  # see forward
    for i in range(m):
        u[:p] = X[i]
        for ell in range(lo.size):
            aa, bb, l0 = a[ell], b[ell], lo[ell]
            if kind1[ell] == 1:
                width = bb - aa
                MT = mt_flat[mt_off[ell]:mt_off[ell + 1]]
                y = u[p + aa:p + bb]
                y[:] = 0
                for k in range(p + aa - l0):
                    xk = u[l0 + k]
                    if xk != 0:
                        row = MT[k * width:(k + 1) * width]
                        for j in range(width):
                            y[j] += row[j] * xk
                for j in range(aa, bb):
                    u[p + j] = activate(act[j], u[p + j] + bias[j])
            else:
                for j in range(aa, bb):
                    s = bias[j]
                    for t in range(w_ptr[j], w_ptr[j + 1]):
                        s += w_val[t] * u[w_src[t]]
                    u[p + j] = activate(act[j], s)
        out[i] = u[p + N - r:]
    return out


def matvec(pl: Plan, net: Network, X: np.ndarray) -> np.ndarray:
    return _matvec(X, pl.p, pl.lo, pl.a, pl.b, pl.kind1, pl.mt_flat, pl.mt_off, net.act,
                   net.bias, net.w_ptr, net.w_src, net.w_val, pl.r)


_CTL: list = []


def _controller():
    if not _CTL:
        try:
            from threadpoolctl import ThreadpoolController
            _CTL.append(ThreadpoolController())
        except ImportError:
            _CTL.append(None)
    return _CTL[0]


@contextmanager
def _capped():
    with _controller().limit(limits=numba.get_num_threads(), user_api="blas"):
        yield


def blas_threads(pl: Plan):
    """A context running BLAS on Numba's thread count while a batch with GEMM layers runs."""
    return _capped() if pl.kind.any() and _controller() is not None else nullcontext()


def gemm_layer(pl: Plan, ell: int, U: np.ndarray) -> None:
    """U[p+a : p+b] = MTᵀ · U[lo : p+a] through BLAS (bias and φ follow in :func:`bias_act`)."""
    p, a, b, lo = pl.p, int(pl.a[ell]), int(pl.b[ell]), int(pl.lo[ell])
    np.matmul(pl.mt(ell).T, U[lo:p + a], out=U[p + a:p + b])


def forward(pl: Plan, net: Network, X: np.ndarray, tile: int | None = None) -> np.ndarray:
    """Dense forward pass of a batch (m, p) -> (m, r): GEMM or CSR per layer (module docstring);
    ``tile`` overrides the columns per tile."""
    m = X.shape[0]
    if m <= MATVEC_MAX and tile is None:
        return matvec(pl, net, X)
    p, N = pl.p, pl.n_neurons
    if not pl.kind.any():  # CSR only: every layer per tile, the tile's units stay in cache
        T = tile or network_tile(m, p + N, X.itemsize)
        return _csr_network(X, p, net.layer_ptr, net.act, net.bias, net.w_ptr, net.w_src,
                            net.w_val, pl.r, T)
    # U on a page boundary: from the heap, its offset within a page followed whatever the heap
    # held before, and with it which rows' reads wait on the writes of other rows (4 KiB
    # aliasing): random-sparse, sparsity 0.9, n = 1,024 (a GEMM layer, then CSR layers) read
    # 3.43-3.46 or 3.90-4.00 µs per input by process, and switched between the two within one
    # process when other allocations moved the heap; page-aligned, 3.46-3.60 in every process.
    U = scratch((p + N, m), X.dtype)
    U[:p] = X.T
    with blas_threads(pl):
        for ell in range(pl.lo.size):
            a, b = int(pl.a[ell]), int(pl.b[ell])
            if pl.kind[ell] == GEMM:
                gemm_layer(pl, ell, U)
                bias_act(U, p, a, b, net.act, net.bias, 0, m)
            else:
                _csr_tiles(U, p, a, b, net, tile or pl.tile(m))
    return np.ascontiguousarray(U[p + N - pl.r:].T)


@njit(cache=True)
def _csr_tiles_k(U, p, a, b, act, bias, w_ptr, w_src, w_val, tile):
    m = U.shape[1]
    acc = page_empty(tile, U)
    for c0 in range(0, m, tile):
        csr_layer(U, p, a, b, act, bias, w_ptr, w_src, w_val, c0, min(m, c0 + tile), acc)


def _csr_tiles(U, p, a, b, net, tile):
    _csr_tiles_k(U, p, a, b, net.act, net.bias, net.w_ptr, net.w_src, net.w_val, tile)


def network_tile(m: int, units: int, itemsize: int) -> int:
    """Columns per tile when a tile runs through every layer: its units in L2 where that leaves
    ≥ TILE_FLOOR columns (shorter rows cost more per weight than the misses they save), else
    TILE_FLOOR columns within TILE_BYTES; between 16 and m."""
    per_col = itemsize * max(units, 1)
    t = max(L2_BYTES // per_col, min(TILE_FLOOR, TILE_BYTES // per_col))
    return int(max(1, min(m, max(16, t))))


@njit(cache=True)
def _csr_network(X, p, lp, act, bias, w_ptr, w_src, w_val, r, tile):
    """A network of CSR layers, tile by tile through all its layers (units × tile in cache)."""
    m = X.shape[0]
    N = act.size
    out = np.empty((m, r), dtype=X.dtype)
    U = page_empty((p + N) * tile, X).reshape((p + N, tile))  # page-aligned: see forward
    acc = page_empty(tile, X)
    for c0 in range(0, m, tile):
        n = min(tile, m - c0)
        for k in range(p):
            for i in range(n):
                U[k, i] = X[c0 + i, k]
        for ell in range(lp.size - 1):
            # a typed 0: the tiled path's compiled csr_layer serves (a literal 0 compiles another)
            csr_layer(U, p, lp[ell], lp[ell + 1], act, bias, w_ptr, w_src, w_val, np.int64(0), n,
                      acc)
        for i in range(n):
            for k in range(r):
                out[c0 + i, k] = U[p + N - r + k, i]
    return out


# ---- the faces: batch, one input, counted twin, portable -----------------------------------------
@njit(cache=True)
def _forward_into(x, units, p, act, bias, w_ptr, w_src, w_val):
    """All unit values of one input in the reference's order (kernels.executors.measure reads
    them)."""
    for k in range(p):
        units[k] = x[k]
    for j in range(act.size):
        s = local_field(bias[j], w_ptr[j], w_ptr[j + 1], w_val, w_src, units)
        units[p + j] = activate(act[j], s)


@njit(cache=True)
def _count_batch(X, p, act, bias, w_ptr, w_src, w_val, act_cmp):
    """Counted twin: per-input (mul, add, cmp), one neuron at a time in the reference's order."""
    m = X.shape[0]
    N = act.size
    counts = np.zeros((m, 3), dtype=np.int64)
    units = np.empty(p + N, dtype=X.dtype)
    for i in range(m):
        for k in range(p):
            units[k] = X[i, k]
        mul = 0
        add = 0
        cmp = 0
        for j in range(N):
            s = local_field(bias[j], w_ptr[j], w_ptr[j + 1], w_val, w_src, units)
            dm, da = field_cost(bias[j], w_ptr[j + 1] - w_ptr[j])
            mul += dm
            add += da
            cmp += act_cmp[act[j]]
            units[p + j] = activate(act[j], s)
        counts[i, 0] = mul
        counts[i, 1] = add
        counts[i, 2] = cmp
    return counts


def predict(net: Network, X: np.ndarray, force: str | None = None, *,
            plan: Plan | None = None) -> np.ndarray:
    """Dense forward pass of a batch ``X`` (m, p) in the network's dtype; returns (m, r).
    ``plan``: :func:`make_plan` of ``net`` (built here when not given); ``force`` = "gemm" or "csr"
    overrides the per-layer block choice (tests use both)."""
    if plan is None or force is not None:
        plan = make_plan(net, force)
    return forward(plan, net, batch_inputs(net, X))


def predict_one(net: Network, x: np.ndarray, *, plan: Plan | None = None) -> np.ndarray:
    """Dense forward pass of one input ``x`` (p,) by the matrix–vector path; returns (r,)."""
    X = batch_inputs(net, np.asarray(x).reshape(1, -1))
    return matvec(plan or make_plan(net), net, X)[0]


PORTABLE_BYTES = 64 << 20  # unit values of one chunk of inputs (predict_portable)


def portable_bytes(net: Network) -> int:
    """Bytes of the dense per-layer weight matrices :func:`predict_portable` allocates."""
    total = 0
    for lo, hi in zip(net.layer_ptr[:-1], net.layer_ptr[1:], strict=True):
        src = net.w_src[net.w_ptr[lo]:net.w_ptr[hi]]
        total += int(hi - lo) * int(np.unique(src).size) * net.w_val.dtype.itemsize
    return total


def predict_portable(net: Network, X: np.ndarray) -> np.ndarray:
    """The stored weights evaluated in a second, independent summation order: per layer
    ``φ(V[:, sources] @ Wᵀ + b)`` by NumPy matmul (BLAS), in the network's dtype; (m, r).  Inputs
    go in chunks whose unit values fit ``PORTABLE_BYTES``."""
    X = batch_inputs(net, X)
    dt, p, N = net.w_val.dtype, net.p, net.n_neurons
    layers = []
    for lo, hi in zip(net.layer_ptr[:-1], net.layer_ptr[1:], strict=True):
        a, b = net.w_ptr[lo], net.w_ptr[hi]
        src = net.w_src[a:b]
        cols, where = np.unique(src, return_inverse=True)
        W = np.zeros((int(hi - lo), cols.size), dtype=dt)
        rows = np.repeat(np.arange(int(hi - lo)), np.diff(net.w_ptr[lo:hi + 1]))
        W[rows, where] = net.w_val[a:b]
        layers.append((int(lo), int(hi), cols, np.ascontiguousarray(W.T), net.bias[lo:hi],
                       net.act[lo:hi]))
    step = max(1, PORTABLE_BYTES // max(1, (p + N) * dt.itemsize))
    out = np.empty((X.shape[0], net.r), dtype=dt)
    for c in range(0, X.shape[0], step):
        units = np.zeros((min(step, X.shape[0] - c), p + N), dtype=dt)
        units[:, :p] = X[c:c + step]
        for lo, hi, cols, Wt, bias, act in layers:
            with np.errstate(over="ignore", invalid="ignore"):  # non-finite: judged by the rule
                s = units[:, cols] @ Wt + bias
            for code in np.unique(act):
                sel = act == code
                s[:, sel] = activate_np(int(code), s[:, sel])
            units[:, p + lo:p + hi] = s
        out[c:c + step] = units[:, p + N - net.r:]
    return out


def count(net: Network, X: np.ndarray, *, plan=None) -> dict[str, np.ndarray]:
    """Counted twin: per-input ``mul, add, cmp, total`` for the dense executor (it needs no plan:
    one neuron at a time in the reference's order)."""
    X = batch_inputs(net, X)
    return counts_dict(_count_batch(X, net.p, net.act, net.bias, net.w_ptr, net.w_src, net.w_val,
                                    ACT_CMP))


def analytic_cost(net: Network) -> dict[str, int]:
    """Closed-form dense cost per input under the cost model (module docstring)."""
    k = np.diff(net.w_ptr) + (net.bias != 0)
    mul = net.n_weights
    add = int(np.maximum(k - 1, 0).sum())
    cmp = int(ACT_CMP[net.act].sum())
    return {"mul": mul, "add": add, "cmp": cmp, "total": mul + add + cmp}
