"""Test configuration.  Under CI (``CI`` set) hypothesis is derandomized, so a CI run is
reproducible; local runs keep exploring new examples (and replay failures from .hypothesis/)."""

import os

import pytest
from hypothesis import settings

settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None, print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture(autouse=True)
def _own_cell_cache(tmp_path, monkeypatch):
    """Every test has its own cell cache folder (never the user's cache): ``tmp_path/cache``."""
    monkeypatch.setenv("MEMCAP_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def stable_timings(monkeypatch):
    """Every timed figure is judged stable (tests of cache reuse must not depend on how steady
    the machine is; the stability rule itself is tested with a fake clock)."""
    from kernels.harness import timing

    real = timing.stable_measure

    def always(measure, recheck=None, **kw):
        sp, check = real(measure, recheck, **kw)
        return sp, {**check, "stable": True, "reason": None}

    real_pool = timing.pool

    def pooled(*a, **kw):
        sp, check = real_pool(*a, **kw)
        return sp, {**check, "stable": True, "reason": None}

    monkeypatch.setattr(timing, "stable_measure", always)
    monkeypatch.setattr(timing, "pool", pooled)
    monkeypatch.setattr(timing, "neighbour_check", lambda rows, ratio=None: [])
