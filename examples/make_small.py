"""Write ``examples/small.npz``: the README's ``--data`` example (64 Gaussian points in R^4, one
uniform output each, seed 0).  ``tests/test_cli.py`` checks the committed file is what this writes.

    python examples/make_small.py            # rewrites examples/small.npz
    python examples/make_small.py --out reports/small.npz
"""

from __future__ import annotations

import argparse
import os

import numpy as np

N, P, R, SEED = 64, 4, 1, 0
PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "small.npz")


def arrays() -> dict:
    rng = np.random.default_rng(SEED)
    X = rng.standard_normal((N, P)).round(6)  # short decimals: the file reads the same anywhere
    D = rng.uniform(0.0, 1.0, N).round(6)
    return {"X": X, "D": D}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=f"Write the README's --data example: {N} Gaussian "
                                 f"points in R^{P}, one uniform output each in [0, 1), seed "
                                 f"{SEED} (arrays X and D).")
    ap.add_argument("--out", default=PATH, help=f"where to write it (default {PATH})")
    path = ap.parse_args(argv).out
    tmp = path + ".tmp.npz"
    np.savez_compressed(tmp, **arrays())
    os.replace(tmp, path)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
