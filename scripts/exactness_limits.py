"""Where ``zhang`` and ``bubeck`` stop being exact, in float64 and float32 (not a test, not an asv
benchmark: a script that prints a table).

    .venv/bin/python scripts/exactness_limits.py [--max-n 16384] [--seeds 2] [--budget 25]
                                               [--only zhang|bubeck] [--zhang-solve closed]

For each construction, dtype and p ∈ {8, 2}: Gaussian inputs, uniform [0, 1) outputs (the CLI's
defaults), n = 2^6, 2^7, … doubling until two sizes in a row are not exact, ``--max-n`` is
reached, or the series has used ``--budget`` seconds.  A cell is the worst ``max_rel_error`` over
the seeds (max over d ≠ 0 of |f − d| / |d|), ``*`` when some seed is not exact by the design's
allclose rule |f − d| ≤ tol·(|d| + ‖D‖_∞) (:func:`kernels.theory.verify.exactness`: tol 1e-9 in
float64, 1e-4 in float32; a cell can be exact with a relative error above tol where small outputs
are scale-limited).  "exact for all n ≤" is the largest n such that every n tried up to it was
exact for every seed ("≥ n" when the series stopped — budget or ``--max-n`` — while still exact;
"< 64" when the first size failed); "largest exact n" is the largest n tried that was exact;
"portable" is the same for the weights evaluated by NumPy/BLAS matmul (``verify``'s
``executors.dense.portable``, a second summation order).
"""

from __future__ import annotations

import argparse
import time


def series(name: str, dtype: str, p: int, max_n: int, seeds: int, budget: float, **options):
    import kernels

    cells, portable, misses, n, spent = [], [], 0, 64, 0.0
    while n <= max_n and misses < 2 and spent < budget:
        t0 = time.perf_counter()
        worst, ok, port = 0.0, True, True
        for seed in range(seeds):
            ds = kernels.generate("gaussian", n, p, 1, seed=seed)
            m = kernels.build(name, ds.X, ds.D, seed=seed, dtype=dtype, **options)
            rec = kernels.verify(m)["executors"]["dense"]
            worst = max(worst, rec["max_rel_error"])
            ok &= rec["exact"]
            port &= bool(rec["portable"]["exact"])
        spent += time.perf_counter() - t0
        cells.append((n, worst, ok))
        portable.append((n, worst, port))
        if ok:
            misses = 0
        else:
            misses += 1
        n *= 2
    return cells, limits(cells), limits(portable)[0], spent


def limits(cells) -> tuple[str, str]:
    """("exact for all n ≤", "largest exact n") of a series [(n, worst, exact), ...]."""
    upto = None
    for n, _, ok in cells:
        if not ok:
            break
        upto = n
    exact_n = [n for n, _, ok in cells if ok]
    every = (f"≥ {upto}" if upto is not None and upto == cells[-1][0] else
             str(upto) if upto is not None else "< " + str(cells[0][0]) if cells else "none")
    return every, (str(max(exact_n)) if exact_n else "none")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-n", type=int, default=16384)
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--budget", type=float, default=25.0, help="seconds per series")
    ap.add_argument("--only", choices=("zhang", "bubeck"), help="one construction")
    ap.add_argument("--zhang-solve", default="auto", choices=("auto", "closed", "emulated"),
                    help="zhang's output-weight solve (default auto)")
    args = ap.parse_args(argv)
    rows, sizes = [], set()
    for name in (args.only,) if args.only else ("zhang", "bubeck"):
        opts = {"solve": args.zhang_solve} if name == "zhang" else {}
        label = f"zhang ({args.zhang_solve})" if name == "zhang" else name
        for dtype in ("float64", "float32"):
            for p in (8, 2):
                cells, (upto, largest), port, spent = series(name, dtype, p, args.max_n,
                                                             args.seeds, args.budget, **opts)
                rows.append((label, dtype, p, {n: (e, ok) for n, e, ok in cells}, upto, largest,
                             port, spent))
                sizes.update(n for n, _, _ in cells)
    sizes = sorted(sizes)
    head = ["construction", "dtype", "p"] + [f"2^{n.bit_length() - 1}" for n in sizes]
    print("| " + " | ".join(head + ["exact for all n ≤", "largest exact n",
                                    "portable exact for all n ≤", "s"]) + " |")
    print("|" + "---|" * (len(head) + 4))
    for name, dtype, p, cells, upto, largest, port, spent in rows:
        out = [name, dtype, str(p)]
        for n in sizes:
            e, ok = cells.get(n, (None, None))
            out.append("" if e is None else f"{e:.0e}{'' if ok else '*'}")
        print("| " + " | ".join(out + [upto, largest, port, f"{spent:.0f}"]) + " |")
    print(f"\nworst max_rel_error (over d ≠ 0) of {args.seeds} seeds; * = not exact for some "
          "seed by |f − d| ≤ tol·(|d| + ‖D‖∞) (tol 1e-9 float64, 1e-4 float32); Gaussian X, "
          "uniform [0,1) D, r = 1")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
