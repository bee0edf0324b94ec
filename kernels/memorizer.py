"""Memorizer: what a construction returns — the dataset, the network(s) it built, and the
executors that run them (seed 000: ``dense`` §2.1–2.2, ``active`` Theorem 1, ``tree`` §2.3;
``exact`` for Python-integer networks).  Executors are imported here, so the route of a query reads
top-down: ``Memorizer.predict`` -> ``EXECUTORS[name]`` -> ``kernels.executors.<name>.predict``.

This is the facade of the Python API: :data:`EXECUTORS` is the one table of executor names, and
:func:`check_inputs` the one check of what a caller passes as ``X``.  Each executor module offers
``make_plan(obj)`` (what it derives from a network once), ``predict(obj, X, plan=)``,
``count(obj, X, plan=)`` and optionally ``predict_one(obj, x, plan=)`` / ``one_row(obj, plan)``;
the Memorizer builds each plan once, in its dtype, and keeps it in its :class:`Route`."""

from __future__ import annotations

import functools
import math
from types import ModuleType
from typing import NamedTuple

import numpy as np
from numba import njit

from kernels.executors import active, dense, exact, tree
from kernels.model.network import ConditionalNetwork, Network, check_dtype
from kernels.theory.verify import exactness


class Executor(NamedTuple):
    """One row of the executor table: the module with predict/count, the Memorizer attribute it
    runs, whether it computes only part of the network per input (Theorem 1, §2.3), and whether
    it runs in the network's float dtype (``exact`` runs in Python integers)."""

    module: ModuleType
    attr: str
    conditional: bool
    floating: bool


#: the one table of executor names, in the order they are listed and drawn
EXECUTORS = {"dense": Executor(dense, "network", conditional=False, floating=True),
             "active": Executor(active, "network", conditional=True, floating=True),
             "tree": Executor(tree, "conditional", conditional=True, floating=True),
             "exact": Executor(exact, "exact_network", conditional=False, floating=False)}
CONDITIONAL = tuple(e for e, x in EXECUTORS.items() if x.conditional)
FLOATING = tuple(e for e, x in EXECUTORS.items() if x.floating)


class Route(NamedTuple):
    """One executor of a memorizer in its dtype: the object it was derived from (``source``), the
    executor's module, the network it runs (``obj``), the plan built once for it, and ``one``, its
    fastest function x (p,) -> (r,).  ``batch``/``single``/``counts`` are the bare calls (no input
    check: ``X`` a C-contiguous (m, p) array in the dtype), for timing."""

    source: object
    module: ModuleType
    obj: object
    plan: object
    one: object

    def batch(self, X: np.ndarray) -> np.ndarray:
        return self.module.predict(self.obj, X, plan=self.plan)

    def single(self, x: np.ndarray) -> np.ndarray:
        return self.one(x)

    def counts(self, X: np.ndarray) -> dict[str, np.ndarray]:
        return self.module.count(self.obj, X, plan=self.plan)


class Memorizer:
    """What a construction returns: the dataset, the network(s) it built, and their executors."""

    def __init__(self, name: str, dataset, *, network: Network | None = None,
                 conditional: ConditionalNetwork | None = None, executors: tuple[str, ...],
                 dtype="float64", info: dict | None = None, bounds=None, exact_network=None):
        self.name = name
        self.dataset = dataset
        self.p = dataset.p  # the input dimension every X must have
        self.network = network
        self.conditional = conditional
        self.exact_network = exact_network  # model.exact.ExactNetwork (Python-int weights)
        self.executors = tuple(executors)
        self.dtype = check_dtype(dtype)
        self.info = dict(info or {})
        self._bounds = bounds  # callable(memorizer) -> dict, or None
        self._routes: dict[str, Route] = {}  # executor -> its route in this memorizer's dtype
        self._recall: dict = {}  # executor -> its exactness record over the whole dataset

    def __repr__(self) -> str:
        d = self.dataset
        return (f"Memorizer({self.name!r}, n={d.n}, p={d.p}, r={d.r}, dtype={self.dtype.name}, "
                f"executors={self.executors})")

    def __getstate__(self) -> dict:
        """Pickled (asv's setup_cache, a Dask worker) without the resolved routes: they hold
        executor modules, and each is resolved again on its first use."""
        return {**self.__dict__, "_routes": {}}

    # ---- execution ------------------------------------------------------------------------------
    def route(self, executor: str | None = None) -> Route:
        """The :class:`Route` of ``executor`` (default: the first), resolved once and kept while
        the network it runs is the same object (no per-call ``astype``, plan or lookups)."""
        if executor is None:
            executor = self.executors[0]
        got = self._routes.get(executor)
        if got is not None and getattr(self, EXECUTORS[executor].attr) is got.source:
            return got
        if executor not in self.executors:
            raise ValueError(f"unknown executor {executor!r} for {self.name}; choose from "
                             f"{', '.join(self.executors)}")
        module = EXECUTORS[executor].module
        src = getattr(self, EXECUTORS[executor].attr)
        obj = src.astype(self.dtype)
        plan = module.make_plan(obj)
        got = self._routes[executor] = Route(src, module, obj, plan, _one_row(module, obj, plan))
        return got

    def _inputs(self, X) -> np.ndarray:
        if (type(X) is np.ndarray and X.dtype is self.dtype and X.ndim == 2
                and X.shape[1] == self.p and X.flags.c_contiguous):  # the fast route: O(mp)
            if not _finite(X):
                raise ValueError("X has a non-finite value (NaN or inf)")
            return X
        return check_inputs(X, self.p, self.dtype)

    def predict(self, X, executor: str | None = None) -> np.ndarray:
        """Outputs (m, r) for inputs X (m, p), computed by ``executor``; one row takes the
        executor's single-input path.  Inputs pass :func:`check_inputs` (the rule shared with
        ``predict_one`` and ``count_ops``)."""
        route = self.route(executor)
        X = self._inputs(X)
        if X.shape[0] == 1:
            return route.one(X[0]).reshape(1, -1)
        return route.batch(X)

    def predict_one(self, x, executor: str | None = None) -> np.ndarray:
        """Output (r,) of one input ``x`` of shape (p,) (a number when p = 1), computed by
        ``executor``; the same rule as :meth:`predict` (:func:`check_inputs`), one input only."""
        one = self.route(executor).one
        if (type(x) is np.ndarray and x.dtype is self.dtype and x.shape == (self.dataset.p,)
                and x.flags.c_contiguous):  # the fast route
            if not _finite(x):
                raise ValueError("x has a non-finite value (NaN or inf)")
            return one(x)
        return one(check_inputs(x, self.dataset.p, self.dtype, one=True)[0])

    def count_ops(self, X, executor: str | None = None) -> dict[str, np.ndarray]:
        """Per-input operation counts: ``mul, add, cmp, total`` (+ active sets where they apply)."""
        return self.route(executor).counts(self._inputs(X))

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

    def recall(self, executor: str | None = None) -> dict:
        """The exactness record (:func:`kernels.theory.verify.exactness`, the design's one rule) of
        ``executor`` over every memorized point; computed once (the network does not change)."""
        executor = self.executors[0] if executor is None else executor
        if executor not in self._recall:
            Y = self.predict(self.dataset.X, executor=executor)
            self._recall[executor] = exactness(Y, self.dataset.D, self.dtype)
        return self._recall[executor]

    def summary(self, recall: bool = True) -> dict:
        """Size, bounds and build facts, and (``recall``) per executor its recall verdict:
        ``recall[E]`` = ``exact, scale_limited_points, inexact_points, max_rel_error`` over every
        point."""
        d = self.dataset
        out = {"construction": self.name, "n": d.n, "p": d.p, "r": d.r, "dtype": self.dtype.name,
               "duplicates_dropped": d.n_dropped, "executors": list(self.executors),
               "size": self.size(), "bounds": self.bounds(), **self.info}
        if recall:
            keys = ("exact", "scale_limited_points", "inexact_points", "max_rel_error")
            out["recall"] = {e: {k: self.recall(e)[k] for k in keys} for e in self.executors}
        return out


def check_inputs(X, p: int, dtype, *, one: bool = False) -> np.ndarray:
    """The one input rule of ``predict``, ``predict_one`` and ``count_ops`` (every executor, random
    networks included): ``X`` as a C-contiguous (m, p) array of the network's ``dtype``.

    * Type: real numbers only — int or float arrays, lists or scalars.  Strings (numeric ones
      too), bools, complex numbers, None and other objects are a TypeError.
    * Shape: (m, p), or one input of shape (p,) (a single number when p = 1).  ``one=True``
      (``predict_one``) takes one input only: a 2-D array is refused, even with one row.
    * Values: finite *in the network's dtype*: NaN, ±inf and values beyond the dtype's largest
      finite number (|x| > 3.4e38 for a float32 network, which the cast would turn into inf) are a
      ValueError.  Both paths refuse such an input; neither returns NaN for it.

    Every refusal is one sentence naming the problem."""
    name = "x" if one else "X"
    if isinstance(X, (str, bytes)):
        raise TypeError(f"{name} is a string; real numbers are needed")
    try:
        arr = np.asarray(X)
    except (ValueError, TypeError) as exc:  # ragged nesting and the like
        raise TypeError(f"{name} is not a numeric array ({str(exc).splitlines()[0]})") from None
    kind = arr.dtype.kind
    if kind not in "iuf":
        what = {"b": "bools", "c": "complex numbers", "U": "strings", "S": "strings",
                "O": f"Python objects ({type(X).__name__})"}.get(kind, f"dtype {arr.dtype}")
        raise TypeError(f"{name} holds {what}; real numbers (int or float) are needed")
    if arr.ndim == 0 and p == 1:
        arr = arr.reshape(1)
    if arr.ndim == 1:
        if arr.shape[0] != p:
            raise ValueError(f"{name} must have shape ({p},)"
                             f"{'' if one else f' for one input or (m, {p}) for several'}; "
                             f"got {arr.shape}")
        arr = arr[None, :]
    elif one:
        raise ValueError(f"predict_one takes one input of shape ({p},); got shape {arr.shape} "
                         "(predict takes several)")
    if arr.ndim != 2 or arr.shape[1] != p:
        raise ValueError(f"X must have shape (m, {p}); got {arr.shape}")
    with np.errstate(over="ignore", invalid="ignore"):
        out = np.ascontiguousarray(arr, dtype=dtype)
    if not _finite(out):
        bad = np.argwhere(~np.isfinite(out))[0]
        value = arr[tuple(bad)]
        where = f" (row {bad[0]})" if not one else ""
        if np.isfinite(value):
            raise ValueError(f"{name} has a value ({float(value):.3g}){where} beyond the largest "
                             f"{out.dtype.name} ({float(np.finfo(out.dtype).max):.3g}); inputs "
                             f"must be finite in the network's dtype")
        raise ValueError(f"{name} has a non-finite value (NaN or inf){where}")
    return out


def _finite(X: np.ndarray) -> bool:
    """Every entry finite; small arrays in Python (a finite sum implies finite terms, and an
    overflowing sum falls back to the exact test), large ones in one pass of the kernel below."""
    if X.size > 64:
        return _all_finite(X)
    v = X.ravel().tolist()
    return math.isfinite(sum(v)) or all(map(math.isfinite, v))


@njit(cache=True)
def _all_finite(X) -> bool:
    for v in X.ravel():
        if not np.isfinite(v):
            return False
    return True


def _one_row(module, obj, plan):
    """The executor's single-input function x (p,) -> (r,) on ``obj``: its own ``one_row`` where
    it has one, else its ``predict_one``, else a one-row batch."""
    if hasattr(module, "one_row"):
        return module.one_row(obj, plan)
    if hasattr(module, "predict_one"):
        return functools.partial(module.predict_one, obj, plan=plan)
    return lambda x: module.predict(obj, x.reshape(1, -1), plan=plan)[0]
