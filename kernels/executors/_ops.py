"""Pieces every executor shares, written once: the activation φ (njit and NumPy), the local field in
the one summation order all executors use, its cost under seed 000 §2.2, the per-input count dict,
and the memory helpers of the routing kernels (cache-line aligned arrays, a prefetch hint)."""

from __future__ import annotations

from contextlib import contextmanager

import numba
import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic


@njit(cache=True, inline="always")
def activate(code, s):
    """φ(s) for activation ``code`` (0 identity, 1 relu, 2 threshold, 3 sign)."""
    if code == 1:
        return s if s > 0 else s * 0
    if code == 2:
        return s * 0 + 1 if s >= 0 else s * 0
    if code == 3:
        if s > 0:
            return s * 0 + 1
        if s < 0:
            return s * 0 - 1
        return s * 0
    return s


@njit(cache=True, inline="always")
def local_field(b, lo, hi, w_val, w_src, units):
    """b + Σ_t w_val[t]·units[w_src[t]] over t in [lo, hi): the bias first, then the weights in
    stored order — the summation order every executor shares, so their outputs agree bit for bit."""
    s = b
    for t in range(lo, hi):
        s += w_val[t] * units[w_src[t]]
    return s


@njit(cache=True, inline="always")
def field_cost(b, n_weights):
    """(mul, add) of one local field: a product per weight, (terms − 1) additions, the bias a
    term when it is non-zero (module docstring)."""
    terms = n_weights + (1 if b != 0 else 0)
    return n_weights, (terms - 1 if terms > 1 else 0)


def activate_np(code: int, s: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """φ(s) over a NumPy array, keeping its dtype: floats (the references, peers, random workloads)
    or objects holding exact ints/Fractions (``executors.exact``: threshold and sign give Python
    ints).  ``out`` receives the result when given (``out=s`` works in place)."""
    if code == 1:
        y = np.maximum(s, 0, out=out)
    elif code == 2:
        y = s >= 0  # objects: via int64, so φ gives Python ints 1/0, not bools
        y = y.astype(np.int64).astype(object) if s.dtype == object else y.astype(s.dtype)
    elif code == 3:
        y = np.sign(s, out=out)
    else:
        y = s
    if out is not None and y is not out:
        out[...] = y
        return out
    return y


def thread_cap(threads: int | None) -> int:
    """The threads a batch may use: ``threads`` capped by Numba's setting (None: Numba's)."""
    n = numba.get_num_threads()
    return n if threads is None else min(threads, n)


@contextmanager
def numba_threads(n: int):
    """Run the block with Numba's thread count set to ``n``; the old count is restored after."""
    prev = numba.get_num_threads()
    numba.set_num_threads(n)
    try:
        yield n
    finally:
        numba.set_num_threads(prev)


def counts_dict(c: np.ndarray) -> dict[str, np.ndarray]:
    """(m, 3) [mul, add, cmp] counts -> the per-input dict every counted twin returns."""
    return {"mul": c[:, 0].copy(), "add": c[:, 1].copy(), "cmp": c[:, 2].copy(),
            "total": c[:, :3].sum(axis=1)}


@intrinsic
def prefetch(typingctx, arr, idx):
    """Hint the cache line holding ``arr[idx]`` into L1 (``llvm.prefetch``; never faults)."""
    sig = types.void(arr, idx)

    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        i8p = ir.PointerType(ir.IntType(8))
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
        ptr = builder.bitcast(builder.gep(ary.data, [args[1]]), i8p)
        builder.call(fn, [ptr, ir.Constant(i32, 0), ir.Constant(i32, 3), ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def load_as(typingctx, arr, idx, ty):
    """Element ``idx`` of ``arr``'s memory read as type ``ty`` (a NumPy scalar type or an array's
    ``dtype``), indexed in units of ``ty``: one typed load, unchecked.  A packed buffer read this
    way needs no ``view`` per call (each view is a new array and a reference count, which cost a
    single query several times its traversal)."""
    elem = ty.dtype if isinstance(ty, types.DType) else ty.instance_type
    sig = elem(arr, idx, ty)

    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        ptr = builder.bitcast(ary.data, context.get_value_type(elem).as_pointer())
        return builder.load(builder.gep(ptr, [args[1]]))

    return sig, codegen


PAGE_BYTES = 4096


def aligned(shape, dtype, align: int = 64, zero: bool = True) -> np.ndarray:
    """C array (zeroed unless ``zero`` is False) whose data starts on an ``align``-byte boundary
    (cache-line aligned rows)."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape)) * dtype.itemsize
    buf = (np.zeros if zero else np.empty)(nbytes + align, np.uint8)
    off = (-buf.ctypes.data) % align
    return buf[off:off + nbytes].view(dtype).reshape(shape)


def scratch(shape, dtype) -> np.ndarray:
    """An uninitialised per-call buffer that starts on a page boundary, so that where its rows fall
    within the 4 KiB pages is the same on every call and in every process, whatever the heap did
    before.  An address's low 12 bits pick its L1 set and decide 4 KiB aliasing (a load whose low
    12 bits match an older store still in the store buffer waits for it); from the heap, a
    buffer's offset within its page changed from process to process, and the kernels' speed with
    it (``dense.forward``)."""
    return aligned(shape, dtype, PAGE_BYTES, zero=False)


@njit(cache=True)
def page_empty(n, like):
    """:func:`scratch` inside a kernel: ``n`` uninitialised elements of ``like``'s dtype starting
    on a page boundary (a C array; ``.reshape`` gives it rows)."""
    pad = PAGE_BYTES // like.itemsize
    buf = np.empty(n + pad, like.dtype)
    off = ((-buf.ctypes.data) % PAGE_BYTES) // like.itemsize
    return buf[off:off + n]


def batch_inputs(net, X) -> np.ndarray:
    """X as a C-contiguous (m, p) array in the network's dtype (the executors' one input check)."""
    X = np.ascontiguousarray(X, dtype=net.w_val.dtype)
    if X.ndim != 2 or X.shape[1] != net.p:
        raise ValueError(f"X must have shape (m, {net.p}); got {X.shape}")
    return X
