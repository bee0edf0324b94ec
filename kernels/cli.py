"""The ``memcap`` command.  Every command has ``--help``; every error is one line on stderr and exit
code 2 (never a traceback).  ``memcap verify`` exits 1 when an executor is NOT EXACT (after printing
its record), so it can gate a CI job."""

from __future__ import annotations

import argparse
import json
import os
import sys

from kernels import constructions
from kernels.harness import cache, diff, results  # diff, cache: `memcap diff`, `memcap cache`
from kernels.memorizer import EXECUTORS
from kernels.model.data import KINDS, generate, load_npz, npz_shapes
from kernels.model.network import DTYPES

EXIT_NOT_EXACT = 1
EXIT_USAGE = 2


class UsageError(Exception):
    """A user mistake: printed as one line (``memcap: error: …``), exit code 2."""


class _Parser(argparse.ArgumentParser):
    lazy_epilog = None  # a function making the epilog when --help asks (it imports modules)

    def error(self, message):  # one line, exit 2 (argparse prints usage + message by default)
        raise UsageError(f"{message} (see `{self.prog} --help`)")

    def format_help(self):
        text = super().format_help()
        return text if self.lazy_epilog is None else text + "\n" + self.lazy_epilog() + "\n"


def _int_at_least(low: int, words: str):
    """An argparse type: an integer ≥ ``low``, refused as "expected {words}, got …"."""
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {words}, got {text!r}") from None
        if v < low:
            raise argparse.ArgumentTypeError(f"expected {words}, got {v}")
        return v
    return parse


_positive = _int_at_least(1, "a positive integer")
_seed = _int_at_least(0, "a non-negative integer")


def _add_data_args(ap: argparse.ArgumentParser) -> None:
    g = ap.add_argument_group("data (a file, or a generated dataset)")
    g.add_argument("--data", metavar="FILE.npz",
                   help="an .npz with arrays X (n×p) and D (n×r or n)")
    g.add_argument("--n", type=_positive, help="number of points to generate")
    g.add_argument("--p", type=_positive, help="input dimension to generate")
    g.add_argument("--r", type=_positive, default=1, help="output dimension (default 1)")
    g.add_argument("--kind", choices=KINDS, default="gaussian",
                   help="generator: gaussian, sphere (unit sphere), cube ({±1}^p), clusters "
                        "(tight clusters, tiny separation); default gaussian")
    g.add_argument("--labels", default="uniform",
                   choices=("uniform", "signed", "classes", "parity"),
                   help="generated outputs: uniform [0,1), signed N(0,1), classes 0..9, parity "
                        "(cube); default uniform")
    g.add_argument("--seed", type=_seed, default=0,
                   help="seed for data and construction (default 0)")


def _load_data(args, options: dict) -> tuple:
    """(X, D, options) for ``verify``: the options checked and the memory of the data and of the
    build refused from the numbers alone (a generator's n, p, r or an .npz's array headers)
    before any data are generated or read."""
    if args.data is not None:
        if args.n is not None or args.p is not None:
            raise UsageError("give either --data FILE.npz or --n/--p, not both")
        shapes = npz_shapes(args.data)
        x, d = shapes["X"], shapes["D"]
        r = d[1] if len(d) == 2 else 1
        if len(x) == 2 and len(d) in (1, 2) and min(*x, r) >= 1:  # else validate() says why
            options = constructions.preflight(args.name, x[0], x[1], r, options)
        X, D = load_npz(args.data)
        return X, D, options
    if args.n is None or args.p is None:
        raise UsageError("no data: give --data FILE.npz, or --n N --p P to generate")
    options = constructions.preflight(args.name, args.n, args.p, args.r, options)
    ds = generate(args.kind, args.n, args.p, args.r, seed=args.seed, labels=args.labels)
    return ds.X, ds.D, options


def cmd_list(args) -> int:
    rows = constructions.describe()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    w = max(len(r["name"]) for r in rows)
    for r in rows:
        print(f"{r['name']:<{w}}  [{', '.join(r['executors'])}]  {r['summary']}  ({r['seed']})")
    return 0


def _fmt_verify(rec: dict) -> str:
    from kernels.verify import verdict  # deferred: memcap --help stays fast

    s = rec["size"]
    lines = [f"{rec['construction']}: n={rec['n']} p={rec['p']} r={rec['r']} dtype={rec['dtype']}"
             f"  neurons={s.get('neurons')} weights={s.get('weights')} (stored non-zero, "
             f"biases not counted) depth={s.get('depth')}"]
    if rec.get("duplicates_dropped"):
        lines.append(f"  {rec['duplicates_dropped']} duplicate rows (same output) dropped")
    for e, er in rec["executors"].items():
        word = verdict(er)
        extra = ""
        if "active_neurons" in er:
            extra = (f"  active neurons max {er['active_neurons']['max']}, "
                     f"active weights max {er['active_weights']['max']} (biases counted)")
        lines.append(f"  {e:<7} {word:<10} max|err|={er['max_abs_error']:.3g} "
                     f"(rel {er['max_rel_error']:.3g}, tol {er['tolerance']:g})  "
                     f"ops mean {er['ops']['mean']:.1f} max {er['ops']['max']}{extra}")
        if "portable" in er:
            lines.append("          portable (NumPy/BLAS order): " + _fmt_portable(er["portable"]))
    if "certified" in rec.get("info", {}):
        lines.append(f"  recall certified (every test and leaf proven in {rec['dtype']}): "
                     f"{'yes' if rec['info']['certified'] else 'no'}")
    b = rec["bounds"]
    lines.append("  bounds: " + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                          for k, v in b.items()))
    return "\n".join(lines)


def _fmt_portable(rec: dict) -> str:
    if rec["exact"] is None:
        return f"not evaluated ({rec['skipped']})"
    from kernels.verify import verdict  # deferred: memcap --help stays fast

    return f"{verdict(rec)} max|err|={rec['max_abs_error']:.3g}"


def cmd_verify(args) -> int:
    from kernels.verify import verify  # deferred: memcap --help stays fast

    constructions.get(args.name)  # an unknown name first
    X, D, options = _load_data(args, _options(args.option))
    m = constructions.build(args.name, X, D, seed=args.seed, dtype=args.dtype, **options)
    rec = verify(m, args.executor)
    if args.json:
        print(json.dumps(rec, indent=2, default=results.json_default))
    else:
        print(_fmt_verify(rec))
    return 0 if all(er["exact"] for er in rec["executors"].values()) else EXIT_NOT_EXACT


def _options(pairs) -> dict:
    """``--option KEY=VALUE`` pairs -> keyword arguments (ints, floats, None, else strings)."""
    out = {}
    for pair in pairs or ():
        key, sep, text = pair.partition("=")
        if not sep or not key.isidentifier():
            raise UsageError(f"--option needs KEY=VALUE, got {pair!r}")
        for conv in (int, float):
            try:
                out[key] = conv(text)
                break
            except ValueError:
                continue
        else:
            out[key] = None if text.lower() == "none" else text
    return out


def cmd_report(args) -> int:
    from kernels.report import build  # deferred: memcap --help stays fast

    return build.main(args)


def cmd_sweep(args) -> int:
    from kernels.harness import sweep  # deferred: memcap --help stays fast

    return sweep.main(args)


def cmd_compare(args) -> int:
    from kernels.harness import peers  # deferred: memcap --help stays fast

    return peers.main(args)


def cmd_history(args) -> int:
    from kernels.report import history  # deferred: memcap --help stays fast

    return history.main(args)


def _add_history(sub) -> None:
    p = sub.add_parser("history", help="asv (and memcap) results across commits as one offline "
                                       "HTML page",
                       description="Read asv's results folder (and memcap results files when "
                                   "given) and write OUT/history.html: per benchmark the value "
                                   "at every commit with its spread, and the steps asv's step "
                                   "detection finds, listed as regressions and improvements "
                                   "with their commit range. No script, nothing from the "
                                   "network (asv publish's pages load theirs from CDNs).")
    p.add_argument("--asv", metavar="DIR", help="asv results folder (default .asv/results)")
    p.add_argument("--results", metavar="FILE.json", nargs="+",
                   help="memcap results files, one per commit (batch time per input)")
    p.add_argument("--out", default="reports/", help="output folder (default reports/)")
    p.set_defaults(func=cmd_history)


def _add_list(sub) -> None:
    p = sub.add_parser("list", help="list the constructions",
                       description="List the registered constructions, the executors each "
                                   "supports, and the paper each comes from.")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=cmd_list)


def _add_verify(sub) -> None:
    p = sub.add_parser("verify", help="build a construction and check its recall",
                       description="Build construction NAME on a dataset and check, for every "
                                   "executor, that it recalls every point exactly "
                                   "(|f_k(x_i)-d_ik| <= tol*(|d_ik| + max|D|) for every point "
                                   "and output, NaN never; tol 1e-9 in float64, "
                                   "1e-4 in float32), with operation counts and bounds. The "
                                   "options and the memory a build needs are checked before "
                                   "any data are generated or read. Exit status: 0 every "
                                   "executor EXACT, 1 some executor NOT EXACT (the record is "
                                   "still printed), 2 bad input.")
    p.add_argument("name", metavar="NAME", help="construction (see `memcap list`)")
    _add_data_args(p)
    p.add_argument("--dtype", choices=DTYPES, default="float64",
                   help="storage and arithmetic precision (default float64)")
    p.add_argument("--executor", action="append", choices=tuple(EXECUTORS),
                   help="executor to check (repeatable; default: all the construction supports)")
    p.add_argument("--option", action="append", metavar="KEY=VALUE",
                   help="a construction option, repeatable; each construction's options, their "
                        "ranges and defaults are listed below (e.g. "
                        + "; ".join(f"{c}: {', '.join(o)}" for c, o, _ in OPTION_EXAMPLES) + ")")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.lazy_epilog = _options_epilog
    p.set_defaults(func=cmd_verify)


# (construction, options, data arguments): the examples of `verify --help`; tests run each one
OPTION_EXAMPLES = (
    ("vardi", ("bits=48", "depth=200"), ("--n", "64", "--p", "4", "--labels", "classes")),
    ("rajput", ("xor=counter", "activation=relu"),
     ("--n", "64", "--p", "4", "--kind", "sphere", "--labels", "classes")),
    ("switch-net", ("output=linear",), ("--n", "64", "--p", "3", "--labels", "signed")),
)


def _options_epilog() -> str:
    from kernels.constructions.options import describe  # deferred: memcap --help stays fast

    lines = ["construction options (--option KEY=VALUE):"]
    for name in constructions.names():
        spec = getattr(constructions.get(name), "OPTIONS", None)
        rows = describe(spec) if spec is not None else [
            ", ".join(constructions.options_of(name)) or "(none)"]
        lines += [f"  {name}:"] + [f"    {r}" for r in rows or ["(none)"]]
    lines += ["", "examples:"] + [
        f"  memcap verify {c} {' '.join(d)} " + " ".join(f"--option {o}" for o in opts)
        for c, opts, d in OPTION_EXAMPLES]
    return "\n".join(lines)


def _add_report(sub) -> None:
    p = sub.add_parser("report", help="run the benchmark grid and write the HTML report",
                       description="The main job: verify every construction over a grid of "
                                   "datasets, write a self-contained HTML report. Cells of this "
                                   "commit come from the shared cache (`memcap cache info`; "
                                   "unstable ones re-measured) unless --fresh.")
    p.add_argument("--quick", action="store_true", help="a small grid (about a minute)")
    p.add_argument("--out", default="reports/", help="output folder (default reports/)")
    p.add_argument("--results", metavar="FILE.json",
                   help="render the report from an existing `memcap sweep` results file "
                        "instead of running the grid (measures nothing)")
    p.add_argument("--compare", metavar="FILE.json",
                   help="include a `memcap compare` (pyperf) result file as a table; without "
                        "--results it re-renders OUT/results.json (measures nothing)")
    p.add_argument("--fresh", action="store_true",
                   help="measure every cell again: ignore an interrupted run's journal and "
                        "the cached cells, and replace finished results (refused without it "
                        "unless the cache holds them all: then it is only rendered again)")
    p.add_argument("--force", action="store_true",
                   help="with --results: replace other results already in the output folder "
                        "(refused without it)")
    p.set_defaults(func=cmd_report)


def _add_sweep(sub) -> None:
    p = sub.add_parser("sweep", help="measure a grid of constructions x executors x n x p ...",
                       description="Build every construction over a grid of datasets and "
                                   "measure, per executor: build time, batch and single-input "
                                   "recall time, operations (mean, max), active neurons and "
                                   "weights, exactness, peak memory and energy (proxy model; "
                                   "measured where counters exist). Each cell is appended to "
                                   "OUT.jsonl as it finishes: run the same command again to "
                                   "resume an interrupted sweep (under the same grid only). "
                                   "OUT.lock keeps a second sweep off the same OUT while one "
                                   "runs. Cells a construction cannot do are recorded as "
                                   "skipped with the reason.")
    p.add_argument("--out", required=True, metavar="FILE.json",
                   help="results file (JSON; a CSV and, while running, a .jsonl journal beside it)")
    p.add_argument("--preset", choices=("quick", "default"),
                   help="a built-in grid (the report's); it fixes the axes, so --n, --p, --r, "
                        "--dtype, --sparsity and --executor are refused beside it")
    p.add_argument("--construction", action="append", metavar="NAME[,NAME]",
                   help="construction(s) to sweep (repeatable; default: every registered one; "
                        "'random-sparse' is the random sparse ReLU networks of the sparsity axis)")
    p.add_argument("--executor", action="append", metavar="E[,E]",
                   help="executor(s) (default: all each construction supports)")
    p.add_argument("--n", metavar="N[,N]",
                   help="numbers of points (default 64,256,1024)")
    p.add_argument("--p", metavar="P[,P]", help="input dimensions (default 8)")
    p.add_argument("--r", metavar="R[,R]", help="output dimensions (default 1)")
    p.add_argument("--dtype", metavar="T[,T]",
                   help="float64 and/or float32 (default float64)")
    p.add_argument("--sparsity", metavar="S[,S]",
                   help="weight sparsities in [0, 1) for the random sparse networks")
    p.add_argument("--seed", type=_seed, default=None, help="seed (default 0)")
    p.add_argument("--threads", default=None, metavar="T[,T]",
                   help="threads of the timed calls, a grid axis (default 1; at most "
                        "NUMBA_NUM_THREADS); recorded in every row")
    p.add_argument("--budget-s", dest="budget_s", type=float, default=None,
                   help="time budget in seconds; later cells are skipped (and retried on resume)")
    p.add_argument("--max-cell-s", dest="max_cell_s", type=float, default=None,
                   help="skip a cell whose projected time exceeds this (default 45)")
    p.add_argument("--energy", choices=("auto", "all", "off"), default=None,
                   help="measured energy where counters exist: auto (largest n of each series), "
                        "all cells, or off (default auto)")
    p.add_argument("--fresh", action="store_true",
                   help="discard an existing journal and replace finished results (without it, "
                        "a journal of another grid or a finished OUT is refused)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--scheduler", metavar="local[:W]|tcp://HOST:PORT|FILE.json",
                   help="run the cells as Dask tasks: 'local[:W]' starts W single-threaded "
                        "worker processes here (default one per core); an address or a "
                        "scheduler file connects to a running scheduler. This process still "
                        "writes the journal and results. Needs: pip install 'memcap[dist]'")
    p.set_defaults(func=cmd_sweep)


def _add_compare(sub) -> None:
    p = sub.add_parser("compare", help="pyperf comparison of executors and peer libraries",
                       description="pyperf benchmarks of recall per input: dense vs active vs "
                                   "tree for every construction that builds, and the peers a "
                                   "user would pick instead (NumPy/BLAS dense forward of the "
                                   "same network, scipy.sparse CSR, scikit-learn "
                                   "DecisionTreeRegressor, the same tree compiled to C by "
                                   "treelite/tl2cgen, scipy cKDTree, a Python dict of row "
                                   "bytes; at p = 1 on the keys axis-tree is built on, numpy "
                                   "searchsorted in one batch and pygm, one key per Python "
                                   "call). Writes JSON that `python -m pyperf show` and "
                                   "`python -m pyperf compare_to` read. Missing peers are "
                                   "skipped with a message.")
    speed = p.add_mutually_exclusive_group()
    speed.add_argument("--fast", action="store_true",
                       help="2 worker processes x 2 values: rough numbers, fast (default: "
                            "6 processes x 3 values)")
    speed.add_argument("--rigorous", action="store_true",
                       help="pyperf --rigorous: twice the processes, slower and steadier")
    p.add_argument("--filter", metavar="REGEX",
                   help="only benchmarks whose name matches REGEX (re.search), e.g. 'tree|data/'")
    p.add_argument("-o", "--output", metavar="FILE.json", help="pyperf JSON output (a new file)")
    p.add_argument("--n", type=_positive, default=1024, help="points memorized (default 1024)")
    p.add_argument("--p", type=_positive, default=8, help="input dimension (default 8)")
    p.add_argument("--threads", type=_positive, default=1,
                   help="threads of the timed calls (default 1; recorded as memcap_threads)")
    p.add_argument("--baseline", metavar="FILE.json",
                   help="an earlier `memcap compare` output: print `pyperf compare_to` of it "
                        "against this run (faster/slower, significance)")
    p.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    p.add_argument("--quiet", action="store_true", help="print only the summary lines")
    p.set_defaults(func=cmd_compare)


def version() -> str:
    """The installed distribution's version (``importlib.metadata``), else ``kernels.__version__``
    (a source checkout run with PYTHONPATH)."""
    from importlib import metadata

    try:
        return metadata.version("memcap")
    except metadata.PackageNotFoundError:
        import kernels  # deferred: only without package metadata

        return kernels.__version__


def make_parser() -> argparse.ArgumentParser:
    ap = _Parser(prog="memcap",
                 description="Build networks that provably memorize n points, execute them "
                             "densely, by active-weight traversal and by tree routing, and measure "
                             "exactness, operations, time and energy.")
    ap.add_argument("--version", action="version", version=f"memcap {version()}")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    _add_list(sub)
    _add_verify(sub)
    _add_report(sub)
    _add_sweep(sub)
    _add_compare(sub)
    _add_history(sub)
    for module in (diff, cache):
        module.add_parser(sub)
    return ap


def main(argv=None) -> int:
    sys.stdout = _Stdout(sys.stdout)
    try:
        return _main(argv)
    finally:
        if isinstance(sys.stdout, _Stdout):
            sys.stdout = sys.stdout.stream


def _main(argv=None) -> int:
    ap = make_parser()
    try:
        args = ap.parse_args(argv)
        args.argv = list(sys.argv[1:] if argv is None else argv)
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # a full device under stdout fails here, inside the handlers below
        return code
    except (UsageError, ValueError) as exc:  # the same prefix for every refusal
        print(f"memcap: error: {str(exc).splitlines()[0]}", file=sys.stderr)
    except MemoryError:
        print("memcap: error: out of memory", file=sys.stderr)
    except KeyboardInterrupt:
        print("memcap: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # stdout closed early (`memcap list | head`): stop quietly
        _silence_stdout()
        return 1
    except OSError as exc:
        print(f"memcap: error: {os_error_line(exc)}", file=sys.stderr)
    return EXIT_USAGE


class _Stdout:
    """stdout for the length of a command: a write or flush that fails (a full device, the
    file-size limit) is a :class:`results.WriteFailed` naming standard output; a closed pipe stays a
    ``BrokenPipeError`` (``memcap list | head`` stops quietly)."""

    def __init__(self, stream):
        self.stream = stream

    def _guarded(self, method, *a):
        try:
            return method(*a)
        except BrokenPipeError:
            raise
        except OSError as exc:
            _silence_stdout()
            raise results.WriteFailed(exc.errno, exc.strerror or str(exc),
                                      "standard output") from None

    def write(self, text):
        return self._guarded(self.stream.write, text)

    def flush(self):
        return self._guarded(self.stream.flush)

    def __getattr__(self, name):
        return getattr(self.stream, name)


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that what it still buffers cannot fail again at exit."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):  # no file descriptor (a test's captured stream)
        pass


def os_error_line(exc: OSError) -> str:
    """One line naming the path and the cause of an OS error (a full disk, a read-only folder, a
    folder where a file goes, a size limit, no permission); one without a path that stdout
    still refuses is stdout's."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if type(exc).__str__ is not OSError.__str__:  # it words itself (a WriteFailed)
        return text
    cause = exc.strerror or text
    if exc.filename is not None:
        also = f" -> {exc.filename2}" if exc.filename2 is not None else ""
        return f"{exc.filename}{also}: {cause}"
    try:
        sys.stdout.flush()
    except OSError:
        _silence_stdout()
        return f"cannot write standard output: {cause}"
    return cause


if __name__ == "__main__":
    sys.exit(main())
