"""Building blocks of ``vardi``: a layered ReLU circuit builder with exact integer weights, and the
bit-extraction chain that walks a group's encoded records (see :mod:`.vardi` for the derivation).

:class:`Circuit` — nodes are ReLU (or, for the outputs, identity) neurons given as a dict
``{source node: integer weight}`` and an integer bias.  :meth:`Circuit.layout` places every node in
the earliest layer after its sources (ASAP), drops nodes no output needs, and makes the network
*strictly layered* (no skip connections, as in the paper's feedforward networks): a value read
``k > 1`` layers later is carried by ``k − 1`` ReLU copy neurons σ(v) = v (all carried values are
ReLU outputs, hence ≥ 0; inputs are read by layer 1 only).  All outputs sit in the last layer.

:func:`extraction_chain` — given the register U (an integer < 2^m holding s records of ρ bits each,
first record in the top bits) and the projected input t, it extracts U's bits from the top, two
layers per bit, tests each record's key against t, assembles each record's labels, and sums the
labels of the matching record (exactly one record matches at a data point).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kernels.model.exact import ExactNetwork, from_coo


class Circuit:
    """A ReLU circuit over ``p`` inputs (node ids 0 .. p−1); see the module docstring.  Weights and
    biases are Python ints or Fractions, kept exactly."""

    def __init__(self, p: int):
        self.p = p
        self.terms: list[dict] = [{} for _ in range(p)]  # weights: int or Fraction
        self.bias: list = [0] * p
        self.min_level: list[int] = [0] * p
        self.outputs: list[int] = []

    def relu(self, terms: dict[int, int], bias: int = 0, *, min_level: int = 1) -> int:
        """A ReLU node σ(bias + Σ w·v); zero weights are dropped; returns its id."""
        t = {int(k): w for k, w in terms.items() if w != 0}
        if any(k >= len(self.terms) for k in t):
            raise ValueError("a node may only read earlier nodes")
        self.terms.append(t)
        self.bias.append(bias)
        self.min_level.append(min_level)
        return len(self.terms) - 1

    def output(self, terms: dict[int, int], bias: int = 0) -> int:
        """An identity output neuron (all outputs share the last layer, in call order)."""
        node = self.relu(terms, bias)
        self.outputs.append(node)
        return node

    # ------------------------------------------------------------------------------------------
    def layout(self) -> Layout:
        n_nodes = len(self.terms)
        p = self.p
        live = np.zeros(n_nodes, dtype=bool)
        stack = list(self.outputs)
        while stack:
            v = stack.pop()
            if not live[v]:
                live[v] = True
                stack.extend(self.terms[v])
        outs = set(self.outputs)
        level = np.zeros(n_nodes, dtype=np.int64)
        for v in range(p, n_nodes):
            if live[v]:
                lv = max((level[k] for k in self.terms[v]), default=0) + 1
                level[v] = max(lv, self.min_level[v])
        body = [v for v in range(p, n_nodes) if live[v] and v not in outs]
        depth = max([int(level[v]) for v in self.outputs] + [int(level[v]) + 1 for v in body])
        level[self.outputs] = depth
        # carried values: the highest layer at which each node must be available
        need = np.full(n_nodes, -1, dtype=np.int64)
        for v in range(p, n_nodes):
            if live[v]:
                for k in self.terms[v]:
                    need[k] = max(need[k], level[v] - 1)
        for k in range(p):
            if need[k] > 0:
                raise ValueError("inputs may only be read by the first layer")
        # neuron order: layer by layer; in a layer, nodes in creation order, then copies, outputs
        layers: list[list[tuple]] = [[] for _ in range(depth + 1)]
        for v in body:
            layers[level[v]].append(("node", v))
        for v in body:
            for ell in range(int(level[v]) + 1, int(need[v]) + 1):
                layers[ell].append(("copy", v, ell))
        for v in self.outputs:
            layers[depth].append(("node", v))
        unit: dict = {("node", k): k for k in range(p)}  # ("node", v) / ("copy", v, ell) -> unit

        def source(k: int, ell: int) -> int:  # the unit carrying node k at layer ell
            return unit[("node", k)] if level[k] == ell else unit[("copy", k, ell)]

        rows, cols, vals, bias, acts, layer_ptr = [], [], [], [], [], [0]
        for ell in range(1, depth + 1):
            for item in layers[ell]:
                j = len(bias)
                if item[0] == "node":
                    v = item[1]
                    for k, w in sorted(self.terms[v].items()):
                        rows.append(j)
                        cols.append(source(k, ell - 1))
                        vals.append(w)
                    bias.append(self.bias[v])
                    acts.append(0 if v in outs else 1)
                else:
                    v = item[1]
                    rows.append(j)
                    cols.append(source(v, ell - 1))
                    vals.append(1)
                    bias.append(0)
                    acts.append(1)
                unit[item] = p + j
            layer_ptr.append(len(bias))
        net = from_coo(p, layer_ptr, acts, bias, rows, cols, vals)
        return Layout(net, depth)


@dataclass
class Layout:
    network: ExactNetwork
    depth: int


# ---------------------------------------------------------------------------------------------
def extraction_chain(c: Circuit, t: int, U0: int, *, s: int, key_bits: int, label_bits: list[int],
                     classes: list[int]) -> list[tuple[int | None, int | None]]:
    """Walk the s records of register ``U0`` (node, value < 2^m, m = s·ρ) against the projected
    input ``t`` (node).  Record k holds its key (``key_bits`` bits) then, per output column j, its
    label (``label_bits[j]`` bits, < ``classes[j]``).  Returns, per column, ``(y, last)``: the
    running sum of the matched labels over records 0 … s−2 (a node, or None when s = 1) and the
    last record's contribution (a node), to be added by the caller's output neuron.  Columns with
    0 label bits return (None, None)."""
    rho = key_bits + sum(label_bits)
    m = s * rho
    T = [1 << (m - 1 - i) for i in range(m)]
    r = len(label_bits)
    y: list[int | None] = [None] * r
    last: list[int | None] = [None] * r
    base, pend = U0, None  # U_i = base − T_{i−1}·h_{i−1} (pend = (h, T)) or base
    i = 0

    def u_expr(sign: int) -> dict:
        e = {base: sign}
        if pend is not None:
            e[pend[0]] = -sign * pend[1]
        return e

    def extract() -> int:
        """Bit i of U (from the top): g = σ(T_i − U_i), h = σ(1 − g) = [U_i ≥ T_i]."""
        nonlocal base, pend, i
        if pend is not None:  # materialize U_i for the next bit
            new_base = c.relu(u_expr(1))
        g = c.relu(u_expr(-1), T[i])
        h = c.relu({g: -1}, 1)
        if pend is not None:
            base = new_base
        pend = (h, T[i])
        i += 1
        return h

    for k in range(s):
        e = m - (k * rho) - key_bits  # bits below this record's key
        # key test: z = U_i − 2^e·t − 2^(e−1); match ⇔ |z| ≤ 2^e·(1+ε), mismatch ⇔ |z| ≥ 2^e·(3−ε)
        d1 = c.relu({**u_expr(1), t: -(1 << e)}, -(1 << (e - 1)))
        d2 = c.relu({**u_expr(-1), t: 1 << e}, 1 << (e - 1))
        q = c.relu({d1: -1, d2: -1}, 1 << (e + 1))  # ≥ 2^e·(1−ε) > 1 on a match, 0 otherwise
        mis = c.relu({q: -1}, 1)  # 0 on a match, 1 otherwise
        for _ in range(key_bits):
            extract()
        for j, cb in enumerate(label_bits):
            if cb == 0:
                continue
            C = classes[j]
            acc, acc_b = {mis: -C}, C  # a = C·[match] + label, built top bit first
            for ell in range(cb):
                h = extract()
                acc = {**acc, h: 1 << (cb - 1 - ell)}
                if ell < cb - 1:
                    node = c.relu(acc, acc_b)
                    acc, acc_b = {node: 1}, 0
            prod = c.relu(acc, acc_b - C)  # = label on a match, 0 otherwise (label < C)
            if k < s - 1:
                y[j] = prod if y[j] is None else c.relu({y[j]: 1, prod: 1})
            else:
                last[j] = prod
    return list(zip(y, last, strict=True))


def registers(groups, order, keys, Y, s: int, key_bits: int, cbits) -> list[int]:
    """Register U_g of every group (positions ``g`` into the sorted ``order``): its records, first
    on top, each the key (``key_bits``) then the label field of every column (``cbits``)."""
    rho = key_bits + sum(cbits)
    m = s * rho
    shift_lab = [sum(cbits[j + 1:]) for j in range(Y.shape[1])]
    regs = []
    for g in groups:
        U = 0
        for k, pos in enumerate(g):
            i = order[pos]
            rec = int(keys[i]) << sum(cbits)
            for j in range(Y.shape[1]):
                rec |= int(Y[i, j]) << shift_lab[j]
            U |= rec << (m - (k + 1) * rho)
        regs.append(U)
    return regs
