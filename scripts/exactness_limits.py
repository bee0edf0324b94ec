"""Where ``zhang`` and ``bubeck`` stop being exact, in float64 and float32 (not a test, not an asv
benchmark: a script that prints a table).

    .venv/bin/python scripts/exactness_limits.py [--max-n 16384] [--seeds 2] [--budget 25]
                                               [--only zhang|bubeck] [--zhang-solve closed]

For each construction, dtype and p ∈ {8, 2}: Gaussian inputs, uniform [0, 1) outputs (the CLI's
defaults), n = 2^6, 2^7, … doubling until two sizes in a row are not exact, ``--max-n`` is
reached, or the series has used ``--budget`` seconds.  A cell is the worst ``max_rel_error`` over
the seeds (max_ik |f_k(x_i) − d_ik| / (|d_ik| + (ε/tol)·‖D‖_∞), so the design's per-point rule
holds iff it is ≤ tol), ``*`` when some seed is not exact (the rule of
:func:`kernels.theory.verify.exactness`: tol 1e-9 in float64, 1e-4 in float32).  The last column is
the largest n exact for every seed ("≥ n" when the series stopped while still exact).
"""

from __future__ import annotations

import argparse
import time


def series(name: str, dtype: str, p: int, max_n: int, seeds: int, budget: float, **options):
    import kernels

    cells, last_exact, misses, n, spent = [], None, 0, 64, 0.0
    while n <= max_n and misses < 2 and spent < budget:
        t0 = time.perf_counter()
        worst, ok = 0.0, True
        for seed in range(seeds):
            ds = kernels.generate("gaussian", n, p, 1, seed=seed)
            m = kernels.build(name, ds.X, ds.D, seed=seed, dtype=dtype, **options)
            rec = kernels.verify(m)["executors"]["dense"]
            worst = max(worst, rec["max_rel_error"])
            ok &= rec["exact"]
        spent += time.perf_counter() - t0
        cells.append((n, worst, ok))
        if ok:
            last_exact, misses = n, 0
        else:
            misses += 1
        n *= 2
    still = misses == 0 and cells
    return cells, (f"≥ {last_exact}" if still else str(last_exact or "< 64")), spent


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
                cells, limit, spent = series(name, dtype, p, args.max_n, args.seeds, args.budget,
                                             **opts)
                rows.append((label, dtype, p, {n: (e, ok) for n, e, ok in cells}, limit, spent))
                sizes.update(n for n, _, _ in cells)
    sizes = sorted(sizes)
    head = ["construction", "dtype", "p"] + [f"2^{n.bit_length() - 1}" for n in sizes]
    print("| " + " | ".join(head + ["exact up to n", "s"]) + " |")
    print("|" + "---|" * (len(head) + 2))
    for name, dtype, p, cells, limit, spent in rows:
        out = [name, dtype, str(p)]
        for n in sizes:
            e, ok = cells.get(n, (None, None))
            out.append("" if e is None else f"{e:.0e}{'' if ok else '*'}")
        print("| " + " | ".join(out + [limit, f"{spent:.0f}"]) + " |")
    print(f"\nworst max_rel_error over {args.seeds} seeds; * = not exact for some seed "
          "(tol 1e-9 float64, 1e-4 float32); Gaussian X, uniform [0,1) D, r = 1")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
