"""Tracked quantities: operations per input, energy proxy (model), exactness, active weights —
over n (p = 8) and over p (n = N[0]).  Counting is deterministic: every record is computed once,
in the suite's ``setup_cache`` (bench/common.py); each track only reads it."""

from .common import CASES, P_AXIS, N, P, cached, records_cache


class Counts:
    """Operations per input over n."""

    params = (CASES, N)
    param_names = ("case", "n")
    timeout = 600
    setup_cache = records_cache

    def setup(self, cache, case, n, p=P):
        self.rec = cached(cache, (case, n, p))

    def track_ops_mean(self, *_):
        return self.rec["ops"]["mean"]

    track_ops_mean.unit = "ops"

    def track_ops_max(self, *_):
        return self.rec["ops"]["max"]

    track_ops_max.unit = "ops"


class Quality:
    """Energy proxy, exactness and active weights at the larger n (one job per number: asv's
    cost is per job, so these are not repeated at every n)."""

    params = (CASES, (N[-1],))
    param_names = ("case", "n")
    timeout = 600
    setup_cache = records_cache
    setup = Counts.setup

    def track_energy_proxy(self, *_):
        """Energy per input, the Horowitz 45 nm *model* (kernels.harness.energy), not a
        measurement."""
        return self.rec["proxy"]["total_pj"]

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


class CountsP:
    """Operations per input against the input dimension p, at n = N[0]."""

    params = (CASES, (N[0],), P_AXIS)
    param_names = ("case", "n", "p")
    timeout = 600
    setup_cache = records_cache
    setup = Counts.setup
    track_ops_mean = Counts.track_ops_mean
