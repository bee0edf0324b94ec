"""Peak memory (asv peakmem_: the process's maximum resident set size during the call), at the
larger n of the suite."""

from .common import CASES, CONSTRUCTIONS, N, P, Pinned, cached, executor, memorizer_cache, split

N_MEM = (N[-1],)


class Memory:
    params = (CONSTRUCTIONS, N_MEM)
    param_names = ("construction", "n")
    timeout = 300

    setup_cache = memorizer_cache

    def setup(self, cache, construction, n):
        self.ds = cached(cache, (construction, n, P)).dataset

    def peakmem_build(self, cache, construction, n):
        import kernels

        kernels.build(construction, self.ds.X, self.ds.D, seed=0)


class RecallMemory(Pinned):
    params = (CASES, N_MEM)
    param_names = ("case", "n")
    timeout = 300

    setup_cache = memorizer_cache

    def setup(self, cache, case, n):
        construction, name = split(case)
        m = cached(cache, (construction, n, P))
        self.pin()
        self.route, self.X = executor(m, name)

    def peakmem_recall(self, cache, case, n):
        self.route.batch(self.X)
