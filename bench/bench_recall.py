"""Wall time: building each construction, and recall by each executor (batch and one input),
one thread (bench/common.py: THREADS), n on the axis, p = 8.

Repeats chosen on purpose: a recall call lasts µs to ms (the repeats of
:class:`bench.common.RecallTimed`); a build lasts 10 ms to 1 s, so one call a sample, 2..5
samples.  ``--quick`` takes one sample of each."""

from kernels.harness import timing

from .common import (
    CASES,
    CONSTRUCTIONS,
    N,
    P,
    Pinned,
    RecallTimed,
    cached,
    executor,
    memorizer_cache,
    one_input,
    split,
)


class Build(Pinned):
    params = (CONSTRUCTIONS, N)
    param_names = ("construction", "n")
    timeout = 300
    number = 1
    repeat = (2, 5, 5.0)
    min_run_count = 1
    warmup_time = 0.0

    setup_cache = memorizer_cache

    def setup(self, cache, construction, n):
        self.ds = cached(cache, (construction, n, P)).dataset  # the data it accepts
        self.pin()

    def time_build(self, cache, construction, n):
        import kernels

        kernels.build(construction, self.ds.X, self.ds.D, seed=0)


class Recall(RecallTimed):
    """Recall of every memorized point (``time_batch``), of one point (``time_one``), and the
    harness's median batch time per input over the mean counted operations (``track_ns_per_op``,
    kernels.harness.timing)."""

    params = (CASES, N)
    param_names = ("case", "n")
    timeout = 300

    setup_cache = memorizer_cache

    def setup(self, cache, case, n):
        construction, name = split(case)
        self.m = cached(cache, (construction, n, P))
        self.name = name
        self.pin()
        self.route, self.X = executor(self.m, name)
        self.one, self.x = one_input(self.route, self.X)

    def time_batch(self, cache, case, n):
        self.route.batch(self.X)

    def time_one(self, cache, case, n):
        self.one(self.x)

    def track_ns_per_op(self, cache, case, n):
        def batch():
            self.route.batch(self.X)

        # asv's warm-up serves time_* only: a process just forked runs slow at first
        timing.warm_up(batch, timing.WARMUP_MAX_S)
        sp = timing.time_batch(batch, len(self.X), min_time=0.02)
        ops = self.m.count_ops(self.X, executor=self.name)["total"].mean()
        return timing.ns_per_op(sp["median"], ops)

    track_ns_per_op.unit = "ns/op"
