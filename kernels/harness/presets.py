"""The sweep grids of ``memcap sweep --preset`` and ``memcap report [--quick]``, and the sweep's
default options.  A grid is a list of blocks (see :mod:`kernels.harness.sweep`) plus options:
``budget_s``
(the whole sweep), ``max_cell_s`` (a cell projected to take longer is skipped), ``min_time`` and
``time_inputs`` (timing), ``eval_seconds`` (exactness on every input or a sample)."""

from __future__ import annotations

from kernels.harness.cell import RANDOM

# Network size vs n: every construction on sphere data, p = 4, class labels; vardi
# under bit and depth budgets, rajput with both XOR gadgets.  Size-only: no recall.
SIZE_OPTIONS = {"vardi": [{}, {"bits": 49}, {"bits": 64}, {"bits": 128}, {"bits": 256},
                          {"depth": 64}, {"depth": 256}],
                "rajput": [{}, {"xor": "counter"}]}


def size_block(ns: list[int], n_max: dict | None = None) -> dict:
    """Size-only cells over ``ns`` (``n_max``: a construction's largest n, where its build grows
    faster than the others')."""
    return {"series": "size", "size_only": True, "kind": "sphere", "labels": "classes", "n": ns,
            "p": [4], "options": SIZE_OPTIONS, "max_cell_s": 60, "n_max": n_max or {}}


# The default grid is sized to finish in about 5 minutes on a 2-core machine with every cell
# measured: each construction's largest n is set here (``n_max``), not by a time budget, so every
# run measures the same cells.  Per-build CPU seconds measured when the grid was sized (2-core
# machine, warm Numba cache; sum over the whole grid 140 s): at n = 16384, float64, every
# executor: axis-tree 0.1, hyperplane-tree 0.8, sign-cube 1.6, zhang 2.0, switch-net 5.5, bubeck
# 6.3, rajput 8.2;
# vardi 12 already at n = 4096 (its exact executor computes in Python integers; minutes at 16384),
# so vardi's recall stops at 4096, and its p and r axes (24 s) are left to `memcap sweep`; rajput
# at p = 2 (tiny δ, a wide Gaussian layer) took 80 s wall at n = 1024, so the p axis is 4…32;
# bubeck's size-only build is O(n²) (30 s at 8192), so its size series stops at 4096.
# ``budget_s`` and ``max_cell_s`` stay as safety nets far above these.
NO_VARDI = {"vardi": 0}  # no vardi cells in a block
# A block: axes -> values.  "constructions": None means every registered construction.
PRESETS = {
    "quick": {
        "blocks": [
            {"series": "n", "n": [32, 128, 512], "p": [4], "dtype": ["float64", "float32"]},
            {"series": "p", "n": [256], "p": [2, 8]},
            {"series": "sparsity", "constructions": [RANDOM], "n": [256], "p": [16],
             "sparsity": [0.5, 0.9, 0.99]},
            size_block([256, 512, 1024, 2048]),
        ],
        "budget_s": 300, "max_cell_s": 60, "min_time": 0.02, "time_inputs": 256,
        "eval_seconds": 1.0,
    },
    "default": {
        "blocks": [
            {"series": "n", "n": [64, 256, 1024, 4096, 16384], "p": [8], "dtype": ["float64"],
             "n_max": {"vardi": 4096}},
            {"series": "n", "n": [64, 256, 1024, 4096], "p": [8], "dtype": ["float32"]},
            {"series": "p", "n": [1024], "p": [4, 16, 32], "n_max": NO_VARDI},
            {"series": "r", "n": [1024], "p": [8], "r": [4], "n_max": NO_VARDI},
            {"series": "sparsity", "constructions": [RANDOM], "n": [1024], "p": [32],
             "sparsity": [0.0, 0.5, 0.8, 0.9, 0.95, 0.99]},
            size_block([1024, 2048, 4096, 8192, 16384], n_max={"bubeck": 4096}),
        ],
        "budget_s": 1200, "max_cell_s": 240, "min_time": 0.05, "time_inputs": 1024,
        "eval_seconds": 3.0,
    },
}
OPTION_DEFAULTS = {"budget_s": 420, "max_cell_s": 45, "min_time": 0.05, "time_inputs": 1024,
                   "eval_seconds": 3.0, "max_bytes": 1 << 30, "energy": "auto",
                   "energy_window_s": 1.0, "seed": 0}
