"""The asv suite: discovery (modules, classes, params), a cheap benchmark run, ``asv check``."""

import importlib
import inspect
import json
import os
import pkgutil
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PREFIXES = ("time_", "timeraw_", "track_", "peakmem_", "mem_")


def bench_modules():
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
    import bench

    return [importlib.import_module(f"bench.{m.name}")
            for m in pkgutil.iter_modules(bench.__path__) if m.name.startswith("bench_")]


def benchmark_classes():
    for mod in bench_modules():
        for name, cls in inspect.getmembers(mod, inspect.isclass):
            if cls.__module__ == mod.__name__ and any(
                    n.startswith(PREFIXES) for n in dir(cls)):
                yield name, cls


def test_every_class_is_parameterised():
    classes = dict(benchmark_classes())
    assert {"Build", "Recall", "Counts", "CountsP", "Quality", "Memory", "RecallMemory",
            "Sparsity", "SparsitySpeedup", "AxisTree", "Peers"} <= set(classes)
    for name, cls in classes.items():
        assert len(cls.params) == len(cls.param_names), name
        assert all(len(p) >= 1 for p in cls.params), name
    names = {n for cls in classes.values() for n in cls.param_names}
    assert {"n", "p", "sparsity"} <= names


def test_tracks_have_units():
    units = {}
    for _, cls in benchmark_classes():
        for n in dir(cls):
            if n.startswith("track_"):
                units[n] = getattr(getattr(cls, n), "unit", None)
    assert units["track_ops_mean"] == "ops"
    assert units["track_energy_proxy"] == "pJ"
    assert "track_exact" in units and all(units.values())


def test_a_cheap_benchmark_runs_and_invalid_ones_are_not_implemented():
    import numba

    from bench import common
    from bench.bench_ops import Counts, Quality
    from bench.bench_recall import Recall

    m = common.memorizer("zhang", 256, common.P)
    cache = {("zhang", 256, common.P): m}
    before = numba.get_num_threads()
    r = Recall()
    r.setup(cache, "zhang/dense", 256)  # compiles in setup, threads pinned
    assert numba.get_num_threads() == common.THREADS
    r.time_batch(cache, "zhang/dense", 256)
    r.time_one(cache, "zhang/dense", 256)
    assert r.track_ns_per_op(cache, "zhang/dense", 256) > 0
    r.teardown(cache, "zhang/dense", 256)
    assert numba.get_num_threads() == before  # restored
    recs = common._records(cache)
    c = Counts()
    c.setup(recs, "zhang/dense", 256)
    q = Quality()
    q.setup(recs, "zhang/dense", 256)
    assert c.track_ops_mean() > 0 and q.track_exact() == 1.0 and q.track_energy_proxy() > 0
    with pytest.raises(NotImplementedError):
        Recall().setup(cache, "zhang/dense", 2048)  # not in the cache
    with pytest.raises(NotImplementedError):
        Counts().setup({("zhang/tree", 256, 8): "zhang has no tree executor"}, "zhang/tree", 256)


def test_cases_are_declared_pairs_and_caches_are_shared():
    """Each class names one of the shared setup_cache functions (asv runs each once), and the
    cases are the construction/executor pairs the registry declares."""
    from bench import common

    shared = {common.memorizer_cache, common.random_cache, common.records_cache}
    for name, cls in benchmark_classes():
        if cls.__module__ not in ("bench.bench_axis_tree", "bench.bench_peers"):  # own data
            assert getattr(cls, "setup_cache", None) in shared, name
    assert "axis-tree/tree" in common.CASES and "zhang/dense" in common.CASES
    assert "zhang/tree" not in common.CASES


# Imports every module of a package under a profiler and prints each call into ``kernels`` other
# than module bodies and the registry's look-ups (names, get): what asv would pay at discovery.
_IMPORT_WORK = """
import importlib, json, pkgutil, sys
sys.path.insert(0, sys.argv[1])
import kernels, kernels.harness.cell, kernels.harness.timing, kernels.memorizer
pkg = importlib.import_module(sys.argv[2])
work = []
def watch(frame, event, arg):
    name = frame.f_globals.get("__name__", "")
    if (event == "call" and name.startswith("kernels.") and frame.f_code.co_name != "<module>"
            and name != "kernels.constructions"):
        work.append(f"{name}.{frame.f_code.co_name}")
for m in pkgutil.iter_modules(pkg.__path__):
    sys.setprofile(watch)
    importlib.import_module(f"{sys.argv[2]}.{m.name}")
    sys.setprofile(None)
print(json.dumps(sorted(set(work))))
"""


def _work_at_import(root: str, package: str) -> list[str]:
    res = subprocess.run([sys.executable, "-c", _IMPORT_WORK, root, package], capture_output=True,
                         text=True, timeout=300, check=False)
    assert res.returncode == 0, res.stderr[-2000:]
    return json.loads(res.stdout.splitlines()[-1])


def test_no_module_in_bench_does_work_at_import():
    """asv imports every module of bench/ to discover it: building, generating or executing
    belongs in setup/setup_cache, so importing them calls nothing of kernels but the registry."""
    assert _work_at_import(ROOT, "bench") == []


def test_the_import_check_finds_work(tmp_path):
    (tmp_path / "eager").mkdir()
    (tmp_path / "eager" / "__init__.py").write_text("")
    (tmp_path / "eager" / "bench_x.py").write_text(
        "import kernels\nDS = kernels.generate('gaussian', 8, 2, seed=0)\n")
    assert "kernels.model.data.generate" in _work_at_import(str(tmp_path), "eager")


@pytest.mark.skipif(shutil.which("git") is None, reason="asv check needs git")
def test_asv_check_passes():
    pytest.importorskip("asv")
    # asv drops PYTHONPATH; ASV_PYTHONPATH makes it import this checkout's kernels (not an
    # installed copy)
    env = {**os.environ, "ASV_PYTHONPATH": ROOT}
    res = subprocess.run([sys.executable, "-m", "asv", "check", "--python=same"], cwd=ROOT,
                         env=env, capture_output=True, text=True, timeout=180, check=False)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    assert "No problems found" in res.stdout


def test_peer_benchmarks_run_or_say_why(monkeypatch):
    """Each peer class of bench_peers runs on a small n where its peer is installed, and is
    "n/a" (NotImplementedError) with the one-line reason where it is not."""
    from bench import bench_peers
    from kernels.harness import lookup_peers

    monkeypatch.setattr(bench_peers, "N", (256,))
    monkeypatch.setattr(bench_peers, "COMPILED", (256,))
    for cls, args in ((bench_peers.CompiledTree, (256, 8)), (bench_peers.KDTree, (256, 8)),
                      (bench_peers.SortedKeys, (256,)), (bench_peers.Pygm, (256,))):
        b = cls()
        cache = b.setup_cache()
        if "missing" in cache:
            with pytest.raises(NotImplementedError, match="not installed|no C compiler"):
                b.setup(cache, *args)
            continue
        b.setup(cache, *args)
        for name in dir(b):
            if name.startswith("time_"):
                getattr(b, name)(cache, *args)
        b.teardown(cache, *args)
    monkeypatch.setattr(lookup_peers, "has", lambda dist: dist != "pygm")
    cache = bench_peers.Pygm().setup_cache()
    with pytest.raises(NotImplementedError, match=r"^pygm is not installed \(pip install"):
        bench_peers.Pygm().setup(cache, 256)
