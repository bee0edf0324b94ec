"""Pieces every executor shares, written once: the activation φ (njit and NumPy), the local field in
the one summation order all executors use, its cost under seed 000 §2.2, the per-input count dict,
and the memory helpers of the routing kernels (cache-line aligned arrays, a prefetch hint)."""

from __future__ import annotations

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


def activate_np(code: int, s: np.ndarray) -> np.ndarray:
    """φ(s) over a NumPy array (the references' and peers' activation)."""
    if code == 1:
        return np.maximum(s, 0)
    if code == 2:
        return (s >= 0).astype(s.dtype)
    if code == 3:
        return np.sign(s)
    return s



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


def aligned(shape, dtype, align: int = 64) -> np.ndarray:
    """Zeroed C array whose data starts on an ``align``-byte boundary (cache-line aligned rows)."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape)) * dtype.itemsize
    buf = np.zeros(nbytes + align, np.uint8)
    off = (-buf.ctypes.data) % align
    return buf[off:off + nbytes].view(dtype).reshape(shape)
