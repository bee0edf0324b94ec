"""Writing §2.3 conditional networks by hand, vertex by vertex: :class:`TreeBuilder`.

Every step is checked as it is made (a variable must be an input or defined earlier on the
root-to-vertex path; a vertex is closed by a split or as a leaf), and :meth:`TreeBuilder.build`
runs :func:`kernels.model.conditional.validate` on the result.

Usage (Algorithm 1 of seed 000, first lines)::

    b = TreeBuilder(p=4, r=2)
    yes, no = b.split(b.root, b.input(0), ">", 3.0)     # if u_1 > 3
    h = b.dense(yes, W1, b.inputs())                     #   h = φ(W1 u)
    z = b.dense(yes, W2, h)                              #   z = φ(W2 h)
    ...
    b.leaf(no, b.dense(no, W3, b.inputs()))              # else o = φ(W3 u)
    cond = b.build()

Variable ids are global and stable: ``b.input(k) == k``; each operation returns ``p + (number of
operations created before it)``.  Vertex handles returned by :meth:`TreeBuilder.split` are builder
ids; :meth:`TreeBuilder.build` renumbers vertices into BFS order (``child_true`` before
``child_false``) and :attr:`TreeBuilder.vertex_map` gives builder id → BFS index.
"""

from __future__ import annotations

import numpy as np

from kernels.model.conditional import test_code, validate
from kernels.model.network import ConditionalNetwork, act_code, check_dtype


class TreeBuilder:
    """Grow a conditional network vertex by vertex; every step is checked as it is made."""

    def __init__(self, p: int, r: int):
        if int(p) < 1 or int(r) < 1:
            raise ValueError("a conditional network needs p >= 1 inputs and r >= 1 outputs")
        self.p, self.r = int(p), int(r)
        self._parent = [-1]
        self._depth = [0]
        self._ops: list[list[int]] = [[]]  # per vertex: op indices
        self._test: list[tuple | None] = [None]  # (var, code, thr)
        self._kids: list[tuple | None] = [None]
        self._out: list[list[int] | None] = [None]
        self._op_vertex: list[int] = []
        self._op_data: list[tuple] = []  # (act, bias, src array, w array)
        self.vertex_map: np.ndarray | None = None

    root = 0

    # ---- variables ------------------------------------------------------------------------------
    def input(self, k: int) -> int:
        if not 0 <= k < self.p:
            raise ValueError(f"input {k} does not exist (p = {self.p})")
        return int(k)

    def inputs(self) -> np.ndarray:
        return np.arange(self.p, dtype=np.int64)

    def _vertex(self, v: int) -> int:
        if not 0 <= v < len(self._parent):
            raise ValueError(f"vertex {v} does not exist")
        if self._test[v] is not None or self._out[v] is not None:
            raise ValueError(f"vertex {v} is closed (it already has a test or outputs)")
        return v

    def _check_available(self, v: int, var: int, what: str) -> None:
        """``var`` must be an input or defined at ``v`` or one of its ancestors (so far)."""
        var = int(var)
        if 0 <= var < self.p:
            return
        j = var - self.p
        if not 0 <= j < len(self._op_vertex):
            raise ValueError(f"{what} reads variable {var}, which is undefined")
        u, d = v, self._depth[self._op_vertex[j]]
        while self._depth[u] > d:
            u = self._parent[u]
        if u != self._op_vertex[j]:
            raise ValueError(f"{what} reads variable {var}, which is defined at vertex "
                             f"{self._op_vertex[j]}, not on the root-to-vertex path of vertex {v}")

    # ---- operations -----------------------------------------------------------------------------
    def op(self, v: int, src=(), w=(), bias: float = 0.0, act: str = "identity") -> int:
        """Append ``φ(bias + Σ w_k · var[src_k])`` to vertex ``v``; returns the new variable id."""
        v = self._vertex(v)
        src = np.asarray(src, dtype=np.int64).ravel()
        w = np.asarray(w, dtype=np.float64).ravel()
        if src.shape != w.shape:
            raise ValueError(f"op at vertex {v}: {src.size} sources but {w.size} weights")
        if not (np.isfinite(w).all() and np.isfinite(bias)):
            raise ValueError(f"op at vertex {v}: weights and bias must be finite")
        code = act_code(act)
        var = self.p + len(self._op_data)
        for s in src[(src < 0) | (src >= self.p)].tolist():  # inputs are always available
            self._check_available(v, s, f"op at vertex {v} (variable {var})")
        self._op_vertex.append(v)  # only now, after every check passed
        self._op_data.append((code, float(bias), src, w))
        self._ops[v].append(len(self._op_data) - 1)
        return var

    def const(self, v: int, value: float) -> int:
        """A constant: a bias-only identity op (costs nothing under the cost model)."""
        return self.op(v, bias=value)

    def dense(self, v: int, W, src, bias=None, act: str = "relu", *,
              drop_zeros: bool = True) -> np.ndarray:
        """One op per row of ``W`` (k × len(src)) over variables ``src``; returns k variable ids.

        Zero weights are dropped (as :meth:`Network.from_layers` does) unless ``drop_zeros=False``,
        which stores them so that the op count is the paper's dim W."""
        W = np.atleast_2d(np.asarray(W, dtype=np.float64))
        src = np.asarray(src, dtype=np.int64).ravel()
        if W.shape[1] != src.size:
            raise ValueError(f"W has {W.shape[1]} columns but {src.size} sources were given")
        b = np.zeros(W.shape[0]) if bias is None else np.asarray(bias, dtype=np.float64).ravel()
        if b.shape != (W.shape[0],):
            raise ValueError(f"bias must have one entry per row of W ({W.shape[0]})")
        out = np.empty(W.shape[0], dtype=np.int64)
        for i in range(W.shape[0]):
            keep = W[i] != 0 if drop_zeros else np.ones(src.size, dtype=bool)
            out[i] = self.op(v, src[keep], W[i, keep], b[i], act)
        return out

    # ---- structure ------------------------------------------------------------------------------
    def split(self, v: int, var: int, test: str, thr: float) -> tuple[int, int]:
        """Close ``v`` with the test ``var ⋚ thr``; returns (child_true, child_false)."""
        v = self._vertex(v)
        code = test_code(test)
        self._check_available(v, var, f"test at vertex {v}")
        if not np.isfinite(thr):
            raise ValueError(f"test at vertex {v}: threshold must be finite")
        kids = []
        for _ in range(2):
            kids.append(len(self._parent))
            self._parent.append(v)
            self._depth.append(self._depth[v] + 1)
            self._ops.append([])
            self._test.append(None)
            self._kids.append(None)
            self._out.append(None)
        self._test[v] = (int(var), code, float(thr))
        self._kids[v] = tuple(kids)
        return kids[0], kids[1]

    def leaf(self, v: int, outputs) -> None:
        """Close ``v`` as a leaf whose outputs are the ``r`` variables ``outputs``."""
        v = self._vertex(v)
        outputs = [int(o) for o in np.asarray(outputs, dtype=np.int64).ravel()]
        if len(outputs) != self.r:
            raise ValueError(f"leaf {v} names {len(outputs)} outputs; r = {self.r} are needed")
        for o in outputs:
            self._check_available(v, o, f"output of leaf {v}")
        self._out[v] = outputs

    def build(self, dtype="float64") -> ConditionalNetwork:
        """The validated :class:`ConditionalNetwork`, vertices in BFS order."""
        dt = check_dtype(dtype)
        open_ = [v for v in range(len(self._parent))
                 if self._test[v] is None and self._out[v] is None]
        if open_:
            raise ValueError(f"vertex {open_[0]} has neither a test nor outputs: every vertex "
                             "needs 2 children (split) or r outputs (leaf)")
        order = [0]
        for v in order:  # BFS
            if self._kids[v] is not None:
                order.extend(self._kids[v])
        new = np.empty(len(order), dtype=np.int64)
        new[order] = np.arange(len(order))
        V, K = len(order), len(self._op_data)
        test_var = np.full(V, -1, np.int64)
        test_op = np.zeros(V, np.int8)
        test_thr = np.zeros(V)
        child_true = np.full(V, -1, np.int64)
        child_false = np.full(V, -1, np.int64)
        out_var = np.full((V, self.r), -1, np.int64)
        op_ptr = np.zeros(V + 1, np.int64)
        op_order: list[int] = []
        for i, v in enumerate(order):
            op_order.extend(self._ops[v])
            op_ptr[i + 1] = len(op_order)
            if self._kids[v] is not None:
                test_var[i], test_op[i], test_thr[i] = self._test[v]
                child_true[i], child_false[i] = new[self._kids[v][0]], new[self._kids[v][1]]
            else:
                out_var[i] = self._out[v]
        data = [self._op_data[j] for j in op_order]
        lens = np.array([d[2].size for d in data], dtype=np.int64)
        cond = ConditionalNetwork(
            p=self.p, r=self.r, n_vars=self.p + K, test_var=test_var, test_op=test_op,
            test_thr=test_thr.astype(dt), child_true=child_true, child_false=child_false,
            op_ptr=op_ptr, out_var=out_var,
            op_var=self.p + np.array(op_order, dtype=np.int64),
            op_act=np.array([d[0] for d in data], dtype=np.int8),
            op_bias=np.array([d[1] for d in data], dtype=dt),
            op_w_ptr=np.concatenate([[0], np.cumsum(lens)]).astype(np.int64),
            op_src=np.concatenate([d[2] for d in data] + [np.zeros(0, np.int64)]),
            op_w=np.concatenate([d[3] for d in data] + [np.zeros(0)]).astype(dt))
        self.vertex_map = new
        validate(cond)
        return cond
