"""``axis-tree`` paths (issue 6): the Numba build, batch recall (one thread and all threads), one
query through the Python API, and the peers of ``scripts/pyperf_axis_tree.py`` (scikit-learn's fully
grown tree, a ``dict`` of row bytes) on the same data.  Queries are every memorized point, in a
seeded random order; compilation and fitting happen in ``setup``.  The issue's targets (n = 2^20
and 2^24, ratios in one run) are measured by ``python scripts/pyperf_axis_tree.py --targets``."""

import functools

import numpy as np

from .common import SEED

N = (1 << 14, 1 << 17)
DTYPES = ("float32", "float64")


@functools.lru_cache(maxsize=4)
def _data(n: int, p: int):
    import kernels

    ds = kernels.generate("gaussian", n, p, 1, seed=SEED)
    order = np.random.default_rng(SEED + 1).permutation(n)
    return ds, order


@functools.lru_cache(maxsize=4)
def _built(n: int, p: int, dtype: str):
    import kernels

    ds, order = _data(n, p)
    m = kernels.build("axis-tree", ds.X, ds.D, dtype=dtype)
    Xq = np.ascontiguousarray(ds.X[order], dtype=dtype)
    return m, Xq


class AxisTree:
    params = (N, (8,), DTYPES)
    param_names = ("n", "p", "dtype")
    timeout = 300

    def setup(self, n, p, dtype):
        from kernels.executors.tree import axis as axis_routing

        self.ds, _ = _data(n, p)
        self.m, self.Xq = _built(n, p, dtype)
        self.router = self.m.router
        self.x = self.Xq[0].copy()
        self.predict = axis_routing.predict
        self.predict(self.router, self.Xq[:2048], threads=1)
        self.predict(self.router, self.Xq[:2048])
        self.m.predict_one(self.x)
        self.m.predict(self.x)

    def time_build(self, n, p, dtype):
        import kernels

        kernels.build("axis-tree", self.ds.X, self.ds.D, dtype=dtype)

    def time_batch_one_thread(self, n, p, dtype):
        self.predict(self.router, self.Xq, threads=1)

    def time_batch_threads(self, n, p, dtype):
        self.predict(self.router, self.Xq)

    def time_one_query(self, n, p, dtype):
        self.m.predict_one(self.x)

    def time_one_query_generic_api(self, n, p, dtype):
        self.m.predict(self.x, executor="tree")

    def track_ops_mean(self, n, p, dtype):
        return float(self.m.count_ops(self.Xq)["total"].mean())

    track_ops_mean.unit = "ops"


class Peers:
    """scikit-learn's fully grown DecisionTreeRegressor and a dict of row bytes, same queries."""

    params = (N, (8,))
    param_names = ("n", "p")
    timeout = 600

    def setup(self, n, p):
        try:
            from sklearn.tree import DecisionTreeRegressor
        except ImportError:
            raise NotImplementedError("scikit-learn is not installed") from None
        ds, order = _data(n, p)
        self.X32 = ds.X.astype(np.float32)
        self.y = ds.D[:, 0]
        self.Xq = self.X32[order]
        self.est = DecisionTreeRegressor(random_state=SEED).fit(self.X32, self.y)
        self.table = {row.tobytes(): v for row, v in zip(self.X32, self.y, strict=True)}
        self.keys = [row.tobytes() for row in self.Xq]
        self.cls = DecisionTreeRegressor

    def time_sklearn_fit(self, n, p):
        self.cls(random_state=SEED).fit(self.X32, self.y)

    def time_sklearn_predict(self, n, p):
        self.est.predict(self.Xq)

    def time_dict_lookup(self, n, p):
        table = self.table
        [table[k] for k in self.keys]
