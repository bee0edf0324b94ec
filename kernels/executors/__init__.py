"""Executors: ``dense`` (every neuron), ``active`` (Theorem 1), ``tree`` (§2.3 routing), ``exact``
(Python integers); ``_ops`` holds what they share, and the two names other layers use are handed on
here: ``activate_np`` (φ over a NumPy array) and ``numba_threads`` (the one Numba thread pinner)."""

from kernels.executors._ops import activate_np, numba_threads

__all__ = ["activate_np", "numba_threads"]
