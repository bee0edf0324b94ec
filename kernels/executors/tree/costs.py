"""The tree executor's cost model (seed 000 §2.2–2.3): each op costs what a dense neuron costs, each
test one comparison; per-vertex rows in ``COST_COLUMNS`` order, summed along a root-to-leaf path."""

from __future__ import annotations

import numpy as np

from kernels.executors._ops import counts_dict
from kernels.model.network import ACT_CMP, ConditionalNetwork

COST_COLUMNS = ("mul", "add", "cmp", "active_neurons", "active_weights", "tests")



def op_costs(cond: ConditionalNetwork) -> np.ndarray:
    """Per-op cost (K, 5): mul, add, cmp, neurons (1), weights — the dense neuron rule."""
    wlen = np.diff(cond.op_w_ptr)
    terms = wlen + (cond.op_bias != 0)
    return np.stack([wlen, np.maximum(terms - 1, 0), ACT_CMP[cond.op_act],
                     np.ones_like(wlen), wlen], axis=1).astype(np.int64)


def vertex_costs(cond: ConditionalNetwork) -> np.ndarray:
    """Per-vertex cost (V, 6) int32 in COST_COLUMNS order: its ops, plus one comparison per test."""
    V = cond.n_vertices
    cost = np.zeros((V, 6), np.int32)
    cs = np.zeros((cond.n_ops + 1, 5), np.int64)  # ops are contiguous per vertex: prefix sums
    np.cumsum(op_costs(cond), axis=0, out=cs[1:])
    cost[:, :5] = cs[cond.op_ptr[1:]] - cs[cond.op_ptr[:-1]]
    internal = cond.child_true >= 0
    cost[internal, 2] += 1
    cost[internal, 5] = 1
    return cost


def tree_counts(c: np.ndarray) -> dict[str, np.ndarray]:
    """(m, 6) counts in COST_COLUMNS order -> the executor's per-input dict."""
    d = counts_dict(c[:, :3])
    for k, name in enumerate(COST_COLUMNS[3:], start=3):
        d[name] = c[:, k].copy()
    return d
