"""``memcap compare``: pyperf benchmarks of recall, executors against the peers a user would pick.

Benchmarks (time per recalled input; each recalls all n memorized points, ``inner_loops = n``):

* ``<construction>/<executor>`` — memcap's kernels, for every registered construction that builds
  on the dataset and every executor it supports;
* ``<construction>/numpy-dense`` — the same network as a NumPy/BLAS forward pass (a dense matrix per
  layer over the units it reads); ``<construction>/scipy-csr`` — the same with scipy.sparse CSR
  matrices (for constructions with an ``active`` executor);
* ``data/sklearn-tree`` — scikit-learn's fully grown ``DecisionTreeRegressor.predict``;
  ``data/treelite-c`` — the same tree compiled to C by treelite + tl2cgen (needs a C compiler);
  ``data/ckdtree`` — ``scipy.spatial.cKDTree`` exact nearest-neighbour lookup, then the stored
  output; ``data/dict`` — a Python ``dict`` from each row's bytes to its output: the O(1) floor
  (the peers are :mod:`kernels.harness.lookup_peers`'s);
* at p = 1 on the n keys ``axis-tree`` is built on: ``p1/axis-tree`` (its batch recall),
  ``p1/searchsorted`` (numpy, one batch) and ``p1/pygm`` (``pygm.SortedList``, one key per Python
  call: its API has no batch lookup, so its time per key includes the call).

pyperf spawns worker processes that run this module (``python -m kernels.harness.peers``); the
manager decides once which benchmarks can run (builds that fail and missing peers are skipped with a
message) and hands the list to the workers.  Each worker builds only what its benchmark needs,
outside the timed region.  The module lives in the package, not in ``bench/``, so asv never imports
it.
"""

from __future__ import annotations

import re
import sys
import time

import numpy as np

from kernels import constructions
from kernels.executors import activate_np
from kernels.harness import lookup_peers, timing
from kernels.harness.cell import Skip, prepare
from kernels.harness.environment import cpu_model, git_commit
from kernels.model.data import generate

# --fast: 2 worker processes × 2 values of >= 50 ms each (plus pyperf's calibration worker).
FAST = ["--processes", "2", "--values", "2", "--min-time", "0.05"]


def _dataset(n: int, p: int, seed: int = 0):
    """The peers' dataset: Gaussian inputs, uniform outputs."""
    return generate("gaussian", n, p, 1, seed=seed, labels="uniform")


_CACHE: dict = {}


def _memorizer(name: str, n: int, p: int):
    key = (name, n, p)
    if key not in _CACHE:
        try:
            _CACHE[key] = prepare(name, n, p, 1, seed=0)[0]
        except Skip as exc:
            raise ValueError(str(exc)) from None
    return _CACHE[key]


def candidates(n: int, p: int, filt: str | None, log=print) -> list[tuple[str, int]]:
    """(benchmark, inputs per call) that can run here, in a fixed order (decided once, by the
    manager)."""
    rx = re.compile(filt) if filt else None
    names = []
    for c in constructions.names():
        try:
            execs = tuple(constructions.get(c).EXECUTORS)
        except Exception as exc:
            log(f"skip {c}: module not available ({exc})")
            continue
        wanted = [f"{c}/{e}" for e in execs] + [f"{c}/numpy-dense"]
        if "active" in execs:
            wanted.append(f"{c}/scipy-csr")
        wanted = [w for w in wanted if rx is None or rx.search(w)]
        if not wanted:
            continue
        try:
            m = _memorizer(c, n, p)
        except Exception as exc:
            log(f"skip {c}: cannot build on n={n}, p={p} ({str(exc).splitlines()[0]})")
            continue
        for w in wanted:
            kind = w.split("/", 1)[1]
            if kind in ("numpy-dense", "scipy-csr") and m.network is None:
                log(f"skip {w}: {c} has no unconditional network")
                continue
            if kind == "scipy-csr" and not lookup_peers.has("scipy"):
                log(f"skip {w}: scipy is not installed (pip install 'memcap[peers]')")
                continue
            if kind not in ("numpy-dense", "scipy-csr"):
                if kind not in m.executors:
                    log(f"skip {w}: this {c} build offers only {', '.join(m.executors)}")
                    continue
                try:
                    m.route(kind)
                except Exception as exc:
                    log(f"skip {w}: executor not available ({exc})")
                    continue
            names.append((w, m.dataset.n))
    for w, check in PEERS:
        if rx is not None and not rx.search(w):
            continue
        try:
            check()
            count = _dataset(n, p).n if w.startswith("data/") else _memorizer(P1, n, 1).dataset.n
        except lookup_peers.Missing as exc:
            log(f"skip {w}: {exc}")
            continue
        except ValueError as exc:  # the p = 1 keys: axis-tree cannot build on them
            log(f"skip {w}: cannot build {P1} on n={n}, p=1 ({str(exc).splitlines()[0]})")
            continue
        if w == "p1/pygm":
            log(f"{w}: pygm answers one key per Python call (no batch lookup); timed that way")
        names.append((w, count))
    return names


P1 = "axis-tree"  # the p = 1 peers look up the keys this construction is built on
PEERS = (  # (benchmark, what raises lookup_peers.Missing when it cannot run here)
    ("data/sklearn-tree", lambda: lookup_peers.require("scikit-learn")),
    ("data/treelite-c", lookup_peers.check_compiled_tree),
    ("data/ckdtree", lambda: lookup_peers.require("scipy")),
    ("data/dict", lambda: None),
    ("p1/axis-tree", lambda: None),
    ("p1/searchsorted", lambda: None),
    ("p1/pygm", lambda: lookup_peers.require("pygm")),
)


# ---- the peers ----------------------------------------------------------------------------------

def layer_matrices(net, sparse: bool = False):
    """Per layer: (first unit, last unit, matrix over units 0..first, bias, activation code)."""
    out = []
    for ell in range(1, net.depth + 1):
        a, b = int(net.layer_ptr[ell - 1]), int(net.layer_ptr[ell])
        lo, hi = net.w_ptr[a], net.w_ptr[b]
        rows = np.repeat(np.arange(b - a), np.diff(net.w_ptr[a:b + 1]))
        cols, vals = net.w_src[lo:hi], net.w_val[lo:hi]
        width = net.p + a
        if sparse:
            from scipy.sparse import csr_matrix

            M = csr_matrix((vals, (rows, cols)), shape=(b - a, width))
        else:
            M = np.zeros((width, b - a))  # transposed: units @ M
            M[cols, rows] = vals
        out.append((net.p + a, net.p + b, M, net.bias[a:b].copy(), int(net.act[a])))
    return out


def numpy_forward(layers, p: int, r: int, X):
    """A BLAS forward pass of the network over the units matrix (layers may read any earlier one;
    a layer's activation is taken from its first neuron)."""
    U = np.empty((X.shape[0], layers[-1][1]))
    U[:, :p] = X
    for lo, hi, M, b, code in layers:
        activate_np(code, U[:, :lo] @ M + b, out=U[:, lo:hi])
    return U[:, layers[-1][1] - r:]


def csr_forward(layers, p: int, r: int, X):
    Ut = np.empty((layers[-1][1], X.shape[0]))  # units × inputs: CSR @ dense
    Ut[:p] = X.T
    for lo, hi, M, b, code in layers:
        activate_np(code, M @ Ut[:lo] + b[:, None], out=Ut[lo:hi])
    return Ut[layers[-1][1] - r:].T


def workload(name: str, n: int, p: int):
    """(function of no argument recalling all n points, n) for benchmark ``name``."""
    c, kind = name.split("/", 1)
    if c == "data":
        ds = _dataset(n, p)
        X, D = ds.X, ds.D
        if kind == "sklearn-tree":
            from sklearn.tree import DecisionTreeRegressor

            t = DecisionTreeRegressor(random_state=0).fit(X, D[:, 0])  # fully grown
            return (lambda: t.predict(X)), len(X)
        if kind == "treelite-c":  # float32 rows: the compiled splits compare as scikit-learn's
            X32 = X.astype(np.float32)
            peer = lookup_peers.compiled_tree(X32, D[:, 0])
            return _prepared(peer, X32), len(X)
        if kind == "ckdtree":
            return _prepared(lookup_peers.ckdtree(X, D), X), len(X)
        table = {x.tobytes(): d for x, d in zip(X, D, strict=True)}
        rows = list(X)  # each query row's bytes are made in the timed call
        return (lambda: [table[x.tobytes()] for x in rows]), len(X)
    if c == "p1":
        m = _memorizer(P1, n, 1)
        X, D = m.dataset.X, m.dataset.D
        if kind == "axis-tree":
            route = m.route("tree")
            Xd = timing.prepare(X, m.dtype)
            return (lambda: route.batch(Xd)), len(X)
        make = {"searchsorted": lookup_peers.searchsorted, "pygm": lookup_peers.pygm_one_key}
        return _prepared(make[kind](X[:, 0], D[:, 0]), X), len(X)
    m = _memorizer(c, n, p)
    X = timing.prepare(m.dataset.X, np.float64)
    if kind in ("numpy-dense", "scipy-csr"):
        layers = layer_matrices(m.network, sparse=kind == "scipy-csr")
        fwd = numpy_forward if kind == "numpy-dense" else csr_forward
        net = m.network
        return (lambda: fwd(layers, net.p, net.r, X)), len(X)
    route = m.route(kind)
    Xd = timing.prepare(X, m.dtype)  # converted once, outside the timed region
    return (lambda: route.batch(Xd)), len(X)


def _prepared(peer: lookup_peers.Peer, Q):
    """A call of ``peer`` on queries Q, Q converted to what it reads once, outside the timing."""
    q = peer.prepare(Q)
    return lambda: peer.lookup(q)


def _time_func(name: str, n: int, p: int, threads: int = 1):
    """pyperf's time function: the workload built once per worker, then ``loops`` calls timed with
    ``threads`` threads (kernels.harness.timing.fixed_threads), compiled by a first call first."""
    state = {}

    def time_func(loops):
        with timing.fixed_threads(threads):
            if "fn" not in state:  # built once per worker, outside the timed region
                state["fn"] = workload(name, n, p)[0]
                state["fn"]()  # compile / first touch of the path this thread count takes
            fn = state["fn"]
            t0 = time.perf_counter()
            for _ in range(loops):
                fn()
            return time.perf_counter() - t0

    return time_func


def _add_cmdline_args(cmd, args):
    cmd.extend(("--n", str(args.n), "--p", str(args.p), "--threads", str(args.threads),
                "--selected", args.selected))


def run(argv: list[str]) -> None:
    """Run pyperf with ``argv`` (pyperf options plus --n, --p, --filter, --selected)."""
    import pyperf

    runner = pyperf.Runner(processes=6, values=3, warmups=1,
                           program_args=("-m", "kernels.harness.peers"),
                           add_cmdline_args=_add_cmdline_args)
    ap = runner.argparser
    ap.add_argument("--n", type=int, default=1024)
    ap.add_argument("--p", type=int, default=8)
    ap.add_argument("--filter", default=None)
    ap.add_argument("--selected", default="")
    ap.add_argument("--threads", type=int, default=1)
    args = runner.parse_args(argv)
    timing.check_threads(args.threads)
    if args.worker:
        names = [(t.rsplit(":", 1)[0], int(t.rsplit(":", 1)[1]))
                 for t in args.selected.split(",") if t]
    else:
        names = candidates(args.n, args.p, args.filter,
                           log=lambda m: print(f"memcap compare: {m}", file=sys.stderr))
        if not names:
            raise ValueError("no benchmark to run (check --filter)")
        args.selected = ",".join(f"{w}:{k}" for w, k in names)
    runner.metadata.update(run_metadata(args.n, args.p, args.threads))
    for name, count in names:
        # every call recalls all the points memorized: inner_loops makes the value per input
        runner.bench_time_func(name, _time_func(name, args.n, args.p, args.threads),
                               inner_loops=count)


def run_metadata(n: int, p: int, threads: int) -> dict:
    """What a pyperf file records beside pyperf's own (cpu_model_name, cpu_count, python...): the
    dataset, the thread count of the timed calls and the commit measured."""
    return {"memcap_n": str(n), "memcap_p": str(p), "memcap_threads": str(threads),
            "memcap_cpu": cpu_model(), "memcap_commit": git_commit() or "unknown"}


def main(args) -> int:
    """``memcap compare`` (the CLI's parsed ``args``)."""
    import os

    quiet = getattr(args, "quiet", False)
    if not args.output and not getattr(args, "list", False):
        raise ValueError("compare: -o FILE.json is needed to run (the pyperf output); "
                         "--list needs none")
    if args.output and os.path.exists(args.output):
        raise ValueError(f"{args.output} already exists (pyperf never overwrites; remove it or "
                         "choose another name)")
    if args.filter:
        try:
            re.compile(args.filter)
        except re.error as exc:
            raise ValueError(f"--filter: not a regular expression ({exc})") from None
    threads = timing.check_threads(getattr(args, "threads", 1) or 1)
    baseline = getattr(args, "baseline", None)
    if baseline:
        load_suite(baseline)  # a missing or unreadable baseline fails before any measuring
    if getattr(args, "list", False):
        for name, count in candidates(args.n, args.p, args.filter,
                                      log=lambda m: print(f"memcap compare: {m}",
                                                          file=sys.stderr)):
            print(f"{name}  ({count} inputs per call)")
        return 0
    # pyperf's per-benchmark instability warnings are summed up in one line after the run
    argv = ["-o", args.output, "--n", str(args.n), "--p", str(args.p), "--threads", str(threads),
            "--quiet"]
    if args.fast:  # pyperf's own --fast still spawns >= 3 workers per benchmark: rougher here
        argv += FAST
    if args.rigorous:
        argv.append("--rigorous")
    if args.filter:
        argv += ["--filter", args.filter]
    import contextlib
    import io

    try:
        with contextlib.redirect_stdout(io.StringIO()) if quiet else contextlib.nullcontext():
            run(argv)
    except RuntimeError as exc:  # pyperf: a worker failed (its traceback is above)
        raise ValueError(f"pyperf: {exc}") from None
    print(f"memcap compare: wrote {args.output}; read it with `python -m pyperf show "
          f"{args.output}` or `python -m pyperf compare_to A.json B.json`")
    print(instability_line(args.output))
    if baseline:
        print(compare_table(baseline, args.output))
    return 0


UNSTABLE_CV = 0.10  # pyperf's own check: a standard deviation above 10% of the mean


def instability_line(path: str) -> str:
    """One line in place of pyperf's per-benchmark warnings: how many benchmarks of ``path``
    have a standard deviation above :data:`UNSTABLE_CV` of their mean, and which."""
    suite = load_suite(path)
    bad = []
    for b in suite.get_benchmarks():
        values = b.get_values()
        if len(values) > 1 and b.stdev() > UNSTABLE_CV * b.mean():
            bad.append(b.get_name())
    if not bad:
        return (f"memcap compare: all {len(suite)} benchmarks stable (std dev <= "
                f"{UNSTABLE_CV:.0%} of the mean)")
    return (f"memcap compare: {len(bad)} of {len(suite)} benchmarks unstable (std dev > "
            f"{UNSTABLE_CV:.0%} of the mean: {', '.join(bad[:5])}"
            + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
            + f"); `python -m pyperf check {path}` details them")


def load_suite(path: str):
    """The pyperf BenchmarkSuite in ``path``; ValueError (one line) when it cannot be read."""
    import pyperf

    try:
        return pyperf.BenchmarkSuite.load(path)
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file") from None
    except Exception as exc:
        raise ValueError(f"{path}: not a pyperf file ({str(exc).splitlines()[0]})") from None


def compare_table(baseline: str, changed: str) -> str:
    """``python -m pyperf compare_to BASELINE CHANGED --table`` (pyperf's significance test and
    its table), and the thread counts of both files when they differ."""
    import subprocess

    res = subprocess.run([sys.executable, "-m", "pyperf", "compare_to", baseline, changed,
                          "--table"], capture_output=True, text=True, check=False)
    out = (res.stdout + res.stderr).rstrip()
    meta = [load_suite(f).get_metadata().get("memcap_threads") for f in (baseline, changed)]
    if meta[0] != meta[1]:
        out += f"\nnote: threads differ ({meta[0]} in {baseline}, {meta[1]} in {changed})"
    return out


if __name__ == "__main__":
    run(sys.argv[1:])
