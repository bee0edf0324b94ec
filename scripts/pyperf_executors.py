"""Executors at machine speed: the target ratios, measured in one run on one thread.

    python scripts/pyperf_executors.py [--fast] [--json-out FILE]        # the targets, one process
    python scripts/pyperf_executors.py --pyperf [pyperf options]          # the same workloads as
                                                                          # pyperf benchmarks

Workloads (seeded):

* the sparsity axis — ``kernels.random_network(32, 3, 256, sparsity=s, zero_fraction=0.5)`` (the
  report's random sparse ReLU networks, ``kernels.harness.cell.RANDOM_SHAPE``), a batch of 2,048
  Gaussian inputs, s ∈ {0, 0.5, 0.9, 0.99}: ``dense`` and ``active`` against the peers' NumPy/BLAS
  and scipy CSR forwards (``kernels.harness.peers``) on the same network and batch;
* dense vs active on random networks whose activity is sparse (few biases, high z);
* ``active`` per input on ``switch-net`` (n = 4,096, p = 8; without ``--fast`` also n = 2^14),
  ``rajput`` and a random network with sparse activity: ns per counted operation;
* one row through ``Memorizer.predict`` on ``axis-tree`` against the batch kernel's time per input.

Times are the best of several repeats of this thread's CPU time (steadier on a shared machine) and
of wall time; every ratio compares two measurements of the same run.  Threads: Numba and BLAS are
capped to one before NumPy is imported.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_v] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

SPARSITY = (0.0, 0.5, 0.9, 0.99)
BATCH = 2048


# clock() and _time_func() stay here rather than coming from kernels.harness.timing/peers: the
# script must also run on commits that predate those modules (its "before" column, commit 2bf50fe).
def clock(f, repeat: int = 5) -> tuple[float, float]:
    """(best thread-CPU seconds, best wall seconds) of ``f()`` after one warm-up call."""
    f()
    cpu = wall = math.inf
    for _ in range(repeat):
        t, c = time.perf_counter(), time.thread_time()
        f()
        cpu = min(cpu, time.thread_time() - c)
        wall = min(wall, time.perf_counter() - t)
    return cpu, wall


def sparsity_net(s: float, p: int = 32):
    from kernels.harness.cell import RANDOM_SHAPE
    from kernels.random_networks import random_network

    sh = RANDOM_SHAPE
    net = random_network(p, sh["depth"], sh["width"], sparsity=s,
                         zero_fraction=sh["zero_fraction"], seed=0, measure=False).network
    return net, np.random.default_rng(1).standard_normal((BATCH, p))


def _plan(module, net) -> dict:
    """The executor's plan of ``net`` as a keyword, built once outside the timed region (versions
    before plans derived it on the network itself: nothing to pass)."""
    return {"plan": module.make_plan(net)} if hasattr(module, "make_plan") else {}


def _sparsity_row(s: float, repeat: int) -> dict:
    """dense and active vs the peers on one network and batch."""
    from kernels.executors import active, dense
    from kernels.harness.peers import csr_forward, layer_matrices, numpy_forward

    net, X = sparsity_net(s)
    Ld, Ls = layer_matrices(net), layer_matrices(net, sparse=True)
    dp, ap = _plan(dense, net), _plan(active, net)
    t = {"numpy": clock(lambda: numpy_forward(Ld, net.p, net.r, X), repeat)[0],
         "csr": clock(lambda: csr_forward(Ls, net.p, net.r, X), repeat)[0],
         "dense": clock(lambda: dense.predict(net, X, **dp), repeat)[0],
         "active": clock(lambda: active.predict(net, X, **ap), repeat)[0]}
    ops = float(active.count(net, X[:256])["total"].mean())
    return {"sparsity": s, **{f"{k}_us_per_input": v / BATCH * 1e6 for k, v in t.items()},
            "dense_vs_best_peer": t["dense"] / min(t["numpy"], t["csr"]),
            "active_vs_csr": t["active"] / t["csr"], "dense_vs_active_time": t["dense"] /
            t["active"], "dense_vs_active_ops": dense.analytic_cost(net)["total"] / ops}


def sparsity_axis(repeat: int) -> list[dict]:
    """dense and active vs the peers on the same network and batch, per sparsity."""
    rows = []
    for s in SPARSITY:
        row = _sparsity_row(s, repeat)
        rows.append(row)
        print(f"  s={s:<5} numpy {row['numpy_us_per_input']:7.2f}  csr "
              f"{row['csr_us_per_input']:7.2f}  dense {row['dense_us_per_input']:7.2f}  active "
              f"{row['active_us_per_input']:7.2f} µs/input | dense/best peer "
              f"{row['dense_vs_best_peer']:.2f}  active/csr {row['active_vs_csr']:.2f}  "
              f"dense/active time {row['dense_vs_active_time']:.2f}, ops "
              f"{row['dense_vs_active_ops']:.2f}", flush=True)
    return rows


def sparse_activity(repeat: int) -> list[dict]:
    """dense vs active (its route) where Definition 1 leaves neurons inactive: few biases, high
    activation sparsity z (width 1,024, batch 2,048)."""
    from kernels.executors import active, dense
    from kernels.random_networks import random_network

    rows = []
    for s, z, bf in ((0.99, 0.95, 0.0), (0.99, 0.9, 0.5), (0.95, 0.9, 0.5)):
        net = random_network(32, 3, 1024, sparsity=s, zero_fraction=z, bias_fraction=bf, seed=0,
                             measure=False).network
        X = np.random.default_rng(2).standard_normal((BATCH, 32))
        dp, ap = _plan(dense, net), _plan(active, net)
        td = clock(lambda: dense.predict(net, X, **dp), repeat)[0]  # noqa: B023 (called at once)
        ta = clock(lambda: active.predict(net, X, **ap), repeat)[0]  # noqa: B023
        ops = float(active.count(net, X[:256])["total"].mean())
        rows.append({"sparsity": s, "zero_fraction": z, "bias_fraction": bf,
                     "dense_us_per_input": td / BATCH * 1e6,
                     "active_us_per_input": ta / BATCH * 1e6,
                     "active_route": active.route(net, X, **ap),
                     "dense_vs_active_time": td / ta,
                     "dense_vs_active_ops": dense.analytic_cost(net)["total"] / ops})
        r = rows[-1]
        print(f"  s={s} z={z} biased {bf:.0%}: dense {r['dense_us_per_input']:6.2f}  active "
              f"{r['active_us_per_input']:6.2f} µs/input ({r['active_route']}) | dense/active "
              f"time {r['dense_vs_active_time']:.2f}, ops {r['dense_vs_active_ops']:.2f}",
              flush=True)
    return rows


def _per_input_ns_per_op(net, X, repeat: int) -> dict:
    from kernels.executors import active

    one = getattr(active, "route", None) is not None  # this version's per-input path
    ap = _plan(active, net)
    run = ((lambda: active.predict(net, X, path="per-input", **ap)) if one
           else (lambda: active.predict(net, X)))
    cpu, _ = clock(run, repeat)
    ops = float(active.count(net, X)["total"].mean())
    return {"us_per_input": cpu / len(X) * 1e6, "ops": ops,
            "ns_per_op": cpu / len(X) / ops * 1e9}


def active_ns_per_op(fast: bool, repeat: int) -> list[dict]:
    """``active`` one input at a time: ns per counted operation."""
    from kernels.harness.cell import prepare
    from kernels.random_networks import random_network

    cases = [("switch-net", 4096, 8)] + ([] if fast else [("switch-net", 1 << 14, 8)])
    cases += [("rajput", 1024 if fast else 4096, 8)]
    rows = []
    for name, n, p in cases:
        m = prepare(name, n, p, 1, seed=0)[0]
        X = np.ascontiguousarray(m.dataset.X, dtype=m.dtype)
        rows.append({"workload": f"{name} n={n} p={p}", **_per_input_ns_per_op(m.network, X,
                                                                              repeat)})
    net = random_network(32, 3, 1024, sparsity=0.99, zero_fraction=0.9, bias_fraction=0.5,
                         seed=0, measure=False).network
    X = np.random.default_rng(2).standard_normal((BATCH, 32))
    rows.append({"workload": "random s=0.99 z=0.9 width 1024 (half biased)",
                 **_per_input_ns_per_op(net, X, repeat)})
    for r in rows:
        print(f"  {r['workload']:<44} {r['us_per_input']:8.2f} µs/input  {r['ops']:8.0f} ops  "
              f"{r['ns_per_op']:6.2f} ns/op", flush=True)
    return rows


def one_row(repeat: int, calls: int = 20_000) -> dict:
    """``Memorizer.predict(X[i:i+1], executor="tree")`` on axis-tree vs the batch kernel."""
    from kernels.executors.tree import axis
    from kernels.harness.cell import prepare

    m = prepare("axis-tree", 4096, 8, 1, seed=0)[0]
    X = np.ascontiguousarray(m.dataset.X, dtype=m.dtype)
    rows = [X[i:i + 1] for i in range(calls)] if len(X) >= calls else \
        [X[i % len(X):i % len(X) + 1] for i in range(calls)]
    router = axis.axis_router(m.conditional.astype(m.dtype))

    def loop():
        for x in rows:
            m.predict(x, executor="tree")

    cpu, _ = clock(loop, repeat)
    kern, _ = clock(lambda: axis.predict(router, X, threads=1), repeat)
    out = {"predict_one_row_us": cpu / calls * 1e6, "kernel_us_per_input": kern / len(X) * 1e6}
    out["over_kernel_us"] = out["predict_one_row_us"] - out["kernel_us_per_input"]
    print(f"  axis-tree n=4096 p=8: Memorizer.predict one row {out['predict_one_row_us']:.2f} µs,"
          f" batch kernel {out['kernel_us_per_input']:.3f} µs/input, over the kernel "
          f"{out['over_kernel_us']:.2f} µs", flush=True)
    return out


def verdicts(res: dict) -> list[str]:
    """Each target with its measured value and whether it is met."""
    out = []
    for r in res["sparsity"]:
        v = r["dense_vs_best_peer"]
        out.append(f"dense ≤ 1.25× best peer at s={r['sparsity']}: {v:.2f}× "
                   f"{'met' if v <= 1.25 else 'NOT MET'}")
        if r["sparsity"] >= 0.9:
            v = r["active_vs_csr"]
            out.append(f"active ≤ 1.2× scipy CSR at s={r['sparsity']}: {v:.2f}× "
                       f"{'met' if v <= 1.2 else 'NOT MET'}{' (faster)' if v < 1 else ''}")
    sw = next(r for r in res["active"] if r["workload"].startswith("switch-net n=4096"))
    out.append(f"active on switch-net n=4096 p=8 ≤ 3 ns/op: {sw['ns_per_op']:.2f} "
               f"{'met' if sw['ns_per_op'] <= 3 else 'NOT MET'}")
    o = res["one_row"]["predict_one_row_us"]
    out.append(f"one-row predict on axis-tree ≤ 3 µs: {o:.2f} µs {'met' if o <= 3 else 'NOT MET'}")
    return out


def targets(fast: bool) -> dict:
    import numba

    numba.set_num_threads(1)
    repeat = 3 if fast else 7
    t0 = time.perf_counter()
    print("sparsity axis (batch 2048, thread CPU time):", flush=True)
    res = {"threads": 1, "batch": BATCH, "sparsity": sparsity_axis(repeat)}
    print("sparse activity (width 1024, batch 2048):", flush=True)
    res["sparse_activity"] = sparse_activity(repeat)
    print("active, one input at a time:", flush=True)
    res["active"] = active_ns_per_op(fast, repeat)
    print("one row through the public API:", flush=True)
    res["one_row"] = one_row(repeat)
    res["verdicts"] = verdicts(res)
    print("targets:")
    for v in res["verdicts"]:
        print(f"  {v}")
    res["seconds"] = time.perf_counter() - t0
    print(f"({res['seconds']:.0f} s)")
    return res


# ---- pyperf mode: the same workloads as pyperf benchmarks ---------------------------------------
def _workload(name: str):
    from kernels.executors import active, dense
    from kernels.harness.peers import csr_forward, layer_matrices, numpy_forward

    s, impl = name.split("/")
    net, X = sparsity_net(float(s.split("=")[1]))
    if impl in ("numpy", "csr"):
        L = layer_matrices(net, sparse=impl == "csr")
        fwd = numpy_forward if impl == "numpy" else csr_forward
        return lambda: fwd(L, net.p, net.r, X)
    module = dense if impl == "dense" else active
    return lambda: module.predict(net, X)


def _time_func(name: str):
    state = {}

    def time_func(loops):
        if "fn" not in state:
            state["fn"] = _workload(name)
            state["fn"]()
        fn = state["fn"]
        t0 = time.perf_counter()
        for _ in range(loops):
            fn()
        return time.perf_counter() - t0

    return time_func


def run_pyperf(argv: list[str]) -> None:
    import pyperf

    runner = pyperf.Runner(processes=3, values=3, warmups=1)
    runner.parse_args(argv)
    for s in SPARSITY:
        for impl in ("numpy", "csr", "dense", "active"):
            name = f"s={s}/{impl}"
            runner.bench_time_func(name, _time_func(name), inner_loops=BATCH)


def main(argv: list[str]) -> int:
    if "--pyperf" in argv:
        run_pyperf([a for a in argv if a != "--pyperf"])
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fast", action="store_true", help="fewer repeats and workloads (≤ ~60 s)")
    ap.add_argument("--json-out", help="also write the results as JSON to this file")
    args = ap.parse_args(argv)
    res = targets(args.fast)
    if args.json_out:
        tmp = args.json_out + ".tmp"
        with open(tmp, "w") as fh:
            json.dump(res, fh, indent=1)
        os.replace(tmp, args.json_out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
