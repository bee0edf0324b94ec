"""The exact-lookup peers of ``memcap compare`` (:mod:`kernels.harness.lookup_peers`) on the data
of ``bench_axis_tree``: scikit-learn's tree compiled to C by treelite + tl2cgen, scipy's cKDTree,
and at p = 1, on the keys ``axis-tree`` is built on, numpy ``searchsorted`` (one batch) and pygm
(one key per Python call: its API has no batch lookup).  Queries are every memorized point in a
seeded random order; fits, compilations and builds happen once in ``setup_cache``.  A peer that
cannot run here (its package, or a C compiler, missing: ``pip install 'memcap[peers]'``) is "n/a"
with its one-line reason.  asv's own ``Peers`` class (scikit-learn and a dict) stays in
``bench_axis_tree``."""

import numpy as np

from kernels.harness import timing

from .common import SEED, Pinned

N = (1 << 12, 1 << 16)
COMPILED = (1 << 10, 1 << 12)  # gcc had not compiled a fully grown tree of 2^16 points in 8 min


def _data(n: int, p: int):
    import kernels

    ds = kernels.generate("gaussian", n, p, 1, seed=SEED)
    order = np.random.default_rng(SEED + 1).permutation(n)
    return ds, order


def _peers():
    """:mod:`kernels.harness.lookup_peers` (imported when a benchmark runs, not at discovery)."""
    from kernels.harness import lookup_peers

    return lookup_peers


def _built(make, ns=None) -> dict:
    """{n: make(n)} over ``ns`` (default N), or the one-line reason when the peer cannot run
    here."""
    lookup_peers = _peers()
    try:
        return {n: make(n) for n in (N if ns is None else ns)}
    except lookup_peers.Missing as exc:
        return {"missing": str(exc)}


def _lookups(p: int, dist: str) -> dict:
    """{n: (points, outputs, queries)} at dimension p for a peer of distribution ``dist``."""
    def make(n):
        _peers().require(dist)
        ds, order = _data(n, p)
        return ds.X, ds.D, ds.X[order]

    return _built(make)


class _Peer(Pinned):
    number, sample_time, repeat, min_run_count, warmup_time = 0, 0.01, (3, 10, 2.0), 2, 0.0
    timeout = 600

    def _take(self, cache, n):
        if "missing" in cache:
            raise NotImplementedError(cache["missing"])
        self.pin()
        return cache[n]


class CompiledTree(_Peer):
    """scikit-learn's fully grown tree (float32 splits, p = 8) compiled to C, one thread."""

    params = (COMPILED, (8,))
    param_names = ("n", "p")

    def setup_cache(self):
        def make(n):
            ds, order = _data(n, 8)
            X32 = ds.X.astype(np.float32)
            _peers().compiled_tree(X32, ds.D[:, 0])  # compiled once, kept in the cache
            return X32, ds.D[:, 0], X32[order]

        return _built(make, COMPILED)

    def setup(self, cache, n, p):
        X32, y, Xq = self._take(cache, n)
        self.peer = _peers().compiled_tree(X32, y)
        self.q = self.peer.prepare(Xq)
        self.peer.lookup(self.q)

    def time_predict(self, cache, n, p):
        self.peer.lookup(self.q)


class KDTree(_Peer):
    """scipy's cKDTree (p = 8): the exact nearest memorized point, then its output."""

    params = (N, (8,))
    param_names = ("n", "p")

    def setup_cache(self):
        return _lookups(8, "scipy")

    def setup(self, cache, n, p):
        X, D, Xq = self._take(cache, n)
        self.peer = _peers().ckdtree(X, D)
        self.q = self.peer.prepare(Xq)

    def time_query(self, cache, n, p):
        self.peer.lookup(self.q)


def _keys(n: int):
    """p = 1: the n keys, their outputs, the queries (every key, seeded random order) and
    ``axis-tree`` built on them in float64."""
    import kernels

    ds, order = _data(n, 1)
    return ds.X, ds.D, ds.X[order], kernels.build("axis-tree", ds.X, ds.D, dtype="float64")


class SortedKeys(_Peer):
    """p = 1: axis-tree's batch recall (one thread) against numpy ``searchsorted`` on the same
    keys, one batch each."""

    params = (N,)
    param_names = ("n",)

    def setup_cache(self):
        return _built(_keys)

    def setup(self, cache, n):
        from kernels.executors.tree import axis

        X, D, Xq, self.m = self._take(cache, n)
        self.predict, self.Xq = axis.predict, timing.prepare(Xq, np.float64)
        self.peer = _peers().searchsorted(X[:, 0], D[:, 0])
        self.q = self.peer.prepare(Xq)
        self.predict(self.m.router, self.Xq, threads=1)

    def time_axis_tree_batch(self, cache, n):
        self.predict(self.m.router, self.Xq, threads=1)

    def time_searchsorted_batch(self, cache, n):
        self.peer.lookup(self.q)


class Pygm(_Peer):
    """p = 1: pygm's SortedList on the same keys, one key per Python call (its API)."""

    params = (N,)
    param_names = ("n",)

    def setup_cache(self):
        return _lookups(1, "pygm")

    def setup(self, cache, n):
        X, D, Xq = self._take(cache, n)
        self.peer = _peers().pygm_one_key(X[:, 0], D[:, 0])
        self.q = self.peer.prepare(Xq)

    def time_one_key_per_call(self, cache, n):
        self.peer.lookup(self.q)

