"""The tree executor's cost model (seed 000 §2.2–2.3): each op costs what a dense neuron costs, each
test one comparison; per-vertex rows in ``COST_COLUMNS`` order, summed along a root-to-leaf path."""

from __future__ import annotations

import numpy as np
from numba import njit

from kernels.executors._ops import counts_dict
from kernels.model.network import ACT_CMP, ConditionalNetwork

COST_COLUMNS = ("mul", "add", "cmp", "active_neurons", "active_weights", "tests")



def vertex_costs(cond: ConditionalNetwork) -> np.ndarray:
    """Per-vertex cost (V, 6) int32 in COST_COLUMNS order: its ops, plus one comparison per test."""
    cost = np.zeros((cond.n_vertices, 6), np.int32)
    _vertex_costs(cond.op_ptr, cond.op_w_ptr, cond.op_bias, cond.op_act, ACT_CMP,
                  cond.child_true, cost)
    return cost


@njit(cache=True)
def _vertex_costs(op_ptr, op_w_ptr, op_bias, op_act, act_cmp, child_true, cost):
    """Each op costs what a dense neuron costs (mul: its weights; add: its terms − 1, the bias a
    term when non-zero; cmp: its activation's; one neuron; its weights), summed over each vertex's
    ops, plus the vertex's test: one pass, no temporaries the size of the network."""
    for v in range(cost.shape[0]):
        for k in range(op_ptr[v], op_ptr[v + 1]):
            weights = op_w_ptr[k + 1] - op_w_ptr[k]
            terms = weights + (1 if op_bias[k] != 0 else 0)
            cost[v, 0] += weights
            cost[v, 1] += max(terms - 1, 0)
            cost[v, 2] += act_cmp[op_act[k]]
            cost[v, 3] += 1
            cost[v, 4] += weights
        if child_true[v] >= 0:
            cost[v, 2] += 1
            cost[v, 5] = 1


def tree_counts(c: np.ndarray) -> dict[str, np.ndarray]:
    """(m, 6) counts in COST_COLUMNS order -> the executor's per-input dict."""
    d = counts_dict(c[:, :3])
    for k, name in enumerate(COST_COLUMNS[3:], start=3):
        d[name] = c[:, k].copy()
    return d
