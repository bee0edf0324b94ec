"""Threshold circuits for ``rajput``: a gate list with levels, the XOR gadgets, and the lowering to
a :class:`~kernels.model.network.Network` with threshold units or with ReLU units only.

A *gate* is a threshold unit ``1[b + Σ w_k u_k ≥ 0]`` over inputs and earlier gates, or (kind
``OUT``) a linear output ``b + Σ w_k u_k``.  Unit ids: ``0 .. p-1`` are the inputs, gate ``g`` has
id ``p + g``.  A gate's *level* is 1 + the largest level of its sources (inputs have level 0, a gate
without sources level 1); outputs are placed one level above every threshold gate.

Kinds:

``FIRST`` reads the real inputs (the Gaussian hyperplanes); its field is real, with a margin
          ``μ_g > 0``: no data point has a field in (−μ_g, μ_g).
``INT``   reads only gates, with integer weights and bias, so its field is an integer on 0/1 inputs.
``OUT``   identity output.

Lowering (``activation``):

``"threshold"``  one neuron per gate, layer = level, activation 1[s ≥ 0]; outputs identity.
``"relu"``       every threshold gate becomes two ReLU neurons and consumers read their difference:

  * ``INT`` gate u with integer field s:  A = relu(s + 1), B = relu(s), and u = A − B exactly
    (s ≥ 0 gives (s+1) − s = 1, s ≤ −1 gives 0 − 0), both in the layer of u; a consumer's weight
    w on u becomes w on A and −w on B.
  * ``FIRST`` gate u with real field s and margin μ: the difference form is exact only for
    integer s, so the hyperplane uses the clamp V = relu(2s/μ) (layer 1), Cm = relu(1 − V)
    (layer 2).  On the data s ≥ μ gives V ≥ 2 and Cm = 0; s ≤ −μ gives V = 0 and Cm = 1:
    Cm = 1 − u exactly, and a consumer's weight w on u becomes −w on Cm plus w in its bias.
    Every other gate moves one layer down (layer = level + 1): the ReLU network is one layer
    deeper.

Both lowerings compute bit-identical outputs on the data: every value after the first layer is an
exact small integer in floating point.
"""

from __future__ import annotations

import numpy as np

from kernels.model.network import Network

FIRST, INT, OUT = 0, 1, 2


class Circuit:
    """An append-only list of gates with COO incoming weights (see module docstring)."""

    def __init__(self, p: int):
        self.p = int(p)
        self.kind: list[np.ndarray] = []
        self.level: list[np.ndarray] = []
        self.bias: list[np.ndarray] = []
        self.margin: list[np.ndarray] = []
        self.rows: list[np.ndarray] = []
        self.cols: list[np.ndarray] = []
        self.vals: list[np.ndarray] = []
        self.n_gates = 0
        self._level_all = np.zeros(self.p, dtype=np.int64)  # by unit id

    def add(self, kind: int, n: int, rows, cols, vals, bias, margin=None) -> np.ndarray:
        """Append ``n`` gates of ``kind``; ``rows`` are local gate indices 0..n-1, ``cols`` unit ids
        (inputs or earlier gates).  Returns the new gates' unit ids."""
        rows = np.asarray(rows, dtype=np.int64).ravel()
        cols = np.asarray(cols, dtype=np.int64).ravel()
        vals = np.asarray(vals, dtype=np.float64).ravel()
        if not (rows.size == cols.size == vals.size):
            raise AssertionError("rows, cols and vals must have the same length")
        keep = vals != 0  # a zero weight is no connection
        rows, cols, vals = rows[keep], cols[keep], vals[keep]
        first_id = self.p + self.n_gates
        if cols.size and cols.max() >= first_id:
            raise AssertionError("a gate may read only inputs and earlier gates")
        if kind != FIRST and cols.size and cols.min() < self.p:
            raise AssertionError("only FIRST gates read the inputs")
        if kind == FIRST and cols.size and cols.max() >= self.p:
            raise AssertionError("FIRST gates read only the inputs")
        lev = np.zeros(n, dtype=np.int64)
        if cols.size:
            np.maximum.at(lev, rows, self._level_all[cols])
        lev += 1
        b = np.broadcast_to(np.asarray(bias, dtype=np.float64), (n,)).copy()
        self.kind.append(np.full(n, kind, dtype=np.int8))
        self.level.append(lev)
        self.bias.append(b)
        self.margin.append(np.zeros(n) if margin is None else np.asarray(margin, np.float64))
        self.rows.append(rows + self.n_gates)
        self.cols.append(cols)
        self.vals.append(vals)
        self.n_gates += n
        self._level_all = np.concatenate([self._level_all, lev])
        return np.arange(first_id, first_id + n, dtype=np.int64)

    def gate(self, cols, vals, bias) -> int:
        """Append one INT gate; returns its unit id."""
        cols = np.asarray(cols, dtype=np.int64)
        return int(self.add(INT, 1, np.zeros(cols.size, np.int64), cols, vals, bias)[0])

    def level_of(self, unit_ids) -> np.ndarray:
        return self._level_all[np.asarray(unit_ids, dtype=np.int64)]

    # ---- gadgets --------------------------------------------------------------------------------
    def xor_tree(self, rows_bits: list[np.ndarray]) -> np.ndarray:
        """Parity of each list of unit ids by a balanced tree of two-input XORs, all rows at once.

        XOR(a, b) = 1[a + b − 2·AND(a, b) − 1 ≥ 0] with AND(a, b) = 1[a + b − 2 ≥ 0]: two gates,
        five weights, two levels.  A row of k bits costs k − 1 XORs; a one-bit row is that bit."""
        cur = [list(map(int, r)) for r in rows_bits]
        while any(len(r) > 1 for r in cur):
            a, b, where = [], [], []
            for i, r in enumerate(cur):
                for j in range(0, len(r) - 1, 2):
                    a.append(r[j])
                    b.append(r[j + 1])
                    where.append((i, j // 2))
            a = np.array(a, dtype=np.int64)
            b = np.array(b, dtype=np.int64)
            m = a.size
            loc = np.arange(m, dtype=np.int64)
            and_ids = self.add(INT, m, np.repeat(loc, 2), np.column_stack([a, b]).ravel(),
                               np.ones(2 * m), -2.0)
            xor_ids = self.add(INT, m, np.repeat(loc, 3), np.column_stack([a, b, and_ids]).ravel(),
                               np.tile([1.0, 1.0, -2.0], m), -1.0)
            nxt = [[None] * ((len(r) + 1) // 2) for r in cur]
            for t, (i, j) in enumerate(where):
                nxt[i][j] = int(xor_ids[t])
            for i, r in enumerate(cur):
                if len(r) % 2 == 1:
                    nxt[i][-1] = r[-1]
            cur = nxt
        return np.array([r[0] for r in cur], dtype=np.int64)

    def xor_counter(self, rows_bits: list[np.ndarray]) -> np.ndarray:
        """Parity of each list of unit ids as the lowest binary digit of their sum S.

        Digits top-down: d_T = 1[S − 2^T ≥ 0], d_t = 1[S − Σ_{t'>t} 2^{t'} d_{t'} − 2^t ≥ 0], T =
        ⌊log2 k⌋; parity = d_0.  ⌊log2 k⌋ + 1 gates and levels, integer weights up to 2^T ≤ k."""
        out = []
        for r in rows_bits:
            r = np.asarray(r, dtype=np.int64)
            k = r.size
            if k == 1:
                out.append(int(r[0]))
                continue
            T = int(k).bit_length() - 1
            digits: list[tuple[int, int]] = []  # (unit id, 2^t)
            for t in range(T, -1, -1):
                cols = np.concatenate([r, [d for d, _ in digits]]).astype(np.int64)
                vals = np.concatenate([np.ones(k), [-float(v) for _, v in digits]])
                digits.append((self.gate(cols, vals, -float(2**t)), 2**t))
            out.append(digits[-1][0])
        return np.array(out, dtype=np.int64)

    # ---- lowering -------------------------------------------------------------------------------
    def _arrays(self):
        cat = np.concatenate
        return (cat(self.kind), cat(self.level), cat(self.bias), cat(self.margin), cat(self.rows),
                cat(self.cols), cat(self.vals))

    def to_network(self, activation: str = "threshold") -> Network:
        kind, level, bias, margin, rows, cols, vals = self._arrays()
        p = self.p
        hidden = kind != OUT
        top = int(level[hidden].max())
        level = np.where(hidden, level, top + 1)
        if activation == "threshold":
            order = np.argsort(level, kind="stable")
            unit = np.empty(self.n_gates, dtype=np.int64)
            unit[order] = np.arange(self.n_gates)
            widths = np.bincount(level - 1)
            acts = ["threshold"] * top + ["identity"]
            src = np.where(cols < p, cols, p + unit[np.maximum(cols - p, 0)])
            return Network.from_coo(p, widths, acts, unit[rows], src, vals, bias[order])
        if activation != "relu":
            raise ValueError(f"unknown activation {activation!r}; choose threshold or relu")
        return self._to_relu(kind, level, bias, margin, rows, cols, vals, top)

    def _to_relu(self, kind, level, bias, margin, rows, cols, vals, top) -> Network:
        p, G = self.p, self.n_gates
        # neuron slots: every hidden gate has two (FIRST: V, Cm; INT: A, B), OUT gates one.
        first = kind == FIRST
        out = kind == OUT
        lay1 = np.where(first, 1, level + 1)  # layer of V / A / B / OUT
        lay2 = np.where(first, 2, lay1)  # layer of Cm / B
        lay1 = np.where(out, top + 2, lay1)
        slot_layer = np.concatenate([lay1, lay2[~out]])
        slot_gate = np.concatenate([np.arange(G), np.flatnonzero(~out)])
        slot_part = np.concatenate([np.zeros(G, np.int64), np.ones(int((~out).sum()), np.int64)])
        order = np.lexsort((slot_part, slot_gate, slot_layer))
        uid = np.empty(order.size, dtype=np.int64)
        uid[order] = np.arange(order.size)
        u0 = np.full(G, -1, np.int64)  # neuron of part 0 (V, A or OUT)
        u1 = np.full(G, -1, np.int64)  # neuron of part 1 (Cm or B)
        u0[slot_gate[slot_part == 0]] = uid[slot_part == 0]
        u1[slot_gate[slot_part == 1]] = uid[slot_part == 1]
        N = order.size
        nb = np.zeros(N)
        R, C, V = [], [], []
        src_gate = cols - p
        dst = rows
        # edges into FIRST gates (from inputs): V reads x with w·2/μ
        e = first[dst]
        scale = 2.0 / margin[dst[e]]
        R.append(u0[dst[e]]), C.append(cols[e]), V.append(vals[e] * scale)
        nb[u0[first]] = bias[first] * 2.0 / margin[first]
        # Cm = relu(1 - V)
        fg = np.flatnonzero(first)
        R.append(u1[fg]), C.append(p + u0[fg]), V.append(-np.ones(fg.size))
        nb[u1[fg]] = 1.0
        # edges into INT / OUT gates
        e = ~first[dst]
        d, s, w = dst[e], src_gate[e], vals[e]
        from_first = first[s]
        eff_bias = bias.copy()
        np.add.at(eff_bias, d[from_first], w[from_first])  # w·u = w − w·Cm
        # effective (source neuron, weight) terms per edge
        t_d = np.concatenate([d[from_first], d[~from_first], d[~from_first]])
        t_u = np.concatenate([u1[s[from_first]], u0[s[~from_first]], u1[s[~from_first]]])
        t_w = np.concatenate([-w[from_first], w[~from_first], -w[~from_first]])
        isout = out[t_d]
        # OUT gate: one neuron
        R.append(u0[t_d[isout]]), C.append(p + t_u[isout]), V.append(t_w[isout])
        # INT gate: A = relu(s + 1), B = relu(s), both read every term
        ti = ~isout
        R.append(u0[t_d[ti]]), C.append(p + t_u[ti]), V.append(t_w[ti])
        R.append(u1[t_d[ti]]), C.append(p + t_u[ti]), V.append(t_w[ti])
        ig = np.flatnonzero(kind == INT)
        nb[u0[ig]] = eff_bias[ig] + 1.0
        nb[u1[ig]] = eff_bias[ig]
        og = np.flatnonzero(out)
        nb[u0[og]] = eff_bias[og]
        widths = np.bincount(slot_layer - 1)
        acts = ["relu"] * (top + 1) + ["identity"]
        return Network.from_coo(p, widths, acts, np.concatenate(R), np.concatenate(C),
                                np.concatenate(V), nb)

    def edge_counts(self) -> dict:
        """Edges by (source kind, destination kind): what the ReLU lowering multiplies."""
        kind, _, _, _, rows, cols, _ = self._arrays()
        p = self.p
        dk = kind[rows]
        sk = np.where(cols < p, -1, kind[np.maximum(cols - p, 0)])
        return {"input_first": int(np.sum(sk == -1)),
                "first_int": int(np.sum((sk == FIRST) & (dk == INT))),
                "first_out": int(np.sum((sk == FIRST) & (dk == OUT))),
                "int_int": int(np.sum((sk == INT) & (dk == INT))),
                "int_out": int(np.sum((sk == INT) & (dk == OUT)))}
