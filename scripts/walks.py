"""Walks: follow three calls through the package and count where they go (``sys.setprofile``).

    python scripts/walks.py            # a table
    python scripts/walks.py --json     # the same figures as JSON

For each call it reports the distinct package modules (``kernels.*``) whose Python functions run,
the *returns* — modules that the walk enters again after it had left them (no frame of theirs on
the call stack), each counted once; ``--verbose`` lists the (caller, callee) pairs — and the calls
*up*: a module calling one of a higher layer (the layers of ``pyproject.toml``'s import
contract).  A call that stays in few modules and never comes back reads top-down.  The walks:

* ``predict/<executor>``: one ``Memorizer.predict`` of a small dataset, for every executor;
* ``sweep cell``: one group of the sweep (one build, measured on one executor) through the runner;
* ``report render``: ``memcap report --results FILE`` of a small results file (figures included).

Each call runs once untraced first, so Numba's compilation and first-use caches stay out of it.
Numba's compiled kernels run no Python frames, so they count as the module that calls them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from types import SimpleNamespace

import kernels
from kernels.harness import runner, sweep
from kernels.harness.grid import groups
from kernels.harness.presets import OPTION_DEFAULTS
from kernels.report import build

# the layers of the import contract, top first (pyproject.toml, [tool.importlinter])
LAYERS = [("kernels.cli",), ("kernels.report",), ("kernels.harness",),
          ("kernels.verify", "kernels.random_networks", "kernels"), ("kernels.constructions",),
          ("kernels.memorizer",), ("kernels.executors", "kernels.theory"), ("kernels.model",)]
BUILDS = {"dense": ("zhang", {}), "active": ("switch-net", {}), "tree": ("axis-tree", {}),
          "exact": ("vardi", {})}
CELL = {"constructions": ["zhang"], "n": [64], "p": [4], "executors": ["dense"]}
FAST = {"min_time": 0.001, "time_inputs": 64, "eval_seconds": 0.05, "energy": "off"}


def layer(module: str) -> int:
    """0 for the top layer; the package's own face counts with the API."""
    best = (-1, len(LAYERS))
    for i, names in enumerate(LAYERS):
        for name in names:
            if module == name or module.startswith(name + "."):
                best = max(best, (len(name), i))
    return best[1]


class Walk:
    """A profile function that records the package modules entered, the returns and the calls up."""

    def __init__(self):
        self.entered: list[str] = []
        self.returns: set[tuple[str, str]] = set()
        self.up: set[tuple[str, str]] = set()
        self.stack: list[str | None] = []

    def __call__(self, frame, event, arg):
        if event == "call":
            name = frame.f_globals.get("__name__", "")
            here = name if name == "kernels" or name.startswith("kernels.") else None
            if here is not None:
                caller = next((m for m in reversed(self.stack) if m is not None), None)
                if caller is not None and caller != here:
                    if here in self.entered and here not in self.stack:
                        self.returns.add((caller, here))
                    if layer(here) < layer(caller):
                        self.up.add((caller, here))
                if here not in self.entered:
                    self.entered.append(here)
            self.stack.append(here)
        elif event == "return" and self.stack:
            self.stack.pop()

    def run(self, fn):
        sys.setprofile(self)
        try:
            fn()
        finally:
            sys.setprofile(None)
        return {"modules": len(self.entered), "returns": len({b for _, b in self.returns}),
                "up": len(self.up),
                "entered": self.entered, "return_pairs": sorted(self.returns),
                "up_pairs": sorted(self.up)}


def walk(fn) -> dict:
    fn()  # untraced: compilation and first-use caches
    return Walk().run(fn)


def predict_walks() -> dict:
    out = {}
    for executor, (name, opts) in BUILDS.items():
        ds = kernels.generate("sphere", 64, 4, seed=0, labels="classes")
        m = kernels.build(name, ds.X, ds.D, seed=0, **opts)
        out[f"predict/{executor}"] = walk(lambda m=m, e=executor, X=ds.X: m.predict(X, executor=e))
    return out


def cell_walk() -> dict:
    grid = {"blocks": [CELL], **FAST}
    opts = {**OPTION_DEFAULTS, **FAST}
    g = groups(grid)[0]
    warmed: set = set()
    return {"sweep cell": walk(lambda: runner.run_group(g, ["dense"], opts, {}, warmed))}


def report_walk(tmp: str) -> dict:
    results = os.path.join(tmp, "results.json")
    sweep.run({"blocks": [{**CELL, "n": [16, 32, 64]}], **FAST}, results, progress=False)
    args = SimpleNamespace(quick=False, out=os.path.join(tmp, "report"), results=results,
                           compare=None, force=True, fresh=False, argv=None)
    return {"report render": walk(lambda: build.main(args))}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    ap.add_argument("--verbose", action="store_true", help="list the modules and the returns")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        res = {**predict_walks(), **cell_walk(), **report_walk(tmp)}
    if args.json:
        print(json.dumps(res, indent=1))
        return 0
    print(f"{'walk':16} {'modules':>8} {'returns':>8} {'up':>4}")
    for k, v in res.items():
        print(f"{k:16} {v['modules']:8d} {v['returns']:8d} {v['up']:4d}")
        if args.verbose:
            print("    entered: " + ", ".join(v["entered"]))
            for a, b in v["return_pairs"]:
                print(f"    return: {a} -> {b}")
            for a, b in v["up_pairs"]:
                print(f"    up: {a} -> {b}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
