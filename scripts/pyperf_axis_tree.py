"""``axis-tree`` against scikit-learn and a ``dict``: pyperf benchmarks, and the
target table measured as ratios in one run.

    python scripts/pyperf_axis_tree.py [pyperf options] [--n N] [--p P]     # pyperf benchmarks
    python scripts/pyperf_axis_tree.py --targets [--n N] [--scale-n N] [--json-out FILE]

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
"""

from __future__ import annotations

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
    from kernels.executors.tree import axis as axis_routing
    from kernels.verify import recall_errors

    m = kernels.build("axis-tree", ds.X, ds.D, dtype="float64")
    order = np.random.default_rng(SEED + 1).permutation(len(Xq))
    X64 = ds.X[order]
    Y = axis_routing.predict(m.router, X64, threads=1)
    t = _clock(lambda: axis_routing.predict(m.router, X64, threads=1), 5)
    return t, recall_errors(m, Y[np.argsort(order)])["exact"]


def _p1_vs_searchsorted(n: int) -> dict:
    """p = 1: the axis-tree's batch recall against numpy ``searchsorted`` on the same sorted keys
    (then the stored output), one batch of every key in a random order.  float64: distinct keys
    stay distinct (float32 rounding merges a few of 2^20 Gaussian keys, which neither can tell
    apart)."""
    import kernels
    from kernels.executors.tree import axis as axis_routing
    from kernels.verify import recall_errors

    ds = kernels.generate("gaussian", n, 1, 1, seed=SEED)
    m = kernels.build("axis-tree", ds.X, ds.D, dtype="float64")
    order = np.random.default_rng(SEED + 1).permutation(n)
    Xq = ds.X[order]
    srt = np.argsort(ds.X[:, 0])
    keys, vals = ds.X[srt, 0], ds.D[srt, 0]
    q = Xq[:, 0].copy()
    Y = axis_routing.predict(m.router, Xq, threads=1)
    found = vals[np.searchsorted(keys, q)]
    return {"p1_batch_s": _clock(lambda: axis_routing.predict(m.router, Xq, threads=1), 5),
            "p1_searchsorted_s": _clock(lambda: vals[np.searchsorted(keys, q)], 5),
            "p1_exact": recall_errors(m, Y[np.argsort(order)])["exact"],
            "p1_searchsorted_exact": bool(np.array_equal(found, ds.D[order, 0]))}


def _kdtree(X32, Xq, y, queries: int = 1 << 16) -> dict:
    """scipy cKDTree: exact nearest neighbour of each query, then its stored output (a subset of
    the queries; per query)."""
    try:
        from scipy.spatial import cKDTree
    except ImportError:
        return {}
    kd = cKDTree(X32)
    sub = Xq[:queries]
    w, c = _clock(lambda: y[kd.query(sub, k=1)[1]], 3)
    return {"ckdtree_s": (w * len(Xq) / len(sub), c * len(Xq) / len(sub))}


def _missing_peers() -> list[str]:
    """The named peers that are not installed here (reported, never faked)."""
    import importlib.util

    return [name for name in ("pygm", "treelite", "tl2cgen")
            if importlib.util.find_spec(name) is None]


def targets(n: int, p: int) -> dict:
    """The n = 2^20 targets as ratios, from one run of this process."""
    import numba

    import kernels
    from kernels.constructions import axis_tree
    from kernels.executors.tree import axis as axis_routing
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
        lambda: axis_tree.build(ds, dtype="float32"), 1)
    est = None

    def fit():
        nonlocal est
        est = _sklearn(X32, y)

    out["sklearn_fit_s"] = _clock(fit, 1)
    router = m.router
    Y = axis_routing.predict(router, Xq, threads=1)
    out["batch_s"] = _clock(lambda: axis_routing.predict(router, Xq, threads=1), 5)
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
        rows += [(f"build+certify n=2^{int(math.log2(s['n']))} (s)", s["build_certify_cpu_s"],
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
    Y = m.predict(ds.X)
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

    from kernels.executors.tree import axis as axis_routing

    def one(m, Xq):
        m.predict_one(Xq[0])

    benches = {
        "axis-tree/batch": ("axis", lambda m, Xq: axis_routing.predict(m.router, Xq, threads=1),
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
    args = ap.parse_args(argv)
    t = targets(args.n, args.p)
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
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump({"targets": t, "ratios": ratios(t, s), "scale": s}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
