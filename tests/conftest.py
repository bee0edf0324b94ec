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


@pytest.fixture(autouse=True)
def _short_cli_timing(monkeypatch):
    """A `memcap sweep` run in this process times each figure for 2 ms, not the CLI's 50 ms
    (a test checks files, rows and counts; the timing rules are tested with a fake clock).
    A grid or ``--preset`` that names ``min_time`` keeps it; a subprocess keeps the default."""
    from kernels.harness import presets

    monkeypatch.setitem(presets.OPTION_DEFAULTS, "min_time", 0.002)


@pytest.fixture
def stable_timings(monkeypatch):
    """Every timed figure is judged stable (tests of cache reuse must not depend on how steady
    the machine is; the stability rule itself is tested with a fake clock)."""
    from kernels.harness import timing

    def judged_stable(fn):
        def wrapped(*a, **kw):
            sp, check = fn(*a, **kw)
            return sp, {**check, "stable": True, "reason": None}

        return wrapped

    monkeypatch.setattr(timing, "stable_measure", judged_stable(timing.stable_measure))
    monkeypatch.setattr(timing, "pool", judged_stable(timing.pool))
    monkeypatch.setattr(timing, "neighbour_check", lambda rows, ratio=None: [])
