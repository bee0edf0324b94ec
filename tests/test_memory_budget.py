"""Memory is estimated before anything is allocated, against one budget: the tightest of
MemAvailable, RLIMIT_AS (less what the process maps) and the cgroup limit."""

import subprocess
import sys
import time
import tracemalloc

import numpy as np
import pytest

import kernels
from kernels.model import data


def test_budget_is_the_tightest_limit(monkeypatch):
    limits = data.memory_limits()
    assert "MemAvailable" in limits or "physical memory" in limits
    assert data.available_memory() == min(limits.values()) > 0
    monkeypatch.setattr(data, "_cgroup_free", lambda: 3 * 2**30)
    monkeypatch.setattr(data, "_rlimit_free", lambda: {"RLIMIT_AS": 2**31})
    assert data.available_memory() == min(2**31, limits.get("MemAvailable", 2**40))
    with pytest.raises(ValueError, match=r"needs about 1.9 GiB .* under RLIMIT_AS"):
        data.check_memory(1.9 * 2**30, "work")
    data.check_memory(1.5 * 2**30, "work")  # under 80% of 2 GiB


def test_cgroup_limits_read(tmp_path, monkeypatch):
    # a v1 and a v2 hierarchy: the tightest of the cgroup and its ancestors counts
    v2 = tmp_path / "unified" / "a" / "b"
    v2.mkdir(parents=True)
    (v2 / "memory.max").write_text("max\n")
    (v2.parent / "memory.max").write_text(f"{4 * 2**30}\n")
    (v2.parent / "memory.current").write_text(f"{2**30}\n")
    cg = tmp_path / "cgroup"
    cg.write_text("0::/a/b\n")
    real_open = open

    def fake_open(path, *a, **k):
        path = str(path)
        if path == "/proc/self/cgroup":
            return real_open(cg, *a, **k)
        if path.startswith("/sys/fs/cgroup"):
            return real_open(path.replace("/sys/fs/cgroup", str(tmp_path / "unified")), *a, **k)
        return real_open(path, *a, **k)

    monkeypatch.setattr("builtins.open", fake_open)
    assert data._cgroup_free() == 3 * 2**30
    cg.write_text("4:memory:/x\n")
    v1 = tmp_path / "unified" / "memory" / "x"
    v1.mkdir(parents=True)
    (v1 / "memory.limit_in_bytes").write_text(f"{2**30}\n")
    (v1 / "memory.usage_in_bytes").write_text(f"{2**29}\n")
    assert data._cgroup_free() == 2**29


def test_address_space_limit_respected():
    # under a 3 GiB RLIMIT_AS a build that MemAvailable alone would allow is refused up front
    code = ("import resource, kernels.model.data as d; "
            "resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, resource.RLIM_INFINITY)); "
            "print(d.memory_limits()['RLIMIT_AS'] < 3 * 2**30, d.available_memory() < 3 * 2**30)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "True"]


def _refused_without_allocating(f, words):
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        with pytest.raises(ValueError, match=words):
            f()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**24, peak  # nothing of the size asked for
    assert time.perf_counter() - t0 < 5


@pytest.mark.parametrize("kwargs", [
    {"p": 16, "depth": 2, "width": 10**6},
    {"p": 16, "depth": 3, "width": 20_000},
    {"p": 16, "depth": 1, "width": 8, "r": 3 * 10**8},
    {"p": 16, "depth": 1, "width": 8, "n_calibration": 2 * 10**9},
    {"p": 4, "depth": 10**7, "width": 1},
    {"p": 4, "depth": 3000, "width": 64, "skip_prob": 1.0},
])
def test_random_network_refused_before_allocating(kwargs, monkeypatch):
    monkeypatch.setattr(data, "available_memory", lambda: 8 * 2**30)
    _refused_without_allocating(lambda: kernels.random_network(**kwargs), "needs about")


def test_random_network_estimate_bounds_its_peak():
    from kernels.random_networks import estimate_bytes

    kernels.random_network(4, 2, 8, skip_prob=0.5, zero_fraction=0.5)  # compiled kernels loaded
    for p, d, w, r, s, k, m in [(16, 3, 128, 1, 0.9, 0.0, 128), (16, 2, 128, 1, 0.0, 0.0, 128),
                                (12, 4, 32, 4, 0.5, 0.5, 256), (600, 1, 20, 1, 0.0, 0.0, 32),
                                (4, 1, 8, 1500, 0.0, 0.0, 32), (4, 150, 4, 1, 0.0, 0.3, 16)]:
        est = estimate_bytes(p, d, w, r=r, sparsity=s, skip_prob=k, n_calibration=m)
        tracemalloc.start()
        try:
            kernels.random_network(p, d, w, r=r, sparsity=s, skip_prob=k, zero_fraction=0.5,
                                   n_calibration=m)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak <= est <= 2 * peak + 2**22, (p, d, w, r, s, k, m, est, peak)


def test_build_refuses_before_copying(monkeypatch):
    monkeypatch.setattr(data, "available_memory", lambda: 8 * 2**30)
    X = np.zeros((2, 3))
    D = np.lib.stride_tricks.as_strided(np.zeros(1), (2, 10**8), (0, 0))  # no memory behind it
    _refused_without_allocating(lambda: kernels.build("zhang", X, D),
                                r"zhang with n=2, p=3, r=100000000 needs about")


def test_vardi_group_size():
    ds = kernels.generate("gaussian", 40, 3, 1, seed=0)
    y = np.arange(40) % 3
    assert kernels.build("vardi", ds.X, y, group_size=1).info["group_size"] == 1
    assert kernels.build("vardi", ds.X, y, group_size=40).info["group_size"] == 40
    for g in (41, 10**9):
        _refused_without_allocating(lambda g=g: kernels.build("vardi", ds.X, y, group_size=g),
                                    f"group_size={g} exceeds the n=40 points")
    with pytest.raises(ValueError, match="group_size"):
        kernels.constructions.preflight("vardi", 40, 3, 1, {"group_size": 10**9})


# (construction, n, p, r): wide p (n ≤ p: one leaf, one slab, a p×p solve) and tall data
GRID = [(c, n, p, r) for c in ("zhang", "bubeck", "axis-tree", "hyperplane-tree", "switch-net")
        for n, p, r in ((4, 1500, 1), (16, 600, 2), (600, 3, 1), (300, 8, 3))]
GRID += [("vardi", 16, 600, 1), ("vardi", 600, 3, 1), ("sign-cube", 256, 8, 1),
         ("sign-cube", 16, 4, 2)]


def _traced(f):
    tracemalloc.start()
    try:
        out = f()
        return out, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("name, n, p, r", GRID)
def test_estimates_hold_the_measured_peak(name, n, p, r):
    """peak ≤ estimate + A ≤ 2·peak + 2A for the build (``estimate_bytes``) and for verify
    (``verify_bytes``), A = ALLOWANCE_BYTES; compiled kernels loaded first (a small build, its
    verify, and a batch of 72 rows on each executor: the batched paths start at 64 rows, and
    compiling one inside the traced verify counts the compiler's memory)."""
    from kernels.constructions import estimate_bytes
    from kernels.verify import verify_bytes

    A = data.ALLOWANCE_BYTES
    cube = name == "sign-cube"
    labels = "classes" if name == "vardi" else "parity" if cube else "uniform"
    kind = "cube" if cube else "gaussian"
    small = kernels.generate(kind, 8, 3, r, seed=1, labels=labels)
    warm = kernels.build(name, small.X, small.D)
    kernels.verify(warm)
    for executor in warm.executors:
        warm.predict(np.tile(small.X, (9, 1)), executor=executor)
    ds = kernels.generate(kind, n, p, r, seed=2, labels=labels)
    m, peak = _traced(lambda: kernels.build(name, ds.X, ds.D))
    est = estimate_bytes(name, n, p, r)
    assert peak <= est + A <= 2 * peak + 2 * A, (est, peak)
    est = verify_bytes(m, m.executors)
    _, peak = _traced(lambda: kernels.verify(m))
    assert peak <= est + A <= 2 * peak + 2 * A, (est, peak)
