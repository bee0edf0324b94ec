"""Memorizer: what a construction returns — the dataset, the network(s) it built, and the
executors that run them (seed 000: ``dense`` §2.1–2.2, ``active`` Theorem 1, ``tree`` §2.3;
``exact``
for Python-integer networks).  Executors are imported here, so the route of a query reads top-down:
``Memorizer.predict`` -> ``EXECUTORS[name]`` -> ``kernels.executors.<name>.predict``."""

from __future__ import annotations

import numpy as np

from kernels.executors import active, dense, exact, tree
from kernels.model.network import ConditionalNetwork, Network, check_dtype

#: executor name -> (module with predict/count, the Memorizer attribute it runs)
EXECUTORS = {"dense": (dense, "network"),
             "active": (active, "network"),
             "tree": (tree, "conditional"),
             "exact": (exact, "exact_network")}


class Memorizer:
    """What a construction returns: the dataset, the network(s) it built, and their executors."""

    def __init__(self, name: str, dataset, *, network: Network | None = None,
                 conditional: ConditionalNetwork | None = None, executors: tuple[str, ...],
                 dtype="float64", info: dict | None = None, bounds=None, exact_network=None):
        self.name = name
        self.dataset = dataset
        self.network = network
        self.conditional = conditional
        self.exact_network = exact_network  # executors.exact.ExactNetwork (Python-int weights)
        self.executors = tuple(executors)
        self.dtype = check_dtype(dtype)
        self.info = dict(info or {})
        self._bounds = bounds  # callable(memorizer) -> dict, or None

    def __repr__(self) -> str:
        d = self.dataset
        return (f"Memorizer({self.name!r}, n={d.n}, p={d.p}, r={d.r}, dtype={self.dtype.name}, "
                f"executors={self.executors})")

    # ---- execution ------------------------------------------------------------------------------
    def _executor(self, executor: str | None):
        if executor is None:
            executor = self.executors[0]
        if executor not in self.executors:
            raise ValueError(f"unknown executor {executor!r} for {self.name}; choose from "
                             f"{', '.join(self.executors)}")
        module, attr = EXECUTORS[executor]
        return module, getattr(self, attr).astype(self.dtype)

    def _inputs(self, X) -> np.ndarray:
        X = np.asarray(X)
        if X.dtype == object or not np.issubdtype(X.dtype, np.number):
            raise ValueError(f"X has dtype {X.dtype}; a numeric array is needed")
        if X.ndim == 1:
            X = X[None, :]
        if X.ndim != 2 or X.shape[1] != self.dataset.p:
            raise ValueError(f"X must have shape (m, {self.dataset.p}); got {X.shape}")
        if not np.isfinite(X).all():
            raise ValueError("X has a non-finite value (NaN or inf)")
        return np.ascontiguousarray(X, dtype=self.dtype)

    def predict(self, X, executor: str | None = None) -> np.ndarray:
        """Outputs (m, r) for inputs X (m, p), computed by ``executor``."""
        module, obj = self._executor(executor)
        return module.predict(obj, self._inputs(X))

    def count_ops(self, X, executor: str | None = None) -> dict[str, np.ndarray]:
        """Per-input operation counts: ``mul, add, cmp, total`` (+ active sets where they apply)."""
        module, obj = self._executor(executor)
        return module.count(obj, self._inputs(X))

    # ---- description ----------------------------------------------------------------------------
    def size(self) -> dict:
        if self.network is not None:
            s = self.network.summary()
        elif self.exact_network is not None:
            s = self.exact_network.summary()
        else:
            s = dict(self.conditional.summary())
        if self.conditional is not None and self.network is not None:
            s["tree"] = self.conditional.summary()
        return s

    def bounds(self) -> dict:
        return self._bounds(self) if self._bounds is not None else {}

    def summary(self) -> dict:
        d = self.dataset
        return {"construction": self.name, "n": d.n, "p": d.p, "r": d.r, "dtype": self.dtype.name,
                "duplicates_dropped": d.n_dropped, "executors": list(self.executors),
                "size": self.size(), "bounds": self.bounds(), **self.info}
