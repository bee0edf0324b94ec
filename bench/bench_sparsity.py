"""Dense vs active on seeded random sparse ReLU networks (kernels.harness.workloads)."""

import time

from .common import SPARSITY, N, executor, random_memorizer

P_RANDOM = 32


class Sparsity:
    params = (("dense", "active"), N, SPARSITY)
    param_names = ("executor", "n", "sparsity")
    timeout = 300

    def setup(self, executor_name, n, sparsity):
        self.m = random_memorizer(n, P_RANDOM, sparsity)
        self.module, self.obj, self.X = executor(self.m, executor_name)
        self.c = self.m.count_ops(self.X, executor=executor_name)

    def time_recall(self, executor_name, n, sparsity):
        self.module.predict(self.obj, self.X)

    def track_ops_mean(self, executor_name, n, sparsity):
        return float(self.c["total"].mean())

    track_ops_mean.unit = "ops"


class SparsitySpeedup:
    """Wall-time ratio dense / active measured in one process (above 1: active wins)."""

    params = (N, SPARSITY)
    param_names = ("n", "sparsity")
    timeout = 300

    def setup(self, n, sparsity):
        m = random_memorizer(n, P_RANDOM, sparsity)
        self.runs = {e: executor(m, e) for e in ("dense", "active")}

    def _best(self, e, reps=5):
        module, obj, X = self.runs[e]
        best = float("inf")
        for _ in range(reps):
            t0 = time.perf_counter()
            module.predict(obj, X)
            best = min(best, time.perf_counter() - t0)
        return best

    def track_speedup(self, n, sparsity):
        return self._best("dense") / self._best("active")

    track_speedup.unit = "x"
