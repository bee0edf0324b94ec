"""``axis-tree`` paths: the Numba build, batch recall (one thread, and all threads), one
query through the Python API, and the peers of ``scripts/pyperf_axis_tree.py`` (scikit-learn's
fully grown tree, a ``dict`` of row bytes) on the same data.  Queries are every memorized point, in
a seeded random order; builds and fits happen once in ``setup_cache``, compilation in ``setup``.
The targets (n = 2^20 and 2^24, ratios in one run) are measured by
``python scripts/pyperf_axis_tree.py --targets``; here n = 2^12 and 2^16 keep a per-commit run
short while still showing the growth with n."""

import numpy as np

from kernels.harness import timing

from .common import SEED, RecallTimed

N = (1 << 12, 1 << 16)
DTYPES = ("float32", "float64")


def _data(n: int, p: int):
    import kernels

    ds = kernels.generate("gaussian", n, p, 1, seed=SEED)
    order = np.random.default_rng(SEED + 1).permutation(n)
    return ds, order


def _trees() -> dict:
    """{(n, dtype): (dataset, memorizer, queries)} at p = 8."""
    import kernels

    out = {}
    for n in N:
        ds, order = _data(n, 8)
        for dtype in DTYPES:
            m = kernels.build("axis-tree", ds.X, ds.D, dtype=dtype)
            out[(n, dtype)] = (ds, m, timing.prepare(ds.X[order], dtype))
    return out


class AxisTree(RecallTimed):
    params = (N, (8,), DTYPES)
    param_names = ("n", "p", "dtype")
    timeout = 300

    def setup_cache(self):
        return _trees()

    def setup(self, cache, n, p, dtype):
        from kernels.executors.tree import axis

        self.ds, self.m, self.Xq = cache[(n, dtype)]
        self.router = self.m.router
        self.x = self.Xq[0].copy()
        self.predict = axis.predict
        self.all_threads = timing.max_threads()
        self.pin()
        self.predict(self.router, self.Xq, threads=1)
        with timing.fixed_threads(self.all_threads):
            self.predict(self.router, self.Xq)
        self.m.predict_one(self.x)
        self.m.predict(self.x)

    def time_build(self, cache, n, p, dtype):
        import kernels

        kernels.build("axis-tree", self.ds.X, self.ds.D, dtype=dtype)

    def time_batch_one_thread(self, cache, n, p, dtype):
        self.predict(self.router, self.Xq, threads=1)

    def time_batch_threads(self, cache, n, p, dtype):
        """Every thread Numba has (NUMBA_NUM_THREADS): noisy on a shared machine."""
        with timing.fixed_threads(self.all_threads):
            self.predict(self.router, self.Xq)

    def time_one_query(self, cache, n, p, dtype):
        self.m.predict_one(self.x)

    def time_one_query_generic_api(self, cache, n, p, dtype):
        self.m.predict(self.x, executor="tree")

    def track_ops_mean(self, cache, n, p, dtype):
        return float(self.m.count_ops(self.Xq)["total"].mean())

    track_ops_mean.unit = "ops"


class Peers(RecallTimed):
    """scikit-learn's fully grown DecisionTreeRegressor and a dict of row bytes, same queries."""

    params = (N, (8,))
    param_names = ("n", "p")
    timeout = 600

    def setup_cache(self):
        try:
            from sklearn.tree import DecisionTreeRegressor
        except ImportError:
            return None
        out = {}
        for n in N:
            ds, order = _data(n, 8)
            X32 = ds.X.astype(np.float32)
            y = ds.D[:, 0]
            est = DecisionTreeRegressor(random_state=SEED).fit(X32, y)
            out[n] = (X32, y, X32[order], est)
        return out

    def setup(self, cache, n, p):
        if cache is None:
            raise NotImplementedError("scikit-learn is not installed")
        from sklearn.tree import DecisionTreeRegressor

        self.X32, self.y, self.Xq, self.est = cache[n]
        self.table = {row.tobytes(): v for row, v in zip(self.X32, self.y, strict=True)}
        self.keys = [row.tobytes() for row in self.Xq]
        self.cls = DecisionTreeRegressor
        self.pin()

    def time_sklearn_fit(self, cache, n, p):
        self.cls(random_state=SEED).fit(self.X32, self.y)

    def time_sklearn_predict(self, cache, n, p):
        self.est.predict(self.Xq)

    def time_dict_lookup(self, cache, n, p):
        table = self.table
        [table[k] for k in self.keys]
