"""The model: :class:`Network` (seed 000, eq. 1), :class:`ConditionalNetwork` (§2.3) and
:class:`Memorizer` (what a construction returns).

``Network`` — an unconditional feedforward network.  Units are numbered in one flat space:
units ``0 .. p-1`` are the inputs, unit ``p + j`` is neuron ``j``.  Neurons are stored layer by
layer (``layer_ptr``); neuron ``j`` computes ``φ_j(b_j + Σ_k w_jk v_k)`` over *any* earlier unit, so
skip connections (eq. 1 feeds layer ℓ the concatenation of all earlier outputs) cost nothing extra.
Incoming weights are CSR (``w_ptr, w_src, w_val``), stored non-zeros only; a zero bias is stored as
+0.0 (±0 is zero: Definition 1).  A bias ``b_j`` is the weight on the paper's constant input 1 of
the augmented pattern x̄ = [1; x].  The output is the last layer.  Activations: ``identity``
(linear output), ``relu`` max(0, s), ``threshold`` 1[s ≥ 0], ``sign`` (−1, 0, +1).

``ConditionalNetwork`` — a rooted full binary tree, stored in BFS order (root 0).  Each vertex
runs a short program of neuron operations ``v_new ← φ(b + Σ β_k v_k)`` whose sources are inputs or
variables defined earlier on the root-to-vertex path; every internal vertex then tests one variable
``v ⋚ β`` and moves to ``child_true`` or ``child_false`` (the two edges are complementary, §2.3).
A leaf names the ``r`` variables that form the output.  Variables: ``0 .. p-1`` are the inputs,
each operation defines one new variable with a global id ``≥ p``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

ACTIVATIONS = {"identity": 0, "relu": 1, "threshold": 2, "sign": 3}
ACTIVATION_NAMES = {v: k for k, v in ACTIVATIONS.items()}
# Comparisons per activation under the cost model (seed 000 §2.2): a ReLU or a threshold is one
# comparison; sign(s) ∈ {−1, 0, 1} needs two; identity none.
ACT_CMP = np.array([0, 1, 1, 2], dtype=np.int64)

TESTS = {"<": 0, "<=": 1, ">": 2, ">=": 3, "==": 4, "!=": 5}
TEST_NAMES = {v: k for k, v in TESTS.items()}
DTYPES = ("float64", "float32")


def act_code(name: str) -> int:
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; choose from "
                         f"{', '.join(ACTIVATIONS)}") from None


def check_dtype(dtype) -> np.dtype:
    name = np.dtype(dtype).name if not isinstance(dtype, str) else dtype
    if name not in DTYPES:
        raise ValueError(f"unknown dtype {name!r}; choose from {', '.join(DTYPES)}")
    return np.dtype(name)


@dataclass(frozen=True)
class Layer:
    """One layer for :meth:`Network.from_layers`: ``W`` (width × Σ widths of ``sources``)."""

    W: np.ndarray
    bias: np.ndarray | None = None
    activation: str = "relu"
    sources: tuple[int, ...] | None = None  # layer indices (0 = input); default (ℓ-1,)


@dataclass(eq=False)
class Network:
    """Unconditional feedforward network over flat arrays (see module docstring)."""

    p: int
    layer_ptr: np.ndarray  # int64 (L+1,): neurons of layer ℓ are layer_ptr[ℓ-1] : layer_ptr[ℓ]
    act: np.ndarray  # int8 (N,)
    bias: np.ndarray  # float (N,)
    w_ptr: np.ndarray  # int64 (N+1,)
    w_src: np.ndarray  # int64 (nnz,), unit ids
    w_val: np.ndarray  # float (nnz,)
    # True where nothing was fitted to the reference's rounding (random networks): an executor may
    # sum a layer in another order (BLAS).  A named field, kept by astype, because it changes bits.
    reorder: bool = False

    # ---- construction -------------------------------------------------------------------------
    @classmethod
    def from_coo(cls, p: int, widths, activations, rows, cols, vals, bias=None) -> Network:
        """Build from triplets: ``rows`` neuron ids, ``cols`` unit ids, ``vals`` weights.

        ``widths[ℓ]`` neurons per layer, ``activations[ℓ]`` a name per layer.  Zero weights are
        dropped; a weight into neuron j must come from an input or an earlier layer.
        """
        widths = np.asarray(widths, dtype=np.int64)
        if widths.ndim != 1 or len(widths) < 1 or (widths < 1).any():
            raise ValueError("every layer needs at least one neuron")
        if len(activations) != len(widths):
            raise ValueError("one activation per layer is needed")
        layer_ptr = np.concatenate([[0], np.cumsum(widths)]).astype(np.int64)
        N = int(layer_ptr[-1])
        act = np.repeat(np.array([act_code(a) for a in activations], dtype=np.int8), widths)
        rows = np.asarray(rows, dtype=np.int64).ravel()
        cols = np.asarray(cols, dtype=np.int64).ravel()
        vals = np.asarray(vals, dtype=np.float64).ravel()
        keep = vals != 0
        rows, cols, vals = rows[keep], cols[keep], vals[keep]
        if rows.size and (rows.min() < 0 or rows.max() >= N):
            raise ValueError("a weight names a neuron that does not exist")
        layer_of = np.searchsorted(layer_ptr, rows, side="right") - 1
        if cols.size and (cols.min() < 0 or (cols >= p + layer_ptr[layer_of]).any()):
            raise ValueError("a weight must come from an input or an earlier layer")
        order = np.lexsort((cols, rows))
        rows, cols, vals = rows[order], cols[order], vals[order]
        if rows.size > 1:
            dup = (rows[1:] == rows[:-1]) & (cols[1:] == cols[:-1])
            if dup.any():
                raise ValueError("a weight appears twice")
        w_ptr = np.zeros(N + 1, dtype=np.int64)
        np.add.at(w_ptr, rows + 1, 1)
        np.cumsum(w_ptr, out=w_ptr)
        b = np.zeros(N) if bias is None else np.asarray(bias, dtype=np.float64).ravel()
        if b.shape != (N,):
            raise ValueError(f"bias must have one entry per neuron ({N})")
        return cls(int(p), layer_ptr, act, b + 0.0, w_ptr, cols, vals)  # −0.0 + 0.0 = +0.0

    @classmethod
    def from_layers(cls, p: int, layers: list[Layer]) -> Network:
        """Build from dense per-layer matrices (``Layer.sources`` gives skip connections)."""
        widths = [np.atleast_2d(lay.W).shape[0] for lay in layers]
        starts = np.concatenate([[0, p], p + np.cumsum(widths)]).astype(np.int64)  # unit offsets
        sizes = [p, *widths]
        rows, cols, vals, biases = [], [], [], []
        first = 0
        for ell, lay in enumerate(layers, start=1):
            W = np.atleast_2d(np.asarray(lay.W, dtype=np.float64))
            src = lay.sources if lay.sources is not None else (ell - 1,)
            if any(s < 0 or s >= ell for s in src):
                raise ValueError(f"layer {ell} may only read layers 0..{ell - 1}")
            unit_ids = np.concatenate([np.arange(starts[s], starts[s] + sizes[s]) for s in src])
            if W.shape[1] != len(unit_ids):
                raise ValueError(f"layer {ell}: W has {W.shape[1]} columns, its sources give "
                                 f"{len(unit_ids)}")
            i, k = np.nonzero(W)
            rows.append(first + i)
            cols.append(unit_ids[k])
            vals.append(W[i, k])
            biases.append(np.zeros(W.shape[0]) if lay.bias is None
                          else np.asarray(lay.bias, dtype=np.float64).ravel())
            first += W.shape[0]
        return cls.from_coo(p, widths, [lay.activation for lay in layers],
                            np.concatenate(rows), np.concatenate(cols), np.concatenate(vals),
                            np.concatenate(biases))

    # ---- shape ----------------------------------------------------------------------------------
    @property
    def n_neurons(self) -> int:
        return int(self.layer_ptr[-1])

    @property
    def n_weights(self) -> int:
        """Stored non-zero weights (biases not included)."""
        return int(self.w_val.size)

    @property
    def depth(self) -> int:
        return len(self.layer_ptr) - 1

    @property
    def r(self) -> int:
        return int(self.layer_ptr[-1] - self.layer_ptr[-2])

    @property
    def widths(self) -> np.ndarray:
        return np.diff(self.layer_ptr)

    @cached_property
    def layer_of_unit(self) -> np.ndarray:
        """Layer index of every unit (0 for inputs)."""
        return np.concatenate([np.zeros(self.p, dtype=np.int64),
                               np.repeat(np.arange(1, self.depth + 1), self.widths)])

    @cached_property
    def paper_weights(self) -> int:
        """Σ_ℓ dim W_ℓ (seed 000 §2.2): width of layer ℓ × total width of the layers it reads.

        A layer "reads" a layer when at least one stored weight connects them, so a network without
        skip connections gets the usual Σ n_ℓ n_{ℓ-1}, and a rare skip is charged honestly."""
        sizes = np.concatenate([[self.p], self.widths])
        total = 0
        for ell in range(1, self.depth + 1):
            a, b = self.layer_ptr[ell - 1], self.layer_ptr[ell]
            src = self.w_src[self.w_ptr[a]:self.w_ptr[b]]
            read = np.unique(self.layer_of_unit[src])
            total += int(sizes[ell]) * int(sizes[read].sum())
        return total

    def summary(self) -> dict:
        return {"neurons": self.n_neurons, "weights": self.n_weights,
                "biases": int(np.count_nonzero(self.bias)),
                "paper_weights": self.paper_weights, "depth": self.depth,
                "widths": [int(w) for w in self.widths]}

    def astype(self, dtype) -> Network:
        """The same network with weights and biases in ``dtype`` (``reorder`` kept)."""
        dt = check_dtype(dtype)
        if self.w_val.dtype == dt:
            return self
        return Network(self.p, self.layer_ptr, self.act,
                       self.bias.astype(dt) + dt.type(0),  # an underflow: +0.0
                       self.w_ptr, self.w_src, self.w_val.astype(dt), self.reorder)

    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.layer_ptr, self.act, self.bias, self.w_ptr,
                                      self.w_src, self.w_val))


@dataclass(eq=False)
class ConditionalNetwork:
    """The §2.3 conditional network over flat arrays (see module docstring)."""

    p: int
    r: int
    n_vars: int
    # vertices, BFS order
    test_var: np.ndarray  # int64 (V,), -1 at leaves
    test_op: np.ndarray  # int8 (V,), TESTS code
    test_thr: np.ndarray  # float (V,)
    child_true: np.ndarray  # int64 (V,), -1 at leaves
    child_false: np.ndarray  # int64 (V,)
    op_ptr: np.ndarray  # int64 (V+1,): ops of vertex v are op_ptr[v] : op_ptr[v+1]
    out_var: np.ndarray  # int64 (V, r), -1 at internal vertices
    # neuron operations
    op_var: np.ndarray  # int64 (K,), the variable each op defines
    op_act: np.ndarray  # int8 (K,)
    op_bias: np.ndarray  # float (K,)
    op_w_ptr: np.ndarray  # int64 (K+1,)
    op_src: np.ndarray  # int64 (nnz,), variable ids
    op_w: np.ndarray  # float (nnz,)

    @property
    def n_vertices(self) -> int:
        return int(self.test_var.size)

    @property
    def n_ops(self) -> int:
        return int(self.op_var.size)

    @property
    def n_leaves(self) -> int:
        return int(np.count_nonzero(self.child_true < 0))

    @cached_property
    def depth(self) -> int:
        """Edges on the longest root-to-leaf path."""
        level = np.zeros(self.n_vertices, dtype=np.int64)
        for v in range(self.n_vertices):  # BFS order: parents come first
            if self.child_true[v] >= 0:
                level[self.child_true[v]] = level[self.child_false[v]] = level[v] + 1
        return int(level.max(initial=0))

    def summary(self) -> dict:
        return {"vertices": self.n_vertices, "leaves": self.n_leaves, "neurons": self.n_ops,
                "weights": int(self.op_w.size), "depth": self.depth}

    def astype(self, dtype) -> ConditionalNetwork:
        dt = check_dtype(dtype)
        if self.op_w.dtype == dt:
            return self
        kw = {k: getattr(self, k) for k in self.__dataclass_fields__}
        kw.update(test_thr=self.test_thr.astype(dt), op_bias=self.op_bias.astype(dt),
                  op_w=self.op_w.astype(dt))
        return ConditionalNetwork(**kw)

    def nbytes(self) -> int:
        return sum(v.nbytes for k in self.__dataclass_fields__
                   if isinstance(v := getattr(self, k), np.ndarray))


# Executors: name -> (module, attribute of the Memorizer the module runs on).  Each module offers
# ``predict(obj, X) -> (m, r)`` and ``count(obj, X) -> dict of per-input int64 arrays``.
