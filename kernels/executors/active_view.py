"""The ``active`` executor's view of a network: the outgoing (CSC) adjacency by source unit and the
per-neuron flags that Theorem 1's traversal reads (``kernels.executors.active``, its one-input
``active_push`` and batched ``active_batch`` paths all start from it)."""

from __future__ import annotations

import numpy as np

from kernels.executors._ops import activate
from kernels.model.network import Network


def view(net: Network) -> dict:
    """The executor's arrays of ``net``: outgoing CSC adjacency and per-neuron flags (built now;
    the active executor's plan keeps them)."""
    N, p = net.n_neurons, net.p
    dt = net.w_val.dtype
    rows = np.repeat(np.arange(N, dtype=np.int64), np.diff(net.w_ptr))
    order = np.lexsort((rows, net.w_src))  # by source unit, then target
    out_ptr = np.zeros(p + N + 1, dtype=np.int64)
    np.add.at(out_ptr, net.w_src + 1, 1)
    np.cumsum(out_ptr, out=out_ptr)
    layer_of = (np.searchsorted(net.layer_ptr, np.arange(N), side="right")).astype(np.int64)
    phi0 = np.array([activate.py_func(int(a), dt.type(0)) for a in net.act], dtype=dt)
    always = np.flatnonzero((net.bias != 0) | (phi0 != 0)).astype(np.int64)
    v = {"out_ptr": out_ptr, "out_dst": np.ascontiguousarray(rows[order]),
         "out_val": np.ascontiguousarray(net.w_val[order]), "layer_of": layer_of,
         "always": always, "phi0": phi0}
    return v
