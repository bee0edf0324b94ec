"""``rajput``'s size against n, stage by stage (not a test, not an asv benchmark: a script that
prints a table).

    .venv/bin/python scripts/rajput_size.py [--p 4] [--seeds 3] [--max-log2 14] [--xor tree]

Sphere data in R^p with class labels (the report's size series), n = 2^10 … 2^max-log2, seeds
0 … seeds−1.  Per n (mean over seeds): the first layer (one threshold neuron per code hyperplane:
the paper's 1/δ term), the XOR compression, the lift + memorizer part (detectors, copies,
memorizers, bits, outputs: the paper's √n term) and its coefficient part/√n, the total, and 1/δ.
Last rows: the fitted log-log exponent of each column over n, per seed (min–max).
"""

from __future__ import annotations

import argparse

import numpy as np

LIFT = ("detectors", "copies", "memorizers", "bits", "outputs")


def sizes(n: int, p: int, seed: int, xor: str) -> dict:
    import kernels

    ds = kernels.generate("sphere", n, p, 1, seed=seed, labels="classes")
    m = kernels.build("rajput", ds.X, ds.D, seed=seed, xor=xor)
    st = m.info["stage_neurons"]
    lift = sum(st[k] for k in LIFT)
    return {"first": st["first"], "xor": st["xor"], "lift": lift,
            "total": m.size()["neurons"], "inv_delta": 1.0 / m.info["delta"]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--p", type=int, default=4)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--max-log2", type=int, default=14)
    ap.add_argument("--xor", default="tree", choices=("tree", "counter"))
    args = ap.parse_args(argv)
    ns = [2**k for k in range(10, args.max_log2 + 1)]
    runs = {s: [sizes(n, args.p, s, args.xor) for n in ns] for s in range(args.seeds)}
    cols = ("first", "xor", "lift", "total", "inv_delta")
    print("| n | first layer | XOR | lift + memorizers | (lift + memorizers)/√n | total | 1/δ |")
    print("|---|---|---|---|---|---|---|")
    for i, n in enumerate(ns):
        mean = {c: float(np.mean([runs[s][i][c] for s in runs])) for c in cols}
        print(f"| 2^{n.bit_length() - 1} | {mean['first']:,.0f} | {mean['xor']:,.0f} | "
              f"{mean['lift']:,.0f} | {mean['lift'] / np.sqrt(n):.1f} | {mean['total']:,.0f} | "
              f"{mean['inv_delta']:,.0f} |")
    lx = np.log(ns)
    fit = {c: [float(np.polyfit(lx, np.log([r[c] for r in runs[s]]), 1)[0]) for s in runs]
           for c in cols}
    print("| exponent (min–max over seeds) | " + " | ".join(
        f"{min(fit[c]):.2f}–{max(fit[c]):.2f}" for c in ("first", "xor", "lift")) + " | | "
          + " | ".join(f"{min(fit[c]):.2f}–{max(fit[c]):.2f}" for c in ("total", "inv_delta"))
          + " |")
    coef = [runs[s][i]["lift"] / np.sqrt(n) for s in runs for i, n in enumerate(ns)]
    share = [runs[s][i]["first"] / runs[s][i]["total"] for s in runs for i, _ in enumerate(ns)]
    print(f"\np = {args.p}, xor = {args.xor}, seeds 0–{args.seeds - 1}: lift + memorizers = "
          f"{min(coef):.1f}–{max(coef):.1f}·√n; first layer (1/δ term) = "
          f"{100 * min(share):.0f}–{100 * max(share):.0f}% of all neurons")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
