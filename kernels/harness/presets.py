"""The sweep grids of ``memcap sweep --preset`` and ``memcap report [--quick]``, and the sweep's
default options.  A grid is a list of blocks (see :mod:`kernels.harness.sweep`) plus options:
``budget_s``
(the whole sweep), ``max_cell_s`` (a cell projected to take longer is skipped), ``min_time`` and
``time_inputs`` (timing), ``eval_seconds`` (exactness on every input or a sample)."""

from __future__ import annotations

from kernels.harness.cell import RANDOM

# Network size vs n (issue 5): every construction on sphere data, p = 4, class labels; vardi
# under bit and depth budgets, rajput with both XOR gadgets.  Size-only: no recall.
SIZE_OPTIONS = {"vardi": [{}, {"bits": 49}, {"bits": 64}, {"bits": 128}, {"bits": 256},
                          {"depth": 64}, {"depth": 256}],
                "rajput": [{}, {"xor": "counter"}]}


def size_block(ns: list[int]) -> dict:
    """Size-only cells over ``ns``; a build projected past 10 s is skipped (bubeck at 2^14)."""
    return {"series": "size", "size_only": True, "kind": "sphere", "labels": "classes", "n": ns,
            "p": [4], "options": SIZE_OPTIONS, "max_cell_s": 10}


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
        "budget_s": 120, "max_cell_s": 15, "min_time": 0.02, "time_inputs": 256,
        "eval_seconds": 1.0,
    },
    "default": {
        "blocks": [
            {"series": "n", "n": [64, 256, 1024, 4096, 16384], "p": [8], "dtype": ["float64"]},
            {"series": "n", "n": [64, 256, 1024, 4096], "p": [8], "dtype": ["float32"]},
            {"series": "p", "n": [1024], "p": [2, 4, 16, 32]},
            {"series": "r", "n": [1024], "p": [8], "r": [4]},
            {"series": "sparsity", "constructions": [RANDOM], "n": [1024], "p": [32],
             "sparsity": [0.0, 0.5, 0.8, 0.9, 0.95, 0.99]},
            size_block([1024, 2048, 4096, 8192, 16384]),
        ],
        "budget_s": 420, "max_cell_s": 45, "min_time": 0.05, "time_inputs": 1024,
        "eval_seconds": 3.0,
    },
}
OPTION_DEFAULTS = {"budget_s": 420, "max_cell_s": 45, "min_time": 0.05, "time_inputs": 1024,
                   "eval_seconds": 3.0, "max_bytes": 1 << 30, "energy": "auto",
                   "energy_window_s": 1.0, "seed": 0}
