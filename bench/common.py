"""Seeded, cached builders shared by the asv benchmarks (one build per process and parameter set).

Every benchmark class calls :func:`memorizer` or :func:`random_memorizer` in ``setup``; a
combination that cannot be measured (a construction module that does not exist yet, an executor it
does not support, an assumption the dataset breaks, a size over the limit) raises
``NotImplementedError``, which asv records as "n/a" instead of a failure.  :func:`executor` returns
the compiled kernel and its inputs: ``setup`` calls it once, so compilation is never timed.

Parameters are taken from the registry at import time, so a newly registered construction joins
the suite by itself.
"""

from __future__ import annotations

import functools

import numpy as np

from kernels import constructions
from kernels.harness.cell import RANDOM, Skip, build_random, prepare
from kernels.model.memorizer import EXECUTORS

SEED = 0
MAX_BYTES = 1 << 30
CONSTRUCTIONS = tuple(constructions.names())
EXECUTORS = tuple(EXECUTORS)
N = (256, 2048)
P = (4, 16)
SPARSITY = (0.0, 0.5, 0.9, 0.99)


@functools.lru_cache(maxsize=8)
def _prepared(name: str, n: int, p: int, dtype: str = "float64"):
    try:
        mod = constructions.get(name)
    except Exception as exc:
        raise NotImplementedError(f"{name}: module not available ({exc})") from None
    if mod.estimate_bytes(n, p, 1) > MAX_BYTES:
        raise NotImplementedError(f"{name}: too large at n={n}, p={p}")
    try:
        return prepare(name, n, p, 1, seed=SEED, dtype=dtype)
    except Skip as exc:
        raise NotImplementedError(f"{name}: {exc}") from None


def memorizer(name: str, n: int, p: int, dtype: str = "float64"):
    """Construction ``name`` built on its seeded dataset; NotImplementedError if it cannot be."""
    return _prepared(name, n, p, dtype)[0]


def dataset(name: str, n: int, p: int):
    """The dataset :func:`memorizer` built on (inputs the construction accepts)."""
    return _prepared(name, n, p)[1]


@functools.lru_cache(maxsize=8)
def random_memorizer(n: int, p: int, sparsity: float, dtype: str = "float64"):
    """A seeded random sparse ReLU network (kernels.harness.workloads) over n Gaussian inputs."""
    try:
        return build_random({"n": n, "p": p, "r": 1, "sparsity": sparsity, "seed": SEED,
                             "dtype": dtype})
    except Skip as exc:
        raise NotImplementedError(str(exc)) from None


def executor(m, name: str):
    """(kernel module, executor object, inputs) with the kernel compiled; NotImplementedError if
    ``m`` does not support executor ``name``."""
    if name not in m.executors:
        raise NotImplementedError(f"{m.name} has no {name} executor")
    try:
        module, obj = m._executor(name)
    except Exception as exc:
        raise NotImplementedError(f"executor {name} not available ({exc})") from None
    X = np.ascontiguousarray(m.dataset.X, dtype=m.dtype)
    module.predict(obj, X[:2])  # compile here, in setup
    return module, obj, X


__all__ = ["CONSTRUCTIONS", "EXECUTORS", "N", "P", "RANDOM", "SPARSITY", "dataset", "executor",
           "memorizer", "random_memorizer"]
