"""``axis-tree`` against scikit-learn and a ``dict``: pyperf benchmarks, and the
target table measured as ratios in one run.

    python scripts/pyperf_axis_tree.py [pyperf options] [--n N] [--p P]     # pyperf benchmarks
    python scripts/pyperf_axis_tree.py --targets [--n N] [--scale-n N] [--json-out FILE]
                                       [--markdown] [--readme README.md]

Data: n Gaussian points in R^p, r = 1 uniform output, float32; queries are every point in a seeded
random order.  Peers: scikit-learn's fully grown ``DecisionTreeRegressor`` (``fit`` and
``predict``), and a ``dict`` from each row's float32 bytes to its output (keys made beforehand, so
only the lookups are timed; ``dict+tobytes`` also makes each key from the query row).  memcap:
``kernels.build("axis-tree", X, D, dtype="float32")`` (validation included; ``construction only``
excludes it), batch recall by :func:`kernels.executors.tree.axis.predict` on one thread, one query
by ``Memorizer.predict_one``.  Times are wall clock and this thread's CPU time (best of several
repeats); on a shared machine the CPU-time ratios are the steadier ones.

``--targets`` prints each target with the measured ratio and whether it is met, then runs the scale
check (n = 2^24 by default: build, certify, recall every point exactly) in a child process to
report its wall time and peak resident memory.  The pyperf mode fits scikit-learn once and caches
the fitted model in ``--cache-dir`` for the worker processes.

The same run measures the conditional executors' targets (:func:`executor_rates`: one sweep of
the suite's own timing method at n = 1,024…16,384, p = 8, and on random networks at sparsity
0.9…0.99) and times the named peers (:func:`peer_times`, :mod:`kernels.harness.lookup_peers`):
scikit-learn's tree compiled to C by treelite + tl2cgen (at ``--compiled-n`` points: gcc takes too
long on a fully grown tree of 2^20 leaves), pygm at p = 1 (one key per Python call, its API),
scipy's cKDTree, a dict and numpy ``searchsorted``; a peer that is not installed is skipped with
its reason.  ``--markdown`` prints every target as the README's table (with the command, the
machine and its load before and after); ``--readme FILE`` replaces the table between the
``<!-- targets:begin -->`` and ``<!-- targets:end -->`` lines of FILE with it.
"""

from __future__ import annotations

import functools
import json
import math
import os
import pickle
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

SEED = 0


def _data(n: int, p: int):
    import kernels

    ds = kernels.generate("gaussian", n, p, 1, seed=SEED)
    order = np.random.default_rng(SEED + 1).permutation(n)
    X32 = ds.X.astype(np.float32)
    return ds, X32, X32[order]


def _clock(f, repeat: int = 3) -> tuple[float, float]:
    """(best wall seconds, best thread-CPU seconds) of ``f()`` over ``repeat`` runs."""
    wall = cpu = math.inf
    for _ in range(repeat):
        t, c = time.perf_counter(), time.thread_time()
        f()
        cpu = min(cpu, time.thread_time() - c)
        wall = min(wall, time.perf_counter() - t)
    return wall, cpu


def _sklearn(X32, y):
    from sklearn.tree import DecisionTreeRegressor

    return DecisionTreeRegressor(random_state=SEED).fit(X32, y)


def _warm_up(p: int) -> None:
    import kernels

    ds = kernels.generate("gaussian", 2048, p, 1, seed=SEED)
    m = kernels.build("axis-tree", ds.X, ds.D, dtype="float32")
    m.predict_one(ds.X[0].astype(np.float32))
    m.count_ops(ds.X)


def _one_query_seconds(m, Xq, calls: int = 100_000) -> tuple[float, float]:
    rows = [np.array(Xq[i]) for i in range(min(calls, len(Xq)))]
    one = m.predict_one

    def loop():
        for x in rows:
            one(x)

    w, c = _clock(loop)
    return w / len(rows), c / len(rows)


def _trivial_njit():
    from numba import njit

    @njit(cache=False)
    def trivial(x):
        return 0

    return trivial


def _one_query_split(m, Xq, calls: int = 50_000) -> dict:
    """One query's cost, split: a trivial ``@njit`` call with the same row (Numba's dispatch), the
    compiled kernel called directly (traversal + argument unboxing), the public call (+ the
    wrapper's validation and output allocation); every timing interleaved in one loop."""
    router = m.router
    rows = [np.array(Xq[i]) for i in range(min(calls, len(Xq)))]
    trivial = _trivial_njit()
    trivial(rows[0])
    out = np.empty(router.r, router.dtype)
    entry, buf, one = router.entry, router.buf, m.predict_one
    cases = {"trivial_njit_s": trivial, "one_query_kernel_s": lambda x: entry(x, buf, out),
             "one_query_api_s": one}
    same = [rows[0]] * len(rows)  # one row again and again: the tree's path stays in cache
    cases["one_query_api_warm_s"] = (one, same)
    best = {k: (math.inf, math.inf) for k in cases}
    for _ in range(5):
        for k, f in cases.items():
            f, xs = f if isinstance(f, tuple) else (f, rows)

            def loop(f=f, xs=xs):
                for x in xs:
                    f(x)
            w, c = _clock(loop, 1)
            best[k] = (min(best[k][0], w / len(xs)), min(best[k][1], c / len(xs)))
    return best


def _float64_batch(ds, Xq) -> tuple[tuple[float, float], bool]:
    """Batch recall of the same data built in float64, every query checked by the rule."""
    import kernels
    from kernels.executors.tree import axis
    from kernels.verify import recall_errors

    m = kernels.build("axis-tree", ds.X, ds.D, dtype="float64")
    order = np.random.default_rng(SEED + 1).permutation(len(Xq))
    X64 = ds.X[order]
    Y = axis.predict(m.router, X64, threads=1)
    t = _clock(lambda: axis.predict(m.router, X64, threads=1), 5)
    return t, recall_errors(m, Y[np.argsort(order)])["exact"]


def _p1_vs_searchsorted(n: int) -> dict:
    """p = 1: the axis-tree's batch recall against numpy ``searchsorted`` on the same sorted keys
    (then the stored output), one batch of every key in a random order.  float64: distinct keys
    stay distinct (float32 rounding merges a few of 2^20 Gaussian keys, which neither can tell
    apart)."""
    import kernels
    from kernels.executors.tree import axis
    from kernels.harness import lookup_peers
    from kernels.verify import recall_errors

    ds = kernels.generate("gaussian", n, 1, 1, seed=SEED)
    m = kernels.build("axis-tree", ds.X, ds.D, dtype="float64")
    order = np.random.default_rng(SEED + 1).permutation(n)
    Xq = ds.X[order]
    peer = lookup_peers.searchsorted(ds.X[:, 0], ds.D[:, 0])
    q = peer.prepare(Xq)
    Y = axis.predict(m.router, Xq, threads=1)
    found = peer.lookup(q)
    return {"p1_batch_s": _clock(lambda: axis.predict(m.router, Xq, threads=1), 5),
            "p1_searchsorted_s": _clock(lambda: peer.lookup(q), 5),
            "p1_exact": recall_errors(m, Y[np.argsort(order)])["exact"],
            "p1_searchsorted_exact": bool(np.array_equal(found, ds.D[order, 0]))}


def _kdtree(X32, Xq, y, queries: int = 1 << 16) -> dict:
    """scipy cKDTree: exact nearest neighbour of each query, then its stored output (a subset of
    the queries; per query)."""
    from kernels.harness import lookup_peers

    try:
        peer = lookup_peers.ckdtree(X32, y)
    except lookup_peers.Missing:
        return {}
    sub = peer.prepare(Xq[:queries])
    w, c = _clock(lambda: peer.lookup(sub), 3)
    return {"ckdtree_s": (w * len(Xq) / len(sub), c * len(Xq) / len(sub))}


def _missing_peers() -> list[str]:
    """The named peers that are not installed here (reported, never faked)."""
    from kernels.harness import lookup_peers

    return [name for name in ("pygm", "treelite", "tl2cgen") if not lookup_peers.has(name)]


def targets(n: int, p: int) -> dict:
    """The n = 2^20 targets as ratios, from one run of this process."""
    import numba

    import kernels
    from kernels import constructions
    from kernels.constructions import axis_tree
    from kernels.executors.tree import axis
    from kernels.verify import recall_errors

    numba.set_num_threads(1)
    _warm_up(p)
    ds, X32, Xq = _data(n, p)
    y = ds.D[:, 0]
    out: dict = {"n": n, "p": p, "r": 1, "dtype": "float32", "threads": 1}
    m = None

    def build():
        nonlocal m
        m = kernels.build("axis-tree", ds.X, ds.D, dtype="float32")

    out["build_s"] = _clock(build, 1)
    out["build_construction_only_s"] = _clock(
        lambda: axis_tree.build(ds, seed=0, dtype="float32",
                                **constructions.complete_options("axis-tree", {})), 1)
    est = None

    def fit():
        nonlocal est
        est = _sklearn(X32, y)

    out["sklearn_fit_s"] = _clock(fit, 1)
    router = m.router
    Y = axis.predict(router, Xq, threads=1)
    out["batch_s"] = _clock(lambda: axis.predict(router, Xq, threads=1), 5)
    out["sklearn_predict_s"] = _clock(lambda: est.predict(Xq), 3)
    table = {row.tobytes(): v for row, v in zip(X32, y, strict=True)}
    keys = [row.tobytes() for row in Xq]
    out["dict_s"] = _clock(lambda: [table[k] for k in keys], 3)
    out["dict_tobytes_s"] = _clock(lambda: [table[x.tobytes()] for x in Xq], 3)
    out["one_query_s"] = _one_query_seconds(m, Xq)
    out.update(_one_query_split(m, Xq))
    out["float64_batch_s"], out["float64_exact"] = _float64_batch(ds, Xq)
    out.update(_p1_vs_searchsorted(n))
    out.update(_kdtree(X32, Xq, y))
    out["peers_missing"] = _missing_peers()
    out["index_bytes_per_point"] = m.router.nbytes() / n
    x = np.array(Xq[0])
    out["one_query_generic_api_s"] = tuple(
        t / 20_000 for t in _clock(lambda: [m.predict(x) for _ in range(20_000)]))
    order = np.random.default_rng(SEED + 1).permutation(n)
    out["exact"] = recall_errors(m, Y[np.argsort(order)])["exact"]
    out["certified"] = m.info["certified"]
    ops = m.count_ops(Xq)["total"]
    q = m.info["leaf_size"]
    out["ops_mean"], out["ops_max"] = float(ops.mean()), int(ops.max())
    out["ops_target"] = math.log2(n / q) + 2 * q + 8
    out["ops_floor_log2_n_over_p"] = math.log2(n / p)
    out["depth"] = m.conditional.depth
    return out


def ratios(t: dict, s: dict | None = None) -> list[tuple[str, float, str, str, bool]]:
    """(target, measured, its peer and ratio, goal, met) from one run; times are this thread's CPU
    time (the steadier figure on a shared machine)."""
    n = t["n"]

    def ns(k):
        return t[k][1] / n * 1e9

    def x(a, b):
        return t[a][1] / t[b][1]

    rows = [("batch recall float32 (ns/query)", ns("batch_s"),
             f"sklearn predict {x('sklearn_predict_s', 'batch_s'):.1f}x slower, dict "
             f"{x('dict_s', 'batch_s'):.1f}x" + (f", cKDTree {x('ckdtree_s', 'batch_s'):.0f}x"
                                                  if "ckdtree_s" in t else ""),
             "<= 20", ns("batch_s") <= 20),
            ("batch recall float64 (ns/query)", ns("float64_batch_s"),
             f"exact={t['float64_exact']}", "<= 20", ns("float64_batch_s") <= 20),
            ("p=1 batch vs numpy searchsorted (x)", x("p1_searchsorted_s", "p1_batch_s"),
             f"searchsorted {ns('p1_searchsorted_s'):.1f} ns, axis-tree {ns('p1_batch_s'):.1f} ns",
             ">= 6x", x("p1_searchsorted_s", "p1_batch_s") >= 6)]
    one, triv, kern, warm = (t[k][1] * 1e9 for k in ("one_query_api_s", "trivial_njit_s",
                                                     "one_query_kernel_s",
                                                     "one_query_api_warm_s"))
    rows += [("one query via Python API (ns)", one,
              f"split: Numba dispatch {triv:.0f} (trivial @njit), kernel {kern:.0f} (traversal + "
              f"unboxing), wrapper {one - kern:.0f}; one row repeated (warm caches) {warm:.0f}",
              "<= 400", one <= 400),
             ("one query / trivial @njit call (x)", one / triv, f"trivial {triv:.0f} ns",
              "<= 2.5x", one / triv <= 2.5),
             ("build vs sklearn fit (x)", x("sklearn_fit_s", "build_s"),
              f"fit {t['sklearn_fit_s'][1]:.1f} s, build {t['build_s'][1]:.1f} s", ">= 30x",
              x("sklearn_fit_s", "build_s") >= 30),
             ("index bytes per point", t["index_bytes_per_point"],
              "PGM ~0.08 B/key, RMI ~2 B/key (published)", "report", True)]
    if s:
        bpp = s["peak_rss_bytes_per_point"]
        big = f"2^{int(math.log2(s['n']))}"
        if "batch_ns_per_query" in s:
            rows += [(f"batch recall float32 n={big} (ns/query)", s["batch_ns_per_query"],
                      f"every point, random order; exact={s['exact']}, {big} points "
                      f"{s['batch_ns_per_query'] / ns('batch_s'):.2f}x the ns of 2^"
                      f"{int(math.log2(n))}", "<= 40", s["batch_ns_per_query"] <= 40)]
        rows += [(f"build+certify n={big} (s)", s["build_certify_cpu_s"],
                  f"sort one column {s['sort_column_cpu_s']:.2f} s", "<= 20",
                  s["build_certify_cpu_s"] <= 20),
                 ("build+certify / sort one column (x)",
                  s["build_certify_cpu_s"] / s["sort_column_cpu_s"], "", "<= 25x",
                  s["build_certify_cpu_s"] / s["sort_column_cpu_s"] <= 25),
                 ("peak memory (B/point)", bpp,
                  f"peak RSS {s['peak_rss_gib']:.2f} GiB over {s['peak_covers']} (data "
                  f"resident; the whole process, generation and the recall check included: "
                  f"{s['process_peak_gib']:.2f} GiB)",
                  "<= 144", bpp <= 144)]
    return rows


def _peak_rss() -> int:
    """Peak resident bytes of this process since start or the last reset (VmHWM; ru_maxrss
    where /proc is missing)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _reset_peak_rss() -> bool:
    """Restart the VmHWM peak at the current resident size (Linux: clear_refs 5)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def scale(n: int, p: int) -> dict:
    """n points: build, certify and recall every point exactly (run in a child process)."""
    import kernels
    from kernels.executors.tree import axis
    from kernels.verify import recall_errors

    t0 = time.perf_counter()
    ds = kernels.generate("gaussian", n, p, 1, seed=SEED)
    generate_peak = _peak_rss()
    col = np.ascontiguousarray(ds.X[:, 0])
    c1 = time.thread_time()
    np.sort(col)
    sort_cpu = time.thread_time() - c1
    del col
    reset = _reset_peak_rss()  # from here: the peak of build and certify (the data resident)
    c1 = time.thread_time()
    t1 = time.perf_counter()
    m = kernels.build("axis-tree", ds.X, ds.D, dtype="float32")
    c2 = time.thread_time()
    t2 = time.perf_counter()
    build_peak = _peak_rss()
    _reset_peak_rss()
    # batch recall of every point in a random order, one thread; then every answer checked
    order = np.random.default_rng(SEED + 1).permutation(n)
    Xq = ds.X[order].astype(np.float32)
    recall = functools.partial(axis.predict, m.router, Xq, threads=1)
    batch = _clock(recall, 2)
    Y = np.empty((n, m.router.r), np.float32)
    Y[order] = recall()
    del Xq, recall
    t3 = time.perf_counter()
    err = recall_errors(m, Y)  # the check itself holds several n-sized float64 arrays
    recall_peak = _peak_rss()
    process_peak = max(generate_peak, build_peak, recall_peak)
    peak = build_peak if reset else process_peak
    return {"n": n, "p": p, "generate_s": t1 - t0, "build_certify_s": t2 - t1,
            "peak_covers": "build and certify" if reset else "the whole process",
            "process_peak_gib": process_peak / 2**30,
            "recall_check_peak_gib": recall_peak / 2**30 if reset else None,
            "build_certify_cpu_s": c2 - c1, "sort_column_cpu_s": sort_cpu,
            "recall_s": t3 - t2, "total_s": t3 - t0, "build_recall_s": t3 - t1,
            "batch_ns_per_query": batch[1] / n * 1e9,
            "exact": err["exact"], "certified": m.summary()["certified"],
            "max_rel_error": err["max_rel_error"], "depth": m.conditional.depth,
            "peak_rss_gib": peak / 2**30, "peak_rss_bytes_per_point": peak / n}


def _print_targets(t: dict, s: dict | None) -> None:
    print(f"axis-tree targets, n={t['n']} p={t['p']} float32, one thread, CPU time of this thread "
          f"(exact={t['exact']}, certified={t['certified']}, depth={t['depth']}, "
          f"p=1 exact={t['p1_exact']}, searchsorted exact={t['p1_searchsorted_exact']})")
    print(f"{'target':40} {'measured':>10}  {'goal':8} met  peer / note")
    for name, val, peer, goal, ok in ratios(t, s):
        print(f"{name:40} {val:10.3g}  {goal:8} {'yes' if ok else 'NO ':3}  {peer}")
    for k in ("build_s", "build_construction_only_s", "sklearn_fit_s", "batch_s",
              "float64_batch_s", "sklearn_predict_s", "dict_s", "dict_tobytes_s", "ckdtree_s"):
        if k not in t:
            continue
        per = t[k] if k.endswith("fit_s") or k.startswith("build") else \
            tuple(v / t["n"] * 1e9 for v in t[k])
        unit = "s" if per is t[k] else "ns/query"
        print(f"  {k:32} wall {per[0]:9.3f} cpu {per[1]:9.3f} {unit}")
    print(f"  ops mean {t['ops_mean']:.2f} max {t['ops_max']} (target {t['ops_target']:.2f}, "
          f"Theorem 3 floor log2(n/p) = {t['ops_floor_log2_n_over_p']:.2f})")
    for name in t.get("peers_missing", []):
        print(f"  peer {name}: not installed here, skipped (pip install {name})")
    if s:
        print(f"scale n={s['n']}: build+certify {s['build_certify_s']:.1f} s wall, recall "
              f"{s['recall_s']:.1f} s (generate {s['generate_s']:.1f} s), exact={s['exact']}, "
              f"certified={s['certified']}, peak RSS {s['peak_rss_gib']:.2f} GiB")


# the compiled tree's points: gcc compiled a fully grown tree of 2^12 points in about 10 s, and
# had not finished one of 2^16 after 8 minutes (shared 2-core machine, load about 5)
COMPILED_N = 1 << 12


def peer_times(n: int, p: int, compiled_n: int = COMPILED_N) -> dict:
    """The named peers the batch targets do not time already, in this run: scikit-learn's tree
    compiled to C (treelite + tl2cgen) against ``axis-tree`` on the same ``compiled_n`` points,
    and pygm at p = 1 on the keys of :func:`_p1_vs_searchsorted` (one key per Python call, its
    API).  Every answer is checked against the stored outputs; a peer that cannot run here is
    recorded in ``peers_skipped`` with its one-line reason."""
    import kernels
    from kernels.executors.tree import axis
    from kernels.harness import lookup_peers

    out: dict = {"peers_skipped": {}}
    nc = min(n, compiled_n)
    ds, X32, Xq = _data(nc, p)
    order = np.random.default_rng(SEED + 1).permutation(nc)
    try:
        t0 = time.perf_counter()
        peer = lookup_peers.compiled_tree(X32, ds.D[:, 0])
        out["compiled_tree_build_s"] = time.perf_counter() - t0  # fit + compile, or cached
        q = peer.prepare(Xq)
        out["compiled_tree_exact"] = bool(np.array_equal(peer.lookup(q), ds.D[order, 0]))
        m = kernels.build("axis-tree", ds.X, ds.D, dtype="float32")
        axis.predict(m.router, Xq, threads=1)
        out["compiled_n"] = nc
        out["compiled_tree_s"] = _clock(lambda: peer.lookup(q), 5)
        out["compiled_axis_tree_s"] = _clock(
            lambda: axis.predict(m.router, Xq, threads=1), 5)
    except lookup_peers.Missing as exc:
        out["peers_skipped"]["treelite-c"] = str(exc)
    keys = kernels.generate("gaussian", n, 1, 1, seed=SEED)
    order = np.random.default_rng(SEED + 1).permutation(n)
    try:
        peer = lookup_peers.pygm_one_key(keys.X[:, 0], keys.D[:, 0])
        qs = peer.prepare(keys.X[order])
        out["pygm_exact"] = bool(np.array_equal(peer.lookup(qs), keys.D[order, 0]))
        out["pygm_one_key_s"] = _clock(lambda: peer.lookup(qs), 3)
    except lookup_peers.Missing as exc:
        out["peers_skipped"]["pygm"] = str(exc)
    return out


def peer_ratios(t: dict, pt: dict) -> list[tuple[str, float, str, str, bool]]:
    """Target 5's rows: each named peer's time per query, and axis-tree's ratio to it in the
    same run (CPU time of this thread).  A report, not a goal: "met" says it was measured."""
    n = t["n"]

    def ns(d, k, count):
        return d[k][1] / count * 1e9

    rows = []
    if "compiled_tree_s" in pt:
        nc = pt["compiled_n"]
        c, a = ns(pt, "compiled_tree_s", nc), ns(pt, "compiled_axis_tree_s", nc)
        rows.append((f"peer: treelite/tl2cgen compiled tree, n={nc} (ns/query)", c,
                     f"axis-tree {a:.1f} ns on the same points: {c / a:.1f}x faster "
                     f"(exact={pt['compiled_tree_exact']})", "report", True))
    batch = ns(t, "batch_s", n)
    for name, key in (("sklearn predict", "sklearn_predict_s"), ("cKDTree", "ckdtree_s"),
                      ("dict", "dict_s")):
        if key in t:
            v = ns(t, key, n)
            rows.append((f"peer: {name}, n={n} (ns/query)", v,
                         f"axis-tree {batch:.1f} ns: {v / batch:.1f}x faster", "report", True))
    p1 = ns(t, "p1_batch_s", n)
    v = ns(t, "p1_searchsorted_s", n)
    rows.append((f"peer: numpy searchsorted p=1, n={n} (ns/key)", v,
                 f"axis-tree p=1 {p1:.1f} ns: {v / p1:.1f}x faster", "report", True))
    if "pygm_one_key_s" in pt:
        v = ns(pt, "pygm_one_key_s", n)
        rows.append((f"peer: pygm p=1, one key per Python call, n={n} (ns/key)", v,
                     f"axis-tree p=1 batch {p1:.1f} ns: {v / p1:.0f}x faster; pygm answers one "
                     f"key per call (exact={pt['pygm_exact']})", "report", True))
    for name, why in sorted(pt.get("peers_skipped", {}).items()):
        rows.append((f"peer: {name}", math.nan, f"skipped: {why}", "report", False))
    return rows


EXECUTOR_NS = (1024, 4096, 16384)
SPARSITIES = (0.9, 0.95, 0.99)


def executor_rates(ns=EXECUTOR_NS, p: int = 8, sparsities=SPARSITIES) -> dict:
    """Target 4 from one sweep of the suite's own timing method (kernels.harness.timing: one
    thread, median of repeats with their spread), measured now in a temporary folder:
    ``switch-net`` dense and active, ``hyperplane-tree`` and ``axis-tree`` at ``ns``, p, float64;
    random sparse networks (n = 1,024, p = 32, as the report's sparsity axis) at ``sparsities``.
    The conversion rates are the report headline's (:func:`kernels.report.headline.conversion`)."""
    from kernels.harness import sweep
    from kernels.harness.cell import RANDOM
    from kernels.report import headline
    from kernels.report.timings import is_unstable

    grid = {"blocks": [
        {"series": "n", "constructions": ["switch-net", "hyperplane-tree", "axis-tree"],
         "n": list(ns), "p": [p], "dtype": ["float64"]},
        {"series": "sparsity", "constructions": [RANDOM], "n": [1024], "p": [32],
         "sparsity": list(sparsities)}],
        "min_time": 0.05, "time_inputs": 1024, "eval_seconds": 3.0, "budget_s": 3600,
        "max_cell_s": 900, "energy": "off"}
    with tempfile.TemporaryDirectory() as tmp:
        doc = sweep.run(grid, os.path.join(tmp, "results.json"), resume=False, progress=False,
                        command="scripts/pyperf_axis_tree.py --targets")
    rows = [r for r in doc["rows"] if r.get("status") == "ok"]
    sel = headline.pick(rows)
    dense = next(k for k in sel if k[1] == "dense")
    n_top = max(ns)
    rd = next(r for r in sel[dense] if r["n"] == n_top)
    out = {"n": n_top, "p": p, "conversion": {}, "active_ns_per_op": {},
           "random_active_ns_per_op": {}, "dense_ns_per_op": rd["ns_per_op"],
           "exact": all(r.get("exact") for r in rows)}
    for k, rs in sel.items():
        rc = next((r for r in rs if r["n"] == n_top), None)
        if k[1] == "dense" or rc is None:
            continue
        out["conversion"][f"{k[0]} {k[1]}"] = {
            "ops_ratio": rd["ops_mean"] / rc["ops_mean"],
            "time_ratio": rd["batch_s_per_input"] / rc["batch_s_per_input"],
            "rate": headline.conversion(rd, rc), "stable": not is_unstable(rc)}
    for r in rows:
        if r["executor"] != "active":
            continue
        if r["construction"] == "switch-net":
            out["active_ns_per_op"][str(r["n"])] = r["ns_per_op"]
        elif r["construction"] == RANDOM:
            out["random_active_ns_per_op"][str(r["sparsity"])] = r["ns_per_op"]
    return out


GOALS = {"switch-net active": 0.25, "hyperplane-tree tree": 0.5, "axis-tree tree": 0.5}


def executor_ratios(e: dict) -> list[tuple[str, float, str, str, bool]]:
    """Target 4's rows: each conditional executor's conversion rate against dense at the largest
    n, and ``active``'s worst ns per counted operation over n and over the sparse networks."""
    rows = []
    for name, c in e["conversion"].items():
        goal = GOALS.get(name)
        rows.append((f"{name}: time ratio / op ratio, n={e['n']} (%)", 100 * c["rate"],
                     f"switch-net dense: {c['ops_ratio']:,.0f}x fewer ops, "
                     f"{c['time_ratio']:,.0f}x less time"
                     + ("" if c["stable"] else " (unstable cell)"),
                     "report" if goal is None else f">= {100 * goal:.0f}%",
                     goal is None or c["rate"] >= goal))
    for what, d in (("n", e["active_ns_per_op"]), ("sparsity", e["random_active_ns_per_op"])):
        if d:
            worst = max(d, key=d.get)
            rows.append((f"active ns/op, worst over {what} = {', '.join(d)}", d[worst],
                         f"worst at {what} = {worst}; switch-net dense "
                         f"{e['dense_ns_per_op']:.2f} ns/op at n={e['n']}", "<= 2",
                         d[worst] <= 2))
    return rows


BEGIN, END = "<!-- targets:begin -->", "<!-- targets:end -->"


def markdown(rows, command: str, load: tuple[float, float]) -> str:
    """The README's table: every target with its goal, what was measured, whether it is met and
    the peer it names with the ratio, from one run; the command, machine and load above it."""
    from kernels.harness.environment import cpu_model, git_commit

    def cell(v) -> str:
        return str(v).replace("|", "\\|")

    lines = [f"Generated by `{command}` at commit {git_commit() or 'unknown'} on "
             f"{cpu_model()} ({os.cpu_count()} CPUs), one thread; load average "
             f"{load[0]:.2f} before and {load[1]:.2f} after the run (CPU time of this thread).",
             "", "| target | goal | measured | met | peer (same run) |", "|---|---|---|---|---|"]
    for name, val, peer, goal, ok in rows:
        met = "yes" if ok and goal != "report" else ("—" if goal == "report" else "**no**")
        shown = "skipped" if isinstance(val, float) and math.isnan(val) else f"{val:,.3g}"
        lines.append(f"| {cell(name)} | {cell(goal)} | {shown} | {met} | {cell(peer)} |")
    return "\n".join(lines) + "\n"


def write_readme(path: str, table: str) -> None:
    """Replace the lines between BEGIN and END of ``path`` by ``table`` (written to a temporary
    file and renamed; a file without both markers is refused, unchanged)."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if BEGIN not in text or END not in text or text.index(BEGIN) > text.index(END):
        raise SystemExit(f"{path}: no '{BEGIN}' ... '{END}' block to replace")
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(f"{head}{BEGIN}\n{table}{END}{tail}")
    os.replace(tmp, path)


def _pyperf(argv) -> None:
    import pyperf

    def forward(cmd, args):  # the worker processes need the same data
        cmd.extend(["--n", str(args.n), "--p", str(args.p), "--cache-dir", args.cache_dir])

    runner = pyperf.Runner(add_cmdline_args=forward)
    runner.argparser.add_argument("--n", type=int, default=1 << 17)
    runner.argparser.add_argument("--p", type=int, default=8)
    runner.argparser.add_argument("--cache-dir", default=tempfile.gettempdir())
    args = runner.parse_args(argv)
    n, p = args.n, args.p
    state: dict = {}

    def prep(what):
        if what not in state:
            import numba

            import kernels

            numba.set_num_threads(1)
            ds, X32, Xq = _data(n, p)
            if what == "axis":
                m = kernels.build("axis-tree", ds.X, ds.D, dtype="float32")
                m.predict_one(Xq[0])
                state[what] = (m, Xq)
            elif what == "sklearn":
                path = os.path.join(args.cache_dir, f"memcap-axis-sklearn-{n}-{p}.pkl")
                if os.path.exists(path):
                    with open(path, "rb") as f:
                        est = pickle.load(f)
                else:
                    est = _sklearn(X32, ds.D[:, 0])
                    with open(path, "wb") as f:
                        pickle.dump(est, f)
                state[what] = (est, Xq)
            else:
                table = {row.tobytes(): v for row, v in zip(X32, ds.D[:, 0], strict=True)}
                state[what] = (table, [row.tobytes() for row in Xq])
        return state[what]

    def timed(what, body):
        def time_func(loops):
            obj, Xq = prep(what)
            t0 = time.perf_counter()
            for _ in range(loops):
                body(obj, Xq)
            return time.perf_counter() - t0
        return time_func

    from kernels.executors.tree import axis

    def one(m, Xq):
        m.predict_one(Xq[0])

    benches = {
        "axis-tree/batch": ("axis", lambda m, Xq: axis.predict(m.router, Xq, threads=1),
                            n),
        "axis-tree/one-query": ("axis", one, 1),
        "sklearn-tree/predict": ("sklearn", lambda est, Xq: est.predict(Xq), n),
        "dict/lookup": ("dict", lambda t, keys: [t[k] for k in keys], n),
    }
    for name, (what, body, inner) in benches.items():
        runner.bench_time_func(f"{name} n={n} p={p}", timed(what, body), inner_loops=inner)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--scale-child" in argv:
        n = int(argv[argv.index("--n") + 1])
        p = int(argv[argv.index("--p") + 1])
        print(json.dumps(scale(n, p)))
        return 0
    if "--targets" not in argv:
        _pyperf(argv)
        return 0
    import argparse

    ap = argparse.ArgumentParser(description="the axis-tree targets in one run")
    ap.add_argument("--targets", action="store_true")
    ap.add_argument("--n", type=int, default=1 << 20)
    ap.add_argument("--p", type=int, default=8)
    ap.add_argument("--scale-n", type=int, default=1 << 24, help="0 skips the scale check")
    ap.add_argument("--json-out")
    ap.add_argument("--compiled-n", type=int, default=COMPILED_N,
                    help="points of the compiled-tree peer and its axis-tree twin")
    ap.add_argument("--executor-n", default=",".join(map(str, EXECUTOR_NS)),
                    help="n values of the executor targets (the largest is the headline's)")
    ap.add_argument("--markdown", action="store_true", help="print the README's table")
    ap.add_argument("--readme", metavar="FILE",
                    help=f"replace the table between {BEGIN} and {END} in FILE")
    args = ap.parse_args(argv)
    load0 = os.getloadavg()[0]
    t = targets(args.n, args.p)
    pt = peer_times(args.n, args.p, args.compiled_n)
    e = executor_rates(tuple(int(v) for v in args.executor_n.split(",")), args.p)
    s = None
    if args.scale_n:
        res = subprocess.run([sys.executable, __file__, "--scale-child", "--n", str(args.scale_n),
                              "--p", str(args.p)], capture_output=True, text=True, check=False)
        s = json.loads(res.stdout.strip().splitlines()[-1]) if res.returncode == 0 else \
            {"error": res.stderr[-2000:]}
        if "error" in s:
            print(s["error"], file=sys.stderr)
            s = None
    _print_targets(t, s)
    rows = ratios(t, s) + executor_ratios(e) + peer_ratios(t, pt)
    for name, val, peer, goal, ok in rows[len(ratios(t, s)):]:
        print(f"{name:40} {val:10.3g}  {goal:8} {'yes' if ok else 'NO ':3}  {peer}")
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump({"targets": t, "ratios": rows, "scale": s, "peers": pt,
                       "executors": e}, f, indent=2)
    if args.markdown or args.readme:
        command = "python scripts/pyperf_axis_tree.py " + " ".join(argv)
        table = markdown(rows, command, (load0, os.getloadavg()[0]))
        if args.readme:
            write_readme(args.readme, table)
            print(f"{args.readme}: targets table replaced")
        else:
            print(table, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
