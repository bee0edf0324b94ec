"""Seeded builders shared by the asv benchmarks, and the timing rules of the suite.

Timing follows :mod:`kernels.harness.timing` (the one method of sweep, asv and pyperf): kernels
are compiled and inputs converted (:func:`kernels.harness.timing.prepare`) in ``setup``; every
timed class pins the thread count to :data:`THREADS` (Numba and BLAS) in ``setup`` and restores it
in ``teardown`` (:class:`Pinned`).  asv itself takes the repeats and keeps their spread; the
``track_ns_per_op`` benchmarks record the harness's own median.

Builds are done once per ``asv run`` in the ``setup_cache`` functions the classes share
(:func:`memorizer_cache`, :func:`random_cache`, :func:`records_cache`: pickled by asv and handed to
each benchmark process), so a benchmark process only loads them.  Parameters are taken from
the registry at import time: :data:`CASES` lists the ``construction/executor`` pairs a
construction declares, so no process is spent on a pair that cannot run.  A combination that still
cannot be measured (an assumption the dataset breaks, a size over the limit) raises
``NotImplementedError`` in ``setup``: asv records "n/a" instead of a failure.
"""

from __future__ import annotations

import functools

import numpy as np

from kernels import constructions
from kernels.harness import timing
from kernels.harness.cell import RANDOM, Skip, build_random, prepare
from kernels.memorizer import EXECUTORS

SEED = 0
THREADS = 1  # the thread count of every timed call (kernels.harness.timing.fixed_threads)
MAX_BYTES = 1 << 30
CONSTRUCTIONS = tuple(constructions.names())
EXECUTORS = tuple(EXECUTORS)
N = (256, 2048)
P = 8  # the input dimension of the n axis
P_AXIS = (4, 16)
SPARSITY = (0.0, 0.5, 0.9, 0.99)
P_RANDOM = 32  # input dimension of the random sparse networks


def _executors_of(name: str) -> tuple[str, ...]:
    try:
        return tuple(constructions.get(name).EXECUTORS)
    except Exception:  # a broken module: its cases are n/a, not errors
        return ()


CASES = tuple(f"{c}/{e}" for c in CONSTRUCTIONS for e in _executors_of(c))


def split(case: str) -> tuple[str, str]:
    c, e = case.split("/", 1)
    return c, e


@functools.lru_cache(maxsize=8)
def _prepared(name: str, n: int, p: int, dtype: str = "float64"):
    try:
        constructions.get(name)
    except Exception as exc:
        raise NotImplementedError(f"{name}: module not available ({exc})") from None
    if constructions.estimate_bytes(name, n, p, 1) > MAX_BYTES:
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


def built(names, ns, ps=(P,)) -> dict:
    """{(construction, n, p): Memorizer, or the reason it cannot be built (a string)}."""
    out = {}
    for name in dict.fromkeys(names):
        for n in ns:
            for p in ps:
                try:
                    out[(name, n, p)] = memorizer(name, n, p)
                except NotImplementedError as exc:
                    out[(name, n, p)] = str(exc)
    return out


def _records(ms: dict) -> dict:
    """{(case, n, p): executor record with its energy proxy, or why it cannot be measured}."""
    from kernels.harness import energy
    from kernels.verify import executor_record

    out = {}
    for (c, n, p), m in ms.items():
        for e in _executors_of(c):
            if isinstance(m, str) or e not in m.executors:
                out[(f"{c}/{e}", n, p)] = m if isinstance(m, str) else f"{c} has no {e} executor"
                continue
            rec = executor_record(m, e)
            nbytes = m.route(e).obj.nbytes()
            rec["proxy"] = energy.proxy(rec["ops_by_kind"], m.dtype.name, nbytes)
            out[(f"{c}/{e}", n, p)] = rec
    return out


def random_memorizer(n: int, p: int, sparsity: float, dtype: str = "float64"):
    """A seeded random sparse ReLU network (kernels.random_networks) over n Gaussian inputs."""
    try:
        return build_random({"n": n, "p": p, "r": 1, "sparsity": sparsity, "seed": SEED,
                             "dtype": dtype})
    except Skip as exc:
        raise NotImplementedError(str(exc)) from None


# asv keys a setup_cache by its function's module and line: the classes naming one of these share
# it, so each runs once per `asv run`, and a job loads only the part it needs.

def memorizer_cache(self=None) -> dict:
    """{(construction, n, P): Memorizer or why not} over the n axis."""
    return built(CONSTRUCTIONS, N, (P,))


def random_cache(self=None) -> dict:
    """{(n, sparsity): random sparse network or why not} (P_RANDOM inputs, the larger n)."""
    nets = {}
    for n in (N[-1],):
        for s in SPARSITY:
            try:
                nets[(n, s)] = random_memorizer(n, P_RANDOM, s)
            except NotImplementedError as exc:
                nets[(n, s)] = str(exc)
    return nets


def records_cache(self=None) -> dict:
    """{(case, n, p): executor record with its energy proxy, or why not}, over the n axis (p = P)
    and the p axis (n = N[0]): a few kB, so the many track jobs load nothing heavy."""
    return _records({**built(CONSTRUCTIONS, N, (P,)), **built(CONSTRUCTIONS, (N[0],), P_AXIS)})


def cached(cache: dict, key):
    """Entry ``key`` of a cache; NotImplementedError with the reason it is missing."""
    v = cache.get(key, "not on the suite's grid")
    if isinstance(v, str):
        raise NotImplementedError(v)
    return v


class Pinned:
    """Timed classes: the thread count fixed to :data:`THREADS` from ``setup`` (call
    :meth:`pin`) to ``teardown``."""

    def pin(self) -> None:
        self._pinned = timing.fixed_threads(THREADS)
        self._pinned.__enter__()

    def teardown(self, *_):
        pinned = getattr(self, "_pinned", None)
        if pinned is not None:
            pinned.__exit__(None, None, None)
            self._pinned = None


class RecallTimed(Pinned):
    """The repeats of every recall benchmark (calls of µs to ms), set once.  asv calibrates
    ``number`` to a 10 ms sample and takes 3..6 samples (at most 1 s) in each of 4 rounds,
    each round a new process, interleaved with the other benchmarks: a figure's spread then
    holds the variation between processes (where the arrays landed, which core), not only
    within one, so ``asv compare`` does not call a process's luck a change.  With asv's
    defaults (2 rounds of 3..10 samples) two runs of one commit once differed by 0.53× on
    axis-tree ``time_batch`` at n = 256.  A 50 ms warm-up brings caches and clock up first.
    ``--quick`` still takes one sample of each."""

    number, sample_time, repeat, rounds = 0, 0.01, (3, 6, 1.0), 4
    min_run_count, warmup_time = 2, 0.05


def executor(m, name: str):
    """(the executor's route on ``m``: its plan built once, prepared inputs) with the kernel
    compiled on the batch and on one row (call after :meth:`Pinned.pin`: the paths the pinned
    thread count takes); NotImplementedError if ``m`` does not support executor ``name``."""
    if name not in m.executors:
        raise NotImplementedError(f"{m.name} has no {name} executor")
    try:
        route = m.route(name)
    except Exception as exc:
        raise NotImplementedError(f"executor {name} not available ({exc})") from None
    X = timing.prepare(m.dataset.X, m.dtype)
    route.batch(X)  # compile here, in setup
    route.batch(X[:1])
    return route, X


def one_input(route, X: np.ndarray):
    """(function of one input, that input): the executor's one-input path."""
    route.one(X[0])
    return route.one, X[0]


__all__ = ["CASES", "CONSTRUCTIONS", "EXECUTORS", "N", "P", "P_AXIS", "P_RANDOM", "RANDOM",
           "SPARSITY", "THREADS", "Pinned", "built", "cached", "dataset", "executor", "memorizer",
           "memorizer_cache", "one_input", "random_cache", "random_memorizer", "records_cache",
           "split"]
