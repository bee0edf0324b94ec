"""Fast routing for axis-shaped conditional networks (tests ``x_k < β`` on inputs, one affine
output neuron per leaf and output) — the ``axis-tree`` fast path of executor ``tree``.

Layout (:class:`AxisRouter`, derived once from a :class:`~kernels.model.network.ConditionalNetwork`
and cached on it).  Two forms of one tree:

* ``rec`` — vertices in BFS order, one 16-byte record each in a 64-byte aligned int32 array:
  ``[feature, child, β, leaf row]`` with β a float32, or ``[feature, child, β]`` with β a float64
  (leaf rows then in ``leaf_id``).  A test ``x_k < β`` sends x to ``child + (0 if x[k] < β else
  1)``: ``child_true``, or ``child_false`` right after it (the complement, NaN included, exactly as
  :func:`kernels.model.conditional.holds`).  A leaf i stores child i − 1 and β = −inf, so ``x <
  −inf`` is false and a query that reached a leaf stays there: routing a batch is ``depth``
  branch-free sweeps.  The batch kernel, the counted twin, :func:`leaves`, the certificate and
  ``tests/naive.py`` read it.
* ``buf`` — what one query reads: a 64-byte header, then *nodes* of three tree levels (seven tests,
  eight exits; 64 bytes with float32 β and p < 2^16, else 128), then the leaf rows.  A node holds
  the seven β (heap order: test j's children are 2j + 1 and 2j + 2), the first child node and the
  first leaf it exits to, the seven features (uint16, or int32 when p ≥ 2^16) and eight exit bytes
  (bit 7: a leaf; low bits: its rank among the node's child nodes or leaves, numbered consecutively
  in node BFS order).  A leaf above a node's bottom level is padded with tests ``x_0 < −inf``
  (always false: the right child) whose exits all name that leaf.  One cache line per three levels
  (S+-tree style B-ary nodes), the three tests branch-free arithmetic on it.

Leaf rows are numbered in node order; each is 64-byte aligned: ``r × [b, w_1..w_p]``, then the r
activation codes, then padding; output o is b + w_1·x_1 + … + w_p·x_p in that order — the
interpreter's order (bias, then sources ascending); the dense zeros add exact zeros.

Kernels (each with the same outputs as the reference ``tests/naive.py:axis_route``):

* batch — blocks of ``BLOCK`` queries routed level-synchronously over ``rec``: every sweep advances
  all queries of the block one level, so their record loads are independent, and each next record
  is prefetched (``llvm.prefetch``) a whole sweep before it is read; then the block's leaf rows are
  prefetched and evaluated.  With float32 β, p ≤ 256 and fewer than 2^24 vertices the sweeps
  read ``packed`` instead: 8 bytes per vertex (β | (child << 8 | feature) << 32), one load per
  query and level, half the records' bytes.  Hot loops index with uint64 (no negative-index
  wraparound code).
  ``prange`` over chunks of blocks when more than one thread is allowed.  (Node-synchronous sweeps
  over ``buf`` were measured a third slower at 2^20 points: while the records stay near the cache,
  the three dependent tests per node cost more than the misses the prefetch already hides.)
* node sweeps — for trees whose level records pass :data:`NODE_BYTES` (memory-bound batches):
  blocks of ``NODE_BLOCK`` queries advance one node (three levels) a sweep over ``buf``, each next
  node's line prefetched, with the one-query kernel's :func:`_descend` and :func:`_buf_leaf`;
* one query — a loop over the nodes of ``buf`` (:func:`predict_one`): about a third as many cache
  lines as records; its compiled entry point is called directly for an already valid row (a
  1-D array of the router's dtype, any stride), which skips Numba's type dispatch;
* counted twin — the cost rows of :func:`kernels.executors.tree.hyperplane.vertex_costs` (the
  interpreter's cost model) summed along the path, so counts equal the interpreter's input by input.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
from numba import njit, prange

from kernels.executors._ops import activate, aligned, load_as, numba_threads, prefetch, thread_cap
from kernels.executors.tree.hyperplane import tree_counts, vertex_costs
from kernels.model.network import TESTS, ConditionalNetwork

BLOCK = 128
# Batches of a tree whose level records pass NODE_BYTES are routed node by node, NODE_BLOCK
# queries at a time (one line per three levels): at 2^24 points, p = 8 (31 MB of records) 82
# against 90 ns per query; at 2^22 (8 MB) and 2^20 (2 MB) no faster than the level sweeps.
NODE_BYTES = 16 << 20
NODE_BLOCK = 256
_NO_NODES = np.zeros(0, np.int32)
LT = TESTS["<"]
HEADER = 16  # int32 words before the first node: the fields below
H_P, H_R, H_FW, H_NW, H_ROOT, H_WOFF, H_WS = range(7)


@dataclass(eq=False)
class AxisRouter:
    """Compact routing arrays (see module docstring)."""

    p: int
    r: int
    rec: np.ndarray  # int32 (4V,), 64-byte aligned: feature, child, β (, leaf row in float32)
    thr: np.ndarray  # float32 (4V,) or float64 (2V,) view of rec
    leaf_id: np.ndarray  # int32 (V,): the leaf row of each leaf vertex, -1 at internal vertices
    buf: np.ndarray  # int32, 64-byte aligned: header, nodes, leaf rows (module docstring)
    Wp: np.ndarray  # (L, ws) view of buf's leaf rows: r × [b, w_1..w_p], r activation codes, pad
    cost: np.ndarray  # (V, 6): the interpreter's cost row of each vertex (routing.vertex_costs)
    depth: int
    entry: object = None  # the compiled single-query kernel for this dtype (dispatch skipped)
    packed: np.ndarray = None  # uint64 (V,) or empty: float32 β | (child << 8 | feature) << 32

    @property
    def dtype(self) -> np.dtype:
        return self.Wp.dtype

    @property
    def n_vertices(self) -> int:
        return self.leaf_id.size

    def nbytes(self) -> int:
        """Bytes recall reads: records, leaf rows and nodes."""
        return sum(a.nbytes for a in (self.rec, self.leaf_id, self.buf, self.packed))


def _records(feat, child, thr, leaf_id, dtype) -> tuple[np.ndarray, np.ndarray]:
    rec = aligned((feat.size, 4), np.int32)
    rec[:, 0] = feat
    rec[:, 1] = child
    if dtype == np.float32:
        rec.view(np.float32)[:, 2] = thr
        rec[:, 3] = leaf_id
        return rec.ravel(), rec.view(np.float32).ravel()
    rec.view(np.float64)[:, 1] = thr
    return rec.ravel(), rec.view(np.float64).ravel()


def axis_router(cn: ConditionalNetwork) -> AxisRouter | None:
    """The router of ``cn`` if it is axis-shaped, else None (built now: the tree executor's plan
    keeps it)."""
    return _derive(cn)


def _derive(cn: ConditionalNetwork) -> AxisRouter | None:
    p, r, V = cn.p, cn.r, cn.n_vertices
    if V >= 2**31 - 1 or p >= 2**31:
        return None
    internal = cn.child_true >= 0
    leaves = np.flatnonzero(~internal)
    nops = np.diff(cn.op_ptr)
    if nops[internal].any() or (nops[leaves] != r).any():
        return None
    tv, op = cn.test_var[internal], cn.test_op[internal]
    ct, cf = cn.child_true[internal], cn.child_false[internal]
    if ((tv < 0) | (tv >= p)).any():
        return None
    if ((op != LT) | (cf != ct + 1)).any():
        return None
    K = cn.n_ops
    if not _sources_ascending(cn.op_w_ptr, cn.op_src, p):
        return None
    var_to_op = np.full(cn.n_vars, -1, dtype=np.int64)
    var_to_op[cn.op_var] = np.arange(K)
    out = cn.out_var[leaves]
    if ((out < p) | (out >= cn.n_vars)).any():
        return None
    o_op = var_to_op[out]  # (L, r)
    lo, hi = cn.op_ptr[leaves][:, None], cn.op_ptr[leaves + 1][:, None]
    if ((o_op < lo) | (o_op >= hi)).any() or np.bincount(o_op.ravel(), minlength=K).max() > 1:
        return None
    dt = cn.op_w.dtype
    feat = np.zeros(V, np.int64)
    feat[internal] = tv
    thr = np.full(V, -np.inf)
    thr[internal] = cn.test_thr[internal]
    thr = thr.astype(dt)
    buf, row_of_vertex = _node_buffer(cn.child_true, feat, thr, p, r, dt)
    L = leaves.size
    Wp = buf[buf[H_WOFF]:].view(dt).reshape(L, -1)
    row = row_of_vertex[leaves]
    slot = np.empty(K, np.int64)  # op -> (leaf row, output) of its [b, w] block, flattened
    slot[o_op.ravel()] = (row[:, None] * r + np.arange(r)).ravel()
    blocks = Wp[:, :r * (p + 1)].reshape(L, r, p + 1)  # a view
    _scatter_ops(blocks, slot, r, cn.op_bias, cn.op_w_ptr, cn.op_src, cn.op_w)
    Wp[row, r * (p + 1):r * (p + 2)] = cn.op_act[o_op]
    child = np.arange(V, dtype=np.int64) - 1
    child[internal] = ct
    leaf_id = np.full(V, -1, np.int32)
    leaf_id[leaves] = row
    rec, tview = _records(feat, child, thr, leaf_id, dt)
    return AxisRouter(p, r, rec, tview, leaf_id, buf, Wp, vertex_costs(cn), _depth(cn.child_true),
                      _one_entry(dt), _packed(feat, child, thr, p))


@njit(cache=True)
def _sources_ascending(w_ptr, src, p):
    """Every op's sources are inputs (< p), strictly ascending (the summation order)."""
    for k in range(w_ptr.size - 1):
        prev = -1
        for t in range(w_ptr[k], w_ptr[k + 1]):
            if src[t] >= p or src[t] <= prev:
                return False
            prev = src[t]
    return True


@njit(cache=True)
def _scatter_ops(blocks, slot, r, bias, w_ptr, src, w):
    """Op k's bias and weights into its [b, w_1..w_p] block ``slot[k]`` (leaf row, output)."""
    for k in range(slot.size):
        row, o = slot[k] // r, slot[k] % r
        blocks[row, o, 0] = bias[k]
        for t in range(w_ptr[k], w_ptr[k + 1]):
            blocks[row, o, src[t] + 1] = w[t]


def _packed(feat, child, thr, p) -> np.ndarray:
    """The batch kernel's 8-byte records, when β is float32, p ≤ 256 and V < 2^24: the float32 β
    in the low word, ``child << 8 | feature`` in the high one (a leaf keeps child i − 1 and
    β = −inf); empty otherwise (the 16-byte records serve)."""
    V = feat.size
    if thr.dtype != np.float32 or p > 256 or V >= 2**24:
        return np.zeros(0, np.uint64)
    packed = aligned(V, np.uint64)
    high = (np.maximum(child, 0).astype(np.uint64) << np.uint64(8)) | feat.astype(np.uint64)
    packed[:] = thr.view(np.uint32).astype(np.uint64) | (high << np.uint64(32))
    return packed


def _depth(child_true: np.ndarray) -> int:
    """Edges on the longest root-to-leaf path, level by level (children of v: ct[v], ct[v]+1)."""
    frontier, d = np.zeros(1, np.int64), 0
    while True:
        kids = child_true[frontier]
        kids = kids[kids >= 0]
        if not kids.size:
            return d
        frontier = np.concatenate([kids, kids + 1])
        d += 1


def _node_buffer(child_true, feat, thr, p, r, dt) -> tuple[np.ndarray, np.ndarray]:
    """``buf`` (header, nodes, zeroed leaf rows) and the leaf row of every leaf vertex."""
    ts = dt.itemsize // 4  # int32 words per β
    fw = 2 if p < 2**16 else 4  # bytes per feature
    nw = 16 if 4 * (7 * ts + 2) + 7 * fw + 8 <= 64 else 32  # int32 words per node
    n_nodes = _count_nodes(child_true)
    L = int(np.count_nonzero(child_true < 0))
    per = 64 // dt.itemsize
    ws = -(-r * (p + 2) // per) * per  # leaf row: a multiple of 64 bytes
    woff = HEADER + n_nodes * nw
    buf = aligned(woff + L * ws * ts, np.int32)
    buf[:H_WS + 1] = (p, r, fw, nw, 0, woff, ws)
    row, root = _fill_nodes(child_true, feat, thr, buf, buf.view(dt), buf.view(np.uint16),
                            buf.view(np.uint8), nw, ts, fw)
    buf[H_ROOT] = root
    return buf, row


@njit(cache=True)
def _count_nodes(ct):
    """Nodes of three levels: one per internal vertex at a depth divisible by 3 (BFS order puts
    parents first)."""
    depth = np.zeros(ct.size, np.int64)
    n = 0
    for v in range(ct.size):
        if ct[v] >= 0:
            depth[ct[v]] = depth[ct[v] + 1] = depth[v] + 1
            n += depth[v] % 3 == 0
    return n


@njit(cache=True)
def _fill_nodes(ct, feat, thr, buf, th, u16, u8, nw, ts, fw):
    """Write the nodes (module docstring) into ``buf``; returns (leaf row of each leaf vertex,
    the root's code: 0, or ~0 when the root is a leaf)."""
    row = np.full(ct.size, -1, np.int64)
    if ct[0] < 0:
        row[0] = 0
        return row, -1
    roots = np.empty((buf.size - HEADER) // nw + 1, np.int64)
    pv = np.empty(15, np.int64)  # vertex at each heap position of the node (padding repeats)
    roots[0] = 0
    nn, nl, k = 1, 0, 0
    while k < nn:
        w = HEADER + k * nw
        fb = w + 7 * ts + 2
        pv[0] = roots[k]
        for j in range(7):
            u = pv[j]
            real = ct[u] >= 0
            f = feat[u] if real else 0
            if fw == 2:
                u16[2 * fb + j] = f
            else:
                buf[fb + j] = f
            th[w // ts + j] = thr[u] if real else -np.inf
            pv[2 * j + 1] = ct[u] if real else u
            pv[2 * j + 2] = ct[u] + 1 if real else u
        buf[w + 7 * ts] = nn
        buf[w + 7 * ts + 1] = nl
        nr = 0
        for e in range(8):
            u = pv[7 + e]
            if ct[u] >= 0:
                roots[nn] = u
                nn += 1
                code = nr
                nr += 1
            else:
                if row[u] < 0:
                    row[u] = nl
                    nl += 1
                code = 128 + row[u] - buf[w + 7 * ts + 1]
            u8[4 * fb + 7 * fw + e] = code
        k += 1
    return row, 0


# ---- kernels -------------------------------------------------------------------------------------
# uint64 indices: no wraparound code for negative indices.
U0, U1, U2, U3, U4, U7 = (np.uint64(k) for k in (0, 1, 2, 3, 4, 7))
UH = np.uint64(HEADER)


@njit(cache=True, inline="always")
def _leaf_eval(Xf, xo, Wf, w0, p, r, out, oo):
    """out[oo + o] = φ_o(b + Σ_k w_k x_k), k ascending, for the leaf row starting at Wf[w0]."""
    wa = w0 + r * (p + U1)
    for o in range(r):
        s = Wf[w0]
        for k in range(p):
            s += Wf[w0 + U1 + k] * Xf[xo + k]
        out[oo + o] = activate(np.int64(Wf[wa + o]), s)
        w0 += p + U1


@njit(cache=True, inline="always")
def _descend(x, xo, buf, dt, node, nw, ts, fw):
    """The code of the exit the query ``x[xo:xo + p]`` takes from ``node`` of ``buf``: a node ≥ 0,
    or ~(its leaf row).  Three tests, no branch: test j's children are 2j+1 (x < β) and 2j+2.
    ``buf`` is read through typed loads (β as ``dt``, features as uint16 or int32, exits as
    bytes)."""
    w = UH + node * nw
    tb = w // ts
    fb = w + U7 * ts + U2
    j = U0
    for _ in range(3):
        f = np.uint64(load_as(buf, U2 * fb + j, np.uint16)) if fw == 2 else np.uint64(buf[fb + j])
        j = U2 * j + (U1 if x[xo + f] < load_as(buf, tb + j, dt) else U2)
        # (NaN and x ≥ β take the right child, as the interpreter's complement test)
    code = np.int64(load_as(buf, U4 * fb + U7 * np.uint64(fw) + j - U7, np.uint8))
    nxt = np.int64(buf[w + U7 * ts + np.uint64(code >> 7)]) + (code & 127)
    return nxt ^ -(code >> 7)  # ~nxt for a leaf


@njit(cache=True, inline="always")
def _buf_leaf(x, xo, buf, dt, leaf, p, r, out, oo):
    """out[oo + o] = φ_o(b + Σ_k w_k x_k), k ascending, from leaf row ``leaf`` of ``buf``."""
    ts = np.uint64(out.itemsize // 4)  # int32 words per β
    w0 = np.uint64(buf[H_WOFF]) // ts + leaf * np.uint64(buf[H_WS])
    wa = w0 + r * (p + U1)
    for o in range(r):
        acc = load_as(buf, w0, dt)
        for k in range(p):
            acc += load_as(buf, w0 + U1 + k, dt) * x[xo + k]
        out[oo + o] = activate(np.int64(load_as(buf, wa + o, dt)), acc)
        w0 += p + U1


@njit(cache=True, inline="always")
def _leaf_source(rec, thr, leaf_id):
    """Where leaf ids live: slot 3 of the record (float32), or the leaf_id array (float64)."""
    if thr.itemsize == 4:
        return rec, U4, U3
    return leaf_id, U1, U0


@njit(cache=True)
def _block(Xf, a, nb, p, rec, thr, depth, leaf_id, Wf, ws, r, cur, out):
    """Route queries a .. a+nb-1 level-synchronously (prefetching every next record), then
    prefetch their leaf rows and evaluate them."""
    ts = np.uint64(thr.size * 4 // rec.size)  # 4 (float32 β) or 2 (float64 β)
    to = ts >> U1
    for t in range(nb):
        cur[t] = U0
    for _ in range(depth):
        xo = a * p
        for t in range(nb):
            i = cur[t]
            f = np.uint64(rec[i * U4])
            c = np.uint64(rec[i * U4 + U1])
            j = c + (U0 if Xf[xo + f] < thr[i * ts + to] else U1)
            cur[t] = j
            prefetch(rec, j * U4)
            xo += p
    lsrc, ls, lo = _leaf_source(rec, thr, leaf_id)
    _leaf_stage(Xf, a, nb, p, lsrc, ls, lo, Wf, ws, r, cur, out)


@njit(cache=True, inline="always")
def _leaf_stage(Xf, a, nb, p, lsrc, ls, lo, Wf, ws, r, cur, out):
    """The leaf stage of a block: queries a .. a+nb-1 have reached the nodes in ``cur``; their
    leaf ids are ``lsrc[node · ls + lo]``; prefetch each leaf's row of ``Wf``, then evaluate."""
    for t in range(nb):
        w0 = np.uint64(lsrc[cur[t] * ls + lo]) * ws
        cur[t] = w0
        prefetch(Wf, w0)
    xo = a * p
    for t in range(nb):
        _leaf_eval(Xf, xo, Wf, cur[t], p, r, out, (a + np.uint64(t)) * r)
        xo += p


U8, U32, M8 = np.uint64(8), np.uint64(32), np.uint64(255)


@njit(cache=True)
def _block_packed(Xf, a, nb, p, packed, depth, leaf_id, Wf, ws, r, cur, out):
    """:func:`_block` over the 8-byte records: one load per query and level."""
    for t in range(nb):
        cur[t] = U0
    for _ in range(depth):
        xo = a * p
        for t in range(nb):
            i = cur[t]
            high = packed[i] >> U32
            j = (high >> U8) + (U0 if Xf[xo + (high & M8)] < load_as(packed, U2 * i, np.float32)
                                else U1)
            cur[t] = j
            prefetch(packed, j)
            xo += p
    _leaf_stage(Xf, a, nb, p, leaf_id, U1, U0, Wf, ws, r, cur, out)


@njit(cache=True)
def _block_nodes(Xf, a, nb, p, buf, r, cur, out):
    """Route queries a .. a+nb-1 node-synchronously over ``buf`` (three levels a sweep, each next
    node's line prefetched), then evaluate their leaf rows (prefetched as they are reached)."""
    dt = out.dtype
    nw, fw = np.uint64(buf[H_NW]), buf[H_FW]
    ts = np.uint64(out.itemsize // 4)  # int32 words per β
    woff, ws = np.uint64(buf[H_WOFF]) // ts, np.uint64(buf[H_WS])
    for t in range(nb):  # codes as _descend returns them (the root's: 0, or ~0 for a leaf)
        cur[t] = np.uint64(np.int64(buf[H_ROOT]))
    active = nb
    while active:
        active = 0
        xo = a * p
        for t in range(nb):
            c = np.int64(cur[t])
            if c >= 0:
                c = _descend(Xf, xo, buf, dt, np.uint64(c), nw, ts, fw)
                cur[t] = np.uint64(c)
                if c >= 0:
                    prefetch(buf, UH + np.uint64(c) * nw)
                    active += 1
                else:
                    prefetch(buf, (woff + np.uint64(~c) * ws) * ts)
            xo += p
    xo = a * p
    for t in range(nb):
        _buf_leaf(Xf, xo, buf, dt, np.uint64(~np.int64(cur[t])), p, r, out,
                  (a + np.uint64(t)) * r)
        xo += p


@njit(cache=True)
def _predict_range(X, rec, thr, depth, leaf_id, Wp, r, block, start, end, out, packed, nodes):
    p = np.uint64(X.shape[1])
    Xf = X.reshape(-1)
    Wf = Wp.reshape(-1)
    ws = np.uint64(Wp.shape[1])
    cur = np.empty(block, np.uint64)
    for a in range(start, end, block):
        nb = min(block, end - a)
        if nodes.size:
            _block_nodes(Xf, np.uint64(a), nb, p, nodes, np.uint64(r), cur, out)
        elif packed.size:
            _block_packed(Xf, np.uint64(a), nb, p, packed, depth, leaf_id, Wf, ws, np.uint64(r),
                          cur, out)
        else:
            _block(Xf, np.uint64(a), nb, p, rec, thr, depth, leaf_id, Wf, ws, np.uint64(r), cur,
                   out)


@njit(cache=True)
def _predict_serial(X, rec, thr, depth, leaf_id, Wp, r, block, packed, nodes):
    out = np.empty(X.shape[0] * r, dtype=Wp.dtype)
    # a typed start: the parallel path's compiled _predict_range serves (a literal 0 would compile
    # a second specialization)
    _predict_range(X, rec, thr, depth, leaf_id, Wp, r, block, np.int64(0), X.shape[0], out,
                   packed, nodes)
    return out.reshape(X.shape[0], r)


@njit(cache=True, parallel=True)
def _predict_parallel(X, rec, thr, depth, leaf_id, Wp, r, block, packed, nodes, chunk):
    m = X.shape[0]
    out = np.empty(m * r, dtype=Wp.dtype)
    for c in prange((m + chunk - 1) // chunk):
        _predict_range(X, rec, thr, depth, leaf_id, Wp, r, block, c * chunk,
                       min(m, (c + 1) * chunk), out, packed, nodes)
    return out.reshape(m, r)


@njit(cache=True)
def _one(x, buf, out):
    """One query into ``out``; returns 0, or 1 if x has a non-finite entry, 2 if not p entries.
    No views of ``buf`` (typed loads instead): the call costs little more than its loads."""
    p = np.uint64(buf[H_P])
    if x.size != p:
        return 2
    for k in range(p):
        if not np.isfinite(x[k]):
            return 1
    dt = out.dtype
    nw, fw = np.uint64(buf[H_NW]), buf[H_FW]
    ts = np.uint64(out.itemsize // 4)  # int32 words per β
    c = np.int64(buf[H_ROOT])
    while c >= 0:
        c = _descend(x, U0, buf, dt, np.uint64(c), nw, ts, fw)
    _buf_leaf(x, U0, buf, dt, np.uint64(~c), p, np.uint64(out.size), out, U0)
    return 0


_ONE_ENTRY: dict = {}


def _one_entry(dt: np.dtype):
    """The compiled ``_one`` for a 1-D row of ``dt`` with any stride (compiled once, then cached):
    calling it skips Numba's dispatcher, which a row already known to have that type does not
    need."""
    if dt not in _ONE_ENTRY:
        row = np.zeros(4, dt)[::2]  # layout "A": any 1-D row of dt unboxes as it is
        buf = np.zeros(HEADER, np.int32)
        buf[H_P] = 3  # x.size != p: returns at once
        _one(row, buf, np.zeros(1, dt))
        sig = next(s for s in _one.signatures
                   if s[0].dtype == numba.from_dtype(dt) and s[0].layout == "A")
        _ONE_ENTRY[dt] = _one.overloads[sig].entry_point
    return _ONE_ENTRY[dt]


@njit(cache=True)
def _count(X, rec, thr, cost):
    ts = thr.size * 4 // rec.size
    to = ts >> 1
    m = X.shape[0]
    counts = np.zeros((m, cost.shape[1]), np.int64)
    for q in range(m):
        i = 0
        while True:
            for c in range(cost.shape[1]):
                counts[q, c] += cost[i, c]
            c = rec[4 * i + 1]
            if c < i:
                break
            i = c + (0 if X[q, rec[4 * i]] < thr[ts * i + to] else 1)
    return counts


@njit(cache=True)
def _leaves(X, rec, thr, depth):
    ts = thr.size * 4 // rec.size
    to = ts >> 1
    node = np.empty(X.shape[0], np.int64)
    for q in range(X.shape[0]):
        i = 0
        for _ in range(depth):
            i = rec[4 * i + 1] + (0 if X[q, rec[4 * i]] < thr[ts * i + to] else 1)
        node[q] = i
    return node


# ---- public wrappers -----------------------------------------------------------------------------
def _queries(router: AxisRouter, X) -> np.ndarray:
    X = np.ascontiguousarray(X, dtype=router.dtype)
    if X.ndim != 2 or X.shape[1] != router.p:
        raise ValueError(f"X must have shape (m, {router.p}); got {X.shape}")
    return X


def sweeps(router: AxisRouter) -> str:
    """How :func:`predict` routes a batch: "levels" over the records, or "nodes" over ``buf``
    when the records a level sweep reads pass :data:`NODE_BYTES` and a node is one cache line
    (float32 β, p < 2^16; the two-line nodes of float64 trees read 109 against 57 ns per query
    at 2^20 points, p = 1)."""
    levels = router.packed if router.packed.size else router.rec
    one_line = router.buf[H_NW] == 16
    return "nodes" if one_line and levels.nbytes > NODE_BYTES else "levels"


def predict(router: AxisRouter, X, threads: int | None = None,
            sweep: str | None = None) -> np.ndarray:
    """Outputs (m, r) of a batch; ``threads`` caps the threads (default: Numba's setting);
    ``sweep`` ("levels" or "nodes") overrides :func:`sweeps`."""
    X = _queries(router, X)
    sweep = sweep or sweeps(router)
    if sweep not in ("levels", "nodes"):
        raise ValueError(f"sweep must be 'levels' or 'nodes'; got {sweep!r}")
    block = NODE_BLOCK if sweep == "nodes" else BLOCK
    args = (router.rec, router.thr, router.depth, router.leaf_id, router.Wp, router.r, block,
            router.packed, router.buf if sweep == "nodes" else _NO_NODES)
    nt = thread_cap(threads)
    if nt > 1 and X.shape[0] >= 8 * block:
        chunk = max(block, -(-X.shape[0] // (8 * nt)) // block * block)
        with numba_threads(nt):
            return _predict_parallel(X, *args, chunk)
    return _predict_serial(X, *args)


_ndarray = np.ndarray
_empty = np.empty


def predict_one(router: AxisRouter, x) -> np.ndarray:
    """Output (r,) of one query ``x`` (p,) — the lowest-overhead path: a 1-D ndarray of the
    router's dtype goes straight to the compiled entry point (which checks length and finiteness);
    anything else is converted first."""
    dt = router.Wp.dtype
    if type(x) is not _ndarray or x.dtype is not dt or x.ndim != 1:
        x = np.ascontiguousarray(x, dtype=dt)
        if x.ndim != 1:
            raise ValueError(f"x must have shape ({router.p},); got {x.shape}")
    out = _empty(router.r, dt)
    if router.entry(x, router.buf, out):
        refuse_one(router, x)
    return out


def refuse_one(router: AxisRouter, x) -> None:
    """The error of a row the single-query kernel refused (non-finite, or not p entries)."""
    if np.shape(x) != (router.p,):
        raise ValueError(f"x must have shape ({router.p},); got {np.shape(x)}")
    raise ValueError("x has a non-finite value (NaN or inf)")


def count(router: AxisRouter, X) -> dict[str, np.ndarray]:
    """Counted twin: the interpreter's per-input counts
    (``kernels.executors.tree.hyperplane.tree_counts`` keys)."""
    X = _queries(router, X)
    return tree_counts(_count(X, router.rec, router.thr, router.cost))


def leaves(router: AxisRouter, X) -> np.ndarray:
    """The leaf (vertex id) each query reaches."""
    return _leaves(_queries(router, X), router.rec, router.thr, router.depth)
