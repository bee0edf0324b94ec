"""Dense vs active on seeded random sparse ReLU networks (kernels.random_networks), one thread."""

from kernels.harness import timing
from kernels.random_networks import RandomNetwork

from .common import SPARSITY, N, Pinned, RecallTimed, cached, executor, random_cache


class Sparsity(RecallTimed):
    params = (RandomNetwork.EXECUTORS, (N[-1],), SPARSITY)
    param_names = ("executor", "n", "sparsity")
    timeout = 300

    setup_cache = random_cache

    def setup(self, cache, executor_name, n, sparsity):
        self.m = cached(cache, (n, sparsity))
        self.pin()
        self.route, self.X = executor(self.m, executor_name)

    def time_recall(self, cache, executor_name, n, sparsity):
        self.route.batch(self.X)

    def track_ops_mean(self, cache, executor_name, n, sparsity):
        return float(self.m.count_ops(self.X, executor=executor_name)["total"].mean())

    track_ops_mean.unit = "ops"


class SparsitySpeedup(Pinned):
    """Wall-time ratio dense / active measured in one process (above 1: active wins), the
    harness's medians (kernels.harness.timing)."""

    params = ((N[-1],), SPARSITY)
    param_names = ("n", "sparsity")
    timeout = 300

    setup_cache = random_cache

    def setup(self, cache, n, sparsity):
        m = cached(cache, (n, sparsity))
        self.pin()
        self.runs = {e: executor(m, e) for e in RandomNetwork.EXECUTORS}

    def _median(self, e):
        route, X = self.runs[e]
        return timing.time_batch(lambda: route.batch(X), len(X), min_time=0.02)["median"]

    def track_speedup(self, cache, n, sparsity):
        return self._median("dense") / self._median("active")

    track_speedup.unit = "x"
