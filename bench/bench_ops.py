"""Tracked quantities: operations per input, energy proxy (model), exactness, active weights."""

from kernels.harness import energy
from kernels.theory.verify import executor_record

from .common import CONSTRUCTIONS, EXECUTORS, N, P, executor, memorizer


class Counts:
    params = (CONSTRUCTIONS, EXECUTORS, N, P)
    param_names = ("construction", "executor", "n", "p")
    timeout = 300

    def setup(self, construction, executor_name, n, p):
        m = memorizer(construction, n, p)
        _, obj, _ = executor(m, executor_name)
        self.rec = executor_record(m, executor_name)
        self.proxy = energy.proxy(self.rec["ops_by_kind"], m.dtype.name, obj.nbytes())

    def track_ops_mean(self, *_):
        return self.rec["ops"]["mean"]

    track_ops_mean.unit = "ops"

    def track_ops_max(self, *_):
        return self.rec["ops"]["max"]

    track_ops_max.unit = "ops"

    def track_energy_proxy(self, *_):
        """Energy per input, the Horowitz 45 nm *model* (kernels.harness.energy), not a
        measurement."""
        return self.proxy["total_pj"]

    track_energy_proxy.unit = "pJ"

    def track_exact(self, *_):
        """1 if every memorized point is recalled exactly (kernels.theory.verify's rule), else 0."""
        return 1.0 if self.rec["exact"] else 0.0

    track_exact.unit = "exact"

    def track_max_rel_error(self, *_):
        return self.rec["max_rel_error"]

    track_max_rel_error.unit = "relative error"

    def track_active_weights_max(self, *_):
        """Largest ω (Definition 1 active weights) over the inputs; nan where not counted."""
        if "active_weights" not in self.rec:
            return float("nan")
        return self.rec["active_weights"]["max"]

    track_active_weights_max.unit = "weights"
