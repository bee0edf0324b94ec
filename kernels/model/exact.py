"""ExactNetwork: a :class:`~kernels.model.network.Network` whose weights and biases are Python
integers (or :class:`fractions.Fraction`) — the model that ``kernels.executors.exact`` evaluates
with no rounding at all (constructions such as ``vardi`` need weights of hundreds of bits)."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from functools import cached_property

import numpy as np

from kernels.model.network import Network


@dataclass(eq=False)
class ExactNetwork(Network):
    """A :class:`Network` whose ``bias`` and ``w_val`` are object arrays of ints/Fractions."""

    def astype(self, dtype) -> ExactNetwork:
        """Exact arithmetic has no storage dtype: the network itself."""
        return self

    @cached_property
    def input_scale(self) -> int | None:
        """E ≥ 0 such that every weight from an input and every bias is an integer multiple of
        2^−E and every other weight an integer (the integer evaluation path), or None."""
        E = 0
        first = self.w_src < self.p
        for v, from_input in zip(self.w_val, first, strict=True):
            if type(v) is int:
                continue
            d = Fraction(v).denominator
            if not from_input or d & (d - 1):
                return None
            E = max(E, d.bit_length() - 1)
        for v in self.bias:
            d = Fraction(v).denominator
            if d & (d - 1):
                return None
            E = max(E, d.bit_length() - 1)
        return E

    def weight_bits(self) -> int:
        """Bit width of the largest weight or bias (:func:`value_bits`)."""
        return max((value_bits(v) for v in (*self.w_val, *self.bias)), default=0)

    def nbytes(self) -> int:
        ints = sum(8 + abs(int(Fraction(v).numerator)).bit_length() // 8
                   for v in (*self.w_val, *self.bias))
        return ints + sum(a.nbytes for a in (self.layer_ptr, self.act, self.w_ptr, self.w_src))

    def to_float(self) -> Network:
        """The same network in float64 (refused when a weight is not exactly representable)."""
        w = np.array([float(v) for v in self.w_val], dtype=np.float64)
        b = np.array([float(v) for v in self.bias], dtype=np.float64)
        bad = [v for v, f in zip((*self.w_val, *self.bias), (*w, *b), strict=True)
               if Fraction(f) != Fraction(v)]
        if bad:
            raise ValueError(f"a weight ({bad[0]}) is not exactly representable in float64")
        return Network(self.p, self.layer_ptr, self.act, b, self.w_ptr, self.w_src, w)


def value_bits(v) -> int:
    """Bit width of a weight: ``bit_length`` of |v| for an integer; for a Fraction the larger of
    its numerator's and denominator's."""
    if type(v) is int:
        return abs(v).bit_length()
    f = Fraction(v)
    return max(abs(f.numerator).bit_length(), f.denominator.bit_length())


def from_coo(p: int, layer_ptr, act, bias, rows, cols, vals) -> ExactNetwork:
    """Build from triplets (rows sorted by neuron, then source); weights are kept as given."""
    layer_ptr = np.asarray(layer_ptr, dtype=np.int64)
    N = int(layer_ptr[-1])
    rows = np.asarray(rows, dtype=np.int64)
    order = np.lexsort((np.asarray(cols, dtype=np.int64), rows))
    w_src = np.asarray(cols, dtype=np.int64)[order]
    w_val = np.empty(len(vals), dtype=object)
    w_val[:] = [vals[k] for k in order]
    w_ptr = np.zeros(N + 1, dtype=np.int64)
    np.add.at(w_ptr, rows + 1, 1)
    np.cumsum(w_ptr, out=w_ptr)
    b = np.empty(N, dtype=object)
    b[:] = list(bias)
    return ExactNetwork(int(p), layer_ptr, np.asarray(act, dtype=np.int8), b, w_ptr, w_src, w_val)
